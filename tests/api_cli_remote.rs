//! `lockstep serve` and `lockstep --remote` as an operator runs them: separate processes, a
//! generated token printed once, refusals on non-loopback without a tokens file.

mod api_support;

use std::io::{BufRead, BufReader};
use std::process::{Command as Process, Stdio};

use api_support::{binary, free_port, init_db};
use serde_json::Value;

fn lockstep(args: &[&str]) -> (i32, String, String) {
    let out = Process::new(binary())
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

#[test]
fn serve_prints_one_operator_token_and_commands_work_through_remote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("remote.db");
    init_db(&db);
    let port = free_port();
    let mut child = Process::new(binary())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db"])
        .arg(&db)
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("text");
    let token = first
        .rsplit(' ')
        .next()
        .expect("the token")
        .trim()
        .to_string();
    assert!(first.contains("shown once") && token.len() > 40, "{first}");
    let serving = lines.next().expect("a line").expect("text");
    assert!(serving.contains(&format!("127.0.0.1:{port}")), "{serving}");
    let url = format!("http://127.0.0.1:{port}");
    let remote = ["--remote", url.as_str(), "--token", token.as_str()];

    let (code, _, err) = lockstep(&[&remote[..], &["project", "create", "dev"]].concat());
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = lockstep(&[&remote[..], &["--json", "project", "list"]].concat());
    assert_eq!(code, 0, "{err}");
    let projects: Value = serde_json::from_str(&out).expect("json");
    assert!(out.contains("\"dev\""), "{projects}");
    let (code, out, _) = lockstep(&[&remote[..], &["--json", "events"]].concat());
    assert_eq!(code, 0);
    let events: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        events[0]["actor"], "operator",
        "the token's name acts: {events}"
    );

    // A refusal travels back as the same one-line error and exit code 1.
    let (code, _, err) = lockstep(&[&remote[..], &["project", "create", "dev"]].concat());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("dev"), "{err}");

    // A wrong token: exit 1, a clear message, and the token is not echoed.
    let wrong = "wrong-token-value-123";
    let (code, _, err) = lockstep(&["--remote", &url, "--token", wrong, "project", "list"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("token") && !err.contains(wrong), "{err}");

    // Commands that create a database make no sense remotely.
    let (code, _, err) = lockstep(&[&remote[..], &["init"]].concat());
    assert_eq!(code, 2, "{err}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn serve_without_a_tokens_file_refuses_to_listen_beyond_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("open.db");
    init_db(&db);
    let port = free_port();
    let db = db.to_string_lossy().into_owned();
    let (code, out, err) =
        lockstep(&["serve", "--listen", &format!("0.0.0.0:{port}"), "--db", &db]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("--tokens"), "{err}");
    assert!(!out.contains("shown once"), "no token is made: {out}");
}

#[test]
fn remote_without_a_server_says_it_cannot_reach_it() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let (code, _, err) = lockstep(&["--remote", &url, "--token", "t", "step", "list"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot reach") && err.contains(&url), "{err}");
}
