//! The run journal (`journal.sqlite` in the run directory): the run's identity and options, every
//! completed stage and per-table step with timings and row counts, and what the run created.
//! Resume reads it; `rekey clean` undoes what it lists.
//!
//! The journal is typed: a stage's or step's state is a `StageStatus`, and every value of the
//! `run` table has its own method (the keys are this module's alone). A command reads what an
//! earlier run left once, at its start, as a `PreviousRun`. The file's format is unchanged: the
//! same tables, keys and status words, so a run journaled by an earlier rekey still resumes.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Place, Result};
use crate::options::ConversionOptions;
use crate::stage::Stage;

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
CREATE TABLE IF NOT EXISTS touched (
    tbl TEXT NOT NULL, key TEXT NOT NULL, verified INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tbl, key)) WITHOUT ROWID;
";

pub struct Journal {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
}

/// Where a stage or a step stands in the journal: the words of its `status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    /// A step planned (its stage began), not started yet.
    Pending,
    Running,
    Done,
    /// Ended with an error.
    Failed,
    /// Stopped by Ctrl-C at a safe point.
    Interrupted,
}

impl StageStatus {
    pub const ALL: [StageStatus; 5] = [
        StageStatus::Pending,
        StageStatus::Running,
        StageStatus::Done,
        StageStatus::Failed,
        StageStatus::Interrupted,
    ];

    /// The word the journal stores.
    pub const fn as_str(self) -> &'static str {
        match self {
            StageStatus::Pending => "pending",
            StageStatus::Running => "running",
            StageStatus::Done => "done",
            StageStatus::Failed => "failed",
            StageStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(word: &str) -> Option<StageStatus> {
        StageStatus::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// Failed or interrupted: the stage ended without finishing.
    pub fn ended_badly(self) -> bool {
        matches!(self, StageStatus::Failed | StageStatus::Interrupted)
    }
}

impl std::fmt::Display for StageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl ToSql for StageStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for StageStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let word = value.as_str()?;
        StageStatus::parse(word).ok_or_else(|| {
            FromSqlError::Other(format!("the journal holds an unknown status {word:?}").into())
        })
    }
}

/// How DB_DATA's tables were built, decided once when clone builds them (`data-shape`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataShape {
    /// SOURCE's full converted copy: the load reads DB_DATA.
    Source,
    /// The converted definitions without rows: the load writes each row once, from SOURCE.
    Definitions,
    /// DB_FINAL's definitions, the tables moved into DB_FINAL (`--load-path move`).
    Final,
}

impl DataShape {
    pub const fn as_str(self) -> &'static str {
        match self {
            DataShape::Source => "source",
            DataShape::Definitions => "definitions",
            DataShape::Final => "final",
        }
    }

    pub fn parse(word: &str) -> Option<DataShape> {
        [DataShape::Source, DataShape::Definitions, DataShape::Final]
            .into_iter()
            .find(|s| s.as_str() == word)
    }
}

/// What a run recorded beside its stages and steps (the `artifact` table's `kind`): what it
/// created or set aside, and what a later stage or command needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Artifact {
    /// A database the run created (`data`, `final`): `rekey clean` drops it.
    Database,
    /// An existing empty database the run took over.
    Adopted,
    /// A derived DB_FINAL given to the application after a verified run: clean keeps it.
    HandedOver,
    /// A trigger of DB_FINAL set aside during the load, with the statements that restore it.
    Trigger,
    /// A table's secondary indexes set aside in DB_FINAL, with the statements that rebuild them.
    Indexes,
    /// Where a chunked write of a table got to (`<stage>:<table>`).
    Chunk,
    /// The table whose name a converted table's derived keys use (empty: mapped keys).
    Keys,
    /// How a table's rows reach DB_FINAL: once, or twice and why.
    Route,
    /// A table moved into DB_FINAL (`--load-path move`).
    Move,
    /// A DB_DATA table clone made in its converted definition (`Dialect::converts_in_clone`).
    Converted,
    /// The load began writing DB_FINAL.
    LoadStarted,
    /// A table's verification result.
    Verify,
    /// A table checked by the load step that loaded it.
    VerifyInLoad,
    /// compare's differences.
    CompareDifferences,
    /// References whose orphans were stored as NULL (`--orphans null`).
    OrphansNulled,
    /// SOURCE's row counts and largest keys, as preflight read them.
    SourceSnapshot,
    /// A move's table as the transfer copied it: the plan it was copied by and SOURCE's digest
    /// by meaning then, which verify reads SOURCE against.
    Transferred,
}

