//! The seed's normative three-environment scenario (SPEC §3), driven through the real `lockstep`
//! binary: every command is a separate process against one database on a virtual clock.
//!
//! Fleet: projects dev, staging and prod, each with a `pg` service on 15.8; windows dev Monday
//! 10:00, staging Tuesday 03:00, prod Wednesday 03:00 (UTC); steps dev→staging (3 days) and
//! staging→prod (7 days); then 15.9 is published. The clock starts on Monday 2026-01-05 00:00.

#[path = "common/cli.rs"]
mod cli;

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc, Weekday};
use cli::{Db, at, time};
use serde_json::Value;

const START: &str = "2026-01-05T00:00:00Z"; // a Monday

/// The fleet as the scenario names it.
struct Fleet {
    db: Db,
    /// dev → staging, 3 days.
    s1: u64,
    /// staging → prod, 7 days.
    s2: u64,
    /// The first step's delay in days.
    d1: i64,
}

fn mins(n: i64) -> Duration {
    Duration::minutes(n)
}

/// The first window (`dow` at `hour`:00 UTC) strictly after `after`.
fn next_window(after: DateTime<Utc>, dow: Weekday, hour: u32) -> DateTime<Utc> {
    let time = NaiveTime::from_hms_opt(hour, 0, 0).expect("a time");
    (0..=7)
        .map(|d| {
            (after.date_naive() + Duration::days(d))
                .and_time(time)
                .and_utc()
        })
        .find(|t| t.weekday() == dow && *t > after)
        .expect("a window within a week")
}

fn dev_window(after: DateTime<Utc>) -> DateTime<Utc> {
    next_window(after, Weekday::Mon, 10)
}
fn staging_window(after: DateTime<Utc>) -> DateTime<Utc> {
    next_window(after, Weekday::Tue, 3)
}
fn prod_window(after: DateTime<Utc>) -> DateTime<Utc> {
    next_window(after, Weekday::Wed, 3)
}

impl Fleet {
    /// Builds the scenario's fleet with steps of `d1` and `d2` days, and publishes 15.9.
    fn new(d1: u32, d2: u32) -> Fleet {
        let db = Db::virtual_at(START);
        for p in ["dev", "staging", "prod"] {
            db.ok(&["project", "create", p]);
        }
        db.ok(&["release", "publish", "--type", "pg", "15.8"]);
        for (p, plan, dow, t) in [
            ("dev", "startup", "monday", "10:00:00"),
            ("staging", "business", "tuesday", "03:00:00"),
            ("prod", "premium", "wednesday", "03:00:00"),
        ] {
            db.ok(&[
                "service",
                "create",
                "--project",
                p,
                "--type",
                "pg",
                "--version",
                "15.8",
                "--plan",
                plan,
                "--maintenance-dow",
                dow,
                "--maintenance-time",
                t,
                "pg",
            ]);
        }
        let step = |src: &str, dst: &str, days: u32| -> u64 {
            let v = db.json(&[
                "step",
                "create",
                "--source-project",
                src,
                "pg",
                "--destination-project",
                dst,
                "pg",
                "--auto-validation-delay-days",
                &days.to_string(),
            ]);
            assert_eq!(v["source_project_name"], src);
            assert_eq!(v["destination_project_name"], dst);
            assert_eq!(v["auto_validation_delay_days"], days);
            assert_eq!(v["last_validation"], Value::Null);
            assert_eq!(v["auto_validation_at"], Value::Null);
            v["step_id"].as_u64().expect("a step_id")
        };
        let s1 = step("dev", "staging", d1);
        let s2 = step("staging", "prod", d2);
        db.ok(&["release", "publish", "--type", "pg", "15.9"]);
        Fleet {
            db,
            s1,
            s2,
            d1: i64::from(d1),
        }
    }

    fn svc(&self, env: &str) -> Value {
        self.db.service(env, "pg")
    }

    fn version(&self, env: &str) -> String {
        self.svc(env)["version"].as_str().unwrap_or("?").to_string()
    }

