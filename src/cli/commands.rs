//! Runs one command against the engine and prints its answer.

use std::path::Path;

use chrono::{DateTime, NaiveTime, Utc};

use crate::engine::clock::{parse_duration, system_now};
use crate::engine::{ClockKind, Engine, EngineError, LocalEngine};
use crate::model::{Command, MaintenanceWindow, ServiceKey, State};

use super::args::{
    Cli, ClockCmd, Cmd, DemoCmd, PowerState, ProjectCmd, ReleaseCmd, ServiceCmd, SimCmd, StepCmd,
};
use super::output::{CliError, print_json, report};
use super::render;

/// Who acts: `--as`, then `$LOCKSTEP_USER`, then `$USER`, then `operator`.
#[must_use]
pub fn actor(cli: &Cli) -> String {
    cli.actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "operator".into())
}

/// Runs a command other than the dashboard.
pub async fn run(cli: &Cli, cmd: &Cmd, db: &Path) -> Result<(), CliError> {
    if let Cmd::Pg(pc) = cmd {
        if cli.remote.is_some() {
            return Err(CliError::Usage(
                "pg targets live beside the server's database: run `lockstep pg …` on the server's machine with --db".into(),
            ));
        }
        return super::pg::pg_cmd(cli.json, pc, db).await;
    }
    match cmd {
        // Started by the binary, which composes the engine, the endpoints and the server.
        Cmd::Serve { .. } => Err(CliError::Usage(
            "`lockstep serve` runs as its own command: start it with `lockstep serve --db …`"
                .into(),
        )),
        Cmd::Init { virtual_clock, at } => {
            let at = match at {
                Some(text) => DateTime::parse_from_rfc3339(text)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        CliError::Usage(format!(
                            "'{text}' is not an RFC 3339 instant: use for example 2026-01-05T09:00:00Z"
                        ))
                    })?,
                None => system_now(),
            };
            let clock = if *virtual_clock {
                ClockKind::Virtual
            } else {
                ClockKind::System
            };
            let engine = LocalEngine::create(db, clock, at)?;
            let info = engine.clock().await?;
            if cli.json {
                print_json(&serde_json::json!({"db": db, "clock": info}));
            } else {
                println!(
                    "created {} on the {} clock at {}",
                    db.display(),
                    info.kind,
                    render::when(info.now)
                );
            }
            Ok(())
        }
        Cmd::Demo(DemoCmd::Init { force }) => {
            crate::demo::init(db, *force).await?;
            println!(
                "demo fleet created in {} (virtual clock); open it with `lockstep --db {}`",
                db.display(),
                db.display()
            );
            Ok(())
        }
        Cmd::Sim(SimCmd::Actions { run }) => super::runs::sim_actions(cli, db, run.as_deref()),
        _ => {
            let engine = LocalEngine::open(db)?;
            run_on(cli, cmd, &engine).await
        }
    }
}

