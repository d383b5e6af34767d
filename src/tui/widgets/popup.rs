//! A centred popup: clears what is under it and frames its content.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};

use crate::tui::theme::Theme;

/// The centred rectangle of `width`×`height` inside `area`.
#[must_use]
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}

/// Draws a popup titled `title` holding `lines`, `width` wide, over `area`.
pub fn render(
    frame: &mut Frame,
    theme: &Theme,
    area: Rect,
    title: &str,
    width: u16,
    lines: Vec<Line<'_>>,
    scroll: u16,
) {
    let inner = usize::from(width.min(area.width).saturating_sub(2)).max(1);
    let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    let height = u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(2);
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme.fg(theme.border_focused))
        .title(Line::styled(
            format!(" {title} "),
            theme.fg(theme.title).add_modifier(Modifier::BOLD),
        ))
        .style(Style::new().bg(theme.popup_bg).fg(theme.text));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        rect,
    );
}
