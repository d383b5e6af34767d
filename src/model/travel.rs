//! Time travel for triage: the state as it was at an instant, folded from the journal.

use chrono::{DateTime, Utc};

use super::event::Event;
use super::state::State;

/// Folds every event that happened at or before `at` (events in journal order).
#[must_use]
pub fn state_at<'a>(events: impl IntoIterator<Item = &'a Event>, at: DateTime<Utc>) -> State {
    let mut state = State::new();
    for e in events.into_iter().take_while(|e| e.at <= at) {
        state.apply(e);
    }
    state
}

/// Folds the journal up to and including event `seq`.
#[must_use]
pub fn state_upto<'a>(events: impl IntoIterator<Item = &'a Event>, seq: u64) -> State {
    let mut state = State::new();
    for e in events.into_iter().take_while(|e| e.seq <= seq) {
        state.apply(e);
    }
    state
}
