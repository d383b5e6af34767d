//! B5 step 5: logical replication does not carry sequences, so before clients move to green
//! every sequence on green is set from blue. Run it after writes on blue are fenced, so no
//! value blue hands out afterwards can be handed out again by green. The endpoint's switchover
//! reads them with the marker ([`super::fence::mark`]) and sets them with the marker wait
//! ([`super::fence::await_marker_and_set`]); [`sync_sequences`] does both on its own (the
//! classic PgBouncer recipe).

use super::session::{Session, literal};

/// Sets every sequence on green to blue's `last_value` (sequences blue never used are left
/// unused on green). Returns one line per sequence set.
pub async fn sync_sequences(blue: &Session, green: &Session) -> Result<Vec<String>, String> {
    let rows = blue
        .rows(
            "SELECT format('%I.%I', schemaname, sequencename), last_value
             FROM pg_sequences
             WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
               AND sequencename NOT LIKE 'lockstep\\_%'
             ORDER BY 1",
        )
        .await?;
    let values: Vec<(String, Option<i64>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let statements: Vec<String> = setvals(&values)
        .map(|call| format!("SELECT {call};"))
        .collect();
    if !statements.is_empty() {
        green
            .execute(&format!("BEGIN;\n{}\nCOMMIT;", statements.join("\n")))
            .await?;
    }
    Ok(describe(&values))
}

/// `setval(…)` for every sequence blue used, to its value there (`is_called`, so green's next
/// value follows it), never below green's own: a step repeated after a crash, once clients
/// wrote on green, must not hand out their ids again (B9). A descending sequence is left as
/// green has it when green is already past blue.
pub fn setvals(sequences: &[(String, Option<i64>)]) -> impl Iterator<Item = String> + '_ {
    sequences.iter().filter_map(|(name, last)| {
        last.map(|value| {
            format!(
                "setval({name_lit}, CASE WHEN (SELECT increment_by FROM pg_sequences \
                 WHERE format('%I.%I', schemaname, sequencename) = {name_lit}) < 0 \
                 THEN LEAST({value}, (SELECT last_value FROM {name})) \
                 ELSE GREATEST({value}, (SELECT last_value FROM {name})) END, true)",
                name_lit = literal(name)
            )
        })
    })
}

/// One log line per sequence read from blue.
#[must_use]
pub fn describe(sequences: &[(String, Option<i64>)]) -> Vec<String> {
    sequences
        .iter()
        .map(|(name, value)| match value {
            Some(value) => format!("sequence {name} set to {value} on green"),
            None => format!("sequence {name} never used on blue: left as is"),
        })
        .collect()
}
