//! The forecast: for a held or pending service, the earliest time it can receive its next version,
//! following the chain of auto-validation deadlines and maintenance windows (SPEC §3).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::service::Service;
use super::state::State;
use super::version::Version;

/// When a service is expected to receive a version, unless someone validates sooner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forecast {
    /// The version it will receive.
    pub version: Version,
    /// The earliest instant it starts receiving it.
    pub at: DateTime<Utc>,
    /// How that instant follows: the chain of deadlines and windows.
    pub explanation: String,
}

const MAX_HOPS: usize = 4;

impl State {
    /// The forecast for `service` at `now`, or `None` when nothing is coming (or it is off).
    #[must_use]
    pub fn forecast(&self, service: &Service, now: DateTime<Utc>) -> Option<Forecast> {
        let newest = self.newest_release(service)?;
        let releases = self
            .releases_of(service.service_type)
            .iter()
            .map(|r| &r.version);
        let wanted = service.version.next_hop(newest, releases)?;
        let (at, explanation) = self.receive_time(service, &wanted, now, 0)?;
        Some(Forecast {
            version: wanted,
            at,
            explanation,
        })
    }

    fn receive_time(
        &self,
        svc: &Service,
        wanted: &Version,
        now: DateTime<Utc>,
        hops: usize,
    ) -> Option<(DateTime<Utc>, String)> {
        if hops > MAX_HOPS || !svc.powered {
            return None;
        }
        if svc.version >= *wanted {
            return Some((
                svc.updated_at,
                format!("{} already runs {}", svc.key.name, svc.version),
            ));
        }
        if let Some(u) = svc.updating.as_ref().filter(|u| u.target >= *wanted) {
            return Some((
                u.started_at,
                format!("{} is applying {} now", svc.key.name, u.target),
            ));
        }
        if self
            .pending_update(svc)
            .is_some_and(|p| p.version >= *wanted)
        {
            let at = svc.maintenance.next_after(now);
            return Some((at, format!("maintenance window {}", svc.maintenance)));
        }
        let step = self.holding_step(&svc.key)?;
        let source = self.services.get(&step.source)?;
        let delay = Duration::days(i64::from(step.auto_validation_delay_days));
        let (validated_at, before) = if source.version >= *wanted {
            let at = self.auto_validation_at(step)?;
            (
                at,
                format!("auto-validation of {} {}", source.key.name, source.version),
            )
        } else {
            let (received, how) = self.receive_time(source, wanted, now, hops + 1)?;
            (
                received + delay,
                format!(
                    "{how}; {} auto-validated {} days later",
                    source.key.name, step.auto_validation_delay_days
                ),
            )
        };
        let at = svc.maintenance.next_after(validated_at.max(now));
        Some((
            at,
            format!(
                "{before} at {}, then window {}",
                validated_at.format("%a %m-%d %H:%M"),
                svc.maintenance
            ),
        ))
    }
}
