//! A run spec and a postgres driver on a fresh lockstep database, for the real blue/green tests.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use lockstep::drivers::Driver;
use lockstep::drivers::postgres::dsn::Dsn;
use lockstep::drivers::postgres::{PgTarget, PostgresDriver};
use lockstep::model::run::{ActionReport, RunAction, RunConfig, RunPhase, RunSpec};
use lockstep::model::{Plan, ServiceKey, ServiceType, Version};
use tempfile::TempDir;

/// The service every test registers.
pub const SERVICE: (&str, &str) = ("shop", "orders-db");

/// A driver with its action log in a temporary lockstep database, blue and green registered.
pub struct Rig {
    pub driver: PostgresDriver,
    pub spec: RunSpec,
    _dir: TempDir,
}

impl Rig {
    pub fn new(blue: Dsn, green: Dsn, run_id: &str) -> Rig {
        Rig::with(blue, green, run_id, |_| {})
    }

    /// A rig whose target is adjusted by `adjust` (an endpoint, a timeout) before it is
    /// registered.
    pub fn with(blue: Dsn, green: Dsn, run_id: &str, adjust: impl FnOnce(&mut PgTarget)) -> Rig {
        let dir = TempDir::new().expect("temp dir");
        let path = dir.path().join("lockstep.db");
        lockstep::engine::store::Store::create(
            &path,
            lockstep::engine::clock::ClockKind::System,
            now(),
        )
        .expect("lockstep database");
        let mut driver = PostgresDriver::open(&path).expect("driver");
        let mut target = PgTarget::new(blue, green);
        target.sync_limit = std::time::Duration::from_secs(60);
        // The blue major's own pg_dump (Debian's /usr/bin/pg_dump is a wrapper).
        if let Ok(bin) = lockstep::drivers::postgres::cluster::Binaries::on_path() {
            target.pg_dump = bin.bin_dir.join("pg_dump");
        }
        adjust(&mut target);
        driver.register(&format!("{}/{}", SERVICE.0, SERVICE.1), target);
        Rig {
            driver,
            spec: spec(run_id),
            _dir: dir,
        }
    }

    /// Performs `action` under a key of its own.
    pub async fn act(&self, action: RunAction) -> ActionReport {
        let key = format!("{}/{}/1", self.spec.run_id, action.as_str());
        self.driver
            .act(&self.spec, action, &key, now())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", action.as_str()))
    }
}

pub fn now() -> DateTime<Utc> {
    Utc::now()
}

fn spec(run_id: &str) -> RunSpec {
    let target: Version = "17.10".parse().expect("version");
    RunSpec {
        run_id: run_id.to_string(),
        service: ServiceKey::new(SERVICE.0, SERVICE.1),
        service_type: ServiceType::Pg,
        plan: Plan::Startup,
        from_version: "15.18".parse().expect("version"),
        config: RunConfig {
            target_version: target,
            switchover_timeout_s: 300,
            lag_threshold_bytes: 200_000,
            long_txn_limit_s: 30,
            auto_switchover: false,
            vacuum: true,
            pause_ingestion: false,
        },
        phase: RunPhase::Prerequisites,
        attempt: 1,
        phase_started_at: now(),
        ingestion_paused_at: None,
        last_observed_at: None,
        extensions_disabled: Vec::new(),
        faults: Vec::new(),
        choices: Vec::new(),
    }
}
