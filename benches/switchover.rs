//! `cargo bench --bench switchover`: a real PostgreSQL 15 → 17 switchover under load, through
//! lockstep's endpoint and, in the same run, the classic way through PgBouncer (transaction
//! pooling: PAUSE, wait for zero lag, copy sequences, point at green, RELOAD, RESUME).
//!
//! Each workload runs 8 writers at full speed and a probe every 10 ms (an insert returning
//! the server version), with long-lived connections or a new connection per transaction, and
//! prints the longest client-visible gap (the longest time in which no transaction of any
//! client completed), errors, lost and duplicated rows and p99 latency, and also the longest
//! time one client waited between two of its own transactions next to its usual interval.
//! The clients run on their own threads (a runtime of their own), as other programs would.

#[path = "../tests/common/pg.rs"]
mod pg;
#[path = "../tests/common/pg_run.rs"]
mod pg_run;
#[path = "switchover/pgbouncer.rs"]
mod pgbouncer;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lockstep::drivers::Driver;
use lockstep::drivers::postgres::cluster::{Cluster, SUPERUSER};
use lockstep::drivers::postgres::dsn::Dsn;
use lockstep::drivers::postgres::provision::Names;
use lockstep::drivers::postgres::proxy::ProxyHandle;
use lockstep::drivers::postgres::switchover::upstream_for;
use lockstep::drivers::postgres::{fence, sequences, session};
use lockstep::model::run::{ActionOutcome, RunAction, SubscriptionHealth};
use pgbouncer::{PgBouncer, which};
use tokio_postgres::{NoTls, SimpleQueryMessage};

const WRITERS: usize = 8;
const PROBE_EVERY: Duration = Duration::from_millis(10);
const BEFORE: Duration = Duration::from_millis(1500);
const AFTER: Duration = Duration::from_millis(1500);
const PROBE_WRITER: i32 = 100;

const SCHEMA: &str = "
CREATE TABLE bench_rows (id bigserial PRIMARY KEY, writer int NOT NULL, n bigint NOT NULL,
                         at timestamptz NOT NULL DEFAULT now());
CREATE INDEX bench_rows_writer_n ON bench_rows (writer, n);
INSERT INTO bench_rows (writer, n) SELECT -1, g FROM generate_series(1, 10000) g;";

/// B13 in the run: what the parity variant adds to blue.
const PARITY_LABEL: &str = "parity";
const PARITY: &str = "
CREATE TABLE docs (id int PRIMARY KEY, doc oid);
INSERT INTO docs SELECT g, lo_from_bytea(0, convert_to(repeat(md5(g::text), 2000), 'UTF8'))
    FROM generate_series(1, 20) g;
CREATE UNLOGGED TABLE sessions (id int PRIMARY KEY, token text);
INSERT INTO sessions SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
CREATE MATERIALIZED VIEW writers AS SELECT writer, count(*) AS n FROM bench_rows GROUP BY writer;";
const OTHER_DATABASE: &str = "
CREATE TABLE daily (id bigserial PRIMARY KEY, amount numeric);
INSERT INTO daily (amount) SELECT g FROM generate_series(1, 5000) g;
SELECT lo_from_bytea(0, convert_to(repeat('report', 5000), 'UTF8'));";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    LongLived,
    PerTransaction,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::LongLived => "long-lived connections",
            Workload::PerTransaction => "a new connection per transaction",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Workload::LongLived => "long-lived",
            Workload::PerTransaction => "per-transaction",
        }
    }
}

/// What one client saw.
#[derive(Default)]
struct ClientLog {
    done_at: Vec<Instant>,
    latencies: Vec<Duration>,
    errors: Vec<String>,
    acknowledged: Vec<i64>,
    versions: Vec<String>,
    /// Every transaction: begun, logged in (when it connected), ended, and whether it failed.
    trace: Vec<(Instant, Option<Instant>, Instant, bool)>,
}

