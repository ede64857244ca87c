//! DB_DATA's shape, which several stages need: as the catalog describes it now (stages inspect it,
//! so re-running them is safe), the column swaps of each table, and in a dry run the shape the
//! conversion would give it before DB_DATA exists. With it, how each table's rows are written:
//! its route (once from SOURCE, or twice through DB_DATA), where each column's value comes from
//! in a fill from SOURCE (`fill_columns`: swap's and the one-write load's), and the key order the
//! load reads in (`key_order`).

use super::names::{ipk, map_table, ufk, upk};
use super::Context;
use crate::backend::{Arrival, Dialect, FillColumn, FillFrom, FillRoute, LoadChoice, Swap};
use crate::error::Result;
use crate::journal::Artifact;
use crate::model::{is_internal, Column, Schema, Table};
use crate::options::{ConversionOptions, UuidVersion};

/// DB_DATA's catalog as it is now. Empty in a dry run before DB_DATA exists.
pub fn describe_data(ctx: &Context) -> Result<Schema> {
    let data = ctx.data()?;
    if ctx.run.dry_run && !data.database_exists()? {
        return Ok(Schema::default());
    }
    // Test hook: each description of DB_DATA's catalog in a run is a line of
    // `<run-dir>/data-described` (the stages that need none must not ask).
    if std::env::var_os("REKEY_TEST_MARK_DESCRIBES").is_some() {
        use std::io::Write;
        let path = ctx.run.run_dir.join("data-described");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "described");
        }
    }
    let mut s = data.connect()?;
    data.describe(s.as_mut())
}

/// DB_DATA's catalog for a stage whose steps change DB_DATA's tables in parallel: described
/// before any step runs (a description made while another step alters its table may read that
/// table half-made), and only where one of the stage's tables asks for it (`needed`); otherwise
/// empty. On the one-write route, where clone made every table in its converted definition and
/// every key is derived, shadow, link, unconstrain and swap ask nothing of it (a MariaDB catalog
/// takes nine queries, 20-30 ms, to describe).
pub fn describe_data_if(ctx: &Context, needed: bool) -> Result<Schema> {
    if needed {
        describe_data(ctx)
    } else {
        Ok(Schema::default())
    }
}

/// Whether clone made every table of SOURCE (`schema`) in its converted definition (`converted`,
/// `converted_in_clone`): DB_DATA then holds no table that unconstrain or swap reshape.
pub fn all_converted(schema: &Schema, converted: &std::collections::HashSet<String>) -> bool {
    schema
        .tables
        .iter()
        .filter(|t| !is_internal(&t.name))
        .all(|t| converted.contains(&t.name))
}

/// DB_DATA's catalog, or in a dry run before it exists, the shape the conversion would give it.
pub fn data_or_predicted(ctx: &Context) -> Result<Schema> {
    let current = describe_data(ctx)?;
    if ctx.run.dry_run && current.tables.is_empty() {
        return predicted_data_schema(ctx);
    }
    Ok(current)
}

/// The swaps of one table: its own key (`<pk>_upk_copy`) and its references (`<col>_ufk_copy`),
/// in the table's column order, and the work columns to drop (`<pk>_ipk_copy`), named for the
/// engine of `d`.
pub fn swaps_for(
    ctx: &Context,
    d: &dyn Dialect,
    table: &str,
    uuid_type: &str,
) -> Result<(Vec<Swap>, Vec<String>)> {
    let shared = super::source::load(ctx)?;
    let (schema, plan) = &*shared;
    let source_table = schema.table(table);
    let nullable = |col: &str| {
        source_table
            .and_then(|t| t.column(col))
            .map(|c| c.nullable)
            .unwrap_or(true)
    };
    let mut swaps = Vec::new();
    let mut drop = Vec::new();
    if let Some(c) = plan.converted(table) {
        swaps.push(Swap {
            column: c.column.clone(),
            shadow: upk(d, source_table, &c.column),
            uuid_type: uuid_type.into(),
            nullable: false,
        });
        drop.push(ipk(d, source_table, &c.column));
    }
    for r in plan.references_from(table) {
        swaps.push(Swap {
            column: r.column.clone(),
            shadow: ufk(d, source_table, &r.column),
            uuid_type: uuid_type.into(),
            nullable: nullable(&r.column),
        });
    }
    if let Some(t) = source_table {
        swaps.sort_by_key(|s| t.columns.iter().position(|c| c.name == s.column));
    }
    Ok((swaps, drop))
}

