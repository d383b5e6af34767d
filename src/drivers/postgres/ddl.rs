//! Carries DDL run on blue to green in order with the data, in the manner of `pgl_ddl_deploy`.
//!
//! On blue an event trigger on `ddl_command_end` writes one row per query string into
//! [`QUEUE_TABLE`], in the transaction of the DDL. The queue is in the publication, so green's
//! apply worker inserts that row at the same point of the stream, and a `BEFORE INSERT`
//! trigger enabled `ALWAYS` runs the statement there with blue's role and search_path.
//!
//! - Carried tags: CREATE/ALTER/DROP of TABLE, INDEX, VIEW, SEQUENCE, SCHEMA, TYPE,
//!   FUNCTION, TRIGGER, EXTENSION, and COMMENT, GRANT, REVOKE. Not carried: roles and
//!   databases (global), CREATE TABLE AS / SELECT INTO, materialized views, publications,
//!   subscriptions, policies, anything else.
//! - Never fails the application's DDL: any error becomes a `WARNING` on blue (and the DDL
//!   is then not carried: compare schemas or apply it on green by hand).
//! - DDL with `lockstep.ddl_capture` set to `off` is not captured: lockstep's own sessions
//!   should connect with `-c lockstep.ddl_capture=off` (installs and removals set it locally).
//! - After CREATE/ALTER TABLE, a permanent non-partition table with a primary key or replica
//!   identity joins the publication (and leaves it if it loses it); green then needs
//!   [`refresh`] (it cannot run inside the apply worker), which [`missing_on_green`] detects.
//! - A query string holding several statements is queued once (deduplicated by transaction
//!   and text) and run whole on green; one that also runs anything but DDL (DML, DO, SET,
//!   BEGIN…) is queued with a `reason` and not run on green: the operator applies its DDL.
//! - A statement failing on green is rolled back alone and recorded in [`FAILED_TABLE`]
//!   (local to green), and the stream goes on: later rows that need it stop the apply worker
//!   with PostgreSQL's own error until the operator applies the DDL by hand on green, then
//!   it resumes by itself. When the DDL and such rows share a transaction the record is rolled
//!   back with it: [`pending`] shows the DDL green has not committed.
//! - `CREATE/DROP INDEX CONCURRENTLY` runs without `CONCURRENTLY` on green.
//! - Rows copied by the initial table sync of the queue (DDL queued before the subscription
//!   started) are kept in green's queue but not run: the schema copy has them.

use super::session::{Session, ident, literal};

/// The queue of captured DDL, on both sides (published on blue, applied on green).
pub const QUEUE_TABLE: &str = "public.lockstep_ddl_queue";

/// DDL green did not apply, local to green.
pub const FAILED_TABLE: &str = "public.lockstep_ddl_failed";

/// The setting that turns the capture off for a session when set to `off`.
pub const CAPTURE_SETTING: &str = "lockstep.ddl_capture";

/// Replaced by the publication's name as a string literal in [`BLUE_INSTALL`].
const PUBLICATION: &str = "__PUBLICATION__";

/// Installs the capture on blue (idempotent, one implicit transaction).
const BLUE_INSTALL: &str = r#"
SELECT pg_catalog.set_config('lockstep.ddl_capture', 'off', true);

CREATE TABLE IF NOT EXISTS public.lockstep_ddl_queue (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    xact bigint NOT NULL DEFAULT txid_current(),
    role_name text NOT NULL,
    search_path text NOT NULL,
    command_tag text NOT NULL,
    statement text NOT NULL,
    reason text
);
CREATE INDEX IF NOT EXISTS lockstep_ddl_queue_xact ON public.lockstep_ddl_queue (xact);
REVOKE ALL ON public.lockstep_ddl_queue FROM PUBLIC;

