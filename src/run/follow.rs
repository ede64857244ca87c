//! The follower of a live run: SOURCE's committed transactions after the snapshot, applied to
//! DB_FINAL with the run's keys, each as one DB_FINAL transaction that also stores its stream
//! position (so a kill never applies one twice nor loses one); and the cutover's check of the
//! rows it changed, against SOURCE itself.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::live;
use super::Context;
use crate::backend::follow::follow_place;
use crate::backend::{
    Backend, RowChange, Session, SourceTransaction, StreamPosition, StreamRow, Value,
};
use crate::error::{io_error, Error, Result};
use crate::journal::epoch_seconds;
use crate::model::{is_internal, Schema};
use crate::options::{UuidFormat, UuidVersion};
use crate::uuidgen::DerivedKey;

/// The most transactions the follower takes from the stream at once.
const BATCH: usize = 256;

/// When the follower stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// When a `rekey cutover` asks (and SOURCE's changes up to then are applied).
    Requested,
    /// Once SOURCE's changes up to now are applied (the cutover's own drain).
    Drained,
}

/// What a follow did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Followed {
    pub transactions: u64,
    pub changes: u64,
}

/// Where a table's new keys come from.
enum KeySource {
    /// A function of the old key (`DerivedKey`).
    Derived(DerivedKey),
    /// The map file's pairs; a row born during the follow gets a new random key, added to it.
    Mapped(Mutex<HashMap<i128, Uuid>>),
}

/// The run's new keys for every converted table, as shadow made them.
pub struct Keys {
    sources: HashMap<String, KeySource>,
    format: UuidFormat,
    version: UuidVersion,
    map_dir: std::path::PathBuf,
    /// Map file lines of rows born since the last `flush`, per table, and whether a mapped
    /// table's is among them.
    born: Mutex<(HashMap<String, String>, bool)>,
}

impl Keys {
    fn load(ctx: &Context, schema: &Schema, plan: &crate::plan::Plan) -> Result<Keys> {
        let map_dir = ctx.run.run_dir.join("map");
        let mut sources = HashMap::new();
        for c in &plan.converted {
            let source = match super::keys::key_source(ctx, &c.table)? {
                Some(root) => KeySource::Derived(ctx.derived_key(root)),
                None => {
                    let mut pairs = HashMap::new();
                    for pair in super::keys::read_map(&super::keys::map_file(&map_dir, &c.table))? {
                        let (old, new) = pair?;
                        pairs.insert(old, Uuid::from_u128(new));
                    }
                    KeySource::Mapped(Mutex::new(pairs))
                }
            };
            sources.insert(c.table.clone(), source);
        }
        let _ = schema;
        Ok(Keys {
            sources,
            format: ctx.conversion.uuid_format,
            version: ctx.conversion.uuid_version,
            map_dir,
            born: Mutex::new((HashMap::new(), false)),
        })
    }

    /// The new key of `table`'s row `old`. A mapped table's row born during the follow
    /// (`born`) gets a new key, written to its map file before DB_FINAL sees it.
    fn uuid(&self, table: &str, old: i128, born: bool) -> Result<Option<Uuid>> {
        match self.sources.get(table) {
            None => Ok(None),
            Some(KeySource::Derived(spec)) => {
                let new_row = born;
                let old = u64::try_from(old)
                    .ok()
                    .filter(|o| *o < crate::uuidgen::DERIVED_KEY_LIMIT)
                    .ok_or_else(|| {
                        Error::input(
                            follow_place(None).table(table),
                            format!("SOURCE wrote the key {old}, outside the range whose new keys derive from the old ones (0 to 2^59)."),
                            "Convert this table with the application stopped (`rekey run` without --follow).",
                        )
                    })?;
                let id = spec.uuid(old);
                if new_row {
                    // The map file stays the record of every old id, rows born now included.
                    self.append(table, i128::from(old), id)?;
                }
                Ok(Some(id))
            }
            Some(KeySource::Mapped(pairs)) => {
                let mut pairs = pairs.lock().map_err(|_| poisoned())?;
                if let Some(id) = pairs.get(&old) {
                    return Ok(Some(*id));
                }
                if !born {
                    return Err(Error::input(
                        follow_place(None).table(table),
                        format!("SOURCE refers to the row {old}, which neither the snapshot nor the follow gave a new key."),
                        "A reference without a parent row: fix the row on SOURCE, or convert with the application stopped.",
                    ));
                }
                let id = match self.version {
                    UuidVersion::V7 => Uuid::now_v7(),
                    UuidVersion::V4 => Uuid::new_v4(),
                };
                self.append(table, old, id)?;
                pairs.insert(old, id);
                Ok(Some(id))
            }
        }
    }
}

