//! SOURCE's side of a large table's in-load check, read ahead: where the load fills DB_FINAL in
//! the server (`INSERT ... SELECT`, which hands rekey no row), the runner starts one thread once
//! clone has journaled each table's route; it reads and digests each large one-write table of
//! SOURCE as the check would, while shadow to compare and the load's first seconds run, and the
//! table's load step takes the pass after its rows are in (`take`), so the check after the fill
//! reads only DB_FINAL. A pass is used only if it saw as many rows as the load read
//! (`SourcePass::complete`) and preflight counted, over the columns the check compares; else the
//! check reads SOURCE itself, as it always did. SOURCE changed between the read and the load
//! makes the check differ (the verify stage then reads both sides again), never pass.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::source::{map_to_write, MapOut, Own, SourcePass};
use super::{exact_list, pass_columns, shared_maps, Maps};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::journal::Artifact;
use crate::model::{is_internal, Table};
use crate::options::{LoadChoice, OrphanPolicy, UuidFormat};
use crate::run::maps::lock;
use crate::run::Context;
use crate::uuidgen::DerivedKey;

/// The process's read-ahead: the thread reading, and what it has read, until the load takes it
/// (a command runs one; the run directory tells whose it is).
static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

struct Running {
    run_dir: PathBuf,
    handle: std::thread::JoinHandle<()>,
    stop: Arc<AtomicBool>,
    /// The tables it reads.
    tables: Vec<String>,
    passes: Arc<Passes>,
}

/// What the thread has read, shared with the load's workers.
#[derive(Default)]
struct Passes {
    state: Mutex<Read>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct Read {
    /// The table being read.
    current: Option<String>,
    /// Each table read: its pass, or None where none could be made.
    done: HashMap<String, Option<SourcePass>>,
    /// Tables the load asked for before the thread began them: it leaves them alone.
    skipped: HashSet<String>,
}

/// One table's read, owned by the thread.
struct Job {
    table: Table,
    columns: Vec<String>,
    own: OwnKey,
    sql: String,
}

/// How the pass finds the table's new keys: none converted, or derived as the run derives them,
/// checked against the table's map file (another's to write) or written to a file of the pass's
/// own (`kept_path`), which becomes the map file only once the table's check found DB_FINAL equal
/// (`settle`): SOURCE may change between the read and the load.
enum OwnKey {
    None,
    Derived {
        key: DerivedKey,
        map: PathBuf,
        write: Option<PathBuf>,
    },
}

/// What every job of the thread shares.
struct Shared {
    source: Arc<dyn Backend>,
    plan: Arc<(crate::model::Schema, crate::plan::Plan)>,
    maps: Arc<Maps>,
    /// The background map writer running when the read-ahead started ended: a parent's map file
    /// it was to write and still missing will not come (the pass is then not made).
    maps_written: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// Ctrl-C: the read stops at once, as the stages do at their next safe point.
    interrupted: Arc<AtomicBool>,
    format: UuidFormat,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.interrupted.load(Ordering::Relaxed)
    }
}

/// Where a pass read ahead writes the map file of `map`'s table before its check settles it.
fn kept_path(map: &Path) -> PathBuf {
    let mut path = map.as_os_str().to_owned();
    path.push(".ahead");
    path.into()
}

/// Starts reading ahead SOURCE's side of the large tables whose rows the load writes straight
/// from SOURCE (the one-write route clone journaled), largest first, on one thread. Nothing
/// starts in a dry run, a live run (SOURCE changes while it runs), a resumed load, with
/// `--orphans null`, or where the load streams SOURCE's rows through rekey and digests them on
/// the way (`Load::taps_source`). A speed-up only: what keeps it from starting is noted, never
/// the run's failure.
pub fn start(ctx: &Context) {
    stop(ctx);
    if let Err(e) = try_start(ctx) {
        ctx.progress
            .note(&format!("the load's checks read SOURCE themselves: {e}"));
    }
}

