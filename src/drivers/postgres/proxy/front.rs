//! From accept to a server connection: the first packets and the endpoint's own login for the
//! role it pools, within the login deadline (a login from an address that keeps failing waits
//! first), then the park gate, then a server connection (from the pool, or passed through
//! with the client's own StartupMessage for other roles). Every refusal is told to the client.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::slots::{self, Got, Slot};
use super::upstream::ServerConn;
use super::wire::FirstPacket;
use super::{Shared, Upstream, cancel, login, pool, warm, wire};

/// A client let in, with its server connection.
pub(super) struct Admitted {
    /// Its startup parameters.
    pub params: warm::Params,
    /// Whether the endpoint logged it in itself (the pooled role).
    pub pooled: bool,
    /// What it sent after its login.
    pub early: BytesMut,
    /// Its server connection.
    pub conn: ServerConn,
    /// That connection's place among those held for clients.
    pub slot: Slot,
}

/// Lets `client` in, or tells it why not (`None`).
pub(super) async fn admit(
    shared: &Arc<Shared>,
    id: u64,
    client: &mut TcpStream,
) -> Option<Admitted> {
    let deadline = tokio::time::Instant::now() + shared.admission.deadline();
    let late = || wire::error_response("FATAL", "08006", "the login took too long: connect again");
    let (raw, params) = match tokio::time::timeout_at(deadline, opening(shared, client)).await {
        Ok(Opening::Startup(raw, params)) => (raw, params),
        Ok(Opening::Done) => return None,
        Err(_) => {
            let _ = client.write_all(&late()).await;
            return None;
        }
    };
    let params: warm::Params = Arc::new(params);
    // The role the endpoint logs in as: it answers the login itself and hands over a pooled
    // server connection; other roles log in on the server through it.
    let pooled = shared
        .route
        .borrow()
        .current
        .rebind_as
        .clone()
        .filter(|creds| {
            params
                .iter()
                .any(|(name, value)| name == "user" && *value == creds.user)
        });
    let mut early = BytesMut::with_capacity(8192);
    if let Some(creds) = &pooled {
        let verifier = match shared.pool.verifier(creds).await {
            Ok(verifier) => verifier,
            Err(e) => {
                let _ = client
                    .write_all(&wire::error_response("FATAL", "08006", &e))
                    .await;
                return None;
            }
        };
        let peer = client.peer_addr().ok();
        let login = login::authenticate(client, &creds.user, verifier);
        match tokio::time::timeout_at(deadline, login).await {
            Ok(Ok(rest)) => early = rest,
            Ok(Err(refusal)) => {
                // A client that keeps failing from one address waits before it hears so
                // (as PostgreSQL's auth_delay): guessing slows down, good logins never wait.
                if let Some(peer) = peer {
                    shared.failed_logins.failed(peer.ip());
                    shared.failed_logins.hold_back(peer.ip()).await;
                }
                let _ = client.write_all(&refusal.message).await;
                let peer = peer.map_or_else(|| "?".into(), |a| a.to_string());
                tracing::warn!(
                    session = id,
                    client = %peer,
                    role = %creds.user,
                    "login refused at the endpoint: {}",
                    refusal.why
                );
                return None;
            }
            Err(_) => {
                let _ = client.write_all(&late()).await;
                return None;
            }
        }
    }
    let Some(target) = wait_for_gate(shared).await else {
        let text = "the database is switching over and did not reopen in time; try again";
        let _ = client
            .write_all(&wire::error_response("FATAL", "57P03", text))
            .await;
        return None;
    };
    let (conn, slot) = if pooled.is_some() {
        pool::connection_for(shared, Arc::clone(&target), &params, client).await?
    } else {
        // A login on the server costs it a backend before any password is checked: from an
        // address that keeps failing, it waits first.
        if let Ok(peer) = client.peer_addr() {
            shared.failed_logins.hold_back(peer.ip()).await;
        }
        // A login on the server itself holds a server connection too: it waits its turn.
        let slot = match slots::take(shared, &target.addr, None).await {
            Some(Got::Slot(slot)) => slot,
            Some(Got::Idle(conn, slot)) => {
                shared.retire(None, conn);
                slot
            }
            None => {
                pool::tell_full(shared, client).await;
                return None;
            }
        };
        (passed_through(&target, &raw, client).await?, slot)
    };
    Some(Admitted {
        params,
        pooled: pooled.is_some(),
        early,
        conn,
        slot,
    })
}

