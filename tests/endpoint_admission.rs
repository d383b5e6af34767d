//! The endpoint before anyone logs in (issue EDGE), with real sockets on loopback: a client
//! that sends nothing is cut off at the login deadline with an ErrorResponse, a repeated
//! SSLRequest is refused, and a startup packet that names a parameter twice (two `user`s:
//! two identities) is refused before any password is asked for.

use std::time::Duration;

use lockstep::drivers::postgres::proxy::{ProxyHandle, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An endpoint in front of a port nobody listens on: nothing here gets past the login.
async fn endpoint() -> ProxyHandle {
    let upstream = Upstream {
        addr: "127.0.0.1:9".into(),
        rebind_as: None,
    };
    ProxyHandle::start("127.0.0.1:0", upstream, Duration::from_secs(5))
        .await
        .expect("endpoint")
}

/// Everything the endpoint sends until it closes the connection (at most 5 s).
async fn answer(client: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let read = client.read_to_end(&mut out);
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("the endpoint closes the connection")
        .expect("read");
    out
}

/// The endpoint's next typed message: its type byte and body.
async fn message(client: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut header = [0u8; 5];
    client.read_exact(&mut header).await.expect("an answer");
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let mut body = vec![0u8; len - 4];
    client.read_exact(&mut body).await.expect("its body");
    (header[0], body)
}

/// A StartupMessage with these parameters.
fn startup(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (name, value) in params {
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = u32::try_from(body.len() + 4)
        .expect("small")
        .to_be_bytes()
        .to_vec();
    packet.extend_from_slice(&body);
    packet
}

const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 47];

#[tokio::test]
async fn a_client_that_sends_nothing_is_cut_off_at_the_login_deadline() {
    let endpoint = endpoint().await;
    endpoint.set_login_deadline(Duration::from_millis(500));
    let mut silent = TcpStream::connect(endpoint.local_addr())
        .await
        .expect("connect");
    let got = answer(&mut silent).await;
    let text = String::from_utf8_lossy(&got);
    assert_eq!(got.first(), Some(&b'E'), "an ErrorResponse: {text}");
    assert!(text.contains("the login took too long"), "{text}");
}

#[tokio::test]
async fn a_second_ssl_request_on_one_connection_is_refused() {
    let endpoint = endpoint().await;
    let mut client = TcpStream::connect(endpoint.local_addr())
        .await
        .expect("connect");
    client.write_all(&SSL_REQUEST).await.expect("first");
    let mut n = [0u8; 1];
    client.read_exact(&mut n).await.expect("answered");
    assert_eq!(&n, b"N");
    client.write_all(&SSL_REQUEST).await.expect("second");
    let got = answer(&mut client).await;
    let text = String::from_utf8_lossy(&got);
    assert_eq!(got.first(), Some(&b'E'), "{text}");
    assert!(text.contains("repeated on one connection"), "{text}");
}

#[tokio::test]
async fn a_startup_packet_with_two_users_is_refused_before_any_password() {
    let endpoint = endpoint().await;
    let mut client = TcpStream::connect(endpoint.local_addr())
        .await
        .expect("connect");
    let packet = startup(&[("user", "lockstep"), ("user", "other"), ("database", "app")]);
    client.write_all(&packet).await.expect("startup");
    let got = answer(&mut client).await;
    let text = String::from_utf8_lossy(&got);
    assert_eq!(got.first(), Some(&b'E'), "{text}");
    assert!(text.contains("08P01"), "{text}");
    assert!(text.contains("\"user\" twice"), "{text}");
}

/// An endpoint that answers logins of role `app` itself (SCRAM), in front of nothing.
async fn pooling_endpoint() -> ProxyHandle {
    let upstream = Upstream {
        addr: "127.0.0.1:9".into(),
        rebind_as: Some(lockstep::drivers::postgres::proxy::Credentials::new(
            "app", "secret",
        )),
    };
    ProxyHandle::start("127.0.0.1:0", upstream, Duration::from_secs(5))
        .await
        .expect("endpoint")
}

/// Connects as `app` and reads the endpoint's AuthenticationSASL.
async fn at_password(endpoint: &ProxyHandle) -> TcpStream {
    let mut client = TcpStream::connect(endpoint.local_addr())
        .await
        .expect("connect");
    client
        .write_all(&startup(&[("user", "app"), ("database", "app")]))
        .await
        .expect("startup");
    let (tag, _) = message(&mut client).await;
    assert_eq!(tag, b'R', "asked for a password");
    client
}

#[tokio::test]
async fn a_login_message_claiming_a_gibibyte_is_refused_without_waiting_for_it() {
    let endpoint = pooling_endpoint().await;
    let mut client = at_password(&endpoint).await;
    // A PasswordMessage header claiming 1 GiB, and nothing after it.
    let mut header = vec![b'p'];
    header.extend_from_slice(&(1u32 << 30).to_be_bytes());
    client.write_all(&header).await.expect("header");
    let got = answer(&mut client).await;
    let text = String::from_utf8_lossy(&got);
    assert_eq!(got.first(), Some(&b'E'), "{text}");
    assert!(
        text.contains("larger than the 65539 bytes allowed"),
        "{text}"
    );
}

#[tokio::test]
async fn a_client_nonce_of_any_length_is_not_echoed_back() {
    let endpoint = pooling_endpoint().await;
    let mut client = at_password(&endpoint).await;
    let first = format!("n,,n=,r={}", "x".repeat(10_000));
    let mut body = b"SCRAM-SHA-256\0".to_vec();
    body.extend_from_slice(&i32::try_from(first.len()).expect("small").to_be_bytes());
    body.extend_from_slice(first.as_bytes());
    let mut message = vec![b'p'];
    message.extend_from_slice(&u32::try_from(body.len() + 4).expect("small").to_be_bytes());
    message.extend_from_slice(&body);
    client
        .write_all(&message)
        .await
        .expect("SASLInitialResponse");
    let got = answer(&mut client).await;
    let text = String::from_utf8_lossy(&got);
    assert_eq!(got.first(), Some(&b'E'), "refused, not echoed: {text}");
    assert!(text.contains("client nonce"), "{text}");
}

#[tokio::test]
async fn a_startup_asking_for_protocol_3_2_is_answered_with_negotiate_protocol_version() {
    let endpoint = pooling_endpoint().await;
    let mut client = TcpStream::connect(endpoint.local_addr())
        .await
        .expect("connect");
    let mut packet = startup(&[("user", "app"), ("_pq_.test_option", "1")]);
    // Protocol 3.2, as libpq 18 may ask for.
    packet[4..8].copy_from_slice(&196_610u32.to_be_bytes());
    client.write_all(&packet).await.expect("startup");
    let (tag, body) = message(&mut client).await;
    assert_eq!(tag, b'v', "NegotiateProtocolVersion first");
    assert_eq!(&body[..4], &0u32.to_be_bytes(), "minor version 0");
    assert_eq!(
        &body[4..8],
        &1u32.to_be_bytes(),
        "one option not recognised"
    );
    assert_eq!(&body[8..], b"_pq_.test_option\0");
    // Then the login goes on as 3.0: the endpoint asks for the password.
    let (tag, _) = message(&mut client).await;
    assert_eq!(tag, b'R', "then the password is asked for");
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_slowed_after_five_from_one_address() {
    let endpoint = pooling_endpoint().await;
    let dsn = format!(
        "host=127.0.0.1 port={} user=app password=wrong dbname=app",
        endpoint.local_addr().port()
    );
    let mut took = Vec::new();
    for _ in 0..8 {
        let started = std::time::Instant::now();
        let refused = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
            .await
            .err()
            .expect("a wrong password is refused");
        took.push(started.elapsed());
        assert!(
            format!("{refused:?}").contains("password authentication failed"),
            "{refused:?}"
        );
    }
    // The seventh and eighth waited before their password was asked for (200 and 400 ms).
    assert!(took[7] >= Duration::from_millis(400), "{took:?}");
}
