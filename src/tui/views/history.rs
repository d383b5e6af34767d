//! The event history: newest first, with actor and reason; filterable.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::model::Event;
use crate::tui::fmt;
use crate::tui::state::App;
use crate::tui::state::Pane;
use crate::tui::theme::Theme;
use crate::tui::widgets::pane;

/// One history line.
#[must_use]
pub fn line<'a>(t: &Theme, e: &'a Event) -> Line<'a> {
    let kind = e.kind.type_name();
    let color = match kind {
        "version_validated" | "update_applied" => t.ok,
        "emergency_override" => t.emergency,
        "power_changed" => t.danger,
        "update_started" | "step_updated" => t.accent,
        _ => t.text,
    };
    Line::from(vec![
        Span::styled(format!("#{:<5} ", e.seq), t.fg(t.muted)),
        Span::styled(format!("{} ", fmt::time_of_day(e.at)), t.fg(t.muted)),
        Span::styled(format!("{:<10} ", fmt::fit(&e.actor, 10)), t.fg(t.accent)),
        Span::styled(format!("{kind:<18} "), t.fg(color)),
        Span::styled(e.reason.as_str(), t.fg(t.text)),
    ])
}

/// Draws the history pane.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let list = &app.derived.history;
    let block = pane::block(app, Pane::History, Some(list.len()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = usize::from(inner.height);
    let cursor = app.cursor(Pane::History).visible(list.len(), height);
    let focused = app.pane == Pane::History;
    let lines: Vec<Line> = list
        .iter()
        .enumerate()
        .skip(cursor.offset)
        .take(height)
        .filter_map(|(i, idx)| {
            let e = app.history.get(*idx)?;
            let l = line(t, e);
            Some(if focused && i == cursor.selected {
                l.style(t.selected())
            } else {
                l
            })
        })
        .collect();
    if lines.is_empty() {
        frame.render_widget(Line::styled("no events", t.fg(t.muted)), inner);
        return;
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
