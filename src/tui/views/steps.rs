//! The Steps table: source → destination, delay, last validation, auto-validation countdown
//! (text and gauge), and the selected step's forecast underneath (SPEC §3).

use chrono::{DateTime, Duration, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use crate::model::{State, Step};
use crate::tui::fmt;
use crate::tui::state::App;
use crate::tui::state::Pane;
use crate::tui::theme::Theme;
use crate::tui::widgets::{gauge, pane};

use super::layout::FORECAST_LINES;

/// The last validation in `width` columns: the version always, then who, then the day (only
/// whole), then the comment (shortened) — a cut date reads as another date.
fn last_validation(step: &Step, width: usize) -> String {
    let Some(v) = &step.last_validation else {
        return format!("{} (initial)", step.pinned_version);
    };
    let len = |s: &str| s.chars().count();
    let mut out = v.version.to_string();
    let who = v.validated_by_user.as_deref().unwrap_or("system");
    let room = width.saturating_sub(len(&out) + 1);
    if len(who) > room {
        return if room >= 3 {
            format!("{out} {}", fmt::fit(who, room))
        } else {
            out
        };
    }
    out = format!("{out} {who}");
    let day = fmt::day(v.validated_at);
    if len(&out) + 1 + len(&day) > width {
        return out;
    }
    out = format!("{out} {day}");
    if let Some(c) = v.comment.as_deref() {
        let quoted = format!("\"{c}\"");
        let room = width.saturating_sub(len(&out) + 1);
        if len(&quoted) <= room || room >= 3 {
            out = format!("{out} {}", fmt::fit(&quoted, room));
        }
    }
    out
}

fn countdown<'a>(
    t: &Theme,
    state: &State,
    step: &Step,
    now: DateTime<Utc>,
    gauge_width: usize,
) -> Vec<Span<'a>> {
    if state.services.get(&step.source).is_some_and(|s| !s.powered) {
        return vec![Span::styled(" V6 source off ", t.alarm())];
    }
    match state.auto_validation_at(step) {
        Some(at) => {
            let mut spans = vec![Span::styled(
                format!("in {:<12} ", fmt::span(at - now)),
                t.fg(t.warn),
            )];
            if gauge_width > 0 {
                let delay = Duration::days(i64::from(step.auto_validation_delay_days));
                spans.extend(gauge::spans(t, gauge::elapsed(at, delay, now), gauge_width));
            }
            spans
        }
        None => vec![Span::styled("waiting on source", t.fg(t.muted))],
    }
}

/// The forecast sentence for a step's destination, and how it follows.
#[must_use]
pub fn forecast(state: &State, step: &Step, now: DateTime<Utc>) -> (String, String) {
    let name = &step.destination.name;
    let Some(dest) = state.services.get(&step.destination) else {
        return (String::new(), String::new());
    };
    match state.forecast(dest, now) {
        Some(f) if f.at > now => (
            format!(
                "Forecast: {name} gets {} ≈ {} (in {}) unless validated sooner",
                f.version,
                fmt::deadline(f.at),
                fmt::span(f.at - now)
            ),
            f.explanation,
        ),
        Some(f) => (
            format!("Forecast: {name} gets {} now", f.version),
            f.explanation,
        ),
        None if !dest.powered => (format!("Forecast: {name} is powered off"), String::new()),
        None => (
            format!(
                "Forecast: {name} runs the newest version it can get ({})",
                dest.version
            ),
            String::new(),
        ),
    }
}

/// `source → destination` in `width` columns: the source is shortened first (an ellipsis at
/// its end), then the destination, so steps from one source to several destinations stay
/// told apart.
fn fit_pair(source: &str, destination: &str, width: usize) -> String {
    let len = |s: &str| s.chars().count();
    let arrow = 3;
    if len(source) + arrow + len(destination) <= width {
        return format!("{source} → {destination}");
    }
    let source_room = width.saturating_sub(arrow + len(destination)).max(4);
    let source = fmt::fit(source, source_room);
    let destination = fmt::fit(
        destination,
        width.saturating_sub(arrow + len(&source)).max(1),
    );
    format!("{source} → {destination}")
}

