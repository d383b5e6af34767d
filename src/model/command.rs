//! Commands: what users, the scheduler and drivers ask of the engine.

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use super::event::StepId;
use super::run::{ActionReport, Fault, Observation, RunId};
use super::service::{MaintenanceWindow, Plan, ServiceKey, ServiceType};
use super::version::Version;

/// A request to change something; decided against the state at an instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Create a project (in the default organization when none is given).
    CreateProject {
        /// Project name.
        name: String,
        /// Organization id.
        organization_id: Option<String>,
    },
    /// Create a service.
    CreateService {
        /// Project and name.
        service: ServiceKey,
        /// Kind of service.
        service_type: ServiceType,
        /// Version it runs.
        version: Version,
        /// Plan (default startup).
        plan: Option<Plan>,
        /// Maintenance window (default tuesday 03:00 UTC).
        maintenance: Option<MaintenanceWindow>,
    },
    /// Power a service on or off (V6).
    SetPower {
        /// The service.
        service: ServiceKey,
        /// On or off.
        powered: bool,
    },
    /// Apply a pending maintenance update now.
    MaintenanceStart {
        /// The service.
        service: ServiceKey,
    },
    /// Publish a release for a service type.
    PublishRelease {
        /// Kind of service.
        service_type: ServiceType,
        /// The version.
        version: Version,
        /// Critical fix (V7).
        critical: bool,
    },
    /// Create an upgrade step (P1–P7).
    CreateStep {
        /// Organization (optional while there is one).
        organization_id: Option<String>,
        /// Receives updates first.
        source: ServiceKey,
        /// Held until validation.
        destination: ServiceKey,
        /// Delay before automatic validation (default 7).
        auto_validation_delay_days: Option<i64>,
    },
    /// Change a step's delay (P9).
    UpdateStep {
        /// The step.
        step_id: StepId,
        /// The new delay.
        auto_validation_delay_days: i64,
    },
    /// Delete a step (P8).
    DeleteStep {
        /// The step.
        step_id: StepId,
    },
    /// Validate a service's current version on every step it is the source of (V2).
    ValidateForService {
        /// The source service.
        service: ServiceKey,
        /// Optional comment.
        comment: Option<String>,
    },
    /// Scheduler: a step's auto-validation deadline is reached (V3).
    AutoValidate {
        /// The step.
        step_id: StepId,
    },
    /// Scheduler: a service's maintenance window opens.
    MaintenanceWindowOpened {
        /// The service.
        service: ServiceKey,
    },
    /// Driver: a maintenance update finished.
    FinishUpdate {
        /// The service.
        service: ServiceKey,
    },
    /// Start a blue/green upgrade run to a newer major (U2).
    StartRun {
        /// The service to upgrade.
        service: ServiceKey,
        /// The target: a major (`17`) takes its newest published release.
        target_version: Version,
        /// B5 timeout in seconds, 30..=3600 (default 300).
        switchover_timeout_s: Option<i64>,
        /// B5 lag guardrail in bytes (default 200 kB).
        lag_threshold_bytes: Option<u64>,
        /// B5 longest write transaction allowed, in seconds (default 30).
        long_txn_limit_s: Option<i64>,
        /// Switch over as soon as every guardrail is green.
        #[serde(default)]
        auto_switchover: bool,
    },
    /// B5: switch traffic to green; refused on a red guardrail unless forced with a comment.
    Switchover {
        /// The run.
        run_id: RunId,
        /// Go ahead past red guardrails.
        #[serde(default)]
        force: bool,
        /// Why (required with `force`).
        comment: Option<String>,
    },
    /// B13: record what the run does with something it cannot carry by itself.
    ChooseForRun {
        /// The run.
        run_id: RunId,
        /// What to do.
        value: crate::model::run::ChoiceValue,
        /// Why (recorded with the choice).
        comment: Option<String>,
    },
    /// B8: roll a run back (only before its switchover).
    Rollback {
        /// The run.
        run_id: RunId,
    },
    /// B9: resume a run after a crash, or retry its failed phase.
    ResumeRun {
        /// The run.
        run_id: RunId,
    },
    /// Driver: an action was performed (or found already performed).
    ReportRunAction {
        /// The run.
        run_id: RunId,
        /// The request answered.
        key: String,
        /// When the driver started it, on the engine's clock.
        started_at: DateTime<Utc>,
        /// What it reported.
        report: ActionReport,
    },
    /// Driver: replication was observed (B4).
    ReportObservation {
        /// The run.
        run_id: RunId,
        /// The request answered.
        key: String,
        /// What it saw.
        observation: Observation,
    },
    /// Scheduler: a reported action's time is up; the phase ends.
    CompleteRunAction {
        /// The run.
        run_id: RunId,
    },
    /// Scheduler: time to observe replication again (B4).
    ObserveRun {
        /// The run.
        run_id: RunId,
    },
    /// Inject (or clear) a fault in a simulated service.
    SimFault {
        /// The service.
        service: ServiceKey,
        /// The fault.
        fault: Fault,
        /// Clear it instead.
        #[serde(default)]
        clear: bool,
    },
    /// Scheduler: a node timeout ran out or a failover/switchover stage is done (F1–F4).
    AdvanceFleet {
        /// The service.
        service: ServiceKey,
    },
    /// F2: how long a lost standby is waited for before it is replaced.
    SetStandbyTimeout {
        /// The service.
        service: ServiceKey,
        /// Seconds (30..=3600).
        seconds: i64,
    },
}

impl Command {
    /// Whether the command changes something a read-only operator may not change.
    #[must_use]
    pub fn is_scheduled(&self) -> bool {
        matches!(
            self,
            Command::AutoValidate { .. }
                | Command::MaintenanceWindowOpened { .. }
                | Command::FinishUpdate { .. }
                | Command::ReportRunAction { .. }
                | Command::ReportObservation { .. }
                | Command::CompleteRunAction { .. }
                | Command::ObserveRun { .. }
                | Command::AdvanceFleet { .. }
        )
    }
}
