//! B5 steps 3 and 4 on real servers: writes on blue are fenced (new sessions default to
//! read-only, client backends that do not come through lockstep's endpoint are terminated),
//! and a marker row committed on blue is awaited on green, which proves green has applied
//! everything blue committed before it. The marker table is created in B2, before the schema
//! is copied, so the publication for all tables carries it. Each side takes one round trip:
//! on a machine busy with client logins every round trip costs milliseconds of the park.

use std::time::{Duration, Instant};

use super::session::{Session, ident, literal};

/// The table the marker rows go to, on blue and (by replication) on green.
pub const MARKER_TABLE: &str = "lockstep_switchover_marker";

/// How long terminated backends on blue may take to exit.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// How often green looks for the marker.
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

/// Step 3 on blue: fences writes on `database` (new sessions start read-only; committed
/// first), then terminates the client backends other than the endpoint's (`endpoint_ports`,
/// the local ports of its server connections) and this session, in one round trip; when it
/// terminated any, a second waits (polling every millisecond, at most [`EXIT_WAIT`]) until
/// they have exited, so none of their transactions can commit after the marker. Returns who
/// was terminated ("pid 4711 psql from 10.0.0.5:51000, idle"). The endpoint's own sessions
/// are untouched, so this runs while they drain.
pub async fn fence(
    blue: &Session,
    database: &str,
    endpoint_ports: &[u16],
) -> Result<Vec<String>, String> {
    let ports: Vec<String> = endpoint_ports.iter().map(u16::to_string).collect();
    let keep = if ports.is_empty() {
        String::new()
    } else {
        format!("AND COALESCE(client_port, -1) NOT IN ({})", ports.join(","))
    };
    let sql = format!(
        "BEGIN; ALTER DATABASE {} SET default_transaction_read_only = on; COMMIT;
         SELECT format('pid %s %s from %s:%s, %s', pid,
                       COALESCE(NULLIF(application_name, ''), 'unnamed'),
                       COALESCE(host(client_addr), 'local socket'), COALESCE(client_port, 0),
                       COALESCE(state, 'logging in')), pid::text, pg_terminate_backend(pid)::text
         FROM pg_stat_activity
         WHERE datname = current_database() AND backend_type = 'client backend'
           AND pid <> pg_backend_pid() {keep}",
        ident(database),
    );
    let rows = simple_rows(blue, &sql, "fencing blue").await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // pg_terminate_backend's own wait looks every 100 ms; a switchover cannot spare that.
    let pids: Vec<&str> = rows
        .iter()
        .filter_map(|row| row.get(1).map(String::as_str))
        .collect();
    let wait = format!(
        "DO $lockstep$
         DECLARE give_up timestamptz := clock_timestamp() + interval '{} milliseconds';
         BEGIN
           LOOP
             PERFORM pg_stat_clear_snapshot();
             EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid IN ({}));
             IF clock_timestamp() > give_up THEN
               RAISE EXCEPTION 'terminated backends on blue did not exit within {} ms';
             END IF;
             PERFORM pg_sleep(0.001);
           END LOOP;
         END $lockstep$",
        EXIT_WAIT.as_millis(),
        pids.join(","),
        EXIT_WAIT.as_millis()
    );
    blue.execute(&wait).await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.into_iter().next())
        .collect())
}

/// What [`mark`] left on blue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marked {
    /// The marker's token, to wait for on green.
    pub token: String,
    /// Blue's WAL position after the marker.
    pub lsn: String,
    /// Every sequence (`schema.name`) with its `last_value` on blue, none if never used.
    pub sequences: Vec<(String, Option<i64>)>,
}

/// Step 4 on blue in one round trip, once it is fenced and the endpoint's sessions are idle:
/// commits a marker row for `run_id` and reads blue's WAL position and every sequence's value
/// (none of which can move any more).
pub async fn mark(blue: &Session, run_id: &str) -> Result<Marked, String> {
    let token = format!("{:016x}", rand::random::<u64>());
    let sql = format!(
        "INSERT INTO public.{MARKER_TABLE} (run_id, token) VALUES ({}, {})
         ON CONFLICT (run_id) DO UPDATE SET token = excluded.token, at = now();
         SELECT pg_current_wal_lsn()::text, COALESCE(
             (SELECT json_agg(json_build_array(format('%I.%I', schemaname, sequencename),
                                                last_value) ORDER BY schemaname, sequencename)
              FROM pg_sequences
              WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
                AND sequencename NOT LIKE 'lockstep\\_%'), '[]')::text",
        literal(run_id),
        literal(&token)
    );
    let rows = simple_rows(blue, &sql, "committing the marker").await?;
    let malformed = || format!("{} answered the marker in an unexpected shape", blue.side);
    let (Some(lsn), Some(sequences)) = (
        rows.last().and_then(|r| r.first()),
        rows.last().and_then(|r| r.get(1)),
    ) else {
        return Err(malformed());
    };
    let sequences: Vec<(String, Option<i64>)> =
        serde_json::from_str(sequences).map_err(|_| malformed())?;
    Ok(Marked {
        token,
        lsn: lsn.clone(),
        sequences,
    })
}

/// Steps 4 and 5 on green in one round trip: waits (at most `limit`) until green shows the
/// marker `token` for `run_id`, then sets every sequence blue used to blue's value, in one
/// transaction. Returns how long green took.
pub async fn await_marker_and_set(
    green: &Session,
    run_id: &str,
    token: &str,
    sequences: &[(String, Option<i64>)],
    limit: Duration,
) -> Result<Duration, String> {
    let started = Instant::now();
    let setvals: String = super::sequences::setvals(sequences)
        .map(|call| format!("PERFORM {call};\n"))
        .collect();
    let sql = format!(
        "DO $lockstep$
         DECLARE give_up timestamptz := clock_timestamp() + interval '{} milliseconds';
         BEGIN
           WHILE NOT EXISTS (SELECT 1 FROM public.{MARKER_TABLE}
                             WHERE run_id = {} AND token = {}) LOOP
             IF clock_timestamp() > give_up THEN
               RAISE EXCEPTION 'the switchover marker did not reach green in time';
             END IF;
             PERFORM pg_sleep({});
           END LOOP;
           {setvals}
         END $lockstep$",
        limit.as_millis(),
        literal(run_id),
        literal(token),
        MARKER_POLL.as_secs_f64()
    );
    green.execute(&sql).await?;
    Ok(started.elapsed())
}

/// Every row a simple-protocol `sql` returns, as text (several statements, one round trip).
async fn simple_rows(side: &Session, sql: &str, doing: &str) -> Result<Vec<Vec<String>>, String> {
    let messages = side
        .client
        .simple_query(sql)
        .await
        .map_err(|e| side.error(doing, &e))?;
    Ok(messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or_default().to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect())
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