-- Called by the event trigger; runs as its owner (the installing superuser).
CREATE OR REPLACE FUNCTION public.lockstep_ddl_record(p_role text, p_search_path text, p_tag text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    pub constant text := __PUBLICATION__;
    q text := pg_catalog.current_query();
    s text;
    piece text;
    word text;
    why text;
    r record;
BEGIN
    -- 0. Commands run by an extension's script: CREATE/ALTER EXTENSION itself is recorded.
    IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() d WHERE d.in_extension)
       AND NOT EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() d WHERE NOT d.in_extension) THEN
        RETURN;
    END IF;

    -- 1. Keep the publication's explicit list right for the tables this command touched.
    IF EXISTS (SELECT 1 FROM pg_publication p WHERE p.pubname = pub AND NOT p.puballtables) THEN
        FOR r IN
            SELECT DISTINCT c.oid, n.nspname, c.relname,
                   (c.relreplident = 'f'
                    OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_index i
                                                        WHERE i.indrelid = c.oid AND i.indisprimary))
                    OR (c.relreplident = 'i' AND EXISTS (SELECT 1 FROM pg_index i
                                                        WHERE i.indrelid = c.oid AND i.indisreplident)))
                       AS has_identity,
                   EXISTS (SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
                           WHERE p.pubname = pub AND pr.prrelid = c.oid) AS published
            FROM pg_event_trigger_ddl_commands() d
            JOIN pg_class c ON c.oid = d.objid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE d.classid = 'pg_class'::regclass AND NOT d.in_extension
              AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                              AND e.objid = c.oid AND e.deptype = 'e')
              AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
              AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema'
              AND n.nspname NOT LIKE 'pg\_%'
        LOOP
            IF r.has_identity AND NOT r.published THEN
                EXECUTE format('ALTER PUBLICATION %I ADD TABLE %I.%I', pub, r.nspname, r.relname);
            ELSIF r.published AND NOT r.has_identity THEN
                -- Else every UPDATE/DELETE on it would now fail on blue.
                EXECUTE format('ALTER PUBLICATION %I DROP TABLE %I.%I', pub, r.nspname, r.relname);
                RAISE WARNING 'lockstep: %.% lost its primary key/replica identity: no longer replicated to green',
                    r.nspname, r.relname;
            END IF;
        END LOOP;
    END IF;

    -- 2. One queue row per query string and transaction (a multi-statement string fires once
    --    per statement, and green runs the whole string at the first one).
    IF EXISTS (SELECT 1 FROM public.lockstep_ddl_queue
               WHERE xact = txid_current() AND statement = q) THEN
        IF p_tag LIKE '% EXTENSION' THEN
            -- An extension's script fires first (its own DROP FUNCTION …): keep the real tag.
            UPDATE public.lockstep_ddl_queue SET command_tag = p_tag
            WHERE xact = txid_current() AND statement = q;
        END IF;
        RETURN;
    END IF;

    -- 3. A string that also runs something other than DDL is recorded but not run on green.
    s := regexp_replace(q, '\$([A-Za-z_0-9]*)\$.*?\$\1\$', ' ', 'g');
    s := regexp_replace(s, '--[^\n]*', ' ', 'g');
    s := regexp_replace(s, '/\*.*?\*/', ' ', 'g');
    s := regexp_replace(s, '''(''''|[^''])*''', ' ', 'g');
    s := regexp_replace(s, '"(""|[^"])*"', ' ', 'g');
    FOREACH piece IN ARRAY regexp_split_to_array(s, ';') LOOP
        word := lower(substring(piece FROM '^\s*([A-Za-z]+)'));
        IF word IS NOT NULL
           AND word NOT IN ('create', 'alter', 'drop', 'comment', 'grant', 'revoke') THEN
            why := format('the query string also runs %s: apply its DDL on green by hand', upper(word));
            RAISE WARNING 'lockstep: % (%)', why, p_tag;
            EXIT;
        END IF;
    END LOOP;
    IF why IS NULL AND NOT pg_has_role(session_user, p_role, 'MEMBER') THEN
        why := format('run as role %s, which session user %s cannot become', p_role, session_user);
    END IF;

    INSERT INTO public.lockstep_ddl_queue (role_name, search_path, command_tag, statement, reason)
    VALUES (p_role, p_search_path, p_tag, q, why);
