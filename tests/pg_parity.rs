//! B13 parity on real servers (PostgreSQL 15 blue, 17 green): what logical replication does not
//! carry by itself crosses with the run — roles with their passwords, owners, grants and default
//! privileges, large objects (changed after B3 too), materialized views, unlogged tables as the
//! operator chose — or the run refuses by name; nothing the run does breaks blue's application;
//! the data check tells lasting differences from catching up; a rollback leaves green empty.

#[path = "common/pg.rs"]
mod pg;
#[path = "common/pg_run.rs"]
mod pg_run;

use std::sync::Arc;
use std::time::Duration;

use lockstep::drivers::Driver;
use lockstep::drivers::postgres::cluster::Cluster;
use lockstep::drivers::postgres::dsn::Dsn;
use lockstep::drivers::postgres::proxy::ProxyHandle;
use lockstep::drivers::postgres::switchover::upstream_for;
use lockstep::model::run::{
    ActionOutcome, ChoiceValue, ItemKind, Observation, RunAction, SubscriptionHealth, Treatment,
};
use pg_run::Rig;
use tokio_postgres::{Client, NoTls};

const SCHEMA: &str = "
CREATE ROLE app_owner LOGIN PASSWORD 'owner-secret-1';
CREATE ROLE reader LOGIN PASSWORD 'reader-secret-2';
CREATE ROLE auditors;
GRANT auditors TO reader;
CREATE SCHEMA sales AUTHORIZATION app_owner;
GRANT USAGE ON SCHEMA sales TO reader;
SET ROLE app_owner;
ALTER DEFAULT PRIVILEGES IN SCHEMA sales GRANT SELECT ON TABLES TO reader;
CREATE TABLE sales.items (id bigserial PRIMARY KEY, region text NOT NULL, price numeric, doc oid);
GRANT SELECT (id, region) ON sales.items TO auditors;
INSERT INTO sales.items (region, price) SELECT 'r' || (g % 4), g FROM generate_series(1, 400) g;
CREATE MATERIALIZED VIEW sales.by_region AS
    SELECT region, count(*) AS n, sum(price) AS total FROM sales.items GROUP BY region;
RESET ROLE;
CREATE UNLOGGED TABLE public.sessions (id int PRIMARY KEY, token text);
INSERT INTO public.sessions SELECT g, md5(g::text) FROM generate_series(1, 600) g;
UPDATE sales.items SET doc = lo_from_bytea(0, convert_to(repeat('page ' || id, 500), 'UTF8'))
    WHERE id <= 5;
SELECT lo_from_bytea(424242, '\\x00ff00ff'::bytea);";

/// Blue with the schema above in `shop`, green's `shop` empty.
async fn clusters() -> (Cluster, Cluster) {
    let (blue, green) = (pg::blue(), pg::green());
    pg::create_db(&blue, "shop").await;
    pg::create_db(&green, "shop").await;
    pg::same_password(&green, &blue).await;
    pg::connect(&blue, "shop")
        .await
        .batch_execute(SCHEMA)
        .await
        .expect("blue schema");
    (blue, green)
}

fn green_dsn(blue: &Cluster, green: &Cluster) -> Dsn {
    pg::green_as_blue(blue, green, "shop")
}

async fn endpoint(blue: &Cluster) -> Arc<ProxyHandle> {
    endpoint_for(blue, "shop").await
}

async fn endpoint_for(blue: &Cluster, db: &str) -> Arc<ProxyHandle> {
    let upstream = upstream_for(&pg::dsn(blue, db)).expect("blue upstream");
    Arc::new(
        ProxyHandle::start("127.0.0.1:0", upstream, Duration::from_secs(60))
            .await
            .expect("the endpoint starts"),
    )
}

async fn run_through(rig: &Rig, actions: &[RunAction]) {
    for action in actions {
        let report = rig.act(*action).await;
        assert!(report.is_success(), "{}: {report:?}", action.as_str());
    }
}

