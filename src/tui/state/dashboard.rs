//! The whole dashboard's state: a mirror of the engine's state, folded from its event stream,
//! plus everything the operator is doing (focus, selection, popups, filters). What changes it
//! lives above ([`crate::tui::app`] folds events and recomputes what the panels list).

use std::collections::{HashSet, VecDeque};

use ratatui::layout::Size;

use super::filter::Filter;
use super::modal::Modal;
use crate::engine::{ClockInfo, EngineInfo};
use crate::model::{Event, ServiceKey, State};
use crate::tui::input::keymap::Keymap;
use crate::tui::theme::Theme;

use super::{Cursor, Derived, Options, Pane, Status};

/// The simulated-time speeds `+`/`-` step through; 0 is paused.
pub const SPEEDS: &[u32] = &[0, 1, 60, 600, 3600, 21_600, 86_400];
/// The default demo speed: an hour per second.
pub const DEFAULT_SPEED: u32 = 3600;
/// Panes with their own filter and cursor.
pub const SLOTS: usize = 6;
/// How many events the history keeps.
pub const HISTORY_LIMIT: usize = 2000;

/// The whole dashboard.
#[derive(Debug)]
pub struct App {
    /// The engine's state, folded from its events.
    pub state: State,
    /// Where the engine lives.
    pub info: EngineInfo,
    /// The engine's clock at the last reading.
    pub clock: ClockInfo,
    /// How the dashboard was started.
    pub options: Options,
    /// Simulated seconds per real second (virtual clocks only; 0 is paused).
    pub speed: u32,
    /// Colours.
    pub theme: Theme,
    /// Keys.
    pub keymap: Keymap,
    /// The focused pane.
    pub pane: Pane,
    /// The service shown in detail, if any.
    pub detail: Option<ServiceKey>,
    /// The open popup, if any.
    pub modal: Option<Modal>,
    /// The filter being typed (in the status line), for the focused pane.
    pub filter_input: Option<String>,
    /// Each pane's filter.
    pub filters: [Option<Filter>; SLOTS],
    /// Each pane's cursor.
    pub cursors: [Cursor; SLOTS],
    /// Collapsed tree nodes, by node id.
    pub collapsed: HashSet<String>,
    /// Recent events, newest first.
    pub history: VecDeque<Event>,
    /// What the panels list, recomputed when the state or a filter changes.
    pub derived: Derived,
    /// The status line.
    pub status: Option<Status>,
    /// Engine calls under way, by label.
    pub in_flight: Vec<String>,
    /// A clock advance is under way.
    pub advancing: bool,
    /// The terminal's size at the last resize.
    pub size: Size,
    /// Whether the screen must be drawn again.
    pub dirty: bool,
    /// Whether to leave.
    pub quit: bool,
    /// The run board's own state.
    pub board: super::BoardState,
    /// Time travel: the dashboard shows the past, folded from the journal.
    pub travel: Option<super::travel::Travel>,
    /// The link to a remote engine, as last reported (`None` for an embedded engine).
    pub link: Option<crate::engine::LinkState>,
}
