//! lockstep's client endpoint for a switchover (B5): a TCP proxy speaking enough of the
//! PostgreSQL wire protocol to pass sessions through to the current upstream, follow each
//! session's transaction state, route CancelRequests to the server that holds the session, and
//! move sessions from blue to green between transactions.
//!
//! The switchover drives it through a [`ProxyHandle`]: [`park`](ProxyHandle::park) (new
//! connections wait, sessions stop at their next transaction boundary),
//! [`wait_idle`](ProxyHandle::wait_idle) (busy sessions are terminated after a grace period),
//! [`flip`](ProxyHandle::flip) (idle sessions are re-bound to the new upstream by replaying
//! their login and prepared statements with the proxy's own credentials, so long-lived
//! connections see no error) and [`resume`](ProxyHandle::resume).

mod admit;
mod cancel;
mod front;
mod login;
mod pool;
mod retire;
pub mod scram;
mod scram_server;
mod session;
mod slots;
mod sparse;
pub mod upstream;
mod warm;
pub mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

pub use upstream::Credentials;
use wire::BackendKey;

/// Where sessions go, and how the proxy logs in there itself when it re-binds a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `host:port`.
    pub addr: String,
    /// The proxy's own login for re-binding idle sessions of this user to this upstream; a
    /// session of another user is closed at a transaction boundary instead.
    pub rebind_as: Option<Credentials>,
}

/// The endpoint's limits on server connections and logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Server connections held for clients at most, sessions' and idle pooled ones together
    /// (PgBouncer's `default_pool_size`); clients beyond wait in line.
    pub pool_size: usize,
    /// How long a client waits in line for a server connection before it is refused with
    /// `53300` (PgBouncer's `query_wait_timeout`).
    pub queue_wait: Duration,
    /// How long a client may take from connecting to a completed login (PostgreSQL's
    /// `authentication_timeout`).
    pub login_deadline: Duration,
}

/// Server connections held for clients when nothing else is known: PostgreSQL's default
/// `max_connections` (100) less its reserve for superusers and room for lockstep's own.
pub const DEFAULT_POOL_SIZE: usize = 87;
/// How long a client may take to log in, by default.
pub const DEFAULT_LOGIN_DEADLINE: Duration = admit::LOGIN_DEADLINE;
/// How long a client waits for a server connection, by default.
pub const DEFAULT_QUEUE_WAIT: Duration = Duration::from_secs(30);

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            pool_size: DEFAULT_POOL_SIZE,
            queue_wait: DEFAULT_QUEUE_WAIT,
            login_deadline: admit::LOGIN_DEADLINE,
        }
    }
}

/// The current upstream, and the one sessions should get ready for.
#[derive(Debug, Clone)]
struct Route {
    current: Arc<Upstream>,
    next: Option<Arc<Upstream>>,
    /// Sessions whose login ran into this span log in again at their next idle moment (a
    /// session that logged in while blue was fenced took its read-only default).
    relogin: Option<(std::time::Instant, std::time::Instant)>,
}

/// What the proxy knows of one session.
#[derive(Debug)]
struct SessionInfo {
    /// Logged in (a session still logging in cannot write, and moves once it is in).
    settled: bool,
    /// Its client's startup parameters.
    params: warm::Params,
    /// Parked and idle: it reads nothing from its client until resumed.
    held: bool,
    /// The upstream (`host:port`) its server connection goes to.
    upstream: String,
    server_port: Option<u16>,
    kill: Arc<Notify>,
}

