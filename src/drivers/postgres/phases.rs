//! B2, B3, B7 and B8 for every database of the run ([`super::databases`]): roles cross once
//! (they are the cluster's), then each database is claimed, copied, published, subscribed and
//! followed; cleanup and rollback undo it database by database.

use super::databases::{self, Pair};
use super::provision::Names;
use super::{PgTarget, cleanup, ddl, fence, green, parity, provision, roles, session, switchover};

/// A line of a database's log, prefixed with its name unless it is the registered one.
fn prefixed(pair: &Pair, lines: Vec<String>, log: &mut Vec<String>) {
    for line in lines {
        log.push(if pair.main {
            line
        } else {
            format!("{}: {line}", pair.db)
        });
    }
}

/// B2: roles, then every database.
pub(super) async fn provision(
    target: &PgTarget,
    names: &Names,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let pairs = databases::pairs(&target.blue, &target.green, names).await?;
    let blue = session::connect(&target.blue, "blue").await?;
    let green = session::connect(&target.green, "green").await?;
    green::claim(&green, &names.subscription).await?;
    log.push("green's database claimed for this run (a rollback empties it again)".into());
    let green_user = target
        .green
        .config()?
        .get_user()
        .unwrap_or_default()
        .to_string();
    let pg_dumpall = target.pg_dump.with_file_name("pg_dumpall");
    roles::copy(&pg_dumpall, &target.blue, &green, &green_user, log).await?;
    for pair in pairs.iter().filter(|p| !p.main) {
        databases::create_on_green(&blue, &green, &pair.db, log).await?;
    }
    for pair in &pairs {
        let mut lines = Vec::new();
        let done = provision_one(target, pair, &mut lines).await;
        prefixed(pair, lines, log);
        done.map_err(|e| {
            if pair.main {
                e
            } else {
                format!("{}: {e}", pair.db)
            }
        })?;
    }
    Ok(())
}

async fn provision_one(
    target: &PgTarget,
    pair: &Pair,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let blue = session::connect(&pair.blue, "blue").await?;
    let green = session::connect(&pair.green, "green").await?;
    let names = &pair.names;
    green::claim(&green, &names.subscription).await?;
    // Before the schema copy and the subscription, so both sides have it and it replicates.
    fence::create_marker_table(&blue).await?;
    provision::copy_schema(&target.pg_dump, &pair.blue, &green, log).await?;
    databases::copy_settings(&target.pg_dump, pair, &green, log).await?;
    fence::create_marker_table(&green).await?;
    provision::publish(&blue, names, log).await?;
    ddl::install_on_blue(&blue, &names.publication).await?;
    ddl::install_on_green(&green).await?;
    log.push("DDL capture installed: DDL run on blue reaches green in order with the data".into());
    let blue_from_green = match &target.blue_from_green {
        Some(dsn) if !pair.main => dsn.for_database(&pair.db)?,
        Some(dsn) => dsn.clone(),
        None => pair.blue.clone(),
    };
    provision::subscribe(&green, &blue_from_green, names, log).await?;
    provision::wait_for_sync(&green, names, target.sync_limit, log).await
}

/// What the park will spend on one database's large objects: its label prefix (`db:` or
/// nothing), how many there are, and how long comparing them all took once copied.
pub(super) type ParkCost = (String, usize, std::time::Duration);

/// B3: statistics, then what replication does not carry (materialized views, large objects),
/// in every database. Returns what the park will spend on large objects, per database.
pub(super) async fn post_provision(
    target: &PgTarget,
    names: &Names,
    log: &mut Vec<String>,
) -> Result<Vec<ParkCost>, String> {
    let mut costs = Vec::new();
    for pair in databases::pairs(&target.blue, &target.green, names).await? {
        let mut lines = Vec::new();
        let done = async {
            let blue = session::connect(&pair.blue, "blue").await?;
            let green = session::connect(&pair.green, "green").await?;
            provision::vacuum_analyze(&green, &mut lines).await?;
            parity::refresh_matviews(&blue, &green, &mut lines).await?;
            parity::copy_large_objects(&blue, &green, "large objects copied to green", &mut lines)
                .await?;
            parity::large_object_park_cost(&blue, &green).await
        }
        .await;
        prefixed(&pair, lines, log);
        if let Some((synced, took)) = done? {
            costs.push((pair.label(""), synced.on_blue, took));
        }
    }
    Ok(costs)
}

/// B7: the replication objects go from every database; green's settings are reset.
pub(super) async fn cleanup(
    target: &PgTarget,
    names: &Names,
    log: &mut Vec<String>,
) -> Result<(), String> {
    for pair in databases::pairs(&target.blue, &target.green, names).await? {
        let mut lines = Vec::new();
        let done = cleanup_one(&pair, &mut lines).await;
        prefixed(&pair, lines, log);
        done?;
    }
    if let Ok(green) = session::connect(&target.green, "green").await {
        switchover::quick_flush(&green, false).await?;
        log.push("green's wal_writer_delay reset to its configured value".into());
    }
    Ok(())
}

async fn cleanup_one(pair: &Pair, log: &mut Vec<String>) -> Result<(), String> {
    let names = &pair.names;
    match session::connect(&pair.green, "green").await {
        Ok(green) => {
            cleanup::drop_subscription(&green, names, log).await?;
            fence::drop_marker_table(&green).await?;
            ddl::remove(&green).await?;
        }
        Err(e) => log.push(format!("{e}: its subscription is left to green's removal")),
    }
    let blue = session::connect(&pair.blue, "blue").await?;
    cleanup::drop_publication_and_slot(&blue, names, log).await?;
    ddl::remove(&blue).await?;
    log.push("DDL capture removed from blue and green".into());
    fence::drop_marker_table(&blue).await
}

/// B7 after a switchover: the replication objects go, green's databases are the service's
/// now (the run's claim on them is released), and the old blue stays fenced, said in the log.
pub(super) async fn finish(
    target: &PgTarget,
    names: &Names,
    log: &mut Vec<String>,
) -> Result<(), String> {
    cleanup(target, names, log).await?;
    let pairs = databases::pairs(&target.blue, &target.green, names).await?;
    for pair in &pairs {
        let green = session::connect(&pair.green, "green").await?;
        green::release(&green).await?;
    }
    let dbs: Vec<&str> = pairs.iter().map(|p| p.db.as_str()).collect();
    log.push(format!(
        "green's databases ({}) released from the run: they are the service's now",
        dbs.join(", ")
    ));
    log.push(format!(
        "the old blue stays read-only (default_transaction_read_only=on on {}), so nothing \
         writes to it by mistake; `ALTER DATABASE … RESET default_transaction_read_only` there \
         undoes it",
        dbs.join(", ")
    ));
    Ok(())
}

/// B8: the replication objects go, and each green database is emptied of what the run put
/// there (only if the run claimed it), so a new run starts from nothing.
pub(super) async fn rollback(
    target: &PgTarget,
    names: &Names,
    log: &mut Vec<String>,
) -> Result<(), String> {
    cleanup(target, names, log).await?;
    for pair in databases::pairs(&target.blue, &target.green, names).await? {
        let mut lines = Vec::new();
        match session::connect(&pair.green, "green").await {
            Ok(green) => green::empty(&green, &pair.names.subscription, &mut lines).await?,
            Err(e) => lines.push(format!("{e}: green's database is left as it is")),
        }
        prefixed(&pair, lines, log);
    }
    Ok(())
}
