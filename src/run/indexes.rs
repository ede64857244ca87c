//! DB_FINAL's secondary indexes set aside while a table's rows are written and built again right
//! after them, as pg_restore does: an index built once over sorted rows costs a fraction of one
//! maintained row by row (docs/performance.md has the figures per engine). The engine decides
//! which indexes and whether it pays (`Ddl::sets_aside_indexes`, `Ddl::indexes_aside`); this
//! module journals them like the triggers: an `indexes` artifact per table with the statements
//! that restore it, written before the first index is dropped and removed once they are back, so
//! `--resume` and `rekey clean` restore whatever a killed run left aside.

use crate::journal::Artifact;
use std::borrow::Cow;

use super::{Context, Stage};
use crate::backend::{Backend, IndexesAside, Session};
use crate::error::{Error, Place, Result};
use crate::model::Table;

/// The journal's artifact kind: one per table whose indexes are aside, named by the table.
pub const ARTIFACT: Artifact = Artifact::Indexes;

/// `table` as its rows will find it: without the secondary indexes set aside for its load, so the
/// load's session is chosen for that shape (MariaDB: no unique key left, so the bulk path).
pub fn as_loaded<'a>(fin: &dyn Backend, table: &'a Table) -> Cow<'a, Table> {
    if fin.sets_aside_indexes(table) {
        let mut bare = table.clone();
        bare.indexes.clear();
        Cow::Owned(bare)
    } else {
        Cow::Borrowed(table)
    }
}

/// Before `table`'s rows are written (a fresh load: before any table's rows): sets its secondary
/// indexes aside, journaled first.
/// Returns what `restore` puts back after the write; `None` when nothing is aside. A table an
/// interrupted run left aside is not read again (its catalog may lack them now): the journal's
/// record is the one to restore, and its drop runs again, since a kill just after the record
/// was written, or just after the rebuild, leaves the indexes in place (the statements do
/// nothing to an index already gone). A dry run prints the statements and changes nothing.
/// `rows` is how many rows the load expects (SOURCE's estimate: DB_FINAL's empty table has
/// none), which the engine weighs (`Table::estimated_rows` of the table it is asked about).
pub fn set_aside(
    ctx: &Context,
    fin: &dyn Backend,
    table: &Table,
    rows: u64,
) -> Result<Option<IndexesAside>> {
    if let Some(mut saved) = saved(ctx, &table.name)? {
        // Loaded again (a resumed step): its indexes go aside again, and come back after.
        if saved.indexes_back {
            saved.indexes_back = false;
            record(ctx, &saved)?;
        }
        drop_indexes(ctx, fin.connect()?.as_mut(), &saved)?;
        return Ok(Some(saved));
    }
    let mut expected = table.clone();
    expected.estimated_rows = rows;
    if !fin.sets_aside_for_load(&expected) {
        return Ok(None);
    }
    let mut s = fin.connect()?;
    let Some(aside) = fin.indexes_aside(s.as_mut(), &expected)? else {
        return Ok(None);
    };
    if !ctx.run.dry_run {
        record(ctx, &aside)?;
        test_stall_point(ctx, "REKEY_TEST_STALL_INDEXES_JOURNALED", &table.name);
    }
    drop_indexes(ctx, s.as_mut(), &aside)?;
    if !ctx.run.dry_run {
        test_stall(ctx, &table.name);
    }
    Ok(Some(aside))
}

/// Runs `aside`'s statements that drop the indexes (a dry run prints them).
fn drop_indexes(ctx: &Context, s: &mut dyn Session, aside: &IndexesAside) -> Result<()> {
    let marker = ctx.marker();
    for sql in &aside.set_aside {
        if ctx.run.dry_run {
            ctx.say(&format!("    {sql};"));
        } else {
            s.execute(&format!("{marker}{sql}"))?;
        }
    }
    Ok(())
}

