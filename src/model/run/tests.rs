//! One test per run rule (U2, B1–B9), named after it. A tiny fake driver answers requests.

use chrono::Duration;

use super::test_support::{answer, observation, observe, ok, rule, run, start, start_cmd, world};
use super::*;
use crate::model::testkit::{World, k, v};
use crate::model::{Agenda, Command, Due, EventKind, RuleError, ServiceType::Pg};

/// A run brought to B4 with one observation of `lag` bytes.
fn replicating(lag: u64) -> (World, String) {
    let mut w = world();
    let id = start(&mut w);
    for _ in 0..3 {
        ok(&mut w, &id);
    }
    assert_eq!(run(&w, &id).phase, RunPhase::Replicating);
    let o = observation(&w, lag);
    observe(&mut w, &id, o);
    (w, id)
}

fn switchover(w: &mut World, id: &str) -> Result<crate::model::Decision, RuleError> {
    w.exec(Command::Switchover {
        run_id: id.into(),
        force: false,
        comment: None,
    })
}

#[test]
fn u2_run_needs_a_newer_published_major() {
    let mut w = world();
    assert!(rule(w.exec(start_cmd("orders", "16.1"))).starts_with("U2"));
    assert!(rule(w.exec(start_cmd("orders", "15.9"))).starts_with("U1"));
    assert!(rule(w.exec(start_cmd("orders", "14.3"))).starts_with("U1"));
    let e = rule(w.exec(start_cmd("orders", "16.1")));
    assert!(e.contains("no pg 16 release is published"), "{e}");
}

#[test]
fn u2_run_needs_validated_major_on_source() {
    let mut w = world();
    w.service("p", "dev", Pg, "15.8");
    w.step("dev", "orders", 3).expect("step");
    let e = rule(w.exec(start_cmd("orders", "17.2")));
    assert!(
        e.starts_with("U2") && e.contains("p/dev") && e.contains("runs 15.8"),
        "{e}"
    );
    // The source reaches 17 by its own run, but has not validated it yet.
    let mut w = world();
    w.service("p", "dev", Pg, "17.2");
    w.step("dev", "orders", 3).expect("step");
    let e = rule(w.exec(start_cmd("orders", "17.2")));
    assert!(
        e.starts_with("U2") && e.contains("has not validated pg 17"),
        "{e}"
    );
    w.ok(Command::ValidateForService {
        service: k("p", "dev"),
        comment: None,
    });
    assert_eq!(rule(w.exec(start_cmd("orders", "17.2"))), "accepted");
}

#[test]
fn u2_only_one_run_per_service_and_pg_only() {
    let mut w = world();
    start(&mut w);
    assert!(rule(w.exec(start_cmd("orders", "17.2"))).contains("already has run"));
    w.release(crate::model::ServiceType::Kafka, "3.7.2", false);
    w.service("p", "bus", crate::model::ServiceType::Kafka, "3.7.2");
    assert!(rule(w.exec(start_cmd("bus", "4.0"))).starts_with("U2"));
}

#[test]
fn b5_switchover_timeout_must_be_30_to_3600_seconds() {
    for (timeout, verdict) in [
        (29, "B5"),
        (3601, "B5"),
        (30, "accepted"),
        (3600, "accepted"),
    ] {
        let mut w = world();
        let r = w.exec(Command::StartRun {
            service: k("p", "orders"),
            target_version: v("17.2"),
            switchover_timeout_s: Some(timeout),
            lag_threshold_bytes: None,
            long_txn_limit_s: None,
            auto_switchover: false,
        });
        assert!(rule(r).starts_with(verdict), "{timeout}");
    }
}

