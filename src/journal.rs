//! The run journal (`journal.sqlite` in the run directory): the run's identity and options, every
//! completed stage and per-table step with timings and row counts, and what the run created.
//! Resume reads it; `rekey clean` undoes what it lists.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::error::{Error, Place, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS run (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stage (
    name TEXT PRIMARY KEY, status TEXT NOT NULL, started_at TEXT, finished_at TEXT,
    seconds REAL, rows INTEGER, detail TEXT);
CREATE TABLE IF NOT EXISTS step (
    stage TEXT NOT NULL, item TEXT NOT NULL, status TEXT NOT NULL, rows INTEGER,
    seconds REAL, detail TEXT, PRIMARY KEY (stage, item));
CREATE TABLE IF NOT EXISTS artifact (
    kind TEXT NOT NULL, name TEXT NOT NULL, detail TEXT, PRIMARY KEY (kind, name));
";

pub struct Journal {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageRecord {
    pub name: String,
    pub status: String,
    pub seconds: f64,
    pub rows: u64,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub stage: String,
    pub item: String,
    pub rows: u64,
    pub seconds: f64,
    pub detail: Option<String>,
}

fn journal_error(e: rusqlite::Error) -> Error {
    Error::env(
        Place::default(),
        format!("the run journal could not be written: {e}."),
        "Check that the run directory is on a writable disk with free space, then run again with --resume.",
    )
}

fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    format!("{secs:.3}")
}

impl Journal {
    /// Fails unless `run_dir` holds a run's journal (for --resume and clean, which continue or
    /// undo a run, and must not create a run directory where there was none).
    pub fn require(run_dir: &Path, resume: bool) -> Result<()> {
        if run_dir.join("journal.sqlite").exists() {
            return Ok(());
        }
        Err(if resume {
            Error::usage(
                format!(
                    "--resume was given but {} holds no run to resume.",
                    run_dir.display()
                ),
                "Give the --run-dir of the interrupted run, or drop --resume to start a new one.",
            )
        } else {
            Error::usage(
                format!("{} holds no run journal.", run_dir.display()),
                "Give the --run-dir of the run to undo.",
            )
        })
    }

    /// Opens (creating when asked) the journal of a run directory.
    pub fn open(run_dir: &Path, create: bool) -> Result<Journal> {
        let path = run_dir.join("journal.sqlite");
        if !create && !path.exists() {
            Self::require(run_dir, false)?;
        }
        crate::run_files::create_private_dir(run_dir)
            .map_err(|e| crate::error::io_error("create the run directory", run_dir, e))?;
        // Created private before SQLite opens it: it holds the run's key secret, and SQLite
        // gives its -wal and -shm files the database file's permissions.
        crate::run_files::open_private_file(&path)
            .map_err(|e| crate::error::io_error("create", &path, e))?;
        let conn = Connection::open(&path).map_err(journal_error)?;
        // WAL with NORMAL sync: a commit survives the process being killed (the case resume is
        // for) without two fsyncs per finished table; after a power loss the last steps may be
        // forgotten, and every step is safe to run again.
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .map_err(journal_error)?;
        conn.execute_batch(SCHEMA).map_err(journal_error)?;
        add_timeline_columns(&conn).map_err(journal_error)?;
        Ok(Journal {
            conn: Mutex::new(conn),
            path: Some(path),
        })
    }

    /// A journal that lives in memory only (dry runs write nothing).
    pub fn in_memory() -> Result<Journal> {
        let conn = Connection::open_in_memory().map_err(journal_error)?;
        conn.execute_batch(SCHEMA).map_err(journal_error)?;
        add_timeline_columns(&conn).map_err(journal_error)?;
        Ok(Journal {
            conn: Mutex::new(conn),
            path: None,
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.conn.lock().map_err(|_| {
            Error::env(
                Place::default(),
                "the run journal lock was poisoned by a failed thread.",
                "Run again with --resume.",
            )
        })?;
        f(&conn).map_err(journal_error)
    }

    pub fn get(&self, key: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.query_row("SELECT value FROM run WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        })
    }

    /// Stores `value` exactly: passwords are kept out of the journal by never passing them here
    /// (URLs are stored by `DbUrl::stored`), not by rewriting what is stored.
    pub fn set(&self, key: &str, value: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO run (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
        })
    }

    pub fn remove(&self, key: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM run WHERE key = ?1", [key])
                .map(|_| ())
        })
    }

