//! The engine's thread: it owns the state and the journal's write connection. Requests arrive
//! on a channel; every write waiting is decided and committed together (group commit), and the
//! commit is handed to the [`Syncer`], which answers once the disk has it. Other processes'
//! writes to the same file are picked up within a second.

use std::time::Duration as StdDuration;

use chrono::Duration;
use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::drivers::sim::SimPlanner;
use crate::model::{Agenda, Event, MaintenancePlanner, Seq, State};

use super::background::Snapshotter;
use super::clock::{ClockInfo, ClockKind, system_now};
use super::request::{AdvanceTarget, Advanced, Reply, Request};
use super::scheduler::Batch;
use super::store::{self, Meta, Store};
use super::syncer::{Deliver, Syncer};
use super::{EngineError, Receipt, Snapshot};

/// How often the engine looks for other processes' writes.
const POLL: StdDuration = StdDuration::from_millis(250);
/// How many requests one commit may carry.
const MAX_BATCH: usize = 1024;
/// Events between two snapshots written in the background.
const SNAPSHOT_EVERY: u64 = 10_000;
/// Events past the last snapshot that make closing write one (fewer are replayed on open in
/// a few milliseconds, so a one-command CLI process does not pay for a whole snapshot).
const SNAPSHOT_ON_CLOSE_AFTER: u64 = 1_000;

pub(super) struct Writer {
    store: Store,
    state: State,
    agenda: Agenda,
    planner: Box<dyn MaintenancePlanner + Send>,
    /// Flushes commits and answers once they are on disk.
    pub syncer: Syncer,
    /// `PRAGMA data_version` when this writer last read the journal, and the settings then:
    /// while it stays the same, no other connection wrote and neither needs reading again.
    data_version: i64,
    meta: Meta,
    snapshot_head: Seq,
    pub snapshotter: Option<Snapshotter>,
    /// Writes in the last commit: a commit this large need not wait for the flush before it.
    last_commit: usize,
}

impl Writer {
    /// Reads the journal (snapshot, then the events after it); the writer starts with a
    /// stopped [`Syncer`] and no snapshot thread, which the caller provides.
    pub fn load(
        store: Store,
        planner: Box<dyn MaintenancePlanner + Send>,
    ) -> Result<Writer, EngineError> {
        let mut state = store.load_snapshot()?.unwrap_or_else(State::new);
        state.reindex();
        let snapshot_head = state.head;
        store.replay(&mut state)?;
        let data_version = store.data_version()?;
        let meta = store.meta()?;
        let agenda = Agenda::build(&state, meta.watermark);
        Ok(Writer {
            store,
            state,
            agenda,
            planner,
            syncer: Syncer::stopped(),
            data_version,
            meta,
            snapshot_head,
            snapshotter: None,
            last_commit: 0,
        })
    }

