//! The server connections the endpoint holds for its clients, bounded like PgBouncer's
//! `default_pool_size`: every client session holds a slot for its server connection (pooled or
//! passed through), and so does every idle connection kept in the pool. A client that finds
//! none free waits in line (first come, first served) for one to come free, at most the queue
//! wait (PgBouncer's `query_wait_timeout`), instead of opening a server connection of its own
//! and being refused by a full server. A connection given back goes straight to the first
//! client in line (closed, its slot handed over, when that client logs in with other startup
//! parameters); an idle pooled connection of other startup parameters is closed to make room
//! for a waiting client.

use std::sync::Arc;
use std::time::Duration;

use std::collections::VecDeque;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::Shared;
use super::upstream::ServerConn;
use super::warm::Params;

/// One server connection's place in the bound; given back when dropped.
pub(super) type Slot = OwnedSemaphorePermit;

/// Server connections held for clients, and those waiting for one.
pub(super) struct Slots {
    free: Arc<Semaphore>,
    size: usize,
    wait: Duration,
    /// Clients waiting for a connection given back, first come first served.
    line: std::sync::Mutex<VecDeque<Waiter>>,
    /// Refusals for waiting too long, logged sparsely.
    warned: super::sparse::Sparse,
}

impl Slots {
    pub(super) fn new(size: usize, wait: Duration) -> Slots {
        let size = size.clamp(1, Semaphore::MAX_PERMITS);
        Slots {
            free: Arc::new(Semaphore::new(size)),
            size,
            wait,
            line: std::sync::Mutex::new(VecDeque::new()),
            warned: super::sparse::Sparse::default(),
        }
    }

    /// Whether a refusal for waiting too long is to be logged now (at most once a minute).
    pub(super) fn warn_now(&self) -> bool {
        self.warned.due()
    }

    /// The most server connections held for clients at once.
    pub(super) fn size(&self) -> usize {
        self.size
    }

    /// How long a client waits for a server connection at most.
    pub(super) fn wait(&self) -> Duration {
        self.wait
    }

    /// Slots in use now (sessions' server connections and idle pooled ones).
    #[cfg(test)]
    pub(super) fn in_use(&self) -> usize {
        self.size - self.free.available_permits()
    }

    /// A free slot, without waiting.
    pub(super) fn try_take(&self) -> Option<Slot> {
        Arc::clone(&self.free).try_acquire_owned().ok()
    }

    fn line(&self) -> std::sync::MutexGuard<'_, VecDeque<Waiter>> {
        self.line
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A client in line for a connection given back.
struct Waiter {
    addr: String,
    /// Its startup parameters (none: it logs in on the server itself).
    params: Option<Params>,
    tx: oneshot::Sender<Got>,
}

/// A connection its client left, reset, with its slot: to the first client in line, else to
/// the pool.
pub(super) fn give_back(shared: &Shared, conn: ServerConn, params: Params, slot: Slot) {
    let mut held = Some((conn, slot));
    let mut line = shared.slots.line();
    while let Some(waiter) = line.pop_front() {
        let Some((conn, slot)) = held.take() else {
            break;
        };
        if waiter.tx.is_closed() {
            held = Some((conn, slot));
            continue;
        }
        let fits = waiter.addr == conn.addr && waiter.params.as_ref() == Some(&params);
        let got = if fits {
            Got::Idle(conn, slot)
        } else {
            // Of no use to this client: closed, and its slot handed over.
            shared.retire(None, conn);
            Got::Slot(slot)
        };
        match waiter.tx.send(got) {
            Ok(()) => return,
            // It stopped waiting meanwhile: the next one.
            Err(Got::Idle(conn, slot)) => held = Some((conn, slot)),
            Err(Got::Slot(_)) => return,
        }
    }
    drop(line);
    if let Some((conn, slot)) = held {
        shared.pool.put(conn, params, slot);
    }
}

/// What a client waiting in line got.
pub(super) enum Got {
    /// A free slot: the client opens (or takes) a server connection with it.
    Slot(Slot),
    /// An idle pooled connection of its own startup parameters, with its slot.
    Idle(ServerConn, Slot),
}

/// A slot for a client with startup parameters `params` (`None`: a client that logs in on the
/// server itself and cannot take a pooled connection) going to `addr`: a free one, an idle
/// pooled connection of its parameters, or one freed by closing an idle pooled connection of
/// other parameters; otherwise it waits its turn, at most the queue wait (`None` after).
pub(super) async fn take(shared: &Shared, addr: &str, params: Option<&Params>) -> Option<Got> {
    let slots = &shared.slots;
    let deadline = tokio::time::Instant::now() + slots.wait;
    loop {
        if let Some(params) = params
            && let Some((conn, slot)) = shared.pool.take_with_slot(addr, params)
        {
            return Some(Got::Idle(conn, slot));
        }
        if let Some(slot) = slots.try_take() {
            return Some(Got::Slot(slot));
        }
        // Every slot is taken: an idle connection nobody in line can use makes room.
        match shared.pool.evict_other(addr, params) {
            Some(conn) => shared.retire(None, conn),
            None => break,
        }
    }
    let (tx, rx) = oneshot::channel();
    {
        let mut line = slots.line();
        if line.len() >= 1024 {
            line.retain(|w| !w.tx.is_closed());
        }
        line.push_back(Waiter {
            addr: addr.to_string(),
            params: params.cloned(),
            tx,
        });
    }
    let free = Arc::clone(&slots.free);
    tokio::select! {
        got = rx => got.ok(),
        permit = free.acquire_owned() => permit.ok().map(Got::Slot),
        () = tokio::time::sleep_until(deadline) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_are_bounded_and_come_back_when_dropped() {
        let slots = Slots::new(2, Duration::from_millis(50));
        let a = slots.try_take().expect("first");
        let _b = slots.try_take().expect("second");
        assert!(slots.try_take().is_none(), "only two");
        assert_eq!(slots.in_use(), 2);
        drop(a);
        assert!(slots.try_take().is_some(), "one came back");
    }
}
