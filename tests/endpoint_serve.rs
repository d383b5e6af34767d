//! The client endpoint of a real `lockstep serve` on loopback, attacked as issue EDGE found
//! it (items 2 to 7; item 1, running out of descriptors, is `endpoint_serve_descriptors.rs`):
//! oversized messages before and after login, silent and repeating clients, a burst of logins
//! beyond the server's connections, wrong passwords, two identities in one startup, newer
//! protocol versions and broken framing. One blue cluster and one serve are shared by the
//! tests of this file, which take turns (some fill the server on purpose).

mod api_support;
#[path = "common/cli.rs"]
mod cli;
#[path = "common/edge.rs"]
mod edge;
#[path = "common/pg.rs"]
mod pg;

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use edge::{OTHER, Served, at_password, login, message, startup, typed, until_closed};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Blue (max_connections 100) and a serve whose endpoint gives a login 2 s and a client 20 s in
/// line; its pool size is derived from the server.
static SERVED: LazyLock<Served> =
    LazyLock::new(|| edge::serve(&["--login-deadline", "2", "--queue-wait", "20"], None));

/// One test at a time: some fill blue's connections or the endpoint's line on purpose.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Item 3: no timeout before the first packet, and SSLRequests answered without end.
#[tokio::test]
async fn a_silent_client_is_cut_off_at_the_login_deadline_and_a_second_ssl_request_refused() {
    let _turn = TURN.lock().await;
    let served = &*SERVED;
    let mut silent = TcpStream::connect(served.endpoint).await.expect("connect");
    let got = until_closed(&mut silent, Duration::from_secs(10)).await;
    let text = String::from_utf8_lossy(&got);
    assert_eq!(got.first(), Some(&b'E'), "an ErrorResponse: {text}");
    assert!(text.contains("the login took too long"), "{text}");

    let mut client = TcpStream::connect(served.endpoint).await.expect("connect");
    client.write_all(&edge::SSL_REQUEST).await.expect("ssl");
    let mut no = [0u8; 1];
    tokio::io::AsyncReadExt::read_exact(&mut client, &mut no)
        .await
        .expect("N");
    assert_eq!(&no, b"N");
    client.write_all(&edge::SSL_REQUEST).await.expect("again");
    let got = until_closed(&mut client, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("08P01") && text.contains("repeated"),
        "{text}"
    );
}

/// Item 2, before login: a PasswordMessage claiming 1 GiB, to the endpoint's own login and
/// to a role whose login passes through to the server, is refused without waiting for it.
#[tokio::test]
async fn a_gibibyte_message_before_login_is_refused_at_once_for_every_role() {
    let _turn = TURN.lock().await;
    let served = &*SERVED;
    let pooled_role = lockstep::drivers::postgres::cluster::SUPERUSER;
    for user in [pooled_role, OTHER] {
        let mut client = at_password(served.endpoint, user).await;
        let mut header = vec![b'p'];
        header.extend_from_slice(&(1u32 << 30).to_be_bytes());
        client.write_all(&header).await.expect("header");
        let got = until_closed(&mut client, Duration::from_secs(10)).await;
        let text = String::from_utf8_lossy(&got);
        assert_eq!(got.first(), Some(&b'E'), "{user}: {text}");
        assert!(text.contains("08P01"), "{user}: {text}");
        assert!(text.contains("65539 bytes"), "{user}: {text}");
    }
}

/// The serve's highest resident memory while `work` runs, above what it had before.
async fn growth_during<F: std::future::Future<Output = ()>>(served: &Served, work: F) -> u64 {
    let pid = served.serve.child.id();
    let before = served.rss();
    let peak = std::sync::Arc::new(AtomicU64::new(before));
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (std::sync::Arc::clone(&peak), std::sync::Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(edge::rss_of(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    work.await;
    done.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    peak.load(Ordering::Relaxed).saturating_sub(before)
}

/// Item 2, after login: a 64 MiB query and a 64 MiB row stream through the endpoint; it never
/// holds either whole (it did: a 200 MB query was buffered before it was forwarded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_query_and_row_stream_through_without_being_held_whole() {
    let _turn = TURN.lock().await;
    let served = &*SERVED;
    let client = login(served.pooled().expose()).await.expect("login");
    const SIZE: usize = 64 << 20;
    let query = format!("SELECT length('{}')", "x".repeat(SIZE));
    let grew = growth_during(served, async {
        let rows = client
            .simple_query(&query)
            .await
            .expect("the big query runs");
        let length = rows.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        });
        assert_eq!(length, Some(SIZE.to_string()));
    })
    .await;
    eprintln!(
        "a 64 MiB query: the serve grew by {} KiB at most",
        grew / 1024
    );
    assert!(grew < 24 << 20, "the query was held whole: {grew} bytes");

    let grew = growth_during(served, async {
        let row = client
            .query_one(
                "SELECT repeat('y', $1)",
                &[&i32::try_from(SIZE).expect("fits")],
            )
            .await
            .expect("the big row comes");
        assert_eq!(row.get::<_, String>(0).len(), SIZE);
    })
    .await;
    eprintln!(
        "a 64 MiB row: the serve grew by {} KiB at most",
        grew / 1024
    );
    assert!(grew < 24 << 20, "the row was held whole: {grew} bytes");
}