impl Artifact {
    pub const ALL: [Artifact; 17] = [
        Artifact::Database,
        Artifact::Adopted,
        Artifact::HandedOver,
        Artifact::Trigger,
        Artifact::Indexes,
        Artifact::Chunk,
        Artifact::Keys,
        Artifact::Route,
        Artifact::Move,
        Artifact::Converted,
        Artifact::LoadStarted,
        Artifact::Verify,
        Artifact::VerifyInLoad,
        Artifact::CompareDifferences,
        Artifact::OrphansNulled,
        Artifact::SourceSnapshot,
        Artifact::Transferred,
    ];

    /// The word the journal stores.
    pub const fn as_str(self) -> &'static str {
        match self {
            Artifact::Database => "database",
            Artifact::Adopted => "adopted",
            Artifact::HandedOver => "handed-over",
            Artifact::Trigger => "trigger",
            Artifact::Indexes => "indexes",
            Artifact::Chunk => "chunk",
            Artifact::Keys => "keys",
            Artifact::Route => "route",
            Artifact::Move => "move",
            Artifact::Converted => "converted",
            Artifact::LoadStarted => "load-started",
            Artifact::Verify => "verify",
            Artifact::VerifyInLoad => "verify-in-load",
            Artifact::CompareDifferences => "compare-differences",
            Artifact::OrphansNulled => "orphans-nulled",
            Artifact::SourceSnapshot => "source-snapshot",
            Artifact::Transferred => "transferred",
        }
    }

    pub fn parse(word: &str) -> Option<Artifact> {
        Artifact::ALL.into_iter().find(|a| a.as_str() == word)
    }
}

/// A table of SOURCE as introspect recorded it, for `rekey status`'s ETA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceTable {
    pub table: String,
    #[serde(default)]
    pub rows: u64,
    #[serde(default = "converted_default")]
    pub converted: bool,
}

fn converted_default() -> bool {
    true
}

/// Where the run's keys come from, as the journal keeps it.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    /// The secret's stored text (`uuidgen::Secret::from_stored`).
    Secret(String),
    /// `--seed`, or a run journaled before secrets existed (no secret, maybe no seed: 0).
    Seed(u64),
}

/// The keys of the `run` table, named once.
mod key {
    pub const RUN_ID: &str = "run_id";
    pub const SECRET: &str = "secret";
    pub const SEED: &str = "seed";
    pub const BASE_MS: &str = "base_ms";
    pub const CONVERSION: &str = "conversion";
    pub const PLANNED_STAGES: &str = "planned_stages";
    pub const SOURCE_TABLES: &str = "source_tables";
    pub const DATA_SHAPE: &str = "data-shape";
    pub const STATUS: &str = "status";
    pub const APP_AUDIT: &str = "app-audit";
    pub const SNAPSHOT_POSITION: &str = "snapshot-position";
    pub const FOLLOW_PROGRESS: &str = "follow-progress";
    pub const CUTOVER: &str = "cutover";
    pub const FOLLOW_COUNTED: &str = "follow-counted";
    /// What the run's keys derive from: forgotten by `rekey clean`.
    pub const IDENTITY: [&str; 5] = [RUN_ID, SECRET, SEED, BASE_MS, CONVERSION];
}

/// The databases a run records, by their role; the journal keys are the role's `key`.
pub const ROLES: [&str; 3] = ["source", "data", "final"];

