//! Connections to the next upstream opened and logged in before the proxy parks, so that
//! re-binding sessions at the flip costs no login (a SCRAM login costs milliseconds of CPU on
//! both ends, which a short parked window cannot spare). Pooled by upstream and startup
//! parameters: a session takes one whose login matches its own.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::StreamExt as _;
use tokio::task::JoinHandle;

use super::upstream::{self, ServerConn};
use super::{Shared, Upstream, wire};

/// Run on each warm connection once it is in, before the park: a new backend's first query
/// builds its catalog caches for every table, index and sequence it touches, and clients
/// should not pay for that after the resume. Opening the busiest tables, their indexes and
/// sequences builds most of it; one lock each, no rows read (measured on PostgreSQL 17, nine
/// new backends' first insert together: 8–9 ms cold, 5 ms after this, 3–4 ms the second).
/// It never waits behind another lock (a table locked for DDL only leaves the cache cold).
const WARM_UP: &str = "SET LOCAL lock_timeout = '20ms'; SET LOCAL statement_timeout = '1s';
WITH busiest AS (
    SELECT relid FROM pg_stat_user_tables
    ORDER BY n_tup_ins + n_tup_upd + n_tup_del + seq_scan + COALESCE(idx_scan, 0) DESC
    LIMIT 32)
SELECT count(pg_relation_size(r)) FROM (
    SELECT relid FROM busiest
    UNION ALL SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT relid FROM busiest)
    UNION ALL (SELECT seqrelid FROM pg_sequence LIMIT 32)) opened(r)";

/// Warm connections opened at the same time.
const AT_ONCE: usize = 2;

/// How long the warm-up may take on the endpoint's side.
const WARM_UP_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Startup parameters, as a session's client sent them.
pub(super) type Params = Arc<Vec<(String, String)>>;

/// Logged-in connections waiting for a session, by upstream address and startup parameters.
#[derive(Default)]
pub(super) struct Warm {
    ready: Mutex<HashMap<(String, Params), Vec<ServerConn>>>,
}

impl Warm {
    fn ready(&self) -> MutexGuard<'_, HashMap<(String, Params), Vec<ServerConn>>> {
        self.ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A warm connection to `addr` logged in with `params`, if there is one.
    pub(super) fn take(&self, addr: &str, params: &Params) -> Option<ServerConn> {
        self.ready()
            .get_mut(&(addr.to_string(), Arc::clone(params)))
            .and_then(Vec::pop)
    }

    /// Takes every warm connection, with the startup parameters it logged in with.
    pub(super) fn drain(&self) -> Vec<(Params, ServerConn)> {
        self.ready()
            .drain()
            .flat_map(|((_, params), conns)| conns.into_iter().map(move |c| (params.clone(), c)))
            .collect()
    }
}

/// The proxy's login on `upstream` for a session with startup `params`, if it has one for
/// the session's user.
pub(super) fn login_for(upstream: &Upstream, params: &Params) -> Option<upstream::Credentials> {
    let user = params
        .iter()
        .find(|(name, _)| name == "user")
        .map(|(_, value)| value.as_str());
    upstream
        .rebind_as
        .clone()
        .filter(|creds| Some(creds.user.as_str()) == user)
}

/// Opens a warm connection to `next` per session and per idle pooled connection, and half as
/// many again, logged in with the proxy's login for its user and warmed up, [`AT_ONCE`] at a
/// time; returns how many are ready. Sessions that end before the flip leave theirs to
/// sessions with the same login, and those left at the resume go to the pool.
pub(super) async fn fill(shared: &Shared, next: &Upstream) -> usize {
    let Some(creds) = next.rebind_as.clone() else {
        return 0;
    };
    // One for every session and every idle pooled connection (a client that connects for
    // each transaction is between sessions as often as in one), and half as many again: a
    // session that finds none at the park opens its login then, and the flip waits for it.
    let current = shared.route.borrow().current.addr.clone();
    let pooled = shared.pool.idle_params(&current);
    let mut wanted: Vec<Params> = shared
        .sessions()
        .values()
        .map(|s| Arc::clone(&s.params))
        .chain(pooled)
        .filter(|params| {
            params
                .iter()
                .any(|(name, value)| name == "user" && *value == creds.user)
        })
        .collect();
    let extra: Vec<Params> = wanted.iter().take(wanted.len() / 2 + 1).cloned().collect();
    wanted.extend(extra);
    let open = |params: Params| {
        let (addr, creds) = (next.addr.clone(), creds.clone());
        async move {
            let mut conn = upstream::open(&addr, &params, &creds, &[]).await;
            if let Ok(opened) = conn.as_mut() {
                match tokio::time::timeout(WARM_UP_LIMIT, upstream::simple(opened, WARM_UP)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::debug!("a warm connection's warm-up failed: {e}"),
                    // Still busy: not fit to hand out.
                    Err(_) => conn = Err(format!("{addr} did not finish the warm-up")),
                }
            }
            (params, conn)
        }
    };
    // The first login derives the salted password (PBKDF2); the others, once it is
    // remembered, cost the server's fork and a few hashes each, a few at a time: a dozen
    // forks and warm-ups at once starve the clients still running of CPU.
    let mut wanted = wanted.into_iter();
    let first = match wanted.next() {
        Some(params) => vec![open(params).await],
        None => Vec::new(),
    };
    let rest: Vec<_> = futures::stream::iter(wanted.map(open))
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    let mut ready = 0;
    for (params, conn) in first.into_iter().chain(rest) {
        if let Ok(conn) = conn {
            shared
                .warm
                .ready()
                .entry((next.addr.clone(), params))
                .or_default()
                .push(conn);
            ready += 1;
        }
    }
    ready
}

/// A connection to the next upstream being opened ahead of a flip.
pub(super) struct Spare {
    pub(super) addr: String,
    pub(super) statements: HashSet<String>,
    pub(super) opening: JoinHandle<Result<ServerConn, String>>,
}

impl Spare {
    /// A warm connection, already logged in, without prepared statements.
    pub(super) fn ready(conn: ServerConn) -> Spare {
        Spare {
            addr: conn.addr.clone(),
            statements: HashSet::new(),
            opening: tokio::spawn(async move { Ok(conn) }),
        }
    }

    /// What brings this connection's prepared statements in line with the session's
    /// `statements`: Parse for those it lacks, Close for those the client closed since.
    pub(super) fn catch_up_batch(&self, statements: &HashMap<String, Bytes>) -> Vec<Bytes> {
        let mut batch: Vec<Bytes> = statements
            .iter()
            .filter(|(name, _)| !self.statements.contains(*name))
            .map(|(_, parse)| parse.clone())
            .collect();
        for gone in self
            .statements
            .iter()
            .filter(|n| !statements.contains_key(*n))
        {
            let mut body = vec![b'S'];
            body.extend_from_slice(gone.as_bytes());
            body.push(0);
            batch.push(wire::message(b'C', &body));
        }
        batch
    }
}
