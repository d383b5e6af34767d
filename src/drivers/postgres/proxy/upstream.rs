//! Server connections the proxy opens on its own behalf, to re-bind an idle client session to
//! the new upstream without the client noticing: the client's StartupMessage is replayed,
//! authentication is answered with the proxy's credentials (SCRAM-SHA-256, MD5 or cleartext),
//! and everything up to ReadyForQuery is swallowed, the new BackendKeyData kept for cancels.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use postgres_protocol::authentication::md5_hash;

use super::scram::Scram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::wire::{self, BackendKey, Message};

/// How long opening and authenticating a server connection may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);

/// Who the proxy logs in as when it re-binds a session (the user must be the session's own).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The role.
    pub user: String,
    password: String,
}

impl Credentials {
    /// `user` with `password`.
    #[must_use]
    pub fn new(user: &str, password: &str) -> Credentials {
        Credentials {
            user: user.to_string(),
            password: password.to_string(),
        }
    }
}

impl Credentials {
    /// The password, for the endpoint's own SCRAM verifier.
    pub(super) fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, ***)", self.user)
    }
}

/// A server connection ready for queries.
#[derive(Debug)]
pub struct ServerConn {
    /// The socket.
    pub stream: TcpStream,
    /// The BackendKeyData it sent.
    pub key: Option<BackendKey>,
    /// Where it goes (`host:port`).
    pub addr: String,
    /// The ParameterStatus values the server reported (name, value), latest last.
    pub statuses: Vec<(String, String)>,
    /// When its login began and when it completed.
    pub connected_at: std::time::Instant,
    pub logged_in_at: std::time::Instant,
}

/// Records a ParameterStatus message's body (name, value) in `statuses`.
pub(super) fn note_status(statuses: &mut Vec<(String, String)>, body: &[u8]) {
    if let Some((name, value)) = parameter_status(body) {
        match statuses.iter_mut().find(|(n, _)| *n == name) {
            Some(known) => known.1 = value,
            None => statuses.push((name, value)),
        }
    }
}

fn parameter_status(body: &[u8]) -> Option<(String, String)> {
    let mut rest = body;
    let name = wire::cstr(&mut rest).ok()?;
    let value = wire::cstr(&mut rest).ok()?;
    Some((name, value))
}

/// Opens a connection to `addr` with the client's startup `params`, authenticates as `creds`
/// and replays `statements` (raw Parse messages), swallowing every answer up to
/// ReadyForQuery. Errors carry no password.
pub async fn open(
    addr: &str,
    params: &[(String, String)],
    creds: &Credentials,
    statements: &[bytes::Bytes],
) -> Result<ServerConn, String> {
    open_noting(addr, params, creds, statements, &|_| {}).await
}

/// [`open`], telling `connected` the connection's local port as soon as it has one (before
/// the login), so the endpoint can count it as its own while it logs in.
pub(super) async fn open_noting(
    addr: &str,
    params: &[(String, String)],
    creds: &Credentials,
    statements: &[bytes::Bytes],
    connected: &(dyn Fn(u16) + Send + Sync),
) -> Result<ServerConn, String> {
    let opening = async {
        let connected_at = std::time::Instant::now();
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot reach {addr}: {e}"))?;
        if let Ok(local) = stream.local_addr() {
            connected(local.port());
        }
        let _ = stream.set_nodelay(true);
        let io = |e: std::io::Error| format!("{addr}: {e}");
        stream
            .write_all(&wire::startup_message(params))
            .await
            .map_err(io)?;
        let mut inbox = Inbox::default();
        let mut scram: Option<Scram> = None;
        let mut key = None;
        let mut statuses: Vec<(String, String)> = Vec::new();
        loop {
            let message = next_message(&mut stream, &mut inbox, addr).await?;
            match message.tag {
                b'R' => {
                    let reply = authenticate(&message, creds, &mut scram).await?;
                    if !reply.is_empty() {
                        stream.write_all(&reply).await.map_err(io)?;
                    }
                }
                b'K' if message.body().len() == 8 => {
                    let b = message.body();
                    key = Some(BackendKey {
                        pid: i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                        secret: i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                    });
                }
                b'E' => {
                    return Err(format!(
                        "{addr} refused the session: {}",
                        wire::error_text(message.body())
                    ));
                }
                b'Z' => break,
                // Kept for a client given this connection from the pool; a re-bound session's
                // client keeps what it was told at its own login.
                b'S' => statuses.extend(parameter_status(message.body())),
                // Notices.
                _ => {}
            }
        }
        let logged_in_at = std::time::Instant::now();
        replay(&mut stream, &mut inbox, addr, statements).await?;
        Ok(ServerConn {
            stream,
            key,
            addr: addr.to_string(),
            statuses,
            connected_at,
            logged_in_at,
        })
    };
    tokio::time::timeout(CONNECT_LIMIT, opening)
        .await
        .map_err(|_| format!("{addr} did not become ready within {CONNECT_LIMIT:?}"))?
}

/// Bytes read from a server and the complete messages not handled yet.
#[derive(Default)]
struct Inbox {
    buf: BytesMut,
    ready: VecDeque<Message>,
}

