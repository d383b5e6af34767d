//! The record of every switchover attempt (B5) in the lockstep database (table
//! `driver_switchovers`), written before clients park and again when green becomes the side
//! that serves: after a crash, the process that starts next knows which side serves (the
//! endpoint opens in front of it) and whether the interrupted attempt had flipped (B9: the
//! re-run finishes it instead of starting over), and how long clients were kept waiting.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::DriverError;

/// One switchover attempt, by the key of its B5 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The B5 request's key.
    pub key: String,
    /// Its run.
    pub run_id: String,
    /// When clients were last parked for it (wall clock): written before the park, the intent.
    pub parked_at: DateTime<Utc>,
    /// Whether that park is still open: the try that parked ended neither by resuming nor by
    /// reverting, and no endpoint has opened since (a crash held the clients).
    pub open: bool,
    /// When green became the side that serves (wall clock): written before clients resume on
    /// green, the flip done.
    pub flipped_at: Option<DateTime<Utc>>,
    /// What clients waited in interrupted tries of this request, in milliseconds: from each
    /// park a crash cut off to the endpoint's next opening (parked, then refused).
    pub earlier_down_ms: u64,
    /// How many times this request parked clients (more than one after a crash).
    pub tries: u32,
}

/// The attempts on disk.
pub struct Flips {
    conn: Mutex<Connection>,
}

fn err(e: impl std::fmt::Display) -> DriverError {
    DriverError(format!("switchover record: {e}"))
}

fn time(text: &str) -> Result<DateTime<Utc>, DriverError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(err)
}

impl Flips {
    /// Opens the record in the lockstep database at `path` (its table comes with the journal's
    /// migrations). Every write waits for the disk.
    pub fn open(path: &Path) -> Result<Flips, DriverError> {
        let conn = super::log::connect(path).map_err(err)?;
        Ok(Flips {
            conn: Mutex::new(conn),
        })
    }

    /// The attempt recorded under `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Attempt>, DriverError> {
        let conn = self.conn.lock().map_err(|_| err("lock poisoned"))?;
        get_in(&conn, key)
    }

    /// Before the park: clients park at `parked_at` for `key`.
    pub fn parking(
        &self,
        key: &str,
        run_id: &str,
        parked_at: DateTime<Utc>,
    ) -> Result<(), DriverError> {
        let conn = self.conn.lock().map_err(|_| err("lock poisoned"))?;
        conn.execute(
            "INSERT INTO driver_switchovers (key, run_id, parked_at, last_parked_at, tries)
             VALUES (?1, ?2, ?3, ?3, 1)
             ON CONFLICT (key) DO UPDATE SET parked_at = ?3, last_parked_at = ?3,
                 tries = tries + 1",
            params![key, run_id, parked_at.to_rfc3339()],
        )
        .map_err(err)?;
        Ok(())
    }

    /// The try that parked for `key` ended in this process (resumed on green or reverted):
    /// its park is closed.
    pub fn ended(&self, key: &str) -> Result<(), DriverError> {
        let conn = self.conn.lock().map_err(|_| err("lock poisoned"))?;
        conn.execute(
            "UPDATE driver_switchovers SET parked_at = NULL WHERE key = ?1",
            params![key],
        )
        .map_err(err)?;
        Ok(())
    }

    /// An endpoint opened at `opened_at` in the database at `path`: every park a crash left
    /// open ends there, and what clients waited (parked, then refused while lockstep was
    /// down) is added to its attempt's downtime.
    pub fn settle(path: &Path, opened_at: DateTime<Utc>) -> Result<(), DriverError> {
        let conn = super::log::connect(path).map_err(err)?;
        let open: Vec<(String, String)> = {
            let mut stmt = conn
                .prepare(
                    "SELECT key, parked_at FROM driver_switchovers WHERE parked_at IS NOT NULL",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)?
        };
        for (key, parked) in open {
            let waited = (opened_at - time(&parked)?).num_milliseconds().max(0);
            conn.execute(
                "UPDATE driver_switchovers
                 SET earlier_down_ms = earlier_down_ms + ?2, parked_at = NULL WHERE key = ?1",
                params![key, waited],
            )
            .map_err(err)?;
        }
        Ok(())
    }

    /// Green serves from `at` on, for `key`'s run.
    pub fn flipped(&self, key: &str, at: DateTime<Utc>) -> Result<(), DriverError> {
        let conn = self.conn.lock().map_err(|_| err("lock poisoned"))?;
        let changed = conn
            .execute(
                "UPDATE driver_switchovers SET flipped_at = ?2 WHERE key = ?1",
                params![key, at.to_rfc3339()],
            )
            .map_err(err)?;
        if changed == 1 {
            Ok(())
        } else {
            Err(err(format!("no attempt {key} to record the flip of")))
        }
    }

    /// The runs whose switchover flipped to green, read from the database at `path` (for the
    /// process that opens the endpoints).
    pub fn flipped_runs(path: &Path) -> Result<Vec<String>, DriverError> {
        let conn = super::log::connect(path).map_err(err)?;
        let mut stmt = conn
            .prepare("SELECT run_id FROM driver_switchovers WHERE flipped_at IS NOT NULL")
            .map_err(err)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(err)?;
        rows.collect::<Result<Vec<String>, _>>().map_err(err)
    }
}

