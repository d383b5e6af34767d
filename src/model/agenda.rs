//! The agenda: every instant at which lockstep must act by itself (auto-validations, maintenance
//! windows, updates finishing), kept up to date event by event so finding the next one is cheap.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap;

use chrono::{DateTime, Utc};

use super::command::Command;
use super::event::{EventKind, StepId};
use super::run::{RunId, RunPhase};
use super::service::{Service, ServiceKey};
use super::state::State;

/// Something lockstep does by itself at a given instant. At one instant, updates finish first,
/// then auto-validations fire, then maintenance windows open (so a window opening at the very
/// instant a validation fires already sees the validated version).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Due {
    /// A maintenance update finishes.
    FinishUpdate(ServiceKey),
    /// A step's auto-validation delay runs out (V3).
    AutoValidate(StepId),
    /// A service's maintenance window opens while it has a pending update.
    Window(ServiceKey),
    /// A run's reported action is done: its phase ends (B1–B8).
    RunComplete(RunId),
    /// A replicating run observes its replication again (B4).
    RunObserve(RunId),
    /// A node timeout runs out, or a failover/switchover stage is done (F1–F4).
    Fleet(ServiceKey),
}

impl Due {
    /// The command the scheduler issues for it.
    #[must_use]
    pub fn command(&self) -> Command {
        match self {
            Due::FinishUpdate(service) => Command::FinishUpdate {
                service: service.clone(),
            },
            Due::AutoValidate(step_id) => Command::AutoValidate { step_id: *step_id },
            Due::Window(service) => Command::MaintenanceWindowOpened {
                service: service.clone(),
            },
            Due::RunComplete(run_id) => Command::CompleteRunAction {
                run_id: run_id.clone(),
            },
            Due::RunObserve(run_id) => Command::ObserveRun {
                run_id: run_id.clone(),
            },
            Due::Fleet(service) => Command::AdvanceFleet {
                service: service.clone(),
            },
        }
    }
}

/// Every pending deadline, ordered by time.
#[derive(Debug, Clone, Default)]
pub struct Agenda {
    by_time: BTreeSet<(DateTime<Utc>, Due)>,
    at: FxHashMap<Due, DateTime<Utc>>,
}

impl Agenda {
    /// Builds the agenda of `state`; windows are looked for strictly after `watermark`.
    #[must_use]
    pub fn build(state: &State, watermark: DateTime<Utc>) -> Self {
        let mut agenda = Agenda::default();
        // Computed from borrowed data; a deadline's key is cloned only when there is one.
        for svc in state.services.values() {
            if let Some(at) = finish_at(svc) {
                agenda.insert(Due::FinishUpdate(svc.key.clone()), at);
            }
            if let Some(at) = window_at(state, svc, watermark) {
                agenda.insert(Due::Window(svc.key.clone()), at);
            }
            if let Some(at) = state.fleet_action_at(svc) {
                agenda.insert(Due::Fleet(svc.key.clone()), at);
            }
        }
        for step in state.steps.values() {
            if let Some(at) = state.auto_validation_at(step) {
                agenda.insert(Due::AutoValidate(step.step_id), at);
            }
        }
        for id in state.runs.keys() {
            agenda.refresh(state, Due::RunComplete(id.clone()), watermark);
            agenda.refresh(state, Due::RunObserve(id.clone()), watermark);
        }
        agenda
    }

    /// Every deadline, one refresh per kind and key (what [`Agenda::build`] must equal).
    #[cfg(test)]
    pub(crate) fn build_by_refresh(state: &State, watermark: DateTime<Utc>) -> Self {
        let mut agenda = Agenda::default();
        for key in state.services.keys() {
            agenda.refresh(state, Due::FinishUpdate(key.clone()), watermark);
            agenda.refresh(state, Due::Window(key.clone()), watermark);
            agenda.refresh(state, Due::Fleet(key.clone()), watermark);
        }
        for id in state.steps.keys() {
            agenda.refresh(state, Due::AutoValidate(*id), watermark);
        }
        for id in state.runs.keys() {
            agenda.refresh(state, Due::RunComplete(id.clone()), watermark);
            agenda.refresh(state, Due::RunObserve(id.clone()), watermark);
        }
        agenda
    }

