//! Stage 4: give each converted table its new keys: one UUID per SOURCE row, in old-key order, into
//! a mapping table `_rekey_map_<table>` (old key, UUID) and `map/<table>.csv` in the run directory;
//! and the shadow columns `<pk>_ipk_copy` (old key) and `<pk>_upk_copy` (UUID) on the table. Rows
//! get their values through the mapping table when swap fills the table: each row is written once.
//! Keys derived from the old key need no mapping table: their map files are queued for
//! `run::maps`, which writes them in the background while the next stages run, but for tables
//! nothing references, whose map files their checks in the load write (`maps::left_to_check`).

use crate::run::keys::{csv_writer, finish_csv, map_paths, read_map};
use crate::run::maps::{lock, map_job, write_map, MapJob};

use super::{Context, Outcome, Stage};
use crate::backend::{Dialect, Session, Value};
use crate::error::{io_error, Error, Place, Result};
use crate::plan::Converted;
use crate::run::names::{ipk, map_table, upk};
use crate::uuidgen::{to_text, UuidGen};
use uuid::Uuid;

/// Keys per batch of mapping rows (one insert each): bounds memory whatever the table size.
const KEY_BATCH: usize = 50_000;

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = crate::run::source::load(ctx)?;
    let (schema, plan) = &*shared;
    let data = ctx.data()?;
    let converted = crate::run::data_shape::converted_in_clone(ctx)?;
    let ordered = plan.converted_in_follow_order();
    // DB_DATA's catalog is asked about a table clone did not convert (its work columns) and a
    // table whose keys are not derived (a mapping table an interrupted run left).
    let derived = crate::run::keys::key_sources(ctx)?;
    let needed = ordered
        .iter()
        .any(|c| !converted.contains(&c.table) || !derived.contains_key(&c.table));
    let current = crate::run::data_shape::describe_data_if(ctx, needed)?;
    // Tables with fresh keys are independent; one-to-one tables need their parent's map first.
    let (fresh, following): (Vec<&Converted>, Vec<&Converted>) =
        ordered.into_iter().partition(|c| c.follows.is_none());
    let size = |c: &Converted| {
        schema
            .table(&c.table)
            .map(|t| t.estimated_rows)
            .unwrap_or(0)
    };
    let mut fresh = fresh;
    fresh.sort_by_key(|c| std::cmp::Reverse(size(c)));
    let parallel = data.dialect().parallel_writes();
    let moved = crate::run::data_shape::moved_tables(ctx)?;
    // Map files of derived keys need only SOURCE: they are written while the stages after this
    // one change DB_DATA's schema (statements that leave the cores idle).
    // A one-to-one table (`following`) may need its parent's map file in this stage: those
    // write theirs at once.
    let maps: std::sync::Mutex<Vec<MapJob>> = std::sync::Mutex::new(Vec::new());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let step = |c: &&Converted, queue: Option<&std::sync::Mutex<Vec<MapJob>>>| -> Result<u64> {
        let shape = if converted.contains(&c.table) {
            Shape::Converted
        } else if crate::run::data_shape::is_moved(&moved, &c.table) {
            Shape::Moved
        } else {
            Shape::Cloned
        };
        shadow_table(ctx, c, &current, shape, queue, &stop)
    };
    let mut rows = ctx.steps(
        Stage::Shadow,
        &fresh,
        |c| c.table.clone(),
        parallel,
        |c| step(c, Some(&maps)),
    )?;
    let queued = std::mem::take(&mut *lock(&maps));
    let background = queued.len();
    crate::run::maps::spawn(ctx, queued, ctx.run.jobs, stop.clone())?;
    // A one-to-one table without derived keys takes its keys from its parent's map file.
    if !following.is_empty() {
        crate::run::maps::maps_ready(ctx, true)?;
    }
    rows += ctx.steps(
        Stage::Shadow,
        &following,
        |c| c.table.clone(),
        false,
        |c| step(c, None),
    )?;
    let mut detail = Vec::new();
    if background > 0 {
        detail.push(format!(
            "the map files of {background} {} with derived keys written in the background, while the next stages run",
            crate::text::plural(background, "table")
        ));
    }
    let left = crate::run::maps::left_to_checks(ctx)?;
    if left > 0 {
        detail.push(format!(
            "the map files of {} that nothing references written by each table's check in the load, which derives their keys anyway",
            crate::text::count(left as u64, "table")
        ));
    }
    let detail = (!detail.is_empty()).then(|| detail.join("; "));
    Ok(Outcome { rows, detail })
}

/// How clone made a table in DB_DATA.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// SOURCE's definition: shadow adds the work columns.
    Cloned,
    /// DB_FINAL's definition (`--load-path move`).
    Moved,
    /// Its converted definition (`data_shape::convert_in_clone`).
    Converted,
}