fn try_start(ctx: &Context) -> Result<()> {
    // Held until the thread is in place: another command's in this process (the library run
    // twice at once) keeps its own.
    let mut running = lock(&RUNNING);
    if running.is_some()
        || ctx.run.dry_run
        || ctx.run.follow
        || ctx.run.load_path == LoadChoice::Move
        || ctx.conversion.orphans == OrphanPolicy::Null
    {
        return Ok(());
    }
    let (Some(source), Some(fin)) = (&ctx.source, &ctx.final_db) else {
        return Ok(());
    };
    if fin.taps_source()
        || !source.dialect().verifies_during_load()
        || !fin.dialect().verifies_during_load()
        || !ctx.journal.artifacts(Artifact::LoadStarted)?.is_empty()
    {
        return Ok(());
    }
    let one_write: HashSet<String> = crate::run::data_shape::journaled_routes(&ctx.journal)?
        .into_iter()
        .filter(|(_, route)| route == crate::run::data_shape::ONE_WRITE)
        .map(|(table, _)| table)
        .collect();
    if one_write.is_empty() {
        return Ok(());
    }
    let plan = crate::run::source::load(ctx)?;
    let counted = crate::run::source_snapshot::counted_rows(ctx)?;
    let mut tables: Vec<&Table> = plan
        .0
        .tables
        .iter()
        .filter(|t| {
            one_write.contains(&t.name)
                && !is_internal(&t.name)
                && crate::run::source_snapshot::large_by(&counted, t)
        })
        .collect();
    tables.sort_by_key(|t| std::cmp::Reverse(crate::run::source_snapshot::rows_of(&counted, t)));
    let d = source.dialect();
    let mut jobs = Vec::new();
    for t in tables {
        let own = match plan.1.converted(&t.name) {
            None => OwnKey::None,
            // A mapped key's pairs come from its map file in old-key order: the check merges it.
            Some(_) => match crate::run::keys::key_source(ctx, &t.name)? {
                // Written where the check would write it (`Own::derived`), under the pass's own
                // name.
                Some(from) => {
                    let (map, part) = map_to_write(ctx, &t.name)?;
                    let write = part.map(|_| kept_path(&map));
                    OwnKey::Derived {
                        key: ctx.derived_key(from),
                        map,
                        write,
                    }
                }
                None => continue,
            },
        };
        // The columns the check compares, as DB_FINAL is to have them (compare makes sure);
        // the check uses the pass only if they are its own.
        let columns: Vec<String> = t.writable_columns().map(|c| c.name.clone()).collect();
        let sql = format!(
            "SELECT {} FROM {}",
            exact_list(d, t, &columns),
            d.own_rows(t)
        );
        jobs.push(Job {
            table: t.clone(),
            columns,
            own,
            sql,
        });
    }
    if jobs.is_empty() {
        return Ok(());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Shared {
        source: source.clone(),
        plan: plan.clone(),
        maps: shared_maps(ctx),
        maps_written: crate::run::maps::writer_finished(ctx),
        stop: stop.clone(),
        interrupted: ctx.interrupted.clone(),
        format: ctx.conversion.uuid_format,
    };
    let tables: Vec<String> = jobs.iter().map(|j| j.table.name.clone()).collect();
    let passes = Arc::new(Passes::default());
    let mark = std::env::var_os("REKEY_TEST_MARK_READ_AHEAD")
        .is_some()
        .then(|| ctx.run.run_dir.join("read-ahead"));
    let theirs = passes.clone();
    let handle = std::thread::spawn(move || {
        let mut read = Vec::new();
        for job in jobs {
            let name = job.table.name.clone();
            {
                let mut state = lock(&theirs.state);
                if shared.stopped() {
                    break;
                }
                if state.skipped.contains(&name) {
                    continue;
                }
                state.current = Some(name.clone());
            }
            // A panic must not leave the table `current`: its load step would wait for ever.
            let pass =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_table(&shared, job)))
                    .unwrap_or(None);
            if pass.is_some() {
                read.push(name.clone());
            }
            let mut state = lock(&theirs.state);
            state.current = None;
            state.done.insert(name, pass);
            theirs.changed.notify_all();
        }
        // Test hook: the tests change SOURCE once every read is done.
        if let Some(path) = mark {
            let _ = std::fs::write(path, read.join("\n"));
        }
    });
    *running = Some(Running {
        run_dir: ctx.run.run_dir.clone(),
        handle,
        stop,
        tables,
        passes,
    });
    Ok(())
}