/// B4 observations until `done` holds (20 s at most).
async fn observe_until(rig: &Rig, done: impl Fn(&Observation) -> bool) -> Observation {
    let mut last = None;
    for _ in 0..100 {
        let seen = rig
            .driver
            .observe(&rig.spec, pg_run::now())
            .await
            .expect("B4 observe");
        if done(&seen) {
            return seen;
        }
        last = Some(seen);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("never reached: last observation {last:?}");
}

/// B1 to B3, then B4 until green has caught up.
async fn replicating(rig: &Rig) {
    run_through(
        rig,
        &[
            RunAction::Prerequisites,
            RunAction::Provision,
            RunAction::VacuumAnalyze,
        ],
    )
    .await;
    observe_until(rig, caught_up).await;
}

fn caught_up(o: &Observation) -> bool {
    o.subscription == SubscriptionHealth::Streaming
        && o.row_count_mismatches.is_empty()
        && o.lasting_differences.is_empty()
        && o.max_lag() == 0
}

async fn strings(client: &Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

const LARGE_OBJECTS: &str = "SELECT m.oid::text || ' ' || pg_get_userbyid(m.lomowner) || ' ' ||
    COALESCE((SELECT md5(string_agg(data, ''::bytea ORDER BY pageno)) FROM pg_largeobject p
              WHERE p.loid = m.oid), md5('')) FROM pg_largeobject_metadata m ORDER BY 1";
const OWNERS_AND_GRANTS: &str = "SELECT format('%s.%s %s %s %s', n.nspname, c.relname,
    pg_get_userbyid(c.relowner), c.relkind, COALESCE(c.relacl::text, '-'))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('public', 'sales') AND c.relkind IN ('r', 'm', 'S')
      AND c.relname NOT LIKE 'lockstep%' ORDER BY 1";
const COLUMN_GRANTS: &str = "SELECT format('%s.%s %s', c.relname, a.attname, a.attacl::text)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE a.attacl IS NOT NULL AND n.nspname IN ('public', 'sales') ORDER BY 1";
const SCHEMAS: &str = "SELECT format('%s %s %s', nspname, pg_get_userbyid(nspowner),
    COALESCE(nspacl::text, '-')) FROM pg_namespace WHERE nspname IN ('public', 'sales') ORDER BY 1";
const DEFAULTS: &str = "SELECT format('%s %s', pg_get_userbyid(defaclrole), defaclacl::text)
    FROM pg_default_acl ORDER BY 1";
const ROLES: &str = "SELECT format('%s %s %s', rolname, rolcanlogin, COALESCE(rolpassword, '-'))
    FROM pg_authid WHERE rolname IN ('app_owner', 'reader', 'auditors') ORDER BY 1";
const MEMBERS: &str = "SELECT format('%s in %s', m.rolname, r.rolname) FROM pg_auth_members a
    JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
    WHERE r.rolname !~ '^pg_' ORDER BY 1";
const MATVIEW: &str = "SELECT format('%s %s %s', region, n, total) FROM sales.by_region ORDER BY 1";