/// SOURCE's table as shadow and link would have left it in DB_DATA (a dry run's starting point).
pub fn with_shadows(mut table: Table, swaps: &[Swap], drop: &[String]) -> Table {
    for name in swaps.iter().map(|s| &s.shadow).chain(drop) {
        table.columns.push(Column {
            name: name.clone(),
            ..Default::default()
        });
    }
    table
}

/// The shape DB_DATA will have after swap, predicted from SOURCE (a dry run compares and plans
/// the load against it before DB_DATA exists).
pub fn predicted_data_schema(ctx: &Context) -> Result<Schema> {
    let shared = super::source::load(ctx)?;
    let (schema, _) = &*shared;
    let d = ctx.data()?.dialect();
    let uuid_type = d.uuid_type(ctx.conversion.uuid_format)?;
    let mut out = Schema::default();
    for t in schema.tables.iter().filter(|t| !is_internal(&t.name)) {
        let (swaps, _) = swaps_for(ctx, d, &t.name, &uuid_type)?;
        let mut table = t.clone();
        for s in &swaps {
            let predicted = d.predict_column(&s.column, &s.uuid_type, s.nullable, t);
            if let Some(c) = table.columns.iter_mut().find(|c| c.name == s.column) {
                *c = predicted;
            }
        }
        if !d.clone_keeps_foreign_keys() {
            table.foreign_keys.clear();
        }
        out.tables.push(table);
    }
    Ok(out)
}

/// In a dry run where DB_FINAL does not exist yet (derive-final would create it), the shape it
/// would get: DB_DATA's, which derive-final gives it. `None` when DB_FINAL is to be read.
pub fn predicted_final(ctx: &Context) -> Result<Option<Schema>> {
    if !ctx.run.dry_run || ctx.final_db()?.database_exists()? {
        return Ok(None);
    }
    data_or_predicted(ctx).map(Some)
}

/// With `--load-path move`, DB_FINAL's catalog: the definitions DB_DATA's tables are built with
/// (those DB_FINAL loads: not its migration tool's bookkeeping table), so that swap fills each
/// table once and the load renames it into DB_FINAL. `None` otherwise.
pub fn moved_tables(ctx: &Context) -> Result<Option<Schema>> {
    if ctx.run.load_path != LoadChoice::Move {
        return Ok(None);
    }
    let fin = ctx.final_db()?;
    if !fin.database_exists()? {
        // A dry run before derive-final: DB_FINAL would get DB_DATA's predicted shape.
        return predicted_data_schema(ctx).map(Some);
    }
    let mut s = fin.connect()?;
    let mut schema = fin.describe(s.as_mut())?;
    let source = super::source::load(ctx)?;
    let described = schema.clone();
    schema.tables.retain(|t| {
        !is_internal(&t.name) && !super::bookkeeping::kept(&t.name, &described, Some(&source.0))
    });
    Ok(Some(schema))
}

/// Whether `table` is built with DB_FINAL's definition and moved there (see `moved_tables`).
pub fn is_moved(moved: &Option<Schema>, table: &str) -> bool {
    moved.as_ref().is_some_and(|m| m.table(table).is_some())
}

/// DB_DATA's tables that clone made in their converted definition (`Dialect::converts_in_clone`):
/// shadow, link, unconstrain and swap leave their definitions alone.
pub fn converted_in_clone(ctx: &Context) -> Result<std::collections::HashSet<String>> {
    Ok(ctx
        .journal
        .artifacts(Artifact::Converted)?
        .into_iter()
        .map(|(table, _)| table)
        .collect())
}

/// The tables clone makes in their converted definition, with each one's route (journaled):
/// where DB_DATA's engine converts in clone and this run writes rows once, those whose rows go
/// straight from SOURCE into DB_FINAL. A table's route depends on how its keys and its parents'
/// keys are made, so every converted table's keys are decided first (`keys::decide`, which
/// shadow does again), and the map files of derived keys start on the background writer
/// (`maps::spawn`). Empty otherwise.
pub fn convert_in_clone(ctx: &Context) -> Result<std::collections::HashSet<String>> {
    let mut out = std::collections::HashSet::new();
    if !ctx.run.one_write
        || ctx.run.load_path == LoadChoice::Move
        || !ctx.data()?.dialect().converts_in_clone()
    {
        return Ok(out);
    }
    let shared = super::source::load(ctx)?;
    let (schema, plan) = &*shared;
    // The map files of derived keys need only SOURCE: written now, while clone's statements
    // leave the cores idle, instead of during the load (shadow queues what is not queued here).
    let mut maps = Vec::new();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for c in plan.converted_in_follow_order() {
        match super::keys::decide(ctx, c)? {
            Some(spec) if c.follows.is_none() && !ctx.run.dry_run => {
                super::maps::queue(ctx, &c.table, &spec, &stop, &mut maps)?
            }
            _ => {}
        }
    }
    super::maps::spawn(ctx, maps, ctx.run.jobs, stop)?;
    for t in schema.tables.iter().filter(|t| !is_internal(&t.name)) {
        let route = route(ctx, t)?;
        journal_route(ctx, &t.name, &route)?;
        if route == FillRoute::OneWrite {
            out.insert(t.name.clone());
        }
    }
    Ok(out)
}

