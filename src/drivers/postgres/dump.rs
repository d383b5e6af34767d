//! `pg_dump` and `pg_dumpall` of blue, run off the async threads with the password in
//! `PGPASSWORD` (never on the command line); what they print is the caller's to keep quiet
//! (a roles dump holds password verifiers).

use std::path::Path;

use super::dsn::Dsn;

/// Runs `tool` with `args` against `dsn`'s database and returns what it printed; `what` names
/// the dump in an error (`pg_dump of blue`).
pub async fn run(tool: &Path, args: &[&str], dsn: &Dsn, what: &str) -> Result<String, String> {
    let mut command = std::process::Command::new(tool);
    command
        .args(args)
        .arg("--dbname")
        .arg(dsn.without_password()?);
    if let Some(password) = dsn.password() {
        command.env("PGPASSWORD", password);
    }
    let name = tool.display().to_string();
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| format!("{name}: {e}"))?
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    if !out.status.success() {
        return Err(dsn.scrub(&format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