/// Items 1–4 of the issue, and the B1 inventory: roles (with their password verifiers and
/// memberships), owners, table/column/schema grants and default privileges, large objects
/// (one changed after B3), the materialized view and the unlogged table (copied, as chosen)
/// all cross; the switchover refuses without a choice for the unlogged table; after the
/// switchover app_owner logs in through the endpoint with its password and reads its table.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn b13_roles_grants_large_objects_matviews_and_unlogged_rows_cross_with_the_switchover() {
    let (blue, green) = clusters().await;
    let proxy = endpoint(&blue).await;
    let via = Arc::clone(&proxy);
    let mut rig = Rig::with(
        pg::dsn(&blue, "shop"),
        green_dsn(&blue, &green),
        "parity-1",
        move |t| {
            t.endpoint = Some(via);
            t.drain_grace = Duration::from_secs(2);
        },
    );
    let b1 = rig.act(RunAction::Prerequisites).await;
    assert!(b1.is_success(), "B1: {b1:?}");
    let inv = b1.inventory.clone().expect("B1 reports an inventory");
    let kinds: Vec<(ItemKind, Treatment)> =
        inv.items.iter().map(|i| (i.kind, i.treatment)).collect();
    for expected in [
        (ItemKind::Roles, Treatment::Carry),
        (ItemKind::Owners, Treatment::Carry),
        (ItemKind::Privileges, Treatment::Carry),
        (ItemKind::LargeObjects, Treatment::Carry),
        (ItemKind::MaterializedView, Treatment::Carry),
        (ItemKind::UnloggedTable, Treatment::Choose),
    ] {
        assert!(kinds.contains(&expected), "{expected:?} in {inv:#?}");
    }
    assert_eq!(inv.names(ItemKind::UnloggedTable), vec!["public.sessions"]);
    assert!(
        inv.names(ItemKind::LargeObjects)[0].starts_with("6 large objects"),
        "{inv:#?}"
    );
    run_through(&rig, &[RunAction::Provision]).await;
    let b3 = rig.act(RunAction::VacuumAnalyze).await;
    assert!(b3.is_success(), "B3: {b3:?}");
    // B3 tells, before anyone switches over, what the park will spend on large objects.
    let lo = b3
        .inventory
        .as_ref()
        .and_then(|inv| inv.items.iter().find(|i| i.kind == ItemKind::LargeObjects))
        .map(|i| i.plan.clone())
        .unwrap_or_default();
    assert!(lo.contains("the park compares all 6 again"), "{lo}");
    let blue_db = pg::connect(&blue, "shop").await;
    // The application changes a large object and the table after B3's copy.
    blue_db
        .batch_execute(
            "SELECT lo_put(424242, 2, '\\xabcdef'::bytea);
             INSERT INTO sales.items (region, price) VALUES ('r9', 1);
             REFRESH MATERIALIZED VIEW sales.by_region;",
        )
        .await
        .expect("blue writes");
    observe_until(&rig, caught_up).await;

    // Item 2: without a choice the switchover does not go ahead, naming the table.
    let refused = rig.act(RunAction::Switchover).await;
    match &refused.outcome {
        ActionOutcome::Reverted { reason } => {
            assert!(reason.contains("public.sessions"), "{reason}");
            assert!(
                reason.contains("nothing was fenced"),
                "refused before the park: {reason}"
            );
        }
        other => panic!("B5 went ahead without a choice for the unlogged table: {other:?}"),
    }
    rig.spec.choices = vec![ChoiceValue::Copy];
    let key = format!("{}/switchover/2", rig.spec.run_id);
    let b5 = rig
        .driver
        .act(&rig.spec, RunAction::Switchover, &key, pg_run::now())
        .await
        .expect("B5");
    assert_eq!(b5.outcome, ActionOutcome::Succeeded, "B5: {b5:#?}");
    eprintln!("B5 log:\n{}", b5.log.join("\n"));
    assert!(
        b5.log.iter().any(|l| l.contains("unlogged tables copied")),
        "{:?}",
        b5.log
    );

    // The fence closed the direct session on blue: a new one reads what blue holds.
    let blue_db = pg::connect(&blue, "shop").await;
    let green_db = pg::connect_dsn(&green_dsn(&blue, &green)).await;
    for (what, sql) in [
        ("large objects", LARGE_OBJECTS),
        ("owners and grants", OWNERS_AND_GRANTS),
        ("column grants", COLUMN_GRANTS),
        ("schemas", SCHEMAS),
        ("default privileges", DEFAULTS),
        ("roles", ROLES),
        ("memberships", MEMBERS),
        ("materialized view", MATVIEW),
        (
            "unlogged rows",
            "SELECT md5(string_agg(token, ',' ORDER BY id)) FROM public.sessions",
        ),
    ] {
        // PostgreSQL 17 gives owners the new MAINTAIN privilege (`m`) on their tables.
        let on_green: Vec<String> = strings(&green_db, sql)
            .await
            .iter()
            .map(|l| l.replace("=arwdDxtm/", "=arwdDxt/"))
            .collect();
        let on_blue = strings(&blue_db, sql).await;
        assert!(!on_blue.is_empty(), "{what}: blue has none");
        assert_eq!(on_blue, on_green, "{what} differ on green");
    }
    // The application's role logs in through the endpoint, now on green, with its password.
    let app = Dsn::parse(&format!(
        "host=127.0.0.1 port={} user=app_owner password=owner-secret-1 dbname=shop",
        proxy.local_addr().port()
    ))
    .expect("app DSN");
    let (client, connection) = tokio_postgres::connect(app.expose(), NoTls)
        .await
        .expect("app_owner logs in through the endpoint after the switchover");
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int, count(*) FROM sales.items",
            &[],
        )
        .await
        .expect("app_owner reads its table on green");
    assert!(row.get::<_, i32>(0) >= 170_000, "served by green");
    assert_eq!(row.get::<_, i64>(1), 401);
}

