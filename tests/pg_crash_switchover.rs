//! B5 and B9 across lockstep's own crash, on real PostgreSQL 15 → 17: `lockstep serve` holds
//! the endpoint, a writer goes through it the whole time and logs every acknowledged row, and
//! `serve` is killed (SIGKILL) at every kill point of a switchover, one after another on the
//! same run: just after `run switchover` is accepted, after each step of B5 (parked, fenced,
//! marker and sequences, carried, retired, flip recorded, resumed) and before B7; each time it
//! is restarted on the same database. Between a kill and its restart, blue takes writes again
//! by itself while the flip has not happened, and refuses them once it has; the restarted
//! endpoint serves the side the record says. At the end every acknowledged row is on green,
//! no id was handed out twice, green's sequence is past every id, the endpoint serves green,
//! the run says it completed, how often lockstep stopped, and a downtime that includes the
//! crashes. A plain restart (SIGTERM) afterwards keeps the endpoint on green.

mod api_support;
#[path = "common/cli.rs"]
mod cli;
#[path = "common/crash.rs"]
mod crash;
#[path = "common/pg.rs"]
mod pg;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use api_support::{ServeProcess, free_port, tokens_file};
use crash::{Acked, await_failpoint_nth, direct_write, remote, run_json, version_via, writer};
use serde_json::Value;

const SCHEMA: &str = "
CREATE TABLE payments (id bigserial PRIMARY KEY, v bigint NOT NULL UNIQUE);
INSERT INTO payments (v) SELECT -g FROM generate_series(1, 500) g;";

struct Rig {
    db: cli::Db,
    tokens: PathBuf,
    stderr: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn start(&self, failpoint: Option<&str>) -> ServeProcess {
        ServeProcess::start_with(
            self.db.path(),
            &self.tokens,
            self.port,
            failpoint,
            Some(&self.stderr),
        )
    }
}

/// Kill points that leave clients parked at the endpoint: they are refused from the kill to
/// the restart, and the run's downtime must say so.
const PARKED: [&str; 8] = [
    "b5:parked",
    "b5:drained",
    "b5:fenced",
    "b5:marker",
    "b5:marked",
    "b5:carried",
    "b5:retired",
    "b5:flipped",
];

/// Kill points after which green serves (the flip was recorded).
const FLIPPED: [&str; 2] = ["b5:flipped", "b5:resumed"];

/// Before the flip: the earlier steps, and a restart stopped before the driver acts (so the
/// restarted endpoint is seen serving blue), twice; then the flip recorded, then B7.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b9_a_switchover_killed_at_every_step_before_and_at_the_flip_loses_nothing() {
    kill_chain(
        &[
            "before-act:B5",
            "b5:parked",
            "b5:drained",
            "b5:fenced",
            "before-act:B5",
            "b5:marker",
            "b5:marked",
            "b5:carried",
            "b5:retired",
            "before-act:B5",
            "b5:flipped",
            "before-act:B7",
        ],
        8,
    )
    .await;
}

/// Just after the flip, with clients writing on green, then during B6/B7.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b9_a_switchover_killed_just_after_the_flip_and_in_b7_keeps_green_serving() {
    kill_chain(&["b5:resumed", "before-act:B7"], 1).await;
}

