//! The dashboard's small kinds of state: its panes, how loud a status line is, a list's cursor,
//! how it was started.

/// A pane the operator can focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pane {
    /// The pipeline tree (key 1).
    Pipelines,
    /// Steps waiting for a validation (key 2).
    Waiting,
    /// Every step (key 3).
    Steps,
    /// The event history (key 4).
    History,
    /// Open and recent incidents (key 5).
    Incidents,
    /// One service in detail (enter).
    Detail,
    /// An upgrade run's board (key b).
    RunBoard,
}

impl Pane {
    /// The panes `tab` cycles through, in order.
    pub const CYCLE: [Pane; 5] = [
        Pane::Pipelines,
        Pane::Waiting,
        Pane::Steps,
        Pane::History,
        Pane::Incidents,
    ];

    /// The pane's title.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Pane::Pipelines => "Pipelines",
            Pane::Waiting => "Waiting on me",
            Pane::Steps => "Steps",
            Pane::History => "History",
            Pane::Incidents => "Incidents",
            Pane::Detail => "Service",
            Pane::RunBoard => "Run board",
        }
    }

    /// Its index in the filter and selection arrays.
    #[must_use]
    pub fn slot(self) -> usize {
        match self {
            Pane::Pipelines => 0,
            Pane::Waiting => 1,
            Pane::Steps => 2,
            Pane::History => 3,
            Pane::Incidents => 4,
            Pane::Detail | Pane::RunBoard => 5,
        }
    }
}

/// How the dashboard was started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Hide and refuse every changing action.
    pub read_only: bool,
    /// Who acts, as recorded in the history.
    pub actor: String,
    /// The engine was opened on the demo fleet.
    pub demo: bool,
}

/// A line in the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// What to say.
    pub text: String,
    /// How loud.
    pub level: Level,
}

/// How loud a status line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something worked.
    Ok,
    /// Worth reading.
    Info,
    /// Something was refused or broke.
    Error,
}

/// One list's cursor: the selected row and the first row shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Selected row.
    pub selected: usize,
    /// First visible row.
    pub offset: usize,
}

impl Cursor {
    /// Moves the selection by `delta` within `len` rows, keeping it inside `height` visible rows.
    pub fn moved(self, delta: isize, len: usize, height: usize) -> Cursor {
        let last = len.saturating_sub(1);
        let selected = self.selected.saturating_add_signed(delta).min(last);
        Cursor {
            selected,
            offset: self.offset,
        }
        .visible(len, height)
    }

    /// Clamps to `len` rows and scrolls so the selection is among `height` visible rows.
    #[must_use]
    pub fn visible(self, len: usize, height: usize) -> Cursor {
        let height = height.max(1);
        let selected = self.selected.min(len.saturating_sub(1));
        let mut offset = self.offset.min(selected);
        if selected >= offset + height {
            offset = selected + 1 - height;
        }
        offset = offset.min(len.saturating_sub(height));
        Cursor { selected, offset }
    }
}
