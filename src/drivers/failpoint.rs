//! Failpoints for crash tests: with `LOCKSTEP_FAILPOINT` set to a point's name, the process
//! stops there and waits to be killed. The engine names its points `before-act:PHASE` and
//! `after-act:PHASE`; the PostgreSQL switchover names one after each step of B5
//! (`b5:parked`, `b5:drained`, `b5:fenced`, `b5:marker`, `b5:marked`, `b5:carried`, `b5:retired`, `b5:flipped`,
//! `b5:resumed`). Unset, as in production, every point is a no-op.

use std::io::Write as _;

/// The environment variable that names the point to stop at.
pub const FAILPOINT_ENV: &str = "LOCKSTEP_FAILPOINT";

/// Whether the point `name` is the one to stop at.
#[must_use]
pub fn armed(name: &str) -> bool {
    std::env::var(FAILPOINT_ENV).is_ok_and(|wanted| wanted == name)
}

fn say(name: &str) {
    eprintln!("lockstep: failpoint {name} reached; waiting to be killed");
    let _ = std::io::stderr().flush();
}

/// Stops this thread for good at `name` when it is armed.
pub fn stop(name: &str) {
    if armed(name) {
        say(name);
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// Stops this task for good at `name` when it is armed; every other task goes on (the
/// endpoint keeps its clients parked or served, as a process stuck there would).
pub async fn pause(name: &str) {
    if armed(name) {
        say(name);
        std::future::pending::<()>().await;
    }
}
