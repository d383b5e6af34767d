//! `cargo bench --bench endpoint_soak`: the client endpoint of a real `lockstep serve` under
//! every attack of issue EDGE at once, for 60 s on loopback, while a canary logs in every
//! 200 ms and a long-lived session queries every 100 ms:
//!
//! - 1,000 half-open sockets (connected, silent; opened again when the login deadline cuts
//!   them);
//! - 20 unauthenticated connections claiming a 1 GiB message at the password step (half to
//!   the role the endpoint logs in itself, half to one passed through to the server), sending
//!   junk until they are cut off, again and again;
//! - a burst of 2,000 logins at once every 15 s against blue's 100 connections (each logs in,
//!   runs `SELECT 1` and leaves);
//! - 500 wrong passwords, 10 at a time.
//!
//! The load generator's threads run at `nice` 19 (`ENDPOINT_SOAK_NICE`, 0 to compete as an
//! equal): on two shared cores it would otherwise take the CPU the endpoint and the canary need,
//! which load coming from other machines does not.
//!
//! The bursts' clients log in with the endpoint's own SCRAM client, which derives a key once
//! per salt (`ENDPOINT_SOAK_CLIENTS=driver` logs them in with tokio-postgres, which derives it
//! anew for each: 2,000 derivations a burst on the shared cores).
//!
//! `ENDPOINT_SOAK_PARTS` runs some of them only (`bursts,giants,half-open,wrong`), and
//! `generator-only` runs, instead of the bursts, just the key derivation their clients do for
//! their logins, to tell the load generator's share of the canary's times from the endpoint's.
//!
//! It prints the canary's and the bursts' login times and failures, the long-lived session's
//! failures, the serve's resident memory (peak, and how long after the load it took to get
//! back under 60 MB), failed TCP connects to the endpoint, and the CPU each party used (the
//! load generator shares the machine's two cores). The serve runs with 20,000 open files (this machine's hard limit), as
//! a production unit would set it (`LimitNOFILE`). The canary and the long-lived session run
//! on threads of their own.

#[path = "../tests/api_support/mod.rs"]
mod api_support;
#[path = "endpoint_soak/attacks.rs"]
mod attacks;
#[path = "../tests/common/cli.rs"]
mod cli;
#[path = "../tests/common/edge.rs"]
mod edge;
#[path = "endpoint_soak/measure.rs"]
mod measure;
#[path = "../tests/common/pg.rs"]
mod pg;

use attacks::{
    CHEAP, Logins, burst, generator_only, giants, half_open, login_once, wrong_passwords,
};
use measure::{cpu_of, own_cpu, percentile, rss_mb, rss_of, tree_cpu};

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const SOAK: Duration = Duration::from_secs(60);
const BURST: usize = 2_000;
const BURST_EVERY: Duration = Duration::from_secs(15);
const HALF_OPEN: usize = 1_000;
const GIANTS: usize = 20;
const WRONG: u64 = 500;

/// Whether load `part` runs (`ENDPOINT_SOAK_PARTS=bursts,giants,half-open,wrong`; all by
/// default), to tell what each attack costs the canary.
fn runs(part: &str) -> bool {
    std::env::var("ENDPOINT_SOAK_PARTS").map_or(true, |parts| parts.split(',').any(|p| p == part))
}

