//! Stage 7: the shadow UUID columns take the names and positions of the integer key columns, which
//! are dropped with the temporary `<pk>_ipk_copy`; then each table is filled from SOURCE once, its
//! key through its own mapping table and every reference through its parent's (the backend's
//! `fill_table`). DB_DATA then holds all data in the right columns. On the one-write route
//! (`rekey run`'s default) a table the engine can fill straight from SOURCE into DB_FINAL is only
//! reshaped here, still empty, and its rows are written once, by the load; its route is journaled.

use super::data_shape::{describe_data, swaps_for, with_shadows};
use super::names::map_table;
use super::{Context, Outcome, Stage};
use crate::backend::{Arrival, FillColumn, FillFrom, FillJob, FillRoute};
use crate::error::Result;
use crate::model::{is_internal, Table};
use crate::uuidgen::DerivedKey;

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = super::introspect::load(ctx)?;
    let (source_schema, plan) = &*shared;
    let data = ctx.data()?;
    let source = ctx.source()?;
    let d = data.dialect();
    let uuid_type = d.uuid_type(ctx.conversion.uuid_format)?;
    let current = describe_data(ctx)?;
    let moved = super::data_shape::moved_tables(ctx)?;
    let mut tables: Vec<&Table> = source_schema
        .tables
        .iter()
        .filter(|t| !is_internal(&t.name))
        .collect();
    let one_write = std::sync::atomic::AtomicUsize::new(0);
    // Largest first, so parallel jobs finish together.
    tables.sort_by_key(|t| std::cmp::Reverse(t.estimated_rows));
    let rows = ctx.steps(
        Stage::Swap,
        &tables,
        |t| t.name.clone(),
        d.parallel_writes(),
        |t| {
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
                            .filter(|_| super::load::new_keys_ascend(&ctx.conversion, d))
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
                let route = super::data_shape::route(ctx, t)?;
                super::data_shape::journal_route(ctx, &t.name, &route)?;
                if route == FillRoute::OneWrite {
                    if ctx.run.dry_run {
                        ctx.say(&format!(
                            "    -- {}: no rows in DB_DATA (one-write route: the load writes them from SOURCE into DB_FINAL)",
                            t.name
                        ));
                    }
                    one_write.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
            crate::report::count(tables.len() as u64, "table")
        )
    } else {
        format!(
            "{} swapped, {} filled ({} left empty: their rows go from SOURCE straight into DB_FINAL in the load)",
            crate::report::count(tables.len() as u64, "table"),
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

/// Where each of `names` (columns of `t`, SOURCE's table) takes its value in a fill from SOURCE:
/// its value, or a new key derived from the old one or joined from a mapping table.
pub(super) fn fill_columns(ctx: &Context, t: &Table, names: &[&str]) -> Result<Vec<FillColumn>> {
    let (_, plan) = &*ctx.plan()?;
    let d = ctx.data()?.dialect();
    let own = plan.converted(&t.name);
    let refs: Vec<&crate::plan::Reference> = plan.references_from(&t.name).collect();
    // A key derived from the old key is computed in the fill; a mapped one is joined.
    let keys_of = |table: &str, own: bool| -> Result<FillFrom> {
        Ok(match super::shadow::key_source(ctx, table)? {
            Some(from) => FillFrom::Derived(DerivedKey {
                secret: ctx.secret.clone(),
                base_ms: ctx.base_ms,
                table: from,
                version: ctx.conversion.uuid_version,
            }),
            None if own => FillFrom::OwnKey {
                map: d.q(&map_table(d, table)),
            },
            None => FillFrom::Reference {
                map: d.q(&map_table(d, table)),
            },
        })
    };
    let mut columns = Vec::new();
    for &name in names {
        let from = if own.is_some_and(|o| o.column == name) {
            keys_of(&t.name, true)?
        } else if let Some(r) = refs.iter().find(|r| r.column == name) {
            keys_of(&r.ref_table, false)?
        } else {
            FillFrom::Value
        };
        columns.push(FillColumn {
            name: name.to_string(),
            from,
        });
    }
    Ok(columns)
}
