//! The switchover proxy on real servers (PostgreSQL 15 blue, 17 green): sessions pass
//! through, SSLRequest is declined, CancelRequest reaches the right backend, and a long-lived
//! session with prepared statements moves from blue to green between transactions without an
//! error.

#[path = "common/pg.rs"]
mod pg;

use std::time::Duration;

use lockstep::drivers::postgres::cluster::SUPERUSER;
use lockstep::drivers::postgres::proxy::{Credentials, ProxyHandle, Upstream};
use tokio_postgres::NoTls;

/// `cluster` as the proxy's upstream; the proxy logs in with blue's password (which green
/// takes in these tests).
fn upstream(
    cluster: &lockstep::drivers::postgres::cluster::Cluster,
    login: &lockstep::drivers::postgres::cluster::Cluster,
) -> Upstream {
    let password = pg::dsn(login, "postgres").password().expect("a password");
    Upstream {
        addr: format!("127.0.0.1:{}", cluster.port()),
        rebind_as: Some(Credentials::new(SUPERUSER, &password)),
    }
}

/// An endpoint on loopback in front of `blue`, logging in with blue's password.
async fn endpoint_on(blue: &lockstep::drivers::postgres::cluster::Cluster) -> ProxyHandle {
    ProxyHandle::start("127.0.0.1:0", upstream(blue, blue), Duration::from_secs(5))
        .await
        .expect("proxy starts")
}

/// Parks `proxy`, lets its sessions drain and flips it to `to`.
async fn park_and_flip(
    proxy: &ProxyHandle,
    to: Upstream,
) -> lockstep::drivers::postgres::proxy::Flip {
    proxy.park();
    proxy.wait_idle(Duration::from_secs(2)).await;
    proxy
        .flip(to, Duration::from_secs(5))
        .await
        .expect("flipped")
}

/// A revert while parked: `proxy` goes back to `blue`, with its one session (`own`: on the
/// connection it had there before), and resumes.
async fn revert_one_session(
    proxy: &ProxyHandle,
    blue: &lockstep::drivers::postgres::cluster::Cluster,
    own: usize,
) {
    let back = proxy
        .flip(upstream(blue, blue), Duration::from_secs(5))
        .await
        .expect("back to blue");
    assert_eq!((back.rebound, back.own, back.closed), (1, own, 0));
    proxy.resume();
}

