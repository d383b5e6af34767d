//! B13 end to end on real servers (PostgreSQL 15 blue, 17 green): a cluster with two
//! databases, roles with passwords, owners, table/column/schema grants and default privileges,
//! large objects, a materialized view and an unlogged table (copy chosen), with an application
//! writing through lockstep's endpoint during B4 that also creates a table and adds a column.
//! After the switchover, for every database: each table's count and checksum, large objects,
//! the materialized view, `pg_dump --schema-only` and `pg_dumpall --roles-only` are equal on
//! blue and green (lockstep's own objects aside), and each role logs in through the endpoint
//! with its password and reads what it could read on blue.

#[path = "common/pg.rs"]
mod pg;
#[path = "common/pg_run.rs"]
mod pg_run;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use lockstep::drivers::Driver;
use lockstep::drivers::postgres::cluster::{Cluster, SUPERUSER};
use lockstep::drivers::postgres::dsn::Dsn;
use lockstep::drivers::postgres::proxy::ProxyHandle;
use lockstep::drivers::postgres::switchover::upstream_for;
use lockstep::model::run::{
    ActionOutcome, ChoiceValue, ItemKind, Observation, RunAction, SubscriptionHealth,
};
use pg_run::Rig;
use tokio_postgres::{Client, NoTls};

