//! B1's inventory on real servers (B13): what logical replication does not carry by itself —
//! other databases of blue's cluster, roles, owners, privileges, large objects, unlogged
//! tables, materialized views, extensions, event triggers, foreign tables — and what the run
//! does with each.

use super::databases::Pair;
use super::session::{self, Session, literal};
use crate::model::run::{Inventory, ItemKind, Treatment};

/// Where every user object lives (not the system schemas).
const USER_SCHEMA: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
                           AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'";

/// Takes the inventory of blue's cluster (every database of `pairs`, the registered one
/// first), checking extensions against what green's server offers.
pub async fn take(pairs: &[Pair], green: &Session) -> Result<Inventory, String> {
    let mut inv = Inventory::default();
    let Some(main) = pairs.first() else {
        return Ok(inv);
    };
    let blue = session::connect(&main.blue, "blue").await?;
    for pair in pairs.iter().filter(|p| !p.main) {
        inv.push(
            ItemKind::Database,
            pair.db.clone(),
            Treatment::Carry,
            "created on green with its owner, encoding and grants, and replicated like the \
             registered one (the endpoint serves every database and flips them together)",
        );
    }
    roles(&blue, &mut inv).await?;
    for pair in pairs {
        let blue = session::connect(&pair.blue, "blue").await?;
        let mut found = Inventory::default();
        owners_and_privileges(&blue, &mut found).await?;
        large_objects(&blue, &mut found).await?;
        relations(&blue, &mut found).await?;
        extensions(&blue, green, &mut found).await?;
        let triggers = names(
            &blue,
            "SELECT evtname::text FROM pg_event_trigger WHERE evtname NOT LIKE 'lockstep%' ORDER BY 1",
        )
        .await?;
        for name in triggers {
            found.push(
                ItemKind::EventTrigger,
                name,
                Treatment::Carry,
                "copied with the schema in B2",
            );
        }
        for mut item in found.items {
            item.name = pair.label(&item.name);
            inv.items.push(item);
        }
    }
    Ok(inv)
}

async fn names(side: &Session, sql: &str) -> Result<Vec<String>, String> {
    Ok(side.rows(sql).await?.iter().map(|r| r.get(0)).collect())
}

async fn number(side: &Session, sql: &str) -> Result<i64, String> {
    let rows = side.rows(sql).await?;
    rows.first()
        .and_then(|r| r.try_get::<_, i64>(0).ok())
        .ok_or_else(|| format!("{} answered no number", side.side))
}