#[test]
fn b1_to_b7_a_run_completes_with_every_phase_recorded() {
    let mut w = world();
    let id = start(&mut w);
    let r = run(&w, &id);
    assert_eq!(
        (r.phase, r.status),
        (RunPhase::Prerequisites, RunStatus::Active)
    );
    assert_eq!(
        r.pending.as_ref().map(|p| p.key.as_str()),
        Some(format!("{id}/B1/prerequisites/1").as_str())
    );
    for next in [
        RunPhase::Provisioning,
        RunPhase::PostProvisioning,
        RunPhase::Replicating,
    ] {
        ok(&mut w, &id);
        assert_eq!(run(&w, &id).phase, next);
    }
    assert_eq!(
        run(&w, &id).pending.as_ref().map(|p| p.request),
        Some(RequestKind::Observe)
    );
    let o = observation(&w, 12_400);
    observe(&mut w, &id, o);
    assert_eq!(run(&w, &id).status, RunStatus::WaitingForOperator);
    assert!(run(&w, &id).waiting_on_operator().is_some());
    switchover(&mut w, &id).expect("B5 accepted");
    assert_eq!(run(&w, &id).phase, RunPhase::Switchover);
    let mut report = ActionReport::succeeded(vec!["flipped".into()], 30_000);
    report.downtime_ms = Some(80);
    answer(&mut w, &id, report);
    assert_eq!(run(&w, &id).phase, RunPhase::PostSwitchover);
    assert_eq!(
        w.version("orders"),
        v("17.2"),
        "traffic on green: the service runs 17.2"
    );
    ok(&mut w, &id);
    assert_eq!(run(&w, &id).phase, RunPhase::Cleanup);
    ok(&mut w, &id);
    let r = run(&w, &id);
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(r.total_downtime_ms(), Some(80));
    assert_eq!(r.phases.len(), 7);
    assert!(
        r.phases
            .iter()
            .all(|p| p.outcome == Some(PhaseOutcome::Succeeded) && p.ended_at.is_some())
    );
    assert!(r.pending.is_none() && r.finished_at.is_some());
}

#[test]
fn b5_switchover_refused_names_red_guardrail() {
    let (mut w, id) = replicating(1_500_000);
    let e = rule(switchover(&mut w, &id));
    assert!(
        e.starts_with("B5") && e.contains("lag (lag 1.5 MB ≥ 200.0 kB"),
        "{e}"
    );
    let mut o = observation(&w, 1_000);
    o.ddl.push(DdlChange {
        at: w.now,
        statement: "ALTER TABLE orders ADD COLUMN x int".into(),
        in_flight: true,
    });
    o.long_transactions.push(LongTransaction {
        pid: 42,
        running_s: 45,
        query: "UPDATE".into(),
    });
    w.now += Duration::seconds(30);
    w.ok(Command::ObserveRun { run_id: id.clone() });
    observe(&mut w, &id, o);
    let e = rule(switchover(&mut w, &id));
    assert!(e.contains("ddl (DDL in flight: ALTER TABLE orders"), "{e}");
    assert!(
        e.contains("long-transactions (write txn running 45 s > 30 s"),
        "{e}"
    );
    assert!(!e.contains("lag ("), "{e}");
    assert_eq!(run(&w, &id).phase, RunPhase::Replicating, "nothing changed");
}

#[test]
fn b5_force_needs_a_comment_and_is_recorded() {
    let (mut w, id) = replicating(900_000);
    let forced = |comment: Option<&str>| Command::Switchover {
        run_id: id.clone(),
        force: true,
        comment: comment.map(str::to_string),
    };
    assert!(rule(w.exec(forced(None))).contains("needs --comment"));
    let d = w.ok(forced(Some("lag is a stale slot")));
    assert!(
        matches!(&d.events[0].kind, EventKind::SwitchoverForced { red, .. } if red == &vec!["lag".to_string()])
    );
    let r = run(&w, &id);
    assert_eq!(r.phase, RunPhase::Switchover);
    assert_eq!(r.forced.as_ref().map(|f| f.by.as_str()), Some("tester"));
}

#[test]
fn b5_switchover_only_from_b4() {
    let mut w = world();
    let id = start(&mut w);
    assert!(rule(switchover(&mut w, &id)).starts_with("B5"));
    let (mut w, id) = replicating(1_000);
    switchover(&mut w, &id).expect("accepted");
    assert!(switchover(&mut w, &id).expect("no-op").events.is_empty());
}

