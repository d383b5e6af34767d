//! Connection strings whose passwords never leave this module in clear: a [`Dsn`] prints
//! redacted, and [`redact`] scrubs any text (errors, logs, SQL) before it reaches a person.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// What stands in for a password wherever one would have been shown.
pub const HIDDEN: &str = "***";

/// A PostgreSQL connection string (`key=value` conninfo or a `postgres://` URL). `Display` and
/// `Debug` hide the password; only [`Dsn::expose`] gives the real text, for connecting.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dsn(String);

impl Dsn {
    /// Checks that `text` parses as a connection string.
    pub fn parse(text: &str) -> Result<Dsn, String> {
        tokio_postgres::Config::from_str(text)
            .map(|_| Dsn(text.to_string()))
            .map_err(|e| format!("not a PostgreSQL connection string ({}): {e}", redact(text)))
    }

    /// The real text, password included: only for handing to a client library.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The client configuration it describes.
    pub fn config(&self) -> Result<tokio_postgres::Config, String> {
        tokio_postgres::Config::from_str(&self.0).map_err(|e| format!("{self}: {e}"))
    }

    /// The password, if it has one.
    #[must_use]
    pub fn password(&self) -> Option<String> {
        let config = self.config().ok()?;
        config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    }

    /// The same target as `key=value` conninfo without the password (for command lines, where
    /// the password travels in `PGPASSWORD` instead), and the database it names.
    pub fn without_password(&self) -> Result<String, String> {
        self.conninfo(None)
    }

    fn conninfo(&self, database: Option<&str>) -> Result<String, String> {
        let config = self.config()?;
        let mut parts = Vec::new();
        if let Some(host) = config.get_hosts().first() {
            let host = match host {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            };
            parts.push(format!("host={}", quote(&host)));
        }
        if let Some(port) = config.get_ports().first() {
            parts.push(format!("port={port}"));
        }
        if let Some(user) = config.get_user() {
            parts.push(format!("user={}", quote(user)));
        }
        if let Some(db) = database.or(config.get_dbname()) {
            parts.push(format!("dbname={}", quote(db)));
        }
        Ok(parts.join(" "))
    }

    /// The same server and user, connected to database `db` instead.
    pub fn for_database(&self, db: &str) -> Result<Dsn, String> {
        let mut parts = self.conninfo(Some(db))?;
        if let Some(password) = self.password() {
            parts.push_str(&format!(" password={}", quote(&password)));
        }
        Dsn::parse(&parts)
    }

    /// The text with its password hidden.
    #[must_use]
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }

    /// Scrubs `text` of this DSN's password, wherever it appears (also inside an error a
    /// server echoed back), and of anything that looks like a password.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        let mut out = redact(text);
        if let Some(password) = self.password().filter(|p| !p.is_empty()) {
            out = out.replace(&password, HIDDEN);
        }
        out
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dsn({})", self.redacted())
    }
}

/// Quotes a conninfo value when it needs it.
fn quote(value: &str) -> String {
    if !value.is_empty() && !value.contains([' ', '\'', '\\']) {
        return value.to_string();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

static KEY_VALUE_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a literal pattern, checked by the tests
    Regex::new(r#"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'"]+)"#).unwrap()
});
static URL_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a literal pattern, checked by the tests
    Regex::new(r"(?i)(postgres(?:ql)?://[^:/@\s]*:)([^@\s]*)(@)").unwrap()
});

/// Hides every password in `text`: `password=…` in conninfo (quoted or not) and the password of
/// `postgres://user:password@host` URLs.
#[must_use]
pub fn redact(text: &str) -> String {
    let text = KEY_VALUE_PASSWORD.replace_all(text, format!("${{1}}{HIDDEN}"));
    URL_PASSWORD
        .replace_all(&text, format!("${{1}}{HIDDEN}${{3}}"))
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conninfo_passwords_are_hidden_quoted_or_not() {
        let text = "host=db password=s3cr3t user=a and password = 'it\\'s here' dbname=x";
        let out = redact(text);
        assert!(!out.contains("s3cr3t"), "{out}");
        assert!(!out.contains("here"), "{out}");
        assert!(out.contains("password=***"), "{out}");
        assert!(out.contains("dbname=x"), "{out}");
    }

    #[test]
    fn url_passwords_are_hidden() {
        let out = redact("could not reach postgresql://app:pa55@db.example:5432/shop");
        assert_eq!(
            out,
            "could not reach postgresql://app:***@db.example:5432/shop"
        );
    }

    #[test]
    fn a_dsn_prints_without_its_password_everywhere() {
        let dsn = Dsn::parse("host=127.0.0.1 port=5432 user=app password=hunter2 dbname=shop")
            .expect("parses");
        assert!(!format!("{dsn}").contains("hunter2"));
        assert!(!format!("{dsn:?}").contains("hunter2"));
        assert_eq!(dsn.password().as_deref(), Some("hunter2"));
        let bare = dsn.without_password().expect("parses");
        assert_eq!(bare, "host=127.0.0.1 port=5432 user=app dbname=shop");
        assert!(dsn.expose().contains("hunter2"));
    }

    #[test]
    fn scrub_hides_the_password_echoed_anywhere() {
        let dsn = Dsn::parse("postgres://app:hunter2@localhost/shop").expect("parses");
        let echoed = "ERROR: could not connect: role app with hunter2 refused";
        assert_eq!(
            dsn.scrub(echoed),
            "ERROR: could not connect: role app with *** refused"
        );
    }

    #[test]
    fn a_bad_dsn_is_refused_without_showing_its_password() {
        let err = Dsn::parse("host=x password=hunter2 sslmode=bogus").expect_err("refused");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
