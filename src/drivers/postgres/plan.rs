//! The bounds a switchover works within (B5), read from the run's config: what the checks
//! before it ([`super::ready`]) and every database's part in it use.

use std::time::Duration;

/// The bounds of one switchover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Past this, everything reverts (B5's switchover timeout).
    pub timeout: Duration,
    /// How long busy sessions may take to reach a transaction boundary before termination.
    pub grace: Duration,
    /// The largest slot lag the switchover starts with.
    pub lag_threshold_bytes: u64,
    /// Write transactions older than this on blue keep the switchover from starting.
    pub long_txn_limit: Duration,
    /// What the operator chose for unlogged tables (B13), if anything.
    pub unlogged: Option<crate::model::run::ChoiceValue>,
}
