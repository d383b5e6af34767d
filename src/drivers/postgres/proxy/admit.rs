//! Admission at the endpoint, before anyone has logged in: an accept loop that never ends on a
//! transient error (running out of descriptors closes no port: it is logged once per burst
//! and accepting goes on after a short pause), a cap on client connections below the
//! process's descriptor limit (refused above it with PostgreSQL's `53300`), and a login
//! deadline from accept (PostgreSQL's `authentication_timeout`) with at most one SSLRequest
//! and one GSSENCRequest per connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::wire;
use super::{Shared, session};

/// How long a client may take from accept to a completed login, by default.
pub const LOGIN_DEADLINE: Duration = Duration::from_secs(60);

/// How long accepting pauses after an error such as running out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Descriptors kept for everything but client connections (the journal, the HTTP API, the
/// driver's own sessions).
const RESERVED_FDS: u64 = 64;

/// Client connections open, against a limit.
#[derive(Debug)]
pub(super) struct Admission {
    limit: usize,
    /// Refusals above the limit, logged sparsely.
    full: super::sparse::Sparse,
    open: AtomicUsize,
    /// The login deadline, in milliseconds.
    deadline_ms: AtomicU64,
}

/// A client connection counted by [`Admission`]; uncounted when dropped.
pub(super) struct Ticket(Arc<Shared>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.admission.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// A limit of half the descriptors the process may open (each client needs one, and one
    /// more for its server connection), less a reserve.
    pub(super) fn from_process_limit() -> Admission {
        let fds = open_files_limit().unwrap_or(1024);
        let limit = usize::try_from(fds.saturating_sub(RESERVED_FDS) / 2)
            .unwrap_or(usize::MAX)
            .max(8);
        Admission {
            limit,
            full: super::sparse::Sparse::default(),
            open: AtomicUsize::new(0),
            deadline_ms: AtomicU64::new(
                u64::try_from(LOGIN_DEADLINE.as_millis()).unwrap_or(60_000),
            ),
        }
    }

    /// The most client connections taken at once.
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// The login deadline.
    pub(super) fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms.load(Ordering::Relaxed))
    }

    /// Sets the login deadline.
    pub(super) fn set_deadline(&self, deadline: Duration) {
        self.deadline_ms.store(
            u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// The soft limit of open files of this process (`/proc/self/limits`), where it can be read.
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// A burst of failed accepts ends once accepting has gone on this long without a failure.
const BURST_GAP: Duration = Duration::from_secs(1);

/// Connections the kernel keeps waiting to be accepted (capped by `net.core.somaxconn`): a
/// burst of thousands of logins at once must not find the queue full, or the kernel drops
/// their SYNs and each client waits a whole second to try again.
const BACKLOG: u32 = 4096;

/// Listens on `listen` (`HOST:PORT`) with a backlog of [`BACKLOG`].
pub(super) async fn listen(listen: &str) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(listen).await? {
        let socket = match addr {
            std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(BACKLOG)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to listen on")
    }))
}