#[derive(Debug, Clone, Serialize)]
pub struct StageRecord {
    pub name: String,
    pub status: StageStatus,
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

/// Seconds since the Unix epoch: the clock of every time the journal records, and of what is
/// compared with them (status's elapsed times, the follower's lag, the cutover's freeze).
pub fn epoch_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn now() -> String {
    format!("{:.3}", epoch_seconds())
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

    fn get(&self, key: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.query_row("SELECT value FROM run WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        })
    }

    /// Stores `value` exactly: passwords are kept out of the journal by never passing them here
    /// (URLs are stored by `DbUrl::stored`), not by rewriting what is stored.
    fn set(&self, key: &str, value: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO run (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
        })
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM run WHERE key = ?1", [key])
                .map(|_| ())
        })
    }

    pub fn stage_done(&self, name: &str) -> Result<bool> {
        self.with(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM stage WHERE name = ?1 AND status = ?2",
                params![name, StageStatus::Done],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
        })
    }

    pub fn stage_started(&self, name: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO stage (name, status, started_at) VALUES (?1, ?3, ?2)
                 ON CONFLICT(name) DO UPDATE SET status = ?3, started_at = excluded.started_at",
                params![name, now(), StageStatus::Running],
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
                "UPDATE stage SET status = ?6, finished_at = ?2, seconds = ?3, rows = ?4, detail = ?5
                 WHERE name = ?1",
                params![name, now(), seconds, rows as i64, detail, StageStatus::Done],
            )
            .map(|_| ())
        })
    }

    /// A step is one table (or reference) of a stage; done steps are skipped on resume.
    pub fn step_done(&self, stage: &str, item: &str) -> Result<Option<u64>> {
        self.with(|c| {
            c.query_row(
                "SELECT rows FROM step WHERE stage = ?1 AND item = ?2 AND status = ?3",
                params![stage, item, StageStatus::Done],
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
                "INSERT INTO step (stage, item, status, rows, seconds, detail) VALUES (?1, ?2, ?6, ?3, ?4, ?5)
                 ON CONFLICT(stage, item) DO UPDATE SET status = ?6, rows = excluded.rows,
                   seconds = excluded.seconds, detail = excluded.detail",
                params![stage, item, rows as i64, seconds, detail, StageStatus::Done],
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

    /// The kinds of artifact recorded, each once (as stored: an earlier rekey's unknown kind too).
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
                "DELETE FROM step; DELETE FROM stage; DELETE FROM artifact; DELETE FROM run; DELETE FROM touched;",
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
                 WHERE stage = ?1 AND status = ?2 ORDER BY item",
            )?;
            let rows = st.query_map(params![stage, StageStatus::Done], |r| {
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
    pub fn add_artifact(&self, kind: Artifact, name: &str, detail: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO artifact (kind, name, detail) VALUES (?1, ?2, ?3)
                 ON CONFLICT(kind, name) DO UPDATE SET detail = excluded.detail",
                params![kind.as_str(), name, detail],
            )
            .map(|_| ())
        })
    }

    pub fn remove_artifact(&self, kind: Artifact, name: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM artifact WHERE kind = ?1 AND name = ?2",
                params![kind.as_str(), name],
            )
            .map(|_| ())
        })
    }

    /// The detail of one artifact, if it is recorded.
    pub fn artifact(&self, kind: Artifact, name: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.query_row(
                "SELECT COALESCE(detail, '') FROM artifact WHERE kind = ?1 AND name = ?2",
                params![kind.as_str(), name],
                |r| r.get(0),
            )
            .optional()
        })
    }

    pub fn artifacts(&self, kind: Artifact) -> Result<Vec<(String, String)>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT name, COALESCE(detail, '') FROM artifact WHERE kind = ?1 ORDER BY rowid",
            )?;
            let rows = st.query_map([kind.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }
}

/// The `run` table, one method per value.
impl Journal {
    pub fn run_id(&self) -> Result<Option<String>> {
        self.get(key::RUN_ID)
    }

