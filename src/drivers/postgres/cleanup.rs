//! B7 and B8 on real servers: the subscription is dropped on green (with its slot on blue when
//! blue is reachable from green), then the publication and any slot left behind on blue.
//! Every step checks what still exists, so cleanup can be repeated (B9).

use super::provision::Names;
use super::session::{Session, ident, literal};

/// Drops the subscription on green, if green is reachable and still has it.
pub async fn drop_subscription(
    green: &Session,
    names: &Names,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let exists = green
        .text(&format!(
            "SELECT count(*)::text FROM pg_subscription WHERE subname = {}",
            literal(&names.subscription)
        ))
        .await?;
    if exists == "0" {
        log.push(format!("no subscription {} on green", names.subscription));
        return Ok(());
    }
    let sub = ident(&names.subscription);
    // Detach the slot first: the slot is dropped on blue below, even if green cannot reach it.
    green
        .execute(&format!(
            "ALTER SUBSCRIPTION {sub} DISABLE; ALTER SUBSCRIPTION {sub} SET (slot_name = NONE)"
        ))
        .await?;
    green.execute(&format!("DROP SUBSCRIPTION {sub}")).await?;
    log.push(format!(
        "subscription {} dropped on green",
        names.subscription
    ));
    Ok(())
}

/// Drops the publication and the run's slot on blue, if they still exist.
pub async fn drop_publication_and_slot(
    blue: &Session,
    names: &Names,
    log: &mut Vec<String>,
) -> Result<(), String> {
    blue.execute(&format!(
        "DROP PUBLICATION IF EXISTS {}",
        ident(&names.publication)
    ))
    .await?;
    log.push(format!("publication {} dropped on blue", names.publication));
    let slot = literal(&names.subscription);
    // A walsender may hold the slot for a moment after its subscriber went away.
    for _ in 0..50 {
        let rows = blue
            .rows(&format!(
                "SELECT active FROM pg_replication_slots WHERE slot_name = {slot}"
            ))
            .await?;
        let Some(row) = rows.first() else {
            log.push(format!("no slot {} left on blue", names.subscription));
            return Ok(());
        };
        let active: bool = row.get(0);
        if active {
            blue.execute(&format!(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
                 WHERE slot_name = {slot} AND active_pid IS NOT NULL"
            ))
            .await?;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        }
        blue.execute(&format!("SELECT pg_drop_replication_slot({slot})"))
            .await?;
        log.push(format!("slot {} dropped on blue", names.subscription));
        return Ok(());
    }
    Err(format!("slot {} on blue stays in use", names.subscription))
}
