//! What the binary does: a command, or the dashboard.

pub mod serve;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{self, Cli};
use crate::engine::{Engine, LocalEngine};

/// The default database: `lockstep.db` in the XDG data directory.
#[must_use]
pub fn default_db() -> PathBuf {
    data_dir().join("lockstep.db")
}

/// Where the demo fleet lives when nothing is configured.
#[must_use]
pub fn demo_db() -> PathBuf {
    data_dir().join("demo.db")
}

fn data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "lockstep")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".lockstep"))
}

/// Runs the parsed command line and returns the exit code.
pub fn main(cli: Cli) -> ExitCode {
    if let Some(cmd) = &cli.command {
        log_to_stderr(matches!(cmd, cli::Cmd::Serve { .. }));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Some(cmd) => {
                let db = cli.db.clone().unwrap_or_else(default_db);
                // `pg` works on the local files only; `cli` says so when --remote is given.
                let remote = match cmd {
                    cli::Cmd::Pg(_) => None,
                    _ => serve::run_remote(&cli, cmd).await,
                };
                match (remote, cmd) {
                    (Some(done), _) => done,
                    (None, cli::Cmd::Serve { listen, tokens }) => {
                        serve::serve(&db, listen, tokens.as_deref()).await
                    }
                    (None, _) => cli::run(&cli, cmd, &db).await,
                }
            }
            None => dashboard(&cli).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Logs to standard error (a command's; the dashboard owns the terminal and logs nothing
/// there): what a server does at `info` for `serve`, warnings and errors for other commands;
/// `LOCKSTEP_LOG` (`warn`, `info`, `lockstep=debug`, …) chooses otherwise.
fn log_to_stderr(server: bool) {
    let default = if server { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOCKSTEP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

async fn dashboard(cli: &Cli) -> Result<(), cli::CliError> {
    let demo = cli.remote.is_none() && cli.db.is_none() && !default_db().exists();
    let engine: std::sync::Arc<dyn Engine> = match serve::connect_remote(cli).await {
        Some(remote) => std::sync::Arc::new(remote?),
        None => std::sync::Arc::new(match &cli.db {
            Some(db) => LocalEngine::open(db)?,
            None if !demo => LocalEngine::open(&default_db())?,
            None => crate::demo::create(&demo_db(), true).await?,
        }),
    };
    if !std::io::stdout().is_terminal() {
        return summary(engine.as_ref()).await;
    }
    let launch = crate::tui::Launch {
        read_only: cli.read_only,
        actor: cli::commands::actor(cli),
        demo,
        theme: cli.theme.clone(),
    };
    crate::tui::run(engine, launch).await.map_err(|e| match e {
        crate::tui::TuiError::Engine(e) => cli::CliError::Engine(e),
        crate::tui::TuiError::Terminal(e) => cli::CliError::Engine(
            crate::engine::EngineError::Invalid(format!("the terminal failed: {e}")),
        ),
    })
}

/// What the dashboard would show, as text, for a stdout that is not a terminal.
async fn summary(engine: &dyn Engine) -> Result<(), cli::CliError> {
    let snap = engine.snapshot().await?;
    let info = engine.info();
    println!(
        "lockstep  {} {}  {} clock {}",
        info.kind,
        info.location,
        snap.clock.kind,
        cli::render::when(snap.clock.now)
    );
    let state = &snap.state;
    let now = snap.clock.now;
    let waiting: Vec<_> = state
        .steps
        .values()
        .filter_map(|s| state.auto_validation_at(s).map(|at| (at, s)))
        .collect();
    let held = state
        .services
        .values()
        .filter(|s| state.held_update(s).is_some())
        .count();
    let updating = state
        .services
        .values()
        .filter(|s| s.updating.is_some())
        .count();
    println!(
        "{} services · {} steps · {} waiting for validation · {} held · {} updating",
        state.services.len(),
        state.steps.len(),
        waiting.len(),
        held,
        updating
    );
    for r in state.runs.values().filter(|r| !r.status.is_finished()) {
        println!(
            "  run {}  {}  {} → {}  {} · {}",
            r.run_id, r.service, r.from_version, r.config.target_version, r.phase, r.status
        );
    }
    let mut waiting = waiting;
    waiting.sort_by_key(|(at, _)| *at);
    for (at, s) in waiting.iter().take(10) {
        let v = state
            .services
            .get(&s.source)
            .map(|x| x.version.to_string())
            .unwrap_or_default();
        println!(
            "  waiting  {} → {}  {v}  auto {}",
            s.source,
            s.destination,
            cli::render::when_relative(*at, now)
        );
    }
    Ok(())
}
