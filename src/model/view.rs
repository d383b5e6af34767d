//! Read views with the source API's field names: what `--json`, the HTTP API and the dashboard show.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::StepId;
use super::forecast::Forecast;
use super::service::{MaintenanceWindow, Node, Plan, Service, ServiceType, Updating};
use super::state::{State, Step, Validation};
use super::version::Version;

/// An upgrade step as the API shows it (V4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepView {
    /// The step's id.
    pub step_id: StepId,
    /// Organization of both services.
    pub organization_id: String,
    /// Source project.
    pub source_project_name: String,
    /// Source service.
    pub source_service_name: String,
    /// Destination project.
    pub destination_project_name: String,
    /// Destination service.
    pub destination_service_name: String,
    /// Days before automatic validation.
    pub auto_validation_delay_days: u32,
    /// The latest validation.
    pub last_validation: Option<Validation>,
    /// The next automatic validation, or null when nothing waits.
    pub auto_validation_at: Option<DateTime<Utc>>,
    /// The newest validated version: the destination's ceiling.
    pub pinned_version: Version,
    /// The version the source runs.
    pub source_version: Version,
    /// The version the destination runs.
    pub destination_version: Version,
    /// Whether the source is powered off, so the step holds nothing (V6).
    pub source_powered_off: bool,
}

/// The state of a service in a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Running its version.
    Running,
    /// Applying a maintenance update.
    Updating,
    /// Powered off.
    PoweredOff,
}

/// A service as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceView {
    /// Project.
    pub project_name: String,
    /// Name.
    pub service_name: String,
    /// Organization.
    pub organization_id: String,
    /// Kind of service.
    pub service_type: ServiceType,
    /// Plan.
    pub plan: Plan,
    /// Version it runs.
    pub version: Version,
    /// When it received that version.
    pub updated_at: DateTime<Utc>,
    /// Whether it is on.
    pub powered: bool,
    /// Running, updating or powered off.
    pub state: ServiceState,
    /// The ceiling set by the step that holds it (V1), if any.
    pub pinned_version: Option<Version>,
    /// The update it takes at its next window, if any.
    pub pending_version: Option<Version>,
    /// Whether that update is an emergency override (V7).
    pub pending_emergency_override: bool,
    /// The step holding back a newer release, if any.
    pub held_by_step_id: Option<StepId>,
    /// The newer release it is held from.
    pub held_version: Option<Version>,
    /// Whether its version came by an emergency override not yet validated (V7).
    pub emergency_override: bool,
    /// Weekly maintenance window.
    pub maintenance: MaintenanceWindow,
    /// The update being applied.
    pub updating: Option<Updating>,
    /// When it will receive its next version.
    pub forecast: Option<Forecast>,
    /// Nodes, primary first.
    pub nodes: Vec<Node>,
}

impl State {
    /// The API view of a step.
    #[must_use]
    pub fn step_view(&self, step: &Step) -> StepView {
        let version_of = |k| {
            self.services
                .get(k)
                .map(|s: &Service| s.version.clone())
                .unwrap_or_else(|| step.pinned_version.clone())
        };
        StepView {
            step_id: step.step_id,
            organization_id: step.organization_id.clone(),
            source_project_name: step.source.project.clone(),
            source_service_name: step.source.name.clone(),
            destination_project_name: step.destination.project.clone(),
            destination_service_name: step.destination.name.clone(),
            auto_validation_delay_days: step.auto_validation_delay_days,
            last_validation: step.last_validation.clone(),
            auto_validation_at: self.auto_validation_at(step),
            pinned_version: step.pinned_version.clone(),
            source_version: version_of(&step.source),
            destination_version: version_of(&step.destination),
            source_powered_off: self.services.get(&step.source).is_some_and(|s| !s.powered),
        }
    }

    /// The API view of a service at `now`.
    #[must_use]
    pub fn service_view(&self, svc: &Service, now: DateTime<Utc>) -> ServiceView {
        let holding = self.holding_step(&svc.key);
        let pending = svc.powered.then(|| self.pending_update(svc)).flatten();
        let held = self.held_update(svc);
        ServiceView {
            project_name: svc.key.project.clone(),
            service_name: svc.key.name.clone(),
            organization_id: self
                .organization_of(&svc.key.project)
                .unwrap_or_default()
                .to_string(),
            service_type: svc.service_type,
            plan: svc.plan,
            version: svc.version.clone(),
            updated_at: svc.updated_at,
            powered: svc.powered,
            state: if !svc.powered {
                ServiceState::PoweredOff
            } else if svc.updating.is_some() {
                ServiceState::Updating
            } else {
                ServiceState::Running
            },
            pinned_version: holding.map(|s| s.pinned_version.clone()),
            pending_emergency_override: pending.as_ref().is_some_and(|p| p.emergency_override),
            pending_version: pending.map(|p| p.version),
            held_by_step_id: held.map(|(s, _)| s.step_id),
            held_version: held.map(|(_, v)| v.clone()),
            emergency_override: svc.emergency_override,
            maintenance: svc.maintenance,
            updating: svc.updating.clone(),
            forecast: self.forecast(svc, now),
            nodes: svc.nodes.clone(),
        }
    }
}
