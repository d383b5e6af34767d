//! B9 crash and resume, with the real `lockstep` binary as separate processes on a virtual
//! clock: the process doing a run's work is SIGKILLed at each phase boundary (just before the
//! driver call of that phase) and inside each phase (just after the driver acted, before its
//! report was journaled). `run resume` then carries on; the run completes, and the simulator's
//! action log shows every action performed once, the interrupted one answered from the log.

#[path = "common/cli.rs"]
mod cli;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use cli::Db;
use serde_json::Value;

const PHASES: [&str; 7] = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"];

fn fleet() -> Db {
    let db = Db::virtual_at("2026-01-05T00:00:00Z");
    db.ok(&["project", "create", "p"]);
    db.ok(&["release", "publish", "--type", "pg", "15.8"]);
    db.ok(&["release", "publish", "--type", "pg", "17.2"]);
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
        "premium",
        "orders",
    ]);
    db
}

/// Runs `lockstep ARGS` with the failpoint armed (if it still is). When the process reaches
/// it, it is SIGKILLed, the failpoint is disarmed, and `true` comes back.
fn drive(db: &Db, args: &[&str], failpoint: &mut Option<String>) -> bool {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("lockstep"));
    cmd.env_remove("LOCKSTEP_DB")
        .env_remove("LOCKSTEP_FAILPOINT")
        .env("USER", "tester")
        .arg("--db")
        .arg(db.path())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(fp) = failpoint.as_deref() {
        cmd.env("LOCKSTEP_FAILPOINT", fp);
    }
    let mut child = cmd.spawn().expect("lockstep starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut said = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("stderr line");
        if line.contains("failpoint") {
            child.kill().expect("SIGKILL");
            let status = child.wait().expect("killed process");
            assert_eq!(status.signal(), Some(9), "killed by SIGKILL");
            *failpoint = None;
            return true;
        }
        said.push_str(&line);
    }
    let status = child.wait().expect("process ends");
    assert!(
        status.success(),
        "`lockstep {}` failed: {said}",
        args.join(" ")
    );
    false
}

fn the_run(db: &Db) -> Value {
    match db.json(&["run", "list"]) {
        Value::Array(mut runs) if runs.len() == 1 => runs.remove(0),
        other => panic!("expected one run, got {other}"),
    }
}

/// Drives a whole run with the failpoint armed; a killed process is followed by `run resume`.
fn run_with_crash(failpoint: &str) -> (Db, String) {
    let db = fleet();
    let mut fp = Some(failpoint.to_string());
    let start = [
        "run",
        "start",
        "--project",
        "p",
        "orders",
        "--target-version",
        "17",
    ];
    let killed = drive(&db, &start, &mut fp);
    let id = the_run(&db)["run_id"].as_str().expect("run id").to_string();
    let step = |args: &[&str], fp: &mut Option<String>| {
        if drive(&db, args, fp) {
            db.ok(&["run", "resume", &id]);
        }
    };
    if killed {
        db.ok(&["run", "resume", &id]);
    }
    let mut switched = false;
    for _ in 0..60 {
        match the_run(&db)["status"].as_str() {
            Some("completed") => {
                assert!(fp.is_none(), "the failpoint {failpoint} was never reached");
                return (db, id);
            }
            Some("waiting_for_operator") if !switched => {
                switched = true;
                step(&["run", "switchover", &id], &mut fp);
            }
            _ => step(&["clock", "advance", "10m"], &mut fp),
        }
    }
    panic!("the run did not complete: {}", the_run(&db));
}

fn check(failpoint: &str, phase: &str) {
    let (db, id) = run_with_crash(failpoint);
    let run = db.json(&["run", "get", &id]);
    assert_eq!(run["status"], "completed", "{failpoint}");
    assert_eq!(db.service("p", "orders")["version"], "17.2");
    let events = db.events();
    assert!(
        events.iter().any(|e| e["type"] == "run_resumed"),
        "{failpoint}: the run was resumed"
    );
    let actions = match db.json(&["sim", "actions", "--run", &id]) {
        Value::Array(a) => a,
        other => panic!("sim actions: {other}"),
    };
    let performed: Vec<&str> = actions
        .iter()
        .map(|a| a["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        performed,
        [
            "prerequisites",
            "provision",
            "vacuum-analyze",
            "switchover",
            "post-switchover",
            "cleanup"
        ],
        "{failpoint}: every action performed once, none twice"
    );
    let replayed: Vec<&str> = actions
        .iter()
        .filter(|a| a["replays"].as_u64() != Some(0))
        .map(|a| a["key"].as_str().expect("key"))
        .collect();
    let killed_after_acting = failpoint.starts_with("after-act") && phase != "B4";
    if killed_after_acting {
        assert_eq!(replayed.len(), 1, "{failpoint}: {replayed:?}");
        assert!(replayed[0].contains(&format!("/{phase}/")), "{replayed:?}");
    } else {
        assert!(replayed.is_empty(), "{failpoint}: {replayed:?}");
    }
}

#[test]
fn b9_killed_at_each_phase_boundary_resumes_without_repeating_an_action() {
    for phase in PHASES {
        check(&format!("before-act:{phase}"), phase);
    }
}

#[test]
fn b9_killed_after_the_driver_acted_resumes_from_the_action_log() {
    for phase in PHASES {
        check(&format!("after-act:{phase}"), phase);
    }
}