/// Item 4: 300 clients at once against a 100-connection server wait in line for a server
/// connection and are all served (each opened its own, and 2 in 3 were refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_logins_beyond_the_server_waits_in_line_and_is_served() {
    let _turn = TURN.lock().await;
    let served = &*SERVED;
    let dsn = served.pooled().expose().to_string();
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..300 {
        let dsn = dsn.clone();
        burst.spawn(async move {
            let client = login(&dsn).await.map_err(|e| e.to_string())?;
            client
                .simple_query("SELECT pg_sleep(0.2)")
                .await
                .map_err(|e| e.to_string())?;
            Ok::<(), String>(())
        });
    }
    let mut failed = Vec::new();
    while let Some(outcome) = burst.join_next().await {
        if let Err(e) = outcome.expect("joined") {
            failed.push(e);
        }
    }
    assert!(
        failed.is_empty(),
        "{} refused: {:?}",
        failed.len(),
        failed.first()
    );
    let log = served.log();
    assert!(
        log.contains("holds at most 87 server connections"),
        "the pool size comes from max_connections 100 less 3 reserved and 10 for lockstep: {log}"
    );
}

/// Item 4: a refused server login (blue full) leaves the endpoint's healthy pooled connections
/// alone (each refusal closed every idle one), and a later client gets one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_server_login_keeps_the_pooled_connections() {
    let _turn = TURN.lock().await;
    let served = &*SERVED;
    let admin = pg::connect(&served.blue, "app").await;
    let kept_dsn = format!("{} application_name=kept", served.pooled().expose());
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(login(&kept_dsn).await.expect("login"));
    }
    let mut kept_pids = Vec::new();
    for client in &clients {
        let row = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("pid");
        kept_pids.push(row.get::<_, i32>(0));
    }
    drop(clients);
    let idle_kept = "SELECT count(*) FROM pg_stat_activity \
                     WHERE application_name = 'kept' AND state = 'idle'";
    let deadline = Instant::now() + Duration::from_secs(10);
    while pg::count(&admin, idle_kept).await < 5 {
        assert!(Instant::now() < deadline, "the five went back to the pool");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Connections other tests left in the pool are cut, so the endpoint has no healthy idle
    // one to close for room and must log in anew.
    admin
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() \
             AND application_name <> 'kept'",
        )
        .await
        .expect("others cut");

    // Blue full: ordinary logins are refused until these leave.
    let mut filling = Vec::new();
    let other = format!(
        "host=127.0.0.1 port={} user={OTHER} password={} dbname=app",
        served.blue.port(),
        served.other_password
    );
    // Ordinary slots first, then the superusers' reserve (the endpoint logs in as one).
    for dsn in [other, pg::dsn(&served.blue, "app").expose().to_string()] {
        while let Ok(client) = login(&dsn).await {
            filling.push(client);
            assert!(filling.len() < 200, "blue never filled up");
        }
    }
    let new_dsn = format!("{} application_name=new", served.pooled().expose());
    let Err(refused) = login(&new_dsn).await else {
        panic!("blue is full: the endpoint cannot log in");
    };
    assert!(
        refused
            .to_string()
            .contains("cannot log in to the database")
            || format!("{refused:?}").contains("cannot log in to the database"),
        "{refused:?}"
    );
    assert_eq!(
        pg::count(&admin, idle_kept).await,
        5,
        "the pooled connections stayed"
    );
    drop(filling);

    let client = login(&kept_dsn).await.expect("login");
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    assert!(kept_pids.contains(&pid), "a kept connection was handed out");
}

