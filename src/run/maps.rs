//! The map files of tables with derived keys (`map/<t>.csv`): they need only SOURCE, so clone (where
//! it decides the keys) or shadow queues them and they are written on a thread of their own while
//! the next stages run
//! (`spawn`), but for a table nothing references, whose check in the load derives its keys anyway
//! and writes its map file (`left_to_check`); whatever reads map files first waits for them
//! (`maps_ready`, `join_maps`), and `maps_ready` writes any that is missing (a killed run's
//! writer did not finish it, or no check wrote it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::keys::{csv_writer, finish_csv, map_paths};
use super::{Background, Context};
use crate::backend::Value;
use crate::error::{io_error, Error, Place, Result};
use crate::journal::Artifact;
use crate::options::UuidFormat;
use crate::stage::Stage;
use crate::uuidgen::DerivedKey;

/// Writes `jobs` on a thread of its own, `jobs_at_once` at a time, until `join_maps` or
/// `maps_ready` waits for it; `stop` asks it to stop. A writer this process started earlier (clone
/// starts one where it decides the keys, `data_shape::convert_in_clone`) is waited for first:
/// a later stage queues only what it did not (`queued`), so that wait is rare.
pub fn spawn(
    ctx: &Context,
    jobs: Vec<MapJob>,
    jobs_at_once: usize,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    join_maps(ctx, false)?;
    let tables: Vec<String> = jobs.iter().map(|j| j.table.clone()).collect();
    let finished = Arc::new(AtomicBool::new(false));
    let ended = Ended(finished.clone());
    let handle = std::thread::spawn(move || -> Result<u64> {
        let _ended = ended;
        Ok(super::greedy(jobs_at_once, &jobs, write_map)?
            .into_iter()
            .sum())
    });
    *lock(&ctx.pending_maps) = Some(Background {
        handle,
        stop,
        tables,
        finished,
    });
    Ok(())
}

