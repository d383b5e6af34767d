//! What the crash tests of `lockstep serve` share: the CLI against the server with a time
//! limit, a writer through the endpoint that logs every acknowledged row, direct writes on
//! blue, the side behind the endpoint, and waiting for a failpoint.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lockstep::drivers::postgres::dsn::Dsn;
use serde_json::Value;
use tokio_postgres::NoTls;

use crate::api_support::OPERATOR;
use crate::{cli, pg};

/// `lockstep --remote URL --token T ARGS…`, given up on after 20 s (a command that reaches a
/// driver stopped at a failpoint waits for it).
pub fn remote(url: &str, args: &[&str]) -> Option<cli::Run> {
    let mut cmd = assert_cmd::Command::cargo_bin("lockstep").expect("the lockstep binary");
    cmd.env_remove("LOCKSTEP_DB")
        .env_remove("LOCKSTEP_USER")
        .env_remove("LOCKSTEP_FAILPOINT")
        .args(["--remote", url, "--token", OPERATOR])
        .args(args)
        .timeout(Duration::from_secs(20));
    let out = cmd.output().ok()?;
    Some(out.into())
}

pub fn run_json(url: &str, id: &str) -> Value {
    let r = remote(url, &["--json", "run", "get", id]).expect("run get answers");
    assert_eq!(r.code, 0, "{r:?}");
    serde_json::from_str(&r.stdout).expect("json")
}

/// Every row the writer saw acknowledged, by its value, with the id it got.
#[derive(Default)]
pub struct Acked {
    pub rows: Mutex<Vec<(i64, i64)>>,
}

/// Writes through `dsn` until `stop`: one insert at a time, reconnecting after any error.
pub fn writer(dsn: Dsn, acked: Arc<Acked>, next: Arc<AtomicI64>, stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut client: Option<tokio_postgres::Client> = None;
        while !stop.load(Ordering::Relaxed) {
            if client
                .as_ref()
                .is_none_or(tokio_postgres::Client::is_closed)
            {
                match tokio_postgres::connect(dsn.expose(), NoTls).await {
                    Ok((c, conn)) => {
                        tokio::spawn(conn);
                        client = Some(c);
                    }
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                }
            }
            let Some(c) = &client else { continue };
            let v = next.fetch_add(1, Ordering::Relaxed);
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&v];
            let insert = c.query_one("INSERT INTO payments (v) VALUES ($1) RETURNING id", &params);
            match tokio::time::timeout(Duration::from_secs(90), insert).await {
                Ok(Ok(row)) => acked
                    .rows
                    .lock()
                    .expect("acked")
                    .push((v, row.get::<_, i64>(0))),
                _ => {
                    client = None;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
}

/// The version the side behind `dsn` runs (through the endpoint: the side it serves).
pub async fn version_via(dsn: &Dsn) -> String {
    let connect = tokio_postgres::connect(dsn.expose(), NoTls);
    let (client, conn) = tokio::time::timeout(Duration::from_secs(30), connect)
        .await
        .expect("the endpoint answers")
        .expect("a client through the endpoint");
    tokio::spawn(conn);
    client
        .query_one("SHOW server_version", &[])
        .await
        .expect("version")
        .get(0)
}

/// A direct write on blue that asks for a read-write transaction: its id, or the error.
pub async fn direct_write(blue: &Dsn, v: i64) -> Result<i64, String> {
    let client = pg::connect_dsn(blue).await;
    client
        .batch_execute("BEGIN READ WRITE; SET LOCAL lock_timeout = '500ms'")
        .await
        .map_err(|e| format!("{e:?}"))?;
    let row = client
        .query_one("INSERT INTO payments (v) VALUES ($1) RETURNING id", &[&v])
        .await
        .map_err(|e| format!("{e:?}"))?;
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(row.get(0))
}

/// Waits for the `i`th kill point: the count of its lines in the log must pass what earlier
/// points of the same name left.
pub fn await_failpoint_nth(
    stderr: &Path,
    point: &str,
    url: &str,
    advance: bool,
    i: usize,
    points: &[&str],
) {
    let earlier = points[..i].iter().filter(|p| **p == point).count();
    let wanted = format!("failpoint {point} reached");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(stderr).unwrap_or_default();
        if text.matches(&wanted).count() > earlier {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "serve never reached {point}:\n{text}"
        );
        if advance {
            let _ = remote(url, &["clock", "advance", "1m"]);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}
