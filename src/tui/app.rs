//! What changes the dashboard's state ([`super::state::App`]): a new dashboard over a snapshot,
//! engine events folded in, what the panels list recomputed, cursors kept in view.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use ratatui::layout::Size;

use crate::engine::{ClockKind, EngineInfo, Snapshot};
use crate::model::{Event, EventKind, StepId};

pub use super::state::dashboard::{App, DEFAULT_SPEED, HISTORY_LIMIT, SLOTS, SPEEDS};
pub use super::state::{Cursor, Level, Options, Pane, Status};

use super::action::Effect;
use super::input::keymap::Keymap;
use super::state::Derived;
use super::theme::Theme;

impl App {
    /// Records an engine call as under way, for the status line.
    pub fn started(&mut self, effect: &Effect) {
        if let Effect::Execute { label, .. } = effect {
            self.in_flight.push(label.clone());
            self.dirty = true;
        }
    }

    /// A dashboard over `snapshot`, with `recent` events (oldest first) for the history.
    #[must_use]
    pub fn new(
        snapshot: Snapshot,
        info: EngineInfo,
        recent: Vec<Event>,
        options: Options,
        theme: Theme,
        keymap: Keymap,
    ) -> App {
        let mut app = App {
            state: snapshot.state,
            info,
            clock: snapshot.clock,
            options,
            speed: DEFAULT_SPEED,
            theme,
            keymap,
            pane: Pane::Pipelines,
            detail: None,
            modal: None,
            filter_input: None,
            filters: Default::default(),
            cursors: [Cursor::default(); SLOTS],
            collapsed: HashSet::new(),
            history: recent.into_iter().rev().take(HISTORY_LIMIT).collect(),
            derived: Derived::default(),
            status: None,
            in_flight: Vec::new(),
            advancing: false,
            size: Size::new(120, 40),
            dirty: true,
            quit: false,
            board: Default::default(),
            travel: None,
            link: None,
        };
        app.state.reindex();
        app.refresh_all();
        app
    }

    /// Whether time is simulated (and the dashboard moves it).
    #[must_use]
    pub fn virtual_clock(&self) -> bool {
        self.clock.kind == ClockKind::Virtual
    }

    /// The time the panels show: the instant being viewed when travelling, else the clock's.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.travel.as_ref().map_or(self.clock.now, |t| t.at())
    }

    /// Recomputes every derived list.
    pub fn refresh_all(&mut self) {
        self.derived = Derived::compute(self);
        self.clamp_cursors();
    }

    /// Recomputes only the history list (a history filter changed).
    pub fn refresh_history(&mut self) {
        self.derived.history = Derived::history_rows(self);
        self.clamp_cursors();
    }

    /// Folds engine events into the mirror; `false` when they do not follow the mirror's head
    /// (some were missed, so a fresh snapshot is needed).
    pub fn apply_events(&mut self, events: &[Event]) -> bool {
        if let Some(travel) = self.travel.as_mut() {
            // The past stays on screen; the live mirror keeps folding behind it.
            let contiguous = travel.follow(events);
            for e in events {
                if self.history.front().is_none_or(|h| h.seq < e.seq) {
                    self.history.push_front(e.clone());
                }
            }
            self.history.truncate(HISTORY_LIMIT);
            self.refresh_history();
            return contiguous;
        }
        let mut contiguous = true;
        let mut structural = false;
        for e in events {
            if e.seq <= self.state.head {
                continue;
            }
            if e.seq != self.state.head + 1 {
                contiguous = false;
                break;
            }
            structural |= matches!(
                e.kind,
                EventKind::ProjectCreated { .. }
                    | EventKind::ServiceCreated { .. }
                    | EventKind::StepCreated { .. }
                    | EventKind::StepDeleted { .. }
            );
            self.state.apply(e);
            self.history.push_front(e.clone());
        }
        self.history.truncate(HISTORY_LIMIT);
        if structural {
            self.refresh_all();
        } else {
            let sources = std::mem::take(&mut self.derived.sources);
            let rows = std::mem::take(&mut self.derived.rows);
            self.derived = Derived::with_tree(self, sources, rows);
            self.clamp_cursors();
        }
        contiguous
    }

    /// The number of rows each list holds now.
    #[must_use]
    pub fn rows_in(&self, pane: Pane) -> usize {
        match pane {
            Pane::Pipelines => self.derived.rows.len(),
            Pane::Waiting => self.derived.waiting.len(),
            Pane::Steps => self.derived.steps.len(),
            Pane::History => self.derived.history.len(),
            Pane::Incidents => self.derived.incidents.len(),
            Pane::Detail | Pane::RunBoard => 0,
        }
    }

    /// Keeps every cursor inside its list and its visible area.
    pub fn clamp_cursors(&mut self) {
        for pane in Pane::CYCLE {
            let height = super::views::layout::list_height(self, pane);
            let len = self.rows_in(pane);
            let c = &mut self.cursors[pane.slot()];
            *c = c.visible(len, height);
        }
    }

    /// The focused pane's cursor.
    #[must_use]
    pub fn cursor(&self, pane: Pane) -> Cursor {
        self.cursors[pane.slot()]
    }

    /// Says something in the status line.
    pub fn say(&mut self, level: Level, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            level,
        });
        self.dirty = true;
    }

    /// The selected step in the Waiting or Steps pane.
    #[must_use]
    pub fn selected_step(&self, pane: Pane) -> Option<StepId> {
        let c = self.cursor(pane).selected;
        match pane {
            Pane::Waiting => self.derived.waiting.get(c).copied(),
            Pane::Steps => self.derived.steps.get(c).copied(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_scrolls_to_keep_the_selection_visible() {
        let c = Cursor::default().moved(12, 100, 10);
        assert_eq!(
            c,
            Cursor {
                selected: 12,
                offset: 3
            }
        );
        let c = c.moved(-5, 100, 10);
        assert_eq!(
            c,
            Cursor {
                selected: 7,
                offset: 3
            }
        );
        let c = c.moved(-100, 100, 10);
        assert_eq!(
            c,
            Cursor {
                selected: 0,
                offset: 0
            }
        );
        assert_eq!(Cursor::default().moved(5, 0, 10), Cursor::default());
    }
}
