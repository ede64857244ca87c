//! What the stages share: the run context (databases, options, journal, progress), the journaled
//! step runner that skips finished work on resume and runs tables in parallel, and the dry-run
//! executor; and beside it the services several stages use, so that no stage imports another:
//! SOURCE's catalog and plan read once (`source`), DB_DATA's shape and each table's route
//! (`data_shape`), the work columns' names (`names`), rekey's marker in the databases it creates
//! (`marker`), the map files and key sources (`keys`), triggers and indexes set aside in DB_FINAL
//! (`triggers`, `indexes`), how two schemas differ (`differences`), and the checks that preflight
//! and verify share (`bookkeeping`, `final_keys`, `reference_values`, `source_snapshot`).

pub mod bookkeeping;
pub mod data_shape;
pub mod differences;
pub mod digest;
pub mod final_db;
pub mod final_keys;
pub mod follow;
pub mod indexes;
pub mod keys;
pub mod live;
pub mod maps;
pub mod marker;
pub mod moved;
pub mod names;
pub mod reference_values;
pub mod source;
pub mod source_snapshot;
pub mod triggers;

pub use crate::stage::Stage;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::backend::{Backend, Session};
use crate::error::{Error, Place, Result};
use crate::journal::{Artifact, Journal, StageStatus};
use crate::model::Schema;
use crate::options::{ConversionOptions, RunOptions};
use crate::plan::Plan;
use crate::progress::{Glance, Progress};
use crate::url::redact;

/// What a stage did, for the journal and the report.
#[derive(Debug, Default)]
pub struct Outcome {
    pub rows: u64,
    pub detail: Option<String>,
}

/// Everything a stage may use. Built once per command; shared by parallel table jobs.
pub struct Context {
    /// What the stages read as SOURCE: SOURCE itself, or in a live run (`run --follow`) the
    /// snapshot copy of it that the snapshot stage made.
    pub source: Option<Arc<dyn Backend>>,
    /// A live run's SOURCE, which the application keeps writing to: only the snapshot, the
    /// follower and the cutover read it.
    pub live_source: Option<Arc<dyn Backend>>,
    /// SOURCE on another engine than DB_DATA: the transfer stage copies it into a database on
    /// DB_DATA's engine, which the other stages read as SOURCE (`source`).
    pub moved_from: Option<Arc<dyn Backend>>,
    pub data: Option<Arc<dyn Backend>>,
    pub final_db: Option<Arc<dyn Backend>>,
    pub conversion: ConversionOptions,
    pub run: RunOptions,
    pub journal: Journal,
    pub progress: Progress,
    pub out: Mutex<Box<dyn Write + Send>>,
    /// The secret the UUIDs come from, and the v7 timestamp base (both recorded in the journal).
    pub secret: crate::uuidgen::Secret,
    pub base_ms: u64,
    pub run_id: String,
    pub interrupted: Arc<AtomicBool>,
    /// SOURCE's catalog and the plan, set by introspect.
    pub source_schema: OnceLock<Arc<(Schema, Plan)>>,
    /// rekey's locks on the databases the command writes, checked before each stage.
    pub locks: Option<crate::run_lock::DatabaseLocks>,
    /// The overall progress line's figures, read from the journal (the command gives `rekey
    /// status`'s reading: the runner knows no view of the run).
    pub overall: Option<Overall>,
    /// The map files of tables with derived keys, written in the background from shadow on
    /// (`run::maps::maps_ready` waits for them where they are read).
    pub pending_maps: Mutex<Option<Background>>,
}

/// A thread a stage leaves writing files that later stages read (shadow's map files), with the
/// flag that asks it to stop when the command fails before it is done.
pub struct Background {
    pub handle: std::thread::JoinHandle<Result<u64>>,
    pub stop: Arc<AtomicBool>,
    /// The tables whose map files it writes: a later stage of the same process does not queue
    /// them again.
    pub tables: Vec<String>,
    /// Set once the thread has ended, however it ended: a reader of its files that cannot wait
    /// on the handle (`stages::verify::ahead`) knows a file it was to write and still missing
    /// will not come from it.
    pub finished: Arc<AtomicBool>,
}

