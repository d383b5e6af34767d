//! Carries DDL run on blue to green in order with the data, in the manner of `pgl_ddl_deploy`.
//!
//! On blue an event trigger on `ddl_command_end` writes one row per query string into
//! [`QUEUE_TABLE`], in the transaction of the DDL. The queue is in the publication, so green's
//! apply worker inserts that row at the same point of the stream, and a `BEFORE INSERT`
//! trigger enabled `ALWAYS` runs the statement there with blue's role and search_path.
//!
//! - Carried tags: CREATE/ALTER/DROP of TABLE, INDEX, VIEW, SEQUENCE, SCHEMA, TYPE,
//!   FUNCTION, TRIGGER, EXTENSION, and COMMENT, GRANT, REVOKE. Not carried: roles and
//!   databases (global), CREATE TABLE AS / SELECT INTO, materialized views, publications,
//!   subscriptions, policies, anything else.
//! - Never fails the application's DDL: any error becomes a `WARNING` on blue (and the DDL
//!   is then not carried: compare schemas or apply it on green by hand).
//! - DDL with `lockstep.ddl_capture` set to `off` is not captured: lockstep's own sessions
//!   should connect with `-c lockstep.ddl_capture=off` (installs and removals set it locally).
//! - After CREATE/ALTER TABLE, a permanent non-partition table with a primary key or replica
//!   identity joins the publication (and leaves it if it loses it); green then needs
//!   [`refresh`] (it cannot run inside the apply worker), which [`missing_on_green`] detects.
//! - A query string holding several statements is queued once (deduplicated by transaction
//!   and text) and run whole on green; one that also runs anything but DDL (DML, DO, SET,
//!   BEGIN…) is queued with a `reason` and not run on green: the operator applies its DDL.
//! - A statement failing on green is rolled back alone and recorded in [`FAILED_TABLE`]
//!   (local to green), and the stream goes on: later rows that need it stop the apply worker
//!   with PostgreSQL's own error until the operator applies the DDL by hand on green, then
//!   it resumes by itself. When the DDL and such rows share a transaction the record is rolled
//!   back with it: [`pending`] shows the DDL green has not committed.
//! - `CREATE/DROP INDEX CONCURRENTLY` runs without `CONCURRENTLY` on green.
//! - Rows copied by the initial table sync of the queue (DDL queued before the subscription
//!   started) are kept in green's queue but not run: the schema copy has them.

use super::session::{Session, ident, literal};

/// The queue of captured DDL, on both sides (published on blue, applied on green).
pub const QUEUE_TABLE: &str = "public.lockstep_ddl_queue";

/// DDL green did not apply, local to green.
pub const FAILED_TABLE: &str = "public.lockstep_ddl_failed";

pub use super::session::CAPTURE_SETTING;

mod sql;

use sql::{BLUE_INSTALL, GREEN_INSTALL, PUBLICATION, REMOVE, TABLES_TO_PUBLISH};

/// DDL green did not apply, newest last.
const FAILURES: &str = "SELECT f.id, f.at::text, coalesce(f.role_name, ''),
        coalesce(q.command_tag, f.command_tag, ''), f.statement, f.error,
        coalesce(f.sqlstate, '')
    FROM public.lockstep_ddl_failed f
    LEFT JOIN public.lockstep_ddl_queue q ON q.id = f.id
    ORDER BY f.id";

/// One DDL green did not apply, as read from [`FAILED_TABLE`].
#[derive(Debug, Clone)]
pub struct DdlFailure {
    /// The queue row's id (blue's order).
    pub id: i64,
    /// When green tried it.
    pub at: String,
    /// The role it ran as on blue.
    pub role: String,
    /// Its command tag on blue.
    pub command_tag: String,
    /// The query string as blue received it.
    pub statement: String,
    /// Why green did not apply it (`not applied: …` when it was not even tried).
    pub error: String,
    /// The SQLSTATE of the error, empty when it was not tried.
    pub sqlstate: String,
}

/// One DDL queued on blue that green has not committed yet.
#[derive(Debug, Clone)]
pub struct PendingDdl {
    /// The queue row's id.
    pub id: i64,
    /// When blue ran it.
    pub at: String,
    /// Its command tag.
    pub command_tag: String,
    /// The query string.
    pub statement: String,
    /// Why green will not run it, if blue already knew.
    pub reason: Option<String>,
}

/// Installs the queue, the recording functions and the event trigger on blue, and puts the
/// queue in `publication` when that exists and lists tables. Idempotent.
pub async fn install_on_blue(blue: &Session, publication: &str) -> Result<(), String> {
    if publication.contains('$') {
        return Err(format!(
            "publication name {publication:?} must not contain '$'"
        ));
    }
    blue.execute(&BLUE_INSTALL.replace(PUBLICATION, &literal(publication)))
        .await
}

/// Installs the queue, the failure table and the apply trigger on green, and drops blue's
/// capture where a schema copy brought it. Idempotent. Run it as a superuser, best the
/// subscription's owner: the apply worker runs the trigger as the queue's owner, which must be
/// able to `SET ROLE` to every role that runs DDL on blue.
pub async fn install_on_green(green: &Session) -> Result<(), String> {
    green.execute(GREEN_INSTALL).await
}

