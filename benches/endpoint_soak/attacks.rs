//! The attacks of the endpoint soak: bursts of logins, half-open sockets, 1 GiB claims before
//! login, wrong passwords; and the logins they and the canary make.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::edge;
use super::{BURST, GIANTS, HALF_OPEN, WRONG};

pub struct Logins {
    pub times: Vec<f64>,
    /// How long `SELECT 1` took after the login (the server connection held meanwhile).
    pub queries: Vec<f64>,
    pub failures: Vec<String>,
    pub took: Duration,
}

/// One login, `SELECT 1` and goodbye; how long the login took, and then the query, in ms.
pub async fn login_once(dsn: &str) -> Result<(f64, f64), String> {
    let started = Instant::now();
    let (client, conn) = tokio_postgres::connect(dsn, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let task = tokio::spawn(conn);
    let asked = Instant::now();
    client
        .simple_query("SELECT 1")
        .await
        .map_err(|e| e.to_string())?;
    let query = asked.elapsed().as_secs_f64() * 1000.0;
    drop(client);
    let _ = task.await;
    Ok((took, query))
}

pub async fn burst(dsn: &str) -> Logins {
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..BURST {
        let dsn = dsn.to_string();
        set.spawn(async move {
            match cheap_client() {
                Some((addr, password)) => cheap_login_once(addr, &password).await,
                None => login_once(&dsn).await,
            }
        });
    }
    let mut out = Logins {
        times: Vec::new(),
        queries: Vec::new(),
        failures: Vec::new(),
        took: Duration::ZERO,
    };
    while let Some(done) = set.join_next().await {
        match done.expect("joined") {
            Ok((login, query)) => {
                out.times.push(login);
                out.queries.push(query);
            }
            Err(e) => out.failures.push(e),
        }
    }
    out.took = started.elapsed();
    out
}

/// Where the bursts' clients log in with SCRAM keys derived once (`ENDPOINT_SOAK_CLIENTS=cheap`,
/// the default), as [`cheap_login_once`] does; `driver` logs each in with tokio-postgres, which
/// derives its key anew every time (milliseconds of the load generator's CPU per login).
fn cheap_client() -> Option<(SocketAddr, String)> {
    let cheap = std::env::var("ENDPOINT_SOAK_CLIENTS").map_or(true, |c| c != "driver");
    CHEAP.get().filter(|_| cheap).cloned()
}

pub static CHEAP: std::sync::OnceLock<(SocketAddr, String)> = std::sync::OnceLock::new();

/// One message off `socket`: its type byte and body.
async fn read_message(socket: &mut TcpStream) -> Result<(u8, Vec<u8>), String> {
    use tokio::io::AsyncReadExt as _;
    let mut header = [0u8; 5];
    socket
        .read_exact(&mut header)
        .await
        .map_err(|e| e.to_string())?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let mut body = vec![0u8; len.saturating_sub(4)];
    socket
        .read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    if header[0] == b'E' {
        return Err(String::from_utf8_lossy(&body).into_owned());
    }
    Ok((header[0], body))
}

/// A login as the pooled role with the endpoint's own SCRAM client (its key derived once per
/// salt), `SELECT 1` and goodbye, on a raw socket; (login ms, query ms).
async fn cheap_login_once(addr: SocketAddr, password: &str) -> Result<(f64, f64), String> {
    use lockstep::drivers::postgres::proxy::scram::Scram;
    let started = Instant::now();
    let mut socket = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let user = lockstep::drivers::postgres::cluster::SUPERUSER;
    socket
        .write_all(&edge::startup(&[("user", user), ("database", "app")]))
        .await
        .map_err(|e| e.to_string())?;
    read_message(&mut socket).await?;
    let (mut scram, first) = Scram::start(password);
    let mut body = b"SCRAM-SHA-256\0".to_vec();
    body.extend_from_slice(&i32::try_from(first.len()).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(first.as_bytes());
    socket
        .write_all(&edge::typed(b'p', &body))
        .await
        .map_err(|e| e.to_string())?;
    let (_, server_first) = read_message(&mut socket).await?;
    let last = scram.proof(&server_first[4..]).await?;
    socket
        .write_all(&edge::typed(b'p', last.as_bytes()))
        .await
        .map_err(|e| e.to_string())?;
    let (_, server_final) = read_message(&mut socket).await?;
    scram.verify(&server_final[4..])?;
    while read_message(&mut socket).await?.0 != b'Z' {}
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let asked = Instant::now();
    socket
        .write_all(&edge::typed(b'Q', b"SELECT 1\0"))
        .await
        .map_err(|e| e.to_string())?;
    while read_message(&mut socket).await?.0 != b'Z' {}
    let query = asked.elapsed().as_secs_f64() * 1000.0;
    let _ = socket.write_all(&edge::typed(b'X', &[])).await;
    Ok((took, query))
}

/// What a burst costs the load generator alone, for comparison: the key derivation each of its
/// 2,000 clients does for its SCRAM login (PBKDF2, 4,096 rounds), with no connection made.
pub async fn generator_only() -> Logins {
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..BURST {
        set.spawn(async {
            let _ = postgres_protocol::password::scram_sha_256(b"a password");
        });
    }
    while set.join_next().await.is_some() {}
    Logins {
        times: Vec::new(),
        queries: Vec::new(),
        failures: Vec::new(),
        took: started.elapsed(),
    }
}

/// Holds [`HALF_OPEN`] silent connections until `end`, opening again those the endpoint cuts;
/// how many were cut.
pub async fn half_open(endpoint: SocketAddr, end: tokio::time::Instant) -> u64 {
    let cut = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..HALF_OPEN {
        let cut = Arc::clone(&cut);
        set.spawn(async move {
            while tokio::time::Instant::now() < end {
                let Ok(mut socket) = TcpStream::connect(endpoint).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let mut buf = [0u8; 256];
                let read = tokio::io::AsyncReadExt::read(&mut socket, &mut buf);
                if tokio::time::timeout_at(end, read).await.is_ok() {
                    cut.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    cut.load(Ordering::Relaxed)
}

/// [`GIANTS`] connections claiming 1 GiB at the password step, again and again until `end`;
/// (connections, answered with an ErrorResponse).
pub async fn giants(endpoint: SocketAddr, end: tokio::time::Instant) -> (u64, u64) {
    let (tried, answered) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..GIANTS {
        let (tried, answered) = (Arc::clone(&tried), Arc::clone(&answered));
        let user = if i % 2 == 0 {
            lockstep::drivers::postgres::cluster::SUPERUSER
        } else {
            edge::OTHER
        };
        set.spawn(async move {
            while tokio::time::Instant::now() < end {
                tried.fetch_add(1, Ordering::Relaxed);
                let mut client = edge::at_password(endpoint, user).await;
                let mut header = vec![b'p'];
                header.extend_from_slice(&(1u32 << 30).to_be_bytes());
                let junk = vec![b'x'; 1 << 16];
                let (mut reader, mut writer) = client.split();
                let send = async {
                    let _ = writer.write_all(&header).await;
                    while writer.write_all(&junk).await.is_ok() {}
                };
                let mut first = [0u8; 1];
                let read = tokio::io::AsyncReadExt::read_exact(&mut reader, &mut first);
                tokio::select! {
                    got = read => {
                        if got.is_ok() && first[0] == b'E' {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    // The endpoint closed it before the 1 GiB came.
                    () = send => { answered.fetch_add(1, Ordering::Relaxed); }
                    () = tokio::time::sleep_until(end) => {}
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    (
        tried.load(Ordering::Relaxed),
        answered.load(Ordering::Relaxed),
    )
}

/// [`WRONG`] wrong passwords, 10 at a time, before `end`; (tried, refused).
pub async fn wrong_passwords(dsn: String, end: tokio::time::Instant) -> (u64, u64) {
    let refused = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (refused, next, dsn) = (Arc::clone(&refused), Arc::clone(&next), dsn.clone());
        set.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < WRONG && tokio::time::Instant::now() < end
            {
                if tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
                    .await
                    .is_err()
                {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    let tried = next.load(Ordering::Relaxed).min(WRONG + 10) - 10;
    (tried.min(WRONG), refused.load(Ordering::Relaxed))
}
