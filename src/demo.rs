//! The demo fleet, seeded from `assets/demo.toml` on a virtual clock.

use std::path::Path;

use chrono::{DateTime, NaiveTime, Utc};
use serde::Deserialize;

use crate::engine::{ClockKind, Engine, EngineError, LocalEngine};
use crate::model::{Command, MaintenanceWindow, Plan, ServiceKey, ServiceType, Version};

/// The demo's description, shipped inside the binary.
pub const DEMO_TOML: &str = include_str!("../assets/demo.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Demo {
    start: DateTime<Utc>,
    project: Vec<DemoProject>,
    service: Vec<DemoService>,
    step: Vec<DemoStep>,
    script: Vec<ScriptEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoProject {
    name: String,
    organization: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoService {
    project: String,
    name: String,
    #[serde(rename = "type")]
    service_type: String,
    version: String,
    plan: String,
    window: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoStep {
    source: String,
    destination: String,
    delay: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptEntry {
    at: DateTime<Utc>,
    release: Option<String>,
    critical: Option<String>,
    validate: Option<String>,
    power_off: Option<String>,
    /// `project/service fault`: a node fault in the simulated fleet (F1–F3).
    fault: Option<String>,
    by: Option<String>,
    comment: Option<String>,
}

fn bad(what: impl std::fmt::Display) -> EngineError {
    EngineError::Invalid(format!("the demo description is broken: {what}"))
}

fn key(text: &str) -> Result<ServiceKey, EngineError> {
    let (p, n) = text
        .split_once('/')
        .ok_or_else(|| bad(format!("'{text}' is not project/service")))?;
    Ok(ServiceKey::new(p, n))
}

fn release(text: &str, critical: bool) -> Result<Command, EngineError> {
    let (t, v) = text
        .split_once(' ')
        .ok_or_else(|| bad(format!("'{text}' is not 'type version'")))?;
    Ok(Command::PublishRelease {
        service_type: t.parse::<ServiceType>().map_err(bad)?,
        version: v.parse::<Version>().map_err(bad)?,
        critical,
    })
}

fn window(text: &str) -> Result<MaintenanceWindow, EngineError> {
    let (d, t) = text
        .split_once(' ')
        .ok_or_else(|| bad(format!("'{text}' is not 'day HH:MM'")))?;
    Ok(MaintenanceWindow {
        dow: MaintenanceWindow::parse_dow(d).map_err(bad)?,
        time: NaiveTime::parse_from_str(t, "%H:%M").map_err(bad)?,
    })
}

/// Creates the demo database at `path` (replacing it when `force`), returning the open engine.
pub async fn create(path: &Path, force: bool) -> Result<LocalEngine, EngineError> {
    let demo: Demo = toml::from_str(DEMO_TOML).map_err(bad)?;
    if path.exists() {
        if !force {
            return Err(EngineError::Invalid(format!(
                "{} already exists: add --force to replace it with a fresh demo fleet",
                path.display()
            )));
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
    let engine = LocalEngine::create(path, ClockKind::Virtual, demo.start)?;
    let admin = "platform-team";
    let run = |actor: String, c: Command| {
        let engine = &engine;
        async move { engine.execute(&actor, c).await }
    };
    for p in &demo.project {
        run(
            admin.into(),
            Command::CreateProject {
                name: p.name.clone(),
                organization_id: Some(p.organization.clone()),
            },
        )
        .await?;
    }
    let mut published: Vec<(ServiceType, Version)> = Vec::new();
    for s in &demo.service {
        let service_type: ServiceType = s.service_type.parse().map_err(bad)?;
        let version: Version = s.version.parse().map_err(bad)?;
        if !published.contains(&(service_type, version.clone())) {
            run(
                admin.into(),
                Command::PublishRelease {
                    service_type,
                    version: version.clone(),
                    critical: false,
                },
            )
            .await?;
            published.push((service_type, version.clone()));
        }
        run(
            admin.into(),
            Command::CreateService {
                service: ServiceKey::new(&s.project, &s.name),
                service_type,
                version,
                plan: Some(s.plan.parse::<Plan>().map_err(bad)?),
                maintenance: Some(window(&s.window)?),
            },
        )
        .await?;
    }
    for st in &demo.step {
        run(
            admin.into(),
            Command::CreateStep {
                organization_id: None,
                source: key(&st.source)?,
                destination: key(&st.destination)?,
                auto_validation_delay_days: Some(st.delay),
            },
        )
        .await?;
    }
    for entry in &demo.script {
        let now = engine.clock().await?.now;
        if entry.at > now {
            engine.advance_clock(entry.at - now).await?;
        }
        let actor = entry.by.clone().unwrap_or_else(|| admin.into());
        if let Some(r) = &entry.release {
            run(actor.clone(), release(r, false)?).await?;
        }
        if let Some(r) = &entry.critical {
            run(actor.clone(), release(r, true)?).await?;
        }
        if let Some(s) = &entry.validate {
            run(
                actor.clone(),
                Command::ValidateForService {
                    service: key(s)?,
                    comment: entry.comment.clone(),
                },
            )
            .await?;
        }
        if let Some(f) = &entry.fault {
            let (service, fault) = f
                .split_once(' ')
                .ok_or_else(|| bad(format!("'{f}' is not 'project/service fault'")))?;
            run(
                actor.clone(),
                Command::SimFault {
                    service: key(service)?,
                    fault: fault.parse().map_err(bad)?,
                    clear: false,
                },
            )
            .await?;
        }
        if let Some(s) = &entry.power_off {
            run(
                actor.clone(),
                Command::SetPower {
                    service: key(s)?,
                    powered: false,
                },
            )
            .await?;
        }
    }
    Ok(engine)
}

/// `lockstep demo init`.
pub async fn init(path: &Path, force: bool) -> Result<(), EngineError> {
    create(path, force).await.map(drop)
}
