//! Maintenance updates in the simulated fleet take realistic, repeatable time.

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
        let h = fnv1a(format!("{}@{to}", service.key).as_bytes());
        Duration::seconds(lo + (h % (hi - lo + 1) as u64) as i64)
    }
}

/// FNV-1a: a hash that is the same in every build, so all processes plan alike.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