/// Reads the overall progress line's figures from the journal.
pub type Overall = Box<dyn Fn(&Journal) -> Option<Glance> + Send + Sync>;

impl Context {
    /// How this run derives new keys named after `table` (a converted table, or the root a
    /// one-to-one table takes its keys from): the run's secret, time base and UUID version.
    pub fn derived_key(&self, table: String) -> crate::uuidgen::DerivedKey {
        crate::uuidgen::DerivedKey {
            secret: self.secret.clone(),
            base_ms: self.base_ms,
            table,
            version: self.conversion.uuid_version,
        }
    }

    pub fn source(&self) -> Result<&Arc<dyn Backend>> {
        self.source
            .as_ref()
            .ok_or_else(|| Error::usage("this command needs --source URL.", "Add --source."))
    }
    /// A live run's SOURCE (see `live_source`).
    pub fn live_source(&self) -> Result<&Arc<dyn Backend>> {
        self.live_source.as_ref().ok_or_else(|| {
            Error::usage(
                "this is not a live run: it has no SOURCE that the application keeps writing to.",
                "Start the live cutover with `rekey run --follow`.",
            )
        })
    }
    /// A move's SOURCE on the other engine (see `moved_from`).
    pub fn moved_from(&self) -> Result<&Arc<dyn Backend>> {
        self.moved_from.as_ref().ok_or_else(|| {
            Error::usage(
                "SOURCE is on the same engine as DB_DATA: there is nothing to move.",
                "Give SOURCE on another engine than DB_DATA and DB_FINAL to change engines.",
            )
        })
    }
    /// Whether the stages read a copy of SOURCE that rekey made (a live run's snapshot, a
    /// move's transfer), which carries the run's marker.
    pub fn reads_a_copy(&self) -> bool {
        self.live_source.is_some() || self.moved_from.is_some()
    }
    pub fn data(&self) -> Result<&Arc<dyn Backend>> {
        self.data
            .as_ref()
            .ok_or_else(|| Error::usage("this command needs --data URL.", "Add --data."))
    }
    pub fn final_db(&self) -> Result<&Arc<dyn Backend>> {
        self.final_db
            .as_ref()
            .ok_or_else(|| Error::usage("this command needs --final URL.", "Add --final."))
    }

    /// SOURCE's schema and plan (introspect must have run in this process).
    pub fn plan(&self) -> Result<Arc<(Schema, Plan)>> {
        self.source_schema.get().cloned().ok_or_else(|| {
            Error::env(
                Place::default(),
                "internal: a stage ran before introspect.",
                "Report this as a bug.",
            )
        })
    }

    /// Writes a line of the command's result (plan text, differences, dry-run SQL).
    pub fn say(&self, line: &str) {
        if let Ok(mut o) = self.out.lock() {
            let _ = writeln!(o, "{}", redact(line));
        }
    }

    /// Runs a write statement, or prints it in a dry run (where no session is opened).
    pub fn exec(&self, session: &mut Option<Box<dyn Session>>, sql: &str) -> Result<u64> {
        match session {
            Some(s) if !self.run.dry_run => s.execute(&format!("{}{sql}", self.marker())),
            _ => {
                self.say(&format!("    {sql};"));
                Ok(0)
            }
        }
    }

    /// Runs a write statement on an open session, or prints it in a dry run.
    pub fn exec_on(&self, session: &mut dyn Session, sql: &str) -> Result<u64> {
        if self.run.dry_run {
            self.say(&format!("    {sql};"));
            return Ok(0);
        }
        session.execute(sql)
    }

    /// A comment that tags every statement of this run, so that a resumed run can find (and stop)
    /// statements that a killed process left running on the server.
    pub fn marker(&self) -> String {
        format!("/* rekey:{} */ ", self.run_id)
    }

    /// A session on `backend` for writes, or none in a dry run.
    pub fn writer(&self, backend: &dyn Backend) -> Result<Option<Box<dyn Session>>> {
        if self.run.dry_run {
            Ok(None)
        } else {
            backend.connect().map(Some)
        }
    }