/// The figures of one switch.
struct Figures {
    /// The longest time in which no client's transaction completed.
    gap_ms: f64,
    /// Where that gap lay, in ms from the switch's start (negative: before).
    gap_from_ms: f64,
    gap_to_ms: f64,
    /// The longest such time in the 1.5 s of load before the switch began (the workload's own).
    gap_before_ms: f64,
    /// The longest time one client waited between two of its transactions, and its median.
    stall_ms: f64,
    /// When that wait ended, in ms after the switch began (negative: before).
    stall_ended_ms: f64,
    median_interval_ms: f64,
    errors: usize,
    first_error: Option<String>,
    lost: i64,
    duplicated: i64,
    p99_ms: f64,
    acknowledged: usize,
    versions: String,
    note: String,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let pgbouncer = which("pgbouncer");
    if pgbouncer.is_none() {
        println!(
            "PgBouncer is missing: install it with `apt-get install pgbouncer` (Debian) to \
             compare; the endpoint's figures follow alone."
        );
    }
    println!(
        "switchover PostgreSQL 15 -> 17: {WRITERS} writers at full speed + a probe every 10 ms"
    );
    // `LOCKSTEP_BENCH_ONLY=long-lived` or `per-transaction` runs one workload.
    let only = std::env::var("LOCKSTEP_BENCH_ONLY").unwrap_or_default();
    for workload in [Workload::LongLived, Workload::PerTransaction] {
        if !only.is_empty() && only != workload.key() {
            continue;
        }
        println!("\n== {}", workload.name());
        let ours = endpoint_run(workload, false).await;
        print_figures("lockstep endpoint", &ours);
        // The same switch with what logical replication does not carry in the run (B13).
        let whole = endpoint_run(workload, true).await;
        print_figures(&format!("lockstep endpoint + {}", PARITY_LABEL), &whole);
        let Some(pgbouncer) = &pgbouncer else {
            continue;
        };
        let classic = pgbouncer_run(workload, pgbouncer).await;
        print_figures("PgBouncer (transaction pooling)", &classic);
        let ratio = ours.gap_ms / classic.gap_ms.max(0.001);
        let targets = ours.gap_ms <= 50.0
            && ours.errors == 0
            && ours.lost == 0
            && ours.duplicated == 0
            && ratio <= 0.15;
        println!(
            "  ratio endpoint/PgBouncer gap: {ratio:.3} (target <= 0.15); targets (gap <= 50 ms, \
             0 errors, 0 lost/dup, ratio): {}",
            if targets { "met" } else { "NOT met" }
        );
    }
}

fn print_figures(label: &str, f: &Figures) {
    println!(
        "  {label:<32} longest gap {:>6.1} ms | errors {} | lost {} | duplicated {} | p99 {:.1} ms \
         | {} acknowledged",
        f.gap_ms, f.errors, f.lost, f.duplicated, f.p99_ms, f.acknowledged
    );
    println!(
        "    that gap lay from {:+.0} to {:+.0} ms of the switch's start; the longest gap in the \
         load before the switch: {:.1} ms",
        f.gap_from_ms, f.gap_to_ms, f.gap_before_ms
    );
    println!(
        "    longest wait of one client between two of its transactions {:.1} ms, ended {:+.0} ms \
         from the switch's start (its usual: {:.1} ms); versions seen {}",
        f.stall_ms, f.stall_ended_ms, f.median_interval_ms, f.versions
    );
    if let Some(error) = &f.first_error {
        println!("    first error: {error}");
    }
    if !f.note.is_empty() {
        println!("    {}", f.note);
    }
}

