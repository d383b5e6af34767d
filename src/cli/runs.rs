//! `lockstep run …` and `lockstep sim …`.

use crate::engine::{ClockKind, Engine, EngineError, Receipt};
use crate::model::{Command, EventKind, RuleError, ServiceKey, State, Version};

use super::args::{Cli, RunCmd, SimCmd};
use super::output::{CliError, print_json, report};
use super::render_runs;

/// Runs a `run` subcommand.
pub async fn run_cmd(
    cli: &Cli,
    rc: &RunCmd,
    engine: &dyn Engine,
    actor: &str,
) -> Result<(), CliError> {
    let command = match rc {
        RunCmd::List => {
            let snap = engine.snapshot().await?;
            render_runs::runs(cli.json, &snap.state, snap.clock.now);
            return Ok(());
        }
        RunCmd::Get { run_id } => {
            let snap = engine.snapshot().await?;
            let run = snap.state.run(run_id).map_err(EngineError::from)?;
            // On the database itself, the switchover record says whether green serves even
            // when the process that recorded the flip died before reporting it.
            let local = cli.db.as_deref().filter(|_| cli.remote.is_none());
            let flip_recorded = local.is_some_and(|db| {
                crate::drivers::flips::Flips::flipped_runs(db)
                    .is_ok_and(|runs| runs.contains(&run.run_id))
            });
            // Whether a `lockstep serve` holds the database, for a run on real servers behind
            // an endpoint (only `serve` drives those and holds their endpoints).
            let real = local.is_some_and(|db| {
                crate::drivers::targets::Targets::load(db).is_ok_and(|t| {
                    t.postgres
                        .get(&run.service.to_string())
                        .is_some_and(|r| r.endpoint.is_some())
                })
            });
            let driven = local.filter(|_| real).and_then(crate::engine::lease::held);
            render_runs::run(cli.json, run, snap.clock.now, flip_recorded, driven);
            return Ok(());
        }
        RunCmd::Watch { run_id } => return watch(engine, run_id).await,
        RunCmd::Start {
            project,
            service,
            target_version,
            switchover_timeout,
            lag_threshold,
            long_txn_limit,
            auto_switchover,
        } => {
            let snap = engine.snapshot().await?;
            let key = ServiceKey::new(project, service);
            Command::StartRun {
                target_version: target(&snap.state, &key, target_version)?,
                service: key,
                switchover_timeout_s: *switchover_timeout,
                lag_threshold_bytes: *lag_threshold,
                long_txn_limit_s: *long_txn_limit,
                auto_switchover: *auto_switchover,
            }
        }
        RunCmd::Switchover {
            run_id,
            force,
            comment,
        } => Command::Switchover {
            run_id: run_id.clone(),
            force: *force,
            comment: comment.clone(),
        },
        RunCmd::Choose {
            run_id,
            unlogged,
            comment,
        } => Command::ChooseForRun {
            run_id: run_id.clone(),
            value: *unlogged,
            comment: comment.clone(),
        },
        RunCmd::Rollback { run_id } => Command::Rollback {
            run_id: run_id.clone(),
        },
        RunCmd::Resume { run_id } => Command::ResumeRun {
            run_id: run_id.clone(),
        },
    };
    let mut receipt = engine.execute(actor, command).await?;
    // Let the driver take the first step now (on a virtual clock, time waits for it).
    let driven = engine.drive().await?;
    receipt.events.extend(driven.events);
    if driven.notice.is_some() {
        receipt.notice = driven.notice;
    }
    report(cli, &receipt);
    if !cli.json
        && let Some(id) = receipt.events.iter().find_map(|e| match &e.kind {
            EventKind::RunStarted { run_id, .. } => Some(run_id.clone()),
            _ => None,
        })
    {
        println!("follow it with `lockstep run get {id}`");
    }
    Ok(())
}

