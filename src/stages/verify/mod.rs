//! Stage 10: an end-to-end check of SOURCE against DB_FINAL through the map files, independent of
//! how the rows were written (SOURCE's side comes from a read of its own, or, for a table the load
//! streamed through rekey, from those rows as read, decoded apart from the stream's rewrite): per
//! table, row counts and an order-independent hash of every row (converted columns compared through
//! the id mapping, so every child/parent pair must be the same pair); every UUID well formed and
//! every new key unique; DB_FINAL's own foreign keys on its rows; SOURCE against the counts
//! preflight recorded (`source_snapshot`). It never reads DB_DATA.
//!
//! The load hands each table here as soon as its rows are in (`after_load`), on the load's own
//! worker, while other tables still load: a table is final then (nothing rekey does afterwards
//! writes its rows: triggers come back, sequences are set, other tables load with foreign-key
//! actions off). The check is journaled with the start of the load step it belongs to and the
//! process that made it, so the verify stage trusts it only for the load that is done and only
//! in that process (a resumed run reads every table again: DB_FINAL may have changed while no
//! rekey ran), and checks what remains: tables without such a check, foreign keys its row checks
//! do not imply, SOURCE's snapshot. Engines whose load and verify slow each other down more than
//! they overlap skip the in-load check (`Dialect::verifies_during_load`).

use crate::journal::Artifact;
use std::collections::{BTreeMap, HashMap};

use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::{Context, Outcome, Stage};
use crate::backend::Value;
use crate::error::{Error, Place, Result};
use crate::model::{is_internal, Table};
use crate::options::{OrphanPolicy, UuidFormat};
use crate::uuidgen::parse_stored;

pub mod ahead;
mod source;
pub use source::SourcePass;

/// One table's verification, as the report shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TableCheck {
    pub table: String,
    pub source_rows: u64,
    pub final_rows: u64,
    pub ok: bool,
    pub problems: Vec<String>,
}

/// A converted table's mapping, sorted by old key.
struct Map(Vec<(i128, u128)>);

impl Map {
    fn get(&self, key: i128) -> Option<u128> {
        self.0
            .binary_search_by_key(&key, |(k, _)| *k)
            .ok()
            .map(|i| self.0[i].1)
    }
}

/// Parent mappings, loaded once and shared by the parallel table checks, of the load's
/// in-load checks and the verify stage alike (`shared_maps`).
struct Maps {
    dir: std::path::PathBuf,
    /// Per table: the map file's size and time when read (a map file written again, by a new
    /// conversion in the same run directory, is read again), and its pairs.
    loaded: Mutex<HashMap<String, (FileStamp, Arc<Map>)>>,
}

type FileStamp = (u64, Option<std::time::SystemTime>);

fn stamp(path: &std::path::Path) -> FileStamp {
    std::fs::metadata(path)
        .map(|m| (m.len(), m.modified().ok()))
        .unwrap_or((0, None))
}

impl Maps {
    fn get(&self, table: &str) -> Result<Arc<Map>> {
        let path = crate::run::keys::map_file(&self.dir, table);
        let now = stamp(&path);
        if let Some(m) = self.loaded.lock().ok().and_then(|l| {
            l.get(table)
                .filter(|(when, _)| *when == now)
                .map(|(_, m)| m.clone())
        }) {
            return Ok(m);
        }
        let mut pairs = Vec::new();
        for p in crate::run::keys::read_map(&path)? {
            pairs.push(p?);
        }
        pairs.sort_unstable_by_key(|(k, _)| *k);
        let m = Arc::new(Map(pairs));
        if let Ok(mut l) = self.loaded.lock() {
            l.insert(table.to_string(), (now, m.clone()));
        }
        Ok(m)
    }
}

/// The process's parent mappings: the load's in-load checks read a parent's map file once for
/// all its children, and the verify stage after them finds the same maps. Dropped at the end of
/// the verify stage.
static SHARED_MAPS: Mutex<Option<Arc<Maps>>> = Mutex::new(None);

fn shared_maps(ctx: &Context) -> Arc<Maps> {
    let dir = ctx.map_dir();
    let mut slot = SHARED_MAPS.lock().unwrap_or_else(|e| e.into_inner());
    match slot.as_ref().filter(|m| m.dir == dir) {
        Some(m) => m.clone(),
        None => {
            let m = Arc::new(Maps {
                dir,
                loaded: Mutex::default(),
            });
            *slot = Some(m.clone());
            m
        }
    }
}

