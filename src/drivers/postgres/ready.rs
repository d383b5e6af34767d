//! B5 before the park: the guardrails checked on the servers themselves (subscription
//! streaming, marker tables, no long write transaction, lag under its threshold) and the data
//! check done again, so the switchover never starts on an observation minutes old.

use std::time::Duration;

use tokio::time::Instant;

use super::fence;
use super::plan::Plan;
use super::provision::Names;
use super::session::{Session, literal};

/// How long the lag guardrail waits for the lag to come under its threshold.
const LAG_WAIT: Duration = Duration::from_secs(10);

/// Subscription streaming, marker table on both sides, no long write transaction, and the
/// slot's lag under the threshold (awaited a little, as green catches up).
pub(super) async fn guardrails(
    blue: &Session,
    green: &Session,
    names: &Names,
    plan: &Plan,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let streaming = green
        .text(&format!(
            "SELECT count(*)::text FROM pg_stat_subscription
             WHERE subname = {} AND pid IS NOT NULL",
            literal(&names.subscription)
        ))
        .await?;
    if streaming == "0" {
        return Err(format!(
            "subscription {} is not streaming on green",
            names.subscription
        ));
    }
    for side in [blue, green] {
        if !fence::has_marker_table(side).await? {
            return Err(format!(
                "{} has no {} table (B2 creates it)",
                side.side,
                fence::MARKER_TABLE
            ));
        }
    }
    let long = blue
        .text(&format!(
            "SELECT COALESCE(string_agg(pid::text, ', '), '') FROM pg_stat_activity
             WHERE backend_xid IS NOT NULL AND backend_type = 'client backend'
               AND xact_start < now() - interval '{} seconds'",
            plan.long_txn_limit.as_secs()
        ))
        .await?;
    if !long.is_empty() {
        return Err(format!(
            "write transactions older than {} s on blue (pids {long})",
            plan.long_txn_limit.as_secs()
        ));
    }
    let lag_sql = format!(
        "SELECT COALESCE((pg_current_wal_lsn() - confirmed_flush_lsn)::bigint, -1)::text
         FROM pg_replication_slots WHERE slot_name = {}",
        literal(&names.subscription)
    );
    let started = Instant::now();
    loop {
        let lag: i64 = blue.text(&lag_sql).await?.parse().unwrap_or(-1);
        if (0..=i64::try_from(plan.lag_threshold_bytes).unwrap_or(i64::MAX)).contains(&lag) {
            log.push(format!(
                "guardrails green: subscription streaming, no long write transaction, lag {lag} \
                 bytes (threshold {})",
                plan.lag_threshold_bytes
            ));
            return Ok(());
        }
        if started.elapsed() > LAG_WAIT {
            return Err(format!(
                "slot lag {lag} bytes stayed over the {} byte threshold for {} s",
                plan.lag_threshold_bytes,
                LAG_WAIT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The data check again, just before the park (the last B4 one may be minutes old): a lasting
/// difference stops the switchover before anything is fenced.
pub(super) async fn fresh_data_check(
    blue: &Session,
    green: &Session,
    names: &Names,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let started = Instant::now();
    // At zero lag a difference cannot be green catching up: it blocks (B4's rule).
    let lag = blue
        .text(&format!(
            "SELECT COALESCE((pg_current_wal_lsn() - confirmed_flush_lsn)::bigint, -1)::text
             FROM pg_replication_slots WHERE slot_name = {}",
            literal(&names.subscription)
        ))
        .await?;
    let check = super::observe::data_check(
        blue,
        green,
        names,
        crate::model::run::SubscriptionHealth::Streaming,
        lag == "0",
    )
    .await?;
    if !check.lasting.is_empty() {
        return Err(format!("data differs: {}", check.lasting.join("; ")));
    }
    log.push(format!(
        "data check refreshed before the park in {} ms: no lasting difference ({} tables \
         catching up)",
        started.elapsed().as_millis(),
        check.catching_up.len()
    ));
    Ok(())
}