fn main() {
    raise_own_open_files();
    let served = edge::serve(&[], Some(20_000));
    let pooled = served.pooled().expose().to_string();
    let wrong = format!(
        "host=127.0.0.1 port={} user={} password=wrong dbname=app",
        served.endpoint.port(),
        lockstep::drivers::postgres::cluster::SUPERUSER
    );
    let serve_pid = served.serve.child.id();
    let password = served.pooled().password().expect("a password");
    let _ = CHEAP.set((served.endpoint, password));
    let postmaster = served.blue.postmaster_pid().unwrap_or(0);
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_before = (own_cpu(), cpu_of(serve_pid), tree_cpu(postmaster));
    let idle_rss = rss_mb(serve_pid);

    let canary = spawn_on_own_thread(canary(pooled.clone(), Arc::clone(&stop)));
    let long_lived = spawn_on_own_thread(long_lived(pooled.clone(), Arc::clone(&stop)));
    let probe = spawn_on_own_thread(probe(served.endpoint, Arc::clone(&stop)));
    let first_answer = spawn_on_own_thread(first_answer(served.endpoint, Arc::clone(&stop)));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_of(serve_pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(nice_this_thread)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let (bursts, wrong_refused, giants, half_open) = runtime.block_on(async {
        let end = tokio::time::Instant::now() + SOAK;
        let half_open = tokio::spawn(async move {
            if runs("half-open") {
                half_open(served.endpoint, end).await
            } else {
                0
            }
        });
        let giants = tokio::spawn(async move {
            if runs("giants") {
                giants(served.endpoint, end).await
            } else {
                (0, 0)
            }
        });
        let wrong = tokio::spawn(async move {
            if runs("wrong") {
                wrong_passwords(wrong, end).await
            } else {
                (0, 0)
            }
        });
        let mut bursts = Vec::new();
        while (runs("bursts") || runs("generator-only"))
            && tokio::time::Instant::now() + Duration::from_secs(5) < end
        {
            bursts.push(if runs("bursts") {
                burst(&pooled).await
            } else {
                generator_only().await
            });
            tokio::time::sleep_until(
                tokio::time::Instant::now()
                    + BURST_EVERY.saturating_sub(bursts.last().map_or(Duration::ZERO, |b| b.took)),
            )
            .await;
        }
        tokio::time::sleep_until(end).await;
        (
            bursts,
            wrong.await.expect("wrong"),
            giants.await.expect("giants"),
            half_open.await.expect("half-open"),
        )
    });
    drop(runtime);
    stop.store(true, Ordering::Relaxed);
    let cpu_after = (own_cpu(), cpu_of(serve_pid), tree_cpu(postmaster));
    let wall = started.elapsed();
    let canary = canary.join().expect("canary");
    let long_lived = long_lived.join().expect("long-lived");
    let probe_failures = probe.join().expect("probe");
    let (connects, answers) = first_answer.join().expect("first answer");
    sampler.join().expect("sampler");

    // Back under 60 MB after the load?
    let after = Instant::now();
    let mut back = None;
    while after.elapsed() < Duration::from_secs(20) {
        if rss_mb(serve_pid) < 60.0 {
            back = Some(after.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    println!(
        "endpoint soak: {:.0} s on loopback, 2 cores shared with the load",
        wall.as_secs_f64()
    );
    println!(
        "canary: {} logins, {} failed; login p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        canary.times.len() + canary.failures.len(),
        canary.failures.len(),
        percentile(&canary.times, 0.50),
        percentile(&canary.times, 0.99),
        percentile(&canary.times, 1.0)
    );
    for f in canary.failures.iter().take(3) {
        println!("  canary failure: {f}");
    }
    println!(
        "long-lived session: {} queries, {} failed",
        long_lived.0, long_lived.1
    );
    for (i, b) in bursts.iter().enumerate() {
        println!(
            "burst {}: {} logins, {} failed, login p50 {:.0} ms, max {:.0} ms, then SELECT 1 \
             p50 {:.0} ms, all done in {:.1} s{}",
            i + 1,
            BURST,
            b.failures.len(),
            percentile(&b.times, 0.50),
            percentile(&b.times, 1.0),
            percentile(&b.queries, 0.50),
            b.took.as_secs_f64(),
            b.failures
                .first()
                .map_or_else(String::new, |f| format!(" (first failure: {f})"))
        );
    }
    println!(
        "wrong passwords: {} of {WRONG} tried within the soak (the rest held back by the \
         slowing), {} refused",
        wrong_refused.0, wrong_refused.1
    );
    println!(
        "1 GiB claims: {} connections, {} refused (an ErrorResponse, the connection closed) \
         before the rest came",
        giants.0, giants.1
    );
    println!(
        "half-open sockets: {HALF_OPEN} held, {} cut at the login deadline and opened again",
        half_open
    );
    println!("failed TCP connects to the endpoint: {probe_failures}");
    println!(
        "a startup every 200 ms: TCP connect p50 {:.1} ms, p99 {:.1} ms; the password asked for \
         p50 {:.1} ms, p99 {:.1} ms after the startup",
        percentile(&connects, 0.5),
        percentile(&connects, 0.99),
        percentile(&answers, 0.5),
        percentile(&answers, 0.99)
    );
    println!(
        "serve RSS: {idle_rss:.0} MB idle, peak {:.0} MB; {}",
        peak.load(Ordering::Relaxed) as f64 / 1e6,
        back.map_or_else(
            || format!("still {:.0} MB 20 s after the load", rss_mb(serve_pid)),
            |t| format!("under 60 MB {:.1} s after the load", t.as_secs_f64())
        )
    );
    let share = |before: f64, after: f64| (after - before) / wall.as_secs_f64() * 100.0;
    println!(
        "CPU (100% = one core): load generator {:.0}%, serve {:.0}%, PostgreSQL {:.0}%",
        share(cpu_before.0, cpu_after.0),
        share(cpu_before.1, cpu_after.1),
        share(cpu_before.2, cpu_after.2)
    );
    drop(served);
}

/// The load generator's threads yield the CPU to the endpoint, PostgreSQL and the canary
/// (`nice` 19), as if the load came from other machines; `ENDPOINT_SOAK_NICE=0` lets it
/// compete as an equal.
fn nice_this_thread() {
    let nice = std::env::var("ENDPOINT_SOAK_NICE").unwrap_or_else(|_| "19".into());
    let Ok(me) = std::fs::read_link("/proc/thread-self") else {
        return;
    };
    let Some(tid) = me.file_name().and_then(|t| t.to_str()).map(str::to_string) else {
        return;
    };
    let _ = std::process::Command::new("renice")
        .args(["-n", &nice, "-p", &tid])
        .stdout(std::process::Stdio::null())
        .status();
}

/// Raises this process's own open-file limit (it holds thousands of sockets).
fn raise_own_open_files() {
    let _ = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg("--nofile=20000:20000")
        .status();
}

fn spawn_on_own_thread<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(work)
    })
}

async fn canary(dsn: String, stop: Arc<AtomicBool>) -> Logins {
    let mut out = Logins {
        times: Vec::new(),
        queries: Vec::new(),
        failures: Vec::new(),
        took: Duration::ZERO,
    };
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        match login_once(&dsn).await {
            Ok((login, query)) => {
                out.times.push(login);
                out.queries.push(query);
            }
            Err(e) => out.failures.push(e),
        }
    }
    out
}

