//! Events: everything lockstep knows is the fold of its journal of events (V9).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::fleet::{Endpoint, IncidentId, IncidentKind, NodeChange, Stage};
use super::run::{
    ActionReport, Fault, Observation, PhaseOutcome, RequestKind, RunConfig, RunId, RunPhase,
    RunStatus,
};
use super::service::{MaintenanceWindow, Plan, ServiceKey, ServiceType};
use super::version::Version;

/// An event's id: its position in the journal, starting at 1.
pub type Seq = u64;

/// An upgrade step's id.
pub type StepId = u64;

/// The actor recorded for decisions taken by lockstep itself.
pub const SYSTEM_ACTOR: &str = "system";

/// One entry of the append-only history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the journal; the event's id everywhere.
    pub seq: Seq,
    /// When it happened (UTC, milliseconds).
    pub at: DateTime<Utc>,
    /// Who did it: a user name, or `system`.
    pub actor: String,
    /// Why, in words an operator reads.
    pub reason: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A project was created in an organization.
    ProjectCreated {
        /// Project name.
        project: String,
        /// Organization it belongs to.
        organization_id: String,
    },
    /// A service was created.
    ServiceCreated {
        /// Project and name.
        service: ServiceKey,
        /// Kind of service.
        service_type: ServiceType,
        /// Plan.
        plan: Plan,
        /// Version it starts on.
        version: Version,
        /// Weekly maintenance window.
        maintenance: MaintenanceWindow,
    },
    /// A service was powered on or off.
    PowerChanged {
        /// The service.
        service: ServiceKey,
        /// Whether it is now on.
        powered: bool,
    },
    /// A new version was published for a service type.
    ReleasePublished {
        /// Kind of service.
        service_type: ServiceType,
        /// The new version.
        version: Version,
        /// Whether it is a critical (security/stability) fix, which may override holds (V7).
        critical: bool,
    },
    /// An upgrade step was created (P7 gives its initial validated version).
    StepCreated {
        /// The new step's id.
        step_id: StepId,
        /// Organization of both services.
        organization_id: String,
        /// The service that receives updates first.
        source: ServiceKey,
        /// The service held until validation.
        destination: ServiceKey,
        /// Days before automatic validation.
        auto_validation_delay_days: u32,
        /// The destination's validated version at creation.
        initial_validated_version: Version,
    },
    /// A step's delay changed (P9).
    StepUpdated {
        /// The step.
        step_id: StepId,
        /// The delay before.
        previous_delay_days: u32,
        /// The delay now.
        auto_validation_delay_days: u32,
    },
    /// A step was deleted with all its validations (P8).
    StepDeleted {
        /// The step.
        step_id: StepId,
    },
    /// A version of a step's source was validated (V2, V3).
    VersionValidated {
        /// The step.
        step_id: StepId,
        /// The validated version.
        version: Version,
        /// Who validated it; `None` for an automatic validation.
        validated_by_user: Option<String>,
        /// The comment given with it.
        comment: Option<String>,
    },
    /// A maintenance update started on a service.
    UpdateStarted {
        /// The service.
        service: ServiceKey,
        /// Version before.
        from: Version,
        /// Version being applied.
        to: Version,
        /// When it will be done.
        finishes_at: DateTime<Utc>,
        /// Whether it goes past the pinned version (V7).
        emergency_override: bool,
    },
    /// A critical release was applied before validation (V7).
    EmergencyOverride {
        /// The destination service.
        service: ServiceKey,
        /// The step whose hold it overrides.
        step_id: StepId,
        /// The critical version.
        version: Version,
    },
    /// A maintenance update finished: the service now runs `to`.
    UpdateApplied {
        /// The service.
        service: ServiceKey,
        /// Version before.
        from: Version,
        /// Version now.
        to: Version,
    },
    /// An upgrade run started (U2); its B1 starts with it.
    RunStarted {
        /// The run.
        run_id: RunId,
        /// The service upgraded (blue).
        service: ServiceKey,
        /// Its type.
        service_type: ServiceType,
        /// The version blue runs.
        from_version: Version,
        /// The runner configuration.
        config: RunConfig,
    },
    /// A run entered a phase (again, when `attempt` > 1).
    RunPhaseStarted {
        /// The run.
        run_id: RunId,
        /// The phase.
        phase: RunPhase,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// A run asked its driver to act or observe (recorded before the driver is called, B9).
    RunDriverRequested {
        /// The run.
        run_id: RunId,
        /// The idempotency key.
        key: String,
        /// What the driver is asked for.
        request: RequestKind,
    },
    /// B9: lockstep crashed while its driver performed `key`; the process that took over did
    /// it again (or finished it) and says what the crash cut off.
    RunActionInterrupted {
        /// The run.
        run_id: RunId,
        /// The request whose earlier try was lost.
        key: String,
        /// What the crash cut off.
        interruption: crate::model::run::Interruption,
    },
    /// The driver answered an action; the phase ends at `finishes_at`.
    RunActionReported {
        /// The run.
        run_id: RunId,
        /// The request answered.
        key: String,
        /// What the driver reported.
        report: ActionReport,
        /// When the action is done on the engine's clock.
        finishes_at: DateTime<Utc>,
    },
    /// A phase attempt ended.
    RunPhaseFinished {
        /// The run.
        run_id: RunId,
        /// The phase.
        phase: RunPhase,
        /// Its attempt.
        attempt: u32,
        /// How it ended.
        outcome: PhaseOutcome,
    },
    /// B4: the driver observed replication.
    ReplicationObserved {
        /// The run.
        run_id: RunId,
        /// The request answered.
        key: String,
        /// What it saw.
        observation: Observation,
    },
    /// B13: an operator chose what the run does with something it cannot carry by itself.
    RunChoiceRecorded {
        /// The run.
        run_id: RunId,
        /// What was chosen.
        value: crate::model::run::ChoiceValue,
        /// Why.
        comment: String,
    },
    /// B5: a switchover was forced past red guardrails.
    SwitchoverForced {
        /// The run.
        run_id: RunId,
        /// The red guardrails.
        red: Vec<String>,
        /// Why the operator forced it.
        comment: String,
    },
    /// B5: a switchover failed or ran past its timeout and reverted; blue serves, back in B4.
    SwitchoverReverted {
        /// The run.
        run_id: RunId,
        /// Why it reverted.
        why: String,
        /// Client-visible interruption during the attempt, in milliseconds.
        downtime_ms: Option<u64>,
    },
    /// B8: a run is being rolled back before its switchover.
    RunRollbackStarted {
        /// The run.
        run_id: RunId,
        /// Why.
        why: String,
        /// Whether lockstep decided it (a failure) rather than an operator.
        automatic: bool,
    },
    /// B8: a rollback failed; blue still serves, and `run resume` retries it.
    RunRollbackFailed {
        /// The run.
        run_id: RunId,
        /// What went wrong.
        error: String,
    },
    /// B9: an operator resumed a run after a crash or a failure.
    RunResumed {
        /// The run.
        run_id: RunId,
        /// The request handed to the driver again (same key: it will not act twice).
        key: Option<String>,
    },
    /// A run ended: completed (traffic on green) or rolled back (blue serves).
    RunFinished {
        /// The run.
        run_id: RunId,
        /// The service.
        service: ServiceKey,
        /// Completed or rolled back.
        status: RunStatus,
        /// B10: the longest client-visible interruption, in milliseconds.
        total_downtime_ms: Option<u64>,
    },
    /// A fault was injected into a simulated service.
    SimFaultInjected {
        /// The service.
        service: ServiceKey,
        /// The fault.
        fault: Fault,
    },
    /// A fault of a simulated service was cleared (by an operator, or because it happened).
    SimFaultCleared {
        /// The service.
        service: ServiceKey,
        /// The fault.
        fault: Fault,
    },
    /// F1–F4: something happened to one node.
    NodeChanged {
        /// The service.
        service: ServiceKey,
        /// The node.
        node: String,
        /// What happened.
        change: NodeChange,
    },
    /// F1–F4: an endpoint now points elsewhere (`None`: unreachable).
    EndpointMoved {
        /// The service.
        service: ServiceKey,
        /// Which endpoint.
        endpoint: Endpoint,
        /// The node it pointed to.
        from: Option<String>,
        /// The node it points to now.
        to: Option<String>,
    },
    /// F4: replication set to (or back from) quorum-commit synchronous.
    QuorumCommitSet {
        /// The service.
        service: ServiceKey,
        /// Whether quorum commit is on.
        on: bool,
    },
    /// F1–F4: an incident opened.
    IncidentOpened {
        /// Its id.
        incident_id: IncidentId,
        /// The service.
        service: ServiceKey,
        /// What it is about.
        kind: IncidentKind,
        /// The node lost, or the old primary.
        node: String,
        /// The timeout waited out, in seconds.
        timeout_s: u32,
        /// When lockstep acts next.
        next_at: Option<DateTime<Utc>>,
    },
    /// F1–F4: an incident moved to its next stage.
    IncidentAdvanced {
        /// Its id.
        incident_id: IncidentId,
        /// The service.
        service: ServiceKey,
        /// The stage now.
        stage: Stage,
        /// When lockstep acts next.
        next_at: Option<DateTime<Utc>>,
        /// The node being built, if any.
        replacement: Option<String>,
        /// F3: seconds of changes lost (time since the last backup).
        data_loss_s: Option<i64>,
    },
    /// F1–F4: an incident is over.
    IncidentResolved {
        /// Its id.
        incident_id: IncidentId,
        /// The service.
        service: ServiceKey,
        /// How it ended.
        outcome: String,
    },
    /// F2: a service's standby timeout changed.
    StandbyTimeoutSet {
        /// The service.
        service: ServiceKey,
        /// Seconds.
        seconds: u32,
    },
}