/// State shared by the listener, the sessions and the handle.
struct Shared {
    route: watch::Sender<Route>,
    parked: watch::Sender<bool>,
    shutdown: watch::Sender<bool>,
    park_limit: Duration,
    /// Client connections before and after login: their limit and the login deadline.
    admission: admit::Admission,
    /// Failed logins by client address, to slow down guessing.
    failed_logins: admit::FailedLogins,
    /// Server connections held for clients, and the line of those waiting for one.
    slots: slots::Slots,
    sessions: Mutex<HashMap<u64, SessionInfo>>,
    changed: Notify,
    cancels: Mutex<HashMap<BackendKey, (String, BackendKey)>>,
    next_id: AtomicU64,
    warm: warm::Warm,
    pool: pool::Pool,
    retired: retire::Retired,
    /// Sessions closed because they could not be re-bound, so far.
    not_rebound: AtomicU64,
    /// Sessions re-bound to a connection of their own they had left earlier, so far.
    taken_back: AtomicU64,
}

impl Shared {
    fn sessions(&self) -> MutexGuard<'_, HashMap<u64, SessionInfo>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cancels(&self) -> MutexGuard<'_, HashMap<BackendKey, (String, BackendKey)>> {
        self.cancels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes what is known of session `id` and wakes whoever waits on sessions.
    fn update(&self, id: u64, change: impl FnOnce(&mut SessionInfo)) {
        if let Some(info) = self.sessions().get_mut(&id) {
            change(info);
        }
        self.changed.notify_waiters();
    }

    /// Closes a server connection no longer needed (left by `session`, if any): after the
    /// resume while parked.
    fn retire(&self, session: Option<u64>, conn: upstream::ServerConn) {
        self.retired.retire(session, conn, *self.parked.borrow());
    }

    /// Empties the pool, closing its connections as [`retire`](Self::retire) does.
    fn clear_pool(&self) {
        for conn in self.pool.take_all() {
            self.retire(None, conn);
        }
    }

    /// Where a new connection goes now; none while parked without a next upstream.
    fn gate(&self) -> Option<Arc<Upstream>> {
        let is_parked = *self.parked.borrow();
        let r = self.route.borrow();
        match (&r.next, is_parked) {
            (_, false) => Some(Arc::clone(&r.current)),
            (Some(next), true) => Some(Arc::clone(next)),
            (None, true) => None,
        }
    }

    fn forget(&self, id: u64) {
        self.sessions().remove(&id);
        self.changed.notify_waiters();
    }
}

/// How draining went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drain {
    /// Sessions idle at the end.
    pub idle: usize,
    /// Sessions terminated because they were still in a transaction after the grace period.
    pub terminated: usize,
}

/// How a flip went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flip {
    /// Sessions on the new upstream (re-bound without the client noticing, or new there).
    pub rebound: usize,
    /// Of those, sessions that took back the connection they had there before (a revert
    /// before the resume: no new login).
    pub own: usize,
    /// Sessions closed at a transaction boundary instead, or to be closed at the resume when
    /// the endpoint cannot log in as their role (their clients reconnect).
    pub closed: usize,
}

/// The control handle of a running proxy; dropping it stops the proxy and its sessions.
pub struct ProxyHandle {
    shared: Arc<Shared>,
    local: std::net::SocketAddr,
    listener: tokio::task::JoinHandle<()>,
    opened_at: chrono::DateTime<chrono::Utc>,
}

impl ProxyHandle {
    /// Listens on `listen` (`127.0.0.1:0` for any free port) and sends sessions to
    /// `upstream`. While parked, a new connection waits at most `park_limit`.
    pub async fn start(
        listen: &str,
        upstream: Upstream,
        park_limit: Duration,
    ) -> Result<ProxyHandle, String> {
        ProxyHandle::start_with(listen, upstream, park_limit, Settings::default()).await
    }

