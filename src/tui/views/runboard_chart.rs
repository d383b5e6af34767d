//! The run board's moving parts: the replication lag chart (per slot, bounded window, zoom,
//! freeze) and the phase timeline (finished, running, pending, failed).

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph};

use crate::model::run::{PhaseOutcome, Run, RunPhase, format_bytes, format_span};
use crate::tui::state::App;

/// Draws the lag chart of `run` in `area`, ending at `now` (or where it was frozen).
pub fn lag(frame: &mut Frame, app: &App, run: &Run, now: DateTime<Utc>, area: Rect) {
    let t = &app.theme;
    let end = app.board.frozen_at.unwrap_or(now);
    let window = app.board.window_s();
    let start = end - chrono::Duration::seconds(window);
    let series: Vec<(String, Vec<(f64, f64)>)> = run
        .lag
        .iter()
        .map(|(slot, samples)| {
            let points = samples
                .iter()
                .filter(|s| s.at >= start && s.at <= end)
                .map(|s| ((s.at - start).num_seconds() as f64, s.lag_bytes as f64))
                .collect();
            (slot.clone(), points)
        })
        .collect();
    let peak = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(run.config.lag_threshold_bytes as f64, f64::max);
    let colors = [t.accent, t.ok, t.warn];
    let datasets: Vec<Dataset> = series
        .iter()
        .enumerate()
        .map(|(i, (slot, points))| {
            Dataset::default()
                .name(slot.clone())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(t.fg(colors[i % colors.len()]))
                .data(points)
        })
        .collect();
    let frozen = if app.board.frozen_at.is_some() {
        " · frozen (f)"
    } else {
        ""
    };
    let title = format!(
        " Replication lag (bytes, last {}){frozen} ",
        format_span(chrono::Duration::seconds(window))
    );
    let block = Block::bordered()
        .border_style(t.border(false))
        .title(Line::styled(
            title,
            t.fg(t.title).add_modifier(Modifier::BOLD),
        ));
    if series.iter().all(|(_, p)| p.is_empty()) {
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let text = if run.phase < RunPhase::Replicating {
            "no lag yet: replication starts in B4"
        } else {
            "no samples in this window (z/Z zoom)"
        };
        frame.render_widget(Line::styled(text, t.fg(t.muted)), inner);
        return;
    }
    let y_labels = vec![
        Span::styled("0", t.fg(t.muted)),
        Span::styled(format_bytes((peak / 2.0) as u64), t.fg(t.muted)),
        Span::styled(format_bytes(peak as u64), t.fg(t.muted)),
    ];
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(Axis::default().bounds([0.0, window as f64]))
        .y_axis(
            Axis::default()
                .bounds([0.0, peak * 1.05])
                .labels(y_labels)
                .style(t.fg(t.muted)),
        );
    frame.render_widget(chart, area);
}

/// Draws the phase timeline: one row per phase, bars placed on the run's span.
pub fn timeline(frame: &mut Frame, app: &App, run: &Run, now: DateTime<Utc>, area: Rect) {
    let t = &app.theme;
    let block = Block::bordered()
        .border_style(t.border(false))
        .title(Line::styled(
            " Timeline ",
            t.fg(t.title).add_modifier(Modifier::BOLD),
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let label_w = 20usize;
    let bar_w = usize::from(inner.width).saturating_sub(label_w + 18).max(4);
    let end = run.finished_at.unwrap_or(now);
    let span_s = (end - run.started_at).num_seconds().max(1) as f64;
    let col = |at: DateTime<Utc>| {
        let x = (at - run.started_at).num_seconds().max(0) as f64 / span_s * bar_w as f64;
        (x as usize).min(bar_w.saturating_sub(1))
    };
    let mut lines = Vec::new();
    for phase in RunPhase::ALL {
        let records: Vec<_> = run.phases.iter().filter(|r| r.phase == phase).collect();
        let mut cells = vec![' '; bar_w];
        let mut style = t.fg(t.muted);
        let mut tail = String::new();
        for r in &records {
            let (a, b) = (col(r.started_at), col(r.ended_at.unwrap_or(now)));
            let glyph = match r.outcome {
                None => '▓',
                Some(PhaseOutcome::Succeeded) => '█',
                Some(_) => '░',
            };
            for c in cells.iter_mut().take(b + 1).skip(a) {
                *c = glyph;
            }
            let d = format_span(Run::record_duration(r, now));
            tail = match r.outcome {
                None => format!(" {d}…"),
                Some(PhaseOutcome::Succeeded) => format!(" {d}"),
                Some(PhaseOutcome::Failed) => format!(" {d} failed"),
                Some(PhaseOutcome::Reverted) => format!(" {d} reverted"),
                Some(PhaseOutcome::RolledBack) => format!(" {d} rolled back"),
            };
            style = match r.outcome {
                None => t.fg(t.accent).add_modifier(Modifier::BOLD),
                Some(PhaseOutcome::Succeeded) => t.fg(t.ok),
                Some(_) => t.fg(t.danger),
            };
        }
        if records.is_empty() {
            let at = col(end);
            cells[at] = '·';
        }
        let bar: String = cells.into_iter().collect::<String>().trim_end().to_string();
        lines.push(Line::from(vec![
            Span::styled(format!("{:<label_w$}", phase.to_string()), t.fg(t.text)),
            Span::styled(bar, style),
            Span::styled(tail, style),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
