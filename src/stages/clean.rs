//! `rekey clean`: undo what a run created (DB_DATA, a derived DB_FINAL, triggers and indexes set
//! aside), from its journal. It drops a database only when the journal records creating it and
//! rekey's marker inside names this run; never SOURCE, never a database the run did not create,
//! never a derived DB_FINAL a verified run handed over to the application. The map files (the
//! only record of old id -> new id) stay unless asked for; a dry run lists what it would do and
//! does nothing.

use super::{Context, Stage};
use crate::backend::{Arrival, Backend};
use crate::error::{Error, Place, Result};
use crate::journal::Artifact;
use crate::run::marker::marker_of;

/// Returns the lines describing what was undone (in a dry run: what would be, each statement
/// printed as it goes).
pub fn run(ctx: &Context) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let dry = ctx.run.dry_run;
    // A DB_FINAL this run created (or adopted empty) is dropped (or emptied) below: what a load
    // set aside in it is not put back first, since it goes with it, and putting back a unique
    // index over rows a killed load wrote may fail on a duplicate and stop clean before the drop.
    // The records go once it is dropped.
    let final_goes = ctx
        .journal
        .artifacts(Artifact::Database)?
        .iter()
        .any(|(which, _)| which == "final");
    // Triggers that a load set aside and could not put back yet.
    if !final_goes && !ctx.journal.artifacts(Artifact::Trigger)?.is_empty() {
        let fin = ctx.final_db()?;
        let mut s = fin.connect()?;
        let restored = crate::run::triggers::restore_triggers(ctx, s.as_mut())?;
        done.push(format!(
            "{} {restored} {} in DB_FINAL",
            if dry { "would restore" } else { "restored" },
            crate::text::plural(restored, "trigger")
        ));
    }
    // Secondary indexes a load set aside and could not build again yet.
    if !final_goes
        && !ctx
            .journal
            .artifacts(crate::run::indexes::ARTIFACT)?
            .is_empty()
    {
        let fin = ctx.final_db()?;
        let (tables, emptied) = crate::run::indexes::restore_all_emptying(ctx, fin.as_ref())?;
        done.push(format!(
            "{} what a load set aside (secondary indexes, settings) of {tables} {} in DB_FINAL",
            if dry { "would restore" } else { "restored" },
            crate::text::plural(tables, "table")
        ));
        for t in emptied {
            done.push(format!(
                "emptied DB_FINAL's table {t}: the rows a killed load wrote into it break a unique key that was set aside for the load, so it keeps none of them (`rekey run` loads it again)"
            ));
        }
    }
    // A live run's follower: its position table in a DB_FINAL that stays, its hold on SOURCE
    // (PostgreSQL's replication slot keeps WAL until the disk fills).
    if let Some(live_source) = &ctx.live_source {
        if !final_goes {
            if let Some(fin) = &ctx.final_db {
                if dry {
                    done.push(format!(
                        "would drop DB_FINAL's table {}",
                        crate::run::live::POSITION_TABLE
                    ));
                } else if fin.database_exists()? {
                    let mut s = fin.connect()?;
                    crate::run::live::drop_position_table(fin.as_ref(), s.as_mut())?;
                }
            }
        }
        if dry {
            done.push(
                "would release what the follower holds on SOURCE (a replication slot)".into(),
            );
        } else {
            live_source.release(&ctx.run_id)?;
            crate::run::live::forget_request(&ctx.run.run_dir)?;
            ctx.journal.forget_follow()?;
            done.push("released what the follower held on SOURCE (a replication slot)".into());
        }
    }
    for (which, url) in ctx.journal.artifacts(Artifact::HandedOver)? {
        if !dry {
            ctx.journal.remove_artifact(Artifact::HandedOver, &which)?;
        }
        done.push(format!(
            "kept DB_FINAL {}: the run was verified and handed it over (its marker removed), so it is the application's database now; drop it yourself if it was a rehearsal's",
            crate::url::redact(&url)
        ));
    }
    let adopted: Vec<String> = ctx
        .journal
        .artifacts(Artifact::Adopted)?
        .into_iter()
        .map(|(which, _)| which)
        .collect();
    for (which, _) in ctx.journal.artifacts(Artifact::Database)? {
        let (backend, label) = match which.as_str() {
            "data" => (ctx.data()?, "DB_DATA"),
            crate::run::live::SNAPSHOT_DATABASE => (ctx.source()?, "the snapshot copy of SOURCE"),
            crate::run::moved::TRANSFER_DATABASE => {
                (ctx.source()?, "SOURCE's copy on DB_DATA's engine")
            }
            _ => (ctx.final_db()?, "DB_FINAL"),
        };
        if !backend.database_exists()? {
            if !dry {
                forget_set_aside(ctx, &which)?;
                ctx.journal.remove_artifact(Artifact::Database, &which)?;
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
        if dry {
            if emptied {
                let d = backend.dialect();
                for t in &schema.tables {
                    ctx.say(&format!("    {};", d.drop_table_sql(&d.q(&t.name))));
                }
            }
            done.push(format!(
                "would {} {label} {}",
                if emptied {
                    "empty (it existed before the run: its tables dropped)"
                } else {
                    "drop"
                },
                backend.url()
            ));
            continue;
        }
        if emptied {
            drop_tables(backend.as_ref(), &schema)?;
            ctx.journal.remove_artifact(Artifact::Adopted, &which)?;
        } else {
            backend.drop_database()?;
        }
        forget_set_aside(ctx, &which)?;
        ctx.journal.remove_artifact(Artifact::Database, &which)?;
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
    // The map and orphan files hold old ids: the only record of old id -> new id once SOURCE
    // is retired, so they go only when asked.
    let records = [ctx.map_dir(), ctx.run.run_dir.join("orphans")];
    for dir in records.iter().filter(|d| d.exists()) {
        let files = std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0);
        let what = format!(
            "{} ({files} {})",
            dir.display(),
            crate::text::plural(files, "file")
        );
        done.push(if !ctx.run.remove_maps {
            format!("kept {what}: old id -> new id records (--remove-maps removes them)")
        } else if dry {
            format!("would remove {what}")
        } else {
            std::fs::remove_dir_all(dir).map_err(|e| crate::error::io_error("remove", dir, e))?;
            format!("removed {what}")
        });
    }
    if !dry {
        for stage in Stage::ALL {
            ctx.journal.reset_stage(stage.name())?;
        }
        crate::guard::forget(&ctx.journal)?;
        // What the run's keys derive from goes with what the run created: a new run in this
        // directory draws its own (a kept DB_FINAL or map file of the cleaned run would
        // otherwise predict its keys). A clean that stopped early keeps them, since the run
        // can still be resumed.
        ctx.journal.forget_run_identity()?;
    }
    Ok(done)
}

/// Forgets the triggers and indexes a load set aside in DB_FINAL once DB_FINAL (`which` is
/// "final") is gone or emptied: they went with its tables.
fn forget_set_aside(ctx: &Context, which: &str) -> Result<()> {
    if which != "final" {
        return Ok(());
    }
    for kind in [Artifact::Trigger, crate::run::indexes::ARTIFACT] {
        for (name, _) in ctx.journal.artifacts(kind)? {
            ctx.journal.remove_artifact(kind, &name)?;
        }
    }
    Ok(())
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
