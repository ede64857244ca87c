//! DB_FINAL's triggers set aside during the load: the journal keeps the exact statements that put
//! each one back (a `trigger` artifact), so the load, a resumed run and `rekey clean` restore
//! them the same way.

use crate::journal::Artifact;
use serde::{Deserialize, Serialize};

use super::{Context, Stage};
use crate::backend::Session;
use crate::error::{Error, Place, Result};

/// A trigger of DB_FINAL set aside during the load, as the journal keeps it: the exact statements
/// that put it back, so an interrupted load (or `rekey clean`) can restore it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetAside {
    pub table: String,
    pub restore: Vec<String>,
}

/// Puts back every trigger the journal says is set aside, with the statements saved when it was,
/// and forgets each once it is back. Returns how many came back. `rekey clean` runs this too.
pub fn restore_triggers(ctx: &Context, s: &mut dyn Session) -> Result<usize> {
    let mut count = 0;
    for (name, saved) in ctx.journal.artifacts(Artifact::Trigger)? {
        let saved: SetAside = serde_json::from_str(&saved).map_err(|e| {
            Error::env(
                Place::stage(Stage::Load).table(&name),
                format!("the journal's record of trigger {name} cannot be read ({e})."),
                "The journal must not be edited: restore the trigger from the application's migrations.",
            )
        })?;
        for sql in &saved.restore {
            ctx.exec_on(s, sql)?;
        }
        if !ctx.run.dry_run {
            ctx.journal.remove_artifact(Artifact::Trigger, &name)?;
        }
        count += 1;
    }
    Ok(count)
}
