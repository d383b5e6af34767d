//! Folding run events into the state.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{
    Completion, DdlChange, DriverRequest, Forced, LAG_WINDOW, Observation, PhaseOutcome,
    PhaseRecord, RequestKind, Revert, Run, RunPhase, RunStatus,
};
use crate::model::event::{Event, EventKind};
use crate::model::state::State;

impl State {
    /// Folds one run (or simulator) event; other events are ignored here.
    pub(crate) fn apply_run(&mut self, event: &Event) {
        let at = event.at;
        match &event.kind {
            EventKind::RunStarted {
                run_id,
                service,
                service_type,
                from_version,
                config,
            } => {
                self.runs.insert(
                    run_id.clone(),
                    Run {
                        run_id: run_id.clone(),
                        service: service.clone(),
                        service_type: *service_type,
                        from_version: from_version.clone(),
                        config: config.clone(),
                        started_by: event.actor.clone(),
                        started_at: at,
                        finished_at: None,
                        status: RunStatus::Active,
                        phase: RunPhase::Prerequisites,
                        phases: Vec::new(),
                        rollback: None,
                        rollback_attempts: 0,
                        pending: None,
                        completion: None,
                        observations: 0,
                        latest: None,
                        lag: BTreeMap::new(),
                        ddl: Vec::new(),
                        extensions_disabled: Vec::new(),
                        tables_without_key: Vec::new(),
                        inventory: None,
                        choices: Vec::new(),
                        switchover_attempts: 0,
                        reverts: Vec::new(),
                        forced: None,
                        switchover_downtime_ms: None,
                        interruptions: Vec::new(),
                    },
                );
            }
            EventKind::SimFaultInjected { service, fault } => {
                self.faults
                    .entry(service.clone())
                    .or_default()
                    .insert(*fault);
            }
            EventKind::SimFaultCleared { service, fault } => {
                if let Some(set) = self.faults.get_mut(service) {
                    set.remove(fault);
                    if set.is_empty() {
                        self.faults.remove(service);
                    }
                }
            }
            kind => {
                if let Some(run) = kind.run_id().and_then(|id| self.runs.get_mut(id)) {
                    fold(run, event.actor.as_str(), at, kind);
                }
            }
        }
    }
}

