//! The state: the fold of the journal (`State::apply`), with the queries every view needs.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::{Event, EventKind, Seq, StepId};
use super::fleet::{Incident, IncidentId};
use super::run::{Fault, Run, RunId};
use super::service::{Service, ServiceKey, ServiceType, Updating};
use super::version::Version;

/// A project in an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Project name, unique everywhere.
    pub name: String,
    /// The organization it belongs to.
    pub organization_id: String,
}

/// A published version of a service type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Kind of service.
    pub service_type: ServiceType,
    /// The version.
    pub version: Version,
    /// Critical (security/stability) fix.
    pub critical: bool,
    /// When it was published.
    pub published_at: DateTime<Utc>,
}

/// A validation of a source's version on one step (V4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    /// When it was validated.
    pub validated_at: DateTime<Utc>,
    /// Who validated it; `None` for automatic validation (V3).
    pub validated_by_user: Option<String>,
    /// Comment given with a manual validation.
    pub comment: Option<String>,
    /// The validated version.
    pub version: Version,
}

/// An upgrade step: source → destination with an auto-validation delay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The step's id.
    pub step_id: StepId,
    /// Organization of both services.
    pub organization_id: String,
    /// Receives updates first.
    pub source: ServiceKey,
    /// Held on the pinned version until validation.
    pub destination: ServiceKey,
    /// Days before automatic validation (1..=30).
    pub auto_validation_delay_days: u32,
    /// The newest validated version: the destination never moves past it (V1).
    pub pinned_version: Version,
    /// The latest validation, if any (V4).
    pub last_validation: Option<Validation>,
    /// When the step was created.
    pub created_at: DateTime<Utc>,
}

/// How long a closed incident stays in the state (the journal keeps it for ever).
pub const INCIDENT_RETENTION_DAYS: i64 = 3;

/// Everything lockstep knows, folded from the journal.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Id of the last event applied.
    pub head: Seq,
    /// Time of the last event applied.
    pub last_event_at: Option<DateTime<Utc>>,
    /// Projects by name.
    pub projects: BTreeMap<String, Project>,
    /// Services by key.
    pub services: BTreeMap<ServiceKey, Service>,
    /// Releases by type, oldest version first.
    pub releases: BTreeMap<ServiceType, Vec<Release>>,
    /// Steps by id.
    pub steps: BTreeMap<StepId, Step>,
    /// Id the next step receives.
    pub next_step_id: StepId,
    /// Upgrade runs by id (U2, B1–B10).
    #[serde(default)]
    pub runs: BTreeMap<RunId, Run>,
    /// Faults injected into simulated services.
    #[serde(default)]
    pub faults: BTreeMap<ServiceKey, BTreeSet<Fault>>,
    /// Node losses and controlled switchovers, open and closed, by id (F1–F4).
    #[serde(default)]
    pub incidents: BTreeMap<IncidentId, Incident>,
    #[serde(skip)]
    index: Index,
}

#[derive(Debug, Clone, Default)]
struct Index {
    built: bool,
    by_source: FxHashMap<ServiceKey, Vec<StepId>>,
    by_destination: FxHashMap<ServiceKey, StepId>,
    incidents_by_service: FxHashMap<ServiceKey, Vec<IncidentId>>,
}

impl State {
    /// An empty state, before any event.
    #[must_use]
    pub fn new() -> Self {
        Self {
            next_step_id: 1,
            ..Self::default()
        }
    }

    /// Rebuilds the lookup indexes (after deserializing a snapshot).
    pub fn reindex(&mut self) {
        let mut index = Index {
            built: true,
            ..Index::default()
        };
        for step in self.steps.values() {
            index
                .by_source
                .entry(step.source.clone())
                .or_default()
                .push(step.step_id);
            index
                .by_destination
                .insert(step.destination.clone(), step.step_id);
        }
        for incident in self.incidents.values() {
            index
                .incidents_by_service
                .entry(incident.service.clone())
                .or_default()
                .push(incident.incident_id);
        }
        self.index = index;
    }

    fn ensure_index(&mut self) {
        if !self.index.built {
            self.reindex();
        }
    }

