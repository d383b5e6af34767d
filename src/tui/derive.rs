//! What the panels list, derived from the mirror when it changes — never per frame, so a frame
//! only formats the rows it shows.

use std::collections::HashMap;

use crate::model::{ServiceKey, State, Step, StepId};

use super::app::App;
use super::filter;
use super::rows::{self, Row};
use super::state::Pane;

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

/// Steps by source service. `State::steps_from` scans every step for a service that is the
/// source of none; the tree asks that of every leaf, so the dashboard keeps its own map.
#[derive(Debug, Clone, Default)]
pub struct Sources(HashMap<ServiceKey, Vec<StepId>>);

impl Sources {
    /// Maps every step of `state` by its source.
    #[must_use]
    pub fn build(state: &State) -> Sources {
        let mut map: HashMap<ServiceKey, Vec<StepId>> = HashMap::new();
        for s in state.steps.values() {
            map.entry(s.source.clone()).or_default().push(s.step_id);
        }
        Sources(map)
    }

    /// The steps whose source is `key`.
    #[must_use]
    pub fn of<'a>(&self, state: &'a State, key: &ServiceKey) -> Vec<&'a Step> {
        self.0
            .get(key)
            .map(|ids| ids.iter().filter_map(|id| state.steps.get(id)).collect())
            .unwrap_or_default()
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

fn step_text(state: &State, id: StepId) -> String {
    state
        .steps
        .get(&id)
        .map(|s| format!("{} → {}", s.source, s.destination))
        .unwrap_or_default()
}

impl Derived {
    /// Derives every list from `app`'s state and filters.
    #[must_use]
    pub fn compute(app: &App) -> Derived {
        let sources = Sources::build(&app.state);
        let rows = rows::build(
            &app.state,
            &sources,
            &app.collapsed,
            app.filters[Pane::Pipelines.slot()].as_ref(),
        );
        Derived::with_tree(app, sources, rows)
    }

    /// Derives every list but the tree, which did not change shape.
    #[must_use]
    pub fn with_tree(app: &App, sources: Sources, rows: Vec<Row>) -> Derived {
        let state = &app.state;
        let f = |p: Pane| app.filters[p.slot()].as_ref();
        let mut waiting: Vec<(chrono::DateTime<chrono::Utc>, StepId)> = state
            .steps
            .values()
            .filter_map(|s| state.auto_validation_at(s).map(|at| (at, s.step_id)))
            .collect();
        waiting.sort_unstable();
        let mut steps: Vec<(&ServiceKey, &ServiceKey, StepId)> = state
            .steps
            .values()
            .map(|s| (&s.source, &s.destination, s.step_id))
            .collect();
        steps.sort_unstable();
        let mut summary = Summary {
            waiting: waiting.len(),
            ..Summary::default()
        };
        for svc in state.services.values() {
            if state.held_update(svc).is_some() {
                summary.held += 1;
            }
            if svc.updating.is_some() {
                summary.updating += 1;
            }
            let applying_override = svc.updating.as_ref().is_some_and(|u| u.emergency_override);
            if svc.emergency_override || applying_override {
                summary.overrides.push(svc.key.clone());
            }
        }
        summary.unprotected = state
            .steps
            .values()
            .filter(|s| state.services.get(&s.source).is_some_and(|x| !x.powered))
            .map(|s| s.step_id)
            .collect();
        Derived {
            rows,
            sources,
            waiting: waiting
                .into_iter()
                .map(|(_, id)| id)
                .filter(|id| filter::keeps(f(Pane::Waiting), &step_text(state, *id)))
                .collect(),
            steps: steps
                .into_iter()
                .map(|(_, _, id)| id)
                .filter(|id| filter::keeps(f(Pane::Steps), &step_text(state, *id)))
                .collect(),
            history: Derived::history_rows(app),
            incidents: crate::model::fleet::incident_order(state)
                .into_iter()
                .filter(|i| {
                    filter::keeps(
                        f(Pane::Incidents),
                        &format!("{} {:?} {}", i.service, i.kind, i.node),
                    )
                })
                .map(|i| i.incident_id)
                .collect(),
            unheld: crate::model::fleet::unheld_warnings(state),
            summary,
        }
    }

    /// The history rows passing the history filter.
    #[must_use]
    pub fn history_rows(app: &App) -> Vec<usize> {
        let f = app.filters[Pane::History.slot()].as_ref();
        let upto = app.travel.as_ref().map_or(u64::MAX, |t| t.event().seq);
        app.history
            .iter()
            .enumerate()
            .filter(|(_, e)| e.seq <= upto)
            .filter(|(_, e)| {
                f.is_none_or(|f| {
                    f.keeps(&format!("{} {} {}", e.actor, e.kind.type_name(), e.reason))
                })
            })
            .map(|(i, _)| i)
            .collect()
    }
}
