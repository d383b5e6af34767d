//! Drives the real `lockstep` binary: every call is a separate process on a temporary database.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tempfile::TempDir;

/// A temporary lockstep database; every method runs one `lockstep` process against it.
pub struct Db {
    _dir: TempDir,
    path: PathBuf,
}

/// The outcome of one process: exit code and both streams as text.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `lockstep` with exactly these arguments (no `--db` added), in a clean environment.
pub fn lockstep(args: &[&str]) -> Run {
    let mut cmd = Command::cargo_bin("lockstep").expect("the lockstep binary");
    cmd.env_remove("LOCKSTEP_DB")
        .env_remove("LOCKSTEP_USER")
        .env("USER", "tester")
        .args(args);
    cmd.output().expect("lockstep runs").into()
}

/// Parses an RFC 3339 instant.
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("'{text}' is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// Reads an instant from a JSON field; panics when it is missing or null.
pub fn time(v: &Value) -> DateTime<Utc> {
    at(v.as_str()
        .unwrap_or_else(|| panic!("expected an instant, got {v}")))
}

impl Db {
    /// A new database on a virtual clock starting at `start` (RFC 3339).
    pub fn virtual_at(start: &str) -> Db {
        let db = Db::uninitialised();
        db.ok(&["init", "--virtual-clock", "--at", start]);
        db
    }

    /// A new database on the system clock.
    pub fn system() -> Db {
        let db = Db::uninitialised();
        db.ok(&["init"]);
        db
    }

    /// A path for a database that does not exist yet.
    pub fn uninitialised() -> Db {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("lockstep.db");
        Db { _dir: dir, path }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `lockstep --db PATH ARGS…`.
    pub fn run(&self, args: &[&str]) -> Run {
        let db = self.path.to_str().expect("a UTF-8 path");
        let mut all = vec!["--db", db];
        all.extend_from_slice(args);
        lockstep(&all)
    }

    /// Creates `project` and a pg 15.8 service `name` in it, with `extra` options.
    pub fn pg_service(&self, project: &str, name: &str, extra: &[&str]) {
        self.ok(&["project", "create", project]);
        let mut args = vec![
            "service",
            "create",
            "--project",
            project,
            "--type",
            "pg",
            "--version",
            "15.8",
        ];
        args.extend_from_slice(extra);
        args.push(name);
        self.ok(&args);
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code,
            0,
            "`lockstep {}` failed: {}{}",
            args.join(" "),
            r.stdout,
            r.stderr
        );
        r.stdout
    }

    /// Runs a read with `--json` and parses it.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.ok(&all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("`lockstep {}` printed no JSON ({e}): {out}", all.join(" ")))
    }

    /// The full journal (V9).
    pub fn events(&self) -> Vec<Value> {
        match self.json(&["events", "--limit", "1000000"]) {
            Value::Array(events) => events,
            other => panic!("events --json is not a list: {other}"),
        }
    }

    /// The virtual clock's instant.
    pub fn now(&self) -> DateTime<Utc> {
        time(&self.json(&["clock", "show"])["now"])
    }

    /// `clock advance` by a duration such as `90m`.
    pub fn advance(&self, by: &str) {
        self.ok(&["clock", "advance", by]);
    }

    /// `clock advance` up to exactly `target` (never backwards).
    pub fn advance_to(&self, target: DateTime<Utc>) {
        let secs = (target - self.now()).num_seconds();
        assert!(secs >= 0, "cannot move the clock back to {target}");
        if secs > 0 {
            self.advance(&format!("{secs}s"));
        }
        assert_eq!(self.now(), target);
    }

    /// `service get --json`.
    pub fn service(&self, project: &str, name: &str) -> Value {
        self.json(&["service", "get", "--project", project, name])
    }

    /// `step list --json`, the list itself.
    pub fn steps(&self) -> Vec<Value> {
        match self.json(&["step", "list"]).get("steps") {
            Some(Value::Array(steps)) => steps.clone(),
            other => panic!("step list --json has no \"steps\" list: {other:?}"),
        }
    }

    /// One step from `step list --json`, by id.
    pub fn step(&self, id: u64) -> Value {
        self.steps()
            .into_iter()
            .find(|s| s["step_id"] == id)
            .unwrap_or_else(|| panic!("no step {id} in step list"))
    }
}