/// Test hook of the kill tests: with REKEY_TEST_STALL_INDEXES_ASIDE set, the first table whose
/// indexes went aside stalls before its rows are written (whichever route writes them), after
/// creating `<run-dir>/stalled` (holding the table's name) so the test knows when to kill and
/// which table is aside; Ctrl-C ends the stall.
fn test_stall(ctx: &Context, table: &str) {
    test_stall_point(ctx, "REKEY_TEST_STALL_INDEXES_ASIDE", table);
}

/// The stall of `test_stall` when the environment has `var`. With
/// REKEY_TEST_STALL_INDEXES_JOURNALED it comes after the journal's record is written and before
/// the indexes are dropped (a kill there leaves them in place, the record saying they are aside).
fn test_stall_point(ctx: &Context, var: &str, table: &str) {
    if std::env::var_os(var).is_some() {
        ctx.test_stall_here(table);
    }
}

/// Builds `aside`'s indexes again with the saved statements and forgets the record once they
/// are back (a dry run prints them).
pub fn restore(ctx: &Context, fin: &dyn Backend, aside: &IndexesAside) -> Result<()> {
    let mut s = fin.connect()?;
    restore_on(ctx, s.as_mut(), aside)
}

/// Just after a table's rows are written: `restore`. When the rows break a unique index that was
/// aside (a key preflight did not see), DB_FINAL keeps none of them, as a load with the index in
/// place would have left it: `empty` empties the table, the indexes come back on it, and the
/// duplicate is the step's error, an input error naming the key.
pub fn restore_after_write(
    ctx: &Context,
    fin: &dyn Backend,
    aside: &IndexesAside,
    empty: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    let mut s = fin.connect()?;
    let Err(e) = restore_indexes(ctx, s.as_mut(), aside) else {
        return Ok(());
    };
    if e.exit_code() != 2 {
        return Err(e);
    }
    empty()?;
    restore_on(ctx, s.as_mut(), aside)?;
    Err(Error::input(
        Place::stage(Stage::Load).table(&aside.table),
        format!("the rows break a unique key of DB_FINAL that was set aside for the load ({}); DB_FINAL keeps none of this table's rows and its indexes are back.", e.message()),
        "Drop or widen that key in DB_FINAL's schema (or fix the duplicate rows in the snapshot), then run again with --resume.",
    ))
}

/// Puts back whatever the journal says is aside: the statements each table's record left to the
/// load's end (`IndexesAside::at_load_end`), and everything of a table whose load failed or was
/// killed. Returns how many tables' indexes came back. The load's end runs this.
pub fn restore_all(ctx: &Context, s: &mut dyn Session) -> Result<usize> {
    let mut count = 0;
    for (table, _) in ctx.journal.artifacts(ARTIFACT)? {
        if let Some(aside) = saved(ctx, &table)? {
            restore_on(ctx, s, &aside)?;
            if !aside.names.is_empty() && !aside.indexes_back {
                count += 1;
            }
        }
    }
    Ok(count)
}

/// `rekey clean`'s `restore_all`, for a DB_FINAL that stays: a table whose rows break a unique
/// key that was aside (a run killed after writing them, before the rebuild) is emptied, as
/// `restore_after_write` does (its rows were rekey's partial load), and its indexes come back
/// on it. Returns how many tables' indexes came back and the names of those emptied.
pub fn restore_all_emptying(ctx: &Context, fin: &dyn Backend) -> Result<(usize, Vec<String>)> {
    let mut s = fin.connect()?;
    let mut count = 0;
    let mut emptied = Vec::new();
    let mut schema = None;
    for (table, _) in ctx.journal.artifacts(ARTIFACT)? {
        let Some(aside) = saved(ctx, &table)? else {
            continue;
        };
        match restore_on(ctx, s.as_mut(), &aside) {
            Ok(()) => {}
            Err(e) if e.exit_code() == 2 => {
                // Emptied on a session of its own: the load's settings it needs (checks off)
                // stay off the one that builds the indexes.
                let mut es = fin.connect()?;
                if schema.is_none() {
                    schema = Some(fin.describe(es.as_mut())?);
                }
                let d = fin.dialect();
                let own = schema
                    .as_ref()
                    .and_then(|sc| sc.table(&table))
                    .map_or_else(|| d.q(&table), |m| d.own_rows(m));
                fin.empty_table(es.as_mut(), d, &own)?;
                restore_on(ctx, s.as_mut(), &aside)?;
                emptied.push(table);
            }
            Err(e) => return Err(e),
        }
        count += 1;
    }
    Ok((count, emptied))
}

