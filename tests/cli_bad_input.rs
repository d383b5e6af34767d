//! Bad input, tried as a new user would: every mistake gets exactly one clear line on stderr
//! (`error: …`, naming the problem and, for a rule, the rule id), exit 1 (refused, not found)
//! or 2 (bad usage), nothing on stdout, and the database exactly as it was (P10).

#[path = "common/cli.rs"]
mod cli;

use cli::{Db, Run};
use serde_json::Value;

/// Where a case runs.
#[derive(Clone, Copy, PartialEq)]
enum On {
    /// The shared fleet below; its journal must not change.
    Fleet,
    /// A path where no database exists; none may be created.
    Nothing,
}

/// Refused by a rule, not found or conflict.
const REFUSED: i32 = 1;
/// Bad usage.
const USAGE: i32 = 2;

struct Case {
    what: &'static str,
    on: On,
    args: &'static [&'static str],
    code: i32,
    /// Every one of these must appear in the error line.
    says: &'static [&'static str],
}

const fn case(
    what: &'static str,
    args: &'static [&'static str],
    code: i32,
    says: &'static [&'static str],
) -> Case {
    Case {
        what,
        on: On::Fleet,
        args,
        code,
        says,
    }
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    // Names that do not exist.
    case("unknown service", &["service", "get", "--project", "dev", "nope"], REFUSED, &["nope", "dev"]),
    case("unknown project", &["service", "get", "--project", "nope", "dev-pg"], REFUSED, &["nope", "project"]),
    case("service in an unknown project", &["service", "create", "--project", "nope", "--type", "pg", "--version", "15.8", "x"], REFUSED, &["nope", "project"]),
    case("step from an unknown service", &["step", "create", "nope", "lone-pg"], REFUSED, &["nope"]),
    case("step onto an unknown service", &["step", "create", "--source-project", "dev", "lone-pg", "--destination-project", "dev", "nope"], REFUSED, &["nope"]),
    case("step from an unknown project", &["step", "create", "--source-project", "nope", "dev-pg", "lone-pg"], REFUSED, &["nope", "project"]),
    case("validate an unknown service", &["step", "validate-for-service", "--project", "dev", "nope"], REFUSED, &["nope"]),
    case("list an unknown project", &["service", "list", "--project", "nope"], REFUSED, &["nope"]),
    // Versions and types.
    case("15.x as a version", &["service", "create", "--project", "dev", "--type", "pg", "--version", "15.x", "x"], USAGE, &["15.x", "MAJOR.MINOR"]),
    case("15.x as a release", &["release", "publish", "--type", "pg", "15.x"], USAGE, &["15.x", "MAJOR.MINOR"]),
    case("unknown type", &["service", "create", "--project", "dev", "--type", "oracle", "--version", "1.0", "x"], USAGE, &["oracle", "pg"]),
    case("release of an unknown type", &["release", "publish", "--type", "oracle", "1.0"], USAGE, &["oracle"]),
    case("release published twice", &["release", "publish", "--type", "pg", "15.8"], REFUSED, &["15.8", "already"]),
    case("service created twice", &["service", "create", "--project", "dev", "--type", "pg", "--version", "15.8", "lone-pg"], REFUSED, &["lone-pg", "already"]),
    case("upper-case project name", &["project", "create", "Dev"], REFUSED, &["Dev"]),
    // P6: the delay.
    case("delay 0", &["step", "create", "dev-pg", "lone-pg", "--auto-validation-delay-days", "0"], REFUSED, &["P6", "1", "30"]),
    case("delay 31", &["step", "create", "dev-pg", "lone-pg", "--auto-validation-delay-days", "31"], REFUSED, &["P6", "31", "30"]),
    case("standby timeout zero", &["service", "standby-timeout", "--project", "dev", "dev-pg", "0"], REFUSED, &["F2", "30..=3600"]),
    case("standby timeout seven", &["service", "standby-timeout", "--project", "dev", "dev-pg", "seven"], USAGE, &["seven", "5m"]),
    case("standby timeout of an unknown service", &["service", "standby-timeout", "--project", "dev", "nope", "120"], REFUSED, &["nope"]),
    case("delay seven", &["step", "create", "dev-pg", "lone-pg", "--auto-validation-delay-days", "seven"], USAGE, &["seven", "30"]),
    case("delay -3", &["step", "create", "dev-pg", "lone-pg", "--auto-validation-delay-days", "-3"], REFUSED, &["P6", "-3", "30"]),
    case("update to delay 0", &["step", "update", "--auto-validation-delay-days", "0", "1"], REFUSED, &["P6", "30"]),
    case("update to delay 31", &["step", "update", "--auto-validation-delay-days", "31", "1"], REFUSED, &["P6", "30"]),
    case("update to delay seven", &["step", "update", "--auto-validation-delay-days", "seven", "1"], USAGE, &["seven", "30"]),
    // P1–P4: the pipeline's shape.
    case("step onto mysql", &["step", "create", "lone-pg", "my"], REFUSED, &["P1", "mysql", "dev/my"]),
    case("step from mysql", &["step", "create", "my", "lone-pg"], REFUSED, &["P1", "mysql", "dev/my"]),
    case("two types", &["step", "create", "lone-pg", "rd"], REFUSED, &["P1", "dev/lone-pg", "dev/rd"]),
    case("second source", &["step", "create", "lone-pg", "staging-pg"], REFUSED, &["P2", "staging/staging-pg", "dev/dev-pg"]),
    case("cycle b→a after a→b", &["step", "create", "b", "a"], REFUSED, &["P3", "dev/a", "dev/b"]),
    case("cycle through a chain", &["step", "create", "prod-pg", "dev-pg"], REFUSED, &["P3", "prod/prod-pg", "dev/dev-pg"]),
    case("self-step", &["step", "create", "lone-pg", "lone-pg"], REFUSED, &["P3", "dev/lone-pg"]),
    case("fourth service below a chain", &["step", "create", "prod-pg", "extra-pg"], REFUSED, &["P4", "prod/prod-pg", "dev/extra-pg"]),
    case("fourth service above a chain", &["step", "create", "top-pg", "dev-pg"], REFUSED, &["P4", "dev/top-pg", "dev/dev-pg"]),
    case("another organization", &["step", "create", "--organization-id", "acme", "lone-pg", "extra-pg"], REFUSED, &["P5", "acme"]),
    // V2 and missing steps.
    case("validate a source of no step", &["step", "validate-for-service", "--project", "dev", "lone-pg"], REFUSED, &["V2", "dev/lone-pg"]),
    case("get a missing step", &["step", "get", "99"], REFUSED, &["99"]),
    case("update a missing step", &["step", "update", "--auto-validation-delay-days", "5", "99"], REFUSED, &["99"]),
    case("delete a missing step", &["step", "delete", "99"], REFUSED, &["99"]),
    case("step id that is not a number", &["step", "get", "one"], USAGE, &["one"]),
    // Windows, clocks and arguments.
    case("unknown day", &["service", "create", "--project", "dev", "--type", "pg", "--version", "15.8", "--maintenance-dow", "funday", "--maintenance-time", "03:00:00", "x"], USAGE, &["funday", "monday"]),
    case("impossible time", &["service", "create", "--project", "dev", "--type", "pg", "--version", "15.8", "--maintenance-dow", "monday", "--maintenance-time", "25:00:00", "x"], USAGE, &["25:00:00"]),
    case("day without a time", &["service", "create", "--project", "dev", "--type", "pg", "--version", "15.8", "--maintenance-dow", "monday", "x"], USAGE, &["--maintenance-time"]),
    case("service without a type", &["service", "create", "--project", "dev", "--version", "15.8", "x"], USAGE, &["--type"]),
    case("step with one service", &["step", "create", "dev-pg"], USAGE, &["DESTINATION"]),
    case("bad duration", &["clock", "advance", "3x"], USAGE, &["3x"]),
    case("unknown command", &["step", "frob"], USAGE, &["frob"]),
    case("init over a database", &["init", "--virtual-clock"], REFUSED, &["already"]),
    Case { what: "bad --at", on: On::Nothing, args: &["init", "--virtual-clock", "--at", "yesterday"], code: USAGE, says: &["yesterday", "RFC 3339"] },
    Case { what: "--at without --virtual-clock", on: On::Nothing, args: &["init", "--at", "2026-01-05T00:00:00Z"], code: USAGE, says: &["--virtual-clock"] },
    Case { what: "missing database", on: On::Nothing, args: &["step", "list"], code: REFUSED, says: &["no lockstep database", "init"] },
    Case { what: "missing database, events", on: On::Nothing, args: &["events", "--json"], code: REFUSED, says: &["no lockstep database"] },
];

