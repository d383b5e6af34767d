//! What operators do to a run: switch over (B5), roll back (B8), resume (B9), inject faults.

use super::decide::{rollback_events, start_phase, switchover_events};
use super::{Fault, RunPhase, RunStatus};
use crate::model::decide::Decision;
use crate::model::error::RuleError;
use crate::model::event::{EventKind, NewEvent};
use crate::model::service::ServiceKey;
use crate::model::state::State;

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

impl State {
    pub(super) fn switchover(
        &self,
        run_id: &str,
        force: bool,
        comment: Option<&str>,
        actor: &str,
    ) -> Result<Decision, RuleError> {
        let run = self.run(run_id)?;
        if run.status.is_finished() {
            return Err(RuleError::rule(
                "B5",
                format!(
                    "run {run_id} is {}: there is nothing to switch over",
                    run.status
                ),
            ));
        }
        if run.rollback.is_some() {
            return Err(RuleError::rule(
                "B8",
                format!("run {run_id} is rolling back: it cannot switch over any more"),
            ));
        }
        match run.phase {
            RunPhase::Replicating => {}
            RunPhase::Switchover => {
                return nothing(format!(
                    "run {run_id} is already switching over (attempt {})",
                    run.switchover_attempts
                ));
            }
            p if p < RunPhase::Replicating => {
                return Err(RuleError::rule(
                    "B5",
                    format!(
                        "run {run_id} is in {p}: the switchover comes after {}, once green follows blue",
                        RunPhase::Replicating
                    ),
                ));
            }
            p => {
                return Err(RuleError::rule(
                    "B5",
                    format!("run {run_id} already switched over: it is in {p}"),
                ));
            }
        }
        let red: Vec<_> = run.guardrails().into_iter().filter(|g| !g.ok).collect();
        if red.is_empty() {
            return events(switchover_events(
                run,
                &format!("requested by {actor}, guardrails all green"),
            ));
        }
        let names: Vec<String> = red.iter().map(|g| g.name.clone()).collect();
        let details: Vec<String> = red
            .iter()
            .map(|g| format!("{} ({})", g.name, g.detail))
            .collect();
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        match (force, comment) {
            (false, _) => Err(RuleError::rule(
                "B5",
                format!(
                    "switchover of run {run_id} refused: red guardrails: {}. Wait for them to turn green, roll back with `lockstep run rollback {run_id}`, or force it with --force --comment \"why\"",
                    details.join("; ")
                ),
            )),
            (true, None) => Err(RuleError::rule(
                "B5",
                format!(
                    "forcing the switchover of run {run_id} past red guardrails ({}) needs --comment saying why",
                    names.join(", ")
                ),
            )),
            (true, Some(comment)) => {
                let mut out = vec![NewEvent::new(
                    EventKind::SwitchoverForced {
                        run_id: run_id.to_string(),
                        red: names.clone(),
                        comment: comment.to_string(),
                    },
                    format!(
                        "run {run_id}: switchover forced by {actor} past red guardrails {}: \"{comment}\"",
                        names.join(", ")
                    ),
                )];
                out.extend(switchover_events(run, &format!("forced by {actor}")));
                events(out)
            }
        }
    }

    pub(super) fn rollback(&self, run_id: &str, actor: &str) -> Result<Decision, RuleError> {
        let run = self.run(run_id)?;
        if run.status.is_finished() {
            return Err(RuleError::rule(
                "B8",
                format!(
                    "run {run_id} is already {}: nothing to roll back",
                    run.status
                ),
            ));
        }
        if run.rollback.is_some() {
            if run.status == RunStatus::Failed {
                return self.resume(run_id);
            }
            return nothing(format!("run {run_id} is already rolling back"));
        }
        if run.phase.after_switchover() {
            return Err(RuleError::rule(
                "B8",
                format!(
                    "run {run_id} switched over to {}: a rollback is only possible before the switchover; go back with a new run (or reverse replication where available)",
                    run.config.target_version
                ),
            ));
        }
        if run.phase == RunPhase::Switchover {
            return Err(RuleError::rule(
                "B8",
                format!(
                    "run {run_id} is switching over: it reverts by itself on failure or after {} s; if lockstep stopped mid-switchover, its fence ended with it (blue takes writes) unless the flip was recorded (then green serves): start `lockstep serve` again and the switchover goes on; roll back once it is back in {}",
                    run.config.switchover_timeout_s,
                    RunPhase::Replicating
                ),
            ));
        }
        events(rollback_events(run, format!("requested by {actor}"), false))
    }