/// One table's pass over SOURCE, or None where it could not be made (a parent's map file that
/// will not come, a read that failed or was stopped): the check then reads SOURCE itself.
fn read_table(shared: &Shared, job: Job) -> Option<SourcePass> {
    // A reference's parent mapping is its map file, which the background writer may not have
    // written yet (it appears whole, renamed from its part).
    let columns = loop {
        let written = shared.maps_written.load(Ordering::SeqCst);
        match pass_columns(&shared.plan.1, &job.table, &job.columns, &shared.maps) {
            Ok(c) => break c,
            Err(_) if written || shared.stopped() => return None,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(2)),
        }
    };
    let (own, kept) = match job.own {
        OwnKey::None => (Own::None, None),
        OwnKey::Derived { key, map, write } => {
            let out = match &write {
                Some(path) => Some(MapOut::create(path.clone(), shared.format).ok()?),
                None => None,
            };
            let own = Own::Derived {
                key,
                map,
                pairs: 0,
                write: out,
            };
            (own, write)
        }
    };
    let mut pass = SourcePass::new(&job.table.name, columns, own, false, 0).read_ahead();
    let read = shared.source.connect().and_then(|mut s| {
        crate::backend::read_all(s.as_mut(), true, &job.sql, &mut |row| {
            if shared.stopped() {
                return Err(Error::usage("the read ahead was stopped", ""));
            }
            pass.row(row)
        })
    });
    match read {
        Ok(()) => Some(pass),
        Err(_) => {
            drop(pass);
            if let Some(path) = kept {
                let _ = std::fs::remove_file(path);
            }
            None
        }
    }
}

/// SOURCE's side of `table` read ahead: waited for while the thread reads it; None for a table
/// it does not read, could not read, or has not begun (it then leaves the table alone).
pub fn take(ctx: &Context, table: &str) -> Option<SourcePass> {
    let passes = {
        let running = lock(&RUNNING);
        let run = running.as_ref().filter(|r| r.run_dir == ctx.run.run_dir)?;
        if !run.tables.iter().any(|t| t == table) {
            return None;
        }
        run.passes.clone()
    };
    let mut state = lock(&passes.state);
    loop {
        if let Some(pass) = state.done.remove(table) {
            return pass;
        }
        if state.current.as_deref() != Some(table) {
            state.skipped.insert(table.to_string());
            return None;
        }
        state = passes
            .changed
            .wait(state)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
}

/// After `table`'s in-load check: the map file a pass read ahead wrote under its own name becomes
/// the table's map file if the check found DB_FINAL equal to that pass (`verified`) and no map
/// file is there yet; otherwise it is removed (SOURCE may have changed since it was read, and the
/// verify stage writes the map file anew, `maps_ready`). Nothing to do for another table.
pub fn settle(ctx: &Context, table: &str, verified: bool) -> Result<()> {
    let (map, _) = crate::run::keys::map_paths(ctx, table);
    let kept = kept_path(&map);
    if !kept.exists() {
        return Ok(());
    }
    if verified && !map.exists() {
        return std::fs::rename(&kept, &map)
            .map_err(|e| crate::error::io_error("rename", &kept, e));
    }
    std::fs::remove_file(&kept).map_err(|e| crate::error::io_error("remove", &kept, e))
}

/// Stops a read-ahead and forgets what it read (what the load did not take: a command that
/// failed before the load, a table the load did not fill), with the map files its passes wrote:
/// before the verify stage, and at the end of a command.
pub fn stop(ctx: &Context) {
    let mine = {
        let mut running = lock(&RUNNING);
        match running.as_ref() {
            Some(r) if r.run_dir == ctx.run.run_dir => running.take(),
            _ => None,
        }
    };
    if let Some(run) = mine {
        run.stop.store(true, Ordering::SeqCst);
        let _ = run.handle.join();
        drop(run.passes);
        for table in &run.tables {
            let _ = settle(ctx, table, false);
        }
    }
}