/// A server connection for a client that logs in on the server itself: its StartupMessage
/// `raw` is passed on, and the login's messages flow through the session. A failure has been
/// told to the client.
async fn passed_through(
    target: &Upstream,
    raw: &[u8],
    client: &mut TcpStream,
) -> Option<ServerConn> {
    let connected_at = std::time::Instant::now();
    let mut server = match TcpStream::connect(&target.addr).await {
        Ok(server) => server,
        Err(e) => {
            let text = format!("the proxy cannot reach the database: {e}");
            let _ = client
                .write_all(&wire::error_response("FATAL", "08006", &text))
                .await;
            return None;
        }
    };
    let _ = server.set_nodelay(true);
    server.write_all(raw).await.ok()?;
    Some(ServerConn {
        stream: server,
        key: None,
        addr: target.addr.clone(),
        statuses: Vec::new(),
        connected_at,
        logged_in_at: connected_at,
    })
}

/// Waits while the proxy is parked, at most its park limit; false when the limit ran out.
/// Where a new connection goes: the current upstream, or while parked the next one when it
/// is known (the login happens during the park, and the session is held once in, so its first
/// query runs as soon as the proxy resumes). Otherwise it waits, at most the park limit.
async fn wait_for_gate(shared: &Shared) -> Option<Arc<Upstream>> {
    let mut parked = shared.parked.subscribe();
    let mut route = shared.route.subscribe();
    let deadline = tokio::time::Instant::now() + shared.park_limit;
    loop {
        if let Some(target) = shared.gate() {
            return Some(target);
        }
        let changed = async {
            tokio::select! {
                _ = parked.changed() => {}
                _ = route.changed() => {}
            }
        };
        tokio::time::timeout_at(deadline, changed).await.ok()?;
    }
}

/// What a client's first packets came to.
pub(super) enum Opening {
    /// A StartupMessage: its raw bytes and parameters.
    Startup(bytes::Bytes, Vec<(String, String)>),
    /// Handled already (a cancel routed, or the client refused with a message).
    Done,
}

/// Reads first packets until a StartupMessage: SSL and GSS requests are answered `N`, at
/// most once each; a cancel is routed; anything else is refused with an ErrorResponse.
pub(super) async fn opening(shared: &Shared, client: &mut TcpStream) -> Opening {
    let (mut ssl, mut gss) = (false, false);
    loop {
        let refusal = match wire::read_first_packet(client).await {
            Ok(FirstPacket::Ssl) if !ssl => {
                ssl = true;
                if client.write_all(b"N").await.is_err() {
                    return Opening::Done;
                }
                continue;
            }
            Ok(FirstPacket::GssEnc) if !gss => {
                gss = true;
                if client.write_all(b"N").await.is_err() {
                    return Opening::Done;
                }
                continue;
            }
            Ok(FirstPacket::Ssl | FirstPacket::GssEnc) => {
                "an SSL or GSS encryption request was repeated on one connection".to_string()
            }
            Ok(FirstPacket::Cancel(key)) => {
                cancel::route(shared, key).await;
                return Opening::Done;
            }
            Ok(FirstPacket::Startup {
                raw,
                params,
                negotiate,
            }) => {
                if let Some(answer) = negotiate
                    && client.write_all(&answer).await.is_err()
                {
                    return Opening::Done;
                }
                return Opening::Startup(raw, params);
            }
            Err(e) => e,
        };
        let _ = client
            .write_all(&wire::error_response("FATAL", "08P01", &refusal))
            .await;
        return Opening::Done;
    }
}
