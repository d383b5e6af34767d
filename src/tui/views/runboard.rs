//! The run board (B10, SCREENS.md §3), after the source's monitoring board: current phase in
//! large type, replication lag per slot, timeline, finished phases with durations, total
//! downtime, runner configuration, backlog, guardrails and DDL changes.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::runboard_chart;
use crate::model::RunStatus;
use crate::model::run::{
    PhaseOutcome, Run, RunPhase, Treatment, choice_for, format_bytes, format_downtime, format_span,
};
use crate::tui::state::App;
use crate::tui::state::Pane;
use crate::tui::targets::shown_run;
use crate::tui::widgets::pane;

fn boxed<'a>(app: &App, title: &str) -> Block<'a> {
    let t = &app.theme;
    Block::bordered()
        .border_style(t.border(false))
        .title(Line::styled(
            format!(" {title} "),
            t.fg(t.title).add_modifier(Modifier::BOLD),
        ))
}

fn panel(frame: &mut Frame, app: &App, title: &str, lines: Vec<Line<'_>>, area: Rect) {
    frame.render_widget(Paragraph::new(lines).block(boxed(app, title)), area);
}

/// Draws the run board in `area`.
pub fn render(frame: &mut Frame, app: &App, now: DateTime<Utc>, area: Rect) {
    let t = &app.theme;
    let Some(run) = shown_run(app) else {
        let block = pane::block(app, Pane::RunBoard, None);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(
            Line::styled(
                "no upgrade runs yet: select a pg service and press u",
                t.fg(t.muted),
            ),
            inner,
        );
        return;
    };
    let [title, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    frame.render_widget(title_line(app, run, now), title);
    let left_w = if area.width >= 110 { 36 } else { 30 };
    let [left, right] =
        Layout::horizontal([Constraint::Length(left_w), Constraint::Min(20)]).areas(body);
    let finished = run
        .phases
        .iter()
        .filter(|r| r.outcome.is_some())
        .count()
        .min(9);
    let [phase, done, downtime, config, backlog, inventory] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Length(u16::try_from(finished).unwrap_or(9).max(1) + 2),
        Constraint::Length(3),
        Constraint::Length(6),
        Constraint::Length(4),
        Constraint::Min(3),
    ])
    .areas(left);
    panel(frame, app, "Phase", phase_lines(app, run), phase);
    panel(frame, app, "Finished", finished_lines(app, run, now), done);
    panel(
        frame,
        app,
        "Total downtime",
        downtime_lines(app, run),
        downtime,
    );
    panel(
        frame,
        app,
        "Runner configuration",
        config_lines(app, run),
        config,
    );
    panel(frame, app, "Backlog", backlog_lines(app, run), backlog);
    panel(
        frame,
        app,
        "Inventory (B1)",
        inventory_lines(app, run, left_w.saturating_sub(2)),
        inventory,
    );
    let [chart, timeline, bottom] = Layout::vertical([
        Constraint::Min(6),
        Constraint::Length(9),
        Constraint::Length(8),
    ])
    .areas(right);
    runboard_chart::lag(frame, app, run, now, chart);
    runboard_chart::timeline(frame, app, run, now, timeline);
    let [ddl, guards] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Min(10)]).areas(bottom);
    panel(frame, app, "DDL changes", ddl_lines(app, run), ddl);
    let title = match run.latest.as_ref() {
        Some(o) if run.phase <= RunPhase::Switchover && !run.status.is_finished() => {
            format!("Guardrails · checked {} ago", format_span(now - o.at))
        }
        _ => "Guardrails".to_string(),
    };
    panel(frame, app, &title, guardrail_lines(app, run), guards);
}

fn title_line<'a>(app: &App, run: &'a Run, now: DateTime<Utc>) -> Line<'a> {
    let t = &app.theme;
    let bold = |c| t.fg(c).add_modifier(Modifier::BOLD);
    let end = run.finished_at.unwrap_or(now);
    let guards = run.guardrails();
    let green = guards.iter().filter(|g| g.ok).count();
    let (text, color) = if run.latest.is_none() {
        ("guardrails —".to_string(), t.muted)
    } else if green == guards.len() {
        (format!("guardrails {green}/{} ✓", guards.len()), t.ok)
    } else {
        (format!("guardrails {green}/{} ✗", guards.len()), t.danger)
    };
    Line::from(vec![
        Span::styled(format!(" {} ", run.service.name), bold(t.title)),
        Span::styled(
            format!(" {} → {} ", run.from_version, run.config.target_version),
            bold(t.accent),
        ),
        Span::styled(format!("  run {}   ", run.run_id), t.fg(t.text)),
        Span::styled(text, bold(color)),
        Span::styled(
            format!("   started {}", run.started_at.format("%H:%M")),
            t.fg(t.muted),
        ),
        Span::styled(
            format!("   elapsed {}", format_span(end - run.started_at)),
            t.fg(t.muted),
        ),
    ])
}