/// B1 refuses by name what the run cannot carry, in any database of the cluster: a table
/// without a key in another database, an extension green's server does not offer; nothing
/// reaches green. (Item 5, other databases crossing, is `tests/pg_fidelity.rs`.)
#[tokio::test]
async fn b1_refuses_by_name_what_no_database_of_the_cluster_can_carry() {
    let (blue, green) = (pg::blue(), pg::green());
    pg::create_db(&blue, "shop").await;
    pg::create_db(&blue, "otherdb").await;
    pg::create_db(&green, "shop").await;
    pg::connect(&blue, "shop")
        .await
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY); CREATE EXTENSION adminpack")
        .await
        .expect("schema");
    pg::connect(&blue, "otherdb")
        .await
        .batch_execute("CREATE TABLE nokey (v int)")
        .await
        .expect("schema");
    let rig = Rig::new(pg::dsn(&blue, "shop"), pg::dsn(&green, "shop"), "parity-5");
    let b1 = rig.act(RunAction::Prerequisites).await;
    let ActionOutcome::Failed { error } = &b1.outcome else {
        panic!("B1 went ahead: {b1:?}");
    };
    assert!(error.contains("otherdb:public.nokey"), "{error}");
    let inv = b1.inventory.expect("the inventory comes with the refusal");
    assert_eq!(inv.names(ItemKind::Database), vec!["otherdb"]);
    let refused: Vec<&str> = inv
        .items
        .iter()
        .filter(|i| i.treatment == Treatment::Refuse)
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(
        refused,
        vec!["adminpack", "otherdb:public.nokey"],
        "{inv:#?}"
    );
    let green_db = pg::connect(&green, "shop").await;
    assert_eq!(
        pg::count(
            &green_db,
            "SELECT count(*) FROM pg_class WHERE relname = 't'"
        )
        .await,
        0,
        "nothing reached green"
    );
}

