//! Stage 7: the shadow UUID columns take the names and positions of the integer key columns, which
//! are dropped with the temporary `<pk>_ipk_copy`; then each table is filled in one INSERT ...
//! SELECT from SOURCE joined to the mapping tables, writing every row once. DB_DATA then holds all
//! data in the right columns.

use super::{ipk, map_table_name, ufk, upk, Context, Outcome};
use crate::backend::{Arrival, Swap};
use crate::error::Result;
use crate::model::{is_internal, Table};

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = super::introspect::load(ctx)?;
    let (source_schema, _) = &*shared;
    let data = ctx.data()?;
    let d = data.dialect();
    let uuid_type = d.uuid_type(ctx.conversion.uuid_format)?;
    let current = super::unconstrain::describe_data(ctx)?;
    let mut tables: Vec<&Table> = source_schema
        .tables
        .iter()
        .filter(|t| !is_internal(&t.name))
        .collect();
    // Largest first, so parallel jobs finish together.
    tables.sort_by_key(|t| std::cmp::Reverse(t.estimated_rows));
    let rows = ctx.steps(
        super::SWAP,
        &tables,
        |t| t.name.clone(),
        d.parallel_writes(),
        |t| {
            let (swaps, drop) = swaps_for(ctx, &t.name, &uuid_type)?;
            let shape = match current.table(&t.name) {
                Some(shape) => shape.clone(),
                // Dry run: DB_DATA does not exist; swap what shadow and link would have added.
                None => with_shadows((*t).clone(), &swaps, &drop),
            };
            let (mut s, from) = ctx.reaching_source(data.as_ref(), super::SWAP)?;
            for sql in data.swap_sql(&shape, &swaps, &drop) {
                ctx.exec(&mut s, &sql)?;
            }
            let bar = ctx.progress.table("swap", &t.name, t.estimated_rows);
            if let Some(session) = s.as_deref_mut() {
                // Unconstrain left DB_DATA's tables without any index: every row is an append.
                for sql in d.bulk_session(Arrival::InKeyOrder) {
                    session.execute(&sql)?;
                }
                // A table half-filled by an interrupted run is filled again from empty.
                let table = d.q(&t.name);
                if session.has_rows(&table)? {
                    session.execute(&d.empty_table_sql(&table))?;
                }
            }
            let rows = ctx.exec(&mut s, &fill_sql(ctx, t, &from)?)?;
            bar.finish(rows);
            Ok(rows)
        },
    )?;
    Ok(Outcome {
        rows,
        detail: Some(format!("{} tables swapped and filled", tables.len())),
    })
}

/// The one statement that writes a table's rows into DB_DATA: SOURCE's rows, the key through the
/// table's own mapping and every reference through its parent's (a LEFT JOIN, so NULL stays NULL),
/// in old-key order so the new keys arrive in ascending order.
fn fill_sql(ctx: &Context, t: &Table, from: &str) -> Result<String> {
    let (_, plan) = &*ctx.plan()?;
    let d = ctx.data()?.dialect();
    let own = plan.converted(&t.name);
    let format = ctx.conversion.uuid_format;
    let stored = d.map_format(format);
    let new_key = |alias: &str| d.map_to_column_sql(&format!("{alias}.new_id"), stored, format);
    let refs: Vec<&crate::plan::Reference> = plan.references_from(&t.name).collect();
    let mut columns = Vec::new();
    let mut exprs = Vec::new();
    let mut joins = Vec::new();
    if let Some(c) = own {
        joins.push(format!(
            " JOIN {} m ON m.old_id = s.{}",
            d.q(&map_table_name(&t.name)),
            d.q(&c.column)
        ));
    }
    for (i, c) in t.writable_columns().enumerate() {
        columns.push(d.q(&c.name));
        if own.is_some_and(|o| o.column == c.name) {
            exprs.push(new_key("m"));
        } else if let Some(r) = refs.iter().find(|r| r.column == c.name) {
            let alias = format!("p{i}");
            joins.push(format!(
                " LEFT JOIN {} {alias} ON {alias}.old_id = s.{}",
                d.q(&map_table_name(&r.ref_table)),
                d.q(&c.name)
            ));
            exprs.push(new_key(&alias));
        } else {
            exprs.push(format!("s.{}", d.q(&c.name)));
        }
    }
    let order = own
        .map(|c| format!(" ORDER BY s.{}", d.q(&c.column)))
        .unwrap_or_default();
    Ok(format!(
        "INSERT INTO {} ({}) SELECT {} FROM {from}.{} s{}{order}",
        d.q(&t.name),
        columns.join(", "),
        exprs.join(", "),
        d.q(&t.name),
        joins.concat()
    ))
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