/// Blue with the schema, green empty with blue's password, replication running and caught up
/// (B1–B3 through the driver), and a rig whose target `adjust` sets up; returns green's DSN.
async fn replicated(
    blue: &Cluster,
    green: &Cluster,
    run_id: &str,
    parity: bool,
    adjust: impl FnOnce(&mut lockstep::drivers::postgres::PgTarget),
) -> (Dsn, pg_run::Rig) {
    pg::create_db(blue, "shop").await;
    pg::create_db(green, "shop").await;
    pg::same_password(green, blue).await;
    pg::connect(blue, "shop")
        .await
        .batch_execute(SCHEMA)
        .await
        .expect("blue schema");
    if parity {
        pg::connect(blue, "shop")
            .await
            .batch_execute(PARITY)
            .await
            .expect("large objects, unlogged table, materialized view");
        for db in ["reports", "audit"] {
            pg::create_db(blue, db).await;
            pg::connect(blue, db)
                .await
                .batch_execute(OTHER_DATABASE)
                .await
                .expect("another database");
        }
    }
    let password = pg::dsn(blue, "shop").password().expect("a password");
    let green_dsn = Dsn::parse(&format!(
        "host=127.0.0.1 port={} user={SUPERUSER} password={password} dbname=shop",
        green.port()
    ))
    .expect("green DSN");
    let mut rig = pg_run::Rig::with(pg::dsn(blue, "shop"), green_dsn.clone(), run_id, adjust);
    if parity {
        rig.spec.choices = vec![lockstep::model::run::ChoiceValue::Copy];
    }
    for action in [
        RunAction::Prerequisites,
        RunAction::Provision,
        RunAction::VacuumAnalyze,
    ] {
        let report = rig.act(action).await;
        assert!(report.is_success(), "{}: {report:?}", action.as_str());
    }
    for _ in 0..300 {
        let seen = rig
            .driver
            .observe(&rig.spec, pg_run::now())
            .await
            .expect("observe");
        if seen.subscription == SubscriptionHealth::Streaming
            && seen.row_count_mismatches.is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (green_dsn, rig)
}

/// The switch through lockstep's endpoint: B5 of the postgres driver.
async fn endpoint_run(workload: Workload, parity: bool) -> Figures {
    let (blue, green) = (pg::blue(), pg::green());
    let blue_dsn = pg::dsn(&blue, "shop");
    let proxy = Arc::new(
        ProxyHandle::start(
            "127.0.0.1:0",
            upstream_for(&blue_dsn).expect("blue as upstream"),
            Duration::from_secs(60),
        )
        .await
        .expect("the endpoint starts"),
    );
    let endpoint = Arc::clone(&proxy);
    let (green_dsn, rig) = replicated(&blue, &green, "bench-endpoint", parity, move |target| {
        target.endpoint = Some(endpoint);
    })
    .await;
    if parity {
        // Large objects change just before the switch: B5 copies them.
        pg::connect(&blue, "shop")
            .await
            .batch_execute("SELECT lo_put(doc, 0, '\\xffff'::bytea) FROM docs WHERE id <= 5")
            .await
            .expect("large objects change");
    }
    let through = pg::via(proxy.local_addr(), &blue, "shop");
    let stop = Arc::new(AtomicBool::new(false));
    let clients = start_load(&through, workload, &stop);
    trace_clock("endpoint load began");
    tokio::time::sleep(BEFORE).await;
    let switch_at = Instant::now();
    trace_clock("endpoint switch began");
    let report = rig.act(RunAction::Switchover).await;
    tokio::time::sleep(AFTER).await;
    let logs = stop_load(&stop, clients).await;
    let mut figures = figures(&logs, &green_dsn, switch_at).await;
    figures.note = match &report.outcome {
        ActionOutcome::Succeeded => format!(
            "B5 succeeded; park to resume as the driver measured it: {} ms\n      {}",
            report.downtime_ms.unwrap_or_default(),
            report
                .log
                .iter()
                .filter(|l| !l.starts_with("sequence "))
                .cloned()
                .collect::<Vec<_>>()
                .join("\n      ")
        ),
        other => format!(
            "B5 did not succeed: {other:?}\n    {}",
            report.log.join("\n    ")
        ),
    };
    figures
}

/// The classic switch: PgBouncer in transaction pooling in front of blue; PAUSE, wait for zero
/// lag, copy sequences, point it at green, RELOAD, RESUME.
async fn pgbouncer_run(workload: Workload, binary: &Path) -> Figures {
    let (blue, green) = (pg::blue(), pg::green());
    let (green_dsn, rig) = replicated(&blue, &green, "bench-pgbouncer", false, |_| {}).await;
    let password = pg::dsn(&blue, "shop").password().expect("a password");
    let bouncer = PgBouncer::start(binary, blue.port(), &password);
    let through = Dsn::parse(&format!(
        "host=127.0.0.1 port={} user={SUPERUSER} password={password} dbname=shop",
        bouncer.port
    ))
    .expect("PgBouncer DSN");
    let admin = pg::connect_dsn(
        &Dsn::parse(&format!(
            "host=127.0.0.1 port={} user={SUPERUSER} password={password} dbname=pgbouncer",
            bouncer.port
        ))
        .expect("admin DSN"),
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let clients = start_load(&through, workload, &stop);
    trace_clock("PgBouncer load began");
    tokio::time::sleep(BEFORE).await;
    trace_clock("PgBouncer switch began");

    let blue_session = session::connect(&pg::dsn(&blue, "shop"), "blue")
        .await
        .expect("blue");
    let green_session = session::connect(&green_dsn, "green").await.expect("green");
    let slot = Names::for_run(&rig.spec.run_id).subscription;
    let started = Instant::now();
    admin.simple_query("PAUSE").await.expect("PAUSE");
    let paused = started.elapsed();
    let lsn = blue_session
        .text("SELECT pg_current_wal_lsn()::text")
        .await
        .expect("blue's position");
    fence::await_flush(&blue_session, &slot, &lsn)
        .await
        .expect("zero lag");
    let flushed = started.elapsed();
    sequences::sync_sequences(&blue_session, &green_session)
        .await
        .expect("sequences");
    bouncer.point_at(green.port());
    admin.simple_query("RELOAD").await.expect("RELOAD");
    admin.simple_query("RESUME").await.expect("RESUME");
    let switched = started.elapsed();
    tokio::time::sleep(AFTER).await;
    let logs = stop_load(&stop, clients).await;
    let mut figures = figures(&logs, &green_dsn, started).await;
    figures.note = format!(
        "PAUSE took {} ms, zero lag (green's confirmed flush) at {} ms, RESUME at {} ms",
        paused.as_millis(),
        flushed.as_millis(),
        switched.as_millis()
    );
    figures.note.push_str(&bouncer.explain(figures.gap_ms));
    figures
}

/// Starts the writers and the probe.
fn start_load(
    dsn: &Dsn,
    workload: Workload,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<ClientLog>> {
    let mut clients = Vec::new();
    for writer in 0..=WRITERS {
        let (dsn, stop) = (dsn.clone(), Arc::clone(stop));
        let probe = writer == WRITERS;
        clients.push(client_runtime().spawn(async move {
            let id = if probe { PROBE_WRITER } else { writer as i32 };
            client(dsn, workload, id, probe, stop).await
        }));
    }
    clients
}

/// The clients' own runtime and threads: clients are other programs, so their work (a SCRAM
/// login per transaction costs milliseconds of CPU) must not queue behind lockstep's endpoint
/// and driver on the same two worker threads, just as PgBouncer runs in its own process.
/// They still share the machine's cores with both.
fn client_runtime() -> &'static tokio::runtime::Runtime {
    static CLIENTS: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    CLIENTS.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bench-client")
            .enable_all()
            .build()
            .expect("the clients' runtime")
    })
}

