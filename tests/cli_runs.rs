//! Upgrade runs through the real `lockstep` binary on a virtual clock: a run that completes,
//! a switchover past its timeout that reverts, rollbacks, faults, and every refusal as a
//! person meets it (one line, exit code, nothing changed).

#[path = "common/cli.rs"]
mod cli;

use cli::Db;
use serde_json::Value;

fn fleet() -> Db {
    let db = Db::virtual_at("2026-01-05T00:00:00Z");
    db.ok(&["project", "create", "p"]);
    for v in ["15.8", "17.1", "17.2"] {
        db.ok(&["release", "publish", "--type", "pg", v]);
    }
    for name in ["orders", "dev", "prod"] {
        db.ok(&[
            "service",
            "create",
            "--project",
            "p",
            "--type",
            "pg",
            "--version",
            "15.8",
            "--plan",
            "business",
            name,
        ]);
    }
    db.ok(&[
        "step",
        "create",
        "dev",
        "prod",
        "--auto-validation-delay-days",
        "3",
    ]);
    db
}

fn start(db: &Db, extra: &[&str]) -> String {
    let mut args = vec![
        "run",
        "start",
        "--project",
        "p",
        "orders",
        "--target-version",
        "17",
    ];
    args.extend_from_slice(extra);
    db.ok(&args);
    run_of(db)["run_id"].as_str().expect("id").to_string()
}

fn run_of(db: &Db) -> Value {
    match db.json(&["run", "list"]) {
        Value::Array(runs) => runs.last().cloned().expect("a run"),
        other => panic!("{other}"),
    }
}

/// Advances ten minutes at a time until the run's status is `status`.
fn until(db: &Db, status: &str) -> Value {
    for _ in 0..40 {
        let run = run_of(db);
        if run["status"] == status {
            return run;
        }
        db.advance("10m");
    }
    panic!("never {status}: {}", run_of(db));
}

#[test]
fn a_run_completes_and_records_its_total_downtime() {
    let db = fleet();
    let id = start(&db, &[]);
    let run = run_of(&db);
    assert_eq!(
        run["target_version"], "17.2",
        "a bare major takes its newest release"
    );
    let ready = until(&db, "waiting_for_operator");
    assert_eq!(
        ready["guardrails_green"], 6,
        "lag, ddl, long txns, subscription, data, parity"
    );
    assert!(ready["lag_bytes"].as_u64().expect("lag") < 200_000);
    let full = db.json(&["run", "get", &id]);
    let samples = full["lag"]["lockstep_sub_1"]
        .as_array()
        .expect("samples")
        .len();
    assert!(samples > 10, "lag is charted: {samples} samples");
    let items = full["inventory"]["items"]
        .as_array()
        .expect("B1's inventory");
    assert!(
        items
            .iter()
            .any(|i| i["kind"] == "large_objects" && i["treatment"] == "carry"),
        "{items:?}"
    );
    let text = db.ok(&["run", "get", &id]);
    assert!(
        text.contains("inventory   what logical replication does not carry"),
        "{text}"
    );
    db.ok(&["run", "switchover", &id]);
    let done = until(&db, "completed");
    let downtime = done["total_downtime_ms"].as_u64().expect("downtime");
    assert!((40..=900).contains(&downtime), "{downtime}");
    assert_eq!(db.service("p", "orders")["version"], "17.2");
    let text = db.ok(&["run", "get", &id]);
    assert!(text.contains("downtime    0."), "{text}");
    assert!(text.contains("B7 cleanup"), "{text}");
}

