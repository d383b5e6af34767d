//! The journal for real: a SQLite file, killed processes, reopened databases, two engines on
//! one file.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use lockstep::engine::{ClockKind, Engine, LocalEngine};
use lockstep::model::{
    Command, Event, EventKind, MaintenanceWindow, Plan, ServiceKey, ServiceType, State,
};

fn monday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .expect("date")
}

fn key(p: &str, n: &str) -> ServiceKey {
    ServiceKey::new(p, n)
}

async fn ok(engine: &dyn Engine, cmd: Command) -> Vec<Event> {
    let text = format!("{cmd:?}");
    match engine.execute("tester", cmd).await {
        Ok(r) => r.events,
        Err(e) => panic!("{text} refused: {e}"),
    }
}

/// Projects and a fan-out pipeline dev → eu, dev → na, all on pg 15.8.
async fn fan_out(engine: &dyn Engine) {
    ok(
        engine,
        Command::CreateProject {
            name: "p".into(),
            organization_id: None,
        },
    )
    .await;
    ok(
        engine,
        Command::PublishRelease {
            service_type: ServiceType::Pg,
            version: "15.8".parse().unwrap(),
            critical: false,
        },
    )
    .await;
    for name in ["dev", "eu", "na"] {
        ok(
            engine,
            Command::CreateService {
                service: key("p", name),
                service_type: ServiceType::Pg,
                version: "15.8".parse().unwrap(),
                plan: Some(Plan::Startup),
                maintenance: Some(MaintenanceWindow {
                    dow: chrono::Weekday::Mon,
                    time: chrono::NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
                }),
            },
        )
        .await;
    }
    for dst in ["eu", "na"] {
        ok(
            engine,
            Command::CreateStep {
                organization_id: None,
                source: key("p", "dev"),
                destination: key("p", dst),
                auto_validation_delay_days: Some(3),
            },
        )
        .await;
    }
}

fn state_json(state: &State) -> String {
    serde_json::to_string(state).expect("state serializes")
}

