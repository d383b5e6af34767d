//! The frame around a pane: title, filter, row count, focus.

use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};

use crate::tui::state::App;
use crate::tui::state::Pane;

/// The bordered block of `pane`, with its key, title, filter and `count` rows.
#[must_use]
pub fn block(app: &App, pane: Pane, count: Option<usize>) -> Block<'static> {
    let t = &app.theme;
    let focused = app.pane == pane;
    let mut title = vec![Span::styled(
        format!(" {} ", pane.title()),
        t.fg(t.title).add_modifier(Modifier::BOLD),
    )];
    if let Some(n) = count {
        title.push(Span::styled(format!("{n} "), t.fg(t.muted)));
    }
    if let Some(f) = &app.filters[pane.slot()] {
        title.push(Span::styled(format!("/{}/ ", f.text), t.fg(t.accent)));
    }
    Block::bordered()
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(t.border(focused))
        .title(Line::from(title))
}
