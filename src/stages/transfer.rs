//! Stage 0 of a run whose SOURCE is on another engine than DB_DATA: SOURCE's tables copied, in
//! the target engine's exact types, into a database rekey owns next to DB_DATA (`<DB_DATA>_source`),
//! every row streamed as cells (`backend::transfer`), and each table read back and compared with
//! SOURCE by meaning before it counts as done. Every later stage reads that copy as SOURCE, so the
//! conversion runs within one engine as it always did. SOURCE is only read; nothing is written to
//! DB_DATA or DB_FINAL here. What the move cannot store exactly is refused before the copy is
//! made, naming the table, the column and the rows.

use std::sync::mpsc::sync_channel;

use super::{Context, Outcome, Stage};
use crate::backend::transfer::{BlockerKind, Cell, ExportBlocker, ImportTable, PortableColumn};
use crate::backend::Backend;
use crate::error::{Error, Place, Result};
use crate::journal::Artifact;
use crate::model::{Schema, Table};
use crate::run::digest::Digest;
use crate::run::moved::{
    final_columns, plan_copy, read_copy, read_source, Copied, CopyPlan, COPY, LINKS_STEP,
};

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
            let copied = Copied::of(t, exported, zero_dates_null, &digest);
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