/// The child side of the kill test: streams commands and prints every acknowledged event.
/// It runs only when the parent test starts this test binary with `LOCKSTEP_KILL_CHILD` set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_child_writer() {
    let Ok(db) = std::env::var("LOCKSTEP_KILL_CHILD") else {
        return;
    };
    let engine = std::sync::Arc::new(LocalEngine::open(Path::new(&db)).expect("child opens"));
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let mut tasks = Vec::new();
    // Eight writers create projects concurrently (exercising group commit) …
    for t in 0..8 {
        let (engine, out) = (engine.clone(), out.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let cmd = Command::CreateProject {
                    name: format!("w{t}-{n}"),
                    organization_id: None,
                };
                let r = engine.execute("writer", cmd).await.expect("create project");
                let mut o = out.lock().expect("stdout");
                for e in r.events {
                    writeln!(o, "ACK {}", serde_json::to_string(&e).expect("json")).expect("write");
                }
                o.flush().expect("flush");
            }
        }));
    }
    // … while one validates the fan-out source again and again: two events per validation.
    let (e2, o2) = (engine.clone(), out.clone());
    tasks.push(tokio::spawn(async move {
        for i in 9.. {
            let version = format!("15.{i}").parse().expect("version");
            let cmds = [
                Command::PublishRelease {
                    service_type: ServiceType::Pg,
                    version,
                    critical: false,
                },
                Command::MaintenanceStart {
                    service: key("p", "dev"),
                },
            ];
            let mut acked = Vec::new();
            for c in cmds {
                acked.extend(
                    e2.execute("writer", c)
                        .await
                        .expect("release/maintenance")
                        .events,
                );
            }
            acked.extend(
                e2.advance_clock(Duration::minutes(31))
                    .await
                    .expect("advance")
                    .events,
            );
            let v = Command::ValidateForService {
                service: key("p", "dev"),
                comment: Some(format!("round {i}")),
            };
            acked.extend(e2.execute("writer", v).await.expect("validate").events);
            let mut o = o2.lock().expect("stdout");
            for e in acked {
                writeln!(o, "ACK {}", serde_json::to_string(&e).expect("json")).expect("write");
            }
            o.flush().expect("flush");
        }
    }));
    for t in tasks {
        let _ = t.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing_acknowledged_and_applies_nothing_by_half() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("kill.db");
    {
        let engine = LocalEngine::create(&db, ClockKind::Virtual, monday()).expect("create");
        fan_out(&engine).await;
    }
    let mut child = Process::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "kill_child_writer",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("LOCKSTEP_KILL_CHILD", &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child starts");
    let reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut acked: Vec<Event> = Vec::new();
    let started = Instant::now();
    for line in reader.lines() {
        let line = line.expect("line");
        if let Some(json) = line.strip_prefix("ACK ") {
            acked.push(serde_json::from_str(json).expect("acked event"));
        }
        if acked.len() >= 3000 || started.elapsed() > StdDuration::from_secs(60) {
            break;
        }
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(
        acked.len() >= 1000,
        "the child acknowledged only {} events",
        acked.len()
    );

    let engine = LocalEngine::open(&db).expect("reopen after kill");
    let journal = engine.events(0, usize::MAX).await.expect("journal");
    let by_seq: std::collections::HashMap<u64, &Event> =
        journal.iter().map(|e| (e.seq, e)).collect();
    for e in &acked {
        assert_eq!(
            by_seq.get(&e.seq),
            Some(&e),
            "acknowledged event {} missing or different",
            e.seq
        );
    }
    // Ids are dense: no hole, nothing half-written.
    for (i, e) in journal.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
    }
    // A validation of the fan-out source is two events: both or neither.
    let mut per_round = std::collections::HashMap::<String, usize>::new();
    for e in &journal {
        if let EventKind::VersionValidated {
            comment: Some(c), ..
        } = &e.kind
        {
            *per_round.entry(c.clone()).or_default() += 1;
        }
    }
    assert!(
        !per_round.is_empty(),
        "the validating writer never got through a round"
    );
    for (round, n) in per_round {
        assert_eq!(n, 2, "{round} was applied by half");
    }
    // The reopened state is the fold of the journal.
    let mut folded = State::new();
    for e in &journal {
        folded.apply(e);
    }
    let snap = engine.snapshot().await.expect("snapshot");
    assert_eq!(state_json(&snap.state), state_json(&folded));
}

#[tokio::test]
async fn reopening_replays_to_the_same_state_with_and_without_a_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("replay.db");
    let before = {
        let engine = LocalEngine::create(&db, ClockKind::Virtual, monday()).expect("create");
        fan_out(&engine).await;
        // Enough events to cross the snapshot interval.
        let mut pending = Vec::new();
        for n in 0..10_050 {
            pending.push(engine.execute(
                "t",
                Command::CreateProject {
                    name: format!("x{n}"),
                    organization_id: None,
                },
            ));
        }
        for r in futures::future::join_all(pending).await {
            r.expect("create project");
        }
        ok(
            &engine,
            Command::PublishRelease {
                service_type: ServiceType::Pg,
                version: "15.9".parse().unwrap(),
                critical: false,
            },
        )
        .await;
        engine
            .advance_clock(Duration::days(8))
            .await
            .expect("advance");
        engine.snapshot().await.expect("snapshot").state
    };
    let engine = LocalEngine::open(&db).expect("reopen");
    let after = engine.snapshot().await.expect("snapshot").state;
    assert!(after.head > 10_000);
    assert_eq!(state_json(&after), state_json(&before));
    assert_eq!(
        after.services[&key("p", "eu")].version,
        "15.9".parse().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_on_one_file_see_each_other_and_record_a_deadline_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("shared.db");
    let a = LocalEngine::create(&db, ClockKind::Virtual, monday()).expect("create");
    let b = LocalEngine::open(&db).expect("second engine");
    let mut seen_by_b = b.subscribe();
    fan_out(&a).await;
    // B picks up A's events within a second.
    let deadline = Instant::now() + StdDuration::from_secs(3);
    let mut count = 0;
    while count < 7 && Instant::now() < deadline {
        if let Ok(Ok(_)) =
            tokio::time::timeout(StdDuration::from_millis(500), seen_by_b.recv()).await
        {
            count += 1;
        }
    }
    assert_eq!(count, 7, "B saw {count} of A's 7 events");
    ok(
        &b,
        Command::PublishRelease {
            service_type: ServiceType::Pg,
            version: "15.9".parse().unwrap(),
            critical: false,
        },
    )
    .await;
    // Both advance past dev's window and the auto-validation three days later.
    a.advance_clock(Duration::days(1))
        .await
        .expect("a advances");
    // B reads A's clock move at once, not a copy of the settings it read before.
    let a_now = a.clock().await.expect("a's clock").now;
    assert_eq!(b.clock().await.expect("b's clock").now, a_now);
    b.advance_clock(Duration::days(3))
        .await
        .expect("b advances");
    assert_eq!(
        a.clock().await.expect("a's clock").now,
        a_now + Duration::days(3)
    );
    a.advance_clock(Duration::hours(1)).await.expect("a again");
    let journal = a.events(0, usize::MAX).await.expect("journal");
    let validations = journal
        .iter()
        .filter(|e| matches!(e.kind, EventKind::VersionValidated { .. }))
        .count();
    assert_eq!(
        validations, 2,
        "one auto-validation per step, recorded once"
    );
    let starts = journal.iter().filter(|e| matches!(&e.kind, EventKind::UpdateStarted { service, .. } if service.name == "dev")).count();
    assert_eq!(starts, 1);
}

#[tokio::test]
async fn clock_advance_stamps_each_deadline_with_its_own_due_time_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("order.db");
    let engine = LocalEngine::create(&db, ClockKind::Virtual, monday()).expect("create");
    fan_out(&engine).await;
    ok(
        &engine,
        Command::PublishRelease {
            service_type: ServiceType::Pg,
            version: "15.9".parse().unwrap(),
            critical: false,
        },
    )
    .await;
    let r = engine
        .advance_clock(Duration::days(14))
        .await
        .expect("advance");
    let times: Vec<_> = r.events.iter().map(|e| e.at).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "deadlines run in time order");
    let window = monday() + Duration::hours(10);
    assert_eq!(
        r.events[0].at, window,
        "dev's window opens at Monday 10:00 exactly"
    );
    let applied = r
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::UpdateApplied { .. }))
        .expect("dev updated")
        .at;
    let validated: Vec<_> = r
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::VersionValidated { .. }))
        .map(|e| e.at)
        .collect();
    assert_eq!(validated, vec![applied + Duration::days(3); 2]);
    let clock = engine.clock().await.expect("clock");
    assert_eq!(clock.now, monday() + Duration::days(14));
}

#[tokio::test]
async fn advancing_a_system_clock_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = LocalEngine::create(&dir.path().join("sys.db"), ClockKind::System, Utc::now())
        .expect("create");
    let e = engine
        .advance_clock(Duration::hours(1))
        .await
        .expect_err("refused");
    assert!(e.to_string().contains("system clock"), "{e}");
}