END
$fn$;
-- EXECUTE stays granted to PUBLIC: every role that runs DDL calls it.

-- The event trigger function runs as whoever ran the DDL (so current_user and search_path
-- are theirs) and never lets an error reach the application's statement.
CREATE OR REPLACE FUNCTION public.lockstep_ddl_capture()
RETURNS event_trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF coalesce(current_setting('lockstep.ddl_capture', true), '') = 'off' THEN
        RETURN;
    END IF;
    -- The schemas the search_path resolved to here (so green cannot silently fall through to
    -- another schema when one is missing there).
    PERFORM public.lockstep_ddl_record(
        current_user::text,
        coalesce((SELECT pg_catalog.string_agg(pg_catalog.quote_ident(s), ', ')
                  FROM pg_catalog.unnest(pg_catalog.current_schemas(false)) AS s
                  WHERE s NOT LIKE 'pg\_temp\_%'), ''),
        tg_tag::text);
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'lockstep: % not recorded for green: % (%)', tg_tag, SQLERRM, SQLSTATE;
END
$fn$;

DROP EVENT TRIGGER IF EXISTS lockstep_ddl_capture;
CREATE EVENT TRIGGER lockstep_ddl_capture ON ddl_command_end
WHEN TAG IN (
    'CREATE TABLE', 'ALTER TABLE', 'DROP TABLE',
    'CREATE INDEX', 'ALTER INDEX', 'DROP INDEX',
    'CREATE VIEW', 'ALTER VIEW', 'DROP VIEW',
    'CREATE SEQUENCE', 'ALTER SEQUENCE', 'DROP SEQUENCE',
    'CREATE SCHEMA', 'ALTER SCHEMA', 'DROP SCHEMA',
    'CREATE TYPE', 'ALTER TYPE', 'DROP TYPE',
    'CREATE FUNCTION', 'ALTER FUNCTION', 'DROP FUNCTION',
    'CREATE TRIGGER', 'ALTER TRIGGER', 'DROP TRIGGER',
    'CREATE EXTENSION', 'ALTER EXTENSION', 'DROP EXTENSION',
    'COMMENT', 'GRANT', 'REVOKE')
EXECUTE FUNCTION public.lockstep_ddl_capture();

-- The queue rides in the publication (when it already exists and lists tables).
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = __PUBLICATION__ AND NOT puballtables)
       AND NOT EXISTS (SELECT 1 FROM pg_publication_tables
                       WHERE pubname = __PUBLICATION__
                         AND schemaname = 'public' AND tablename = 'lockstep_ddl_queue') THEN
        EXECUTE format('ALTER PUBLICATION %I ADD TABLE public.lockstep_ddl_queue', __PUBLICATION__);
    END IF;
END
$do$;
"#;

/// Installs the apply trigger on green (idempotent, one implicit transaction).
const GREEN_INSTALL: &str = r#"
SELECT pg_catalog.set_config('lockstep.ddl_capture', 'off', true);

-- A schema dump taken from blue after the blue install carries blue's capture: never on green.
DROP EVENT TRIGGER IF EXISTS lockstep_ddl_capture;
DROP FUNCTION IF EXISTS public.lockstep_ddl_capture();
DROP FUNCTION IF EXISTS public.lockstep_ddl_record(text, text, text);

CREATE TABLE IF NOT EXISTS public.lockstep_ddl_queue (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    xact bigint NOT NULL DEFAULT txid_current(),
    role_name text NOT NULL,
    search_path text NOT NULL,
    command_tag text NOT NULL,
    statement text NOT NULL,
    reason text
);
REVOKE ALL ON public.lockstep_ddl_queue FROM PUBLIC;

