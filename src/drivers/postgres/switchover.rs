//! B5 on real servers, through lockstep's client endpoint (the proxy): guardrails, then
//! 1 park new clients; 2 drain sessions to idle, terminating those still busy after the grace;
//! 3 fence writes on blue (while 2 runs: the fence leaves the endpoint's sessions alone);
//! 4 commit a marker on blue and wait for it on green; 5 set every
//! sequence on green from blue; 6 flip the endpoint's upstream (from the park on, beside 2 to
//! 5: held sessions move to green without sending anything); 7 resume. A failure or the
//! timeout reverts: the endpoint goes back to blue, blue is unfenced and writable, clients
//! resume there. The downtime is measured from park to resume.
//!
//! For the switchover green's WAL writer runs every 10 ms (`wal_writer_delay`, reloaded, no
//! restart; reset by a revert or by cleanup, B7), so green confirms its flush position in
//! milliseconds instead of up to 200 ms;
//! blue and the slot are kept until green has confirmed the marker's flush, so nothing green
//! shows can be lost with green.

use std::time::Duration;

use tokio::time::Instant;

use super::databases::Pair;
use super::dsn::Dsn;
use super::fence;
use super::others;
use super::provision::Names;
use super::proxy::{Credentials, ProxyHandle, Upstream};
use super::ready::{fresh_data_check, guardrails};
use super::sequences;
use super::session::{self, Session};

/// How long, after resuming, the flush confirmation is awaited before it is only logged.
const FLUSH_WAIT: Duration = Duration::from_secs(30);
/// How long a revert may take to move sessions back to blue.
const REVERT_LIMIT: Duration = Duration::from_secs(10);

/// The bounds of one switchover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Past this, everything reverts (B5's switchover timeout).
    pub timeout: Duration,
    /// How long busy sessions may take to reach a transaction boundary before termination.
    pub grace: Duration,
    /// The largest slot lag the switchover starts with.
    pub lag_threshold_bytes: u64,
    /// Write transactions older than this on blue keep the switchover from starting.
    pub long_txn_limit: Duration,
    /// What the operator chose for unlogged tables (B13), if anything.
    pub unlogged: Option<crate::model::run::ChoiceValue>,
}

/// How a switchover ended: `Ok` when clients are on green, else why it reverted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `Err(reason)` when it reverted and blue serves.
    pub result: Result<(), String>,
    /// Park to resume, in milliseconds (none when it reverted before parking).
    pub downtime_ms: Option<u64>,
}

/// What the critical section got to, so a revert undoes just that.
#[derive(Debug, Default)]
struct Progress {
    /// When the fence went up and the flip began, together (sessions that logged in on blue
    /// since took its read-only default).
    fenced: Option<std::time::Instant>,
    /// The flip's line for the log once it is done (kept when a timeout cuts the rest short).
    flipped: Option<String>,
}

/// What the critical section works with: a session on each side, the endpoint, the run.
#[derive(Clone, Copy)]
struct Sides<'a> {
    blue: &'a Session,
    green: &'a Session,
    proxy: &'a ProxyHandle,
    run_id: &'a str,
    database: &'a str,
    plan: &'a Plan,
    others: &'a [others::Other],
}

/// The endpoint's upstream for `dsn`: its host and port, with its user and password as the
/// proxy's own login for re-binding sessions.
pub fn upstream_for(dsn: &Dsn) -> Result<Upstream, String> {
    let config = dsn.config()?;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(_)) | None => {
            return Err(format!("{dsn}: the endpoint needs a TCP host"));
        }
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let rebind_as = match (config.get_user(), dsn.password()) {
        (Some(user), Some(password)) => Some(Credentials::new(user, &password)),
        _ => None,
    };
    Ok(Upstream {
        addr: format!("{host}:{port}"),
        rebind_as,
    })
}

