//! `rekey clean`: undo what a run created (DB_DATA, a derived DB_FINAL, triggers set aside), from
//! its journal. Never SOURCE, never a DB_FINAL the run did not create.

use super::{Context, Stage};
use crate::backend::open;
use crate::error::Result;
use crate::url::{DbUrl, ProcessEnv};

/// Returns the lines describing what was undone.
pub fn run(ctx: &Context) -> Result<Vec<String>> {
    let mut done = Vec::new();
    // Triggers that a load set aside and could not put back yet.
    let triggers = ctx.journal.artifacts("trigger")?;
    if !triggers.is_empty() {
        let fin = ctx.final_db()?;
        let mut s = fin.connect()?;
        let restored = super::load::restore_triggers(ctx, s.as_mut())?;
        done.push(format!(
            "restored {restored} {} in DB_FINAL",
            crate::report::plural(restored, "trigger")
        ));
    }
    for (which, url) in ctx.journal.artifacts("database")? {
        let backend = match (which.as_str(), &ctx.data, &ctx.final_db) {
            ("data", Some(b), _) | ("final", _, Some(b)) => b.clone(),
            _ => open(&DbUrl::parse(&url, &ProcessEnv)?)?,
        };
        if ctx.run.dry_run {
            ctx.say(&format!("    -- drop {which} database {}", backend.url()));
            continue;
        }
        backend.drop_database()?;
        ctx.journal.remove_artifact("database", &which)?;
        done.push(format!("dropped {which} database {}", backend.url()));
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
        ctx.journal.set("status", "cleaned")?;
    }
    Ok(done)
}
