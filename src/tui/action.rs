//! Messages in (actions) and requests out (effects) of `update`.

use chrono::{DateTime, Duration, Utc};
use crossterm::event::KeyEvent;

use crate::engine::{ClockInfo, Snapshot};
use crate::model::{Command, Event};

/// Something that happened: a key, an engine event, a tick, an engine call's answer.
#[derive(Debug, Clone)]
pub enum Action {
    /// A key was pressed.
    Key(KeyEvent),
    /// The terminal was resized.
    Resize(u16, u16),
    /// Events appended to the journal, in order.
    Engine(Vec<Event>),
    /// The stream lost events: a fresh snapshot replaces the mirror.
    Resynced(Box<Snapshot>),
    /// Time passed on the wall clock; `now` is the system time (used on system clocks).
    Tick {
        /// The wall-clock time now.
        now: DateTime<Utc>,
    },
    /// The engine's clock was read (after an advance).
    Clock(ClockInfo),
    /// The link to a remote engine changed (connected, reconnecting…).
    Link(crate::engine::LinkState),
    /// A clock advance failed.
    AdvanceFailed(String),
    /// The journal was read for time travel (every event, oldest first), or could not be.
    Journal {
        /// Where the operator asked to go.
        target: Target,
        /// The events, or why they could not be read.
        events: Result<Vec<Event>, String>,
    },
    /// An engine call finished.
    Done {
        /// What was asked, in words (`validate acme-dev/pg-dev`).
        label: String,
        /// The engine's notice on success, or the refusal.
        result: Result<Option<String>, String>,
    },
}

/// Something `update` asks the outside world to do; the answer comes back as an action.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Run a command on the engine.
    Execute {
        /// What it is, in words, for the status line.
        label: String,
        /// The command (boxed: commands vary a lot in size, effects are short-lived).
        command: Box<Command>,
    },
    /// Run a command as the simulated fleet (`sim`), not as the operator: the demo's
    /// occasional incident.
    Simulate {
        /// What it is, in words, for the status line.
        label: String,
        /// The command.
        command: Box<Command>,
    },
    /// Move the virtual clock forward.
    Advance(Duration),
    /// Read a fresh snapshot (events were missed).
    Resync,
    /// Read the whole journal, to show the past (time travel).
    Journal(Target),
    /// Let the drivers act for runs waiting on them (on a system clock; advances do it too).
    Drive,
}

/// Where time travel goes in the past (the journal is read for it, [`Effect::Journal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `n` events before the newest.
    Back(usize),
    /// The last event at or before an instant.
    At(DateTime<Utc>),
}
