//! What a driver is told about a run, and the faults the simulator can be given.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Run, RunConfig, RunId, RunPhase};
use crate::model::service::{Plan, ServiceKey, ServiceType};
use crate::model::state::State;
use crate::model::version::Version;

/// A fault injected into a simulated service (`lockstep sim fault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// Green disappears: its actions fail and its subscription is unreachable.
    GreenLost,
    /// Replication lag never converges.
    LagStuck,
    /// The next switchover runs past its timeout, so it reverts.
    SlowSwitchover,
    /// F1/F3: the primary node stops answering.
    PrimaryLost,
    /// F2: a standby node stops answering.
    StandbyLost,
    /// The lost node answers again (before its timeout).
    NodeBack,
}

impl Fault {
    /// Every fault.
    pub const ALL: [Fault; 6] = [
        Fault::GreenLost,
        Fault::LagStuck,
        Fault::SlowSwitchover,
        Fault::PrimaryLost,
        Fault::StandbyLost,
        Fault::NodeBack,
    ];

    /// Whether it is about nodes (F1–F3) rather than an upgrade run.
    #[must_use]
    pub fn is_node_fault(self) -> bool {
        matches!(
            self,
            Fault::PrimaryLost | Fault::StandbyLost | Fault::NodeBack
        )
    }

    /// The fault's name on the command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::GreenLost => "green-lost",
            Fault::LagStuck => "lag-stuck",
            Fault::SlowSwitchover => "slow-switchover",
            Fault::PrimaryLost => "primary-lost",
            Fault::StandbyLost => "standby-lost",
            Fault::NodeBack => "node-back",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Fault::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!("unknown fault '{s}': use green-lost, lag-stuck, slow-switchover, primary-lost, standby-lost or node-back")
            })
    }
}

/// Everything a driver needs to act on or observe one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The run.
    pub run_id: RunId,
    /// The service (blue).
    pub service: ServiceKey,
    /// Its type.
    pub service_type: ServiceType,
    /// Its plan.
    pub plan: Plan,
    /// The version blue runs.
    pub from_version: Version,
    /// The runner configuration (target version, timeout, thresholds).
    pub config: RunConfig,
    /// The current phase.
    pub phase: RunPhase,
    /// Its attempt.
    pub attempt: u32,
    /// When the current phase attempt started.
    pub phase_started_at: DateTime<Utc>,
    /// When ingestion was paused (B1 end), if it is.
    pub ingestion_paused_at: Option<DateTime<Utc>>,
    /// When replication was last observed.
    pub last_observed_at: Option<DateTime<Utc>>,
    /// Extensions B1 disabled.
    pub extensions_disabled: Vec<String>,
    /// Faults injected into the service (simulator only).
    pub faults: Vec<Fault>,
    /// B13: what operators chose for what the run cannot carry by itself.
    #[serde(default)]
    pub choices: Vec<super::ChoiceValue>,
}

impl State {
    /// What a driver is told about `run`.
    #[must_use]
    pub fn run_spec(&self, run: &Run) -> RunSpec {
        let record = run.current_record();
        let b1_done = run
            .phases
            .iter()
            .find(|r| r.phase == RunPhase::Prerequisites && r.outcome.is_some())
            .and_then(|r| r.ended_at);
        let resumed = run.phases.iter().any(|r| {
            r.phase == RunPhase::PostSwitchover && r.outcome == Some(super::PhaseOutcome::Succeeded)
        });
        RunSpec {
            run_id: run.run_id.clone(),
            service: run.service.clone(),
            service_type: run.service_type,
            plan: self
                .services
                .get(&run.service)
                .map_or(Plan::Startup, |s| s.plan),
            from_version: run.from_version.clone(),
            config: run.config.clone(),
            phase: run.phase,
            attempt: run.attempt(),
            phase_started_at: record.map_or(run.started_at, |r| r.started_at),
            ingestion_paused_at: if run.config.pause_ingestion && !resumed {
                b1_done
            } else {
                None
            },
            last_observed_at: run.latest.as_ref().map(|o| o.at),
            extensions_disabled: run.extensions_disabled.clone(),
            faults: self
                .faults
                .get(&run.service)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            choices: super::choice_for(&run.choices, super::ItemKind::UnloggedTable)
                .map(|c| c.value)
                .into_iter()
                .collect(),
        }
    }

    /// Every run with a driver request waiting, with what to tell the driver.
    #[must_use]
    pub fn driver_work(&self) -> Vec<(RunSpec, super::DriverRequest)> {
        self.runs
            .values()
            .filter_map(|r| r.pending.clone().map(|p| (self.run_spec(r), p)))
            .collect()
    }

    /// The newest published release of `major` for a service type.
    #[must_use]
    pub fn newest_of_major(&self, service_type: ServiceType, major: u32) -> Option<&Version> {
        self.releases_of(service_type)
            .iter()
            .rev()
            .map(|r| &r.version)
            .find(|v| v.major() == major)
    }

    /// Whether some run waits for its driver.
    #[must_use]
    pub fn has_driver_work(&self) -> bool {
        self.runs.values().any(|r| r.pending.is_some())
    }

    /// The unfinished run on `service`, if any.
    #[must_use]
    pub fn active_run(&self, service: &ServiceKey) -> Option<&Run> {
        self.runs
            .values()
            .find(|r| &r.service == service && !r.status.is_finished())
    }
}