impl Keys {
    /// Notes a row born during the follow for its table's map file (`flush` writes it).
    fn append(&self, table: &str, old: i128, id: Uuid) -> Result<()> {
        let mut born = self.born.lock().map_err(|_| poisoned())?;
        born.1 |= matches!(self.sources.get(table), Some(KeySource::Mapped(_)));
        let lines = born.0.entry(table.to_string()).or_default();
        lines.push_str(&format!("{old},{}\n", id.hyphenated()));
        Ok(())
    }

    /// Writes the rows born since the last call to their map files, before DB_FINAL commits
    /// them: the map files stay the record of every old id. A mapped table's new key exists
    /// nowhere else until DB_FINAL commits, so those lines are on disk first; a derived key is
    /// computed again by a replay, so its lines need no sync of their own.
    fn flush(&self) -> Result<()> {
        let mut born = self.born.lock().map_err(|_| poisoned())?;
        let sync = std::mem::take(&mut born.1);
        for (table, lines) in born.0.drain() {
            let path = super::keys::map_file(&self.map_dir, &table);
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(|e| io_error("append to", &path, e))?;
            file.write_all(lines.as_bytes())
                .and_then(|()| if sync { file.sync_data() } else { Ok(()) })
                .map_err(|e| io_error("append to", &path, e))?;
        }
        Ok(())
    }
}

fn poisoned() -> Error {
    Error::env(
        follow_place(None),
        "internal: a key map's lock was poisoned.",
        "Resume the run with --resume.",
    )
}

/// How one table's rows are written into DB_FINAL.
struct TableMap {
    name: String,
    /// DB_FINAL's primary key columns.
    key: Vec<String>,
    /// DB_FINAL's columns: a stream column it lacks is not written.
    columns: HashSet<String>,
    /// The columns both SOURCE and DB_FINAL have, which the cutover compares.
    shared: Vec<String>,
    /// Columns holding converted keys: the table whose keys they hold.
    uuid: BTreeMap<String, String>,
    /// The columns the follower writes the row's new key from, when the key is converted.
    born_key: Option<String>,
}

/// DB_FINAL's tables as the follower writes them, and the run's keys.
pub struct Mapper {
    tables: HashMap<String, TableMap>,
    keys: Keys,
}

impl Mapper {
    pub fn new(ctx: &Context) -> Result<Mapper> {
        let shared = super::source::load(ctx)?;
        let (schema, plan) = &*shared;
        let fin = ctx.final_db()?;
        let mut fs = fin.connect()?;
        let final_schema = fin.describe(fs.as_mut())?;
        let mut tables = HashMap::new();
        for t in schema.tables.iter().filter(|t| !is_internal(&t.name)) {
            let Some(ft) = final_schema.table(&t.name) else {
                continue;
            };
            if ft.primary_key.is_empty() {
                return Err(Error::input(
                    follow_place(None).table(&t.name),
                    "DB_FINAL's table has no primary key, so the follower cannot tell which row a change of SOURCE's is about.",
                    "Give the table a primary key in DB_FINAL, or convert with the application stopped (`rekey run` without --follow).",
                ));
            }
            let mut uuid = BTreeMap::new();
            let converted = plan.converted(&t.name);
            if let Some(c) = converted {
                uuid.insert(c.column.clone(), c.table.clone());
            }
            for r in plan.references_from(&t.name) {
                uuid.insert(r.column.clone(), r.ref_table.clone());
            }
            tables.insert(
                t.name.clone(),
                TableMap {
                    name: t.name.clone(),
                    key: ft.primary_key.clone(),
                    // A generated column is the server's to compute: compared, never written.
                    columns: ft.writable_columns().map(|c| c.name.clone()).collect(),
                    shared: t
                        .columns
                        .iter()
                        .filter(|c| ft.column(&c.name).is_some())
                        .map(|c| c.name.clone())
                        .collect(),
                    uuid,
                    born_key: converted
                        .filter(|c| c.follows.is_none())
                        .map(|c| c.column.clone()),
                },
            );
        }
        Ok(Mapper {
            tables,
            keys: Keys::load(ctx, schema, plan)?,
        })
    }

