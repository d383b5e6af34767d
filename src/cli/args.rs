//! The command line, with the source CLI's command names and arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::model::run::Fault;
use crate::model::{Plan, ServiceType, Version};

/// lockstep — a control room for database upgrades.
///
/// Without a command it opens the dashboard (on the demo fleet when no database is configured).
#[derive(Debug, Parser)]
#[command(name = "lockstep", version, about, long_about = None)]
pub struct Cli {
    /// The database file (default: lockstep.db in the XDG data directory).
    #[arg(long, global = true, env = "LOCKSTEP_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Print reads as JSON for scripts.
    #[arg(long, global = true)]
    pub json: bool,

    /// Who is acting, as recorded in the history (default: $LOCKSTEP_USER, then $USER).
    #[arg(long = "as", global = true, env = "LOCKSTEP_USER", value_name = "USER")]
    pub actor: Option<String>,

    /// Open the dashboard without any changing action.
    #[arg(long, global = true)]
    pub read_only: bool,

    /// Dashboard colour theme: dark, light or high-contrast.
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,

    /// Work against a lockstep server (`lockstep serve`) instead of a database file.
    #[arg(long, global = true, env = "LOCKSTEP_REMOTE", value_name = "URL")]
    pub remote: Option<String>,

    /// The bearer token for --remote (better given as $LOCKSTEP_TOKEN).
    #[arg(
        long,
        global = true,
        env = "LOCKSTEP_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// What to do; none opens the dashboard.
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create a new database.
    Init {
        /// Run on a virtual clock, moved only by `lockstep clock advance`.
        #[arg(long)]
        virtual_clock: bool,
        /// Start the virtual clock at this instant (RFC 3339, e.g. 2026-01-05T09:00:00Z).
        #[arg(long, value_name = "RFC3339", requires = "virtual_clock")]
        at: Option<String>,
    },
    /// Projects.
    #[command(subcommand)]
    Project(ProjectCmd),
    /// Services.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Releases published for service types.
    #[command(subcommand)]
    Release(ReleaseCmd),
    /// Upgrade pipeline steps (as `avn upgrade-pipeline step …`).
    #[command(subcommand)]
    Step(StepCmd),
    /// Blue/green major-version upgrade runs (U2, B1–B10).
    #[command(subcommand)]
    Run(RunCmd),
    /// The simulated fleet: inject faults, read the simulator's action log.
    #[command(subcommand)]
    Sim(SimCmd),
    /// Real PostgreSQL: where a service runs blue and where its green goes.
    #[command(subcommand)]
    Pg(PgCmd),
    /// The database's clock.
    #[command(subcommand)]
    Clock(ClockCmd),
    /// The history of every change (V9).
    Events {
        /// Only events after this id.
        #[arg(long, default_value_t = 0, value_name = "ID")]
        since: u64,
        /// At most this many events.
        #[arg(long, default_value_t = 1000, value_name = "N")]
        limit: usize,
    },
    /// The demo fleet.
    #[command(subcommand)]
    Demo(DemoCmd),
    /// Serve the database over HTTP for remote dashboards and commands (`--remote`).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7878", value_name = "HOST:PORT")]
        listen: String,
        /// Tokens file: `name, role, sha256hex` per line (role viewer or operator). Without
        /// it, one operator token is made and printed, and only loopback is allowed.
        #[arg(long, value_name = "FILE")]
        tokens: Option<std::path::PathBuf>,
    },
}

/// `lockstep pg …`
#[derive(Debug, Subcommand)]
pub enum PgCmd {
    /// Register a pg service's blue server and its green target; its runs then act on them
    /// for real instead of in the simulator. Kept in DB.targets.toml (mode 0600), never in
    /// the journal.
    Register {
        #[command(flatten)]
        service: ServiceRef,
        /// Blue: the database to upgrade (conninfo `host=… dbname=…` or a postgres:// URL).
        #[arg(long, value_name = "DSN")]
        blue: String,
        /// Green: an empty database on a server of the newer major.
        #[arg(long, value_name = "DSN")]
        green: String,
        /// Blue as green's server reaches it, when that differs (for the subscription).
        #[arg(long, value_name = "DSN")]
        blue_from_green: Option<String>,
        /// The pg_dump to copy the schema with (as new as blue or newer).
        #[arg(long, value_name = "PATH")]
        pg_dump: Option<std::path::PathBuf>,
        /// Where lockstep's client endpoint listens (HOST:PORT): clients connect there, and
        /// the switchover (B5) moves it from blue to green. `lockstep serve` holds it.
        #[arg(long, value_name = "HOST:PORT")]
        endpoint: Option<String>,
        /// Server connections the endpoint holds for its clients at most; clients beyond wait
        /// in line (default: the server's max_connections less its reserve and 10 for lockstep).
        #[arg(long, value_name = "N", requires = "endpoint")]
        pool_size: Option<u32>,
        /// How long a client waits in line for a server connection before it is refused
        /// (53300), in seconds (default 30).
        #[arg(long, value_name = "SECS", requires = "endpoint")]
        queue_wait: Option<u64>,
        /// How long a client may take from connecting to a completed login at the endpoint,
        /// in seconds (default 60, as PostgreSQL's authentication_timeout).
        #[arg(long, value_name = "SECS", requires = "endpoint")]
        login_deadline: Option<u64>,
    },
    /// The registered services, passwords hidden.
    List,
    /// Forget a service's registration (its runs go back to the simulator).
    Forget(ServiceRef),
}