fn forget_maps() {
    if let Ok(mut slot) = SHARED_MAPS.lock() {
        *slot = None;
    }
}

/// The artifact of a table's check made right after its load (`after_load`).
const IN_LOAD: Artifact = Artifact::VerifyInLoad;

/// A table's check made by the load step that loaded it, as the journal keeps it.
#[derive(Serialize, serde::Deserialize)]
struct InLoad {
    check: TableCheck,
    seen: crate::run::source_snapshot::Snapshot,
    /// SOURCE's side came from the rows the load streamed through rekey (`source_tap`), not
    /// from a read of its own.
    #[serde(default)]
    streamed: bool,
    /// SOURCE's side was read ahead, before the load (`ahead`).
    #[serde(default)]
    ahead: bool,
    /// The journal's start of the load step whose rows were checked: a table loaded again (a
    /// resumed load) has a step that started later, and this check is not about its rows. As
    /// text: Rust's shortest form of the f64 parses back exactly, serde_json's number parsing
    /// may miss it by a unit in the last place.
    load_started: String,
    /// The process that checked (`this_process`): DB_FINAL is final for the rest of that
    /// process's run, but a run killed and resumed later may find it changed in between.
    process: String,
}

/// This process, as in-load checks name it: its id and the moment it first asked.
fn this_process() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{}-{nanos}", std::process::id())
    })
}

/// When the load step of `table` started, as the journal has it.
fn load_started(ctx: &Context, table: &str) -> Result<Option<f64>> {
    Ok(ctx
        .journal
        .step_spans()?
        .into_iter()
        .find(|s| s.stage == Stage::Load.name() && s.item == table)
        .and_then(|s| s.started_at))
}

/// Verifies `table` right after the load put its rows into DB_FINAL (`final_schema` is the
/// load's), on the load's worker, and journals the check when the table is identical. A table
/// that differs, or that cannot be checked here (a `rekey load` without --source), is left to
/// the verify stage, which reads it again and names what differs. Whatever an earlier load of the
/// table journaled is forgotten first: it was about other rows. The map file a pass read ahead
/// wrote becomes the table's only if the check that used the pass found DB_FINAL equal
/// (`ahead::settle`).
pub fn after_load(
    ctx: &Context,
    final_schema: &crate::model::Schema,
    table: &str,
    tapped: Option<SourcePass>,
) -> Result<()> {
    let checked = check_after_load(ctx, final_schema, table, tapped);
    let settled = ahead::settle(ctx, table, matches!(checked, Ok(true)));
    checked?;
    settled
}

/// `after_load`'s check; true when it used a pass read ahead and found DB_FINAL equal.
fn check_after_load(
    ctx: &Context,
    final_schema: &crate::model::Schema,
    table: &str,
    tapped: Option<SourcePass>,
) -> Result<bool> {
    if ctx.run.dry_run {
        return Ok(false);
    }
    ctx.journal.remove_artifact(IN_LOAD, table)?;
    ctx.test_stall_at("load-then-verify");
    let Some(shared) = checked_in_load(ctx, final_schema, table) else {
        return Ok(false);
    };
    let Some(t) = shared.0.table(table) else {
        return Ok(false);
    };
    let Some(started) = load_started(ctx, table)? else {
        return Ok(false);
    };
    // The check reads the map files: it waits for the background writer. A map file missing
    // (the writer failed, or a killed run's writer did not finish) leaves the table to the
    // verify stage, which writes it again (`maps_ready`) and reports.
    if let Err(e) = crate::run::maps::join_maps(ctx, false) {
        ctx.progress.note(&format!(
            "verify of {table} after its load left to the verify stage: {e}"
        ));
        return Ok(false);
    }
    let maps = shared_maps(ctx);
    // A stream that lost rows would hand the check as few: the rows it saw must be SOURCE's as
    // preflight counted them, or the check reads SOURCE itself.
    let counted = crate::run::source_snapshot::counted_rows(ctx)?
        .get(table)
        .copied();
    // A pass made before the check (streamed by the load, or read ahead) counts only over the
    // columns the check compares now: DB_FINAL is the load's, which may not be what the pass
    // was made for.
    let columns = final_schema.table(table).map(|ft| checked_columns(t, ft));
    let tapped = tapped.filter(|pass| {
        Some(pass.rows()) == counted && columns.as_deref() == Some(pass.column_names())
    });
    let ahead = tapped.as_ref().is_some_and(|pass| pass.is_read_ahead());
    let streamed = tapped.is_some() && !ahead;
    match verify_table(ctx, t, final_schema.table(table), &maps, false, tapped) {
        Ok((check, Some(seen))) if check.ok => {
            let done = InLoad {
                check,
                seen,
                streamed,
                ahead,
                load_started: started.to_string(),
                process: this_process().to_string(),
            };
            ctx.journal.add_artifact(
                IN_LOAD,
                table,
                &serde_json::to_string(&done).unwrap_or_default(),
            )?;
            Ok(ahead)
        }
        Ok(_) => Ok(false),
        // Not the load's failure: the verify stage reads the table again and reports it.
        Err(e) => {
            ctx.progress.note(&format!(
                "verify of {table} after its load left to the verify stage: {e}"
            ));
            Ok(false)
        }
    }
}

