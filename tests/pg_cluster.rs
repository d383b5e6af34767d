//! The throwaway cluster harness: PostgreSQL 15 and 17 start on free ports, accept the
//! superuser's password over TCP, run with `wal_level=logical`, and vanish when dropped.

#[path = "common/pg.rs"]
mod pg;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_on_15_and_green_on_17_start_with_logical_wal_and_are_removed_after() {
    let blue = pg::blue();
    let green = pg::green();
    assert_eq!(blue.major().expect("blue version"), 15);
    assert_eq!(green.major().expect("green version"), 17);
    for (cluster, major) in [(&blue, 15), (&green, 17)] {
        let client = pg::connect(cluster, "postgres").await;
        let row = client
            .query_one(
                "SELECT current_setting('server_version_num')::int, current_setting('wal_level')",
                &[],
            )
            .await
            .expect("settings");
        let version: i32 = row.get(0);
        let wal_level: String = row.get(1);
        assert_eq!(version / 10_000, major);
        assert_eq!(wal_level, "logical");
    }
    let blue_port = blue.port();
    drop(blue);
    let gone = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={blue_port} user=lockstep dbname=postgres connect_timeout=2"),
        tokio_postgres::NoTls,
    )
    .await;
    assert!(gone.is_err(), "a dropped cluster no longer listens");
}
