//! Stage 7: the shadow UUID columns take the names and positions of the integer key columns, which
//! are dropped with the temporary `<pk>_ipk_copy`; then each table is filled from SOURCE once, its
//! key through its own mapping table and every reference through its parent's (the backend's
//! `fill_table`). DB_DATA then holds all data in the right columns. On the one-write route
//! (`rekey run`'s default) a table the engine can fill straight from SOURCE into DB_FINAL is only
//! reshaped here, still empty, and its rows are written once, by the load; its route is journaled.

use super::{Context, Outcome, Stage};
use crate::backend::{Arrival, FillJob, FillRoute};
use crate::error::Result;
use crate::model::{is_internal, Table};
use crate::run::data_shape::{describe_data_if, fill_columns, swaps_for, with_shadows};

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = crate::run::source::load(ctx)?;
    let (source_schema, plan) = &*shared;
    let data = ctx.data()?;
    let source = ctx.source()?;
    let d = data.dialect();
    let uuid_type = d.uuid_type(ctx.conversion.uuid_format)?;
    let moved = crate::run::data_shape::moved_tables(ctx)?;
    let converted = crate::run::data_shape::converted_in_clone(ctx)?;
    let mut tables: Vec<&Table> = source_schema
        .tables
        .iter()
        .filter(|t| !is_internal(&t.name))
        .collect();
    // Only a table clone did not convert is swapped from DB_DATA's shape of it (none on the
    // one-write route).
    let current = describe_data_if(
        ctx,
        !crate::run::data_shape::all_converted(source_schema, &converted),
    )?;
    let one_write = std::sync::atomic::AtomicUsize::new(0);
    // A table on the one-write route: its rows go from SOURCE straight into DB_FINAL in the load.
    let left_empty = |t: &Table| {
        if ctx.run.dry_run {
            ctx.say(&format!(
                "    -- {}: no rows in DB_DATA (one-write route: the load writes them from SOURCE into DB_FINAL)",
                t.name
            ));
        }
        one_write.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    // Largest first, so parallel jobs finish together.
    tables.sort_by_key(|t| std::cmp::Reverse(t.estimated_rows));
    let rows = ctx.steps(
        Stage::Swap,
        &tables,
        |t| t.name.clone(),
        d.parallel_writes(),
        |t| {
            // Clone made this table in its converted definition and journaled its route: the
            // one write, whose rows the load takes straight from SOURCE.
            if converted.contains(&t.name) {
                let route = crate::run::data_shape::journaled_route(ctx, &t.name, Some(t))?;
                if route != FillRoute::OneWrite {
                    return Err(crate::error::Error::mismatch(
                        crate::error::Place::stage(Stage::Swap).table(&t.name),
                        format!(
                            "clone made {} in its converted definition for the one-write route, but the journal gives it another route: SOURCE or the servers changed since clone, or the run directory was changed by hand. Run `rekey clean`, then the run again from the start.",
                            t.name
                        ),
                    ));
                }
                left_empty(t);
                return Ok(0);
            }
            let target = moved.as_ref().and_then(|m| m.table(&t.name));
            if target.is_none() {
                let (swaps, work_columns) = swaps_for(ctx, d, &t.name, &uuid_type)?;
                let shape = match current.table(&t.name) {
                    Some(shape) => shape.clone(),
                    // Dry run: DB_DATA does not exist; swap what shadow and link would have added.
                    None => with_shadows((*t).clone(), &swaps, &work_columns),
                };
                let mut s = ctx.writer(data.as_ref())?;
                for sql in data.swap_sql(&shape, &swaps, &work_columns) {
                    ctx.exec(&mut s, &sql)?;
                }
                // The fill writes on its own session: SQLite allows one writer per file.
                drop(s);
            }
            // A table built with DB_FINAL's definition has its indexes: rows arrive as they
            // would in the load, and its unique keys are checked.
            let (arrival, unique) = match target {
                Some(ft) => (
                    Arrival::into_table(
                        ft,
                        plan.converted(&t.name)
                            .filter(|_| crate::run::data_shape::new_keys_ascend(&ctx.conversion, d))
                            .map(|c| c.column.as_str()),
                    ),
                    ft.indexes
                        .iter()
                        .filter(|i| i.unique)
                        .map(|i| i.name.clone())
                        .collect(),
                ),
                None => (Arrival::InKeyOrder, Vec::new()),
            };
            let marker = ctx.marker();
            if target.is_none() {
                // The one-write route: the load writes this table's rows into DB_FINAL, straight
                // from SOURCE; DB_DATA keeps the converted definition, without rows.
                let route = crate::run::data_shape::route(ctx, t)?;
                crate::run::data_shape::journal_route(ctx, &t.name, &route)?;
                if route == FillRoute::OneWrite {
                    left_empty(t);
                    return Ok(0);
                }
            }
            // An engine that fills in several transactions (Galera) reports each one; a resumed
            // run continues after the last.
            let resume = ctx.chunk_point(Stage::Swap, &t.name)?;
            let on_chunk = |point: &str| ctx.chunk_done(Stage::Swap, &t.name, point);
            let job = fill_job(
                ctx,
                t,
                &marker,
                resume.as_deref(),
                &on_chunk,
                arrival,
                &unique,
            )?;
            if ctx.run.dry_run {
                for sql in data.fill_table_sql(source.url(), &job)? {
                    ctx.say(&format!("    {sql};"));
                }
                return Ok(0);
            }
            let bar = ctx.progress.table("swap", &t.name, t.estimated_rows);
            let rows = data.fill_table(source.as_ref(), &job)?;
            bar.finish(rows);
            Ok(rows)
        },
    )?;
    let once = one_write.load(std::sync::atomic::Ordering::Relaxed);
    let detail = if once == 0 {
        format!(
            "{} swapped and filled",
            crate::text::count(tables.len() as u64, "table")
        )
    } else {
        format!(
            "{} swapped, {} filled ({} left empty: their rows go from SOURCE straight into DB_FINAL in the load)",
            crate::text::count(tables.len() as u64, "table"),
            tables.len() - once,
            once
        )
    };
    Ok(Outcome {
        rows,
        detail: Some(detail),
    })
}

#[allow(clippy::too_many_arguments)]
/// What the fill writes into a table: SOURCE's values, the key through the table's own mapping and
/// every reference through its parent's, in old-key order so the new keys arrive ascending.
pub(super) fn fill_job<'a>(
    ctx: &Context,
    t: &'a Table,
    marker: &'a str,
    resume_after: Option<&'a str>,
    on_chunk: &'a (dyn Fn(&str) -> Result<()> + Sync),
    arrival: Arrival,
    unique_keys: &'a [String],
) -> Result<FillJob<'a>> {
    let names: Vec<&str> = t.writable_columns().map(|c| c.name.as_str()).collect();
    let columns = fill_columns(ctx, t, &names)?;
    let own = ctx.plan()?.1.converted(&t.name).map(|c| c.column.clone());
    Ok(FillJob {
        table: t,
        columns,
        order_by: own,
        format: ctx.conversion.uuid_format,
        arrival,
        unique_keys,
        marker,
        resume_after,
        on_chunk,
    })
}
