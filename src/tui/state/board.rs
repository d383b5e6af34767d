//! The run board's own state, what the operator does there, and the run actions waiting for
//! the operator's `y`.

use chrono::{DateTime, Utc};

use crate::model::{Command, RunId, ServiceKey, Version};
use crate::tui::action::Effect;

/// Chart windows `z`/`Z` step through, in seconds.
pub const ZOOMS: [i64; 5] = [120, 300, 600, 1800, 3600];
/// The window shown at first: ten minutes, as the source's board.
pub const DEFAULT_ZOOM: usize = 2;

/// What the operator does on the run board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunOp {
    /// Open the board of the selected service's run (or the latest run).
    Board,
    /// Start a blue/green run of the selected service to the newest published major.
    Start,
    /// B5: switch over (confirmed; refused on a red guardrail).
    Switchover,
    /// B8: roll back (confirmed).
    Rollback,
    /// B9: resume.
    Resume,
    /// Shorter chart window.
    ZoomIn,
    /// Longer chart window.
    ZoomOut,
    /// Freeze or unfreeze the chart.
    Freeze,
}

/// The board's own state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardState {
    /// The run shown.
    pub run: Option<RunId>,
    /// Index into `ZOOMS`.
    pub zoom: usize,
    /// The chart's right edge while frozen.
    pub frozen_at: Option<DateTime<Utc>>,
}

impl Default for BoardState {
    fn default() -> Self {
        Self {
            run: None,
            zoom: DEFAULT_ZOOM,
            frozen_at: None,
        }
    }
}

impl BoardState {
    /// The chart's window in seconds.
    #[must_use]
    pub fn window_s(&self) -> i64 {
        ZOOMS[self.zoom.min(ZOOMS.len() - 1)]
    }
}

/// A run action waiting for the operator's `y` (or a refusal to read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunConfirm {
    /// Start a run.
    Start {
        /// The service.
        service: ServiceKey,
        /// Its version.
        from: Version,
        /// The target release.
        to: Version,
    },
    /// Switch traffic to green (every guardrail green).
    Switchover {
        /// The run.
        run_id: RunId,
        /// The service.
        service: ServiceKey,
        /// The target.
        to: Version,
        /// The switchover timeout, in seconds.
        timeout_s: u32,
    },
    /// B5 refused before asking the engine: red guardrails, named.
    Refused {
        /// The run.
        run_id: RunId,
        /// The red guardrails' details.
        red: Vec<String>,
    },
    /// B8: roll back.
    Rollback {
        /// The run.
        run_id: RunId,
        /// The service.
        service: ServiceKey,
        /// The version blue stays on.
        from: Version,
    },
}

impl RunConfirm {
    /// The engine command it becomes; a refusal only re-reads the state.
    #[must_use]
    pub fn effect(&self) -> Effect {
        let exec = |label: String, command: Command| Effect::Execute {
            label,
            command: Box::new(command),
        };
        match self {
            RunConfirm::Start { service, to, .. } => exec(
                format!("run start {service}"),
                Command::StartRun {
                    service: service.clone(),
                    target_version: to.clone(),
                    switchover_timeout_s: None,
                    lag_threshold_bytes: None,
                    long_txn_limit_s: None,
                    auto_switchover: false,
                },
            ),
            RunConfirm::Switchover { run_id, .. } => exec(
                format!("switchover run {run_id}"),
                Command::Switchover {
                    run_id: run_id.clone(),
                    force: false,
                    comment: None,
                },
            ),
            RunConfirm::Rollback { run_id, .. } => exec(
                format!("rollback run {run_id}"),
                Command::Rollback {
                    run_id: run_id.clone(),
                },
            ),
            RunConfirm::Refused { .. } => Effect::Resync,
        }
    }
}
