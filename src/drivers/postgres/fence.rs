//! B5 steps 3 and 4 on real servers: writes on blue are fenced (client backends that do not
//! come through lockstep's endpoint are terminated, and lockstep's own session holds every
//! table, so the fence ends with lockstep), and a marker row committed on blue is awaited on green, which proves green has applied
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

/// The tables a fence covers on blue: every user table but lockstep's own (the marker and
/// the DDL queue must stay writable), as `schema.name`.
const FENCED_TABLES: &str = "SELECT format('%I.%I', n.nspname, c.relname)
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'
       AND n.nspname NOT LIKE 'pg\\_%' AND c.relname NOT LIKE 'lockstep\\_%'";

/// The function whose triggers keep a retired blue from taking writes.
const RETIRED_FN: &str = "public.lockstep_retired()";

/// The backend of `side`'s session, so the fence never terminates lockstep's own.
pub async fn backend_pid(side: &Session) -> Result<i32, String> {
    side.text("SELECT pg_backend_pid()::text")
        .await?
        .parse()
        .map_err(|_| {
            format!(
                "{} answered its backend pid in an unexpected shape",
                side.side
            )
        })
}

/// Step 3a on blue: terminates the client backends of `database`'s other than the endpoint's
/// (`endpoint_ports`, the local ports of its server connections) and lockstep's own
/// (`own_pids`), in one round trip; when it terminated any, a second waits (polling every
/// millisecond, at most [`EXIT_WAIT`]) until they have exited. Returns who was terminated
/// ("pid 4711 psql from 10.0.0.5:51000, idle"). The endpoint's own sessions are untouched, so
/// this runs while they drain.
pub async fn terminate_others(
    blue: &Session,
    endpoint_ports: &[u16],
    own_pids: &[i32],
) -> Result<Vec<String>, String> {
    let ports: Vec<String> = endpoint_ports.iter().map(u16::to_string).collect();
    let keep = if ports.is_empty() {
        String::new()
    } else {
        format!("AND COALESCE(client_port, -1) NOT IN ({})", ports.join(","))
    };
    let own: Vec<String> = own_pids.iter().map(i32::to_string).collect();
    let own = if own.is_empty() {
        String::new()
    } else {
        format!("AND pid NOT IN ({})", own.join(","))
    };
    let sql = format!(
        "SELECT format('pid %s %s from %s:%s, %s', pid,
                       COALESCE(NULLIF(application_name, ''), 'unnamed'),
                       COALESCE(host(client_addr), 'local socket'), COALESCE(client_port, 0),
                       COALESCE(state, 'logging in')), pid::text, pg_terminate_backend(pid)::text
         FROM pg_stat_activity
         WHERE datname = current_database() AND backend_type = 'client backend'
           AND pid <> pg_backend_pid() {own} {keep}"
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

/// Step 3b on blue, once the endpoint's sessions are idle: the fence itself. `fence` (a session
/// of its own) opens a transaction holding every user table and the large objects in
/// EXCLUSIVE mode: reads go on, every write waits, whatever transaction mode the client asks
/// for. The fence is lockstep's session: if lockstep dies, PostgreSQL ends the transaction
/// and blue takes writes again by itself (B5: no fence outlives lockstep before the flip).
/// Gives up after `limit` waiting for a lock. Returns how many tables it holds.
pub async fn hold(fence: &Session, limit: Duration) -> Result<usize, String> {
    let sql = format!(
        "BEGIN; SET LOCAL lock_timeout = '{}ms';
         DO $lockstep$
         DECLARE tables text;
         BEGIN
           SELECT string_agg(t, ', ') INTO tables FROM ({FENCED_TABLES}) AS f(t);
           EXECUTE 'LOCK TABLE ' || concat_ws(', ', tables, 'pg_catalog.pg_largeobject',
                   'pg_catalog.pg_largeobject_metadata') || ' IN EXCLUSIVE MODE';
         END $lockstep$;
         SELECT count(*)::text FROM ({FENCED_TABLES}) AS f(t)",
        limit.as_millis().max(1)
    );
    let rows = simple_rows(fence, &sql, "fencing blue").await?;
    rows.first()
        .and_then(|r| r.first())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("{} answered the fence in an unexpected shape", fence.side))
}

/// Lifts a fence [`hold`] put up and nothing made permanent: blue takes writes again at once.
pub async fn release(fence: &Session) -> Result<(), String> {
    fence.execute("ROLLBACK").await
}

/// After every step up to 5b, in the fence's transaction: makes blue's fence permanent and
/// deliberate, because green serves from now on. Every fenced table gets a trigger refusing
/// writes (for every client, whatever transaction mode it asks for), the database defaults to
/// read-only, and the transaction commits, which lifts the locks: the writes that waited on
/// them fail on the triggers. Names `run_id` in every refusal.
pub async fn retire(fence: &Session, database: &str, run_id: &str) -> Result<(), String> {
    let message = format!(
        "this database was retired by lockstep run {run_id}: the service runs on green now; \
         connect through lockstep's endpoint"
    );
    let sql = format!(
        "CREATE OR REPLACE FUNCTION {RETIRED_FN} RETURNS trigger LANGUAGE plpgsql AS $fn$
         BEGIN
           RAISE EXCEPTION USING ERRCODE = 'read_only_sql_transaction', MESSAGE = {};
         END $fn$;
         COMMENT ON FUNCTION {RETIRED_FN} IS {};
         DO $lockstep$
         DECLARE t text;
         BEGIN
           FOR t IN {FENCED_TABLES} LOOP
             IF NOT EXISTS (SELECT 1 FROM pg_trigger
                            WHERE tgrelid = t::regclass AND tgname = 'lockstep_retired') THEN
               EXECUTE format('CREATE TRIGGER lockstep_retired BEFORE INSERT OR UPDATE OR DELETE
                               OR TRUNCATE ON %s FOR EACH STATEMENT
                               EXECUTE FUNCTION {RETIRED_FN}', t);
             END IF;
           END LOOP;
         END $lockstep$;
         ALTER DATABASE {} SET default_transaction_read_only = on;
         COMMIT",
        literal(&message),
        literal(run_id),
        ident(database)
    );
    fence.execute(&sql).await
}

/// The run that retired blue's database, if one did ([`retire`]).
pub async fn retired_by(blue: &Session) -> Result<Option<String>, String> {
    let rows = blue
        .rows(&format!(
            "SELECT obj_description(to_regprocedure('{RETIRED_FN}'), 'pg_proc')"
        ))
        .await?;
    Ok(rows.first().and_then(|r| r.get::<_, Option<String>>(0)))
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

/// Lifts every fence from blue's database: the retirement's triggers and read-only default
/// ([`retire`]) go; safe to repeat, and a no-op where there is none.
pub async fn unfence(blue: &Session) -> Result<(), String> {
    let database = blue.text("SELECT current_database()").await?;
    blue.execute(&format!(
        "DROP FUNCTION IF EXISTS {RETIRED_FN} CASCADE;
         ALTER DATABASE {} RESET default_transaction_read_only",
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
