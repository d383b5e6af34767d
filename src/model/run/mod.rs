//! Blue/green upgrade runs (SPEC §4, U2 and B1–B10): the phase machine, its records, the
//! guardrails and what drivers are asked to do. Pure: time is always an argument.

mod apply;
mod decide;
mod inventory;
mod observe;
mod operate;
mod report;
mod sides;
mod spec;
mod start;
mod view;

#[cfg(test)]
mod invariant_tests;
#[cfg(test)]
mod parity_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::service::{ServiceKey, ServiceType};
use super::version::Version;

pub use inventory::{
    Choice, ChoiceValue, Inventory, InventoryItem, ItemKind, Treatment, choice_for, parity,
};
pub use observe::{
    DdlChange, Guardrail, LagSample, LongTransaction, Observation, SubscriptionHealth,
    format_bytes, guardrails,
};
pub use report::{
    ActionOutcome, ActionReport, DriverRequest, Interruption, RequestKind, RunAction,
};
pub use sides::{ServingSide, Sides};
pub use spec::{Fault, RunSpec};
pub use view::{RunSummary, RunView, format_downtime, format_span};

/// A run's id: four or more hex digits (`7f3a`), unique in the journal.
pub type RunId = String;

/// B5: the switchover timeout when none is given, in seconds.
pub const DEFAULT_SWITCHOVER_TIMEOUT_S: u32 = 300;
/// B5: the allowed switchover timeouts, in seconds.
pub const SWITCHOVER_TIMEOUT_S: std::ops::RangeInclusive<i64> = 30..=3600;
/// B5: the lag guardrail's threshold when none is given (200 kB).
pub const DEFAULT_LAG_THRESHOLD_BYTES: u64 = 200_000;
/// B5: the longest write transaction allowed at switchover when none is given, in seconds.
pub const DEFAULT_LONG_TXN_LIMIT_S: u32 = 30;
/// B4: how often replication is observed in a replication's first half hour, in seconds.
pub const OBSERVE_EVERY_S: i64 = 30;
/// B4: how often replication is observed after that (samples in between still arrive).
pub const OBSERVE_SLOWLY_EVERY_S: i64 = 300;
/// B8: a replication whose lag never came under its threshold this long rolls back by itself.
pub const LAG_CATCH_UP_LIMIT_S: i64 = 2 * 3600;
/// B4: lag samples kept per slot (two hours at one sample every ten seconds).
pub const LAG_WINDOW: usize = 720;

/// The phases of a run, in order (B1–B7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunPhase {
    /// B1: snapshot, logical replication, DDL logging, extensions, ingestion paused.
    Prerequisites,
    /// B2: green created on the target major, following blue.
    Provisioning,
    /// B3: `VACUUM ANALYZE` on green.
    PostProvisioning,
    /// B4: lag sampled, data checked, DDL recorded.
    Replicating,
    /// B5: guardrails, fence, drain, sync, flip.
    Switchover,
    /// B6: extensions re-enabled, ingestion resumed.
    PostSwitchover,
    /// B7: old environment decommissioned, replication objects dropped.
    Cleanup,
}

impl RunPhase {
    /// Every phase, in order.
    pub const ALL: [RunPhase; 7] = [
        RunPhase::Prerequisites,
        RunPhase::Provisioning,
        RunPhase::PostProvisioning,
        RunPhase::Replicating,
        RunPhase::Switchover,
        RunPhase::PostSwitchover,
        RunPhase::Cleanup,
    ];

    /// The rule id of the phase (`B1` … `B7`).
    #[must_use]
    pub fn id(self) -> &'static str {
        match self {
            RunPhase::Prerequisites => "B1",
            RunPhase::Provisioning => "B2",
            RunPhase::PostProvisioning => "B3",
            RunPhase::Replicating => "B4",
            RunPhase::Switchover => "B5",
            RunPhase::PostSwitchover => "B6",
            RunPhase::Cleanup => "B7",
        }
    }

    /// The phase's name in words, as the board shows it.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            RunPhase::Prerequisites => "prerequisites",
            RunPhase::Provisioning => "provisioning",
            RunPhase::PostProvisioning => "vacuum analyze",
            RunPhase::Replicating => "replicating",
            RunPhase::Switchover => "switchover",
            RunPhase::PostSwitchover => "post-switchover",
            RunPhase::Cleanup => "cleanup",
        }
    }

    /// The phase after this one.
    #[must_use]
    pub fn next(self) -> Option<RunPhase> {
        let i = RunPhase::ALL.iter().position(|p| *p == self)?;
        RunPhase::ALL.get(i + 1).copied()
    }

    /// The driver action that does this phase's work (B4 only observes).
    #[must_use]
    pub fn action(self) -> Option<RunAction> {
        match self {
            RunPhase::Prerequisites => Some(RunAction::Prerequisites),
            RunPhase::Provisioning => Some(RunAction::Provision),
            RunPhase::PostProvisioning => Some(RunAction::VacuumAnalyze),
            RunPhase::Replicating => None,
            RunPhase::Switchover => Some(RunAction::Switchover),
            RunPhase::PostSwitchover => Some(RunAction::PostSwitchover),
            RunPhase::Cleanup => Some(RunAction::Cleanup),
        }
    }

    /// Whether traffic has moved to green once this phase is reached successfully (B8 ends).
    #[must_use]
    pub fn after_switchover(self) -> bool {
        self > RunPhase::Switchover
    }
}

