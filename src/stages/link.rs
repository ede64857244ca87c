//! Stage 5: give every referencing column a shadow `<col>_ufk_copy` for the referenced row's UUID.
//! Its values come set-based through the parent's mapping table (a LEFT JOIN) when swap fills the
//! table, so NULLs (and orphans under `--orphans null`) stay NULL.

use std::collections::BTreeMap;

use super::{Context, Outcome, Stage};
use crate::error::Result;
use crate::plan::Reference;
use crate::run::names::ufk;

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = crate::run::source::load(ctx)?;
    let (schema, plan) = &*shared;
    let data = ctx.data()?;
    let mut by_table: BTreeMap<&str, Vec<&Reference>> = BTreeMap::new();
    let moved = crate::run::data_shape::moved_tables(ctx)?;
    // Tables clone made in their converted definition have no integer columns to shadow.
    let converted = crate::run::data_shape::converted_in_clone(ctx)?;
    for r in plan.references.iter().filter(|r| {
        !r.is_primary_key
            && !crate::run::data_shape::is_moved(&moved, &r.table)
            && !converted.contains(&r.table)
    }) {
        by_table.entry(r.table.as_str()).or_default().push(r);
    }
    let groups: Vec<(&str, Vec<&Reference>)> = by_table.into_iter().collect();
    // Only the tables that get shadow columns are asked about (none on the one-write route).
    let current = crate::run::data_shape::describe_data_if(ctx, !groups.is_empty())?;
    ctx.steps(
        Stage::Link,
        &groups,
        |(t, _)| t.to_string(),
        data.dialect().parallel_writes(),
        |(t, refs)| {
            let d = data.dialect();
            let uuid_type = d.uuid_type(ctx.conversion.uuid_format)?;
            let existing = current.table(t);
            let missing: Vec<(String, String)> = refs
                .iter()
                .map(|r| ufk(d, schema.table(t), &r.column))
                .filter(|shadow| existing.and_then(|x| x.column(shadow)).is_none())
                .map(|shadow| (shadow, d.added_column_type(existing, &uuid_type)))
                .collect();
            let mut session = ctx.writer(data.as_ref())?;
            for sql in d.add_columns_sql(t, &missing) {
                ctx.exec(&mut session, &sql)?;
            }
            Ok(0)
        },
    )?;
    let references: usize = groups.iter().map(|(_, r)| r.len()).sum();
    Ok(Outcome {
        rows: 0,
        detail: Some(format!(
            "{} in {}",
            crate::text::count(references as u64, "reference"),
            crate::text::count(groups.len() as u64, "table")
        )),
    })
}