/// Accepts clients until the endpoint stops; an error pauses it, never ends it. A burst of
/// errors is logged once when it begins and once when it is over.
pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Failed accepts of the burst under way, and when the last one failed.
    let mut burst: Option<(u64, tokio::time::Instant)> = None;
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                if let Some((failures, last)) = burst
                    && last.elapsed() >= BURST_GAP
                {
                    tracing::info!(
                        endpoint = %shared_addr(&listener),
                        "accepting clients again after {failures} failed accepts"
                    );
                    burst = None;
                }
                let _ = socket.set_nodelay(true);
                let open = shared.admission.open.fetch_add(1, Ordering::AcqRel);
                let ticket = Ticket(Arc::clone(&shared));
                if open >= shared.admission.limit {
                    if shared.admission.full.due() {
                        tracing::warn!(
                            endpoint = %shared_addr(&listener),
                            client = %peer,
                            "the endpoint is full ({} client connections): clients above it are \
                             refused with 53300; this is logged at most once a minute",
                            shared.admission.limit
                        );
                    }
                    tokio::spawn(refuse(socket, ticket, shared.admission.limit));
                    continue;
                }
                let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let _ticket = ticket;
                    session::serve(shared, id, socket).await;
                });
            }
            Err(e) => {
                let failures = match burst {
                    Some((failures, _)) => failures,
                    None => {
                        tracing::warn!(
                            endpoint = %shared_addr(&listener),
                            "the endpoint cannot accept clients ({e}); retrying every {} ms",
                            ACCEPT_BACKOFF.as_millis()
                        );
                        0
                    }
                };
                burst = Some((failures + 1, tokio::time::Instant::now()));
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

fn shared_addr(listener: &TcpListener) -> String {
    listener
        .local_addr()
        .map_or_else(|_| "?".into(), |a| a.to_string())
}

/// Refuses a client above the connection limit the way PostgreSQL does.
async fn refuse(mut socket: TcpStream, _ticket: Ticket, limit: usize) {
    let text = format!(
        "too many connections to lockstep's endpoint (its limit is {limit}, half the process's \
         open-file limit): close idle connections or raise the limit (ulimit -n)"
    );
    let _ = socket
        .write_all(&wire::error_response("FATAL", "53300", &text))
        .await;
}

/// Failed logins at the endpoint per client address, to slow down guessing: from the sixth
/// failure within a minute, each failure from that address is told only after a wait, twice
/// as long each time, at most [`MAX_LOGIN_DELAY`] (a client that logs in well never waits).
#[derive(Debug, Default)]
pub(super) struct FailedLogins {
    recent: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, Vec<std::time::Instant>>>,
}

/// How far back failures count.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Failures within the window before logins are slowed.
const FREE_FAILURES: usize = 5;
/// The longest wait imposed on a failed login.
pub(super) const MAX_LOGIN_DELAY: Duration = Duration::from_secs(5);
/// Addresses remembered at most (the oldest are forgotten first).
const MAX_ADDRESSES: usize = 10_000;

impl FailedLogins {
    /// How long a failed login from `ip` waits before it is told (its failure counted).
    pub(super) fn delay(&self, ip: std::net::IpAddr) -> Duration {
        let Ok(mut recent) = self.recent.lock() else {
            return Duration::ZERO;
        };
        let Some(times) = recent.get_mut(&ip) else {
            return Duration::ZERO;
        };
        let now = std::time::Instant::now();
        times.retain(|t| now.duration_since(*t) < FAILURE_WINDOW);
        let over = times.len().saturating_sub(FREE_FAILURES);
        if over == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32 << over.min(6);
        (Duration::from_millis(100) * factor).min(MAX_LOGIN_DELAY)
    }

    /// Waits as long as [`delay`](Self::delay) says for `ip` (not at all for most addresses).
    pub(super) async fn hold_back(&self, ip: std::net::IpAddr) {
        let wait = self.delay(ip);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// A login from `ip` failed.
    pub(super) fn failed(&self, ip: std::net::IpAddr) {
        let Ok(mut recent) = self.recent.lock() else {
            return;
        };
        let now = std::time::Instant::now();
        if recent.len() >= MAX_ADDRESSES && !recent.contains_key(&ip) {
            recent.retain(|_, times| {
                times.retain(|t| now.duration_since(*t) < FAILURE_WINDOW);
                !times.is_empty()
            });
            if recent.len() >= MAX_ADDRESSES {
                return;
            }
        }
        recent.entry(ip).or_default().push(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_from_an_address_that_keeps_failing_wait_longer_each_time_up_to_a_bound() {
        let failed = FailedLogins::default();
        let ip: std::net::IpAddr = "10.0.0.5".parse().expect("ip");
        let other: std::net::IpAddr = "10.0.0.6".parse().expect("ip");
        let mut waits = Vec::new();
        for _ in 0..14 {
            failed.failed(ip);
            waits.push(failed.delay(ip));
        }
        assert!(
            waits[..FREE_FAILURES].iter().all(Duration::is_zero),
            "{waits:?}"
        );
        assert_eq!(waits[FREE_FAILURES], Duration::from_millis(200));
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert_eq!(waits[13], MAX_LOGIN_DELAY);
        assert_eq!(
            failed.delay(other),
            Duration::ZERO,
            "another address is not slowed"
        );
    }
}
