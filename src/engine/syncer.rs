//! Durability off the writer's thread (pipelined group commit). The writer commits with
//! `synchronous=NORMAL`, which writes the WAL without flushing it, and hands each commit here;
//! this thread flushes the WAL with one `fdatasync` for every commit handed over since the
//! previous flush, and only then answers the commands and broadcasts their events. So a command
//! is still acknowledged only once it is on disk, but the writer decides and writes the next
//! batch while the disk works on the last one.
//!
//! Reads are answered through here too while a commit waits for its flush, so nobody is shown
//! a change that a crash of the machine could still take back.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::broadcast;

use crate::model::Event;

use super::EngineError;
use super::storage;

/// Sends one answer: the value when the flush worked, else the flush's error.
pub(super) type Deliver = Box<dyn FnOnce(Option<&EngineError>) + Send>;

struct Pending {
    commit: bool,
    events: Vec<Event>,
    deliver: Vec<Deliver>,
}

/// Whether the commits handed over so far are all flushed, and a way to wait until they are.
#[derive(Clone)]
pub(super) struct FlushWatch {
    flushed: Arc<AtomicU64>,
    handed: u64,
    /// Ticks after each flush; a tick may be stale, so look at [`FlushWatch::busy`] again.
    pub done: crossbeam_channel::Receiver<()>,
}

impl FlushWatch {
    /// Whether a commit handed over is still being flushed.
    pub fn busy(&self) -> bool {
        self.flushed.load(Ordering::Acquire) < self.handed
    }
}

