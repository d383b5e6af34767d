//! Real blue/green on PostgreSQL (issue 6): logical replication from blue to green (B1–B4),
//! lag per slot, row counts and schema drift, the switchover (B5) through lockstep's own client
//! endpoint ([`proxy`]), and the replication objects' cleanup (B7/B8).

pub mod cleanup;
pub mod cluster;
pub mod databases;
pub mod ddl;
pub mod dsn;
mod dump;
pub mod fence;
pub mod green;
pub mod inventory;
pub mod largeobjects;
pub mod observe;
pub mod others;
pub mod parity;
mod phases;
pub mod plan;
pub mod prereq;
pub mod provision;
pub mod proxy;
mod ready;
pub mod roles;
pub mod sequences;
pub mod session;
pub mod switchover;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::flips::Flips;
use super::log::{ActionLog, Claim};
use super::{Driver, DriverError};
use crate::model::run::{
    ActionOutcome, ActionReport, ItemKind, Observation, RunAction, RunSpec, Treatment,
};
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
    /// The client endpoint clients reach the service through; B5 moves it to green. Without
    /// one, B5 reverts at once.
    pub endpoint: Option<Arc<proxy::ProxyHandle>>,
    /// Overrides the run's switchover timeout (B5), when set.
    pub switchover_timeout: Option<Duration>,
    /// How long B5 lets busy sessions reach a transaction boundary before terminating them.
    pub drain_grace: Duration,
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
            endpoint: None,
            switchover_timeout: None,
            drain_grace: Duration::from_secs(5),
        }
    }
}

/// The PostgreSQL driver: a registry of targets by service (`project/name`) and the action log
/// in the lockstep database.
pub struct PostgresDriver {
    /// Shared with the blocking threads that write it (a commit waits for the disk).
    log: std::sync::Arc<ActionLog>,
    /// Every switchover attempt, parked and flipped (B9 across a crash).
    flips: std::sync::Arc<Flips>,
    targets: HashMap<String, PgTarget>,
}