/// Draws the Steps pane.
pub fn render(frame: &mut Frame, app: &App, now: DateTime<Utc>, area: Rect) {
    let t = &app.theme;
    let list = &app.derived.steps;
    let block = pane::block(app, Pane::Steps, Some(list.len()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [table_area, forecast_area] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(FORECAST_LINES)]).areas(inner);
    let height = usize::from(table_area.height.saturating_sub(1));
    let cursor = app.cursor(Pane::Steps).visible(list.len(), height);
    let wide = inner.width >= 100;
    let gauge_width = if wide { 10 } else { 0 };
    let auto_width = if wide { 24 } else { 17 };
    let widths = [
        Constraint::Fill(5),
        Constraint::Length(5),
        Constraint::Fill(4),
        Constraint::Length(auto_width),
    ];
    // The pair column's width as the table will lay it out, so names are shortened where it
    // keeps two steps of one source apart (the destination stays whole as long as it can).
    let columns = Layout::horizontal(widths)
        .spacing(1)
        .flex(ratatui::layout::Flex::Start)
        .split(table_area);
    let column_width = |i: usize| columns.get(i).map_or(0, |r| usize::from(r.width));
    let (pair_width, validation_width) = (column_width(0), column_width(2));
    let rows: Vec<Row> = list
        .iter()
        .skip(cursor.offset)
        .take(height)
        .filter_map(|id| app.state.steps.get(id))
        .map(|s| {
            Row::new(vec![
                Cell::from(fit_pair(&s.source.name, &s.destination.name, pair_width)),
                Cell::from(format!("{}d", s.auto_validation_delay_days)),
                Cell::from(Span::styled(
                    last_validation(s, validation_width),
                    t.fg(t.muted),
                )),
                Cell::from(Line::from(countdown(t, &app.state, s, now, gauge_width))),
            ])
            .style(t.fg(t.text))
        })
        .collect();
    let header = Row::new([
        if pair_width >= 20 {
            "source → destination"
        } else {
            "source → dest."
        },
        "delay",
        "last validation",
        "auto-validation",
    ])
    .style(t.fg(t.muted));
    let table =
        Table::new(rows, widths)
            .header(header)
            .row_highlight_style(if app.pane == Pane::Steps {
                t.selected()
            } else {
                t.fg(t.accent)
            });
    let mut state = TableState::default();
    if !list.is_empty() {
        state.select(Some(cursor.selected - cursor.offset));
    }
    frame.render_stateful_widget(table, table_area, &mut state);
    let lines = match list
        .get(cursor.selected)
        .and_then(|id| app.state.steps.get(id))
    {
        Some(step) => {
            let (sentence, why) = forecast(&app.state, step, now);
            vec![
                Line::styled(sentence, t.fg(t.accent)),
                Line::styled(why, t.fg(t.muted)),
            ]
        }
        None => vec![Line::styled("no steps", t.fg(t.muted))],
    };
    frame.render_widget(Paragraph::new(lines), forecast_area);
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::{fit_pair, last_validation};
    use crate::model::{ServiceKey, Step, Validation};

    fn step(user: Option<&str>, comment: Option<&str>) -> Step {
        let at = Utc
            .with_ymd_and_hms(2026, 12, 28, 9, 0, 0)
            .single()
            .expect("time");
        Step {
            step_id: "1".parse().expect("id"),
            organization_id: "default".into(),
            source: ServiceKey::new("dev", "pg-dev"),
            destination: ServiceKey::new("staging", "pg-staging"),
            auto_validation_delay_days: 3,
            pinned_version: "15.8".parse().expect("version"),
            last_validation: Some(Validation {
                validated_at: at,
                validated_by_user: user.map(str::to_string),
                comment: comment.map(str::to_string),
                version: "15.8".parse().expect("version"),
            }),
            created_at: at,
        }
    }

    #[test]
    fn a_last_validation_never_shows_a_cut_date() {
        let s = step(Some("alice"), Some("smoke tests green"));
        assert_eq!(
            last_validation(&s, 60),
            "15.8 alice 12-28 \"smoke tests green\""
        );
        assert_eq!(last_validation(&s, 24), "15.8 alice 12-28 \"smoke…");
        // Too narrow for the whole day: no day at all, rather than "12-2".
        assert_eq!(last_validation(&s, 15), "15.8 alice");
        assert_eq!(last_validation(&s, 8), "15.8 al…");
        let auto = step(None, None);
        assert_eq!(last_validation(&auto, 16), "15.8 system");
        for width in 0..40 {
            let shown = last_validation(&s, width);
            assert!(shown.chars().count() <= width.max(4), "{width}: {shown}");
            assert!(
                !shown.contains("12-2 ") && !shown.ends_with("12-2"),
                "{width}: {shown}"
            );
        }
    }

    #[test]
    fn a_pair_keeps_the_destination_whole_and_shortens_the_source_first() {
        assert_eq!(
            fit_pair("kafka-dev", "kafka-eu", 30),
            "kafka-dev → kafka-eu"
        );
        assert_eq!(fit_pair("kafka-dev", "kafka-eu", 18), "kafka-… → kafka-eu");
        assert_eq!(fit_pair("kafka-dev", "kafka-na", 18), "kafka-… → kafka-na");
        assert_eq!(fit_pair("os-logs-dev", "os-logs-prod", 10), "os-… → os…");
        for width in 0..40 {
            let pair = fit_pair("os-logs-dev", "os-logs-prod", width);
            assert!(pair.chars().count() <= width.max(9), "{width}: {pair}");
        }
    }
}