const APP: &str = "
CREATE ROLE app_owner LOGIN PASSWORD 'owner-secret-1';
CREATE ROLE reader LOGIN PASSWORD 'reader-secret-2';
CREATE ROLE auditors;
GRANT auditors TO reader;
CREATE SCHEMA sales AUTHORIZATION app_owner;
GRANT USAGE ON SCHEMA sales TO reader, auditors;
SET ROLE app_owner;
ALTER DEFAULT PRIVILEGES IN SCHEMA sales GRANT SELECT ON TABLES TO reader;
CREATE TABLE sales.customers (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE sales.orders (id bigserial PRIMARY KEY, customer int REFERENCES sales.customers,
                           total numeric, doc oid);
GRANT SELECT (id, customer) ON sales.orders TO auditors;
INSERT INTO sales.customers (name) SELECT 'c' || g FROM generate_series(1, 50) g;
INSERT INTO sales.orders (customer, total) SELECT 1 + g % 50, g FROM generate_series(1, 2000) g;
CREATE MATERIALIZED VIEW sales.totals AS
    SELECT customer, count(*) AS n, sum(total) AS total FROM sales.orders GROUP BY customer;
UPDATE sales.orders SET doc = lo_from_bytea(0, convert_to(repeat('invoice ' || id, 300), 'UTF8'))
    WHERE id <= 4;
RESET ROLE;
ALTER DATABASE app SET work_mem = '8MB';
ALTER ROLE reader IN DATABASE app SET statement_timeout = '5s';
REVOKE CONNECT ON DATABASE app FROM PUBLIC;
GRANT CONNECT ON DATABASE app TO app_owner, reader;
CREATE UNLOGGED TABLE public.sessions (id int PRIMARY KEY, token text);
INSERT INTO public.sessions SELECT g, md5(g::text) FROM generate_series(1, 300) g;";

const REPORTS: &str = "
CREATE TABLE daily (day date PRIMARY KEY, amount numeric);
INSERT INTO daily SELECT d::date, 1 FROM generate_series('2026-01-01'::date, '2026-03-01', '1 day') d;
GRANT SELECT ON daily TO reader;
CREATE SEQUENCE report_no;
SELECT nextval('report_no') FROM generate_series(1, 17);
SELECT lo_from_bytea(0, '\\x0102030405'::bytea);";

fn green_dsn(blue: &Cluster, green: &Cluster, db: &str) -> Dsn {
    pg::green_as_blue(blue, green, db)
}

fn via(proxy: &ProxyHandle, user: &str, password: &str, db: &str) -> Dsn {
    Dsn::parse(&format!(
        "host=127.0.0.1 port={} user={user} password={password} dbname={db}",
        proxy.local_addr().port()
    ))
    .expect("endpoint DSN")
}

async fn client(dsn: &Dsn) -> Result<Client, String> {
    let (client, connection) = tokio_postgres::connect(dsn.expose(), NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(client)
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

/// Every user table with its row count and a checksum of its rows, in order.
async fn tables(client: &Client) -> Vec<String> {
    let names = strings(
        client,
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg_toast%' AND c.relname NOT LIKE 'lockstep%' ORDER BY 1",
    )
    .await;
    let mut out = Vec::new();
    for table in names {
        let sql = format!(
            "SELECT format('%s %s %s', $1::text, count(*),
                    md5(COALESCE(string_agg(x::text, ',' ORDER BY x::text), '')))
             FROM {table} x"
        );
        let row = client
            .query_one(&sql, &[&table])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        out.push(row.get(0));
    }
    out
}

const LARGE_OBJECTS: &str = "SELECT m.oid::text || ' ' || pg_get_userbyid(m.lomowner) || ' ' ||
    COALESCE((SELECT md5(string_agg(data, ''::bytea ORDER BY pageno)) FROM pg_largeobject p
              WHERE p.loid = m.oid), md5('')) FROM pg_largeobject_metadata m ORDER BY 1";

/// A dump with lockstep's own objects, comments and blank lines left out.
fn dump(tool: &str, args: &[&str], dsn: &Dsn) -> Vec<String> {
    let out = Command::new(pg::pg17_tools().join(tool))
        .args(args)
        .arg("--dbname")
        .arg(dsn.without_password().expect("conninfo"))
        .env("PGPASSWORD", dsn.password().unwrap_or_default())
        .output()
        .expect("the dump runs");
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // PostgreSQL 17 deparses a view's single-table columns without their table (`customer`
    // where 15 says `orders.customer`): the same view, so the qualifier is left out of both.
    let qualifier = regex::Regex::new(r"\b[a-z_]+\.([a-z_]+)").expect("a pattern");
    let mut keep = Vec::new();
    let mut ours = false;
    let mut in_view = false;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.starts_with("CREATE MATERIALIZED VIEW") || line.starts_with("CREATE VIEW") {
            in_view = true;
        }
        let line = if in_view && !line.trim_start().starts_with("FROM") {
            qualifier.replace_all(line, "$1").into_owned()
        } else {
            line.to_string()
        };
        if line.ends_with(';') {
            in_view = false;
        }
        let line = line.as_str();
        if let Some(header) = line.strip_prefix("-- Name: ") {
            // `-- Name: X; Type: …; Owner: …`: lockstep's objects by name, not by owner.
            ours = header
                .split(';')
                .next()
                .unwrap_or_default()
                .contains("lockstep");
            continue;
        }
        if ours || line.is_empty() || line.starts_with("--") || line.starts_with('\\') {
            continue;
        }
        keep.push(line.to_string());
    }
    keep
}

/// Roles without lockstep's own; a membership as PostgreSQL 16+ spells it (`WITH INHERIT TRUE
/// GRANTED BY …`, what 15 implies for a role that inherits) reads as 15 spells it.
fn without_lockstep_role(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .filter(|l| !l.contains(&format!("ROLE {SUPERUSER}")))
        .map(|l| {
            l.replace(" WITH INHERIT TRUE", "")
                .replace(&format!(" GRANTED BY {SUPERUSER}"), "")
        })
        .collect()
}

/// Until every table matches at zero lag (20 s at most).
async fn caught_up(rig: &Rig) -> Observation {
    for _ in 0..100 {
        let o = rig
            .driver
            .observe(&rig.spec, pg_run::now())
            .await
            .expect("B4 observe");
        if o.subscription == SubscriptionHealth::Streaming
            && o.max_lag() == 0
            && o.row_count_mismatches.is_empty()
            && o.lasting_differences.is_empty()
            && o.action_needed.is_none()
        {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let o = rig.driver.observe(&rig.spec, pg_run::now()).await;
    panic!("green never caught up: {o:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn b13_two_databases_cross_whole_and_every_role_logs_in_after_the_switchover() {
    let (blue, green) = (pg::blue(), pg::green());
    for db in ["app", "reports"] {
        pg::create_db(&blue, db).await;
    }
    pg::create_db(&green, "app").await;
    pg::same_password(&green, &blue).await;
    pg::connect(&blue, "app")
        .await
        .batch_execute(APP)
        .await
        .expect("app on blue");
    pg::connect(&blue, "reports")
        .await
        .batch_execute(REPORTS)
        .await
        .expect("reports on blue");

    let upstream = upstream_for(&pg::dsn(&blue, "app")).expect("blue upstream");
    let proxy = Arc::new(
        ProxyHandle::start("127.0.0.1:0", upstream, Duration::from_secs(60))
            .await
            .expect("the endpoint starts"),
    );
    let endpoint = Arc::clone(&proxy);
    let mut rig = Rig::with(
        pg::dsn(&blue, "app"),
        green_dsn(&blue, &green, "app"),
        "fidelity",
        move |t| {
            t.endpoint = Some(endpoint);
            t.drain_grace = Duration::from_secs(2);
        },
    );
    let b1 = rig.act(RunAction::Prerequisites).await;
    assert!(b1.is_success(), "B1: {b1:?}");
    let inv = b1.inventory.expect("an inventory");
    eprintln!("inventory: {inv:#?}");
    assert_eq!(inv.names(ItemKind::Database), vec!["reports"]);
    assert!(
        inv.names(ItemKind::LargeObjects)
            .iter()
            .any(|n| n.starts_with("reports:"))
    );
    for action in [RunAction::Provision, RunAction::VacuumAnalyze] {
        let report = rig.act(action).await;
        assert!(report.is_success(), "{}: {report:#?}", action.as_str());
    }

    // The application writes through the endpoint during B4, in both databases, as its own
    // role; it also creates a table and adds a column, one statement per query.
    let app = client(&via(&proxy, "app_owner", "owner-secret-1", "app"))
        .await
        .expect("app_owner logs in through the endpoint on blue");
    for sql in [
        "ALTER TABLE sales.orders ADD COLUMN note text",
        "CREATE TABLE sales.refunds (id bigserial PRIMARY KEY, order_id bigint, amount numeric)",
        "INSERT INTO sales.refunds (order_id, amount) SELECT g, 1 FROM generate_series(1, 20) g",
        "INSERT INTO sales.orders (customer, total, note) VALUES (3, 99, 'after the column')",
        "SELECT lo_put((SELECT doc FROM sales.orders WHERE id = 1), 0, '\\xff'::bytea)",
    ] {
        app.batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql} through the endpoint: {e}"));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, written) = (Arc::clone(&stop), Arc::clone(&written));
        let dsn = via(&proxy, "app_owner", "owner-secret-1", "app");
        tokio::spawn(async move {
            let c = client(&dsn).await.expect("writer logs in");
            while !stop.load(Ordering::Relaxed) {
                c.batch_execute("INSERT INTO sales.refunds (order_id, amount) VALUES (1, 2)")
                    .await
                    .expect("a write through the endpoint");
                written.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    pg::connect(&blue, "reports")
        .await
        .batch_execute("INSERT INTO daily VALUES ('2026-06-01', 5); SELECT nextval('report_no')")
        .await
        .expect("reports written on blue");
    for _ in 0..200 {
        if written.load(Ordering::Relaxed) >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("writer");
    pg::connect(&blue, "app")
        .await
        .batch_execute("REFRESH MATERIALIZED VIEW sales.totals")
        .await
        .expect("refresh on blue");
    caught_up(&rig).await;

    rig.spec.choices = vec![ChoiceValue::Copy];
    let b5 = rig.act(RunAction::Switchover).await;
    eprintln!("B5 log:\n{}", b5.log.join("\n"));
    assert_eq!(b5.outcome, ActionOutcome::Succeeded, "B5: {b5:#?}");
    assert!(written.load(Ordering::Relaxed) > 0);

    for db in ["app", "reports"] {
        let (on_blue, on_green) = (
            pg::connect(&blue, db).await,
            pg::connect_dsn(&green_dsn(&blue, &green, db)).await,
        );
        assert_eq!(
            tables(&on_blue).await,
            tables(&on_green).await,
            "{db}: tables"
        );
        assert_eq!(
            strings(&on_blue, LARGE_OBJECTS).await,
            strings(&on_green, LARGE_OBJECTS).await,
            "{db}: large objects"
        );
        // Database-level settings and grants (lockstep's fence on blue and claim on green aside).
        let settings = |dsn: &Dsn| -> Vec<String> {
            dump(
                "pg_dump",
                &["--create", "--schema-only", "--exclude-schema=*"],
                dsn,
            )
            .into_iter()
            .filter(|l| {
                (l.starts_with("ALTER DATABASE") && l.contains(" SET "))
                    || l.contains(" IN DATABASE ")
                    || l.contains(" ON DATABASE ")
            })
            .filter(|l| !l.contains("default_transaction_read_only") && !l.contains("lockstep."))
            .collect()
        };
        let on_blue_settings = settings(&pg::dsn(&blue, db));
        if db == "app" {
            assert_eq!(on_blue_settings.len(), 6, "{on_blue_settings:?}");
        }
        assert_eq!(
            on_blue_settings,
            settings(&green_dsn(&blue, &green, db)),
            "{db}: database settings and grants"
        );
        let schema = ["--schema-only", "--no-publications", "--no-subscriptions"];
        assert_eq!(
            dump("pg_dump", &schema, &pg::dsn(&blue, db)),
            dump("pg_dump", &schema, &green_dsn(&blue, &green, db)),
            "{db}: pg_dump --schema-only"
        );
    }
    assert_eq!(
        without_lockstep_role(dump(
            "pg_dumpall",
            &["--roles-only"],
            &pg::dsn(&blue, "app")
        )),
        without_lockstep_role(dump(
            "pg_dumpall",
            &["--roles-only"],
            &green_dsn(&blue, &green, "app")
        )),
        "pg_dumpall --roles-only"
    );
    // Each role logs in through the endpoint, now on green, and reads what it read on blue.
    let reader = client(&via(&proxy, "reader", "reader-secret-2", "app"))
        .await
        .expect("reader logs in through the endpoint after the switchover");
    let row = reader
        .query_one(
            "SELECT current_setting('server_version_num')::int,
                    (SELECT count(*) FROM sales.orders), (SELECT count(*) FROM sales.refunds)",
            &[],
        )
        .await
        .expect("reader reads sales.orders and the new table (default privileges)");
    assert!(row.get::<_, i32>(0) >= 170_000, "served by green");
    let reports = client(&via(&proxy, "reader", "reader-secret-2", "reports"))
        .await
        .expect("reader logs in to the other database through the endpoint");
    let row = reports
        .query_one(
            "SELECT current_setting('server_version_num')::int, count(*) FROM daily",
            &[],
        )
        .await
        .expect("reader reads reports.daily on green");
    assert!(row.get::<_, i32>(0) >= 170_000, "reports served by green");
    assert_eq!(row.get::<_, i64>(1), 61);
    let admin = client(&pg::via(proxy.local_addr(), &blue, "reports"))
        .await
        .expect("the DSN's role logs in to reports through the endpoint");
    let next: i64 = admin
        .query_one("SELECT nextval('report_no')", &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or_else(|e| panic!("the sequence continues on green: {e}"));
    assert_eq!(next, 19, "report_no continues after blue's 18");
}
