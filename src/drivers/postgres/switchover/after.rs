//! What follows B5's critical section: the revert, the wait for green's flush, and what a
//! try that takes over after a crash does first (finish a flip that was recorded, or lift the
//! fence a lost try left).

use super::super::databases::Pair;
use super::super::dsn::Dsn;
use super::super::fence;
use super::super::provision::Names;
use super::super::proxy::{ProxyHandle, Upstream};
use super::super::session::{self, Session};
use super::{FLUSH_WAIT, Progress, REVERT_LIMIT, upstream_for};
use crate::drivers::flips::Attempt;

/// Ends the fence transactions of a try that reverts: blue takes writes again at once (the
/// sessions' ends would do it too, a moment later).
pub(super) async fn release(fences: &[&Session]) {
    for session in fences {
        let _ = tokio::time::timeout(REVERT_LIMIT, fence::release(session)).await;
    }
}

/// Before a try that takes over from one a crash cut off before its flip: every database of
/// the run unfenced (the lost try's locks ended with its session; a retirement it committed
/// goes). Safe to repeat.
pub(super) async fn lift_leftovers(
    pairs: &[Pair],
    run_id: &str,
    log: &mut Vec<String>,
) -> Result<(), String> {
    for pair in pairs {
        let blue = session::connect(&pair.blue, "blue").await?;
        let retired = fence::retired_by(&blue).await?;
        fence::unfence(&blue).await?;
        let db = if pair.main {
            String::new()
        } else {
            format!("{}: ", pair.db)
        };
        log.push(match retired {
            Some(by) if by == run_id => format!(
                "{db}the lost try had retired blue but not recorded the flip: retirement lifted, \
                 blue writable, starting over"
            ),
            _ => format!(
                "{db}the lost try's fence ended with its session: blue was writable, starting \
                 over"
            ),
        });
    }
    Ok(())
}

/// A try that takes over from one a crash cut off after its flip was recorded: green serves.
/// The endpoint (opened on green by the restart) is checked, blue's retirement confirmed on
/// every database (made again if missing), and the slot kept until green's flush is
/// confirmed. Nothing is parked again.
pub(super) async fn finish_flipped(
    blue_dsn: &Dsn,
    green_dsn: &Dsn,
    pairs: &[Pair],
    proxy: &ProxyHandle,
    names: &Names,
    attempt: &Attempt,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let green_up = upstream_for(green_dsn)?;
    if proxy.upstream().addr == green_up.addr {
        log.push("the endpoint opened on green after the restart, as recorded".into());
    } else {
        proxy.park();
        let flip = proxy.flip(green_up, REVERT_LIMIT).await;
        proxy.resume();
        let flip = flip?;
        log.push(format!(
            "the endpoint moved to green, where the recorded flip says clients belong: {} \
             sessions",
            flip.rebound
        ));
    }
    for pair in pairs {
        let blue = session::connect(&pair.blue, "blue").await?;
        if fence::retired_by(&blue).await?.as_deref() == Some(attempt.run_id.as_str()) {
            continue;
        }
        let fence_session = session::connect(&pair.blue, "blue").await?;
        fence::hold(&fence_session, REVERT_LIMIT).await?;
        fence::retire(&fence_session, &pair.db, &attempt.run_id).await?;
        log.push(format!("{}: blue retired again", pair.db));
    }
    log.push(format!(
        "green serves since {} (recorded before the crash); blue stays retired",
        attempt
            .flipped_at
            .map_or_else(String::new, |t| t.format("%H:%M:%S%.3f").to_string())
    ));
    let blue = session::connect(blue_dsn, "blue").await?;
    keep_blue_until_flushed(&blue, names, log).await;
    Ok(())
}

/// Undoes what the critical section did: sessions back to blue, blue unfenced, clients resumed.
pub(super) async fn revert(
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
                if progress.retiring {
                    // Sessions that logged in since took the retired blue's read-only default.
                    proxy.relogin_since(fenced_at);
                }
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
pub(super) async fn keep_blue_until_flushed(blue: &Session, names: &Names, log: &mut Vec<String>) {
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
pub(in crate::drivers::postgres) async fn quick_flush(
    green: &Session,
    on: bool,
) -> Result<(), String> {
    let set = if on {
        "ALTER SYSTEM SET wal_writer_delay = '10ms'"
    } else {
        "ALTER SYSTEM RESET wal_writer_delay"
    };
    green.execute(set).await?;
    green.execute("SELECT pg_reload_conf()").await
}