    /// V1: `env` runs 15.8, applies nothing, and is held by `step` on 15.8.
    fn assert_held(&self, env: &str, step: u64) {
        let s = self.svc(env);
        assert_eq!(s["version"], "15.8", "{env} at {}: {s}", self.db.now());
        assert_eq!(s["updating"], Value::Null, "{env}: {s}");
        assert_eq!(s["pinned_version"], "15.8", "{env}: {s}");
        assert_eq!(s["pending_version"], Value::Null, "{env}: {s}");
        assert_eq!(s["held_by_step_id"], step, "{env}: {s}");
    }

    /// Runs `env` through its window `w`: still 15.8 a minute before; applying 15.9 a minute
    /// after; done inside the window + [10, 30] minutes (a minor update). Returns `updated_at`.
    fn assert_updates_at(&self, env: &str, w: DateTime<Utc>) -> DateTime<Utc> {
        self.db.advance_to(w - mins(1));
        let s = self.svc(env);
        assert_eq!(s["version"], "15.8", "{env} before its window: {s}");
        assert_eq!(s["updating"], Value::Null, "{env} before its window: {s}");
        assert_eq!(s["pending_version"], "15.9", "{env} before its window: {s}");

        self.db.advance_to(w + mins(1));
        let s = self.svc(env);
        assert_eq!(s["state"], "updating", "{env} in its window: {s}");
        assert_eq!(s["version"], "15.8", "{env} in its window: {s}");
        let u = &s["updating"];
        assert_eq!(u["target"], "15.9", "{env}: {s}");
        assert_eq!(time(&u["started_at"]), w, "{env}: {s}");
        let finishes = time(&u["finishes_at"]);
        assert!(
            finishes >= w + mins(10) && finishes <= w + mins(30),
            "{env}: a minor update takes 10–30 min, finishes {finishes} for window {w}"
        );

        self.db.advance_to(w + mins(31));
        let s = self.svc(env);
        assert_eq!(s["version"], "15.9", "{env} after its window: {s}");
        assert_eq!(s["state"], "running", "{env}: {s}");
        assert_eq!(s["updating"], Value::Null, "{env}: {s}");
        let updated = time(&s["updated_at"]);
        assert_eq!(
            updated, finishes,
            "{env}: updated_at is when the update finished"
        );
        updated
    }

    /// The step's `auto_validation_at`, which must be set.
    fn auto_at(&self, step: u64) -> DateTime<Utc> {
        let s = self.db.step(step);
        time(&s["auto_validation_at"])
    }

    /// The `version_validated` events of step `step`.
    fn validations(&self, step: u64) -> Vec<Value> {
        self.db
            .events()
            .into_iter()
            .filter(|e| e["type"] == "version_validated" && e["step_id"] == step)
            .collect()
    }

    /// Stage 1 (both variants): dev takes 15.9 at its first window, staging and prod do not.
    /// Returns when dev received 15.9.
    fn dev_receives_15_9(&self) -> DateTime<Utc> {
        let w = dev_window(at(START));
        assert_eq!(w, at("2026-01-05T10:00:00Z"));
        self.db.advance_to(w - mins(1));
        for step in [self.s1, self.s2] {
            let s = self.db.step(step);
            assert_eq!(s["last_validation"], Value::Null, "{s}");
            assert_eq!(s["auto_validation_at"], Value::Null, "{s}");
        }
        let dev = self.svc("dev");
        assert_eq!(
            dev["pinned_version"],
            Value::Null,
            "dev has no source: {dev}"
        );
        let d = self.assert_updates_at("dev", w);
        self.assert_held("staging", self.s1);
        self.assert_held("prod", self.s2);
        let s1 = self.db.step(self.s1);
        assert_eq!(s1["source_version"], "15.9");
        assert_eq!(s1["pinned_version"], "15.8");
        assert_eq!(s1["last_validation"], Value::Null);
        assert_eq!(
            self.auto_at(self.s1),
            d + Duration::days(self.d1),
            "V3/V4: {s1}"
        );
        assert_eq!(self.db.step(self.s2)["auto_validation_at"], Value::Null);
        d
    }

