//! Stage 1: read SOURCE's catalog and build the plan.

use std::sync::Arc;

use super::{Context, Outcome};
use crate::backend::Backend;
use crate::error::Result;
use crate::journal::SourceTable;
use crate::model::Schema;
use crate::options::ConversionOptions;
use crate::plan::Plan;
use crate::report::count;

/// Reads SOURCE's catalog into the context (every later stage needs it, also on resume, so this
/// runs even when the journal has it done; it only reads).
pub fn load(ctx: &Context) -> Result<Arc<(Schema, Plan)>> {
    if let Some(p) = ctx.source_schema.get() {
        return Ok(p.clone());
    }
    let shared = Arc::new(read(ctx.source()?.as_ref(), &ctx.conversion)?);
    let _ = ctx.source_schema.set(shared.clone());
    Ok(shared)
}

/// SOURCE's schema when the command was given SOURCE: the stages that decide which tables are
/// DB_FINAL's own history (`bookkeeping::kept`) all look at it, so they agree.
pub fn load_if_given(ctx: &Context) -> Result<Option<Arc<(Schema, Plan)>>> {
    match ctx.source {
        Some(_) => load(ctx).map(Some),
        None => Ok(None),
    }
}

/// SOURCE and its schema and plan when the command was given a SOURCE that exists, for the checks
/// of its data (the environment checks report a SOURCE that is missing).
pub type Existing<'a> = (&'a Arc<dyn Backend>, Arc<(Schema, Plan)>);

pub fn existing_source(ctx: &Context) -> Result<Option<Existing<'_>>> {
    let Some(source) = &ctx.source else {
        return Ok(None);
    };
    if !source.database_exists()? {
        return Ok(None);
    }
    Ok(Some((source, load(ctx)?)))
}

/// SOURCE's schema and plan, with every check of SOURCE itself (its namespace, rekey's prefix, no
/// tables) and every review of the plan: what a run and `rekey audit --source` both start from.
pub fn read(source: &dyn Backend, conversion: &ConversionOptions) -> Result<(Schema, Plan)> {
    let mut session = source.connect()?;
    source.check_namespace(session.as_mut())?;
    let schema = source.describe(session.as_mut())?;
    super::bookkeeping::refuse_source(&schema, &source.url().to_string())?;
    let mut plan = Plan::build(&schema, conversion)?;
    source.review_plan(&schema, &mut plan)?;
    source.review_outside(session.as_mut(), &schema, &mut plan)?;
    super::bookkeeping::review(&schema, &mut plan);
    Ok((schema, plan))
}

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = load(ctx)?;
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
