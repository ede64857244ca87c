//! Stage 7: the shadow UUID columns take the names and positions of the integer key columns, which
//! are dropped with the temporary `<pk>_ipk_copy`. DB_DATA then holds all data in the right columns.

use super::{ipk, ufk, upk, Context, Outcome};
use crate::backend::Swap;
use crate::error::Result;

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = super::introspect::load(ctx)?;
    let (source_schema, plan) = &*shared;
    let data = ctx.data()?;
    let d = data.dialect();
    let uuid_type = d.uuid_type(ctx.conversion.uuid_format)?;
    let current = super::unconstrain::describe_data(ctx)?;
    let mut tables: Vec<String> = plan.converted.iter().map(|c| c.table.clone()).collect();
    for r in &plan.references {
        if !tables.contains(&r.table) {
            tables.push(r.table.clone());
        }
    }
    tables.sort();
    let rows = ctx.steps(
        super::SWAP,
        &tables,
        |t| t.clone(),
        d.parallel_writes(),
        |t| {
            let (swaps, drop) = swaps_for(ctx, t, &uuid_type)?;
            let shape = current
                .table(t)
                .or_else(|| source_schema.table(t))
                .cloned()
                .unwrap_or_default();
            let mut s = ctx.writer(data.as_ref())?;
            for sql in data.swap_sql(&shape, &swaps, &drop) {
                ctx.exec(&mut s, &sql)?;
            }
            Ok(0)
        },
    )?;
    let _ = plan;
    Ok(Outcome {
        rows,
        detail: Some(format!("{} tables swapped", tables.len())),
    })
}

/// The swaps of one table: its own key (`<pk>_upk_copy`) and its references (`<col>_ufk_copy`).
pub fn swaps_for(ctx: &Context, table: &str, uuid_type: &str) -> Result<(Vec<Swap>, Vec<String>)> {
    let shared = super::introspect::load(ctx)?;
    let (schema, plan) = &*shared;
    let source_table = schema.table(table);
    let nullable = |col: &str| {
        source_table
            .and_then(|t| t.column(col))
            .map(|c| c.nullable)
            .unwrap_or(true)
    };
    let mut swaps = Vec::new();
    let mut drop = Vec::new();
    if let Some(c) = plan.converted(table) {
        swaps.push(Swap {
            column: c.column.clone(),
            shadow: upk(&c.column),
            uuid_type: uuid_type.into(),
            nullable: false,
        });
        drop.push(ipk(&c.column));
    }
    for r in plan.references_from(table) {
        swaps.push(Swap {
            column: r.column.clone(),
            shadow: ufk(&r.column),
            uuid_type: uuid_type.into(),
            nullable: nullable(&r.column),
        });
    }
    // Keep the table's column order: swaps are applied in the order of the original columns.
    if let Some(t) = source_table {
        swaps.sort_by_key(|s| t.columns.iter().position(|c| c.name == s.column));
    }
    Ok((swaps, drop))
}
