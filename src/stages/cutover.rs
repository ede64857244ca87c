//! `rekey cutover`: the end of a live run, once the application has stopped writing to SOURCE.
//! The follower drains SOURCE's last changes and stops; then the rows it changed are verified
//! against SOURCE with every table's count, DB_FINAL gets back what the load set aside (triggers,
//! sequences), the stream's hold on SOURCE (PostgreSQL's slot) and the snapshot copy go, and the
//! write freeze is measured from the command's start to the verified DB_FINAL.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Context, Outcome, Stage};
use crate::error::{Error, Result};
use crate::journal::{Artifact, CutoverRecord, Journal, StageStatus};
use crate::progress::Progress;
use crate::run::follow::{follow, verify_touched, Until};
use crate::run::live::{self, SNAPSHOT_DATABASE};
use crate::run_lock::RunLock;

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Before the cutover takes the run directory: checks that it holds a live run that has
/// reached its follow stage, asks its follower to drain and stop, and waits until it has.
pub fn ask_follower(run_dir: &Path, progress: &Progress) -> Result<()> {
    let began = now();
    Journal::require(run_dir, false).map_err(|_| {
        Error::usage(
            format!("{} holds no run journal.", run_dir.display()),
            "Give the --run-dir of the live run (`rekey run --follow`) to cut over.",
        )
    })?;
    let journal = Journal::open_read_only(run_dir)?;
    if !journal.planned_stages()?.contains(&Stage::Follow) {
        return Err(live::not_live(run_dir));
    }
    if journal.cutover()?.is_some() {
        return Err(Error::usage(
            format!(
                "the live run in {} was cut over already.",
                run_dir.display()
            ),
            "Nothing is left to do: DB_FINAL is verified and the application can use it.",
        ));
    }
    let stages = journal.stages()?;
    let following = stages.iter().any(|s| s.name == Stage::Follow.name());
    if !following {
        let at = stages
            .iter()
            .rfind(|s| s.status == StageStatus::Running)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| "its first stage".into());
        return Err(Error::usage(
            format!("the live run in {} has not reached its follow stage yet (it is at {at}): DB_FINAL is not loaded and verified yet.", run_dir.display()),
            format!("Keep the application running and wait until `rekey status --run-dir {}` says following, then run the cutover.", run_dir.display()),
        ));
    }
    drop(journal);
    if live::cutover_requested(run_dir).is_none() {
        live::request_cutover(run_dir, began)?;
    }
    let waited = Instant::now();
    let mut told = Instant::now();
    loop {
        match RunLock::acquire(run_dir) {
            Ok(lock) => {
                drop(lock);
                return Ok(());
            }
            Err(_) if told.elapsed() >= Duration::from_secs(5) => {
                progress.note(&format!(
                    "waiting {:.0} s for the follower to apply SOURCE's last changes and stop",
                    waited.elapsed().as_secs_f64()
                ));
                told = Instant::now();
            }
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The cutover itself, with the run directory taken. Returns the lines to print.
pub fn run(ctx: &Context) -> Result<Vec<String>> {
    let began = live::cutover_requested(&ctx.run.run_dir).unwrap_or_else(now);
    // A follower that was killed left its stage unfinished: the cutover applies what it left.
    ctx.stage(Stage::Follow, |c| {
        let done = follow(c, Until::Drained)?;
        Ok(Outcome {
            rows: done.changes,
            detail: Some(format!(
                "{} {} of SOURCE applied to DB_FINAL (the follower's work finished by the cutover)",
                done.transactions,
                crate::text::plural(done.transactions as usize, "transaction")
            )),
        })
    })?;
    // Whatever reached SOURCE after the follower stopped (nothing, when the application had).
    let drained = follow(ctx, Until::Drained)?;
    let verified = verify_touched(ctx)?;
    let fin = ctx.final_db()?;
    let mut fs = fin.connect()?;
    let restored = crate::run::triggers::restore_triggers(ctx, fs.as_mut())?;
    let final_schema = fin.describe(fs.as_mut())?;
    for sql in fin.after_load_sql(&final_schema) {
        fs.execute(&sql)?;
    }
    live::drop_position_table(fin.as_ref(), fs.as_mut())?;
    let freeze = now() - began;
    ctx.live_source()?.release(&ctx.run_id)?;
    let copy = ctx.source()?;
    if copy.database_exists()? {
        copy.drop_database()?;
    }
    ctx.journal
        .remove_artifact(Artifact::Database, SNAPSHOT_DATABASE)?;
    let follow_progress = ctx.journal.follow_progress()?.unwrap_or_default();
    ctx.journal.set_cutover(&CutoverRecord {
        freeze_seconds: freeze,
        drained: drained.transactions,
        verified_rows: verified,
    })?;
    live::forget_request(&ctx.run.run_dir)?;
    Ok(vec![
        format!("write freeze: {freeze:.2} s (from `rekey cutover` to a verified DB_FINAL)"),
        format!(
            "applied {} SOURCE transactions while following; {} more in the cutover's drain",
            follow_progress.transactions, drained.transactions
        ),
        format!(
            "verified the {verified} {} the follower changed, and every table's row count, against SOURCE",
            crate::text::plural(verified as usize, "row")
        ),
        format!(
            "restored {restored} {} in DB_FINAL; dropped the snapshot copy and released what the follower held on SOURCE",
            crate::text::plural(restored, "trigger"),
        ),
        "DB_FINAL is ready: point the application at it.".to_string(),
    ])
}
