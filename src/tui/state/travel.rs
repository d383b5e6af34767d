//! Time travel for triage: the whole dashboard as it was after one event of the journal,
//! folded from the journal, while the live mirror keeps following the engine behind it.
//!
//! Folding from the first event at every key would cost the whole journal per step, so the
//! fold keeps a few checkpoints (states after evenly spaced events) and replays only from the
//! nearest one.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use crate::model::{Event, State};

/// How many checkpoints a journal gets at most (memory stays bounded on big fleets).
const CHECKPOINTS: usize = 48;
/// The fewest events between two checkpoints.
const MIN_SPACING: usize = 256;

pub use crate::tui::action::Target;

/// The dashboard in the past.
#[derive(Debug)]
pub struct Travel {
    /// Every event, oldest first (grows while live events arrive).
    journal: Vec<Event>,
    /// States after `journal[i]`, by `i`, ascending.
    checkpoints: Vec<(usize, State)>,
    /// Events between checkpoints.
    spacing: usize,
    /// The journal index being viewed (the state after that event).
    index: usize,
    /// The instant being viewed: the event's time, or the time typed at `T`.
    instant: DateTime<Utc>,
    /// The live mirror, kept current while the past is on screen.
    pub live: State,
}

/// Why travel could not go where it was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The journal is empty.
    Empty,
    /// The instant is before the first event.
    BeforeStart(DateTime<Utc>),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Empty => write!(f, "there is no history yet to travel through"),
            Refusal::BeforeStart(first) => write!(
                f,
                "nothing happened before the first event ({}): pick a later time",
                first.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        }
    }
}

impl Travel {
    /// Travel over `journal` (every event, oldest first), keeping `live` as the live mirror;
    /// an empty journal gives `live` back.
    pub fn new(journal: Vec<Event>, live: State) -> Result<Travel, Box<State>> {
        if journal.is_empty() {
            return Err(Box::new(live));
        }
        let spacing = (journal.len() / CHECKPOINTS).max(MIN_SPACING);
        let instant = journal_start(&journal);
        let mut travel = Travel {
            journal,
            checkpoints: Vec::new(),
            spacing,
            index: 0,
            instant,
            live,
        };
        let mut state = State::new();
        for (i, e) in travel.journal.iter().enumerate() {
            state.apply(e);
            if (i + 1).is_multiple_of(spacing) {
                travel.checkpoints.push((i, state.clone()));
            }
        }
        travel.index = travel.journal.len() - 1;
        Ok(travel)
    }

    /// The journal index of `target`.
    pub fn find(&self, target: Target) -> Result<usize, Refusal> {
        let last = self.journal.len() - 1;
        match target {
            Target::Back(n) => Ok(last.saturating_sub(n)),
            Target::At(at) => {
                let after = self.journal.partition_point(|e| e.at <= at);
                match after.checked_sub(1) {
                    Some(i) => Ok(i),
                    None => Err(Refusal::BeforeStart(self.journal[0].at)),
                }
            }
        }
    }

    /// Moves to journal index `index` (clamped) and returns the state there.
    pub fn go(&mut self, index: usize) -> State {
        self.index = index.min(self.journal.len() - 1);
        self.instant = self.journal[self.index].at;
        let start = self
            .checkpoints
            .iter()
            .rev()
            .find(|(i, _)| *i <= self.index);
        let (mut state, from) = match start {
            Some((i, s)) => (s.clone(), i + 1),
            None => (State::new(), 0),
        };
        for e in &self.journal[from..=self.index] {
            state.apply(e);
        }
        state.reindex();
        state
    }

    /// The index being viewed.
    #[must_use]
    pub fn index(&self) -> usize {
        self.index
    }

    /// Whether the newest event is the one being viewed.
    #[must_use]
    pub fn at_newest(&self) -> bool {
        self.index + 1 == self.journal.len()
    }

    /// The event being viewed.
    #[must_use]
    pub fn event(&self) -> &Event {
        &self.journal[self.index]
    }

    /// The instant being viewed.
    #[must_use]
    pub fn at(&self) -> DateTime<Utc> {
        self.instant
    }

    /// Views `at` itself (a typed time) rather than the time of the event before it.
    pub fn pin(&mut self, at: DateTime<Utc>) {
        if at >= self.event().at {
            self.instant = at;
        }
    }

    /// How many events the journal holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.journal.len()
    }

    /// Whether the journal is empty (never, once built).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.journal.is_empty()
    }

    /// Folds live events into the live mirror and the journal; `false` when they do not
    /// follow (some were missed).
    pub fn follow(&mut self, events: &[Event]) -> bool {
        for e in events {
            if e.seq <= self.live.head {
                continue;
            }
            if e.seq != self.live.head + 1 {
                return false;
            }
            self.live.apply(e);
            self.journal.push(e.clone());
            if self.journal.len().is_multiple_of(self.spacing) {
                let i = self.journal.len() - 1;
                let mut s = self.go_quiet(i);
                s.reindex();
                self.checkpoints.push((i, s));
            }
        }
        true
    }

    fn go_quiet(&self, index: usize) -> State {
        let start = self.checkpoints.iter().rev().find(|(i, _)| *i <= index);
        let (mut state, from) = match start {
            Some((i, s)) => (s.clone(), i + 1),
            None => (State::new(), 0),
        };
        for e in &self.journal[from..=index] {
            state.apply(e);
        }
        state
    }
}

