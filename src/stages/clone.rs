//! Stage 3: create DB_DATA and SOURCE's tables in it (no views, triggers or routines). The rows
//! follow in swap, which writes each row once with its new keys. A table whose rows go straight
//! from SOURCE into DB_FINAL is made in its converted definition here where the engine says so
//! (`Dialect::converts_in_clone`). SOURCE is only ever read.

use super::{Context, Outcome, Stage};
use crate::error::Result;
use crate::journal::Artifact;
use crate::model::is_internal;
use crate::run::marker::mark;

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = crate::run::source::load(ctx)?;
    let (schema, _) = &*shared;
    let data = ctx.data()?;
    let source = ctx.source()?;
    let d = data.dialect();
    let created = ctx
        .journal
        .artifacts(Artifact::Database)?
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
            .add_artifact(Artifact::Database, "data", &data.url().stored())?;
    } else if !created {
        // An empty database made for the run (preflight refused any other): the run adopts
        // it, and `rekey clean` empties it again instead of dropping it.
        ctx.journal
            .add_artifact(Artifact::Adopted, "data", &data.url().stored())?;
        ctx.journal
            .add_artifact(Artifact::Database, "data", &data.url().stored())?;
    }
    mark(ctx, data.as_ref())?;
    // Tables an interrupted run left behind; only those are dropped (on a cluster every DDL
    // statement, even a DROP of nothing, stalls every node).
    let existing = crate::run::data_shape::describe_data(ctx)?;
    let tables: Vec<&crate::model::Table> = schema
        .tables
        .iter()
        .filter(|t| !is_internal(&t.name))
        .collect();
    // With --load-path move, a table DB_FINAL loads is built with DB_FINAL's own definition
    // (its indexes, defaults and options), so that swap fills it once and the load renames it.
    let moved = crate::run::data_shape::moved_tables(ctx)?;
    // A table whose rows go straight from SOURCE into DB_FINAL gets its converted definition
    // at once where the engine says so: it never holds rows, only what compare reads.
    let converted = crate::run::data_shape::convert_in_clone(ctx)?;
    let uuid_type = d.uuid_type(ctx.conversion.uuid_format)?;
    let fin_url = ctx.final_db.as_ref().map(|f| f.url().clone());
    ctx.steps(
        Stage::Clone,
        &tables,
        |t| t.name.clone(),
        d.parallel_writes(),
        |t| {
            // A table left by an interrupted run is created again.
            let mut s = ctx.writer(data.as_ref())?;
            if ctx.run.dry_run || existing.table(&t.name).is_some() {
                ctx.exec(&mut s, &d.drop_table_sql(&d.q(&t.name)))?;
            }
            let statements = match (moved.as_ref().and_then(|m| m.table(&t.name)), &fin_url) {
                (Some(like), Some(url)) => data.clone_table_sql(url, like)?,
                _ if converted.contains(&t.name) => {
                    let (swaps, _) =
                        crate::run::data_shape::swaps_for(ctx, d, &t.name, &uuid_type)?;
                    data.converted_table_sql(source.url(), t, &swaps)?
                }
                _ => data.clone_table_sql(source.url(), t)?,
            };
            // Journaled before the table exists: a killed run's resumed clone makes it again
            // either way, and the later stages must know which shape they find.
            if converted.contains(&t.name) {
                ctx.journal.add_artifact(Artifact::Converted, &t.name, "")?;
            } else {
                ctx.journal.remove_artifact(Artifact::Converted, &t.name)?;
            }
            for sql in statements {
                ctx.exec(&mut s, &sql)?;
            }
            Ok(0)
        },
    )?;
    if let Some(moved) = &moved {
        add_moved_foreign_keys(ctx, moved)?;
    }
    let mut detail = format!(
        "{} created",
        crate::text::count(tables.len() as u64, "table")
    );
    if !converted.is_empty() {
        detail.push_str(&format!(
            ", {} of them in their converted definition (one-write route)",
            converted.len()
        ));
    }
    let maps = crate::run::maps::queued_count(ctx);
    if maps > 0 {
        detail.push_str(&format!(
            "; the map files of {} with derived keys written in the background, while the next stages run",
            crate::text::count(maps as u64, "table")
        ));
    }
    Ok(Outcome {
        rows: 0,
        detail: Some(detail),
    })
}

/// DB_FINAL's foreign keys, declared among DB_DATA's tables built with its definitions: added
/// now, on empty tables, with checks on (so each rule is recorded as written), they follow the
/// tables when the load renames them into DB_FINAL.
fn add_moved_foreign_keys(ctx: &Context, moved: &crate::model::Schema) -> Result<()> {
    let data = ctx.data()?;
    let d = data.dialect();
    let existing = crate::run::data_shape::describe_data(ctx)?;
    let mut s = ctx.writer(data.as_ref())?;
    for sql in d.checked_session() {
        ctx.exec(&mut s, &sql)?;
    }
    for t in &moved.tables {
        // A resumed clone finds the keys it already added.
        let mut missing = t.clone();
        missing.foreign_keys.retain(|fk| {
            !existing
                .table(&t.name)
                .is_some_and(|e| e.foreign_keys.iter().any(|f| f.name == fk.name))
        });
        // DB_FINAL's tables: nothing in them converts any more.
        for sql in data.derive_constraints_sql(&missing, &[]) {
            ctx.exec(&mut s, &sql)?;
        }
    }
    Ok(())
}
