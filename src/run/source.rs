//! SOURCE's catalog and the plan built from it, read once per process into the context: every
//! stage needs them, also on resume (introspect's journal entry does not hold them), and reading
//! them only reads.

use std::sync::Arc;

use super::Context;
use crate::backend::Backend;
use crate::error::Result;
use crate::model::Schema;
use crate::options::ConversionOptions;
use crate::plan::Plan;

/// Reads SOURCE's catalog into the context (every later stage needs it, also on resume, so this
/// runs even when the journal has it done; it only reads).
pub fn load(ctx: &Context) -> Result<Arc<(Schema, Plan)>> {
    if let Some(p) = ctx.source_schema.get() {
        return Ok(p.clone());
    }
    // A live run's SOURCE is its snapshot copy, a move's its transfer: both carry this run's
    // marker.
    let shared = Arc::new(read_as(
        ctx.source()?.as_ref(),
        &ctx.conversion,
        ctx.reads_a_copy(),
    )?);
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
    read_as(source, conversion, false)
}

/// `read`, of a snapshot copy rekey made (`marked`): its marker table is not SOURCE's.
fn read_as(
    source: &dyn Backend,
    conversion: &ConversionOptions,
    marked: bool,
) -> Result<(Schema, Plan)> {
    let mut session = source.connect()?;
    source.check_namespace(session.as_mut())?;
    let mut schema = source.describe(session.as_mut())?;
    if marked {
        schema
            .tables
            .retain(|t| t.name != super::marker::RUN_MARKER);
    }
    super::bookkeeping::refuse_source(&schema, &source.url().to_string())?;
    let mut plan = Plan::build(&schema, conversion)?;
    source.review_plan(&schema, &mut plan)?;
    source.review_outside(session.as_mut(), &schema, &mut plan)?;
    super::bookkeeping::review(&schema, &mut plan);
    Ok((schema, plan))
}
