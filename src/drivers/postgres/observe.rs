//! B4 on real servers: lag in bytes per slot (the LSN distance from blue's current WAL position
//! to what green confirmed), the subscription's health, row counts per table on both sides,
//! schema drift (a hash of each table's columns on blue against green), DDL and write
//! transactions running on blue.

use chrono::{DateTime, Utc};

use super::ddl;
use super::provision::Names;
use super::session::{Session, literal};
use crate::model::run::{DdlChange, LagSample, LongTransaction, Observation, SubscriptionHealth};

/// User tables and a hash of their columns (name, type, nullability, in order).
const TABLE_SHAPES: &str = "
SELECT format('%s.%s', n.nspname, c.relname),
       md5(string_agg(format('%s %s %s', a.attname, format_type(a.atttypid, a.atttypmod),
                             a.attnotnull), ',' ORDER BY a.attnum))
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p' AND c.relname NOT LIKE 'lockstep\\_%'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
GROUP BY 1 ORDER BY 1";

/// The leaf tables green's subscription follows (`schema.table`).
fn replicated_sql(subscription: &str) -> String {
    format!(
        "SELECT format('%s.%s', n.nspname, c.relname) FROM pg_subscription_rel r
         JOIN pg_subscription s ON s.oid = r.srsubid JOIN pg_class c ON c.oid = r.srrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE s.subname = {}",
        literal(subscription)
    )
}

/// Partitioned tables (their partitions are what replication follows).
const PARTITIONED: &str = "
SELECT format('%s.%s', n.nspname, c.relname) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'p'";

/// Observes blue and (if reachable) green at `now`.
pub async fn observe(
    blue: &Session,
    green: Result<Session, String>,
    names: &Names,
    now: DateTime<Utc>,
) -> Result<Observation, String> {
    let lag_sql = format!(
        "SELECT slot_name::text,
                COALESCE((pg_current_wal_lsn() - confirmed_flush_lsn)::bigint, -1)
         FROM pg_replication_slots WHERE slot_name = {} ORDER BY 1",
        literal(&names.subscription)
    );
    let samples = blue
        .rows(&lag_sql)
        .await?
        .iter()
        .map(|row| LagSample {
            at: now,
            slot: row.get(0),
            lag_bytes: u64::try_from(row.get::<_, i64>(1)).unwrap_or(u64::MAX),
        })
        .collect();
    let mut observation = Observation {
        at: now,
        samples,
        ddl: ddl_in_flight(blue, now).await?,
        long_transactions: write_transactions(blue).await?,
        subscription: SubscriptionHealth::Unreachable,
        backlog_rows: None,
        row_count_mismatches: Vec::new(),
        lasting_differences: Vec::new(),
        action_needed: None,
    };
    let Ok(green) = green else {
        return Ok(observation);
    };
    let Ok(health) = subscription_health(&green, names).await else {
        return Ok(observation);
    };
    observation.subscription = health;
    // Tables created on blue since B2 (the DDL capture brought them to green): replicate them.
    if let Err(e) = follow_new_tables(blue, &green, names, &mut observation).await {
        observation.action_needed = Some(e);
    }
    observation.ddl.extend(carried_ddl(blue, &green).await);
    if let Some(failed) = ddl_failed(&green).await {
        observation.action_needed = Some(failed);
    } else if health == SubscriptionHealth::Broken {
        observation.action_needed = Some(broken_because(blue, &green, names).await);
    }
    let idle = observation.max_lag() == 0;
    let Ok(check) = data_check(blue, &green, names, health, idle).await else {
        observation.subscription = SubscriptionHealth::Unreachable;
        return Ok(observation);
    };
    observation.row_count_mismatches = check.catching_up;
    observation.lasting_differences = check.lasting;
    observation
        .ddl
        .extend(check.drift.into_iter().map(|d| drift(now, d)));
    Ok(observation)
}

/// What the data check found.
#[derive(Debug, Default)]
pub struct DataCheck {
    /// Row counts that differ while green catches up (`table: blue N rows, green M`).
    pub catching_up: Vec<String>,
    /// Differences that are not green catching up: each blocks the switchover.
    pub lasting: Vec<String>,
    /// Schema drift, for the DDL list.
    pub drift: Vec<String>,
}

