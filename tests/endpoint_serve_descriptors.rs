//! Item 1 of issue EDGE against a real `lockstep serve` on loopback: with the serve's open-file
//! limit at 256 at start (its endpoint takes 96 clients) and 100 later, a flood of bare
//! connections fills its endpoint; those above its limit are refused with PostgreSQL's
//! `53300`, accepting fails for a while once no descriptor is left (logged once, not ended:
//! it ended for good), and once the flood leaves a real login through the same port goes
//! through again.

mod api_support;
#[path = "common/cli.rs"]
mod cli;
#[path = "common/edge.rs"]
mod edge;
#[path = "common/pg.rs"]
mod pg;

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptor_exhaustion_never_closes_the_endpoint_and_the_overflow_gets_53300() {
    let served = edge::serve(&["--login-deadline", "30"], Some(256));
    let log = served.log();
    assert!(
        log.contains("takes at most 96 client connections"),
        "(256 - 64) / 2, read at start and logged: {log}"
    );

    // The flood: bare connections that never log in, beyond the endpoint's limit.
    let mut flood = Vec::new();
    for _ in 0..150 {
        flood.push(TcpStream::connect(served.endpoint).await.expect("connect"));
    }
    // Then the limit drops below what the endpoint counted on (as if the process had used its
    // descriptors elsewhere), and more come: the serve runs out of descriptors.
    let lowered = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", served.serve.child.id()))
        .arg("--nofile=100:100")
        .status()
        .expect("prlimit runs");
    assert!(lowered.success(), "the open-file limit is lowered");
    for _ in 0..100 {
        match TcpStream::connect(served.endpoint).await {
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
    assert!(refused > 0, "the connections above the limit get 53300");
    drop(flood);
    // A burst of failed accepts is over once accepting went on for a second without one.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The flood left: a real login through the same port goes through again.
    let via = served.pooled();
    let mut last = String::new();
    for _ in 0..100 {
        let attempt = tokio::time::timeout(Duration::from_secs(5), edge::login(via.expose()));
        match attempt.await {
            Ok(Ok(client)) => {
                let one: i32 = client
                    .query_one("SELECT 1", &[])
                    .await
                    .expect("query")
                    .get(0);
                assert_eq!(one, 1);
                let log = served.log();
                assert_eq!(
                    log.matches("cannot accept clients").count(),
                    1,
                    "running out of descriptors is logged once per burst: {log}"
                );
                assert!(log.contains("the endpoint is full"), "{log}");
                assert!(log.contains("accepting clients again"), "{log}");
                return;
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "no answer within 5 s".into(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the endpoint no longer takes logins after the flood: {last}");
}
