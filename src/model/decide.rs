//! `State::decide`: a command, checked against the state at an instant, becomes events or a
//! refusal that names its rule. Nothing here reads a clock or touches I/O.

use chrono::{DateTime, Duration, NaiveTime, Utc, Weekday};

use super::command::Command;
use super::error::RuleError;
use super::event::{EventKind, NewEvent, StepId};
use super::pipeline::{DEFAULT_DELAY_DAYS, check_delay};
use super::service::{MaintenanceWindow, Plan, Service, ServiceKey};
use super::state::{State, Step};
use super::version::Version;

/// The organization used when a project is created without one.
pub const DEFAULT_ORGANIZATION: &str = "default";

/// Decides how long applying a maintenance update takes (the driver knows).
pub trait MaintenancePlanner {
    /// How long applying `to` on `service` will take.
    fn duration(&self, service: &Service, to: &Version) -> Duration;
}

/// What a command decided: events to append, and a note for the person who asked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Events to append, in order.
    pub events: Vec<NewEvent>,
    /// A note for the person: why nothing changed, or a warning.
    pub notice: Option<String>,
}

impl Decision {
    fn events(events: Vec<NewEvent>) -> Self {
        Self {
            events,
            notice: None,
        }
    }

    fn nothing(notice: impl Into<String>) -> Self {
        Self {
            events: Vec::new(),
            notice: Some(notice.into()),
        }
    }
}

/// Checks a project or service name.
pub fn check_name(what: &str, name: &str) -> Result<(), RuleError> {
    let ok = (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(RuleError::conflict(format!(
            "'{name}' is not a valid {what} name: use 1 to 63 lower-case letters, digits and '-', starting with a letter"
        )))
    }
}

impl State {
    /// Looks a service up, or says how to find the right name.
    pub fn service(&self, key: &ServiceKey) -> Result<&Service, RuleError> {
        if !self.projects.contains_key(&key.project) {
            return Err(RuleError::not_found(format!(
                "no project '{}': see `lockstep service list` for the projects and services that exist",
                key.project
            )));
        }
        self.services.get(key).ok_or_else(|| {
            RuleError::not_found(format!(
                "no service '{}' in project '{}': see `lockstep service list --project {}`",
                key.name, key.project, key.project
            ))
        })
    }

    /// Looks a step up, or says how to find the right id.
    pub fn step(&self, step_id: StepId) -> Result<&Step, RuleError> {
        self.steps.get(&step_id).ok_or_else(|| {
            RuleError::not_found(format!(
                "no step {step_id}: see `lockstep step list` for the steps that exist"
            ))
        })
    }

