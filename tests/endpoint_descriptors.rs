//! The endpoint when the process runs out of file descriptors (issue EDGE): with the
//! open-file limit lowered to 256, a flood of bare connections fills the endpoint; those above
//! its limit are refused with PostgreSQL's `53300`, accepting fails for a while (no descriptor
//! left), and once the flood leaves a real login goes through again: the port never closes.
//! Alone in its binary: it lowers the limit of the whole test process.

#[path = "common/pg.rs"]
mod pg;

use std::time::Duration;

use lockstep::drivers::postgres::cluster::SUPERUSER;
use lockstep::drivers::postgres::proxy::{Credentials, ProxyHandle, Upstream};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptor_exhaustion_never_closes_the_endpoint_and_the_overflow_gets_53300() {
    let blue = pg::blue();
    let password = pg::dsn(&blue, "postgres").password().expect("a password");
    let limited = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg("--nofile=256:256")
        .status()
        .expect("prlimit runs");
    assert!(limited.success(), "the open-file limit is lowered");
    let upstream = Upstream {
        addr: format!("127.0.0.1:{}", blue.port()),
        rebind_as: Some(Credentials::new(SUPERUSER, &password)),
    };
    let endpoint = ProxyHandle::start("127.0.0.1:0", upstream, Duration::from_secs(5))
        .await
        .expect("endpoint");
    endpoint.set_login_deadline(Duration::from_secs(30));
    let addr = endpoint.local_addr();

    // The flood: bare connections that never log in, until this process has no descriptor.
    let mut flood = Vec::new();
    for _ in 0..400 {
        match TcpStream::connect(addr).await {
            Ok(socket) => flood.push(socket),
            Err(_) => break,
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut refused = 0;
    for socket in &mut flood {
        let mut first = [0u8; 1];
        if let Ok(Ok(1)) =
            tokio::time::timeout(Duration::from_millis(5), socket.read(&mut first)).await
            && first[0] == b'E'
        {
            refused += 1;
        }
    }
    eprintln!(
        "{} flood connections, {refused} refused with an ErrorResponse",
        flood.len()
    );
    assert!(
        refused > 0,
        "the connections above the limit are refused with 53300"
    );
    drop(flood);

    // The flood left: a real login through the same port goes through again.
    let via = pg::via(addr, &blue, "postgres");
    let mut last = String::new();
    for _ in 0..50 {
        match tokio_postgres::connect(via.expose(), tokio_postgres::NoTls).await {
            Ok((client, conn)) => {
                tokio::spawn(conn);
                let one: i32 = client
                    .query_one("SELECT 1", &[])
                    .await
                    .expect("query")
                    .get(0);
                assert_eq!(one, 1);
                return;
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the endpoint no longer takes logins after the flood: {last}");
}
