//! One client session through the proxy: the untyped handshake, the park gate, then whole
//! messages piped both ways while the session's state is followed (ReadyForQuery status,
//! requests awaiting their ReadyForQuery, named prepared statements). Held between
//! transactions while the proxy is parked, and re-bound to a new upstream there.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::upstream;
use super::warm::{self, Spare};
use super::wire::{self, BackendKey, FirstPacket, Message};
use super::{SessionInfo, Shared, Upstream, cancel};

/// Serves one client connection until either side closes it.
pub(super) async fn serve(shared: Arc<Shared>, id: u64, mut client: TcpStream) {
    let (raw, params) = loop {
        match wire::read_first_packet(&mut client).await {
            Ok(FirstPacket::Ssl | FirstPacket::GssEnc) => {
                if client.write_all(b"N").await.is_err() {
                    return;
                }
            }
            Ok(FirstPacket::Cancel(key)) => return cancel::route(&shared, key).await,
            Ok(FirstPacket::Startup { raw, params }) => break (raw, params),
            Err(e) => {
                let _ = client
                    .write_all(&wire::error_response("FATAL", "08P01", &e))
                    .await;
                return;
            }
        }
    };
    let Some(target) = wait_for_gate(&shared).await else {
        let text = "the database is switching over and did not reopen in time; try again";
        let _ = client
            .write_all(&wire::error_response("FATAL", "57P03", text))
            .await;
        return;
    };
    let mut server = match TcpStream::connect(&target.addr).await {
        Ok(server) => server,
        Err(e) => {
            let text = format!("the proxy cannot reach the database: {e}");
            let _ = client
                .write_all(&wire::error_response("FATAL", "08006", &text))
                .await;
            return;
        }
    };
    let _ = server.set_nodelay(true);
    if server.write_all(&raw).await.is_err() {
        return;
    }
    let kill = Arc::new(Notify::new());
    let params: warm::Params = Arc::new(params);
    shared.sessions().insert(
        id,
        SessionInfo {
            settled: false,
            params: Arc::clone(&params),
            held: false,
            upstream: target.addr.clone(),
            server_port: server.local_addr().ok().map(|a| a.port()),
            kill: Arc::clone(&kill),
        },
    );
    let mut session = Session {
        shared: Arc::clone(&shared),
        id,
        client,
        server,
        server_addr: target.addr.clone(),
        params,
        kill,
        client_key: None,
        status: None,
        outstanding: 0,
        unsynced: false,
        statements: HashMap::new(),
        client_buf: BytesMut::with_capacity(8192),
        server_buf: BytesMut::with_capacity(8192),
        spare: None,
        reported: (false, false),
        connected_at: std::time::Instant::now(),
        logged_in_at: None,
    };
    if let Err(e) = session.run().await {
        tracing::debug!(session = id, "proxy session ended: {e}");
    }
    if let Some(key) = session.client_key {
        cancel::forget(&shared, key);
    }
    shared.forget(id);
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
        let is_parked = *parked.borrow_and_update();
        {
            let r = route.borrow_and_update();
            match (&r.next, is_parked) {
                (_, false) => return Some(Arc::clone(&r.current)),
                (Some(next), true) => return Some(Arc::clone(next)),
                (None, true) => {}
            }
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

struct Session {
    shared: Arc<Shared>,
    id: u64,
    client: TcpStream,
    server: TcpStream,
    server_addr: String,
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
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(spare) = self.spare.take() {
            spare.opening.abort();
        }
    }
}

impl Session {
    /// Between transactions, with nothing sent that awaits an answer.
    fn idle(&self) -> bool {
        self.status == Some(b'I')
            && self.outstanding == 0
            && !self.unsynced
            && self.client_buf.is_empty()
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
                let relogin = matches!(
                    (r.relogin, self.logged_in_at),
                    (Some((from, until)), Some(login)) if login >= from && self.connected_at <= until
                );
                (Arc::clone(&r.current), next, relogin, waits_on_next)
            };
            // Between transactions on an upstream that is no longer current: move.
            let moved_on = current.addr != self.server_addr && !waits_on_next;
            if idle && (moved_on || relogin) {
                self.logged_in_at = None;
                if let Err(e) = self.rebind(&current).await {
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
                        let _ = self.server.write_all(&wire::message(b'X', &[])).await;
                        return Ok(());
                    }
                    self.forward_client().await?;
                }
                _ = parked.changed() => {}
                _ = route.changed() => {}
            }
        }
    }

    /// Forwards the complete messages the server sent, following ReadyForQuery and keys.
    async fn forward_server(&mut self) -> Result<(), String> {
        let mut messages = Vec::new();
        wire::split_messages(&mut self.server_buf, &mut messages)?;
        let mut out = BytesMut::new();
        for Message { tag, raw } in messages {
            match tag {
                b'Z' if raw.len() == 6 => {
                    if self.status.is_none() {
                        self.logged_in_at = Some(std::time::Instant::now());
                    }
                    self.status = Some(raw[5]);
                    self.outstanding = self.outstanding.saturating_sub(1);
                }
                b'K' if raw.len() == 13 && self.client_key.is_none() => {
                    let key = BackendKey {
                        pid: i32::from_be_bytes([raw[5], raw[6], raw[7], raw[8]]),
                        secret: i32::from_be_bytes([raw[9], raw[10], raw[11], raw[12]]),
                    };
                    self.client_key = Some(key);
                    cancel::remember(&self.shared, key, &self.server_addr, key);
                }
                _ => {}
            }
            out.extend_from_slice(&raw);
        }
        self.client.write_all(&out).await.map_err(|e| e.to_string())
    }

    /// Forwards the complete messages the client sent, following what awaits an answer.
    async fn forward_client(&mut self) -> Result<(), String> {
        let mut messages = Vec::new();
        wire::split_messages(&mut self.client_buf, &mut messages)?;
        let mut out = BytesMut::new();
        for message in messages {
            match message.tag {
                b'Q' | b'F' => self.outstanding += 1,
                b'S' => {
                    self.outstanding += 1;
                    self.unsynced = false;
                }
                b'P' => {
                    if let Some(name) = wire::parse_statement_name(message.body())
                        && !name.is_empty()
                    {
                        self.statements.insert(name, message.raw.clone());
                    }
                    self.unsynced = true;
                }
                b'C' => {
                    if let Some(name) = wire::closed_statement_name(message.body()) {
                        self.statements.remove(&name);
                    }
                    self.unsynced = true;
                }
                b'B' | b'E' | b'D' | b'H' => self.unsynced = true,
                _ => {}
            }
            out.extend_from_slice(&message.raw);
        }
        self.server.write_all(&out).await.map_err(|e| e.to_string())
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
    async fn rebind(&mut self, target: &Upstream) -> Result<(), String> {
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
        let old = std::mem::replace(&mut self.server, conn.stream);
        let mut old = old;
        let _ = old.write_all(&wire::message(b'X', &[])).await;
        drop(old);
        self.server_addr = conn.addr;
        if let (Some(client_key), Some(real)) = (self.client_key, conn.key) {
            cancel::remember(&self.shared, client_key, &self.server_addr, real);
        }
        let port = self.server.local_addr().ok().map(|a| a.port());
        let upstream = self.server_addr.clone();
        self.shared.update(self.id, |info| {
            info.upstream = upstream;
            info.server_port = port;
        });
        Ok(())
    }
}