/// `lockstep project …`
#[derive(Debug, Subcommand)]
pub enum ProjectCmd {
    /// Create a project.
    Create {
        /// Organization (default: the default organization).
        #[arg(long, value_name = "ORG")]
        organization_id: Option<String>,
        /// Project name.
        name: String,
    },
    /// List projects.
    List,
}

/// A service named by project and name.
#[derive(Debug, Args)]
pub struct ServiceRef {
    /// The service's project.
    #[arg(long, value_name = "PROJECT")]
    pub project: String,
    /// The service's name.
    pub name: String,
}

/// `lockstep service …`
#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    /// Create a service.
    Create {
        /// Project.
        #[arg(long)]
        project: String,
        /// Service type (pg, kafka, redis, opensearch, …).
        #[arg(long = "type", value_name = "TYPE")]
        service_type: ServiceType,
        /// Version it runs (MAJOR.MINOR[.PATCH]).
        #[arg(long)]
        version: Version,
        /// Plan: hobbyist, startup, business or premium.
        #[arg(long)]
        plan: Option<Plan>,
        /// Maintenance day (monday … sunday).
        #[arg(long, value_name = "DAY", requires = "maintenance_time")]
        maintenance_dow: Option<String>,
        /// Maintenance time, UTC (HH:MM:SS).
        #[arg(long, value_name = "HH:MM:SS", requires = "maintenance_dow")]
        maintenance_time: Option<String>,
        /// Service name.
        name: String,
    },
    /// List services.
    List {
        /// Only this project.
        #[arg(long)]
        project: Option<String>,
    },
    /// Show one service: versions, hold, pending update, forecast.
    Get {
        #[command(flatten)]
        service: ServiceRef,
        /// Show the service as it was at this instant (RFC 3339), folded from the journal.
        #[arg(long, value_name = "RFC3339")]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Power a service on or off (V6: a powered-off source holds nothing).
    Power {
        #[command(flatten)]
        service: ServiceRef,
        /// on or off.
        state: PowerState,
    },
    /// Apply a pending maintenance update now.
    MaintenanceStart(ServiceRef),
    /// How long a lost standby may stay unreachable before it is replaced (F2).
    StandbyTimeout {
        #[command(flatten)]
        service: ServiceRef,
        /// Seconds, 30 to 3600 (default 300); `5m` and `1h` work too.
        #[arg(value_name = "SECONDS", allow_negative_numbers = true, value_parser = parse_seconds)]
        seconds: i64,
    },
}

/// on / off.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PowerState {
    /// Power on.
    On,
    /// Power off.
    Off,
}

/// `lockstep release …`
#[derive(Debug, Subcommand)]
pub enum ReleaseCmd {
    /// Publish a new version for a service type.
    Publish {
        /// Service type.
        #[arg(long = "type", value_name = "TYPE")]
        service_type: ServiceType,
        /// A critical (security/stability) fix, which may skip validation (V7).
        #[arg(long)]
        critical: bool,
        /// The version.
        version: Version,
    },
    /// List releases.
    List,
}

/// `lockstep step …`
#[derive(Debug, Subcommand)]
pub enum StepCmd {
    /// Create an upgrade step: SOURCE receives updates first, DESTINATION waits for validation.
    Create {
        /// Organization (optional while there is one).
        #[arg(long, value_name = "ORG")]
        organization_id: Option<String>,
        /// The source's project (default: the project that has a service of that name).
        #[arg(long, value_name = "PROJECT")]
        source_project: Option<String>,
        /// The source service.
        source: String,
        /// The destination's project (default: the project that has a service of that name).
        #[arg(long, value_name = "PROJECT")]
        destination_project: Option<String>,
        /// The destination service.
        destination: String,
        /// Days before automatic validation, 1 to 30 (default 7).
        #[arg(long, value_name = "DAYS", allow_negative_numbers = true, value_parser = parse_delay)]
        auto_validation_delay_days: Option<i64>,
    },
    /// List steps.
    List,
    /// Show one step.
    Get {
        /// The step's id.
        step_id: u64,
    },
    /// Change a step's auto-validation delay.
    Update {
        /// Days before automatic validation, 1 to 30.
        #[arg(long, value_name = "DAYS", allow_negative_numbers = true, value_parser = parse_delay)]
        auto_validation_delay_days: i64,
        /// The step's id.
        step_id: u64,
    },
    /// Delete a step and its validations.
    Delete {
        /// The step's id.
        step_id: u64,
    },
    /// Validate a service's current version on every step it is the source of.
    ValidateForService {
        /// The service's project.
        #[arg(long)]
        project: String,
        /// The source service.
        service: String,
        /// Why it is safe.
        #[arg(long)]
        comment: Option<String>,
    },
}