/// The in-load checks the verify stage may take as they are: the table identical, checked by
/// this process (`process`), after the load step that the journal has done (started when the
/// check says). Any other table is read again.
fn trusted_in_load(
    journal: &crate::journal::Journal,
    process: &str,
) -> Result<HashMap<String, InLoad>> {
    let done_loads: HashMap<String, Option<f64>> = journal
        .step_spans()?
        .into_iter()
        .filter(|s| s.stage == Stage::Load.name() && s.status == crate::journal::StageStatus::Done)
        .map(|s| (s.item, s.started_at))
        .collect();
    Ok(journal
        .artifacts(IN_LOAD)?
        .into_iter()
        .filter_map(|(name, detail)| {
            let done: InLoad = serde_json::from_str(&detail).ok()?;
            let started = done_loads.get(&name).copied().flatten()?;
            let same_load = done.load_started.parse::<f64>().ok() == Some(started);
            (done.check.ok && done.process == process && same_load).then_some((name, done))
        })
        .collect())
}

use crate::run::digest::Digest;

/// Verify's side of the digest: one value in the form both sides share.
trait PushCanon {
    fn push(&mut self, i: usize, v: Canon, buf: &mut Vec<u8>);
}

impl PushCanon for Digest {
    fn push(&mut self, i: usize, v: Canon, buf: &mut Vec<u8>) {
        let start = buf.len();
        v.encode(buf);
        self.column(i, start, buf);
    }
}

/// A value in the form both sides share: raw values as the engine returned them, UUID columns as
/// the 128-bit UUID.
enum Canon<'a> {
    Null,
    Int(i64),
    Real(f64),
    Bytes(u8, &'a [u8]),
    Uuid(u128),
}

impl Canon<'_> {
    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            Canon::Null => buf.push(0),
            Canon::Int(i) => {
                buf.push(1);
                buf.extend_from_slice(&i.to_le_bytes());
            }
            Canon::Real(r) => {
                buf.push(2);
                buf.extend_from_slice(&r.to_bits().to_le_bytes());
            }
            Canon::Bytes(tag, b) => {
                buf.push(*tag);
                buf.extend_from_slice(&(b.len() as u64).to_le_bytes());
                buf.extend_from_slice(b);
            }
            Canon::Uuid(u) => {
                buf.push(5);
                buf.extend_from_slice(&u.to_le_bytes());
            }
        }
    }
}

fn raw(v: &Value) -> Canon<'_> {
    match v {
        Value::Null => Canon::Null,
        Value::Int(i) => Canon::Int(*i),
        Value::Real(r) => Canon::Real(*r),
        Value::Text(b) => Canon::Bytes(3, b),
        Value::Blob(b) => Canon::Bytes(4, b),
    }
}