/// `--target-version 17` means the newest published 17.x; `17.2` means exactly that.
fn target(state: &State, key: &ServiceKey, text: &str) -> Result<Version, CliError> {
    let t = text.trim();
    if t.contains('.') {
        return t
            .parse::<Version>()
            .map_err(|e| CliError::Usage(e.to_string()));
    }
    let major: u32 = t.parse().map_err(|_| {
        CliError::Usage(format!(
            "'{text}' is not a version: give a major (17) or a release (17.2)"
        ))
    })?;
    let svc = state.service(key).map_err(EngineError::from)?;
    Ok(state
        .newest_of_major(svc.service_type, major)
        .cloned()
        // Nothing published: the model refuses it by rule U2, naming what is missing.
        .unwrap_or_else(|| Version::new(major, 0, None)))
}

/// `run watch`: lets the driver act and prints the run's events until an operator is needed
/// or the run ends. On a virtual clock time does not pass by itself, so it stops at once.
async fn watch(engine: &dyn Engine, run_id: &str) -> Result<(), CliError> {
    let mut seen = engine.snapshot().await?.state.head;
    loop {
        let driven = engine.drive().await?;
        let snap = engine.snapshot().await?;
        let run = snap.state.run(run_id).map_err(EngineError::from)?;
        for e in engine.events(seen, 10_000).await? {
            seen = e.seq;
            if e.kind.run_id().is_some_and(|id| id == run_id) {
                println!("{}", super::render::event_line(&e));
            }
        }
        if let Some(n) = &driven.notice {
            eprintln!("{n}");
        }
        if run.status.is_finished() || run.waiting_on_operator().is_some() {
            println!("run {run_id}: {} · {}", run.phase, run.status);
            return Ok(());
        }
        if snap.clock.kind == ClockKind::Virtual {
            println!(
                "run {run_id}: {} · {} — this database runs on a virtual clock: move it with `lockstep clock advance 10m`",
                run.phase, run.status
            );
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Runs a `sim` subcommand that works through the engine.
pub async fn sim_cmd(
    cli: &Cli,
    sc: &SimCmd,
    engine: &dyn Engine,
    actor: &str,
) -> Result<(), CliError> {
    match sc {
        SimCmd::Fault {
            project,
            service,
            fault,
            clear,
        } => {
            let r: Receipt = engine
                .execute(
                    actor,
                    Command::SimFault {
                        service: ServiceKey::new(project, service),
                        fault: *fault,
                        clear: *clear,
                    },
                )
                .await?;
            report(cli, &r);
            Ok(())
        }
        SimCmd::Actions { .. } => Err(CliError::Usage(
            "the simulator's action log is read from a local database: drop --remote".into(),
        )),
    }
}

/// `sim actions`: reads the simulator's log in the database file.
pub fn sim_actions(cli: &Cli, db: &std::path::Path, run: Option<&str>) -> Result<(), CliError> {
    let engine = crate::engine::LocalEngine::open(db)?;
    drop(engine);
    let log = crate::drivers::sim::SimDriver::open(db)
        .and_then(|d| d.actions())
        .map_err(|e| EngineError::Storage(e.to_string()))?;
    let mut rows: Vec<_> = log
        .into_iter()
        .filter(|a| run.is_none_or(|r| a.run_id == r))
        .collect();
    if let Some(r) = run
        && rows.is_empty()
    {
        return Err(EngineError::from(RuleError::not_found(format!(
            "the simulator has performed nothing for run '{r}': see `lockstep run list`"
        )))
        .into());
    }
    if cli.json {
        print_json(&rows);
        return Ok(());
    }
    let mut t = super::table::Table::new(&["KEY", "ACTION", "PERFORMED", "REPLAYS", "OUTCOME"]);
    for a in rows.drain(..) {
        t.row(vec![
            a.key,
            a.action.as_str().into(),
            a.performed_at
                .map_or_else(|| "—".into(), super::render::when_seconds),
            a.replays.to_string(),
            match a.report.map(|r| r.outcome) {
                None => "started, not recorded (interrupted?)".into(),
                Some(crate::model::run::ActionOutcome::Succeeded) => "succeeded".into(),
                Some(crate::model::run::ActionOutcome::Failed { error }) => {
                    format!("failed: {error}")
                }
                Some(crate::model::run::ActionOutcome::Reverted { reason }) => {
                    format!("reverted: {reason}")
                }
            },
        ]);
    }
    print!("{}", t.render());
    Ok(())
}
