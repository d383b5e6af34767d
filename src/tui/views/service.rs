//! How a service reads in one line: icon, version, pinned version, what it waits for, and the
//! loud V6 / V7 marks.

use chrono::{DateTime, Utc};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;

use crate::model::{Service, State};
use crate::tui::fmt;
use crate::tui::state::rows::Sources;
use crate::tui::theme::Theme;

/// A service's state in a word, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Powered off.
    Off,
    /// Runs or applies a version past its pinned one (V7).
    Override,
    /// Applying an update.
    Updating,
    /// Its source is off, so nothing holds it (V6).
    Unprotected,
    /// Held from a newer release.
    Held,
    /// Takes an update at its next window.
    Pending,
    /// Up to date.
    Ok,
}

/// What is true of `svc` now.
#[must_use]
pub fn mark(state: &State, svc: &Service) -> Mark {
    let unheld = state
        .step_into(&svc.key)
        .is_some_and(|s| state.holding_step(&svc.key).is_none() && s.destination == svc.key);
    if !svc.powered {
        Mark::Off
    } else if svc.emergency_override || svc.updating.as_ref().is_some_and(|u| u.emergency_override)
    {
        Mark::Override
    } else if svc.updating.is_some() {
        Mark::Updating
    } else if unheld {
        Mark::Unprotected
    } else if state.held_update(svc).is_some() {
        Mark::Held
    } else if state.pending_update(svc).is_some() {
        Mark::Pending
    } else {
        Mark::Ok
    }
}

/// The icon of a mark.
#[must_use]
pub fn icon(m: Mark) -> &'static str {
    match m {
        Mark::Off => "○",
        Mark::Override => "⚡",
        Mark::Updating => "⟳",
        Mark::Unprotected => "!",
        Mark::Held => "⛔",
        Mark::Pending => "↑",
        Mark::Ok => "●",
    }
}

fn style(t: &Theme, m: Mark) -> Style {
    match m {
        Mark::Off | Mark::Unprotected => t.fg(t.danger).add_modifier(Modifier::BOLD),
        Mark::Override => t.fg(t.emergency).add_modifier(Modifier::BOLD),
        Mark::Updating | Mark::Pending => t.fg(t.accent),
        Mark::Held => t.fg(t.warn),
        Mark::Ok => t.fg(t.ok),
    }
}

/// The icon span of a service.
#[must_use]
pub fn icon_span(t: &Theme, state: &State, svc: &Service) -> Span<'static> {
    let m = mark(state, svc);
    Span::styled(format!("{} ", icon(m)), style(t, m))
}

/// What follows the version: pinned, countdown, updating, and the V6/V7 alarms.
#[must_use]
pub fn tail(
    t: &Theme,
    state: &State,
    sources: &Sources,
    svc: &Service,
    now: DateTime<Utc>,
) -> Vec<Span<'static>> {
    let mut out = Vec::new();
    let m = mark(state, svc);
    match m {
        Mark::Off => {
            out.push(Span::styled("OFF", style(t, m)));
            let n = sources.of(state, &svc.key).len();
            if n > 0 {
                out.push(Span::styled(format!(" ⚠ V6: {n} unheld "), t.alarm()));
            }
        }
        Mark::Override => {
            if let Some(u) = &svc.updating {
                out.push(Span::styled(format!("→ {} ", u.target), t.fg(t.accent)));
            }
            out.push(Span::styled(" V7 OVERRIDE ", t.alarm().bg(t.emergency)));
        }
        Mark::Updating => {
            if let Some(u) = &svc.updating {
                out.push(Span::styled(
                    format!(
                        "→ {} updating, done {}",
                        u.target,
                        fmt::relative(u.finishes_at, now)
                    ),
                    style(t, m),
                ));
            }
        }
        Mark::Unprotected => {
            out.push(Span::styled(" ⚠ V6 source off: unheld ", t.alarm()));
        }
        Mark::Held => {
            if let Some((step, newest)) = state.held_update(svc) {
                // Held on the version it runs: the version column already says it, and the
                // room is worth more to the version it waits for.
                if step.pinned_version != svc.version {
                    out.push(Span::styled(
                        format!("pin {} ", step.pinned_version),
                        t.fg(t.muted),
                    ));
                }
                let countdown = match state.auto_validation_at(step) {
                    Some(at) => format!("⏳{} → {newest}", fmt::span_short(at - now)),
                    None => format!("⏳ — {newest} not on source"),
                };
                out.push(Span::styled(countdown, style(t, m)));
            }
        }
        Mark::Pending => {
            if let Some(p) = state.pending_update(svc) {
                let at = svc.maintenance.next_after(now);
                out.push(Span::styled(
                    format!("→ {} at window {}", p.version, fmt::relative(at, now)),
                    style(t, m),
                ));
            }
        }
        Mark::Ok => {
            let waiting = sources
                .of(state, &svc.key)
                .iter()
                .filter_map(|s| state.auto_validation_at(s))
                .min();
            match waiting {
                Some(at) => out.push(Span::styled(
                    format!("⏳ auto {}", fmt::span_short(at - now)),
                    t.fg(t.warn),
                )),
                None => out.push(Span::styled("✓", style(t, m))),
            }
        }
    }
    out
}