/// A bookkeeping table that DB_FINAL has itself holds the new schema's history, not SOURCE's rows.
fn loaded_elsewhere(
    table: &str,
    final_schema: &crate::model::Schema,
    source: &crate::model::Schema,
) -> bool {
    crate::run::bookkeeping::kept(table, final_schema, Some(source))
}

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = crate::run::source::load(ctx)?;
    let schema = &shared.0;
    let fin = ctx.final_db()?;
    let final_schema = match crate::run::data_shape::predicted_final(ctx)? {
        Some(predicted) => predicted,
        None => {
            let mut fs = fin.connect()?;
            fin.describe(fs.as_mut())?
        }
    };
    // A read-ahead the load did not take must not write a map file beside this stage.
    ahead::stop(ctx);
    crate::run::maps::maps_ready(ctx, false)?;
    let maps = shared_maps(ctx);
    let trusted = if ctx.run.dry_run {
        HashMap::new()
    } else {
        trusted_in_load(&ctx.journal, this_process())?
    };
    let checks: Mutex<Vec<(TableCheck, f64)>> = Mutex::default();
    let seen: Mutex<BTreeMap<String, crate::run::source_snapshot::Snapshot>> = Mutex::default();
    let mut tables: Vec<&Table> = schema
        .tables
        .iter()
        .filter(|t| !is_internal(&t.name) && !loaded_elsewhere(&t.name, &final_schema, schema))
        .collect();
    // Largest first, so the parallel workers finish together (the largest table last had kept
    // one worker busy alone at the end).
    tables.sort_by_key(|t| std::cmp::Reverse(t.estimated_rows));
    if ctx.run.dry_run {
        for t in &tables {
            ctx.say(&format!("    -- verify {}: count, hash every row of SOURCE (keys through map/*.csv) and DB_FINAL", t.name));
        }
        return Ok(Outcome::default());
    }
    let plan = &shared.1;
    let verified = |name: &str| tables.iter().any(|t| t.name == name);
    // Every table is checked, also after one differs, so the report lists each that does; a
    // differing table's step is marked failed afterwards, so that a resumed verify reads it again.
    let rows = ctx.steps(
        Stage::Verify,
        &tables,
        |t| t.name.clone(),
        true,
        |t| {
            let started = std::time::Instant::now();
            let ft = final_schema.table(&t.name);
            let (mut check, read) = match trusted.get(&t.name) {
                // Checked by the load step that loaded it (`after_load`). What that check saw of
                // SOURCE is not the end of the run: SOURCE's count and largest key are taken
                // again at the end (`source_snapshot::changes`), so a write to SOURCE after the
                // table loaded still fails the run.
                Some(done) => (done.check.clone(), None),
                None => {
                    let (check, read) = verify_table(ctx, t, ft, &maps, false, None)?;
                    if check.ok {
                        (check, read)
                    } else {
                        // Read both sides again, digesting each column, to name what differs.
                        verify_table(ctx, t, ft, &maps, true, None)?
                    }
                }
            };
            if let (Some(read), Ok(mut s)) = (read, seen.lock()) {
                s.insert(t.name.clone(), read);
            }
            if let Some(ft) = ft {
                let implied = |fk: &crate::model::ForeignKey| {
                    crate::run::final_keys::implied_by_verify(
                        plan,
                        &final_schema,
                        &verified,
                        ft,
                        fk,
                    )
                };
                if ft.foreign_keys.iter().any(|fk| !implied(fk)) {
                    let mut fs = fin.connect()?;
                    let broken = crate::run::final_keys::broken_in_final(
                        fin.as_ref(),
                        fs.as_mut(),
                        ft,
                        &final_schema,
                        &implied,
                    )?;
                    if !broken.is_empty() {
                        check.problems.extend(broken);
                        check.ok = false;
                    }
                }
            }
            ctx.journal.add_artifact(
                Artifact::Verify,
                &t.name,
                &serde_json::to_string(&check).unwrap_or_default(),
            )?;
            let rows = check.source_rows;
            if let Ok(mut c) = checks.lock() {
                c.push((check, started.elapsed().as_secs_f64()));
            }
            Ok(rows)
        },
    );
    let in_load = tables
        .iter()
        .filter(|t| trusted.contains_key(&t.name))
        .count();
    let streamed = tables
        .iter()
        .filter(|t| trusted.get(&t.name).is_some_and(|c| c.streamed))
        .count();
    let ahead = tables
        .iter()
        .filter(|t| trusted.get(&t.name).is_some_and(|c| c.ahead))
        .count();
    forget_maps();
    let seconds: Vec<(String, f64)> = checks
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|(c, secs)| (c.table, secs))
        .collect();
    // The journal's checks, not this process's: a differing table's step is journaled done
    // before it is marked failed below, so a run killed in between finds it done on resume,
    // and only its journaled check still says that it differs. A table whose step is not done
    // (not reached, or failed) may hold an older verify's check: that is not this one's.
    let mut journaled = Vec::new();
    for (name, detail) in ctx.journal.artifacts(Artifact::Verify)? {
        if tables.iter().any(|t| t.name == name)
            && ctx
                .journal
                .step_done(Stage::Verify.name(), &name)?
                .is_some()
        {
            journaled.push(detail);
        }
    }
    let mut failed: Vec<(TableCheck, f64)> = journaled
        .iter()
        .filter_map(|detail| serde_json::from_str::<TableCheck>(detail).ok())
        .filter(|c| !c.ok)
        .map(|c| {
            let secs = seconds
                .iter()
                .find(|(t, _)| *t == c.table)
                .map_or(0.0, |(_, s)| *s);
            (c, secs)
        })
        .collect();
    failed.sort_by(|a, b| a.0.table.cmp(&b.0.table));
    for (c, secs) in &failed {
        for p in &c.problems {
            ctx.say(&format!("{}: {p}", c.table));
        }
        ctx.journal.step_failed(
            Stage::Verify.name(),
            &c.table,
            *secs,
            "differs between SOURCE and DB_FINAL",
        )?;
    }
    let rows = rows?;
    let mut changed =
        crate::run::source_snapshot::changes(ctx, &seen.into_inner().unwrap_or_default())?;
    // A move's stages read SOURCE's copy: SOURCE itself is read against what was copied.
    changed.extend(crate::run::moved::changes_since(ctx)?);
    for c in &changed {
        ctx.say(&format!("SOURCE changed during the run: {c}"));
    }
    if !failed.is_empty() || !changed.is_empty() {
        let mut what = Vec::new();
        if !failed.is_empty() {
            let names: Vec<&str> = failed.iter().map(|(c, _)| c.table.as_str()).collect();
            what.push(format!(
                "{} of {} differ between SOURCE and DB_FINAL: {} (see the report)",
                failed.len(),
                crate::text::count(tables.len() as u64, "table"),
                names.join(", ")
            ));
        }
        if !changed.is_empty() {
            what.push(format!(
                "SOURCE changed during the run, so DB_FINAL may miss those writes: {}; convert a snapshot nothing writes to",
                changed.join("; ")
            ));
        }
        return Err(Error::mismatch(
            Place::stage(Stage::Verify),
            format!("{}.", what.join(". ")),
        ));
    }
    let mut detail = format!(
        "{} verified",
        crate::text::count(tables.len() as u64, "table")
    );
    if in_load > 0 {
        detail.push_str(&format!(
            " ({in_load} of them by the load, each right after its rows were in"
        ));
        if streamed > 0 {
            detail.push_str(&format!(
                "; SOURCE's side of {streamed} from the rows the load streamed through rekey"
            ));
        }
        if ahead > 0 {
            detail.push_str(&format!(
                "; SOURCE's side of {ahead} read ahead, while the stages before the load ran"
            ));
        }
        detail.push(')');
    }
    Ok(Outcome {
        rows,
        detail: Some(detail),
    })
}