/// Items 6 and 8: a table the application creates on blue during B4 without a key takes
/// UPDATE and DELETE on blue (the publication lists tables, it is not FOR ALL TABLES); the
/// data check names it as not replicated, and a column added on blue as a lasting difference,
/// never as green catching up; a row missing on green at zero lag is red too.
#[tokio::test]
async fn b4_new_tables_never_fail_blue_and_the_data_check_names_lasting_differences() {
    let (blue, green) = (pg::blue(), pg::green());
    pg::create_db(&blue, "shop").await;
    pg::create_db(&green, "shop").await;
    let blue_db = pg::connect(&blue, "shop").await;
    blue_db
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text);
             CREATE TABLE notes (id int PRIMARY KEY, body text);
             INSERT INTO items SELECT g, 'n' || g FROM generate_series(1, 100) g;
             INSERT INTO notes SELECT g, 'b' || g FROM generate_series(1, 50) g;",
        )
        .await
        .expect("schema");
    let rig = Rig::new(pg::dsn(&blue, "shop"), pg::dsn(&green, "shop"), "parity-6");
    replicating(&rig).await;

    // One statement per query, as applications send them.
    for sql in [
        "CREATE TABLE scratch (v int)",
        "INSERT INTO scratch VALUES (1), (2)",
        "UPDATE scratch SET v = 3 WHERE v = 1",
        "DELETE FROM scratch WHERE v = 2",
        "UPDATE items SET name = 'x' WHERE id = 1",
    ] {
        blue_db
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("the application's {sql} failed on blue: {e}"));
    }
    // A row lost on green (as a broken apply or a hand edit would): red at zero lag.
    pg::connect(&green, "shop")
        .await
        .batch_execute("DELETE FROM notes WHERE id = 7")
        .await
        .expect("green edit");
    let seen = observe_until(&rig, |o| {
        o.max_lag() == 0 && o.lasting_differences.len() >= 2
    })
    .await;
    let text = seen.lasting_differences.join("; ");
    // The DDL capture created it on green too; without a key it stays out of replication.
    assert!(
        text.contains("public.scratch: not replicated (blue 1 rows, green 0)"),
        "{text}"
    );
    assert!(
        text.contains("public.notes: blue 50 rows, green 49 at zero lag"),
        "{text}"
    );
    assert!(
        seen.row_count_mismatches.is_empty(),
        "no difference is called catching up: {seen:?}"
    );
    // DDL the capture does not see (as if run before it was installed, or by hand on one side).
    blue_db
        .batch_execute(
            "SET lockstep.ddl_capture = off; ALTER TABLE items ADD COLUMN price numeric; \
             RESET lockstep.ddl_capture",
        )
        .await
        .expect("DDL on blue");
    let seen = observe_until(&rig, |o| {
        o.lasting_differences
            .iter()
            .any(|d| d.contains("public.items: columns differ"))
    })
    .await;
    let data = lockstep::model::run::guardrails(Some(&seen), &rig.spec.config)
        .into_iter()
        .find(|g| g.name == "data")
        .expect("a data guardrail");
    assert!(!data.ok && data.detail.contains("public.items"), "{data:?}");
}

/// Item 7: a rollback empties green of what the run copied (tables, large objects), so a new
/// run starts from nothing; while an earlier run's copy is on green, B1 refuses naming it.
#[tokio::test]
async fn b8_rollback_empties_green_so_the_next_run_starts_from_nothing() {
    let (blue, green) = clusters().await;
    let green_dsn = green_dsn(&blue, &green);
    let first = Rig::new(pg::dsn(&blue, "shop"), green_dsn.clone(), "parity-7a");
    run_through(
        &first,
        &[
            RunAction::Prerequisites,
            RunAction::Provision,
            RunAction::VacuumAnalyze,
        ],
    )
    .await;
    let green_db = pg::connect_dsn(&green_dsn).await;
    let tables = "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('r', 'm') AND n.nspname IN ('public', 'sales')";
    assert!(
        pg::count(&green_db, tables).await > 0,
        "B2 copied the schema"
    );
    let second = Rig::new(pg::dsn(&blue, "shop"), green_dsn.clone(), "parity-7b");
    let refused = second.act(RunAction::Prerequisites).await;
    let ActionOutcome::Failed { error } = &refused.outcome else {
        panic!("B1 took a green holding another run's copy: {refused:?}");
    };
    assert!(error.contains("lockstep_parity_7a"), "{error}");

    let rollback = first.act(RunAction::Rollback).await;
    assert!(rollback.is_success(), "{rollback:?}");
    assert_eq!(pg::count(&green_db, tables).await, 0, "{:?}", rollback.log);
    assert_eq!(
        pg::count(&green_db, "SELECT count(*) FROM pg_largeobject_metadata").await,
        0
    );
    let third = Rig::new(pg::dsn(&blue, "shop"), green_dsn, "parity-7c");
    replicating(&third).await;
}