/// The flushing thread and what the writer needs to know of it.
pub(super) struct Syncer {
    queue: Option<Sender<Pending>>,
    /// Commits handed over, commits flushed (the thread counts those) and a tick after every
    /// flush (at most one waiting).
    progress: FlushWatch,
    failed: Arc<Mutex<Option<EngineError>>>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Starts flushing `wal` (the journal's write-ahead log, opened by the caller).
    pub fn start(wal: File, events: broadcast::Sender<Event>) -> Result<Syncer, EngineError> {
        let (queue, incoming) = mpsc::channel::<Pending>();
        let flushed = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(Mutex::new(None));
        let (count, failure) = (flushed.clone(), failed.clone());
        let (tick, done) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("lockstep-flush".into())
            .spawn(move || flush_loop(&wal, &incoming, &events, &count, &failure, &tick))
            .map_err(|e| storage(format!("cannot start the journal's flush thread: {e}")))?;
        Ok(Syncer {
            queue: Some(queue),
            progress: FlushWatch {
                flushed,
                handed: 0,
                done,
            },
            failed,
            thread: Some(thread),
        })
    }

    /// Hands over a commit: once it is on disk, `events` are broadcast and `deliver` run.
    pub fn committed(&mut self, events: Vec<Event>, deliver: Vec<Deliver>) {
        self.progress.handed += 1;
        self.send(Pending {
            commit: true,
            events,
            deliver,
        });
    }

    /// Runs `deliver` once every commit handed over so far is on disk: at once when they are.
    pub fn after_flush(&self, deliver: Deliver) {
        if !self.busy() {
            deliver(self.failure().as_ref());
        } else {
            self.send(Pending {
                commit: false,
                events: Vec::new(),
                deliver: vec![deliver],
            });
        }
    }

    /// Whether a commit handed over is still being flushed (never, without a thread).
    fn busy(&self) -> bool {
        self.queue.is_some() && self.progress.busy()
    }

    /// A view of the flushes under way, for a writer deciding whether to commit now.
    pub fn watch(&self) -> FlushWatch {
        let mut watch = self.progress.clone();
        if !self.busy() {
            watch.handed = watch.flushed.load(Ordering::Acquire);
        }
        watch
    }

    /// Why the disk refused a flush, if it ever did: from then on nothing more is written.
    pub fn failure(&self) -> Option<EngineError> {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A syncer with no thread, for a writer being loaded (replaced before it takes requests):
    /// a commit handed to it is answered with an error at once.
    pub fn stopped() -> Syncer {
        Syncer {
            queue: None,
            progress: FlushWatch {
                flushed: Arc::new(AtomicU64::new(0)),
                handed: 0,
                done: crossbeam_channel::never(),
            },
            failed: Arc::new(Mutex::new(None)),
            thread: None,
        }
    }

    fn send(&self, pending: Pending) {
        let unsent = match &self.queue {
            Some(q) => q.send(pending).err().map(|e| e.0),
            None => Some(pending),
        };
        if let Some(p) = unsent {
            let closed = EngineError::Storage("the journal's flush thread stopped".into());
            for d in p.deliver {
                d(Some(&closed));
            }
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn flush_loop(
    wal: &File,
    incoming: &Receiver<Pending>,
    events: &broadcast::Sender<Event>,
    flushed: &AtomicU64,
    failed: &Mutex<Option<EngineError>>,
    tick: &crossbeam_channel::Sender<()>,
) {
    while let Ok(first) = incoming.recv() {
        let mut batch = vec![first];
        batch.extend(incoming.try_iter());
        let commits = batch.iter().filter(|p| p.commit).count() as u64;
        let earlier = failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let failure = match (earlier, commits) {
            (Some(e), _) => Some(e),
            (None, 0) => None,
            (None, _) => wal.sync_data().err().map(|e| {
                tracing::error!("the disk did not confirm a write of the journal: {e}");
                let e = EngineError::Storage(format!(
                    "the disk did not confirm a write of the journal ({e}): nothing after it is \
                     acknowledged; check the disk, then restart lockstep"
                ));
                *failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.clone());
                e
            }),
        };
        for p in batch {
            if failure.is_none() {
                for e in p.events {
                    let _ = events.send(e);
                }
            }
            for d in p.deliver {
                d(failure.as_ref());
            }
        }
        // Counted after the answers, so a read answered at once never overtakes them.
        flushed.fetch_add(commits, Ordering::AcqRel);
        let _ = tick.try_send(());
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;
    use std::sync::mpsc;

    use chrono::Utc;

    use super::*;
    use crate::model::{Event, EventKind};

    fn event(seq: u64) -> Event {
        Event {
            seq,
            at: Utc::now(),
            actor: "test".into(),
            reason: String::new(),
            kind: EventKind::ProjectCreated {
                project: format!("p{seq}"),
                organization_id: "default".into(),
            },
        }
    }

    /// Records, in order, what was delivered and whether it came with an error.
    fn recorder(name: &'static str, log: &mpsc::Sender<(&'static str, bool)>) -> Deliver {
        let log = log.clone();
        Box::new(move |failure| {
            let _ = log.send((name, failure.is_some()));
        })
    }

    #[test]
    fn answers_come_after_the_flush_in_order_and_reads_wait_for_earlier_commits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = File::create(dir.path().join("j.db-wal")).expect("file");
        let (events, mut seen) = broadcast::channel(16);
        let mut syncer = Syncer::start(wal, events).expect("start");
        let (log, answers) = mpsc::channel();
        syncer.committed(vec![event(1)], vec![recorder("first", &log)]);
        syncer.after_flush(recorder("read", &log));
        syncer.committed(vec![event(2)], vec![recorder("second", &log)]);
        drop(syncer);
        let got: Vec<_> = answers.try_iter().collect();
        assert_eq!(
            got,
            vec![("first", false), ("read", false), ("second", false)]
        );
        assert_eq!(seen.try_recv().map(|e| e.seq).ok(), Some(1));
        assert_eq!(seen.try_recv().map(|e| e.seq).ok(), Some(2));
    }

    #[test]
    fn a_read_with_nothing_unflushed_is_answered_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = File::create(dir.path().join("j.db-wal")).expect("file");
        let (events, _) = broadcast::channel(16);
        let syncer = Syncer::start(wal, events).expect("start");
        let (log, answers) = mpsc::channel();
        syncer.after_flush(recorder("read", &log));
        // Not dropped yet: the answer did not need the thread.
        assert_eq!(answers.try_recv().ok(), Some(("read", false)));
    }

    #[test]
    fn a_flush_the_disk_refuses_fails_its_commands_hides_their_events_and_stops_writes() {
        // fdatasync on a pipe fails (EINVAL) as a failing disk would.
        let (_read, write) = std::io::pipe().expect("pipe");
        let wal = File::from(OwnedFd::from(write));
        let (events, mut seen) = broadcast::channel(16);
        let mut syncer = Syncer::start(wal, events).expect("start");
        let (log, answers) = mpsc::channel();
        syncer.committed(vec![event(1)], vec![recorder("command", &log)]);
        let got = answers
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("answered");
        assert_eq!(got, ("command", true), "acknowledged without a flush");
        assert!(seen.try_recv().is_err(), "an unflushed event was broadcast");
        let failure = syncer.failure().expect("the failure is remembered");
        assert!(
            failure.to_string().contains("restart lockstep"),
            "{failure}"
        );
        // Everything after it is refused too, reads included.
        syncer.after_flush(recorder("read", &log));
        assert_eq!(
            answers
                .recv_timeout(std::time::Duration::from_secs(10))
                .ok(),
            Some(("read", true))
        );
    }

    #[test]
    fn a_stopped_syncer_answers_with_an_error_instead_of_dropping_the_reply() {
        let mut syncer = Syncer::stopped();
        let (log, answers) = mpsc::channel();
        syncer.committed(Vec::new(), vec![recorder("command", &log)]);
        assert_eq!(answers.try_recv().ok(), Some(("command", true)));
    }
}
