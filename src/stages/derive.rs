//! derive-final: DB_FINAL without an ORM migration: SOURCE's schema with UUID key and reference
//! columns, every index, unique key and foreign key (with its rules), view and trigger kept.

use super::{Context, Outcome, Stage};
use crate::error::{Error, Place, Result};
use crate::journal::Artifact;
use crate::model::is_internal;

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = crate::run::source::load(ctx)?;
    let (schema, _) = &*shared;
    let fin = ctx.final_db()?;
    let source = ctx.source()?;
    let d = fin.dialect();
    let uuid_type = d.uuid_type(ctx.conversion.uuid_format)?;
    if !ctx.run.dry_run && fin.database_exists()? && !retake_own(ctx, fin.as_ref())? {
        let mut s = fin.connect()?;
        let existing = fin.describe(s.as_mut())?;
        if !existing.tables.is_empty() {
            return Err(Error::input(
                Place::stage(Stage::DeriveFinal),
                format!("DB_FINAL {} already exists and has {} tables.", fin.url(), existing.tables.len()),
                "derive-final creates DB_FINAL itself: give the name of a database that does not exist yet, or drop that one.",
            ));
        }
    } else {
        let statements = fin.create_database(schema.tables.first(), ctx.run.dry_run)?;
        if ctx.run.dry_run {
            for sql in statements {
                ctx.say(&format!("    {sql};"));
            }
        }
        ctx.journal
            .add_artifact(Artifact::Database, "final", &fin.url().stored())?;
        crate::run::marker::mark(ctx, fin.as_ref())?;
    }
    let mut s = ctx.writer(fin.as_ref())?;
    for sql in d.bulk_session(crate::backend::Arrival::Unordered) {
        ctx.exec(&mut s, &sql)?;
    }
    let tables = schema
        .tables
        .iter()
        .filter(|t| !is_internal(&t.name))
        .map(|t| {
            Ok((
                t,
                crate::run::data_shape::swaps_for(ctx, d, &t.name, &uuid_type)?.0,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    for (t, swaps) in &tables {
        for sql in fin.derive_table(source.url(), t, swaps)? {
            ctx.exec(&mut s, &sql)?;
        }
    }
    ctx.test_stall(Stage::DeriveFinal);
    let count = tables.len();
    // Foreign keys last: a column cannot change type while a constraint uses it.
    // With checks on, so rules are recorded as written; the tables are empty, so nothing fails.
    for sql in d.checked_session() {
        ctx.exec(&mut s, &sql)?;
    }
    for (t, swaps) in &tables {
        for sql in fin.derive_constraints_sql(t, swaps) {
            ctx.exec(&mut s, &sql)?;
        }
    }
    // Each on its own: the server decides whether a definition over a converted column still
    // means something for UUIDs, and one it refuses is left out by name, never silently.
    let mut left_out = Vec::new();
    for (t, swaps) in &tables {
        for (what, sql) in fin.derive_optional_sql(t, swaps) {
            if let Err(e) = ctx.exec(&mut s, &sql) {
                // A refusal leaves the session usable; a lost connection or an interrupt is
                // not the definition's fault.
                let usable = s.as_mut().is_some_and(|s| s.execute("SELECT 1").is_ok());
                if !usable || matches!(e, Error::Interrupted { .. }) {
                    return Err(e);
                }
                left_out.push(format!(
                    "{what} ({})",
                    e.message().replace(&ctx.marker(), "")
                ));
            }
        }
    }
    // Views may use each other: create in passes until none is left or no pass makes progress.
    let mut pending: Vec<&crate::model::View> = schema
        .views
        .iter()
        .filter(|v| v.create_sql.is_some())
        .collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut failed = Vec::new();
        let mut last_error = None;
        for v in pending {
            let sql = v.create_sql.as_deref().unwrap_or_default();
            if let Err(e) = ctx.exec(&mut s, sql) {
                last_error = Some(e);
                failed.push(v);
            }
        }
        if failed.len() == before {
            if let Some(e) = last_error {
                return Err(e);
            }
        }
        pending = failed;
    }
    for tr in &schema.triggers {
        for sql in fin.create_trigger_sql(tr) {
            ctx.exec(&mut s, &sql)?;
        }
    }
    let mut detail = format!(
        "{count} {}, {} {} created",
        crate::text::plural(count, "table"),
        schema.triggers.len(),
        crate::text::plural(schema.triggers.len(), "trigger")
    );
    if !left_out.is_empty() {
        detail.push_str(&format!(
            "; left out, refused by the server (write them again for DB_FINAL if they still matter): {}",
            left_out.join("; ")
        ));
    }
    Ok(Outcome {
        rows: 0,
        detail: Some(detail),
    })
}

/// A DB_FINAL that this run's interrupted derive-final created (rekey's marker names this run) is
/// dropped, so the resumed stage derives it again from the start; returns whether it did. Any
/// other database is left alone for the caller to refuse.
fn retake_own(ctx: &Context, fin: &dyn crate::backend::Backend) -> Result<bool> {
    let mut s = fin.connect()?;
    let existing = fin.describe(s.as_mut())?;
    let owner = crate::run::marker::marker_of(fin, s.as_mut(), &existing)?;
    drop(s);
    if owner.as_deref() != Some(ctx.run_id.as_str()) {
        return Ok(false);
    }
    fin.drop_database()?;
    ctx.progress.note(&format!(
        "derive-final: dropped {}, which this run had begun to derive, to derive it again",
        fin.url()
    ));
    Ok(true)
}