    /// The tables the follower writes (SOURCE's names).
    pub fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tables.keys().cloned().collect();
        names.sort();
        names
    }

    /// A SOURCE value of `column` as DB_FINAL stores it: a converted key becomes its UUID.
    fn final_value(
        &self,
        fin: &dyn Backend,
        t: &TableMap,
        column: &str,
        value: &Value,
        born: bool,
    ) -> Result<Value> {
        let Some(of) = t.uuid.get(column) else {
            return Ok(value.clone());
        };
        if value.is_null() {
            return Ok(Value::Null);
        }
        let old = value.as_key().ok_or_else(|| {
            Error::input(
                follow_place(None).table(&t.name).column(column),
                format!("SOURCE wrote {value:?} where an integer key belongs."),
                "Fix the value on SOURCE; the follower stopped before writing it.",
            )
        })?;
        let born = born && t.born_key.as_deref() == Some(column);
        match self.keys.uuid(of, old, born)? {
            Some(id) => Ok(fin.dialect().uuid_value(&id, self.keys.format)),
            None => Ok(value.clone()),
        }
    }

    /// `row`'s columns that DB_FINAL has, as (quoted column, literal).
    fn literals(
        &self,
        fin: &dyn Backend,
        t: &TableMap,
        row: &StreamRow,
        born: bool,
    ) -> Result<Vec<(String, String)>> {
        let d = fin.dialect();
        row.iter()
            .filter(|(c, _)| t.columns.contains(c))
            .map(|(c, v)| {
                let v = self.final_value(fin, t, c, v, born)?;
                Ok((d.q(c), d.value_literal(&v)))
            })
            .collect()
    }

    /// `WHERE` of the row whose SOURCE key `row` holds.
    fn key_condition(&self, fin: &dyn Backend, t: &TableMap, row: &StreamRow) -> Result<String> {
        let d = fin.dialect();
        let mut parts = Vec::new();
        for k in &t.key {
            let v = crate::backend::follow::column(row, k).ok_or_else(|| {
                Error::env(
                    follow_place(None).table(&t.name).column(k),
                    "the change stream carried a change without the row's key.",
                    "Check `rekey check --follow` (the binlog's row image must be FULL; PostgreSQL needs a replica identity).",
                )
            })?;
            let v = self.final_value(fin, t, k, v, false)?;
            parts.push(format!("{} = {}", d.q(k), d.value_literal(&v)));
        }
        Ok(parts.join(" AND "))
    }

    /// The SOURCE key of a row, as the journal records touched rows.
    fn key_text(t: &TableMap, row: &StreamRow) -> String {
        let values: Vec<String> = t
            .key
            .iter()
            .map(|k| {
                crate::backend::follow::column(row, k)
                    .and_then(Value::as_string)
                    .unwrap_or_default()
            })
            .collect();
        serde_json::to_string(&values).unwrap_or_default()
    }

    /// Applies one SOURCE transaction as one DB_FINAL transaction, with the position.
    fn apply(
        &self,
        ctx: &Context,
        fin: &dyn Backend,
        s: &mut dyn Session,
        txn: &SourceTransaction,
    ) -> Result<u64> {
        let d = fin.dialect();
        let mut touched = Vec::new();
        let mut statements: Vec<String> = Vec::new();
        for change in &txn.changes {
            let Some(t) = self.tables.get(change.table()) else {
                continue;
            };
            let table = d.q(&t.name);
            match change {
                RowChange::Insert { after, .. } => {
                    touched.push((t.name.clone(), Self::key_text(t, after)));
                    let (cols, vals): (Vec<String>, Vec<String>) =
                        self.literals(fin, t, after, true)?.into_iter().unzip();
                    let key: Vec<String> = t.key.iter().map(|k| d.q(k)).collect();
                    statements.push(d.upsert_sql(&table, &cols, &vals, &key));
                }
                RowChange::Update { before, after, .. } => {
                    touched.push((t.name.clone(), Self::key_text(t, before)));
                    touched.push((t.name.clone(), Self::key_text(t, after)));
                    // A row gets a new key only when its old one changed (a mapped table's new id).
                    let key_changed = Self::key_text(t, before) != Self::key_text(t, after);
                    let lits = self.literals(fin, t, after, key_changed)?;
                    let old_key = self.key_condition(fin, t, before)?;
                    let whole = t.columns.iter().all(|c| after.iter().any(|(n, _)| n == c));
                    // The row as a whole where the key stays: an upsert, which needs no answer
                    // from the server, so the transaction goes in one round trip. A changed key
                    // is an UPDATE, so that DB_FINAL's ON UPDATE actions run; so is a row the
                    // stream gave in part (an unchanged TOAST value).
                    if whole && old_key == self.key_condition(fin, t, after)? {
                        let (cols, vals): (Vec<String>, Vec<String>) = lits.into_iter().unzip();
                        let key: Vec<String> = t.key.iter().map(|k| d.q(k)).collect();
                        statements.push(d.upsert_sql(&table, &cols, &vals, &key));
                    } else {
                        let set: Vec<String> =
                            lits.iter().map(|(c, v)| format!("{c} = {v}")).collect();
                        statements.push(format!(
                            "UPDATE {table} SET {} WHERE {old_key}",
                            set.join(", ")
                        ));
                    }
                }
                RowChange::Delete { before, .. } => {
                    touched.push((t.name.clone(), Self::key_text(t, before)));
                    statements.push(format!(
                        "DELETE FROM {table} WHERE {}",
                        self.key_condition(fin, t, before)?
                    ));
                }
            }
        }
        // A transaction of other tables writes nothing: with SOURCE and DB_FINAL on one server,
        // storing its position would be a transaction of the stream's own, and so on forever.
        // Its position is stored with the next one that changes DB_FINAL.
        if statements.is_empty() {
            return Ok(0);
        }
        // Recorded first: a kill between here and the commit leaves a row checked for nothing
        // (and a map line of a row DB_FINAL does not have yet, which the replay writes again).
        ctx.journal.add_touched(&touched)?;
        self.keys.flush()?;
        // The whole transaction in one round trip, its position stored inside it: each SOURCE
        // transaction is applied once, or not at all.
        let count = statements.len() as u64;
        statements.insert(0, d.begin_sql().to_string());
        statements.push(live::store_position_sql(fin, &ctx.run_id, &txn.end));
        statements.push("COMMIT".to_string());
        if let Err(e) = s.execute(&statements.join(";\n")) {
            let _ = s.execute("ROLLBACK");
            return Err(e);
        }
        Ok(count)
    }
}

