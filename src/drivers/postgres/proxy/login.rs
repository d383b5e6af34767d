//! A client login the endpoint answers itself, so the client can be given a pooled server
//! connection ([`super::pool`]): SCRAM-SHA-256 against the password the endpoint logs in with
//! for that role, then the server connection's settings (ParameterStatus), a key of the
//! endpoint's own for cancels (mapped to the real backend's) and ReadyForQuery.

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::scram_server::{Exchange, Verifier};
use super::wire::{self, BackendKey, Message};

/// How long a client may take over its part of the login.
const LOGIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A login refused: the ErrorResponse for the client (not sent yet: the caller may make a
/// client that keeps failing wait first), and why, for the log.
pub(super) struct Refusal {
    pub message: bytes::Bytes,
    pub why: String,
}

/// Runs the SCRAM exchange with `client` for `user`; `Ok` once the client proved it knows the
/// password, with whatever the client sent after its last message. A refusal says what to
/// tell the client (SQLSTATE 28P01 for a wrong password, as PostgreSQL says it).
pub(super) async fn authenticate(
    client: &mut TcpStream,
    user: &str,
    verifier: Verifier,
) -> Result<BytesMut, Refusal> {
    let mut buf = BytesMut::with_capacity(512);
    let outcome = tokio::time::timeout(LOGIN_LIMIT, exchange(client, &mut buf, verifier))
        .await
        .unwrap_or_else(|_| Err(("08006", "the login took too long".into())));
    match outcome {
        Ok(()) => Ok(buf),
        Err((code, why)) => {
            let text = if code == "28P01" {
                format!("password authentication failed for user \"{user}\"")
            } else {
                format!("the login through lockstep's endpoint failed: {why}")
            };
            Err(Refusal {
                message: wire::error_response("FATAL", code, &text),
                why: format!("{text} ({why})"),
            })
        }
    }
}

async fn exchange(
    client: &mut TcpStream,
    buf: &mut BytesMut,
    verifier: Verifier,
) -> Result<(), (&'static str, String)> {
    let protocol = |e: String| ("08P01", e);
    send(client, &auth(10, b"SCRAM-SHA-256\0\0")).await?;
    let first = next_password_message(client, buf).await?;
    let mut rest = first.body();
    let mechanism = wire::cstr(&mut rest).map_err(protocol)?;
    if mechanism != "SCRAM-SHA-256" || rest.len() < 4 {
        return Err(protocol(format!(
            "the endpoint offers SCRAM-SHA-256, not {mechanism}"
        )));
    }
    let (exchange, server_first) = Exchange::start(verifier, &rest[4..]).map_err(protocol)?;
    send(client, &auth(11, server_first.as_bytes())).await?;
    let last = next_password_message(client, buf).await?;
    let server_final = exchange.finish(last.body()).map_err(|e| ("28P01", e))?;
    let mut out = BytesMut::new();
    out.put_slice(&auth(12, server_final.as_bytes()));
    out.put_slice(&auth(0, &[]));
    send(client, &out).await
}

/// What a client given a pooled connection is told after AuthenticationOk: the server's
/// settings (`statuses`), the key it cancels with, and that the session is ready.
pub(super) fn welcome(statuses: &[(String, String)], client_key: BackendKey) -> BytesMut {
    let mut out = BytesMut::new();
    for (name, value) in statuses {
        let mut body = BytesMut::new();
        body.put_slice(name.as_bytes());
        body.put_u8(0);
        body.put_slice(value.as_bytes());
        body.put_u8(0);
        out.put_slice(&wire::message(b'S', &body));
    }
    let mut key = BytesMut::new();
    key.put_i32(client_key.pid);
    key.put_i32(client_key.secret);
    out.put_slice(&wire::message(b'K', &key));
    out.put_slice(&wire::message(b'Z', b"I"));
    out
}

/// A key of the endpoint's own for a pooled session (the backend behind it changes).
pub(super) fn client_key() -> BackendKey {
    BackendKey {
        pid: rand::random_range(1..i32::MAX),
        secret: rand::random(),
    }
}

fn auth(code: i32, data: &[u8]) -> bytes::Bytes {
    let mut body = BytesMut::with_capacity(4 + data.len());
    body.put_i32(code);
    body.put_slice(data);
    wire::message(b'R', &body)
}

async fn send(client: &mut TcpStream, bytes: &[u8]) -> Result<(), (&'static str, String)> {
    client
        .write_all(bytes)
        .await
        .map_err(|e| ("08006", e.to_string()))
}

/// The largest message taken during the login (PostgreSQL's own bound on an authentication
/// token, `PG_MAX_AUTH_TOKEN_LENGTH`, is 65,535 bytes).
pub(super) const MAX_LOGIN_MESSAGE: usize = 65_535 + 4;

/// The client's next message, which must be a PasswordMessage (`p`).
async fn next_password_message(
    client: &mut TcpStream,
    buf: &mut BytesMut,
) -> Result<Message, (&'static str, String)> {
    let mut messages = Vec::new();
    loop {
        // Nothing larger than PostgreSQL takes before login is buffered (an unauthenticated
        // client could otherwise make the endpoint hold a 1 GiB message).
        if buf.len() >= 5 {
            let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
            if len > MAX_LOGIN_MESSAGE {
                return Err((
                    "08P01",
                    format!(
                        "a login message of {len} bytes is larger than the {MAX_LOGIN_MESSAGE} \
                         bytes allowed before login"
                    ),
                ));
            }
        }
        wire::split_messages(buf, &mut messages).map_err(|e| ("08P01", e))?;
        if let Some(first) = messages.first() {
            if first.tag != b'p' || messages.len() > 1 {
                return Err(("08P01", "the client broke off the login".into()));
            }
            return Ok(messages.remove(0));
        }
        let n = client
            .read_buf(buf)
            .await
            .map_err(|e| ("08006", e.to_string()))?;
        if n == 0 {
            return Err(("08006", "the client closed the connection".into()));
        }
    }
}
