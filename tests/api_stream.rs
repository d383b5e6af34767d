//! Stream reliability against a real `lockstep serve` process: SIGKILL it in the middle of a
//! burst of writes, restart it on the same database and port, and check that the remote
//! client's folded state equals the server's, with every event received exactly once.

mod api_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use api_support::{OPERATOR, ServeProcess, free_port, init_db, tokens_file};
use lockstep::api::RemoteEngine;
use lockstep::engine::{Engine, LinkState};
use lockstep::model::Event;
use serde_json::json;
use tokio::sync::Mutex;

const WRITES: usize = 600;
const WRITERS: usize = 4;
const KILL_AFTER: usize = 200;

/// Creates project `name`; retries while the server is down. True once it is in the journal.
async fn write(http: &reqwest::Client, url: &str, name: &str, retries: &AtomicUsize) -> bool {
    let body = json!({"command": "create_project", "name": name, "organization_id": null});
    for _ in 0..400 {
        let sent = http
            .post(format!("{url}/v1/commands"))
            .bearer_auth(OPERATOR)
            .timeout(Duration::from_secs(5))
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return true,
            // The first try committed but its answer was lost with the server.
            Ok(r) if r.status() == reqwest::StatusCode::CONFLICT => return true,
            Ok(r) => panic!("{name}: {}", r.status()),
            Err(_) => {
                retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_burst_then_restart_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("stream.db");
    init_db(&db);
    let tokens = tokens_file(dir.path());
    let port = free_port();
    let server = Arc::new(Mutex::new(ServeProcess::start(&db, &tokens, port)));
    let url = format!("http://127.0.0.1:{port}");

    let client = RemoteEngine::connect(&url, OPERATOR)
        .await
        .expect("connect");
    let mut link = client.link().expect("a remote engine has a link");
    let mut rx = client.subscribe();
    let start = client.snapshot().await.expect("snapshot").state;
    let collector = tokio::spawn(async move {
        let mut state = start;
        let mut seen: Vec<Event> = Vec::new();
        while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            state.apply(&e);
            seen.push(e);
        }
        (state, seen)
    });
    let link_states = tokio::spawn(async move {
        let mut states = BTreeSet::new();
        while link.changed().await.is_ok() {
            let s = match &*link.borrow() {
                LinkState::Reconnecting { .. } => "reconnecting",
                LinkState::Connected => "connected",
                LinkState::Connecting => "connecting",
                LinkState::Idle => "idle",
            };
            states.insert(s);
        }
        states
    });

    let acked = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (http, url, acked) = (http.clone(), url.clone(), acked.clone());
        let retries = retries.clone();
        writers.push(tokio::spawn(async move {
            for i in (w..WRITES).step_by(WRITERS) {
                assert!(
                    write(&http, &url, &format!("p{i:04}"), &retries).await,
                    "p{i} never landed"
                );
                acked.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    while acked.load(Ordering::Relaxed) < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    {
        let mut s = server.lock().await;
        s.kill(); // SIGKILL mid-burst: writes are in flight
        tokio::time::sleep(Duration::from_millis(300)).await;
        *s = ServeProcess::start(&db, &tokens, port);
    }
    for w in writers {
        w.await.expect("writer");
    }
    assert!(
        retries.load(Ordering::Relaxed) > 0,
        "the kill happened while writes were in flight"
    );

    let truth = client.snapshot().await.expect("snapshot after").state;
    let (folded, seen) = collector.await.expect("collector");
    let seqs: Vec<u64> = seen.iter().map(|e| e.seq).collect();
    let expected: Vec<u64> = (1..=truth.head).collect();
    assert_eq!(seqs.len(), expected.len(), "events missed or repeated");
    assert_eq!(seqs, expected, "every event exactly once, in order");
    assert_eq!(folded.head, truth.head);
    assert_eq!(
        serde_json::to_value(&folded).expect("json"),
        serde_json::to_value(&truth).expect("json"),
        "the client's fold equals the server's state"
    );
    let projects: BTreeSet<&String> = truth.projects.keys().collect();
    for i in 0..WRITES {
        assert!(
            projects.contains(&format!("p{i:04}")),
            "acknowledged p{i} lost"
        );
    }
    assert_eq!(truth.projects.len(), WRITES);
    drop(client);
    let states = link_states.await.expect("link watcher");
    assert!(
        states.contains("reconnecting") && states.contains("connected"),
        "{states:?}"
    );
}
