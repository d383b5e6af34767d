//! What every command shares on its way out: its error (and so its exit code) and how it
//! prints, as JSON or as the reasons of what it did.

use serde::Serialize;

use crate::engine::{EngineError, Receipt};

use super::args::Cli;

/// Why a command failed, and so its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Refused or failed: exit 1.
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// Bad usage: exit 2.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// The process exit code.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Engine(_) => 1,
            CliError::Usage(_) => 2,
        }
    }
}

/// Prints a value as pretty JSON.
pub fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

/// Prints what a command did (its events' reasons and its notice), or the receipt as JSON.
pub fn report(cli: &Cli, r: &Receipt) {
    if cli.json {
        print_json(r);
        return;
    }
    for e in &r.events {
        println!("{}", e.reason);
    }
    if let Some(n) = &r.notice {
        if n.starts_with("warning") {
            eprintln!("{n}");
        } else {
            println!("{n}");
        }
    }
}
