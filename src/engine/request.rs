//! What the engine's handle asks its thread ([`super::writer::Writer`]) over the channel, and
//! how the answer comes back.

use chrono::{DateTime, Duration, Utc};
use tokio::sync::oneshot;

use crate::model::run::{DriverRequest, RunSpec};
use crate::model::{Command, Event, Seq};

use super::clock::ClockInfo;
use super::{EngineError, Receipt, Snapshot};

/// Where the answer to a request goes.
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
    pub(super) fn is_write(&self) -> bool {
        matches!(self, Request::Execute { .. } | Request::Advance { .. })
    }
}