#[test]
fn b5_switchover_refused_names_red_guardrail_and_force_needs_a_comment() {
    let db = fleet();
    let id = start(&db, &[]);
    db.ok(&["sim", "fault", "--project", "p", "orders", "lag-stuck"]);
    db.advance("1h");
    let before = db.events().len();
    let r = db.run(&["run", "switchover", &id]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("refused by B5") && r.stderr.contains("red guardrails: lag (lag"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    let r = db.run(&["run", "switchover", &id, "--force"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(db.events().len(), before, "nothing changed");
    db.ok(&[
        "run",
        "switchover",
        &id,
        "--force",
        "--comment",
        "lag is a stale slot",
    ]);
    let full = db.json(&["run", "get", &id]);
    assert_eq!(full["forced"]["red"][0], "lag");
}

#[test]
fn b5_switchover_past_its_timeout_reverts_and_blue_keeps_serving() {
    let db = fleet();
    let id = start(&db, &["--switchover-timeout", "60s"]);
    until(&db, "waiting_for_operator");
    db.ok(&[
        "sim",
        "fault",
        "--project",
        "p",
        "orders",
        "slow-switchover",
    ]);
    db.ok(&["run", "switchover", &id]);
    db.advance("5m");
    let full = db.json(&["run", "get", &id]);
    assert_eq!(full["phase"], "replicating", "back in B4");
    assert_eq!(full["reverts"].as_array().map(Vec::len), Some(1));
    assert_eq!(db.service("p", "orders")["version"], "15.8", "blue serves");
    assert!(
        full["reverts"][0]["reason"]
            .as_str()
            .expect("reason")
            .contains("60 s")
    );
    // The fault happened; the next attempt goes through.
    until(&db, "waiting_for_operator");
    db.ok(&["run", "switchover", &id]);
    let done = until(&db, "completed");
    assert!(done["total_downtime_ms"].as_u64().expect("downtime") >= 60_000);
}

#[test]
fn b8_rollback_before_switchover_and_refused_after() {
    let db = fleet();
    let id = start(&db, &[]);
    db.advance("10m");
    db.ok(&["run", "rollback", &id]);
    until(&db, "rolled_back");
    assert_eq!(db.service("p", "orders")["version"], "15.8");
    let r = db.run(&["run", "resume", &id]);
    assert!(r.code == 1 && r.stderr.contains("B9"), "{}", r.stderr);

    let id = start(&db, &[]);
    until(&db, "waiting_for_operator");
    db.ok(&["run", "switchover", &id]);
    db.advance("2m");
    let r = db.run(&["run", "rollback", &id]);
    assert!(
        r.code == 1 && r.stderr.contains("refused by B8") && r.stderr.contains("new run"),
        "{}",
        r.stderr
    );
}

#[test]
fn b8_green_lost_rolls_back_automatically() {
    let db = fleet();
    let id = start(&db, &[]);
    db.ok(&["sim", "fault", "--project", "p", "orders", "green-lost"]);
    until(&db, "rolled_back");
    let full = db.json(&["run", "get", &id]);
    assert!(
        full["rollback"].as_str().expect("why").contains("green"),
        "{full}"
    );
}

#[test]
fn u2_destination_waits_for_its_source_to_validate_the_major() {
    let db = fleet();
    let before = db.events().len();
    let r = db.run(&[
        "run",
        "start",
        "--project",
        "p",
        "prod",
        "--target-version",
        "17",
    ]);
    assert!(
        r.code == 1 && r.stderr.contains("refused by U2") && r.stderr.contains("p/dev"),
        "{}",
        r.stderr
    );
    assert_eq!(db.events().len(), before);
}

#[test]
fn bad_input_is_one_clear_line_and_changes_nothing() {
    let db = fleet();
    let before = db.events().len();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--switchover-timeout", "10s"], 1, "30 s to 3600 s"),
        (&["--switchover-timeout", "soon"], 2, "not a duration"),
        (&["--lag-threshold", "lots"], 2, "not a size"),
    ];
    for (extra, code, text) in cases {
        let mut args = vec![
            "run",
            "start",
            "--project",
            "p",
            "orders",
            "--target-version",
            "17",
        ];
        args.extend_from_slice(extra);
        let r = db.run(&args);
        assert_eq!(r.code, *code, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(text), "{extra:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    }
    for (args, code, text) in [
        (
            vec![
                "run",
                "start",
                "--project",
                "p",
                "orders",
                "--target-version",
                "x",
            ],
            2,
            "not a version",
        ),
        (
            vec![
                "run",
                "start",
                "--project",
                "p",
                "orders",
                "--target-version",
                "16",
            ],
            1,
            "no pg 16 release",
        ),
        (
            vec![
                "run",
                "start",
                "--project",
                "p",
                "orders",
                "--target-version",
                "15.9",
            ],
            1,
            "U1",
        ),
        (vec!["run", "get", "beef"], 1, "no run 'beef'"),
        (vec!["run", "switchover", "beef"], 1, "no run 'beef'"),
        (
            vec!["sim", "fault", "--project", "p", "orders", "meteor"],
            2,
            "unknown fault",
        ),
    ] {
        let r = db.run(&args);
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(text), "{args:?}: {}", r.stderr);
    }
    assert_eq!(db.events().len(), before, "nothing changed");
}

#[test]
fn run_watch_on_a_virtual_clock_lets_the_driver_act_and_says_how_to_move_time() {
    let db = fleet();
    let id = start(&db, &[]);
    let out = db.ok(&["run", "watch", &id]);
    assert!(out.contains("clock advance"), "{out}");
    until(&db, "waiting_for_operator");
    let out = db.ok(&["run", "watch", &id]);
    assert!(out.contains("waiting for operator"), "{out}");
}

#[test]
fn b8_lag_that_never_catches_up_rolls_back_by_itself() {
    let db = fleet();
    let id = start(&db, &[]);
    db.ok(&["sim", "fault", "--project", "p", "orders", "lag-stuck"]);
    until(&db, "rolled_back");
    let full = db.json(&["run", "get", &id]);
    assert!(
        full["rollback"]
            .as_str()
            .expect("why")
            .contains("lag never came under"),
        "{full}"
    );
    assert_eq!(db.service("p", "orders")["version"], "15.8");
}
