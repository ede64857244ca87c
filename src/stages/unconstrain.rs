//! Stage 6: drop, in DB_DATA, every foreign key, primary key and index, so the integer key columns
//! can go and the table is filled without maintaining any index (DB_DATA is a staging copy; DB_FINAL
//! has the constraints).

use super::{Context, Outcome};
use crate::backend::Unconstrain;
use crate::error::Result;
use crate::model::is_internal;

use super::Stage;
use crate::run::data_shape::describe_data_if;

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = crate::run::source::load(ctx)?;
    let (source_schema, plan) = &*shared;
    let data = ctx.data()?;
    // Tables built with DB_FINAL's definitions keep their keys and indexes: they move there.
    let moved = crate::run::data_shape::moved_tables(ctx)?;
    // Tables clone made in their converted definition hold no rows and take none in swap.
    let converted = crate::run::data_shape::converted_in_clone(ctx)?;
    // DB_DATA holds only the tables clone made: where it made every one converted (the
    // one-write route), there is nothing to ask its catalog.
    let all_converted = crate::run::data_shape::all_converted(source_schema, &converted);
    let mut current = describe_data_if(ctx, !all_converted || ctx.run.dry_run)?;
    if ctx.run.dry_run && current.tables.is_empty() {
        current = source_schema.clone();
        if !data.dialect().clone_keeps_foreign_keys() {
            current
                .tables
                .iter_mut()
                .for_each(|t| t.foreign_keys.clear());
        }
    }
    let work: Vec<(crate::model::Table, Unconstrain)> = current
        .tables
        .iter()
        .filter(|t| {
            !is_internal(&t.name)
                && !crate::run::data_shape::is_moved(&moved, &t.name)
                && !converted.contains(&t.name)
        })
        .map(|t| {
            // DB_DATA holds no keys at all: the integer key columns can go, and swap's single
            // INSERT per table maintains no index.
            let uuid_columns = plan.uuid_columns(&t.name);
            let what = Unconstrain {
                foreign_keys: t.foreign_keys.iter().map(|f| f.name.clone()).collect(),
                primary_key: !t.primary_key.is_empty(),
                indexes: t.indexes.iter().map(|i| i.name.clone()).collect(),
                checks: t
                    .checks
                    .iter()
                    .filter(|c| c.column.is_none())
                    .filter(|c| uuid_columns.iter().any(|(col, _)| c.mentions(col)))
                    .map(|c| c.name.clone())
                    .collect(),
            };
            (t.clone(), what)
        })
        .filter(|(_, w)| {
            !w.foreign_keys.is_empty()
                || w.primary_key
                || !w.indexes.is_empty()
                || !w.checks.is_empty()
        })
        .collect();
    let d = data.dialect();
    if d.alters_in_place() {
        // Every foreign key goes first: a key cannot be dropped while another table's
        // constraint still needs it.
        for (t, w) in work.iter().filter(|(_, w)| !w.foreign_keys.is_empty()) {
            let fks_only = Unconstrain {
                foreign_keys: w.foreign_keys.clone(),
                ..Unconstrain::default()
            };
            let mut s = ctx.writer(data.as_ref())?;
            for sql in data.unconstrain_sql(t, &fks_only) {
                ctx.exec(&mut s, &sql)?;
            }
        }
    }
    let rows = ctx.steps(
        Stage::Unconstrain,
        &work,
        |(t, _)| t.name.clone(),
        d.parallel_writes(),
        |(t, w)| {
            let rest = if d.alters_in_place() {
                Unconstrain {
                    foreign_keys: Vec::new(),
                    ..w.clone()
                }
            } else {
                w.clone()
            };
            let mut s = ctx.writer(data.as_ref())?;
            for sql in data.unconstrain_sql(t, &rest) {
                ctx.exec(&mut s, &sql)?;
            }
            Ok(0)
        },
    )?;
    Ok(Outcome {
        rows,
        detail: Some(format!(
            "{} changed",
            crate::text::count(work.len() as u64, "table")
        )),
    })
}