/// A fleet to make mistakes on: a 2-step pg chain dev-pg → staging-pg → prod-pg, a 1-step
/// chain a → b, lone pg services, a mysql and a redis.
fn fleet() -> Db {
    let db = Db::virtual_at("2026-01-05T00:00:00Z");
    for p in ["dev", "staging", "prod"] {
        db.ok(&["project", "create", p]);
    }
    db.ok(&["release", "publish", "--type", "pg", "15.8"]);
    let service = |project: &str, ty: &str, version: &str, name: &str| {
        db.ok(&[
            "service",
            "create",
            "--project",
            project,
            "--type",
            ty,
            "--version",
            version,
            name,
        ]);
    };
    service("dev", "pg", "15.8", "dev-pg");
    service("staging", "pg", "15.8", "staging-pg");
    service("prod", "pg", "15.8", "prod-pg");
    for name in ["lone-pg", "top-pg", "extra-pg", "a", "b"] {
        service("dev", "pg", "15.8", name);
    }
    service("dev", "mysql", "8.0.39", "my");
    service("dev", "redis", "7.2.4", "rd");
    db.ok(&[
        "step",
        "create",
        "dev-pg",
        "staging-pg",
        "--auto-validation-delay-days",
        "3",
    ]);
    db.ok(&["step", "create", "staging-pg", "prod-pg"]);
    db.ok(&["step", "create", "a", "b"]);
    db
}