    pub fn stage_done(&self, name: &str) -> Result<bool> {
        self.with(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM stage WHERE name = ?1 AND status = 'done'",
                [name],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
        })
    }

    pub fn stage_started(&self, name: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO stage (name, status, started_at) VALUES (?1, 'running', ?2)
                 ON CONFLICT(name) DO UPDATE SET status = 'running', started_at = excluded.started_at",
                params![name, now()],
            )
            .map(|_| ())
        })
    }

    pub fn stage_finished(
        &self,
        name: &str,
        seconds: f64,
        rows: u64,
        detail: Option<&str>,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE stage SET status = 'done', finished_at = ?2, seconds = ?3, rows = ?4, detail = ?5
                 WHERE name = ?1",
                params![name, now(), seconds, rows as i64, detail],
            )
            .map(|_| ())
        })
    }

    /// A step is one table (or reference) of a stage; done steps are skipped on resume.
    pub fn step_done(&self, stage: &str, item: &str) -> Result<Option<u64>> {
        self.with(|c| {
            c.query_row(
                "SELECT rows FROM step WHERE stage = ?1 AND item = ?2 AND status = 'done'",
                params![stage, item],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()
            .map(|o| o.map(|rows| rows.unwrap_or(0) as u64))
        })
    }

    pub fn step_finished(
        &self,
        stage: &str,
        item: &str,
        rows: u64,
        seconds: f64,
        detail: Option<&str>,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO step (stage, item, status, rows, seconds, detail) VALUES (?1, ?2, 'done', ?3, ?4, ?5)
                 ON CONFLICT(stage, item) DO UPDATE SET status = 'done', rows = excluded.rows,
                   seconds = excluded.seconds, detail = excluded.detail",
                params![stage, item, rows as i64, seconds, detail],
            )
            .map(|_| ())
        })
    }

    /// Forgets a stage and its steps, so it runs again in full.
    pub fn reset_stage(&self, stage: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM step WHERE stage = ?1", [stage])?;
            c.execute("DELETE FROM stage WHERE name = ?1", [stage])
                .map(|_| ())
        })
    }

    /// The kinds of artifact recorded, each once.
    pub fn artifact_kinds(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT DISTINCT kind FROM artifact")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Forgets everything of a run that wrote nothing, so the run directory serves a new one.
    pub fn forget_run(&self) -> Result<()> {
        self.with(|c| {
            c.execute_batch(
                "DELETE FROM step; DELETE FROM stage; DELETE FROM artifact; DELETE FROM run;",
            )
        })
    }

    pub fn stages(&self) -> Result<Vec<StageRecord>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT name, status, COALESCE(seconds, 0), COALESCE(rows, 0), detail FROM stage ORDER BY started_at",
            )?;
            let rows = st.query_map([], |r| {
                Ok(StageRecord {
                    name: r.get(0)?,
                    status: r.get(1)?,
                    seconds: r.get(2)?,
                    rows: r.get::<_, i64>(3)? as u64,
                    detail: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    pub fn steps(&self, stage: &str) -> Result<Vec<StepRecord>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT stage, item, COALESCE(rows, 0), COALESCE(seconds, 0), detail FROM step
                 WHERE stage = ?1 AND status = 'done' ORDER BY item",
            )?;
            let rows = st.query_map([stage], |r| {
                Ok(StepRecord {
                    stage: r.get(0)?,
                    item: r.get(1)?,
                    rows: r.get::<_, i64>(2)? as u64,
                    seconds: r.get(3)?,
                    detail: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Records something the run created or must put back (a database, a dropped trigger).
    pub fn add_artifact(&self, kind: &str, name: &str, detail: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO artifact (kind, name, detail) VALUES (?1, ?2, ?3)
                 ON CONFLICT(kind, name) DO UPDATE SET detail = excluded.detail",
                params![kind, name, detail],
            )
            .map(|_| ())
        })
    }

    pub fn remove_artifact(&self, kind: &str, name: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM artifact WHERE kind = ?1 AND name = ?2",
                params![kind, name],
            )
            .map(|_| ())
        })
    }

    pub fn artifacts(&self, kind: &str) -> Result<Vec<(String, String)>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT name, COALESCE(detail, '') FROM artifact WHERE kind = ?1 ORDER BY rowid",
            )?;
            let rows = st.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }
}