    /// Decides `command`, issued by `actor` at `now`.
    pub fn decide(
        &self,
        command: &Command,
        actor: &str,
        now: DateTime<Utc>,
        planner: &dyn MaintenancePlanner,
    ) -> Result<Decision, RuleError> {
        if let Some(decided) = self.decide_fleet(command, now) {
            return decided;
        }
        if let Some(decided) = self.decide_run(command, actor, now) {
            return decided;
        }
        match command {
            Command::CreateProject {
                name,
                organization_id,
            } => {
                check_name("project", name)?;
                if self.projects.contains_key(name) {
                    return Err(RuleError::conflict(format!(
                        "project '{name}' already exists"
                    )));
                }
                let org = organization_id
                    .clone()
                    .unwrap_or_else(|| DEFAULT_ORGANIZATION.to_string());
                Ok(Decision::events(vec![NewEvent::new(
                    EventKind::ProjectCreated {
                        project: name.clone(),
                        organization_id: org.clone(),
                    },
                    format!("project {name} created in organization {org}"),
                )]))
            }
            Command::CreateService {
                service,
                service_type,
                version,
                plan,
                maintenance,
            } => {
                if !self.projects.contains_key(&service.project) {
                    return Err(RuleError::not_found(format!(
                        "no project '{}': create it first with `lockstep project create {}`",
                        service.project, service.project
                    )));
                }
                check_name("service", &service.name)?;
                if self.services.contains_key(service) {
                    return Err(RuleError::conflict(format!(
                        "service '{}' already exists in project '{}'",
                        service.name, service.project
                    )));
                }
                let maintenance = maintenance.unwrap_or(MaintenanceWindow {
                    dow: Weekday::Tue,
                    time: NaiveTime::from_hms_opt(3, 0, 0).unwrap_or_default(),
                });
                Ok(Decision::events(vec![NewEvent::new(
                    EventKind::ServiceCreated {
                        service: service.clone(),
                        service_type: *service_type,
                        plan: plan.unwrap_or(Plan::Startup),
                        version: version.clone(),
                        maintenance,
                    },
                    format!("service {service} created ({service_type} {version})"),
                )]))
            }
            Command::SetPower { service, powered } => self.decide_power(service, *powered),
            Command::MaintenanceStart { service } => {
                let svc = self.service(service)?;
                if !svc.powered {
                    return Err(RuleError::conflict(format!(
                        "{service} is powered off and cannot receive updates: power it on first"
                    )));
                }
                self.start_update(svc, now, planner, "maintenance-start requested")
            }
            Command::MaintenanceWindowOpened { service } => {
                let svc = self.service(service)?;
                if !svc.powered {
                    return Ok(Decision::nothing(format!("{service} is powered off")));
                }
                let reason = format!("maintenance window {}", svc.maintenance);
                self.start_update(svc, now, planner, &reason)
            }
            Command::FinishUpdate { service } => {
                let svc = self.service(service)?;
                match &svc.updating {
                    Some(u) if u.finishes_at <= now => Ok(Decision::events(vec![NewEvent::new(
                        EventKind::UpdateApplied {
                            service: service.clone(),
                            from: svc.version.clone(),
                            to: u.target.clone(),
                        },
                        format!("{service}: maintenance update to {} finished", u.target),
                    )])),
                    _ => Ok(Decision::nothing(format!(
                        "{service} has no update finishing now"
                    ))),
                }
            }
            Command::PublishRelease {
                service_type,
                version,
                critical,
            } => {
                if self
                    .releases_of(*service_type)
                    .iter()
                    .any(|r| &r.version == version)
                {
                    return Err(RuleError::conflict(format!(
                        "{service_type} {version} is already published"
                    )));
                }
                let what = if *critical {
                    "critical release"
                } else {
                    "release"
                };
                Ok(Decision::events(vec![NewEvent::new(
                    EventKind::ReleasePublished {
                        service_type: *service_type,
                        version: version.clone(),
                        critical: *critical,
                    },
                    format!("{what} {service_type} {version} published"),
                )]))
            }
            Command::CreateStep {
                organization_id,
                source,
                destination,
                auto_validation_delay_days,
            } => self.decide_create_step(
                organization_id.as_deref(),
                source,
                destination,
                *auto_validation_delay_days,
            ),
            Command::UpdateStep {
                step_id,
                auto_validation_delay_days,
            } => {
                let step = self.step(*step_id)?;
                let days = check_delay(*auto_validation_delay_days)?;
                if days == step.auto_validation_delay_days {
                    return Ok(Decision::nothing(format!(
                        "step {step_id} already waits {days} days: nothing changed"
                    )));
                }
                Ok(Decision::events(vec![NewEvent::new(
                    EventKind::StepUpdated {
                        step_id: *step_id,
                        previous_delay_days: step.auto_validation_delay_days,
                        auto_validation_delay_days: days,
                    },
                    format!(
                        "auto-validation delay of {} → {} changed from {} to {days} days",
                        step.source, step.destination, step.auto_validation_delay_days
                    ),
                )]))
            }
            Command::DeleteStep { step_id } => {
                let step = self.step(*step_id)?;
                Ok(Decision::events(vec![NewEvent::new(
                    EventKind::StepDeleted { step_id: *step_id },
                    format!(
                        "step {} → {} deleted with its validations; {} now receives updates independently",
                        step.source, step.destination, step.destination
                    ),
                )]))
            }
            Command::ValidateForService { service, comment } => {
                self.decide_validate(service, comment.as_deref(), actor)
            }
            Command::AutoValidate { step_id } => {
                let step = self.step(*step_id)?;
                match self.auto_validation_at(step) {
                    Some(at) if at <= now => {
                        let version = self.service(&step.source)?.version.clone();
                        Ok(Decision::events(vec![NewEvent::new(
                            EventKind::VersionValidated {
                                step_id: *step_id,
                                version: version.clone(),
                                validated_by_user: None,
                                comment: None,
                            },
                            format!(
                                "auto-validation of {} {version} after {} days",
                                step.source, step.auto_validation_delay_days
                            ),
                        )]))
                    }
                    _ => Ok(Decision::nothing(format!(
                        "step {step_id} has no auto-validation due"
                    ))),
                }
            }
            // Run commands were decided above.
            _ => Ok(Decision::nothing("nothing to do")),
        }
    }

    fn decide_power(&self, service: &ServiceKey, powered: bool) -> Result<Decision, RuleError> {
        let svc = self.service(service)?;
        let word = if powered { "on" } else { "off" };
        if svc.powered == powered {
            return Ok(Decision::nothing(format!(
                "{service} is already powered {word}"
            )));
        }
        if let (false, Some(run)) = (powered, self.active_run(service)) {
            return Err(RuleError::conflict(format!(
                "{service} is being upgraded by run {} ({}): finish or roll back the run before powering it off",
                run.run_id, run.phase
            )));
        }
        if let (false, Some(u)) = (powered, &svc.updating) {
            return Err(RuleError::conflict(format!(
                "{service} is applying {} until {}; power it off after the update finishes",
                u.target,
                u.finishes_at.format("%Y-%m-%d %H:%M UTC")
            )));
        }
        let unheld: Vec<String> = self
            .steps_from(service)
            .iter()
            .map(|s| s.destination.to_string())
            .collect();
        let notice = (!powered && !unheld.is_empty()).then(|| {
            format!(
                "warning (V6): while {service} is off, {} are not held by it and upgrade regardless",
                unheld.join(", ")
            )
        });
        Ok(Decision {
            events: vec![NewEvent::new(
                EventKind::PowerChanged {
                    service: service.clone(),
                    powered,
                },
                format!("{service} powered {word}"),
            )],
            notice,
        })
    }