async fn roles(blue: &Session, inv: &mut Inventory) -> Result<(), String> {
    let count = number(
        blue,
        "SELECT count(*) FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> current_user",
    )
    .await?;
    if count == 0 {
        return Ok(());
    }
    let members = number(blue, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname !~ '^pg_'").await?;
    let superuser = blue
        .text("SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user")
        .await?;
    let plural = |n: i64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    let name = format!(
        "{}, {}",
        plural(count, "role"),
        plural(members, "membership")
    );
    if superuser == "true" {
        inv.push(
            ItemKind::Roles,
            name,
            Treatment::Carry,
            "copied to green in B2 with their password verifiers, memberships and settings",
        );
    } else {
        inv.push(
            ItemKind::Roles,
            name,
            Treatment::Refuse,
            "blue's user cannot read password verifiers (pg_authid): register blue with a \
             superuser, or clients could not log in to green after the switchover",
        );
    }
    Ok(())
}

async fn owners_and_privileges(blue: &Session, inv: &mut Inventory) -> Result<(), String> {
    let owners = names(
        blue,
        &format!(
            "SELECT DISTINCT pg_get_userbyid(c.relowner)::text FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {USER_SCHEMA}
             UNION SELECT pg_get_userbyid(n.nspowner)::text FROM pg_namespace n
             WHERE {USER_SCHEMA} AND n.nspname <> 'public' ORDER BY 1"
        ),
    )
    .await?;
    if !owners.is_empty() {
        inv.push(
            ItemKind::Owners,
            owners.join(", "),
            Treatment::Carry,
            "kept on green by the schema copy (roles first)",
        );
    }
    let grants = number(
        blue,
        &format!(
            "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE c.relacl IS NOT NULL AND {USER_SCHEMA})
                  + (SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE a.attacl IS NOT NULL AND {USER_SCHEMA})
                  + (SELECT count(*) FROM pg_namespace n WHERE n.nspacl IS NOT NULL AND {USER_SCHEMA})"
        ),
    )
    .await?;
    let defaults = number(blue, "SELECT count(*) FROM pg_default_acl").await?;
    if grants + defaults > 0 {
        inv.push(
            ItemKind::Privileges,
            format!("{grants} objects with grants, {defaults} default privileges"),
            Treatment::Carry,
            "kept on green by the schema copy",
        );
    }
    Ok(())
}

async fn large_objects(blue: &Session, inv: &mut Inventory) -> Result<(), String> {
    let count = number(blue, "SELECT count(*) FROM pg_largeobject_metadata").await?;
    if count == 0 {
        return Ok(());
    }
    let bytes = number(
        blue,
        "SELECT COALESCE(sum(octet_length(data)), 0) FROM pg_largeobject",
    )
    .await
    .unwrap_or(0);
    inv.push(
        ItemKind::LargeObjects,
        format!(
            "{count} large objects, {}",
            crate::model::run::format_bytes(u64::try_from(bytes).unwrap_or(0))
        ),
        Treatment::Carry,
        "copied to green in B3; what changed since is copied while clients are parked (B5's \
         log says how long it took)",
    );
    Ok(())
}

async fn relations(blue: &Session, inv: &mut Inventory) -> Result<(), String> {
    let rows = blue
        .rows(&format!(
            "SELECT c.relkind::text, c.relpersistence::text, format('%s.%s', n.nspname, c.relname),
                    COALESCE(m.ispopulated, true)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_matviews m ON m.schemaname = n.nspname AND m.matviewname = c.relname
             WHERE {USER_SCHEMA} AND (c.relkind IN ('m', 'f')
                   OR (c.relkind IN ('r', 'p') AND c.relpersistence = 'u'))
             ORDER BY 3"
        ))
        .await?;
    for row in rows {
        let (kind, name, populated): (String, String, bool) = (row.get(0), row.get(2), row.get(3));
        match kind.as_str() {
            "m" => inv.push(
                ItemKind::MaterializedView,
                name,
                Treatment::Carry,
                if populated {
                    "refreshed on green in B3 and again before the switchover"
                } else {
                    "not populated on blue: left unpopulated on green too"
                },
            ),
            "f" => inv.push(
                ItemKind::ForeignTable,
                name,
                Treatment::Carry,
                "definition copied with the schema; its rows stay on the foreign server",
            ),
            _ => inv.push(
                ItemKind::UnloggedTable,
                name,
                Treatment::Choose,
                "unlogged: logical replication cannot follow it",
            ),
        }
    }
    Ok(())
}

async fn extensions(blue: &Session, green: &Session, inv: &mut Inventory) -> Result<(), String> {
    let installed = names(
        blue,
        "SELECT extname::text FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1",
    )
    .await?;
    for ext in installed {
        let available = green
            .text(&format!(
                "SELECT count(*)::text FROM pg_available_extensions WHERE name = {}",
                literal(&ext)
            ))
            .await?;
        if available == "0" {
            inv.push(
                ItemKind::Extension,
                ext,
                Treatment::Refuse,
                "not available on green's server: install it there first",
            );
        } else {
            inv.push(
                ItemKind::Extension,
                ext,
                Treatment::Carry,
                "created on green by the schema copy",
            );
        }
    }
    Ok(())
}

/// B1's refusal for the items the run cannot carry, naming them.
#[must_use]
pub fn refusal(inv: &Inventory) -> Option<String> {
    let refused: Vec<String> = inv
        .items
        .iter()
        .filter(|i| i.treatment == Treatment::Refuse)
        .map(|i| format!("{} {} ({})", i.kind.label(), i.name, i.plan))
        .collect();
    (!refused.is_empty()).then(|| {
        format!(
            "B1: the run cannot carry everything blue holds: {}",
            refused.join("; ")
        )
    })
}
