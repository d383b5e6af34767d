//! Deciding run commands: start (U2), driver reports, phase completion, switchover (B5),
//! rollback (B8), resume (B9) and simulator faults. Every refusal names its rule.

use chrono::{DateTime, Duration, Utc};

use super::{
    ActionOutcome, ActionReport, DEFAULT_LAG_THRESHOLD_BYTES, DEFAULT_LONG_TXN_LIMIT_S,
    DEFAULT_SWITCHOVER_TIMEOUT_S, Fault, Observation, PhaseOutcome, RequestKind, Run, RunAction,
    RunConfig, RunPhase, RunStatus, SWITCHOVER_TIMEOUT_S, SubscriptionHealth, format_bytes,
};
use crate::model::command::Command;
use crate::model::decide::Decision;
use crate::model::error::RuleError;
use crate::model::event::{EventKind, NewEvent};
use crate::model::service::{ServiceKey, ServiceType};
use crate::model::state::State;
use crate::model::version::{UpgradeKind, Version};

fn events(events: Vec<NewEvent>) -> Result<Decision, RuleError> {
    Ok(Decision {
        events,
        notice: None,
    })
}

fn nothing(notice: impl Into<String>) -> Result<Decision, RuleError> {
    Ok(Decision {
        events: Vec::new(),
        notice: Some(notice.into()),
    })
}