/// SOURCE's schema and plan when `table` is checked by the load that loads it: SOURCE given, both
/// engines checking in the load (`Dialect::verifies_during_load`), a table of SOURCE's that is
/// not DB_FINAL's own bookkeeping.
fn checked_in_load(
    ctx: &Context,
    final_schema: &crate::model::Schema,
    table: &str,
) -> Option<Arc<(crate::model::Schema, crate::plan::Plan)>> {
    let (source, shared) = (ctx.source().ok()?, ctx.source_schema.get()?);
    let fin = ctx.final_db().ok()?;
    if !source.dialect().verifies_during_load() || !fin.dialect().verifies_during_load() {
        return None;
    }
    shared.0.table(table)?;
    if is_internal(table) || loaded_elsewhere(table, final_schema, &shared.0) {
        return None;
    }
    Some(shared.clone())
}

/// The columns a table's check compares: SOURCE's writable columns that DB_FINAL has.
/// Generated columns are DB_FINAL's to compute (the load leaves them out): their inputs are
/// compared, and one computed from a converted key differs by design.
fn checked_columns(t: &Table, ft: &Table) -> Vec<String> {
    t.writable_columns()
        .filter(|c| ft.column(&c.name).is_some())
        .map(|c| c.name.clone())
        .collect()
}

/// What a SOURCE pass over `columns` of `t` needs: which are UUIDs, each reference's parent
/// mapping, the own key's position.
fn pass_columns(
    plan: &crate::plan::Plan,
    t: &Table,
    columns: &[String],
    maps: &Maps,
) -> Result<source::Columns> {
    let uuid_cols = plan.uuid_columns(&t.name);
    let own_key = plan.converted(&t.name).map(|c| c.column.clone());
    let mut parents: Vec<Option<Arc<Map>>> = Vec::with_capacity(columns.len());
    let mut is_uuid = Vec::with_capacity(columns.len());
    for c in columns {
        let role = uuid_cols.iter().find(|(col, _)| col == c);
        is_uuid.push(role.is_some());
        parents.push(match role {
            Some((col, p)) if Some(col) != own_key.as_ref() => Some(maps.get(p)?),
            _ => None,
        });
    }
    let own_index = own_key
        .as_ref()
        .and_then(|k| columns.iter().position(|c| c == k));
    Ok(source::Columns {
        names: columns.to_vec(),
        is_uuid,
        parents,
        own_index,
    })
}

