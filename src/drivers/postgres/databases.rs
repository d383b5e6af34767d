//! Every database of blue's cluster crosses (B13): the run is for the cluster, as the
//! endpoint serves every database of it. The registered database comes first; each other one
//! (the maintenance database `postgres` only when it holds data) gets its own publication,
//! slot and subscription, named after the run and the database's OID, and is created on green
//! with blue's owner, encoding, locale and grants when green lacks it.

use super::dsn::Dsn;
use super::provision::Names;
use super::session::{self, Session, ident, literal};

/// One database of the run, on both sides.
#[derive(Debug, Clone)]
pub struct Pair {
    /// Its name.
    pub db: String,
    /// Blue's DSN for it.
    pub blue: Dsn,
    /// Green's DSN for it.
    pub green: Dsn,
    /// Its replication objects' names.
    pub names: Names,
    /// Whether it is the registered database.
    pub main: bool,
}

impl Pair {
    /// `table`, prefixed with the database when it is not the registered one.
    #[must_use]
    pub fn label(&self, table: &str) -> String {
        if self.main {
            table.to_string()
        } else {
            format!("{}:{table}", self.db)
        }
    }
}

/// The other databases of blue's cluster that the run carries, with their OIDs.
const OTHERS: &str = "SELECT datname::text, oid::bigint FROM pg_database
WHERE NOT datistemplate AND datallowconn AND datname <> current_database() ORDER BY 1";

/// The run's databases: the registered one first, then the others of blue's cluster.
pub async fn pairs(blue: &Dsn, green: &Dsn, names: &Names) -> Result<Vec<Pair>, String> {
    let main_db = blue
        .config()?
        .get_dbname()
        .map(str::to_string)
        .ok_or_else(|| format!("{blue}: the blue DSN names no database (dbname=…)"))?;
    let mut out = vec![Pair {
        db: main_db,
        blue: blue.clone(),
        green: green.clone(),
        names: names.clone(),
        main: true,
    }];
    let session = session::connect(blue, "blue").await?;
    for row in session.rows(OTHERS).await? {
        let (db, oid): (String, i64) = (row.get(0), row.get(1));
        if db == "postgres" && !holds_data(&blue.for_database(&db)?).await? {
            continue;
        }
        let name: String = format!("{}_{oid}", names.subscription)
            .chars()
            .take(63)
            .collect();
        out.push(Pair {
            blue: blue.for_database(&db)?,
            green: green.for_database(&db)?,
            db,
            names: Names {
                publication: name.clone(),
                subscription: name,
            },
            main: false,
        });
    }
    Ok(out)
}

/// Whether the database `dsn` names holds tables, views or large objects.
pub async fn holds_data(dsn: &Dsn) -> Result<bool, String> {
    let other = session::connect(dsn, "blue").await?;
    let found = other
        .text(
            "SELECT ((SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE c.relkind IN ('r', 'p', 'm', 'v', 'f')
                        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                        AND n.nspname NOT LIKE 'pg_toast%')
                   + (SELECT count(*) FROM pg_largeobject_metadata) > 0)::text",
        )
        .await?;
    Ok(found == "true")
}

/// Creates `db` on green as blue has it (owner, encoding, locale), unless it exists; its
/// settings and grants follow with [`copy_settings`].
pub async fn create_on_green(
    blue: &Session,
    green: &Session,
    db: &str,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let exists = green
        .text(&format!(
            "SELECT count(*)::text FROM pg_database WHERE datname = {}",
            literal(db)
        ))
        .await?;
    if exists != "0" {
        return Ok(());
    }
    let rows = blue
        .rows(&format!(
            "SELECT pg_get_userbyid(datdba)::text, pg_encoding_to_char(encoding)::text,
                    datcollate::text, datctype::text
             FROM pg_database WHERE datname = {}",
            literal(db)
        ))
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| format!("blue has no database {db}"))?;
    let (owner, encoding, collate, ctype): (String, String, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    green
        .execute(&format!(
            "CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
            ident(db),
            ident(&owner),
            literal(&encoding),
            literal(&collate),
            literal(&ctype)
        ))
        .await?;
    log.push(format!(
        "database {db} created on green (owner {owner}, {encoding}); its settings and grants \
         follow with the schema"
    ));
    Ok(())
}

/// Copies `pair`'s database-level settings and grants to green (`ALTER DATABASE … SET`,
/// `ALTER ROLE … IN DATABASE … SET`, `GRANT`/`REVOKE … ON DATABASE`), as blue's `pg_dump
/// --create` spells them; lockstep's own settings (the fence, the run's claim) stay behind.
pub async fn copy_settings(
    pg_dump: &std::path::Path,
    pair: &Pair,
    green: &Session,
    log: &mut Vec<String>,
) -> Result<(), String> {
    let green_db = green.text("SELECT current_database()::text").await?;
    if green_db != pair.db {
        log.push(format!(
            "database settings and grants not copied: green's database is {green_db}, blue's is \
             {} (they are spelled with the name)",
            pair.db
        ));
        return Ok(());
    }
    let args = ["--create", "--schema-only", "--exclude-schema=*"];
    let what = format!("pg_dump --create of blue's {}", pair.db);
    let out = super::dump::run(pg_dump, &args, &pair.blue, &what).await?;
    let statements = database_statements(&out);
    if statements.is_empty() {
        return Ok(());
    }
    green.execute(&statements.join("\n")).await?;
    log.push(format!(
        "{} database settings and grants copied to green",
        statements.len()
    ));
    Ok(())
}

/// The database-level statements of a `pg_dump --create` script, lockstep's own left out.
fn database_statements(dump: &str) -> Vec<String> {
    dump.lines()
        .filter(|l| {
            let setting = (l.starts_with("ALTER DATABASE ") || l.starts_with("ALTER ROLE "))
                && l.contains(" SET ");
            let grant = (l.starts_with("GRANT ") || l.starts_with("REVOKE "))
                && l.contains(" ON DATABASE ");
            (setting || grant)
                && !l.contains("default_transaction_read_only")
                && !l.contains("lockstep.")
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::database_statements;

    #[test]
    fn database_statements_leave_out_the_fence_and_the_claim() {
        let dump = "CREATE DATABASE app WITH TEMPLATE = template0;\n\
                    ALTER DATABASE app OWNER TO lockstep;\n\\connect app\n\
                    ALTER DATABASE app SET work_mem TO '8MB';\n\
                    ALTER DATABASE app SET default_transaction_read_only TO 'on';\n\
                    ALTER DATABASE app SET \"lockstep.green_of_run\" TO 'x';\n\
                    ALTER ROLE reader IN DATABASE app SET statement_timeout TO '5s';\n\
                    REVOKE CONNECT,TEMPORARY ON DATABASE app FROM PUBLIC;\n\
                    GRANT CONNECT ON DATABASE app TO reader;\n";
        assert_eq!(
            database_statements(dump),
            vec![
                "ALTER DATABASE app SET work_mem TO '8MB';",
                "ALTER ROLE reader IN DATABASE app SET statement_timeout TO '5s';",
                "REVOKE CONNECT,TEMPORARY ON DATABASE app FROM PUBLIC;",
                "GRANT CONNECT ON DATABASE app TO reader;",
            ]
        );
    }
}