fn get_in(conn: &Connection, key: &str) -> Result<Option<Attempt>, DriverError> {
    type Row = (String, Option<String>, String, Option<String>, i64, u32);
    let row: Option<Row> = conn
        .query_row(
            "SELECT run_id, parked_at, last_parked_at, flipped_at, earlier_down_ms, tries
             FROM driver_switchovers WHERE key = ?1",
            params![key],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()
        .map_err(err)?;
    let Some((run_id, open, last, flipped, down, tries)) = row else {
        return Ok(None);
    };
    Ok(Some(Attempt {
        key: key.to_string(),
        run_id,
        parked_at: time(&last)?,
        open: open.is_some(),
        flipped_at: flipped.as_deref().map(time).transpose()?,
        earlier_down_ms: u64::try_from(down).unwrap_or(0),
        tries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flips() -> (tempfile::TempDir, Flips) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lockstep.db");
        crate::engine::store::Store::create(
            &path,
            crate::engine::clock::ClockKind::System,
            Utc::now(),
        )
        .expect("lockstep database");
        let flips = Flips::open(&path).expect("record");
        (dir, flips)
    }

    #[test]
    fn a_park_a_crash_left_open_counts_until_the_endpoint_opens_again_then_the_flip() {
        let (dir, flips) = flips();
        let path = dir.path().join("lockstep.db");
        let t0: DateTime<Utc> = "2026-12-06T01:00:00Z".parse().expect("time");
        assert_eq!(flips.get("r/B5/switchover/1").expect("read"), None);
        flips.parking("r/B5/switchover/1", "r", t0).expect("parked");
        // Lockstep dies; the next process opens its endpoint 4.2 s after the park.
        Flips::settle(&path, t0 + chrono::Duration::milliseconds(4_200)).expect("settled");
        let got = flips
            .get("r/B5/switchover/1")
            .expect("read")
            .expect("there");
        assert_eq!(
            (got.open, got.earlier_down_ms, got.tries),
            (false, 4_200, 1)
        );
        // Settling again adds nothing: that park is closed.
        Flips::settle(&path, t0 + chrono::Duration::seconds(60)).expect("settled");
        let t1 = t0 + chrono::Duration::seconds(9);
        flips.parking("r/B5/switchover/1", "r", t1).expect("again");
        let got = flips
            .get("r/B5/switchover/1")
            .expect("read")
            .expect("there");
        assert_eq!(
            (got.parked_at, got.open, got.earlier_down_ms, got.tries),
            (t1, true, 4_200, 2)
        );
        assert!(Flips::flipped_runs(&path).expect("read").is_empty());
        flips.flipped("r/B5/switchover/1", t1).expect("flipped");
        flips.ended("r/B5/switchover/1").expect("ended");
        Flips::settle(&path, t1 + chrono::Duration::seconds(60)).expect("settled");
        let got = flips
            .get("r/B5/switchover/1")
            .expect("read")
            .expect("there");
        assert_eq!(
            (got.open, got.earlier_down_ms),
            (false, 4_200),
            "a closed park adds nothing"
        );
        assert_eq!(
            Flips::flipped_runs(&path).expect("read"),
            vec!["r".to_string()]
        );
        assert!(flips.flipped("other/B5/switchover/1", t1).is_err());
    }
}
