//! The SQL of the DDL capture ([`super`]): installed on blue and green, removed from both.

/// Replaced by the publication's name as a string literal in [`BLUE_INSTALL`].
pub(super) const PUBLICATION: &str = "__PUBLICATION__";

/// Installs the capture on blue (idempotent, one implicit transaction).
pub(super) const BLUE_INSTALL: &str = r#"
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
pub(super) const GREEN_INSTALL: &str = r#"
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
pub(super) const REMOVE: &str = r#"
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
pub(super) const TABLES_TO_PUBLISH: &str = r#"
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