/// A SOURCE pass for the one-write load of `table` to feed as it streams the rows (`columns`,
/// in the load's order) into DB_FINAL, so that the table's in-load check (`after_load`) need not
/// read SOURCE again. `None` where the check would not run in the load, or needs what the load's
/// stream does not give: a key not derived (its map file is the only mapping), orphans stored as
/// NULL, a parent's map file not written yet (the load does not wait for it), a column the load
/// does not read.
pub fn source_tap(
    ctx: &Context,
    final_schema: &crate::model::Schema,
    table: &str,
    columns: &[String],
) -> Option<SourcePass> {
    if ctx.run.dry_run || ctx.conversion.orphans == OrphanPolicy::Null {
        return None;
    }
    // Only an engine that streams the rows through rekey hands them over.
    if !ctx.final_db().ok()?.taps_source() {
        return None;
    }
    let shared = checked_in_load(ctx, final_schema, table)?;
    let t = shared.0.table(table)?;
    let ft = final_schema.table(table)?;
    let checked = checked_columns(t, ft);
    let positions: Vec<usize> = checked
        .iter()
        .map(|c| columns.iter().position(|l| l == c))
        .collect::<Option<_>>()?;
    let plan = ctx.plan().ok()?;
    // The load does not wait for the background writer: a parent's map file not written yet
    // (it appears whole, renamed from its part) cannot be read, and there is no tap.
    let cols = pass_columns(&plan.1, t, &checked, &shared_maps(ctx)).ok()?;
    let own = match plan.1.converted(table) {
        None => source::Own::None,
        Some(_) => {
            let from = crate::run::keys::key_source(ctx, table).ok()??;
            source::Own::derived(ctx, table, from).ok()?
        }
    };
    Some(source::SourcePass::new(table, cols, own, false, 0).with_positions(positions))
}