    /// Stage 3 (both variants): staging received 15.9 at `staged`; nobody validates it; it is
    /// auto-validated exactly 7 days later; prod takes 15.9 at its next window after that.
    fn staging_auto_validated_then_prod(&self, staged: DateTime<Utc>) {
        let s2 = self.db.step(self.s2);
        assert_eq!(s2["source_version"], "15.9");
        assert_eq!(s2["last_validation"], Value::Null, "{s2}");
        let due = staged + Duration::days(7);
        assert_eq!(
            self.auto_at(self.s2),
            due,
            "V3: 7 days after staging got 15.9"
        );

        let pw = prod_window(due);
        let forecast = &self.svc("prod")["forecast"];
        assert_eq!(forecast["version"], "15.9", "prod forecast: {forecast}");
        assert_eq!(time(&forecast["at"]), pw, "prod forecast: {forecast}");

        // prod's own windows before the deadline pass without an update (V1).
        self.db.advance_to(prod_window(staged) + mins(45));
        self.assert_held("prod", self.s2);

        self.db.advance_to(due - Duration::seconds(1));
        self.assert_held("prod", self.s2);
        let s2 = self.db.step(self.s2);
        assert_eq!(s2["last_validation"], Value::Null, "not yet: {s2}");
        assert_eq!(time(&s2["auto_validation_at"]), due);

        self.db.advance_to(due);
        let s2 = self.db.step(self.s2);
        let lv = &s2["last_validation"];
        assert_eq!(
            time(&lv["validated_at"]),
            due,
            "V3 fires exactly at the delay: {s2}"
        );
        assert_eq!(lv["validated_by_user"], Value::Null, "V3: {s2}");
        assert_eq!(lv["comment"], Value::Null, "{s2}");
        assert_eq!(lv["version"], "15.9", "{s2}");
        assert_eq!(s2["auto_validation_at"], Value::Null, "nothing waits: {s2}");
        assert_eq!(s2["pinned_version"], "15.9");
        let prod = self.svc("prod");
        assert_eq!(prod["version"], "15.8", "{prod}");
        assert_eq!(prod["pinned_version"], "15.9", "{prod}");
        assert_eq!(prod["pending_version"], "15.9", "{prod}");
        assert_eq!(prod["held_by_step_id"], Value::Null, "{prod}");

        let done = self.assert_updates_at("prod", pw);
        assert!(done > due);
        for env in ["dev", "staging", "prod"] {
            assert_eq!(self.version(env), "15.9", "{env}");
        }
        for step in [self.s1, self.s2] {
            assert_eq!(self.db.step(step)["auto_validation_at"], Value::Null);
        }
        assert_eq!(
            self.validations(self.s2).len(),
            1,
            "one validation on step 2"
        );
    }
}

