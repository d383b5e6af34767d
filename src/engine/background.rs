//! Work the journal needs that must never sit inside a command's commit: WAL checkpoints and
//! state snapshots, each on its own thread and connection.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration as StdDuration;

use crate::model::State;

use super::EngineError;
use super::storage;
use super::store::{connect, write_snapshot};

/// Checkpoints the WAL from its own connection and thread, so the writer never pays for a
/// checkpoint inside a command's commit (they showed as latency spikes of several ms).
pub struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// How often the background checkpoint runs.
const CHECKPOINT_EVERY: StdDuration = StdDuration::from_millis(500);

impl Checkpointer {
    /// Starts checkpointing `path` in the background.
    pub fn start(path: &Path) -> Result<Checkpointer, EngineError> {
        let conn = connect(path)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("lockstep-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    // PASSIVE never waits for readers or the writer; what it cannot copy now
                    // is copied next time.
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::debug!("background checkpoint: {e}");
                    }
                }
            })
            .map_err(|e| storage(format!("cannot start the checkpointer: {e}")))?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes snapshots handed to it, one at a time, so the writer only pays for a copy of the
/// state (a serialization of a large fleet takes a hundred milliseconds or more).
pub struct Snapshotter {
    states: Option<SyncSender<Box<State>>>,
    writing: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Snapshotter {
    /// Starts the snapshot thread for the database at `path`; it connects on its first
    /// snapshot, so a short-lived process never pays for the connection.
    pub fn start(path: &Path) -> Result<Snapshotter, EngineError> {
        let path: PathBuf = path.to_path_buf();
        let (states, incoming) = mpsc::sync_channel::<Box<State>>(0);
        let writing = Arc::new(AtomicBool::new(false));
        let busy = writing.clone();
        let thread = std::thread::Builder::new()
            .name("lockstep-snapshot".into())
            .spawn(move || {
                let mut conn = None;
                for mut state in incoming {
                    busy.store(true, Ordering::Release);
                    if conn.is_none() {
                        match connect_for_snapshots(&path) {
                            Ok(c) => conn = Some(c),
                            Err(e) => {
                                tracing::warn!("snapshot at #{} not written: {e}", state.head);
                                busy.store(false, Ordering::Release);
                                continue;
                            }
                        }
                    }
                    if let Some(c) = &conn
                        && let Err(e) = write_snapshot(c, &mut state)
                    {
                        tracing::warn!("snapshot at #{} not written: {e}", state.head);
                    }
                    busy.store(false, Ordering::Release);
                }
            })
            .map_err(|e| storage(format!("cannot start the snapshot thread: {e}")))?;
        Ok(Snapshotter {
            states: Some(states),
            writing,
            thread: Some(thread),
        })
    }

    /// Whether the thread is still writing the previous snapshot (a copy made now would only
    /// be refused).
    #[must_use]
    pub fn is_writing(&self) -> bool {
        self.writing.load(Ordering::Acquire)
    }

    /// Hands `state` to the thread unless it is still writing the previous one; returns
    /// whether it was taken.
    pub fn offer(&self, state: State) -> bool {
        match self.states.as_ref().map(|s| s.try_send(Box::new(state))) {
            Some(Ok(())) => true,
            Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) | None => false,
        }
    }
}

/// The snapshot thread's connection. Its commits do not wait for the disk: a snapshot lost to
/// a crash of the machine costs only a longer replay, and it can never outlive the events it
/// contains (a WAL survives a crash only as a prefix, and they come first). Waiting would hold
/// the journal's write lock while megabytes are flushed (measured: 180–560 ms for a 7.7 MB
/// snapshot, with every command waiting).
fn connect_for_snapshots(path: &Path) -> Result<rusqlite::Connection, EngineError> {
    let conn = connect(path)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(storage)?;
    Ok(conn)
}

impl Drop for Snapshotter {
    fn drop(&mut self) {
        self.states.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
