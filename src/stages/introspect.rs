//! Stage 1: read SOURCE's catalog and build the plan.

use std::sync::Arc;

use super::{Context, Outcome};
use crate::error::Result;
use crate::plan::Plan;
use crate::report::count;

/// Reads SOURCE's catalog into the context (every later stage needs it, also on resume, so this
/// runs even when the journal has it done; it only reads).
pub fn load(ctx: &Context) -> Result<Arc<(crate::model::Schema, Plan)>> {
    if let Some(p) = ctx.source_schema.get() {
        return Ok(p.clone());
    }
    let source = ctx.source()?;
    let mut session = source.connect()?;
    source.check_namespace(session.as_mut())?;
    let schema = source.describe(session.as_mut())?;
    super::bookkeeping::refuse_source(&schema, &source.url().to_string())?;
    let mut plan = Plan::build(&schema, &ctx.conversion)?;
    source.review_plan(&schema, &mut plan)?;
    source.review_outside(session.as_mut(), &schema, &mut plan)?;
    super::bookkeeping::review(&schema, &mut plan);
    let shared = Arc::new((schema, plan));
    let _ = ctx.source_schema.set(shared.clone());
    Ok(shared)
}

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = load(ctx)?;
    let (schema, plan) = &*shared;
    // `rekey status` reads the run from the journal alone: SOURCE's sizes weigh its ETA.
    let sizes: Vec<serde_json::Value> = schema
        .tables
        .iter()
        .filter(|t| !crate::model::is_internal(&t.name))
        .map(|t| {
            serde_json::json!({
                "table": t.name,
                "rows": t.estimated_rows,
                "converted": plan.converted(&t.name).is_some(),
            })
        })
        .collect();
    ctx.journal
        .set("source_tables", &serde_json::Value::from(sizes).to_string())?;
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
