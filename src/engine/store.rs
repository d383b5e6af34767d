//! The journal on disk: one SQLite file in WAL mode, flushed before any commit is acknowledged
//! (`synchronous=FULL`, or by the engine's flush thread), holding the
//! append-only events, a few settings (clock, watermark) and periodic state snapshots.

use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::model::{Event, Seq, State};

use super::EngineError;
use super::clock::ClockKind;

/// Schema migrations, applied in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE events (
        seq   INTEGER PRIMARY KEY,
        at    TEXT NOT NULL,
        actor TEXT NOT NULL,
        type  TEXT NOT NULL,
        body  TEXT NOT NULL
     );
     CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE snapshots (seq INTEGER PRIMARY KEY, body BLOB NOT NULL);",
    // The simulated driver's action log (B9: proof that no action ran twice).
    "CREATE TABLE sim_actions (
        key          TEXT PRIMARY KEY,
        run_id       TEXT NOT NULL,
        action       TEXT NOT NULL,
        performed_at TEXT NOT NULL,
        report       TEXT NOT NULL,
        replays      INTEGER NOT NULL DEFAULT 0
     );",
    // Every driver's action log, with claims that were never recorded (a crash mid-action).
    "CREATE TABLE driver_actions (
        key          TEXT PRIMARY KEY,
        run_id       TEXT NOT NULL,
        action       TEXT NOT NULL,
        driver       TEXT NOT NULL,
        started_at   TEXT NOT NULL,
        performed_at TEXT,
        report       TEXT,
        replays      INTEGER NOT NULL DEFAULT 0
     );
     INSERT INTO driver_actions (key, run_id, action, driver, started_at, performed_at, report, replays)
        SELECT key, run_id, action, 'sim', performed_at, performed_at, report, replays FROM sim_actions;
     DROP TABLE sim_actions;",
    // Switchover attempts: parked (the intent) and flipped (green serves), so a process that
    // starts after a crash knows which side serves.
    "CREATE TABLE driver_switchovers (
        key             TEXT PRIMARY KEY,
        run_id          TEXT NOT NULL,
        parked_at       TEXT,
        last_parked_at  TEXT NOT NULL,
        flipped_at      TEXT,
        earlier_down_ms INTEGER NOT NULL DEFAULT 0,
        tries           INTEGER NOT NULL DEFAULT 1
     );",
];

/// The settings kept beside the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    /// Which clock the database runs on.
    pub clock: ClockKind,
    /// The virtual clock's time (virtual clocks only).
    pub virtual_now: Option<DateTime<Utc>>,
    /// Every deadline up to this instant has been processed.
    pub watermark: DateTime<Utc>,
}

/// An open journal.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

use super::storage;

fn parse_time(s: &str) -> Result<DateTime<Utc>, EngineError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| storage(format!("bad time '{s}' in the database: {e}")))
}

pub(super) fn connect(path: &Path) -> Result<Connection, EngineError> {
    let conn = Connection::open(path)
        .map_err(|e| storage(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(StdDuration::from_secs(10))
        .map_err(storage)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| storage(format!("cannot use {}: {e}", path.display())))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(storage)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), EngineError> {
    let applied: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(storage)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(storage)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied.max(0) as usize) {
        tx.execute_batch(sql).map_err(storage)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(storage)?;
    }
    tx.commit().map_err(storage)
}

impl Store {
    /// Creates a new database at `path` on the given clock, starting at `at`.
    pub fn create(path: &Path, clock: ClockKind, at: DateTime<Utc>) -> Result<Store, EngineError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| storage(format!("cannot create {}: {e}", parent.display())))?;
        }
        let mut conn = connect(path)?;
        migrate(&mut conn)?;
        let initialized: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'clock'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(storage)?;
        if initialized.is_some() {
            return Err(EngineError::Invalid(format!(
                "{} is already a lockstep database: use it as it is, or choose another --db path",
                path.display()
            )));
        }
        let at = super::clock::millis(at);
        let tx = conn.transaction().map_err(storage)?;
        set_meta(&tx, "clock", clock.as_str())?;
        set_meta(&tx, "watermark", &at.to_rfc3339())?;
        if clock == ClockKind::Virtual {
            set_meta(&tx, "virtual_now", &at.to_rfc3339())?;
        }
        tx.commit().map_err(storage)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing database.
    pub fn open(path: &Path) -> Result<Store, EngineError> {
        if !path.exists() {
            return Err(EngineError::NoDatabase(path.to_path_buf()));
        }
        let mut conn = connect(path)?;
        migrate(&mut conn)?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.meta()?;
        Ok(store)
    }

    /// Where the database lives.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the settings.
    pub fn meta(&self) -> Result<Meta, EngineError> {
        read_meta(&self.conn, &self.path)
    }

    /// Changes whenever another connection commits (this one's own commits leave it alone).
    pub fn data_version(&self) -> Result<i64, EngineError> {
        data_version(&self.conn)
    }

    /// The state the journal holds: its newest snapshot (indexed), then every event after it.
    pub fn load_state(&self) -> Result<State, EngineError> {
        let mut state = self.load_snapshot()?.unwrap_or_else(State::new);
        state.reindex();
        self.replay(&mut state)?;
        Ok(state)
    }

    /// Applies to `state` every event after its head.
    pub fn replay(&self, state: &mut State) -> Result<(), EngineError> {
        loop {
            let batch = self.events_since(state.head, 50_000)?;
            if batch.is_empty() {
                return Ok(());
            }
            for e in &batch {
                state.apply(e);
            }
        }
    }

    /// The newest snapshot, if any, with the id of the last event it contains.
    pub fn load_snapshot(&self) -> Result<Option<State>, EngineError> {
        let row: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT body FROM snapshots ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(storage)?;
        row.map(|body| super::snapshot::decode(&body)).transpose()
    }

    /// Saves a snapshot of `state` and keeps only the two newest.
    pub fn save_snapshot(&self, state: &mut State) -> Result<(), EngineError> {
        write_snapshot(&self.conn, state)
    }

    /// Events after `since`, oldest first, at most `limit`.
    pub fn events_since(&self, since: Seq, limit: usize) -> Result<Vec<Event>, EngineError> {
        read_events(&self.conn, since, limit)
    }

    /// Starts a write: takes the database's write lock at once, so decisions are taken
    /// against the newest journal and appends cannot conflict.
    pub fn begin(&mut self) -> Result<Transaction<'_>, EngineError> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage)
    }
}

