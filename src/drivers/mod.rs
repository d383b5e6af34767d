//! Drivers act on real or simulated systems and report what they observe back as commands.
//!
//! A [`Driver`] performs a run's actions and observes its replication. The engine's run
//! orchestrator (`engine::runs`) calls it for every request the model records, and submits the
//! answers back as commands. Drivers are idempotent by key: an action whose key was already
//! performed returns its recorded report, marked `replayed`, without acting again (B9); the
//! shared [`log::ActionLog`] keeps those keys in the lockstep database.

pub mod endpoints;
pub mod failpoint;
pub mod flips;
pub mod log;
pub mod postgres;
pub mod route;
pub mod sim;
pub mod targets;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::model::run::{ActionReport, Observation, RunAction, RunSpec};

/// Why a driver could not even try (its own storage or connection is down). The request stays
/// pending and is tried again; this is not a failure of the action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("driver unavailable: {0}")]
pub struct DriverError(pub String);

/// Acts on the systems behind a run: the simulator, or (later) real PostgreSQL servers.
pub trait Driver: Send + Sync {
    /// A short name for logs (`sim`, `postgres`).
    fn name(&self) -> &'static str;

    /// Performs `action` for `run` unless `key` was already performed, in which case it returns
    /// the recorded report (with `replayed` set) and does nothing. `now` is the engine's clock
    /// (virtual or system); a simulated action reports how long it takes in simulated time, a
    /// real one how long it took.
    fn act<'a>(
        &'a self,
        run: &'a RunSpec,
        action: RunAction,
        key: &'a str,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<ActionReport, DriverError>>;

    /// Observes replication between blue and green (B4) at `now`.
    fn observe<'a>(
        &'a self,
        run: &'a RunSpec,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Observation, DriverError>>;
}