/// Sends `batch` (Parse and Close messages) and a Sync, swallowing the answers up to
/// ReadyForQuery; an error from the server fails it.
async fn replay(
    stream: &mut TcpStream,
    inbox: &mut Inbox,
    addr: &str,
    batch: &[bytes::Bytes],
) -> Result<(), String> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut out = BytesMut::new();
    for message in batch {
        out.put_slice(message);
    }
    out.put_slice(&wire::message(b'S', &[]));
    stream
        .write_all(&out)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    loop {
        let message = next_message(stream, inbox, addr).await?;
        match message.tag {
            b'E' => {
                return Err(format!(
                    "{addr} refused a prepared statement: {}",
                    wire::error_text(message.body())
                ));
            }
            b'Z' => return Ok(()),
            _ => {}
        }
    }
}

/// Runs `sql` (one simple query) on an idle connection, keeping the settings the server
/// reports; an error, or a transaction left open, fails it.
pub(super) async fn simple(conn: &mut ServerConn, sql: &str) -> Result<(), String> {
    let mut query = sql.as_bytes().to_vec();
    query.push(0);
    conn.stream
        .write_all(&wire::message(b'Q', &query))
        .await
        .map_err(|e| format!("{}: {e}", conn.addr))?;
    let mut inbox = Inbox::default();
    let addr = conn.addr.clone();
    let mut failed = None;
    loop {
        let message = next_message(&mut conn.stream, &mut inbox, &addr).await?;
        match message.tag {
            b'S' => note_status(&mut conn.statuses, message.body()),
            b'E' => failed = Some(wire::error_text(message.body())),
            b'Z' => {
                return match (failed, message.body().first()) {
                    (None, Some(b'I')) => Ok(()),
                    (Some(e), _) => Err(format!("{addr} refused {sql}: {e}")),
                    (None, _) => Err(format!("{addr} is still in a transaction after {sql}")),
                };
            }
            _ => {}
        }
    }
}

/// Brings an already open connection's prepared statements in line with the client's:
/// `batch` holds the Parse messages it lacks and Close messages for those the client closed.
pub async fn catch_up(conn: &mut ServerConn, batch: &[bytes::Bytes]) -> Result<(), String> {
    let mut inbox = Inbox::default();
    let addr = conn.addr.clone();
    replay(&mut conn.stream, &mut inbox, &addr, batch).await
}

async fn next_message(
    stream: &mut TcpStream,
    inbox: &mut Inbox,
    addr: &str,
) -> Result<Message, String> {
    let mut out = Vec::new();
    loop {
        if let Some(first) = inbox.ready.pop_front() {
            return Ok(first);
        }
        wire::split_messages(&mut inbox.buf, &mut out)?;
        inbox.ready.extend(out.drain(..));
        if !inbox.ready.is_empty() {
            continue;
        }
        let n = stream
            .read_buf(&mut inbox.buf)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        if n == 0 {
            return Err(format!("{addr} closed the connection during login"));
        }
    }
}

/// The answer to one Authentication message (empty when none is due).
async fn authenticate(
    message: &Message,
    creds: &Credentials,
    scram: &mut Option<Scram>,
) -> Result<bytes::Bytes, String> {
    let body = message.body();
    if body.len() < 4 {
        return Err("a truncated authentication request".into());
    }
    let code = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    let data = &body[4..];
    let password = creds.password.as_bytes();
    match code {
        0 => Ok(bytes::Bytes::new()),
        3 => Ok(password_message(password)),
        5 if data.len() == 4 => {
            let salt = [data[0], data[1], data[2], data[3]];
            let hash = md5_hash(creds.user.as_bytes(), password, salt);
            Ok(password_message(hash.as_bytes()))
        }
        10 => {
            let mechanisms: Vec<&[u8]> = data.split(|&b| b == 0).collect();
            if !mechanisms.contains(&&b"SCRAM-SHA-256"[..]) {
                return Err("the server offers no SCRAM-SHA-256 the proxy can answer".into());
            }
            let (client, first) = Scram::start(&creds.password);
            let mut body = BytesMut::new();
            body.put_slice(b"SCRAM-SHA-256\0");
            body.put_i32(first.len() as i32);
            body.put_slice(first.as_bytes());
            *scram = Some(client);
            Ok(wire::message(b'p', &body))
        }
        11 => {
            let client = scram.as_mut().ok_or("SCRAM continued before it began")?;
            let last = client
                .proof(data)
                .await
                .map_err(|e| format!("SCRAM exchange failed: {e}"))?;
            Ok(wire::message(b'p', last.as_bytes()))
        }
        12 => {
            let mut client = scram.take().ok_or("SCRAM finished before it began")?;
            client.verify(data)?;
            Ok(bytes::Bytes::new())
        }
        other => Err(format!(
            "the server asks for authentication method {other}, which the proxy cannot answer"
        )),
    }
}

fn password_message(password: &[u8]) -> bytes::Bytes {
    let mut body = password.to_vec();
    body.push(0);
    wire::message(b'p', &body)
}