    pub(super) fn choose(
        &self,
        run_id: &str,
        value: super::ChoiceValue,
        comment: Option<&str>,
    ) -> Result<Decision, RuleError> {
        let run = self.run(run_id)?;
        let kind = value.settles();
        if run.status.is_finished() || run.phase > RunPhase::Replicating {
            return Err(RuleError::rule(
                "B13",
                format!(
                    "run {run_id} is past {}: choices are made before the switchover",
                    RunPhase::Replicating
                ),
            ));
        }
        let Some(inventory) = &run.inventory else {
            return Err(RuleError::rule(
                "B13",
                format!(
                    "run {run_id} has no inventory yet ({} takes it): choose once `lockstep run get {run_id}` lists what the run cannot carry",
                    RunPhase::Prerequisites
                ),
            ));
        };
        let names = inventory.names(kind);
        if names.is_empty() {
            return Err(RuleError::rule(
                "B13",
                format!(
                    "run {run_id} found no {} on blue: there is nothing to choose for",
                    kind.label()
                ),
            ));
        }
        let Some(comment) = comment.map(str::trim).filter(|c| !c.is_empty()) else {
            return Err(RuleError::rule(
                "B13",
                format!(
                    "choosing '{value}' for {} of run {run_id} needs --comment saying why (it is recorded with the choice)",
                    names.join(", ")
                ),
            ));
        };
        if super::choice_for(&run.choices, kind).is_some_and(|c| c.value == value) {
            return nothing(format!(
                "run {run_id}: {} already chosen '{value}'",
                kind.label()
            ));
        }
        events(vec![NewEvent::new(
            EventKind::RunChoiceRecorded {
                run_id: run_id.to_string(),
                value,
                comment: comment.to_string(),
            },
            format!(
                "run {run_id}: {} {}: {} (\"{comment}\")",
                kind.label(),
                names.join(", "),
                value.plan()
            ),
        )])
    }

    pub(super) fn resume(&self, run_id: &str) -> Result<Decision, RuleError> {
        let run = self.run(run_id)?;
        if run.status.is_finished() {
            return Err(RuleError::rule(
                "B9",
                format!(
                    "run {run_id} is {}: nothing to resume (start a new run instead)",
                    run.status
                ),
            ));
        }
        let resumed = |key: Option<String>, what: String| {
            NewEvent::new(
                EventKind::RunResumed {
                    run_id: run_id.to_string(),
                    key,
                },
                format!("run {run_id} resumed: {what}"),
            )
        };
        if run.status == RunStatus::Failed {
            if run.rollback.is_some() {
                let mut out = vec![resumed(None, "retrying the rollback".into())];
                out.extend(rollback_events(
                    run,
                    run.rollback.clone().unwrap_or_default(),
                    false,
                ));
                return events(out);
            }
            let attempt = run.attempt() + 1;
            let mut out = vec![resumed(
                None,
                format!("retrying {} (attempt {attempt})", run.phase),
            )];
            out.extend(start_phase(run, run.phase, attempt));
            return events(out);
        }
        if let Some(p) = &run.pending {
            let mut out = vec![resumed(
                Some(p.key.clone()),
                format!(
                    "{} handed to the driver again; it is not repeated if it was done",
                    p.key
                ),
            )];
            out.push(NewEvent::new(
                EventKind::RunDriverRequested {
                    run_id: run_id.to_string(),
                    key: p.key.clone(),
                    request: p.request,
                },
                format!("run {run_id}: driver asked again for {}", p.key),
            ));
            return events(out);
        }
        let next = match &run.completion {
            Some(c) => format!(
                "{} ends at {}",
                run.phase,
                c.finishes_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None => format!("{} is {}", run.phase, run.status),
        };
        nothing(format!(
            "run {run_id} is not stuck ({next}): nothing to resume"
        ))
    }

    pub(super) fn sim_fault(
        &self,
        service: &ServiceKey,
        fault: Fault,
        clear: bool,
    ) -> Result<Decision, RuleError> {
        self.service(service)?;
        let present = self
            .faults
            .get(service)
            .is_some_and(|set| set.contains(&fault));
        match (clear, present) {
            (true, false) => nothing(format!("{service} has no {fault} fault")),
            (false, true) => nothing(format!("{service} already has the {fault} fault")),
            (true, true) => events(vec![NewEvent::new(
                EventKind::SimFaultCleared {
                    service: service.clone(),
                    fault,
                },
                format!("{service}: simulated fault {fault} cleared"),
            )]),
            (false, false) => events(vec![NewEvent::new(
                EventKind::SimFaultInjected {
                    service: service.clone(),
                    fault,
                },
                format!("{service}: simulated fault {fault} injected"),
            )]),
        }
    }
}
