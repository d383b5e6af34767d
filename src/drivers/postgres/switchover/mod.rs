//! B5 on real servers, through lockstep's client endpoint (the proxy): guardrails, then
//! 1 park new clients; 2 drain sessions to idle, terminating other clients of blue meanwhile;
//! 3 fence writes on blue (a transaction of lockstep's own session holds every table, so the
//! fence ends with lockstep); 4 commit a marker on blue and wait for it on green; 5 set every
//! sequence on green from blue (never backwards); 6 flip the endpoint's upstream (from the
//! park on, beside 2 to 5: held sessions move to green without sending anything), retire blue
//! (the fence made permanent, deliberate, naming the run) and record that green serves;
//! 7 resume. A failure or the timeout before the record reverts: the endpoint goes back to
//! blue, blue is unfenced and writable, clients resume there. The downtime is measured from
//! park to resume, plus what clients waited across a crash of lockstep.
//!
//! Every attempt is recorded ([`crate::drivers::flips`]) before the park (the intent) and
//! when green is to serve (the flip, before clients resume): a try that a crash cut off is
//! finished by the next process if it had flipped, and otherwise started over, after lifting
//! whatever fence it left (B9).
//!
//! For the switchover green's WAL writer runs every 10 ms (`wal_writer_delay`, reloaded, no
//! restart; reset by a revert or by cleanup, B7), so green confirms its flush position in
//! milliseconds instead of up to 200 ms;
//! blue and the slot are kept until green has confirmed the marker's flush, so nothing green
//! shows can be lost with green.

mod after;
mod steps;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::databases::Pair;
use super::dsn::Dsn;
use super::others;
use super::provision::Names;
use super::proxy::{Credentials, ProxyHandle, Upstream};
use super::ready::{fresh_data_check, guardrails};
use super::session::{self, Session};
use crate::drivers::DriverError;
use crate::drivers::failpoint::pause;
use crate::drivers::flips::{Attempt, Flips};
use crate::model::run::Interruption;

pub(super) use after::quick_flush;

/// How long, after resuming, the flush confirmation is awaited before it is only logged.
const FLUSH_WAIT: Duration = Duration::from_secs(30);
/// How long a revert may take to move sessions back to blue.
const REVERT_LIMIT: Duration = Duration::from_secs(10);

pub use super::plan::Plan;

/// Where the attempts of one B5 request are recorded, and what a crash left of them.
pub struct Record<'a> {
    /// The B5 request's key.
    pub key: &'a str,
    /// The record in the lockstep database.
    pub flips: &'a Arc<Flips>,
    /// When an earlier try of this request began, if a crash cut it off (the action log
    /// found it claimed and never reported).
    pub interrupted: Option<DateTime<Utc>>,
}

/// How a switchover ended: `Ok` when clients are on green, else why it reverted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `Err(reason)` when it reverted and blue serves.
    pub result: Result<(), String>,
    /// Park to resume, in milliseconds, with what clients waited across a crash (none when
    /// it reverted before parking and no crash kept them waiting).
    pub downtime_ms: Option<u64>,
    /// What a crash of lockstep cut off before this try, if anything.
    pub interrupted: Option<Interruption>,
}

/// What the critical section got to, so a revert undoes just that.
#[derive(Debug, Default)]
struct Progress {
    /// When the fence went up and the flip began, together.
    fenced: Option<std::time::Instant>,
    /// The flip's line for the log once it is done (kept when a timeout cuts the rest short).
    flipped: Option<String>,
    /// Whether blue's retirement began (its triggers and read-only default are then lifted
    /// by the revert; sessions that logged in since log in again).
    retiring: bool,
}

/// What the critical section works with: a session on each side, the endpoint, the run.
#[derive(Clone, Copy)]
struct Sides<'a> {
    blue: &'a Session,
    green: &'a Session,
    /// Blue's session holding the fence.
    fence: &'a Session,
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

/// Runs `work` on the record, off the async threads (its commits wait for the disk), to its
/// end even if the caller is dropped: a flip is recorded whole or not at all.
async fn on_record<T: Send + 'static>(
    flips: &Arc<Flips>,
    work: impl FnOnce(&Flips) -> Result<T, DriverError> + Send + 'static,
) -> Result<T, String> {
    let flips = Arc::clone(flips);
    tokio::task::spawn_blocking(move || work(&flips))
        .await
        .map_err(|e| format!("switchover record: {e}"))?
        .map_err(|e| e.0)
}

/// What the crash before this try cut off, from the action log's claim and the record (whose
/// open park, if the endpoint this process holds did not settle it, ends now).
fn interruption(
    record: &Record<'_>,
    earlier: Option<&Attempt>,
    proxy: &ProxyHandle,
) -> Option<Interruption> {
    let began_at = record.interrupted?;
    let restarted_at = proxy.opened_at();
    Some(Interruption {
        began_at,
        parked_at: earlier.map(|a| a.parked_at),
        restarted_at: Some(restarted_at),
        flipped: earlier.is_some_and(|a| a.flipped_at.is_some()),
        lost_tries: earlier.map_or(0, |a| a.tries),
        down_ms: earlier.map(|a| {
            let open = if a.open {
                u64::try_from((restarted_at - a.parked_at).num_milliseconds()).unwrap_or(0)
            } else {
                0
            };
            a.earlier_down_ms + open
        }),
    })
}