impl PostgresDriver {
    /// A driver keeping its action log in the lockstep database at `path`.
    pub fn open(path: &Path) -> Result<PostgresDriver, DriverError> {
        Ok(PostgresDriver {
            log: std::sync::Arc::new(ActionLog::open(path, "postgres")?),
            flips: std::sync::Arc::new(Flips::open(path)?),
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

    async fn perform(
        &self,
        target: &PgTarget,
        run: &RunSpec,
        action: RunAction,
        record: &switchover::Record<'_>,
    ) -> ActionReport {
        let started = Instant::now();
        let mut log = Vec::new();
        let names = Names::for_run(&run.run_id);
        let outcome = match action {
            RunAction::Prerequisites => {
                return prerequisites(target, &names, started).await;
            }
            RunAction::Provision => phases::provision(target, &names, &mut log).await,
            RunAction::VacuumAnalyze => {
                return post_provision(target, &names, started).await;
            }
            RunAction::Switchover => {
                return switchover(target, run, &names, record, started).await;
            }
            RunAction::PostSwitchover => {
                log.push("no extension was disabled in B1: nothing to re-enable".into());
                Ok(())
            }
            RunAction::Cleanup => phases::finish(target, &names, &mut log).await,
            RunAction::Rollback => phases::rollback(target, &names, &mut log).await,
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

async fn prerequisites(target: &PgTarget, names: &Names, started: Instant) -> ActionReport {
    let sides = async {
        let blue = session::connect(&target.blue, "blue").await?;
        let green = session::connect(&target.green, "green").await?;
        let mut found = prereq::check(&blue, &green).await?;
        let pairs = databases::pairs(&target.blue, &target.green, names).await?;
        let mut inv = inventory::take(&pairs, &green).await?;
        for pair in pairs.iter().filter(|p| !p.main) {
            let other = session::connect(&pair.blue, "blue").await?;
            for table in prereq::tables_without_key(&other).await? {
                found.tables_without_key.push(pair.label(&table));
            }
        }
        for table in &found.tables_without_key {
            inv.push(
                ItemKind::TableWithoutKey,
                table.clone(),
                Treatment::Refuse,
                "UPDATE and DELETE on it would break replication: add a primary key, or ALTER \
                 TABLE … REPLICA IDENTITY FULL",
            );
        }
        found.log.push(format!(
            "inventory: {} items logical replication does not carry by itself, {} databases",
            inv.items.len(),
            pairs.len()
        ));
        if found.refusal.is_none() {
            found.refusal = inventory::refusal(&inv);
        }
        if found.refusal.is_none() && !found.tables_without_key.is_empty() {
            found.refusal = Some(format!(
                "B1: tables without a primary key or replica identity: {} (UPDATE and DELETE on \
                 them would break replication): add a primary key, or ALTER TABLE … REPLICA \
                 IDENTITY FULL",
                found.tables_without_key.join(", ")
            ));
        }
        for pair in &pairs {
            if found.refusal.is_some() {
                break;
            }
            // A database green does not have yet is created in B2.
            if let Ok(green) = session::connect(&pair.green, "green").await {
                found.refusal = prereq::green_is_empty(&green, &pair.names.subscription)
                    .await?
                    .map(|r| {
                        if pair.main {
                            r
                        } else {
                            format!("{}: {r}", pair.db)
                        }
                    });
            }
        }
        Ok::<_, String>((found, inv))
    };
    let scrub = |text: &str| target.green.scrub(&target.blue.scrub(text));
    match sides.await {
        Err(e) => ActionReport::failed(scrub(&format!("B1: {e}")), Vec::new(), ms(started)),
        Ok((found, inv)) => {
            let mut report = match found.refusal {
                Some(refusal) => ActionReport::failed(scrub(&refusal), found.log, ms(started)),
                None => ActionReport::succeeded(found.log, ms(started)),
            };
            report.tables_without_key = found.tables_without_key;
            report.inventory = Some(inv);
            report
        }
    }
}

/// B3, whose report carries the inventory again with what the park will spend on large
/// objects (shown before the operator switches over).
async fn post_provision(target: &PgTarget, names: &Names, started: Instant) -> ActionReport {
    let scrub = |text: &str| target.green.scrub(&target.blue.scrub(text));
    let mut log = Vec::new();
    let work = async {
        let costs = phases::post_provision(target, names, &mut log).await?;
        if costs.is_empty() {
            return Ok(None);
        }
        let pairs = databases::pairs(&target.blue, &target.green, names).await?;
        let green = session::connect(&target.green, "green").await?;
        let mut inv = inventory::take(&pairs, &green).await?;
        for item in inv
            .items
            .iter_mut()
            .filter(|i| i.kind == ItemKind::LargeObjects)
        {
            // The longest prefix that fits: another database's `db:`, else the registered one's.
            if let Some((_, count, took)) = costs
                .iter()
                .filter(|(prefix, _, _)| item.name.starts_with(prefix.as_str()))
                .max_by_key(|(prefix, _, _)| prefix.len())
            {
                item.plan = format!(
                    "copied to green in B3; the park compares all {count} again and copies \
                     what changed: about {} ms plus the changes (measured after B3's copy)",
                    took.as_millis()
                );
            }
        }
        Ok::<_, String>(Some(inv))
    };
    let outcome = work.await;
    let log: Vec<String> = log.iter().map(|l| scrub(l)).collect();
    match outcome {
        Ok(inv) => {
            let mut report = ActionReport::succeeded(log, ms(started));
            report.inventory = inv;
            report
        }
        Err(e) => ActionReport::failed(scrub(&e), log, ms(started)),
    }
}

async fn switchover(
    target: &PgTarget,
    run: &RunSpec,
    names: &Names,
    record: &switchover::Record<'_>,
    started: Instant,
) -> ActionReport {
    let scrub = |text: &str| target.green.scrub(&target.blue.scrub(text));
    let Some(endpoint) = &target.endpoint else {
        let mut report = ActionReport::succeeded(
            vec!["no client endpoint is registered for this service".into()],
            ms(started),
        );
        report.outcome = ActionOutcome::Reverted {
            reason: "no client endpoint (lockstep's proxy) is registered for this service, so \
                     clients cannot be moved; nothing was fenced, blue keeps serving"
                .into(),
        };
        return report;
    };
    let plan = switchover::Plan {
        timeout: target
            .switchover_timeout
            .unwrap_or(Duration::from_secs(u64::from(
                run.config.switchover_timeout_s,
            ))),
        grace: target.drain_grace,
        lag_threshold_bytes: run.config.lag_threshold_bytes,
        long_txn_limit: Duration::from_secs(u64::from(run.config.long_txn_limit_s)),
        unlogged: run.choices.first().copied(),
    };
    let mut log = Vec::new();
    let pairs = match databases::pairs(&target.blue, &target.green, names).await {
        Ok(pairs) => pairs,
        Err(e) => {
            let mut report = ActionReport::succeeded(Vec::new(), ms(started));
            report.outcome = ActionOutcome::Reverted {
                reason: scrub(&format!("{e}; nothing was fenced, blue keeps serving")),
            };
            return report;
        }
    };
    let outcome = switchover::run(
        &target.blue,
        &target.green,
        &pairs,
        endpoint,
        names,
        &run.run_id,
        &plan,
        record,
        &mut log,
    )
    .await;
    let log: Vec<String> = log.iter().map(|l| scrub(l)).collect();
    let mut report = ActionReport::succeeded(log, ms(started));
    report.downtime_ms = outcome.downtime_ms;
    report.interrupted = outcome.interrupted;
    if let Err(reason) = outcome.result {
        report.outcome = ActionOutcome::Reverted {
            reason: scrub(&reason),
        };
    }
    report
}

/// Runs a blocking write of the action log on tokio's blocking threads.
async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, DriverError> + Send + 'static,
) -> Result<T, DriverError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DriverError(format!("driver action log: {e}")))?
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
            // The log's commits wait for the disk: off the async threads, which carry the
            // endpoint's sessions (a flush there stalled every client after a switchover).
            let (log, k, run_id) = (self.log.clone(), key.to_string(), run.run_id.clone());
            let interrupted = match off_thread(move || log.claim(&k, &run_id, action, now)).await? {
                Claim::Done(report) => return Ok(*report),
                Claim::Fresh => None,
                // Every action checks the servers for what already exists, so an action
                // interrupted by a crash is safely done again; a switchover finishes a flip
                // the lost try recorded (B9).
                Claim::Interrupted(began) => Some(began),
            };
            let record = switchover::Record {
                key,
                flips: &self.flips,
                interrupted,
            };
            let mut report = self.perform(target, run, action, &record).await;
            if action != RunAction::Switchover
                && let Some(began_at) = interrupted
            {
                report.interrupted = Some(crate::model::run::Interruption {
                    began_at,
                    parked_at: None,
                    restarted_at: None,
                    flipped: false,
                    lost_tries: 0,
                    down_ms: None,
                });
            }
            let (log, k, done) = (self.log.clone(), key.to_string(), report.clone());
            off_thread(move || log.record(&k, &done, now)).await?;
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
            let scrub = |e: String| DriverError(target.green.scrub(&target.blue.scrub(&e)));
            let pairs = databases::pairs(&target.blue, &target.green, &names)
                .await
                .map_err(scrub)?;
            let mut seen: Option<Observation> = None;
            for pair in &pairs {
                let blue: Session = session::connect(&pair.blue, "blue").await.map_err(scrub)?;
                let green = session::connect(&pair.green, "green").await;
                let one = observe::observe(&blue, green, &pair.names, now)
                    .await
                    .map_err(scrub)?;
                match &mut seen {
                    None => seen = Some(one),
                    Some(all) => observe::merge(all, one, &pair.db),
                }
            }
            seen.ok_or_else(|| DriverError("no database to observe".into()))
        }
        .boxed()
    }
}
