//! Stage 9: bulk-load every table into the empty DB_FINAL, tables in parallel, with DB_FINAL's
//! triggers set aside during the load and put back exactly as they were. A table on the one-write
//! route (swap journaled it, `data_shape::route`) is filled straight from SOURCE, keys computed on
//! the way (`Load::fill_final`); the others are copied from DB_DATA (`Load::load_table`).

use super::{Context, Outcome, Stage};
use crate::backend::{Arrival, FillRoute, FinalFill, LoadJob, LoadPath, Moved};
use crate::error::{Error, Place, Result};
use crate::journal::Artifact;
use crate::model::is_internal;
use crate::run::data_shape::{key_order, new_keys_ascend};
use crate::run::triggers::{restore_triggers, SetAside};

pub fn run(ctx: &Context) -> Result<Outcome> {
    let data = ctx.data()?;
    let fin = ctx.final_db()?;
    // A resumed load finds its own rows in DB_FINAL; only the first attempt needs it empty.
    let resumed = !ctx.journal.artifacts(Artifact::LoadStarted)?.is_empty();
    // Tables on the one-write route read SOURCE: without it, refuse before DB_FINAL changes.
    if ctx.run.one_write && ctx.source().is_err() {
        let routes = crate::run::data_shape::journaled_routes(&ctx.journal)?;
        if let Some((table, _)) = routes
            .iter()
            .find(|(_, r)| r.as_str() == crate::run::data_shape::ONE_WRITE)
        {
            return Err(Error::usage(
                format!("the load writes {table} (and every table on the run's one-write route) straight from SOURCE and needs --source; nothing was changed."),
                "Add --source with the run's SOURCE, or resume the run with `rekey run --resume`.",
            ));
        }
    }
    let predicted = crate::run::data_shape::predicted_final(ctx)?;
    let final_schema = match &predicted {
        Some(shape) => shape.clone(),
        None if resumed => {
            let mut s = fin.connect()?;
            fin.describe(s.as_mut())?
        }
        None => {
            let source = crate::run::source::load_if_given(ctx)?;
            crate::run::final_db::check_final_empty(fin.as_ref(), source.as_ref().map(|p| &p.0))?
        }
    };
    let data_schema = crate::run::data_shape::data_or_predicted(ctx)?;
    // A dry run before derive-final has no DB_FINAL to open yet: its server answers instead.
    let mut fs = if predicted.is_some() {
        fin.connect_server()?
    } else {
        fin.connect()?
    };
    let d = fin.dialect();

    let load_path = fin.load_path(fs.as_mut(), data.url(), ctx.run.load_path)?;
    let path = load_path.describe();

    // Triggers go before the first row and come back after the last; the journal keeps the
    // statements that restore them, so an interrupted load can still put them back. Whether they
    // can be put back is checked before anything changes.
    for t in &final_schema.triggers {
        if let Some(fix) = fin.may_recreate(fs.as_mut(), t)? {
            return Err(Error::env(
                Place::stage(Stage::Load).table(&t.table),
                format!("DB_FINAL's trigger {} runs as {}; rekey sets triggers aside during the load and must recreate it afterwards, which this account may not do.", t.name, t.runs_as.as_deref().unwrap_or("another account")),
                format!("{fix}; nothing was changed."),
            ));
        }
    }
    // From here on DB_FINAL changes: a later attempt is a resumed load.
    if !ctx.run.dry_run {
        ctx.journal
            .add_artifact(Artifact::LoadStarted, "final", &fin.url().stored())?;
    }
    let mut set_aside = 0usize;
    for t in &final_schema.triggers {
        let saved = SetAside {
            table: t.table.clone(),
            restore: fin.restore_trigger_sql(t),
        };
        // A resumed load keeps what the first attempt saved: the trigger is already aside.
        if !ctx
            .journal
            .artifacts(Artifact::Trigger)?
            .iter()
            .any(|(name, _)| name == &t.name)
        {
            ctx.journal.add_artifact(
                Artifact::Trigger,
                &t.name,
                &serde_json::to_string(&saved).unwrap_or_default(),
            )?;
        }
        for sql in fin.set_aside_trigger_sql(t) {
            ctx.exec_on(fs.as_mut(), &sql)?;
        }
        set_aside += 1;
    }

    if load_path == LoadPath::Move {
        let result = move_tables(ctx, &final_schema);
        let restored = if ctx.run.follow {
            Ok(0)
        } else {
            restore_triggers(ctx, fs.as_mut())
        };
        let (rows, tables) = result?;
        let restored = restored?;
        if !ctx.run.follow {
            for sql in fin.after_load_sql(&final_schema) {
                ctx.exec_on(fs.as_mut(), &sql)?;
            }
        }
        let mut detail = format!(
            "{} {} moved from DB_DATA by RENAME (DB_DATA gave its tables up)",
            tables,
            crate::text::plural(tables, "table")
        );
        if set_aside > 0 || restored > 0 {
            detail.push_str(&format!(
                "; {} {} set aside and restored",
                restored.max(set_aside),
                crate::text::plural(restored.max(set_aside), "trigger")
            ));
        }
        return Ok(Outcome {
            rows,
            detail: Some(detail),
        });
    }

    // Which keys are new comes from SOURCE's plan; a load run without --source loads the same
    // rows, only without the faster mode for tables whose one index is the new key.
    let plan = match ctx.source() {
        Ok(_) => Some(crate::run::source::load(ctx)?),
        Err(_) => None,
    };
    let mut bookkeeping = Vec::new();
    let mut jobs = Vec::new();
    // SOURCE's rows as preflight counted them: the catalog's estimate may be missing (a
    // PostgreSQL table never analyzed has none), and the order of the load and what the engine
    // sets aside weigh tables by size.
    let counted = crate::run::source_snapshot::counted_rows(ctx)?;
    for t in &final_schema.tables {
        if is_internal(&t.name) {
            continue;
        }
        if crate::run::bookkeeping::kept(&t.name, &final_schema, plan.as_ref().map(|p| &p.0)) {
            bookkeeping.push(t.name.clone());
            continue;
        }
        let Some(dt) = data_schema.table(&t.name) else {
            return Err(Error::input(
                Place::stage(Stage::Load).table(&t.name),
                "DB_FINAL has this table but DB_DATA does not.",
                "Run `rekey compare` and make the schemas match before loading.",
            ));
        };
        let models: Vec<crate::model::Column> = t
            .writable_columns()
            .filter(|c| dt.column(&c.name).is_some())
            .cloned()
            .collect();
        // DB_DATA's rows lie in old-key order (swap filled them so).
        let ascending = plan
            .as_ref()
            .and_then(|p| p.1.converted(&t.name))
            .filter(|_| new_keys_ascend(&ctx.conversion, d))
            .map(|c| c.column.as_str());
        // The table as its rows find it: without the secondary indexes set aside for its load.
        let loaded = crate::run::indexes::as_loaded(fin.as_ref(), t);
        let arrival = Arrival::into_table(&loaded, ascending);
        let key_order = plan
            .as_ref()
            .and_then(|p| key_order(&ctx.conversion, d, &p.1, t));
        let unique: Vec<String> = loaded
            .indexes
            .iter()
            .filter(|i| i.unique)
            .map(|i| i.name.clone())
            .collect();
        // DB_DATA's own estimate may not exist yet (PostgreSQL has none for a table filled since
        // its last ANALYZE): SOURCE's says which tables are large.
        let rows = plan
            .as_ref()
            .and_then(|p| p.0.table(&t.name))
            .map_or(0, |s| s.estimated_rows)
            .max(dt.estimated_rows)
            .max(counted.get(&t.name).copied().unwrap_or(0));
        let source_table = plan.as_ref().and_then(|p| p.0.table(&t.name));
        let route = if ctx.run.one_write {
            crate::run::data_shape::journaled_route(ctx, &t.name, source_table)?
        } else {
            FillRoute::TwoWrites(String::new())
        };
        jobs.push(TableLoad {
            table: t.name.clone(),
            models,
            estimate: rows,
            arrival,
            unique,
            key_order,
            route,
        });
    }
    // DB_DATA's rows are read only for tables on the two-write route.
    if let LoadPath::Unavailable(fix) = &load_path {
        if jobs
            .iter()
            .any(|j| matches!(j.route, FillRoute::TwoWrites(_)))
        {
            return Err(Error::env(
                Place::stage(Stage::Load),
                "DB_FINAL cannot receive rows by any bulk path.",
                fix.clone(),
            ));
        }
    }
    let once = jobs
        .iter()
        .filter(|j| j.route == FillRoute::OneWrite)
        .count();
    // Largest tables first, so the parallel jobs finish together.
    jobs.sort_by_key(|j| std::cmp::Reverse(j.estimate));
    // Every table's indexes and statistics go aside before the first row of any table
    // (`set_aside_before_rows`); a resumed load sets aside per table, after emptying what an
    // interrupted load left. One that fails fails the load as a step would: what went aside
    // comes back below.
    let early = if ctx.run.dry_run || resumed {
        Ok(std::collections::HashMap::new())
    } else {
        set_aside_before_rows(ctx, fin.as_ref(), &final_schema, &jobs)
    };
    let rebuilt = std::sync::atomic::AtomicUsize::new(0);
    // Tables whose automatic statistics were off for their rows and gathered after them.
    let analyzed = std::sync::atomic::AtomicUsize::new(0);

    let result = early.and_then(|early| {
        let early = std::sync::Mutex::new(early);
        ctx.steps(
            Stage::Load,
            &jobs,
            |j: &TableLoad| j.table.clone(),
            d.parallel_writes(),
            |tl| {
                let TableLoad {
                    table: t,
                    models,
                    estimate,
                    arrival,
                    unique,
                    key_order,
                    route,
                } = tl;
                let columns: Vec<String> = models.iter().map(|c| c.name.clone()).collect();
                if ctx.run.dry_run {
                    // Table by table: indexes aside, the rows, indexes back (a run sets every
                    // table's aside before the first row, and runs what waits for the load's end
                    // there). Before derive-final there is no DB_FINAL whose indexes could be listed.
                    let aside = match (&predicted, final_schema.table(t)) {
                        (None, Some(m)) => {
                            crate::run::indexes::set_aside(ctx, fin.as_ref(), m, *estimate)?
                        }
                        _ => None,
                    };
                    match route {
                        FillRoute::OneWrite => {
                            ctx.say(&format!(
                                "    -- load {t} ({} columns) from SOURCE, one write",
                                columns.len()
                            ));
                            let source = ctx.source()?;
                            let on_chunk = |_: &str| Ok(());
                            let marker = ctx.marker();
                            let fill = final_fill(ctx, plan.as_ref(), tl, &marker, &on_chunk, &|_| {})?;
                            for sql in fin.fill_final_sql(source.url(), data.url(), &fill)? {
                                ctx.say(&format!("    {sql};"));
                            }
                        }
                        FillRoute::TwoWrites(_) => ctx.say(&format!(
                            "    -- load {t} ({} columns) from DB_DATA by {path}",
                            columns.len()
                        )),
                    }
                    match &aside {
                        Some(aside) => crate::run::indexes::restore(ctx, fin.as_ref(), aside)?,
                        None => {
                            for sql in fin.after_rows_sql(t, "") {
                                ctx.say(&format!("    {sql};"));
                            }
                        }
                    }
                    return Ok(0);
                }
                let mut s = fin.connect()?;
                // A table half-loaded by an interrupted run starts again from empty, unless the
                // engine loads it in journaled chunks (Galera): then it continues after the last.
                let resume = ctx.chunk_point(Stage::Load, t)?;
                // Its own rows only: an inheritance parent's rows include its children's, which may
                // be loaded already (largest tables load first), and must not be emptied with it.
                let own = final_schema
                    .table(t)
                    .map_or_else(|| d.q(t), |m| d.own_rows(m));
                if resume.is_none() && s.has_rows(&own)? {
                    fin.empty_table(s.as_mut(), d, &own)?;
                }
                let on_chunk = |point: &str| ctx.chunk_done(Stage::Load, t, point);
                let bar = ctx.progress.table("load", t, *estimate);
                let tag = format!("{}-{}-{}", ctx.run_id, sanitize(t), std::process::id());
                let set = |n: u64| bar.set(n);
                let marker = ctx.marker();
                let job = LoadJob {
                    table: t,
                    arrival: *arrival,
                    columns: &columns,
                    models,
                    unique_keys: unique,
                    key_order: key_order.as_deref(),
                    path: &load_path,
                    file_tag: &tag,
                    marker: &marker,
                    progress: &set,
                    resume_after: resume.as_deref(),
                    on_chunk: &on_chunk,
                };
                // Secondary indexes went aside before the first table's rows (or go now, in a
                // resumed load) and come back just after this table's (`indexes.rs`), so verify
                // and the other tables need not wait.
                let early = crate::run::maps::lock(&early).remove(t);
                let aside = match (early, final_schema.table(t)) {
                    (Some(aside), _) => aside,
                    (None, Some(m)) => {
                        crate::run::indexes::set_aside(ctx, fin.as_ref(), m, *estimate)?
                    }
                    (None, None) => None,
                };
                // The statements' own counts, not a COUNT(*) of both tables afterwards: that would
                // read every row of both once more, and verify counts SOURCE and DB_FINAL anyway.
                // The one place a table's rows are written into DB_FINAL, whichever the route.
                // A one-write fill that streams SOURCE's rows through rekey hands them to the
                // table's check on the way (`verify::source_tap`): it then need not read SOURCE.
                let mut tapped = None;
                let moved = match route {
                    FillRoute::OneWrite => {
                        let fill = final_fill(ctx, plan.as_ref(), tl, &marker, &on_chunk, &set)?;
                        let names: Vec<String> =
                            fill.fill.columns.iter().map(|c| c.name.clone()).collect();
                        let tap = super::verify::source_tap(ctx, &final_schema, t, &names)
                            .map(std::sync::Mutex::new);
                        let fill = FinalFill {
                            tap: tap
                                .as_ref()
                                .map(|m| m as &std::sync::Mutex<dyn crate::backend::SourceTap>),
                            ..fill
                        };
                        let moved = fin.fill_final(ctx.source()?.as_ref(), data.as_ref(), &fill)?;
                        drop(fill);
                        tapped = tap
                            .and_then(|m| m.into_inner().ok())
                            .filter(|pass| pass.complete(moved.read));
                        moved
                    }
                    FillRoute::TwoWrites(_) => fin.load_table(data.as_ref(), &job)?,
                };
                // SOURCE's side read ahead (`verify::ahead`) is taken whatever the route, so that
                // its thread is done with the table before the check below.
                let ahead = super::verify::ahead::take(ctx, t);
                if tapped.is_none() {
                    tapped = ahead.filter(|pass| pass.complete(moved.read));
                }
                let rows = same_count(t, moved)?;
                bar.finish(rows);
                // The table's rows are final: they are verified now, while other tables load, and
                // while its indexes are built again and its statistics gathered (which change no row
                // and leave them readable; a build that fails fails the step, and the verify stage
                // trusts no check of a step that is not done).
                let after_rows = match aside {
                    Some(_) => Vec::new(),
                    None => fin.after_rows_sql(t, &marker),
                };
                let (finish, check) = std::thread::scope(|scope| {
                    let finish = (aside.is_some() || !after_rows.is_empty()).then(|| {
                        let (fin, s, own, aside, after_rows) =
                            (&fin, &mut s, &own, &aside, &after_rows);
                        scope.spawn(move || -> Result<()> {
                            if let Some(aside) = aside {
                                let mut empty = || fin.empty_table(s.as_mut(), d, own);
                                crate::run::indexes::restore_after_write(
                                    ctx,
                                    fin.as_ref(),
                                    aside,
                                    &mut empty,
                                )?;
                            }
                            for sql in after_rows {
                                ctx.exec_on(s.as_mut(), sql)?;
                            }
                            Ok(())
                        })
                    });
                    let check = super::verify::after_load(ctx, &final_schema, t, tapped);
                    let finish = finish.map(|h| {
                        super::joined(
                            h.join(),
                            Place::stage(Stage::Load).table(t),
                            "the thread building the table's indexes again and gathering its statistics",
                        )
                    });
                    (finish, check)
                });
                if let Some(finish) = finish {
                    finish?;
                }
                if let Some(aside) = &aside {
                    if !aside.names.is_empty() {
                        rebuilt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    if aside.statistics {
                        analyzed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                check?;
                Ok(rows)
            },
        )
    });

    // Indexes and triggers come back whether or not every table loaded. A live run keeps the
    // triggers aside while it follows SOURCE (the changes they would make come in the stream),
    // and sets the sequences at the cutover, after the last row.
    let indexes_back = crate::run::indexes::restore_all(ctx, fs.as_mut());
    let restored = if ctx.run.follow {
        Ok(0)
    } else {
        restore_triggers(ctx, fs.as_mut())
    };
    let rows = result?;
    let rebuilt = rebuilt.into_inner() + indexes_back?;
    let restored = restored?;
    if !ctx.run.follow {
        for sql in fin.after_load_sql(&final_schema) {
            ctx.exec_on(fs.as_mut(), &sql)?;
        }
    }
    let mut detail = if once == 0 {
        format!(
            "{} {} by {path}",
            jobs.len(),
            crate::text::plural(jobs.len(), "table")
        )
    } else if once == jobs.len() {
        format!(
            "{} {} written once, straight from SOURCE",
            jobs.len(),
            crate::text::plural(jobs.len(), "table")
        )
    } else {
        format!(
            "{once} {} written once, straight from SOURCE; {} from DB_DATA by {path}",
            crate::text::plural(once, "table"),
            jobs.len() - once
        )
    };
    if !bookkeeping.is_empty() {
        detail.push_str(&format!(
            "; kept DB_FINAL's own {} (not loaded from DB_DATA)",
            bookkeeping.join(", ")
        ));
    }
    if set_aside > 0 || restored > 0 {
        detail.push_str(&format!(
            "; {} {} set aside and restored",
            restored.max(set_aside),
            crate::text::plural(restored.max(set_aside), "trigger")
        ));
    }
    if rebuilt > 0 {
        detail.push_str(&format!(
            "; secondary indexes of {rebuilt} {} built after their rows",
            crate::text::plural(rebuilt, "table")
        ));
    }
    let analyzed = analyzed.into_inner();
    if analyzed > 0 {
        detail.push_str(&format!(
            "; statistics of {analyzed} {} gathered once, after every table's rows",
            crate::text::plural(analyzed, "table")
        ));
    }
    Ok(Outcome {
        rows,
        detail: Some(detail),
    })
}

/// The one-write route's job for DB_FINAL's table `table`: SOURCE's table, DB_FINAL's columns
/// (`models`), each key derived or joined as swap's fill computes it.
#[allow(clippy::too_many_arguments)]
fn final_fill<'a>(
    ctx: &Context,
    plan: Option<&'a std::sync::Arc<(crate::model::Schema, crate::plan::Plan)>>,
    job: &'a TableLoad,
    marker: &'a str,
    on_chunk: &'a (dyn Fn(&str) -> Result<()> + Sync),
    progress: &'a (dyn Fn(u64) + Sync),
) -> Result<FinalFill<'a>> {
    let table = job.table.as_str();
    let models = job.models.as_slice();
    let Some(shared) = plan else {
        return Err(Error::input(
            Place::stage(Stage::Load).table(table),
            "the load writes this table straight from SOURCE (the run's one-write route) and needs --source.",
            "Add --source with the run's SOURCE, or resume the run with `rekey run --resume`.",
        ));
    };
    let Some(source_table) = shared.0.table(table) else {
        return Err(Error::input(
            Place::stage(Stage::Load).table(table),
            "DB_FINAL has this table but SOURCE does not.",
            "Run `rekey compare` and make the schemas match before loading.",
        ));
    };
    let names: Vec<&str> = models.iter().map(|c| c.name.as_str()).collect();
    let columns = crate::run::data_shape::fill_columns(ctx, source_table, &names)?;
    let large = crate::run::source_snapshot::large(ctx, source_table);
    let small_parents = if large && ctx.conversion.orphans == crate::options::OrphanPolicy::Fail {
        let counted = crate::run::source_snapshot::counted_rows(ctx)?;
        small_parents(&shared.0, &shared.1, source_table, &columns, &counted)
    } else {
        Vec::new()
    };
    Ok(FinalFill {
        fill: crate::backend::FillJob {
            table: source_table,
            columns,
            order_by: shared.1.converted(table).map(|c| c.column.clone()),
            format: ctx.conversion.uuid_format,
            arrival: job.arrival,
            unique_keys: &job.unique,
            marker,
            resume_after: None,
            on_chunk,
        },
        models,
        key_order: job.key_order.as_deref(),
        progress,
        large,
        tap: None,
        small_parents,
    })
}

/// Sets aside every table's indexes and statistics in DB_FINAL before the first row of any
/// table, one after the other, while nothing writes DB_FINAL: an engine's ALTER of a table waits
/// for the statements writing its foreign-key neighbours (MariaDB locks a child's parents while it
/// writes the child, and an ALTER of a child locks its parents), 1-2 s a table once the largest
/// tables loaded. Returns each table's record for its step to take.
fn set_aside_before_rows(
    ctx: &Context,
    fin: &dyn crate::backend::Backend,
    final_schema: &crate::model::Schema,
    jobs: &[TableLoad],
) -> Result<std::collections::HashMap<String, Option<crate::backend::IndexesAside>>> {
    let mut early = std::collections::HashMap::new();
    for (done, j) in jobs.iter().enumerate() {
        ctx.check_interrupt(&format!(
            "setting aside the indexes of {done} of {} tables",
            jobs.len()
        ))?;
        if let Some(m) = final_schema.table(&j.table) {
            let aside = crate::run::indexes::set_aside(ctx, fin, m, j.estimate)
                .map_err(|e| e.at(&Place::stage(Stage::Load).table(&j.table)))?;
            early.insert(j.table.clone(), aside);
        }
    }
    Ok(early)
}

/// The references of `table` whose keys `columns` derive, to a parent of a quarter of the
/// table's rows or fewer (`FinalFill::small_parents`): each parent key then stands for four rows
/// or more, and its key computed once pays for the join. Rows are preflight's count (`counted`)
/// where it has one, else SOURCE's estimate.
fn small_parents(
    schema: &crate::model::Schema,
    plan: &crate::plan::Plan,
    table: &crate::model::Table,
    columns: &[crate::backend::FillColumn],
    counted: &std::collections::BTreeMap<String, u64>,
) -> Vec<crate::backend::SmallParent> {
    let rows_of =
        |t: &crate::model::Table| counted.get(&t.name).copied().unwrap_or(t.estimated_rows);
    let table_rows = rows_of(table);
    plan.references_from(&table.name)
        .filter(|r| {
            columns.iter().any(|c| {
                c.name == r.column && matches!(c.from, crate::backend::FillFrom::Derived(_))
            })
        })
        .filter_map(|r| {
            let rows = rows_of(schema.table(&r.ref_table)?);
            (rows.saturating_mul(4) <= table_rows).then(|| crate::backend::SmallParent {
                column: r.column.clone(),
                table: r.ref_table.clone(),
                key: r.ref_column.clone(),
                rows,
            })
        })
        .collect()
}

/// One table the load writes into DB_FINAL, as the stage planned it (see `LoadJob`).
struct TableLoad {
    table: String,
    models: Vec<crate::model::Column>,
    /// Rows expected, to load the largest tables first.
    estimate: u64,
    arrival: Arrival,
    unique: Vec<String>,
    key_order: Option<Vec<String>>,
    /// From SOURCE in one write, or from DB_DATA (see `data_shape::route`).
    route: FillRoute,
}

/// `--load-path move`: every table DB_FINAL loads is in DB_DATA already, built with DB_FINAL's
/// definition and filled by swap; one journaled step moves them all in one atomic RENAME. Their
/// rows are those swap wrote (verify counts and compares every one). Returns the rows and tables.
fn move_tables(ctx: &Context, final_schema: &crate::model::Schema) -> Result<(u64, usize)> {
    let data = ctx.data()?;
    let fin = ctx.final_db()?;
    // The list is kept before anything moves: a resumed move finds DB_FINAL without them.
    let mut tables: Vec<String> = ctx
        .journal
        .artifacts(Artifact::Move)?
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    if tables.is_empty() {
        tables = final_schema
            .tables
            .iter()
            .filter(|t| {
                !is_internal(&t.name)
                    && !crate::run::bookkeeping::kept(
                        &t.name,
                        final_schema,
                        ctx.source_schema.get().map(|p| &p.0),
                    )
            })
            .map(|t| t.name.clone())
            .collect();
        if !ctx.run.dry_run {
            for t in &tables {
                ctx.journal.add_artifact(Artifact::Move, t, "")?;
            }
        }
    }
    let filled: std::collections::HashMap<String, u64> = ctx
        .journal
        .steps(Stage::Swap.name())?
        .into_iter()
        .map(|s| (s.item, s.rows))
        .collect();
    // One statement moves every table; the journal still records each table's step (the first
    // one executed carries the time), so report and status read the load per table.
    let moved = std::sync::Mutex::new(false);
    let rows = ctx.steps(
        Stage::Load,
        &tables,
        |t| t.clone(),
        false,
        |t| {
            let mut done = moved.lock().unwrap_or_else(|e| e.into_inner());
            if !*done {
                let marker = ctx.marker();
                let statements =
                    fin.move_tables(data.as_ref(), &tables, &marker, ctx.run.dry_run)?;
                if ctx.run.dry_run {
                    for sql in statements {
                        ctx.say(&format!("    {sql};"));
                    }
                }
                *done = true;
            }
            Ok(filled.get(t).copied().unwrap_or(0))
        },
    )?;
    Ok((rows, tables.len()))
}

/// The rows DB_FINAL stored, when they are all the rows read from DB_DATA.
fn same_count(table: &str, moved: Moved) -> Result<u64> {
    if moved.read != moved.written {
        return Err(Error::mismatch(
            Place::stage(Stage::Load).table(table),
            format!(
                "{} rows were read from DB_DATA but DB_FINAL stored {}.",
                moved.read, moved.written
            ),
        ));
    }
    Ok(moved.written)
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_that_stores_fewer_rows_than_it_read_is_a_mismatch() {
        assert_eq!(same_count("t", Moved::whole(7)).ok(), Some(7));
        let err = same_count(
            "page_request",
            Moved {
                read: 7,
                written: 6,
            },
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 1);
        let text = err.to_string();
        assert!(text.contains("page_request"), "{text}");
        assert!(
            text.contains("7 rows were read from DB_DATA but DB_FINAL stored 6"),
            "{text}"
        );
    }
}
