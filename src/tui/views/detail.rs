//! Service detail: nodes and roles, maintenance window, pending updates and why they are held,
//! the forecast, V6/V7 alarms, and the service's recent events.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::model::{Event, EventKind, NodeRole, Service, ServiceKey, State};
use crate::tui::fmt;
use crate::tui::state::App;
use crate::tui::state::Pane;
use crate::tui::theme::Theme;
use crate::tui::widgets::pane;

use super::{history, service, steps};

fn concerns(state: &State, key: &ServiceKey, e: &Event) -> bool {
    if e.kind.services().contains(&key) {
        return true;
    }
    match &e.kind {
        EventKind::VersionValidated { step_id, .. } | EventKind::StepUpdated { step_id, .. } => {
            state
                .steps
                .get(step_id)
                .is_some_and(|s| &s.source == key || &s.destination == key)
        }
        _ => false,
    }
}

fn heading(t: &Theme, text: &str) -> Line<'static> {
    Line::styled(text.to_string(), t.fg(t.title).add_modifier(Modifier::BOLD))
}

fn why_held(t: &Theme, state: &State, svc: &Service, now: DateTime<Utc>) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if let Some(p) = state.pending_update(svc) {
        let at = svc.maintenance.next_after(now);
        let how = if p.emergency_override {
            " (critical release: V7 override)"
        } else {
            ""
        };
        out.push(Line::styled(
            format!(
                "  takes {} at its next window, {} ({}){how}",
                p.version,
                fmt::deadline(at),
                fmt::relative(at, now)
            ),
            t.fg(t.accent),
        ));
    }
    if let Some((step, newest)) = state.held_update(svc) {
        let source = &step.source.name;
        let source_runs = state
            .services
            .get(&step.source)
            .is_some_and(|s| &s.version >= newest);
        let why = if source_runs {
            match state.auto_validation_at(step) {
                Some(at) => format!(
                    "{newest} not validated on {source}; auto-validation in {}",
                    fmt::span(at - now)
                ),
                None => format!("{newest} not validated on {source}"),
            }
        } else {
            format!("{source} does not run {newest} yet")
        };
        out.push(Line::styled(
            format!(
                "  {newest} held by step {} → {}: {why}",
                source, step.destination.name
            ),
            t.fg(t.warn),
        ));
    }
    if out.is_empty() {
        out.push(Line::styled("  nothing pending", t.fg(t.muted)));
    }
    out
}

/// The loud line for V6 and V7, if either applies.
fn alarm(app: &App, svc: &Service) -> Option<String> {
    let state = &app.state;
    if !svc.powered && !app.derived.sources.of(state, &svc.key).is_empty() {
        let dests: Vec<String> = app
            .derived
            .sources
            .of(state, &svc.key)
            .iter()
            .map(|s| s.destination.to_string())
            .collect();
        return Some(format!(
            "⚠ V6: {} is off, so {} are NOT held and upgrade regardless",
            svc.key.name,
            dests.join(", ")
        ));
    }
    if let Some(step) = state.step_into(&svc.key) {
        if state.holding_step(&svc.key).is_none() {
            return Some(format!(
                "⚠ V6: source {} is off, so nothing holds {}",
                step.source, svc.key.name
            ));
        }
        if svc.emergency_override {
            return Some(format!(
                "⚡ V7 emergency override: runs {} past pinned {}; validating {} {} clears it",
                svc.version, step.pinned_version, step.source.name, svc.version
            ));
        }
    }
    None
}

