//! Time phrases people read, shared by the command line and the dashboard.

use chrono::Duration;

/// `2d 04h 13m`, `3h 05m`, `12m`, `now` — the countdown format operators read at a glance.
#[must_use]
pub fn span(d: Duration) -> String {
    let mins = d.num_minutes();
    if mins <= 0 {
        return "now".into();
    }
    let (days, hours, m) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    if days > 0 {
        format!("{days}d {hours:02}h {m:02}m")
    } else if hours > 0 {
        format!("{hours}h {m:02}m")
    } else {
        format!("{m}m")
    }
}