#[test]
fn b5_switchover_past_its_timeout_reverts_with_blue_serving() {
    let (mut w, id) = replicating(1_000);
    w.ok(Command::SimFault {
        service: k("p", "orders"),
        fault: Fault::SlowSwitchover,
        clear: false,
    });
    switchover(&mut w, &id).expect("accepted");
    let mut report = ActionReport::succeeded(vec!["timeout".into()], 305_000);
    report.outcome = ActionOutcome::Reverted {
        reason: "timeout after 300 s".into(),
    };
    report.downtime_ms = Some(305_000);
    answer(&mut w, &id, report);
    let r = run(&w, &id);
    assert_eq!((r.phase, r.attempt()), (RunPhase::Replicating, 2));
    assert_eq!(r.reverts.len(), 1);
    assert_eq!(w.version("orders"), v("15.8"), "blue keeps serving");
    assert_eq!(
        r.pending.as_ref().map(|p| p.request),
        Some(RequestKind::Observe)
    );
    let b5 = r
        .phases
        .iter()
        .find(|p| p.phase == RunPhase::Switchover)
        .expect("B5 record");
    assert_eq!(b5.outcome, Some(PhaseOutcome::Reverted));
    assert!(
        !w.state.faults.contains_key(&k("p", "orders")),
        "the fault happened"
    );
    // The next attempt has its own key.
    let o = observation(&w, 1_000);
    observe(&mut w, &id, o);
    switchover(&mut w, &id).expect("second attempt");
    let key = run(&w, &id).pending.clone().expect("request").key;
    assert_eq!(key, format!("{id}/B5/switchover/2"));
}

#[test]
fn b8_rollback_before_switchover_leaves_blue_as_it_was() {
    let mut w = world();
    let id = start(&mut w);
    ok(&mut w, &id);
    assert_eq!(run(&w, &id).phase, RunPhase::Provisioning);
    w.ok(Command::Rollback { run_id: id.clone() });
    let r = run(&w, &id);
    assert!(r.rollback.is_some());
    assert_eq!(
        r.pending.as_ref().map(|p| p.key.clone()),
        Some(format!("{id}/B8/rollback/1"))
    );
    assert_eq!(
        r.phases.last().and_then(|p| p.outcome),
        Some(PhaseOutcome::RolledBack)
    );
    ok(&mut w, &id);
    assert_eq!(run(&w, &id).status, RunStatus::RolledBack);
    assert_eq!(w.version("orders"), v("15.8"));
    assert!(w.state.active_run(&k("p", "orders")).is_none());
}

#[test]
fn b8_rollback_only_before_switchover() {
    let (mut w, id) = replicating(1_000);
    switchover(&mut w, &id).expect("accepted");
    assert!(rule(w.exec(Command::Rollback { run_id: id.clone() })).starts_with("B8"));
    ok(&mut w, &id);
    let e = rule(w.exec(Command::Rollback { run_id: id.clone() }));
    assert!(
        e.starts_with("B8") && e.contains("only possible before the switchover"),
        "{e}"
    );
}

#[test]
fn b8_a_failed_phase_before_switchover_rolls_back_automatically() {
    let mut w = world();
    let id = start(&mut w);
    ok(&mut w, &id);
    answer(
        &mut w,
        &id,
        ActionReport::failed("green lost", vec![], 10_000),
    );
    let r = run(&w, &id);
    assert!(
        r.rollback
            .as_deref()
            .is_some_and(|why| why.contains("green lost"))
    );
    assert_eq!(
        r.pending.as_ref().map(|p| p.request),
        Some(RequestKind::Act(RunAction::Rollback))
    );
}

#[test]
fn b8_green_lost_in_b4_rolls_back_automatically() {
    let (mut w, id) = replicating(1_000);
    w.now += Duration::seconds(30);
    w.ok(Command::ObserveRun { run_id: id.clone() });
    let mut o = observation(&w, 0);
    o.subscription = SubscriptionHealth::Unreachable;
    observe(&mut w, &id, o);
    assert!(run(&w, &id).rollback.is_some());
}

#[test]
fn b8_lag_that_never_catches_up_rolls_back_automatically() {
    let (mut w, id) = replicating(5_000_000);
    for _ in 0..30 {
        w.now += Duration::minutes(5);
        w.ok(Command::ObserveRun { run_id: id.clone() });
        let o = observation(&w, 5_000_000);
        observe(&mut w, &id, o);
        if run(&w, &id).rollback.is_some() {
            break;
        }
    }
    let r = run(&w, &id);
    let why = r.rollback.clone().expect("rolled back by itself");
    assert!(
        why.contains("lag never came under 200.0 kB within 2 h"),
        "{why}"
    );
    assert!(r.phases.last().map(|p| p.ended_at).is_some());
}

