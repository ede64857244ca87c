//! Stage 3: create DB_DATA and SOURCE's tables in it (no views, triggers or routines). The rows
//! follow in swap, which writes each row once with its new keys. SOURCE is only ever read.

use super::preflight::RUN_MARKER;
use super::{Context, Outcome, Stage};
use crate::backend::Backend;
use crate::error::Result;
use crate::model::is_internal;

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = super::introspect::load(ctx)?;
    let (schema, _) = &*shared;
    let data = ctx.data()?;
    let source = ctx.source()?;
    let d = data.dialect();
    let created = ctx
        .journal
        .artifacts("database")?
        .iter()
        .any(|(which, _)| which == "data");
    if ctx.run.dry_run || !data.database_exists()? {
        let statements = data.create_database(schema.tables.first(), ctx.run.dry_run)?;
        if ctx.run.dry_run {
            for sql in statements {
                ctx.say(&format!("    {sql};"));
            }
        }
        ctx.journal
            .add_artifact("database", "data", &data.url().stored())?;
    } else if !created {
        // An empty database made for the run (preflight refused any other): the run adopts
        // it, and `rekey clean` empties it again instead of dropping it.
        ctx.journal
            .add_artifact("adopted", "data", &data.url().stored())?;
        ctx.journal
            .add_artifact("database", "data", &data.url().stored())?;
    }
    mark(ctx, data.as_ref())?;
    let tables: Vec<&crate::model::Table> = schema
        .tables
        .iter()
        .filter(|t| !is_internal(&t.name))
        .collect();
    ctx.steps(
        Stage::Clone,
        &tables,
        |t| t.name.clone(),
        d.parallel_writes(),
        |t| {
            // A table left by an interrupted run is created again.
            let mut s = ctx.writer(data.as_ref())?;
            ctx.exec(&mut s, &d.drop_table_sql(&d.q(&t.name)))?;
            for sql in data.clone_table_sql(source.url(), t)? {
                ctx.exec(&mut s, &sql)?;
            }
            Ok(0)
        },
    )?;
    Ok(Outcome {
        rows: 0,
        detail: Some(format!(
            "{} created",
            crate::report::count(tables.len() as u64, "table")
        )),
    })
}

/// Writes rekey's marker into a database the run created: `rekey clean` drops only databases
/// that carry the marker of its own run.
pub fn mark(ctx: &Context, db: &dyn Backend) -> Result<()> {
    if ctx.run.dry_run {
        return Ok(());
    }
    let d = db.dialect();
    let mut s = db.connect()?;
    s.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {} (run_id VARCHAR(64) NOT NULL)",
        d.q(RUN_MARKER)
    ))?;
    if s.query_u64(&format!("SELECT COUNT(*) FROM {}", d.q(RUN_MARKER)))? == 0 {
        s.execute(&format!(
            "INSERT INTO {} (run_id) VALUES ({})",
            d.q(RUN_MARKER),
            d.lit(&ctx.run_id)
        ))?;
    }
    Ok(())
}
