//! Real servers on free loopback ports for the API tests: an in-process `Server` over a fresh
//! `LocalEngine`, or a `lockstep serve` child process that can be SIGKILLed.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use lockstep::api::{Role, Server, Tokens, digest_hex};
use lockstep::engine::{ClockKind, LocalEngine};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// The operator token, named `alice` (the actor recorded).
pub const OPERATOR: &str = "op-secret-alice";
/// The viewer token, named `victor`.
pub const VIEWER: &str = "view-secret-victor";

/// Monday 2026-01-05 00:00 UTC, where every test clock starts.
pub fn monday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .expect("a date")
}

/// alice (operator) and victor (viewer).
pub fn tokens() -> Tokens {
    let mut t = Tokens::single("alice", Role::Operator, OPERATOR);
    t.add("victor", Role::Viewer, VIEWER);
    t
}

/// The same tokens as a tokens file.
pub fn tokens_file(dir: &Path) -> PathBuf {
    let path = dir.join("tokens");
    let text = format!(
        "# test tokens\nalice, operator, {}\nvictor, viewer, {}\n",
        digest_hex(OPERATOR),
        digest_hex(VIEWER)
    );
    std::fs::write(&path, text).expect("write tokens");
    path
}

/// A server in this process, on a free loopback port, over a new virtual-clock database.
pub struct TestServer {
    pub addr: SocketAddr,
    pub engine: Arc<LocalEngine>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: TempDir,
}

impl TestServer {
    /// Starts one; call inside a multi-thread tokio runtime.
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Arc::new(
            LocalEngine::create(&dir.path().join("api.db"), ClockKind::Virtual, monday())
                .expect("create db"),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = Server::new(engine.clone(), tokens()).await;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = server
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await;
        });
        TestServer {
            addr,
            engine,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The `lockstep` binary built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lockstep"))
}

/// Creates a virtual-clock database at `db` with the real binary.
pub fn init_db(db: &Path) {
    let out = Process::new(binary())
        .args([
            "init",
            "--virtual-clock",
            "--at",
            "2026-01-05T00:00:00Z",
            "--db",
        ])
        .arg(db)
        .output()
        .expect("run lockstep init");
    assert!(out.status.success(), "init: {out:?}");
}

/// A `lockstep serve` child process.
pub struct ServeProcess {
    pub child: Child,
    pub port: u16,
}

impl ServeProcess {
    /// Starts `lockstep serve` on `port` and waits until it answers `/healthz`.
    pub fn start(db: &Path, tokens: &Path, port: u16) -> ServeProcess {
        ServeProcess::start_with(db, tokens, port, None, None)
    }

    /// Starts `lockstep serve` stopping at `failpoint` (`LOCKSTEP_FAILPOINT`), with its
    /// standard error appended to `stderr` (inherited when not given).
    pub fn start_with(
        db: &Path,
        tokens: &Path,
        port: u16,
        failpoint: Option<&str>,
        stderr: Option<&Path>,
    ) -> ServeProcess {
        ServeProcess::spawn(db, tokens, port, failpoint, stderr, None)
    }

    /// Starts `lockstep serve` with its standard error appended to `stderr`, and with at most
    /// `nofile` open files when given (through `prlimit`).
    pub fn start_limited(
        db: &Path,
        tokens: &Path,
        port: u16,
        stderr: &Path,
        nofile: Option<u64>,
    ) -> ServeProcess {
        ServeProcess::spawn(db, tokens, port, None, Some(stderr), nofile)
    }

    fn spawn(
        db: &Path,
        tokens: &Path,
        port: u16,
        failpoint: Option<&str>,
        stderr: Option<&Path>,
        nofile: Option<u64>,
    ) -> ServeProcess {
        let mut cmd = match nofile {
            Some(n) => {
                let mut cmd = Process::new("prlimit");
                cmd.arg(format!("--nofile={n}:{n}")).arg(binary());
                cmd
            }
            None => Process::new(binary()),
        };
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db"])
            .arg(db)
            .arg("--tokens")
            .arg(tokens)
            .env_remove("LOCKSTEP_FAILPOINT")
            .stdout(Stdio::piped());
        if let Some(point) = failpoint {
            cmd.env("LOCKSTEP_FAILPOINT", point);
        }
        match stderr {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("stderr file");
                cmd.stderr(file);
            }
            None => {
                cmd.stderr(Stdio::inherit());
            }
        }
        let mut child = cmd.spawn().expect("spawn lockstep serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(Instant::now() < deadline, "lockstep serve did not start");
            match lines.next() {
                Some(Ok(line)) if line.contains("serving") => break,
                Some(Ok(_)) => {}
                _ => panic!("lockstep serve exited before serving"),
            }
        }
        ServeProcess { child, port }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGTERM, and waits for it to exit.
    pub fn terminate(&mut self) {
        let _ = Process::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// SIGKILL, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
