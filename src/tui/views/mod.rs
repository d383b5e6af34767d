//! `view`: draws the whole screen from `&App`, with `now` injected so countdowns are
//! deterministic in tests. One file per panel.

pub mod detail;
pub mod footer;
pub mod header;
pub mod help;
pub mod history;
pub mod incidents;
pub mod layout;
pub mod pipelines;
pub mod popups;
pub mod runboard;
pub mod runboard_chart;
pub mod runboard_lines;
pub mod service;
pub mod steps;
pub mod tabs;
pub mod waiting;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Alignment;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::state::App;
use super::state::modal::Modal;

/// Draws the dashboard.
pub fn view(frame: &mut Frame, app: &App, now: DateTime<Utc>) {
    let area = frame.area();
    if !layout::big_enough(area) {
        let t = &app.theme;
        let text = vec![
            Line::styled("lockstep needs a bigger terminal", t.fg(t.warn)),
            Line::styled(
                format!(
                    "at least {}×{}, this one is {}×{}",
                    layout::MIN_WIDTH,
                    layout::MIN_HEIGHT,
                    area.width,
                    area.height
                ),
                t.fg(t.text),
            ),
            Line::styled("q quits", t.fg(t.muted)),
        ];
        frame.render_widget(
            Paragraph::new(text)
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let a = layout::areas(app, area);
    header::render(frame, app, now, a.header);
    if let Some(r) = a.tabs {
        tabs::render(frame, app, r);
    }
    if let Some(r) = a.pipelines {
        pipelines::render(frame, app, now, r);
    }
    if let Some(r) = a.waiting {
        waiting::render(frame, app, now, r);
    }
    if let Some(r) = a.steps {
        steps::render(frame, app, now, r);
    }
    if let Some(r) = a.history {
        history::render(frame, app, r);
    }
    if let Some(r) = a.incidents {
        incidents::render(frame, app, now, r);
    }
    if let Some(r) = a.detail {
        detail::render(frame, app, now, r);
    }
    if let Some(r) = a.runboard {
        runboard::render(frame, app, now, r);
    }
    footer::render(frame, app, a.footer);
    match &app.modal {
        Some(Modal::Help { scroll }) => help::render(frame, app, area, *scroll),
        Some(m) => popups::render(frame, app, now, m, area),
        None => {}
    }
}
