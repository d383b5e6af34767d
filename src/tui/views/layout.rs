//! Where each panel goes. Pure: the same function places panels for drawing and tells `update`
//! how many rows a list shows (for paging and scrolling).

use ratatui::layout::{Constraint, Layout, Rect};

use crate::tui::state::App;
use crate::tui::state::Pane;

/// The smallest usable terminal.
pub const MIN_WIDTH: u16 = 80;
/// The smallest usable terminal.
pub const MIN_HEIGHT: u16 = 24;
/// From this width on, panes sit side by side; below, they become tabs.
pub const WIDE_WIDTH: u16 = 110;
/// From this height on, panes sit side by side; below, they become tabs.
pub const WIDE_HEIGHT: u16 = 30;
/// Lines under the Steps table for the selected step's forecast.
pub const FORECAST_LINES: u16 = 2;

/// The screen's regions for one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Areas {
    /// The one-line header.
    pub header: Rect,
    /// The tab bar (compact layout only).
    pub tabs: Option<Rect>,
    /// The pipeline tree.
    pub pipelines: Option<Rect>,
    /// Waiting on me.
    pub waiting: Option<Rect>,
    /// The steps table.
    pub steps: Option<Rect>,
    /// The event history.
    pub history: Option<Rect>,
    /// Open and recent incidents.
    pub incidents: Option<Rect>,
    /// The service detail.
    pub detail: Option<Rect>,
    /// The run board.
    pub runboard: Option<Rect>,
    /// The one-line footer.
    pub footer: Rect,
}

/// Whether the terminal is big enough at all.
#[must_use]
pub fn big_enough(area: Rect) -> bool {
    area.width >= MIN_WIDTH && area.height >= MIN_HEIGHT
}

/// Whether panes sit side by side.
#[must_use]
pub fn wide(area: Rect) -> bool {
    area.width >= WIDE_WIDTH && area.height >= WIDE_HEIGHT
}

/// Rows in Waiting on me: steps, and runs waiting for an operator.
fn waiting_rows(app: &App) -> usize {
    app.derived.waiting.len() + super::runboard_lines::waiting_lines(app).len()
}

/// Lines the incidents panel wants when another pane has the focus.
fn incident_rows(app: &App) -> usize {
    super::incidents::panel_rows(app).len()
}

/// Places every panel for `app` in `area`.
#[must_use]
pub fn areas(app: &App, area: Rect) -> Areas {
    place(app.pane, waiting_rows(app), incident_rows(app), area)
}

/// Places every panel with `pane` focused, `waiting` rows waiting and `incidents` lines of
/// incidents.
#[must_use]
pub fn place(pane: Pane, waiting: usize, incidents: usize, area: Rect) -> Areas {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let mut a = Areas {
        header,
        footer,
        ..Areas::default()
    };
    if pane == Pane::Detail {
        a.detail = Some(body);
        return a;
    }
    if pane == Pane::RunBoard {
        a.runboard = Some(body);
        return a;
    }
    if pane == Pane::Incidents && wide(area) {
        // Triage wants the whole width: where every endpoint points, what happens next.
        a.incidents = Some(body);
        return a;
    }
    if !wide(area) {
        let [tabs, main] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(body);
        a.tabs = Some(tabs);
        match pane {
            Pane::Pipelines | Pane::Detail | Pane::RunBoard => a.pipelines = Some(main),
            Pane::Waiting => a.waiting = Some(main),
            Pane::Steps => a.steps = Some(main),
            Pane::History => a.history = Some(main),
            Pane::Incidents => a.incidents = Some(main),
        }
        return a;
    }
    let left_width = (body.width / 2).max(52);
    let [left, right] =
        Layout::horizontal([Constraint::Length(left_width), Constraint::Min(1)]).areas(body);
    a.pipelines = Some(left);
    if pane == Pane::History {
        a.history = Some(right);
        return a;
    }
    let waiting_rows = u16::try_from(waiting).unwrap_or(u16::MAX);
    let waiting_height = waiting_rows.clamp(1, 8) + 2;
    let incident_rows = u16::try_from(incidents).unwrap_or(u16::MAX);
    let incidents_height = incident_rows.clamp(1, 6) + 2;
    let [waiting, incidents, steps] = Layout::vertical([
        Constraint::Length(waiting_height),
        Constraint::Length(incidents_height),
        Constraint::Min(1),
    ])
    .areas(right);
    a.waiting = Some(waiting);
    a.incidents = Some(incidents);
    a.steps = Some(steps);
    a
}

/// How many rows the list of `pane` shows at the current terminal size.
#[must_use]
pub fn list_height(app: &App, pane: Pane) -> usize {
    let area = Rect::new(0, 0, app.size.width, app.size.height);
    let a = place(pane, waiting_rows(app), incident_rows(app), area);
    let inner = |r: Option<Rect>, extra: u16| {
        r.map_or(10, |r| {
            usize::from(r.height.saturating_sub(2 + extra).max(1))
        })
    };
    match pane {
        Pane::Pipelines => inner(a.pipelines, 0),
        Pane::Waiting => inner(a.waiting, 0),
        Pane::Steps => inner(a.steps, 1 + FORECAST_LINES),
        Pane::History => inner(a.history, 0),
        Pane::Incidents => {
            let warnings = u16::try_from(app.derived.unheld.len()).unwrap_or(u16::MAX);
            (inner(a.incidents, warnings) / super::incidents::LINES_PER_INCIDENT).max(1)
        }
        Pane::Detail | Pane::RunBoard => inner(a.detail, 0),
    }
}