/// Item 7: DDL run on blue during B4 reaches green in order with the data — a column added
/// and written at once, a new table with a key (its rows copied), an index — and DDL green
/// cannot apply stops nothing on blue: the run says "action needed" with the statement.
#[tokio::test]
async fn b4_ddl_on_blue_reaches_green_in_order_with_the_data() {
    let (blue, green) = (pg::blue(), pg::green());
    pg::create_db(&blue, "shop").await;
    pg::create_db(&green, "shop").await;
    let blue_db = pg::connect(&blue, "shop").await;
    blue_db
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text);
             INSERT INTO items SELECT g, 'n' || g FROM generate_series(1, 100) g;",
        )
        .await
        .expect("schema");
    let rig = Rig::new(
        pg::dsn(&blue, "shop"),
        pg::dsn(&green, "shop"),
        "parity-ddl",
    );
    replicating(&rig).await;
    // One statement per query, as applications send them.
    for sql in [
        "ALTER TABLE items ADD COLUMN price numeric DEFAULT 0",
        "INSERT INTO items VALUES (101, 'new', 9.5)",
        "UPDATE items SET price = 2 WHERE id = 1",
        "CREATE TABLE orders2 (id bigserial PRIMARY KEY, item int, v text)",
        "INSERT INTO orders2 (item, v) SELECT g, 'v' || g FROM generate_series(1, 30) g",
        "CREATE INDEX items_name ON items (name)",
    ] {
        blue_db
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql} on blue: {e}"));
    }
    let seen = observe_until(&rig, caught_up).await;
    assert!(seen.action_needed.is_none(), "{seen:?}");
    blue_db
        .batch_execute("INSERT INTO orders2 (item, v) VALUES (7, 'after')")
        .await
        .expect("a later write");
    observe_until(&rig, caught_up).await;
    let green_db = pg::connect(&green, "shop").await;
    for sql in [
        "SELECT format('%s %s %s', id, name, price) FROM items WHERE id IN (1, 101) ORDER BY id",
        "SELECT format('%s %s', count(*), max(v)) FROM orders2",
        "SELECT indexname::text FROM pg_indexes WHERE indexname = 'items_name'",
    ] {
        assert_eq!(
            strings(&blue_db, sql).await,
            strings(&green_db, sql).await,
            "{sql}"
        );
    }
    assert_eq!(
        strings(&green_db, "SELECT count(*)::text FROM orders2").await,
        ["31"]
    );

    // DDL green cannot apply (adminpack is gone in PostgreSQL 17): blue is not affected, and
    // the run asks for an operator instead of rolling back.
    blue_db
        .batch_execute("CREATE EXTENSION adminpack")
        .await
        .expect("blue takes its own DDL");
    let seen = observe_until(&rig, |o| o.action_needed.is_some()).await;
    let action = seen.action_needed.clone().unwrap_or_default();
    assert!(
        action.contains("CREATE EXTENSION adminpack") && action.contains("apply it on green"),
        "{action}"
    );
    blue_db
        .batch_execute("INSERT INTO items VALUES (102, 'still', 1)")
        .await
        .expect("blue keeps taking writes");
}

/// Item 9: the data check B5 starts on is refreshed before the park: a difference that arose
/// after the last B4 observation stops the switchover before anything is fenced.
#[tokio::test]
async fn b5_checks_the_data_again_before_the_park() {
    let (blue, green) = (pg::blue(), pg::green());
    pg::create_db(&blue, "shop").await;
    pg::create_db(&green, "shop").await;
    pg::same_password(&green, &blue).await;
    pg::connect(&blue, "shop")
        .await
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY);
             INSERT INTO items SELECT generate_series(1, 500)",
        )
        .await
        .expect("schema");
    let proxy = endpoint_for(&blue, "shop").await;
    let via = Arc::clone(&proxy);
    let rig = Rig::with(
        pg::dsn(&blue, "shop"),
        green_dsn(&blue, &green),
        "parity-9",
        move |t| t.endpoint = Some(via),
    );
    replicating(&rig).await;
    // After the last observation, green loses rows (a hand edit, a broken apply).
    pg::connect_dsn(&green_dsn(&blue, &green))
        .await
        .batch_execute("DELETE FROM items WHERE id > 400")
        .await
        .expect("green edit");
    let b5 = rig.act(RunAction::Switchover).await;
    let ActionOutcome::Reverted { reason } = &b5.outcome else {
        panic!("B5 went ahead on a stale check: {b5:?}");
    };
    assert!(
        reason.contains("public.items: blue 500 rows, green 400")
            && reason.contains("nothing was fenced"),
        "{reason}"
    );
}
