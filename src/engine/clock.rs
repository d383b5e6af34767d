//! Clocks: the system clock, or a virtual clock stored with the database and moved only by
//! `clock advance` (so separate processes share it, and demos and tests control time).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Which clock a database runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockKind {
    /// Real time.
    System,
    /// Stored time, moved by `clock advance`.
    Virtual,
}

impl ClockKind {
    /// The name stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ClockKind::System => "system",
            ClockKind::Virtual => "virtual",
        }
    }
}

impl fmt::Display for ClockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClockKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "system" => Ok(ClockKind::System),
            "virtual" => Ok(ClockKind::Virtual),
            other => Err(format!("unknown clock '{other}'")),
        }
    }
}

/// A clock reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockInfo {
    /// Which clock.
    pub kind: ClockKind,
    /// What time it is on it.
    pub now: DateTime<Utc>,
}

/// Truncates an instant to whole milliseconds, the journal's precision.
#[must_use]
pub fn millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// The system clock's time, to the millisecond.
#[must_use]
pub fn system_now() -> DateTime<Utc> {
    millis(Utc::now())
}

/// Parses a duration such as `90m`, `12h`, `3d`, `45s` or `1d12h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let err = || {
        format!(
            "'{text}' is not a duration: use a number with a unit, for example 90m, 12h, 3d or 1d12h"
        )
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(err());
    }
    let mut total = Duration::zero();
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| err())?;
        digits.clear();
        let part = match c {
            's' => Duration::try_seconds(n),
            'm' => Duration::try_minutes(n),
            'h' => Duration::try_hours(n),
            'd' => Duration::try_days(n),
            'w' => Duration::try_weeks(n),
            _ => None,
        }
        .ok_or_else(err)?;
        total = total.checked_add(&part).ok_or_else(err)?;
    }
    if !digits.is_empty() {
        return Err(err());
    }
    if total > Duration::days(3650) {
        return Err(format!(
            "'{text}' is more than ten years: advance in smaller steps"
        ));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_with_units() {
        assert_eq!(parse_duration("90m"), Ok(Duration::minutes(90)));
        assert_eq!(parse_duration("3d"), Ok(Duration::days(3)));
        assert_eq!(parse_duration("1d12h"), Ok(Duration::hours(36)));
        for bad in ["", "3", "d", "3x", "-3d", "three days"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
