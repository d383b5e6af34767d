//! The pipeline tree: organization → project → pipeline → services along the steps.
//!
//! Only the visible window is built: the row model (`rows.rs`) is derived when the structure
//! changes, and each frame turns just the rows on screen into `tui-tree-widget` items, so a
//! 10,000-service fleet costs what a screenful costs.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use tui_tree_widget::{Tree, TreeItem, TreeState};

use crate::tui::state::App;
use crate::tui::state::Pane;
use crate::tui::state::rows::{Row, RowKind};
use crate::tui::widgets::pane;

use super::service;

/// Draws the pipeline tree.
pub fn render(frame: &mut Frame, app: &App, now: DateTime<Utc>, area: Rect) {
    let block = pane::block(app, Pane::Pipelines, None);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = usize::from(inner.height);
    let rows = &app.derived.rows;
    let cursor = app.cursor(Pane::Pipelines).visible(rows.len(), height);
    let end = (cursor.offset + height).min(rows.len());
    let items: Vec<TreeItem<'_, usize>> = rows[cursor.offset..end]
        .iter()
        .enumerate()
        .map(|(i, row)| TreeItem::new_leaf(i, line(app, row, now)))
        .collect();
    if items.is_empty() {
        let t = &app.theme;
        let text = if app.filters[0].is_some() {
            "nothing matches the filter (esc clears it)"
        } else {
            "no services yet: create some with `lockstep service create`"
        };
        frame.render_widget(Line::styled(text, t.fg(t.muted)), inner);
        return;
    }
    let Ok(tree) = Tree::new(&items) else {
        return;
    };
    let highlight = if app.pane == Pane::Pipelines {
        app.theme.selected()
    } else {
        app.theme
            .fg(app.theme.accent)
            .add_modifier(Modifier::REVERSED)
    };
    let tree = tree.highlight_style(highlight).node_no_children_symbol("");
    let mut state = TreeState::default();
    state.select(vec![cursor.selected - cursor.offset]);
    frame.render_stateful_widget(tree, inner, &mut state);
}

fn fold(row: &Row) -> &'static str {
    if row.collapsed { "▸ " } else { "▾ " }
}

fn line<'a>(app: &App, row: &'a Row, now: DateTime<Utc>) -> Line<'a> {
    let t = &app.theme;
    let state = &app.state;
    let indent = "  ".repeat(usize::from(row.depth));
    match &row.kind {
        RowKind::Org(org) => Line::from(vec![
            Span::styled(fold(row), t.fg(t.muted)),
            Span::styled(org.as_str(), t.fg(t.title).add_modifier(Modifier::BOLD)),
            Span::styled(" (org)", t.fg(t.muted)),
        ]),
        RowKind::Project(p) => Line::from(vec![
            Span::raw(indent),
            Span::styled(fold(row), t.fg(t.muted)),
            Span::styled(p.as_str(), t.fg(t.title)),
            Span::styled(" (project)", t.fg(t.muted)),
        ]),
        RowKind::Pipeline { root, title } => {
            let mut spans = vec![
                Span::raw(indent),
                Span::styled(fold(row), t.fg(t.muted)),
                Span::styled(title.as_str(), t.fg(t.accent)),
            ];
            if source_off(state, &app.derived.sources, root, 0) {
                spans.push(Span::styled(" ⚠ V6 source off ", t.alarm()));
            }
            Line::from(spans)
        }
        RowKind::Service { key, standalone } => {
            let Some(svc) = state.services.get(key) else {
                return Line::raw(key.to_string());
            };
            let mut spans = vec![
                Span::raw(indent),
                Span::styled(row.branch.as_str(), t.fg(t.muted)),
                service::icon_span(t, state, svc),
                Span::styled(format!("{:<13} ", key.name), t.fg(t.text)),
            ];
            if *standalone {
                spans.push(Span::styled(
                    format!("{} ", svc.service_type),
                    t.fg(t.muted),
                ));
            }
            spans.push(Span::styled(
                format!("{:<7} ", svc.version.to_string()),
                t.fg(t.accent),
            ));
            spans.extend(service::tail(t, state, &app.derived.sources, svc, now));
            Line::from(spans)
        }
    }
}

/// V6: whether a source in the pipeline under `key` is powered off.
fn source_off(
    state: &crate::model::State,
    sources: &crate::tui::state::rows::Sources,
    key: &crate::model::ServiceKey,
    level: usize,
) -> bool {
    let steps = sources.of(state, key);
    if steps.is_empty() || level > 4 {
        return false;
    }
    state.services.get(key).is_some_and(|s| !s.powered)
        || steps
            .iter()
            .any(|s| source_off(state, sources, &s.destination, level + 1))
}