async fn client(
    dsn: Dsn,
    workload: Workload,
    writer: i32,
    probe: bool,
    stop: Arc<AtomicBool>,
) -> ClientLog {
    let mut log = ClientLog::default();
    let mut connection: Option<tokio_postgres::Client> = None;
    let mut n: i64 = 0;
    let mut next_probe = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if probe {
            tokio::time::sleep_until(next_probe.into()).await;
            next_probe += PROBE_EVERY;
        }
        n += 1;
        let started = Instant::now();
        let mut connected = None;
        let sql = format!(
            "INSERT INTO bench_rows (writer, n) VALUES ({writer}, {n})
             RETURNING id, current_setting('server_version')"
        );
        let result = async {
            if connection.is_none() {
                let (c, conn) = tokio_postgres::connect(dsn.expose(), NoTls).await?;
                tokio::spawn(conn);
                connection = Some(c);
                connected = Some(Instant::now());
            }
            let Some(c) = connection.as_ref() else {
                unreachable!("connected above")
            };
            c.simple_query(&sql).await
        }
        .await;
        log.trace
            .push((started, connected, Instant::now(), result.is_err()));
        match result {
            Ok(messages) => {
                let row = messages.iter().find_map(|m| match m {
                    SimpleQueryMessage::Row(row) => Some(row),
                    _ => None,
                });
                if let Some(row) = row {
                    log.acknowledged
                        .push(row.get(0).and_then(|v| v.parse().ok()).unwrap_or(-1));
                    let version = row.get(1).unwrap_or_default().to_string();
                    if log.versions.last() != Some(&version) {
                        log.versions.push(version);
                    }
                }
                log.done_at.push(Instant::now());
                log.latencies.push(started.elapsed());
            }
            Err(e) => {
                log.errors.push(format!("{writer}/{n}: {e}"));
                connection = None;
            }
        }
        if workload == Workload::PerTransaction {
            connection = None;
        }
    }
    log
}

async fn stop_load(
    stop: &AtomicBool,
    clients: Vec<tokio::task::JoinHandle<ClientLog>>,
) -> Vec<ClientLog> {
    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for client in clients {
        logs.push(client.await.expect("a client joins"));
    }
    logs
}

