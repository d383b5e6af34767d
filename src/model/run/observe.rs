//! B4 observations (lag per slot, DDL, long transactions, subscription health) and the B5
//! guardrails judged on them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RunConfig;

/// One lag reading of one replication slot (B4: bytes from the LSN distance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LagSample {
    /// When it was read.
    pub at: DateTime<Utc>,
    /// The replication slot.
    pub slot: String,
    /// Bytes of WAL not yet confirmed by green.
    pub lag_bytes: u64,
}

/// A schema change seen on blue (it can break logical replication).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DdlChange {
    /// When it was seen.
    pub at: DateTime<Utc>,
    /// The statement, shortened.
    pub statement: String,
    /// Whether it is still running (a red guardrail).
    pub in_flight: bool,
}

/// A write transaction running on blue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongTransaction {
    /// The backend's process id.
    pub pid: u32,
    /// For how long it has run, in seconds.
    pub running_s: u32,
    /// What it runs, shortened.
    pub query: String,
}

/// The subscription on green, as green reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionHealth {
    /// Applying changes as they come.
    Streaming,
    /// Initial copy still running.
    Syncing,
    /// Not applying (worker down, error).
    Broken,
    /// Green cannot be reached at all.
    Unreachable,
}

impl SubscriptionHealth {
    /// The health in words.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionHealth::Streaming => "streaming",
            SubscriptionHealth::Syncing => "syncing",
            SubscriptionHealth::Broken => "broken",
            SubscriptionHealth::Unreachable => "green unreachable",
        }
    }
}

/// What a driver saw of the replication between blue and green.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// Lag readings since the previous observation, oldest first (the last per slot is now).
    pub samples: Vec<LagSample>,
    /// DDL seen on blue since the previous observation, and DDL still running.
    pub ddl: Vec<DdlChange>,
    /// Write transactions running on blue now.
    pub long_transactions: Vec<LongTransaction>,
    /// The subscription on green.
    pub subscription: SubscriptionHealth,
    /// Rows waiting in paused ingestion (B1 pauses it, B6 resumes it).
    pub backlog_rows: Option<u64>,
    /// B4 data check: tables whose row counts differ between blue and green.
    pub row_count_mismatches: Vec<String>,
    /// B4 data check: differences that are not green catching up (found at zero lag, on a
    /// table that is not replicated, or whose columns differ): each blocks the switchover.
    #[serde(default)]
    pub lasting_differences: Vec<String>,
    /// What an operator must do before replication can go on (a DDL statement green could not
    /// apply, a stopped subscription), with the statement and what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_needed: Option<String>,
}

impl Observation {
    /// The newest lag per slot.
    #[must_use]
    pub fn lag_per_slot(&self) -> Vec<(&str, u64)> {
        let mut out: Vec<(&str, u64)> = Vec::new();
        for s in &self.samples {
            match out.iter_mut().find(|(slot, _)| *slot == s.slot) {
                Some(entry) => entry.1 = s.lag_bytes,
                None => out.push((&s.slot, s.lag_bytes)),
            }
        }
        out
    }

    /// The worst newest lag over every slot.
    #[must_use]
    pub fn max_lag(&self) -> u64 {
        self.lag_per_slot()
            .iter()
            .map(|(_, l)| *l)
            .max()
            .unwrap_or(0)
    }
}

/// One B5 guardrail: its name (as refusals cite it), whether it is green, and what it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guardrail {
    /// `lag`, `ddl`, `long-transactions` or `subscription`.
    pub name: String,
    /// Whether it allows a switchover.
    pub ok: bool,
    /// What it saw, in words (`lag 12.4 kB < 200 kB`).
    pub detail: String,
}

/// Bytes in the units the board uses (`12.4 kB`, `2.0 MB`; 1 kB = 1000 bytes).
#[must_use]
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [(&str, f64); 3] = [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    for (unit, size) in UNITS {
        let b = bytes as f64;
        if b >= size {
            return format!("{:.1} {unit}", b / size);
        }
    }
    format!("{bytes} B")
}

/// B5: the four guardrails, judged on the latest observation (red when there is none).
#[must_use]
pub fn guardrails(latest: Option<&Observation>, config: &RunConfig) -> Vec<Guardrail> {
    let threshold = format_bytes(config.lag_threshold_bytes);
    let Some(o) = latest else {
        let none = |name: &str| Guardrail {
            name: name.into(),
            ok: false,
            detail: format!("{name}: not observed yet"),
        };
        return ["lag", "ddl", "long-transactions", "subscription", "data"]
            .iter()
            .map(|n| none(n))
            .collect();
    };
    let lag = o.max_lag();
    let worst_slot = o
        .lag_per_slot()
        .iter()
        .max_by_key(|(_, l)| *l)
        .map(|(s, _)| (*s).to_string())
        .unwrap_or_default();
    let lag_ok = lag < config.lag_threshold_bytes;
    let in_flight: Vec<&DdlChange> = o.ddl.iter().filter(|d| d.in_flight).collect();
    let limit = config.long_txn_limit_s;
    let long: Vec<&LongTransaction> = o
        .long_transactions
        .iter()
        .filter(|t| t.running_s > limit)
        .collect();
    vec![
        Guardrail {
            name: "lag".into(),
            ok: lag_ok,
            detail: if lag_ok {
                format!("lag {} < {threshold}", format_bytes(lag))
            } else {
                format!(
                    "lag {} ≥ {threshold} (slot {worst_slot})",
                    format_bytes(lag)
                )
            },
        },
        Guardrail {
            name: "ddl".into(),
            ok: in_flight.is_empty(),
            detail: match in_flight.first() {
                None => "no DDL in flight".into(),
                Some(d) => format!("DDL in flight: {}", d.statement),
            },
        },
        Guardrail {
            name: "long-transactions".into(),
            ok: long.is_empty(),
            detail: match long.iter().max_by_key(|t| t.running_s) {
                None => format!("no write txn > {limit} s"),
                Some(t) => format!(
                    "write txn running {} s > {limit} s (pid {})",
                    t.running_s, t.pid
                ),
            },
        },
        Guardrail {
            name: "subscription".into(),
            ok: o.subscription == SubscriptionHealth::Streaming,
            detail: format!("subscription {}", o.subscription.as_str()),
        },
        data(o),
    ]
}

/// The data check as a guardrail: red on a lasting difference, naming the tables.
fn data(o: &Observation) -> Guardrail {
    let (ok, detail) = match (
        o.lasting_differences.as_slice(),
        o.row_count_mismatches.len(),
    ) {
        ([], 0) => (true, "data: row counts match".to_string()),
        ([], n) => (
            true,
            format!(
                "data: {n} table{} differ while green catches up",
                if n == 1 { "" } else { "s" }
            ),
        ),
        (lasting, _) => (false, format!("data differs: {}", lasting.join("; "))),
    };
    Guardrail {
        name: "data".into(),
        ok,
        detail,
    }
}