/// One run, `serve` killed at each of `points` in turn (each armed in the `serve` started
/// after the previous kill), then left to complete; `lost_tries` parks at least are lost.
async fn kill_chain(points: &[&str], lost_tries: u64) {
    let (blue, green) = pg::pair_with("pay", SCHEMA).await;
    let blue_dsn = pg::dsn(&blue, "pay");
    let green_dsn = pg::green_as_blue(&blue, &green, "pay");

    let db = cli::Db::virtual_at("2026-01-05T09:00:00Z");
    db.pg_service("pay-prod", "payments", &[]);
    db.ok(&["release", "publish", "--type", "pg", "17.2"]);
    let endpoint = format!("127.0.0.1:{}", free_port());
    db.ok(&[
        "pg",
        "register",
        "--project",
        "pay-prod",
        "payments",
        "--blue",
        blue_dsn.expose(),
        "--green",
        green_dsn.expose(),
        "--endpoint",
        &endpoint,
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let rig = Rig {
        tokens: tokens_file(dir.path()),
        stderr: dir.path().join("serve.log"),
        port: free_port(),
        db,
        _dir: dir,
    };
    let url = format!("http://127.0.0.1:{}", rig.port);
    let mut serve = rig.start(None);
    let via = pg::via(endpoint.parse().expect("addr"), &blue, "pay");

    let started = remote(
        &url,
        &[
            "--json",
            "run",
            "start",
            "--project",
            "pay-prod",
            "payments",
            "--target-version",
            "17",
        ],
    )
    .expect("run start");
    let started: Value = serde_json::from_str(&started.stdout).expect("json");
    let id = started["events"][0]["run_id"]
        .as_str()
        .expect("run id")
        .to_string();
    let acked = Arc::new(Acked::default());
    let next = Arc::new(AtomicI64::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    writer(via.clone(), acked.clone(), next.clone(), stop.clone());
    let mut run = run_json(&url, &id);
    for _ in 0..60 {
        if run["status"] == "waiting_for_operator" {
            break;
        }
        let _ = remote(&url, &["clock", "advance", "1m"]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        run = run_json(&url, &id);
    }
    assert_eq!(run["status"], "waiting_for_operator", "{run:#}");
    assert_eq!(run["sides"]["serving"], "blue", "{run:#}");

    serve.kill();
    serve = rig.start(Some(points[0]));
    let r = remote(&url, &["run", "switchover", &id]).expect("run switchover");
    assert_eq!(r.code, 0, "{r:?}");
    let mut refused_ms = 0u128;
    let mut flipped = false;
    let mut direct: Vec<(i64, i64)> = Vec::new();
    for (i, point) in points.iter().enumerate() {
        await_failpoint_nth(
            &rig.stderr,
            point,
            &url,
            *point == "before-act:B7",
            i,
            points,
        );
        let frozen_run = run_json(&url, &id);
        if *point == "b5:fenced" {
            // The fence holds against a client that asks for a read-write transaction.
            let e = direct_write(&blue_dsn, -10_000).await.expect_err("fenced");
            assert!(e.contains("lock"), "{e}");
            assert!(
                frozen_run["sides"]["blue"]
                    .as_str()
                    .is_some_and(|b| b.contains("ends by itself")),
                "{frozen_run:#}"
            );
        }
        if *point == "b5:retired" {
            let e = direct_write(&blue_dsn, -10_001).await.expect_err("retired");
            assert!(e.contains(&format!("retired by lockstep run {id}")), "{e}");
        }
        let killed = Instant::now();
        serve.kill();
        match *point {
            // Before the flip was recorded, the fence ended with lockstep: blue takes writes
            // again by itself, within a bounded time, from a client that bypasses the endpoint.
            "b5:parked" | "b5:drained" | "b5:fenced" | "b5:marker" | "b5:marked" | "b5:carried" => {
                let v = -20_000 - i64::try_from(i).expect("small");
                let mut got = Err(String::new());
                for _ in 0..50 {
                    got = direct_write(&blue_dsn, v).await;
                    if got.is_ok() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let row_id =
                    got.unwrap_or_else(|e| panic!("blue never took writes after {point}: {e}"));
                eprintln!(
                    "after {point}: blue took a direct write {:?} after the kill",
                    killed.elapsed()
                );
                // With lockstep down, `run get` on its database says nothing drives the run,
                // and that blue's fence went with it.
                let text = rig.db.ok(&["run", "get", &id]);
                assert!(
                    text.contains("no `lockstep serve` holds this database")
                        && text.contains("writable: the fence ended with the stopped lockstep"),
                    "{text}"
                );
                direct.push((v, row_id));
            }
            // Retired but the flip not recorded: blue stays read-only until lockstep is back
            // (the few milliseconds between the two; the re-run lifts it and starts over).
            // Once the flip is recorded, blue is retired for good.
            "b5:retired" | "b5:flipped" | "b5:resumed" => {
                let e = direct_write(&blue_dsn, -30_000).await.expect_err("retired");
                assert!(e.contains("retired by lockstep"), "{e}");
                // With lockstep down, `run get` on its database says which side serves.
                let seen = rig.db.json(&["run", "get", &id]);
                let expected = if *point == "b5:retired" {
                    "blue"
                } else {
                    "green"
                };
                assert_eq!(
                    seen["sides"]["serving"], expected,
                    "after {point}: {seen:#}"
                );
            }
            _ => {}
        }
        flipped |= FLIPPED.contains(point);
        let next_point = points.get(i + 1).copied();
        serve = rig.start(next_point);
        if PARKED.contains(point) {
            refused_ms += killed.elapsed().as_millis();
        }
        // With the driver stopped before it acts, nothing moves the endpoint: it opened in
        // front of the side the record says serves.
        if next_point.is_some_and(|p| p.starts_with("before-act")) {
            let version = version_via(&via).await;
            let expected = if flipped { "17" } else { "15" };
            assert!(
                version.starts_with(expected),
                "after a kill at {point} the endpoint serves {version}"
            );
            eprintln!("killed at {point}; restarted, the endpoint serves {version}");
            // The newly started endpoint takes writes, on the side that serves; after a kill
            // between the retirement and its record, not until the driver lifts it.
            let v = -40_000 - i64::try_from(i).expect("small");
            let client = pg::connect_dsn(&via).await;
            let wrote = client
                .query_one("INSERT INTO payments (v) VALUES ($1) RETURNING id", &[&v])
                .await;
            if *point == "b5:retired" {
                let e = wrote.expect_err("blue is still retired until the driver acts");
                // SQLSTATE 25006: read-only by the retired database's default.
                assert!(format!("{e:?}").contains("E25006"), "{e:?}");
            } else {
                let row = wrote
                    .unwrap_or_else(|e| panic!("no write through the endpoint after {point}: {e}"));
                direct.push((v, row.get(0)));
            }
        }
    }
    // The last restart runs to the end.
    for _ in 0..60 {
        run = run_json(&url, &id);
        if run["status"] == "completed" {
            break;
        }
        let _ = remote(&url, &["clock", "advance", "10m"]);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(run["status"], "completed", "{run:#}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Every acknowledged row is on green, with the id it was acknowledged with.
    let mut rows = acked.rows.lock().expect("acked").clone();
    rows.extend(direct.iter().copied());
    let on_green: HashMap<i64, i64> = pg::connect_dsn(&green_dsn)
        .await
        .query("SELECT v, id FROM payments", &[])
        .await
        .expect("green rows")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let missing: Vec<&(i64, i64)> = rows
        .iter()
        .filter(|(v, id)| on_green.get(v) != Some(id))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not on green: {missing:?}"
    );
    let ids: HashSet<i64> = rows.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids.len(), rows.len(), "an id was handed out twice");
    let max_id = rows.iter().map(|(_, id)| *id).max().unwrap_or(0);
    let last = pg::count(
        &pg::connect_dsn(&green_dsn).await,
        "SELECT last_value FROM payments_id_seq",
    )
    .await;
    assert!(
        last >= max_id,
        "green's sequence {last} is behind id {max_id}"
    );
    assert!(version_via(&via).await.starts_with("17"));

    // The run says what happened: completed, on green, the crashes, and their downtime.
    assert_eq!(run["sides"]["serving"], "green", "{run:#}");
    let crashes = run["interruptions"].as_array().cloned().unwrap_or_default();
    assert!(!crashes.is_empty(), "{run:#}");
    let b5 = crashes
        .iter()
        .find(|c| c[0].as_str().is_some_and(|k| k.contains("/B5/")))
        .expect("B5's crashes are recorded");
    assert!(b5[1]["lost_tries"].as_u64() >= Some(lost_tries), "{b5:#}");
    let downtime = run["switchover_downtime_ms"].as_u64().expect("downtime");
    eprintln!(
        "{} acknowledged rows; downtime {downtime} ms; endpoint down {refused_ms} ms in all",
        rows.len()
    );
    assert!(
        u128::from(downtime) >= refused_ms * 9 / 10,
        "downtime {downtime} ms leaves out the crashes ({refused_ms} ms refused)"
    );
    let text = remote(&url, &["run", "get", &id]).expect("run get").stdout;
    eprintln!("{text}");
    assert!(text.contains("endpoint    serves green"), "{text}");
    assert!(text.contains("crash "), "{text}");
    let events = remote(&url, &["events", "--limit", "100000"])
        .expect("events")
        .stdout;
    assert!(events.contains("stopped mid-switchover"), "{events}");

    // The registration says which side serves now.
    let listed = rig.db.ok(&["pg", "list"]);
    assert!(
        listed.contains(&format!("green serves since run {id}; blue is retired")),
        "{listed}"
    );

    // A plain restart (SIGTERM) after the completed run keeps the endpoint on green.
    serve.terminate();
    let serve = rig.start(None);
    assert!(version_via(&via).await.starts_with("17"));
    drop(serve);
}