/// Gap, errors, lost and duplicated rows (checked on green, the primary after the switch),
/// and p99 latency.
async fn figures(logs: &[ClientLog], green: &Dsn, switch_at: Instant) -> Figures {
    let mut stall = Duration::ZERO;
    let mut stall_ended = switch_at;
    let mut intervals: Vec<Duration> = Vec::new();
    let mut all_done: Vec<Instant> = Vec::new();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut acknowledged: Vec<i64> = Vec::new();
    let mut versions: Vec<String> = Vec::new();
    for log in logs {
        for pair in log.done_at.windows(2) {
            if pair[1] - pair[0] > stall {
                stall = pair[1] - pair[0];
                stall_ended = pair[1];
            }
            intervals.push(pair[1] - pair[0]);
        }
        all_done.extend(&log.done_at);
        latencies.extend(&log.latencies);
        acknowledged.extend(&log.acknowledged);
        for v in &log.versions {
            if !versions.contains(v) {
                versions.push(v.clone());
            }
        }
    }
    all_done.sort();
    let (gap, gap_ended) = all_done
        .windows(2)
        .map(|pair| (pair[1] - pair[0], pair[1]))
        .max()
        .unwrap_or((Duration::ZERO, switch_at));
    let gap_before = all_done
        .windows(2)
        .filter(|pair| pair[1] <= switch_at)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or_default();
    let from_switch = |at: Instant| {
        at.saturating_duration_since(switch_at).as_secs_f64() * 1000.0
            - switch_at.saturating_duration_since(at).as_secs_f64() * 1000.0
    };
    intervals.sort();
    let median_interval = intervals
        .get(intervals.len() / 2)
        .copied()
        .unwrap_or_default();
    latencies.sort();
    let p99 = latencies
        .get((latencies.len() * 99 / 100).min(latencies.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default();
    let client = pg::connect_dsn(green).await;
    let lost: i64 = client
        .query_one(
            "SELECT count(*) FROM unnest($1::bigint[]) a(id)
             WHERE NOT EXISTS (SELECT 1 FROM bench_rows b WHERE b.id = a.id)",
            &[&acknowledged],
        )
        .await
        .expect("lost rows")
        .get(0);
    let duplicated: i64 = client
        .query_one(
            "SELECT COALESCE(sum(c - 1), 0)::bigint FROM (
                 SELECT count(*) AS c FROM bench_rows WHERE writer >= 0
                 GROUP BY writer, n HAVING count(*) > 1) d",
            &[],
        )
        .await
        .expect("duplicated rows")
        .get(0);
    if std::env::var_os("LOCKSTEP_BENCH_TRACE").is_some() {
        print_trace("the gap", logs, switch_at, gap_ended - gap, gap_ended);
        print_trace(
            "one client's longest wait",
            logs,
            switch_at,
            stall_ended - stall,
            stall_ended,
        );
    }
    let errors: Vec<&String> = logs.iter().flat_map(|l| &l.errors).collect();
    Figures {
        gap_ms: gap.as_secs_f64() * 1000.0,
        gap_from_ms: from_switch(gap_ended - gap),
        gap_to_ms: from_switch(gap_ended),
        gap_before_ms: gap_before.as_secs_f64() * 1000.0,
        stall_ms: stall.as_secs_f64() * 1000.0,
        stall_ended_ms: stall_ended
            .saturating_duration_since(switch_at)
            .as_secs_f64()
            * 1000.0
            - switch_at
                .saturating_duration_since(stall_ended)
                .as_secs_f64()
                * 1000.0,
        median_interval_ms: median_interval.as_secs_f64() * 1000.0,
        errors: errors.len(),
        first_error: errors.first().map(|e| e.to_string()),
        lost,
        duplicated,
        p99_ms: p99.as_secs_f64() * 1000.0,
        acknowledged: acknowledged.len(),
        versions: versions.join(" -> "),
        note: String::new(),
    }
}

/// With `LOCKSTEP_BENCH_TRACE` set: every transaction of every client around `what`, in ms
/// from the switch's start (begun, logged in, ended).
fn print_trace(what: &str, logs: &[ClientLog], switch_at: Instant, from: Instant, to: Instant) {
    let at = |t: Instant| {
        t.saturating_duration_since(switch_at).as_secs_f64() * 1000.0
            - switch_at.saturating_duration_since(t).as_secs_f64() * 1000.0
    };
    let (lo, hi) = (
        from - Duration::from_millis(60),
        to + Duration::from_millis(30),
    );
    println!(
        "    transactions around {what} ({:+.0}..{:+.0} ms):",
        at(from),
        at(to)
    );
    for (client, log) in logs.iter().enumerate() {
        let line: Vec<String> = log
            .trace
            .iter()
            .filter(|(begun, _, ended, _)| *ended >= lo && *begun <= hi)
            .map(|(begun, connected, ended, failed)| {
                let login = connected.map_or(String::new(), |c| format!(" in {:+.0}", at(c)));
                let failed = if *failed { " FAILED" } else { "" };
                format!("[{:+.0}{login} -> {:+.0}{failed}]", at(*begun), at(*ended))
            })
            .collect();
        println!("      client {client}: {}", line.join(" "));
    }
}

/// With `LOCKSTEP_BENCH_TRACE` set: the monotonic clock now (for `perf record -k
/// CLOCK_MONOTONIC` and `perf report --time`).
fn trace_clock(what: &str) {
    if std::env::var_os("LOCKSTEP_BENCH_TRACE").is_some() {
        println!("    {what} at {:?}", Instant::now());
    }
}
