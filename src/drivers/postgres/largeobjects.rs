//! Large objects cross to green (B13): logical replication does not carry `pg_largeobject`, so
//! B3 copies every large object (same OID, owner and grants) and B5 copies what changed since
//! while writes on blue are fenced. Each side is compared by a digest of every object's
//! content, owner and grants; only the objects that differ are copied, created or removed.

use std::collections::BTreeMap;

use super::session::{Session, describe, ident};

/// Every large object with its owner, grants and content digest.
const DIGESTS: &str = "
SELECT m.oid::bigint, pg_get_userbyid(m.lomowner)::text, COALESCE(m.lomacl::text, ''),
       COALESCE((SELECT md5(string_agg(p.data, ''::bytea ORDER BY p.pageno))
                 FROM pg_largeobject p WHERE p.loid = m.oid), md5(''))
FROM pg_largeobject_metadata m ORDER BY 1";

/// What one sync did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Synced {
    /// Large objects on blue.
    pub on_blue: usize,
    /// Copied (new or changed).
    pub copied: usize,
    /// Removed from green (gone from blue).
    pub removed: usize,
    /// Bytes copied.
    pub bytes: u64,
}

impl std::fmt::Display for Synced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} large objects on blue: {} copied ({}), {} removed from green",
            self.on_blue,
            self.copied,
            crate::model::run::format_bytes(self.bytes),
            self.removed
        )
    }
}

type Digests = BTreeMap<i64, (String, String, String)>;

async fn digests(side: &Session) -> Result<Digests, String> {
    Ok(side
        .rows(DIGESTS)
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect())
}

/// Makes green's large objects equal blue's, in one transaction on green.
pub async fn sync(blue: &Session, green: &Session) -> Result<Synced, String> {
    let (on_blue, on_green) = (digests(blue).await?, digests(green).await?);
    let mut done = Synced {
        on_blue: on_blue.len(),
        ..Synced::default()
    };
    let changed: Vec<(&i64, &(String, String, String))> = on_blue
        .iter()
        .filter(|(oid, d)| on_green.get(oid) != Some(d))
        .collect();
    let gone: Vec<&i64> = on_green
        .keys()
        .filter(|oid| !on_blue.contains_key(oid))
        .collect();
    if changed.is_empty() && gone.is_empty() {
        return Ok(done);
    }
    let fail =
        |doing: &str, e: &tokio_postgres::Error| format!("large objects: {doing}: {}", describe(e));
    green
        .client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| fail("green", &e))?;
    let result = async {
        for oid in &gone {
            unlink(green, **oid).await?;
            done.removed += 1;
        }
        for (oid, (owner, acl, _)) in &changed {
            let row = blue
                .client
                .query_one("SELECT lo_get(($1::bigint)::oid)", &[*oid])
                .await
                .map_err(|e| fail(&format!("reading {oid} on blue"), &e))?;
            let data: Vec<u8> = row.get(0);
            if on_green.contains_key(oid) {
                unlink(green, **oid).await?;
            }
            green
                .client
                .execute(
                    "SELECT lo_from_bytea(($1::bigint)::oid, $2)",
                    &[*oid, &data],
                )
                .await
                .map_err(|e| fail(&format!("writing {oid} on green"), &e))?;
            let mut grants = format!("ALTER LARGE OBJECT {oid} OWNER TO {};", ident(owner));
            for grant in acl_grants(acl, owner) {
                grants.push_str(&format!("GRANT {grant};").replace("{oid}", &oid.to_string()));
            }
            green
                .client
                .batch_execute(&grants)
                .await
                .map_err(|e| fail(&format!("owner and grants of {oid} on green"), &e))?;
            done.copied += 1;
            done.bytes += data.len() as u64;
        }
        Ok::<_, String>(())
    }
    .await;
    match result {
        Ok(()) => {
            green
                .client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| fail("commit on green", &e))?;
            Ok(done)
        }
        Err(e) => {
            let _ = green.client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

async fn unlink(green: &Session, oid: i64) -> Result<(), String> {
    green
        .client
        .execute("SELECT lo_unlink(($1::bigint)::oid)", &[&oid])
        .await
        .map(|_| ())
        .map_err(|e| format!("large objects: removing {oid} on green: {}", describe(&e)))
}

/// `GRANT` clauses (with `{oid}` for the object) for an ACL such as
/// `{lockstep=rw/lockstep,=r/lockstep,app=r/lockstep}`, leaving out the owner's own entry.
fn acl_grants(acl: &str, owner: &str) -> Vec<String> {
    let items = acl.trim_start_matches('{').trim_end_matches('}');
    items
        .split(',')
        .filter(|i| !i.is_empty())
        .filter_map(|item| {
            let (grantee, rest) = item.split_once('=')?;
            let grantee = grantee.trim_matches('"').replace("\"\"", "\"");
            let privs = rest.split('/').next().unwrap_or_default();
            if grantee == owner {
                return None;
            }
            let mut what = Vec::new();
            if privs.contains('r') {
                what.push("SELECT");
            }
            if privs.contains('w') {
                what.push("UPDATE");
            }
            if what.is_empty() {
                return None;
            }
            let to = if grantee.is_empty() {
                "PUBLIC".to_string()
            } else {
                ident(&grantee)
            };
            Some(format!(
                "{} ON LARGE OBJECT {{oid}} TO {to}",
                what.join(", ")
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_come_from_the_acl_without_the_owner() {
        let grants = acl_grants(
            "{lockstep=rw/lockstep,=r/lockstep,app=rw/lockstep}",
            "lockstep",
        );
        assert_eq!(
            grants,
            vec![
                "SELECT ON LARGE OBJECT {oid} TO PUBLIC",
                "SELECT, UPDATE ON LARGE OBJECT {oid} TO \"app\""
            ]
        );
        assert!(acl_grants("", "lockstep").is_empty());
    }
}
