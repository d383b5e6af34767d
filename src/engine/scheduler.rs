//! One write to the journal: catch up with other writers, run every deadline that is due in
//! time order, decide commands, append and apply their events — all inside one transaction.

use chrono::{DateTime, Duration, Utc};
use rusqlite::Transaction;

use crate::model::{Agenda, Command, Event, MaintenancePlanner, NewEvent, SYSTEM_ACTOR, State};

use super::clock::{ClockKind, system_now};
use super::store::{self, Meta};
use super::{EngineError, Receipt};

/// How many deadlines one write may process before it reports a runaway schedule.
const MAX_DEADLINES_PER_WRITE: usize = 5_000_000;

/// A write in progress.
pub(super) struct Batch<'a> {
    pub tx: Transaction<'a>,
    pub state: &'a mut State,
    pub agenda: &'a mut Agenda,
    pub planner: &'a dyn MaintenancePlanner,
    pub meta: Meta,
    /// The settings as this write found them (only what changed is written back).
    pub found: Meta,
    /// Every event appended by this write, in order.
    pub appended: Vec<Event>,
    /// Events other writers appended before this write began.
    pub caught_up: Vec<Event>,
}

impl Batch<'_> {
    /// Applies what other processes appended since this engine last looked.
    pub fn catch_up(&mut self) -> Result<(), EngineError> {
        let events = store::read_events(&self.tx, self.state.head, usize::MAX)?;
        for event in events {
            self.state.apply(&event);
            self.agenda
                .refresh_after(self.state, &event.kind, self.meta.watermark);
            self.caught_up.push(event);
        }
        Ok(())
    }

    /// The current time on this database's clock.
    pub fn now(&self) -> DateTime<Utc> {
        match (self.meta.clock, self.meta.virtual_now) {
            (ClockKind::Virtual, Some(t)) => t,
            _ => system_now().max(self.meta.watermark),
        }
    }

    /// Appends and applies decided events at `at`; windows they move are looked for strictly
    /// after `window_mark`.
    fn record(
        &mut self,
        actor: &str,
        at: DateTime<Utc>,
        events: Vec<NewEvent>,
        window_mark: DateTime<Utc>,
    ) -> Result<Vec<Event>, EngineError> {
        let at = self.state.last_event_at.map_or(at, |last| at.max(last));
        let mut out = Vec::with_capacity(events.len());
        for new in events {
            let event = Event {
                seq: self.state.head + 1,
                at,
                actor: actor.to_string(),
                reason: new.reason,
                kind: new.kind,
            };
            store::append(&self.tx, &event)?;
            self.state.apply(&event);
            self.agenda
                .refresh_after(self.state, &event.kind, window_mark);
            out.push(event);
        }
        self.appended.extend(out.iter().cloned());
        Ok(out)
    }

    /// Runs every deadline up to `until`, each at its own instant, in time order. With
    /// `stop_for_driver`, stops as soon as a run waits for its driver and returns that instant
    /// (the clock waits there while the driver acts, so simulated time stays exact).
    pub fn run_deadlines(
        &mut self,
        until: DateTime<Utc>,
        stop_for_driver: bool,
    ) -> Result<Option<DateTime<Utc>>, EngineError> {
        if stop_for_driver && self.state.has_driver_work() {
            return Ok(Some(self.now()));
        }
        let mut processed = 0;
        while let Some((due_at, due)) = self.agenda.first() {
            let at = due_at.max(self.meta.watermark);
            if at > until {
                break;
            }
            let window_mark = at - Duration::milliseconds(1);
            if let Ok(decision) = self
                .state
                .decide(&due.command(), SYSTEM_ACTOR, at, self.planner)
            {
                self.record(SYSTEM_ACTOR, at, decision.events, window_mark)?;
            }
            // The deadline just handled is looked for again strictly after its instant, while
            // other windows at this very instant are still found.
            self.agenda.refresh(self.state, due, at);
            self.meta.watermark = self.meta.watermark.max(window_mark);
            if stop_for_driver && self.state.has_driver_work() {
                return Ok(Some(at));
            }
            processed += 1;
            if processed > MAX_DEADLINES_PER_WRITE {
                return Err(EngineError::Storage(
                    "the schedule keeps producing deadlines; stopped to protect the journal".into(),
                ));
            }
        }
        self.meta.watermark = self.meta.watermark.max(until);
        Ok(None)
    }

    /// Decides and records one command at `now`.
    pub fn execute(
        &mut self,
        actor: &str,
        command: &Command,
        now: DateTime<Utc>,
    ) -> Result<Receipt, EngineError> {
        let decision = self.state.decide(command, actor, now, self.planner)?;
        let events = self.record(actor, now, decision.events, now)?;
        Ok(Receipt {
            events,
            notice: decision.notice,
        })
    }

    /// Stores the clock settings and commits; returns the settings as committed, the events
    /// caught up with and those appended.
    pub fn commit(self) -> Result<(Meta, Vec<Event>, Vec<Event>), EngineError> {
        if self.meta.watermark != self.found.watermark {
            store::set_meta(&self.tx, "watermark", &self.meta.watermark.to_rfc3339())?;
        }
        if let (ClockKind::Virtual, Some(t)) = (self.meta.clock, self.meta.virtual_now)
            && self.found.virtual_now != Some(t)
        {
            store::set_meta(&self.tx, "virtual_now", &t.to_rfc3339())?;
        }
        self.tx
            .commit()
            .map_err(|e| EngineError::Storage(e.to_string()))?;
        Ok((self.meta, self.caught_up, self.appended))
    }
}
