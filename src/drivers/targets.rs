//! Where each real PostgreSQL service runs blue and where its green goes: a file beside the
//! lockstep database (`DB.targets.toml`, readable by its owner only), never the journal, so
//! connection strings and their passwords stay out of events, logs and the dashboard.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::postgres::PgTarget;
use super::postgres::dsn::Dsn;

/// One service's registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// Blue, as lockstep reaches it: the database the run replicates.
    pub blue: Dsn,
    /// An empty database on a server of the newer major.
    pub green: Dsn,
    /// Blue as green reaches it, for the subscription, when it differs from `blue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_from_green: Option<Dsn>,
    /// The `pg_dump` that copies the schema (as new as blue or newer; default from PATH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_dump: Option<PathBuf>,
    /// How long B2 may wait for the initial copy, in seconds (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_limit_s: Option<u64>,
    /// Where lockstep's client endpoint listens (`HOST:PORT`); clients connect there instead
    /// of blue, and B5 moves it to green. `lockstep serve` holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Server connections the endpoint holds for clients at most (default: what the server's
    /// `max_connections` leaves after its reserve and lockstep's own sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<u32>,
    /// How long a client waits for a server connection at the endpoint, in seconds (default
    /// 30), before it is refused with `53300`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_wait_s: Option<u64>,
    /// How long a client may take to log in at the endpoint, in seconds (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_deadline_s: Option<u64>,
}

impl Registration {
    /// The driver's view of it.
    #[must_use]
    pub fn target(&self) -> PgTarget {
        let mut t = PgTarget::new(self.blue.clone(), self.green.clone());
        t.blue_from_green = self.blue_from_green.clone();
        if let Some(p) = &self.pg_dump {
            t.pg_dump = p.clone();
        }
        if let Some(s) = self.sync_limit_s {
            t.sync_limit = Duration::from_secs(s);
        }
        t.endpoint = None;
        t
    }
}

/// Every registration, by service (`project/name`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Registrations by `project/name`.
    #[serde(default)]
    pub postgres: BTreeMap<String, Registration>,
}

/// The targets file of the database at `db`.
#[must_use]
pub fn path_for(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".targets.toml");
    PathBuf::from(p)
}

impl Targets {
    /// Reads the targets of the database at `db` (none when the file does not exist).
    pub fn load(db: &Path) -> Result<Targets, String> {
        let path = path_for(db);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Targets::default()),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let targets: Targets = toml::from_str(&text).map_err(|e| {
            super::postgres::dsn::redact(&format!(
                "{} is not a valid targets file: {e}; fix it or re-register with `lockstep pg register`",
                path.display()
            ))
        })?;
        for service in targets.postgres.keys() {
            if service
                .split_once('/')
                .is_none_or(|(p, n)| p.is_empty() || n.is_empty())
            {
                return Err(format!(
                    "{}: '{service}' is not project/service",
                    path.display()
                ));
            }
        }
        Ok(targets)
    }

    /// Writes them back, readable and writable by the owner only (they hold passwords).
    pub fn save(&self, db: &Path) -> Result<(), String> {
        let path = path_for(db);
        let text =
            toml::to_string_pretty(self).map_err(|e| format!("cannot write targets: {e}"))?;
        let tmp = path.with_extension("toml.tmp");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .and_then(|()| {
                f.write_all(
                    b"# lockstep: where real PostgreSQL services run blue and green (secrets: mode 0600)\n",
                )
            })
            .and_then(|()| f.write_all(text.as_bytes()))
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_the_file_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("l.db");
        assert_eq!(Targets::load(&db), Ok(Targets::default()));
        let mut t = Targets::default();
        t.postgres.insert(
            "p/orders".into(),
            Registration {
                blue: Dsn::parse("host=127.0.0.1 port=5432 user=u password=s3cret dbname=o")
                    .expect("dsn"),
                green: Dsn::parse("host=127.0.0.1 port=5433 user=u dbname=o").expect("dsn"),
                blue_from_green: None,
                pg_dump: None,
                sync_limit_s: Some(30),
                endpoint: Some("127.0.0.1:6432".into()),
                pool_size: Some(40),
                queue_wait_s: None,
                login_deadline_s: Some(10),
            },
        );
        t.save(&db).expect("saved");
        let mode = std::fs::metadata(path_for(&db))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(Targets::load(&db), Ok(t));
        std::fs::write(
            path_for(&db),
            "[postgres.\"nope\"]\nblue = \"password=s3cret x\"\n",
        )
        .expect("write");
        let e = Targets::load(&db).expect_err("bad file");
        assert!(!e.contains("s3cret"), "{e}");
    }
}
