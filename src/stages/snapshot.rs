//! Stage 0 of a live run (`run --follow`): SOURCE's change stream checked, then a consistent
//! snapshot of SOURCE copied into a database rekey owns next to DB_DATA, and the stream position
//! it stands at journaled. The other stages convert that copy as SOURCE, so a resumed run finds
//! it unchanged; the follower starts at its position. SOURCE is only read.

use super::{Context, Outcome, Stage};
use crate::error::{Error, Place, Result};
use crate::run::live::SNAPSHOT;

pub fn run(ctx: &Context) -> Result<Outcome> {
    let live_source = ctx.live_source()?;
    let copy = ctx.source()?;
    // What the follower will need, before anything is copied: a setting missing here would
    // only show once the copy is done.
    let mut s = live_source.connect()?;
    let missing: Vec<String> = live_source
        .change_stream_findings(s.as_mut())?
        .into_iter()
        .filter(|f| !f.ok && f.blocks)
        .map(|f| f.line())
        .collect();
    drop(s);
    if !missing.is_empty() {
        return Err(Error::env(
            Place::stage(Stage::Snapshot),
            format!(
                "SOURCE's change stream is not ready for a live cutover: {}.",
                missing.join("; ")
            ),
            "Fix each point as it says (`rekey check --follow` lists them), then run again.",
        ));
    }
    // A snapshot a killed run began is taken again, whole: a copy cut off halfway holds no
    // single moment of SOURCE.
    if SNAPSHOT.claim(ctx, Place::stage(Stage::Snapshot), copy.as_ref())? {
        copy.drop_database()?;
        copy.create_database(None, false)?;
    }
    let snapshot = live_source.snapshot_into(copy.url(), &ctx.run_id)?;
    crate::run::marker::mark(ctx, copy.as_ref())?;
    ctx.journal.set_snapshot_position(&snapshot.position)?;
    Ok(Outcome {
        rows: snapshot.rows,
        detail: Some(snapshot.detail),
    })
}
