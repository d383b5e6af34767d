//! What the panels list, as derived from the mirror (computed in [`crate::tui::derive`]).

use super::rows::{Row, Sources};
use crate::model::{ServiceKey, StepId};

/// Counts that matter on call, for the header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Steps whose source has an unvalidated newer version.
    pub waiting: usize,
    /// Services held from a newer release by a step.
    pub held: usize,
    /// Services applying an update.
    pub updating: usize,
    /// V6: steps whose source is powered off, so their destination is unprotected.
    pub unprotected: Vec<StepId>,
    /// V7: services running or applying a version past their pinned one.
    pub overrides: Vec<ServiceKey>,
}

impl Summary {
    /// Everything that deserves the warning sign.
    #[must_use]
    pub fn warnings(&self) -> usize {
        self.unprotected.len() + self.overrides.len()
    }
}

/// The lists behind the panels.
#[derive(Debug, Clone, Default)]
pub struct Derived {
    /// The pipeline tree's rows.
    pub rows: Vec<Row>,
    /// Steps by source.
    pub sources: Sources,
    /// Steps waiting for a validation, soonest deadline first.
    pub waiting: Vec<StepId>,
    /// Every step, by source then destination.
    pub steps: Vec<StepId>,
    /// Indexes into `App::history` that pass the history filter.
    pub history: Vec<usize>,
    /// Incidents passing the incidents filter: open ones first, then the most recent.
    pub incidents: Vec<crate::model::fleet::IncidentId>,
    /// V6 warnings for the incidents pane: sources powered off, destinations unheld.
    pub unheld: Vec<String>,
    /// Header counts.
    pub summary: Summary,
}
