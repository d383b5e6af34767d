//! The header: engine, clock and speed, DEMO and read-only flags, and the on-call counts.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::fmt;
use crate::tui::state::App;

fn width(spans: &[Span<'_>]) -> usize {
    spans.iter().map(Span::width).sum()
}

/// Draws the header line.
pub fn render(frame: &mut Frame, app: &App, now: DateTime<Utc>, area: Rect) {
    let t = &app.theme;
    let bar = t.bar();
    let mut left = vec![Span::styled(
        " lockstep ",
        bar.fg(t.accent).add_modifier(Modifier::BOLD),
    )];
    if app.virtual_clock() {
        left.push(Span::styled(
            " DEMO ",
            bar.fg(t.banner_fg)
                .bg(t.banner_bg)
                .add_modifier(Modifier::BOLD),
        ));
    }
    if app.options.read_only {
        left.push(Span::raw(" "));
        left.push(Span::styled(
            " READ-ONLY ",
            bar.fg(t.alarm_fg)
                .bg(t.alarm_bg)
                .add_modifier(Modifier::BOLD),
        ));
    }
    let mut clock = vec![Span::styled(
        format!("  {}", fmt::clock(now)),
        bar.fg(t.header_fg),
    )];
    if let Some(travel) = &app.travel {
        let live = app.clock.now;
        let (when, live) = if live.date_naive() == now.date_naive() {
            (
                now.format("%H:%M:%S").to_string(),
                live.format("%H:%M:%S").to_string(),
            )
        } else {
            (
                now.format("%a %m-%d %H:%M:%S").to_string(),
                live.format("%a %m-%d %H:%M:%S").to_string(),
            )
        };
        clock = vec![
            Span::raw("  "),
            Span::styled(
                format!(
                    " ⏪ viewing {when} (event #{}) — live is {live} ",
                    travel.event().seq,
                ),
                bar.fg(t.banner_fg)
                    .bg(t.banner_bg)
                    .add_modifier(Modifier::BOLD),
            ),
        ];
    } else if app.virtual_clock() {
        let speed = if app.options.read_only {
            " ⏸ read-only".to_string()
        } else if app.speed == 0 {
            " ⏸ paused".to_string()
        } else {
            format!(" ×{} ▶", app.speed)
        };
        clock.push(Span::styled(speed, bar.fg(t.accent)));
    }
    let s = &app.derived.summary;
    let mut counts = vec![
        Span::styled(format!("  ⏳ {} waiting", s.waiting), bar.fg(t.warn)),
        Span::styled(format!("  ⛔ {} held", s.held), bar.fg(t.warn)),
        Span::styled(format!("  ⟳ {} updating", s.updating), bar.fg(t.accent)),
    ];
    let runs = app
        .state
        .runs
        .values()
        .filter(|r| !r.status.is_finished())
        .count();
    if runs > 0 {
        counts.push(Span::styled(
            format!("  ⇄ {runs} run{}", if runs == 1 { "" } else { "s" }),
            bar.fg(t.accent),
        ));
    }
    let warnings = s.warnings();
    counts.push(if warnings > 0 {
        Span::styled(
            format!("  ⚠ {warnings} "),
            bar.fg(t.alarm_fg)
                .bg(t.alarm_bg)
                .add_modifier(Modifier::BOLD),
        )
    } else {
        Span::styled("  ⚠ 0 ", bar.fg(t.muted))
    });
    let room = usize::from(area.width);
    if width(&left) + width(&clock) + width(&counts) > room {
        // Narrow terminal: numbers and icons only, so the warning count stays in view.
        let short = [
            (s.waiting, "⏳", t.warn),
            (s.held, "⛔", t.warn),
            (s.updating, "⟳", t.accent),
        ];
        let mut compact: Vec<Span> = short
            .iter()
            .map(|(n, icon, c)| Span::styled(format!(" {icon}{n}"), bar.fg(*c)))
            .collect();
        compact.push(counts.pop().unwrap_or_default());
        counts = compact;
    }
    if let Some(link) = &app.link {
        use crate::engine::LinkState;
        let (text, style) = match link {
            LinkState::Connected => (" ● connected".to_string(), bar.fg(t.ok)),
            LinkState::Idle | LinkState::Connecting => {
                (" ◌ connecting…".to_string(), bar.fg(t.warn))
            }
            LinkState::Reconnecting { attempt, .. } => (
                format!(" ⟳ reconnecting (try {attempt}) "),
                bar.fg(t.alarm_fg)
                    .bg(t.alarm_bg)
                    .add_modifier(Modifier::BOLD),
            ),
        };
        left.push(Span::styled(text, style));
    }
    let used = width(&left) + width(&clock) + width(&counts);
    let engine = format!(" {} {}", app.info.kind, app.info.location);
    let mut line = left;
    if used + engine.chars().count() < room {
        line.push(Span::styled(engine, bar.fg(t.muted)));
    } else if used + 20 <= room {
        let keep = room - used - 1;
        line.push(Span::styled(
            format!(" {}", fmt::fit(&engine[1..], keep)),
            bar.fg(t.muted),
        ));
    }
    line.extend(clock);
    let gap = room.saturating_sub(width(&line) + width(&counts));
    line.push(Span::styled(" ".repeat(gap), bar));
    line.extend(counts);
    frame.render_widget(Paragraph::new(Line::from(line)).style(bar), area);
}