-- Local to green: in no publication.
CREATE TABLE IF NOT EXISTS public.lockstep_ddl_failed (
    id bigint PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    queued_at timestamptz,
    role_name text,
    command_tag text,
    statement text NOT NULL,
    error text NOT NULL,
    sqlstate text
);
REVOKE ALL ON public.lockstep_ddl_failed FROM PUBLIC;

-- Not SECURITY DEFINER: PostgreSQL forbids SET ROLE inside one. The apply worker runs it as
-- the queue's owner (the installing superuser, also the subscription's owner).
CREATE OR REPLACE FUNCTION public.lockstep_ddl_apply()
RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    stmt text := NEW.statement;
    why text := NEW.reason;
    msg text;
    state text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_stat_subscription
               WHERE pid = pg_backend_pid() AND relid IS NOT NULL) THEN
        -- Copied by the initial table sync: queued before the subscription started, so its
        -- effect is already in the schema green was built from. Kept in the queue, not run.
        RETURN NEW;
    END IF;
    IF why IS NOT NULL THEN
        INSERT INTO public.lockstep_ddl_failed (id, queued_at, role_name, command_tag, statement, error)
        VALUES (NEW.id, NEW.at, NEW.role_name, NEW.command_tag, NEW.statement, 'not applied: ' || why)
        ON CONFLICT (id) DO NOTHING;
        RETURN NEW;
    END IF;
    IF NEW.command_tag IN ('CREATE INDEX', 'DROP INDEX') THEN
        -- CONCURRENTLY cannot run in a transaction: green builds the index in place.
        stmt := regexp_replace(stmt, '\m(INDEX)\s+CONCURRENTLY\M', '\1', 'i');
    END IF;
    BEGIN
        -- As the recorded role first: whatever its search_path resolves runs with its rights.
        PERFORM pg_catalog.set_config('role', NEW.role_name, true);
        PERFORM pg_catalog.set_config('search_path', NEW.search_path, true);
        IF NOT coalesce((SELECT pg_catalog.string_agg(pg_catalog.quote_ident(s), ', ')
                         FROM pg_catalog.unnest(pg_catalog.current_schemas(false)) AS s), '')
               OPERATOR(pg_catalog.=) NEW.search_path THEN
            RAISE EXCEPTION 'a schema of search_path % does not exist on green', NEW.search_path;
        END IF;
        EXECUTE stmt;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        PERFORM pg_catalog.set_config('role', 'none', true);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
        INSERT INTO public.lockstep_ddl_failed
            (id, queued_at, role_name, command_tag, statement, error, sqlstate)
        VALUES (NEW.id, NEW.at, NEW.role_name, NEW.command_tag, NEW.statement, msg, state)
        ON CONFLICT (id) DO NOTHING;
        RAISE WARNING 'lockstep: DDL % failed on green: %', NEW.id, msg;
    END;
    RETURN NEW;
END
$fn$;

DROP TRIGGER IF EXISTS lockstep_ddl_apply ON public.lockstep_ddl_queue;
CREATE TRIGGER lockstep_ddl_apply BEFORE INSERT ON public.lockstep_ddl_queue
FOR EACH ROW EXECUTE FUNCTION public.lockstep_ddl_apply();
ALTER TABLE public.lockstep_ddl_queue ENABLE ALWAYS TRIGGER lockstep_ddl_apply;
"#;

/// Removes everything of this module from either side (idempotent).
const REMOVE: &str = r#"
SELECT pg_catalog.set_config('lockstep.ddl_capture', 'off', true);
DROP EVENT TRIGGER IF EXISTS lockstep_ddl_capture;
DROP FUNCTION IF EXISTS public.lockstep_ddl_capture();
DROP FUNCTION IF EXISTS public.lockstep_ddl_record(text, text, text);
DROP TABLE IF EXISTS public.lockstep_ddl_queue;
DROP FUNCTION IF EXISTS public.lockstep_ddl_apply();
DROP TABLE IF EXISTS public.lockstep_ddl_failed;
"#;

