//! The whole product on real PostgreSQL: a pg service registered with blue (15), green (17)
//! and a client endpoint; `lockstep serve` holds the endpoint; the run is started, advanced
//! and switched over from the CLI with `--remote`; a client connected through the endpoint
//! the whole time ends up on 17 with every row; the run board shows the real lag, guardrails
//! and the measured downtime.

mod api_support;
#[path = "common/cli.rs"]
mod cli;
#[path = "common/pg.rs"]
mod pg;

use api_support::{OPERATOR, ServeProcess, free_port, tokens_file};
use lockstep::api::RemoteEngine;
use lockstep::tui::runner::{Launch, load};
use lockstep::tui::testing::{press, screen};
use serde_json::Value;

const SCHEMA: &str = "
CREATE TABLE payments (id bigserial PRIMARY KEY, amount numeric NOT NULL);
INSERT INTO payments (amount) SELECT g FROM generate_series(1, 2000) g;";

fn remote(url: &str, args: &[&str]) -> cli::Run {
    let mut all = vec!["--remote", url, "--token", OPERATOR];
    all.extend_from_slice(args);
    cli::lockstep(&all)
}

/// pay-prod/payments on pg 15.8 (with `extra` options), and pg 17.2 published.
fn payments_service(db: &cli::Db, extra: &[&str]) {
    db.pg_service("pay-prod", "payments", extra);
    db.ok(&["release", "publish", "--type", "pg", "17.2"]);
}

/// `run start` of pay-prod/payments to 17; the run's id.
fn start_run(url: &str) -> String {
    let started = remote_json(
        url,
        &[
            "run",
            "start",
            "--project",
            "pay-prod",
            "payments",
            "--target-version",
            "17",
        ],
    );
    started["events"][0]["run_id"]
        .as_str()
        .expect("run id")
        .to_string()
}

fn remote_json(url: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let r = remote(url, &all);
    assert_eq!(r.code, 0, "{args:?}: {r:?}");
    serde_json::from_str(&r.stdout).expect("json")
}

