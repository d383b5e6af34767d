//! The simulated fleet: maintenance updates that take time, and a blue/green driver realistic
//! enough to rehearse runs with (provisioning takes time, lag follows write load and spikes,
//! DDL and long transactions appear, faults can be injected, downtime is modelled).

mod planner;
mod world;

use std::path::Path;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::log::{ActionLog, LoggedAction};
use super::{Driver, DriverError};
use crate::model::run::{ActionReport, Observation, RunAction, RunSpec};

pub use planner::SimPlanner;

/// The simulated blue/green driver. Its action log lives in the lockstep database, so a
/// killed process leaves a record of what it did.
pub struct SimDriver {
    log: ActionLog,
}

impl SimDriver {
    /// A simulator keeping its action log in the database at `path`.
    pub fn open(path: &Path) -> Result<SimDriver, DriverError> {
        Ok(SimDriver {
            log: ActionLog::open(path, "sim")?,
        })
    }

    /// Every action performed so far.
    pub fn actions(&self) -> Result<Vec<LoggedAction>, DriverError> {
        self.log.list()
    }
}

impl Driver for SimDriver {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn act<'a>(
        &'a self,
        run: &'a RunSpec,
        action: RunAction,
        key: &'a str,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<ActionReport, DriverError>> {
        async move {
            self.log.perform(key, &run.run_id, action, now, || {
                world::act(run, action, key)
            })
        }
        .boxed()
    }

    fn observe<'a>(
        &'a self,
        run: &'a RunSpec,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Observation, DriverError>> {
        async move { Ok(world::observe(run, now)) }.boxed()
    }
}
