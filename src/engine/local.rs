//! The embedded engine: the handle every surface holds. Requests go over a channel to the
//! engine's thread ([`Writer`]), which owns the state and the journal.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use chrono::{DateTime, Duration, Utc};
use crossbeam_channel::Sender;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{broadcast, oneshot};

use crate::drivers::Driver;
use crate::drivers::sim::SimPlanner;
use crate::model::{Command, Event, MaintenancePlanner, Seq};

use super::background::{Checkpointer, Snapshotter};
use super::clock::{ClockInfo, ClockKind};
use super::request::{Reply, Request};
use super::store::Store;
use super::syncer::Syncer;
use super::writer::Writer;
use super::{Engine, EngineError, EngineInfo, Receipt, Snapshot};

/// The embedded engine over a local SQLite journal.
pub struct LocalEngine {
    requests: Option<Sender<Request>>,
    pub(super) driver: std::sync::Arc<dyn Driver>,
    /// One drive at a time in this process (a clock advance and a background drive would
    /// otherwise ask the driver for the same key twice).
    pub(super) driving: tokio::sync::Mutex<()>,
    events: broadcast::Sender<Event>,
    path: PathBuf,
    thread: Option<JoinHandle<()>>,
    _checkpointer: Checkpointer,
}

impl LocalEngine {
    /// Opens the database at `path`, replays it, and processes every deadline that passed
    /// while nothing was running, each at its own due time.
    pub fn open(path: &Path) -> Result<LocalEngine, EngineError> {
        let store = Store::open(path)?;
        Self::start(store, Box::new(SimPlanner))
    }

    /// Creates a new database and opens it.
    pub fn create(
        path: &Path,
        clock: ClockKind,
        at: DateTime<Utc>,
    ) -> Result<LocalEngine, EngineError> {
        let store = Store::create(path, clock, at)?;
        Self::start(store, Box::new(SimPlanner))
    }

    fn start(
        store: Store,
        planner: Box<dyn MaintenancePlanner + Send>,
    ) -> Result<LocalEngine, EngineError> {
        let path = store.path().to_path_buf();
        let driver = crate::drivers::route::RoutedDriver::open(&path)
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let (events, _) = broadcast::channel(16_384);
        store.flush_by_hand()?;
        let wal = store.wal_file()?;
        let checkpointer = Checkpointer::start(&path)?;
        let mut writer = Writer::load(store, planner)?;
        writer.syncer = Syncer::start(wal, events.clone())?;
        writer.snapshotter = Some(Snapshotter::start(&path)?);
        writer.tick()?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("lockstep-engine".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| EngineError::Storage(format!("cannot start the engine: {e}")))?;
        Ok(LocalEngine {
            requests: Some(tx),
            driver: std::sync::Arc::new(driver),
            driving: tokio::sync::Mutex::new(()),
            events,
            path,
            thread: Some(thread),
            _checkpointer: checkpointer,
        })
    }

    pub(super) fn ask<T: Send + 'static>(
        &self,
        make: impl FnOnce(Reply<T>) -> Request,
    ) -> BoxFuture<'_, Result<T, EngineError>> {
        let (reply, answer) = oneshot::channel();
        let sent = self
            .requests
            .as_ref()
            .map(|r| r.send(make(reply)).is_ok())
            .unwrap_or(false);
        async move {
            if !sent {
                return Err(EngineError::Closed);
            }
            answer.await.unwrap_or(Err(EngineError::Closed))
        }
        .boxed()
    }
}

impl Drop for LocalEngine {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Engine for LocalEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            kind: "embedded".into(),
            location: self.path.display().to_string(),
        }
    }

    fn execute(
        &self,
        actor: &str,
        command: Command,
    ) -> BoxFuture<'_, Result<Receipt, EngineError>> {
        let actor = actor.to_string();
        self.ask(move |reply| Request::Execute {
            actor,
            command: Box::new(command),
            reply,
        })
    }

    fn snapshot(&self) -> BoxFuture<'_, Result<Snapshot, EngineError>> {
        self.ask(|reply| Request::Snapshot { reply })
    }

    fn events(&self, since: Seq, limit: usize) -> BoxFuture<'_, Result<Vec<Event>, EngineError>> {
        self.ask(move |reply| Request::Events {
            since,
            limit,
            reply,
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    fn clock(&self) -> BoxFuture<'_, Result<ClockInfo, EngineError>> {
        self.ask(|reply| Request::Clock { reply })
    }

    fn advance_clock(&self, by: Duration) -> BoxFuture<'_, Result<Receipt, EngineError>> {
        self.advance_with_driver(by).boxed()
    }

    fn drive(&self) -> BoxFuture<'_, Result<Receipt, EngineError>> {
        self.drive_runs().boxed()
    }
}
