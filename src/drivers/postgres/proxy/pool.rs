//! Server connections kept between client sessions, so that a client that opens a connection
//! for every transaction does not cost the server a new backend (a fork, a login and cold
//! caches, the largest part of such a transaction's CPU) each time. A client of the role the
//! endpoint holds a password for is logged in by the endpoint itself ([`super::login`]) and
//! given an idle connection of the same upstream and startup parameters; when it leaves
//! between transactions, the connection is reset with `DISCARD ALL` (temporary tables,
//! prepared statements, settings, locks, listeners: a fresh session) and kept, at most
//! [`IDLE_LIMIT`] idle (the proxy closes expired ones every few seconds).
//!
//! Nothing is kept while the endpoint is parked, and the pool is emptied when it flips or
//! lifts a fence, so no connection outlives the upstream or the defaults it logged in with.
//! Idle connections count as the endpoint's own: the fence leaves them alone.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::scram_server::Verifier;
use super::slots::{self, Got, Slot};
use super::upstream::{self, Credentials, ServerConn};
use super::warm::{self, Params};
use super::wire;
use super::{Shared, Upstream};

/// An idle connection older than this is closed instead of handed out.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// A connection logged in longer ago than this is closed instead of kept or handed out, so
/// a change to the role on the server (password, NOLOGIN, pg_hba) reaches its clients soon.
const MAX_AGE: Duration = Duration::from_secs(600);
/// How long a reset may take before the connection is closed instead.
const RESET_LIMIT: Duration = Duration::from_secs(5);

/// A role's verifier, derived once by the first login that needs it.
type VerifierCell = Arc<tokio::sync::OnceCell<Verifier>>;

struct Idle {
    conn: ServerConn,
    since: Instant,
    /// Its place among the server connections held for clients ([`super::slots`]).
    slot: Slot,
}

impl Idle {
    /// Fit to hand out at `now`: within the idle and age limits, and not closed by the server.
    fn fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.since) < IDLE_LIMIT
            && now.saturating_duration_since(self.conn.logged_in_at) < MAX_AGE
            && open(&self.conn.stream)
    }
}

/// The idle connections, and the SCRAM verifiers for the endpoint's logins.
#[derive(Default)]
pub(super) struct Pool {
    idle: Mutex<HashMap<(String, Params), Vec<Idle>>>,
    /// Local ports of connections the endpoint is opening or resetting (its own, for the
    /// fence, though in no session and not idle here).
    in_hand: Mutex<HashSet<u16>>,
    /// One cell per role and password: derived once, then read without waiting in line (a
    /// burst of logins must not queue on a lock one after the other).
    verifiers: Mutex<HashMap<(String, [u8; 32]), VerifierCell>>,
}

impl Pool {
    fn idle(&self) -> MutexGuard<'_, HashMap<(String, Params), Vec<Idle>>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An idle connection to `addr` logged in with `params` that the server has not closed,
    /// with its slot (stale ones met on the way are dropped, their slots freed).
    pub(super) fn take_with_slot(&self, addr: &str, params: &Params) -> Option<(ServerConn, Slot)> {
        let mut idle = self.idle();
        let kept = idle.get_mut(&(addr.to_string(), params.clone()))?;
        let now = Instant::now();
        while let Some(idle) = kept.pop() {
            if idle.fresh(now) {
                return Some((idle.conn, idle.slot));
            }
        }
        None
    }

    /// Takes the longest-idle connection that a client going to `addr` with `params` could not
    /// use (any, for a client the endpoint does not log in itself), so its slot comes free
    /// (the caller closes it).
    pub(super) fn evict_other(&self, addr: &str, params: Option<&Params>) -> Option<ServerConn> {
        let mut idle = self.idle();
        let key = idle
            .iter()
            .filter(|((a, p), kept)| {
                !kept.is_empty() && params.is_none_or(|params| a != addr || p != params)
            })
            .min_by_key(|(_, kept)| kept.first().map(|i| i.since))
            .map(|(key, _)| key.clone())?;
        let kept = idle.get_mut(&key)?;
        let conn = kept.remove(0).conn;
        if kept.is_empty() {
            idle.remove(&key);
        }
        Some(conn)
    }

    /// Keeps `conn` (already reset) for the next client with `params`, with its slot; a
    /// connection too old to keep is closed and its slot freed.
    pub(super) fn put(&self, conn: ServerConn, params: Params, slot: Slot) {
        let mut idle = self.idle();
        let kept = idle.entry((conn.addr.clone(), params)).or_default();
        kept.retain(|i| i.since.elapsed() < IDLE_LIMIT);
        // As many as their slots allow: a burst finds them logged in already.
        if conn.logged_in_at.elapsed() < MAX_AGE {
            kept.push(Idle {
                conn,
                since: Instant::now(),
                slot,
            });
        }
    }

