//! Property tests: whatever operators do and drivers answer, in any order, a run keeps its
//! promises (B5, B8, B9) and its state survives a JSON round trip (snapshots).

use chrono::Duration;
use proptest::prelude::*;

use super::*;
use crate::model::testkit::{World, k, v};
use crate::model::{Command, EventKind, ServiceType::Pg, State};

#[derive(Debug, Clone)]
enum Step {
    Ok(u64),
    Fail,
    Revert,
    Observe(u64, bool),
    Switchover(bool),
    Rollback,
    Resume,
    Wait(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u64..600).prop_map(Step::Ok),
        1 => Just(Step::Fail),
        1 => Just(Step::Revert),
        3 => (0u64..2_000_000, any::<bool>()).prop_map(|(l, d)| Step::Observe(l, d)),
        2 => any::<bool>().prop_map(Step::Switchover),
        1 => Just(Step::Rollback),
        1 => Just(Step::Resume),
        2 => (1i64..900).prop_map(Step::Wait),
    ]
}

fn pending(w: &World, id: &str) -> Option<DriverRequest> {
    w.state.runs[id].pending.clone()
}

fn play(w: &mut World, id: &str, s: &Step) {
    let now = w.now;
    let report = |outcome: ActionOutcome, took: u64| ActionReport {
        outcome,
        ..ActionReport::succeeded(vec!["x".into()], took * 1000)
    };
    let cmd = match s {
        Step::Ok(_) | Step::Fail | Step::Revert => {
            let Some(p) = pending(w, id).filter(|p| p.request != RequestKind::Observe) else {
                return;
            };
            let outcome = match s {
                Step::Ok(_) => ActionOutcome::Succeeded,
                Step::Fail => ActionOutcome::Failed {
                    error: "boom".into(),
                },
                _ => ActionOutcome::Reverted {
                    reason: "timeout".into(),
                },
            };
            let took = if let Step::Ok(t) = s { *t } else { 30 };
            Command::ReportRunAction {
                run_id: id.into(),
                key: p.key,
                started_at: now,
                report: report(outcome, took),
            }
        }
        Step::Observe(lag, ddl) => {
            let Some(p) = pending(w, id).filter(|p| p.request == RequestKind::Observe) else {
                return;
            };
            Command::ReportObservation {
                run_id: id.into(),
                key: p.key,
                observation: Observation {
                    at: now,
                    samples: vec![LagSample {
                        at: now,
                        slot: "s1".into(),
                        lag_bytes: *lag,
                    }],
                    ddl: if *ddl {
                        vec![DdlChange {
                            at: now,
                            statement: "ALTER TABLE t ADD c int".into(),
                            in_flight: true,
                        }]
                    } else {
                        Vec::new()
                    },
                    long_transactions: Vec::new(),
                    subscription: SubscriptionHealth::Streaming,
                    backlog_rows: None,
                    row_count_mismatches: Vec::new(),
                    lasting_differences: Vec::new(),
                    action_needed: None,
                },
            }
        }
        Step::Switchover(force) => Command::Switchover {
            run_id: id.into(),
            force: *force,
            comment: force.then(|| "test".to_string()),
        },
        Step::Rollback => Command::Rollback { run_id: id.into() },
        Step::Resume => Command::ResumeRun { run_id: id.into() },
        Step::Wait(s) => {
            w.now += Duration::seconds(*s);
            let run = &w.state.runs[id];
            match (&run.completion, run.next_observation_at()) {
                (Some(c), _) if c.finishes_at <= w.now => {
                    Command::CompleteRunAction { run_id: id.into() }
                }
                (None, Some(at)) if at <= w.now => Command::ObserveRun { run_id: id.into() },
                _ => return,
            }
        }
    };
    // Refusals are fine; what matters is what was accepted.
    let _ = w.exec(cmd);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn runs_keep_their_promises(steps in prop::collection::vec(step(), 1..80)) {
        let mut w = World::new();
        w.release(Pg, "15.8", false);
        w.release(Pg, "17.2", false);
        w.service("p", "orders", Pg, "15.8");
        let d = w.ok(Command::StartRun {
            service: k("p", "orders"),
            target_version: v("17.2"),
            switchover_timeout_s: None,
            lag_threshold_bytes: None,
            long_txn_limit_s: None,
            auto_switchover: false,
        });
        let id = match &d.events[0].kind {
            EventKind::RunStarted { run_id, .. } => run_id.clone(),
            _ => unreachable!(),
        };
        let mut keys: std::collections::HashMap<String, RequestKind> = Default::default();
        let mut switched = false;
        for s in &steps {
            let before = w.state.runs[&id].clone();
            play(&mut w, &id, s);
            let run = &w.state.runs[&id];
            // B9: a key always names the same request.
            if let Some(p) = &run.pending {
                let first = keys.entry(p.key.clone()).or_insert(p.request);
                prop_assert_eq!(*first, p.request, "key {} reused", p.key);
            }
            // B8: no rollback once traffic moved to green.
            if before.phase.after_switchover() {
                switched = true;
            }
            if switched {
                prop_assert!(run.rollback.is_none() || before.rollback.is_some());
                prop_assert!(run.status != RunStatus::RolledBack);
            }
            // B5: the switchover starts only from B4, and only green or forced.
            if before.phase == RunPhase::Replicating && run.phase == RunPhase::Switchover {
                let green = before.guardrails().iter().all(|g| g.ok);
                let auto = before.config.auto_switchover;
                prop_assert!(green || run.forced.is_some() || auto);
            }
            // The service changes version exactly when the switchover succeeds.
            let version = w.state.services[&k("p", "orders")].version.clone();
            if run.phase.after_switchover() || run.status == RunStatus::Completed {
                prop_assert_eq!(version, v("17.2"));
            } else {
                prop_assert_eq!(version, v("15.8"));
            }
        }
        // Snapshots: the state survives JSON.
        let text = serde_json::to_string(&w.state).expect("serialize");
        let back: State = serde_json::from_str(&text).expect("deserialize");
        prop_assert_eq!(&back.runs, &w.state.runs);
        prop_assert_eq!(&back.faults, &w.state.faults);
    }
}
