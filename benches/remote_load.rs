//! Load benchmark of the remote engine on loopback (prints figures, asserts nothing timed).
//!
//! 1. 50 streaming `RemoteEngine` clients + 200 writes/s for 60 s against a real
//!    `lockstep serve` process: lost events, write→client delivery latency (p50/p99/max),
//!    write acknowledgement latency, server RSS.
//! 2. 1,000 idle streaming clients held, then a few events: errors, delivery, server RSS.
//!
//! `cargo bench --bench remote_load`; `LOAD_SECS`, `LOAD_CLIENTS`, `LOAD_RATE`, `IDLE_CLIENTS`,
//! `IDLE_SECS` override the defaults.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures::StreamExt;
use lockstep::api::{RemoteEngine, digest_hex};
use lockstep::engine::Engine;
use lockstep::model::EventKind;
use serde_json::json;

const TOKEN: &str = "bench-operator-token";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn start_server(dir: &Path) -> (Child, String) {
    let bin = env!("CARGO_BIN_EXE_lockstep");
    let db = dir.join("load.db");
    let init = Process::new(bin)
        .args(["init", "--virtual-clock", "--db"])
        .arg(&db)
        .output()
        .expect("init");
    assert!(init.status.success(), "{init:?}");
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, format!("bench, operator, {}\n", digest_hex(TOKEN))).expect("tokens");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut child = Process::new(bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db"])
        .arg(&db)
        .arg("--tokens")
        .arg(&tokens)
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve");
    let out = child.stdout.take().expect("stdout");
    for line in BufReader::new(out).lines() {
        if line.expect("line").contains("serving") {
            break;
        }
    }
    (child, format!("http://127.0.0.1:{port}"))
}

/// Resident set size of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

type Sent = Arc<Mutex<HashMap<String, Instant>>>;

async fn streaming_clients_under_writes(url: &str, pid: u32) {
    let secs = env_or("LOAD_SECS", 60);
    let clients = env_or("LOAD_CLIENTS", 50) as usize;
    let rate = env_or("LOAD_RATE", 200);
    let sent: Sent = Arc::default();
    let mut readers = Vec::new();
    let mut engines = Vec::new();
    for _ in 0..clients {
        let engine = RemoteEngine::connect(url, TOKEN).await.expect("connect");
        let mut rx = engine.subscribe();
        let sent = sent.clone();
        readers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                if let EventKind::ProjectCreated { project, .. } = &e.kind {
                    let at = sent.lock().ok().and_then(|s| s.get(project).copied());
                    if let Some(at) = at {
                        latencies.push(at.elapsed());
                    }
                }
            }
            latencies
        }));
        engines.push(engine);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let http = reqwest::Client::new();
    let acks: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut rss_max: f64 = 0.0;
    let total = secs * rate;
    let started = Instant::now();
    let mut writes = Vec::new();
    for i in 0..total {
        tick.tick().await;
        if i % rate == 0 {
            rss_max = rss_max.max(rss_mib(pid));
        }
        let (http, url, sent, acks) = (http.clone(), url.to_string(), sent.clone(), acks.clone());
        writes.push(tokio::spawn(async move {
            let name = format!("load-{i}");
            let body = json!({"command": "create_project", "name": name, "organization_id": null});
            let at = Instant::now();
            if let Ok(mut s) = sent.lock() {
                s.insert(name, at);
            }
            let r = http
                .post(format!("{url}/v1/commands"))
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await;
            let ok = r.is_ok_and(|r| r.status().is_success());
            if ok && let Ok(mut a) = acks.lock() {
                a.push(at.elapsed());
            }
            ok
        }));
    }
    let mut failed = 0;
    for w in writes {
        if !w.await.unwrap_or(false) {
            failed += 1;
        }
    }
    let elapsed = started.elapsed();
    rss_max = rss_max.max(rss_mib(pid));
    let mut delivered = Vec::new();
    let mut lost = 0usize;
    let acked = total as usize - failed;
    for r in readers {
        let l = r.await.expect("reader");
        lost += acked.saturating_sub(l.len());
        delivered.extend(l);
    }
    delivered.sort();
    let mut acks = acks.lock().map(|a| a.clone()).unwrap_or_default();
    acks.sort();
    println!("== {clients} streaming clients + {rate} writes/s for {secs} s");
    println!(
        "writes: {total} sent, {failed} failed, achieved {:.0}/s",
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "write ack latency: p50 {} p99 {} max {}",
        ms(pct(&acks, 0.5)),
        ms(pct(&acks, 0.99)),
        ms(pct(&acks, 1.0))
    );
    println!(
        "deliveries: {} (expected {}), lost events: {lost}",
        delivered.len(),
        acked * clients
    );
    println!(
        "write→client delivery: p50 {} p99 {} max {}",
        ms(pct(&delivered, 0.5)),
        ms(pct(&delivered, 0.99)),
        ms(pct(&delivered, 1.0))
    );
    println!("server RSS max: {rss_max:.1} MiB");
    drop(engines);
}

async fn idle_clients(url: &str, pid: u32) {
    let n = env_or("IDLE_CLIENTS", 1000) as usize;
    let hold = env_or("IDLE_SECS", 10);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let rss_before = rss_mib(pid);
    let mut streams = Vec::new();
    let mut errors = 0usize;
    for _ in 0..n {
        let r = http
            .get(format!("{url}/v1/events"))
            .bearer_auth(TOKEN)
            .header("accept", "text/event-stream")
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => streams.push(r.bytes_stream().eventsource()),
            _ => errors += 1,
        }
    }
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let rss_held = rss_mib(pid);
    let metrics = http
        .get(format!("{url}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default();
    let subscribers = metrics
        .lines()
        .find(|l| l.starts_with("lockstep_stream_subscribers "))
        .unwrap_or("?")
        .to_string();
    let body = json!({"command": "create_project", "name": "idle-ping", "organization_id": null});
    let sent = Instant::now();
    http.post(format!("{url}/v1/commands"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("ping");
    let mut got = 0usize;
    let mut waits = Vec::new();
    for mut s in streams {
        let next = tokio::time::timeout(Duration::from_secs(10), s.next()).await;
        match next {
            Ok(Some(Ok(e))) if e.data.contains("idle-ping") => {
                got += 1;
                waits.push(sent.elapsed());
            }
            _ => errors += 1,
        }
    }
    waits.sort();
    println!("== {n} idle streaming clients held {hold} s");
    println!("connect errors + missed pings: {errors}; clients that got the ping: {got}");
    println!("server {subscribers}");
    println!(
        "server RSS: {rss_before:.1} MiB before, {rss_held:.1} MiB holding {n} streams ({:.1} KiB each)",
        (rss_held - rss_before) * 1024.0 / n as f64
    );
    println!(
        "ping reached the last of them after {}",
        ms(pct(&waits, 1.0))
    );
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, url) = start_server(dir.path());
    let pid = child.id();
    println!(
        "server pid {pid} at {url}, idle RSS {:.1} MiB",
        rss_mib(pid)
    );
    streaming_clients_under_writes(&url, pid).await;
    idle_clients(&url, pid).await;
    let _ = child.kill();
    let _ = child.wait();
}
