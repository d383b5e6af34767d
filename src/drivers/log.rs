//! The drivers' action log: every action a driver started and finished, by idempotency key,
//! in the lockstep database itself (table `driver_actions`), so it survives a process kill and
//! proves that no action ran twice (B9).
//!
//! An action is *claimed* before it runs and *recorded* when it ends. A key found recorded is
//! answered from the log; a key found claimed but never recorded was interrupted by a crash, and
//! the driver must look at the real systems to learn how far it got before going on (a real
//! driver's actions take time; the simulator's are claimed and recorded in one transaction).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::DriverError;
use crate::model::run::{ActionReport, RunAction};

/// One action in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedAction {
    /// The idempotency key.
    pub key: String,
    /// The run.
    pub run_id: String,
    /// The action.
    pub action: RunAction,
    /// The driver that performs it (`sim`, `postgres`).
    pub driver: String,
    /// When it was claimed (engine clock).
    pub started_at: DateTime<Utc>,
    /// When it was recorded as done; `None` while running or after a crash mid-action.
    pub performed_at: Option<DateTime<Utc>>,
    /// How many times it was asked for again and answered from this log, without acting.
    pub replays: u32,
    /// What it reported.
    pub report: Option<ActionReport>,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Never seen: it is now claimed, act and then `record`.
    Fresh,
    /// Already done: here is its report (marked `replayed`); do not act again.
    Done(Box<ActionReport>),
    /// Claimed at this instant by a process that never recorded it (killed mid-action):
    /// find out on the real systems how far it got, then `record`.
    Interrupted(DateTime<Utc>),
}

/// The action log on disk.
pub struct ActionLog {
    conn: Mutex<Connection>,
    driver: &'static str,
}

/// A connection to the lockstep database at `path` for the drivers' own tables: it waits for
/// a busy database, and every commit waits for the disk.
pub(super) fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(StdDuration::from_secs(10))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

fn err(e: impl std::fmt::Display) -> DriverError {
    DriverError(format!("driver action log: {e}"))
}

fn time(text: &str) -> Result<DateTime<Utc>, DriverError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(err)
}

impl ActionLog {
    /// Opens the log of `driver` in the lockstep database at `path` (its table comes with the
    /// journal's migrations).
    pub fn open(path: &Path, driver: &'static str) -> Result<ActionLog, DriverError> {
        let conn = connect(path).map_err(err)?;
        Ok(ActionLog {
            conn: Mutex::new(conn),
            driver,
        })
    }

    /// Claims `key` for `action` of `run_id`, or says what an earlier claim left.
    pub fn claim(
        &self,
        key: &str,
        run_id: &str,
        action: RunAction,
        now: DateTime<Utc>,
    ) -> Result<Claim, DriverError> {
        let mut conn = self.conn.lock().map_err(|_| err("lock poisoned"))?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let claim = claim_in(&tx, self.driver, key, run_id, action, now)?;
        tx.commit().map_err(err)?;
        Ok(claim)
    }

    /// Records how a claimed action ended.
    pub fn record(
        &self,
        key: &str,
        report: &ActionReport,
        now: DateTime<Utc>,
    ) -> Result<(), DriverError> {
        let conn = self.conn.lock().map_err(|_| err("lock poisoned"))?;
        record_in(&conn, key, report, now)
    }

    /// Claims, acts and records in one transaction, for actions that take no real time (the
    /// simulator's): two processes racing for one key act once.
    pub fn perform(
        &self,
        key: &str,
        run_id: &str,
        action: RunAction,
        now: DateTime<Utc>,
        act: impl FnOnce() -> ActionReport,
    ) -> Result<ActionReport, DriverError> {
        let mut conn = self.conn.lock().map_err(|_| err("lock poisoned"))?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let report = match claim_in(&tx, self.driver, key, run_id, action, now)? {
            Claim::Done(report) => *report,
            Claim::Fresh | Claim::Interrupted(_) => {
                let report = act();
                record_in(&tx, key, &report, now)?;
                report
            }
        };
        tx.commit().map_err(err)?;
        Ok(report)
    }