/// Item 5: wrong passwords are refused, logged with the client's address and role (never the
/// password), and told later and later from the sixth on; a good login is never slowed.
#[tokio::test]
async fn wrong_passwords_are_logged_and_slowed_and_a_good_login_is_not() {
    let _turn = TURN.lock().await;
    let served = &*SERVED;
    let wrong = "not-the-password-7a1c";
    let dsn = format!(
        "host=127.0.0.1 port={} user={} password={wrong} dbname=app",
        served.endpoint.port(),
        lockstep::drivers::postgres::cluster::SUPERUSER
    );
    let mut took = Vec::new();
    for _ in 0..9 {
        let started = Instant::now();
        let Err(refused) = login(&dsn).await else {
            panic!("a wrong password is refused");
        };
        took.push(started.elapsed());
        assert!(
            format!("{refused:?}").contains("password authentication failed"),
            "{refused:?}"
        );
    }
    // The sixth to ninth heard of their failure after 200, 400, 800 and 1,600 ms.
    assert!(took[8] >= Duration::from_millis(1600), "{took:?}");
    let started = Instant::now();
    login(served.pooled().expose())
        .await
        .expect("the right password");
    assert!(
        started.elapsed() < Duration::from_millis(1600),
        "a good login from the same address waits for nothing: {:?}",
        started.elapsed()
    );
    let log = served.log();
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("login refused at the endpoint"))
        .collect();
    assert!(refusals.len() >= 9, "every refusal is logged: {log}");
    assert!(refusals[0].contains("127.0.0.1"), "{}", refusals[0]);
    assert!(refusals[0].contains("role"), "{}", refusals[0]);
    assert!(!log.contains(wrong), "no password in the log");
}

/// Item 6: a startup packet naming `user` twice is refused before any password is asked for:
/// the endpoint checked one role's password and logged in as the other.
#[tokio::test]
async fn a_startup_with_two_users_is_refused_before_any_password() {
    let _turn = TURN.lock().await;
    let served = &*SERVED;
    let pooled_role = lockstep::drivers::postgres::cluster::SUPERUSER;
    let mut client = TcpStream::connect(served.endpoint).await.expect("connect");
    client
        .write_all(&startup(&[
            ("user", pooled_role),
            ("user", OTHER),
            ("database", "app"),
        ]))
        .await
        .expect("startup");
    let got = until_closed(&mut client, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&got);
    assert_eq!(
        got.first(),
        Some(&b'E'),
        "refused, no password asked: {text}"
    );
    assert!(text.contains("\"user\" twice"), "{text}");
}

/// Item 7: protocol 3.2 with an option is answered with NegotiateProtocolVersion and goes on
/// as 3.0; a client nonce of 10,000 bytes is refused, not echoed; a message after login whose
/// length field is too short gets an ErrorResponse before the close.
#[tokio::test]
async fn newer_protocols_long_nonces_and_broken_framing_get_postgresql_s_answers() {
    let _turn = TURN.lock().await;
    let served = &*SERVED;
    let pooled_role = lockstep::drivers::postgres::cluster::SUPERUSER;
    let mut client = TcpStream::connect(served.endpoint).await.expect("connect");
    let mut packet = startup(&[
        ("user", pooled_role),
        ("database", "app"),
        ("_pq_.test_option", "1"),
    ]);
    packet[4..8].copy_from_slice(&196_610u32.to_be_bytes());
    client.write_all(&packet).await.expect("startup");
    let (tag, body) = message(&mut client).await;
    assert_eq!(tag, b'v', "NegotiateProtocolVersion first");
    assert_eq!(
        &body[..8],
        &[0, 0, 0, 0, 0, 0, 0, 1],
        "3.0, one option unknown"
    );
    assert_eq!(&body[8..], b"_pq_.test_option\0");
    let (tag, _) = message(&mut client).await;
    assert_eq!(tag, b'R', "then the password is asked for");

    let first = format!("n,,n=,r={}", "x".repeat(10_000));
    let mut body = b"SCRAM-SHA-256\0".to_vec();
    body.extend_from_slice(&i32::try_from(first.len()).expect("small").to_be_bytes());
    body.extend_from_slice(first.as_bytes());
    client.write_all(&typed(b'p', &body)).await.expect("sasl");
    let got = until_closed(&mut client, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&got);
    assert_eq!(got.first(), Some(&b'E'), "refused, not echoed: {text}");
    assert!(text.contains("client nonce"), "{text}");

    let password = pg::dsn(&served.blue, "app").password().expect("password");
    let mut session = edge::raw_login(served.endpoint, pooled_role, &password, "app").await;
    session
        .write_all(&[b'Q', 0, 0, 0, 3])
        .await
        .expect("a broken message");
    let got = until_closed(&mut session, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&got);
    assert_eq!(got.first(), Some(&b'E'), "an ErrorResponse first: {text}");
    assert!(
        text.contains("08P01") && text.contains("claims 3 bytes"),
        "{text}"
    );
}
