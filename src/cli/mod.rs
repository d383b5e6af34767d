//! The command line: the source CLI's commands, human tables, `--json` for scripts.

pub mod args;
pub mod commands;
pub mod output;
pub mod pg;
pub mod render;
pub mod render_runs;
pub mod runs;
pub mod table;

pub use args::{Cli, Cmd};
pub use commands::{run, run_on};
pub use output::CliError;