impl EventKind {
    /// The short name of the event's type, as in JSON.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::ProjectCreated { .. } => "project_created",
            EventKind::ServiceCreated { .. } => "service_created",
            EventKind::PowerChanged { .. } => "power_changed",
            EventKind::ReleasePublished { .. } => "release_published",
            EventKind::StepCreated { .. } => "step_created",
            EventKind::StepUpdated { .. } => "step_updated",
            EventKind::StepDeleted { .. } => "step_deleted",
            EventKind::VersionValidated { .. } => "version_validated",
            EventKind::UpdateStarted { .. } => "update_started",
            EventKind::EmergencyOverride { .. } => "emergency_override",
            EventKind::UpdateApplied { .. } => "update_applied",
            EventKind::RunStarted { .. } => "run_started",
            EventKind::RunPhaseStarted { .. } => "run_phase_started",
            EventKind::RunDriverRequested { .. } => "run_driver_requested",
            EventKind::RunActionInterrupted { .. } => "run_action_interrupted",
            EventKind::RunActionReported { .. } => "run_action_reported",
            EventKind::RunPhaseFinished { .. } => "run_phase_finished",
            EventKind::ReplicationObserved { .. } => "replication_observed",
            EventKind::RunChoiceRecorded { .. } => "run_choice_recorded",
            EventKind::SwitchoverForced { .. } => "switchover_forced",
            EventKind::SwitchoverReverted { .. } => "switchover_reverted",
            EventKind::RunRollbackStarted { .. } => "run_rollback_started",
            EventKind::RunRollbackFailed { .. } => "run_rollback_failed",
            EventKind::RunResumed { .. } => "run_resumed",
            EventKind::RunFinished { .. } => "run_finished",
            EventKind::SimFaultInjected { .. } => "sim_fault_injected",
            EventKind::SimFaultCleared { .. } => "sim_fault_cleared",
            EventKind::NodeChanged { .. } => "node_changed",
            EventKind::EndpointMoved { .. } => "endpoint_moved",
            EventKind::QuorumCommitSet { .. } => "quorum_commit_set",
            EventKind::IncidentOpened { .. } => "incident_opened",
            EventKind::IncidentAdvanced { .. } => "incident_advanced",
            EventKind::IncidentResolved { .. } => "incident_resolved",
            EventKind::StandbyTimeoutSet { .. } => "standby_timeout_set",
        }
    }

    /// The run this event is about, if any.
    #[must_use]
    pub fn run_id(&self) -> Option<&RunId> {
        match self {
            EventKind::RunStarted { run_id, .. }
            | EventKind::RunPhaseStarted { run_id, .. }
            | EventKind::RunDriverRequested { run_id, .. }
            | EventKind::RunActionInterrupted { run_id, .. }
            | EventKind::RunActionReported { run_id, .. }
            | EventKind::RunPhaseFinished { run_id, .. }
            | EventKind::ReplicationObserved { run_id, .. }
            | EventKind::RunChoiceRecorded { run_id, .. }
            | EventKind::SwitchoverForced { run_id, .. }
            | EventKind::SwitchoverReverted { run_id, .. }
            | EventKind::RunRollbackStarted { run_id, .. }
            | EventKind::RunRollbackFailed { run_id, .. }
            | EventKind::RunResumed { run_id, .. }
            | EventKind::RunFinished { run_id, .. } => Some(run_id),
            _ => None,
        }
    }

    /// The services this event is about, for per-service histories.
    #[must_use]
    pub fn services(&self) -> Vec<&ServiceKey> {
        match self {
            EventKind::ServiceCreated { service, .. }
            | EventKind::PowerChanged { service, .. }
            | EventKind::UpdateStarted { service, .. }
            | EventKind::EmergencyOverride { service, .. }
            | EventKind::UpdateApplied { service, .. }
            | EventKind::RunStarted { service, .. }
            | EventKind::RunFinished { service, .. }
            | EventKind::SimFaultInjected { service, .. }
            | EventKind::SimFaultCleared { service, .. }
            | EventKind::NodeChanged { service, .. }
            | EventKind::EndpointMoved { service, .. }
            | EventKind::QuorumCommitSet { service, .. }
            | EventKind::IncidentOpened { service, .. }
            | EventKind::IncidentAdvanced { service, .. }
            | EventKind::IncidentResolved { service, .. }
            | EventKind::StandbyTimeoutSet { service, .. } => vec![service],
            EventKind::StepCreated {
                source,
                destination,
                ..
            } => vec![source, destination],
            _ => Vec::new(),
        }
    }
}

/// An event decided but not yet in the journal (no id, no time yet).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Why, in words an operator reads.
    pub reason: String,
    /// What happens.
    pub kind: EventKind,
}

impl NewEvent {
    /// Pairs an event with its reason.
    #[must_use]
    pub fn new(kind: EventKind, reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            kind,
        }
    }
}
