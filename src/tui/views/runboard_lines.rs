//! The run board's texts outside the board itself: its lines in "Waiting on me" and its popups
//! (switchover and rollback travel as data, `RunConfirm`, and only the popup's `y` runs them).

use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use crate::model::run::format_bytes;
use crate::tui::state::App;
use crate::tui::state::{RunConfirm, RunOp};

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