/// `lockstep run …`
#[derive(Debug, Subcommand)]
pub enum RunCmd {
    /// Start a blue/green upgrade run of SERVICE to a newer major version.
    Start {
        /// The service's project.
        #[arg(long)]
        project: String,
        /// The service (blue).
        service: String,
        /// A major (`17`, its newest published release) or an exact release (`17.2`).
        #[arg(long, value_name = "VERSION")]
        target_version: String,
        /// B5: revert when the switchover takes longer (30s..3600s, default 300s).
        #[arg(long, value_name = "DURATION", value_parser = parse_seconds)]
        switchover_timeout: Option<i64>,
        /// B5: the lag guardrail (default 200kB; units B, kB, MB, GB, KiB, MiB).
        #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
        lag_threshold: Option<u64>,
        /// B5: the longest write transaction allowed at switchover (default 30s).
        #[arg(long, value_name = "DURATION", value_parser = parse_seconds)]
        long_txn_limit: Option<i64>,
        /// Switch over by itself as soon as every guardrail is green.
        #[arg(long)]
        auto_switchover: bool,
    },
    /// List runs.
    List,
    /// Show one run: phases with durations, lag, guardrails, DDL, total downtime.
    Get {
        /// The run's id.
        run_id: String,
    },
    /// B5: switch traffic to green (refused while a guardrail is red, unless forced).
    Switchover {
        /// The run's id.
        run_id: String,
        /// Go ahead past red guardrails (needs --comment).
        #[arg(long, requires = "comment")]
        force: bool,
        /// Why the switchover is forced.
        #[arg(long)]
        comment: Option<String>,
    },
    /// B13: choose what the run does with what it cannot carry by itself (see `run get`).
    Choose {
        /// The run's id.
        run_id: String,
        /// Unlogged tables: `copy` their rows while clients are parked, or start them `empty`.
        #[arg(long, value_name = "copy|empty")]
        unlogged: crate::model::run::ChoiceValue,
        /// Why (required: recorded with the choice).
        #[arg(long)]
        comment: Option<String>,
    },
    /// B8: roll a run back (only before its switchover); blue keeps serving.
    Rollback {
        /// The run's id.
        run_id: String,
    },
    /// B9: resume a run after a crash, or retry its failed phase.
    Resume {
        /// The run's id.
        run_id: String,
    },
    /// Follow a run, letting its driver act, until it waits for an operator or ends.
    Watch {
        /// The run's id.
        run_id: String,
    },
}

/// `lockstep sim …`
#[derive(Debug, Subcommand)]
pub enum SimCmd {
    /// Inject a fault into a simulated service (or clear it with --clear).
    Fault {
        /// The service's project.
        #[arg(long)]
        project: String,
        /// The service.
        service: String,
        /// green-lost, lag-stuck, slow-switchover, primary-lost, standby-lost or node-back.
        fault: Fault,
        /// Clear the fault instead.
        #[arg(long)]
        clear: bool,
    },
    /// The simulator's action log: every action performed, and how often it was replayed.
    Actions {
        /// Only this run.
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
    },
}

/// `lockstep clock …`
#[derive(Debug, Subcommand)]
pub enum ClockCmd {
    /// Show the clock.
    Show,
    /// Move a virtual clock forward (90m, 12h, 3d), running every deadline in between.
    Advance {
        /// How far.
        duration: String,
    },
}

/// `lockstep demo …`
#[derive(Debug, Subcommand)]
pub enum DemoCmd {
    /// Create the demo fleet in a new database on a virtual clock.
    Init {
        /// Replace the database if it exists.
        #[arg(long)]
        force: bool,
    },
}

/// P6: a delay is a whole number of days; the range itself is checked by the rule.
fn parse_delay(text: &str) -> Result<i64, String> {
    text.trim().parse::<i64>().map_err(|_| {
        format!("'{text}' is not a whole number of days: P6 allows 1 to 30 (default 7)")
    })
}

/// A duration in whole seconds: `300`, `300s`, `5m`, `1h`.
fn parse_seconds(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n);
    }
    crate::engine::clock::parse_duration(t)
        .map(|d| d.num_seconds())
        .map_err(|_| {
            format!("'{text}' is not a duration: use seconds or a unit, for example 300s or 5m")
        })
}

/// A size in bytes: `200kB`, `1.5MB`, `204800`, `2MiB` (kB = 1000 bytes, KiB = 1024).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "kB" | "KB" | "k" => 1e3,
        "MB" | "M" => 1e6,
        "GB" | "G" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => f64::NAN,
    };
    match number.parse::<f64>() {
        Ok(n) if factor.is_finite() && n >= 0.0 && (n * factor) < 1e15 => Ok((n * factor) as u64),
        _ => Err(format!(
            "'{text}' is not a size: use a number with a unit, for example 200kB, 1.5MB or 204800"
        )),
    }
}
