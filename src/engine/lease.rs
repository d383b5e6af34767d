//! Whether a long-lived process (`lockstep serve`) holds a lockstep database: it locks a file
//! beside it (`DB.serve.lock`) for as long as it lives, and the operating system lets the lock
//! go when the process dies, however it dies. A command on the database can then say that
//! nothing drives its runs or holds their endpoints (B9: after a crash).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// The lock file of the database at `db`.
#[must_use]
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".serve.lock");
    PathBuf::from(name)
}

fn open(db: &Path) -> Result<File, String> {
    let path = path_for(db);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

/// Takes the lease of the database at `db` for this process (keep the file open as long as
/// the process serves); refused while another process holds it.
pub fn take(db: &Path) -> Result<File, String> {
    let file = open(db)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(format!(
            "another `lockstep serve` already serves {}: stop it first, or give another --db",
            db.display()
        )),
        Err(TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path_for(db).display())),
    }
}

/// Whether a live process holds the lease of the database at `db`; `None` when it cannot
/// be told.
#[must_use]
pub fn held(db: &Path) -> Option<bool> {
    let file = open(db).ok()?;
    match file.try_lock() {
        Ok(()) => Some(false),
        Err(TryLockError::WouldBlock) => Some(true),
        Err(TryLockError::Error(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_at_a_time_holds_a_database_and_its_end_frees_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("lockstep.db");
        assert_eq!(held(&db), Some(false));
        let lease = take(&db).expect("the first takes it");
        assert_eq!(held(&db), Some(true));
        let second = take(&db).expect_err("the second is refused");
        assert!(second.contains("already serves"), "{second}");
        drop(lease);
        assert_eq!(held(&db), Some(false));
    }
}
