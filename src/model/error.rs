//! Refusals: every rule violation names its rule and the services involved (P10).

use serde::{Deserialize, Serialize};

/// Why a command was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleError {
    /// A rule of SPEC.md forbids it.
    #[error("refused by {rule}: {message}")]
    Refused {
        /// The rule's id (P4, V2, U1 …).
        rule: String,
        /// What was wrong and what to do instead.
        message: String,
    },
    /// Something named does not exist.
    #[error("{message}")]
    NotFound {
        /// What was not found and how to list what exists.
        message: String,
    },
    /// It conflicts with what exists (a name already taken).
    #[error("{message}")]
    Conflict {
        /// What conflicts.
        message: String,
    },
}

impl RuleError {
    /// A refusal by `rule`.
    pub fn rule(rule: &str, message: impl Into<String>) -> Self {
        RuleError::Refused {
            rule: rule.to_string(),
            message: message.into(),
        }
    }

    /// Something named was not found.
    pub fn not_found(message: impl Into<String>) -> Self {
        RuleError::NotFound {
            message: message.into(),
        }
    }

    /// A conflict with what exists.
    pub fn conflict(message: impl Into<String>) -> Self {
        RuleError::Conflict {
            message: message.into(),
        }
    }

    /// The rule id, when a rule refused.
    #[must_use]
    pub fn rule_id(&self) -> Option<&str> {
        match self {
            RuleError::Refused { rule, .. } => Some(rule),
            _ => None,
        }
    }
}