    /// Records a new run's identity: its id, where its keys come from, the v7 timestamp base and
    /// its conversion options.
    pub fn set_run_identity(
        &self,
        run_id: &str,
        keys: &KeySource,
        base_ms: u64,
        conversion: &ConversionOptions,
    ) -> Result<()> {
        self.set(key::RUN_ID, run_id)?;
        match keys {
            KeySource::Seed(seed) => self.set(key::SEED, &seed.to_string())?,
            KeySource::Secret(text) => self.set(key::SECRET, text)?,
        }
        self.set(key::BASE_MS, &base_ms.to_string())?;
        self.set(
            key::CONVERSION,
            &serde_json::to_string(conversion).unwrap_or_default(),
        )
    }

    /// Forgets what the run's keys derive from, and marks the run directory cleaned.
    pub fn forget_run_identity(&self) -> Result<()> {
        for k in key::IDENTITY {
            self.remove(k)?;
        }
        self.set(key::STATUS, "cleaned")
    }

    /// The stages the running command has planned, for `rekey status` (names it does not know
    /// are left out).
    pub fn planned_stages(&self) -> Result<Vec<Stage>> {
        Ok(self
            .get(key::PLANNED_STAGES)?
            .map(|s| s.split(',').filter_map(Stage::parse).collect())
            .unwrap_or_default())
    }

    pub fn set_planned_stages(&self, stages: &[Stage]) -> Result<()> {
        let names: Vec<&str> = stages.iter().map(|s| s.name()).collect();
        self.set(key::PLANNED_STAGES, &names.join(","))
    }

    /// SOURCE's tables as introspect recorded them (none where it did not run, or the record
    /// cannot be read: only the ETA weighs them).
    pub fn source_tables(&self) -> Result<Vec<SourceTable>> {
        Ok(self
            .get(key::SOURCE_TABLES)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default())
    }

    pub fn set_source_tables(&self, tables: &[SourceTable]) -> Result<()> {
        self.set(
            key::SOURCE_TABLES,
            &serde_json::to_string(tables).unwrap_or_default(),
        )
    }

    /// DB_DATA's shape as recorded (an unknown word reads as none).
    pub fn data_shape(&self) -> Result<Option<DataShape>> {
        Ok(self
            .get(key::DATA_SHAPE)?
            .as_deref()
            .and_then(DataShape::parse))
    }

    pub fn set_data_shape(&self, shape: DataShape) -> Result<()> {
        self.set(key::DATA_SHAPE, shape.as_str())
    }

    /// The URL (without password) the run recorded for a database of `role` (`ROLES`).
    pub fn database_url(&self, role: &str) -> Result<Option<String>> {
        self.get(role)
    }

    /// The identity (JSON) the run recorded for the database of `role`.
    pub fn database_identity(&self, role: &str) -> Result<Option<String>> {
        self.get(&format!("identity.{role}"))
    }

    /// Records the database of `role`: its identity (JSON) and its URL without password.
    pub fn record_database(&self, role: &str, identity: &str, url: &str) -> Result<()> {
        self.set(&format!("identity.{role}"), identity)?;
        self.set(role, url)
    }

    /// Forgets the recorded databases' identities (their URLs stay, for the report).
    pub fn forget_databases(&self) -> Result<()> {
        for role in ROLES {
            self.remove(&format!("identity.{role}"))?;
        }
        Ok(())
    }

    /// The application audit's summary (`rekey run --app`), as JSON.
    pub fn app_audit(&self) -> Result<Option<serde_json::Value>> {
        Ok(self
            .get(key::APP_AUDIT)?
            .and_then(|t| serde_json::from_str(&t).ok()))
    }

    pub fn set_app_audit(&self, summary: &serde_json::Value) -> Result<()> {
        self.set(key::APP_AUDIT, &summary.to_string())
    }

    /// A live run's snapshot position (`Follow::snapshot_into`), where its follower starts.
    pub fn snapshot_position(&self) -> Result<Option<crate::backend::StreamPosition>> {
        Ok(self
            .get(key::SNAPSHOT_POSITION)?
            .map(crate::backend::StreamPosition))
    }