/// Queries every 100 ms on one connection; (queries, failures).
async fn long_lived(dsn: String, stop: Arc<AtomicBool>) -> (u64, u64) {
    let Ok((client, conn)) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls).await else {
        return (0, 1);
    };
    tokio::spawn(conn);
    let (mut n, mut failed) = (0, 0);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        n += 1;
        if client
            .query_one("SELECT count(*) FROM pg_stat_activity", &[])
            .await
            .is_err()
        {
            failed += 1;
        }
    }
    (n, failed)
}

/// A connect and a startup every 200 ms, timed apart: (connect ms, ms to the password
/// request), to tell the kernel's queue from the endpoint's.
async fn first_answer(endpoint: SocketAddr, stop: Arc<AtomicBool>) -> (Vec<f64>, Vec<f64>) {
    let (mut connects, mut answers) = (Vec::new(), Vec::new());
    let user = lockstep::drivers::postgres::cluster::SUPERUSER;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        let Ok(mut socket) = TcpStream::connect(endpoint).await else {
            continue;
        };
        connects.push(started.elapsed().as_secs_f64() * 1000.0);
        let asked = Instant::now();
        if socket
            .write_all(&edge::startup(&[("user", user), ("database", "app")]))
            .await
            .is_ok()
        {
            let mut first = [0u8; 1];
            if tokio::io::AsyncReadExt::read_exact(&mut socket, &mut first)
                .await
                .is_ok()
            {
                answers.push(asked.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    (connects, answers)
}

/// TCP connects to the endpoint every 100 ms; how many failed.
async fn probe(endpoint: SocketAddr, stop: Arc<AtomicBool>) -> u64 {
    let mut failed = 0;
    while !stop.load(Ordering::Relaxed) {
        if TcpStream::connect(endpoint).await.is_err() {
            failed += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    failed
}