fn journal_start(journal: &[Event]) -> DateTime<Utc> {
    journal.first().map_or(DateTime::<Utc>::MIN_UTC, |e| e.at)
}

/// Reads a time typed in the `T` prompt, relative to `live` (the live clock):
/// `03:12` or `03:12:07` (the latest such time not after live), `2026-01-06 03:12[:07]`,
/// RFC 3339, or `-90s` / `-15m` / `-2h` / `-1d` before live.
pub fn parse_instant(text: &str, live: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    let hint = "type HH:MM[:SS], YYYY-MM-DD HH:MM[:SS], an RFC 3339 time, or -15m / -2h / -1d";
    if text.is_empty() {
        return Err(format!("no time typed: {hint}"));
    }
    if let Some(ago) = text.strip_prefix('-') {
        return crate::engine::clock::parse_duration(ago)
            .map(|d| live - d)
            .map_err(|_| format!("'{text}' is not a time: {hint}"));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, f) {
            return Ok(t.and_utc());
        }
    }
    for f in ["%H:%M:%S", "%H:%M"] {
        if let Ok(t) = NaiveTime::parse_from_str(text, f) {
            let today: NaiveDate = live.date_naive();
            let at = today.and_time(t).and_utc();
            return Ok(if at > live {
                at - chrono::Duration::days(1)
            } else {
                at
            });
        }
    }
    Err(format!("'{text}' is not a time: {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testkit::FixedPlanner;
    use crate::model::{Command, ServiceKey};
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 6, h, m, s)
            .single()
            .expect("time")
    }

    #[test]
    fn typed_times_are_read_against_the_live_clock() {
        let live = at(3, 20, 45);
        assert_eq!(parse_instant("03:12:07", live), Ok(at(3, 12, 7)));
        assert_eq!(parse_instant("03:12", live), Ok(at(3, 12, 0)));
        assert_eq!(
            parse_instant("04:00", live),
            Ok(at(4, 0, 0) - chrono::Duration::days(1)),
            "a time of day after live is yesterday's"
        );
        assert_eq!(parse_instant("-15m", live), Ok(at(3, 5, 45)));
        assert_eq!(parse_instant("2026-01-06 01:02", live), Ok(at(1, 2, 0)));
        assert_eq!(parse_instant("2026-01-06T01:02:03Z", live), Ok(at(1, 2, 3)));
        for bad in ["", "yesterday", "25:00", "-seven"] {
            let e = parse_instant(bad, live).expect_err(bad);
            assert!(e.contains("HH:MM"), "{bad}: {e}");
        }
    }

    fn journal(n: usize) -> Vec<Event> {
        let mut state = State::new();
        let mut out = Vec::new();
        let mut now = at(0, 0, 0);
        let mut commands = vec![Command::CreateProject {
            name: "p".into(),
            organization_id: None,
        }];
        for i in 0..n {
            commands.push(Command::CreateService {
                service: ServiceKey::new("p", format!("s{i}")),
                service_type: "pg".parse().expect("type"),
                version: "15.8".parse().expect("version"),
                plan: None,
                maintenance: None,
            });
        }
        for c in commands {
            now += chrono::Duration::seconds(1);
            let d = state.decide(&c, "t", now, &FixedPlanner).expect("decided");
            for new in d.events {
                let e = Event {
                    seq: state.head + 1,
                    at: now,
                    actor: "t".into(),
                    reason: new.reason,
                    kind: new.kind,
                };
                state.apply(&e);
                out.push(e);
            }
        }
        out
    }

    #[test]
    fn every_step_equals_a_fold_from_the_first_event() {
        let events = journal(700);
        let mut t = Travel::new(events.clone(), State::new()).expect("a journal");
        assert!(t.checkpoints.len() >= 2, "checkpoints are used");
        for i in [0, 1, 255, 256, 257, 511, 600, events.len() - 1] {
            let got = t.go(i);
            let want = crate::model::travel::state_upto(&events, events[i].seq);
            assert_eq!(got.head, want.head);
            assert_eq!(got.services.len(), want.services.len(), "at {i}");
        }
        let i = t.find(Target::At(events[300].at)).expect("found");
        assert_eq!(i, 300);
        assert_eq!(
            t.find(Target::At(at(0, 0, 0) - chrono::Duration::seconds(1))),
            Err(Refusal::BeforeStart(events[0].at))
        );
        assert_eq!(t.find(Target::Back(1)), Ok(events.len() - 2));
    }
}
