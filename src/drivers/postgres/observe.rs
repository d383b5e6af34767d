//! B4 on real servers: lag in bytes per slot (the LSN distance from blue's current WAL position
//! to what green confirmed), the subscription's health, row counts per table on both sides,
//! schema drift (a hash of each table's columns on blue against green), DDL and write
//! transactions running on blue.

use chrono::{DateTime, Utc};

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
WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
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
    };
    let Ok(green) = green else {
        return Ok(observation);
    };
    let Ok(health) = subscription_health(&green, names).await else {
        return Ok(observation);
    };
    observation.subscription = health;
    let blue_shapes = table_shapes(blue).await?;
    let Ok(green_shapes) = table_shapes(&green).await else {
        observation.subscription = SubscriptionHealth::Unreachable;
        return Ok(observation);
    };
    let replicated = names_of(&green, &replicated_sql(&names.subscription)).await?;
    let partitioned = names_of(blue, PARTITIONED).await?;
    let idle = observation.max_lag() == 0;
    for (table, hash) in &blue_shapes {
        match green_shapes.iter().find(|(t, _)| t == table) {
            Some((_, green_hash)) if green_hash == hash => {
                let Some(counts) = differing_counts(blue, &green, table, idle).await? else {
                    continue;
                };
                let followed = replicated.contains(table) || partitioned.contains(table);
                let lasting = if !followed {
                    Some(format!("{table}: not replicated ({counts})"))
                } else if health != SubscriptionHealth::Streaming {
                    Some(format!(
                        "{table}: {counts} while replication is {}",
                        health.as_str()
                    ))
                } else if idle {
                    Some(format!("{table}: {counts} at zero lag"))
                } else {
                    None
                };
                match lasting {
                    Some(text) => observation.lasting_differences.push(text),
                    None => observation
                        .row_count_mismatches
                        .push(format!("{table}: {counts}")),
                }
            }
            Some(_) => {
                let text = format!("{table}: columns differ on blue and green");
                observation.lasting_differences.push(text.clone());
                observation.ddl.push(drift(now, text));
            }
            None => {
                observation
                    .lasting_differences
                    .push(format!("{table}: on blue only, not replicated"));
                observation
                    .ddl
                    .push(drift(now, format!("{table}: on blue only")));
            }
        }
    }
    Ok(observation)
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
