//! Which side serves a run's clients, and how each side is fenced, as an operator needs it
//! after a crash (B5, B9): read from the run alone, so `run get`, the run board and the API
//! say the same.

use serde::{Deserialize, Serialize};

use super::{RequestKind, Run, RunAction, RunPhase, RunStatus};

/// The side lockstep's endpoint sends clients to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServingSide {
    /// Blue, the registered database.
    Blue,
    /// Green, on the new major.
    Green,
}

impl ServingSide {
    /// `blue` or `green`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ServingSide::Blue => "blue",
            ServingSide::Green => "green",
        }
    }
}

/// Both sides of a run as clients meet them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sides {
    /// Where the endpoint sends clients.
    pub serving: ServingSide,
    /// Blue's state and fence, in a few words.
    pub blue: String,
    /// Green's state, in a few words.
    pub green: String,
}

impl Run {
    /// Which side serves and how each side is fenced.
    #[must_use]
    pub fn sides(&self) -> Sides {
        self.sides_knowing(false)
    }

    /// [`Run::sides`], knowing whether the driver recorded the flip (`flip_recorded`): a
    /// process that died after recording it and before reporting left green serving while
    /// the journal still says B5 runs.
    #[must_use]
    pub fn sides_knowing(&self, flip_recorded: bool) -> Sides {
        let switched = self.status == RunStatus::Completed
            || (self.rollback.is_none() && (self.phase.after_switchover() || flip_recorded));
        if switched {
            return Sides {
                serving: ServingSide::Green,
                blue: format!(
                    "retired by run {}: every table refuses writes, new sessions read-only \
                     (deliberate, lasts until someone lifts it)",
                    self.run_id
                ),
                green: if self.status == RunStatus::Completed {
                    "serves, writable; replication from blue removed".into()
                } else {
                    "serves, writable".into()
                },
            };
        }
        let green_follows = match self.phase {
            RunPhase::Prerequisites => "not created yet",
            RunPhase::Provisioning => "being created, copying blue",
            _ => "follows blue by logical replication",
        };
        if self.status == RunStatus::RolledBack {
            return Sides {
                serving: ServingSide::Blue,
                blue: "writable, not fenced".into(),
                green: "rolled back: emptied".into(),
            };
        }
        let switching = self.phase == RunPhase::Switchover
            && self.rollback.is_none()
            && self
                .pending
                .as_ref()
                .is_some_and(|p| p.request == RequestKind::Act(RunAction::Switchover));
        Sides {
            serving: ServingSide::Blue,
            blue: if switching {
                "switching over: fenced only while lockstep's session holds its tables (the \
                 fence ends by itself if lockstep stops, before the flip)"
                    .into()
            } else {
                "writable, not fenced".into()
            },
            green: green_follows.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{observation, observe, ok, run, start, world};
    use super::super::{ActionReport, Interruption};
    use super::*;
    use crate::model::{Command, EventKind};

    #[test]
    fn b5_blue_serves_until_the_switchover_then_green_and_blue_is_retired() {
        let mut w = world();
        let id = start(&mut w);
        for _ in 0..3 {
            ok(&mut w, &id);
        }
        let o = observation(&w, 0);
        observe(&mut w, &id, o);
        let before = run(&w, &id).sides();
        assert_eq!(before.serving, ServingSide::Blue);
        assert!(before.blue.contains("writable"), "{before:?}");
        assert!(before.green.contains("follows blue"), "{before:?}");
        w.ok(Command::Switchover {
            run_id: id.clone(),
            force: false,
            comment: None,
        });
        let during = run(&w, &id).sides();
        assert_eq!(during.serving, ServingSide::Blue);
        assert!(during.blue.contains("ends by itself"), "{during:?}");
        // B9: the try that answers took over from one a crash cut off after its park.
        let began = w.now;
        let mut report = ActionReport::succeeded(vec!["7 resumed on green".into()], 900);
        report.downtime_ms = Some(4_200);
        report.interrupted = Some(Interruption {
            began_at: began,
            parked_at: Some(began),
            restarted_at: Some(began + chrono::Duration::seconds(4)),
            flipped: false,
            lost_tries: 1,
            down_ms: Some(4_000),
        });
        let key = run(&w, &id).pending.clone().expect("B5 pending").key;
        let d = w.ok(Command::ReportRunAction {
            run_id: id.clone(),
            key: key.clone(),
            started_at: w.now,
            report,
        });
        let crash = d
            .events
            .iter()
            .find(|e| matches!(e.kind, EventKind::RunActionInterrupted { .. }))
            .expect("the crash is an event of the run");
        assert!(
            crash
                .reason
                .contains("waited or were refused 4.0 s across the crash;")
                && crash.reason.contains("ran again"),
            "{}",
            crash.reason
        );
        assert_eq!(run(&w, &id).interruptions.len(), 1);
        assert_eq!(run(&w, &id).interruptions[0].0, key);
        if let Some(c) = run(&w, &id).completion.clone() {
            w.now = c.finishes_at;
            w.ok(Command::CompleteRunAction { run_id: id.clone() });
        }
        let after = run(&w, &id).sides();
        assert_eq!(after.serving, ServingSide::Green, "{after:?}");
        assert!(
            after.blue.contains(&format!("retired by run {id}")),
            "{after:?}"
        );
        assert_eq!(run(&w, &id).switchover_downtime_ms, Some(4_200));
    }
}
