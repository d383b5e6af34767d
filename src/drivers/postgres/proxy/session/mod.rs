//! One client session through the proxy, once [`front`] has let it in: whole messages piped
//! both ways while the session's state is followed (ReadyForQuery status,
//! requests awaiting their ReadyForQuery, named prepared statements). Held between
//! transactions while the proxy is parked, and re-bound to a new upstream there.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::upstream::{self, ServerConn};
use super::warm::{self, Spare};
use super::wire::{self, BackendKey, Framer};
use super::{SessionInfo, Shared, Upstream, cancel};
use super::{front, login};

mod relay;

/// Serves one client connection until either side closes it.
pub(super) async fn serve(shared: Arc<Shared>, id: u64, mut client: TcpStream) {
    let Some(front::Admitted {
        params,
        pooled,
        early,
        conn,
        slot,
    }) = front::admit(&shared, id, &mut client).await
    else {
        return;
    };
    let kill = Arc::new(Notify::new());
    shared.sessions().insert(
        id,
        SessionInfo {
            settled: pooled,
            params: Arc::clone(&params),
            held: false,
            upstream: conn.addr.clone(),
            server_port: conn.stream.local_addr().ok().map(|a| a.port()),
            kill: Arc::clone(&kill),
        },
    );
    let (status, client_key, logged_in_at) = match pooled {
        true => (
            Some(b'I'),
            Some(login::client_key()),
            Some(conn.logged_in_at),
        ),
        false => (None, None, None),
    };
    let mut session = Session {
        shared: Arc::clone(&shared),
        id,
        client,
        server: conn.stream,
        server_addr: conn.addr,
        server_key: conn.key,
        server_statuses: conn.statuses,
        params,
        kill,
        client_key,
        status,
        outstanding: 0,
        unsynced: false,
        statements: HashMap::new(),
        client_buf: early,
        server_buf: BytesMut::with_capacity(8192),
        spare: None,
        reported: (pooled, false),
        connected_at: conn.connected_at,
        logged_in_at,
        pooled,
        client_left: false,
        client_framer: Framer::default(),
        server_framer: Framer::default(),
        unreplayable: false,
        slot,
    };
    if let Some(key) = session.client_key.filter(|_| session.pooled) {
        if let Some(real) = session.server_key {
            cancel::remember(&shared, key, &session.server_addr, real);
        }
        let welcome = login::welcome(&session.server_statuses, key);
        if session.client.write_all(&welcome).await.is_err() {
            cancel::forget(&shared, key);
            shared.forget(id);
            return;
        }
    }
    if let Err(e) = session.run().await {
        tracing::debug!(session = id, "proxy session ended: {e}");
    }
    if let Some(key) = session.client_key {
        cancel::forget(&shared, key);
    }
    shared.forget(id);
    session.give_back();
}

/// How much is read at once, at least.
const READ_CHUNK: usize = 8192;

struct Session {
    shared: Arc<Shared>,
    id: u64,
    client: TcpStream,
    server: TcpStream,
    server_addr: String,
    /// The server connection's own BackendKeyData and the settings it reported.
    server_key: Option<BackendKey>,
    server_statuses: Vec<(String, String)>,
    params: warm::Params,
    kill: Arc<Notify>,
    /// The BackendKeyData the client was given at login.
    client_key: Option<BackendKey>,
    /// The last ReadyForQuery status (`I`, `T`, `E`); none before login completes.
    status: Option<u8>,
    /// Queries and Syncs sent whose ReadyForQuery has not come back.
    outstanding: u32,
    /// Extended-protocol messages sent since the last Sync.
    unsynced: bool,
    /// Named prepared statements, by name: their Parse messages, to replay after a re-bind.
    statements: HashMap<String, Bytes>,
    client_buf: BytesMut,
    server_buf: BytesMut,
    spare: Option<Spare>,
    reported: (bool, bool),
    /// When the client's own login began, and completed (none once the proxy logged it in
    /// again).
    connected_at: std::time::Instant,
    logged_in_at: Option<std::time::Instant>,
    /// Logged in by the endpoint: its server connection goes back to the pool.
    pooled: bool,
    /// The client said goodbye (Terminate) or closed its end.
    client_left: bool,
    /// Cut the client's and the server's bytes into messages (large ones in pieces).
    client_framer: Framer,
    server_framer: Framer,
    /// It prepared a statement too large to keep for a replay: it cannot be re-bound.
    unreplayable: bool,
    /// Its server connection's place among those held for clients (freed when it ends,
    /// unless the connection goes back to the pool with it).
    slot: super::slots::Slot,
}

impl Session {
    /// Between transactions, with nothing sent that awaits an answer.
    fn idle(&self) -> bool {
        self.status == Some(b'I')
            && self.outstanding == 0
            && !self.unsynced
            && self.client_buf.is_empty()
            && !self.client_framer.mid_message()
            && !self.server_framer.mid_message()
    }