/// Stores `applied` in DB_FINAL with a commit that waits for its flush, then lets the stream free
/// what comes before it.
fn confirm_durably(
    ctx: &Context,
    fin: &dyn Backend,
    s: &mut dyn Session,
    stream: &mut dyn crate::backend::ChangeStream,
    applied: &StreamPosition,
) -> Result<()> {
    let d = fin.dialect();
    let mut statements = vec![d.begin_sql().to_string()];
    statements.extend(d.durable_commit_sql());
    statements.push(live::store_position_sql(fin, &ctx.run_id, applied));
    statements.push("COMMIT".into());
    if let Err(e) = s.execute(&statements.join(";\n")) {
        let _ = s.execute("ROLLBACK");
        return Err(e);
    }
    stream.confirm(applied)
}

/// Applies SOURCE's changes to DB_FINAL from where DB_FINAL's position table says (or the
/// snapshot's position) until `until`.
pub fn follow(ctx: &Context, mapper: &Mapper, until: Until) -> Result<Followed> {
    // `rekey status` says following from the first moment.
    let mut progress = ctx.journal.follow_progress()?.unwrap_or_default();
    progress.at = epoch_seconds();
    // Unknown until the first pass over the stream: 0 would say caught up.
    progress.lag_seconds = None;
    ctx.journal.set_follow_progress(&progress)?;
    let live_source = ctx.live_source()?;
    let fin = ctx.final_db()?;
    unchanged_since_snapshot(ctx, mapper)?;
    let mut s = fin.connect()?;
    for sql in fin.dialect().follow_session() {
        s.execute(&sql)?;
    }
    live::create_position_table(fin.as_ref(), s.as_mut())?;
    let from = match live::stored_position(fin.as_ref(), s.as_mut(), &ctx.run_id)? {
        Some(p) => p,
        None => ctx.journal.snapshot_position()?.ok_or_else(|| {
            Error::env(
                follow_place(None),
                "the journal holds no snapshot position for this live run.",
                "Undo it with `rekey clean` and start the live cutover again.",
            )
        })?,
    };
    let mut stream = live_source.stream_from(&from, &ctx.run_id, &mapper.table_names())?;
    progress.applied = from.0.clone();
    let mut applied = from;
    let mut target: Option<StreamPosition> = None;
    let mut done = Followed::default();
    let mut last_note = Instant::now();
    let mut last_confirm = Instant::now();
    let mut last_check = Instant::now();
    let mut counted = false;
    let mut confirmed = true;
    let mut last_head = Instant::now() - Duration::from_secs(60);
    loop {
        ctx.check_interrupt("the last applied transaction")?;
        if target.is_none()
            && (until == Until::Drained || live::cutover_requested(&ctx.run.run_dir).is_some())
        {
            target = Some(live_source.position_now(&ctx.run_id)?);
        }
        if let Some(t) = &target {
            if live_source.reached(&applied, t)? {
                break;
            }
        }
        let batch = stream.next(BATCH, Duration::from_millis(200))?;
        let busy = Instant::now();
        for txn in &batch {
            done.changes += mapper.apply(ctx, fin.as_ref(), s.as_mut(), txn)?;
            done.transactions += 1;
            applied = txn.end.clone();
            if let Some(at) = txn.committed_at {
                progress.lag_seconds = Some((epoch_seconds() - at as f64).max(0.0));
            }
        }
        // Freeing what is applied costs the engine a pass over its log (PostgreSQL decodes the
        // WAL again to advance the slot): once a second, and before the follower stops. Only a
        // position DB_FINAL holds on disk is confirmed: the position is stored again on its own
        // (transactions of other tables move it without writing DB_FINAL) with a commit that
        // waits for the flush, so a crash of DB_FINAL's server never finds the stream past it.
        if !batch.is_empty() {
            confirmed = false;
        }
        if !confirmed && (target.is_some() || last_confirm.elapsed() >= Duration::from_secs(1)) {
            confirm_durably(ctx, fin.as_ref(), s.as_mut(), stream.as_mut(), &applied)?;
            last_confirm = Instant::now();
            confirmed = true;
        }
        if !batch.is_empty() {
            progress.busy_seconds += busy.elapsed().as_secs_f64();
        } else {
            progress.lag_seconds = Some(0.0);
        }
        // Keeping up (the stream gave less than a full batch) and no cutover asked yet: the
        // rows changed so far are checked now, a slice a second, and the tables the follow has
        // not changed counted once, so that the freeze does neither.
        let keeping_up = batch.len() < BATCH && progress.lag_seconds.is_some_and(|l| l < 1.0);
        if until == Until::Requested
            && target.is_none()
            && keeping_up
            && last_check.elapsed() >= Duration::from_secs(1)
        {
            check_while_following(ctx, mapper, 2000)?;
            if !counted {
                count_while_following(ctx, mapper)?;
                counted = true;
            }
            last_check = Instant::now();
        }
        if last_head.elapsed() >= Duration::from_secs(2) || !batch.is_empty() {
            if last_head.elapsed() >= Duration::from_secs(2) {
                let head = live_source.position_now(&ctx.run_id)?;
                progress.behind = live_source.behind(&applied, &head);
                last_head = Instant::now();
                progress
                    .timeline
                    .push((epoch_seconds(), progress.lag_seconds.unwrap_or(0.0)));
                if progress.timeline.len() > 2000 {
                    // Every other point: the timeline keeps its span at half the detail.
                    progress.timeline = progress.timeline.iter().step_by(2).cloned().collect();
                }
            }
            progress.applied = applied.0.clone();
            progress.transactions += batch.len() as u64;
            progress.changes += batch.iter().map(|t| t.changes.len() as u64).sum::<u64>();
            progress.at = epoch_seconds();
            ctx.journal.set_follow_progress(&progress)?;
        }
        if last_note.elapsed() >= Duration::from_secs(30) {
            ctx.progress.note(&format!(
                "following SOURCE: {} transactions applied, lag {:.1} s",
                progress.transactions,
                progress.lag_seconds.unwrap_or(0.0)
            ));
            last_note = Instant::now();
        }
    }
    if !confirmed {
        confirm_durably(ctx, fin.as_ref(), s.as_mut(), stream.as_mut(), &applied)?;
    }
    progress.applied = applied.0.clone();
    progress.at = epoch_seconds();
    progress.lag_seconds = Some(0.0);
    progress.behind = Some(0);
    ctx.journal.set_follow_progress(&progress)?;
    Ok(done)
}

