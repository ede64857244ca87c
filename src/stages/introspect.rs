//! Stage 1: read SOURCE's catalog and build the plan (`run::source`), and journal SOURCE's tables
//! for `rekey status`.

use super::{Context, Outcome};
use crate::error::Result;
use crate::journal::SourceTable;
use crate::text::count;

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = crate::run::source::load(ctx)?;
    let (schema, plan) = &*shared;
    // `rekey status` reads the run from the journal alone: SOURCE's sizes weigh its ETA.
    let sizes: Vec<SourceTable> = schema
        .tables
        .iter()
        .filter(|t| !crate::model::is_internal(&t.name))
        .map(|t| SourceTable {
            table: t.name.clone(),
            rows: t.estimated_rows,
            converted: plan.converted(&t.name).is_some(),
        })
        .collect();
    ctx.journal.set_source_tables(&sizes)?;
    Ok(Outcome {
        rows: schema.tables.len() as u64,
        detail: Some(format!(
            "{}, {} converted, {}, {}",
            count(schema.tables.len() as u64, "table"),
            plan.converted.len(),
            count(plan.references.len() as u64, "reference"),
            count(plan.warnings.len() as u64, "warning")
        )),
    })
}
