//! One run per run directory: an OS lock on `<run dir>/lock`, held for the whole process, so a
//! second process on the same directory is refused while the first lives (and a killed process
//! releases it with its death). The file holds the PID of the holder, for the refusal's message.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::error::{io_error, Error, Result};

pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock of `run_dir` (creating the directory), or says which process holds it.
    pub fn acquire(run_dir: &Path) -> Result<RunLock> {
        crate::run_files::create_private_dir(run_dir).map_err(|e| {
            Error::env(
                Default::default(),
                format!(
                    "the run directory {} cannot be created ({e}).",
                    run_dir.display()
                ),
                "Give a --run-dir on a disk this user can write to.",
            )
        })?;
        let path = run_dir.join("lock");
        let mut file = crate::run_files::open_private_file(&path).map_err(|e| {
            Error::env(
                Default::default(),
                format!(
                    "the run directory's lock file {} cannot be opened ({e}).",
                    path.display()
                ),
                "Give a --run-dir on a disk this user can write to.",
            )
        })?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)
                    .and_then(|_| file.rewind())
                    .and_then(|_| writeln!(file, "{}", std::process::id()))
                    .and_then(|_| file.flush())
                    .map_err(|e| io_error("write", &path, e))?;
                Ok(RunLock { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let pid = holder.trim();
                let who = if pid.is_empty() {
                    "another rekey process".to_string()
                } else {
                    format!("another rekey process (PID {pid})")
                };
                Err(Error::usage(
                    format!("{who} is working in the run directory {}.", run_dir.display()),
                    format!("Let it finish (`rekey status --run-dir {}` shows where it stands), or stop it{} and then run again with --resume; a run directory serves one run at a time.", run_dir.display(), if pid.is_empty() { String::new() } else { format!(" (kill {pid})") }),
                ))
            }
            Err(TryLockError::Error(e)) => Err(io_error("lock", &path, e)),
        }
    }
}

/// rekey's locks on the databases a command writes (DB_DATA, DB_FINAL), one per database on its
/// own server, held until dropped: the run directory's lock keeps one process per directory, these
/// one process per database, so a copied run directory or a second run directory cannot work on
/// a database while another process does (nor stop its statements on resume).
pub struct DatabaseLocks {
    held: std::sync::Mutex<Vec<Box<dyn crate::backend::ServerLock>>>,
}

impl DatabaseLocks {
    /// Takes the lock of every endpoint that is written, in role order, or says who holds one.
    pub fn acquire(endpoints: &[crate::guard::Endpoint]) -> Result<DatabaseLocks> {
        let mut held = Vec::new();
        for e in endpoints
            .iter()
            .filter(|e| e.role != crate::guard::Role::Source)
        {
            let key = format!("{}\0{}", e.identity.server, e.identity.database);
            if let Some(lock) = e.backend.hold_lock(&key, e.role.label())? {
                held.push(lock);
            }
        }
        Ok(DatabaseLocks {
            held: std::sync::Mutex::new(held),
        })
    }

    /// Fails (exit 3) when a lock's session was ended since it was taken: the stage about to
    /// start must not write while another process may.
    pub fn still_held(&self) -> Result<()> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        for lock in held.iter_mut() {
            lock.still_held()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let err = RunLock::acquire(dir.path()).err().unwrap();
        assert_eq!(err.exit_code(), 2);
        let text = err.to_string();
        assert!(
            text.contains(&format!("PID {}", std::process::id())),
            "{text}"
        );
        drop(first);
        RunLock::acquire(dir.path()).unwrap();
    }
}
