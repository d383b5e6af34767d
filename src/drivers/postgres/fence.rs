//! B5 steps 3 and 4 on real servers: writes on blue are fenced (new sessions default to
//! read-only, client backends that do not come through lockstep's endpoint are terminated),
//! and a marker row committed on blue is awaited on green, which proves green has applied
//! everything blue committed before it. The marker table is created in B2, before the schema
//! is copied, so the publication for all tables carries it.

use std::time::{Duration, Instant};

use super::session::{Session, ident, literal};

/// The table the marker rows go to, on blue and (by replication) on green.
pub const MARKER_TABLE: &str = "lockstep_switchover_marker";

/// How often green is polled for the marker.
const MARKER_POLL: Duration = Duration::from_millis(1);

/// Creates the marker table on `side` unless it exists.
pub async fn create_marker_table(side: &Session) -> Result<(), String> {
    side.execute(&format!(
        "CREATE TABLE IF NOT EXISTS public.{MARKER_TABLE} (
             run_id text PRIMARY KEY, token text NOT NULL, at timestamptz NOT NULL DEFAULT now())"
    ))
    .await
}

/// Whether `side` has the marker table.
pub async fn has_marker_table(side: &Session) -> Result<bool, String> {
    let found = side
        .text(&format!(
            "SELECT (to_regclass('public.{MARKER_TABLE}') IS NOT NULL)::text"
        ))
        .await?;
    Ok(found == "true")
}

/// Drops the marker table on `side` if it exists.
pub async fn drop_marker_table(side: &Session) -> Result<(), String> {
    side.execute(&format!("DROP TABLE IF EXISTS public.{MARKER_TABLE}"))
        .await
}

/// Fences writes on blue's database `database`, in one round trip: new sessions start
/// read-only, and client backends other than the endpoint's (`endpoint_ports`, the local ports
/// of its server connections) and this session are terminated. Returns how many were.
pub async fn fence(blue: &Session, database: &str, endpoint_ports: &[u16]) -> Result<u64, String> {
    let ports: Vec<String> = endpoint_ports.iter().map(u16::to_string).collect();
    let keep = if ports.is_empty() {
        String::new()
    } else {
        format!("AND COALESCE(client_port, -1) NOT IN ({})", ports.join(","))
    };
    let sql = format!(
        "ALTER DATABASE {} SET default_transaction_read_only = on;
         SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity
         WHERE datname = current_database() AND backend_type = 'client backend'
           AND pid <> pg_backend_pid() {keep}",
        ident(database)
    );
    let answer = simple_text(blue, &sql, "fencing blue").await?;
    Ok(answer.parse().unwrap_or(0))
}

/// The first value of the last row a simple-protocol `sql` returns (several statements, one
/// round trip).
async fn simple_text(side: &Session, sql: &str, doing: &str) -> Result<String, String> {
    let messages = side
        .client
        .simple_query(sql)
        .await
        .map_err(|e| side.error(doing, &e))?;
    messages
        .iter()
        .rev()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .ok_or_else(|| format!("{} returned nothing {doing}", side.side))
}

/// Lifts the fence: blue's database is writable for new sessions again.
pub async fn unfence(blue: &Session) -> Result<(), String> {
    let database = blue.text("SELECT current_database()").await?;
    blue.execute(&format!(
        "ALTER DATABASE {} RESET default_transaction_read_only",
        ident(&database)
    ))
    .await
}

/// Commits a marker row for `run_id` on blue; returns its token and blue's WAL position after
/// the commit, in one round trip.
pub async fn commit_marker(blue: &Session, run_id: &str) -> Result<(String, String), String> {
    let token = format!("{:016x}", rand::random::<u64>());
    let sql = format!(
        "INSERT INTO public.{MARKER_TABLE} (run_id, token) VALUES ({}, {})
         ON CONFLICT (run_id) DO UPDATE SET token = excluded.token, at = now();
         SELECT pg_current_wal_lsn()::text",
        literal(run_id),
        literal(&token)
    );
    let lsn = simple_text(blue, &sql, "committing the marker").await?;
    Ok((token, lsn))
}

/// Waits until green shows the marker `token` for `run_id`; returns how long it took.
pub async fn await_marker(green: &Session, run_id: &str, token: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let sql = format!(
        "SELECT count(*)::text FROM public.{MARKER_TABLE} WHERE run_id = {} AND token = {}",
        literal(run_id),
        literal(token)
    );
    loop {
        if green.text(&sql).await? == "1" {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(MARKER_POLL).await;
    }
}

/// Waits until the slot `slot` on blue confirms green flushed past `lsn`; returns how long.
pub async fn await_flush(blue: &Session, slot: &str, lsn: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let sql = format!(
        "SELECT COALESCE((confirmed_flush_lsn >= {}::pg_lsn)::text, 'false')
         FROM pg_replication_slots WHERE slot_name = {}",
        literal(lsn),
        literal(slot)
    );
    loop {
        let rows = blue.rows(&sql).await?;
        match rows.first().map(|r| r.get::<_, String>(0)) {
            Some(done) if done == "true" => return Ok(started.elapsed()),
            Some(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            None => return Err(format!("blue has no slot {slot}")),
        }
    }
}