/// SOURCE's followed tables as the snapshot copied them: a schema change between the snapshot and
/// the stream's start would be in neither (PostgreSQL's stream carries no DDL; it watches the
/// tables' shapes from its start), and a new column's values would be lost in silence.
fn unchanged_since_snapshot(ctx: &Context, mapper: &Mapper) -> Result<()> {
    let shared = super::source::load(ctx)?;
    let live_source = ctx.live_source()?;
    let mut s = live_source.connect()?;
    let now = live_source.describe(s.as_mut())?;
    let shape = |t: &crate::model::Table| {
        let columns: Vec<(String, String)> = t
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.column_type.to_ascii_lowercase()))
            .collect();
        (columns, t.primary_key.clone())
    };
    for name in mapper.table_names() {
        let then = shared.0.table(&name).map(shape);
        if then != now.table(&name).map(shape) {
            return Err(Error::env(
                follow_place(None).table(&name),
                "SOURCE's table changed shape (a column or its key added, dropped or retyped) since the snapshot, so the snapshot's conversion no longer fits it.",
                "Start the live cutover again after the schema change: `rekey clean --run-dir DIR`, then `rekey run --follow`.",
            ));
        }
    }
    Ok(())
}

impl Mapper {
    /// Compares the rows of `name` whose SOURCE keys `chunk` holds (as the journal records
    /// touched rows) on SOURCE and in DB_FINAL, content and references through the run's keys,
    /// in one query per side. Returns the keys found equal, and a line per difference.
    fn check_rows(
        &self,
        fin: &dyn Backend,
        ss: &mut dyn Session,
        fs: &mut dyn Session,
        name: &str,
        chunk: &[String],
    ) -> Result<(Vec<String>, Vec<String>)> {
        let mapper = self;
        let d = fin.dialect();
        let t = &self.tables[name];
        let columns = &t.shared;
        let select = columns
            .iter()
            .map(|c| d.q(c))
            .collect::<Vec<_>>()
            .join(", ");
        let key_at: Vec<usize> = t
            .key
            .iter()
            .filter_map(|k| columns.iter().position(|c| c == k))
            .collect();
        if key_at.len() != t.key.len() {
            return Err(Error::input(
                follow_place(None).table(name),
                "DB_FINAL's primary key has a column SOURCE lacks, so the cutover cannot find SOURCE's rows in it.",
                "Give DB_FINAL's table the same primary key columns as SOURCE's.",
            ));
        }
        let mut same_keys = Vec::new();
        let mut problems = Vec::new();
        let keys: Vec<Vec<String>> = chunk
            .iter()
            .map(|k| serde_json::from_str(k).unwrap_or_default())
            .collect();
        let source_where: Vec<String> = keys
            .iter()
            .map(|values| {
                let parts: Vec<String> = t
                    .key
                    .iter()
                    .zip(values)
                    .map(|(k, v)| format!("{} = {}", d.q(k), d.lit(v)))
                    .collect();
                format!("({})", parts.join(" AND "))
            })
            .collect();
        let mut source_rows: HashMap<Vec<String>, Vec<Value>> = HashMap::new();
        ss.query(
            &format!(
                "SELECT {select} FROM {} WHERE {}",
                d.q(name),
                source_where.join(" OR ")
            ),
            &mut |row| {
                let key = key_at
                    .iter()
                    .map(|&i| row[i].as_string().unwrap_or_default())
                    .collect();
                source_rows.insert(key, row.to_vec());
                Ok(())
            },
        )?;
        // Each key's row in DB_FINAL, found by its new key; a key the follow never gave one
        // (a mapped row deleted before the follow saw it born) has no row there either way.
        let mut expected_keys: Vec<(Vec<String>, Option<Vec<String>>)> = Vec::new();
        let mut final_where = Vec::new();
        for values in &keys {
            let key_row: StreamRow = t
                .key
                .iter()
                .cloned()
                .zip(values.iter().map(|v| Value::Text(v.clone().into_bytes())))
                .collect();
            match mapper.key_condition(fin, t, &key_row) {
                Ok(w) => {
                    final_where.push(format!("({w})"));
                    let new: Result<Vec<String>> = t
                        .key
                        .iter()
                        .zip(&key_row)
                        .map(|(k, (_, v))| Ok(normal(&mapper.final_value(fin, t, k, v, false)?)))
                        .collect();
                    expected_keys.push((values.clone(), Some(new?)));
                }
                Err(_) if !source_rows.contains_key(values) => {
                    expected_keys.push((values.clone(), None));
                }
                Err(e) => return Err(e),
            }
        }
        let mut final_rows: HashMap<Vec<String>, Vec<Value>> = HashMap::new();
        if !final_where.is_empty() {
            fs.query(
                &format!(
                    "SELECT {select} FROM {} WHERE {}",
                    d.q(name),
                    final_where.join(" OR ")
                ),
                &mut |row| {
                    let key = key_at.iter().map(|&i| normal(&row[i])).collect();
                    final_rows.insert(key, row.to_vec());
                    Ok(())
                },
            )?;
        }
        // A row the queries returned but no key found (its key's text not as the stream wrote
        // it) leaves "absent on both sides" unproven for this chunk.
        let found_source = expected_keys
            .iter()
            .filter(|(v, _)| source_rows.contains_key(v))
            .count();
        let found_final = expected_keys
            .iter()
            .filter(|(_, k)| k.as_ref().is_some_and(|k| final_rows.contains_key(k)))
            .count();
        let all_found = found_source == source_rows.len() && found_final == final_rows.len();
        for (values, new_key) in expected_keys {
            let source_row = source_rows.get(&values);
            let final_row = new_key.as_ref().and_then(|k| final_rows.get(k));
            let same = match (source_row, final_row) {
                (None, None) => all_found,
                (Some(sr), Some(fr)) => {
                    let mut same = true;
                    for ((c, sv), fv) in columns.iter().zip(sr).zip(fr) {
                        let expected = mapper.final_value(fin, t, c, sv, false)?;
                        same &= expected == *fv
                            || expected.as_string() == fv.as_string()
                            || uuid_equal(&expected, fv);
                    }
                    same
                }
                _ => false,
            };
            if same {
                same_keys.push(serde_json::to_string(&values).unwrap_or_default());
            } else {
                problems.push(format!(
                    "{name}: the row with SOURCE key {} differs ({})",
                    values.join(", "),
                    match (source_row, final_row) {
                        (Some(_), None) => "missing in DB_FINAL",
                        (None, Some(_)) => "deleted on SOURCE, still in DB_FINAL",
                        _ => "other values",
                    }
                ));
            }
        }
        Ok((same_keys, problems))
    }
}