/// Runs a command on an open engine.
pub async fn run_on(cli: &Cli, cmd: &Cmd, engine: &dyn Engine) -> Result<(), CliError> {
    let actor = actor(cli);
    let exec = |command: Command| {
        let actor = actor.clone();
        async move { engine.execute(&actor, command).await }
    };
    match cmd {
        Cmd::Init { .. } | Cmd::Demo(_) | Cmd::Serve { .. } => Err(CliError::Usage(
            "this command creates a database and cannot run on an open engine".into(),
        )),
        Cmd::Pg(_) => Err(CliError::Usage(
            "pg targets live beside a local database: run `lockstep pg …` with --db".into(),
        )),
        Cmd::Project(ProjectCmd::Create {
            organization_id,
            name,
        }) => {
            let r = exec(Command::CreateProject {
                name: name.clone(),
                organization_id: organization_id.clone(),
            })
            .await?;
            report(cli, &r);
            Ok(())
        }
        Cmd::Project(ProjectCmd::List) => {
            let snap = engine.snapshot().await?;
            render::projects(cli.json, &snap.state);
            Ok(())
        }
        Cmd::Service(sc) => service(cli, sc, engine, &actor).await,
        Cmd::Release(ReleaseCmd::Publish {
            service_type,
            critical,
            version,
        }) => {
            let r = exec(Command::PublishRelease {
                service_type: *service_type,
                version: version.clone(),
                critical: *critical,
            })
            .await?;
            report(cli, &r);
            Ok(())
        }
        Cmd::Release(ReleaseCmd::List) => {
            let snap = engine.snapshot().await?;
            render::releases(cli.json, &snap.state);
            Ok(())
        }
        Cmd::Step(sc) => step(cli, sc, engine, &actor).await,
        Cmd::Run(rc) => super::runs::run_cmd(cli, rc, engine, &actor).await,
        Cmd::Sim(sc) => super::runs::sim_cmd(cli, sc, engine, &actor).await,
        Cmd::Clock(ClockCmd::Show) => {
            let info = engine.clock().await?;
            if cli.json {
                print_json(&info);
            } else {
                println!("{} clock: {}", info.kind, render::when_seconds(info.now));
            }
            Ok(())
        }
        Cmd::Clock(ClockCmd::Advance { duration }) => {
            let by = parse_duration(duration).map_err(CliError::Usage)?;
            let r = engine.advance_clock(by).await?;
            let info = engine.clock().await?;
            if cli.json {
                print_json(&serde_json::json!({"clock": info, "events": r.events}));
            } else {
                for e in &r.events {
                    println!("{}", render::event_line(e));
                }
                println!("clock now {}", render::when_seconds(info.now));
            }
            Ok(())
        }
        Cmd::Events { since, limit } => {
            let events = engine.events(*since, *limit).await?;
            if cli.json {
                print_json(&events);
            } else {
                for e in &events {
                    println!("{}", render::event_line(e));
                }
            }
            Ok(())
        }
    }
}

async fn service(
    cli: &Cli,
    sc: &ServiceCmd,
    engine: &dyn Engine,
    actor: &str,
) -> Result<(), CliError> {
    let exec = |c: Command| engine.execute(actor, c);
    match sc {
        ServiceCmd::Create {
            project,
            service_type,
            version,
            plan,
            maintenance_dow,
            maintenance_time,
            name,
        } => {
            let maintenance = match (maintenance_dow, maintenance_time) {
                (Some(d), Some(t)) => Some(MaintenanceWindow {
                    dow: MaintenanceWindow::parse_dow(d).map_err(CliError::Usage)?,
                    time: NaiveTime::parse_from_str(t, "%H:%M:%S")
                        .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
                        .map_err(|_| CliError::Usage(format!("'{t}' is not a time of day: use HH:MM:SS in UTC, for example 03:00:00")))?,
                }),
                _ => None,
            };
            let r = exec(Command::CreateService {
                service: ServiceKey::new(project, name),
                service_type: *service_type,
                version: version.clone(),
                plan: *plan,
                maintenance,
            })
            .await?;
            report(cli, &r);
            Ok(())
        }
        ServiceCmd::List { project } => {
            let snap = engine.snapshot().await?;
            if let Some(p) = project
                && !snap.state.projects.contains_key(p)
            {
                return Err(
                    EngineError::from(crate::model::RuleError::not_found(format!(
                        "no project '{p}': see `lockstep project list`"
                    )))
                    .into(),
                );
            }
            render::services(cli.json, &snap.state, project.as_deref(), snap.clock.now);
            Ok(())
        }
        ServiceCmd::Get { service: s, at } => {
            let snap = engine.snapshot().await?;
            let key = ServiceKey::new(&s.project, &s.name);
            let Some(at) = at else {
                let svc = snap.state.service(&key).map_err(EngineError::from)?;
                render::service(cli.json, &snap.state, svc, snap.clock.now);
                return Ok(());
            };
            let mut journal = Vec::new();
            loop {
                let since = journal.last().map_or(0, |e: &crate::model::Event| e.seq);
                let page = engine.events(since, 10_000).await?;
                let full = page.len() == 10_000;
                let past_at = page.iter().any(|e| e.at > *at);
                journal.extend(page.into_iter().take_while(|e| e.at <= *at));
                if !full || past_at {
                    break;
                }
            }
            let past = crate::model::travel::state_at(&journal, *at);
            let svc = past.service(&key).map_err(|e| {
                EngineError::from(crate::model::RuleError::not_found(format!(
                    "{e} (as of {at})"
                )))
            })?;
            if !cli.json {
                println!("as of {} (event {}):", at.to_rfc3339(), past.head);
            }
            render::service(cli.json, &past, svc, *at);
            Ok(())
        }
        ServiceCmd::Power { service, state } => {
            let r = exec(Command::SetPower {
                service: ServiceKey::new(&service.project, &service.name),
                powered: matches!(state, PowerState::On),
            })
            .await?;
            report(cli, &r);
            Ok(())
        }
        ServiceCmd::StandbyTimeout { service, seconds } => {
            let r = exec(Command::SetStandbyTimeout {
                service: ServiceKey::new(&service.project, &service.name),
                seconds: *seconds,
            })
            .await?;
            report(cli, &r);
            Ok(())
        }
        ServiceCmd::MaintenanceStart(s) => {
            let r = exec(Command::MaintenanceStart {
                service: ServiceKey::new(&s.project, &s.name),
            })
            .await?;
            report(cli, &r);
            Ok(())
        }
    }
}

