//! Events: everything lockstep knows is the fold of its journal of events (V9).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
            | EventKind::UpdateApplied { service, .. } => vec![service],
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
