//! DB_DATA's shape, which several stages need: as the catalog describes it now (stages inspect it,
//! so re-running them is safe), the column swaps of each table, and in a dry run the shape the
//! conversion would give it before DB_DATA exists.

use super::names::{ipk, ufk, upk};
use super::Context;
use crate::backend::{Dialect, LoadChoice, Swap};
use crate::error::Result;
use crate::model::{is_internal, Column, Schema, Table};

/// DB_DATA's catalog as it is now. Empty in a dry run before DB_DATA exists.
pub fn describe_data(ctx: &Context) -> Result<Schema> {
    let data = ctx.data()?;
    if ctx.run.dry_run && !data.database_exists()? {
        return Ok(Schema::default());
    }
    let mut s = data.connect()?;
    data.describe(s.as_mut())
}

/// DB_DATA's catalog, or in a dry run before it exists, the shape the conversion would give it.
pub fn data_or_predicted(ctx: &Context) -> Result<Schema> {
    let current = describe_data(ctx)?;
    if ctx.run.dry_run && current.tables.is_empty() {
        return predicted_data_schema(ctx);
    }
    Ok(current)
}

/// The swaps of one table: its own key (`<pk>_upk_copy`) and its references (`<col>_ufk_copy`),
/// in the table's column order, and the work columns to drop (`<pk>_ipk_copy`), named for the
/// engine of `d`.
pub fn swaps_for(
    ctx: &Context,
    d: &dyn Dialect,
    table: &str,
    uuid_type: &str,
) -> Result<(Vec<Swap>, Vec<String>)> {
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
            shadow: upk(d, source_table, &c.column),
            uuid_type: uuid_type.into(),
            nullable: false,
        });
        drop.push(ipk(d, source_table, &c.column));
    }
    for r in plan.references_from(table) {
        swaps.push(Swap {
            column: r.column.clone(),
            shadow: ufk(d, source_table, &r.column),
            uuid_type: uuid_type.into(),
            nullable: nullable(&r.column),
        });
    }
    if let Some(t) = source_table {
        swaps.sort_by_key(|s| t.columns.iter().position(|c| c.name == s.column));
    }
    Ok((swaps, drop))
}

/// SOURCE's table as shadow and link would have left it in DB_DATA (a dry run's starting point).
pub fn with_shadows(mut table: Table, swaps: &[Swap], drop: &[String]) -> Table {
    for name in swaps.iter().map(|s| &s.shadow).chain(drop) {
        table.columns.push(Column {
            name: name.clone(),
            ..Default::default()
        });
    }
    table
}

/// The shape DB_DATA will have after swap, predicted from SOURCE (a dry run compares and plans
/// the load against it before DB_DATA exists).
pub fn predicted_data_schema(ctx: &Context) -> Result<Schema> {
    let shared = super::introspect::load(ctx)?;
    let (schema, _) = &*shared;
    let d = ctx.data()?.dialect();
    let uuid_type = d.uuid_type(ctx.conversion.uuid_format)?;
    let mut out = Schema::default();
    for t in schema.tables.iter().filter(|t| !is_internal(&t.name)) {
        let (swaps, _) = swaps_for(ctx, d, &t.name, &uuid_type)?;
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

/// In a dry run where DB_FINAL does not exist yet (derive-final would create it), the shape it
/// would get: DB_DATA's, which derive-final gives it. `None` when DB_FINAL is to be read.
pub fn predicted_final(ctx: &Context) -> Result<Option<Schema>> {
    if !ctx.run.dry_run || ctx.final_db()?.database_exists()? {
        return Ok(None);
    }
    data_or_predicted(ctx).map(Some)
}

/// With `--load-path move`, DB_FINAL's catalog: the definitions DB_DATA's tables are built with
/// (those DB_FINAL loads: not its migration tool's bookkeeping table), so that swap fills each
/// table once and the load renames it into DB_FINAL. `None` otherwise.
pub fn moved_tables(ctx: &Context) -> Result<Option<Schema>> {
    if ctx.run.load_path != LoadChoice::Move {
        return Ok(None);
    }
    let fin = ctx.final_db()?;
    if !fin.database_exists()? {
        // A dry run before derive-final: DB_FINAL would get DB_DATA's predicted shape.
        return predicted_data_schema(ctx).map(Some);
    }
    let mut s = fin.connect()?;
    let mut schema = fin.describe(s.as_mut())?;
    let source = super::introspect::load(ctx)?;
    let described = schema.clone();
    schema.tables.retain(|t| {
        !is_internal(&t.name) && !super::bookkeeping::kept(&t.name, &described, Some(&source.0))
    });
    Ok(Some(schema))
}

/// Whether `table` is built with DB_FINAL's definition and moved there (see `moved_tables`).
pub fn is_moved(moved: &Option<Schema>, table: &str) -> bool {
    moved.as_ref().is_some_and(|m| m.table(table).is_some())
}
