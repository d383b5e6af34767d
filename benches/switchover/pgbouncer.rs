//! The classic switch's PgBouncer for `cargo bench --bench switchover`: Debian's binary on a
//! free port, run as the clusters' user, pointed at blue and then at green.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lockstep::drivers::postgres::cluster::SUPERUSER;

/// A PgBouncer of our own, on a free port, run as the clusters' user; killed when dropped.
pub struct PgBouncer {
    child: std::process::Child,
    dir: tempfile::TempDir,
    pub port: u16,
    password: String,
    owner: Option<(u32, u32)>,
}

impl PgBouncer {
    pub fn start(binary: &Path, upstream_port: u16, password: &str) -> PgBouncer {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let owner = cluster_user();
        let mut bouncer = PgBouncer {
            child: std::process::Command::new("true").spawn().expect("true"),
            dir,
            port,
            password: password.to_string(),
            owner,
        };
        bouncer.write_config(upstream_port);
        let mut command = std::process::Command::new(binary);
        command.arg(bouncer.dir.path().join("pgbouncer.ini"));
        if let Some((uid, gid)) = owner {
            command.uid(uid).gid(gid);
        }
        bouncer.child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("pgbouncer starts");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return bouncer;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(bouncer.dir.path().join("pgbouncer.log"));
        panic!("pgbouncer did not listen on {port}: {log:?}");
    }

    fn write_config(&self, upstream_port: u16) {
        let dir = self.dir.path();
        let ini = format!(
            "[databases]\nshop = host=127.0.0.1 port={upstream_port} dbname=shop\n\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {}\nunix_socket_dir =\n\
             auth_type = scram-sha-256\nauth_file = {}\npool_mode = transaction\n\
             max_client_conn = 500\ndefault_pool_size = 20\nadmin_users = {SUPERUSER}\n\
             logfile = {}\npidfile = {}\n",
            self.port,
            dir.join("userlist.txt").display(),
            dir.join("pgbouncer.log").display(),
            dir.join("pgbouncer.pid").display()
        );
        let files = [
            ("pgbouncer.ini", ini),
            (
                "userlist.txt",
                format!("\"{SUPERUSER}\" \"{}\"\n", self.password),
            ),
        ];
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("pgbouncer files");
            if let Some((uid, gid)) = self.owner {
                let _ = std::os::unix::fs::chown(&path, Some(uid), Some(gid));
            }
        }
        if let Some((uid, gid)) = self.owner {
            let _ = std::os::unix::fs::chown(dir, Some(uid), Some(gid));
        }
    }

    /// For a gap of seconds: the last 30 lines of its log other than clients' logins and
    /// goodbyes, one per line, to tell why. Empty otherwise. (Two runs of 40 so far waited
    /// 15 s, the length of `server_connect_timeout` and `server_login_retry`; one of them
    /// logged no warning, error or server close.)
    pub fn explain(&self, gap_ms: f64) -> String {
        if gap_ms < 2000.0 {
            return String::new();
        }
        let log =
            std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default();
        let found: Vec<&str> = log
            .lines()
            .filter(|l| !l.contains("client close request") && !l.contains("login attempt"))
            .collect();
        found[found.len().saturating_sub(30)..]
            .iter()
            .map(|line| format!("\n      pgbouncer.log: {line}"))
            .collect()
    }

    /// Rewrites its ini so `shop` points at `port` (RELOAD makes it take effect).
    pub fn point_at(&self, port: u16) {
        self.write_config(port);
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The user PostgreSQL clusters run as when we are root (PgBouncer refuses root too).
fn cluster_user() -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self").ok()?.uid() != 0 {
        return None;
    }
    let wanted = std::env::var("LOCKSTEP_PG_USER").unwrap_or_else(|_| "postgres".into());
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&wanted.as_str()) && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    })
}

pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}