    /// Takes the idle connections that are past [`IDLE_LIMIT`] or [`MAX_AGE`] at `now`, or
    /// that the server closed (the caller closes them), so a burst of clients does not hold
    /// the server's connection slots for good.
    pub(super) fn expired(&self, now: Instant) -> Vec<ServerConn> {
        let mut idle = self.idle();
        let mut out = Vec::new();
        for kept in idle.values_mut() {
            let (fresh, stale): (Vec<Idle>, Vec<Idle>) = kept.drain(..).partition(|i| i.fresh(now));
            *kept = fresh;
            out.extend(stale.into_iter().map(|i| i.conn));
        }
        idle.retain(|_, kept| !kept.is_empty());
        out
    }

    /// Takes every idle connection (the caller closes them).
    pub(super) fn take_all(&self) -> Vec<ServerConn> {
        self.idle()
            .drain()
            .flat_map(|(_, kept)| kept.into_iter().map(|i| i.conn))
            .collect()
    }

    /// Idle connections kept now.
    pub(super) fn len(&self) -> usize {
        self.idle().values().map(Vec::len).sum()
    }

    /// The startup parameters of every idle connection to `addr` (one entry each).
    pub(super) fn idle_params(&self, addr: &str) -> Vec<Params> {
        self.idle()
            .iter()
            .filter(|((a, _), _)| a == addr)
            .flat_map(|((_, params), kept)| std::iter::repeat_n(params.clone(), kept.len()))
            .collect()
    }

    /// The local ports of the endpoint's connections that are idle here or being reset.
    pub(super) fn ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .idle()
            .values()
            .flatten()
            .filter_map(|i| i.conn.stream.local_addr().ok().map(|a| a.port()))
            .collect();
        ports.extend(self.in_hand().iter().copied());
        ports
    }

    fn in_hand(&self) -> MutexGuard<'_, HashSet<u16>> {
        self.in_hand
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Resets a connection its client left between transactions: `DISCARD ALL`, keeping the
    /// settings the server reports back, and counting it among the endpoint's connections
    /// meanwhile. An error, a transaction still open or no answer within the limit fails it
    /// (the caller closes the connection).
    pub(super) async fn reset(&self, conn: &mut ServerConn) -> Result<(), String> {
        let port = conn.stream.local_addr().ok().map(|a| a.port());
        if let Some(port) = port {
            self.in_hand().insert(port);
        }
        let done = tokio::time::timeout(RESET_LIMIT, upstream::simple(conn, "DISCARD ALL"))
            .await
            .unwrap_or_else(|_| Err(format!("{} did not answer DISCARD ALL in time", conn.addr)));
        if let Some(port) = port {
            self.in_hand().remove(&port);
        }
        done
    }

    /// The verifier for `creds`' password, derived once (logins arriving meanwhile wait for
    /// that one derivation).
    pub(super) async fn verifier(&self, creds: &Credentials) -> Result<Verifier, String> {
        use sha2::Digest as _;
        let key = (
            creds.user.clone(),
            sha2::Sha256::digest(creds.password().as_bytes()).into(),
        );
        let cell = Arc::clone(
            self.verifiers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(key)
                .or_default(),
        );
        if let Some(found) = cell.get() {
            return Ok(found.clone());
        }
        cell.get_or_try_init(|| Verifier::derive(creds.password()))
            .await
            .cloned()
    }
}

