//! The simulated fleet: maintenance updates take realistic, repeatable time.

use std::hash::{Hash, Hasher};

use chrono::Duration;

use crate::model::version::UpgradeKind;
use crate::model::{MaintenancePlanner, Service, Version};

/// Plans simulated maintenance: patch 5–10 minutes, minor 10–30 minutes, major 30–60 minutes,
/// chosen by a hash of the service and the version so every process agrees on the same figure.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimPlanner;

impl MaintenancePlanner for SimPlanner {
    fn duration(&self, service: &Service, to: &Version) -> Duration {
        let (lo, hi) = match service.version.upgrade_kind(to) {
            Some(UpgradeKind::Patch) | None => (5 * 60, 10 * 60),
            Some(UpgradeKind::Minor) => (10 * 60, 30 * 60),
            Some(UpgradeKind::Major) => (30 * 60, 60 * 60),
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        service.key.hash(&mut h);
        to.hash(&mut h);
        Duration::seconds(lo + (h.finish() % (hi - lo + 1) as u64) as i64)
    }
}