/// Draws the detail of the service in `app.detail`.
pub fn render(frame: &mut Frame, app: &App, now: DateTime<Utc>, area: Rect) {
    let t = &app.theme;
    let state = &app.state;
    let block = pane::block(app, Pane::Detail, None);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(svc) = app.detail.as_ref().and_then(|k| state.services.get(k)) else {
        frame.render_widget(
            Line::styled("this service no longer exists", t.fg(t.muted)),
            inner,
        );
        return;
    };
    let mut lines = vec![Line::from(
        [
            vec![
                service::icon_span(t, state, svc),
                Span::styled(
                    svc.key.to_string(),
                    t.fg(t.title).add_modifier(Modifier::BOLD),
                ),
                Span::styled(
                    format!(
                        "  {} {}  {} plan  ",
                        svc.service_type, svc.version, svc.plan
                    ),
                    t.fg(t.accent),
                ),
            ],
            service::tail(t, state, &app.derived.sources, svc, now),
        ]
        .concat(),
    )];
    if let Some(alarm) = alarm(app, svc) {
        lines.push(Line::styled(alarm, t.alarm()));
    }
    let next = svc.maintenance.next_after(now);
    lines.push(Line::styled(
        format!(
            "Maintenance window {} — next {} ({})",
            svc.maintenance,
            fmt::deadline(next),
            fmt::relative(next, now)
        ),
        t.fg(t.text),
    ));
    lines.push(heading(t, "Nodes"));
    for n in &svc.nodes {
        let role = match n.role {
            NodeRole::Primary => "primary",
            NodeRole::Standby => "standby",
            NodeRole::Former => "former",
        };
        lines.push(Line::styled(
            format!(
                "  {:<18} {role:<8} {:<8} {}",
                n.name,
                n.version,
                crate::model::fleet::status_word(n.status)
            ),
            t.fg(t.text),
        ));
    }
    for e in crate::model::fleet::endpoint_lines(svc) {
        lines.push(Line::styled(format!("  endpoint {e}"), t.fg(t.muted)));
    }
    let open: Vec<_> = state
        .incidents_of(&svc.key)
        .filter(|i| i.is_open())
        .filter_map(|i| crate::model::fleet::incident_line(state, i, now))
        .collect();
    if !open.is_empty() {
        lines.push(heading(t, "Open incidents"));
        for l in open {
            lines.push(Line::styled(
                format!("  #{} {} · {}", l.incident_id, l.what, l.progress),
                t.fg(t.danger),
            ));
            lines.push(Line::styled(format!("    next: {}", l.next), t.fg(t.text)));
        }
    }
    lines.push(heading(t, "Pipeline"));
    match state.step_into(&svc.key) {
        Some(s) => lines.push(Line::styled(
            format!(
                "  source {} (step {}, {}d delay), pinned {}",
                s.source, s.step_id, s.auto_validation_delay_days, s.pinned_version
            ),
            t.fg(t.text),
        )),
        None => lines.push(Line::styled(
            "  no source: receives releases directly",
            t.fg(t.muted),
        )),
    }
    for s in app.derived.sources.of(state, &svc.key) {
        lines.push(Line::styled(
            format!(
                "  destination {} (step {}, {}d delay), validated up to {}",
                s.destination, s.step_id, s.auto_validation_delay_days, s.pinned_version
            ),
            t.fg(t.text),
        ));
    }
    lines.push(heading(t, "Pending updates"));
    lines.extend(why_held(t, state, svc, now));
    if let Some(f) = state.forecast(svc, now).filter(|f| f.at > now) {
        lines.push(Line::styled(
            format!(
                "Forecast: {} gets {} ≈ {} (in {}) unless validated sooner",
                svc.key.name,
                f.version,
                fmt::clock(f.at),
                fmt::span(f.at - now)
            ),
            t.fg(t.accent),
        ));
        lines.push(Line::styled(format!("  {}", f.explanation), t.fg(t.muted)));
    } else if let Some(step) = state.step_into(&svc.key) {
        let (sentence, _) = steps::forecast(state, step, now);
        lines.push(Line::styled(sentence, t.fg(t.muted)));
    }
    lines.push(heading(t, "Recent events"));
    let room = usize::from(inner.height).saturating_sub(lines.len());
    let events: Vec<Line> = app
        .history
        .iter()
        .filter(|e| concerns(state, &svc.key, e))
        .take(room)
        .map(|e| history::line(t, e))
        .collect();
    if events.is_empty() {
        lines.push(Line::styled("  none in the recent history", t.fg(t.muted)));
    }
    lines.extend(events);
    frame.render_widget(Paragraph::new(lines), inner);
}