    /// Every action in the log, oldest first.
    pub fn list(&self) -> Result<Vec<LoggedAction>, DriverError> {
        let conn = self.conn.lock().map_err(|_| err("lock poisoned"))?;
        let mut stmt = conn
            .prepare(
                "SELECT key, run_id, action, driver, started_at, performed_at, replays, report
                 FROM driver_actions ORDER BY rowid",
            )
            .map_err(err)?;
        type Row = (
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            u32,
            Option<String>,
        );
        let rows = stmt
            .query_map([], |r| -> rusqlite::Result<Row> {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (key, run_id, action, driver, started, performed, replays, report) =
                row.map_err(err)?;
            out.push(LoggedAction {
                key,
                run_id,
                action: serde_json::from_value(serde_json::Value::String(action)).map_err(err)?,
                driver,
                started_at: time(&started)?,
                performed_at: performed.as_deref().map(time).transpose()?,
                replays,
                report: report
                    .as_deref()
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(err)?,
            });
        }
        Ok(out)
    }
}

fn claim_in(
    conn: &Connection,
    driver: &str,
    key: &str,
    run_id: &str,
    action: RunAction,
    now: DateTime<Utc>,
) -> Result<Claim, DriverError> {
    let found: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT started_at, report FROM driver_actions WHERE key = ?1",
            params![key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(err)?;
    match found {
        Some((_, Some(body))) => {
            conn.execute(
                "UPDATE driver_actions SET replays = replays + 1 WHERE key = ?1",
                params![key],
            )
            .map_err(err)?;
            let mut report: ActionReport = serde_json::from_str(&body).map_err(err)?;
            report.replayed = true;
            Ok(Claim::Done(Box::new(report)))
        }
        Some((started, None)) => Ok(Claim::Interrupted(time(&started)?)),
        None => {
            conn.execute(
                "INSERT INTO driver_actions (key, run_id, action, driver, started_at, replays)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0)",
                params![key, run_id, action.as_str(), driver, now.to_rfc3339()],
            )
            .map_err(err)?;
            Ok(Claim::Fresh)
        }
    }
}

fn record_in(
    conn: &Connection,
    key: &str,
    report: &ActionReport,
    now: DateTime<Utc>,
) -> Result<(), DriverError> {
    let body = serde_json::to_string(report).map_err(err)?;
    let n = conn
        .execute(
            "UPDATE driver_actions SET report = ?2, performed_at = ?3 WHERE key = ?1",
            params![key, body, now.to_rfc3339()],
        )
        .map_err(err)?;
    if n == 1 {
        Ok(())
    } else {
        Err(err(format!("{key} was never claimed")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> (tempfile::TempDir, ActionLog) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        let engine = crate::engine::LocalEngine::create(
            &path,
            crate::engine::ClockKind::Virtual,
            chrono::Utc::now(),
        )
        .expect("db");
        drop(engine);
        let log = ActionLog::open(&path, "test").expect("log");
        (dir, log)
    }

    #[test]
    fn b9_a_recorded_key_is_answered_from_the_log_without_acting() {
        let (_d, log) = log();
        let now = chrono::Utc::now();
        let ok = || ActionReport::succeeded(vec!["did it".into()], 1000);
        let first = log
            .perform("r/B2/provision/1", "r", RunAction::Provision, now, ok)
            .expect("first");
        assert!(!first.replayed);
        let again = log
            .perform("r/B2/provision/1", "r", RunAction::Provision, now, || {
                panic!("acted twice")
            })
            .expect("again");
        assert!(again.replayed);
        assert_eq!(log.list().expect("list")[0].replays, 1);
    }

    #[test]
    fn b9_a_claim_never_recorded_is_reported_as_interrupted() {
        let (_d, log) = log();
        let now = chrono::Utc::now();
        let key = "r/B5/switchover/1";
        assert_eq!(
            log.claim(key, "r", RunAction::Switchover, now)
                .expect("claim"),
            Claim::Fresh
        );
        // The process dies here; the next one finds the claim.
        assert!(matches!(
            log.claim(key, "r", RunAction::Switchover, now)
                .expect("again"),
            Claim::Interrupted(_)
        ));
        let report = ActionReport::succeeded(vec![], 10);
        log.record(key, &report, now).expect("record");
        assert!(matches!(
            log.claim(key, "r", RunAction::Switchover, now).expect("done"),
            Claim::Done(r) if r.replayed
        ));
    }
}
