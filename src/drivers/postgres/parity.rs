//! What logical replication does not carry, carried by the run itself (B13): materialized
//! views refreshed on green, large objects copied, and unlogged tables copied or started empty
//! as the operator chose. [`before_park`] runs ahead of B5's park (so the park only copies what
//! changed since), [`while_fenced`] while blue's writes are fenced.

use std::time::Instant;

use futures::{SinkExt, StreamExt, pin_mut};

use super::largeobjects;
use super::session::{Session, describe};
use crate::model::run::ChoiceValue;

/// Materialized views populated on blue, in creation order (a view built on another comes
/// after it).
const POPULATED_MATVIEWS: &str = "
SELECT format('%I.%I', m.schemaname, m.matviewname)
FROM pg_matviews m JOIN pg_class c ON c.relname = m.matviewname
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = m.schemaname
WHERE m.ispopulated ORDER BY c.oid";

/// Unlogged tables of blue (`schema.table`, quoted).
const UNLOGGED: &str = "
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence = 'u'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1";

/// Refreshes on green every materialized view populated on blue (from green's replicated
/// rows).
pub async fn refresh_matviews(
    blue: &Session,
    green: &Session,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let views: Vec<String> = blue
        .rows(POPULATED_MATVIEWS)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if views.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    for view in &views {
        green
            .execute(&format!("REFRESH MATERIALIZED VIEW {view}"))
            .await?;
    }
    log.push(format!(
        "{} materialized views refreshed on green in {} ms: {}",
        views.len(),
        started.elapsed().as_millis(),
        views.join(", ")
    ));
    Ok(())
}

/// Copies every large object to green (B3), logging what it did and how long it took.
pub async fn copy_large_objects(
    blue: &Session,
    green: &Session,
    when: &str,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let started = Instant::now();
    let done = largeobjects::sync(blue, green).await?;
    if done.on_blue > 0 || done.removed > 0 {
        log.push(format!(
            "{when}: {done} in {} ms",
            started.elapsed().as_millis()
        ));
    }
    Ok(())
}

/// B3: what the park will spend on large objects: one more comparison now that green has them
/// all (nothing to copy), timed. `None` when blue has none.
pub async fn large_object_park_cost(
    blue: &Session,
    green: &Session,
) -> Result<Option<(largeobjects::Synced, std::time::Duration)>, String> {
    let started = Instant::now();
    let done = largeobjects::sync(blue, green).await?;
    Ok((done.on_blue > 0).then(|| (done, started.elapsed())))
}

/// B5 before the park: materialized views refreshed and large objects brought up to date, so
/// the park only carries what changed in the last moments.
pub async fn before_park(
    blue: &Session,
    green: &Session,
    unlogged: Option<ChoiceValue>,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let tables = unlogged_tables(blue).await?;
    if !tables.is_empty() && unlogged.is_none() {
        return Err(no_choice(&tables));
    }
    refresh_matviews(blue, green, log).await?;
    copy_large_objects(blue, green, "large objects before the park", log).await
}

/// B5 while blue is fenced: large objects changed since, and unlogged tables as chosen.
pub async fn while_fenced(
    blue: &Session,
    green: &Session,
    unlogged: Option<ChoiceValue>,
    log: &mut Vec<String>,
) -> Result<(), String> {
    copy_large_objects(blue, green, "5b large objects while fenced", log).await?;
    let tables = unlogged_tables(blue).await?;
    if tables.is_empty() {
        return Ok(());
    }
    match unlogged {
        None => Err(no_choice(&tables)),
        Some(ChoiceValue::Empty) => {
            log.push(format!(
                "5b unlogged tables left empty on green, as chosen: {}",
                tables.join(", ")
            ));
            Ok(())
        }
        Some(ChoiceValue::Copy) => {
            let started = Instant::now();
            let mut rows = 0;
            for table in &tables {
                rows += copy_table(blue, green, table).await?;
            }
            log.push(format!(
                "5b unlogged tables copied to green, as chosen: {} ({rows} rows in {} ms)",
                tables.join(", "),
                started.elapsed().as_millis()
            ));
            Ok(())
        }
    }
}

async fn unlogged_tables(blue: &Session) -> Result<Vec<String>, String> {
    Ok(blue
        .rows(UNLOGGED)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

fn no_choice(tables: &[String]) -> String {
    format!(
        "unlogged tables {} have no recorded choice: their rows would be lost (record one with \
         `lockstep run choose RUN --unlogged copy|empty --comment …`)",
        tables.join(", ")
    )
}

/// Replaces `table`'s rows on green by blue's, streaming `COPY` from one to the other.
async fn copy_table(blue: &Session, green: &Session, table: &str) -> Result<u64, String> {
    let fail = |doing: &str, e: &tokio_postgres::Error| format!("{doing} {table}: {}", describe(e));
    green.execute(&format!("TRUNCATE {table}")).await?;
    let source = blue
        .client
        .copy_out(&format!("COPY {table} TO STDOUT"))
        .await
        .map_err(|e| fail("reading blue's", &e))?;
    let sink = green
        .client
        .copy_in(&format!("COPY {table} FROM STDIN"))
        .await
        .map_err(|e| fail("writing green's", &e))?;
    pin_mut!(source);
    pin_mut!(sink);
    while let Some(chunk) = source.next().await {
        let chunk = chunk.map_err(|e| fail("reading blue's", &e))?;
        sink.send(chunk)
            .await
            .map_err(|e| fail("writing green's", &e))?;
    }
    sink.as_mut()
        .finish()
        .await
        .map_err(|e| fail("writing green's", &e))
}