fn fold(run: &mut Run, actor: &str, at: DateTime<Utc>, kind: &EventKind) {
    match kind {
        EventKind::RunPhaseStarted { phase, attempt, .. } => {
            run.phase = *phase;
            run.status = RunStatus::Active;
            run.completion = None;
            if *phase == RunPhase::Switchover {
                run.switchover_attempts += 1;
            }
            run.phases.push(PhaseRecord {
                phase: *phase,
                attempt: *attempt,
                started_at: at,
                ended_at: None,
                outcome: None,
                log: Vec::new(),
            });
        }
        EventKind::RunDriverRequested { key, request, .. } => {
            if *request == RequestKind::Observe
                && run.pending.as_ref().is_none_or(|p| &p.key != key)
            {
                run.observations += 1;
            }
            if *request == RequestKind::Act(super::RunAction::Rollback)
                && run.pending.as_ref().is_none_or(|p| &p.key != key)
            {
                run.rollback_attempts += 1;
            }
            run.pending = Some(DriverRequest {
                key: key.clone(),
                request: *request,
                requested_at: at,
            });
        }
        EventKind::RunActionInterrupted {
            key, interruption, ..
        } => {
            run.interruptions.push((key.clone(), interruption.clone()));
        }
        EventKind::RunActionReported {
            key,
            report,
            finishes_at,
            ..
        } => {
            run.pending = None;
            if run.rollback.is_none()
                && let Some(record) = open_record(run)
            {
                record.log.extend(report.log.iter().cloned());
            }
            if !report.extensions_disabled.is_empty() {
                run.extensions_disabled = report.extensions_disabled.clone();
            }
            if !report.tables_without_key.is_empty() {
                run.tables_without_key = report.tables_without_key.clone();
            }
            if let Some(inventory) = &report.inventory {
                run.inventory = Some(inventory.clone());
            }
            run.completion = Some(Completion {
                key: key.clone(),
                finishes_at: *finishes_at,
                report: report.clone(),
            });
        }
        EventKind::RunPhaseFinished {
            phase,
            attempt,
            outcome,
            ..
        } => {
            if *phase == RunPhase::Switchover && *outcome == PhaseOutcome::Succeeded {
                run.switchover_downtime_ms =
                    run.completion.as_ref().and_then(|c| c.report.downtime_ms);
            }
            if let Some(r) = run
                .phases
                .iter_mut()
                .rev()
                .find(|r| r.phase == *phase && r.attempt == *attempt)
            {
                r.ended_at = Some(at);
                r.outcome = Some(*outcome);
            }
            run.completion = None;
            if *outcome == PhaseOutcome::Failed {
                run.status = RunStatus::Failed;
            }
        }
        EventKind::ReplicationObserved { observation, .. } => {
            run.pending = None;
            observe(run, observation);
        }
        EventKind::RunChoiceRecorded { value, comment, .. } => {
            run.choices.push(super::Choice {
                value: *value,
                by: actor.to_string(),
                at,
                comment: comment.clone(),
            });
        }
        EventKind::SwitchoverForced { red, comment, .. } => {
            run.forced = Some(Forced {
                by: actor.to_string(),
                comment: comment.clone(),
                red: red.clone(),
            });
        }
        EventKind::SwitchoverReverted {
            why, downtime_ms, ..
        } => {
            run.reverts.push(Revert {
                at,
                reason: why.clone(),
                downtime_ms: *downtime_ms,
            });
        }
        EventKind::RunRollbackStarted { why, .. } => {
            run.rollback = Some(why.clone());
            run.status = RunStatus::Active;
            run.completion = None;
            if let Some(record) = open_record(run) {
                record.ended_at = Some(at);
                record.outcome = Some(PhaseOutcome::RolledBack);
            }
        }
        EventKind::RunRollbackFailed { .. } => {
            run.completion = None;
            run.status = RunStatus::Failed;
        }
        EventKind::RunResumed { .. } if run.status == RunStatus::Failed => {
            run.status = RunStatus::Active;
        }
        EventKind::RunFinished { status, .. } => {
            run.status = *status;
            run.finished_at = Some(at);
            run.pending = None;
            run.completion = None;
        }
        _ => {}
    }
}

fn open_record(run: &mut Run) -> Option<&mut PhaseRecord> {
    run.phases.iter_mut().rev().find(|r| r.ended_at.is_none())
}

fn observe(run: &mut Run, o: &Observation) {
    for s in &o.samples {
        let slot = run.lag.entry(s.slot.clone()).or_default();
        if slot.last().is_some_and(|last| last.at >= s.at) {
            continue;
        }
        slot.push(s.clone());
        if slot.len() > LAG_WINDOW {
            let extra = slot.len() - LAG_WINDOW;
            slot.drain(..extra);
        }
    }
    for d in run.ddl.iter_mut().filter(|d| d.in_flight) {
        d.in_flight = o
            .ddl
            .iter()
            .any(|seen| seen.statement == d.statement && seen.at == d.at && seen.in_flight);
    }
    for seen in &o.ddl {
        if !run
            .ddl
            .iter()
            .any(|d: &DdlChange| d.statement == seen.statement && d.at == seen.at)
        {
            run.ddl.push(seen.clone());
        }
    }
    run.latest = Some(o.clone());
    if run.phase == RunPhase::Replicating
        && run.rollback.is_none()
        && matches!(
            run.status,
            RunStatus::Active | RunStatus::WaitingForOperator
        )
    {
        let ready = run.guardrails().iter().all(|g| g.ok);
        run.status = if ready && !run.config.auto_switchover {
            RunStatus::WaitingForOperator
        } else {
            RunStatus::Active
        };
    }
}
