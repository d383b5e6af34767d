//! Starting a run: U2 gating (a newer published major; a destination waits for its source to
//! run and validate it), the runner configuration (B5 ranges) and the run's id.

use chrono::{DateTime, Utc};

use super::decide::events;
use super::{
    DEFAULT_LAG_THRESHOLD_BYTES, DEFAULT_LONG_TXN_LIMIT_S, DEFAULT_SWITCHOVER_TIMEOUT_S,
    RequestKind, RunAction, RunConfig, RunPhase, SWITCHOVER_TIMEOUT_S,
};
use crate::model::decide::Decision;
use crate::model::error::RuleError;
use crate::model::event::{EventKind, NewEvent};
use crate::model::service::{ServiceKey, ServiceType};
use crate::model::state::State;
use crate::model::version::{UpgradeKind, Version};

/// FNV-1a, for run ids every process computes alike.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl State {
    pub(super) fn start_run(
        &self,
        service: &ServiceKey,
        target: &Version,
        (timeout, lag, long_txn): (Option<i64>, Option<u64>, Option<i64>),
        auto_switchover: bool,
        now: DateTime<Utc>,
    ) -> Result<Decision, RuleError> {
        let svc = self.service(service)?;
        if svc.service_type != ServiceType::Pg {
            return Err(RuleError::rule(
                "U2",
                format!(
                    "{service} is a {} service: blue/green upgrade runs are available for pg services only",
                    svc.service_type
                ),
            ));
        }
        if let Some(run) = self.active_run(service) {
            return Err(RuleError::conflict(format!(
                "{service} already has run {} ({}, {}): follow it with `lockstep run get {}`",
                run.run_id, run.phase, run.status, run.run_id
            )));
        }
        if !svc.powered {
            return Err(RuleError::conflict(format!(
                "{service} is powered off: power it on before upgrading it"
            )));
        }
        if let Some(u) = &svc.updating {
            return Err(RuleError::conflict(format!(
                "{service} is applying {} until {}: start the run after that",
                u.target,
                u.finishes_at.format("%Y-%m-%d %H:%M UTC")
            )));
        }
        match svc.version.upgrade_kind(target) {
            None => {
                return Err(RuleError::rule(
                    "U1",
                    format!(
                        "{service} runs {} and {target} is not newer: downgrades are refused (restore from a backup instead)",
                        svc.version
                    ),
                ));
            }
            Some(UpgradeKind::Patch | UpgradeKind::Minor) => {
                return Err(RuleError::rule(
                    "U1",
                    format!(
                        "{target} is in {service}'s major {}: it applies as maintenance (`lockstep service maintenance-start --project {} {}`), not as a run",
                        svc.version.major(),
                        service.project,
                        service.name
                    ),
                ));
            }
            Some(UpgradeKind::Major) => {}
        }
        let published = self.releases_of(svc.service_type);
        if !published.iter().any(|r| &r.version == target) {
            let same: Vec<String> = published
                .iter()
                .filter(|r| r.version.major() == target.major())
                .map(|r| r.version.to_string())
                .collect();
            let known = if same.is_empty() {
                format!("no pg {} release is published", target.major())
            } else {
                format!(
                    "published pg {} releases: {}",
                    target.major(),
                    same.join(", ")
                )
            };
            return Err(RuleError::rule(
                "U2",
                format!(
                    "pg {target} is not a published release ({known}): publish it with `lockstep release publish --type pg {target}`"
                ),
            ));
        }
        self.check_pipeline_gate(service, target)?;
        let config = run_config(target, timeout, lag, long_txn, auto_switchover)?;
        let run_id = self.new_run_id(service, now);
        let key = format!("{run_id}/B1/{}/1", RunAction::Prerequisites.as_str());
        events(vec![
            NewEvent::new(
                EventKind::RunStarted {
                    run_id: run_id.clone(),
                    service: service.clone(),
                    service_type: svc.service_type,
                    from_version: svc.version.clone(),
                    config,
                },
                format!(
                    "run {run_id} started: {service} {} → {target} (blue/green)",
                    svc.version
                ),
            ),
            NewEvent::new(
                EventKind::RunPhaseStarted {
                    run_id: run_id.clone(),
                    phase: RunPhase::Prerequisites,
                    attempt: 1,
                },
                format!("run {run_id}: {} started", RunPhase::Prerequisites),
            ),
            NewEvent::new(
                EventKind::RunDriverRequested {
                    run_id: run_id.clone(),
                    key: key.clone(),
                    request: RequestKind::Act(RunAction::Prerequisites),
                },
                format!("run {run_id}: driver asked for prerequisites ({key})"),
            ),
        ])
    }

    /// U2: a run on a destination needs its source on that major, validated.
    fn check_pipeline_gate(&self, service: &ServiceKey, target: &Version) -> Result<(), RuleError> {
        let Some(step) = self.holding_step(service) else {
            return Ok(());
        };
        let major = target.major();
        let src = self.service(&step.source)?;
        if src.version.major() < major {
            return Err(RuleError::rule(
                "U2",
                format!(
                    "{service} is the destination of {} (step {}), which runs {}: upgrade {} to pg {major} and validate it first",
                    step.source, step.step_id, src.version, step.source
                ),
            ));
        }
        if step.pinned_version.major() < major {
            return Err(RuleError::rule(
                "U2",
                format!(
                    "{service} is the destination of {} (step {}), which runs {} but has not validated pg {major} (validated: {}): validate it with `lockstep step validate-for-service --project {} {}`",
                    step.source,
                    step.step_id,
                    src.version,
                    step.pinned_version,
                    step.source.project,
                    step.source.name
                ),
            ));
        }
        Ok(())
    }

    fn new_run_id(&self, service: &ServiceKey, now: DateTime<Utc>) -> String {
        let seed = format!("{service}@{}#{}", now.timestamp_millis(), self.head);
        let hex = format!("{:016x}", fnv1a(seed.as_bytes()));
        (4..=16)
            .map(|n| hex[..n].to_string())
            .find(|id| !self.runs.contains_key(id))
            .unwrap_or_else(|| format!("{hex}{}", self.runs.len()))
    }
}