    /// As [`start`](Self::start), with these limits.
    pub async fn start_with(
        listen: &str,
        upstream: Upstream,
        park_limit: Duration,
        settings: Settings,
    ) -> Result<ProxyHandle, String> {
        let listener = admit::listen(listen)
            .await
            .map_err(|e| format!("the proxy cannot listen on {listen}: {e}"))?;
        let local = listener
            .local_addr()
            .map_err(|e| format!("the proxy on {listen}: {e}"))?;
        let shared = Arc::new(Shared {
            route: watch::Sender::new(Route {
                current: Arc::new(upstream),
                next: None,
                relogin: None,
            }),
            parked: watch::Sender::new(false),
            shutdown: watch::Sender::new(false),
            park_limit,
            admission: admit::Admission::from_process_limit(),
            failed_logins: admit::FailedLogins::default(),
            slots: slots::Slots::new(settings.pool_size, settings.queue_wait),
            sessions: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            cancels: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            warm: warm::Warm::default(),
            pool: pool::Pool::default(),
            retired: retire::Retired::default(),
            not_rebound: AtomicU64::new(0),
            taken_back: AtomicU64::new(0),
        });
        shared.admission.set_deadline(settings.login_deadline);
        tokio::spawn(reap(Arc::downgrade(&shared)));
        tracing::info!(
            endpoint = %local,
            "the endpoint takes at most {} client connections (half the open-file limit) and \
             holds at most {} server connections for them; a client waits at most {} s for one \
             and has {} s to log in",
            shared.admission.limit(),
            shared.slots.size(),
            settings.queue_wait.as_secs(),
            settings.login_deadline.as_secs()
        );
        let listener = tokio::spawn(admit::accept_loop(listener, Arc::clone(&shared)));
        Ok(ProxyHandle {
            shared,
            local,
            listener,
            opened_at: chrono::Utc::now(),
        })
    }