/// While following, with nothing waiting in the stream: checks up to `budget` of the rows the
/// follower changed that are not checked yet, and marks those found equal, so that the cutover
/// checks only what changed since (a row changed again is unmarked). A row that differs now is
/// only behind SOURCE, or not: the cutover decides. Returns the rows marked.
pub fn check_while_following(ctx: &Context, mapper: &Mapper, budget: usize) -> Result<u64> {
    let live_source = ctx.live_source()?;
    let fin = ctx.final_db()?;
    let mut ss = live_source.connect()?;
    let mut fs = fin.connect()?;
    let mut left = budget;
    let mut marked = 0u64;
    for name in mapper.table_names() {
        if left == 0 {
            break;
        }
        let mut keys = ctx.journal.touched(&name)?;
        keys.truncate(left);
        left -= keys.len();
        for chunk in keys.chunks(200) {
            // A row SOURCE changed since DB_FINAL's position may name a parent the follow has
            // not reached: not equal yet, not an error; the cutover checks it.
            let Ok((same, _)) =
                mapper.check_rows(fin.as_ref(), ss.as_mut(), fs.as_mut(), &name, chunk)
            else {
                continue;
            };
            ctx.journal.mark_verified(&name, &same)?;
            marked += same.len() as u64;
        }
    }
    Ok(marked)
}

