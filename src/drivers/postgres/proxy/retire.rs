//! Server connections the endpoint no longer needs, closed after the resume instead of while
//! clients are held. A backend that exits tears down its process (measured in a switchover on
//! two cores: a dozen blue backends exiting at the flip kept both cores busy for the whole
//! park, and the fence and the marker on blue took 20–30 ms instead of 2–5). So connections
//! left by re-bound sessions and the pool's idle ones are kept open, idle, until the clients
//! are back, and then closed one at a time. A session moved back before that (a revert) takes
//! its own connection back: no new login, its prepared statements and its login's defaults
//! as they were.
//!
//! They still count as the endpoint's own, so the fence leaves them alone.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::upstream::ServerConn;
use super::{pool, wire};

/// How long after the resume the first retired connection is closed: the clients' first
/// transactions on the new upstream come first.
const CLOSE_AFTER: Duration = Duration::from_millis(500);
/// Between two closes, so their backends' exits do not all fall on the same moment.
const CLOSE_EVERY: Duration = Duration::from_millis(20);

/// Connections waiting to be closed, with the session that left each (none for the pool's).
#[derive(Default)]
pub(super) struct Retired {
    kept: Mutex<Vec<(Option<u64>, ServerConn)>>,
}

impl Retired {
    fn kept(&self) -> MutexGuard<'_, Vec<(Option<u64>, ServerConn)>> {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `conn`, left by `session`, until [`close_later`](Self::close_later) while
    /// `parked`; closes it now otherwise.
    pub(super) fn retire(&self, session: Option<u64>, conn: ServerConn, parked: bool) {
        if parked {
            self.kept().push((session, conn));
        } else {
            let _ = conn.stream.try_write(&wire::message(b'X', &[]));
        }
    }

    /// The connection to `addr` that `session` left, if it is kept and the server has not
    /// closed it.
    pub(super) fn take_back(&self, session: u64, addr: &str) -> Option<ServerConn> {
        let mut kept = self.kept();
        let at = kept
            .iter()
            .position(|(s, c)| *s == Some(session) && c.addr == addr)?;
        let (_, conn) = kept.swap_remove(at);
        pool::open(&conn.stream).then_some(conn)
    }

    /// How many wait to be closed.
    pub(super) fn len(&self) -> usize {
        self.kept().len()
    }

    /// The local ports of the connections waiting to be closed.
    pub(super) fn ports(&self) -> Vec<u16> {
        self.kept()
            .iter()
            .filter_map(|(_, c)| c.stream.local_addr().ok().map(|a| a.port()))
            .collect()
    }

    /// Closes every retired connection, one at a time, starting a little after now, on the
    /// current runtime (at once without one).
    pub(super) fn close_later(&self) {
        let kept = std::mem::take(&mut *self.kept());
        if kept.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            for (_, conn) in kept {
                let _ = conn.stream.try_write(&wire::message(b'X', &[]));
            }
            return;
        };
        runtime.spawn(async move {
            tokio::time::sleep(CLOSE_AFTER).await;
            for (_, mut conn) in kept {
                let _ = conn.stream.write_all(&wire::message(b'X', &[])).await;
                drop(conn);
                tokio::time::sleep(CLOSE_EVERY).await;
            }
        });
    }
}
