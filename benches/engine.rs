//! Engine benchmark on a generated fleet of 10,000 services and 5,000 steps: time to open the
//! database (snapshot + replay), sustained throughput of durable validations from 16 concurrent
//! submitters (group commit), and a single submitter's acknowledged-command latency.
//!
//! Run: `cargo bench --bench engine`. Prints medians; it asserts nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, NaiveTime, TimeZone, Utc, Weekday};
use futures::future::join_all;
use lockstep::engine::{ClockKind, Engine, LocalEngine};
use lockstep::model::{Command, MaintenanceWindow, Plan, ServiceKey, ServiceType, Version};

const PROJECTS: usize = 100;
const PER_PROJECT: usize = 100;
const SUBMITTERS: usize = 16;
/// Timed rounds of validations (each round validates every step once; the median is reported).
const ROUNDS: u32 = 8;

fn key(i: usize) -> ServiceKey {
    ServiceKey::new(format!("proj-{}", i / PER_PROJECT), format!("svc-{i}"))
}

/// The middle value; for an even count, the mean of the two middle ones.
fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n.is_multiple_of(2) {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    } else {
        xs[n / 2]
    }
}

fn percentile(xs: &mut [f64], p: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    let idx = ((xs.len() as f64 - 1.0) * p).round() as usize;
    xs[idx]
}

async fn run_all(engine: &Arc<LocalEngine>, cmds: Vec<Command>) {
    let chunks: Vec<Vec<Command>> = {
        let mut chunks = vec![Vec::new(); SUBMITTERS];
        for (i, c) in cmds.into_iter().enumerate() {
            chunks[i % SUBMITTERS].push(c);
        }
        chunks
    };
    let tasks = chunks.into_iter().map(|chunk| {
        let engine = engine.clone();
        tokio::spawn(async move {
            for c in chunk {
                engine.execute("bench", c).await.expect("command accepted");
            }
        })
    });
    for t in join_all(tasks).await {
        t.expect("submitter");
    }
}

async fn build_fleet(path: &Path) -> Arc<LocalEngine> {
    let start = Utc
        .with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .expect("date");
    let engine = Arc::new(LocalEngine::create(path, ClockKind::Virtual, start).expect("create"));
    let window = MaintenanceWindow {
        dow: Weekday::Mon,
        time: NaiveTime::from_hms_opt(10, 0, 0).expect("time"),
    };
    let mut cmds: Vec<Command> = (0..PROJECTS)
        .map(|p| Command::CreateProject {
            name: format!("proj-{p}"),
            organization_id: None,
        })
        .collect();
    cmds.push(Command::PublishRelease {
        service_type: ServiceType::Pg,
        version: v("15.0"),
        critical: false,
    });
    run_all(&engine, cmds).await;
    let services = (0..PROJECTS * PER_PROJECT)
        .map(|i| Command::CreateService {
            service: key(i),
            service_type: ServiceType::Pg,
            version: v("15.0"),
            plan: Some(Plan::Business),
            maintenance: Some(window),
        })
        .collect();
    run_all(&engine, services).await;
    let steps = (0..PROJECTS * PER_PROJECT / 2)
        .map(|i| Command::CreateStep {
            organization_id: None,
            source: key(2 * i),
            destination: key(2 * i + 1),
            auto_validation_delay_days: Some(30),
        })
        .collect();
    run_all(&engine, steps).await;
    engine
}

fn v(s: &str) -> Version {
    s.parse().expect("version")
}

/// Publishes the next minor and lets every source take it at its window.
async fn new_version_on_sources(engine: &LocalEngine, minor: u32) {
    engine
        .execute(
            "bench",
            Command::PublishRelease {
                service_type: ServiceType::Pg,
                version: v(&format!("15.{minor}")),
                critical: false,
            },
        )
        .await
        .expect("release");
    engine
        .advance_clock(Duration::days(7))
        .await
        .expect("advance a week");
}

fn validations(range: std::ops::Range<usize>) -> Vec<Command> {
    range
        .map(|i| Command::ValidateForService {
            service: key(2 * i),
            comment: Some("bench".into()),
        })
        .collect()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // LOCKSTEP_BENCH_OPEN=PATH: only the open figures, on a database a run left there (see
    // LOCKSTEP_BENCH_KEEP), e.g. under a profiler.
    if let Some(db) = std::env::var_os("LOCKSTEP_BENCH_OPEN") {
        rt.block_on(opens(Path::new(&db), 0));
        return;
    }
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        // LOCKSTEP_BENCH_KEEP=PATH: build the fleet there and leave it.
        let db = std::env::var_os("LOCKSTEP_BENCH_KEEP")
            .map_or_else(|| dir.path().join("bench.db"), std::path::PathBuf::from);
        let t = Instant::now();
        let engine = build_fleet(&db).await;
        let steps = PROJECTS * PER_PROJECT / 2;
        println!("fleet: {} services, {steps} steps built in {:.2} s", PROJECTS * PER_PROJECT, t.elapsed().as_secs_f64());

        // Throughput: 16 concurrent submitters, each validation acknowledged only once on disk.
        let mut rates = Vec::new();
        let (mut total_n, mut total_s) = (0usize, 0f64);

        for round in 1..=ROUNDS {
            new_version_on_sources(&engine, round).await;
            settle(&db).await;
            let cmds = validations(0..steps);
            let n = cmds.len();
            let t = Instant::now();
            run_all(&engine, cmds).await;
            let rate = n as f64 / t.elapsed().as_secs_f64();
            println!("round {round}: {n} durable validations from {SUBMITTERS} submitters in {:.3} s = {rate:.0}/s", t.elapsed().as_secs_f64());
            rates.push(rate);
            total_n += n;
            total_s += t.elapsed().as_secs_f64();
        }
        println!("all {ROUNDS} rounds together: {total_n} in {total_s:.3} s = {:.0}/s", total_n as f64 / total_s);
        println!("durable validations/s, 16 submitters: median {:.0}", median(&mut rates));
        disk_floor(dir.path());

        // Latency: one submitter, one command at a time.
        new_version_on_sources(&engine, ROUNDS + 1).await;
        settle(&db).await;
        let mut lat = Vec::new();
        for c in validations(0..3000) {
            let t = Instant::now();
            engine.execute("bench", c).await.expect("validate");
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "single submitter acknowledged validation: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            percentile(&mut lat, 0.50),
            percentile(&mut lat, 0.99),
            percentile(&mut lat, 1.0)
        );
        let head = engine.snapshot().await.expect("snapshot").state.head;
        drop(engine);

        opens(&db, head).await;
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    });
}