/// Compares every permanent table of blue with green: shape, then row counts. `idle` says the
/// slot's lag was zero (a count that differs then is lasting).
pub async fn data_check(
    blue: &Session,
    green: &Session,
    names: &Names,
    health: SubscriptionHealth,
    idle: bool,
) -> Result<DataCheck, String> {
    let mut check = DataCheck::default();
    let blue_shapes = table_shapes(blue).await?;
    let green_shapes = table_shapes(green).await?;
    let replicated = names_of(green, &replicated_sql(&names.subscription)).await?;
    let partitioned = names_of(blue, PARTITIONED).await?;
    for (table, hash) in &blue_shapes {
        match green_shapes.iter().find(|(t, _)| t == table) {
            Some((_, green_hash)) if green_hash == hash => {
                let Some(counts) = differing_counts(blue, green, table, idle).await? else {
                    continue;
                };
                let followed = replicated.contains(table) || partitioned.contains(table);
                if !followed {
                    check
                        .lasting
                        .push(format!("{table}: not replicated ({counts})"));
                } else if health != SubscriptionHealth::Streaming {
                    check.lasting.push(format!(
                        "{table}: {counts} while replication is {}",
                        health.as_str()
                    ));
                } else if idle {
                    check.lasting.push(format!("{table}: {counts} at zero lag"));
                } else {
                    check.catching_up.push(format!("{table}: {counts}"));
                }
            }
            Some(_) => {
                let text = format!("{table}: columns differ on blue and green");
                check.lasting.push(text.clone());
                check.drift.push(text);
            }
            None => {
                check
                    .lasting
                    .push(format!("{table}: on blue only, not replicated"));
                check.drift.push(format!("{table}: on blue only"));
            }
        }
    }
    Ok(check)
}

async fn names_of(side: &Session, sql: &str) -> Result<Vec<String>, String> {
    Ok(side.rows(sql).await?.iter().map(|r| r.get(0)).collect())
}