/// Finds the project of a service named without one: the only project that has it.
fn project_of(state: &State, name: &str, flag: &str) -> Result<String, CliError> {
    let found: Vec<&str> = state
        .services
        .keys()
        .filter(|k| k.name == name)
        .map(|k| k.project.as_str())
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).to_string()),
        [] => Err(
            EngineError::from(crate::model::RuleError::not_found(format!(
                "no service '{name}' in any project: see `lockstep service list`"
            )))
            .into(),
        ),
        many => Err(CliError::Usage(format!(
            "several projects have a service '{name}' ({}): name one with {flag}",
            many.join(", ")
        ))),
    }
}

async fn step(cli: &Cli, sc: &StepCmd, engine: &dyn Engine, actor: &str) -> Result<(), CliError> {
    let exec = |c: Command| engine.execute(actor, c);
    match sc {
        StepCmd::Create {
            organization_id,
            source_project,
            source,
            destination_project,
            destination,
            auto_validation_delay_days,
        } => {
            let snap = engine.snapshot().await?;
            let sp = match source_project {
                Some(p) => p.clone(),
                None => project_of(&snap.state, source, "--source-project")?,
            };
            let dp = match destination_project {
                Some(p) => p.clone(),
                None => project_of(&snap.state, destination, "--destination-project")?,
            };
            let r = exec(Command::CreateStep {
                organization_id: organization_id.clone(),
                source: ServiceKey::new(sp, source),
                destination: ServiceKey::new(dp, destination),
                auto_validation_delay_days: *auto_validation_delay_days,
            })
            .await?;
            if cli.json {
                let snap = engine.snapshot().await?;
                let created = r.events.iter().find_map(|e| match &e.kind {
                    crate::model::EventKind::StepCreated { step_id, .. } => {
                        snap.state.steps.get(step_id)
                    }
                    _ => None,
                });
                match created {
                    Some(step) => print_json(&snap.state.step_view(step)),
                    None => print_json(&r),
                }
            } else {
                report(cli, &r);
            }
            Ok(())
        }
        StepCmd::List => {
            let snap = engine.snapshot().await?;
            render::steps(cli.json, &snap.state, snap.clock.now);
            Ok(())
        }
        StepCmd::Get { step_id } => {
            let snap = engine.snapshot().await?;
            let step = snap.state.step(*step_id).map_err(EngineError::from)?;
            render::step(cli.json, &snap.state, step, snap.clock.now);
            Ok(())
        }
        StepCmd::Update {
            auto_validation_delay_days,
            step_id,
        } => {
            let r = exec(Command::UpdateStep {
                step_id: *step_id,
                auto_validation_delay_days: *auto_validation_delay_days,
            })
            .await?;
            report(cli, &r);
            Ok(())
        }
        StepCmd::Delete { step_id } => {
            let r = exec(Command::DeleteStep { step_id: *step_id }).await?;
            report(cli, &r);
            Ok(())
        }
        StepCmd::ValidateForService {
            project,
            service,
            comment,
        } => {
            let r = exec(Command::ValidateForService {
                service: ServiceKey::new(project, service),
                comment: comment.clone(),
            })
            .await?;
            report(cli, &r);
            Ok(())
        }
    }
}
