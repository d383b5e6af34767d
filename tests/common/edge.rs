//! Helpers for attacking the endpoint of a real `lockstep serve` (issue EDGE): a blue cluster
//! registered with an endpoint and the serve process holding it, shared by the tests of a
//! file and cleaned up when the test process exits; raw protocol messages; the serve's
//! memory.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use lockstep::drivers::postgres::cluster::Cluster;
use lockstep::drivers::postgres::dsn::Dsn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::api_support::{ServeProcess, free_port, tokens_file};
use super::{cli, pg};

/// Blue, and `lockstep serve` holding the endpoint in front of it.
pub struct Served {
    pub blue: Cluster,
    pub endpoint: SocketAddr,
    pub serve: ServeProcess,
    /// The serve's standard error (its log).
    pub log: PathBuf,
    /// The password of role `other`, which logs in on the server through the endpoint.
    pub other_password: String,
    _db: cli::Db,
}

/// The role the endpoint does not hold a password for: its logins pass through to blue.
pub const OTHER: &str = "other";

/// Starts blue (database `app`, role [`OTHER`]), registers pay/app with an endpoint and
/// `limits` (`--login-deadline 2` and the like), and starts `lockstep serve`, with at most
/// `nofile` open files when given. Blue and the serve are stopped when this test process
/// exits, even if it never drops them (a fixture shared in a static).
pub fn serve(limits: &[&str], nofile: Option<u64>) -> Served {
    let blue = pg::blue();
    let other_password = format!("o-{}", rand::random::<u64>());
    let setup = std::process::Command::new("psql")
        .args([
            pg::dsn(&blue, "postgres").expose(),
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            "CREATE DATABASE app",
            "-c",
            &format!("CREATE ROLE {OTHER} LOGIN PASSWORD '{other_password}'"),
            "-c",
            &format!("GRANT ALL ON DATABASE app TO {OTHER}"),
        ])
        .output()
        .expect("psql runs");
    assert!(setup.status.success(), "{setup:?}");
    let db = cli::Db::virtual_at("2026-01-05T09:00:00Z");
    db.pg_service("pay", "app", &[]);
    let endpoint: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let blue_dsn = pg::dsn(&blue, "app");
    let green_dsn = pg::dsn(&blue, "green");
    let endpoint_text = endpoint.to_string();
    let mut args = vec![
        "pg",
        "register",
        "--project",
        "pay",
        "app",
        "--blue",
        blue_dsn.expose(),
        "--green",
        green_dsn.expose(),
        "--endpoint",
        &endpoint_text,
    ];
    args.extend_from_slice(limits);
    db.ok(&args);
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let tokens = tokens_file(&dir);
    let log = dir.join("serve.log");
    let serve = ServeProcess::start_limited(db.path(), &tokens, free_port(), &log, nofile);
    let mut dirs = vec![dir.clone(), blue.dir().to_path_buf()];
    dirs.extend(db.path().parent().map(std::path::Path::to_path_buf));
    clean_up_after_exit(&[serve.child.id()], blue.postmaster_pid(), &dirs);
    Served {
        blue,
        endpoint,
        serve,
        log,
        other_password,
        _db: db,
    }
}

/// Once this test process has exited: kills `pids`, stops the postmaster at once and removes
/// `dirs` (statics are never dropped).
#[allow(clippy::zombie_processes)] // the watcher outlives this process on purpose
fn clean_up_after_exit(pids: &[u32], postmaster: Option<u32>, dirs: &[PathBuf]) {
    let kill: Vec<String> = pids.iter().map(u32::to_string).collect();
    let quit = postmaster.map_or_else(String::new, |p| format!("kill -QUIT {p};"));
    let remove: Vec<String> = dirs.iter().map(|d| format!("'{}'", d.display())).collect();
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; kill -9 {kill} 2>/dev/null; \
         {quit} sleep 1; rm -rf {remove}",
        me = std::process::id(),
        kill = kill.join(" "),
        remove = remove.join(" ")
    );
    std::process::Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the clean-up watcher starts");
}

impl Served {
    /// The DSN of the pooled role (blue's superuser) through the endpoint, to `app`.
    pub fn pooled(&self) -> Dsn {
        pg::via(self.endpoint, &self.blue, "app")
    }

    /// Everything the serve logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The serve's resident memory now, in bytes.
    pub fn rss(&self) -> u64 {
        rss_of(self.serve.child.id())
    }
}

/// The resident memory of process `pid`, in bytes.
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Connects with `dsn`; the connection runs on the test's runtime.
pub async fn login(dsn: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(dsn, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// A StartupMessage with these parameters (protocol 3.0).
pub fn startup(params: &[(&str, &str)]) -> Vec<u8> {
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

/// A typed message.
pub fn typed(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&u32::try_from(body.len() + 4).expect("small").to_be_bytes());
    out.extend_from_slice(body);
    out
}

pub const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 47];

/// The endpoint's next typed message: its type byte and body.
pub async fn message(client: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut header = [0u8; 5];
    let read = client.read_exact(&mut header);
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("an answer within 10 s")
        .expect("an answer");
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let mut body = vec![0u8; len - 4];
    client.read_exact(&mut body).await.expect("its body");
    (header[0], body)
}

/// Everything the endpoint sends until it closes the connection (at most `limit`).
pub async fn until_closed(client: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let read = client.read_to_end(&mut out);
    tokio::time::timeout(limit, read)
        .await
        .expect("the endpoint closes the connection in time")
        .expect("read");
    out
}

/// A connection to `addr` that sent `first` and read the answer up to the password request
/// (AuthenticationSASL or AuthenticationMD5Password).
pub async fn at_password(addr: SocketAddr, user: &str) -> TcpStream {
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client
        .write_all(&startup(&[("user", user), ("database", "app")]))
        .await
        .expect("startup");
    let (tag, _) = message(&mut client).await;
    assert_eq!(tag, b'R', "asked for a password");
    client
}

/// Logs in as `user` with `password` to `database` at `addr` (SCRAM-SHA-256) on a raw socket,
/// for sending what no driver would once logged in; returns it after the first ReadyForQuery.
pub async fn raw_login(addr: SocketAddr, user: &str, password: &str, database: &str) -> TcpStream {
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(&startup(&[("user", user), ("database", database)]))
        .await
        .expect("startup");
    let (tag, body) = message(&mut stream).await;
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
    let (tag, body) = message(&mut stream).await;
    assert_eq!(tag, b'R', "SASLContinue");
    scram.update(&body[4..]).expect("server-first");
    stream
        .write_all(&typed(b'p', scram.message()))
        .await
        .expect("final");
    let (tag, body) = message(&mut stream).await;
    assert_eq!(tag, b'R', "SASLFinal");
    scram.finish(&body[4..]).expect("server signature");
    loop {
        let (tag, body) = message(&mut stream).await;
        assert_ne!(tag, b'E', "{}", String::from_utf8_lossy(&body));
        if tag == b'Z' {
            return stream;
        }
    }
}