/// Columns that the timeline and `rekey status` need, added to journals of earlier versions too:
/// when each step started, on which worker, and how many rows it was expected to move.
fn add_timeline_columns(conn: &Connection) -> rusqlite::Result<()> {
    let existing = step_columns(conn)?;
    for (name, sql_type) in [
        ("started_at", "REAL"),
        ("worker", "INTEGER"),
        ("expected", "INTEGER"),
    ] {
        if !existing.iter().any(|c| c == name) {
            conn.execute_batch(&format!("ALTER TABLE step ADD COLUMN {name} {sql_type}"))?;
        }
    }
    Ok(())
}

fn step_columns(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut st = conn.prepare("SELECT name FROM pragma_table_info('step')")?;
    let names = st.query_map([], |r| r.get(0))?;
    names.collect()
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A stage as the timeline and `rekey status` see it: running, done, failed or interrupted.
/// Times are seconds since the Unix epoch.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageSpan {
    pub name: String,
    pub status: String,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub seconds: Option<f64>,
    pub rows: Option<u64>,
    /// What the stage did, or for a failed stage its error.
    pub detail: Option<String>,
}

/// A step (one table of a stage) as the timeline and `rekey status` see it: pending (planned,
/// not started), running, done or failed, with the worker that ran it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepSpan {
    pub stage: String,
    pub item: String,
    pub status: String,
    pub started_at: Option<f64>,
    pub seconds: Option<f64>,
    pub worker: Option<u32>,
    pub rows: Option<u64>,
    /// The rows SOURCE's catalog expected when the step was planned.
    pub expected: Option<u64>,
    pub detail: Option<String>,
}