/// The journal's artifact kind that records each table's route (`route`).
const ROUTE: Artifact = Artifact::Route;
/// How the journal spells the one-write route; the two-write route is its reason.
pub(crate) const ONE_WRITE: &str = "one write";

/// How `t`'s rows reach DB_FINAL in this run: once, straight from SOURCE in the load, where the
/// run writes rows once (`rekey run` without `--full-data-copy`) and DB_FINAL's engine can fill
/// the table from SOURCE (`Load::fill_final_route`); else twice (swap fills DB_DATA, the load
/// copies it), with the reason.
pub fn route(ctx: &Context, t: &Table) -> Result<FillRoute> {
    if !ctx.run.one_write {
        return Ok(FillRoute::TwoWrites(
            "DB_DATA is kept as the full converted copy (--full-data-copy, an explicit --load-path, or rekey convert)".into(),
        ));
    }
    let (Some(source), Some(data), Some(fin)) = (&ctx.source, &ctx.data, &ctx.final_db) else {
        return Ok(FillRoute::TwoWrites(
            "the command does not name SOURCE, DB_DATA and DB_FINAL".into(),
        ));
    };
    let names: Vec<&str> = t.writable_columns().map(|c| c.name.as_str()).collect();
    let columns = fill_columns(ctx, t, &names)?;
    let models: Vec<crate::model::Column> = t.writable_columns().cloned().collect();
    // DB_FINAL's primary key is SOURCE's (compare checks the columns; derive-final creates
    // DB_FINAL only after swap): the key order the load would want, asked as the load asks it.
    let plan = super::source::load(ctx)?;
    let key_order = key_order(&ctx.conversion, fin.dialect(), &plan.1, t);
    let no_chunks = |_: &str| Ok(());
    // The engine weighs the table by its rows: preflight's count where the catalog has no
    // estimate (a PostgreSQL table never analyzed).
    let mut counted = t.clone();
    if let Some(rows) = super::source_snapshot::counted_rows(ctx)?.get(&t.name) {
        counted.estimated_rows = counted.estimated_rows.max(*rows);
    }
    let job = crate::backend::FinalFill {
        fill: crate::backend::FillJob {
            table: &counted,
            columns,
            order_by: None,
            format: ctx.conversion.uuid_format,
            arrival: Arrival::Unordered,
            unique_keys: &[],
            marker: "",
            resume_after: None,
            on_chunk: &no_chunks,
        },
        models: &models,
        key_order: key_order.as_deref(),
        progress: &|_| {},
        large: false,
        tap: None,
        small_parents: Vec::new(),
    };
    fin.fill_final_route(source.url(), data.url(), &job)
}

/// Records `table`'s route for the load, the report and a resumed run.
pub fn journal_route(ctx: &Context, table: &str, route: &FillRoute) -> Result<()> {
    if ctx.run.dry_run {
        return Ok(());
    }
    let text = match route {
        FillRoute::OneWrite => ONE_WRITE.to_string(),
        FillRoute::TwoWrites(why) => format!("two writes: {why}"),
    };
    ctx.journal.add_artifact(ROUTE, table, &text)
}

/// The route swap journaled for `table`; in a dry run (nothing journaled) or for a table swap did
/// not record (a run from before routes were kept), computed again from SOURCE's table `t`.
pub fn journaled_route(ctx: &Context, table: &str, t: Option<&Table>) -> Result<FillRoute> {
    if let Some((_, text)) = ctx
        .journal
        .artifacts(ROUTE)?
        .into_iter()
        .find(|(name, _)| name == table)
    {
        return Ok(match text.strip_prefix("two writes: ") {
            None if text == ONE_WRITE => FillRoute::OneWrite,
            Some(why) => FillRoute::TwoWrites(why.to_string()),
            None => FillRoute::TwoWrites(text),
        });
    }
    match t {
        Some(t) if ctx.run.dry_run => route(ctx, t),
        _ => Ok(FillRoute::TwoWrites(
            "swap filled DB_DATA (no route journaled)".into(),
        )),
    }
}