/// Closes this try's park in the record: clients resumed (on either side).
async fn end_park(record: &Record<'_>, log: &mut Vec<String>) {
    let key = record.key.to_string();
    if let Err(e) = on_record(record.flips, move |f| f.ended(&key)).await {
        log.push(format!("the park's end could not be recorded: {e}"));
    }
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
    record: &Record<'_>,
    log: &mut Vec<String>,
) -> Outcome {
    let began = Instant::now();
    let deadline = began + plan.timeout;
    let key = record.key.to_string();
    let earlier = match record.flips.get(&key) {
        Ok(earlier) => earlier.filter(|_| record.interrupted.is_some()),
        Err(e) => {
            return Outcome {
                result: Err(format!("{e}; nothing was fenced, blue keeps serving")),
                downtime_ms: None,
                interrupted: None,
            };
        }
    };
    let crash = interruption(record, earlier.as_ref(), proxy);
    if let Some(line) = crash.as_ref().map(Interruption::describe) {
        log.push(line);
    }
    // Clients waited across the crash, and in earlier tries of this request.
    let carried = crash.as_ref().and_then(|c| c.down_ms).unwrap_or(0);
    if let Some(attempt) = earlier.as_ref().filter(|a| a.flipped_at.is_some()) {
        let done = after::finish_flipped(blue_dsn, green_dsn, pairs, proxy, names, attempt, log);
        return Outcome {
            result: done.await,
            downtime_ms: Some(carried),
            interrupted: crash,
        };
    }
    let not_started = |reason: String| Outcome {
        result: Err(format!("{reason}; nothing was fenced, blue keeps serving")),
        downtime_ms: (carried > 0).then_some(carried),
        interrupted: crash.clone(),
    };
    if earlier.is_some() {
        // The lost try had not flipped: blue served all along. Its fence ended with its
        // session; a retirement it committed before the crash is lifted before going on.
        if let Err(e) = after::lift_leftovers(pairs, run_id, log).await {
            return not_started(e);
        }
    }
    let sides = async {
        let blue = session::connect(blue_dsn, "blue").await?;
        let green = session::connect(green_dsn, "green").await?;
        let fence = session::connect(blue_dsn, "blue").await?;
        let others = others::open(pairs).await?;
        Ok::<_, String>((blue, green, fence, upstream_for(green_dsn)?, others))
    };
    let (blue, green, fence_session, green_up, others) = match sides.await {
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
        others::ready(&others, plan, log).await?;
        // The intent, before anyone waits: a process that takes over after a crash knows
        // clients were parked from here.
        let parked = Utc::now();
        let (k, run) = (key.clone(), run_id.to_string());
        on_record(record.flips, move |f| f.parking(&k, &run, parked)).await
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
    pause("b5:parked").await;
    let mut progress = Progress::default();
    let sides = Sides {
        blue: &blue,
        green: &green,
        fence: &fence_session,
        proxy,
        run_id,
        database: &database,
        plan,
        others: &others,
    };
    let critical = steps::critical(&sides, green_up, &mut progress, log);
    let mut reason = match tokio::time::timeout_at(deadline, critical).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(format!(
            "the switchover ran past its timeout of {} s",
            plan.timeout.as_secs_f64()
        )),
    };
    if reason.is_none() {
        // The point of no return, outside the timeout: recorded whole, or not at all.
        let k = key.clone();
        if let Err(e) = on_record(record.flips, move |f| f.flipped(&k, Utc::now())).await {
            reason = Some(format!(
                "green could not be recorded as the side that serves: {e}"
            ));
        }
    }
    let Some(reason) = reason else {
        log.push("6c recorded: green serves (a restart opens the endpoint there)".into());
        pause("b5:flipped").await;
        proxy.resume();
        let downtime = ms(parked_at.elapsed());
        log.push(format!("7 resumed on green: clients waited {downtime} ms"));
        end_park(record, log).await;
        pause("b5:resumed").await;
        after::keep_blue_until_flushed(&blue, names, log).await;
        return Outcome {
            result: Ok(()),
            downtime_ms: Some(downtime + carried),
            interrupted: crash,
        };
    };
    if let Some(line) = progress.flipped.take() {
        log.push(line);
    }
    let fences: Vec<&Session> = std::iter::once(&fence_session)
        .chain(others.iter().map(|o| &o.fence))
        .collect();
    after::release(&fences).await;
    let mut undone = after::revert(blue_dsn, proxy, blue_up, &progress, log).await;
    end_park(record, log).await;
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
        downtime_ms: Some(downtime + carried),
        interrupted: crash,
    }
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