    pub fn map_dir(&self) -> PathBuf {
        self.run.run_dir.join("map")
    }

    pub fn check_interrupt(&self, after: &str) -> Result<()> {
        if self.interrupted.load(Ordering::SeqCst) {
            return Err(Error::Interrupted {
                after: after.to_string(),
                run_dir: crate::error::shell_word(&self.run.run_dir),
            });
        }
        Ok(())
    }

    /// Runs `f` as the stage `name` unless the journal has it done; records timing and rows.
    pub fn stage(&self, stage: Stage, f: impl FnOnce(&Context) -> Result<Outcome>) -> Result<()> {
        let name = stage.name();
        if !self.run.dry_run && self.journal.stage_done(name)? {
            self.progress
                .note(&format!("{name}: done in an earlier run, skipped"));
            return Ok(());
        }
        if let Some(locks) = &self.locks {
            locks.still_held().map_err(|e| e.at(&Place::stage(stage)))?;
        }
        if self.run.dry_run {
            self.say(&format!("-- stage {name}"));
        } else {
            self.progress.note(&format!("{name}: started"));
            self.journal.stage_started(name)?;
        }
        self.show_overall();
        let started = Instant::now();
        // A signal that came since the last stage stops the run here, journaled as this stage's
        // (the report and `rekey status` say where the run stopped).
        let outcome = self
            .check_interrupt(&format!("the stage before {name}"))
            .and_then(|()| f(self))
            .map_err(|e| e.at(&Place::stage(stage)));
        let secs = started.elapsed().as_secs_f64();
        let mut outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                if !self.run.dry_run {
                    // The report and `rekey status` name the stage that failed and why; the
                    // error that ends the run is the one to show, so a journal error here is
                    // not allowed to replace it.
                    let status = match e {
                        Error::Interrupted { .. } => StageStatus::Interrupted,
                        _ => StageStatus::Failed,
                    };
                    let _ = self
                        .journal
                        .stage_failed(name, status, secs, &redact(&e.to_string()));
                }
                return Err(e);
            }
        };
        // What the engines say this stage cost them (Galera: DDL statements and their time).
        let notes: Vec<String> = [&self.source, &self.data, &self.final_db]
            .into_iter()
            .flatten()
            .filter_map(|b| b.take_notes())
            .collect();
        if !notes.is_empty() {
            let mut detail = outcome.detail.take().unwrap_or_default();
            for n in notes {
                if !detail.is_empty() {
                    detail.push_str("; ");
                }
                detail.push_str(&n);
            }
            outcome.detail = Some(detail);
        }
        if !self.run.dry_run {
            self.journal
                .stage_finished(name, secs, outcome.rows, outcome.detail.as_deref())?;
            let what = if stage.moves_rows() {
                format!("{}, ", crate::text::count(outcome.rows, "row"))
            } else {
                String::new()
            };
            self.progress
                .note(&format!("{name}: done, {what}{secs:.2} s"));
            self.show_overall();
        }
        Ok(())
    }

    /// Shows where the run stands on the overall progress line: the same figures as `rekey
    /// status`, read from the journal.
    fn show_overall(&self) {
        if self.run.dry_run || !self.progress.shows_overall() {
            return;
        }
        if let Some(glance) = self.overall.as_ref().and_then(|read| read(&self.journal)) {
            self.progress.overall(&glance);
        }
    }

    /// Test hook for the resume tests: with REKEY_TEST_STALL_AFTER_STEP=<stage>, the first step of
    /// that stage does its work, then stalls before its journal entry (the worst moment for a
    /// kill), after creating `<run-dir>/stalled` so the test knows when to kill. Ctrl-C ends the
    /// stall so the safe-point stop can be tested too, unless REKEY_TEST_STALL_THROUGH_CTRL_C is
    /// set (the test of a second Ctrl-C, which must find the run still going).
    pub(crate) fn test_stall(&self, stage: Stage) {
        self.test_stall_at(stage.name());
    }

    /// `test_stall` at a point named `point` (a stage's name, or `load-then-verify`: a table's
    /// rows loaded, its in-load verification not begun).
    pub(crate) fn test_stall_at(&self, point: &str) {
        if std::env::var("REKEY_TEST_STALL_AFTER_STEP").ok().as_deref() == Some(point) {
            self.test_stall_here(point);
        }
    }

    /// The stall itself, once per process: `<run-dir>/stalled` holds `label` (a stage, a point or
    /// a table), then the run waits for Ctrl-C, or with REKEY_TEST_STALL_RELEASE for
    /// `<run-dir>/release` (the run goes on: what happened to SOURCE while a run paused).
    pub(crate) fn test_stall_here(&self, label: &str) {
        static ONCE: std::sync::Once = std::sync::Once::new();
        let mut first = false;
        ONCE.call_once(|| first = true);
        if !first {
            return;
        }
        self.mark_stalled(label);
        let through = std::env::var_os("REKEY_TEST_STALL_THROUGH_CTRL_C").is_some();
        let release = std::env::var_os("REKEY_TEST_STALL_RELEASE").is_some();
        while through || !self.interrupted.load(Ordering::SeqCst) {
            if release && self.run.run_dir.join("release").exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The test hooks' `<run-dir>/stalled`, holding `label`: written aside and renamed into
    /// place, so a test that sees the file reads the whole label.
    fn mark_stalled(&self, label: &str) {
        let part = self.run.run_dir.join("stalled.part");
        if crate::run_files::write_private(&part, label.as_bytes()).is_ok() {
            let _ = std::fs::rename(&part, self.run.run_dir.join("stalled"));
        }
    }

    /// Test hook for the resume tests of chunked writes: with REKEY_TEST_STALL_AFTER_CHUNK=<stage>,
    /// the second chunk of that stage is committed, then the run stalls before journaling it (so
    /// a resumed run must find that chunk by itself), as `test_stall` does for steps.
    fn test_stall_chunk(&self, stage: Stage) {
        if std::env::var("REKEY_TEST_STALL_AFTER_CHUNK")
            .ok()
            .as_deref()
            != Some(stage.name())
        {
            return;
        }
        static CHUNKS: AtomicUsize = AtomicUsize::new(0);
        if CHUNKS.fetch_add(1, Ordering::SeqCst) != 1 {
            return;
        }
        self.mark_stalled(stage.name());
        while !self.interrupted.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Where an interrupted chunked write of `item` in `stage` got to, as its engine described
    /// it to `chunk_done`.
    pub fn chunk_point(&self, stage: Stage, item: &str) -> Result<Option<String>> {
        if self.run.dry_run {
            return Ok(None);
        }
        let key = format!("{stage}:{item}");
        Ok(self
            .journal
            .artifacts(Artifact::Chunk)?
            .into_iter()
            .find(|(name, _)| *name == key)
            .map(|(_, point)| point))
    }

    /// Journals that a chunk of `item` in `stage` is committed, with the engine's point to
    /// resume from (a table's step is journaled only when the whole table is done).
    pub fn chunk_done(&self, stage: Stage, item: &str, point: &str) -> Result<()> {
        self.test_stall_chunk(stage);
        self.check_interrupt(&format!("a chunk of {stage} of {item}"))?;
        self.journal
            .add_artifact(Artifact::Chunk, &format!("{stage}:{item}"), point)
    }

    /// Runs one journaled step per item (a table, a reference group), in parallel when `parallel`,
    /// skipping items the journal has done. `f` returns the rows the item touched.
    pub fn steps<T: Sync>(
        &self,
        stage: Stage,
        items: &[T],
        key: impl Fn(&T) -> String + Sync,
        parallel: bool,
        f: impl Fn(&T) -> Result<u64> + Sync,
    ) -> Result<u64> {
        if !self.run.dry_run {
            // Planned items let `rekey status` count what is left; the catalog's row estimate
            // is what the ETA weighs them by.
            let schema = self.source_schema.get();
            let planned: Vec<(String, Option<u64>)> = items
                .iter()
                .map(|i| {
                    let k = key(i);
                    let rows = schema.and_then(|s| s.0.table(&k)).map(|t| t.estimated_rows);
                    (k, rows)
                })
                .collect();
            self.journal.steps_planned(stage.name(), &planned)?;
        }
        let one = |item: &T| -> Result<u64> {
            let k = key(item);
            if !self.run.dry_run {
                if let Some(rows) = self.journal.step_done(stage.name(), &k)? {
                    return Ok(rows);
                }
            }
            self.check_interrupt(&format!("{stage} of {k}"))?;
            // The pool's thread index is the worker (greedy runs one item per worker at a time);
            // outside a pool the caller's thread is the only worker.
            let worker = rayon::current_thread_index().unwrap_or(0);
            if !self.run.dry_run {
                self.journal.step_started(stage.name(), &k, worker)?;
            }
            self.progress.step_started(stage.name(), &k);
            let started = Instant::now();
            let result = f(item).map_err(|e| e.at(&Place::stage(stage).table(&k)));
            let secs = started.elapsed().as_secs_f64();
            let rows = match result {
                Ok(rows) => rows,
                Err(e) => {
                    if !self.run.dry_run {
                        let _ = self.journal.step_failed(
                            stage.name(),
                            &k,
                            secs,
                            &redact(&e.to_string()),
                        );
                    }
                    self.progress.step_ended(stage.name(), &k, None, secs);
                    return Err(e);
                }
            };
            self.test_stall(stage);
            if !self.run.dry_run {
                self.journal.step_finished(
                    stage.name(),
                    &k,
                    rows,
                    started.elapsed().as_secs_f64(),
                    None,
                )?;
                self.journal
                    .remove_artifact(Artifact::Chunk, &format!("{stage}:{k}"))?;
            }
            self.progress.step_ended(stage.name(), &k, Some(rows), secs);
            self.show_overall();
            Ok(rows)
        };
        let jobs = if parallel && !self.run.dry_run {
            self.run.jobs
        } else {
            1
        };
        Ok(greedy(jobs, items, one)?.into_iter().sum())
    }
}

/// The result of a helper thread that reads while its stage's thread writes (or reads the other
/// side): a panic there becomes an error naming `what` stopped, instead of taking rekey down.
pub fn joined<T>(result: std::thread::Result<Result<T>>, place: Place, what: &str) -> Result<T> {
    result.unwrap_or_else(|_| {
        Err(Error::env(
            place,
            format!("{what} stopped unexpectedly."),
            "Run the command again with --resume.",
        ))
    })
}

/// Runs `f` on every item with `jobs` workers, each taking the next item in the caller's order
/// (callers put the largest tables first): greedy scheduling keeps the workers busy together,
/// where splitting the list in halves would queue the big tables behind each other on one worker.
/// Stops handing out items after the first error, which it returns.
pub fn greedy<T: Sync, R: Send>(
    jobs: usize,
    items: &[T],
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    if jobs <= 1 || items.len() <= 1 {
        return items.iter().map(f).collect();
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.min(items.len()))
        .build()
        .map_err(|e| {
            Error::env(
                Place::default(),
                format!("cannot start worker threads: {e}."),
                "Lower --jobs.",
            )
        })?;
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    pool.broadcast(|_| loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        if i >= items.len() || failed.load(Ordering::SeqCst) {
            break;
        }
        match f(&items[i]) {
            Ok(r) => {
                if let Ok(mut all) = results.lock() {
                    all[i] = Some(r);
                }
            }
            Err(e) => {
                failed.store(true, Ordering::SeqCst);
                if let Ok(mut slot) = first_error.lock() {
                    slot.get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_helper_thread_that_panics_is_an_environment_error() {
        let handle = std::thread::spawn(|| -> Result<u64> { panic!("lost the connection") });
        let err = joined(
            handle.join(),
            Place::stage(Stage::Verify).table("t"),
            "the reader",
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(
            err.to_string().contains("the reader stopped unexpectedly"),
            "{err}"
        );
        let ok = std::thread::spawn(|| -> Result<u64> { Ok(4) });
        assert_eq!(joined(ok.join(), Place::default(), "x").ok(), Some(4));
    }
}