impl fmt::Display for RunPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id(), self.label())
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Working through its phases.
    Active,
    /// B4 with every guardrail green and no auto-switchover: an operator decides.
    WaitingForOperator,
    /// Traffic is on green and the old environment is gone.
    Completed,
    /// Rolled back before the switchover (B8): blue serves as before.
    RolledBack,
    /// A step failed where no automatic rollback applies; `run resume` retries it (B9).
    Failed,
}

impl RunStatus {
    /// Whether the run is over (nothing can change it any more).
    #[must_use]
    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::RolledBack)
    }

    /// The status in words.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Active => "active",
            RunStatus::WaitingForOperator => "waiting for operator",
            RunStatus::Completed => "completed",
            RunStatus::RolledBack => "rolled back",
            RunStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The runner configuration, as given at start (the board shows it, B10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The version green runs and the service ends on.
    pub target_version: Version,
    /// B5: past this, the switchover reverts and blue keeps serving (30..=3600 s).
    pub switchover_timeout_s: u32,
    /// B5: the lag guardrail, in bytes.
    pub lag_threshold_bytes: u64,
    /// B5: the longest write transaction allowed at switchover, in seconds.
    pub long_txn_limit_s: u32,
    /// Switch over by itself as soon as every guardrail is green.
    pub auto_switchover: bool,
    /// B3: run `VACUUM ANALYZE` on green.
    pub vacuum: bool,
    /// B1: pause ingestion until B6.
    pub pause_ingestion: bool,
}

/// How a phase attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseOutcome {
    /// Done.
    Succeeded,
    /// The driver reported a failure.
    Failed,
    /// B5 only: the switchover failed or timed out and everything reverted; blue serves.
    Reverted,
    /// Abandoned because the run was rolled back (B8).
    RolledBack,
}

/// One attempt at one phase, with its log (B10: finished phases with durations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// The phase.
    pub phase: RunPhase,
    /// 1 for the first attempt; retries and returns to B4 count up.
    pub attempt: u32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub outcome: Option<PhaseOutcome>,
    /// What the driver said it did.
    pub log: Vec<String>,
}

/// A switchover that reverted (B5): blue kept serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revert {
    /// When it reverted.
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: String,
    /// Client-visible interruption during the attempt, in milliseconds.
    pub downtime_ms: Option<u64>,
}

/// A switchover forced past red guardrails, and who answers for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forced {
    /// Who forced it.
    pub by: String,
    /// Why.
    pub comment: String,
    /// The guardrails that were red.
    pub red: Vec<String>,
}

/// A driver report received, whose completion waits for its instant (simulated time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    /// The request it answers.
    pub key: String,
    /// When the action is done on the engine's clock.
    pub finishes_at: DateTime<Utc>,
    /// What the driver reported.
    pub report: ActionReport,
}