/// The explicit publication list: permanent tables, not partitions, not of an extension, with
/// a primary key or a usable replica identity.
const TABLES_TO_PUBLISH: &str = r#"
SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                  AND e.objid = c.oid AND e.deptype = 'e')
  AND (c.relreplident = 'f'
       OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_index i
                                            WHERE i.indrelid = c.oid AND i.indisprimary))
       OR (c.relreplident = 'i' AND EXISTS (SELECT 1 FROM pg_index i
                                            WHERE i.indrelid = c.oid AND i.indisreplident)))
ORDER BY 1;
"#;

/// DDL green did not apply, newest last.
const FAILURES: &str = "SELECT f.id, f.at::text, coalesce(f.role_name, ''),
        coalesce(q.command_tag, f.command_tag, ''), f.statement, f.error,
        coalesce(f.sqlstate, '')
    FROM public.lockstep_ddl_failed f
    LEFT JOIN public.lockstep_ddl_queue q ON q.id = f.id
    ORDER BY f.id";

/// One DDL green did not apply, as read from [`FAILED_TABLE`].
#[derive(Debug, Clone)]
pub struct DdlFailure {
    /// The queue row's id (blue's order).
    pub id: i64,
    /// When green tried it.
    pub at: String,
    /// The role it ran as on blue.
    pub role: String,
    /// Its command tag on blue.
    pub command_tag: String,
    /// The query string as blue received it.
    pub statement: String,
    /// Why green did not apply it (`not applied: …` when it was not even tried).
    pub error: String,
    /// The SQLSTATE of the error, empty when it was not tried.
    pub sqlstate: String,
}

/// One DDL queued on blue that green has not committed yet.
#[derive(Debug, Clone)]
pub struct PendingDdl {
    /// The queue row's id.
    pub id: i64,
    /// When blue ran it.
    pub at: String,
    /// Its command tag.
    pub command_tag: String,
    /// The query string.
    pub statement: String,
    /// Why green will not run it, if blue already knew.
    pub reason: Option<String>,
}

/// Installs the queue, the recording functions and the event trigger on blue, and puts the
/// queue in `publication` when that exists and lists tables. Idempotent.
pub async fn install_on_blue(blue: &Session, publication: &str) -> Result<(), String> {
    if publication.contains('$') {
        return Err(format!(
            "publication name {publication:?} must not contain '$'"
        ));
    }
    blue.execute(&BLUE_INSTALL.replace(PUBLICATION, &literal(publication)))
        .await
}

/// Installs the queue, the failure table and the apply trigger on green, and drops blue's
/// capture where a schema copy brought it. Idempotent. Run it as the subscription's owner.
pub async fn install_on_green(green: &Session) -> Result<(), String> {
    green.execute(GREEN_INSTALL).await
}

/// Removes the event trigger, functions, queue and failure table from `side`. Idempotent.
/// On green, remove it from blue first (or drop the subscription): the queue leaves the
/// publication when blue drops it.
pub async fn remove(side: &Session) -> Result<(), String> {
    side.execute(REMOVE).await
}

/// The DDL green did not apply, oldest first.
pub async fn failures(green: &Session) -> Result<Vec<DdlFailure>, String> {
    let rows = green.rows(FAILURES).await?;
    rows.iter()
        .map(|r| -> Result<DdlFailure, String> {
            Ok(DdlFailure {
                id: get(green, r, 0)?,
                at: get(green, r, 1)?,
                role: get(green, r, 2)?,
                command_tag: get(green, r, 3)?,
                statement: get(green, r, 4)?,
                error: get(green, r, 5)?,
                sqlstate: get(green, r, 6)?,
            })
        })
        .collect()
}

