//! Stage 0 of a run whose SOURCE is on another engine than DB_DATA: SOURCE's tables copied, in
//! the target engine's exact types, into a database rekey owns next to DB_DATA (`<DB_DATA>_source`),
//! every row streamed as cells (`backend::transfer`), and each table read back and compared with
//! SOURCE by meaning before it counts as done. Every later stage reads that copy as SOURCE, so the
//! conversion runs within one engine as it always did. SOURCE is only read; nothing is written to
//! DB_DATA or DB_FINAL here. What the move cannot store exactly is refused before the copy is
//! made, naming the table, the column and the rows.

use std::collections::BTreeMap;
use std::sync::mpsc::sync_channel;

use super::{Context, Outcome, Stage};
use crate::backend::transfer::{
    BlockerKind, Cell, ExportBlocker, ImportTable, Portable, PortableColumn, PortableDefault,
};
use crate::backend::Backend;
use crate::error::{Error, Place, Result};
use crate::journal::Artifact;
use crate::model::{Schema, Table};
use crate::run::digest::Digest;
use crate::run::moved::{COPY, LINKS_STEP};

/// Rows handed from SOURCE's reader to the copy's writer at a time.
const BATCH: usize = 1024;

pub fn run(ctx: &Context) -> Result<Outcome> {
    let origin = ctx.moved_from()?;
    let copy = ctx.source()?;
    let mut s = origin.connect()?;
    let schema = origin.describe(s.as_mut())?;
    drop(s);
    let wanted = final_columns(ctx)?;
    let plan = plan_copy(origin.as_ref(), copy.as_ref(), &schema, wanted.as_ref())?;
    for note in &plan.notes {
        ctx.progress.note(&format!("transfer: {note}"));
    }
    let scanned = std::time::Instant::now();
    let nulled = refuse_blockers(ctx, origin.as_ref(), &schema, &plan)?;
    let scan_seconds = scanned.elapsed().as_secs_f64();
    for line in &nulled {
        ctx.progress.note(&format!("transfer: {line}"));
    }
    if ctx.run.dry_run {
        for t in &plan.tables {
            let ddl = copy.import_ddl(t);
            ctx.say(&format!(
                "    -- transfer {}: create, copy its rows, read them back",
                t.name
            ));
            for sql in ddl.before.iter().chain(&ddl.after) {
                ctx.say(&format!("    {sql};"));
            }
        }
        for sql in plan.tables.iter().flat_map(|t| copy.import_ddl(t).links) {
            ctx.say(&format!("    {sql};"));
        }
        return Ok(Outcome::default());
    }

    // The copy is rekey's own database: made once, kept across a resume (tables the journal
    // has done stay), never one rekey did not create.
    COPY.claim(ctx, Place::stage(Stage::Transfer), copy.as_ref())?;
    crate::run::marker::mark(ctx, copy.as_ref())?;
    if let Some(fin) = &ctx.final_db {
        let types: Vec<String> = plan
            .tables
            .iter()
            .flat_map(|t| t.final_types.values().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !types.is_empty() {
            copy.import_types(fin.as_ref(), &types)?;
        }
    }

    let mut order: Vec<&ImportTable> = plan.tables.iter().collect();
    let rows_of = |t: &ImportTable| schema.table(&t.name).map_or(0, |t| t.estimated_rows);
    order.sort_by_key(|t| std::cmp::Reverse(rows_of(t)));
    let zero_dates_null = ctx.run.zero_dates_null;
    let rows = ctx.steps(
        Stage::Transfer,
        &order,
        |t| t.name.clone(),
        true,
        |t| {
            let source_table = schema.table(&t.name).ok_or_else(|| {
                Error::env(
                    Place::stage(Stage::Transfer).table(&t.name),
                    "SOURCE's table went away during the move.",
                    "Run again with --resume once SOURCE is back as it was.",
                )
            })?;
            let exported = plan.exported.get(&t.name).map_or(&t.columns, |c| c);
            let (rows, digest) = copy_table(
                origin.as_ref(),
                copy.as_ref(),
                source_table,
                t,
                exported,
                zero_dates_null,
            )?;
            let copied = Copied::of(t, exported, &digest);
            ctx.journal.add_artifact(
                Artifact::Transferred,
                &t.name,
                &serde_json::to_string(&copied).unwrap_or_default(),
            )?;
            Ok(rows)
        },
    )?;
    ctx.steps(
        Stage::Transfer,
        &[LINKS_STEP],
        |s| s.to_string(),
        false,
        |_| {
            let added = link(copy.as_ref(), &plan.tables)?;
            // The kill tests' moment: the foreign keys committed, the step not journaled.
            ctx.test_stall_at("transfer-links");
            Ok(added)
        },
    )?;
    Ok(Outcome {
        rows,
        detail: Some(format!(
            "{} tables copied from {} to {} and compared by meaning (SOURCE scanned for what cannot move in {scan_seconds:.2} s){}{}",
            plan.tables.len(),
            origin.url().engine,
            copy.url().engine,
            if nulled.is_empty() {
                String::new()
            } else {
                format!("; {}", nulled.join("; "))
            },
            if plan.notes.is_empty() {
                String::new()
            } else {
                format!("; not carried over: {}", plan.notes.join("; "))
            }
        )),
    })
}

/// What the copy will hold: SOURCE's tables with each column's chosen type, and what is not
/// carried over (for the reviewer: generated columns, untranslated defaults and indexes).
pub struct CopyPlan {
    pub tables: Vec<ImportTable>,
    /// Per table, SOURCE's columns as the exporter gave them (their own types), in the copy's
    /// column order.
    pub exported: BTreeMap<String, Vec<PortableColumn>>,
    pub notes: Vec<String>,
}

/// DB_FINAL's columns when the application made DB_FINAL (not `--derive-final`): they choose
/// among a SOURCE column's exact alternatives (a TINYINT(1) that DB_FINAL holds as boolean).
fn final_columns(ctx: &Context) -> Result<Option<Schema>> {
    let Some(fin) = &ctx.final_db else {
        return Ok(None);
    };
    if !fin.database_exists()? {
        return Ok(None);
    }
    let mut s = fin.connect()?;
    Ok(Some(fin.describe(s.as_mut())?))
}

/// Each table of SOURCE as the copy will hold it, or every reason it cannot be moved exactly.
pub fn plan_copy(
    origin: &dyn Backend,
    copy: &dyn Backend,
    schema: &Schema,
    wanted: Option<&Schema>,
) -> Result<CopyPlan> {
    let mut tables = Vec::new();
    let mut exported = BTreeMap::new();
    let mut notes = Vec::new();
    let mut refused = Vec::new();
    for table in schema
        .tables
        .iter()
        .filter(|t| !crate::model::is_internal(&t.name))
    {
        let columns = match origin.portable_columns(table) {
            Ok(c) => c,
            Err(lines) => {
                refused.extend(lines);
                continue;
            }
        };
        let keys: Vec<&str> = table
            .primary_key
            .iter()
            .chain(table.foreign_keys.iter().flat_map(|f| f.columns.iter()))
            .map(String::as_str)
            .collect();
        let final_table = wanted.and_then(|w| w.table(&table.name));
        let mut chosen = Vec::new();
        let mut final_types = BTreeMap::new();
        for mut col in columns {
            let natural = col.ty.clone();
            // DB_FINAL's column chooses among the types that store every value unchanged, and
            // the copy takes its exact spelling, so compare finds DB_DATA and DB_FINAL equal;
            // a type that would change a value is left for compare to refuse.
            if let Some(final_col) = final_table.and_then(|t| t.column(&col.name)) {
                if let Some(target) = copy.portable_of(final_col) {
                    if col.alternatives.contains(&target) || target.holds(&natural) {
                        col.ty = target;
                        final_types.insert(col.name.clone(), final_col.column_type.clone());
                    }
                }
            }
            // A key or reference keeps an integer type the target's keys convert (`bigint`):
            // an unsigned 64-bit value past its range is refused row by row while copying.
            if keys.contains(&col.name.as_str())
                && natural
                    == (Portable::Integer {
                        bits: 64,
                        unsigned: true,
                    })
            {
                col.ty = Portable::Integer {
                    bits: 64,
                    unsigned: false,
                };
            }
            // SOURCE's default is a value of SOURCE's type: converted like the rows (a BIT(1)
            // default of a boolean column is true or false, a DATETIME's a moment in UTC), or,
            // where the chosen type would change it, not carried over.
            if let Some(PortableDefault::Value(cell)) = &col.default {
                match cell.clone().convert(&natural, &col.ty) {
                    Ok(converted) => col.default = Some(PortableDefault::Value(converted)),
                    Err(why) => {
                        notes.push(format!(
                            "{}.{}: default not carried over, as the copy's type would change it: {why}",
                            table.name, col.name
                        ));
                        col.default = None;
                    }
                }
            }
            if let Some(d) = &col.untranslated_default {
                notes.push(format!(
                    "{}.{}: default {d} has no exact translation and is not carried over",
                    table.name, col.name
                ));
            }
            chosen.push((export_type(natural, &col.ty), col));
        }
        for check in table
            .checks
            .iter()
            .filter(|c| !c.expression.to_ascii_lowercase().contains("json_valid"))
        {
            notes.push(format!(
                "{}: CHECK {} ({}) is not translated",
                table.name, check.name, check.expression
            ));
        }
        for c in table.columns.iter().filter(|c| c.generated.is_some()) {
            notes.push(format!(
                "{}.{}: a generated column ({}) is not copied; DB_FINAL computes its own",
                table.name,
                c.name,
                c.generated.as_deref().unwrap_or("")
            ));
        }
        let names: Vec<&str> = chosen.iter().map(|(_, c)| c.name.as_str()).collect();
        let indexes = table
            .indexes
            .iter()
            .filter(|i| {
                let plain = i.columns.iter().all(|c| names.contains(&c.as_str()))
                    && matches!(i.kind.to_ascii_uppercase().as_str(), "BTREE" | "HASH" | "");
                if !plain {
                    notes.push(format!(
                        "{}: index {} ({} {}) is not translated",
                        table.name,
                        i.name,
                        i.kind,
                        i.columns.join(", ")
                    ));
                }
                plain && i.columns != table.primary_key
            })
            .cloned()
            .collect();
        exported.insert(
            table.name.clone(),
            chosen
                .iter()
                .map(|(ty, c)| PortableColumn {
                    ty: ty.clone(),
                    ..c.clone()
                })
                .collect(),
        );
        tables.push(ImportTable {
            name: table.name.clone(),
            columns: chosen.into_iter().map(|(_, c)| c).collect(),
            primary_key: table.primary_key.clone(),
            indexes,
            foreign_keys: table.foreign_keys.clone(),
            final_types,
        });
    }
    for (kind, names) in [
        (
            "view",
            schema
                .views
                .iter()
                .map(|v| v.name.clone())
                .collect::<Vec<_>>(),
        ),
        (
            "trigger",
            schema.triggers.iter().map(|t| t.name.clone()).collect(),
        ),
        (
            "routine",
            schema.routines.iter().map(|r| r.name.clone()).collect(),
        ),
    ] {
        for name in names {
            notes.push(format!("{kind} {name} is not translated"));
        }
    }
    if !refused.is_empty() {
        return Err(Error::input(
            Place::stage(Stage::Transfer),
            format!(
                "SOURCE has columns the move to {} cannot store exactly: {}.",
                copy.url().engine,
                refused.join("; ")
            ),
            "Change or drop those columns in a copy of SOURCE and convert that, or convert within one engine.",
        ));
    }
    Ok(CopyPlan {
        tables,
        exported,
        notes,
    })
}

/// The type SOURCE's reader gives a column whose own type is `natural` and whose copy takes
/// `chosen`: its own, converted on the way (`Cell::convert`), except bytes for text, which the
/// reader gives as they are stored (a text with a zero byte that DB_FINAL keeps as bytea), and
/// JSON for text.
fn export_type(natural: Portable, chosen: &Portable) -> Portable {
    match (&natural, chosen) {
        (Portable::Text { .. }, Portable::Bytes { .. }) => chosen.clone(),
        // Text that DB_FINAL keeps as JSON is read as JSON, so SOURCE's engine finds the text
        // that is not JSON before anything is written, naming its rows (SQLite's TEXT).
        (Portable::Text { .. }, Portable::Json) => chosen.clone(),
        _ => natural,
    }
}

/// Refuses, before anything is written, what SOURCE holds that the move would change: text
/// with a zero byte, zero dates (unless `--zero-dates null`), values of the wrong type, text
/// that is no character of its character set.
fn refuse_blockers(
    ctx: &Context,
    origin: &dyn Backend,
    schema: &Schema,
    plan: &CopyPlan,
) -> Result<Vec<String>> {
    // One scan of each table, on the run's workers: it reads all of SOURCE once.
    let found = crate::run::greedy(ctx.run.jobs, &plan.tables, |t| {
        let Some(table) = schema.table(&t.name) else {
            return Ok(Vec::new());
        };
        let exported = plan.exported.get(&t.name).map_or(&t.columns, |c| c);
        origin.export_blockers(table, exported)
    })?;
    let mut blocking: Vec<ExportBlocker> = Vec::new();
    let mut nulled = Vec::new();
    for (t, blockers) in plan.tables.iter().zip(found) {
        for b in blockers {
            let nullable = t.columns.iter().any(|c| c.name == b.column && c.nullable);
            if b.problem == BlockerKind::ZeroDate && ctx.run.zero_dates_null && nullable {
                nulled.push(format!(
                    "{}.{}: {} zero date(s) stored as NULL (--zero-dates null; keys {})",
                    b.table,
                    b.column,
                    b.rows,
                    b.keys.join(", ")
                ));
                continue;
            }
            blocking.push(b);
        }
    }
    if blocking.is_empty() {
        return Ok(nulled);
    }
    let lines: Vec<String> = blocking
        .iter()
        .map(|b| {
            let what = match b.problem {
                BlockerKind::ZeroByte => {
                    "text holding a zero byte, which PostgreSQL's text cannot store"
                }
                BlockerKind::ZeroDate => "zero dates, which no calendar holds",
                BlockerKind::WrongType => "values of another type than the column's",
                BlockerKind::Unconvertible => {
                    "text whose bytes are no characters of the column's character set, which the server would send as '?' or U+FFFD"
                }
            };
            format!(
                "{}.{}: {} row(s) of {what} (keys {})",
                b.table,
                b.column,
                b.rows,
                b.keys.join(", ")
            )
        })
        .collect();
    let mut next = Vec::new();
    if blocking.iter().any(|b| b.problem == BlockerKind::ZeroByte) {
        next.push("zero bytes: make DB_FINAL's column bytea (the bytes are then kept), or remove the zero bytes in a copy of SOURCE and convert that");
    }
    if blocking.iter().any(|b| b.problem == BlockerKind::ZeroDate) {
        next.push("zero dates: run with --zero-dates null to store them as NULL (nullable columns only; each column's count is listed), or fix them in a copy of SOURCE");
    }
    if blocking.iter().any(|b| b.problem == BlockerKind::WrongType) {
        next.push("values of another type: fix those rows in a copy of SOURCE");
    }
    if blocking
        .iter()
        .any(|b| b.problem == BlockerKind::Unconvertible)
    {
        next.push("text in the wrong character set: in a copy of SOURCE, give the column the character set its bytes are really in (MODIFY it to VARBINARY, then to that CHARACTER SET) or a binary type, or correct those rows");
    }
    Err(Error::input(
        Place::stage(Stage::Transfer),
        format!(
            "SOURCE holds values the move would change, so nothing was written: {}.",
            lines.join("; ")
        ),
        format!("For {}.", next.join("; for ")),
    ))
}

/// Adds a row of cells, by meaning, to `digest`.
fn add_row(digest: &mut Digest, row: &[Cell], buf: &mut Vec<u8>) {
    for (i, cell) in row.iter().enumerate() {
        let start = buf.len();
        cell.canonical(buf);
        digest.column(i, start, buf);
    }
    digest.end_row(buf);
}

/// Copies one table: made again from nothing (a killed copy left part of it), its rows streamed
/// from SOURCE through a bounded channel while the copy's writer stores them, then its indexes,
/// then the table read back and compared with what SOURCE gave.
fn copy_table(
    origin: &dyn Backend,
    copy: &dyn Backend,
    table: &Table,
    plan: &ImportTable,
    exported: &[PortableColumn],
    zero_dates_null: bool,
) -> Result<(u64, Digest)> {
    let place = || Place::stage(Stage::Transfer).table(&plan.name);
    let ddl = copy.import_ddl(plan);
    let mut s = copy.connect()?;
    s.execute(&copy.dialect().drop_table_sql(&copy.dialect().q(&plan.name)))?;
    for sql in &ddl.before {
        s.execute(sql)?;
    }
    let (tx, rx) = sync_channel::<Result<Vec<Vec<Cell>>>>(4);
    let (read, stored) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| -> Result<(u64, Digest)> {
            let mut batch = Vec::with_capacity(BATCH);
            let result = read_source(
                origin,
                table,
                plan,
                exported,
                zero_dates_null,
                NOTHING_WRITTEN,
                &mut |row| {
                    batch.push(row);
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if tx.send(Ok(full)).is_err() {
                            return Err(Error::env(
                                place(),
                                "the copy's writer stopped.",
                                "Run again with --resume.",
                            ));
                        }
                    }
                    Ok(())
                },
            );
            match result {
                Ok(read) => {
                    if !batch.is_empty() {
                        let _ = tx.send(Ok(batch));
                    }
                    drop(tx);
                    Ok(read)
                }
                Err(e) => {
                    // The writer must not commit a table cut short.
                    let _ = tx.send(Err(Error::env(
                        place(),
                        "SOURCE's reader stopped before the table's last row.",
                        "See the reader's error.",
                    )));
                    drop(tx);
                    Err(e)
                }
            }
        });
        let mut rows = rx.into_iter().flat_map(|batch| match batch {
            Ok(rows) => rows.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        });
        let stored = copy.import_rows(plan, &mut rows);
        // The writer may stop first (a refused value): drain so the reader never blocks.
        rows.for_each(drop);
        let read = crate::run::joined(reader.join(), place(), "SOURCE's reader");
        (read, stored)
    });
    // The reader's error says why; the writer's only that its rows stopped.
    let (read, source_digest) = read?;
    let stored = stored?;
    if stored != read {
        return Err(Error::env(
            place(),
            format!("{read} rows were read from SOURCE but the copy stored {stored}."),
            "Run again with --resume; if it repeats, report it with the run's journal.",
        ));
    }
    for sql in &ddl.after {
        s.execute(sql)?;
    }
    let copy_digest = read_copy(copy, plan)?;
    if copy_digest != source_digest {
        let differs: Vec<&str> = copy_digest
            .differing_columns(&source_digest)
            .into_iter()
            .filter_map(|i| plan.columns.get(i).map(|c| c.name.as_str()))
            .collect();
        return Err(Error::env(
            place(),
            format!(
                "the copy does not hold what SOURCE holds ({} rows read, {} in the copy; columns that differ: {}).",
                source_digest.rows,
                copy_digest.rows,
                if differs.is_empty() { "none by itself".to_string() } else { differs.join(", ") }
            ),
            "Nothing was written to DB_DATA or DB_FINAL. Report it with the run's journal; run again with --resume to copy the table again.",
        ));
    }
    Ok((read, source_digest))
}

