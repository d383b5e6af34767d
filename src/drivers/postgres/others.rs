//! B5 for the run's other databases ([`super::databases`]): made ready with the registered one
//! before the park (guardrails, materialized views, large objects, data check), fenced with it,
//! and carried to green (marker, sequences, what replication does not carry) before clients
//! resume; a revert unfences them too. One endpoint serves them all, so they flip together.

use std::time::{Duration, Instant};

use super::databases::Pair;
use super::plan::Plan;
use super::session::{self, Session};
use super::{fence, parity, sequences};

/// One other database, with a session on each side.
pub struct Other {
    /// Which database.
    pub pair: Pair,
    /// Blue's session on it.
    pub blue: Session,
    /// Green's session on it.
    pub green: Session,
    /// Blue's session that holds the fence (B5 step 3), apart from `blue`, which commits the
    /// marker while the fence stands.
    pub fence: Session,
}

fn named(pair: &Pair, e: String) -> String {
    format!("database {}: {e}", pair.db)
}

/// Opens a session on each side of every other database.
pub async fn open(pairs: &[Pair]) -> Result<Vec<Other>, String> {
    let mut out = Vec::new();
    for pair in pairs.iter().filter(|p| !p.main) {
        let blue = session::connect(&pair.blue, "blue")
            .await
            .map_err(|e| named(pair, e))?;
        let green = session::connect(&pair.green, "green")
            .await
            .map_err(|e| named(pair, e))?;
        let fence = session::connect(&pair.blue, "blue")
            .await
            .map_err(|e| named(pair, e))?;
        out.push(Other {
            pair: pair.clone(),
            blue,
            green,
            fence,
        });
    }
    Ok(out)
}

/// Before the park: what the registered database's preparation does, for each other one.
pub async fn ready(others: &[Other], plan: &Plan, log: &mut Vec<String>) -> Result<(), String> {
    for o in others {
        let mut lines = Vec::new();
        let done = async {
            parity::before_park(&o.blue, &o.green, plan.unlogged, &mut lines).await?;
            super::ready::guardrails(&o.blue, &o.green, &o.pair.names, plan, &mut lines).await?;
            super::ready::fresh_data_check(&o.blue, &o.green, &o.pair.names, &mut lines).await
        }
        .await;
        log.extend(lines.into_iter().map(|l| format!("{}: {l}", o.pair.db)));
        done.map_err(|e| named(&o.pair, e))?;
    }
    Ok(())
}

/// Step 3a for each other database: its other client backends terminated.
pub async fn terminate_all(
    others: &[Other],
    endpoint_ports: &[u16],
) -> Result<Vec<String>, String> {
    let mut terminated = Vec::new();
    for o in others {
        let done = async {
            let own = [
                fence::backend_pid(&o.blue).await?,
                fence::backend_pid(&o.fence).await?,
            ];
            fence::terminate_others(&o.blue, endpoint_ports, &own).await
        };
        let gone = done.await.map_err(|e| named(&o.pair, e))?;
        terminated.extend(gone.into_iter().map(|t| format!("{} {t}", o.pair.db)));
    }
    Ok(terminated)
}

/// Step 3b for each other database: fenced by lockstep's session, within `limit`.
pub async fn hold_all(others: &[Other], limit: Duration) -> Result<usize, String> {
    let mut tables = 0;
    for o in others {
        tables += fence::hold(&o.fence, limit)
            .await
            .map_err(|e| named(&o.pair, e))?;
    }
    Ok(tables)
}

/// After the flip is decided: each other database retired for good, like the registered one.
pub async fn retire_all(others: &[Other], run_id: &str) -> Result<(), String> {
    for o in others {
        fence::retire(&o.fence, &o.pair.db, run_id)
            .await
            .map_err(|e| named(&o.pair, e))?;
    }
    Ok(())
}

/// Steps 4, 5 and 5b for each other database, within `limit`.
pub async fn carry(
    others: &[Other],
    run_id: &str,
    unlogged: Option<crate::model::run::ChoiceValue>,
    limit: Duration,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let started = Instant::now();
    for o in others {
        let db = &o.pair.db;
        let marked = fence::mark(&o.blue, run_id)
            .await
            .map_err(|e| named(&o.pair, e))?;
        let left = limit.saturating_sub(started.elapsed());
        fence::await_marker_and_set(&o.green, run_id, &marked.token, &marked.sequences, left)
            .await
            .map_err(|e| named(&o.pair, e))?;
        log.push(format!(
            "{db}: 4 marker seen on green; 5 sequences set there from blue: {}, at {} ms",
            marked.sequences.iter().filter(|(_, v)| v.is_some()).count(),
            started.elapsed().as_millis()
        ));
        log.extend(
            sequences::describe(&marked.sequences)
                .into_iter()
                .map(|l| format!("{db}: {l}")),
        );
        let mut lines = Vec::new();
        let done = parity::while_fenced(&o.blue, &o.green, unlogged, &mut lines).await;
        log.extend(lines.into_iter().map(|l| format!("{db}: {l}")));
        done.map_err(|e| named(&o.pair, e))?;
    }
    Ok(())
}

/// Revert: every other database writable again (a fresh session each: the timeout may have
/// cut the old ones off; the fence sessions' locks end with them). Returns what failed.
pub async fn unfence(pairs: &[Pair]) -> Vec<String> {
    let mut failed = Vec::new();
    for pair in pairs.iter().filter(|p| !p.main) {
        let done = async {
            let blue = session::connect(&pair.blue, "blue").await?;
            fence::unfence(&blue).await
        };
        if let Err(e) = done.await {
            failed.push(named(pair, e));
        }
    }
    failed
}