/// Runs the switchover from `blue_dsn` to `green_dsn` through `proxy`.
#[allow(clippy::too_many_arguments)] // the two sides, the endpoint, the run and its databases
pub async fn run(
    blue_dsn: &Dsn,
    green_dsn: &Dsn,
    pairs: &[Pair],
    proxy: &ProxyHandle,
    names: &Names,
    run_id: &str,
    plan: &Plan,
    log: &mut Vec<String>,
) -> Outcome {
    let began = Instant::now();
    let deadline = began + plan.timeout;
    let not_started = |reason: String| Outcome {
        result: Err(format!("{reason}; nothing was fenced, blue keeps serving")),
        downtime_ms: None,
    };
    let sides = async {
        let blue = session::connect(blue_dsn, "blue").await?;
        let green = session::connect(green_dsn, "green").await?;
        let others = others::open(pairs).await?;
        Ok::<_, String>((blue, green, upstream_for(green_dsn)?, others))
    };
    let (blue, green, green_up, others) = match sides.await {
        Ok(sides) => sides,
        Err(e) => return not_started(e),
    };
    let blue_up = proxy.upstream();
    let database = match blue.text("SELECT current_database()::text").await {
        Ok(database) => database,
        Err(e) => return not_started(e),
    };
    if let Err(e) = quick_flush(&green, true).await {
        return not_started(e);
    }
    // Green logins for every session, opened before anyone waits.
    let warm = proxy.prepare(green_up.clone()).await;
    log.push(format!(
        "{warm} green connections logged in ahead for the endpoint's sessions"
    ));
    let ready = async {
        super::parity::before_park(&blue, &green, plan.unlogged, log).await?;
        guardrails(&blue, &green, names, plan, log).await?;
        fresh_data_check(&blue, &green, names, log).await?;
        others::ready(&others, plan, log).await
    };
    // Bounded by the switchover's timeout too: a lock on green must not hold it for ever.
    let ready = tokio::time::timeout_at(deadline, ready)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the preparation ran past the switchover's timeout of {} s",
                plan.timeout.as_secs()
            ))
        });
    if let Err(e) = ready {
        proxy.resume();
        let _ = quick_flush(&green, false).await;
        return not_started(format!("B5 guardrail: {e}"));
    }

    let parked_at = Instant::now();
    proxy.park();
    log.push(format!(
        "1 new clients parked at the endpoint, {} ms into B5",
        ms(began.elapsed())
    ));
    let mut progress = Progress::default();
    let sides = Sides {
        blue: &blue,
        green: &green,
        proxy,
        run_id,
        database: &database,
        plan,
        others: &others,
    };
    let critical = critical(&sides, green_up, &mut progress, log);
    let reason = match tokio::time::timeout_at(deadline, critical).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(format!(
            "the switchover ran past its timeout of {} s",
            plan.timeout.as_secs_f64()
        )),
    };
    let Some(reason) = reason else {
        proxy.resume();
        let downtime = ms(parked_at.elapsed());
        log.push(format!("7 resumed on green: clients waited {downtime} ms"));
        keep_blue_until_flushed(&blue, names, log).await;
        return Outcome {
            result: Ok(()),
            downtime_ms: Some(downtime),
        };
    };
    if let Some(line) = progress.flipped.take() {
        log.push(line);
    }
    let mut undone = revert(blue_dsn, proxy, blue_up, &progress, log).await;
    if progress.fenced.is_some() {
        let failed = others::unfence(pairs).await;
        if !failed.is_empty() {
            undone = Err(failed.join("; "));
        } else if !pairs.iter().all(|p| p.main) {
            log.push("revert: the other databases unfenced, writable again".into());
        }
    }
    let downtime = ms(parked_at.elapsed());
    // A fresh session: the timeout may have left the old one waiting on green.
    let restore = async {
        let green = session::connect(green_dsn, "green").await?;
        quick_flush(&green, false).await
    };
    if let Err(e) = tokio::time::timeout(REVERT_LIMIT, restore)
        .await
        .unwrap_or_else(|_| Err("green did not answer".into()))
    {
        log.push(format!("green's wal_writer_delay not reset: {e}"));
    }
    let result = match undone {
        Ok(()) => Err(format!(
            "{reason}; reverted: the endpoint serves blue, blue is writable"
        )),
        Err(e) => Err(format!("{reason}; the revert failed too: {e}")),
    };
    Outcome {
        result,
        downtime_ms: Some(downtime),
    }
}