/// What a refused value means while the transfer copies (verify says what it means later).
const NOTHING_WRITTEN: &str = "nothing was written to DB_DATA or DB_FINAL";

/// SOURCE's rows of `table` as the copy stores them (each cell converted to the copy's column
/// type, or refused), handed to `each`, with their digest by meaning and their count.
fn read_source(
    origin: &dyn Backend,
    table: &Table,
    plan: &ImportTable,
    exported: &[PortableColumn],
    zero_dates_null: bool,
    consequence: &str,
    each: &mut dyn FnMut(Vec<Cell>) -> Result<()>,
) -> Result<(u64, Digest)> {
    let conversions: Vec<(Portable, Portable)> = exported
        .iter()
        .zip(&plan.columns)
        .map(|(e, c)| (e.ty.clone(), c.ty.clone()))
        .collect();
    let mut digest = Digest::new(plan.columns.len());
    let mut buf = Vec::new();
    let read = origin.export_rows(table, exported, zero_dates_null, &mut |row| {
        let mut out = Vec::with_capacity(row.len());
        for (i, cell) in row.into_iter().enumerate() {
            let (from, to) = &conversions[i];
            match cell.convert(from, to) {
                Ok(c) => out.push(c),
                Err(why) => {
                    return Err(Error::input(
                        Place::stage(Stage::Transfer)
                            .table(&plan.name)
                            .column(&plan.columns[i].name),
                        format!(
                            "SOURCE's value {why}, so the copy cannot store it as DB_FINAL's column asks; {consequence}."
                        ),
                        "Fix the value in a copy of SOURCE, or give DB_FINAL's column the type SOURCE's has.",
                    ));
                }
            }
        }
        add_row(&mut digest, &out, &mut buf);
        each(out)
    })?;
    Ok((read, digest))
}

