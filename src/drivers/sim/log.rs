//! The simulator's action log: every action it performed, by idempotency key, in the same
//! SQLite file as the journal (table `sim_actions`), so it survives a process kill and proves
//! that no action ran twice (B9).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::super::DriverError;
use crate::model::run::{ActionReport, RunAction};

/// One performed action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedAction {
    /// The idempotency key.
    pub key: String,
    /// The run.
    pub run_id: String,
    /// The action.
    pub action: RunAction,
    /// When it was performed (engine clock).
    pub performed_at: DateTime<Utc>,
    /// How many times it was asked for again and answered from this log, without acting.
    pub replays: u32,
    /// What it reported.
    pub report: ActionReport,
}

/// The action log on disk.
pub struct ActionLog {
    conn: Mutex<Connection>,
}

fn err(e: impl std::fmt::Display) -> DriverError {
    DriverError(format!("simulator action log: {e}"))
}

impl ActionLog {
    /// Opens the log in the lockstep database at `path` (its table comes with the journal's
    /// migrations).
    pub fn open(path: &Path) -> Result<ActionLog, DriverError> {
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(StdDuration::from_secs(10)).map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        Ok(ActionLog {
            conn: Mutex::new(conn),
        })
    }

    /// Performs `act` under `key` unless the key is in the log, in which case the recorded
    /// report comes back with `replayed` set. Claim and record are one transaction, so two
    /// processes racing for one key act once.
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
        let recorded: Option<String> = tx
            .query_row(
                "SELECT report FROM sim_actions WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        let report = match recorded {
            Some(body) => {
                tx.execute(
                    "UPDATE sim_actions SET replays = replays + 1 WHERE key = ?1",
                    params![key],
                )
                .map_err(err)?;
                let mut report: ActionReport = serde_json::from_str(&body).map_err(err)?;
                report.replayed = true;
                report
            }
            None => {
                let report = act();
                tx.execute(
                    "INSERT INTO sim_actions (key, run_id, action, performed_at, report, replays)
                     VALUES (?1, ?2, ?3, ?4, ?5, 0)",
                    params![
                        key,
                        run_id,
                        action.as_str(),
                        now.to_rfc3339(),
                        serde_json::to_string(&report).map_err(err)?
                    ],
                )
                .map_err(err)?;
                report
            }
        };
        tx.commit().map_err(err)?;
        Ok(report)
    }

    /// Every performed action, oldest first.
    pub fn list(&self) -> Result<Vec<LoggedAction>, DriverError> {
        let conn = self.conn.lock().map_err(|_| err("lock poisoned"))?;
        let mut stmt = conn
            .prepare(
                "SELECT key, run_id, action, performed_at, replays, report FROM sim_actions ORDER BY rowid",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, u32>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (key, run_id, action, at, replays, report) = row.map_err(err)?;
            out.push(LoggedAction {
                key,
                run_id,
                action: serde_json::from_value(serde_json::Value::String(action)).map_err(err)?,
                performed_at: DateTime::parse_from_rfc3339(&at)
                    .map_err(err)?
                    .with_timezone(&Utc),
                replays,
                report: serde_json::from_str(&report).map_err(err)?,
            });
        }
        Ok(out)
    }
}
