//! Stage 9: bulk-load every table of DB_DATA into the empty DB_FINAL, tables in parallel, with
//! DB_FINAL's triggers set aside during the load and put back exactly as they were.

use super::{Context, Outcome};
use crate::backend::{LoadJob, LoadPath};
use crate::error::{Error, Place, Result};
use crate::model::{is_bookkeeping, is_internal, Trigger};

pub fn run(ctx: &Context) -> Result<Outcome> {
    let data = ctx.data()?;
    let fin = ctx.final_db()?;
    // A resumed load finds its own rows in DB_FINAL; only the first attempt needs it empty.
    let resumed = !ctx.journal.artifacts("load-started")?.is_empty();
    let final_schema = if resumed {
        let mut s = fin.connect()?;
        fin.describe(s.as_mut())?
    } else {
        super::preflight::check_final_empty(fin.as_ref())?
    };
    let data_schema = super::unconstrain::data_or_predicted(ctx)?;
    let mut fs = fin.connect()?;
    let d = fin.dialect();

    let load_path = fin.load_path(fs.as_mut(), data.url(), ctx.run.load_path)?;
    if let LoadPath::Unavailable(fix) = &load_path {
        return Err(Error::env(
            Place::stage(super::LOAD),
            "DB_FINAL cannot receive rows by any bulk path.",
            fix.clone(),
        ));
    }
    let path = load_path.describe();

    // Triggers go before the first row and come back after the last; the journal keeps their
    // definitions so an interrupted load can still put them back.
    let mut saved: Vec<Trigger> = ctx
        .journal
        .artifacts("trigger")?
        .into_iter()
        .filter_map(|(_, def)| serde_json::from_str(&def).ok())
        .collect();
    for t in &final_schema.triggers {
        if let Some(definer) = &t.definer {
            if !fin.may_define_as(fs.as_mut(), definer)? {
                return Err(Error::env(
                    Place::stage(super::LOAD).table(&t.table),
                    format!("DB_FINAL's trigger {} runs as {definer}; rekey sets triggers aside during the load and must recreate it afterwards, which this account may not do for another account.", t.name),
                    format!("GRANT SET USER ON *.* TO the migration account (or SUPER on MySQL), or run the load as {definer}; nothing was changed."),
                ));
            }
        }
    }
    // From here on DB_FINAL changes: a later attempt is a resumed load.
    if !ctx.run.dry_run {
        ctx.journal
            .add_artifact("load-started", "final", &fin.url().to_string())?;
    }

    for t in &final_schema.triggers {
        if !saved.iter().any(|s| s.name == t.name) {
            ctx.journal.add_artifact(
                "trigger",
                &t.name,
                &serde_json::to_string(t).unwrap_or_default(),
            )?;
            saved.push(t.clone());
        }
        ctx.exec_on(fs.as_mut(), &fin.drop_trigger_sql(&t.name))?;
    }

    let mut bookkeeping = Vec::new();
    let mut jobs = Vec::new();
    for t in &final_schema.tables {
        if is_internal(&t.name) {
            continue;
        }
        if is_bookkeeping(&t.name) {
            bookkeeping.push(t.name.clone());
            continue;
        }
        let Some(dt) = data_schema.table(&t.name) else {
            return Err(Error::input(
                Place::stage(super::LOAD).table(&t.name),
                "DB_FINAL has this table but DB_DATA does not.",
                "Run `rekey compare` and make the schemas match before loading.",
            ));
        };
        let models: Vec<crate::model::Column> = t
            .writable_columns()
            .filter(|c| dt.column(&c.name).is_some())
            .cloned()
            .collect();
        jobs.push((t.name.clone(), models, dt.estimated_rows));
    }
    // Largest tables first, so the parallel jobs finish together.
    jobs.sort_by_key(|j| std::cmp::Reverse(j.2));

    let result = ctx.steps(
        super::LOAD,
        &jobs,
        |(t, _, _)| t.clone(),
        d.parallel_writes(),
        |(t, models, estimate)| {
            let columns: Vec<String> = models.iter().map(|c| c.name.clone()).collect();
            if ctx.run.dry_run {
                ctx.say(&format!(
                    "    -- load {t} ({} columns) from DB_DATA by {path}",
                    columns.len()
                ));
                return Ok(0);
            }
            let mut s = fin.connect()?;
            // A table half-loaded by an interrupted run starts again from empty.
            if s.query_u64(&format!("SELECT COUNT(*) FROM {}", d.q(t)))? > 0 {
                for sql in d.bulk_session() {
                    s.execute(&sql)?;
                }
                s.execute(&format!("DELETE FROM {}", d.q(t)))?;
            }
            let bar = ctx.progress.table("load", t, *estimate);
            let tag = format!("{}-{}-{}", ctx.run_id, sanitize(t), std::process::id());
            let set = |n: u64| bar.set(n);
            let marker = ctx.marker();
            let job = LoadJob {
                table: t,
                columns: &columns,
                models,
                path: &load_path,
                file_tag: &tag,
                marker: &marker,
                progress: &set,
            };
            let rows = fin.load_table(data.as_ref(), &job)?;
            let mut dsess = data.connect()?;
            let expected = dsess.query_u64(&format!("SELECT COUNT(*) FROM {}", d.q(t)))?;
            let actual = s.query_u64(&format!("SELECT COUNT(*) FROM {}", d.q(t)))?;
            if expected != actual {
                return Err(Error::mismatch(
                    Place::stage(super::LOAD).table(t),
                    format!("DB_DATA has {expected} rows but DB_FINAL received {actual}."),
                ));
            }
            bar.finish(rows);
            Ok(actual)
        },
    );

    // Triggers come back whether or not every table loaded.
    let restored = restore_triggers(ctx, fs.as_mut(), &saved);
    let rows = result?;
    restored?;
    let mut detail = format!("{} tables by {path}", jobs.len());
    if !bookkeeping.is_empty() {
        detail.push_str(&format!(
            "; kept DB_FINAL's own {} (not loaded from DB_DATA)",
            bookkeeping.join(", ")
        ));
    }
    if !saved.is_empty() {
        detail.push_str(&format!(
            "; {} triggers set aside and restored",
            saved.len()
        ));
    }
    Ok(Outcome {
        rows,
        detail: Some(detail),
    })
}

fn restore_triggers(
    ctx: &Context,
    s: &mut dyn crate::backend::Session,
    saved: &[Trigger],
) -> Result<()> {
    for t in saved {
        if let Some(mode) = &t.sql_mode {
            ctx.exec_on(
                s,
                &format!(
                    "SET SESSION sql_mode = {}",
                    ctx.final_db()?.dialect().lit(mode)
                ),
            )?;
        }
        ctx.exec_on(s, &t.create_sql)?;
        if !ctx.run.dry_run {
            ctx.journal.remove_artifact("trigger", &t.name)?;
        }
    }
    Ok(())
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
