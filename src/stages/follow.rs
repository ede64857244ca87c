//! The last stage of a live run: SOURCE's changes since the snapshot applied to DB_FINAL (which
//! the load filled and verify checked from the snapshot), until `rekey cutover` asks the follower
//! to drain and stop. DB_FINAL's triggers stay set aside meanwhile.

use super::{Context, Outcome};
use crate::error::Result;
use crate::run::follow::{follow, Mapper, Until};

pub fn run(ctx: &Context) -> Result<Outcome> {
    ctx.progress.note(
        "following SOURCE's changes into DB_FINAL; run `rekey cutover` once the application has stopped writing",
    );
    let done = follow(ctx, &Mapper::new(ctx)?, Until::Requested)?;
    Ok(Outcome {
        rows: done.changes,
        detail: Some(format!(
            "{} {} of SOURCE applied to DB_FINAL, until the cutover asked",
            done.transactions,
            crate::text::plural(done.transactions as usize, "transaction")
        )),
    })
}
