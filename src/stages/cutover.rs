//! `rekey cutover`: the end of a live run, once the application has stopped writing to SOURCE.
//! The follower drains SOURCE's last changes and stops; then the rows it changed are verified
//! against SOURCE with every table's count, DB_FINAL gets back what the load set aside (triggers,
//! sequences), the stream's hold on SOURCE (PostgreSQL's slot) and the snapshot copy go, and the
//! write freeze is measured from the command's start to the verified DB_FINAL.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Context, Outcome, Stage};
use crate::error::{Error, Result};
use crate::journal::{epoch_seconds, Artifact, CutoverRecord, Journal, StageStatus};
use crate::progress::Progress;
use crate::run::follow::{follow, verify_counts, verify_touched, Mapper, Until};
use crate::run::live::{self, SNAPSHOT_DATABASE};
use crate::run_lock::RunLock;

/// Before the cutover takes the run directory: checks that it holds a live run that has
/// reached its follow stage, asks its follower to drain and stop, and waits until it has.
pub fn ask_follower(run_dir: &Path, progress: &Progress) -> Result<()> {
    let began = epoch_seconds();
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
    // A cutover killed after its check finishes letting go when run again.
    let leftovers = journal
        .artifacts(Artifact::Database)?
        .iter()
        .any(|(which, _)| which == SNAPSHOT_DATABASE);
    if journal.cutover()?.is_some() && !leftovers {
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

/// The cutover itself, with the run directory taken. Returns the lines to print. Killed at any
/// point, it is run again: before its record is journaled it drains and checks again (DB_FINAL's
/// stored position says where the follow stands); after, it finishes letting go of what the live
/// run held.
pub fn run(ctx: &Context) -> Result<Vec<String>> {
    let record = match ctx.journal.cutover()? {
        Some(done) => done,
        None => freeze(ctx)?,
    };
    // Letting go, each step safe to repeat, the snapshot copy's record last: while it is in
    // the journal, a `rekey cutover` run again finishes what a kill left.
    crate::run::marker::hand_over(ctx)?;
    let fin = ctx.final_db()?;
    let mut fs = fin.connect()?;
    live::drop_position_table(fin.as_ref(), fs.as_mut())?;
    ctx.live_source()?.release(&ctx.run_id)?;
    let copy = ctx.source()?;
    if copy.database_exists()? {
        copy.drop_database()?;
    }
    live::forget_request(&ctx.run.run_dir)?;
    ctx.journal
        .remove_artifact(Artifact::Database, SNAPSHOT_DATABASE)?;
    let follow_progress = ctx.journal.follow_progress()?.unwrap_or_default();
    Ok(vec![
        format!(
            "write freeze: {:.2} s (from `rekey cutover` to a verified DB_FINAL)",
            record.freeze_seconds
        ),
        format!(
            "applied {} SOURCE transactions while following; {} more in the cutover's drain",
            follow_progress.transactions, record.drained
        ),
        format!(
            "checked against SOURCE: every row the follower changed ({} of them in the freeze, the rest while following) and every table's row count (the tables the follow changed in the freeze, the others while following)",
            record.verified_rows
        ),
        format!(
            "the freeze: {}",
            record
                .phases
                .iter()
                .map(|(what, secs)| format!("{what} {secs:.2} s"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "restored DB_FINAL's triggers and sequences; dropped the snapshot copy and released what the follower held on SOURCE".to_string(),
        "DB_FINAL is ready: point the application at it.".to_string(),
    ])
}

/// The write freeze: SOURCE's last changes applied, the rows the follow changed checked, what
/// the load set aside restored. Ends by journaling what it measured, phase by phase.
fn freeze(ctx: &Context) -> Result<CutoverRecord> {
    let began = live::cutover_requested(&ctx.run.run_dir).unwrap_or_else(epoch_seconds);
    let mut phases = vec![(
        "the follower's drain and stop, the cutover's start".to_string(),
        epoch_seconds() - began,
    )];
    let mut mark = epoch_seconds();
    let mut phase = |what: &str| {
        let t = epoch_seconds();
        phases.push((what.to_string(), t - mark));
        mark = t;
    };
    let mapper = Mapper::new(ctx)?;
    // A follower that was killed left its stage unfinished: the cutover applies what it left.
    ctx.stage(Stage::Follow, |c| {
        let done = follow(c, &mapper, Until::Drained)?;
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
    let drained = follow(ctx, &mapper, Until::Drained)?;
    phase("SOURCE's last changes");
    let verified = verify_touched(ctx, &mapper);
    phase("the rows the follow changed, checked");
    let counted = verify_counts(ctx, &mapper);
    phase("the tables the follow changed, counted");
    // The checks hold only if SOURCE stood still meanwhile; a difference they found means
    // nothing if it did not.
    let late = follow(ctx, &mapper, Until::Drained)?;
    if late.changes > 0 {
        return Err(Error::env(
            crate::backend::follow::follow_place(None),
            format!(
                "SOURCE was still being written during the cutover: {} {} arrived after the checks began (applied to DB_FINAL, but not checked).",
                late.changes,
                crate::text::plural(late.changes as usize, "row change")
            ),
            "Stop every writer of SOURCE (the application, its workers and cron jobs), then run `rekey cutover` again: it checks again.",
        ));
    }
    let verified = verified?;
    counted?;
    phase("SOURCE seen standing still");
    let fin = ctx.final_db()?;
    let mut fs = fin.connect()?;
    crate::run::triggers::restore_triggers(ctx, fs.as_mut())?;
    let final_schema = fin.describe(fs.as_mut())?;
    for sql in fin.after_load_sql(&final_schema) {
        fs.execute(&sql)?;
    }
    phase("triggers and sequences restored");
    let record = CutoverRecord {
        freeze_seconds: epoch_seconds() - began,
        drained: drained.transactions,
        verified_rows: verified,
        phases,
    };
    ctx.journal.set_cutover(&record)?;
    Ok(record)
}
