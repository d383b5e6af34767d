//! B1's inventory (B13): what logical replication does not carry by itself, and what the run
//! does with each: carry it, or refuse the switchover naming it until an operator records a
//! choice. Nothing is ever left behind without a recorded choice.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Guardrail;

/// A kind of thing logical replication does not carry by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// Another database of blue's cluster.
    Database,
    /// Roles, their password verifiers, memberships and settings.
    Roles,
    /// Owners of tables, schemas and other objects.
    Owners,
    /// Table, column and schema privileges, and default privileges.
    Privileges,
    /// Large objects (`pg_largeobject`).
    LargeObjects,
    /// An unlogged table (no WAL, so no logical replication).
    UnloggedTable,
    /// A materialized view (its rows are not replicated).
    MaterializedView,
    /// An extension.
    Extension,
    /// An event trigger.
    EventTrigger,
    /// A foreign table (its rows live on another server).
    ForeignTable,
    /// A table without a primary key or replica identity.
    TableWithoutKey,
}

impl ItemKind {
    /// The kind in words, as the board and `run get` show it.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            ItemKind::Database => "database",
            ItemKind::Roles => "roles",
            ItemKind::Owners => "owners",
            ItemKind::Privileges => "privileges",
            ItemKind::LargeObjects => "large objects",
            ItemKind::UnloggedTable => "unlogged table",
            ItemKind::MaterializedView => "materialized view",
            ItemKind::Extension => "extension",
            ItemKind::EventTrigger => "event trigger",
            ItemKind::ForeignTable => "foreign table",
            ItemKind::TableWithoutKey => "table without key",
        }
    }
}

/// What the run does with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Treatment {
    /// The run carries it to green.
    Carry,
    /// The switchover is refused naming it until an operator records a choice.
    Choose,
    /// The run cannot carry it: B1 refuses the run naming it.
    Refuse,
}

/// One line of the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryItem {
    /// What it is.
    pub kind: ItemKind,
    /// Its name (`public.sessions`, `otherdb`), or a count (`3 roles`).
    pub name: String,
    /// What the run does with it, in words.
    pub plan: String,
    /// Carried, awaiting a choice, or refused.
    pub treatment: Treatment,
}

/// B1's inventory of blue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Every item found, in the order B1 found them.
    pub items: Vec<InventoryItem>,
}

impl Inventory {
    /// Adds an item.
    pub fn push(
        &mut self,
        kind: ItemKind,
        name: impl Into<String>,
        treatment: Treatment,
        plan: impl Into<String>,
    ) {
        self.items.push(InventoryItem {
            kind,
            name: name.into(),
            plan: plan.into(),
            treatment,
        });
    }

    /// The names of the items of `kind`.
    #[must_use]
    pub fn names(&self, kind: ItemKind) -> Vec<&str> {
        self.items
            .iter()
            .filter(|i| i.kind == kind)
            .map(|i| i.name.as_str())
            .collect()
    }
}

/// A choice an operator can record for a run, and the kind of item it settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChoiceValue {
    /// Unlogged tables: copy their rows to green while clients are parked (adds downtime).
    Copy,
    /// Unlogged tables: green starts them empty.
    Empty,
}

impl ChoiceValue {
    /// Every choice.
    pub const ALL: [ChoiceValue; 2] = [ChoiceValue::Copy, ChoiceValue::Empty];

    /// The kind of item the choice settles.
    #[must_use]
    pub fn settles(self) -> ItemKind {
        match self {
            ChoiceValue::Copy | ChoiceValue::Empty => ItemKind::UnloggedTable,
        }
    }

    /// The choice's name on the command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ChoiceValue::Copy => "copy",
            ChoiceValue::Empty => "empty",
        }
    }

    /// What the run does, in words.
    #[must_use]
    pub fn plan(self) -> &'static str {
        match self {
            ChoiceValue::Copy => "rows copied to green while clients are parked",
            ChoiceValue::Empty => "green starts it empty (its rows on blue are left behind)",
        }
    }
}

