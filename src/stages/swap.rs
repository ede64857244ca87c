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
            let shape = match current.table(t) {
                Some(shape) => shape.clone(),
                // Dry run: DB_DATA does not exist; swap what shadow and link would have added.
                None => with_shadows(
                    source_schema.table(t).cloned().unwrap_or_default(),
                    &swaps,
                    &drop,
                ),
            };
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

fn with_shadows(
    mut table: crate::model::Table,
    swaps: &[Swap],
    drop: &[String],
) -> crate::model::Table {
    for name in swaps.iter().map(|s| &s.shadow).chain(drop) {
        table.columns.push(crate::model::Column {
            name: name.clone(),
            ..Default::default()
        });
    }
    table
}

/// The shape DB_DATA will have after swap, predicted from SOURCE (a dry run compares and plans
/// the load against it before DB_DATA exists).
pub fn predicted_data_schema(ctx: &Context) -> Result<crate::model::Schema> {
    let shared = super::introspect::load(ctx)?;
    let (schema, _) = &*shared;
    let d = ctx.data()?.dialect();
    let uuid_type = d.uuid_type(ctx.conversion.uuid_format)?;
    let mut out = crate::model::Schema::default();
    for t in schema
        .tables
        .iter()
        .filter(|t| !crate::model::is_internal(&t.name))
    {
        let (swaps, _) = swaps_for(ctx, &t.name, &uuid_type)?;
        let mut table = t.clone();
        for s in &swaps {
            let predicted = d.predict_column(&s.column, &s.uuid_type, s.nullable, t);
            if let Some(c) = table.columns.iter_mut().find(|c| c.name == s.column) {
                *c = predicted;
            }
        }
        if !d.clone_keeps_foreign_keys() {
            table.foreign_keys.clear();
        }
        out.tables.push(table);
    }
    Ok(out)
}
