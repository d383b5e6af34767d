//! The tab bar of the compact (80×24) layout: panes by number, waiting count always in view.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::state::App;
use crate::tui::state::Pane;

/// Draws the tab bar.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let mut spans = Vec::new();
    for (i, pane) in Pane::CYCLE.iter().enumerate() {
        let label = match pane {
            Pane::Waiting => format!(
                " {} {} ({}) ",
                i + 1,
                pane.title(),
                app.derived.waiting.len()
            ),
            Pane::Incidents => {
                let open = app.state.incidents.values().filter(|x| x.is_open()).count();
                format!(" {} {} ({open} open) ", i + 1, pane.title())
            }
            _ => format!(" {} {} ", i + 1, pane.title()),
        };
        let style = if *pane == app.pane {
            t.selected()
        } else {
            t.fg(t.muted)
        };
        spans.push(Span::styled(label, style));
        spans.push(Span::raw(" "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
