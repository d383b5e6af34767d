//! `lockstep pg …`: registering real PostgreSQL targets beside the database.

use std::path::Path;

use crate::drivers::postgres::dsn::Dsn;
use crate::drivers::postgres::proxy;
use crate::drivers::targets::{Registration, Targets, path_for};
use crate::engine::{Engine, LocalEngine};
use crate::model::run::ServingSide;
use crate::model::{ServiceKey, ServiceType};

use super::CliError;
use super::args::PgCmd;

fn dsn(flag: &str, text: &str) -> Result<Dsn, CliError> {
    Dsn::parse(text).map_err(|e| CliError::Usage(format!("--{flag}: {e}")))
}

/// Refuses endpoint limits no endpoint could work with.
fn check_endpoint_limits(
    pool_size: Option<u32>,
    queue_wait: Option<u64>,
    login_deadline: Option<u64>,
) -> Result<(), CliError> {
    if let Some(n) = pool_size
        && !(1..=10_000).contains(&n)
    {
        return Err(CliError::Usage(format!(
            "--pool-size {n} is out of range: give 1 to 10000 server connections"
        )));
    }
    for (flag, secs) in [
        ("queue-wait", queue_wait),
        ("login-deadline", login_deadline),
    ] {
        if let Some(s) = secs
            && !(1..=3600).contains(&s)
        {
            return Err(CliError::Usage(format!(
                "--{flag} {s} is out of range: give 1 to 3600 seconds"
            )));
        }
    }
    Ok(())
}

/// Runs a `pg` subcommand on the database at `db`.
pub async fn pg_cmd(json: bool, cmd: &PgCmd, db: &Path) -> Result<(), CliError> {
    let refused = |m: String| CliError::Engine(crate::engine::EngineError::Invalid(m));
    match cmd {
        PgCmd::Register {
            service,
            blue,
            green,
            blue_from_green,
            pg_dump,
            endpoint,
            pool_size,
            queue_wait,
            login_deadline,
        } => {
            check_endpoint_limits(*pool_size, *queue_wait, *login_deadline)?;
            if let Some(e) = endpoint
                && e.parse::<std::net::SocketAddr>().is_err()
            {
                return Err(CliError::Usage(format!(
                    "--endpoint '{e}' is not HOST:PORT: use for example 127.0.0.1:6432"
                )));
            }
            let blue = dsn("blue", blue)?;
            let green = dsn("green", green)?;
            let blue_from_green = blue_from_green
                .as_deref()
                .map(|t| dsn("blue-from-green", t))
                .transpose()?;
            let key = ServiceKey::new(&service.project, &service.name);
            let engine = LocalEngine::open(db)?;
            let snap = engine.snapshot().await?;
            let svc = snap
                .state
                .service(&key)
                .map_err(crate::engine::EngineError::from)?;
            if svc.service_type != ServiceType::Pg {
                return Err(refused(format!(
                    "{key} is a {} service: only pg services run on real PostgreSQL",
                    svc.service_type
                )));
            }
            let mut targets = Targets::load(db).map_err(refused)?;
            targets.postgres.insert(
                key.to_string(),
                Registration {
                    blue: blue.clone(),
                    green: green.clone(),
                    blue_from_green,
                    pg_dump: pg_dump.clone(),
                    sync_limit_s: None,
                    endpoint: endpoint.clone(),
                    pool_size: *pool_size,
                    queue_wait_s: *queue_wait,
                    login_deadline_s: *login_deadline,
                },
            );
            targets.save(db).map_err(refused)?;
            println!(
                "{key}: runs act on real PostgreSQL: blue {blue}, green {green} (saved in {})",
                path_for(db).display()
            );
            if let Some(e) = endpoint {
                println!(
                    "clients connect to {e} once `lockstep serve --db {}` runs; the switchover moves it to green",
                    db.display()
                );
            }
            Ok(())
        }
        PgCmd::List => {
            let targets = Targets::load(db).map_err(refused)?;
            // Which side serves is a fact of the runs (B14), not of the registration.
            let flipped =
                crate::drivers::flips::Flips::flipped_runs(db).map_err(|e| refused(e.0))?;
            let sides = crate::engine::sides::serving(db, &flipped).map_err(refused)?;
            let serving = |s: &str| match sides.get(s) {
                Some((ServingSide::Green, run)) => (
                    "green",
                    format!("green serves since run {run}; blue is retired (read-only)"),
                ),
                _ => ("blue", "blue serves".to_string()),
            };
            if json {
                let list: Vec<_> = targets
                    .postgres
                    .iter()
                    .map(|(s, r)| {
                        serde_json::json!({
                            "service": s,
                            "blue": r.blue.redacted(),
                            "green": r.green.redacted(),
                            "endpoint": r.endpoint,
                            "pool_size": r.pool_size,
                            "queue_wait_s": r.queue_wait_s,
                            "login_deadline_s": r.login_deadline_s,
                            "serving": serving(s).0,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else if targets.postgres.is_empty() {
                println!("no service is registered: every run uses the simulator");
            } else {
                for (s, r) in &targets.postgres {
                    let endpoint = match &r.endpoint {
                        Some(at) => format!(
                            "{at} (pool {}, queue wait {} s, login deadline {} s)",
                            r.pool_size
                                .map_or_else(|| "from max_connections".into(), |n| n.to_string()),
                            r.queue_wait_s
                                .unwrap_or(proxy::DEFAULT_QUEUE_WAIT.as_secs()),
                            r.login_deadline_s
                                .unwrap_or(proxy::DEFAULT_LOGIN_DEADLINE.as_secs())
                        ),
                        None => "none".into(),
                    };
                    println!(
                        "{s}  blue {}  green {}  endpoint {endpoint}  ({})",
                        r.blue,
                        r.green,
                        serving(s).1
                    );
                }
            }
            Ok(())
        }
        PgCmd::Forget(service) => {
            let key = ServiceKey::new(&service.project, &service.name).to_string();
            let mut targets = Targets::load(db).map_err(refused)?;
            if targets.postgres.remove(&key).is_none() {
                return Err(refused(format!(
                    "{key} is not registered: see `lockstep pg list`"
                )));
            }
            targets.save(db).map_err(refused)?;
            println!("{key}: forgotten; its runs use the simulator");
            Ok(())
        }
    }
}
