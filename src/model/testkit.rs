//! A small world for rule tests: decides commands against a state and folds the events,
//! the way the engine does, without a journal.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{
    Command, Decision, Event, MaintenancePlanner, MaintenanceWindow, Plan, RuleError, Service,
    ServiceKey, ServiceType, State, Version,
};

/// Every update takes 15 minutes.
pub struct FixedPlanner;

impl MaintenancePlanner for FixedPlanner {
    fn duration(&self, _: &Service, _: &Version) -> Duration {
        Duration::minutes(15)
    }
}

/// A state, a clock and a planner.
pub struct World {
    /// The folded state.
    pub state: State,
    /// The world's time.
    pub now: DateTime<Utc>,
}

/// Monday 2026-01-05 00:00 UTC.
pub fn monday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .expect("valid date")
}

/// Parses a version.
pub fn v(s: &str) -> Version {
    s.parse().expect("valid version")
}

/// A service key.
pub fn k(project: &str, name: &str) -> ServiceKey {
    ServiceKey::new(project, name)
}

impl World {
    /// An empty world on Monday 2026-01-05.
    pub fn new() -> Self {
        World {
            state: State::new(),
            now: monday(),
        }
    }

    /// Decides and applies a command as `actor`.
    pub fn exec_as(&mut self, actor: &str, cmd: Command) -> Result<Decision, RuleError> {
        let d = self.state.decide(&cmd, actor, self.now, &FixedPlanner)?;
        for new in &d.events {
            let e = Event {
                seq: self.state.head + 1,
                at: self.now,
                actor: actor.into(),
                reason: new.reason.clone(),
                kind: new.kind.clone(),
            };
            self.state.apply(&e);
        }
        Ok(d)
    }

    /// Decides and applies a command as `tester`.
    pub fn exec(&mut self, cmd: Command) -> Result<Decision, RuleError> {
        self.exec_as("tester", cmd)
    }

    /// Like `exec`, panicking on refusal.
    pub fn ok(&mut self, cmd: Command) -> Decision {
        let text = format!("{cmd:?}");
        self.exec(cmd)
            .unwrap_or_else(|e| panic!("{text} refused: {e}"))
    }

    /// A project in organization `org`.
    pub fn project(&mut self, name: &str, org: &str) {
        self.ok(Command::CreateProject {
            name: name.into(),
            organization_id: Some(org.into()),
        });
    }

    /// A service of `ty` on `version`, window monday 10:00.
    pub fn service(&mut self, project: &str, name: &str, ty: ServiceType, version: &str) {
        if !self.state.projects.contains_key(project) {
            self.project(project, "acme");
        }
        self.ok(Command::CreateService {
            service: k(project, name),
            service_type: ty,
            version: v(version),
            plan: Some(Plan::Business),
            maintenance: Some(MaintenanceWindow {
                dow: chrono::Weekday::Mon,
                time: chrono::NaiveTime::from_hms_opt(10, 0, 0).expect("time"),
            }),
        });
    }

    /// A step between two services of project `p`.
    pub fn step(&mut self, src: &str, dst: &str, days: i64) -> Result<Decision, RuleError> {
        self.exec(Command::CreateStep {
            organization_id: None,
            source: k("p", src),
            destination: k("p", dst),
            auto_validation_delay_days: Some(days),
        })
    }

    /// Publishes a release.
    pub fn release(&mut self, ty: ServiceType, version: &str, critical: bool) {
        self.ok(Command::PublishRelease {
            service_type: ty,
            version: v(version),
            critical,
        });
    }

    /// Applies a pending update at once and lets it finish.
    pub fn update_now(&mut self, name: &str) {
        self.ok(Command::MaintenanceStart {
            service: k("p", name),
        });
        self.now += Duration::minutes(15);
        self.ok(Command::FinishUpdate {
            service: k("p", name),
        });
    }

    /// The version a service of project `p` runs.
    pub fn version(&self, name: &str) -> Version {
        self.state.services[&k("p", name)].version.clone()
    }
}