    /// Every deadline in time order.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> Vec<(DateTime<Utc>, Due)> {
        self.by_time.iter().cloned().collect()
    }

    fn insert(&mut self, due: Due, at: DateTime<Utc>) {
        if let Some(old) = self.at.insert(due.clone(), at) {
            self.by_time.remove(&(old, due.clone()));
        }
        self.by_time.insert((at, due));
    }

    /// The earliest deadline.
    #[must_use]
    pub fn first(&self) -> Option<(DateTime<Utc>, Due)> {
        self.by_time.first().cloned()
    }

    /// How many deadlines are pending.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_time.len()
    }

    /// Whether nothing is pending.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_time.is_empty()
    }

    /// Recomputes one deadline against the state.
    pub fn refresh(&mut self, state: &State, due: Due, watermark: DateTime<Utc>) {
        if let Some(old) = self.at.remove(&due) {
            self.by_time.remove(&(old, due.clone()));
        }
        if let Some(at) = when(state, &due, watermark) {
            self.insert(due, at);
        }
    }

    /// Recomputes every deadline an event may have moved.
    pub fn refresh_after(&mut self, state: &State, event: &EventKind, watermark: DateTime<Utc>) {
        for due in affected(state, event) {
            self.refresh(state, due, watermark);
        }
    }
}

fn when(state: &State, due: &Due, watermark: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match due {
        Due::FinishUpdate(key) => finish_at(state.services.get(key)?),
        Due::AutoValidate(id) => state.auto_validation_at(state.steps.get(id)?),
        Due::Window(key) => window_at(state, state.services.get(key)?, watermark),
        Due::RunComplete(id) => {
            let run = state.runs.get(id)?;
            if run.pending.is_some() || run.status.is_finished() {
                return None;
            }
            run.completion.as_ref().map(|c| c.finishes_at)
        }
        Due::RunObserve(id) => {
            let run = state.runs.get(id)?;
            let observing = run.phase == RunPhase::Replicating
                && run.pending.is_none()
                && run.completion.is_none()
                && run.rollback.is_none()
                && !run.status.is_finished();
            if !observing {
                return None;
            }
            run.next_observation_at()
        }
        Due::Fleet(key) => state.next_fleet_action_at(key),
    }
}

fn finish_at(svc: &Service) -> Option<DateTime<Utc>> {
    svc.updating.as_ref().map(|u| u.finishes_at)
}

fn window_at(state: &State, svc: &Service, watermark: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (svc.powered
        && svc.updating.is_none()
        && state.active_run(&svc.key).is_none()
        && state.pending_update(svc).is_some())
    .then(|| svc.maintenance.next_after(watermark))
}

fn service_dues(state: &State, key: &ServiceKey, out: &mut Vec<Due>) {
    out.push(Due::FinishUpdate(key.clone()));
    out.push(Due::Window(key.clone()));
    for step in state.steps_from(key) {
        out.push(Due::AutoValidate(step.step_id));
        out.push(Due::Window(step.destination.clone()));
    }
}

fn affected(state: &State, event: &EventKind) -> Vec<Due> {
    let mut out: Vec<Due> = event
        .services()
        .into_iter()
        .map(|s| Due::Fleet(s.clone()))
        .collect();
    if let Some(id) = event.run_id() {
        out.push(Due::RunComplete(id.clone()));
        out.push(Due::RunObserve(id.clone()));
    }
    match event {
        EventKind::ProjectCreated { .. } => {}
        EventKind::ReleasePublished { service_type, .. } => {
            for svc in state.services.values() {
                if svc.service_type == *service_type {
                    out.push(Due::Window(svc.key.clone()));
                }
            }
        }
        EventKind::ServiceCreated { service, .. }
        | EventKind::PowerChanged { service, .. }
        | EventKind::UpdateStarted { service, .. }
        | EventKind::EmergencyOverride { service, .. }
        | EventKind::UpdateApplied { service, .. }
        | EventKind::RunStarted { service, .. }
        | EventKind::RunFinished { service, .. } => service_dues(state, service, &mut out),
        EventKind::StepCreated {
            step_id,
            destination,
            ..
        } => {
            out.push(Due::AutoValidate(*step_id));
            out.push(Due::Window(destination.clone()));
        }
        EventKind::StepUpdated { step_id, .. } | EventKind::VersionValidated { step_id, .. } => {
            out.push(Due::AutoValidate(*step_id));
            if let Some(step) = state.steps.get(step_id) {
                out.push(Due::Window(step.destination.clone()));
            }
        }
        EventKind::StepDeleted { step_id } => {
            out.push(Due::AutoValidate(*step_id));
            // The step is gone from the state: its former destination is found by a scan of
            // the windows that no longer have a holding step.
            for svc in state.services.values() {
                if state.step_into(&svc.key).is_none() {
                    out.push(Due::Window(svc.key.clone()));
                }
            }
        }
        _ => {}
    }
    out
}
