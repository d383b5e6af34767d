//! The validate, delay, confirm and palette popups.

use chrono::{DateTime, Duration, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use crate::tui::fmt;
use crate::tui::input::palette_entries;
use crate::tui::state::App;
use crate::tui::state::modal::{ConfirmOp, Modal, parse_delay};
use crate::tui::widgets::popup;

fn names(keys: &[crate::model::ServiceKey]) -> String {
    let v: Vec<String> = keys.iter().map(ToString::to_string).collect();
    v.join(", ")
}

/// Draws the open popup (all but help).
pub fn render(frame: &mut Frame, app: &App, now: DateTime<Utc>, modal: &Modal, area: Rect) {
    let t = &app.theme;
    let bold = |c| t.fg(c).add_modifier(Modifier::BOLD);
    let (title, lines): (&str, Vec<Line>) = match modal {
        Modal::Validate {
            service,
            version,
            unblocks,
            comment,
        } => (
            "Validate",
            vec![
                Line::from(vec![
                    Span::raw("Validate "),
                    Span::styled(version.to_string(), bold(t.accent)),
                    Span::raw(" on "),
                    Span::styled(service.to_string(), bold(t.title)),
                    Span::raw("?"),
                ]),
                Line::from(vec![
                    Span::raw("Unblocks: "),
                    Span::styled(names(unblocks), t.fg(t.ok)),
                ]),
                Line::raw(""),
                Line::from(vec![
                    Span::raw("Comment: "),
                    Span::styled(format!("{comment}▏"), t.fg(t.input_fg).bg(t.input_bg)),
                ]),
                Line::raw(""),
                Line::styled(
                    format!(
                        "recorded as {} · enter validates · esc cancels",
                        app.options.actor
                    ),
                    t.fg(t.muted),
                ),
            ],
        ),
        Modal::Delay {
            step_id,
            current,
            input,
        } => {
            let step = app.state.steps.get(step_id);
            let pair = step
                .map(|s| format!("{} → {}", s.source.name, s.destination.name))
                .unwrap_or_default();
            let valid = parse_delay(input);
            let field = if valid.is_some() {
                t.fg(t.input_fg).bg(t.input_bg)
            } else {
                t.fg(t.input_fg).bg(t.input_invalid)
            };
            let preview = match (valid, step) {
                (None, _) => {
                    Span::styled("a whole number of days from 1 to 30 (P6)", bold(t.danger))
                }
                (Some(days), Some(s)) => match app.state.services.get(&s.source) {
                    Some(src) if app.state.auto_validation_at(s).is_some() => {
                        let at = src.updated_at + Duration::days(i64::from(days));
                        let when = if at <= now {
                            "at once".to_string()
                        } else {
                            format!("in {}", fmt::span(at - now))
                        };
                        Span::styled(
                            format!("→ auto-validation at {} ({when})", fmt::deadline(at)),
                            t.fg(t.accent),
                        )
                    }
                    _ => Span::styled(
                        "→ nothing waits now; applies to the next version",
                        t.fg(t.muted),
                    ),
                },
                (Some(_), None) => Span::raw(""),
            };
            (
                "Edit delay",
                vec![
                    Line::from(vec![
                        Span::raw(format!("Delay for {pair}: ")),
                        Span::styled(format!(" {input:>2}▏"), field),
                        Span::raw(format!(" days (1..30, now {current})")),
                    ]),
                    Line::from(preview),
                    Line::raw(""),
                    Line::styled("↑/↓ ±1 · enter saves · esc cancels", t.fg(t.muted)),
                ],
            )
        }
        Modal::Confirm(ConfirmOp::Maintenance { service, version }) => (
            "Confirm maintenance",
            vec![
                Line::from(vec![
                    Span::raw("Start maintenance on "),
                    Span::styled(service.to_string(), bold(t.danger)),
                    Span::raw(" now?"),
                ]),
                Line::raw(match version {
                    Some(v) => format!(
                        "It applies {v} at once instead of at its window; the service restarts node by node."
                    ),
                    None => "It applies the pending update at once.".to_string(),
                }),
                Line::raw(""),
                Line::styled("y / enter go · n / esc stay", t.fg(t.muted)),
            ],
        ),
        Modal::Confirm(ConfirmOp::Power {
            service,
            on,
            unprotects,
        }) => {
            let mut lines = vec![Line::from(vec![
                Span::raw(format!("Power {} ", if *on { "on" } else { "off" })),
                Span::styled(service.to_string(), bold(t.danger)),
                Span::raw("?"),
            ])];
            if !on && !unprotects.is_empty() {
                lines.push(Line::styled(
                    format!(
                        "⚠ V6: while it is off, {} are NOT held by it and upgrade regardless.",
                        names(unprotects)
                    ),
                    t.alarm(),
                ));
            } else if *on {
                lines.push(Line::raw(
                    "It can receive updates again, and holds its destinations again.",
                ));
            } else {
                lines.push(Line::raw("It stops receiving updates while off."));
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled("y / enter go · n / esc stay", t.fg(t.muted)));
            ("Confirm power", lines)
        }
        Modal::Confirm(ConfirmOp::Run(run)) => run.popup(app),
        Modal::Palette { input, selected } => {
            let entries = palette_entries(app, input);
            let mut lines = vec![Line::from(vec![
                Span::styled(": ", bold(t.key)),
                Span::styled(format!("{input}▏"), t.fg(t.input_fg).bg(t.input_bg)),
            ])];
            let pick = (*selected).min(entries.len().saturating_sub(1));
            for (i, b) in entries.iter().enumerate().take(12) {
                let line = Line::from(vec![
                    Span::styled(format!(" {:<15}", b.name), t.fg(t.text)),
                    Span::styled(format!("{:<12}", app.keymap.keys_text(b.op)), t.fg(t.key)),
                    Span::styled(b.help, t.fg(t.muted)),
                ]);
                lines.push(if i == pick {
                    line.style(t.selected())
                } else {
                    line
                });
            }
            if entries.is_empty() {
                lines.push(Line::styled(
                    " no action matches; `theme NAME` switches themes",
                    t.fg(t.muted),
                ));
            }
            ("Command", lines)
        }
        Modal::TravelTo { input, error } => {
            let live = app.clock.now;
            let mut lines = vec![
                Line::raw("Show the dashboard as it was at:"),
                Line::from(vec![
                    Span::styled("  ", t.fg(t.text)),
                    Span::styled(format!("{input}▏"), t.fg(t.input_fg).bg(t.input_bg)),
                ]),
                Line::raw(""),
            ];
            match error {
                Some(e) => lines.push(Line::styled(e.clone(), bold(t.danger))),
                None => lines.push(Line::styled(
                    "03:12 or 03:12:07 (latest such time), 2026-01-06 03:12, RFC 3339, or -15m",
                    t.fg(t.muted),
                )),
            }
            lines.push(Line::styled(
                format!(
                    "live is {} · enter goes · esc cancels",
                    live.format("%Y-%m-%d %H:%M:%S UTC")
                ),
                t.fg(t.muted),
            ));
            ("Time travel", lines)
        }
        Modal::Help { .. } => return,
    };
    popup::render(frame, t, area, title, 76, lines, 0);
}
