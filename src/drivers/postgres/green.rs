//! Green's database belongs to one run from B2 on: the run records its claim on the database
//! (a database setting, `lockstep.green_of_run`), and a rollback (B8) empties what the run put
//! there, so a new run starts from nothing. A database without the run's claim is never
//! emptied.

use super::session::{Session, ident, literal};

/// The database setting that records which run owns green's database.
const CLAIM: &str = "lockstep.green_of_run";

/// The run that claimed green's database, if any.
pub async fn claimed_by(green: &Session) -> Result<Option<String>, String> {
    let rows = green
        .rows(&format!(
            "SELECT substr(c, length({prefix}) + 1) FROM pg_db_role_setting s
             JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) c
             WHERE d.datname = current_database() AND s.setrole = 0
               AND c LIKE {prefix} || '%'",
            prefix = literal(&format!("{CLAIM}="))
        ))
        .await?;
    Ok(rows.first().map(|r| r.get(0)))
}

/// Records that `run` (its replication objects' name) owns green's database.
pub async fn claim(green: &Session, run: &str) -> Result<(), String> {
    let db = green.text("SELECT current_database()::text").await?;
    green
        .execute(&format!(
            "ALTER DATABASE {} SET {CLAIM} = {}",
            ident(&db),
            literal(run)
        ))
        .await
}

/// Forgets the claim (after a completed run, green is the service's database).
pub async fn release(green: &Session) -> Result<(), String> {
    let db = green.text("SELECT current_database()::text").await?;
    green
        .execute(&format!("ALTER DATABASE {} RESET {CLAIM}", ident(&db)))
        .await
}

/// B8: empties green's database of what `run` copied there (schemas and what is in them,
/// large objects, event triggers), if `run` claimed it; roles stay (they are the cluster's,
/// and other databases may use them). Returns what it did, line by line.
pub async fn empty(green: &Session, run: &str, log: &mut Vec<String>) -> Result<(), String> {
    match claimed_by(green).await? {
        Some(owner) if owner == run => {}
        Some(owner) => {
            log.push(format!(
                "green's database belongs to run {owner}: left as it is"
            ));
            return Ok(());
        }
        None => {
            log.push("green's database was never claimed by this run: left as it is".into());
            return Ok(());
        }
    }
    let schemas: Vec<String> = green
        .rows(
            "SELECT nspname::text FROM pg_namespace
             WHERE nspname NOT IN ('pg_catalog', 'information_schema')
               AND nspname NOT LIKE 'pg_toast%' AND nspname NOT LIKE 'pg_temp%'
             ORDER BY 1",
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut sql = String::from("BEGIN;\n");
    for name in green
        .rows("SELECT evtname::text FROM pg_event_trigger")
        .await?
        .iter()
        .map(|r| r.get::<_, String>(0))
    {
        sql.push_str(&format!("DROP EVENT TRIGGER IF EXISTS {};\n", ident(&name)));
    }
    for schema in &schemas {
        sql.push_str(&format!("DROP SCHEMA {} CASCADE;\n", ident(schema)));
    }
    sql.push_str(
        "CREATE SCHEMA public AUTHORIZATION pg_database_owner;
         GRANT USAGE ON SCHEMA public TO PUBLIC;
         COMMENT ON SCHEMA public IS 'standard public schema';
         SELECT lo_unlink(oid) FROM pg_largeobject_metadata;
         COMMIT;",
    );
    green.execute(&sql).await?;
    release(green).await?;
    log.push(format!(
        "green emptied: schemas {} dropped (public recreated empty), large objects and event \
         triggers removed; roles left in place",
        schemas.join(", ")
    ));
    Ok(())
}