fn shadow_table(
    ctx: &Context,
    c: &Converted,
    current: &crate::model::Schema,
    shape: Shape,
    queue: Option<&std::sync::Mutex<Vec<MapJob>>>,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<u64> {
    let data = ctx.data()?;
    let d = data.dialect();
    let uuid_type = d.uuid_type(ctx.conversion.uuid_format)?;
    let table = d.q(&c.table);
    let key = d.q(&c.column);
    // Clone decided first where it made the table converted (its route rests on it): the same
    // question must get the same answer.
    let before = crate::run::keys::key_source(ctx, &c.table)?;
    let derived = crate::run::keys::decide(ctx, c)?;
    if shape == Shape::Converted && before.as_deref() != derived.as_ref().map(|k| k.table.as_str())
    {
        return Err(Error::input(
            Place::stage(Stage::Shadow).table(&c.table),
            format!(
                "SOURCE changed since clone decided how the new keys of {} are made.",
                c.table
            ),
            "SOURCE must be a snapshot nobody writes: restore an unchanging copy, run `rekey clean`, then run again.",
        ));
    }
    // DB_DATA's session only where a statement needs it: a converted table whose keys are
    // derived needs none (81 checkouts of 3 round trips each on the lean benchmark).
    let mut session = None;
    // The keys it gives are SOURCE's rows (DB_DATA's table is empty).
    let rows_to_key = crate::run::source::load(ctx)?
        .0
        .table(&c.table)
        .map_or(0, |t| t.estimated_rows);
    let bar = ctx.progress.table("shadow", &c.table, rows_to_key);
    let rows = match &derived {
        Some(spec) if ctx.run.dry_run => {
            ctx.say(&format!(
                "    -- new keys of {table} computed from {key} (as {}'s, by the fill during swap); map/{}.csv from SOURCE's keys",
                spec.table, c.table
            ));
            0
        }
        Some(spec) => match queue {
            // Clone queued it (`data_shape::convert_in_clone`): its writer runs already.
            Some(_) if crate::run::maps::queued(ctx, &c.table) => 0,
            Some(queue) => {
                crate::run::maps::queue(ctx, &c.table, spec, stop, &mut lock(queue))?;
                0
            }
            None => write_map(&map_job(ctx, &c.table, spec)?)?,
        },
        None => {
            // The keys come from SOURCE on its own session; the mapping table goes into DB_DATA.
            let map_type = d.uuid_type(d.map_format(ctx.conversion.uuid_format))?;
            let map = d.q(&map_table(d, &c.table));
            session = ctx.writer(data.as_ref())?;
            // A mapping table an interrupted run left is made again (only then: on a cluster
            // every DDL statement, even a DROP of nothing, stalls every node).
            let map_left = current.table(&map_table(d, &c.table)).is_some();
            if ctx.run.dry_run || map_left {
                ctx.exec(&mut session, &format!("DROP TABLE IF EXISTS {map}"))?;
            }
            ctx.exec(
                &mut session,
                &format!(
                    "CREATE TABLE {map} (old_id {} NOT NULL PRIMARY KEY, new_id {map_type} NOT NULL)",
                    d.map_key_type(&c.column_type)
                ),
            )?;
            match session.as_deref_mut() {
                None => {
                    let how = match &c.follows {
                        Some(parent) => format!("the UUID of its {parent} row"),
                        None => "one new UUID per row".into(),
                    };
                    ctx.say(&format!(
                        "    -- give each row of {table} {how}, in {key} order, into {map} and map/{}.csv",
                        c.table
                    ));
                    0
                }
                Some(s) => generate(ctx, s, d, c, &map, &bar)?,
            }
        }
    };
    // A table built with DB_FINAL's definition (to be moved there: swap only fills it) or in its
    // converted one (clone's, for the one-write route) needs no work columns.
    let shared = crate::run::source::load(ctx)?;
    let source_table = shared.0.table(&c.table);
    let missing: Vec<(String, String)> = if shape == Shape::Cloned {
        let current = current.table(&c.table).cloned().unwrap_or_default();
        [
            (
                ipk(d, source_table, &c.column),
                d.map_key_type(&c.column_type),
            ),
            (upk(d, source_table, &c.column), uuid_type.clone()),
        ]
        .into_iter()
        .filter(|(col, _)| current.column(col).is_none())
        .map(|(col, ty)| (col, d.added_column_type(Some(&current), ty.trim())))
        .collect()
    } else {
        Vec::new()
    };
    let add = d.add_columns_sql(&c.table, &missing);
    if !add.is_empty() && session.is_none() {
        session = ctx.writer(data.as_ref())?;
    }
    for sql in add {
        ctx.exec(&mut session, &sql)?;
    }
    bar.finish(rows);
    Ok(rows)
}

/// Streams the old keys in ascending order from SOURCE, gives each a UUID, and writes both the
/// map file and the mapping table. Reading and generating run on their own thread, one batch
/// ahead of the inserts, so the server loads one batch while the next is produced; at most three
/// batches (one inserting, one queued, one filling) are in memory whatever the table size.
fn generate(
    ctx: &Context,
    s: &mut dyn Session,
    d: &dyn Dialect,
    c: &Converted,
    map: &str,
    bar: &crate::progress::TableProgress,
) -> Result<u64> {
    // A one-to-one table's key takes its parent's UUID: both lists ascend by old key, so the
    // parent's map file is merged, never loaded.
    let mut ids = match &c.follows {
        None => NewIds::Fresh(Box::new(UuidGen::new(
            &ctx.secret,
            &c.table,
            ctx.conversion.uuid_version,
            ctx.base_ms,
        ))),
        Some(parent) => NewIds::Parent(
            read_map(&map_paths(ctx, parent).0)?.peekable(),
            parent.clone(),
        ),
    };
    let format = ctx.conversion.uuid_format;
    let stored = d.map_format(format);
    let (path, part) = map_paths(ctx, &c.table);
    let mut csv = csv_writer(&part)?;
    let source = ctx.source()?;
    let sd = source.dialect();
    let from = match ctx.plan()?.0.table(&c.table) {
        Some(t) => sd.own_rows(t),
        None => sd.q(&c.table),
    };
    let select = format!(
        "SELECT {key} FROM {from} ORDER BY {key}",
        key = sd.q(&c.column)
    );
    let (batches, received) = std::sync::mpsc::sync_channel::<Vec<(Value, Uuid)>>(1);
    let columns = ["old_id".to_string(), "new_id".to_string()];
    let stopped = || {
        Error::env(
            Place::stage(Stage::Shadow).table(&c.table),
            "the inserts into the mapping table stopped.",
            "See the error reported with this one, then run again with --resume.",
        )
    };
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || -> Result<()> {
            let mut keys = source.connect()?;
            let mut batch = Vec::with_capacity(KEY_BATCH);
            keys.query(&select, &mut |row| {
                let key = row.first().cloned().unwrap_or(Value::Null);
                let id = ids.next(&key, &c.table)?;
                let old = key.as_string().unwrap_or_default();
                csv.write_record([old.as_str(), &to_text(&id, format)])
                    .map_err(|e| io_error("write", &part, e.into()))?;
                batch.push((key, id));
                if batch.len() == KEY_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(KEY_BATCH));
                    // A closed channel means the inserts failed; their error is the one to report.
                    if batches.send(full).is_err() {
                        return Err(stopped());
                    }
                }
                Ok(())
            })?;
            if !batch.is_empty() && batches.send(batch).is_err() {
                return Err(stopped());
            }
            drop(batches);
            finish_csv(csv, &part, &path)
        });
        let mut total = 0u64;
        let inserted = (|| -> Result<u64> {
            for batch in received {
                let mut rows = batch
                    .into_iter()
                    .map(|(key, id)| Ok(vec![key, d.uuid_value(&id, stored)]));
                total += s.insert_rows(map, &columns, &mut rows)?;
                bar.set(total);
            }
            Ok(total)
        })();
        let produced = super::joined(
            producer.join(),
            Place::stage(Stage::Shadow).table(&c.table),
            "the thread reading SOURCE's keys",
        );
        // The insert error first: it is what made the reader stop.
        let total = inserted?;
        produced?;
        Ok(total)
    })
}