/// Lets the background work that the set-up between rounds caused (a week of maintenance:
/// ~200,000 events, a snapshot of the state and a checkpoint of ~100 MB of WAL) finish before
/// a round is timed: it belongs to the set-up, not to the validations. The snapshots and
/// checkpoints the validations cause themselves still fall inside the rounds.
async fn settle(db: &Path) {
    tokio::time::sleep(StdDuration::from_secs(1)).await;
    let conn = rusqlite::Connection::open(db).expect("open for a checkpoint");
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        .expect("checkpoint");
}

/// What this disk allows, measured beside the engine: raw SQLite commits (WAL,
/// `synchronous=FULL`, the journal's own build) of one row and of 16 rows (a full group commit
/// of 16 submitters), with no engine work at all.
fn disk_floor(dir: &Path) {
    let conn = rusqlite::Connection::open(dir.join("floor.db")).expect("floor db");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("full");
    conn.execute_batch("CREATE TABLE t (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .expect("table");
    let body = "x".repeat(400);
    let mut seq = 0i64;
    let mut commit = |rows: usize| {
        let t = Instant::now();
        conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        for _ in 0..rows {
            seq += 1;
            conn.execute(
                "INSERT INTO t VALUES (?1, ?2)",
                rusqlite::params![seq, body],
            )
            .expect("insert");
        }
        conn.execute_batch("COMMIT").expect("commit");
        t.elapsed().as_secs_f64() * 1e6
    };
    let mut one: Vec<f64> = (0..1000).map(|_| commit(1)).collect();
    let mut sixteen: Vec<f64> = (0..500).map(|_| commit(16)).collect();
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let (one_mean, sixteen_mean) = (mean(&one), mean(&sixteen));
    println!(
        "disk floor (raw SQLite, WAL + FULL): 1-row commit p50 {:.0} µs (mean {one_mean:.0} µs = \
         {:.0}/s); 16-row commit p50 {:.0} µs (mean {sixteen_mean:.0} µs): at most {:.0} \
         validations/s from 16 submitters with no engine work",
        median(&mut one),
        1e6 / one_mean,
        median(&mut sixteen),
        16.0 * 1e6 / sixteen_mean
    );
}

/// Opens the database seven times (snapshot + replay of the tail, until the engine answers)
/// and prints the median, then where one open spends its time.
async fn opens(db: &Path, head: u64) {
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let e = LocalEngine::open(db).expect("open");
        e.clock().await.expect("answers");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        drop(e);
    }
    let services = PROJECTS * PER_PROJECT;
    let steps = services / 2;
    let head = if head > 0 {
        format!("{head} events, ")
    } else {
        String::new()
    };
    println!(
        "open ({head}{services} services, {steps} steps): median {:.1} ms",
        median(&mut times)
    );
    open_breakdown(db);
}

/// Where an open spends its time: the snapshot's decode, the tail's replay, the indexes, the
/// agenda.
fn open_breakdown(db: &Path) {
    let t = Instant::now();
    let store = lockstep::engine::store::Store::open(db).expect("store");
    let connect = t.elapsed();
    let t = Instant::now();
    let mut state = store
        .load_snapshot()
        .expect("snapshot")
        .expect("a snapshot");
    let decode = t.elapsed();
    let at = state.head;
    let t = Instant::now();
    state.reindex();
    let reindex = t.elapsed();
    let t = Instant::now();
    let tail = store.events_since(state.head, usize::MAX).expect("tail");
    for e in &tail {
        state.apply(e);
    }
    let replay = t.elapsed();
    let t = Instant::now();
    let agenda = lockstep::model::Agenda::build(&state, store.meta().expect("meta").watermark);
    let build = t.elapsed();
    let ms = |d: StdDuration| d.as_secs_f64() * 1000.0;
    println!(
        "  of which: connect {:.1} ms, snapshot at #{at} ({} incidents, {} services) decoded in \
         {:.1} ms, indexes {:.1} ms, {} events replayed in {:.1} ms, agenda of {} deadlines {:.1} ms",
        ms(connect),
        state.incidents.len(),
        state.services.len(),
        ms(decode),
        ms(reindex),
        tail.len(),
        ms(replay),
        agenda.len(),
        ms(build)
    );
}
