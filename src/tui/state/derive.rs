//! What the panels list, derived from the mirror when it changes — never per frame, so a frame
//! only formats the rows it shows.

use crate::model::{ServiceKey, State, StepId};

use super::Pane;
use super::filter;
use super::rows::{self, Row, Sources};
use super::{App, Derived, Summary};

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