/// Everything `aside` holds back, then the record is forgotten.
fn restore_on(ctx: &Context, s: &mut dyn Session, aside: &IndexesAside) -> Result<()> {
    if !aside.indexes_back {
        run_restoring(ctx, s, aside, &aside.restore)?;
    }
    if ctx.run.dry_run && !aside.at_load_end.is_empty() {
        ctx.say("    -- once every table's rows are in:");
    }
    run_restoring(ctx, s, aside, &aside.at_load_end)?;
    if !ctx.run.dry_run {
        ctx.journal.remove_artifact(ARTIFACT, &aside.table)?;
    }
    Ok(())
}

/// Just after the table's rows: `aside`'s indexes back; what waits for the load's end
/// (`IndexesAside::at_load_end`) stays in the record, marked `indexes_back`.
fn restore_indexes(ctx: &Context, s: &mut dyn Session, aside: &IndexesAside) -> Result<()> {
    if aside.at_load_end.is_empty() || ctx.run.dry_run {
        return restore_on(ctx, s, aside);
    }
    run_restoring(ctx, s, aside, &aside.restore)?;
    record(
        ctx,
        &IndexesAside {
            indexes_back: true,
            ..aside.clone()
        },
    )
}

/// Journals `aside` as the table's record.
fn record(ctx: &Context, aside: &IndexesAside) -> Result<()> {
    ctx.journal.add_artifact(
        ARTIFACT,
        &aside.table,
        &serde_json::to_string(aside).unwrap_or_default(),
    )
}

/// Runs restoring `statements` of `aside` (a dry run prints them); an error names what was aside
/// and what to do.
fn run_restoring(
    ctx: &Context,
    s: &mut dyn Session,
    aside: &IndexesAside,
    statements: &[String],
) -> Result<()> {
    let marker = ctx.marker();
    for sql in statements {
        if ctx.run.dry_run {
            ctx.say(&format!("    {sql};"));
            continue;
        }
        s.execute(&format!("{marker}{sql}")).map_err(|e| {
            let place = Place::stage(Stage::Load).table(&aside.table);
            let message = format!(
                "DB_FINAL's table {} had its {} set aside for the load, and they could not be put back: {}.",
                aside.table,
                what_is_aside(aside),
                e.message()
            );
            let hint = "The journal keeps their definitions: fix the cause (a duplicate in a unique index names its key and value), then `rekey run --resume` or `rekey clean` puts them back.";
            // A duplicate is the data's fault (exit 2), anything else the server's (exit 3).
            match e.exit_code() {
                2 => Error::input(place, message, hint),
                _ => Error::env(place, message, hint),
            }
        })?;
    }
    Ok(())
}

/// What `aside` holds, for a message: "indexes a, b", "automatic statistics", or both.
fn what_is_aside(aside: &IndexesAside) -> String {
    let mut parts = Vec::new();
    if !aside.names.is_empty() && !aside.indexes_back {
        parts.push(format!("indexes {}", aside.names.join(", ")));
    }
    if aside.statistics {
        parts.push("automatic statistics".to_string());
    }
    if parts.is_empty() {
        parts.push("settings".to_string());
    }
    parts.join(" and ")
}

/// The journal's record of `table`'s indexes set aside, if any.
fn saved(ctx: &Context, table: &str) -> Result<Option<IndexesAside>> {
    let Some((_, text)) = ctx
        .journal
        .artifacts(ARTIFACT)?
        .into_iter()
        .find(|(name, _)| name == table)
    else {
        return Ok(None);
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::env(
            Place::stage(Stage::Load).table(table),
            format!("the journal's record of this table's indexes set aside cannot be read ({e})."),
            "The journal must not be edited: build the table's indexes from the application's migrations.",
        )
    })
}
