//! Incidents (key 5): each open and recent incident with its service, what happened, the
//! elapsed time against its timeout, what happens next and where the endpoints point now;
//! V6 warnings for powered-off sources on top. Unfocused, it is a short panel of one line
//! per incident above the steps.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::model::fleet::{IncidentLine, incident_line};
use crate::tui::fmt;
use crate::tui::state::App;
use crate::tui::state::Pane;
use crate::tui::theme::Theme;
use crate::tui::widgets::pane;

/// Lines each incident takes in the focused pane.
pub const LINES_PER_INCIDENT: usize = 3;
/// Resolved incidents the short panel keeps in view under the open ones.
const RECENT_IN_PANEL: usize = 2;

/// What the short panel lists: V6 warnings, then open incidents, then a few resolved ones.
#[must_use]
pub fn panel_rows(app: &App) -> Vec<Row> {
    let mut rows: Vec<Row> = app
        .derived
        .unheld
        .iter()
        .cloned()
        .map(Row::Warning)
        .collect();
    let mut recent = 0;
    for id in &app.derived.incidents {
        let Some(i) = app.state.incidents.get(id) else {
            continue;
        };
        if !i.is_open() {
            if recent == RECENT_IN_PANEL {
                break;
            }
            recent += 1;
        }
        rows.push(Row::Incident(*id));
    }
    rows
}

/// A line of the short panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A V6 warning.
    Warning(String),
    /// An incident, by id.
    Incident(u64),
}

fn said(app: &App, id: u64, now: DateTime<Utc>) -> Option<IncidentLine> {
    let i = app.state.incidents.get(&id)?;
    incident_line(&app.state, i, now)
}

fn warning(t: &Theme, text: &str) -> Line<'static> {
    Line::styled(format!("⚠ {text}"), t.fg(t.warn))
}

fn colors(t: &Theme, open: bool) -> (&'static str, ratatui::style::Color) {
    if open {
        ("●", t.danger)
    } else {
        ("✓", t.muted)
    }
}

/// The short panel's line: name, kind, progress.
fn headline(t: &Theme, l: &IncidentLine, width: usize) -> Line<'static> {
    let (icon, color) = colors(t, l.open);
    let name = l.service.rsplit('/').next().unwrap_or(&l.service);
    let (service, what) = (fmt::fit(name, 16), fmt::fit(&l.kind, 18));
    let used = 2 + service.chars().count() + 2 + what.chars().count() + 2;
    Line::from(vec![
        Span::styled(format!("{icon} "), t.fg(color).add_modifier(Modifier::BOLD)),
        Span::styled(
            service,
            t.fg(if l.open { t.text } else { t.muted })
                .add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!("  {what}  "),
            t.fg(if l.open { t.warn } else { t.muted }),
        ),
        Span::styled(
            fmt::fit(&l.clock, width.saturating_sub(used).max(8)),
            t.fg(if l.open { t.accent } else { t.muted }),
        ),
    ])
}

/// The focused pane's three lines: service and clock; what happened and what comes next;
/// where the endpoints point now.
fn block_lines(t: &Theme, l: &IncidentLine, selected: bool) -> [Line<'static>; 3] {
    let (icon, color) = colors(t, l.open);
    let mut head = Line::from(vec![
        Span::styled(format!("{icon} "), t.fg(color).add_modifier(Modifier::BOLD)),
        Span::styled(
            l.service.clone(),
            t.fg(if l.open { t.text } else { t.muted })
                .add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!("  {}", l.progress),
            t.fg(if l.open { t.accent } else { t.muted }),
        ),
    ]);
    if selected {
        head = head.style(t.selected());
    }
    [
        head,
        Line::from(vec![
            Span::styled("    ", t.fg(t.muted)),
            Span::styled(l.what.clone(), t.fg(if l.open { t.warn } else { t.muted })),
            Span::styled(
                if l.open {
                    " · next: "
                } else {
                    " · outcome: "
                },
                t.fg(t.muted),
            ),
            Span::styled(l.next.clone(), t.fg(t.text)),
        ]),
        Line::from(vec![
            Span::styled("    now ", t.fg(t.muted)),
            Span::styled(l.endpoints.join("  ·  "), t.fg(t.text)),
        ]),
    ]
}

/// Draws the incidents pane (focused: three lines per incident) or panel (one line each).
pub fn render(frame: &mut Frame, app: &App, now: DateTime<Utc>, area: Rect) {
    let t = &app.theme;
    let open = app
        .derived
        .incidents
        .iter()
        .filter(|id| app.state.incidents.get(id).is_some_and(|i| i.is_open()))
        .count();
    let block = pane::block(app, Pane::Incidents, None).title(Line::styled(
        format!(" {open} open · {} in all ", app.derived.incidents.len()),
        if open > 0 {
            t.fg(t.danger)
        } else {
            t.fg(t.muted)
        },
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    if app.pane != Pane::Incidents {
        let rows = panel_rows(app);
        if rows.is_empty() {
            frame.render_widget(
                Line::styled(
                    "✓ no incidents: every endpoint answers · 5 lists them all",
                    t.fg(t.ok),
                ),
                inner,
            );
            return;
        }
        let lines: Vec<Line> = rows
            .iter()
            .take(usize::from(inner.height))
            .filter_map(|r| match r {
                Row::Warning(w) => Some(warning(t, w)),
                Row::Incident(id) => said(app, *id, now).map(|l| headline(t, &l, width)),
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), inner);
        return;
    }
    let mut lines: Vec<Line> = app.derived.unheld.iter().map(|w| warning(t, w)).collect();
    let room = usize::from(inner.height).saturating_sub(lines.len());
    let height = (room / LINES_PER_INCIDENT).max(1);
    let list = &app.derived.incidents;
    let cursor = app.cursor(Pane::Incidents).visible(list.len(), height);
    for (n, id) in list.iter().enumerate().skip(cursor.offset).take(height) {
        let Some(l) = said(app, *id, now) else {
            continue;
        };
        lines.extend(block_lines(t, &l, n == cursor.selected));
    }
    if list.is_empty() {
        lines.push(Line::styled(
            "✓ no incidents: every node answers, no switchover under way",
            t.fg(t.ok),
        ));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
