//! The help overlay: every key valid here and the global keys, grouped, generated from the key
//! table (so an override in the config file shows up here too).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use crate::tui::input::keymap::{self, Group, TABLE};
use crate::tui::state::App;
use crate::tui::widgets::popup;

/// The help lines for `app`'s context.
#[must_use]
pub fn lines(app: &App) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut out = Vec::new();
    for group in [
        Group::Global,
        Group::Navigation,
        Group::Actions,
        Group::Travel,
        Group::Demo,
    ] {
        let entries: Vec<_> = TABLE
            .iter()
            .filter(|b| b.group == group)
            .filter(|b| keymap::applies(b, app.pane, app.options.read_only, app.virtual_clock()))
            .collect();
        if entries.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(Line::raw(""));
        }
        out.push(Line::styled(
            group.title().to_string(),
            t.fg(t.title).add_modifier(Modifier::BOLD),
        ));
        for b in entries {
            out.push(Line::from(vec![
                Span::styled(
                    format!("  {:<16}", app.keymap.keys_text(b.op)),
                    t.fg(t.key).add_modifier(Modifier::BOLD),
                ),
                Span::styled(b.help.to_string(), t.fg(t.text)),
            ]));
        }
    }
    out.push(Line::raw(""));
    out.push(Line::styled(
        "In popups",
        t.fg(t.title).add_modifier(Modifier::BOLD),
    ));
    out.push(Line::styled(
        "  enter / y       confirm          esc / n         cancel",
        t.fg(t.text),
    ));
    if app.options.read_only {
        out.push(Line::raw(""));
        out.push(Line::styled(
            "Read-only: changing actions are hidden.",
            t.fg(t.warn),
        ));
    }
    out
}

/// Draws the help overlay.
pub fn render(frame: &mut Frame, app: &App, area: Rect, scroll: u16) {
    let lines = lines(app);
    let room = area.height.saturating_sub(4);
    let shown: Vec<Line> = lines.into_iter().skip(usize::from(scroll)).collect();
    let height = u16::try_from(shown.len()).unwrap_or(u16::MAX).min(room);
    let title = format!("Help — {} (↑/↓ scroll, any key closes)", app.pane.title());
    let visible: Vec<Line> = shown.into_iter().take(usize::from(height)).collect();
    popup::render(frame, &app.theme, area, &title, 78, visible, 0);
}