/// The DDL queued on blue past the last one green committed. Normal while green lags; when
/// green's apply worker keeps failing, the first of them is the likely cause.
pub async fn pending(blue: &Session, green: &Session) -> Result<Vec<PendingDdl>, String> {
    let applied = green
        .text("SELECT coalesce(max(id), 0)::text FROM public.lockstep_ddl_queue")
        .await?;
    let applied: i64 = applied
        .parse()
        .map_err(|e| format!("green: queue position {applied:?}: {e}"))?;
    let rows = blue
        .rows(&format!(
            "SELECT id, at::text, command_tag, statement, reason
             FROM public.lockstep_ddl_queue WHERE id > {applied} ORDER BY id"
        ))
        .await?;
    rows.iter()
        .map(|r| -> Result<PendingDdl, String> {
            Ok(PendingDdl {
                id: get(blue, r, 0)?,
                at: get(blue, r, 1)?,
                command_tag: get(blue, r, 2)?,
                statement: get(blue, r, 3)?,
                reason: get(blue, r, 4)?,
            })
        })
        .collect()
}

/// The quoted `schema.table` names blue's publication should list (requirement: explicit
/// list of tables that can be replicated without breaking UPDATE/DELETE on blue).
pub async fn tables_to_publish(blue: &Session) -> Result<Vec<String>, String> {
    column(blue, TABLES_TO_PUBLISH).await
}

/// Adds to `publication` the tables of [`tables_to_publish`] it lacks (those the event
/// trigger could not add); returns them. Follow with [`missing_on_green`] and [`refresh`].
pub async fn publish_missing(blue: &Session, publication: &str) -> Result<Vec<String>, String> {
    let published = column(blue, &published_sql(publication)).await?;
    let missing: Vec<String> = tables_to_publish(blue)
        .await?
        .into_iter()
        .filter(|t| !published.contains(t))
        .collect();
    if !missing.is_empty() {
        blue.execute(&format!(
            "ALTER PUBLICATION {} ADD TABLE {}",
            ident(publication),
            missing.join(", ")
        ))
        .await?;
    }
    Ok(missing)
}

/// Tables `publication` lists on blue that `subscription` on green does not have yet (in any
/// state), as quoted `schema.table` names: green needs [`refresh`] for them.
pub async fn missing_on_green(
    blue: &Session,
    green: &Session,
    publication: &str,
    subscription: &str,
) -> Result<Vec<String>, String> {
    let published = column(blue, &published_sql(publication)).await?;
    let subscribed = column(
        green,
        &format!(
            "SELECT format('%I.%I', n.nspname, c.relname)
             FROM pg_subscription s
             JOIN pg_subscription_rel sr ON sr.srsubid = s.oid
             JOIN pg_class c ON c.oid = sr.srrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE s.subname = {} AND s.subdbid =
                 (SELECT oid FROM pg_database WHERE datname = current_database())",
            literal(subscription)
        ),
    )
    .await?;
    Ok(published
        .into_iter()
        .filter(|t| !subscribed.contains(t))
        .collect())
}

/// Makes green's subscription pick up the tables added to blue's publication and copy their
/// rows (`copy_data` defaults to true). It cannot run in a transaction or a function.
/// Fails while a published table does not exist on green (see [`failures`]).
pub async fn refresh(green: &Session, subscription: &str) -> Result<(), String> {
    green
        .execute(&format!(
            "ALTER SUBSCRIPTION {} REFRESH PUBLICATION",
            ident(subscription)
        ))
        .await
}

/// The tables `publication` lists on blue, as quoted `schema.table` names.
fn published_sql(publication: &str) -> String {
    format!(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_publication_tables
         WHERE pubname = {} ORDER BY 1",
        literal(publication)
    )
}

/// The first column of every row of `sql`, as text.
async fn column(side: &Session, sql: &str) -> Result<Vec<String>, String> {
    let rows = side.rows(sql).await?;
    rows.iter().map(|r| get::<String>(side, r, 0)).collect()
}

/// Column `index` of `row`, with an error naming the side.
fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    side: &Session,
    row: &'a tokio_postgres::Row,
    index: usize,
) -> Result<T, String> {
    row.try_get(index)
        .map_err(|e| format!("{}: column {index}: {e}", side.side))
}
