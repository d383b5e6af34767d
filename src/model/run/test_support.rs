//! What the run rule tests share: a world with pg releases and a service, and a tiny fake
//! driver that answers requests.

use super::*;
use crate::model::testkit::{World, k, v};
use crate::model::{Command, EventKind, RuleError, ServiceType::Pg};

const ID_UNSET: &str = "";

pub(super) fn world() -> World {
    let mut w = World::new();
    w.release(Pg, "15.8", false);
    w.release(Pg, "17.2", false);
    w.service("p", "orders", Pg, "15.8");
    w
}

pub(super) fn start_cmd(name: &str, target: &str) -> Command {
    Command::StartRun {
        service: k("p", name),
        target_version: v(target),
        switchover_timeout_s: None,
        lag_threshold_bytes: None,
        long_txn_limit_s: None,
        auto_switchover: false,
    }
}

pub(super) fn start(w: &mut World) -> String {
    let d = w.ok(start_cmd("orders", "17.2"));
    d.events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::RunStarted { run_id, .. } => Some(run_id.clone()),
            _ => None,
        })
        .unwrap_or_else(|| ID_UNSET.into())
}

pub(super) fn run<'a>(w: &'a World, id: &str) -> &'a Run {
    &w.state.runs[id]
}

pub(super) fn rule(r: Result<crate::model::Decision, RuleError>) -> String {
    match r {
        Err(e) => format!("{}: {e}", e.rule_id().unwrap_or("-")),
        Ok(_) => "accepted".into(),
    }
}

/// The fake driver answers the pending action with `report`, and time runs to its end.
pub(super) fn answer(w: &mut World, id: &str, report: ActionReport) {
    let key = run(w, id).pending.clone().expect("a pending request").key;
    w.ok(Command::ReportRunAction {
        run_id: id.into(),
        key,
        started_at: w.now,
        report,
    });
    if let Some(c) = run(w, id).completion.clone() {
        w.now = c.finishes_at;
        w.ok(Command::CompleteRunAction { run_id: id.into() });
    }
}

pub(super) fn ok(w: &mut World, id: &str) {
    answer(w, id, ActionReport::succeeded(vec!["done".into()], 60_000));
}

pub(super) fn observation(w: &World, lag: u64) -> Observation {
    Observation {
        at: w.now,
        samples: vec![LagSample {
            at: w.now,
            slot: "lockstep_sub_1".into(),
            lag_bytes: lag,
        }],
        ddl: Vec::new(),
        long_transactions: Vec::new(),
        subscription: SubscriptionHealth::Streaming,
        backlog_rows: None,
        row_count_mismatches: Vec::new(),
        lasting_differences: Vec::new(),
        action_needed: None,
    }
}

pub(super) fn observe(w: &mut World, id: &str, o: Observation) {
    let key = run(w, id).pending.clone().expect("an observe request").key;
    w.ok(Command::ReportObservation {
        run_id: id.into(),
        key,
        observation: o,
    });
}
