//! The run board's keys (through the key table's `Op::Run`): open a board, start a run, and
//! the actions that ask for confirmation first (switchover, rollback), as `RunConfirm` data.

use crate::model::run::{Guardrail, RunPhase};
use crate::model::{Command, ServiceType};
use crate::tui::action::Effect;
use crate::tui::state::board::ZOOMS;
use crate::tui::state::modal::{ConfirmOp, Modal};
use crate::tui::state::{App, Level, Pane, RunConfirm, RunOp};

/// Does what a run key asks.
pub fn dispatch(app: &mut App, op: RunOp) -> Option<Effect> {
    match op {
        RunOp::Board => open(app),
        RunOp::Start => start(app),
        RunOp::ZoomIn => app.board.zoom = app.board.zoom.saturating_sub(1),
        RunOp::ZoomOut => app.board.zoom = (app.board.zoom + 1).min(ZOOMS.len() - 1),
        RunOp::Freeze => {
            app.board.frozen_at = match app.board.frozen_at {
                Some(_) => None,
                None => Some(app.now()),
            };
        }
        RunOp::Switchover | RunOp::Rollback | RunOp::Resume => return act(app, op),
    }
    None
}

fn open(app: &mut App) {
    let selected = crate::tui::targets::service(app);
    let run = selected
        .and_then(|s| {
            app.state
                .runs
                .values()
                .filter(|r| r.service == s)
                .max_by_key(|r| r.started_at)
        })
        .or_else(|| crate::tui::targets::shown_run(app))
        .map(|r| r.run_id.clone());
    match run {
        Some(id) => {
            app.board.run = Some(id);
            app.detail = None;
            app.pane = Pane::RunBoard;
        }
        None => app.say(
            Level::Info,
            "no upgrade runs yet: select a pg service and press u, or `lockstep run start`",
        ),
    }
}

fn start(app: &mut App) {
    let Some(key) = crate::tui::targets::service(app) else {
        return app.say(Level::Info, "select a service to upgrade");
    };
    let Some(svc) = app.state.services.get(&key) else {
        return;
    };
    let newest = app
        .state
        .releases_of(ServiceType::Pg)
        .iter()
        .rev()
        .map(|r| r.version.clone())
        .find(|v| v.major() > svc.version.major());
    match (svc.service_type, newest) {
        (ServiceType::Pg, Some(to)) => {
            app.modal = Some(Modal::Confirm(ConfirmOp::Run(RunConfirm::Start {
                service: key,
                from: svc.version.clone(),
                to,
            })));
        }
        (ServiceType::Pg, None) => app.say(
            Level::Info,
            format!("no newer pg major than {} is published", svc.version),
        ),
        (other, _) => app.say(
            Level::Info,
            format!("U2: blue/green runs are for pg services; {key} is {other}"),
        ),
    }
}

fn act(app: &mut App, op: RunOp) -> Option<Effect> {
    let Some(run) = crate::tui::targets::shown_run(app).cloned() else {
        app.say(Level::Info, "no run on the board");
        return None;
    };
    let id = run.run_id.clone();
    let over = |what: &str| {
        if run.status.is_finished() {
            Some(format!(
                "run {id} is {}: there is nothing to {what}",
                run.status
            ))
        } else if what == "roll back" && run.phase.after_switchover() {
            Some(format!(
                "B8: run {id} switched over to {}: green serves; a rollback is only possible \
                 before the switchover",
                run.config.target_version
            ))
        } else {
            None
        }
    };
    if let Some(why) = match op {
        RunOp::Switchover => over("switch over"),
        RunOp::Rollback => over("roll back"),
        _ => None,
    } {
        app.say(Level::Error, why);
        return None;
    }
    let confirm = match op {
        RunOp::Switchover if run.phase != RunPhase::Replicating => {
            app.say(
                Level::Error,
                format!("B5: run {id} is in {}, not ready to switch over", run.phase),
            );
            return None;
        }
        RunOp::Switchover => {
            let red: Vec<Guardrail> = run.guardrails().into_iter().filter(|g| !g.ok).collect();
            if red.is_empty() {
                RunConfirm::Switchover {
                    run_id: id,
                    service: run.service.clone(),
                    to: run.config.target_version.clone(),
                    timeout_s: run.config.switchover_timeout_s,
                }
            } else {
                RunConfirm::Refused {
                    run_id: id,
                    red: red
                        .into_iter()
                        .map(|g| format!("{}: {}", g.name, g.detail))
                        .collect(),
                }
            }
        }
        RunOp::Rollback => RunConfirm::Rollback {
            run_id: id,
            service: run.service.clone(),
            from: run.from_version.clone(),
        },
        _ => {
            let effect = Effect::Execute {
                label: format!("resume run {id}"),
                command: Box::new(Command::ResumeRun { run_id: id }),
            };
            app.started(&effect);
            return Some(effect);
        }
    };
    app.modal = Some(Modal::Confirm(ConfirmOp::Run(confirm)));
    None
}
