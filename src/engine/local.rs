//! The embedded engine: one thread owns the state and the journal. Commands arrive on a
//! channel; everything waiting is decided and committed together (group commit), then answered
//! and broadcast. Other processes' writes to the same file are picked up within a second.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{broadcast, oneshot};

use crate::drivers::Driver;
use crate::drivers::sim::SimPlanner;
use crate::model::run::{DriverRequest, RunSpec};
use crate::model::{Agenda, Command, Event, MaintenancePlanner, Seq, State};

use super::background::{Checkpointer, Snapshotter};
use super::clock::{ClockInfo, ClockKind, system_now};
use super::scheduler::Batch;
use super::store::{self, Meta, Store};
use super::{Engine, EngineError, EngineInfo, Receipt, Snapshot};

/// How often the engine looks for other processes' writes.
const POLL: StdDuration = StdDuration::from_millis(250);
/// How many requests one commit may carry.
const MAX_BATCH: usize = 1024;
/// How long a commit waits for the writers of the previous one to come back (group commit).
const GATHER: StdDuration = StdDuration::from_micros(250);
/// Events between two snapshots written in the background.
const SNAPSHOT_EVERY: u64 = 10_000;
/// Events past the last snapshot that make closing write one (fewer are replayed on open in
/// a few milliseconds, so a one-command CLI process does not pay for a whole snapshot).
const SNAPSHOT_ON_CLOSE_AFTER: u64 = 1_000;

pub(super) type Reply<T> = oneshot::Sender<Result<T, EngineError>>;

/// How far a clock advance goes.
#[derive(Debug, Clone, Copy)]
pub(super) enum AdvanceTarget {
    /// This much past the clock's time.
    By(Duration),
    /// Up to this instant.
    Until(DateTime<Utc>),
}

/// What one step of a clock advance did.
pub(super) struct Advanced {
    /// The events it appended.
    pub events: Vec<Event>,
    /// The instant the advance aims at.
    pub until: DateTime<Utc>,
    /// Whether it stopped early because a driver must act first (the clock waits there).
    pub stopped: bool,
}

/// Driver requests waiting, with the clock's time.
pub(super) type DriverWork = (DateTime<Utc>, Vec<(RunSpec, DriverRequest)>);

pub(super) enum Request {
    Execute {
        actor: String,
        /// Boxed: a command is large, and a batch of requests should be cheap to gather.
        command: Box<Command>,
        reply: Reply<Receipt>,
    },
    Advance {
        target: AdvanceTarget,
        stop_for_driver: bool,
        reply: Reply<Advanced>,
    },
    DriverWork {
        reply: Reply<DriverWork>,
    },
    Snapshot {
        reply: Reply<Snapshot>,
    },
    Events {
        since: Seq,
        limit: usize,
        reply: Reply<Vec<Event>>,
    },
    Clock {
        reply: Reply<ClockInfo>,
    },
}

impl Request {
    fn is_write(&self) -> bool {
        matches!(self, Request::Execute { .. } | Request::Advance { .. })
    }
}

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

struct Writer {
    store: Store,
    state: State,
    agenda: Agenda,
    planner: Box<dyn MaintenancePlanner + Send>,
    events: broadcast::Sender<Event>,
    /// `PRAGMA data_version` when this writer last read the journal, and the settings then:
    /// while it stays the same, no other connection wrote and neither needs reading again.
    data_version: i64,
    meta: Meta,
    snapshot_head: Seq,
    snapshotter: Option<Snapshotter>,
    /// Writers in the last commit (how many to wait for in the next, see `gather`).
    last_writers: usize,
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
        store.defer_checkpoints()?;
        let checkpointer = Checkpointer::start(&path)?;
        let mut writer = Writer::load(store, planner, events.clone())?;
        writer.snapshotter = Some(Snapshotter::start(&path)?);
        writer.tick()?;
        let (tx, rx) = mpsc::channel();
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

impl Writer {
    fn load(
        store: Store,
        planner: Box<dyn MaintenancePlanner + Send>,
        events: broadcast::Sender<Event>,
    ) -> Result<Writer, EngineError> {
        let mut state = store.load_snapshot()?.unwrap_or_else(State::new);
        state.reindex();
        let snapshot_head = state.head;
        loop {
            let batch = store.events_since(state.head, 50_000)?;
            if batch.is_empty() {
                break;
            }
            for e in &batch {
                state.apply(e);
            }
        }
        let data_version = store.data_version()?;
        let meta = store.meta()?;
        let agenda = Agenda::build(&state, meta.watermark);
        Ok(Writer {
            store,
            state,
            agenda,
            planner,
            events,
            data_version,
            meta,
            snapshot_head,
            snapshotter: None,
            last_writers: 0,
        })
    }

