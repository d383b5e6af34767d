//! Node loss, failover and controlled switchover (SPEC §5, F1–F4): incidents, their stages and
//! the timeouts lockstep waits out before acting. Pure: time is always an argument.

mod apply;
mod decide;
mod out;
mod switchover;
mod view;

#[cfg(test)]
mod tests;

use std::fmt;

use chrono::{DateTime, Duration, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::service::{NodeRole, ServiceKey};
use super::version::Version;

pub use view::{
    IncidentLine, endpoint_lines, format_clock, incident_line, incident_lines, incident_order,
    status_word, unheld_warnings,
};

/// An incident's id, counted from 1 in the journal.
pub type IncidentId = u64;

/// F1: seconds an unreachable primary is waited for before a standby is promoted.
pub const PRIMARY_TIMEOUT_S: u32 = 60;
/// F2: seconds an unreachable standby is waited for before it is replaced, unless configured.
pub const DEFAULT_STANDBY_TIMEOUT_S: u32 = 300;
/// F2: the standby timeouts a service may be given.
pub const STANDBY_TIMEOUT_S: std::ops::RangeInclusive<i64> = 30..=3600;
/// F1/F2: seconds a replacement standby takes to be built and synced.
pub const REBUILD_S: i64 = 240;
/// F3: seconds a restore from backup takes.
pub const RESTORE_S: i64 = 300;
/// F3: backups are taken every this many hours, on the hour from midnight UTC.
pub const BACKUP_EVERY_H: u32 = 6;
/// F4: seconds the old primary keeps forwarding TCP to the new one.
pub const FORWARD_S: i64 = 60;

/// Which endpoint of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// `NAME-PROJECT`, takes writes.
    Primary,
    /// `replica-NAME-PROJECT`, read-only.
    Replica,
}

impl Endpoint {
    /// The endpoint's host name for a service.
    #[must_use]
    pub fn host(self, service: &ServiceKey) -> String {
        match self {
            Endpoint::Primary => format!("{}-{}", service.name, service.project),
            Endpoint::Replica => format!("replica-{}-{}", service.name, service.project),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Endpoint::Primary => "primary endpoint",
            Endpoint::Replica => "replica endpoint",
        })
    }
}

/// What happened to one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeChange {
    /// It stopped answering.
    Lost,
    /// It answers again (before its timeout).
    Back,
    /// Its timeout ran out: it is down and will be replaced.
    MarkedDown,
    /// It was promoted to primary.
    Promoted,
    /// A new node is being built.
    BuildStarted {
        /// Its role once ready.
        role: NodeRole,
        /// Its version (V5: the destination's pinned version).
        version: Version,
        /// Restored from backup (F3, F4) rather than synced from the primary.
        from_backup: bool,
        /// When it will be ready.
        ready_at: DateTime<Utc>,
    },
    /// A new node is up and in sync.
    Ready,
    /// The former primary forwards TCP to `to` until `until` (F4).
    Forwarding {
        /// The new primary.
        to: String,
        /// When forwarding ends.
        until: DateTime<Utc>,
    },
    /// The node was deleted.
    Removed,
}

/// What an incident is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    /// F1 (F3 on plans without standbys): the primary stopped answering.
    PrimaryLost,
    /// F2: a standby stopped answering.
    StandbyLost,
    /// F4: a controlled switchover during maintenance.
    Switchover,
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Waiting out the node's timeout (F1, F2).
    AwaitingTimeout,
    /// A replacement standby is being built and synced (F1, F2).
    Rebuilding,
    /// A new primary is being restored from backup (F3).
    Restoring,
    /// F4.1: new standbys restored from backup and syncing.
    ReplacingStandbys,
    /// F4.2: an extra server restored from backup and syncing.
    AddingServer,
    /// F4.3: quorum commit on; waiting for the update to finish to promote.
    AwaitingPromotion,
    /// F4.5: the old primary forwards TCP to the new one.
    Forwarding,
    /// Over.
    Resolved,
}

/// One node loss or controlled switchover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Its id.
    pub incident_id: IncidentId,
    /// The service.
    pub service: ServiceKey,
    /// What it is about.
    pub kind: IncidentKind,
    /// The node lost (or the old primary of a switchover).
    pub node: String,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// The timeout waited out before acting, in seconds (0 for a switchover).
    pub timeout_s: u32,
    /// Where it stands.
    pub stage: Stage,
    /// When lockstep acts next.
    pub next_at: Option<DateTime<Utc>>,
    /// The node being built, if any.
    pub replacement: Option<String>,
    /// F3: the changes lost, in seconds since the last backup (plans without standbys).
    pub data_loss_s: Option<i64>,
    /// F4.3: whether replication is quorum-commit synchronous.
    pub quorum_commit: bool,
    /// When it was resolved.
    pub closed_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub outcome: Option<String>,
}

impl Incident {
    /// Whether it is still open.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

/// F3: when the last backup before `at` was taken.
#[must_use]
pub fn last_backup_before(at: DateTime<Utc>) -> DateTime<Utc> {
    let hour = at.hour() - at.hour() % BACKUP_EVERY_H;
    let day = at.date_naive().and_hms_opt(hour, 0, 0).unwrap_or_default();
    let backup = day.and_utc();
    if backup == at {
        backup - Duration::hours(i64::from(BACKUP_EVERY_H))
    } else {
        backup
    }
}