/// Steps 2 to 6, under the timeout. The flip (6) runs from the park on, beside 2 to 5: idle
/// sessions move to green's warm connections while the clients stay held, so no client
/// statement reaches green before 5 is done and resume (7) follows at once.
async fn critical(
    sides: &Sides<'_>,
    green_up: Upstream,
    progress: &mut Progress,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let (proxy, plan) = (sides.proxy, sides.plan);
    let started = Instant::now();
    // The fence leaves the endpoint's sessions alone, so it goes up while they drain.
    progress.fenced = Some(std::time::Instant::now());
    // Steps 2 to 5 log as they go: what a timeout cut short stays in the log.
    let steps = steps_2_to_5(sides, log);
    let flipped = &mut progress.flipped;
    let flip = async {
        let flip = proxy.flip(green_up, plan.timeout).await?;
        *flipped = Some(format!(
            "6 endpoint flipped to green while 2 to 5 ran: {} sessions re-bound, {} closed at a \
             transaction boundary, at {} ms",
            flip.rebound,
            flip.closed,
            started.elapsed().as_millis()
        ));
        Ok::<_, String>(())
    };
    tokio::try_join!(steps, flip)?;
    if let Some(line) = progress.flipped.take() {
        log.push(line);
    }
    Ok(())
}

/// Drain, fence, marker and sequences.
async fn steps_2_to_5(sides: &Sides<'_>, log: &mut Vec<String>) -> Result<(), String> {
    let Sides {
        blue,
        green,
        proxy,
        run_id,
        database,
        plan,
        others,
    } = *sides;
    let started = Instant::now();
    let fencing = async {
        let ports = proxy.upstream_ports();
        let mut terminated = fence::fence(blue, database, &ports).await;
        if let Ok(done) = &mut terminated {
            match others::fence_all(others, &ports).await {
                Ok(more) => done.extend(more),
                Err(e) => terminated = Err(e),
            }
        }
        (terminated, started.elapsed())
    };
    let (drain, (terminated, fenced_after)) = tokio::join!(proxy.wait_idle(plan.grace), fencing);
    log.push(format!(
        "2 sessions drained: {} idle, {} terminated after the {} ms grace ({} ms)",
        drain.idle,
        drain.terminated,
        plan.grace.as_millis(),
        started.elapsed().as_millis()
    ));
    let terminated = terminated?;
    log.push(format!(
        "3 writes fenced on blue meanwhile (new sessions read-only, {} other client backends \
         terminated{}) at {} ms",
        terminated.len(),
        if terminated.is_empty() {
            String::new()
        } else {
            format!(": {}", terminated.join("; "))
        },
        fenced_after.as_millis()
    ));
    let marked = fence::mark(blue, run_id).await?;
    log.push(format!(
        "4 marker committed on blue at {}, at {} ms",
        marked.lsn,
        started.elapsed().as_millis()
    ));
    let limit = plan.timeout.saturating_sub(started.elapsed());
    let took =
        fence::await_marker_and_set(green, run_id, &marked.token, &marked.sequences, limit).await?;
    log.push(format!(
        "4 marker seen on green {} ms after its commit; 5 sequences set there from blue: {}, \
         at {} ms",
        took.as_millis(),
        marked.sequences.iter().filter(|(_, v)| v.is_some()).count(),
        started.elapsed().as_millis()
    ));
    log.extend(sequences::describe(&marked.sequences));
    super::parity::while_fenced(blue, green, plan.unlogged, log).await?;
    let limit = plan.timeout.saturating_sub(started.elapsed());
    others::carry(others, run_id, plan.unlogged, limit, log).await?;
    log.push(format!(
        "5b what replication does not carry is on green, at {} ms",
        started.elapsed().as_millis()
    ));
    Ok(())
}

