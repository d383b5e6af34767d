//! The run board's UI state, its keys (through the key table's `Op::Run`) and its popups:
//! switchover and rollback travel as data (`RunConfirm`) and only the popup's `y` runs them.

use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use crate::model::run::{Guardrail, RunPhase, format_bytes};
use crate::model::{Command, ServiceType};
use crate::tui::action::Effect;
use crate::tui::state::App;
pub use crate::tui::state::board::{BoardState, DEFAULT_ZOOM, RunConfirm, RunOp, ZOOMS};
use crate::tui::state::modal::{ConfirmOp, Modal};
use crate::tui::state::{Level, Pane};

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

/// "Waiting on me" lines for runs an operator must act on (`b` opens their board).
#[must_use]
pub fn waiting_lines(app: &App) -> Vec<Line<'static>> {
    let t = &app.theme;
    let key = app
        .keymap
        .first_key(crate::tui::input::keymap::Op::Run(RunOp::Board))
        .unwrap_or_default();
    app.state
        .runs
        .values()
        .filter_map(|run| {
            let why = run.waiting_on_operator()?;
            let lag = run.current_lag().map(format_bytes).unwrap_or_default();
            Some(Line::from(vec![
                Span::styled(format!(" run {} ", run.service.name), t.fg(t.text)),
                Span::styled(format!("{why}  {lag}"), t.fg(t.warn)),
                Span::styled(format!("  {key} ▸"), t.fg(t.key)),
            ]))
        })
        .collect()
}

impl RunConfirm {
    /// The popup's title and lines.
    #[must_use]
    pub fn popup(&self, app: &App) -> (&'static str, Vec<Line<'static>>) {
        let t = &app.theme;
        let bold = |c| t.fg(c).add_modifier(Modifier::BOLD);
        let keys = Line::styled("y / enter go · n / esc stay", t.fg(t.muted));
        match self {
            RunConfirm::Start { service, from, to } => (
                "Confirm upgrade run",
                vec![
                    Line::from(vec![
                        Span::raw("Start a blue/green run of "),
                        Span::styled(service.to_string(), bold(t.danger)),
                        Span::raw(format!(": {from} → {to}?")),
                    ]),
                    Line::raw(
                        "B1 takes a snapshot, pauses ingestion and disables pg_cron and pg_partman; green is built on the new major beside blue.",
                    ),
                    Line::raw(""),
                    keys,
                ],
            ),
            RunConfirm::Switchover {
                service,
                to,
                timeout_s,
                ..
            } => (
                "Confirm switchover",
                vec![
                    Line::from(vec![
                        Span::raw("Switch "),
                        Span::styled(service.to_string(), bold(t.danger)),
                        Span::raw(format!(" over to green ({to})?")),
                    ]),
                    Line::raw(format!(
                        "Writes are fenced on blue, sequences synced, clients moved to green. Past {timeout_s} s everything reverts and blue keeps serving."
                    )),
                    Line::styled("guardrails 4/4 ✓", t.fg(t.ok)),
                    Line::raw(""),
                    keys,
                ],
            ),
            RunConfirm::Refused { run_id, red } => {
                let mut lines = vec![Line::from(vec![
                    Span::styled("Switchover refused (B5): ", bold(t.danger)),
                    Span::raw(format!("run {run_id} has red guardrails")),
                ])];
                lines.extend(
                    red.iter()
                        .map(|r| Line::styled(format!("  ✗ {r}"), t.fg(t.danger))),
                );
                lines.push(Line::raw(
                    "Wait for them to turn green, roll back (a), or force it from the command line with --force --comment.",
                ));
                lines.push(Line::raw(""));
                lines.push(Line::styled("esc closes", t.fg(t.muted)));
                ("Switchover refused", lines)
            }
            RunConfirm::Rollback {
                run_id,
                service,
                from,
            } => (
                "Confirm rollback",
                vec![
                    Line::from(vec![
                        Span::raw(format!("Roll back run {run_id} of ")),
                        Span::styled(service.to_string(), bold(t.danger)),
                        Span::raw("?"),
                    ]),
                    Line::raw(format!(
                        "Green is dropped; blue stays on {from} with its extensions and ingestion back (B8)."
                    )),
                    Line::raw(""),
                    keys,
                ],
            ),
        }
    }
}