/// What is wrong with one run, if anything.
fn judge(case: &Case, r: &Run) -> Vec<String> {
    let mut wrong = Vec::new();
    if r.code != case.code {
        wrong.push(format!("exit {} (want {})", r.code, case.code));
    }
    if !r.stdout.is_empty() {
        wrong.push(format!("stdout not empty: {:?}", r.stdout));
    }
    let lines: Vec<&str> = r.stderr.lines().collect();
    if lines.len() != 1 {
        wrong.push(format!("{} lines on stderr (want 1)", lines.len()));
    }
    let first = lines.first().copied().unwrap_or("");
    if !first.starts_with("error: ") || first.trim() == "error:" {
        wrong.push("stderr does not start with a non-empty `error: `".into());
    }
    for word in case.says {
        if !first.contains(word) {
            wrong.push(format!("error does not say {word:?}"));
        }
    }
    wrong
}

/// The state that must not move: the whole journal and the clock.
fn state(db: &Db) -> (Vec<Value>, Value) {
    (db.events(), db.json(&["clock", "show"]))
}

#[test]
fn p10_bad_input_is_one_clear_line_and_changes_nothing() {
    let db = fleet();
    let mut failures = Vec::new();
    for case in CASES {
        let (r, changed) = match case.on {
            On::Fleet => {
                let before = state(&db);
                let r = db.run(case.args);
                let after = state(&db);
                (
                    r,
                    (before != after).then(|| "the database changed".to_string()),
                )
            }
            On::Nothing => {
                let fresh = Db::uninitialised();
                let r = fresh.run(case.args);
                let created = fresh.path().exists();
                (
                    r,
                    created.then(|| "a database file was created".to_string()),
                )
            }
        };
        let mut wrong = judge(case, &r);
        wrong.extend(changed);
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: `lockstep {}`\n    {}\n    stderr: {:?}",
                case.what,
                case.args.join(" "),
                wrong.join("; "),
                r.stderr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs were mishandled:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// V2: validating a version that is already validated is a no-op that says so.
#[test]
fn v2_validating_an_already_validated_version_is_a_no_op() {
    let db = fleet();
    db.ok(&["release", "publish", "--type", "pg", "15.9"]);
    db.ok(&["service", "maintenance-start", "--project", "dev", "dev-pg"]);
    db.advance("1h");
    assert_eq!(db.service("dev", "dev-pg")["version"], "15.9");
    let validate = [
        "--as",
        "alice",
        "step",
        "validate-for-service",
        "--project",
        "dev",
        "dev-pg",
    ];
    db.ok(&validate);
    let before = state(&db);
    let validated = before
        .0
        .iter()
        .filter(|e| e["type"] == "version_validated")
        .count();
    assert_eq!(validated, 1);

    let r = db.run(&validate);
    assert_eq!(r.code, 0, "{r:?}");
    let said = format!("{}{}", r.stdout, r.stderr);
    assert!(said.contains("already validated"), "says so: {r:?}");
    assert!(said.contains("15.9"), "names the version: {r:?}");
    assert_eq!(state(&db), before, "no new event");

    // A service whose version was validated when its step was created (P7) is the same no-op.
    let before = state(&db);
    let r = db.run(&[
        "step",
        "validate-for-service",
        "--project",
        "staging",
        "staging-pg",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("already validated"),
        "{r:?}"
    );
    assert_eq!(state(&db), before, "no new event");
}