    /// Folds one event into the state.
    pub fn apply(&mut self, event: &Event) {
        self.ensure_index();
        self.head = event.seq;
        self.last_event_at = Some(event.at);
        let at = event.at;
        match &event.kind {
            EventKind::ProjectCreated {
                project,
                organization_id,
            } => {
                self.projects.insert(
                    project.clone(),
                    Project {
                        name: project.clone(),
                        organization_id: organization_id.clone(),
                    },
                );
            }
            EventKind::ServiceCreated {
                service,
                service_type,
                plan,
                version,
                maintenance,
            } => {
                self.services.insert(
                    service.clone(),
                    Service {
                        key: service.clone(),
                        service_type: *service_type,
                        plan: *plan,
                        version: version.clone(),
                        updated_at: at,
                        maintenance: *maintenance,
                        powered: true,
                        updating: None,
                        emergency_override: false,
                        nodes: Service::initial_nodes(&service.name, *plan, version),
                        endpoints: Default::default(),
                        standby_timeout_s: None,
                    },
                );
                if let Some(s) = self.services.get_mut(service) {
                    s.endpoints = Service::initial_endpoints(&s.nodes);
                }
            }
            EventKind::PowerChanged { service, powered } => {
                if let Some(s) = self.services.get_mut(service) {
                    s.powered = *powered;
                }
            }
            EventKind::ReleasePublished {
                service_type,
                version,
                critical,
            } => {
                let list = self.releases.entry(*service_type).or_default();
                list.push(Release {
                    service_type: *service_type,
                    version: version.clone(),
                    critical: *critical,
                    published_at: at,
                });
                list.sort_by(|a, b| a.version.cmp(&b.version));
            }
            EventKind::StepCreated {
                step_id,
                organization_id,
                source,
                destination,
                auto_validation_delay_days,
                initial_validated_version,
            } => {
                self.steps.insert(
                    *step_id,
                    Step {
                        step_id: *step_id,
                        organization_id: organization_id.clone(),
                        source: source.clone(),
                        destination: destination.clone(),
                        auto_validation_delay_days: *auto_validation_delay_days,
                        pinned_version: initial_validated_version.clone(),
                        last_validation: None,
                        created_at: at,
                    },
                );
                self.next_step_id = self.next_step_id.max(step_id + 1);
                self.index
                    .by_source
                    .entry(source.clone())
                    .or_default()
                    .push(*step_id);
                self.index
                    .by_destination
                    .insert(destination.clone(), *step_id);
            }
            EventKind::StepUpdated {
                step_id,
                auto_validation_delay_days,
                ..
            } => {
                if let Some(s) = self.steps.get_mut(step_id) {
                    s.auto_validation_delay_days = *auto_validation_delay_days;
                }
            }
            EventKind::StepDeleted { step_id } => {
                if let Some(step) = self.steps.remove(step_id) {
                    if let Some(ids) = self.index.by_source.get_mut(&step.source) {
                        ids.retain(|id| id != step_id);
                        if ids.is_empty() {
                            self.index.by_source.remove(&step.source);
                        }
                    }
                    self.index.by_destination.remove(&step.destination);
                }
            }
            EventKind::VersionValidated {
                step_id,
                version,
                validated_by_user,
                comment,
            } => {
                if let Some(step) = self.steps.get_mut(step_id) {
                    if *version > step.pinned_version {
                        step.pinned_version = version.clone();
                    }
                    step.last_validation = Some(Validation {
                        validated_at: at,
                        validated_by_user: validated_by_user.clone(),
                        comment: comment.clone(),
                        version: version.clone(),
                    });
                    let dest = step.destination.clone();
                    let pinned = step.pinned_version.clone();
                    if let Some(d) = self.services.get_mut(&dest)
                        && d.version <= pinned
                    {
                        d.emergency_override = false;
                    }
                }
            }
            EventKind::UpdateStarted {
                service,
                to,
                finishes_at,
                emergency_override,
                ..
            } => {
                if let Some(s) = self.services.get_mut(service) {
                    s.updating = Some(Updating {
                        target: to.clone(),
                        started_at: at,
                        finishes_at: *finishes_at,
                        emergency_override: *emergency_override,
                    });
                }
            }
            EventKind::EmergencyOverride { .. } => {}
            EventKind::UpdateApplied { service, to, .. } => {
                if let Some(s) = self.services.get_mut(service) {
                    let was_override = s.updating.as_ref().is_some_and(|u| u.emergency_override);
                    s.version = to.clone();
                    s.updated_at = at;
                    s.updating = None;
                    s.emergency_override = was_override;
                    for node in &mut s.nodes {
                        node.version = to.clone();
                    }
                }
            }
            _ => {
                self.apply_fleet(event);
                self.apply_run(event);
            }
        }
    }

