//! B2 and B3 on real servers: the schema is copied to green (`pg_dump --schema-only` of blue,
//! applied to green in one transaction), a publication is created on blue and a subscription on
//! green, and the per-table initial sync is followed until every table is ready. Every step
//! first checks what already exists, so an interrupted B2 is simply done again (B9).

use std::path::Path;
use std::time::{Duration, Instant};

use super::dsn::Dsn;
use super::session::{Session, ident, literal};

/// How often the initial sync is polled.
const SYNC_POLL: Duration = Duration::from_millis(100);

/// The names of one run's replication objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The publication on blue.
    pub publication: String,
    /// The subscription on green, and its slot on blue.
    pub subscription: String,
}

impl Names {
    /// `lockstep_<run id>`, reduced to what an identifier allows.
    #[must_use]
    pub fn for_run(run_id: &str) -> Names {
        let clean: String = run_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let name: String = format!("lockstep_{clean}").chars().take(63).collect();
        Names {
            publication: name.clone(),
            subscription: name,
        }
    }
}

/// Copies blue's schema to green unless green already has user tables.
pub async fn copy_schema(
    pg_dump: &Path,
    blue_dsn: &Dsn,
    green: &Session,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let tables = green
        .text(
            "SELECT count(*)::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p')
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg_toast%'",
        )
        .await?;
    if tables != "0" {
        log.push(format!(
            "green already has {tables} tables: schema copy skipped"
        ));
        return Ok(());
    }
    let started = Instant::now();
    // Owners and privileges (default privileges too) cross with the schema: the roles they
    // name were copied first.
    let args = ["--schema-only", "--no-publications", "--no-subscriptions"];
    let dump = super::dump::run(pg_dump, &args, blue_dsn, "pg_dump of blue").await?;
    // psql meta-commands (`\restrict`, added by recent pg_dump) are not SQL: leave them out.
    let sql: Vec<&str> = dump.lines().filter(|l| !l.starts_with('\\')).collect();
    green
        .execute(&format!("BEGIN;\n{}\nCOMMIT;", sql.join("\n")))
        .await
        .map_err(|e| format!("applying blue's schema to green: {e}"))?;
    // The dump empties search_path for its session; give this one its default back.
    green.execute("RESET search_path").await?;
    log.push(format!(
        "schema copied from blue to green ({} lines of DDL) in {} ms",
        sql.len(),
        started.elapsed().as_millis()
    ));
    Ok(())
}

/// Creates the publication on blue unless it exists: every table with a key, by name (never
/// `FOR ALL TABLES`, which makes UPDATE and DELETE fail on a new table without a key).
pub async fn publish(blue: &Session, names: &Names, log: &mut Vec<String>) -> Result<(), String> {
    let exists = blue
        .text(&format!(
            "SELECT count(*)::text FROM pg_publication WHERE pubname = {}",
            literal(&names.publication)
        ))
        .await?;
    if exists == "0" {
        // Permanent tables with a key, by name: a table created later without one is left out,
        // so the application's UPDATE and DELETE on it never fail on blue.
        let tables = super::ddl::tables_to_publish(blue).await?;
        blue.execute(&format!(
            "CREATE PUBLICATION {} FOR TABLE {}",
            ident(&names.publication),
            tables.join(", ")
        ))
        .await?;
        log.push(format!(
            "publication {} created on blue for {} tables (lockstep's DDL queue joins them)",
            names.publication,
            tables.len()
        ));
    } else {
        log.push(format!("publication {} already on blue", names.publication));
    }
    Ok(())
}

/// Creates the subscription on green (it creates its slot on blue and starts the initial
/// copy) unless it exists. `blue_from_green` is blue's DSN as green reaches it.
pub async fn subscribe(
    green: &Session,
    blue_from_green: &Dsn,
    names: &Names,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let exists = green
        .text(&format!(
            "SELECT count(*)::text FROM pg_subscription WHERE subname = {}",
            literal(&names.subscription)
        ))
        .await?;
    if exists != "0" {
        log.push(format!(
            "subscription {} already on green",
            names.subscription
        ));
        return Ok(());
    }
    green
        .execute(&format!(
            "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {}",
            ident(&names.subscription),
            literal(blue_from_green.expose()),
            ident(&names.publication)
        ))
        .await
        .map_err(|e| blue_from_green.scrub(&e))?;
    log.push(format!(
        "subscription {} created on green, following blue ({blue_from_green})",
        names.subscription
    ));
    Ok(())
}

/// Follows the per-table initial sync until every table is ready (`r`) or streaming (`s`), or
/// `limit` passes. Logs each table when it becomes ready.
pub async fn wait_for_sync(
    green: &Session,
    names: &Names,
    limit: Duration,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let started = Instant::now();
    let sql = format!(
        "SELECT r.srrelid::regclass::text, r.srsubstate::text
         FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
         WHERE s.subname = {} ORDER BY 1",
        literal(&names.subscription)
    );
    let mut ready: Vec<String> = Vec::new();
    loop {
        let rows = green.rows(&sql).await?;
        let mut waiting = Vec::new();
        for row in &rows {
            let (table, state): (String, String) = (row.get(0), row.get(1));
            if state == "r" || state == "s" {
                if !ready.contains(&table) {
                    log.push(format!(
                        "{table}: initial copy done after {} ms",
                        started.elapsed().as_millis()
                    ));
                    ready.push(table);
                }
            } else {
                waiting.push(format!("{table} ({})", sync_state(&state)));
            }
        }
        if waiting.is_empty() {
            log.push(format!("{} tables in sync", rows.len()));
            return Ok(());
        }
        if started.elapsed() > limit {
            return Err(format!(
                "initial sync not finished after {} s: {}",
                limit.as_secs(),
                waiting.join(", ")
            ));
        }
        tokio::time::sleep(SYNC_POLL).await;
    }
}

/// `pg_subscription_rel.srsubstate` in words.
fn sync_state(code: &str) -> &'static str {
    match code {
        "i" => "initializing",
        "d" => "copying data",
        "f" => "copy finished",
        "s" => "synchronized",
        "r" => "ready",
        _ => "unknown state",
    }
}

/// B3: `VACUUM ANALYZE` on green (statistics are not carried over by replication).
pub async fn vacuum_analyze(green: &Session, log: &mut Vec<String>) -> Result<(), String> {
    let started = Instant::now();
    green.execute("VACUUM ANALYZE").await?;
    log.push(format!(
        "VACUUM ANALYZE on green in {} ms",
        started.elapsed().as_millis()
    ));
    Ok(())
}