async fn server_version(client: &tokio_postgres::Client) -> String {
    client
        .query_one("SELECT current_setting('server_version')", &[])
        .await
        .expect("version")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switchover_through_serve_moves_clients_to_17_and_the_board_shows_downtime() {
    let (blue, green) = pg::pair_with("pay", SCHEMA).await;

    let db = cli::Db::virtual_at("2026-01-05T09:00:00Z");
    payments_service(&db, &["--plan", "business"]);
    let endpoint = format!("127.0.0.1:{}", free_port());
    // Green took blue's password (roles travel with a migration).
    let password = pg::dsn(&blue, "pay").password().expect("a password");
    let green_dsn = lockstep::drivers::postgres::dsn::Dsn::parse(&format!(
        "host=127.0.0.1 port={} user={} password={password} dbname=pay",
        green.port(),
        lockstep::drivers::postgres::cluster::SUPERUSER
    ))
    .expect("green dsn");
    db.ok(&[
        "pg",
        "register",
        "--project",
        "pay-prod",
        "payments",
        "--blue",
        pg::dsn(&blue, "pay").expose(),
        "--green",
        green_dsn.expose(),
        "--endpoint",
        &endpoint,
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = tokens_file(dir.path());
    let server = ServeProcess::start(db.path(), &tokens, free_port());
    let url = server.url();

    // A long-lived client through lockstep's endpoint, on blue.
    let addr: std::net::SocketAddr = endpoint.parse().expect("addr");
    let via = pg::via(addr, &blue, "pay");
    let (client, conn) = tokio_postgres::connect(via.expose(), tokio_postgres::NoTls)
        .await
        .expect("a client through the endpoint");
    tokio::spawn(conn);
    assert!(server_version(&client).await.starts_with("15"));

    let id = start_run(&url);
    let mut run = remote_json(&url, &["run", "get", &id]);
    for _ in 0..40 {
        if run["status"] == "waiting_for_operator" {
            break;
        }
        client
            .execute("INSERT INTO payments (amount) VALUES (1)", &[])
            .await
            .expect("writes through the endpoint");
        remote(&url, &["clock", "advance", "1m"]);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        run = remote_json(&url, &["run", "get", &id]);
    }
    assert_eq!(run["status"], "waiting_for_operator", "{run:#}");

    let r = remote(&url, &["run", "switchover", &id]);
    assert_eq!(r.code, 0, "{r:?}");
    for _ in 0..60 {
        run = remote_json(&url, &["run", "get", &id]);
        if run["switchover_downtime_ms"].is_number() || run["status"] == "completed" {
            break;
        }
        remote(&url, &["clock", "advance", "1m"]);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(
        run["switchover_downtime_ms"].is_number(),
        "the switchover ran and measured its downtime: {run:#}"
    );
    assert_eq!(run["reverts"].as_array().map_or(0, Vec::len), 0, "{run:#}");
    // The same client, still connected through the endpoint, is on 17 now.
    assert!(
        server_version(&client).await.starts_with("17"),
        "the endpoint moved the session to green"
    );
    client
        .execute("INSERT INTO payments (amount) VALUES (2)", &[])
        .await
        .expect("green takes writes");
    let green_client = pg::connect_dsn(&green_dsn).await;
    let rows = pg::count(&green_client, "SELECT count(*) FROM payments").await;
    let blue_rows = pg::count(
        &pg::connect(&blue, "pay").await,
        "SELECT count(*) FROM payments",
    )
    .await;
    assert_eq!(
        rows,
        blue_rows + 1,
        "every row of blue is on green, plus the new one"
    );

    // The run board, attached to the server, shows the real run.
    let engine = RemoteEngine::connect(&url, OPERATOR)
        .await
        .expect("connect");
    let launch = Launch {
        read_only: true,
        actor: "alice".into(),
        demo: false,
        theme: None,
    };
    let mut app = load(&engine, &launch).await.expect("dashboard");
    press(&mut app, &["b"]);
    let now = app.now();
    let board = screen(&mut app, 120, 40, now);
    println!(
        "switchover downtime {} ms\n{board}",
        run["switchover_downtime_ms"]
    );
    assert!(board.contains("Total downtime"), "{board}");
    assert!(board.contains("lockstep_"), "the real slot's lag: {board}");
    assert!(!board.contains(&password));
    let history = remote(&url, &["events", "--limit", "100000"]).stdout;
    assert!(!history.contains(&password), "no password in the history");

    // B14: `serve` restarted after the run completed opens the endpoint on green, which the
    // journal says serves, not on the registered blue (which stays fenced and behind).
    for _ in 0..60 {
        if run["status"] == "completed" {
            break;
        }
        remote(&url, &["clock", "advance", "10m"]);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        run = remote_json(&url, &["run", "get", &id]);
    }
    assert_eq!(run["status"], "completed", "{run:#}");
    drop(client);
    drop(server);
    let server = ServeProcess::start(db.path(), &tokens, free_port());
    let (again, conn) = tokio_postgres::connect(via.expose(), tokio_postgres::NoTls)
        .await
        .expect("a client through the restarted endpoint");
    tokio::spawn(conn);
    assert!(
        server_version(&again).await.starts_with("17"),
        "after a restart the endpoint serves green"
    );
    again
        .execute("INSERT INTO payments (amount) VALUES (3)", &[])
        .await
        .expect("the restarted endpoint takes writes (on green)");
    assert_eq!(
        pg::count(&green_client, "SELECT count(*) FROM payments").await,
        blue_rows + 2,
        "the write after the restart is on green"
    );
    drop(server);
}

/// B8: `run rollback` during a B2 whose initial copy cannot finish (green runs no table sync
/// worker) stops the run at once: the copy is abandoned, the rollback runs, green is emptied.
/// Without that, the rollback waited for B2's 10-minute sync limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_during_a_stuck_initial_copy_stops_the_run_at_once() {
    let (blue, green) = (pg::blue(), pg::green());
    pg::create_db(&blue, "pay").await;
    pg::create_db(&green, "pay").await;
    let admin = pg::connect(&green, "postgres").await;
    for sql in [
        "ALTER SYSTEM SET max_sync_workers_per_subscription = 0",
        "SELECT pg_reload_conf()",
    ] {
        admin
            .batch_execute(sql)
            .await
            .expect("green copies nothing");
    }
    pg::connect(&blue, "pay")
        .await
        .batch_execute(SCHEMA)
        .await
        .expect("blue schema");
    // The system clock: `serve` lets the driver act every second by itself.
    let db = cli::Db::system();
    payments_service(&db, &[]);
    let endpoint = format!("127.0.0.1:{}", free_port());
    db.ok(&[
        "pg",
        "register",
        "--project",
        "pay-prod",
        "payments",
        "--blue",
        pg::dsn(&blue, "pay").expose(),
        "--green",
        pg::dsn(&green, "pay").expose(),
        "--endpoint",
        &endpoint,
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServeProcess::start(db.path(), &tokens_file(dir.path()), free_port());
    let url = server.url();
    let id = start_run(&url);
    let mut run = remote_json(&url, &["run", "get", &id]);
    for _ in 0..60 {
        if run["phase"] == "provisioning" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        run = remote_json(&url, &["run", "get", &id]);
    }
    assert_eq!(run["phase"], "provisioning", "{run:#}");
    // B2 waits on the initial copy that green will never make.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let asked = std::time::Instant::now();
    let r = remote(&url, &["run", "rollback", &id]);
    assert_eq!(r.code, 0, "{r:?}");
    eprintln!(
        "run rollback answered after {:?}: {}",
        asked.elapsed(),
        r.stdout
    );
    for _ in 0..60 {
        run = remote_json(&url, &["run", "get", &id]);
        if run["status"] == "rolled_back" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(run["status"], "rolled_back", "{run:#}");
    eprintln!(
        "rolled back {:?} after the rollback was asked for",
        asked.elapsed()
    );
    let green_db = pg::connect(&green, "pay").await;
    assert_eq!(
        pg::count(&green_db, "SELECT count(*) FROM pg_subscription").await,
        0,
        "no subscription left on green"
    );
    assert_eq!(
        pg::count(
            &green_db,
            "SELECT count(*) FROM pg_class WHERE relname = 'payments'"
        )
        .await,
        0,
        "green emptied"
    );
    drop(server);
}