#[test]
fn b9_resume_hands_the_same_key_to_the_driver() {
    let mut w = world();
    let id = start(&mut w);
    let key = run(&w, &id).pending.clone().expect("request").key;
    let d = w.ok(Command::ResumeRun { run_id: id.clone() });
    assert!(matches!(&d.events[0].kind, EventKind::RunResumed { key: Some(k), .. } if k == &key));
    assert_eq!(
        run(&w, &id).pending.as_ref().map(|p| p.key.clone()),
        Some(key.clone())
    );
    // A report arriving twice (a replay) is recorded once.
    ok(&mut w, &id);
    let again = w.ok(Command::ReportRunAction {
        run_id: id.clone(),
        key,
        started_at: w.now,
        report: ActionReport::succeeded(vec![], 1),
    });
    assert!(again.events.is_empty());
}

#[test]
fn b9_failed_step_after_switchover_is_retried_by_resume() {
    let (mut w, id) = replicating(1_000);
    switchover(&mut w, &id).expect("accepted");
    ok(&mut w, &id);
    answer(
        &mut w,
        &id,
        ActionReport::failed("extension upgrade failed", vec![], 5_000),
    );
    let r = run(&w, &id);
    assert_eq!(
        (r.phase, r.status),
        (RunPhase::PostSwitchover, RunStatus::Failed)
    );
    assert!(
        r.rollback.is_none(),
        "no rollback after the switchover (B8)"
    );
    w.ok(Command::ResumeRun { run_id: id.clone() });
    let r = run(&w, &id);
    assert_eq!(
        r.pending.as_ref().map(|p| p.key.clone()),
        Some(format!("{id}/B6/post-switchover/2"))
    );
    ok(&mut w, &id);
    ok(&mut w, &id);
    assert_eq!(run(&w, &id).status, RunStatus::Completed);
    assert!(rule(w.exec(Command::ResumeRun { run_id: id })).starts_with("B9"));
}

#[test]
fn b5_auto_switchover_goes_when_every_guardrail_is_green() {
    let mut w = world();
    let d = w.ok(Command::StartRun {
        service: k("p", "orders"),
        target_version: v("17.2"),
        switchover_timeout_s: None,
        lag_threshold_bytes: Some(50_000),
        long_txn_limit_s: None,
        auto_switchover: true,
    });
    let id = match &d.events[0].kind {
        EventKind::RunStarted { run_id, .. } => run_id.clone(),
        _ => panic!("run started"),
    };
    for _ in 0..3 {
        ok(&mut w, &id);
    }
    let o = observation(&w, 60_000);
    observe(&mut w, &id, o);
    assert_eq!(run(&w, &id).phase, RunPhase::Replicating);
    w.now += Duration::seconds(30);
    w.ok(Command::ObserveRun { run_id: id.clone() });
    let o = observation(&w, 40_000);
    observe(&mut w, &id, o);
    assert_eq!(run(&w, &id).phase, RunPhase::Switchover);
}

#[test]
fn runs_schedule_completions_and_observations_on_the_agenda() {
    let mut w = world();
    let id = start(&mut w);
    let key = run(&w, &id).pending.clone().expect("request").key;
    w.ok(Command::ReportRunAction {
        run_id: id.clone(),
        key,
        started_at: w.now,
        report: ActionReport::succeeded(vec![], 120_000),
    });
    let agenda = Agenda::build(&w.state, w.now);
    assert_eq!(
        agenda.first(),
        Some((w.now + Duration::minutes(2), Due::RunComplete(id)))
    );
    let (w, id) = replicating(1_000);
    let agenda = Agenda::build(&w.state, w.now);
    assert_eq!(
        agenda.first(),
        Some((
            w.now + Duration::seconds(OBSERVE_EVERY_S),
            Due::RunObserve(id)
        ))
    );
}

#[test]
fn maintenance_waits_while_a_run_is_active() {
    let mut w = world();
    w.release(Pg, "15.9", false);
    start(&mut w);
    let d = w.ok(Command::MaintenanceStart {
        service: k("p", "orders"),
    });
    assert!(d.events.is_empty() && d.notice.is_some_and(|n| n.contains("run")));
}
