//! Which side serves each service, read from the journal on disk before any engine runs (the
//! process that opens the client endpoints needs it first, B14): green once the service's
//! newest run switched over, or once its switchover recorded the flip (`flipped`: the runs
//! whose flip a driver recorded before a crash kept it from the journal).

use std::collections::HashMap;
use std::path::Path;

use crate::model::run::ServingSide;
use crate::model::{Run, RunStatus, State};

/// The side each service (`project/name`) with a run serves, and the newest run's id.
pub fn serving(
    db: &Path,
    flipped: &[String],
) -> Result<HashMap<String, (ServingSide, String)>, String> {
    let store = super::store::Store::open(db).map_err(|e| e.to_string())?;
    let state = store.load_state().map_err(|e| e.to_string())?;
    Ok(sides_of(&state, flipped))
}

fn sides_of(state: &State, flipped: &[String]) -> HashMap<String, (ServingSide, String)> {
    let mut newest: HashMap<String, &Run> = HashMap::new();
    for run in state.runs.values() {
        let key = run.service.to_string();
        if newest
            .get(&key)
            .is_none_or(|r| r.started_at <= run.started_at)
        {
            newest.insert(key, run);
        }
    }
    newest
        .into_iter()
        .map(|(service, run)| {
            let switched = run.status == RunStatus::Completed
                || (run.rollback.is_none()
                    && (run.phase.after_switchover() || flipped.contains(&run.run_id)));
            let side = if switched {
                ServingSide::Green
            } else {
                ServingSide::Blue
            };
            (service, (side, run.run_id.clone()))
        })
        .collect()
}
