//! A real PostgreSQL 15 → 17 run driven through the `lockstep` binary, as an operator would:
//! register blue and green with `lockstep pg register`, start the run, advance the clock, and
//! read real lag, row counts and guardrails back with `run get`; then roll back and find blue
//! untouched and writable, its replication objects gone. The password never shows in any
//! output, event or error.

#[path = "common/cli.rs"]
mod cli;
#[path = "common/pg.rs"]
mod pg;

use cli::Db;
use serde_json::Value;

const SCHEMA: &str = "
CREATE TABLE accounts (id bigserial PRIMARY KEY, owner text NOT NULL, balance numeric);
INSERT INTO accounts (owner, balance) SELECT 'owner ' || g, g FROM generate_series(1, 3000) g;";

fn run_of(db: &Db, id: &str) -> Value {
    db.json(&["run", "get", id])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_service_runs_on_real_postgres_through_the_cli() {
    let (blue, green) = (pg::blue(), pg::green());
    pg::create_db(&blue, "bank").await;
    pg::create_db(&green, "bank").await;
    let client = pg::connect(&blue, "bank").await;
    client.batch_execute(SCHEMA).await.expect("blue schema");
    let blue_dsn = pg::dsn(&blue, "bank");
    let green_dsn = pg::dsn(&green, "bank");
    let secrets = [
        blue_dsn.password().expect("a password"),
        green_dsn.password().expect("a password"),
    ];

    let db = Db::virtual_at("2026-01-05T09:00:00Z");
    db.ok(&["project", "create", "bank-prod"]);
    db.ok(&[
        "service",
        "create",
        "--project",
        "bank-prod",
        "--type",
        "pg",
        "--version",
        "15.8",
        "--plan",
        "business",
        "ledger",
    ]);
    db.ok(&["release", "publish", "--type", "pg", "17.2"]);

    // Bad input first: nothing is registered by a broken DSN or a non-pg service.
    let bad = db.run(&[
        "pg",
        "register",
        "--project",
        "bank-prod",
        "ledger",
        "--blue",
        "host=",
        "--green",
        green_dsn.expose(),
    ]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("--blue"), "{}", bad.stderr);
    let out = db.ok(&[
        "pg",
        "register",
        "--project",
        "bank-prod",
        "ledger",
        "--blue",
        blue_dsn.expose(),
        "--green",
        green_dsn.expose(),
    ]);
    let listed = db.ok(&["pg", "list"]);
    for text in [&out, &listed] {
        assert!(text.contains("bank-prod/ledger"), "{text}");
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a password shows: {text}");
        }
    }

    let started = db.json(&[
        "run",
        "start",
        "--project",
        "bank-prod",
        "ledger",
        "--target-version",
        "17",
    ]);
    let id = started["events"][0]["run_id"]
        .as_str()
        .expect("a run id")
        .to_string();
    // B1–B3 act on the real servers; B4 observes real replication.
    let mut run = run_of(&db, &id);
    for _ in 0..30 {
        if run["phase"] == "replicating" && !run["latest"].is_null() {
            break;
        }
        db.advance("2m");
        run = run_of(&db, &id);
    }
    assert_eq!(run["phase"], "replicating", "{run:#}");
    let latest = &run["latest"];
    assert!(
        latest["samples"]
            .as_array()
            .is_some_and(|s| s.iter().all(|x| x["slot"]
                .as_str()
                .is_some_and(|n| n.starts_with("lockstep_")))),
        "lag samples come from lockstep's real slot: {latest:#}"
    );
    assert_eq!(latest["subscription"], "streaming", "{latest:#}");
    // Rows written on blue now reach green through the real subscription.
    client
        .batch_execute("INSERT INTO accounts (owner, balance) SELECT 'late ' || g, g FROM generate_series(1, 500) g")
        .await
        .expect("blue takes writes");
    let green_client = pg::connect(&green, "bank").await;
    let mut on_green = 0;
    for _ in 0..100 {
        on_green = pg::count(&green_client, "SELECT count(*) FROM accounts").await;
        if on_green == 3500 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(on_green, 3500, "every row written on blue is on green");
    db.advance("1m");
    let run = run_of(&db, &id);
    assert!(
        run["guardrails"].as_array().is_some_and(|g| !g.is_empty()),
        "{run:#}"
    );

    // Roll back (B8): the replication objects go, blue stays writable with every row.
    db.ok(&["run", "rollback", &id]);
    for _ in 0..10 {
        db.advance("2m");
    }
    let run = run_of(&db, &id);
    assert_eq!(run["status"], "rolled_back", "{run:#}");
    let slots = pg::count(
        &client,
        "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'lockstep%'",
    )
    .await;
    assert_eq!(slots, 0, "the slot is dropped");
    client
        .batch_execute("INSERT INTO accounts (owner) VALUES ('after rollback')")
        .await
        .expect("blue is writable");
    assert_eq!(
        pg::count(&client, "SELECT count(*) FROM accounts").await,
        3501
    );

    let history = db.ok(&["events", "--limit", "100000"]);
    let json = db.ok(&["--json", "run", "get", &id]);
    for text in [&history, &json] {
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "a password shows in the history or the run"
            );
        }
    }
}