fn status_style(app: &App, run: &Run) -> Style {
    let t = &app.theme;
    match run.status {
        RunStatus::Completed => t.fg(t.ok),
        RunStatus::RolledBack | RunStatus::Failed => t.fg(t.danger),
        RunStatus::WaitingForOperator => t.fg(t.warn),
        RunStatus::Active if run.rollback.is_some() || run.action_needed().is_some() => {
            t.fg(t.danger)
        }
        RunStatus::Active => t.fg(t.accent),
    }
}

fn phase_lines<'a>(app: &App, run: &'a Run) -> Vec<Line<'a>> {
    let t = &app.theme;
    let big = status_style(app, run).add_modifier(Modifier::BOLD);
    let headline = match run.status {
        RunStatus::Completed => "COMPLETED".to_string(),
        RunStatus::RolledBack => "ROLLED BACK".to_string(),
        _ if run.rollback.is_some() => "B8  ROLLING BACK".to_string(),
        _ => format!("{}  {}", run.phase.id(), run.phase.label().to_uppercase()),
    };
    let detail = match (run.phase, run.current_lag()) {
        (RunPhase::Replicating, Some(lag)) => match run.latest.as_ref() {
            Some(o) if !o.row_count_mismatches.is_empty() => format!(
                "lag {} · rows differ in {}",
                format_bytes(lag),
                o.row_count_mismatches.len()
            ),
            _ => format!("lag {}", format_bytes(lag)),
        },
        _ => {
            let sides = run.sides();
            if sides.blue.starts_with("switching over") {
                "blue's fence held by lockstep".to_string()
            } else {
                format!(
                    "attempt {} · serves {}",
                    run.attempt(),
                    sides.serving.as_str()
                )
            }
        }
    };
    let status = match (&run.rollback, run.status) {
        _ if run.action_needed().is_some() => "action needed: see run get".to_string(),
        (Some(why), RunStatus::Active) => why.clone(),
        (_, RunStatus::WaitingForOperator) => "ready: s switches over".to_string(),
        (Some(_), RunStatus::Failed) => "rollback failed: r retries".to_string(),
        (None, RunStatus::Failed) => "failed: r retries".to_string(),
        (_, status) => status.to_string(),
    };
    vec![
        Line::styled(format!(" {headline}"), big),
        Line::styled(format!(" {detail}"), t.fg(t.text)),
        Line::styled(format!(" {status}"), status_style(app, run)),
    ]
}

fn finished_lines<'a>(app: &App, run: &'a Run, now: DateTime<Utc>) -> Vec<Line<'a>> {
    let t = &app.theme;
    let done: Vec<_> = run.phases.iter().filter(|r| r.outcome.is_some()).collect();
    if done.is_empty() {
        return vec![Line::styled(" nothing finished yet", t.fg(t.muted))];
    }
    // Narrow boards shorten the phase names so durations and marks stay in view.
    let w = if app.size.width >= 110 { 19 } else { 16 };
    done.iter()
        .rev()
        .take(9)
        .rev()
        .map(|r| {
            let (mark, style) = match r.outcome {
                Some(PhaseOutcome::Succeeded) => ("✓", t.fg(t.ok)),
                Some(PhaseOutcome::Reverted) => ("↺", t.fg(t.danger)),
                _ => ("✗", t.fg(t.danger)),
            };
            Line::from(vec![
                Span::styled(
                    format!(" {:<w$}", crate::tui::fmt::fit(&r.phase.to_string(), w)),
                    t.fg(t.text),
                ),
                Span::styled(
                    format!("{:>8} ", format_span(Run::record_duration(r, now))),
                    t.fg(t.muted),
                ),
                Span::styled(mark, style),
            ])
        })
        .collect()
}

fn downtime_lines<'a>(app: &App, run: &'a Run) -> Vec<Line<'a>> {
    let t = &app.theme;
    let mut spans = vec![Span::styled(
        format!(
            "   {}",
            run.total_downtime_ms()
                .map_or_else(|| "—".into(), format_downtime)
        ),
        t.fg(t.text).add_modifier(Modifier::BOLD),
    )];
    if !run.reverts.is_empty() {
        spans.push(Span::styled(
            format!("  ({} reverted)", run.reverts.len()),
            t.fg(t.danger),
        ));
    }
    // B9: crashes of lockstep that cut an action off (their waits are in the downtime).
    let lost: u32 = run
        .interruptions
        .iter()
        .map(|(_, i)| i.lost_tries.max(1))
        .sum();
    if lost > 0 {
        spans.push(Span::styled(
            format!("  lockstep stopped {lost}×"),
            t.fg(t.danger),
        ));
    }
    vec![Line::from(spans)]
}