    async fn run(&mut self) -> Result<(), String> {
        let mut parked = self.shared.parked.subscribe();
        let mut route = self.shared.route.subscribe();
        let mut shutdown = self.shared.shutdown.subscribe();
        let kill = Arc::clone(&self.kill);
        loop {
            let idle = self.idle();
            let settled = self.status.is_some();
            let is_parked = *parked.borrow_and_update();
            // Held: parked and idle, so this iteration reads nothing from the client. Only
            // then does the drain count it, so no transaction starts after the drain.
            let held = is_parked && idle;
            if (settled, held) != self.reported {
                self.reported = (settled, held);
                self.shared.update(self.id, |info| {
                    info.settled = settled;
                    info.held = held;
                });
            }
            let (current, next, relogin, waits_on_next) = {
                let r = route.borrow_and_update();
                // Logged in on the next upstream during a park: it stays there for the flip.
                let waits_on_next =
                    is_parked && r.next.as_ref().is_some_and(|n| n.addr == self.server_addr);
                let next = r.next.clone().filter(|_| is_parked);
                let relogin = logged_in_during(r.relogin, self.connected_at, self.logged_in_at);
                (Arc::clone(&r.current), next, relogin, waits_on_next)
            };
            // Between transactions on an upstream that is no longer current: move. A session
            // the endpoint cannot log in again stays while parked (it carries on if the
            // switchover reverts) and closes at the resume.
            let moved_on = current.addr != self.server_addr
                && !waits_on_next
                && !(is_parked && warm::login_for(&current, &self.params).is_none());
            if idle && (moved_on || relogin) {
                let login = self.logged_in_at.take();
                if let Err(e) = self.rebind(&current, login).await {
                    self.shared
                        .not_rebound
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(
                        session = self.id,
                        "session closed at a transaction boundary instead of re-bound: {e}"
                    );
                    return Err(e);
                }
                continue;
            }
            self.get_ready_for(next.as_deref());
            // Room to read into (what was passed on is reused, never more than a chunk and
            // one small message held).
            self.client_buf.reserve(READ_CHUNK);
            self.server_buf.reserve(READ_CHUNK);
            tokio::select! {
                biased;
                () = kill.notified() => {
                    let text = "terminating connection: the switchover's grace period ran out \
                                while this session was in a transaction";
                    let _ = self
                        .client
                        .write_all(&wire::error_response("FATAL", "57P01", text))
                        .await;
                    return Ok(());
                }
                _ = shutdown.changed() => return Ok(()),
                read = self.server.read_buf(&mut self.server_buf) => {
                    if read.map_err(|e| e.to_string())? == 0 {
                        return Ok(());
                    }
                    self.forward_server().await?;
                }
                read = self.client.read_buf(&mut self.client_buf), if !held => {
                    if read.map_err(|e| e.to_string())? == 0 {
                        self.client_left = true;
                        if !self.pooled {
                            let _ = self.server.write_all(&wire::message(b'X', &[])).await;
                        }
                        return Ok(());
                    }
                    self.forward_client().await?;
                    if self.client_left {
                        return Ok(());
                    }
                }
                _ = parked.changed() => {}
                _ = route.changed() => {}
            }
        }
    }

    /// Starts (or drops) the connection to the next upstream opened ahead of a flip.
    fn get_ready_for(&mut self, next: Option<&Upstream>) {
        let Some(next) = next else {
            if let Some(spare) = self.spare.take() {
                spare.opening.abort();
            }
            return;
        };
        if self.status.is_none()
            || self.server_addr == next.addr
            || self.spare.as_ref().is_some_and(|s| s.addr == next.addr)
        {
            return;
        }
        if let Some(conn) = self.shared.warm.take(&next.addr, &self.params) {
            self.spare = Some(Spare::ready(conn));
            return;
        }
        let Some(creds) = warm::login_for(next, &self.params) else {
            return;
        };
        let addr = next.addr.clone();
        let params = Arc::clone(&self.params);
        let statements: Vec<Bytes> = self.statements.values().cloned().collect();
        let names = self.statements.keys().cloned().collect();
        let target = addr.clone();
        let opening =
            tokio::spawn(
                async move { upstream::open(&target, &params, &creds, &statements).await },
            );
        self.spare = Some(Spare {
            addr,
            statements: names,
            opening,
        });
    }