/// Variant A: dev is validated by hand (V2); staging is then auto-validated (V3).
#[test]
fn v2_three_environments_with_manual_validation_of_dev() {
    let f = Fleet::new(3, 7);
    let d = f.dev_receives_15_9();

    // staging's window passes while dev is unvalidated: staging is held (V1).
    let first_staging = staging_window(d);
    assert_eq!(first_staging, at("2026-01-06T03:00:00Z"));
    f.db.advance_to(first_staging + mins(45));
    f.assert_held("staging", f.s1);
    f.assert_held("prod", f.s2);

    // alice validates dev on Tuesday at noon, before the 3-day deadline.
    f.db.advance_to(at("2026-01-06T12:00:00Z"));
    let out = f.db.ok(&[
        "--as",
        "alice",
        "step",
        "validate-for-service",
        "--project",
        "dev",
        "pg",
        "--comment",
        "smoke tests green",
    ]);
    assert!(out.contains("15.9"), "the validation is reported: {out}");
    let s1 = f.db.step(f.s1);
    let lv = &s1["last_validation"];
    assert_eq!(time(&lv["validated_at"]), f.db.now(), "{s1}");
    assert_eq!(lv["validated_by_user"], "alice", "{s1}");
    assert_eq!(lv["comment"], "smoke tests green", "{s1}");
    assert_eq!(lv["version"], "15.9", "{s1}");
    assert_eq!(
        s1["auto_validation_at"],
        Value::Null,
        "nothing waits any more: {s1}"
    );
    assert_eq!(s1["pinned_version"], "15.9");
    let staging = f.svc("staging");
    assert_eq!(
        staging["version"], "15.8",
        "not before its next window: {staging}"
    );
    assert_eq!(staging["pinned_version"], "15.9", "{staging}");
    assert_eq!(staging["pending_version"], "15.9", "{staging}");
    assert_eq!(staging["held_by_step_id"], Value::Null, "{staging}");
    assert_eq!(time(&staging["forecast"]["at"]), staging_window(f.db.now()));
    f.assert_held("prod", f.s2);

    // The old deadline passes: no automatic validation on top of alice's.
    f.db.advance_to(d + Duration::days(3) + mins(1));
    assert_eq!(f.validations(f.s1).len(), 1);
    assert_eq!(
        f.db.step(f.s1)["last_validation"]["validated_by_user"],
        "alice"
    );
    f.assert_held("prod", f.s2);

    // staging takes 15.9 at its next window after the validation, not before.
    let w = staging_window(at("2026-01-06T12:00:00Z"));
    assert_eq!(w, at("2026-01-13T03:00:00Z"));
    let staged = f.assert_updates_at("staging", w);
    f.assert_held("prod", f.s2);
    f.staging_auto_validated_then_prod(staged);

    // V9: the history tells who did what and why.
    let events = f.db.events();
    let mine: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "version_validated" && e["step_id"] == f.s1)
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["actor"], "alice");
    assert_eq!(mine[0]["validated_by_user"], "alice");
    assert_eq!(mine[0]["comment"], "smoke tests green");
}

/// Variant B: nobody validates; both steps are auto-validated exactly at their delay (V3).
#[test]
fn v3_auto_validation_fires_exactly_at_delay() {
    let f = Fleet::new(3, 7);
    let d = f.dev_receives_15_9();
    let due = d + Duration::days(3);

    f.db.advance_to(staging_window(d) + mins(45));
    f.assert_held("staging", f.s1);

    f.db.advance_to(due - Duration::seconds(1));
    f.assert_held("staging", f.s1);
    assert_eq!(f.db.step(f.s1)["last_validation"], Value::Null);

    f.db.advance_to(due);
    let s1 = f.db.step(f.s1);
    let lv = &s1["last_validation"];
    assert_eq!(time(&lv["validated_at"]), due, "{s1}");
    assert_eq!(lv["validated_by_user"], Value::Null, "{s1}");
    assert_eq!(lv["comment"], Value::Null, "{s1}");
    assert_eq!(lv["version"], "15.9", "{s1}");
    assert_eq!(s1["auto_validation_at"], Value::Null, "{s1}");
    let auto = f.validations(f.s1);
    assert_eq!(auto.len(), 1);
    assert_eq!(auto[0]["actor"], "system");
    assert_eq!(time(&auto[0]["at"]), due);
    f.assert_held("prod", f.s2);

    let w = staging_window(due);
    assert_eq!(w, at("2026-01-13T03:00:00Z"));
    let staged = f.assert_updates_at("staging", w);
    f.assert_held("prod", f.s2);
    f.staging_auto_validated_then_prod(staged);
}

/// V1: with the longest delays, destinations stay on the pinned version through every window.
#[test]
fn v1_destination_never_passes_pinned() {
    let f = Fleet::new(30, 30);
    let d = f.dev_receives_15_9();
    assert_eq!(f.auto_at(f.s1), d + Duration::days(30));
    for week in 1..=4 {
        f.db.advance_to(at(START) + Duration::weeks(week));
        f.assert_held("staging", f.s1);
        f.assert_held("prod", f.s2);
        let s1 = f.db.step(f.s1);
        assert_eq!(s1["pinned_version"], "15.8", "week {week}: {s1}");
        assert_eq!(s1["last_validation"], Value::Null, "week {week}: {s1}");
    }
    // V8: nothing holds longer than 30 days after the source received the update.
    f.db.advance_to(d + Duration::days(30));
    assert_eq!(f.db.step(f.s1)["last_validation"]["version"], "15.9");
    assert_eq!(f.svc("staging")["pending_version"], "15.9");
}

