//! B5 step 5: logical replication does not carry sequences, so before clients move to green
//! every sequence on green is set from blue. Run it after writes on blue are fenced, so no
//! value blue hands out afterwards can be handed out again by green.

use super::session::{Session, literal};

/// Sets every sequence on green to blue's `last_value` (sequences blue never used are left
/// unused on green). Returns one line per sequence set.
pub async fn sync_sequences(blue: &Session, green: &Session) -> Result<Vec<String>, String> {
    let rows = blue
        .rows(
            "SELECT format('%I.%I', schemaname, sequencename), last_value
             FROM pg_sequences
             WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
             ORDER BY 1",
        )
        .await?;
    let mut log = Vec::new();
    let mut statements = Vec::new();
    for row in &rows {
        let name: String = row.get(0);
        let last: Option<i64> = row.get(1);
        match last {
            Some(value) => {
                statements.push(format!("SELECT setval({}, {value}, true);", literal(&name)));
                log.push(format!("sequence {name} set to {value} on green"));
            }
            None => log.push(format!("sequence {name} never used on blue: left as is")),
        }
    }
    if !statements.is_empty() {
        green
            .execute(&format!("BEGIN;\n{}\nCOMMIT;", statements.join("\n")))
            .await?;
    }
    Ok(log)
}