/// FNV-1a, for run ids every process computes alike.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl State {
    /// Looks a run up, or says how to find the right id.
    pub fn run(&self, run_id: &str) -> Result<&Run, RuleError> {
        self.runs.get(run_id).ok_or_else(|| {
            RuleError::not_found(format!(
                "no run '{run_id}': see `lockstep run list` for the runs that exist"
            ))
        })
    }

    /// Decides a run or simulator command; `None` for other commands.
    pub(crate) fn decide_run(
        &self,
        command: &Command,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Option<Result<Decision, RuleError>> {
        Some(match command {
            Command::StartRun {
                service,
                target_version,
                switchover_timeout_s,
                lag_threshold_bytes,
                long_txn_limit_s,
                auto_switchover,
            } => self.start_run(
                service,
                target_version,
                (
                    *switchover_timeout_s,
                    *lag_threshold_bytes,
                    *long_txn_limit_s,
                ),
                *auto_switchover,
                now,
            ),
            Command::ReportRunAction {
                run_id,
                key,
                started_at,
                report,
            } => self.report_action(run_id, key, *started_at, report, now),
            Command::ReportObservation {
                run_id,
                key,
                observation,
            } => self.report_observation(run_id, key, observation),
            Command::CompleteRunAction { run_id } => match self.run(run_id) {
                Ok(run) => match &run.completion {
                    Some(c) if run.pending.is_none() && c.finishes_at <= now => {
                        events(self.completion_events(run, &c.report))
                    }
                    _ => nothing(format!("run {run_id} has no action finishing now")),
                },
                Err(e) => Err(e),
            },
            Command::ObserveRun { run_id } => match self.run(run_id) {
                Ok(run) if run.phase == RunPhase::Replicating && run.pending.is_none() => {
                    events(vec![observe_request(run)])
                }
                Ok(_) => nothing(format!("run {run_id} is not replicating")),
                Err(e) => Err(e),
            },
            Command::Switchover {
                run_id,
                force,
                comment,
            } => self.switchover(run_id, *force, comment.as_deref(), actor),
            Command::Rollback { run_id } => self.rollback(run_id, actor),
            Command::ResumeRun { run_id } => self.resume(run_id),
            Command::SimFault {
                service,
                fault,
                clear,
            } => self.sim_fault(service, *fault, *clear),
            _ => return None,
        })
    }

    fn start_run(
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

    fn report_action(
        &self,
        run_id: &str,
        key: &str,
        started_at: DateTime<Utc>,
        report: &ActionReport,
        now: DateTime<Utc>,
    ) -> Result<Decision, RuleError> {
        let run = self.run(run_id)?;
        let awaited = run
            .pending
            .as_ref()
            .is_some_and(|p| p.key == key && matches!(p.request, RequestKind::Act(_)));
        if !awaited {
            return nothing(format!(
                "run {run_id}: {key} is not awaited (already reported or superseded)"
            ));
        }
        let took = Duration::milliseconds(i64::try_from(report.took_ms).unwrap_or(i64::MAX / 2));
        let finishes_at = (started_at + took).max(now);
        let verb = if report.is_success() { "done" } else { "ended" };
        let replay = if report.replayed {
            " (already performed: recorded report, not repeated)"
        } else {
            ""
        };
        let mut out = vec![NewEvent::new(
            EventKind::RunActionReported {
                run_id: run_id.to_string(),
                key: key.to_string(),
                report: report.clone(),
                finishes_at,
            },
            format!("run {run_id}: {key} {verb}{replay}"),
        )];
        if finishes_at <= now {
            out.extend(self.completion_events(run, report));
        }
        events(out)
    }

    fn report_observation(
        &self,
        run_id: &str,
        key: &str,
        observation: &Observation,
    ) -> Result<Decision, RuleError> {
        let run = self.run(run_id)?;
        let awaited = run
            .pending
            .as_ref()
            .is_some_and(|p| p.key == key && p.request == RequestKind::Observe);
        if !awaited {
            return nothing(format!("run {run_id}: observation {key} is not awaited"));
        }
        let lag = format_bytes(observation.max_lag());
        let mut out = vec![NewEvent::new(
            EventKind::ReplicationObserved {
                run_id: run_id.to_string(),
                key: key.to_string(),
                observation: observation.clone(),
            },
            format!(
                "run {run_id}: lag {lag}, subscription {}",
                observation.subscription.as_str()
            ),
        )];
        if observation.subscription == SubscriptionHealth::Unreachable {
            out.extend(rollback_events(
                run,
                "green lost: its subscription is unreachable".into(),
                true,
            ));
        } else if run.config.auto_switchover
            && super::observe::guardrails(Some(observation), &run.config)
                .iter()
                .all(|g| g.ok)
        {
            out.extend(switchover_events(
                run,
                "every guardrail green (auto-switchover)",
            ));
        }
        events(out)
    }

    /// What happens when the current action's time is up (B1–B8 transitions).
    fn completion_events(&self, run: &Run, report: &ActionReport) -> Vec<NewEvent> {
        let id = &run.run_id;
        if run.rollback.is_some() {
            return match &report.outcome {
                ActionOutcome::Succeeded => {
                    let mut out = vec![finished(run, RunStatus::RolledBack)];
                    out.extend(self.clear_faults(run, &[Fault::GreenLost]));
                    out
                }
                ActionOutcome::Failed { error } | ActionOutcome::Reverted { reason: error } => {
                    vec![NewEvent::new(
                        EventKind::RunRollbackFailed {
                            run_id: id.clone(),
                            error: error.clone(),
                        },
                        format!("run {id}: rollback failed: {error}; resume to retry"),
                    )]
                }
            };
        }
        let phase = run.phase;
        let attempt = run.attempt();
        match &report.outcome {
            ActionOutcome::Succeeded => {
                let mut out = vec![phase_finished(run, PhaseOutcome::Succeeded)];
                match phase {
                    RunPhase::Switchover => {
                        out.push(NewEvent::new(
                            EventKind::UpdateApplied {
                                service: run.service.clone(),
                                from: run.from_version.clone(),
                                to: run.config.target_version.clone(),
                            },
                            format!(
                                "{}: traffic on green, now {} (run {id})",
                                run.service, run.config.target_version
                            ),
                        ));
                        out.extend(start_phase(run, RunPhase::PostSwitchover, 1));
                    }
                    RunPhase::Cleanup => out.push(finished(run, RunStatus::Completed)),
                    _ => {
                        if let Some(next) = phase.next() {
                            out.extend(start_phase(run, next, 1));
                        }
                    }
                }
                out
            }
            // Only a switchover reverts; anywhere else a "reverted" answer is a failure.
            ActionOutcome::Reverted { reason: error } | ActionOutcome::Failed { error }
                if phase == RunPhase::Switchover =>
            {
                self.revert_events(run, error, report)
            }
            ActionOutcome::Failed { error } | ActionOutcome::Reverted { reason: error }
                if !phase.after_switchover() =>
            {
                let mut out = vec![phase_finished(run, PhaseOutcome::Failed)];
                out.extend(rollback_events(
                    run,
                    format!("{phase} failed (attempt {attempt}): {error}"),
                    true,
                ));
                out
            }
            ActionOutcome::Failed { .. } | ActionOutcome::Reverted { .. } => {
                vec![phase_finished(run, PhaseOutcome::Failed)]
            }
        }
    }

    fn revert_events(&self, run: &Run, why: &str, report: &ActionReport) -> Vec<NewEvent> {
        let id = &run.run_id;
        let mut out = vec![
            phase_finished(run, PhaseOutcome::Reverted),
            NewEvent::new(
                EventKind::SwitchoverReverted {
                    run_id: id.clone(),
                    why: why.to_string(),
                    downtime_ms: report.downtime_ms,
                },
                format!("run {id}: switchover reverted ({why}); blue keeps serving"),
            ),
        ];
        let b4 = run
            .phases
            .iter()
            .filter(|r| r.phase == RunPhase::Replicating)
            .count() as u32;
        out.extend(start_phase(run, RunPhase::Replicating, b4 + 1));
        out.extend(self.clear_faults(run, &[Fault::SlowSwitchover]));
        out
    }

    fn clear_faults(&self, run: &Run, which: &[Fault]) -> Vec<NewEvent> {
        let Some(set) = self.faults.get(&run.service) else {
            return Vec::new();
        };
        which
            .iter()
            .filter(|f| set.contains(f))
            .map(|f| {
                NewEvent::new(
                    EventKind::SimFaultCleared {
                        service: run.service.clone(),
                        fault: *f,
                    },
                    format!(
                        "{}: simulated fault {f} happened and is cleared",
                        run.service
                    ),
                )
            })
            .collect()
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

pub(super) fn phase_finished(run: &Run, outcome: PhaseOutcome) -> NewEvent {
    let word = match outcome {
        PhaseOutcome::Succeeded => "done",
        PhaseOutcome::Failed => "failed",
        PhaseOutcome::Reverted => "reverted",
        PhaseOutcome::RolledBack => "rolled back",
    };
    NewEvent::new(
        EventKind::RunPhaseFinished {
            run_id: run.run_id.clone(),
            phase: run.phase,
            attempt: run.attempt(),
            outcome,
        },
        format!("run {}: {} {word}", run.run_id, run.phase),
    )
}

pub(super) fn start_phase(run: &Run, phase: RunPhase, attempt: u32) -> Vec<NewEvent> {
    let id = &run.run_id;
    let mut out = vec![NewEvent::new(
        EventKind::RunPhaseStarted {
            run_id: id.clone(),
            phase,
            attempt,
        },
        format!("run {id}: {phase} started{}", again(attempt)),
    )];
    match phase.action() {
        Some(action) => out.push(act_request(run, phase, action, attempt)),
        None => out.push(observe_request(run)),
    }
    out
}

fn again(attempt: u32) -> String {
    if attempt > 1 {
        format!(" (attempt {attempt})")
    } else {
        String::new()
    }
}

fn act_request(run: &Run, phase: RunPhase, action: RunAction, attempt: u32) -> NewEvent {
    let key = run.action_key(phase.id(), action, attempt);
    NewEvent::new(
        EventKind::RunDriverRequested {
            run_id: run.run_id.clone(),
            key: key.clone(),
            request: RequestKind::Act(action),
        },
        format!(
            "run {}: driver asked for {} ({key})",
            run.run_id,
            action.as_str()
        ),
    )
}

fn observe_request(run: &Run) -> NewEvent {
    let key = format!("{}/B4/observe/{}", run.run_id, run.observations + 1);
    NewEvent::new(
        EventKind::RunDriverRequested {
            run_id: run.run_id.clone(),
            key: key.clone(),
            request: RequestKind::Observe,
        },
        format!("run {}: replication observation requested", run.run_id),
    )
}

pub(super) fn rollback_events(run: &Run, why: String, automatic: bool) -> Vec<NewEvent> {
    let id = &run.run_id;
    let key = run.action_key("B8", RunAction::Rollback, run.rollback_attempts + 1);
    let who = if automatic { "automatic " } else { "" };
    vec![
        NewEvent::new(
            EventKind::RunRollbackStarted {
                run_id: id.clone(),
                why: why.clone(),
                automatic,
            },
            format!("run {id}: {who}rollback (B8): {why}; blue keeps serving"),
        ),
        NewEvent::new(
            EventKind::RunDriverRequested {
                run_id: id.clone(),
                key: key.clone(),
                request: RequestKind::Act(RunAction::Rollback),
            },
            format!("run {id}: driver asked for rollback ({key})"),
        ),
    ]
}

pub(super) fn switchover_events(run: &Run, why: &str) -> Vec<NewEvent> {
    let mut out = vec![phase_finished(run, PhaseOutcome::Succeeded)];
    let mut start = start_phase(run, RunPhase::Switchover, run.switchover_attempts + 1);
    if let Some(first) = start.first_mut() {
        first.reason = format!("{}: {why}", first.reason);
    }
    out.extend(start);
    out
}

pub(super) fn finished(run: &Run, status: RunStatus) -> NewEvent {
    let id = &run.run_id;
    let downtime = run.total_downtime_ms();
    let text = match status {
        RunStatus::Completed => format!(
            "run {id} completed: {} on {}, total downtime {}",
            run.service,
            run.config.target_version,
            downtime.map_or("—".into(), |ms| format!("{:.2} s", ms as f64 / 1000.0))
        ),
        _ => format!(
            "run {id} rolled back: {} stays on {}",
            run.service, run.from_version
        ),
    };
    NewEvent::new(
        EventKind::RunFinished {
            run_id: id.clone(),
            service: run.service.clone(),
            status,
            total_downtime_ms: downtime,
        },
        text,
    )
}