fn run_config(
    target: &Version,
    timeout: Option<i64>,
    lag: Option<u64>,
    long_txn: Option<i64>,
    auto_switchover: bool,
) -> Result<RunConfig, RuleError> {
    let timeout = timeout.unwrap_or(i64::from(DEFAULT_SWITCHOVER_TIMEOUT_S));
    if !SWITCHOVER_TIMEOUT_S.contains(&timeout) {
        return Err(RuleError::rule(
            "B5",
            format!(
                "the switchover timeout must be 30 s to 3600 s (default 300 s), not {timeout} s"
            ),
        ));
    }
    let lag = lag.unwrap_or(DEFAULT_LAG_THRESHOLD_BYTES);
    if lag == 0 {
        return Err(RuleError::rule(
            "B5",
            "the lag threshold must be more than 0 bytes (default 200 kB)",
        ));
    }
    let long_txn = long_txn.unwrap_or(i64::from(DEFAULT_LONG_TXN_LIMIT_S));
    if !(1..=3600).contains(&long_txn) {
        return Err(RuleError::rule(
            "B5",
            format!(
                "the long write transaction limit must be 1 s to 3600 s (default 30 s), not {long_txn} s"
            ),
        ));
    }
    Ok(RunConfig {
        target_version: target.clone(),
        switchover_timeout_s: u32::try_from(timeout).unwrap_or(DEFAULT_SWITCHOVER_TIMEOUT_S),
        lag_threshold_bytes: lag,
        long_txn_limit_s: u32::try_from(long_txn).unwrap_or(DEFAULT_LONG_TXN_LIMIT_S),
        auto_switchover,
        vacuum: true,
        pause_ingestion: true,
    })
}
