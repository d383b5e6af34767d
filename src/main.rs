//! The `lockstep` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use lockstep::cli::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    lockstep::app::main(cli)
}

/// Prints clap's complaint as one line, with where to look, and exits 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(2)
        }
        _ => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("bad usage").trim();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("error: {first} (see `lockstep --help`)");
            ExitCode::from(2)
        }
    }
}