/// `blue N rows, green M` when the counts differ. At zero lag a difference is counted again
/// after a moment, so a write that landed between the two counts is not taken for a lasting one.
async fn differing_counts(
    blue: &Session,
    green: &Session,
    table: &str,
    idle: bool,
) -> Result<Option<String>, String> {
    let mut rounds = if idle { 2 } else { 1 };
    loop {
        let on_blue = row_count(blue, table).await?;
        let on_green = row_count(green, table).await.unwrap_or(-1);
        if on_blue == on_green {
            return Ok(None);
        }
        rounds -= 1;
        if rounds == 0 {
            return Ok(Some(format!("blue {on_blue} rows, green {on_green}")));
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

fn drift(at: DateTime<Utc>, statement: String) -> DdlChange {
    DdlChange {
        at,
        statement: format!("schema drift: {statement}"),
        in_flight: false,
    }
}

async fn table_shapes(side: &Session) -> Result<Vec<(String, String)>, String> {
    Ok(side
        .rows(TABLE_SHAPES)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

async fn row_count(side: &Session, table: &str) -> Result<i64, String> {
    let (schema, name) = table.split_once('.').unwrap_or(("public", table));
    let sql = format!(
        "SELECT count(*) FROM {}.{}",
        super::session::ident(schema),
        super::session::ident(name)
    );
    let rows = side.rows(&sql).await?;
    Ok(rows.first().map(|r| r.get(0)).unwrap_or(0))
}

/// Puts tables with a key that blue's publication lacks into it, and has green's subscription
/// pick up the published tables it does not follow yet (their rows are copied). Logged as DDL.
async fn follow_new_tables(
    blue: &Session,
    green: &Session,
    names: &Names,
    observation: &mut Observation,
) -> Result<(), String> {
    let added = ddl::publish_missing(blue, &names.publication).await?;
    let missing =
        ddl::missing_on_green(blue, green, &names.publication, &names.subscription).await?;
    if missing.is_empty() {
        return Ok(());
    }
    ddl::refresh(green, &names.subscription).await.map_err(|e| {
        format!(
            "new tables on blue ({}) cannot be replicated: {e}; create them on green as on blue, \
             then replication picks them up",
            missing.join(", ")
        )
    })?;
    let _ = added;
    observation.ddl.push(DdlChange {
        at: observation.at,
        statement: format!(
            "new tables replicated to green, rows copied: {}",
            missing.join(", ")
        ),
        in_flight: false,
    });
    Ok(())
}

/// The DDL captured on blue: applied on green (done), or still on its way (in flight: the
/// `ddl` guardrail waits for it). Both keep blue's statement and time, so the run's DDL list
/// shows each statement once and sees it land.
async fn carried_ddl(blue: &Session, green: &Session) -> Vec<DdlChange> {
    let sql = format!(
        "SELECT (extract(epoch FROM at) * 1000)::bigint, command_tag, statement, id
         FROM {} ORDER BY id",
        ddl::QUEUE_TABLE
    );
    let entry = |row: &tokio_postgres::Row, in_flight: bool| {
        let ms: i64 = row.get(0);
        let (tag, statement): (String, String) = (row.get(1), row.get(2));
        DdlChange {
            at: DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default(),
            statement: blue.scrub(&format!(
                "{tag}: {}",
                statement.split_whitespace().collect::<Vec<_>>().join(" ")
            )),
            in_flight,
        }
    };
    let Ok(applied) = green.rows(&sql).await else {
        return Vec::new();
    };
    let last: i64 = applied.last().map_or(0, |r| r.get(3));
    let mut out: Vec<DdlChange> = applied.iter().map(|r| entry(r, false)).collect();
    let waiting = format!(
        "SELECT (extract(epoch FROM at) * 1000)::bigint, command_tag, statement, id
         FROM {} WHERE id > {last} ORDER BY id",
        ddl::QUEUE_TABLE
    );
    if let Ok(rows) = blue.rows(&waiting).await {
        out.extend(rows.iter().map(|r| entry(r, true)));
    }
    out
}

/// The first DDL green could not apply, with what to do, if any.
async fn ddl_failed(green: &Session) -> Option<String> {
    let failed = ddl::failures(green).await.ok()?;
    let first = failed.first()?;
    Some(green.scrub(&format!(
        "DDL from blue failed on green: `{}` ({}, as {}): {}; apply it on green by hand in a \
         form green accepts (replication waits for it if later rows need it), then `DELETE FROM \
         {} WHERE id = {}` on green",
        first.statement.chars().take(200).collect::<String>(),
        first.command_tag,
        first.role,
        first.error,
        ddl::FAILED_TABLE,
        first.id
    )))
}

/// Why the subscription stopped applying, and what to do, as far as green can tell.
async fn broken_because(blue: &Session, green: &Session, names: &Names) -> String {
    if let Ok(pending) = ddl::pending(blue, green).await
        && let Some(first) = pending.first()
    {
        return blue.scrub(&format!(
            "green stopped applying at DDL from blue: `{}` ({}{}): apply it on green by hand, \
             then replication carries on by itself; or roll back with `lockstep run rollback`",
            first.statement.chars().take(200).collect::<String>(),
            first.command_tag,
            first
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ));
    }
    let errors = green
        .text(&format!(
            "SELECT COALESCE(sum(apply_error_count + sync_error_count), 0)::text
             FROM pg_stat_subscription_stats WHERE subname = {}",
            literal(&names.subscription)
        ))
        .await
        .unwrap_or_else(|_| "?".into());
    format!(
        "the subscription {} on green stopped applying ({errors} errors so far; green's server \
         log names the statement): mend green so it can apply it and replication carries on by \
         itself, or roll back with `lockstep run rollback`",
        names.subscription
    )
}

async fn subscription_health(green: &Session, names: &Names) -> Result<SubscriptionHealth, String> {
    let sub = literal(&names.subscription);
    let workers = green
        .text(&format!(
            "SELECT count(*)::text FROM pg_stat_subscription
             WHERE subname = {sub} AND relid IS NULL AND pid IS NOT NULL"
        ))
        .await?;
    let syncing = green
        .text(&format!(
            "SELECT count(*)::text FROM pg_subscription_rel r
             JOIN pg_subscription s ON s.oid = r.srsubid
             WHERE s.subname = {sub} AND r.srsubstate NOT IN ('r', 's')"
        ))
        .await?;
    Ok(match (workers.as_str(), syncing.as_str()) {
        ("0", _) => SubscriptionHealth::Broken,
        (_, "0") => SubscriptionHealth::Streaming,
        _ => SubscriptionHealth::Syncing,
    })
}

async fn ddl_in_flight(blue: &Session, now: DateTime<Utc>) -> Result<Vec<DdlChange>, String> {
    let rows = blue
        .rows(
            "SELECT left(query, 120) FROM pg_stat_activity
             WHERE state = 'active' AND pid <> pg_backend_pid()
               AND query ~* '^\\s*(create|alter|drop|truncate|comment)\\s'",
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| DdlChange {
            at: now,
            statement: blue.scrub(&r.get::<_, String>(0)),
            in_flight: true,
        })
        .collect())
}

async fn write_transactions(blue: &Session) -> Result<Vec<LongTransaction>, String> {
    let rows = blue
        .rows(
            "SELECT pid, EXTRACT(EPOCH FROM now() - xact_start)::bigint, left(query, 120)
             FROM pg_stat_activity
             WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
               AND backend_type = 'client backend'
             ORDER BY 2 DESC",
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| LongTransaction {
            pid: u32::try_from(r.get::<_, i32>(0)).unwrap_or(0),
            running_s: u32::try_from(r.get::<_, i64>(1)).unwrap_or(0),
            query: blue.scrub(&r.get::<_, String>(2)),
        })
        .collect())
}

/// Adds what another database of the run (`db`) shows to the registered one's observation:
/// its slot's lag, its data check and schema drift, the worst subscription health, the first
/// action needed. DDL in flight and write transactions are the cluster's, seen once already.
pub fn merge(all: &mut Observation, other: Observation, db: &str) {
    all.samples.extend(other.samples);
    all.ddl
        .extend(other.ddl.into_iter().filter(|d| !d.in_flight).map(|mut d| {
            d.statement = format!("{db}: {}", d.statement);
            d
        }));
    let worst = |h: SubscriptionHealth| match h {
        SubscriptionHealth::Streaming => 0,
        SubscriptionHealth::Syncing => 1,
        SubscriptionHealth::Broken => 2,
        SubscriptionHealth::Unreachable => 3,
    };
    if worst(other.subscription) > worst(all.subscription) {
        all.subscription = other.subscription;
    }
    let prefix = |v: Vec<String>| v.into_iter().map(|t| format!("{db}:{t}"));
    all.row_count_mismatches
        .extend(prefix(other.row_count_mismatches));
    all.lasting_differences
        .extend(prefix(other.lasting_differences));
    if all.action_needed.is_none() {
        all.action_needed = other.action_needed.map(|a| format!("{db}: {a}"));
    }
}