    fn run(mut self, rx: Receiver<Request>) {
        loop {
            let wait = self.wait_time();
            match rx.recv_timeout(wait) {
                Ok(first) => {
                    let batch = self.gather(first, &rx);
                    self.handle(batch);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = self.tick() {
                        tracing::warn!("engine tick failed: {e}");
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        // Let a snapshot being written finish first: the one below is newer.
        self.snapshotter.take();
        if self.state.head >= self.snapshot_head + SNAPSHOT_ON_CLOSE_AFTER
            && let Err(e) = self.store.save_snapshot(&mut self.state)
        {
            tracing::warn!("snapshot on close failed: {e}");
        }
    }

    /// Collects the requests that share one commit: those already waiting, and — when the last
    /// commit carried several writers, who are about to send their next command — the ones
    /// that arrive within [`GATHER`]. A lone writer never waits.
    fn gather(&mut self, first: Request, rx: &Receiver<Request>) -> Vec<Request> {
        let mut writes = usize::from(first.is_write());
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => {
                    writes += usize::from(r.is_write());
                    batch.push(r);
                }
                Err(_) => break,
            }
        }
        if self.last_writers > 1 && writes > 0 {
            let until = Instant::now() + GATHER;
            while writes < self.last_writers && batch.len() < MAX_BATCH {
                let left = until.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(r) => {
                        writes += usize::from(r.is_write());
                        batch.push(r);
                    }
                    Err(_) => break,
                }
            }
        }
        self.last_writers = writes;
        batch
    }

    /// How long to sleep: until the next deadline on the system clock, at most one poll.
    fn wait_time(&self) -> StdDuration {
        match (self.meta.clock, self.agenda.first()) {
            (ClockKind::System, Some((at, _))) => (at - system_now())
                .to_std()
                .unwrap_or(StdDuration::ZERO)
                .min(POLL),
            _ => POLL,
        }
    }

    /// Picks up other writers' events, and runs deadlines that came due on the system clock.
    fn tick(&mut self) -> Result<(), EngineError> {
        let foreign = self.store.data_version()? != self.data_version;
        let due = self.meta.clock == ClockKind::System
            && self
                .agenda
                .first()
                .is_some_and(|(at, _)| at <= system_now());
        if foreign || due {
            self.write(|_| Ok(()))?;
        }
        Ok(())
    }

    /// One transaction: catch up, run deadlines until now, then `work`.
    fn write<T>(
        &mut self,
        work: impl FnOnce(&mut Batch<'_>) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let before = self.state.head;
        let result = self.write_inner(work);
        match result {
            Ok((value, events)) => {
                for e in events {
                    let _ = self.events.send(e);
                }
                self.maybe_snapshot();
                Ok(value)
            }
            Err(e) => {
                if self.state.head != before {
                    self.reload();
                }
                Err(e)
            }
        }
    }

    fn write_inner<T>(
        &mut self,
        work: impl FnOnce(&mut Batch<'_>) -> Result<T, EngineError>,
    ) -> Result<(T, Vec<Event>), EngineError> {
        let path = self.store.path().to_path_buf();
        let tx = self.store.begin()?;
        // Inside the write lock: nobody else can commit until this transaction ends.
        let version = store::data_version(&tx)?;
        let foreign = version != self.data_version;
        let meta = if foreign {
            store::read_meta(&tx, &path)?
        } else {
            self.meta.clone()
        };
        let mut batch = Batch {
            tx,
            state: &mut self.state,
            agenda: &mut self.agenda,
            planner: self.planner.as_ref(),
            found: meta.clone(),
            meta,
            appended: Vec::new(),
            caught_up: Vec::new(),
        };
        if foreign {
            batch.catch_up()?;
        }
        let now = batch.now();
        batch.run_deadlines(now, false)?;
        let value = work(&mut batch)?;
        let (meta, mut caught_up, appended) = batch.commit()?;
        caught_up.extend(appended);
        self.meta = meta;
        self.data_version = version;
        Ok((value, caught_up))
    }

    fn reload(&mut self) {
        let planner = std::mem::replace(&mut self.planner, Box::new(SimPlanner));
        match Store::open(self.store.path())
            .and_then(|s| Writer::load(s, planner, self.events.clone()))
        {
            Ok(mut fresh) => {
                fresh.snapshotter = self.snapshotter.take();
                *self = fresh;
            }
            Err(e) => tracing::error!("cannot reload the journal after a failed write: {e}"),
        }
    }

    /// Hands a copy of the state to the snapshot thread every [`SNAPSHOT_EVERY`] events.
    fn maybe_snapshot(&mut self) {
        if self.state.head < self.snapshot_head + SNAPSHOT_EVERY {
            return;
        }
        let Some(snapshotter) = self.snapshotter.as_ref().filter(|s| !s.is_writing()) else {
            return;
        };
        if snapshotter.offer(self.state.clone()) {
            self.snapshot_head = self.state.head;
        }
    }

    fn handle(&mut self, batch: Vec<Request>) {
        let mut writes = Vec::new();
        let mut reads = Vec::new();
        for r in batch {
            if r.is_write() {
                writes.push(r);
            } else {
                reads.push(r);
            }
        }
        if !writes.is_empty() {
            self.handle_writes(writes);
        } else if let Err(e) = self.tick() {
            tracing::warn!("engine tick failed: {e}");
        }
        for r in reads {
            self.answer_read(r);
        }
    }

    fn handle_writes(&mut self, writes: Vec<Request>) {
        let mut answers: Vec<Result<Answer, EngineError>> = Vec::with_capacity(writes.len());
        let outcome = self.write(|batch| {
            for w in &writes {
                let now = batch.now();
                let answer = match w {
                    Request::Execute { actor, command, .. } => {
                        batch.execute(actor, command, now).map(Answer::Receipt)
                    }
                    Request::Advance {
                        target,
                        stop_for_driver,
                        ..
                    } => advance(batch, *target, *stop_for_driver).map(Answer::Advanced),
                    _ => continue,
                };
                if let Err(EngineError::Storage(e)) = &answer {
                    return Err(EngineError::Storage(e.clone()));
                }
                answers.push(answer);
            }
            Ok(())
        });
        let mut answers = answers.into_iter();
        for w in writes {
            let answer = match &outcome {
                Ok(()) => answers.next().unwrap_or(Err(EngineError::Closed)),
                Err(e) => Err(e.clone()),
            };
            match (w, answer) {
                (Request::Execute { reply, .. }, Ok(Answer::Receipt(r))) => {
                    let _ = reply.send(Ok(r));
                }
                (Request::Advance { reply, .. }, Ok(Answer::Advanced(a))) => {
                    let _ = reply.send(Ok(a));
                }
                (Request::Execute { reply, .. }, Err(e)) => {
                    let _ = reply.send(Err(e));
                }
                (Request::Advance { reply, .. }, Err(e)) => {
                    let _ = reply.send(Err(e));
                }
                _ => {}
            }
        }
    }

    fn answer_read(&mut self, r: Request) {
        match r {
            Request::Snapshot { reply } => {
                let _ = reply.send(Ok(Snapshot {
                    state: self.state.clone(),
                    clock: self.clock_info(),
                }));
            }
            Request::Events {
                since,
                limit,
                reply,
            } => {
                let _ = reply.send(self.store.events_since(since, limit));
            }
            Request::Clock { reply } => {
                let _ = reply.send(Ok(self.clock_info()));
            }
            Request::DriverWork { reply } => {
                let now = self.clock_info().now;
                let _ = reply.send(Ok((now, self.state.driver_work())));
            }
            Request::Execute { reply, .. } => {
                let _ = reply.send(Err(EngineError::Closed));
            }
            Request::Advance { reply, .. } => {
                let _ = reply.send(Err(EngineError::Closed));
            }
        }
    }

    fn clock_info(&self) -> ClockInfo {
        let meta = &self.meta;
        ClockInfo {
            kind: meta.clock,
            now: match (meta.clock, meta.virtual_now) {
                (ClockKind::Virtual, Some(t)) => t,
                _ => system_now(),
            },
        }
    }
}

enum Answer {
    Receipt(Receipt),
    Advanced(Advanced),
}

fn advance(
    batch: &mut Batch<'_>,
    target: AdvanceTarget,
    stop_for_driver: bool,
) -> Result<Advanced, EngineError> {
    if batch.meta.clock != ClockKind::Virtual {
        return Err(EngineError::Invalid(
            "this database runs on the system clock, which cannot be advanced: create a database with `lockstep init --virtual-clock` to move time by hand".into(),
        ));
    }
    let until = match target {
        AdvanceTarget::By(by) if by <= Duration::zero() => {
            return Err(EngineError::Invalid(
                "the clock only moves forward: give a positive duration such as 90m or 3d".into(),
            ));
        }
        AdvanceTarget::By(by) => batch.now() + by,
        AdvanceTarget::Until(t) => t.max(batch.now()),
    };
    let from = batch.appended.len();
    let stopped = batch.run_deadlines(until, stop_for_driver)?;
    batch.meta.virtual_now = Some(stopped.unwrap_or(until));
    Ok(Advanced {
        events: batch.appended[from..].to_vec(),
        until,
        stopped: stopped.is_some(),
    })
}