/// The cutover's check of the rows the follower changed (those not already found equal while
/// following) against SOURCE itself. Returns the rows checked; differences are an
/// `Error::Mismatch` naming each.
pub fn verify_touched(ctx: &Context, mapper: &Mapper) -> Result<u64> {
    let live_source = ctx.live_source()?;
    let fin = ctx.final_db()?;
    let mut ss = live_source.connect()?;
    let mut fs = fin.connect()?;
    let mut checked = 0u64;
    let mut problems = Vec::new();
    for name in mapper.table_names() {
        for chunk in ctx.journal.touched(&name)?.chunks(200) {
            let (same, differ) =
                mapper.check_rows(fin.as_ref(), ss.as_mut(), fs.as_mut(), &name, chunk)?;
            checked += chunk.len() as u64;
            ctx.journal.mark_verified(&name, &same)?;
            problems.extend(differ);
        }
    }
    differences(problems).map(|()| checked)
}

/// The cutover's count check: every table's rows on SOURCE and in DB_FINAL, except the tables
/// found equal while following that nothing has changed since: neither the follower (no row
/// of theirs touched) nor a foreign-key action of DB_FINAL's from a table it touched (MariaDB's
/// stream does not carry those). So the freeze counts what the follow changed, not the whole
/// database. Returns the tables counted.
pub fn verify_counts(ctx: &Context, mapper: &Mapper) -> Result<usize> {
    let changed = reached_by_actions(ctx, &ctx.journal.touched_tables()?)?;
    let counted = ctx.journal.counted_while_following()?;
    let tables: Vec<String> = mapper
        .table_names()
        .into_iter()
        .filter(|t| changed.contains(t) || !counted.contains(t))
        .collect();
    differences(count_differences(ctx, &tables)?).map(|()| tables.len())
}