/// A server connection for a client the endpoint logged in, with its slot: an idle one from
/// the pool or opened ahead of a flip, else a new login with the endpoint's credentials; when
/// every slot is taken, the client waits its turn ([`slots::take`]). A login to the old
/// upstream still running when the endpoint parks with a next one is abandoned for the next
/// one (the flip would otherwise wait for it, and then move it). A failure has been told to
/// the client.
pub(super) async fn connection_for(
    shared: &Shared,
    mut target: Arc<Upstream>,
    params: &warm::Params,
    client: &mut TcpStream,
) -> Option<(ServerConn, Slot)> {
    let mut slot: Option<Slot> = None;
    loop {
        let (mut parked, mut route) = (shared.parked.subscribe(), shared.route.subscribe());
        // The endpoint may have parked since the gate let this client through: a session
        // started on the old upstream now would escape the fence's count of its own.
        if let Some(now) = shared.gate().filter(|now| now.addr != target.addr) {
            target = now;
            continue;
        }
        if let Some(found) = shared.pool.take_with_slot(&target.addr, params) {
            return Some(found);
        }
        let Some(held) = slot.take() else {
            match slots::take(shared, &target.addr, Some(params)).await {
                Some(Got::Idle(conn, own)) if conn.addr == target.addr => return Some((conn, own)),
                Some(Got::Idle(conn, own)) => {
                    shared.retire(None, conn);
                    slot = Some(own);
                }
                Some(Got::Slot(free)) => slot = Some(free),
                None => {
                    tell_full(shared, client).await;
                    return None;
                }
            }
            continue;
        };
        if let Some(conn) = shared.warm.take(&target.addr, params) {
            return Some((conn, held));
        }
        let Some(creds) = warm::login_for(&target, params) else {
            let text = "the endpoint holds no login for this role on the database now";
            let _ = client
                .write_all(&wire::error_response("FATAL", "08006", text))
                .await;
            return None;
        };
        // Counted as the endpoint's own while it logs in, so a fence going up meanwhile
        // spares it.
        let port = Mutex::new(None);
        let noted = |p: u16| {
            shared.pool.in_hand().insert(p);
            *port
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(p);
        };
        let addr = target.addr.clone();
        let mut opening = Box::pin(upstream::open_noting(&addr, params, &creds, &[], &noted));
        let opened = loop {
            tokio::select! {
                opened = &mut opening => break Some(opened),
                _ = parked.changed() => {}
                _ = route.changed() => {}
            }
            if shared.gate().is_some_and(|now| now.addr != addr) {
                break None;
            }
        };
        drop(opening);
        if let Some(p) = *port
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            shared.pool.in_hand().remove(&p);
        }
        match opened {
            Some(Ok(conn)) => return Some((conn, held)),
            Some(Err(e)) => {
                // The pooled connections stay: they are logged in already, and a server
                // that refuses a new login (too many clients, a restart under way) can
                // still serve them.
                let text = format!("the proxy cannot log in to the database: {e}");
                let _ = client
                    .write_all(&wire::error_response("FATAL", "08006", &text))
                    .await;
                return None;
            }
            None => {
                slot = Some(held);
                target = shared.gate()?;
            }
        }
    }
}

/// Tells a client that no server connection came free within the queue wait.
pub(super) async fn tell_full(shared: &Shared, client: &mut TcpStream) {
    if shared.slots.warn_now() {
        let peer = client
            .peer_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string());
        tracing::warn!(
            client = %peer,
            "the endpoint's {} server connections stayed in use for {} s: clients waiting \
             longer are refused (53300); this is logged at most once a minute",
            shared.slots.size(),
            shared.slots.wait().as_secs()
        );
    }
    let text = format!(
        "no server connection came free within {} s: all {} of lockstep's endpoint are in use; \
         try again, or raise the endpoint's pool size (`lockstep pg register … --pool-size`)",
        shared.slots.wait().as_secs(),
        shared.slots.size()
    );
    let _ = client
        .write_all(&wire::error_response("FATAL", "53300", &text))
        .await;
}

/// Whether the server has neither closed `stream` nor sent anything unasked (a termination
/// notice) while it was idle.
pub(super) fn open(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected loopback socket standing in for a server connection, and its far end.
    async fn conn() -> (ServerConn, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listens");
        let addr = listener.local_addr().expect("addr");
        let stream = TcpStream::connect(addr).await.expect("connects");
        let (far, _) = listener.accept().await.expect("accepts");
        let now = Instant::now();
        let conn = ServerConn {
            stream,
            key: None,
            addr: addr.to_string(),
            statuses: Vec::new(),
            connected_at: now,
            logged_in_at: now,
        };
        (conn, far)
    }

    #[tokio::test]
    async fn idle_connections_expire_after_the_idle_limit_or_when_the_server_closed_them() {
        let pool = Pool::default();
        let params: Params = Arc::new(vec![("user".into(), "app".into())]);
        let (kept, _far_kept) = conn().await;
        let (closed, far_closed) = conn().await;
        let slots = slots::Slots::new(2, Duration::from_secs(1));
        pool.put(kept, params.clone(), slots.try_take().expect("slot"));
        pool.put(closed, params.clone(), slots.try_take().expect("slot"));
        drop(far_closed);
        tokio::time::sleep(Duration::from_millis(50)).await;

        let now = Instant::now();
        let gone = pool.expired(now);
        assert_eq!(gone.len(), 1, "the one the server closed");
        assert_eq!(pool.len(), 1);
        assert_eq!(slots.in_use(), 1, "the closed one's slot came free");
        assert!(pool.expired(now + IDLE_LIMIT / 2).is_empty());
        assert_eq!(pool.expired(now + IDLE_LIMIT).len(), 1, "idle too long");
        assert_eq!(pool.len(), 0);
        assert!(pool.idle_params("anything").is_empty());
    }
}