/// Sets its flag when dropped: at the end of the writer's thread, also on an error or a panic.
struct Ended(Arc<AtomicBool>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Whether the background writer running now has ended (true where none runs): a reader that
/// cannot wait on it (`stages::verify::ahead` reads parents' map files from its own thread)
/// polls it. A writer a later stage starts is not this one.
pub fn writer_finished(ctx: &Context) -> Arc<AtomicBool> {
    lock(&ctx.pending_maps)
        .as_ref()
        .map_or_else(|| Arc::new(AtomicBool::new(true)), |b| b.finished.clone())
}

/// Adds `table`'s map file (keys derived as `spec` says) to `jobs`, for `spawn`; a map file of an
/// earlier run in this directory (kept by `clean`) is removed first, so that it cannot pass for
/// this run's while the writer has not replaced it yet.
pub fn queue(
    ctx: &Context,
    table: &str,
    spec: &DerivedKey,
    stop: &Arc<AtomicBool>,
    jobs: &mut Vec<MapJob>,
) -> Result<()> {
    let mut job = map_job(ctx, table, spec)?;
    job.stop = stop.clone();
    if job.path.exists() {
        std::fs::remove_file(&job.path).map_err(|e| io_error("remove", &job.path, e))?;
    }
    if !left_to_check(ctx, table)? {
        jobs.push(job);
    }
    Ok(())
}

/// How many tables with derived keys leave their map file to the load's check (`left_to_check`).
pub fn left_to_checks(ctx: &Context) -> Result<usize> {
    let mut n = 0;
    for (table, key_table) in ctx.journal.artifacts(Artifact::Keys)? {
        if !key_table.is_empty() && left_to_check(ctx, &table)? {
            n += 1;
        }
    }
    Ok(n)
}

/// Whether `table`'s map file is left to the load's check of the table (`verify::source`),
/// whose read of SOURCE derives every key of the table anyway, instead of the background
/// writer, which would read SOURCE's keys once more: a table that no other table references (no
/// check or stage needs its map file before its own check), in a command that loads and checks
/// each table in the load, and not a live run (which reads map files as it follows). Where the
/// check does not write it, `maps_ready` does.
pub fn left_to_check(ctx: &Context, table: &str) -> Result<bool> {
    // A move renames DB_DATA's tables into DB_FINAL: no check reads SOURCE in the load.
    if ctx.run.dry_run || ctx.run.follow || ctx.run.load_path == crate::options::LoadChoice::Move {
        return Ok(false);
    }
    let checks_in_load = |b: Option<&std::sync::Arc<dyn crate::backend::Backend>>| {
        b.is_some_and(|b| b.dialect().verifies_during_load())
    };
    if !checks_in_load(ctx.source.as_ref()) || !checks_in_load(ctx.final_db.as_ref()) {
        return Ok(false);
    }
    if !ctx.journal.planned_stages()?.contains(&Stage::Load) {
        return Ok(false);
    }
    let plan = ctx.plan()?;
    Ok(!plan.1.references.iter().any(|r| r.ref_table == table))
}

/// How many map files this process's background writer has queued.
pub fn queued_count(ctx: &Context) -> usize {
    lock(&ctx.pending_maps)
        .as_ref()
        .map_or(0, |b| b.tables.len())
}

/// Whether this process's background writer has `table`'s map file queued.
pub fn queued(ctx: &Context, table: &str) -> bool {
    lock(&ctx.pending_maps)
        .as_ref()
        .is_some_and(|b| b.tables.iter().any(|t| t == table))
}

/// What writing the map file of a table with derived keys needs, owned (it may run on a thread
/// of its own while the next stages run).
pub struct MapJob {
    table: String,
    spec: DerivedKey,
    format: UuidFormat,
    source: Arc<dyn crate::backend::Backend>,
    select: String,
    /// Read by `Session::scan` (`source_snapshot::large`).
    large: bool,
    pub path: std::path::PathBuf,
    part: std::path::PathBuf,
    /// Ctrl-C, or the command failing elsewhere (`join_maps`): the writer stops too (the
    /// command waits for it before it ends), leaving the map file for `--resume` to write.
    interrupted: Arc<AtomicBool>,
    pub stop: Arc<AtomicBool>,
    run_dir: String,
}

pub fn map_job(ctx: &Context, table: &str, spec: &DerivedKey) -> Result<MapJob> {
    let source = ctx.source()?.clone();
    let sd = source.dialect();
    let converted = ctx.plan()?;
    let Some(c) = converted.1.converted(table) else {
        return Err(Error::input(
            Place::stage(Stage::Shadow).table(table),
            "the journal names this table's keys as derived, but SOURCE's plan does not convert it.",
            "SOURCE changed since the run began: restore it, or run `rekey clean` and start again.",
        ));
    };
    // The table's own rows, as verify reads them: an inheritance parent's map holds no child's key.
    let (from, large) = match converted.0.table(table) {
        Some(t) => (sd.own_rows(t), super::source_snapshot::large(ctx, t)),
        None => (sd.q(table), false),
    };
    let (path, part) = map_paths(ctx, table);
    Ok(MapJob {
        table: table.to_string(),
        spec: spec.clone(),
        format: ctx.conversion.uuid_format,
        select: format!("SELECT {k} FROM {from} ORDER BY {k}", k = sd.q(&c.column)),
        large,
        source,
        path,
        part,
        interrupted: ctx.interrupted.clone(),
        stop: Arc::new(AtomicBool::new(false)),
        run_dir: crate::error::shell_word(&ctx.run.run_dir),
    })
}

/// `map/<table>.csv` of a table whose keys are derived: SOURCE's keys streamed in order, each
/// with the UUID the engine computes for it (in swap's or the load's statements).
pub fn write_map(job: &MapJob) -> Result<u64> {
    let mut csv = csv_writer(&job.part)?;
    let mut keys = job.source.connect()?;
    let mut rows = 0u64;
    let mut each = |row: &[Value]| -> Result<()> {
        let old = row.first().and_then(Value::as_key).unwrap_or(-1);
        let old = u64::try_from(old).map_err(|_| {
            Error::input(
                Place::stage(Stage::Shadow).table(&job.table),
                "a key changed while rekey read it.",
                "SOURCE must be a snapshot nobody writes: run again with --resume on an unchanging copy.",
            )
        })?;
        super::keys::write_pair(&mut csv, &job.part, old, job.spec.uuid(old), job.format)?;
        rows += 1;
        let stopped = |f: &AtomicBool| f.load(Ordering::SeqCst);
        if rows.is_multiple_of(65_536) && (stopped(&job.interrupted) || stopped(&job.stop)) {
            return Err(Error::Interrupted {
                after: format!("map file of {} (part written)", job.table),
                run_dir: job.run_dir.clone(),
            });
        }
        Ok(())
    };
    crate::backend::read_all(keys.as_mut(), job.large, &job.select, &mut each)?;
    finish_csv(csv, &job.part, &job.path)?;
    Ok(rows)
}

/// Waits for the map files written in the background (`spawn`), then writes any map file of a
/// table with derived keys that is missing: one the background writer did not finish before a
/// kill, whose keys the journal already has (decided by clone or shadow), or one left to the
/// load's check (`left_to_check`) that no check wrote; `parents_only` (shadow, for one-to-one
/// tables before the load) leaves the latter to their checks. Called before anything reads map
/// files.
pub fn maps_ready(ctx: &Context, parents_only: bool) -> Result<()> {
    // Held throughout: a second caller (the other load worker) waits instead of writing a
    // missing map file while the background writer still writes it.
    let mut pending = lock(&ctx.pending_maps);
    if let Some(writer) = pending.take() {
        joined(writer)?;
    }
    if ctx.run.dry_run {
        return Ok(());
    }
    let plan = ctx.plan()?;
    for (table, key_table) in ctx.journal.artifacts(Artifact::Keys)? {
        // Only this run's tables: an earlier run in the directory (cleaned since) journaled its
        // own, and `queue` removed this run's old map files before they were queued.
        if key_table.is_empty()
            || plan.1.converted(&table).is_none()
            || map_paths(ctx, &table).0.exists()
            || (parents_only && left_to_check(ctx, &table)?)
        {
            continue;
        }
        write_map(&map_job(ctx, &table, &ctx.derived_key(key_table))?)?;
    }
    drop(pending);
    Ok(())
}

/// Waits for the background map writer, if one runs, and returns its error; `stop` asks it to
/// stop first (the command failed: `--resume` writes what is missing).
pub fn join_maps(ctx: &Context, stop: bool) -> Result<()> {
    let Some(writer) = lock(&ctx.pending_maps).take() else {
        return Ok(());
    };
    if stop {
        writer.stop.store(true, Ordering::SeqCst);
    }
    joined(writer).map(|_| ())
}

fn joined(writer: Background) -> Result<u64> {
    super::joined(
        writer.handle.join(),
        Place::stage(Stage::Shadow),
        "the thread writing map files",
    )
}

pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