/// The copy's rows of `plan`'s table, read back through the copy's own reader, as a digest by
/// meaning.
fn read_copy(copy: &dyn Backend, plan: &ImportTable) -> Result<Digest> {
    let mut digest = Digest::new(plan.columns.len());
    let mut buf = Vec::new();
    copy.read_back(plan, &mut |row| {
        add_row(&mut digest, &row, &mut buf);
        Ok(())
    })?;
    Ok(digest)
}

/// What the journal keeps of a copied table (`Artifact::Transferred`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Copied {
    /// The plan's fingerprint: SOURCE read again by the same plan gives the same digest.
    plan: String,
    rows: u64,
    sum: String,
    columns: Vec<u64>,
}

impl Copied {
    fn of(plan: &ImportTable, exported: &[PortableColumn], digest: &Digest) -> Copied {
        Copied {
            plan: fingerprint(plan, exported),
            rows: digest.rows,
            sum: format!("{:032x}", digest.sum),
            columns: digest.columns.clone(),
        }
    }

    fn digest(&self) -> Option<Digest> {
        Some(Digest {
            rows: self.rows,
            sum: u128::from_str_radix(&self.sum, 16).ok()?,
            columns: self.columns.clone(),
        })
    }
}

/// Everything that decides how a table's rows are read and converted, as one hash.
fn fingerprint(plan: &ImportTable, exported: &[PortableColumn]) -> String {
    let columns: Vec<(&PortableColumn, &PortableColumn)> =
        exported.iter().zip(&plan.columns).collect();
    format!(
        "{:032x}",
        xxhash_rust::xxh3::xxh3_128(format!("{columns:?}").as_bytes())
    )
}

