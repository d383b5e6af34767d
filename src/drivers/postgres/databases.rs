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

/// Creates `db` on green as blue has it (owner, encoding, locale, grants), unless it exists.
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
                    datcollate::text, datctype::text, COALESCE(datacl::text, '')
             FROM pg_database WHERE datname = {}",
            literal(db)
        ))
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| format!("blue has no database {db}"))?;
    let (owner, encoding, collate, ctype, acl): (String, String, String, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
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
    let grants = database_grants(&acl, &owner, db);
    if !grants.is_empty() {
        green.execute(&grants.join(";\n")).await?;
    }
    log.push(format!(
        "database {db} created on green (owner {owner}, {encoding}, {} grants)",
        grants.len()
    ));
    Ok(())
}

/// `GRANT`s for a database ACL such as `{=Tc/app,app=CTc/app,reader=c/app}`: the public
/// defaults and the owner's own entry stay as green has them.
fn database_grants(acl: &str, owner: &str, db: &str) -> Vec<String> {
    let mut out = Vec::new();
    if acl.is_empty() {
        return out;
    }
    // An explicit ACL replaces the defaults: start from nothing for PUBLIC, as blue does.
    out.push(format!("REVOKE ALL ON DATABASE {} FROM PUBLIC", ident(db)));
    for item in acl.trim_matches(|c| c == '{' || c == '}').split(',') {
        let Some((grantee, rest)) = item.split_once('=') else {
            continue;
        };
        let grantee = grantee.trim_matches('"');
        if grantee == owner {
            continue;
        }
        let privs = rest.split('/').next().unwrap_or_default();
        let what: Vec<&str> = [('C', "CREATE"), ('c', "CONNECT"), ('T', "TEMPORARY")]
            .iter()
            .filter(|(c, _)| privs.contains(*c))
            .map(|(_, w)| *w)
            .collect();
        if what.is_empty() {
            continue;
        }
        let to = if grantee.is_empty() {
            "PUBLIC".to_string()
        } else {
            ident(grantee)
        };
        out.push(format!(
            "GRANT {} ON DATABASE {} TO {to}",
            what.join(", "),
            ident(db)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_grants_follow_blue_s_acl_without_the_owner() {
        let grants = database_grants("{=Tc/app,app=CTc/app,reader=c/app}", "app", "otherdb");
        assert_eq!(
            grants,
            vec![
                "REVOKE ALL ON DATABASE \"otherdb\" FROM PUBLIC",
                "GRANT CONNECT, TEMPORARY ON DATABASE \"otherdb\" TO PUBLIC",
                "GRANT CONNECT ON DATABASE \"otherdb\" TO \"reader\"",
            ]
        );
        assert!(database_grants("", "app", "otherdb").is_empty());
    }
}