/// Reads the settings on any connection or transaction.
pub fn read_meta(conn: &Connection, path: &Path) -> Result<Meta, EngineError> {
    let mut stmt = conn
        .prepare_cached("SELECT key, value FROM meta")
        .map_err(storage)?;
    let mut clock = None;
    let mut virtual_now = None;
    let mut watermark = None;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(storage)?;
    for row in rows {
        let (k, v) = row.map_err(storage)?;
        match k.as_str() {
            "clock" => clock = Some(v.parse::<ClockKind>().map_err(storage)?),
            "virtual_now" => virtual_now = Some(parse_time(&v)?),
            "watermark" => watermark = Some(parse_time(&v)?),
            _ => {}
        }
    }
    match (clock, watermark) {
        (Some(clock), Some(watermark)) => Ok(Meta {
            clock,
            virtual_now,
            watermark,
        }),
        _ => Err(EngineError::Invalid(format!(
            "{} is not an initialized lockstep database: run `lockstep init --db {}` first",
            path.display(),
            path.display()
        ))),
    }
}

/// `PRAGMA data_version` on any connection or transaction: it changes whenever another
/// connection commits, so an unchanged value means nothing needs reading back.
pub fn data_version(conn: &Connection) -> Result<i64, EngineError> {
    conn.prepare_cached("PRAGMA data_version")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(storage)
}

/// Writes one setting inside a transaction.
pub fn set_meta(tx: &Transaction<'_>, key: &str, value: &str) -> Result<(), EngineError> {
    tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
        .and_then(|mut s| s.execute(params![key, value]))
        .map_err(storage)?;
    Ok(())
}

/// Appends one event inside a transaction.
pub fn append(tx: &Transaction<'_>, event: &Event) -> Result<(), EngineError> {
    let body = serde_json::to_string(event).map_err(storage)?;
    tx.prepare_cached(
        "INSERT INTO events (seq, at, actor, type, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            event.seq as i64,
            event.at.to_rfc3339(),
            event.actor,
            event.kind.type_name(),
            body
        ])
    })
    .map_err(storage)?;
    Ok(())
}

/// Events after `since` on any connection or transaction.
pub fn read_events(conn: &Connection, since: Seq, limit: usize) -> Result<Vec<Event>, EngineError> {
    let mut stmt = conn
        .prepare_cached("SELECT body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")
        .map_err(storage)?;
    let rows = stmt
        .query_map(
            params![since as i64, limit.min(i64::MAX as usize) as i64],
            |r| r.get::<_, String>(0),
        )
        .map_err(storage)?;
    let mut out = Vec::new();
    for row in rows {
        let body = row.map_err(storage)?;
        out.push(serde_json::from_str::<Event>(&body).map_err(storage)?);
    }
    Ok(out)
}

impl Store {
    /// Makes this the engine's writer connection: a commit writes the WAL without waiting for
    /// the disk, so it must not be acknowledged before [`Store::wal_file`] has been flushed
    /// (checkpoints still flush before copying), and WAL checkpoints are left to a
    /// `Checkpointer` instead of the committing writer.
    pub fn flush_by_hand(&self) -> Result<(), EngineError> {
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .and_then(|()| self.conn.pragma_update(None, "wal_autocheckpoint", 0))
            .map_err(storage)
    }

    /// The journal's write-ahead log, opened for flushing, once its directory entry is on disk.
    pub fn wal_file(&self) -> Result<std::fs::File, EngineError> {
        let mut name = self.path.as_os_str().to_owned();
        name.push("-wal");
        let wal = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&name)
            .map_err(|e| storage(format!("cannot open {}: {e}", Path::new(&name).display())))?;
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| storage(format!("cannot flush {}: {e}", dir.display())))?;
        Ok(wal)
    }
}

/// Writes a snapshot of `state` on any connection and keeps only the two newest.
pub fn write_snapshot(conn: &Connection, state: &mut State) -> Result<(), EngineError> {
    let body = super::snapshot::encode(state)?;
    conn.execute(
        "INSERT OR REPLACE INTO snapshots (seq, body) VALUES (?1, ?2)",
        params![state.head as i64, body],
    )
    .map_err(storage)?;
    conn.execute(
        "DELETE FROM snapshots WHERE seq NOT IN (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT 2)",
        [],
    )
    .map_err(storage)?;
    Ok(())
}
