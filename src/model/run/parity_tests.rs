//! B13 and the B4 data check in the model: the inventory's choices, the parity and data
//! guardrails, and a broken subscription that waits for an operator instead of rolling back.

use super::test_support::{answer, observation, observe, rule, run, world};
use super::*;
use crate::model::testkit::{World, k, v};
use crate::model::{Command, EventKind};

/// A run in B4 whose B1 found `inventory`, observed once with `o`.
fn replicating(inventory: Inventory, o: impl Fn(&World) -> Observation) -> (World, String) {
    let mut w = world();
    let d = w.ok(Command::StartRun {
        service: k("p", "orders"),
        target_version: v("17.2"),
        switchover_timeout_s: None,
        lag_threshold_bytes: None,
        long_txn_limit_s: None,
        auto_switchover: false,
    });
    let id = d
        .events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::RunStarted { run_id, .. } => Some(run_id.clone()),
            _ => None,
        })
        .expect("a run id");
    let mut b1 = ActionReport::succeeded(vec!["checked".into()], 1_000);
    b1.inventory = Some(inventory);
    answer(&mut w, &id, b1);
    for _ in 0..2 {
        answer(
            &mut w,
            &id,
            ActionReport::succeeded(vec!["done".into()], 1_000),
        );
    }
    let seen = o(&w);
    observe(&mut w, &id, seen);
    (w, id)
}

fn with_unlogged() -> Inventory {
    let mut inv = Inventory::default();
    inv.push(
        ItemKind::Roles,
        "2 roles, 0 memberships",
        Treatment::Carry,
        "copied in B2",
    );
    inv.push(
        ItemKind::UnloggedTable,
        "public.sessions",
        Treatment::Choose,
        "unlogged",
    );
    inv
}

fn switchover(w: &mut World, id: &str) -> String {
    rule(w.exec(Command::Switchover {
        run_id: id.into(),
        force: false,
        comment: None,
    }))
}

fn choose(w: &mut World, id: &str, comment: Option<&str>) -> String {
    rule(w.exec(Command::ChooseForRun {
        run_id: id.into(),
        value: ChoiceValue::Copy,
        comment: comment.map(str::to_string),
    }))
}

#[test]
fn b13_the_switchover_is_refused_naming_an_unlogged_table_until_a_choice_is_recorded() {
    let (mut w, id) = replicating(with_unlogged(), |w| observation(w, 0));
    assert_eq!(run(&w, &id).status, RunStatus::Active, "not ready");
    let refused = switchover(&mut w, &id);
    assert!(
        refused.starts_with("B5") && refused.contains("parity"),
        "{refused}"
    );
    assert!(refused.contains("public.sessions"), "{refused}");
    let no_comment = choose(&mut w, &id, None);
    assert!(
        no_comment.starts_with("B13") && no_comment.contains("--comment"),
        "{no_comment}"
    );
    assert_eq!(
        choose(&mut w, &id, Some("sessions must survive")),
        "accepted"
    );
    let r = run(&w, &id);
    assert_eq!(r.choices.len(), 1);
    assert_eq!(r.choices[0].by, "tester");
    assert_eq!(w.state.run_spec(r).choices, vec![ChoiceValue::Copy]);
    assert_eq!(switchover(&mut w, &id), "accepted");
}

#[test]
fn b13_a_choice_for_something_blue_does_not_hold_is_refused() {
    let (mut w, id) = replicating(Inventory::default(), |w| observation(w, 0));
    let refused = choose(&mut w, &id, Some("just in case"));
    assert!(
        refused.starts_with("B13") && refused.contains("unlogged"),
        "{refused}"
    );
    assert!(run(&w, &id).choices.is_empty());
}

#[test]
fn b4_a_lasting_difference_blocks_the_switchover_naming_the_table() {
    let (mut w, id) = replicating(Inventory::default(), |w| Observation {
        lasting_differences: vec!["public.notes: blue 50 rows, green 49 at zero lag".into()],
        ..observation(w, 0)
    });
    let refused = switchover(&mut w, &id);
    assert!(
        refused.contains("data") && refused.contains("public.notes"),
        "{refused}"
    );
}

#[test]
fn b4_a_broken_subscription_waits_for_an_operator_instead_of_rolling_back() {
    let (w, id) = replicating(Inventory::default(), |w| Observation {
        subscription: SubscriptionHealth::Broken,
        action_needed: Some("ALTER TABLE items … failed on green".into()),
        ..observation(w, 0)
    });
    let r = run(&w, &id);
    assert!(r.rollback.is_none(), "rolled back: {:?}", r.rollback);
    assert_eq!(r.phase, RunPhase::Replicating);
    let waiting = r.waiting_on_operator().expect("waits for an operator");
    assert!(
        waiting.contains("action needed") && waiting.contains("ALTER TABLE"),
        "{waiting}"
    );
}
