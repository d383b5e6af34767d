//! What the selection points at, and the popups the changing keys open for it.

use crate::model::{ServiceKey, StepId};

use super::state::App;
use super::state::modal::{ConfirmOp, Modal};
use super::state::{Level, Pane};

/// The service the focused pane points at: the tree's row, a step's source, the detail.
#[must_use]
pub fn service(app: &App) -> Option<ServiceKey> {
    match app.pane {
        Pane::Pipelines => app
            .derived
            .rows
            .get(app.cursor(Pane::Pipelines).selected)
            .and_then(|r| r.service().cloned()),
        Pane::Waiting | Pane::Steps => app
            .selected_step(app.pane)
            .and_then(|id| app.state.steps.get(&id))
            .map(|s| s.source.clone()),
        Pane::Detail => app.detail.clone(),
        Pane::History => None,
        Pane::Incidents => app
            .derived
            .incidents
            .get(app.cursor(Pane::Incidents).selected)
            .and_then(|id| app.state.incidents.get(id))
            .map(|i| i.service.clone()),
        Pane::RunBoard => shown_run(app).map(|r| r.service.clone()),
    }
}

/// The step the focused pane points at: the selected step, or the step into (else the only
/// step out of) the selected service.
#[must_use]
pub fn step(app: &App) -> Option<StepId> {
    if let Some(id) = app.selected_step(app.pane) {
        return Some(id);
    }
    let key = service(app)?;
    if let Some(s) = app.state.step_into(&key) {
        return Some(s.step_id);
    }
    match app.derived.sources.of(&app.state, &key).as_slice() {
        [only] => Some(only.step_id),
        _ => None,
    }
}

/// `v`: opens the validate popup for the selected source (or the source of the selected
/// destination), with the exact version and what it unblocks.
pub fn validate(app: &mut App) {
    let Some(mut key) = service(app) else {
        return app.say(Level::Info, "select a service or a step to validate");
    };
    if app.derived.sources.of(&app.state, &key).is_empty() {
        match app.state.step_into(&key) {
            Some(step) => key = step.source.clone(),
            None => {
                return app.say(
                    Level::Error,
                    format!("{key} is in no pipeline: there is nothing to validate (V2)"),
                );
            }
        }
    }
    let Some(svc) = app.state.services.get(&key) else {
        return;
    };
    let version = svc.version.clone();
    let unblocks: Vec<ServiceKey> = app
        .derived
        .sources
        .of(&app.state, &key)
        .iter()
        .filter(|s| s.pinned_version < version)
        .map(|s| s.destination.clone())
        .collect();
    if unblocks.is_empty() {
        return app.say(
            Level::Info,
            format!("{key} {version} is already validated on every step it is the source of"),
        );
    }
    app.modal = Some(Modal::Validate {
        service: key,
        version,
        unblocks,
        comment: String::new(),
    });
}

/// `d`: opens the delay popup for the selected step.
pub fn delay(app: &mut App) {
    let Some(id) = step(app) else {
        return app.say(
            Level::Info,
            "select a step (or a service with exactly one step) to edit its delay",
        );
    };
    let Some(s) = app.state.steps.get(&id) else {
        return;
    };
    app.modal = Some(Modal::Delay {
        step_id: id,
        current: s.auto_validation_delay_days,
        input: s.auto_validation_delay_days.to_string(),
    });
}

/// `m`: asks to confirm applying the selected service's pending update now.
pub fn maintenance(app: &mut App) {
    let Some(key) = service(app) else {
        return app.say(Level::Info, "select a service to start its maintenance");
    };
    let Some(svc) = app.state.services.get(&key) else {
        return;
    };
    if svc.updating.is_some() {
        return app.say(Level::Info, format!("{key} is already applying an update"));
    }
    let version = app.state.pending_update(svc).map(|p| p.version);
    if version.is_none() {
        let why = match app.state.held_update(svc) {
            Some((step, v)) => format!(
                "{key} has no update it may take now: {v} is held by step {} → {} until {} {v} is validated",
                step.source, step.destination, step.source.name
            ),
            None => format!("{key} runs the newest version it may take: nothing to apply"),
        };
        return app.say(Level::Info, why);
    }
    app.modal = Some(Modal::Confirm(ConfirmOp::Maintenance {
        service: key,
        version,
    }));
}

/// `p`: asks to confirm powering the selected service on or off, naming what V6 unprotects.
pub fn power(app: &mut App) {
    let Some(key) = service(app) else {
        return app.say(Level::Info, "select a service to power it on or off");
    };
    let Some(svc) = app.state.services.get(&key) else {
        return;
    };
    let on = !svc.powered;
    let unprotects = if on {
        Vec::new()
    } else {
        app.derived
            .sources
            .of(&app.state, &key)
            .iter()
            .map(|s| s.destination.clone())
            .collect()
    };
    app.modal = Some(Modal::Confirm(ConfirmOp::Power {
        service: key,
        on,
        unprotects,
    }));
}

/// The run the board shows: the chosen one, else the selected service's, else the latest.
#[must_use]
pub fn shown_run(app: &App) -> Option<&crate::model::Run> {
    let state = &app.state;
    app.board
        .run
        .as_ref()
        .and_then(|id| state.runs.get(id))
        .or_else(|| {
            state
                .runs
                .values()
                .max_by_key(|r| (!r.status.is_finished(), r.started_at))
        })
}