/// A blue/green upgrade run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The run's id.
    pub run_id: RunId,
    /// The service being upgraded (blue).
    pub service: ServiceKey,
    /// Its type.
    pub service_type: ServiceType,
    /// The version blue runs.
    pub from_version: Version,
    /// The runner configuration.
    pub config: RunConfig,
    /// Who started it.
    pub started_by: String,
    /// When.
    pub started_at: DateTime<Utc>,
    /// When it finished (completed or rolled back).
    pub finished_at: Option<DateTime<Utc>>,
    /// Where it stands.
    pub status: RunStatus,
    /// The current (or last) phase.
    pub phase: RunPhase,
    /// Every phase attempt, oldest first.
    pub phases: Vec<PhaseRecord>,
    /// B8: a rollback in progress or done, with its reason.
    pub rollback: Option<String>,
    /// B8: rollback attempts so far (numbers the rollback keys).
    pub rollback_attempts: u32,
    /// What the driver is asked to do now, if anything.
    pub pending: Option<DriverRequest>,
    /// A report received whose completion is scheduled.
    pub completion: Option<Completion>,
    /// Observations taken so far (numbers the observe keys).
    pub observations: u32,
    /// The latest B4 observation (guardrails are judged on it).
    pub latest: Option<Observation>,
    /// B4: lag samples per slot, oldest first, at most `LAG_WINDOW` per slot.
    pub lag: BTreeMap<String, Vec<LagSample>>,
    /// B4: DDL seen on blue.
    pub ddl: Vec<DdlChange>,
    /// B1: extensions disabled, to re-enable in B6.
    pub extensions_disabled: Vec<String>,
    /// B1: tables without a primary key or replica identity.
    pub tables_without_key: Vec<String>,
    /// B1: what logical replication does not carry by itself, and what the run does (B13).
    #[serde(default)]
    pub inventory: Option<Inventory>,
    /// B13: choices operators recorded for what the run cannot carry by itself.
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// B5 attempts so far.
    pub switchover_attempts: u32,
    /// Switchovers that reverted.
    pub reverts: Vec<Revert>,
    /// The switchover that went through past red guardrails, if any.
    pub forced: Option<Forced>,
    /// The successful switchover's client-visible interruption, in milliseconds.
    pub switchover_downtime_ms: Option<u64>,
    /// B9: actions a crash of lockstep cut off, oldest first, with the key each was for.
    #[serde(default)]
    pub interruptions: Vec<(String, Interruption)>,
}

impl Run {
    /// The attempt number of the current phase.
    #[must_use]
    pub fn attempt(&self) -> u32 {
        self.current_record().map_or(1, |r| r.attempt)
    }

    /// The open (or last) record of the current phase.
    #[must_use]
    pub fn current_record(&self) -> Option<&PhaseRecord> {
        self.phases.iter().rev().find(|r| r.phase == self.phase)
    }

    /// The idempotency key of an action: run, phase, action and attempt (B9).
    #[must_use]
    pub fn action_key(&self, phase_id: &str, action: RunAction, attempt: u32) -> String {
        format!("{}/{phase_id}/{}/{attempt}", self.run_id, action.as_str())
    }

    /// B10: total downtime, the longest client-visible interruption over every switchover
    /// attempt (reverted ones included); `None` before any switchover.
    #[must_use]
    pub fn total_downtime_ms(&self) -> Option<u64> {
        self.reverts
            .iter()
            .filter_map(|r| r.downtime_ms)
            .chain(self.switchover_downtime_ms)
            .max()
    }

    /// B5: the guardrails judged on the latest observation (all red before any).
    #[must_use]
    pub fn guardrails(&self) -> Vec<Guardrail> {
        let mut all = observe::guardrails(self.latest.as_ref(), &self.config);
        all.push(parity(self.inventory.as_ref(), &self.choices, &self.run_id));
        all
    }

    /// B4: when replication is observed next, judged from the last observation.
    #[must_use]
    pub fn next_observation_at(&self) -> Option<DateTime<Utc>> {
        let started = self.current_record().map(|r| r.started_at)?;
        let last = self.latest.as_ref().map(|o| o.at).max(Some(started))?;
        let every = if last - started < chrono::Duration::minutes(30) {
            OBSERVE_EVERY_S
        } else {
            OBSERVE_SLOWLY_EVERY_S
        };
        Some(last + chrono::Duration::seconds(every))
    }

    /// The newest lag per slot, in bytes.
    #[must_use]
    pub fn current_lag(&self) -> Option<u64> {
        self.latest.as_ref().map(Observation::max_lag)
    }

    /// B4: what an operator must do before replication can go on, if anything.
    #[must_use]
    pub fn action_needed(&self) -> Option<&str> {
        if self.phase != RunPhase::Replicating
            || self.status.is_finished()
            || self.rollback.is_some()
        {
            return None;
        }
        self.latest.as_ref()?.action_needed.as_deref()
    }

    /// What the run waits on an operator for, in words, if anything.
    #[must_use]
    pub fn waiting_on_operator(&self) -> Option<String> {
        if let Some(action) = self.action_needed() {
            return Some(format!("action needed: {action}"));
        }
        match self.status {
            RunStatus::WaitingForOperator => Some(format!(
                "{} ready · guardrails {n}/{n} ✓",
                RunPhase::Switchover,
                n = self.guardrails().len()
            )),
            RunStatus::Failed => Some(format!(
                "{} failed: resume to retry{}",
                self.phase,
                if self.phase.after_switchover() {
                    ""
                } else {
                    " or roll back"
                }
            )),
            _ => None,
        }
    }
}