/// While following and caught up: counts the tables the follower has changed no row of, and
/// journals those found equal (the cutover recounts only what changed since).
pub fn count_while_following(ctx: &Context, mapper: &Mapper) -> Result<()> {
    let changed = reached_by_actions(ctx, &ctx.journal.touched_tables()?)?;
    let tables: Vec<String> = mapper
        .table_names()
        .into_iter()
        .filter(|t| !changed.contains(t))
        .collect();
    let differ = count_differences(ctx, &tables)?;
    let equal: Vec<String> = tables
        .into_iter()
        .filter(|t| !differ.iter().any(|d| d.starts_with(&format!("{t}: "))))
        .collect();
    ctx.journal.set_counted_while_following(&equal)
}

/// `tables` and every table a foreign-key action (CASCADE, SET NULL, SET DEFAULT) of SOURCE's
/// schema reaches from them.
fn reached_by_actions(ctx: &Context, tables: &[String]) -> Result<HashSet<String>> {
    let shared = super::source::load(ctx)?;
    let acts = |rule: &str| {
        let r = rule.to_ascii_uppercase();
        !(r.is_empty() || r == "RESTRICT" || r == "NO ACTION")
    };
    let mut reached: HashSet<String> = tables.iter().cloned().collect();
    let mut todo: Vec<String> = tables.to_vec();
    while let Some(parent) = todo.pop() {
        for child in &shared.0.tables {
            let acted = child
                .foreign_keys
                .iter()
                .any(|fk| fk.ref_table == parent && (acts(&fk.on_delete) || acts(&fk.on_update)));
            if acted && reached.insert(child.name.clone()) {
                todo.push(child.name.clone());
            }
        }
    }
    Ok(reached)
}

fn differences(problems: Vec<String>) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = problems.iter().take(20).cloned().collect();
    Err(Error::mismatch(
        follow_place(None),
        format!(
            "DB_FINAL differs from SOURCE after the follow ({} {}): {}. Nothing was restored or handed over; the application must stay on SOURCE. Undo with `rekey clean` and convert with the application stopped, and report this.",
            problems.len(),
            crate::text::plural(problems.len(), "difference"),
            shown.join("; ")
        ),
    ))
}

/// Every table's rows counted on SOURCE and in DB_FINAL at once (two sessions, one per side):
/// the tables whose counts differ.
fn count_differences(ctx: &Context, tables: &[String]) -> Result<Vec<String>> {
    let live_source = ctx.live_source()?;
    let fin = ctx.final_db()?;
    let count = |db: &dyn Backend| -> Result<Vec<u64>> {
        let q = |t: &str| db.dialect().q(t);
        let mut s = db.connect()?;
        tables
            .iter()
            .map(|t| s.query_u64(&format!("SELECT COUNT(*) FROM {}", q(t))))
            .collect()
    };
    let (in_source, in_final) = std::thread::scope(|scope| {
        let source = scope.spawn(|| count(live_source.as_ref()));
        let in_final = count(fin.as_ref());
        (source.join(), in_final)
    });
    let in_source = in_source.map_err(|_| {
        Error::env(
            follow_place(None),
            "internal: counting SOURCE's rows failed.",
            "Run `rekey cutover` again.",
        )
    })??;
    let in_final = in_final?;
    Ok(tables
        .iter()
        .zip(in_source.iter().zip(&in_final))
        .filter(|(_, (a, b))| a != b)
        .map(|(t, (a, b))| format!("{t}: {a} rows on SOURCE, {b} in DB_FINAL"))
        .collect())
}

/// A key value in one comparable form: a UUID however it is stored, else its text.
fn normal(v: &Value) -> String {
    let id = match v {
        Value::Blob(b) if b.len() == 16 => Uuid::from_slice(b).ok(),
        Value::Text(t) | Value::Blob(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| Uuid::try_parse(s.trim()).ok()),
        _ => None,
    };
    match id {
        Some(id) => id.to_string(),
        None => v.as_string().unwrap_or_default(),
    }
}

/// Two UUID values in different storage forms (text and bytes) that name the same UUID.
fn uuid_equal(a: &Value, b: &Value) -> bool {
    let parse = |v: &Value| match v {
        Value::Blob(b) if b.len() == 16 => Uuid::from_slice(b).ok(),
        Value::Text(t) | Value::Blob(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| Uuid::try_parse(s.trim()).ok()),
        _ => None,
    };
    matches!((parse(a), parse(b)), (Some(x), Some(y)) if x == y)
}
