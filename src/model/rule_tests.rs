//! One test per rule of SPEC.md §2–§3, named after it.

use chrono::Duration;

use super::testkit::{World, k, v};
use super::{Command, EventKind, RuleError, ServiceType::*};

fn rule_of(r: Result<super::Decision, RuleError>) -> String {
    match r {
        Err(e) => e
            .rule_id()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{e}")),
        Ok(_) => "accepted".into(),
    }
}

fn chain() -> World {
    let mut w = World::new();
    w.release(Pg, "15.8", false);
    for s in ["dev", "staging", "prod"] {
        w.service("p", s, Pg, "15.8");
    }
    w.step("dev", "staging", 3).expect("dev → staging");
    w.step("staging", "prod", 7).expect("staging → prod");
    w
}

#[test]
fn p1_refuses_steps_between_different_types() {
    let mut w = World::new();
    w.service("p", "a", Pg, "15.8");
    w.service("p", "b", Kafka, "3.7.2");
    let e = w.step("a", "b", 3).expect_err("P1");
    assert_eq!(e.rule_id(), Some("P1"));
    assert!(
        e.to_string().contains("p/a") && e.to_string().contains("p/b"),
        "{e}"
    );
}

#[test]
fn p1_refuses_mysql_and_flink() {
    let mut w = World::new();
    w.service("p", "m1", Mysql, "8.0");
    w.service("p", "m2", Mysql, "8.0");
    w.service("p", "f1", Flink, "1.19");
    w.service("p", "f2", Flink, "1.19");
    assert_eq!(rule_of(w.step("m1", "m2", 3)), "P1");
    assert_eq!(rule_of(w.step("f1", "f2", 3)), "P1");
}

#[test]
fn p2_refuses_a_second_source_and_allows_fan_out() {
    let mut w = World::new();
    for s in ["a", "b", "c", "d"] {
        w.service("p", s, Pg, "15.8");
    }
    w.step("a", "b", 3).expect("a → b");
    w.step("a", "c", 3).expect("fan-out a → c");
    let e = w.step("d", "b", 3).expect_err("P2");
    assert_eq!(e.rule_id(), Some("P2"));
    assert!(
        e.to_string().contains("p/a"),
        "names the existing source: {e}"
    );
}

#[test]
fn p3_refuses_cycles_and_self_steps() {
    let mut w = World::new();
    for s in ["a", "b"] {
        w.service("p", s, Pg, "15.8");
    }
    assert_eq!(rule_of(w.step("a", "a", 3)), "P3");
    w.step("a", "b", 3).expect("a → b");
    // b → a: a already has no source, so P2 does not apply; the cycle does.
    assert_eq!(rule_of(w.step("b", "a", 3)), "P3");
}

#[test]
fn p4_refuses_fourth_service_in_chain_below_and_above() {
    let mut w = chain();
    w.service("p", "extra", Pg, "15.8");
    w.service("p", "top", Pg, "15.8");
    assert_eq!(rule_of(w.step("prod", "extra", 3)), "P4");
    assert_eq!(rule_of(w.step("top", "dev", 3)), "P4");
    // A branch at depth 2 is fine: dev → other is a chain of 2.
    w.service("p", "other", Pg, "15.8");
    w.step("dev", "other", 3).expect("fan-out within depth");
}

#[test]
fn p4_counts_the_deepest_path_when_joining_two_chains() {
    let mut w = World::new();
    for s in ["a", "b", "c", "d"] {
        w.service("p", s, Pg, "15.8");
    }
    w.step("a", "b", 3).expect("a → b");
    w.step("c", "d", 3).expect("c → d");
    assert_eq!(rule_of(w.step("b", "c", 3)), "P4");
}

#[test]
fn p5_allows_projects_of_one_organization_and_refuses_others() {
    let mut w = World::new();
    w.project("dev", "acme");
    w.project("prod", "acme");
    w.project("elsewhere", "globex");
    w.service("dev", "a", Pg, "15.8");
    w.service("prod", "b", Pg, "15.8");
    w.service("elsewhere", "c", Pg, "15.8");
    w.ok(Command::CreateStep {
        organization_id: Some("acme".into()),
        source: k("dev", "a"),
        destination: k("prod", "b"),
        auto_validation_delay_days: None,
    });
    let e = w
        .exec(Command::CreateStep {
            organization_id: None,
            source: k("dev", "a"),
            destination: k("elsewhere", "c"),
            auto_validation_delay_days: None,
        })
        .expect_err("P5");
    assert_eq!(e.rule_id(), Some("P5"));
}

#[test]
fn p6_delay_is_1_to_30_days_default_7() {
    let mut w = World::new();
    for s in ["a", "b", "c"] {
        w.service("p", s, Pg, "15.8");
    }
    for bad in [0, 31, -3, 365] {
        let e = w.step("a", "b", bad).expect_err("P6");
        assert_eq!(e.rule_id(), Some("P6"));
        assert!(e.to_string().contains("1 to 30"), "{e}");
    }
    w.ok(Command::CreateStep {
        organization_id: None,
        source: k("p", "a"),
        destination: k("p", "b"),
        auto_validation_delay_days: None,
    });
    assert_eq!(w.state.steps[&1].auto_validation_delay_days, 7);
    w.step("a", "c", 30).expect("30 is allowed");
}

