//! The simulated blue/green world: how long each action takes, what it logs, and how lag, DDL
//! and long transactions evolve. Everything is a function of the run, the instant and the
//! injected faults, so every process (and every replay) computes the same figures.

use chrono::{DateTime, Duration, Utc};

use crate::model::Plan;
use crate::model::run::{
    ActionOutcome, ActionReport, DdlChange, Fault, Inventory, ItemKind, LagSample, LongTransaction,
    Observation, RunAction, RunSpec, SubscriptionHealth, Treatment,
};

/// Seconds between two simulated lag samples.
const SAMPLE_EVERY_S: i64 = 10;
/// At most this many samples per observation (ten minutes after a long pause).
const MAX_SAMPLES: i64 = 60;
/// Rows per second that queue up while ingestion is paused.
const BACKLOG_ROWS_PER_S: u64 = 40;

/// FNV-1a: the same in every build, so every process simulates alike.
pub(super) fn hash(parts: &[&str]) -> u64 {
    parts.iter().fold(0xcbf2_9ce4_8422_2325, |h, p| {
        p.bytes().chain([0xff]).fold(h, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    })
}

/// A number in `lo..=hi` chosen by `parts`.
fn pick(lo: u64, hi: u64, parts: &[&str]) -> u64 {
    lo + hash(parts) % (hi - lo + 1)
}

fn secs(s: u64) -> u64 {
    s * 1000
}

fn nodes(plan: Plan) -> usize {
    plan.node_count()
}

/// Performs `action` in the simulation (the action log makes sure it happens once per key).
pub(super) fn act(run: &RunSpec, action: RunAction, key: &str) -> ActionReport {
    let id = run.run_id.as_str();
    let svc = &run.service.name;
    let to = &run.config.target_version;
    let green_lost = run.faults.contains(&Fault::GreenLost);
    let took = |lo: u64, hi: u64| secs(pick(lo, hi, &[key, "took"]));
    match action {
        RunAction::Prerequisites => {
            let mut r = ActionReport::succeeded(
                vec![
                    format!("snapshot {svc}-pre-{}-{id} taken (for rollback)", to.major()),
                    "wal_level=logical set; replication slots and workers available".into(),
                    "DDL logging on (log_statement=ddl)".into(),
                    "extensions that break logical replication disabled: pg_cron, pg_partman"
                        .into(),
                    "table without primary key or replica identity: audit_log (UPDATE/DELETE on it would break replication)".into(),
                    "ingestion paused".into(),
                ],
                took(90, 180),
            );
            r.extensions_disabled = vec!["pg_cron".into(), "pg_partman".into()];
            r.tables_without_key = vec!["audit_log".into()];
            r.inventory = Some(simulated_inventory());
            r
        }
        RunAction::Provision if green_lost => ActionReport::failed(
            format!("green {svc}-green stopped answering while it was provisioned"),
            vec![
                format!("green {svc}-green created on {to}"),
                "green lost".into(),
            ],
            took(300, 600),
        ),
        RunAction::Provision => {
            let base = match run.plan {
                Plan::Premium => (1500, 2100),
                Plan::Business => (1200, 1800),
                _ => (900, 1500),
            };
            ActionReport::succeeded(
                vec![
                    format!(
                        "green {svc}-green created on {to} ({} nodes)",
                        nodes(run.plan)
                    ),
                    "schema copied to green (42 tables, 17 sequences)".into(),
                    "publication lockstep_pub created on blue".into(),
                    "subscription lockstep_sub created on green; initial copy 42/42 tables".into(),
                ],
                took(base.0, base.1),
            )
        }
        RunAction::VacuumAnalyze if green_lost => ActionReport::failed(
            format!("green {svc}-green is unreachable"),
            vec!["VACUUM ANALYZE interrupted".into()],
            took(30, 90),
        ),
        RunAction::VacuumAnalyze => ActionReport::succeeded(
            vec!["VACUUM ANALYZE on green: 42 tables, statistics refreshed".into()],
            took(300, 600),
        ),
        RunAction::Switchover => switchover(run, key),
        RunAction::PostSwitchover => {
            let mut log = Vec::new();
            if !run.extensions_disabled.is_empty() {
                log.push(format!(
                    "extensions re-enabled and upgraded on {to}: {}",
                    run.extensions_disabled.join(", ")
                ));
            }
            log.push("ingestion resumed; backlog draining".into());
            ActionReport::succeeded(log, took(120, 240))
        }
        RunAction::Cleanup => ActionReport::succeeded(
            vec![
                format!(
                    "deletion protection removed from blue ({})",
                    run.from_version
                ),
                "blue decommissioned".into(),
                "publication, subscription and replication slots dropped".into(),
            ],
            took(180, 360),
        ),
        RunAction::Rollback => ActionReport::succeeded(
            vec![
                format!("green {svc}-green dropped"),
                "replication objects dropped on blue".into(),
                "extensions re-enabled on blue: pg_cron, pg_partman".into(),
                "ingestion resumed".into(),
                format!("blue serves on {} as before", run.from_version),
            ],
            took(120, 300),
        ),
    }
}

fn switchover(run: &RunSpec, key: &str) -> ActionReport {
    let timeout_ms = secs(u64::from(run.config.switchover_timeout_s));
    if run.faults.contains(&Fault::GreenLost) {
        let mut r = ActionReport::failed(
            "green stopped answering after writes were fenced",
            vec![
                "writes fenced on blue".into(),
                "green lost: reverting".into(),
                "blue unfenced; clients back on blue".into(),
            ],
            secs(pick(8, 20, &[key, "took"])),
        );
        r.downtime_ms = Some(pick(2_000, 6_000, &[key, "down"]));
        return r;
    }
    if run.faults.contains(&Fault::SlowSwitchover) {
        let revert = secs(pick(3, 9, &[key, "revert"]));
        return ActionReport {
            outcome: ActionOutcome::Reverted {
                reason: format!(
                    "lag did not reach zero within the {} s switchover timeout",
                    run.config.switchover_timeout_s
                ),
            },
            log: vec![
                "writes fenced on blue".into(),
                "waiting for zero lag …".into(),
                format!(
                    "timeout after {} s: reverting",
                    run.config.switchover_timeout_s
                ),
                "blue unfenced; clients back on blue".into(),
            ],
            took_ms: timeout_ms + revert,
            downtime_ms: Some(timeout_ms + revert),
            ..ActionReport::succeeded(Vec::new(), 0)
        };
    }
    let killed = pick(0, 3, &[key, "killed"]);
    let retried = pick(0, 5, &[key, "retried"]);
    let mut r = ActionReport::succeeded(
        vec![
            "guardrails green".into(),
            "writes fenced on blue".into(),
            format!("{killed} long-running transactions terminated"),
            "lag 0 B: green confirmed the last write".into(),
            "17 sequences synced to green".into(),
            "client endpoint moved to green".into(),
            format!("traffic resumed; {retried} interrupted transactions retried on green"),
        ],
        secs(pick(15, 45, &[key, "took"])),
    );
    r.downtime_ms = Some(pick(40, 900, &[key, "down"]));
    r
}

/// Observes the simulated replication at `now` (B4).
pub(super) fn observe(run: &RunSpec, now: DateTime<Utc>) -> Observation {
    let id = run.run_id.as_str();
    let start = run.phase_started_at;
    let from = run
        .last_observed_at
        .unwrap_or(start)
        .max(start)
        .max(now - Duration::seconds(SAMPLE_EVERY_S * MAX_SAMPLES));
    let slots: Vec<String> = (1..=if run.plan == Plan::Premium { 2 } else { 1 })
        .map(|i| format!("lockstep_sub_{i}"))
        .collect();
    let mut samples = Vec::new();
    let mut t = from + Duration::seconds(SAMPLE_EVERY_S);
    while t < now {
        push_samples(run, &slots, t, &mut samples);
        t += Duration::seconds(SAMPLE_EVERY_S);
    }
    push_samples(run, &slots, now, &mut samples);
    let green_lost = run.faults.contains(&Fault::GreenLost);
    let minute = |at: DateTime<Utc>| (at - start).num_seconds().max(0) / 60;
    let ddl = (minute(from)..=minute(now))
        .filter_map(|m| ddl_at(id, start, m))
        .filter(|(at, until, _)| *at <= now && (*at > from || *until > now))
        .map(|(at, until, statement)| DdlChange {
            at,
            statement,
            in_flight: until > now,
        })
        .collect();
    let long_transactions = (minute(now).saturating_sub(2)..=minute(now))
        .filter_map(|m| long_txn_at(id, start, m))
        .filter(|(at, until, _)| *at <= now && *until > now)
        .map(|(at, _, pid)| LongTransaction {
            pid,
            running_s: u32::try_from((now - at).num_seconds().max(0)).unwrap_or(u32::MAX),
            query: "UPDATE orders SET status = … WHERE …".into(),
        })
        .collect();
    let lag = lag_at(run, now, 0);
    Observation {
        at: now,
        samples,
        ddl,
        long_transactions,
        subscription: if green_lost {
            SubscriptionHealth::Unreachable
        } else {
            SubscriptionHealth::Streaming
        },
        backlog_rows: run.ingestion_paused_at.map(|p| {
            BACKLOG_ROWS_PER_S * u64::try_from((now - p).num_seconds().max(0)).unwrap_or(0)
        }),
        row_count_mismatches: if lag > 1_000_000 {
            vec!["orders".into(), "order_items".into()]
        } else {
            Vec::new()
        },
        lasting_differences: Vec::new(),
        action_needed: None,
    }
}

fn push_samples(run: &RunSpec, slots: &[String], at: DateTime<Utc>, out: &mut Vec<LagSample>) {
    for (i, slot) in slots.iter().enumerate() {
        out.push(LagSample {
            at,
            slot: slot.clone(),
            lag_bytes: lag_at(run, at, i),
        });
    }
}

/// Lag of slot `slot` at `at`: the backlog built up while green was provisioned drains
/// exponentially; write load adds a wave and noise; now and then a burst spikes it.
fn lag_at(run: &RunSpec, at: DateTime<Utc>, slot: usize) -> u64 {
    let id = run.run_id.as_str();
    let t = (at - run.phase_started_at).num_milliseconds().max(0) as f64 / 1000.0;
    let attempt = run.attempt.to_string();
    let backlog = if run.attempt <= 1 {
        pick(1_500_000, 4_000_000, &[id, "backlog"])
    } else {
        pick(300_000, 600_000, &[id, "backlog", &attempt])
    } as f64;
    let share = if slot == 0 { 1.0 } else { 0.6 };
    if run.faults.contains(&Fault::LagStuck) {
        return ((backlog * (1.0 + t / 600.0)) * share) as u64;
    }
    let tau = pick(150, 300, &[id, "tau"]) as f64;
    let bucket = (t as i64 / SAMPLE_EVERY_S).to_string();
    let wave = 17_000.0 + 13_000.0 * (t / 420.0 * std::f64::consts::TAU).sin();
    let noise = pick(0, 6_000, &[id, "noise", &bucket, &slot.to_string()]) as f64;
    let minute = (t as i64 / 60).to_string();
    let spike = if t > 480.0 && hash(&[id, "spike", &minute]) % 100 < 6 {
        let peak = pick(250_000, 900_000, &[id, "spike-peak", &minute]) as f64;
        peak * (1.0 - (t % 60.0) / 60.0)
    } else {
        0.0
    };
    ((backlog * (-t / tau).exp() + wave + noise + spike) * share) as u64
}

const DDL: [&str; 4] = [
    "ALTER TABLE orders ADD COLUMN gift_note text",
    "CREATE INDEX CONCURRENTLY orders_customer_idx ON orders (customer_id)",
    "ALTER TABLE customers ALTER COLUMN email SET NOT NULL",
    "CREATE TABLE order_tags (order_id bigint REFERENCES orders, tag text)",
];

/// A DDL statement started in minute `m` of B4, if any: (start, end, statement).
fn ddl_at(
    id: &str,
    start: DateTime<Utc>,
    m: i64,
) -> Option<(DateTime<Utc>, DateTime<Utc>, String)> {
    let ms = m.to_string();
    if m < 2 || hash(&[id, "ddl", &ms]) % 100 >= 4 {
        return None;
    }
    let at = start + Duration::seconds(m * 60 + pick(0, 50, &[id, "ddl-at", &ms]) as i64);
    let until = at + Duration::seconds(pick(40, 100, &[id, "ddl-for", &ms]) as i64);
    let which = (hash(&[id, "ddl-which", &ms]) % DDL.len() as u64) as usize;
    Some((at, until, DDL[which].to_string()))
}

/// A long write transaction started in minute `m` of B4, if any: (start, end, pid).
fn long_txn_at(
    id: &str,
    start: DateTime<Utc>,
    m: i64,
) -> Option<(DateTime<Utc>, DateTime<Utc>, u32)> {
    let ms = m.to_string();
    if hash(&[id, "txn", &ms]) % 100 >= 5 {
        return None;
    }
    let at = start + Duration::seconds(m * 60 + pick(0, 30, &[id, "txn-at", &ms]) as i64);
    let until = at + Duration::seconds(pick(35, 90, &[id, "txn-for", &ms]) as i64);
    Some((at, until, pick(20_000, 60_000, &[id, "pid", &ms]) as u32))
}

/// What B1 finds on a simulated service: everything is carried (the demo's runs switch over
/// without a choice), so the board and `run get` show what a real run reports.
fn simulated_inventory() -> Inventory {
    let mut inv = Inventory::default();
    let carry = Treatment::Carry;
    inv.push(
        ItemKind::Roles,
        "4 roles, 2 memberships",
        carry,
        "copied to green in B2 with their password verifiers",
    );
    inv.push(
        ItemKind::Owners,
        "2 owners",
        carry,
        "kept on green by the schema copy",
    );
    inv.push(
        ItemKind::Privileges,
        "12 grants, 1 default",
        carry,
        "kept on green by the schema copy",
    );
    inv.push(
        ItemKind::LargeObjects,
        "3 large objects, 1.2 MB",
        carry,
        "copied in B3, changes copied while clients are parked",
    );
    inv.push(
        ItemKind::MaterializedView,
        "public.daily_totals",
        carry,
        "refreshed on green before the switchover",
    );
    inv
}
