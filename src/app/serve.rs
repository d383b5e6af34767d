//! `lockstep serve` (the engine, the client endpoints and the HTTP API in one process), and the
//! `--remote` switch that points every other command and the dashboard at a server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api::auth::{Role, Tokens, new_token};
use crate::api::{RemoteEngine, Server};
use crate::cli::{Cli, CliError, Cmd};
use crate::engine::{EngineError, LocalEngine};
use crate::model::run::ServingSide;

/// Name of the token `serve` makes when no tokens file is given.
pub const DEFAULT_TOKEN_NAME: &str = "operator";

/// Runs `lockstep serve` until interrupted (ctrl-c or SIGTERM).
pub async fn serve(db: &Path, listen: &str, tokens: Option<&Path>) -> Result<(), CliError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(listen)
        .await
        .map_err(|e| {
            CliError::Usage(format!(
                "cannot listen on '{listen}': {e}: use HOST:PORT, for example 127.0.0.1:7878"
            ))
        })?
        .collect();
    let tokens = match tokens {
        Some(path) => Tokens::load(path).map_err(CliError::Usage)?,
        None => {
            if addrs.is_empty() || addrs.iter().any(|a| !a.ip().is_loopback()) {
                return Err(CliError::Usage(format!(
                    "'{listen}' is reachable from other machines: give a tokens file with --tokens, or listen on 127.0.0.1"
                )));
            }
            let token = new_token();
            // Shown once, here; the server keeps only its digest.
            println!("token for '{DEFAULT_TOKEN_NAME}' (operator, shown once): {token}");
            Tokens::single(DEFAULT_TOKEN_NAME, Role::Operator, &token)
        }
    };
    // This process serves the database while it lives (released by its end, however it ends).
    let _lease = crate::engine::lease::take(db).map_err(CliError::Usage)?;
    // Client endpoints first: the engine's postgres driver switches over the ones it holds.
    // In front of the side the journal says serves: green once a run has switched over.
    let sides = serving_sides(db).map_err(EngineError::Invalid)?;
    let endpoints = crate::drivers::endpoints::open_all(db, &sides)
        .await
        .map_err(|e| EngineError::Invalid(crate::drivers::postgres::dsn::redact(&e)))?;
    for (service, addr, side) in &endpoints {
        let side = match side {
            ServingSide::Blue => "blue",
            ServingSide::Green => "green: its run switched over",
        };
        println!("client endpoint of {service} on {addr} (in front of {side})");
    }
    let engine = Arc::new(LocalEngine::open(db)?);
    crate::engine::runs::keep_driving(engine.clone());
    let listener = TcpListener::bind(addrs.as_slice())
        .await
        .map_err(|e| EngineError::Invalid(format!("cannot listen on {listen}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| EngineError::Invalid(format!("cannot listen on {listen}: {e}")))?;
    println!("lockstep serving {} on http://{local}", db.display());
    let server = Server::new(engine, tokens).await;
    server
        .serve(listener, stop_signal())
        .await
        .map_err(|e| EngineError::Storage(format!("the server stopped: {e}")))?;
    Ok(())
}

/// The side each service's newest run left serving, read from the journal of `db` and the
/// switchover record beside it (a flip recorded by a process that died before reporting it).
fn serving_sides(db: &Path) -> Result<HashMap<String, ServingSide>, String> {
    let flipped = crate::drivers::flips::Flips::flipped_runs(db).map_err(|e| e.0)?;
    Ok(crate::engine::sides::serving(db, &flipped)?
        .into_iter()
        .map(|(service, (side, _))| (service, side))
        .collect())
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// With `--remote`, runs the command against that server; `None` when there is no `--remote`.
pub async fn run_remote(cli: &Cli, cmd: &Cmd) -> Option<Result<(), CliError>> {
    let url = cli.remote.as_deref()?;
    Some(run_remote_inner(cli, cmd, url).await)
}

async fn run_remote_inner(cli: &Cli, cmd: &Cmd, url: &str) -> Result<(), CliError> {
    if matches!(cmd, Cmd::Init { .. } | Cmd::Demo(_) | Cmd::Serve { .. }) {
        return Err(CliError::Usage(
            "this command works on a local database: drop --remote (or run it on the server's machine)".into(),
        ));
    }
    let engine = connect(cli, url).await?;
    crate::cli::run_on(cli, cmd, &engine).await
}

/// With `--remote`, the engine the dashboard should open; `None` when there is no `--remote`.
pub async fn connect_remote(cli: &Cli) -> Option<Result<RemoteEngine, CliError>> {
    let url = cli.remote.as_deref()?;
    Some(connect(cli, url).await)
}

async fn connect(cli: &Cli, url: &str) -> Result<RemoteEngine, CliError> {
    // Said only for an explicit --as, not for LOCKSTEP_USER left in the environment.
    if cli.actor.is_some() && std::env::var("LOCKSTEP_USER").ok() != cli.actor {
        eprintln!(
            "note: --as is not used with --remote: the server records the token's name as the actor"
        );
    }
    let token = cli.token.as_deref().ok_or_else(|| {
        CliError::Usage("--remote needs a token: give --token or set LOCKSTEP_TOKEN".into())
    })?;
    Ok(RemoteEngine::connect(url, token).await?)
}
