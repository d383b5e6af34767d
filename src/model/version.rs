//! Numeric service versions (`MAJOR.MINOR[.PATCH]`) and the upgrade paths of rule U1.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A service version, compared component by component as numbers, never as text.
#[derive(Debug, Clone)]
pub struct Version {
    major: u32,
    minor: u32,
    patch: Option<u32>,
}

/// Why a text is not a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{input}' is not a version: use MAJOR.MINOR[.PATCH] with whole numbers, for example 15.9 or 3.8.1"
)]
pub struct VersionParseError {
    /// The text that was refused.
    pub input: String,
}

/// How far apart two versions of the same service type are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeKind {
    /// Only the patch component grows (5–10 minutes of maintenance).
    Patch,
    /// The minor component grows (10–30 minutes of maintenance).
    Minor,
    /// The major component grows: a blue/green upgrade run (U2).
    Major,
}

impl Version {
    /// Builds a version from its components.
    #[must_use]
    pub fn new(major: u32, minor: u32, patch: Option<u32>) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// The major component.
    #[must_use]
    pub fn major(&self) -> u32 {
        self.major
    }

    /// The minor component.
    #[must_use]
    pub fn minor(&self) -> u32 {
        self.minor
    }

    fn key(&self) -> (u32, u32, u32) {
        (self.major, self.minor, self.patch.unwrap_or(0))
    }

    /// The kind of upgrade that moves `self` to a newer `to`, or `None` when `to` is not newer.
    #[must_use]
    pub fn upgrade_kind(&self, to: &Version) -> Option<UpgradeKind> {
        if to <= self {
            None
        } else if to.major != self.major {
            Some(UpgradeKind::Major)
        } else if to.minor != self.minor {
            Some(UpgradeKind::Minor)
        } else {
            Some(UpgradeKind::Patch)
        }
    }

    /// U1: the next version to apply on the way from `self` to `target`, taken from `available`.
    ///
    /// Patches and one minor apply directly; skipping minors goes one minor at a time (the newest
    /// release of the next minor first). Majors are never crossed: they need an upgrade run (U2).
    #[must_use]
    pub fn next_hop<'a>(
        &self,
        target: &Version,
        available: impl IntoIterator<Item = &'a Version>,
    ) -> Option<Version> {
        if target <= self || target.major != self.major {
            return None;
        }
        if target.minor <= self.minor + 1 {
            return Some(target.clone());
        }
        available
            .into_iter()
            .filter(|v| v.major == self.major && v.minor == self.minor + 1)
            .max()
            .cloned()
            .or_else(|| Some(target.clone()))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Version {}

impl std::hash::Hash for Version {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(p) => write!(f, "{}.{}.{}", self.major, self.minor, p),
            None => write!(f, "{}.{}", self.major, self.minor),
        }
    }
}

impl FromStr for Version {
    type Err = VersionParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionParseError {
            input: s.to_string(),
        };
        let parts: Vec<&str> = s.trim().split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(err());
        }
        let mut nums = Vec::with_capacity(3);
        for p in &parts {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            nums.push(p.parse::<u32>().map_err(|_| err())?);
        }
        Ok(Version::new(nums[0], nums[1], nums.get(2).copied()))
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().expect("valid version")
    }

    #[test]
    fn versions_compare_as_numbers_not_text() {
        assert!(v("15.10") > v("15.9"));
        assert!(v("3.10.1") > v("3.9.12"));
        assert_eq!(v("15.8"), v("15.8.0"));
    }

    #[test]
    fn refuses_text_that_is_not_a_version() {
        for bad in [
            "15.x",
            "15",
            "",
            "15.8.1.2",
            "v15.8",
            "15..8",
            "-1.2",
            "15.8 beta",
        ] {
            let e = bad.parse::<Version>().expect_err(bad);
            assert!(e.to_string().contains("MAJOR.MINOR"), "{e}");
        }
    }

    #[test]
    fn u1_skipping_minors_goes_one_minor_at_a_time() {
        let avail = [v("15.9"), v("15.9.2"), v("15.10"), v("15.11")];
        assert_eq!(v("15.8").next_hop(&v("15.11"), &avail), Some(v("15.9.2")));
        assert_eq!(v("15.9.2").next_hop(&v("15.11"), &avail), Some(v("15.10")));
        assert_eq!(v("15.10").next_hop(&v("15.11"), &avail), Some(v("15.11")));
    }

    #[test]
    fn u1_patch_and_one_minor_apply_directly_and_majors_never() {
        assert_eq!(v("15.8").next_hop(&v("15.9"), &[]), Some(v("15.9")));
        assert_eq!(v("15.8").next_hop(&v("15.8.3"), &[]), Some(v("15.8.3")));
        assert_eq!(v("15.8").next_hop(&v("17.2"), &[]), None);
    }

    #[test]
    fn u1_downgrades_have_no_path() {
        assert_eq!(v("15.9").next_hop(&v("15.8"), &[]), None);
        assert_eq!(v("15.9").upgrade_kind(&v("15.8")), None);
    }
}
