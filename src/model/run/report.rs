//! What a run asks of its driver, and what the driver answers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An action a driver performs for a run. Every action but `VacuumAnalyze` changes something
/// that must not be done twice (B9), hence the idempotency key that goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunAction {
    /// B1: snapshot, `wal_level=logical`, DDL logging, extensions off, ingestion paused.
    Prerequisites,
    /// B2: create green on the target major; publication on blue, subscription on green.
    Provision,
    /// B3: `VACUUM ANALYZE` on green.
    VacuumAnalyze,
    /// B5: fence, drain, wait for zero lag, sync sequences, flip, resume — or revert.
    Switchover,
    /// B6: extensions re-enabled and upgraded, ingestion resumed.
    PostSwitchover,
    /// B7: old environment decommissioned, replication objects dropped.
    Cleanup,
    /// B8: green dropped, blue restored to how B1 found it.
    Rollback,
}

impl RunAction {
    /// The action's name in keys and logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RunAction::Prerequisites => "prerequisites",
            RunAction::Provision => "provision",
            RunAction::VacuumAnalyze => "vacuum-analyze",
            RunAction::Switchover => "switchover",
            RunAction::PostSwitchover => "post-switchover",
            RunAction::Cleanup => "cleanup",
            RunAction::Rollback => "rollback",
        }
    }

    /// Whether doing it twice would harm (B9).
    #[must_use]
    pub fn is_destructive(self) -> bool {
        !matches!(self, RunAction::VacuumAnalyze)
    }
}

/// What the driver is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "action", rename_all = "snake_case")]
pub enum RequestKind {
    /// Perform an action.
    Act(RunAction),
    /// Observe replication (B4).
    Observe,
}

/// A request to the driver, recorded before the driver is called (so a crash leaves it visible
/// and resumable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverRequest {
    /// The idempotency key: run, phase, action and attempt (`7f3a/B2/provision/1`).
    pub key: String,
    /// What to do.
    pub request: RequestKind,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ActionOutcome {
    /// Done.
    Succeeded,
    /// Not done; the error in words.
    Failed {
        /// What went wrong.
        error: String,
    },
    /// B5 only: the switchover failed or ran past its timeout, and everything went back;
    /// blue serves.
    Reverted {
        /// Why.
        reason: String,
    },
}

/// A driver's answer to an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionReport {
    /// How it ended.
    #[serde(flatten)]
    pub outcome: ActionOutcome,
    /// What was done, line by line, for the phase's log.
    pub log: Vec<String>,
    /// How long it took, in milliseconds: simulated time for the simulator, measured time
    /// for a real driver. The phase ends this long after the action started.
    pub took_ms: u64,
    /// B5: the longest client-visible interruption, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime_ms: Option<u64>,
    /// B1: extensions disabled (to re-enable in B6).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions_disabled: Vec<String>,
    /// B1: tables without a primary key or replica identity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables_without_key: Vec<String>,
    /// B1: the inventory of what logical replication does not carry by itself (B13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<super::Inventory>,
    /// True when the driver had already performed this key and returned its recorded report
    /// without acting again (B9).
    #[serde(default)]
    pub replayed: bool,
    /// B9: an earlier try of this action was cut off by lockstep's own crash, and this one
    /// took over after the restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interruption>,
}

/// What a crash of lockstep cut off: an action begun by a process that died before it
/// reported, found by the process that took over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interruption {
    /// When the lost try began (the engine's clock).
    pub began_at: DateTime<Utc>,
    /// B5: when the lost try parked clients, if it got that far (wall clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked_at: Option<DateTime<Utc>>,
    /// When the process that took over opened the endpoint again (wall clock), if it holds one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<DateTime<Utc>>,
    /// B5: whether green already served (the flip was recorded) when lockstep stopped.
    #[serde(default)]
    pub flipped: bool,
    /// B5: how many tries of this switchover had parked clients and were lost to a crash
    /// (more than one when lockstep died again while taking over).
    #[serde(default)]
    pub lost_tries: u32,
    /// B5: how long clients were kept waiting across the crash, from the park to the
    /// endpoint's restart (parked, then refused), in milliseconds; unknown when the lost try
    /// had not parked them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_ms: Option<u64>,
}

impl Interruption {
    /// One line for the run's history: what was lost and what the new try does.
    #[must_use]
    pub fn describe(&self) -> String {
        let began = self.began_at.format("%H:%M:%S");
        let mut line = match self.parked_at {
            Some(parked) if self.lost_tries > 1 => format!(
                "lockstep stopped mid-switchover {} times (clients last parked at {} UTC)",
                self.lost_tries,
                parked.format("%H:%M:%S%.3f")
            ),
            Some(parked) => format!(
                "lockstep stopped mid-switchover (clients parked at {} UTC)",
                parked.format("%H:%M:%S%.3f")
            ),
            None => format!("lockstep stopped mid-action (began {began})"),
        };
        if let Some(at) = self.restarted_at {
            line.push_str(&format!(
                "; its endpoint was back at {} UTC",
                at.format("%H:%M:%S%.3f")
            ));
        }
        if let Some(ms) = self.down_ms {
            line.push_str(&format!(
                "; clients waited or were refused {:.1} s across {}",
                ms as f64 / 1000.0,
                if self.lost_tries > 1 {
                    "the crashes"
                } else {
                    "the crash"
                }
            ));
        }
        line.push_str(if self.flipped {
            "; green already served: finished without a second park"
        } else if self.parked_at.is_some() {
            "; the flip had not happened: blue served, the switchover ran again"
        } else {
            "; done again"
        });
        line
    }
}

impl ActionReport {
    /// A successful report.
    #[must_use]
    pub fn succeeded(log: Vec<String>, took_ms: u64) -> Self {
        Self {
            outcome: ActionOutcome::Succeeded,
            log,
            took_ms,
            downtime_ms: None,
            extensions_disabled: Vec::new(),
            tables_without_key: Vec::new(),
            inventory: None,
            replayed: false,
            interrupted: None,
        }
    }

    /// A failure report.
    #[must_use]
    pub fn failed(error: impl Into<String>, log: Vec<String>, took_ms: u64) -> Self {
        Self {
            outcome: ActionOutcome::Failed {
                error: error.into(),
            },
            ..Self::succeeded(log, took_ms)
        }
    }

    /// Whether the action succeeded.
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.outcome == ActionOutcome::Succeeded
    }
}
