//! `rekey clean`: undo what a run created (DB_DATA, a derived DB_FINAL, triggers set aside), from
//! its journal. It drops a database only when the journal records creating it and rekey's marker
//! inside names this run; never SOURCE, never a database the run did not create.

use super::preflight::marker_of;
use super::{Context, Stage};
use crate::backend::{Arrival, Backend};
use crate::error::{Error, Place, Result};

/// Returns the lines describing what was undone.
pub fn run(ctx: &Context) -> Result<Vec<String>> {
    let mut done = Vec::new();
    // Triggers that a load set aside and could not put back yet.
    if !ctx.journal.artifacts("trigger")?.is_empty() {
        let fin = ctx.final_db()?;
        let mut s = fin.connect()?;
        let restored = super::load::restore_triggers(ctx, s.as_mut())?;
        done.push(format!(
            "restored {restored} {} in DB_FINAL",
            crate::report::plural(restored, "trigger")
        ));
    }
    let adopted: Vec<String> = ctx
        .journal
        .artifacts("adopted")?
        .into_iter()
        .map(|(which, _)| which)
        .collect();
    for (which, _) in ctx.journal.artifacts("database")? {
        let backend = match which.as_str() {
            "data" => ctx.data()?,
            _ => ctx.final_db()?,
        };
        let label = if which == "data" {
            "DB_DATA"
        } else {
            "DB_FINAL"
        };
        if !backend.database_exists()? {
            if !ctx.run.dry_run {
                ctx.journal.remove_artifact("database", &which)?;
            }
            done.push(format!("{label} {} was already gone", backend.url()));
            continue;
        }
        let mut s = backend.connect()?;
        let schema = backend.describe(s.as_mut())?;
        drop(s);
        let mut s = backend.connect()?;
        match marker_of(backend.as_ref(), s.as_mut(), &schema)? {
            Some(id) if id == ctx.run_id => {}
            other => {
                return Err(Error::input(
                    Place::default(),
                    format!(
                        "{label} {} does not carry this run's marker ({}), so rekey did not create it for this run and will not drop it.",
                        backend.url(),
                        match other {
                            Some(id) => format!("it was made by run {id}"),
                            None => "it has none".into(),
                        }
                    ),
                    "Drop it yourself if it is yours to drop; `rekey clean` only undoes what its own run created.",
                ));
            }
        }
        let emptied = adopted.contains(&which);
        if ctx.run.dry_run {
            ctx.say(&format!(
                "    -- {} {label} {}",
                if emptied { "empty" } else { "drop" },
                backend.url()
            ));
            continue;
        }
        if emptied {
            drop_tables(backend.as_ref(), &schema)?;
            ctx.journal.remove_artifact("adopted", &which)?;
        } else {
            backend.drop_database()?;
        }
        ctx.journal.remove_artifact("database", &which)?;
        done.push(format!(
            "{} {label} {}",
            if emptied {
                "emptied (it existed before the run)"
            } else {
                "dropped"
            },
            backend.url()
        ));
    }
    if !ctx.run.dry_run {
        let map = ctx.map_dir();
        if map.exists() {
            std::fs::remove_dir_all(&map).map_err(|e| crate::error::io_error("remove", &map, e))?;
            done.push(format!("removed {}", map.display()));
        }
        for stage in Stage::ALL {
            ctx.journal.reset_stage(stage.name())?;
        }
        crate::guard::forget(&ctx.journal)?;
        ctx.journal.set("status", "cleaned")?;
    }
    Ok(done)
}

/// Drops every table the run put into a database that existed before it.
fn drop_tables(db: &dyn Backend, schema: &crate::model::Schema) -> Result<()> {
    let d = db.dialect();
    let mut s = db.connect()?;
    // Constraint checks off: a run killed before unconstrain leaves foreign keys between tables.
    for sql in d.bulk_session(Arrival::Unordered) {
        s.execute(&sql)?;
    }
    for t in &schema.tables {
        s.execute(&d.drop_table_sql(&d.q(&t.name)))?;
    }
    Ok(())
}