async fn through(
    addr: std::net::SocketAddr,
    cluster: &lockstep::drivers::postgres::cluster::Cluster,
) -> tokio_postgres::Client {
    let dsn = pg::via(addr, cluster, "postgres");
    let (client, connection) = tokio_postgres::connect(dsn.expose(), NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect through the proxy: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Whether backend `pid` still runs on `cluster`.
async fn backend_alive(cluster: &lockstep::drivers::postgres::cluster::Cluster, pid: i32) -> bool {
    let admin = pg::connect(cluster, "postgres").await;
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
            &[&pid],
        )
        .await
        .expect("pg_stat_activity")
        .get::<_, i64>(0)
        == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_long_lived_session_moves_to_green_with_its_prepared_statements() {
    let (blue, green) = (pg::blue(), pg::green());
    pg::same_password(&green, &blue).await;
    let proxy = endpoint_on(&blue).await;
    let client = std::sync::Arc::new(through(proxy.local_addr(), &blue).await);
    let version = client
        .prepare("SELECT current_setting('server_version')")
        .await
        .expect("prepare");
    let before: String = client.query_one(&version, &[]).await.expect("blue").get(0);
    assert!(before.starts_with("15"), "{before}");
    let blue_pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);

    // One for the session and one spare (half as many again, rounded up).
    assert_eq!(proxy.prepare(upstream(&green, &blue)).await, 2);
    proxy.park();
    let drain = proxy.wait_idle(Duration::from_secs(2)).await;
    assert_eq!((drain.idle, drain.terminated), (1, 0));
    // A client that asks while parked waits instead of failing.
    let waiting = {
        let client = std::sync::Arc::clone(&client);
        let version = version.clone();
        tokio::spawn(async move {
            client
                .query_one(&version, &[])
                .await
                .map(|r| r.get::<_, String>(0))
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let flip = proxy
        .flip(upstream(&green, &blue), Duration::from_secs(5))
        .await
        .expect("flip");
    assert_eq!((flip.rebound, flip.closed), (1, 0));
    // The session's blue backend is not closed while clients are held (its exit would take
    // CPU from the switchover), and still counts as the endpoint's own.
    assert_eq!(proxy.retired(), 1);
    assert!(
        backend_alive(&blue, blue_pid).await,
        "kept until the resume"
    );
    proxy.resume();
    let started = std::time::Instant::now();
    while backend_alive(&blue, blue_pid).await {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "blue's old backend {blue_pid} closed after the resume"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(proxy.retired(), 0);
    let after = waiting
        .await
        .expect("joins")
        .expect("the parked query runs on green");
    assert!(after.starts_with("17"), "{after}");
    let again: String = client.query_one(&version, &[]).await.expect("green").get(0);
    assert!(again.starts_with("17"), "{again}");

    // A new connection after the flip goes to green; its cancel reaches green's backend.
    let fresh = through(proxy.local_addr(), &blue).await;
    let token = fresh.cancel_token();
    let sleeper = tokio::spawn(async move { fresh.batch_execute("SELECT pg_sleep(30)").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    token.cancel_query(NoTls).await.expect("cancel sent");
    let result = sleeper.await.expect("joins");
    let err = result.expect_err("cancelled");
    assert!(
        err.to_string().contains("cancel") || format!("{err:?}").contains("57014"),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // The re-bound session's old key now cancels its backend on green.
    let token = client.cancel_token();
    let c2 = std::sync::Arc::clone(&client);
    let sleeper = tokio::spawn(async move { c2.batch_execute("SELECT pg_sleep(30)").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    token.cancel_query(NoTls).await.expect("cancel sent");
    assert!(sleeper.await.expect("joins").is_err(), "cancelled on green");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_still_in_a_transaction_after_the_grace_is_terminated() {
    let blue = pg::blue();
    let proxy = endpoint_on(&blue).await;
    let busy = through(proxy.local_addr(), &blue).await;
    busy.batch_execute("BEGIN; CREATE TABLE t (id int)")
        .await
        .expect("begin");
    let idle = through(proxy.local_addr(), &blue).await;
    proxy.park();
    let drain = proxy.wait_idle(Duration::from_millis(300)).await;
    assert_eq!((drain.idle, drain.terminated), (1, 1));
    assert!(
        busy.batch_execute("COMMIT").await.is_err(),
        "the busy session is gone"
    );
    proxy.resume();
    idle.batch_execute("SELECT 1")
        .await
        .expect("the idle one carries on");
    let direct = pg::connect(&blue, "postgres").await;
    let tables = pg::count(&direct, "SELECT count(*) FROM pg_class WHERE relname = 't'").await;
    assert_eq!(tables, 0, "the terminated transaction rolled back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_moved_back_before_the_resume_gets_its_own_blue_connection_again() {
    let (blue, green) = (pg::blue(), pg::green());
    pg::same_password(&green, &blue).await;
    let proxy = endpoint_on(&blue).await;
    let client = through(proxy.local_addr(), &blue).await;
    // Session state a new login would not have.
    client
        .batch_execute("SET application_name = 'kept across the revert'")
        .await
        .expect("set");
    let before: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    proxy.prepare(upstream(&green, &blue)).await;
    park_and_flip(&proxy, upstream(&green, &blue)).await;
    revert_one_session(&proxy, &blue, 1).await;
    let row = client
        .query_one(
            "SELECT pg_backend_pid(), current_setting('application_name'), \
             current_setting('server_version')",
            &[],
        )
        .await
        .expect("on blue");
    let (after, name, version): (i32, String, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(after, before, "the same blue backend, no new login");
    assert_eq!(name, "kept across the revert");
    assert!(version.starts_with("15"), "{version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_of_a_role_the_endpoint_cannot_log_in_as_stays_on_blue_until_the_resume() {
    let (blue, green) = (pg::blue(), pg::green());
    for cluster in [&blue, &green] {
        pg::connect(cluster, "postgres")
            .await
            .batch_execute("CREATE ROLE reporter LOGIN PASSWORD 'r3port'")
            .await
            .expect("role");
    }
    pg::same_password(&green, &blue).await;
    let proxy = endpoint_on(&blue).await;
    let addr = proxy.local_addr();
    let reporter = format!(
        "host={} port={} user=reporter password=r3port dbname=postgres",
        addr.ip(),
        addr.port()
    );
    let connect = || async {
        let (client, connection) = tokio_postgres::connect(&reporter, NoTls)
            .await
            .expect("reporter connects");
        tokio::spawn(connection);
        client
    };
    let pid_and_version = |client: tokio_postgres::Client| async move {
        let row = client
            .query_one(
                "SELECT pg_backend_pid(), current_setting('server_version')",
                &[],
            )
            .await?;
        Ok::<_, tokio_postgres::Error>((client, row.get::<_, i32>(0), row.get::<_, String>(1)))
    };
    let (client, pid, _) = pid_and_version(connect().await).await.expect("on blue");

    // A switchover that reverts: the session is never closed, its backend carries on.
    proxy.prepare(upstream(&green, &blue)).await;
    let flip = park_and_flip(&proxy, upstream(&green, &blue)).await;
    assert_eq!(
        (flip.rebound, flip.closed),
        (0, 1),
        "to close at the resume"
    );
    revert_one_session(&proxy, &blue, 0).await;
    let (client, same, version) = pid_and_version(client).await.expect("still on blue");
    assert_eq!((same, &version[..2]), (pid, "15"));

    // A switchover that completes: closed at the resume; a new connection reaches green.
    park_and_flip(&proxy, upstream(&green, &blue)).await;
    proxy.resume();
    assert!(
        pid_and_version(client).await.is_err(),
        "closed at a transaction boundary"
    );
    let (_, _, version) = pid_and_version(connect().await).await.expect("on green");
    assert!(version.starts_with("17"), "{version}");
}
