//! Deciding run commands: start (U2), driver reports, phase completion, switchover (B5),
//! rollback (B8), resume (B9) and simulator faults. Every refusal names its rule.

use chrono::{DateTime, Duration, Utc};

use super::{
    ActionOutcome, ActionReport, Fault, Observation, PhaseOutcome, RequestKind, Run, RunAction,
    RunPhase, RunStatus, SubscriptionHealth, format_bytes,
};
use crate::model::command::Command;
use crate::model::decide::Decision;
use crate::model::error::RuleError;
use crate::model::event::{EventKind, NewEvent};
use crate::model::state::State;

pub(super) fn events(events: Vec<NewEvent>) -> Result<Decision, RuleError> {
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
            Command::ChooseForRun {
                run_id,
                value,
                comment,
            } => self.choose(run_id, *value, comment.as_deref()),
            Command::ResumeRun { run_id } => self.resume(run_id),
            Command::SimFault {
                service,
                fault,
                clear,
            } => self.sim_fault(service, *fault, *clear),
            _ => return None,
        })
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
        let verb = match (&report.outcome, finishes_at > now) {
            (ActionOutcome::Succeeded, true) => format!(
                "under way, done at {}",
                finishes_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            (ActionOutcome::Succeeded, false) => "done".to_string(),
            (ActionOutcome::Failed { error }, _) => format!("failed: {error}"),
            (ActionOutcome::Reverted { reason }, _) => format!("reverted: {reason}"),
        };
        let replay = if report.replayed {
            " (already performed: recorded report, not repeated)"
        } else {
            ""
        };
        let mut out = Vec::new();
        if let Some(interruption) = &report.interrupted {
            out.push(NewEvent::new(
                EventKind::RunActionInterrupted {
                    run_id: run_id.to_string(),
                    key: key.to_string(),
                    interruption: interruption.clone(),
                },
                format!("run {run_id}: {key}: {}", interruption.describe()),
            ));
        }
        out.push(NewEvent::new(
            EventKind::RunActionReported {
                run_id: run_id.to_string(),
                key: key.to_string(),
                report: report.clone(),
                finishes_at,
            },
            format!("run {run_id}: {key} {verb}{replay}"),
        ));
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
        if let Some(why) = replication_failed(run, observation) {
            out.extend(rollback_events(run, why, true));
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

/// B8: what makes a replicating run roll back by itself: green lost, or lag that never came
/// under its threshold within the catch-up limit. A broken subscription (DDL green could not
/// apply, say) does not: the run waits in B4 with the action needed (B4), since an operator
/// can often mend it, and a rollback throws green away.
fn replication_failed(run: &Run, o: &Observation) -> Option<String> {
    match o.subscription {
        SubscriptionHealth::Unreachable => {
            return Some("green lost: its subscription is unreachable".into());
        }
        SubscriptionHealth::Broken
        | SubscriptionHealth::Streaming
        | SubscriptionHealth::Syncing => {}
    }
    let started = run.current_record()?.started_at;
    if o.at - started < chrono::Duration::seconds(super::LAG_CATCH_UP_LIMIT_S) {
        return None;
    }
    let threshold = run.config.lag_threshold_bytes;
    let caught_up = run
        .lag
        .values()
        .flatten()
        .chain(&o.samples)
        .any(|s| s.at >= started && s.lag_bytes < threshold);
    (!caught_up).then(|| {
        format!(
            "lag never came under {} within {} h of replication",
            format_bytes(threshold),
            super::LAG_CATCH_UP_LIMIT_S / 3600
        )
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
