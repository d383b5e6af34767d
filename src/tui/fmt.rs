//! Texts the dashboard shows: spans of time, instants, versions. All strings built from data live
//! here or in the panel that shows them; time is always an argument.

use chrono::{DateTime, Duration, Utc};

pub use crate::human::span;

/// `2d 04h`, `3h 05m`, `12m` — a countdown short enough for a tree row.
#[must_use]
pub fn span_short(d: Duration) -> String {
    let mins = d.num_minutes();
    if mins <= 0 {
        return "now".into();
    }
    let (days, hours, m) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    if days > 0 {
        format!("{days}d {hours:02}h")
    } else if hours > 0 {
        format!("{hours}h {m:02}m")
    } else {
        format!("{m}m")
    }
}

/// `in 2d 04h 13m` or `3h 05m ago`.
#[must_use]
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t > now {
        format!("in {}", span(t - now))
    } else {
        format!("{} ago", span(now - t))
    }
}

/// `Tue 2026-01-06 03:12 UTC`, the header clock.
#[must_use]
pub fn clock(t: DateTime<Utc>) -> String {
    t.format("%a %Y-%m-%d %H:%M UTC").to_string()
}

/// `Wed 01-14 03:00 UTC`, a deadline in a sentence.
#[must_use]
pub fn deadline(t: DateTime<Utc>) -> String {
    t.format("%a %m-%d %H:%M UTC").to_string()
}

/// `12-29`, a date in a table cell.
#[must_use]
pub fn day(t: DateTime<Utc>) -> String {
    t.format("%m-%d").to_string()
}

/// `03:12:07`, an event's time of day.
#[must_use]
pub fn time_of_day(t: DateTime<Utc>) -> String {
    t.format("%m-%d %H:%M").to_string()
}

/// A text bar of `width` cells, `filled` of them full: `███████░░░`.
#[must_use]
pub fn bar(fraction: f64, width: usize) -> (String, String) {
    let fraction = fraction.clamp(0.0, 1.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let full = ((fraction * width as f64).round() as usize).min(width);
    ("█".repeat(full), "░".repeat(width - full))
}

/// Cuts `text` to at most `width` characters, marking the cut with `…`.
#[must_use]
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_reads_days_hours_minutes() {
        assert_eq!(
            span(Duration::minutes(3 * 1440 + 4 * 60 + 13)),
            "3d 04h 13m"
        );
        assert_eq!(span(Duration::minutes(185)), "3h 05m");
        assert_eq!(span(Duration::minutes(12)), "12m");
        assert_eq!(span(Duration::seconds(-5)), "now");
    }

    #[test]
    fn bar_fills_in_proportion() {
        assert_eq!(bar(0.7, 10), ("███████".into(), "░░░".into()));
        assert_eq!(bar(2.0, 4).0.chars().count(), 4);
    }

    #[test]
    fn fit_marks_the_cut() {
        assert_eq!(fit("pg-staging", 5), "pg-s…");
        assert_eq!(fit("pg", 5), "pg");
    }
}