    /// When it began to take clients (wall clock): after a crash, the end of the time they
    /// were refused.
    #[must_use]
    pub fn opened_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.opened_at
    }

    /// How long a client may take from connecting to a completed login (60 s by default,
    /// PostgreSQL's `authentication_timeout`).
    pub fn set_login_deadline(&self, deadline: Duration) {
        self.shared.admission.set_deadline(deadline);
    }

    /// The address clients connect to.
    #[must_use]
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local
    }

    /// The upstream sessions go to now.
    #[must_use]
    pub fn upstream(&self) -> Upstream {
        self.shared.route.borrow().current.as_ref().clone()
    }

    /// Sessions open now.
    #[must_use]
    pub fn session_count(&self) -> usize {
        self.shared.sessions().len()
    }

    /// The local ports of the proxy's server connections, its sessions', its pool's and those
    /// waiting to be closed (to tell its backends from others).
    #[must_use]
    pub fn upstream_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .shared
            .sessions()
            .values()
            .filter_map(|s| s.server_port)
            .collect();
        ports.extend(self.shared.pool.ports());
        ports.extend(self.shared.retired.ports());
        ports
    }

    /// New connections wait (up to the park limit) instead of reaching the upstream, and
    /// every session stops forwarding its client once it is idle between transactions.
    pub fn park(&self) {
        self.shared.parked.send_replace(true);
    }

    /// Idle server connections kept for the next client.
    #[must_use]
    pub fn pooled(&self) -> usize {
        self.shared.pool.len()
    }

    /// Opens, ahead of a flip, logged-in and warmed-up connections to `next`: one for every
    /// session that can be re-bound and every idle pooled connection, and half as many again,
    /// so the flip itself costs no login; once parked, sessions without one open their own,
    /// and what is left over goes to the pool at the resume. Returns how many were opened.
    pub async fn prepare(&self, next: Upstream) -> usize {
        let ready = warm::fill(&self.shared, &next).await;
        self.shared
            .route
            .send_modify(|route| route.next = Some(Arc::new(next)));
        ready
    }

    /// Waits until every logged-in session is idle; sessions still in a transaction after
    /// `grace` are terminated (their clients get an error and the transaction rolls back).
    /// Sessions still logging in count as idle: they cannot write before they are held.
    pub async fn wait_idle(&self, grace: Duration) -> Drain {
        let mut deadline = Instant::now() + grace;
        let mut terminated = 0;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (idle, busy): (Vec<_>, Vec<_>) = {
                let sessions = self.shared.sessions();
                sessions
                    .values()
                    .map(|s| (s.held || !s.settled, Arc::clone(&s.kill)))
                    .partition(|(idle, _)| *idle)
            };
            if busy.is_empty() || (terminated > 0 && Instant::now() >= deadline) {
                return Drain {
                    idle: idle.len(),
                    terminated,
                };
            }
            if Instant::now() >= deadline {
                for (_, kill) in &busy {
                    kill.notify_one();
                }
                terminated = busy.len();
                deadline = Instant::now() + Duration::from_secs(2);
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// Sends every session to `upstream`: idle sessions are re-bound (or closed when the
    /// proxy cannot log in for them), new sessions go there. Waits at most `limit` for the
    /// logged-in sessions to move; those still logging in move as soon as they are in.
    pub async fn flip(&self, upstream: Upstream, limit: Duration) -> Result<Flip, String> {
        let closed_before = self.shared.not_rebound.load(Ordering::Relaxed);
        let own_before = self.shared.taken_back.load(Ordering::Relaxed);
        let addr = upstream.addr.clone();
        self.shared.route.send_modify(|route| {
            route.current = Arc::new(upstream);
            route.next = None;
        });
        self.shared.clear_pool();
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (moved, waiting, staying) = {
                let current = Arc::clone(&self.shared.route.borrow().current);
                let sessions = self.shared.sessions();
                let moved = sessions.values().filter(|s| s.upstream == addr).count();
                // Sessions of a role the endpoint cannot log in as stay while parked.
                let (staying, waiting) = sessions
                    .values()
                    .filter(|s| s.settled && s.upstream != addr)
                    .partition::<Vec<_>, _>(|s| warm::login_for(&current, &s.params).is_none());
                (moved, waiting.len(), staying.len())
            };
            if waiting == 0 {
                let closed = self.shared.not_rebound.load(Ordering::Relaxed) - closed_before;
                let own = self.shared.taken_back.load(Ordering::Relaxed) - own_before;
                return Ok(Flip {
                    rebound: moved,
                    own: usize::try_from(own).unwrap_or(usize::MAX),
                    closed: usize::try_from(closed)
                        .unwrap_or(usize::MAX)
                        .saturating_add(staying),
                });
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{waiting} sessions had not moved to the new upstream after {limit:?}"
                ));
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// Sessions whose login completed after `since` but began before now log in again, on the
    /// current upstream, at their next idle moment: once a fence is lifted, none keeps the
    /// read-only default it took while the fence stood.
    pub fn relogin_since(&self, since: std::time::Instant) {
        let until = std::time::Instant::now();
        self.shared
            .route
            .send_modify(|route| route.relogin = Some((since, until)));
        self.shared.clear_pool();
    }

    /// New connections go through again and held sessions carry on; connections opened
    /// ahead and not used go to the pool when they are on the current upstream, and are
    /// closed otherwise (a prepared next upstream that was not flipped to is forgotten).
    pub fn resume(&self) {
        self.shared.route.send_modify(|route| route.next = None);
        let current = self.shared.route.borrow().current.addr.clone();
        for (params, conn) in self.shared.warm.drain() {
            // Kept only where a slot is free: the pool stays within its size.
            match self.shared.slots.try_take() {
                Some(slot) if conn.addr == current => self.shared.pool.put(conn, params, slot),
                _ => {}
            }
        }
        self.shared.parked.send_replace(false);
        self.shared.retired.close_later();
    }

    /// Server connections waiting to be closed after a resume.
    #[must_use]
    pub fn retired(&self) -> usize {
        self.shared.retired.len()
    }
}

/// Every few seconds, closes the pool's idle connections that expired, until the proxy stops.
async fn reap(shared: std::sync::Weak<Shared>) {
    const EVERY: Duration = Duration::from_secs(5);
    loop {
        tokio::time::sleep(EVERY).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        for conn in shared.pool.expired(std::time::Instant::now()) {
            shared.retire(None, conn);
        }
    }
}

impl std::fmt::Debug for ProxyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyHandle({} -> {})", self.local, self.upstream().addr)
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.listener.abort();
        self.shared.shutdown.send_replace(true);
    }
}
