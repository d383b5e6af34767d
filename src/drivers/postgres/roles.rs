//! B2 on real servers: blue's roles cross to green before the schema (whose owners and grants
//! name them): `pg_dumpall --roles-only` of blue, with password verifiers, memberships and
//! role settings, applied to green statement by statement. A role green already has is
//! altered to match blue, except green's own login role (lockstep keeps its credentials).
//! The dump holds password verifiers: no statement of it is ever logged or put in an error.

use std::path::Path;

use super::dsn::Dsn;
use super::session::{Session, describe};

/// What crossed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Copied {
    /// Roles created on green.
    pub created: usize,
    /// Statements applied (roles altered, memberships granted, settings).
    pub applied: usize,
    /// Statements about green's own login role, left out.
    pub kept: usize,
}

/// Copies blue's roles to green with `pg_dumpall` (blue's own, or newer).
pub async fn copy(
    pg_dumpall: &Path,
    blue_dsn: &Dsn,
    green: &Session,
    green_user: &str,
    log: &mut Vec<String>,
) -> Result<Copied, String> {
    let args = ["--roles-only", "--no-comments"];
    let dump = super::dump::run(
        pg_dumpall,
        &args,
        blue_dsn,
        "pg_dumpall --roles-only of blue",
    )
    .await?;
    let existing: Vec<String> = green
        .rows("SELECT rolname::text FROM pg_roles")
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut copied = Copied::default();
    for statement in statements(&dump) {
        let Some(role) = subject(&statement) else {
            continue;
        };
        if role == green_user {
            copied.kept += 1;
            continue;
        }
        let create = statement.starts_with("CREATE ROLE ");
        if create && existing.contains(&role) {
            continue;
        }
        if let Err(e) = green.client.batch_execute(&statement).await {
            // The statement may hold a password verifier: name the role, never the text.
            return Err(format!(
                "copying role {role} to green failed: {}",
                describe(&e)
            ));
        }
        if create {
            copied.created += 1;
        } else {
            copied.applied += 1;
        }
    }
    log.push(format!(
        "roles copied from blue to green: {} created, {} statements applied (passwords, \
         memberships, settings); green's own login role {green_user} kept as it is",
        copied.created, copied.applied
    ));
    Ok(copied)
}

/// The dump's SQL statements (comments, `SET` and psql meta-commands left out).
fn statements(dump: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dump.lines() {
        if current.is_empty()
            && (line.is_empty()
                || line.starts_with("--")
                || line.starts_with('\\')
                || line.starts_with("SET "))
        {
            continue;
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
        if line.ends_with(';') {
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

/// The role a statement is about: `CREATE ROLE x`, `ALTER ROLE x …`, `GRANT a TO x …`.
fn subject(statement: &str) -> Option<String> {
    let rest = statement
        .strip_prefix("CREATE ROLE ")
        .or_else(|| statement.strip_prefix("ALTER ROLE "))
        .or_else(|| {
            statement
                .strip_prefix("GRANT ")
                .and_then(|s| s.split_once(" TO ").map(|(_, to)| to))
        })?;
    Some(first_name(rest))
}

/// The first (possibly quoted) identifier of `text`, unquoted.
fn first_name(text: &str) -> String {
    if let Some(quoted) = text.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = quoted.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    name.push('"');
                    chars.next();
                } else {
                    break;
                }
            } else {
                name.push(c);
            }
        }
        return name;
    }
    text.split(|c: char| c.is_whitespace() || c == ';')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_splits_into_statements_about_named_roles() {
        let dump = "--\n-- Roles\n--\nSET default_transaction_read_only = off;\n\n\
                    CREATE ROLE app_owner;\nALTER ROLE app_owner WITH LOGIN PASSWORD 'SCRAM-SHA-256$x';\n\
                    CREATE ROLE \"Odd \"\"Name\";\nGRANT app_owner TO \"Odd \"\"Name\" GRANTED BY lockstep;\n";
        let all = statements(dump);
        assert_eq!(all.len(), 4, "{all:?}");
        let roles: Vec<String> = all.iter().filter_map(|s| subject(s)).collect();
        assert_eq!(
            roles,
            vec!["app_owner", "app_owner", "Odd \"Name", "Odd \"Name"]
        );
    }
}
