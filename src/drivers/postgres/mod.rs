//! Real blue/green on PostgreSQL (issue 6): logical replication from blue to green (B1–B4),
//! lag per slot, row counts and schema drift, and the replication objects' cleanup (B7/B8).
//!
//! Not built yet: the switchover (B5) through lockstep's own client endpoint. Until it is,
//! B5 reverts at once and says so; blue keeps serving.

pub mod cleanup;
pub mod cluster;
pub mod dsn;
pub mod observe;
pub mod prereq;
pub mod provision;
pub mod proxy;
pub mod sequences;
pub mod session;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::log::{ActionLog, Claim};
use super::{Driver, DriverError};
use crate::model::run::{ActionOutcome, ActionReport, Observation, RunAction, RunSpec};
use dsn::Dsn;
use provision::Names;
use session::Session;

/// Where one service's blue runs and where its green goes.
#[derive(Debug, Clone)]
pub struct PgTarget {
    /// Blue, as lockstep reaches it (one database: the run replicates that database).
    pub blue: Dsn,
    /// Blue as green reaches it, for the subscription (defaults to `blue`).
    pub blue_from_green: Option<Dsn>,
    /// An empty database on a server of the newer major.
    pub green: Dsn,
    /// The `pg_dump` used to copy the schema (as new as blue, or newer).
    pub pg_dump: PathBuf,
    /// How long B2 waits for the initial copy of every table.
    pub sync_limit: Duration,
}

impl PgTarget {
    /// Blue and green with `pg_dump` from PATH and a 10-minute initial sync limit.
    #[must_use]
    pub fn new(blue: Dsn, green: Dsn) -> PgTarget {
        PgTarget {
            blue,
            blue_from_green: None,
            green,
            pg_dump: PathBuf::from("pg_dump"),
            sync_limit: Duration::from_secs(600),
        }
    }
}

/// The PostgreSQL driver: a registry of targets by service (`project/name`) and the action log
/// in the lockstep database.
pub struct PostgresDriver {
    log: ActionLog,
    targets: HashMap<String, PgTarget>,
}

impl PostgresDriver {
    /// A driver keeping its action log in the lockstep database at `path`.
    pub fn open(path: &Path) -> Result<PostgresDriver, DriverError> {
        Ok(PostgresDriver {
            log: ActionLog::open(path, "postgres")?,
            targets: HashMap::new(),
        })
    }

    /// Registers where `service` (`project/name`) runs blue and where green goes.
    pub fn register(&mut self, service: &str, target: PgTarget) {
        self.targets.insert(service.to_string(), target);
    }

    fn target(&self, run: &RunSpec) -> Result<&PgTarget, DriverError> {
        let service = run.service.to_string();
        self.targets.get(&service).ok_or_else(|| {
            DriverError(format!(
                "no PostgreSQL target registered for service {service} (blue DSN and green)"
            ))
        })
    }

    async fn perform(&self, target: &PgTarget, run: &RunSpec, action: RunAction) -> ActionReport {
        let started = Instant::now();
        let mut log = Vec::new();
        let names = Names::for_run(&run.run_id);
        let outcome = match action {
            RunAction::Prerequisites => {
                return prerequisites(target, started).await;
            }
            RunAction::Provision => provision(target, &names, &mut log).await,
            RunAction::VacuumAnalyze => match session::connect(&target.green, "green").await {
                Ok(green) => provision::vacuum_analyze(&green, &mut log).await,
                Err(e) => Err(e),
            },
            RunAction::Switchover => {
                let mut report = ActionReport::succeeded(
                    vec!["the postgres driver's switchover endpoint is not built yet".into()],
                    ms(started),
                );
                report.outcome = ActionOutcome::Reverted {
                    reason: "switchover through lockstep's endpoint is not built yet (issue 6); \
                             nothing was fenced, blue keeps serving"
                        .into(),
                };
                return report;
            }
            RunAction::PostSwitchover => {
                log.push("no extension was disabled in B1: nothing to re-enable".into());
                Ok(())
            }
            RunAction::Cleanup | RunAction::Rollback => cleanup(target, &names, &mut log).await,
        };
        let scrub = |text: &str| target.green.scrub(&target.blue.scrub(text));
        let log: Vec<String> = log.iter().map(|l| scrub(l)).collect();
        match outcome {
            Ok(()) => ActionReport::succeeded(log, ms(started)),
            Err(e) => ActionReport::failed(scrub(&e), log, ms(started)),
        }
    }
}

fn ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

async fn prerequisites(target: &PgTarget, started: Instant) -> ActionReport {
    let sides = async {
        let blue = session::connect(&target.blue, "blue").await?;
        let green = session::connect(&target.green, "green").await?;
        prereq::check(&blue, &green).await
    };
    match sides.await {
        Err(e) => ActionReport::failed(format!("B1: {e}"), Vec::new(), ms(started)),
        Ok(found) => {
            let mut report = match found.refusal {
                Some(refusal) => ActionReport::failed(refusal, found.log, ms(started)),
                None => ActionReport::succeeded(found.log, ms(started)),
            };
            report.tables_without_key = found.tables_without_key;
            report
        }
    }
}

async fn provision(target: &PgTarget, names: &Names, log: &mut Vec<String>) -> Result<(), String> {
    let blue = session::connect(&target.blue, "blue").await?;
    let green = session::connect(&target.green, "green").await?;
    provision::copy_schema(&target.pg_dump, &target.blue, &green, log).await?;
    provision::publish(&blue, names, log).await?;
    let blue_from_green = target.blue_from_green.as_ref().unwrap_or(&target.blue);
    provision::subscribe(&green, blue_from_green, names, log).await?;
    provision::wait_for_sync(&green, names, target.sync_limit, log).await
}

async fn cleanup(target: &PgTarget, names: &Names, log: &mut Vec<String>) -> Result<(), String> {
    match session::connect(&target.green, "green").await {
        Ok(green) => cleanup::drop_subscription(&green, names, log).await?,
        Err(e) => log.push(format!("{e}: its subscription is left to green's removal")),
    }
    let blue = session::connect(&target.blue, "blue").await?;
    cleanup::drop_publication_and_slot(&blue, names, log).await
}

impl Driver for PostgresDriver {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn act<'a>(
        &'a self,
        run: &'a RunSpec,
        action: RunAction,
        key: &'a str,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<ActionReport, DriverError>> {
        async move {
            let target = self.target(run)?;
            match self.log.claim(key, &run.run_id, action, now)? {
                Claim::Done(report) => return Ok(report),
                // Every action checks the servers for what already exists, so an action
                // interrupted by a crash is safely done again.
                Claim::Fresh | Claim::Interrupted(_) => {}
            }
            let report = self.perform(target, run, action).await;
            self.log.record(key, &report, now)?;
            Ok(report)
        }
        .boxed()
    }

    fn observe<'a>(
        &'a self,
        run: &'a RunSpec,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Observation, DriverError>> {
        async move {
            let target = self.target(run)?;
            let names = Names::for_run(&run.run_id);
            // Blue unreachable: nothing can be observed, and the request waits.
            let blue: Session = session::connect(&target.blue, "blue")
                .await
                .map_err(DriverError)?;
            let green = session::connect(&target.green, "green").await;
            observe::observe(&blue, green, &names, now)
                .await
                .map_err(|e| DriverError(target.blue.scrub(&e)))
        }
        .boxed()
    }
}