impl fmt::Display for ChoiceValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChoiceValue {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ChoiceValue::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown choice '{s}' for unlogged tables: use copy (rows copied while \
                     clients are parked) or empty (green starts them empty)"
                )
            })
    }
}

/// A choice an operator recorded (with who and why: nothing is left behind unrecorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// What was chosen.
    pub value: ChoiceValue,
    /// Who chose.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, as they said it.
    pub comment: String,
}

/// The choice recorded for `kind`, if any (the newest wins).
#[must_use]
pub fn choice_for(choices: &[Choice], kind: ItemKind) -> Option<&Choice> {
    choices.iter().rev().find(|c| c.value.settles() == kind)
}

/// B13: the `parity` guardrail: red while an item awaits a choice, naming it.
#[must_use]
pub fn parity(inventory: Option<&Inventory>, choices: &[Choice], run_id: &str) -> Guardrail {
    let Some(inventory) = inventory else {
        return Guardrail {
            name: "parity".into(),
            ok: true,
            detail: "no inventory (simulated or before B1)".into(),
        };
    };
    let waiting: Vec<&InventoryItem> = inventory
        .items
        .iter()
        .filter(|i| i.treatment != Treatment::Carry && choice_for(choices, i.kind).is_none())
        .collect();
    match waiting.first() {
        None => Guardrail {
            name: "parity".into(),
            ok: true,
            detail: format!("parity: {} items carried", inventory.items.len()),
        },
        Some(first) => {
            let names: Vec<&str> = waiting
                .iter()
                .filter(|i| i.kind == first.kind)
                .map(|i| i.name.as_str())
                .collect();
            Guardrail {
                name: "parity".into(),
                ok: false,
                detail: format!(
                    "parity: {} ({}) would be lost: {}",
                    names.join(", "),
                    first.kind.label(),
                    choose_hint(first.kind, run_id)
                ),
            }
        }
    }
}

fn choose_hint(kind: ItemKind, run_id: &str) -> String {
    match kind {
        ItemKind::UnloggedTable => format!(
            "choose with `lockstep run choose {run_id} --unlogged copy|empty --comment \"why\"`"
        ),
        _ => "B1 refuses it".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_unlogged() -> Inventory {
        let mut inv = Inventory::default();
        inv.push(ItemKind::Roles, "3 roles", Treatment::Carry, "copied in B2");
        inv.push(
            ItemKind::UnloggedTable,
            "public.sessions",
            Treatment::Choose,
            "not replicated",
        );
        inv
    }

    #[test]
    fn b13_an_unlogged_table_keeps_parity_red_until_a_choice_names_it() {
        let inv = with_unlogged();
        let red = parity(Some(&inv), &[], "7f3a");
        assert!(!red.ok);
        assert!(red.detail.contains("public.sessions"), "{}", red.detail);
        assert!(
            red.detail.contains("--unlogged copy|empty"),
            "{}",
            red.detail
        );
        let chosen = Choice {
            value: ChoiceValue::Empty,
            by: "ops".into(),
            at: Utc::now(),
            comment: "sessions are rebuilt at login".into(),
        };
        assert!(parity(Some(&inv), &[chosen], "7f3a").ok);
    }

    #[test]
    fn b13_carried_items_alone_keep_parity_green() {
        let mut inv = Inventory::default();
        inv.push(
            ItemKind::LargeObjects,
            "8 large objects",
            Treatment::Carry,
            "copied",
        );
        assert!(parity(Some(&inv), &[], "7f3a").ok);
        assert!(parity(None, &[], "7f3a").ok);
    }

    #[test]
    fn a_choice_parses_or_says_what_to_use() {
        assert_eq!("copy".parse::<ChoiceValue>(), Ok(ChoiceValue::Copy));
        let e = "drop".parse::<ChoiceValue>().unwrap_err();
        assert!(e.contains("copy") && e.contains("empty"), "{e}");
    }
}