    /// Moves this idle session to `target`: a connection opened ahead is used when there is
    /// one, else one is opened now; prepared statements are brought in line.
    async fn rebind(
        &mut self,
        target: &Upstream,
        login: Option<std::time::Instant>,
    ) -> Result<(), String> {
        // Back where it came from, before its old connection was closed (a revert).
        let back = (target.addr != self.server_addr)
            .then(|| self.shared.retired.take_back(self.id, &target.addr))
            .flatten();
        if let Some(conn) = back {
            // Counted before the flip can see the session moved.
            self.shared
                .taken_back
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.take_over(conn, login);
            return Ok(());
        }
        if self.unreplayable {
            return Err(format!(
                "it prepared a statement larger than {} KiB, which is not kept for a replay",
                wire::STREAM_ABOVE / 1024
            ));
        }
        let Some(creds) = warm::login_for(target, &self.params) else {
            return Err("no login for this session's user on the new upstream".into());
        };
        let spare = self
            .spare
            .take()
            .filter(|s| s.addr == target.addr)
            .or_else(|| {
                self.shared
                    .warm
                    .take(&target.addr, &self.params)
                    .map(Spare::ready)
            });
        let mut conn = None;
        if let Some(spare) = spare {
            let batch = spare.catch_up_batch(&self.statements);
            if let Ok(Ok(mut opened)) = spare.opening.await
                && upstream::catch_up(&mut opened, &batch).await.is_ok()
            {
                conn = Some(opened);
            }
        }
        let conn = match conn {
            Some(conn) => conn,
            None => {
                let statements: Vec<Bytes> = self.statements.values().cloned().collect();
                upstream::open(&target.addr, &self.params, &creds, &statements).await?
            }
        };
        self.take_over(conn, login);
        Ok(())
    }

    /// Serves the session from `conn` from now on; the connection it had (logged in at
    /// `login`) is retired.
    fn take_over(&mut self, conn: ServerConn, login: Option<std::time::Instant>) {
        let old = ServerConn {
            stream: std::mem::replace(&mut self.server, conn.stream),
            key: self.server_key,
            addr: std::mem::replace(&mut self.server_addr, conn.addr),
            statuses: std::mem::replace(&mut self.server_statuses, conn.statuses),
            connected_at: self.connected_at,
            logged_in_at: login.unwrap_or(self.connected_at),
        };
        self.shared.retire(Some(self.id), old);
        // Its own login: a re-bind into a fence's span is logged in again once it is lifted.
        self.connected_at = conn.connected_at;
        self.logged_in_at = Some(conn.logged_in_at);
        self.server_key = conn.key;
        if let (Some(client_key), Some(real)) = (self.client_key, conn.key) {
            cancel::remember(&self.shared, client_key, &self.server_addr, real);
        }
        let port = self.server.local_addr().ok().map(|a| a.port());
        let upstream = self.server_addr.clone();
        self.shared.update(self.id, |info| {
            info.upstream = upstream;
            info.server_port = port;
        });
    }

    /// Ends the session: a pooled session whose client left between transactions, on the
    /// current upstream and while the endpoint is not parked, gives its server connection back
    /// to the pool once it is reset; every other server connection closes.
    fn give_back(mut self) {
        if let Some(spare) = self.spare.take() {
            spare.opening.abort();
        }
        let keep = self.pooled
            && self.client_left
            && self.idle()
            && self.server_buf.is_empty()
            && still_current(&self.shared, &self.server_addr)
            && !logged_in_during(
                self.shared.route.borrow().relogin,
                self.connected_at,
                self.logged_in_at,
            );
        if !keep {
            if self.pooled {
                let _ = self.server.try_write(&wire::message(b'X', &[]));
            }
            return;
        }
        let logged_in_at = self.logged_in_at.unwrap_or(self.connected_at);
        let mut conn = ServerConn {
            stream: self.server,
            key: self.server_key,
            addr: self.server_addr,
            statuses: self.server_statuses,
            connected_at: self.connected_at,
            logged_in_at,
        };
        let (shared, params, slot) = (self.shared, self.params, self.slot);
        tokio::spawn(async move {
            match shared.pool.reset(&mut conn).await {
                // The endpoint may have parked or flipped meanwhile.
                Ok(()) if still_current(&shared, &conn.addr) => {
                    super::slots::give_back(&shared, conn, params, slot);
                }
                Ok(()) => {}
                Err(e) => tracing::debug!("a pooled connection closed instead of kept: {e}"),
            }
        });
    }
}

/// Whether connections to `addr` may be kept: the endpoint is not parked and sends new
/// sessions there.
fn still_current(shared: &Shared, addr: &str) -> bool {
    !*shared.parked.borrow() && shared.route.borrow().current.addr == addr
}

/// Whether a login that began at `connected_at` and completed at `logged_in_at` (none once
/// the proxy logged the session in again) ran into the fence's span `relogin`.
fn logged_in_during(
    relogin: Option<(std::time::Instant, std::time::Instant)>,
    connected_at: std::time::Instant,
    logged_in_at: Option<std::time::Instant>,
) -> bool {
    matches!(
        (relogin, logged_in_at),
        (Some((from, until)), Some(login)) if login >= from && connected_at <= until
    )
}
