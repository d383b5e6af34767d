//! Waiting on me: every step whose source runs a version not yet validated, soonest
//! auto-validation first — the on-call inbox.

use chrono::{DateTime, Duration, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::fmt;
use crate::tui::state::App;
use crate::tui::state::Pane;
use crate::tui::widgets::{gauge, pane};

/// Draws the Waiting-on-me pane.
pub fn render(frame: &mut Frame, app: &App, now: DateTime<Utc>, area: Rect) {
    let t = &app.theme;
    let list = &app.derived.waiting;
    let block = pane::block(app, Pane::Waiting, Some(list.len()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = super::runboard_lines::waiting_lines(app);
    if list.is_empty() && lines.is_empty() {
        frame.render_widget(
            Line::styled("nothing waits for a validation", t.fg(t.muted)),
            inner,
        );
        return;
    }
    let height = usize::from(inner.height).saturating_sub(lines.len());
    let cursor = app.cursor(Pane::Waiting).visible(list.len(), height);
    let focused = app.pane == Pane::Waiting;
    let width = usize::from(inner.width);
    let fixed = 8 + 21 + 5;
    let longest = list
        .iter()
        .filter_map(|id| app.state.steps.get(id))
        .take(200)
        .map(|s| s.source.name.chars().count() + s.destination.name.chars().count() + 3)
        .max()
        .unwrap_or(16);
    let gauge_width = if width >= fixed + 11 + longest.min(24) {
        10
    } else {
        0
    };
    let name_width = width
        .saturating_sub(fixed + gauge_width + usize::from(gauge_width > 0))
        .min(longest)
        .max(12);
    let validate_key = app
        .keymap
        .first_key(crate::tui::input::keymap::Op::Validate);
    for (i, id) in list.iter().enumerate().skip(cursor.offset).take(height) {
        let Some(step) = app.state.steps.get(id) else {
            continue;
        };
        let version = app
            .state
            .services
            .get(&step.source)
            .map(|s| s.version.to_string())
            .unwrap_or_default();
        let at = app.state.auto_validation_at(step).unwrap_or(now);
        let pair = format!("{} → {}", step.source.name, step.destination.name);
        let mut spans = vec![
            Span::styled(
                format!(" {:<name_width$} ", fmt::fit(&pair, name_width)),
                t.fg(t.text),
            ),
            Span::styled(format!("{version:<7} "), t.fg(t.accent)),
            Span::styled(
                format!("auto in {:<12} ", fmt::span(at - now)),
                t.fg(t.warn),
            ),
        ];
        if gauge_width > 0 {
            let delay = Duration::days(i64::from(step.auto_validation_delay_days));
            spans.extend(gauge::spans(t, gauge::elapsed(at, delay, now), gauge_width));
        }
        let selected = focused && i == cursor.selected;
        if let Some(k) = validate_key
            .as_ref()
            .filter(|_| selected && !app.options.read_only)
        {
            spans.push(Span::styled(format!("  {k} ▸"), t.fg(t.key)));
        }
        let line = Line::from(spans);
        lines.push(if selected {
            line.style(t.selected())
        } else {
            line
        });
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
