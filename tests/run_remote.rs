//! An upgrade run driven through `lockstep serve` and `--remote`: the server's engine lets the
//! simulated driver act (commands over HTTP travel as JSON), and a viewer may read but not act.

mod api_support;

use std::process::Command as Process;
use std::time::{Duration, Instant};

use api_support::{OPERATOR, ServeProcess, VIEWER, binary, free_port, init_db, tokens_file};
use serde_json::Value;

fn remote(url: &str, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = Process::new(binary())
        .args(["--remote", url, "--token", token])
        .args(args)
        .env_remove("LOCKSTEP_DB")
        .env_remove("LOCKSTEP_REMOTE")
        .env_remove("LOCKSTEP_TOKEN")
        .output()
        .expect("run lockstep");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(url: &str, args: &[&str]) -> String {
    let (code, out, err) = remote(url, OPERATOR, args);
    assert_eq!(code, 0, "`{}`: {err}", args.join(" "));
    out
}

fn the_run(url: &str) -> Value {
    let out = ok(url, &["--json", "run", "list"]);
    let runs: Value = serde_json::from_str(&out).expect("json");
    runs[0].clone()
}

#[test]
fn a_run_goes_through_the_server_and_a_viewer_cannot_act() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("runs.db");
    init_db(&db);
    let server = ServeProcess::start(&db, &tokens_file(dir.path()), free_port());
    let url = server.url();
    ok(&url, &["project", "create", "p"]);
    ok(&url, &["release", "publish", "--type", "pg", "15.8"]);
    ok(&url, &["release", "publish", "--type", "pg", "17.2"]);
    ok(
        &url,
        &[
            "service",
            "create",
            "--project",
            "p",
            "--type",
            "pg",
            "--version",
            "15.8",
            "orders",
        ],
    );
    ok(
        &url,
        &[
            "run",
            "start",
            "--project",
            "p",
            "orders",
            "--target-version",
            "17",
        ],
    );
    let id = the_run(&url)["run_id"].as_str().expect("id").to_string();
    // The server's engine lets the driver act by itself (within a second).
    let deadline = Instant::now() + Duration::from_secs(20);
    let reported = loop {
        let (_, out, _) = remote(&url, VIEWER, &["--json", "run", "get", &id]);
        let run: Value = serde_json::from_str(&out).expect("json");
        if !run["completion"].is_null() {
            break run;
        }
        assert!(
            Instant::now() < deadline,
            "the server never drove the run: {run}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(reported["phase"], "prerequisites");
    let (code, _, err) = remote(&url, VIEWER, &["run", "rollback", &id]);
    assert_ne!(code, 0, "a viewer cannot roll back: {err}");
    for _ in 0..20 {
        if the_run(&url)["status"] == "waiting_for_operator" {
            break;
        }
        ok(&url, &["clock", "advance", "10m"]);
    }
    assert_eq!(the_run(&url)["status"], "waiting_for_operator");
    ok(&url, &["run", "switchover", &id]);
    ok(&url, &["clock", "advance", "30m"]);
    let done = the_run(&url);
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["total_downtime_ms"].as_u64().is_some());
    drop(server);
}