/// P9: changing the delay recomputes the pending deadline from when the source got its update.
#[test]
fn p9_update_step_recomputes_deadline_from_source_update() {
    let f = Fleet::new(3, 7);
    let d = f.dev_receives_15_9();
    f.db.advance("1d");
    f.db.ok(&[
        "step",
        "update",
        "--auto-validation-delay-days",
        "5",
        &f.s1.to_string(),
    ]);
    let s1 = f.db.step(f.s1);
    assert_eq!(s1["auto_validation_delay_days"], 5);
    assert_eq!(
        time(&s1["auto_validation_at"]),
        d + Duration::days(5),
        "{s1}"
    );
}

/// `clock advance` on a database that runs on the system clock is refused, and changes nothing.
#[test]
fn clock_advance_refused_on_system_clock() {
    let db = Db::system();
    db.ok(&["project", "create", "dev"]);
    assert_eq!(db.json(&["clock", "show"])["kind"], "system");
    let before = db.events();
    let r = db.run(&["clock", "advance", "3d"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stdout, "", "{r:?}");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {r:?}");
    assert!(lines[0].starts_with("error: "), "{r:?}");
    assert!(lines[0].contains("system clock"), "{r:?}");
    assert!(
        lines[0].contains("--virtual-clock"),
        "says what to do: {r:?}"
    );
    assert_eq!(db.events(), before);
}

/// V9: every change is an event with a timestamp, an actor and a reason, in `events` and
/// `events --json`.
#[test]
fn v9_events_show_actor_and_reason_for_every_change() {
    let f = Fleet::new(3, 7);
    let d = f.dev_receives_15_9();
    f.db.ok(&[
        "--as",
        "bob",
        "step",
        "validate-for-service",
        "--project",
        "dev",
        "pg",
    ]);
    f.db.ok(&[
        "--as",
        "carol",
        "step",
        "update",
        "--auto-validation-delay-days",
        "6",
        &f.s2.to_string(),
    ]);
    f.db.advance_to(staging_window(d) + mins(45));
    assert_eq!(f.version("staging"), "15.9");

    let events = f.db.events();
    let mut last_seq = 0;
    let mut last_at = at(START);
    for e in &events {
        let seq = e["seq"].as_u64().unwrap_or_else(|| panic!("no seq: {e}"));
        assert!(seq > last_seq, "append-only, in order: {e}");
        last_seq = seq;
        let when = time(&e["at"]);
        assert!(when >= last_at, "in time order: {e}");
        last_at = when;
        assert!(!e["actor"].as_str().unwrap_or("").is_empty(), "actor: {e}");
        assert!(
            !e["reason"].as_str().unwrap_or("").is_empty(),
            "reason: {e}"
        );
    }
    let actor_of = |kind: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["type"] == kind)
            .map(|e| e["actor"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        actor_of("project_created"),
        ["tester"; 3],
        "$USER by default"
    );
    assert_eq!(actor_of("version_validated"), ["bob"]);
    assert_eq!(actor_of("step_updated"), ["carol"]);
    assert_eq!(actor_of("update_started"), ["system"; 2]);
    assert_eq!(actor_of("update_applied"), ["system"; 2]);
    assert_eq!(actor_of("step_created").len(), 2);
    assert_eq!(actor_of("release_published").len(), 2);

    // The human history: one line per event, each naming its actor.
    let text = f.db.ok(&["events", "--limit", "1000000"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), events.len(), "{text}");
    for (line, e) in lines.iter().zip(&events) {
        let actor = e["actor"].as_str().unwrap_or("?");
        assert!(line.contains(actor), "actor {actor} missing: {line}");
    }
    assert!(text.contains("validated by bob"), "{text}");
}
