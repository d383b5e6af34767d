//! A SCRAM-SHA-256 login on a raw socket, for tests that send the endpoint what no driver
//! would once logged in.
#![allow(dead_code)]

use std::net::SocketAddr;

use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads one typed message: its type byte and body.
async fn read(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).await.expect("a message");
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let mut body = vec![0u8; len - 4];
    stream.read_exact(&mut body).await.expect("its body");
    (header[0], body)
}

fn typed(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&u32::try_from(body.len() + 4).expect("small").to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Logs in as `user` with `password` to `database` at `addr` (SCRAM-SHA-256) and returns the
/// socket after the first ReadyForQuery.
pub async fn login(addr: SocketAddr, user: &str, password: &str, database: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (name, value) in [("user", user), ("database", database)] {
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut startup = u32::try_from(body.len() + 4)
        .expect("small")
        .to_be_bytes()
        .to_vec();
    startup.extend_from_slice(&body);
    stream.write_all(&startup).await.expect("startup");
    let (tag, body) = read(&mut stream).await;
    assert_eq!((tag, &body[..4]), (b'R', &10i32.to_be_bytes()[..]), "SASL");
    let mut scram = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
    let mut first = b"SCRAM-SHA-256\0".to_vec();
    first.extend_from_slice(
        &i32::try_from(scram.message().len())
            .expect("small")
            .to_be_bytes(),
    );
    first.extend_from_slice(scram.message());
    stream.write_all(&typed(b'p', &first)).await.expect("first");
    let (tag, body) = read(&mut stream).await;
    assert_eq!(tag, b'R', "SASLContinue");
    scram.update(&body[4..]).expect("server-first");
    stream
        .write_all(&typed(b'p', scram.message()))
        .await
        .expect("final");
    let (tag, body) = read(&mut stream).await;
    assert_eq!(tag, b'R', "SASLFinal");
    scram.finish(&body[4..]).expect("server signature");
    loop {
        let (tag, body) = read(&mut stream).await;
        assert_ne!(tag, b'E', "{}", String::from_utf8_lossy(&body));
        if tag == b'Z' {
            return stream;
        }
    }
}
