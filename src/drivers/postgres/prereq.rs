//! B1 on real servers: blue can publish logically, green is a newer, empty major, and every
//! table can be replicated (a table without a primary key or replica identity is refused by
//! name, since UPDATE and DELETE on it would break the subscription).

use super::session::Session;

/// Extensions that break logical replication (SPEC B1).
pub const BREAKING_EXTENSIONS: [&str; 2] = ["pg_cron", "pg_partman"];

/// What B1 found.
#[derive(Debug, Default)]
pub struct Prerequisites {
    /// What was checked, line by line.
    pub log: Vec<String>,
    /// The first blocking problem, in words.
    pub refusal: Option<String>,
    /// Tables without a primary key or replica identity, `schema.table`.
    pub tables_without_key: Vec<String>,
    /// Extensions that break logical replication, found on blue.
    pub breaking_extensions: Vec<String>,
}

/// Tables of blue (outside the system schemas) that neither have a primary key nor a usable
/// replica identity (`FULL`, or `USING INDEX`).
const TABLES_WITHOUT_KEY: &str = "
SELECT format('%s.%s', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
  AND NOT (c.relreplident = 'f'
           OR (c.relreplident = 'i'
               AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)))
ORDER BY 1";

/// Checks blue and green for B1.
pub async fn check(blue: &Session, green: &Session) -> Result<Prerequisites, String> {
    let mut found = Prerequisites::default();
    let wal_level = blue.text("SELECT current_setting('wal_level')").await?;
    found.log.push(format!("blue wal_level = {wal_level}"));
    if wal_level != "logical" {
        found.refusal = Some(format!(
            "B1: blue has wal_level={wal_level}; set wal_level = logical and restart blue"
        ));
        return Ok(found);
    }
    let privileged = blue
        .text(
            "SELECT (rolsuper OR rolreplication)::text FROM pg_roles WHERE rolname = current_user",
        )
        .await?;
    if privileged != "true" {
        found.refusal = Some(
            "B1: blue's user has no REPLICATION privilege: ALTER ROLE … REPLICATION (or use a \
             superuser)"
                .into(),
        );
        return Ok(found);
    }
    found.log.push("blue user may replicate".into());
    let free_slots = blue
        .text(
            "SELECT (current_setting('max_replication_slots')::int
                     - (SELECT count(*) FROM pg_replication_slots))::text",
        )
        .await?;
    found
        .log
        .push(format!("blue has {free_slots} free replication slots"));
    if free_slots.parse::<i64>().unwrap_or(0) < 1 {
        found.refusal =
            Some("B1: blue has no free replication slot: raise max_replication_slots".into());
        return Ok(found);
    }
    let blue_version = version(blue).await?;
    let green_version = version(green).await?;
    found.log.push(format!(
        "blue runs {}, green runs {}",
        major(blue_version),
        major(green_version)
    ));
    if major(green_version) <= major(blue_version) {
        found.refusal = Some(format!(
            "B1: green runs PostgreSQL {} which is not newer than blue's {}",
            major(green_version),
            major(blue_version)
        ));
        return Ok(found);
    }
    found.tables_without_key = tables_without_key(blue).await?;
    let names: Vec<String> = BREAKING_EXTENSIONS
        .iter()
        .map(|e| format!("'{e}'"))
        .collect();
    let sql = format!(
        "SELECT extname::text FROM pg_extension WHERE extname IN ({}) ORDER BY 1",
        names.join(", ")
    );
    for row in blue.rows(&sql).await? {
        let name: String = row.get(0);
        found.log.push(format!(
            "{name} is installed on blue: it breaks logical replication; noted (not yet disabled \
             by lockstep)"
        ));
        found.breaking_extensions.push(name);
    }
    if !found.tables_without_key.is_empty() {
        found.refusal = Some(format!(
            "B1: {} without a primary key or replica identity: {} (UPDATE and DELETE on them \
             would break replication): add a primary key, or ALTER TABLE … REPLICA IDENTITY FULL",
            if found.tables_without_key.len() == 1 {
                "a table"
            } else {
                "tables"
            },
            found.tables_without_key.join(", ")
        ));
    } else {
        found
            .log
            .push("every table has a primary key or replica identity".into());
    }
    Ok(found)
}

/// Tables of `blue`'s database without a primary key or replica identity, `schema.table`.
pub async fn tables_without_key(blue: &Session) -> Result<Vec<String>, String> {
    Ok(blue
        .rows(TABLES_WITHOUT_KEY)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

async fn version(side: &Session) -> Result<u32, String> {
    let text = side
        .text("SELECT current_setting('server_version_num')")
        .await?;
    text.parse()
        .map_err(|_| format!("{} reports version {text}", side.side))
}

fn major(version_num: u32) -> u32 {
    version_num / 10_000
}

/// Green must be an empty database: the run copies blue's schema into it, and a rollback
/// empties it again. `None` when it is empty, else the refusal naming what it holds.
pub async fn green_is_empty(green: &Session, claim: &str) -> Result<Option<String>, String> {
    let rows = green
        .rows(
            "SELECT format('%s.%s', n.nspname, c.relname) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg_toast%'
             ORDER BY 1",
        )
        .await?;
    let tables: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    // A run interrupted after B2 began owns what it copied: only a stranger's tables refuse.
    let claimed = super::green::claimed_by(green).await?;
    if tables.is_empty() || claimed.as_deref() == Some(claim) {
        return Ok(None);
    }
    if let Some(other) = claimed {
        return Ok(Some(format!(
            "B1: green's database holds what an earlier run ({other}) copied: roll that run \
             back (a rollback empties green), or drop its objects by hand"
        )));
    }
    let shown: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
    Ok(Some(format!(
        "B1: green's database is not empty ({} relations: {}{}): give the run an empty \
         database on the newer server (lockstep copies blue's schema into it)",
        tables.len(),
        shown.join(", "),
        if tables.len() > 5 { ", …" } else { "" }
    )))
}
