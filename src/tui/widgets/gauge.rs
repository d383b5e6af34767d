//! A countdown gauge as text: how much of a step's delay has run, `███████░░░`.

use chrono::{DateTime, Duration, Utc};
use ratatui::text::Span;

use crate::tui::fmt;
use crate::tui::theme::Theme;

/// The fraction of `delay` elapsed at `now` when the deadline is `at`.
#[must_use]
pub fn elapsed(at: DateTime<Utc>, delay: Duration, now: DateTime<Utc>) -> f64 {
    let total = delay.num_seconds();
    if total <= 0 {
        return 1.0;
    }
    let left = (at - now).num_seconds().clamp(0, total);
    #[allow(clippy::cast_precision_loss)]
    let f = (total - left) as f64 / total as f64;
    f
}

/// The gauge's two spans, `width` cells wide.
#[must_use]
pub fn spans(theme: &Theme, fraction: f64, width: usize) -> [Span<'static>; 2] {
    let (full, empty) = fmt::bar(fraction, width);
    [
        Span::styled(full, theme.fg(theme.gauge_full)),
        Span::styled(empty, theme.fg(theme.gauge_empty)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_three_day_delay_with_one_day_left_is_two_thirds_done() {
        let now = Utc
            .with_ymd_and_hms(2026, 1, 6, 0, 0, 0)
            .single()
            .expect("time");
        let f = elapsed(now + Duration::days(1), Duration::days(3), now);
        assert!((f - 2.0 / 3.0).abs() < 1e-9, "{f}");
        assert!((elapsed(now, Duration::days(3), now + Duration::days(9)) - 1.0).abs() < 1e-9);
    }
}
