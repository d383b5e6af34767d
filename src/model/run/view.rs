//! Read views of runs: what `run list`/`run get --json`, the API and the board show.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Guardrail, Run, RunPhase, RunStatus};
use crate::model::service::ServiceKey;
use crate::model::version::Version;

/// One line of `run list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run.
    pub run_id: String,
    /// The service.
    pub service: ServiceKey,
    /// Blue's version.
    pub from_version: Version,
    /// The target.
    pub target_version: Version,
    /// Current phase.
    pub phase: RunPhase,
    /// Its rule id (`B4`).
    pub phase_id: String,
    /// Where the run stands.
    pub status: RunStatus,
    /// Why an operator is needed, if one is.
    pub waiting_on_operator: Option<String>,
    /// Green guardrails out of all.
    pub guardrails_green: usize,
    /// The worst current lag, in bytes.
    pub lag_bytes: Option<u64>,
    /// The longest client-visible interruption so far, in milliseconds.
    pub total_downtime_ms: Option<u64>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A whole run with what is derived from it (`run get --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    /// The run as recorded.
    #[serde(flatten)]
    pub run: Run,
    /// B5 guardrails judged on the latest observation.
    pub guardrails: Vec<Guardrail>,
    /// B10: the longest client-visible interruption, in milliseconds.
    pub total_downtime_ms: Option<u64>,
    /// Why an operator is needed, if one is.
    pub waiting_on_operator: Option<String>,
    /// Which side serves and how each side is fenced (B5, B9).
    pub sides: super::Sides,
}

impl Run {
    /// The summary line.
    #[must_use]
    pub fn summary(&self) -> RunSummary {
        RunSummary {
            run_id: self.run_id.clone(),
            service: self.service.clone(),
            from_version: self.from_version.clone(),
            target_version: self.config.target_version.clone(),
            phase: self.phase,
            phase_id: self.phase.id().to_string(),
            status: self.status,
            waiting_on_operator: self.waiting_on_operator(),
            guardrails_green: self.guardrails().iter().filter(|g| g.ok).count(),
            lag_bytes: self.current_lag(),
            total_downtime_ms: self.total_downtime_ms(),
            started_at: self.started_at,
            finished_at: self.finished_at,
        }
    }

    /// The full view.
    #[must_use]
    pub fn view(&self) -> RunView {
        RunView {
            run: self.clone(),
            guardrails: self.guardrails(),
            total_downtime_ms: self.total_downtime_ms(),
            waiting_on_operator: self.waiting_on_operator(),
            sides: self.sides(),
        }
    }

    /// How long a phase record took (until `now` while it runs).
    #[must_use]
    pub fn record_duration(record: &super::PhaseRecord, now: DateTime<Utc>) -> Duration {
        record.ended_at.unwrap_or(now) - record.started_at
    }
}

/// `2m 04s`, `31m 12s`, `1h 02m`, `45s`.
#[must_use]
pub fn format_span(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A client-visible interruption: `0.08 s`, `305.4 s`.
#[must_use]
pub fn format_downtime(ms: u64) -> String {
    if ms < 10_000 {
        format!("{:.2} s", ms as f64 / 1000.0)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}