#[test]
fn p7_initial_validated_version_is_the_destination_version_or_its_update_in_progress() {
    let mut w = World::new();
    w.release(Pg, "15.8", false);
    w.service("p", "a", Pg, "15.9");
    w.service("p", "b", Pg, "15.8");
    w.service("p", "c", Pg, "15.8");
    w.release(Pg, "15.9", false);
    w.step("a", "b", 3).expect("a → b");
    assert_eq!(w.state.steps[&1].pinned_version, v("15.8"));
    w.ok(Command::MaintenanceStart {
        service: k("p", "c"),
    });
    w.step("a", "c", 3).expect("a → c while c updates");
    assert_eq!(w.state.steps[&2].pinned_version, v("15.9"));
}

#[test]
fn p8_deleting_a_step_releases_the_destination() {
    let mut w = chain();
    w.release(Pg, "15.9", false);
    w.update_now("dev");
    assert!(
        w.state
            .pending_update(&w.state.services[&k("p", "staging")])
            .is_none()
    );
    w.ok(Command::DeleteStep { step_id: 1 });
    let staging = &w.state.services[&k("p", "staging")];
    assert_eq!(
        w.state.pending_update(staging).map(|p| p.version),
        Some(v("15.9"))
    );
    assert!(w.state.step_into(&k("p", "staging")).is_none());
}

#[test]
fn p9_update_changes_only_the_delay_and_recomputes_the_deadline_from_the_source_update() {
    let mut w = chain();
    w.release(Pg, "15.9", false);
    w.update_now("dev");
    let received = w.state.services[&k("p", "dev")].updated_at;
    w.now += Duration::days(1);
    w.ok(Command::UpdateStep {
        step_id: 1,
        auto_validation_delay_days: 5,
    });
    let step = &w.state.steps[&1];
    assert_eq!(
        w.state.auto_validation_at(step),
        Some(received + Duration::days(5))
    );
    assert_eq!(step.source, k("p", "dev"));
    assert_eq!(
        rule_of(w.exec(Command::UpdateStep {
            step_id: 1,
            auto_validation_delay_days: 0
        })),
        "P6"
    );
}

#[test]
fn p10_refusals_change_nothing() {
    let mut w = chain();
    let before = format!("{:?}", w.state.steps);
    let head = w.state.head;
    let _ = w.step("prod", "dev", 3);
    let _ = w.step("dev", "staging", 3);
    assert_eq!(w.state.head, head);
    assert_eq!(format!("{:?}", w.state.steps), before);
}

#[test]
fn v1_destination_never_moves_past_its_pinned_version() {
    let mut w = chain();
    w.release(Pg, "15.9", false);
    let staging = w.state.services[&k("p", "staging")].clone();
    assert!(w.state.pending_update(&staging).is_none());
    let d = w.ok(Command::MaintenanceStart {
        service: k("p", "staging"),
    });
    assert!(d.events.is_empty());
    assert!(d.notice.unwrap_or_default().contains("held by step 1"));
    assert_eq!(w.version("staging"), v("15.8"));
}

#[test]
fn v2_validation_covers_every_step_of_the_source_and_repeats_are_no_ops() {
    let mut w = World::new();
    w.release(Pg, "15.8", false);
    for s in ["dev", "eu", "na"] {
        w.service("p", s, Pg, "15.8");
    }
    w.step("dev", "eu", 5).expect("dev → eu");
    w.step("dev", "na", 5).expect("dev → na");
    w.release(Pg, "15.9", false);
    w.update_now("dev");
    let d = w
        .exec_as(
            "alice",
            Command::ValidateForService {
                service: k("p", "dev"),
                comment: Some("ok".into()),
            },
        )
        .expect("validate");
    assert_eq!(d.events.len(), 2);
    for id in [1, 2] {
        let last = w.state.steps[&id]
            .last_validation
            .clone()
            .expect("validated");
        assert_eq!(last.validated_by_user.as_deref(), Some("alice"));
        assert_eq!(last.comment.as_deref(), Some("ok"));
        assert_eq!(last.version, v("15.9"));
    }
    let again = w.ok(Command::ValidateForService {
        service: k("p", "dev"),
        comment: None,
    });
    assert!(again.events.is_empty());
    assert!(
        again
            .notice
            .unwrap_or_default()
            .contains("already validated")
    );
    assert_eq!(
        rule_of(w.exec(Command::ValidateForService {
            service: k("p", "eu"),
            comment: None
        })),
        "V2"
    );
}

