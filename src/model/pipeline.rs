//! Pipeline rules: what holds a destination (V1, V6, V7), when auto-validation is due (V3, V8),
//! and whether a new step is allowed (P1–P7).

use chrono::{DateTime, Duration, Utc};

use super::error::RuleError;
use super::service::{Service, ServiceKey};
use super::state::{State, Step};
use super::version::Version;

/// P6: the allowed auto-validation delays, in days.
pub const DELAY_DAYS: std::ops::RangeInclusive<i64> = 1..=30;
/// P6: the delay when none is given.
pub const DEFAULT_DELAY_DAYS: u32 = 7;
/// P4: the longest chain, in services.
pub const MAX_CHAIN_SERVICES: usize = 3;

/// The update a service would take at its next maintenance window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpdate {
    /// The version it would apply (one U1 hop).
    pub version: Version,
    /// Whether it goes past the pinned version: a critical release (V7).
    pub emergency_override: bool,
}

/// P6: checks a delay and names the allowed range when it is outside it.
pub fn check_delay(days: i64) -> Result<u32, RuleError> {
    if DELAY_DAYS.contains(&days) {
        Ok(u32::try_from(days).unwrap_or(DEFAULT_DELAY_DAYS))
    } else {
        Err(RuleError::rule(
            "P6",
            format!(
                "auto_validation_delay_days must be a whole number of days from 1 to 30, not {days}"
            ),
        ))
    }
}

impl State {
    /// The step that holds `service` now: its incoming step, unless that step's source is
    /// powered off (V6: a powered-off source protects nothing).
    #[must_use]
    pub fn holding_step(&self, service: &ServiceKey) -> Option<&Step> {
        let step = self.step_into(service)?;
        let source = self.services.get(&step.source)?;
        source.powered.then_some(step)
    }

    /// The newest release of the service's type within its current major.
    #[must_use]
    pub fn newest_release(&self, service: &Service) -> Option<&Version> {
        self.releases_of(service.service_type)
            .iter()
            .rev()
            .map(|r| &r.version)
            .find(|v| v.major() == service.version.major())
    }

    /// The update the service would apply at its next window, if any (V1, V6, V7, U1).
    #[must_use]
    pub fn pending_update(&self, service: &Service) -> Option<PendingUpdate> {
        let releases = self.releases_of(service.service_type);
        let major = service.version.major();
        let same_major = || releases.iter().filter(move |r| r.version.major() == major);
        let pinned = self.holding_step(&service.key).map(|s| &s.pinned_version);
        let allowed = same_major()
            .filter(|r| pinned.is_none_or(|p| &r.version <= p))
            .map(|r| &r.version)
            .max();
        let critical = same_major()
            .filter(|r| r.critical && pinned.is_some_and(|p| &r.version > p))
            .map(|r| &r.version)
            .max();
        let target = allowed.into_iter().chain(critical).max()?;
        let hop = service
            .version
            .next_hop(target, same_major().map(|r| &r.version))?;
        Some(PendingUpdate {
            emergency_override: pinned.is_some_and(|p| &hop > p),
            version: hop,
        })
    }

    /// A newer release the service may not take yet, and the step that holds it (V1).
    #[must_use]
    pub fn held_update(&self, service: &Service) -> Option<(&Step, &Version)> {
        let step = self.holding_step(&service.key)?;
        let newest = self.newest_release(service)?;
        (newest > &service.version && newest > &step.pinned_version).then_some((step, newest))
    }

    /// V3/V4: when the step's source version will be validated automatically, if anything waits.
    #[must_use]
    pub fn auto_validation_at(&self, step: &Step) -> Option<DateTime<Utc>> {
        let source = self.services.get(&step.source)?;
        (source.powered && source.version > step.pinned_version)
            .then(|| source.updated_at + Duration::days(i64::from(step.auto_validation_delay_days)))
    }

    /// The chain above `service` (root first, `service` last).
    #[must_use]
    pub fn ancestors(&self, service: &ServiceKey) -> Vec<ServiceKey> {
        let mut chain = vec![service.clone()];
        let mut current = service.clone();
        while let Some(step) = self.step_into(&current) {
            if chain.contains(&step.source) {
                break;
            }
            chain.push(step.source.clone());
            current = step.source.clone();
        }
        chain.reverse();
        chain
    }

    /// The longest chain below `service`, counted in services (itself included).
    #[must_use]
    pub fn depth_below(&self, service: &ServiceKey) -> usize {
        fn walk(state: &State, s: &ServiceKey, seen: &mut Vec<ServiceKey>) -> usize {
            if seen.contains(s) {
                return 0;
            }
            seen.push(s.clone());
            let deepest = state
                .steps_from(s)
                .iter()
                .map(|step| walk(state, &step.destination, seen))
                .max()
                .unwrap_or(0);
            seen.pop();
            1 + deepest
        }
        walk(self, service, &mut Vec::new())
    }

    /// P1–P5: whether `source → destination` may become a step.
    pub fn check_new_step(
        &self,
        source: &Service,
        destination: &Service,
        source_org: &str,
        destination_org: &str,
    ) -> Result<(), RuleError> {
        let (s, d) = (&source.key, &destination.key);
        for svc in [source, destination] {
            if !svc.service_type.supports_pipelines() {
                return Err(RuleError::rule(
                    "P1",
                    format!(
                        "{} is a {} service, and {} services cannot be in an upgrade pipeline",
                        svc.key, svc.service_type, svc.service_type
                    ),
                ));
            }
        }
        if source.service_type != destination.service_type {
            return Err(RuleError::rule(
                "P1",
                format!(
                    "{s} ({}) and {d} ({}) are of different types; a step links two services of the same type",
                    source.service_type, destination.service_type
                ),
            ));
        }
        if source_org != destination_org {
            return Err(RuleError::rule(
                "P5",
                format!(
                    "{s} is in organization {source_org} and {d} in {destination_org}; both services of a step must be in the same organization"
                ),
            ));
        }
        if s == d {
            return Err(RuleError::rule(
                "P3",
                format!("{s} cannot be its own source: a step onto itself is a cycle"),
            ));
        }
        if let Some(existing) = self.step_into(d) {
            return Err(RuleError::rule(
                "P2",
                format!(
                    "{d} already has a source, {} (step {}); a destination has exactly one source: delete that step first",
                    existing.source, existing.step_id
                ),
            ));
        }
        let above = self.ancestors(s);
        if above.contains(d) {
            let path: Vec<String> = above.iter().map(ToString::to_string).collect();
            return Err(RuleError::rule(
                "P3",
                format!(
                    "{s} → {d} would make a cycle: {d} is already upstream of {s} ({})",
                    path.join(" → ")
                ),
            ));
        }
        let services = above.len() + self.depth_below(d);
        if services > MAX_CHAIN_SERVICES {
            return Err(RuleError::rule(
                "P4",
                format!(
                    "{s} → {d} would make a chain of {services} services; the maximum chain depth is {MAX_CHAIN_SERVICES} services (2 steps)"
                ),
            ));
        }
        Ok(())
    }

    /// P7: the destination's validated version when a step is created.
    #[must_use]
    pub fn initial_validated_version(destination: &Service) -> Version {
        match &destination.updating {
            Some(u) if u.target > destination.version => u.target.clone(),
            _ => destination.version.clone(),
        }
    }
}