    fn start_update(
        &self,
        svc: &Service,
        now: DateTime<Utc>,
        planner: &dyn MaintenancePlanner,
        reason: &str,
    ) -> Result<Decision, RuleError> {
        if let Some(run) = self.active_run(&svc.key) {
            return Ok(Decision::nothing(format!(
                "{} is being upgraded by run {} ({}): maintenance waits until the run finishes",
                svc.key, run.run_id, run.phase
            )));
        }
        if let Some(u) = &svc.updating {
            return Ok(Decision::nothing(format!(
                "{} is already applying {} (done at {})",
                svc.key,
                u.target,
                u.finishes_at.format("%Y-%m-%d %H:%M UTC")
            )));
        }
        let Some(pending) = self.pending_update(svc) else {
            let why = match self.held_update(svc) {
                Some((step, newest)) => format!(
                    "{newest} is held by step {} ({} → {}) until {} validates it",
                    step.step_id, step.source, step.destination, step.source
                ),
                None => "it runs the newest release it may take".to_string(),
            };
            return Ok(Decision::nothing(format!(
                "nothing to apply on {} ({}): {why}",
                svc.key, svc.version
            )));
        };
        let finishes_at = now + planner.duration(svc, &pending.version);
        let mut events = vec![NewEvent::new(
            EventKind::UpdateStarted {
                service: svc.key.clone(),
                from: svc.version.clone(),
                to: pending.version.clone(),
                finishes_at,
                emergency_override: pending.emergency_override,
            },
            format!("{}: {reason}: applying {}", svc.key, pending.version),
        )];
        if pending.emergency_override
            && let Some(step) = self.holding_step(&svc.key)
        {
            events.push(NewEvent::new(
                EventKind::EmergencyOverride {
                    service: svc.key.clone(),
                    step_id: step.step_id,
                    version: pending.version.clone(),
                },
                format!(
                    "critical release {} applied to {} before validation on step {} (V7)",
                    pending.version, svc.key, step.step_id
                ),
            ));
        }
        Ok(Decision::events(events))
    }

    fn decide_create_step(
        &self,
        organization_id: Option<&str>,
        source: &ServiceKey,
        destination: &ServiceKey,
        delay: Option<i64>,
    ) -> Result<Decision, RuleError> {
        let src = self.service(source)?;
        let dst = self.service(destination)?;
        let src_org = self.organization_of(&source.project).unwrap_or_default();
        let dst_org = self
            .organization_of(&destination.project)
            .unwrap_or_default();
        if let Some(org) = organization_id
            && org != src_org
        {
            return Err(RuleError::rule(
                "P5",
                format!(
                    "{source} is in organization {src_org}, not {org}: steps are created in the organization of their services"
                ),
            ));
        }
        let days = match delay {
            Some(d) => check_delay(d)?,
            None => DEFAULT_DELAY_DAYS,
        };
        self.check_new_step(src, dst, src_org, dst_org)?;
        let initial = State::initial_validated_version(dst);
        Ok(Decision::events(vec![NewEvent::new(
            EventKind::StepCreated {
                step_id: self.next_step_id.max(1),
                organization_id: src_org.to_string(),
                source: source.clone(),
                destination: destination.clone(),
                auto_validation_delay_days: days,
                initial_validated_version: initial.clone(),
            },
            format!("step {source} → {destination} created; {destination} pinned on {initial}"),
        )]))
    }

    fn decide_validate(
        &self,
        service: &ServiceKey,
        comment: Option<&str>,
        actor: &str,
    ) -> Result<Decision, RuleError> {
        let svc = self.service(service)?;
        let steps = self.steps_from(service);
        if steps.is_empty() {
            return Err(RuleError::rule(
                "V2",
                format!(
                    "{service} is the source of no upgrade step, so there is nothing to validate: create a step with `lockstep step create`"
                ),
            ));
        }
        if !svc.powered {
            return Err(RuleError::rule(
                "V6",
                format!(
                    "{service} is powered off: a powered-off source cannot receive updates and cannot be validated; power it on first"
                ),
            ));
        }
        let version = &svc.version;
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        let events: Vec<NewEvent> = steps
            .iter()
            .filter(|s| version > &s.pinned_version)
            .map(|s| {
                NewEvent::new(
                    EventKind::VersionValidated {
                        step_id: s.step_id,
                        version: version.clone(),
                        validated_by_user: Some(actor.to_string()),
                        comment: comment.map(str::to_string),
                    },
                    format!(
                        "{service} {version} validated by {actor}; {} may take it",
                        s.destination
                    ),
                )
            })
            .collect();
        if events.is_empty() {
            return Ok(Decision::nothing(format!(
                "{service} {version} is already validated on every step it is the source of: nothing changed"
            )));
        }
        Ok(Decision::events(events))
    }
}