/// Checks one table; returns the check and what its pass over SOURCE saw (rows, largest key)
/// for `source_snapshot`, `None` when it did not read SOURCE. `tapped`: SOURCE's side already
/// digested from the load's stream (`source_tap`).
fn verify_table(
    ctx: &Context,
    t: &Table,
    ft: Option<&Table>,
    maps: &Maps,
    per_column: bool,
    tapped: Option<source::SourcePass>,
) -> Result<(TableCheck, Option<crate::run::source_snapshot::Snapshot>)> {
    let (_, plan) = &*ctx.plan()?;
    let mut check = TableCheck {
        table: t.name.clone(),
        source_rows: 0,
        final_rows: 0,
        ok: false,
        problems: Vec::new(),
    };
    let Some(ft) = ft else {
        check.problems.push("table missing in DB_FINAL".into());
        // SOURCE not read: the snapshot's own query counts this table.
        return Ok((check, None));
    };
    let source = ctx.source()?;
    let fin = ctx.final_db()?;
    let d = source.dialect();
    let columns = checked_columns(t, ft);
    for c in &t.columns {
        if ft.column(&c.name).is_none() {
            check
                .problems
                .push(format!("column {} missing in DB_FINAL", c.name));
        }
    }
    let own_key = plan.converted(&t.name).map(|c| c.column.clone());
    let format = ctx.conversion.uuid_format;
    let orphans_null = ctx.conversion.orphans == OrphanPolicy::Null;
    // Each side renders its own column types exactly (a FLOAT's text form drops digits).
    let list = exact_list(d, t, &columns);
    let table = d.own_rows(t);

    let tracked = if per_column { columns.len() } else { 0 };
    // SOURCE's pass: handed over by a load that streamed the rows through rekey and digested
    // them on the way (`source_tap`: only its map file is read here), or made here. Derived
    // keys are derived again as the rows come, in any order, and checked against the map file,
    // or written to it where no one did (`maps::left_to_check`); a mapped key's map file is
    // merged in old-key order.
    let (mut pass, read) = match tapped {
        Some(pass) => (pass, None),
        None => {
            let cols = pass_columns(plan, t, &columns, maps)?;
            let (own, order) = match (&own_key, crate::run::keys::key_source(ctx, &t.name)?) {
                (None, _) => (source::Own::None, String::new()),
                (Some(_), Some(from)) => (source::Own::derived(ctx, &t.name, from)?, String::new()),
                (Some(k), None) => {
                    let map = crate::run::keys::map_file(&ctx.map_dir(), &t.name);
                    let map: source::MapPairs = Box::new(crate::run::keys::read_map(&map)?);
                    let map = map.peekable();
                    (
                        source::Own::Merge { map, entries: 0 },
                        format!(" ORDER BY {}", d.q(k)),
                    )
                }
            };
            let pass = source::SourcePass::new(&t.name, cols, own, orphans_null, tracked);
            (pass, Some(format!("SELECT {list} FROM {table}{order}")))
        }
    };
    let is_uuid = pass.is_uuid().to_vec();
    // DB_FINAL's UUID columns as their 16 bytes where its engine reads those cheaper than the
    // text (`Dialect::uuid_bytes_select`), each then read as `Binary16`; only a column of the
    // type `uuid_type` names (a `rekey verify` may meet one changed since the run's compare).
    let fd = fin.dialect();
    let uuid_type = fd.uuid_type(format).ok();
    let stored: Vec<(String, UuidFormat)> = columns
        .iter()
        .zip(&is_uuid)
        .map(|(c, &uuid)| {
            let col = ft.column(c);
            let typed = col.is_some_and(|col| {
                uuid_type
                    .as_deref()
                    .is_some_and(|t| col.data_type.eq_ignore_ascii_case(t))
            });
            let bytes = (uuid && typed)
                .then(|| fd.uuid_bytes_select(c, format))
                .flatten();
            match (bytes, col) {
                (Some(select), _) => (select, UuidFormat::Binary16),
                (None, Some(col)) => (fd.exact_select(col), format),
                (None, None) => (fd.q(c), format),
            }
        })
        .collect();
    let final_list = stored
        .iter()
        .map(|(select, _)| select.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    // Both sides hold about as many rows: SOURCE's count decides how they are read.
    let large = crate::run::source_snapshot::large(ctx, t);
    // Both sides are read at once, each on its own connection: a big table's check takes the
    // longer of the two reads, not their sum.
    let read_source = move || -> Result<source::SourceSide> {
        if let Some(sql) = read {
            let mut ss = source.connect()?;
            crate::backend::read_all(ss.as_mut(), large, &sql, &mut |row| pass.row(row))?;
        }
        pass.finish()
    };
    // DB_FINAL, in any order.
    let read_final = || -> Result<(Digest, u64, Box<dyn crate::backend::Session>)> {
        let mut buf = Vec::new();
        let mut fin_digest = Digest::new(tracked);
        let mut malformed = 0u64;
        let mut fs = fin.connect()?;
        let sql = format!("SELECT {final_list} FROM {}", fin.dialect().own_rows(ft));
        crate::backend::read_all(fs.as_mut(), large, &sql, &mut |row| {
            for (i, v) in row.iter().enumerate() {
                if !is_uuid[i] {
                    fin_digest.push(i, raw(v), &mut buf);
                    continue;
                }
                match v {
                    Value::Null => fin_digest.push(i, Canon::Null, &mut buf),
                    Value::Text(b) | Value::Blob(b) => match parse_stored(b, stored[i].1) {
                        Some(u) => fin_digest.push(i, Canon::Uuid(u.as_u128()), &mut buf),
                        None => {
                            malformed += 1;
                            fin_digest.push(i, Canon::Null, &mut buf);
                        }
                    },
                    _ => {
                        malformed += 1;
                        fin_digest.push(i, Canon::Null, &mut buf);
                    }
                }
            }
            fin_digest.end_row(&mut buf);
            Ok(())
        })?;
        Ok((fin_digest, malformed, fs))
    };
    let (source_side, final_side) = std::thread::scope(|scope| {
        let final_side = scope.spawn(read_final);
        let source_side = read_source();
        (source_side, final_side.join())
    });
    let (src_digest, problems, max_key) = source_side?;
    let (fin_digest, malformed, mut fs) = super::joined(
        final_side,
        Place::stage(Stage::Verify).table(&t.name),
        "the thread reading DB_FINAL",
    )?;

    check.source_rows = src_digest.rows;
    check.final_rows = fin_digest.rows;
    check.problems.extend(problems);
    if malformed > 0 {
        check.problems.push(format!(
            "{malformed} values in UUID columns are not well-formed {} UUIDs",
            format_name(format)
        ));
    }
    if src_digest.rows != fin_digest.rows {
        check.problems.push(format!(
            "{} rows in SOURCE, {} in DB_FINAL",
            src_digest.rows, fin_digest.rows
        ));
    }
    if src_digest.sum != fin_digest.sum {
        let cols: Vec<&str> = src_digest
            .differing_columns(&fin_digest)
            .into_iter()
            .filter_map(|i| columns.get(i).map(String::as_str))
            .collect();
        check.problems.push(if cols.is_empty() {
            "rows differ: the same values are paired differently".into()
        } else {
            format!("values differ in {}", cols.join(", "))
        });
    }
    // A key that is DB_FINAL's primary key is unique by the engine's own check on every row the
    // load stored (PostgreSQL's COPY, InnoDB's clustered index, SQLite's key index; MariaDB's
    // bulk path stores none of a statement's rows on a duplicate, which the count above
    // catches): counting distinct keys again took 0.57-0.72 s per 1M rows on PostgreSQL.
    let enforced = |k: &String| matches!(ft.primary_key.as_slice(), [pk] if pk == k);
    if let Some(k) = own_key.as_ref().filter(|k| !enforced(k)) {
        let q = fin.dialect().q(k);
        let dup = fs.query_u64(&format!(
            "SELECT COUNT(*) - COUNT(DISTINCT {q}) FROM {}",
            fin.dialect().q(&t.name)
        ))?;
        if dup > 0 {
            check.problems.push(format!("{dup} duplicate keys in {k}"));
        }
    }
    check.ok = check.problems.is_empty();
    let seen = crate::run::source_snapshot::Snapshot {
        rows: src_digest.rows,
        max_key: max_key.map(|k| k.to_string()),
        min_key: None,
    };
    Ok((check, Some(seen)))
}

fn exact_list(d: &dyn crate::backend::Dialect, t: &Table, columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| match t.column(c) {
            Some(col) => d.exact_select(col),
            None => d.q(c),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn format_name(f: UuidFormat) -> &'static str {
    match f {
        UuidFormat::Char32 => "char32",
        UuidFormat::Char36 => "char36",
        UuidFormat::Binary16 => "binary16",
        UuidFormat::Native => "native",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Journal;

    fn in_load(started: f64, process: &str) -> String {
        let done = InLoad {
            check: TableCheck {
                table: "t".into(),
                source_rows: 1,
                final_rows: 1,
                ok: true,
                problems: Vec::new(),
            },
            seen: crate::run::source_snapshot::Snapshot {
                rows: 1,
                max_key: Some("1".into()),
                min_key: None,
            },
            streamed: false,
            ahead: false,
            load_started: started.to_string(),
            process: process.into(),
        };
        serde_json::to_string(&done).unwrap()
    }

    fn load_started(j: &Journal) -> f64 {
        j.step_spans().unwrap()[0].started_at.unwrap()
    }

    #[test]
    fn an_in_load_check_is_trusted_only_for_the_done_load_of_this_process() {
        let j = Journal::in_memory().unwrap();
        j.step_started("load", "t", 0).unwrap();
        let first = load_started(&j);
        j.add_artifact(IN_LOAD, "t", &in_load(first, "p")).unwrap();
        // The load step is not journaled done: its rows may not all be in.
        assert!(trusted_in_load(&j, "p").unwrap().is_empty());
        j.step_finished("load", "t", 1, 0.1, None).unwrap();
        assert!(trusted_in_load(&j, "p").unwrap().contains_key("t"));
        // Another process (a resumed run) reads the table again.
        assert!(trusted_in_load(&j, "q").unwrap().is_empty());
        // The table loaded again after the check: the check is not about these rows.
        std::thread::sleep(std::time::Duration::from_millis(5));
        j.step_started("load", "t", 1).unwrap();
        j.step_finished("load", "t", 1, 0.1, None).unwrap();
        assert_ne!(load_started(&j), first);
        assert!(trusted_in_load(&j, "p").unwrap().is_empty());
        // A check that found a difference is never taken.
        let differs = in_load(load_started(&j), "p").replace("\"ok\":true", "\"ok\":false");
        j.add_artifact(IN_LOAD, "t", &differs).unwrap();
        assert!(trusted_in_load(&j, "p").unwrap().is_empty());
        j.add_artifact(IN_LOAD, "t", &in_load(load_started(&j), "p"))
            .unwrap();
        assert!(trusted_in_load(&j, "p").unwrap().contains_key("t"));
    }
}