    pub fn run(mut self, rx: Receiver<Request>) {
        loop {
            let wait = self.wait_time();
            match rx.recv_timeout(wait) {
                Ok(first) => {
                    let batch = Self::gather(first, &rx);
                    self.handle(batch, &rx);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = self.tick() {
                        tracing::warn!("engine tick failed: {e}");
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        // Every command committed is flushed and answered before the journal closes.
        drop(std::mem::replace(&mut self.syncer, Syncer::stopped()));
        // Let a snapshot being written finish first: the one below is newer.
        self.snapshotter.take();
        if self.state.head >= self.snapshot_head + SNAPSHOT_ON_CLOSE_AFTER
            && let Err(e) = self.store.save_snapshot(&mut self.state)
        {
            tracing::warn!("snapshot on close failed: {e}");
        }
    }

    /// Collects the requests that share one commit: those already waiting. It never waits for
    /// more: while this commit is written, the last one is being flushed, and the flush after
    /// it takes every commit made meanwhile (so commands arriving together share a flush).
    fn gather(first: Request, rx: &Receiver<Request>) -> Vec<Request> {
        let mut batch = vec![first];
        batch.extend(rx.try_iter().take(MAX_BATCH - 1));
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
    pub fn tick(&mut self) -> Result<(), EngineError> {
        let foreign = self.store.data_version()? != self.data_version;
        let due = self.meta.clock == ClockKind::System
            && self
                .agenda
                .first()
                .is_some_and(|(at, _)| at <= system_now());
        if foreign || due {
            let ((), events) = self.write(|_| Ok(()))?;
            self.syncer.committed(events, Vec::new());
        }
        Ok(())
    }

    /// One transaction: catch up, run deadlines until now, then `work`. Returns what `work`
    /// gave and the events read or written, committed but not yet flushed: the caller hands
    /// them to the syncer with the answers.
    fn write<T>(
        &mut self,
        work: impl FnOnce(&mut Batch<'_>) -> Result<T, EngineError>,
    ) -> Result<(T, Vec<Event>), EngineError> {
        if let Some(e) = self.syncer.failure() {
            return Err(e);
        }
        let before = self.state.head;
        let result = self.write_inner(work);
        match result {
            Ok(done) => {
                self.maybe_snapshot();
                Ok(done)
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
            .and_then(|s| s.flush_by_hand().map(|()| s))
            .and_then(|s| Writer::load(s, planner))
        {
            Ok(mut fresh) => {
                fresh.snapshotter = self.snapshotter.take();
                fresh.syncer = std::mem::replace(&mut self.syncer, Syncer::stopped());
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

    fn handle(&mut self, batch: Vec<Request>, rx: &Receiver<Request>) {
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
            let late = self.handle_writes(writes, rx);
            reads.extend(late);
        } else if let Err(e) = self.tick() {
            tracing::warn!("engine tick failed: {e}");
        }
        for r in reads {
            self.answer_read(r);
        }
    }

    /// Decides `writes` in one transaction, which stays open while the previous commit is
    /// being flushed: writes arriving meanwhile join it, so each flush carries one commit of
    /// many commands rather than many small commits. It commits as soon as the flush ends, or
    /// once it holds as many writes as the last commit (that group is all here, and committing
    /// now lets the next flush start the moment this one ends). Returns the reads that arrived
    /// meanwhile.
    fn handle_writes(&mut self, mut writes: Vec<Request>, rx: &Receiver<Request>) -> Vec<Request> {
        let mut answers: Vec<Result<Answer, EngineError>> = Vec::with_capacity(writes.len());
        let mut reads = Vec::new();
        let flushing = self.syncer.watch();
        let enough = self.last_commit.clamp(1, MAX_BATCH);
        let outcome = self.write(|batch| {
            let mut next = 0;
            loop {
                let Some(w) = writes.get(next) else {
                    if !flushing.busy() || writes.len() >= enough {
                        break;
                    }
                    let arrived = crossbeam_channel::select! {
                        recv(rx) -> r => Some(r),
                        recv(flushing.done) -> _ => None,
                    };
                    match arrived {
                        Some(Ok(r)) if r.is_write() => writes.push(r),
                        Some(Ok(r)) => reads.push(r),
                        // The engine is closing: commit what is here.
                        Some(Err(_)) => break,
                        // A flush ended: look again.
                        None => {}
                    }
                    continue;
                };
                next += 1;
                let now = batch.now();
                // The commit may have stayed open past a deadline: it fires first, on time.
                batch.run_deadlines(now, false)?;
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
        self.last_commit = writes.len();
        let (outcome, events) = match outcome {
            Ok(((), events)) => (Ok(()), events),
            Err(e) => (Err(e), Vec::new()),
        };
        let mut answers = answers.into_iter();
        let mut delivers = Vec::with_capacity(writes.len());
        for w in writes {
            let answer = match &outcome {
                Ok(()) => answers.next().unwrap_or(Err(EngineError::Closed)),
                Err(e) => Err(e.clone()),
            };
            delivers.push(match (w, answer) {
                (Request::Execute { reply, .. }, Ok(Answer::Receipt(r))) => deliver(reply, Ok(r)),
                (Request::Advance { reply, .. }, Ok(Answer::Advanced(a))) => deliver(reply, Ok(a)),
                (Request::Execute { reply, .. }, Err(e)) => deliver(reply, Err(e)),
                (Request::Advance { reply, .. }, Err(e)) => deliver(reply, Err(e)),
                _ => continue,
            });
        }
        if outcome.is_ok() {
            self.syncer.committed(events, delivers);
        } else {
            for d in delivers {
                self.syncer.after_flush(d);
            }
        }
        reads
    }

    /// Answers a read once every commit before it is on disk.
    fn answer_read(&mut self, r: Request) {
        let d = match r {
            Request::Snapshot { reply } => deliver(
                reply,
                Ok(Snapshot {
                    state: self.state.clone(),
                    clock: self.clock_info(),
                }),
            ),
            Request::Events {
                since,
                limit,
                reply,
            } => deliver(reply, self.store.events_since(since, limit)),
            Request::Clock { reply } => deliver(reply, Ok(self.clock_info())),
            Request::DriverWork { reply } => {
                let now = self.clock_info().now;
                deliver(reply, Ok((now, self.state.driver_work())))
            }
            Request::Execute { reply, .. } => deliver(reply, Err(EngineError::Closed)),
            Request::Advance { reply, .. } => deliver(reply, Err(EngineError::Closed)),
        };
        self.syncer.after_flush(d);
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

/// Sends `answer` on `reply` once on disk, or the disk's refusal instead.
fn deliver<T: Send + 'static>(reply: Reply<T>, answer: Result<T, EngineError>) -> Deliver {
    Box::new(move |failure: Option<&EngineError>| {
        let _ = reply.send(match failure {
            Some(e) => Err(e.clone()),
            None => answer,
        });
    })
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