fn config_lines<'a>(app: &App, run: &'a Run) -> Vec<Line<'a>> {
    let t = &app.theme;
    let c = &run.config;
    let onoff = |b: bool| if b { "✓" } else { "off" };
    [
        format!(
            " target {} · timeout {}s",
            c.target_version, c.switchover_timeout_s
        ),
        format!(" lag threshold {}", format_bytes(c.lag_threshold_bytes)),
        format!(
            " long txn {}s · vacuum {}",
            c.long_txn_limit_s,
            onoff(c.vacuum)
        ),
        format!(
            " auto-switchover {}",
            if c.auto_switchover { "on" } else { "off" }
        ),
    ]
    .into_iter()
    .map(|l| Line::styled(l, t.fg(t.text)))
    .collect()
}

fn backlog_lines<'a>(app: &App, run: &'a Run) -> Vec<Line<'a>> {
    let t = &app.theme;
    let resumed = run.phase.after_switchover() || run.status.is_finished();
    match run.latest.as_ref().and_then(|o| o.backlog_rows) {
        Some(rows) if !resumed => vec![
            Line::styled(" ingestion paused (B1)", t.fg(t.warn)),
            Line::styled(format!(" {rows} rows queued"), t.fg(t.warn)),
        ],
        _ if resumed => vec![Line::styled(" ingestion running", t.fg(t.ok))],
        _ if run.config.pause_ingestion => {
            vec![Line::styled(" ingestion paused in B1", t.fg(t.muted))]
        }
        _ => vec![Line::styled(" ingestion not paused", t.fg(t.muted))],
    }
}

fn inventory_lines<'a>(app: &App, run: &'a Run, width: u16) -> Vec<Line<'a>> {
    let t = &app.theme;
    let Some(inv) = &run.inventory else {
        return vec![Line::styled(" taken in B1", t.fg(t.muted))];
    };
    if inv.items.is_empty() {
        return vec![Line::styled(" only tables and sequences", t.fg(t.ok))];
    }
    let w = usize::from(width).saturating_sub(3);
    let mut lines: Vec<Line<'a>> = inv
        .items
        .iter()
        .map(|item| {
            let chosen = choice_for(&run.choices, item.kind);
            let (mark, style, what) = match (item.treatment, chosen) {
                (Treatment::Carry, _) => ("✓", t.fg(t.ok), item.name.clone()),
                (_, Some(c)) => ("✓", t.fg(t.warn), format!("{} ({})", item.name, c.value)),
                (_, None) => (
                    "✗",
                    t.fg(t.danger).add_modifier(Modifier::BOLD),
                    item.name.clone(),
                ),
            };
            let text = format!("{}: {what}", item.kind.label());
            Line::from(vec![
                Span::styled(format!(" {mark} "), style),
                Span::styled(crate::tui::fmt::fit(&text, w), t.fg(t.text)),
            ])
        })
        .collect();
    let waiting = inv
        .items
        .iter()
        .any(|i| i.treatment != Treatment::Carry && choice_for(&run.choices, i.kind).is_none());
    if waiting {
        for hint in [
            format!(" choose: run choose {}", run.run_id),
            "   --unlogged copy|empty".to_string(),
        ] {
            lines.push(Line::styled(
                crate::tui::fmt::fit(&hint, w + 3),
                t.fg(t.warn),
            ));
        }
    }
    lines
}

fn ddl_lines<'a>(app: &App, run: &'a Run) -> Vec<Line<'a>> {
    let t = &app.theme;
    if run.ddl.is_empty() {
        return vec![Line::styled(" none seen on blue", t.fg(t.muted))];
    }
    run.ddl
        .iter()
        .rev()
        .take(4)
        .map(|d| {
            let style = if d.in_flight {
                t.fg(t.danger)
            } else {
                t.fg(t.text)
            };
            Line::styled(format!(" {} {}", d.at.format("%H:%M"), d.statement), style)
        })
        .collect()
}

fn guardrail_lines<'a>(app: &App, run: &'a Run) -> Vec<Line<'a>> {
    let t = &app.theme;
    if run.latest.is_none() || run.phase > RunPhase::Switchover || run.status.is_finished() {
        let text = if run.latest.is_none() {
            " judged from B4 on"
        } else {
            " switchover done"
        };
        return vec![Line::styled(text, t.fg(t.muted))];
    }
    run.guardrails()
        .into_iter()
        .map(|g| {
            let (mark, style) = if g.ok {
                ("✓", t.fg(t.ok))
            } else {
                ("✗", t.fg(t.danger).add_modifier(Modifier::BOLD))
            };
            Line::styled(format!(" {mark} {}", g.detail), style)
        })
        .collect()
}
