//! The footer: the keys valid here (from the key table) on the left, the status on the right.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::input::keymap::{self, TABLE};
use crate::tui::state::App;
use crate::tui::state::Level;
use crate::tui::state::modal::Modal;

/// The footer's key hints for the current context: `(key, word)`.
#[must_use]
pub fn hints(app: &App) -> Vec<(String, &'static str)> {
    let fixed = |pairs: &[(&str, &'static str)]| {
        pairs
            .iter()
            .map(|(k, w)| ((*k).to_string(), *w))
            .collect::<Vec<_>>()
    };
    if app.filter_input.is_some() {
        return fixed(&[
            ("enter", "keep filter"),
            ("esc", "clear filter"),
            ("!", "at start inverts"),
        ]);
    }
    match &app.modal {
        Some(Modal::Validate { .. }) => fixed(&[("enter", "validate"), ("esc", "cancel")]),
        Some(Modal::Delay { .. }) => {
            fixed(&[("enter", "save"), ("↑/↓", "±1 day"), ("esc", "cancel")])
        }
        Some(Modal::Confirm(_)) => fixed(&[("y/enter", "go"), ("n/esc", "stay")]),
        Some(Modal::Help { .. }) => fixed(&[("↑/↓", "scroll"), ("any key", "close")]),
        Some(Modal::TravelTo { .. }) => fixed(&[("enter", "go"), ("esc", "cancel")]),
        None if app.travel.is_some() => fixed(&[
            ("[", "earlier"),
            ("]", "later"),
            ("T", "go to time"),
            ("tab", "pane"),
            ("5", "incidents"),
            ("esc", "live"),
            ("?", "help"),
            ("q", "quit"),
        ]),
        Some(Modal::Palette { .. }) => {
            fixed(&[("enter", "run"), ("↑/↓", "pick"), ("esc", "close")])
        }
        None => TABLE
            .iter()
            .filter(|b| b.footer)
            .filter(|b| keymap::applies(b, app.pane, app.options.read_only, app.virtual_clock()))
            .filter_map(|b| app.keymap.first_key(b.op).map(|k| (k, b.label)))
            .chain(
                app.virtual_clock()
                    .then(|| ("+/-".to_string(), "speed"))
                    .filter(|_| !app.options.read_only),
            )
            .collect(),
    }
}

/// Draws the footer.
pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let bar = t.bar();
    let mut right: Vec<Span> = Vec::new();
    if let Some(text) = &app.filter_input {
        right.push(Span::styled(
            format!(" / {}: ", app.pane.title()),
            bar.fg(t.accent),
        ));
        right.push(Span::styled(
            format!("{text}▏"),
            bar.fg(t.input_fg).bg(t.input_bg),
        ));
    } else if !app.in_flight.is_empty() {
        right.push(Span::styled(
            format!("⟳ {}… ", app.in_flight.join(", ")),
            bar.fg(t.accent),
        ));
    } else if let Some(s) = &app.status {
        let color = match s.level {
            Level::Ok => t.ok,
            Level::Info => t.header_fg,
            Level::Error => t.danger,
        };
        right.push(Span::styled(
            format!("{} ", s.text),
            bar.fg(color).add_modifier(Modifier::BOLD),
        ));
    }
    let right_width: usize = right.iter().map(Span::width).sum();
    let room = usize::from(area.width).saturating_sub(right_width);
    let mut left = Vec::new();
    let mut used = 0;
    for (key, word) in hints(app) {
        let w = key.chars().count() + word.chars().count() + 3;
        if used + w > room {
            break;
        }
        used += w;
        left.push(Span::styled(
            format!(" {key}"),
            bar.fg(t.key).add_modifier(Modifier::BOLD),
        ));
        left.push(Span::styled(format!(" {word} "), bar.fg(t.header_fg)));
    }
    let gap = usize::from(area.width).saturating_sub(used + right_width);
    left.push(Span::styled(" ".repeat(gap), bar));
    left.extend(right);
    frame.render_widget(Paragraph::new(Line::from(left)).style(bar), area);
}