/// Undoes what the critical section did: sessions back to blue, blue unfenced, clients resumed.
async fn revert(
    blue_dsn: &Dsn,
    proxy: &ProxyHandle,
    blue_up: Upstream,
    progress: &Progress,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let mut failed = Vec::new();
    // The flip began with the fence.
    if progress.fenced.is_some() {
        match proxy.flip(blue_up, REVERT_LIMIT).await {
            Ok(flip) => log.push(format!(
                "revert: endpoint back on blue: {} sessions there ({} on their own earlier \
                 connection, the others logged in again), {} closed at a transaction boundary",
                flip.rebound, flip.own, flip.closed
            )),
            Err(e) => {
                log.push(format!(
                    "revert: endpoint back on blue, not every session: {e}"
                ));
                failed.push(e);
            }
        }
    }
    if let Some(fenced_at) = progress.fenced {
        // A fresh session: the timeout may have cut the old one off mid-statement.
        let unfence = async {
            let blue = session::connect(blue_dsn, "blue").await?;
            fence::unfence(&blue).await
        };
        match tokio::time::timeout(REVERT_LIMIT, unfence).await {
            Ok(Ok(())) => {
                proxy.relogin_since(fenced_at);
                log.push("revert: blue unfenced, writable again".into());
            }
            Ok(Err(e)) => failed.push(e),
            Err(_) => failed.push("blue did not answer the unfence".into()),
        }
    }
    proxy.resume();
    log.push("revert: clients resumed on blue".into());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// After the flip: waits for green to confirm it flushed past blue's last WAL position, so
/// blue and the slot can go in B7; until then they stay.
async fn keep_blue_until_flushed(blue: &Session, names: &Names, log: &mut Vec<String>) {
    let confirmed = async {
        let lsn = blue.text("SELECT pg_current_wal_lsn()::text").await?;
        let took = tokio::time::timeout(
            FLUSH_WAIT,
            fence::await_flush(blue, &names.subscription, &lsn),
        )
        .await
        .map_err(|_| format!("not within {} s", FLUSH_WAIT.as_secs()))??;
        Ok::<_, String>((lsn, took))
    };
    match confirmed.await {
        Ok((lsn, took)) => log.push(format!(
            "green confirmed its flush past blue's {lsn} {} ms after resuming; blue and the slot \
             stay until cleanup",
            took.as_millis()
        )),
        Err(e) => log.push(format!(
            "green has not confirmed its flush ({e}): keep blue and the slot until it does"
        )),
    }
    // Reloading green's settings now would make every backend re-read them at its next query,
    // just as the clients arrive (a stall of tens of milliseconds on a busy machine).
    log.push("green's 10 ms wal_writer_delay stays until cleanup (B7) resets it".into());
}

/// Sets (or resets) a 10 ms `wal_writer_delay` on green, reloaded without a restart.
pub(super) async fn quick_flush(green: &Session, on: bool) -> Result<(), String> {
    let set = if on {
        "ALTER SYSTEM SET wal_writer_delay = '10ms'"
    } else {
        "ALTER SYSTEM RESET wal_writer_delay"
    };
    green.execute(set).await?;
    green.execute("SELECT pg_reload_conf()").await
}

fn ms(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_upstream_comes_from_the_dsn_and_never_shows_its_password() {
        let dsn = Dsn::parse("host=10.0.0.7 port=6543 user=app password=hunter2 dbname=shop")
            .expect("parses");
        let upstream = upstream_for(&dsn).expect("an upstream");
        assert_eq!(upstream.addr, "10.0.0.7:6543");
        assert_eq!(
            upstream.rebind_as.as_ref().map(|c| c.user.as_str()),
            Some("app")
        );
        assert!(!format!("{upstream:?}").contains("hunter2"));
    }

    #[test]
    fn a_socket_dsn_is_refused_for_the_endpoint() {
        let dsn = Dsn::parse("host=/var/run/postgresql user=app dbname=shop").expect("parses");
        assert!(upstream_for(&dsn).is_err());
    }
}