/// Removes the event trigger, functions, queue and failure table from `side`. Idempotent.
/// On green, remove it from blue first (or drop the subscription): the queue leaves the
/// publication when blue drops it.
pub async fn remove(side: &Session) -> Result<(), String> {
    side.execute(REMOVE).await
}

/// The DDL green did not apply, oldest first.
pub async fn failures(green: &Session) -> Result<Vec<DdlFailure>, String> {
    let rows = green.rows(FAILURES).await?;
    rows.iter()
        .map(|r| -> Result<DdlFailure, String> {
            Ok(DdlFailure {
                id: get(green, r, 0)?,
                at: get(green, r, 1)?,
                role: get(green, r, 2)?,
                command_tag: get(green, r, 3)?,
                statement: get(green, r, 4)?,
                error: get(green, r, 5)?,
                sqlstate: get(green, r, 6)?,
            })
        })
        .collect()
}

/// The DDL queued on blue past the last one green committed. Normal while green lags; when
/// green's apply worker keeps failing, the first of them is the likely cause.
pub async fn pending(blue: &Session, green: &Session) -> Result<Vec<PendingDdl>, String> {
    let applied = green
        .text(&format!(
            "SELECT coalesce(max(id), 0)::text FROM {QUEUE_TABLE}"
        ))
        .await?;
    let applied: i64 = applied
        .parse()
        .map_err(|e| format!("green: queue position {applied:?}: {e}"))?;
    let rows = blue
        .rows(&format!(
            "SELECT id, at::text, command_tag, statement, reason
             FROM {QUEUE_TABLE} WHERE id > {applied} ORDER BY id"
        ))
        .await?;
    rows.iter()
        .map(|r| -> Result<PendingDdl, String> {
            Ok(PendingDdl {
                id: get(blue, r, 0)?,
                at: get(blue, r, 1)?,
                command_tag: get(blue, r, 2)?,
                statement: get(blue, r, 3)?,
                reason: get(blue, r, 4)?,
            })
        })
        .collect()
}

/// The quoted `schema.table` names blue's publication should list (requirement: explicit
/// list of tables that can be replicated without breaking UPDATE/DELETE on blue).
pub async fn tables_to_publish(blue: &Session) -> Result<Vec<String>, String> {
    column(blue, TABLES_TO_PUBLISH).await
}

/// Adds to `publication` the tables of [`tables_to_publish`] it lacks (those the event
/// trigger could not add); returns them. Follow with [`missing_on_green`] and [`refresh`].
pub async fn publish_missing(blue: &Session, publication: &str) -> Result<Vec<String>, String> {
    let published = column(blue, &published_sql(publication)).await?;
    let missing: Vec<String> = tables_to_publish(blue)
        .await?
        .into_iter()
        .filter(|t| !published.contains(t))
        .collect();
    if !missing.is_empty() {
        blue.execute(&format!(
            "ALTER PUBLICATION {} ADD TABLE {}",
            ident(publication),
            missing.join(", ")
        ))
        .await?;
    }
    Ok(missing)
}

/// Tables `publication` lists on blue that `subscription` on green does not have yet (in any
/// state), as quoted `schema.table` names: green needs [`refresh`] for them.
pub async fn missing_on_green(
    blue: &Session,
    green: &Session,
    publication: &str,
    subscription: &str,
) -> Result<Vec<String>, String> {
    let published = column(blue, &published_sql(publication)).await?;
    let subscribed = column(
        green,
        &format!(
            "SELECT format('%I.%I', n.nspname, c.relname)
             FROM pg_subscription s
             JOIN pg_subscription_rel sr ON sr.srsubid = s.oid
             JOIN pg_class c ON c.oid = sr.srrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE s.subname = {} AND s.subdbid =
                 (SELECT oid FROM pg_database WHERE datname = current_database())",
            literal(subscription)
        ),
    )
    .await?;
    Ok(published
        .into_iter()
        .filter(|t| !subscribed.contains(t))
        .collect())
}

/// Makes green's subscription pick up the tables added to blue's publication and copy their
/// rows (`copy_data` defaults to true). It cannot run in a transaction or a function.
/// Fails while a published table does not exist on green (see [`failures`]).
pub async fn refresh(green: &Session, subscription: &str) -> Result<(), String> {
    green
        .execute(&format!(
            "ALTER SUBSCRIPTION {} REFRESH PUBLICATION",
            ident(subscription)
        ))
        .await
}

/// The tables `publication` lists on blue, as quoted `schema.table` names.
fn published_sql(publication: &str) -> String {
    format!(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_publication_tables
         WHERE pubname = {} ORDER BY 1",
        literal(publication)
    )
}

/// The first column of every row of `sql`, as text.
async fn column(side: &Session, sql: &str) -> Result<Vec<String>, String> {
    let rows = side.rows(sql).await?;
    rows.iter()
        .map(|r| -> Result<String, String> { get(side, r, 0) })
        .collect()
}

/// Column `index` of `row`, with an error naming the side.
fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    side: &Session,
    row: &'a tokio_postgres::Row,
    index: usize,
) -> Result<T, String> {
    row.try_get(index)
        .map_err(|e| format!("{}: column {index}: {e}", side.side))
}