impl Journal {
    /// Opens a run's journal for reading only (`rekey status`): never creates, never writes,
    /// never waits for the run directory's lock, so a live run is neither blocked nor changed.
    pub fn open_read_only(run_dir: &Path) -> Result<Journal> {
        let path = run_dir.join("journal.sqlite");
        if !path.exists() {
            return Err(Error::usage(
                format!("{} holds no run journal.", run_dir.display()),
                "Give the --run-dir of a run that has started (`rekey run ... --run-dir DIR`).",
            ));
        }
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| {
            Error::env(
                Place::default(),
                format!("the run journal {} cannot be read: {e}.", path.display()),
                "Check that this user may read the run directory.",
            )
        })?;
        // A writer holds the WAL's lock only for the instant of a commit.
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(journal_error)?;
        Ok(Journal {
            conn: Mutex::new(conn),
            path: Some(path),
        })
    }

    /// Records the items a stage is about to work on, so that `rekey status` can tell how many
    /// are left; items an earlier attempt recorded keep their state.
    pub fn steps_planned(&self, stage: &str, items: &[(String, Option<u64>)]) -> Result<()> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            {
                let mut st = tx.prepare(
                    "INSERT INTO step (stage, item, status, expected) VALUES (?1, ?2, 'pending', ?3)
                     ON CONFLICT(stage, item) DO NOTHING",
                )?;
                for (item, expected) in items {
                    st.execute(params![stage, item, expected.map(|n| n as i64)])?;
                }
            }
            tx.commit()
        })
    }

    /// A step begins on `worker` (0-based), for the timeline and `rekey status`.
    pub fn step_started(&self, stage: &str, item: &str, worker: usize) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO step (stage, item, status, started_at, worker) VALUES (?1, ?2, 'running', ?3, ?4)
                 ON CONFLICT(stage, item) DO UPDATE SET status = 'running', started_at = excluded.started_at,
                   worker = excluded.worker, detail = NULL",
                params![stage, item, now_secs(), worker as i64],
            )
            .map(|_| ())
        })
    }

    pub fn step_failed(&self, stage: &str, item: &str, seconds: f64, error: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE step SET status = 'failed', seconds = ?3, detail = ?4 WHERE stage = ?1 AND item = ?2",
                params![stage, item, seconds, error],
            )
            .map(|_| ())
        })
    }

    /// A stage that ended with an error: `status` is `failed`, or `interrupted` for Ctrl-C.
    pub fn stage_failed(&self, name: &str, status: &str, seconds: f64, error: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE stage SET status = ?2, finished_at = ?3, seconds = ?4, detail = ?5 WHERE name = ?1",
                params![name, status, now(), seconds, error],
            )
            .map(|_| ())
        })
    }

    /// Every stage recorded, whatever its state, in the order they started.
    pub fn stage_spans(&self) -> Result<Vec<StageSpan>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT name, status, CAST(started_at AS REAL), CAST(finished_at AS REAL), seconds, rows, detail
                 FROM stage ORDER BY CAST(started_at AS REAL)",
            )?;
            let rows = st.query_map([], |r| {
                Ok(StageSpan {
                    name: r.get(0)?,
                    status: r.get(1)?,
                    started_at: r.get(2)?,
                    finished_at: r.get(3)?,
                    seconds: r.get(4)?,
                    rows: r.get::<_, Option<i64>>(5)?.map(|n| n as u64),
                    detail: r.get(6)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Every step recorded, whatever its state, in the order they started (planned ones last).
    pub fn step_spans(&self) -> Result<Vec<StepSpan>> {
        self.with(|c| {
            // A journal written by an earlier rekey, opened read-only, has no timeline columns.
            let have = step_columns(c)?;
            let col = |name: &str| {
                if have.iter().any(|c| c == name) {
                    name.to_string()
                } else {
                    format!("NULL AS {name}")
                }
            };
            let mut st = c.prepare(&format!(
                "SELECT stage, item, status, {}, seconds, {}, rows, {}, detail FROM step
                 ORDER BY started_at IS NULL, started_at, stage, item",
                col("started_at"),
                col("worker"),
                col("expected")
            ))?;
            let rows = st.query_map([], |r| {
                Ok(StepSpan {
                    stage: r.get(0)?,
                    item: r.get(1)?,
                    status: r.get(2)?,
                    started_at: r.get(3)?,
                    seconds: r.get(4)?,
                    worker: r.get::<_, Option<i64>>(5)?.map(|n| n as u32),
                    rows: r.get::<_, Option<i64>>(6)?.map(|n| n as u64),
                    expected: r.get::<_, Option<i64>>(7)?.map(|n| n as u64),
                    detail: r.get(8)?,
                })
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_steps_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let j = Journal::open(dir.path(), true).unwrap();
            j.stage_started("clone").unwrap();
            j.step_finished("clone", "user", 50, 0.1, None).unwrap();
            assert!(!j.stage_done("clone").unwrap());
        }
        let j = Journal::open(dir.path(), false).unwrap();
        assert_eq!(j.step_done("clone", "user").unwrap(), Some(50));
        assert_eq!(j.step_done("clone", "tag").unwrap(), None);
        j.stage_finished("clone", 1.5, 50, None).unwrap();
        assert!(j.stage_done("clone").unwrap());
        assert_eq!(j.stages().unwrap()[0].rows, 50);
    }

    #[test]
    fn stored_text_comes_back_exactly_even_where_it_looks_like_a_password() {
        // A trigger whose definer's name is also the account's password must come back as it
        // was: redacting stored state broke its restore (ERROR 1227).
        crate::url::register_secret("nc_pw");
        let j = Journal::in_memory().unwrap();
        let restore =
            "CREATE DEFINER=`nc_pw`@`%` TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a = 1";
        j.add_artifact("trigger", "t", restore).unwrap();
        assert_eq!(j.artifacts("trigger").unwrap()[0].1, restore);
        j.set("note", "nc_pw").unwrap();
        assert_eq!(j.get("note").unwrap().as_deref(), Some("nc_pw"));
    }
}
