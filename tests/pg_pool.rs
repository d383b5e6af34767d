//! The endpoint's pool on a real PostgreSQL 15 server: a client of the role the endpoint logs
//! in as is logged in by the endpoint and given a server connection another client left,
//! reset to a fresh session; a wrong password is refused as PostgreSQL refuses it; a pooled
//! connection the server closed is never handed out; other roles log in on the server.

#[path = "common/pg.rs"]
mod pg;

use std::time::Duration;

use lockstep::drivers::postgres::cluster::{Cluster, SUPERUSER};
use lockstep::drivers::postgres::dsn::Dsn;
use lockstep::drivers::postgres::proxy::{Credentials, ProxyHandle, Upstream};
use tokio_postgres::NoTls;

async fn endpoint(blue: &Cluster) -> ProxyHandle {
    let password = pg::dsn(blue, "postgres").password().expect("a password");
    let upstream = Upstream {
        addr: format!("127.0.0.1:{}", blue.port()),
        rebind_as: Some(Credentials::new(SUPERUSER, &password)),
    };
    ProxyHandle::start("127.0.0.1:0", upstream, Duration::from_secs(5))
        .await
        .expect("the endpoint starts")
}

/// Connects with `dsn`, or the server's (or endpoint's) refusal.
async fn connect(dsn: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(dsn, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

async fn backend_pid(client: &tokio_postgres::Client) -> i32 {
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0)
}

/// Waits until the endpoint keeps `n` idle connections.
async fn pooled(proxy: &ProxyHandle, n: usize) {
    for _ in 0..500 {
        if proxy.pooled() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the endpoint keeps {} idle connections, not {n}",
        proxy.pooled()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gets_the_connection_another_left_reset_to_a_fresh_session() {
    let blue = pg::blue();
    let proxy = endpoint(&blue).await;
    let dsn = pg::via(proxy.local_addr(), &blue, "postgres");

    let first = connect(dsn.expose()).await.expect("first client");
    let pid = backend_pid(&first).await;
    first
        .batch_execute(
            "SET work_mem = '77MB'; CREATE TEMP TABLE leftover (n int);
             PREPARE leftover_plan AS SELECT 1; SELECT pg_advisory_lock(4711);",
        )
        .await
        .expect("session state");
    drop(first);
    pooled(&proxy, 1).await;

    let second = connect(dsn.expose()).await.expect("second client");
    assert_eq!(backend_pid(&second).await, pid, "the same backend, pooled");
    let row = second
        .query_one(
            "SELECT current_setting('work_mem'), to_regclass('pg_temp.leftover') IS NULL,
                    (SELECT count(*) FROM pg_prepared_statements WHERE name = 'leftover_plan'),
                    (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')",
            &[],
        )
        .await
        .expect("state");
    assert_eq!(row.get::<_, String>(0), "4MB", "settings reset");
    assert!(row.get::<_, bool>(1), "temporary table gone");
    assert_eq!(row.get::<_, i64>(2), 0, "prepared statement gone");
    assert_eq!(row.get::<_, i64>(3), 0, "advisory lock released");
    let version: String = second
        .query_one("SHOW server_version", &[])
        .await
        .expect("version")
        .get(0);
    assert!(version.starts_with("15"), "{version}");
    assert_eq!(proxy.pooled(), 0, "in use, not idle");

    // A connection left inside a transaction is closed, not kept.
    second.batch_execute("BEGIN").await.expect("begin");
    drop(second);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        proxy.pooled(),
        0,
        "a connection left in a transaction is not kept"
    );

    // A kept connection the server terminated is not handed out.
    let third = connect(dsn.expose()).await.expect("third client");
    let left_in_transaction = pid;
    let pid = backend_pid(&third).await;
    assert_ne!(
        pid, left_in_transaction,
        "a new backend, not the one left in a transaction"
    );
    drop(third);
    pooled(&proxy, 1).await;
    let direct = pg::connect(&blue, "postgres").await;
    direct
        .execute("SELECT pg_terminate_backend($1, 5000)", &[&pid])
        .await
        .expect("terminate");
    let fourth = connect(dsn.expose()).await.expect("fourth client");
    assert_ne!(backend_pid(&fourth).await, pid, "a live backend instead");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_and_other_roles_log_in_on_the_server() {
    let blue = pg::blue();
    let proxy = endpoint(&blue).await;
    let addr = proxy.local_addr();
    let wrong = format!(
        "host={} port={} user={SUPERUSER} password=not-the-password dbname=postgres",
        addr.ip(),
        addr.port()
    );
    let refused = connect(&wrong).await.expect_err("refused");
    let db = refused.as_db_error().expect("a database error");
    assert_eq!(db.code().code(), "28P01", "{db:?}");
    assert_eq!(
        db.message(),
        format!("password authentication failed for user \"{SUPERUSER}\"")
    );
    assert_eq!((proxy.session_count(), proxy.pooled()), (0, 0));

    // A role the endpoint holds no password for logs in on the server, every time anew.
    pg::connect(&blue, "postgres")
        .await
        .batch_execute("CREATE ROLE reporter LOGIN PASSWORD 'r3port'")
        .await
        .expect("role");
    let other = Dsn::parse(&format!(
        "host={} port={} user=reporter password=r3port dbname=postgres",
        addr.ip(),
        addr.port()
    ))
    .expect("dsn");
    let first = connect(other.expose()).await.expect("reporter logs in");
    let pid = backend_pid(&first).await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(proxy.pooled(), 0, "not pooled");
    let second = connect(other.expose()).await.expect("reporter again");
    assert_ne!(backend_pid(&second).await, pid);
    let wrong_other = other.expose().replace("r3port", "nope");
    let refused = connect(&wrong_other)
        .await
        .expect_err("the server refuses it");
    assert_eq!(
        refused.as_db_error().map(|e| e.code().code()),
        Some("28P01")
    );
}