/// Every table's route as the journal keeps it, for the report: table -> `one write` or
/// `two writes: <why>`.
pub fn journaled_routes(journal: &crate::journal::Journal) -> Result<Vec<(String, String)>> {
    journal.artifacts(ROUTE)
}

/// Where each of `names` (columns of `t`, SOURCE's table) takes its value in a fill from SOURCE:
/// its value, or a new key derived from the old one or joined from a mapping table.
pub fn fill_columns(ctx: &Context, t: &Table, names: &[&str]) -> Result<Vec<FillColumn>> {
    let (_, plan) = &*ctx.plan()?;
    let d = ctx.data()?.dialect();
    let own = plan.converted(&t.name);
    let refs: Vec<&crate::plan::Reference> = plan.references_from(&t.name).collect();
    // A key derived from the old key is computed in the fill; a mapped one is joined.
    let keys_of = |table: &str, own: bool| -> Result<FillFrom> {
        Ok(match super::keys::key_source(ctx, table)? {
            Some(from) => FillFrom::Derived(ctx.derived_key(from)),
            None if own => FillFrom::OwnKey {
                map: d.q(&map_table(d, table)),
            },
            None => FillFrom::Reference {
                map: d.q(&map_table(d, table)),
            },
        })
    };
    let mut columns = Vec::new();
    for &name in names {
        let from = if own.is_some_and(|o| o.column == name) {
            keys_of(&t.name, true)?
        } else if let Some(r) = refs.iter().find(|r| r.column == name) {
            keys_of(&r.ref_table, false)?
        } else {
            FillFrom::Value
        };
        columns.push(FillColumn {
            name: name.to_string(),
            from,
        });
    }
    Ok(columns)
}
/// DB_FINAL's primary key (of `t`, DB_FINAL's table), when it holds new keys that do not ascend
/// with the old keys' order: a load reads in its order (v4 keys into PostgreSQL's B-tree: the
/// load took 2.3x as long in random order). `d` is DB_FINAL's dialect.
pub fn key_order(
    options: &ConversionOptions,
    d: &dyn Dialect,
    plan: &crate::plan::Plan,
    t: &crate::model::Table,
) -> Option<Vec<String>> {
    let ascending = plan
        .converted(&t.name)
        .filter(|_| new_keys_ascend(options, d))
        .map(|c| c.column.as_str());
    let uuid = plan.uuid_columns(&t.name);
    (t.primary_key
        .iter()
        .any(|k| uuid.iter().any(|(c, _)| c == k))
        && !matches!(t.primary_key.as_slice(), [k] if Some(k.as_str()) == ascending))
    .then(|| t.primary_key.clone())
}

/// Whether the new keys sort in the same order as the old ones when stored by an engine with
/// dialect `d`: v7 UUIDs are generated in old-key order, and keep it where the engine compares
/// the stored form byte by byte.
pub fn new_keys_ascend(options: &ConversionOptions, d: &dyn Dialect) -> bool {
    options.uuid_version == UuidVersion::V7 && d.uuid_sorts_by_bytes(options.uuid_format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::UuidFormat;

    #[test]
    fn new_keys_ascend_only_for_v7_in_a_byte_ordered_format() {
        use crate::backend::mysql::MysqlDialect;
        use crate::backend::sqlite::SqliteDialect;
        let with = |uuid_format, uuid_version| ConversionOptions {
            uuid_format,
            uuid_version,
            ..Default::default()
        };
        let mariadb = MysqlDialect;
        let ascend = |o: ConversionOptions, d: &dyn Dialect| new_keys_ascend(&o, d);
        assert!(ascend(with(UuidFormat::Char32, UuidVersion::V7), &mariadb));
        assert!(ascend(
            with(UuidFormat::Binary16, UuidVersion::V7),
            &mariadb
        ));
        assert!(!ascend(with(UuidFormat::Char32, UuidVersion::V4), &mariadb));
        // MariaDB's UUID type compares its groups in another order than its bytes.
        assert!(!ascend(with(UuidFormat::Native, UuidVersion::V7), &mariadb));
        assert!(ascend(
            with(UuidFormat::Char36, UuidVersion::V7),
            &SqliteDialect
        ));
    }
}