/// SOURCE's tables that no longer hold what the transfer copied, each with what differs. The
/// stages after the transfer read only the copy, so a write to SOURCE after it (an UPDATE as
/// much as an INSERT, or anything between a killed run and its resume) would be missing from
/// DB_FINAL: SOURCE is read once more, by the plan the transfer used, and its digest by meaning
/// compared with the one the transfer journaled; where the plan is not the same (DB_FINAL was
/// derived after the transfer), with the copy itself. Empty for a run that is not a move.
pub fn changes_since(ctx: &Context) -> Result<Vec<String>> {
    let Some(origin) = &ctx.moved_from else {
        return Ok(Vec::new());
    };
    if ctx.run.dry_run {
        return Ok(Vec::new());
    }
    let copy = ctx.source()?;
    let copied: Vec<(String, u64)> = ctx
        .journal
        .steps(Stage::Transfer.name())?
        .into_iter()
        .filter(|s| s.item != LINKS_STEP)
        .map(|s| (s.item, s.rows))
        .collect();
    let journaled: BTreeMap<String, String> = ctx
        .journal
        .artifacts(Artifact::Transferred)?
        .into_iter()
        .collect();
    let mut s = origin.connect()?;
    let schema = origin.describe(s.as_mut())?;
    drop(s);
    let wanted = final_columns(ctx)?;
    let plan = plan_copy(origin.as_ref(), copy.as_ref(), &schema, wanted.as_ref())?;
    let zero_dates_null = ctx.run.zero_dates_null;
    let changed = crate::run::greedy(ctx.run.jobs, &copied, |(name, rows)| {
        let (Some(t), Some(source_table)) = (
            plan.tables.iter().find(|t| &t.name == name),
            schema.table(name),
        ) else {
            return Ok(Some(format!(
                "{name} held {rows} rows when the transfer copied it and is gone now"
            )));
        };
        let exported = plan.exported.get(name).map_or(&t.columns, |c| c);
        let (_, now) = read_source(
            origin.as_ref(),
            source_table,
            t,
            exported,
            zero_dates_null,
            "the transfer copied another value, which DB_FINAL holds",
            &mut |_| Ok(()),
        )?;
        let then = match journaled
            .get(name)
            .and_then(|d| serde_json::from_str::<Copied>(d).ok())
            .filter(|c| c.plan == fingerprint(t, exported))
            .and_then(|c| c.digest())
        {
            Some(d) => d,
            None => read_copy(copy.as_ref(), t)?,
        };
        if now == then {
            return Ok(None);
        }
        let columns: Vec<&str> = now
            .differing_columns(&then)
            .into_iter()
            .filter_map(|i| t.columns.get(i).map(|c| c.name.as_str()))
            .collect();
        Ok(Some(if now.rows != then.rows {
            format!(
                "{name} held {} rows when the transfer copied it and holds {} now",
                then.rows, now.rows
            )
        } else if columns.is_empty() {
            format!("{name}'s rows changed after the transfer copied it")
        } else {
            format!(
                "{name}'s values in {} changed after the transfer copied it",
                columns.join(", ")
            )
        }))
    })?;
    Ok(changed.into_iter().flatten().collect())
}

/// The copy's foreign keys, once every table has its rows, in one transaction: a killed run
/// leaves all of them or none. A copy that has them already (a run killed after the commit and
/// before the journal's entry) is not given them twice: nameless ones (SQLite's) would be.
fn link(copy: &dyn Backend, tables: &[ImportTable]) -> Result<u64> {
    let links: Vec<String> = tables
        .iter()
        .flat_map(|t| copy.import_ddl(t).links)
        .collect();
    if links.is_empty() {
        return Ok(0);
    }
    let mut s = copy.connect()?;
    let present = copy.describe(s.as_mut())?;
    if present.tables.iter().any(|t| !t.foreign_keys.is_empty()) {
        return Ok(links.len() as u64);
    }
    s.execute(copy.dialect().begin_sql())?;
    for sql in &links {
        s.execute(sql)?;
    }
    s.execute("COMMIT")?;
    Ok(links.len() as u64)
}
