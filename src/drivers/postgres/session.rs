//! Connections to blue and green whose every error is scrubbed of passwords.

use tokio_postgres::{Client, NoTls};

use super::dsn::Dsn;

/// The setting that turns B4's DDL capture off for a session when set to `off` (lockstep's own
/// sessions set it; the capture lives in [`super::ddl`]).
pub const CAPTURE_SETTING: &str = "lockstep.ddl_capture";

/// A connected client and the DSN it came from (to scrub errors with).
pub struct Session {
    /// The client.
    pub client: Client,
    dsn: Dsn,
    /// Which side, for messages (`blue`, `green`).
    pub side: &'static str,
}

/// Connects to `dsn`; the connection runs on its own task until the client is dropped.
/// lockstep's own sessions are writable even where B5 fenced blue's database read-only, and
/// their DDL is not captured for green.
pub async fn connect(dsn: &Dsn, side: &'static str) -> Result<Session, String> {
    let mut config = dsn.config()?;
    // Its own DDL is not captured for green (B4's DDL capture, [`super::ddl`]).
    let own = format!(
        "-c default_transaction_read_only=off -c {}=off",
        CAPTURE_SETTING
    );
    let options = match config.get_options() {
        Some(given) => format!("{given} {own}"),
        None => own,
    };
    config.options(&options);
    let (client, connection) = config.connect(NoTls).await.map_err(|e| {
        format!(
            "cannot connect to {side} ({dsn}): {}",
            dsn.scrub(&describe(&e))
        )
    })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(Session {
        client,
        dsn: dsn.clone(),
        side,
    })
}

impl Session {
    /// Scrubs `text` of this side's password.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        self.dsn.scrub(text)
    }

    /// Turns a client error into words naming this side, without passwords.
    #[must_use]
    pub fn error(&self, doing: &str, e: &tokio_postgres::Error) -> String {
        self.scrub(&format!("{} {doing}: {}", self.side, describe(e)))
    }

    /// Runs statements that return nothing.
    pub async fn execute(&self, sql: &str) -> Result<(), String> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| self.error(&first_line(sql), &e))
    }

    /// Rows of `sql`, without parameters.
    pub async fn rows(&self, sql: &str) -> Result<Vec<tokio_postgres::Row>, String> {
        self.client
            .query(sql, &[])
            .await
            .map_err(|e| self.error(&first_line(sql), &e))
    }

    /// One text value of `sql` (the first column of its first row).
    pub async fn text(&self, sql: &str) -> Result<String, String> {
        let rows = self.rows(sql).await?;
        rows.first()
            .and_then(|r| r.try_get::<_, String>(0).ok())
            .ok_or_else(|| format!("{} returned nothing for {}", self.side, first_line(sql)))
    }
}

/// The server's message (and detail) when it sent one, else the client's.
#[must_use]
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => e.to_string(),
    }
}

/// The first line of a statement, shortened, for messages.
fn first_line(sql: &str) -> String {
    let line = sql.trim().lines().next().unwrap_or_default();
    line.chars().take(80).collect()
}

/// Quotes an SQL identifier.
#[must_use]
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal.
#[must_use]
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