    pub fn set_snapshot_position(&self, position: &crate::backend::StreamPosition) -> Result<()> {
        self.set(key::SNAPSHOT_POSITION, &position.0)
    }

    /// Where a live run's follower stands (`rekey status` shows it while following).
    pub fn follow_progress(&self) -> Result<Option<FollowProgress>> {
        Ok(self
            .get(key::FOLLOW_PROGRESS)?
            .and_then(|t| serde_json::from_str(&t).ok()))
    }

    pub fn set_follow_progress(&self, progress: &FollowProgress) -> Result<()> {
        self.set(
            key::FOLLOW_PROGRESS,
            &serde_json::to_string(progress).unwrap_or_default(),
        )
    }

    /// What the cutover of a live run measured, once it ended.
    pub fn cutover(&self) -> Result<Option<CutoverRecord>> {
        Ok(self
            .get(key::CUTOVER)?
            .and_then(|t| serde_json::from_str(&t).ok()))
    }

    pub fn set_cutover(&self, record: &CutoverRecord) -> Result<()> {
        self.set(
            key::CUTOVER,
            &serde_json::to_string(record).unwrap_or_default(),
        )
    }

    /// Records SOURCE rows a follower changed in DB_FINAL (`table`, the row's SOURCE key as
    /// text), which the cutover verifies. A row recorded twice is one row; a row changed again
    /// after it was found equal is to be checked again.
    pub fn add_touched(&self, rows: &[(String, String)]) -> Result<()> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            {
                let mut st =
                    tx.prepare_cached("INSERT INTO touched (tbl, key) VALUES (?1, ?2) ON CONFLICT (tbl, key) DO UPDATE SET verified = 0")?;
                for (t, k) in rows {
                    st.execute(params![t, k])?;
                }
            }
            tx.commit()
        })
    }

    /// Rows found equal on SOURCE and in DB_FINAL since they were last changed.
    pub fn mark_verified(&self, table: &str, keys: &[String]) -> Result<()> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "UPDATE touched SET verified = 1 WHERE tbl = ?1 AND key = ?2",
                )?;
                for k in keys {
                    st.execute(params![table, k])?;
                }
            }
            tx.commit()
        })
    }

    /// The rows of `table` the follower changed and nobody has found equal since.
    pub fn touched(&self, table: &str) -> Result<Vec<String>> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT key FROM touched WHERE tbl = ?1 AND verified = 0 ORDER BY key")?;
            let rows = st.query_map([table], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Forgets what a live run's follower recorded (`rekey clean`).
    pub fn forget_follow(&self) -> Result<()> {
        for k in [
            key::SNAPSHOT_POSITION,
            key::FOLLOW_PROGRESS,
            key::CUTOVER,
            key::FOLLOW_COUNTED,
        ] {
            self.remove(k)?;
        }
        self.with(|c| c.execute_batch("DELETE FROM touched;"))
    }

    /// How many rows the follower changed, over all tables.
    pub fn touched_count(&self) -> Result<u64> {
        self.with(|c| c.query_row("SELECT COUNT(*) FROM touched", [], |r| r.get(0)))
    }

    /// The tables in which the follower changed rows.
    pub fn touched_tables(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT DISTINCT tbl FROM touched ORDER BY tbl")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Tables whose row counts were found equal on SOURCE and in DB_FINAL while following, when
    /// the follower had changed none of their rows.
    pub fn counted_while_following(&self) -> Result<Vec<String>> {
        Ok(self
            .get(key::FOLLOW_COUNTED)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default())
    }

    pub fn set_counted_while_following(&self, tables: &[String]) -> Result<()> {
        self.set(
            key::FOLLOW_COUNTED,
            &serde_json::to_string(tables).unwrap_or_default(),
        )
    }
}

/// Where a live run's follower stands, as the journal keeps it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FollowProgress {
    /// The stream position of the last transaction committed in DB_FINAL.
    pub applied: String,
    pub transactions: u64,
    pub changes: u64,
    /// Seconds since the epoch when the follower last wrote this record.
    pub at: f64,
    /// How long SOURCE's last applied transaction took to reach DB_FINAL, in seconds.
    pub lag_seconds: Option<f64>,
    /// How far the follower is behind SOURCE's head, in the engine's unit (bytes of binlog or
    /// WAL), when the engine can tell.
    pub behind: Option<u64>,
    /// The lag over time: (seconds since the epoch, lag seconds), one point per few seconds.
    #[serde(default)]
    pub timeline: Vec<(f64, f64)>,
    /// Seconds the follower spent applying (not waiting for SOURCE): changes / busy is the
    /// apply rate.
    #[serde(default)]
    pub busy_seconds: f64,
}