#[test]
fn v3_auto_validation_fires_at_source_update_plus_delay_with_no_user() {
    let mut w = chain();
    w.release(Pg, "15.9", false);
    w.update_now("dev");
    let due = w.state.services[&k("p", "dev")].updated_at + Duration::days(3);
    assert_eq!(w.state.auto_validation_at(&w.state.steps[&1]), Some(due));
    w.now = due - Duration::milliseconds(1);
    assert!(w.ok(Command::AutoValidate { step_id: 1 }).events.is_empty());
    w.now = due;
    let d = w.ok(Command::AutoValidate { step_id: 1 });
    assert!(matches!(
        &d.events[0].kind,
        EventKind::VersionValidated {
            validated_by_user: None,
            ..
        }
    ));
    let last = w.state.steps[&1]
        .last_validation
        .clone()
        .expect("validated");
    assert_eq!((last.validated_at, last.validated_by_user), (due, None));
}

#[test]
fn v4_auto_validation_at_is_null_when_nothing_waits() {
    let w = chain();
    assert_eq!(w.state.auto_validation_at(&w.state.steps[&1]), None);
    assert!(w.state.steps[&1].last_validation.is_none());
}

#[test]
fn v6_powered_off_source_cannot_be_validated_and_holds_nothing() {
    let mut w = chain();
    w.release(Pg, "15.9", false);
    w.update_now("dev");
    let d = w.ok(Command::SetPower {
        service: k("p", "dev"),
        powered: false,
    });
    assert!(d.notice.unwrap_or_default().contains("V6"));
    assert_eq!(
        rule_of(w.exec(Command::ValidateForService {
            service: k("p", "dev"),
            comment: None
        })),
        "V6"
    );
    let staging = w.state.services[&k("p", "staging")].clone();
    assert!(w.state.holding_step(&staging.key).is_none());
    assert_eq!(
        w.state.pending_update(&staging).map(|p| p.version),
        Some(v("15.9"))
    );
    assert_eq!(w.state.auto_validation_at(&w.state.steps[&1]), None);
}

#[test]
fn v7_critical_release_overrides_the_hold_and_is_recorded() {
    let mut w = chain();
    w.release(Pg, "15.8.1", true);
    let d = w.ok(Command::MaintenanceStart {
        service: k("p", "prod"),
    });
    assert!(
        d.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::EmergencyOverride { .. }))
    );
    w.now += Duration::minutes(15);
    w.ok(Command::FinishUpdate {
        service: k("p", "prod"),
    });
    assert_eq!(w.version("prod"), v("15.8.1"));
    assert!(w.state.services[&k("p", "prod")].emergency_override);
}

#[test]
fn v8_no_hold_lasts_longer_than_30_days_after_the_source_update() {
    let mut w = chain();
    w.ok(Command::UpdateStep {
        step_id: 1,
        auto_validation_delay_days: 30,
    });
    w.release(Pg, "15.9", false);
    w.update_now("dev");
    let received = w.state.services[&k("p", "dev")].updated_at;
    let at = w
        .state
        .auto_validation_at(&w.state.steps[&1])
        .expect("waiting");
    assert!(at - received <= Duration::days(30));
}

#[test]
fn v9_every_change_carries_actor_and_reason() {
    let mut w = chain();
    w.release(Pg, "15.9", false);
    w.update_now("dev");
    let d = w
        .exec_as(
            "bob",
            Command::ValidateForService {
                service: k("p", "dev"),
                comment: None,
            },
        )
        .expect("validate");
    assert!(d.events.iter().all(|e| !e.reason.is_empty()));
    assert!(d.events[0].reason.contains("bob"));
}

#[test]
fn u1_skips_minors_one_at_a_time_and_never_crosses_a_major() {
    let mut w = World::new();
    w.release(Pg, "15.8", false);
    w.service("p", "a", Pg, "15.8");
    w.release(Pg, "15.10", false);
    w.release(Pg, "15.9", false);
    w.release(Pg, "17.2", false);
    w.update_now("a");
    assert_eq!(w.version("a"), v("15.9"));
    w.update_now("a");
    assert_eq!(w.version("a"), v("15.10"));
    let a = w.state.services[&k("p", "a")].clone();
    assert!(
        w.state.pending_update(&a).is_none(),
        "17.2 needs an upgrade run (U2)"
    );
}

#[test]
fn forecast_follows_the_chain_of_deadlines_and_windows() {
    let mut w = chain();
    w.release(Pg, "15.9", false);
    w.update_now("dev");
    let dev_at = w.state.services[&k("p", "dev")].updated_at;
    let prod = w.state.services[&k("p", "prod")].clone();
    let f = w.state.forecast(&prod, w.now).expect("prod has a forecast");
    assert_eq!(f.version, v("15.9"));
    // dev auto-validated after 3 days; staging's next Monday 10:00 window; +7 days; prod's window.
    let staging_window = w.state.services[&k("p", "staging")]
        .maintenance
        .next_after(dev_at + Duration::days(3));
    let expected = prod
        .maintenance
        .next_after(staging_window + Duration::days(7));
    assert_eq!(f.at, expected);
}
