//! The engine's driver: runs of services registered with real PostgreSQL targets go to the
//! postgres driver, every other run to the simulator.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use super::postgres::PostgresDriver;
use super::sim::SimDriver;
use super::targets::Targets;
use super::{Driver, DriverError};
use crate::model::run::{ActionReport, Observation, RunAction, RunSpec};

/// The simulator, plus the postgres driver for registered services.
pub struct RoutedDriver {
    sim: SimDriver,
    postgres: Option<PostgresDriver>,
    real: BTreeSet<String>,
    /// Services registered with a client endpoint that this process does not hold.
    endpoint_elsewhere: BTreeSet<String>,
}

impl RoutedDriver {
    /// Opens both drivers' action logs in the database at `path` and reads its targets file.
    pub fn open(path: &Path) -> Result<RoutedDriver, DriverError> {
        let sim = SimDriver::open(path)?;
        let targets = Targets::load(path).map_err(DriverError)?;
        if targets.postgres.is_empty() {
            return Ok(RoutedDriver {
                sim,
                postgres: None,
                real: BTreeSet::new(),
                endpoint_elsewhere: BTreeSet::new(),
            });
        }
        let mut pg = PostgresDriver::open(path)?;
        let mut real = BTreeSet::new();
        let mut endpoint_elsewhere = BTreeSet::new();
        for (service, reg) in &targets.postgres {
            let mut target = reg.target();
            target.endpoint = super::endpoints::get(service);
            if reg.endpoint.is_some() && target.endpoint.is_none() {
                endpoint_elsewhere.insert(service.clone());
            }
            pg.register(service, target);
            real.insert(service.clone());
        }
        Ok(RoutedDriver {
            sim,
            postgres: Some(pg),
            real,
            endpoint_elsewhere,
        })
    }

    fn pick(&self, run: &RunSpec) -> &dyn Driver {
        match &self.postgres {
            Some(pg) if self.real.contains(&run.service.to_string()) => pg,
            _ => &self.sim,
        }
    }
}

impl Driver for RoutedDriver {
    fn name(&self) -> &'static str {
        if self.postgres.is_some() {
            "sim+postgres"
        } else {
            "sim"
        }
    }

    fn act<'a>(
        &'a self,
        run: &'a RunSpec,
        action: RunAction,
        key: &'a str,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<ActionReport, DriverError>> {
        let service = run.service.to_string();
        if action == RunAction::Switchover && self.endpoint_elsewhere.contains(&service) {
            // Not a failure: the switchover waits for the process that holds the endpoint.
            return Box::pin(std::future::ready(Err(DriverError(format!(
                "{service}'s client endpoint is held by `lockstep serve`: the switchover runs there (use --remote, or keep serve running)"
            )))));
        }
        self.pick(run).act(run, action, key, now)
    }

    fn observe<'a>(
        &'a self,
        run: &'a RunSpec,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Observation, DriverError>> {
        self.pick(run).observe(run, now)
    }
}