/// What `rekey cutover` measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CutoverRecord {
    /// Seconds from the start of `rekey cutover` to a verified DB_FINAL: the write freeze.
    pub freeze_seconds: f64,
    /// Transactions applied during the cutover's drain.
    pub drained: u64,
    /// Rows the follower changed, verified one by one.
    pub verified_rows: u64,
    /// Where the freeze went: (what, seconds), in order.
    #[serde(default)]
    pub phases: Vec<(String, f64)>,
}

/// What the run directory's journal says of the run before this command, read once at its
/// start: the run's identity, its stages, how DB_DATA was built and what it recorded. A command
/// decides from it whether it continues a run, refuses, or starts afresh.
#[derive(Debug, Clone, Default)]
pub struct PreviousRun {
    /// The run's conversion options; `None` where no run is recorded (then nothing else is).
    pub conversion: Option<ConversionOptions>,
    pub run_id: Option<String>,
    pub keys: Option<KeySource>,
    pub base_ms: u64,
    /// Every stage recorded, in the order they started.
    pub stages: Vec<StageRecord>,
    pub data_shape: Option<DataShape>,
    pub artifact_kinds: Vec<String>,
    /// The URLs recorded per role (`ROLES`).
    pub urls: Vec<(&'static str, String)>,
}

impl PreviousRun {
    pub fn read(journal: &Journal) -> Result<PreviousRun> {
        let conversion = journal
            .get(key::CONVERSION)?
            .and_then(|s| serde_json::from_str(&s).ok());
        let keys = match journal.get(key::SECRET)? {
            Some(text) => Some(KeySource::Secret(text)),
            // A run journaled before secrets existed has its seed only, and keeps its keys.
            None if conversion.is_some() => Some(KeySource::Seed(
                journal
                    .get(key::SEED)?
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
            )),
            None => None,
        };
        let mut urls = Vec::new();
        for role in ROLES {
            if let Some(url) = journal.database_url(role)? {
                urls.push((role, url));
            }
        }
        Ok(PreviousRun {
            conversion,
            run_id: journal.run_id()?,
            keys,
            base_ms: journal
                .get(key::BASE_MS)?
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            stages: journal.stages()?,
            data_shape: journal.data_shape()?,
            artifact_kinds: journal.artifact_kinds()?,
            urls,
        })
    }

    /// Whether the run got to `stage` (whatever came of it).
    pub fn started(&self, stage: Stage) -> bool {
        self.stages.iter().any(|r| r.name == stage.name())
    }

    pub fn done(&self, stage: Stage) -> bool {
        self.stages
            .iter()
            .any(|r| r.name == stage.name() && r.status == StageStatus::Done)
    }

