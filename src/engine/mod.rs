//! The engine: the one trait every surface (dashboard, CLI, HTTP server) talks to, and the
//! embedded implementation over a local journal.

mod background;
pub mod clock;
pub mod lease;
pub mod local;
mod request;
pub mod runs;
mod scheduler;
pub mod sides;
pub mod snapshot;
pub mod store;
mod syncer;
mod writer;

use std::path::PathBuf;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::model::{Command, Event, RuleError, Seq, State};

pub use clock::{ClockInfo, ClockKind};
pub use local::LocalEngine;

/// What a command did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// The events it appended (deadlines processed first included), in order.
    pub events: Vec<Event>,
    /// A note for the person who asked: why nothing changed, or a warning.
    pub notice: Option<String>,
}

/// The whole state at one point of the journal.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The folded state; `state.head` is the last event in it.
    pub state: State,
    /// The engine's clock at that moment.
    pub clock: ClockInfo,
}

/// Where an engine lives, for the dashboard's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInfo {
    /// `embedded` or `remote`.
    pub kind: String,
    /// The file or URL.
    pub location: String,
}

/// How a remote engine's live event stream is doing, for the dashboard's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkState {
    /// Not started yet: nothing has subscribed.
    Idle,
    /// Opening the stream for the first time.
    Connecting,
    /// Events arrive live.
    Connected,
    /// The stream broke; retrying (with backoff) from the last event received.
    Reconnecting {
        /// Retries so far.
        attempt: u32,
        /// Why the last try failed, in words (never a token).
        error: String,
    },
}

/// A failure of the disk or the journal, in words.
pub(crate) fn storage(e: impl std::fmt::Display) -> EngineError {
    EngineError::Storage(e.to_string())
}

/// Why the engine could not do what was asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// A rule refused the command; nothing changed.
    #[error("{0}")]
    Refused(#[from] RuleError),
    /// The database file does not exist.
    #[error("no lockstep database at {}: create one with `lockstep init --db {}` (or `lockstep demo init`)", .0.display(), .0.display())]
    NoDatabase(PathBuf),
    /// The request does not fit this engine (e.g. advancing a system clock).
    #[error("{0}")]
    Invalid(String),
    /// The journal could not be read or written; nothing acknowledged was lost.
    #[error("storage error: {0}")]
    Storage(String),
    /// The engine has stopped.
    #[error("the engine has stopped")]
    Closed,
}

/// The one interface to lockstep's state, embedded or remote.
pub trait Engine: Send + Sync {
    /// Where this engine lives.
    fn info(&self) -> EngineInfo;

    /// Decides `command` on behalf of `actor`, appends its events durably, then answers.
    fn execute(&self, actor: &str, command: Command)
    -> BoxFuture<'_, Result<Receipt, EngineError>>;

    /// The whole state now.
    fn snapshot(&self) -> BoxFuture<'_, Result<Snapshot, EngineError>>;

    /// Journal events after `since`, oldest first, at most `limit`.
    fn events(&self, since: Seq, limit: usize) -> BoxFuture<'_, Result<Vec<Event>, EngineError>>;

    /// Every event appended from now on, by anyone, in journal order.
    fn subscribe(&self) -> broadcast::Receiver<Event>;

    /// The engine's clock.
    fn clock(&self) -> BoxFuture<'_, Result<ClockInfo, EngineError>>;

    /// Moves a virtual clock forward, processing every deadline in between in time order.
    fn advance_clock(&self, by: chrono::Duration) -> BoxFuture<'_, Result<Receipt, EngineError>>;

    /// Has the drivers perform every action and observation runs wait for, and records their
    /// answers. A remote engine's server does this itself, so the default does nothing.
    fn drive(&self) -> BoxFuture<'_, Result<Receipt, EngineError>> {
        Box::pin(async {
            Ok(Receipt {
                events: Vec::new(),
                notice: None,
            })
        })
    }

    /// The state of the link to a remote engine; `None` for an embedded one.
    fn link(&self) -> Option<tokio::sync::watch::Receiver<LinkState>> {
        None
    }
}