    /// Records that incident `id` concerns `service` (kept beside the incidents, so a
    /// service's incidents are found without scanning every incident of the fleet).
    pub(crate) fn index_incident(&mut self, service: &ServiceKey, id: IncidentId) {
        self.ensure_index();
        self.index
            .incidents_by_service
            .entry(service.clone())
            .or_default()
            .push(id);
    }

    /// Drops `service`'s incidents that closed more than [`INCIDENT_RETENTION_DAYS`] before
    /// `now`, so the state holds what is open and recent while the journal keeps everything
    /// (time travel and the history still show them). Without this a fleet's weekly
    /// maintenance switchovers would grow the state, its snapshots and every dashboard's copy
    /// without end.
    pub(crate) fn forget_old_incidents(&mut self, service: &ServiceKey, now: DateTime<Utc>) {
        self.ensure_index();
        let horizon = now - chrono::Duration::days(INCIDENT_RETENTION_DAYS);
        let Some(ids) = self.index.incidents_by_service.get_mut(service) else {
            return;
        };
        let incidents = &mut self.incidents;
        ids.retain(|id| {
            let old = incidents
                .get(id)
                .is_some_and(|i| i.closed_at.is_some_and(|c| c < horizon));
            if old {
                incidents.remove(id);
            }
            !old
        });
    }

    /// The incidents of `service`, oldest first.
    pub fn incidents_of<'a>(
        &'a self,
        service: &ServiceKey,
    ) -> Box<dyn DoubleEndedIterator<Item = &'a Incident> + 'a> {
        if self.index.built {
            let ids = self
                .index
                .incidents_by_service
                .get(service)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            Box::new(ids.iter().filter_map(|id| self.incidents.get(id)))
        } else {
            let service = service.clone();
            Box::new(
                self.incidents
                    .values()
                    .filter(move |i| i.service == service),
            )
        }
    }

    /// Steps whose source is `service`.
    #[must_use]
    pub fn steps_from(&self, service: &ServiceKey) -> Vec<&Step> {
        self.index_ref()
            .and_then(|i| i.by_source.get(service))
            .map(|ids| ids.iter().filter_map(|id| self.steps.get(id)).collect())
            .unwrap_or_else(|| {
                if self.index.built {
                    // Indexed, and not the source of any step.
                    return Vec::new();
                }
                self.steps
                    .values()
                    .filter(|s| &s.source == service)
                    .collect()
            })
    }

    /// The step whose destination is `service` (P2: at most one).
    #[must_use]
    pub fn step_into(&self, service: &ServiceKey) -> Option<&Step> {
        match self.index_ref() {
            Some(i) => i
                .by_destination
                .get(service)
                .and_then(|id| self.steps.get(id)),
            None => self.steps.values().find(|s| &s.destination == service),
        }
    }

    fn index_ref(&self) -> Option<&Index> {
        self.index.built.then_some(&self.index)
    }

    /// Releases published for a service type, oldest version first.
    #[must_use]
    pub fn releases_of(&self, service_type: ServiceType) -> &[Release] {
        self.releases
            .get(&service_type)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The organization a project belongs to.
    #[must_use]
    pub fn organization_of(&self, project: &str) -> Option<&str> {
        self.projects
            .get(project)
            .map(|p| p.organization_id.as_str())
    }

    /// Every organization, sorted.
    #[must_use]
    pub fn organizations(&self) -> Vec<&str> {
        let mut orgs: Vec<&str> = self
            .projects
            .values()
            .map(|p| p.organization_id.as_str())
            .collect();
        orgs.sort_unstable();
        orgs.dedup();
        orgs
    }
}