/// Where a converted table's new keys come from, key by key in ascending old-key order.
enum NewIds<I: Iterator<Item = Result<(i128, u128)>>> {
    Fresh(Box<UuidGen>),
    /// The parent's map file, and the parent's name.
    Parent(std::iter::Peekable<I>, String),
}

impl<I: Iterator<Item = Result<(i128, u128)>>> NewIds<I> {
    fn next(&mut self, key: &Value, table: &str) -> Result<Uuid> {
        let (map, parent) = match self {
            NewIds::Fresh(generator) => return Ok(generator.next_uuid()),
            NewIds::Parent(map, parent) => (map, parent),
        };
        let wanted = key.as_key();
        loop {
            match map.peek() {
                Some(Ok((k, _))) if Some(*k) < wanted => {
                    map.next();
                }
                Some(Ok((k, u))) if Some(*k) == wanted => return Ok(Uuid::from_u128(*u)),
                Some(Err(_)) => {
                    if let Some(Err(e)) = map.next() {
                        return Err(e);
                    }
                }
                _ => {
                    return Err(Error::input(
                        Place::stage(Stage::Shadow).table(table),
                        format!(
                            "key {} has no {parent} row to take its UUID from.",
                            key.as_string().unwrap_or_default()
                        ),
                        format!("Its key references {parent}: fix or delete that row in the snapshot, or --exclude {table}."),
                    ))
                }
            }
        }
    }
}