    /// The URL the run recorded for the database of `role`.
    pub fn url(&self, role: &str) -> Option<&str> {
        self.urls
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, u)| u.as_str())
    }

    /// Whether the run stopped before its first write: only the stages that read (introspect,
    /// preflight) were journaled, and no database or chunk was recorded. Orphan lists preflight
    /// wrote into the run directory are rewritten by the next run.
    pub fn wrote_nothing(&self) -> bool {
        !self.stages.is_empty()
            && self
                .stages
                .iter()
                .all(|s| s.name == Stage::Introspect.name() || s.name == Stage::Preflight.name())
            && self
                .artifact_kinds
                .iter()
                .all(|k| k == Artifact::OrphansNulled.as_str())
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
    pub status: StageStatus,
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
    pub status: StageStatus,
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
                    "INSERT INTO step (stage, item, status, expected) VALUES (?1, ?2, ?4, ?3)
                     ON CONFLICT(stage, item) DO NOTHING",
                )?;
                for (item, expected) in items {
                    st.execute(params![
                        stage,
                        item,
                        expected.map(|n| n as i64),
                        StageStatus::Pending
                    ])?;
                }
            }
            tx.commit()
        })
    }

    /// A step begins on `worker` (0-based), for the timeline and `rekey status`.
    pub fn step_started(&self, stage: &str, item: &str, worker: usize) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO step (stage, item, status, started_at, worker) VALUES (?1, ?2, ?5, ?3, ?4)
                 ON CONFLICT(stage, item) DO UPDATE SET status = ?5, started_at = excluded.started_at,
                   worker = excluded.worker, detail = NULL",
                params![stage, item, now_secs(), worker as i64, StageStatus::Running],
            )
            .map(|_| ())
        })
    }

    pub fn step_failed(&self, stage: &str, item: &str, seconds: f64, error: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE step SET status = ?5, seconds = ?3, detail = ?4 WHERE stage = ?1 AND item = ?2",
                params![stage, item, seconds, error, StageStatus::Failed],
            )
            .map(|_| ())
        })
    }

    /// A stage that ended with an error: `status` is `Failed`, or `Interrupted` for Ctrl-C.
    pub fn stage_failed(
        &self,
        name: &str,
        status: StageStatus,
        seconds: f64,
        error: &str,
    ) -> Result<()> {
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
mod follow_tests {
    use super::*;

    #[test]
    fn touched_rows_are_a_set_and_clean_forgets_the_follow() {
        let j = Journal::in_memory().unwrap();
        let row = |t: &str, k: &str| (t.to_string(), k.to_string());
        j.add_touched(&[
            row("a", "[\"1\"]"),
            row("a", "[\"2\"]"),
            row("b", "[\"1\"]"),
        ])
        .unwrap();
        // A transaction applied again after a kill records its rows again: still one each.
        j.add_touched(&[row("a", "[\"1\"]")]).unwrap();
        assert_eq!(j.touched("a").unwrap(), vec!["[\"1\"]", "[\"2\"]"]);
        assert_eq!(j.touched_count().unwrap(), 3);
        // Found equal while following: the cutover leaves it, until it changes again.
        j.mark_verified("a", &["[\"1\"]".to_string()]).unwrap();
        assert_eq!(j.touched("a").unwrap(), vec!["[\"2\"]"]);
        j.add_touched(&[row("a", "[\"1\"]")]).unwrap();
        assert_eq!(j.touched("a").unwrap(), vec!["[\"1\"]", "[\"2\"]"]);
        assert_eq!(j.touched_count().unwrap(), 3);
        j.set_snapshot_position(&crate::backend::StreamPosition("p".into()))
            .unwrap();
        j.forget_follow().unwrap();
        assert_eq!(j.touched_count().unwrap(), 0);
        assert_eq!(j.snapshot_position().unwrap(), None);
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
        j.add_artifact(Artifact::Trigger, "t", restore).unwrap();
        assert_eq!(j.artifacts(Artifact::Trigger).unwrap()[0].1, restore);
        j.set("note", "nc_pw").unwrap();
        assert_eq!(j.get("note").unwrap().as_deref(), Some("nc_pw"));
    }

    #[test]
    fn every_artifact_kind_round_trips() {
        for a in Artifact::ALL {
            assert_eq!(Artifact::parse(a.as_str()), Some(a));
        }
    }

    #[test]
    fn every_status_word_round_trips() {
        for s in StageStatus::ALL {
            assert_eq!(StageStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert_eq!(StageStatus::parse("waiting"), None);
    }

    /// A journal as an earlier rekey wrote it, byte for byte the same SQL: the typed reader must
    /// take it as it stands, or a run journaled before this version would not resume.
    #[test]
    fn a_journal_written_by_the_untyped_code_reads_as_the_same_run() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Connection::open(dir.path().join("journal.sqlite")).unwrap();
            c.execute_batch(SCHEMA).unwrap();
            // The old code stored the options as serde_json wrote them.
            let conversion = serde_json::to_string(&ConversionOptions {
                seed: Some(7),
                ..ConversionOptions::default()
            })
            .unwrap();
            c.execute("INSERT INTO run VALUES ('conversion', ?1)", [conversion])
                .unwrap();
            c.execute_batch(
                r#"INSERT INTO run VALUES ('run_id', 'abc123'), ('seed', '7'), ('base_ms', '1700'),
                     ('data-shape', 'definitions'), ('planned_stages', 'introspect,preflight,clone,nonsense'),
                     ('source_tables', '[{"table":"a","rows":5,"converted":true},{"table":"b"}]'),
                     ('data', 'mysql://root@h/d'), ('identity.data', '{}');
                   INSERT INTO stage (name, status, started_at, finished_at, seconds, rows)
                     VALUES ('introspect', 'done', '1.0', '2.0', 1.0, 2), ('clone', 'failed', '3.0', '4.0', 1.0, 0);
                   INSERT INTO step (stage, item, status, rows, seconds)
                     VALUES ('clone', 'a', 'done', 5, 0.1), ('clone', 'b', 'pending', NULL, NULL);
                   INSERT INTO artifact VALUES ('database', 'data', 'x');"#,
            )
            .unwrap();
        }
        let j = Journal::open(dir.path(), false).unwrap();
        let prev = PreviousRun::read(&j).unwrap();
        let conversion = prev.conversion.clone().expect("conversion options");
        assert_eq!(conversion.seed, Some(7));
        assert_eq!(prev.run_id.as_deref(), Some("abc123"));
        assert_eq!(prev.keys, Some(KeySource::Seed(7)));
        assert_eq!(prev.base_ms, 1700);
        assert_eq!(prev.data_shape, Some(DataShape::Definitions));
        assert!(prev.done(Stage::Introspect) && !prev.done(Stage::Clone));
        assert!(prev.started(Stage::Clone) && !prev.started(Stage::Shadow));
        assert!(!prev.wrote_nothing());
        assert_eq!(prev.url("data"), Some("mysql://root@h/d"));
        assert_eq!(
            j.planned_stages().unwrap(),
            [Stage::Introspect, Stage::Preflight, Stage::Clone]
        );
        let tables = j.source_tables().unwrap();
        assert_eq!((tables[0].rows, tables[1].rows), (5, 0));
        assert!(tables[1].converted);
        assert_eq!(j.step_done("clone", "a").unwrap(), Some(5));
        let spans = j.step_spans().unwrap();
        assert_eq!(spans[0].status, StageStatus::Done);
        assert_eq!(spans[1].status, StageStatus::Pending);
        // What the typed writers store is what the untyped code stored.
        j.set_planned_stages(&[Stage::Load, Stage::Verify]).unwrap();
        assert_eq!(
            j.get("planned_stages").unwrap().as_deref(),
            Some("load,verify")
        );
        j.stage_failed("clone", StageStatus::Interrupted, 1.0, "stop")
            .unwrap();
        let status: String = j
            .with(|c| {
                c.query_row("SELECT status FROM stage WHERE name = 'clone'", [], |r| {
                    r.get(0)
                })
            })
            .unwrap();
        assert_eq!(status, "interrupted");
    }

    #[test]
    fn a_run_that_only_read_wrote_nothing() {
        let j = Journal::in_memory().unwrap();
        assert!(!PreviousRun::read(&j).unwrap().wrote_nothing());
        j.stage_started("introspect").unwrap();
        j.stage_finished("introspect", 0.1, 0, None).unwrap();
        j.add_artifact(Artifact::OrphansNulled, "t.c", "").unwrap();
        assert!(PreviousRun::read(&j).unwrap().wrote_nothing());
        j.stage_started("clone").unwrap();
        assert!(!PreviousRun::read(&j).unwrap().wrote_nothing());
    }
}
