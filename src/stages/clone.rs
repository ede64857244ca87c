//! Stage 3: create DB_DATA and SOURCE's tables in it (no views, triggers or routines). The rows
//! follow in swap, in one INSERT ... SELECT per table that writes each row once with its new keys.
//! SOURCE is only ever read.

use super::preflight::RUN_MARKER;
use super::{Context, Outcome};
use crate::backend::{Backend, Session};
use crate::error::{Error, Place, Result};
use crate::model::is_internal;

/// The alias under which SOURCE is reached from a DB_DATA session (SQLite ATTACH).
pub const SOURCE_ALIAS: &str = "rekey_source";

/// Opens a session on `on` that can also read the database at `other`; returns it with the
/// qualifier for `other`'s tables.
pub fn reach(
    on: &dyn Backend,
    other: &dyn Backend,
    alias: &str,
    stage: &'static str,
) -> Result<(Box<dyn Session>, String)> {
    let mut s = on.connect()?;
    match on.reach(s.as_mut(), other.url(), alias)? {
        Some(q) => Ok((s, q)),
        None => Err(Error::input(
            Place::stage(stage),
            format!("{} and {} are on different servers; this version of rekey copies between databases of one server.", on.url(), other.url()),
            "Restore the snapshot on the server that will hold DB_DATA and DB_FINAL (docs/limitations.md).",
        )),
    }
}

pub fn run(ctx: &Context) -> Result<Outcome> {
    let shared = super::introspect::load(ctx)?;
    let (schema, _) = &*shared;
    let data = ctx.data()?;
    let d = data.dialect();
    if ctx.run.dry_run || !data.database_exists()? {
        for sql in data.create_database(schema.tables.first())? {
            if ctx.run.dry_run {
                ctx.say(&format!("    {sql};"));
            } else {
                server_exec(data.as_ref(), &sql)?;
            }
        }
        ctx.journal
            .add_artifact("database", "data", &data.url().to_string())?;
    }
    if !ctx.run.dry_run {
        let mut s = data.connect()?;
        s.execute(&format!(
            "CREATE TABLE IF NOT EXISTS {} (run_id VARCHAR(64) NOT NULL)",
            d.q(RUN_MARKER)
        ))?;
        if s.query_u64(&format!("SELECT COUNT(*) FROM {}", d.q(RUN_MARKER)))? == 0 {
            s.execute(&format!(
                "INSERT INTO {} (run_id) VALUES ({})",
                d.q(RUN_MARKER),
                d.lit(&ctx.run_id)
            ))?;
        }
    }
    let tables: Vec<&crate::model::Table> = schema
        .tables
        .iter()
        .filter(|t| !is_internal(&t.name))
        .collect();
    ctx.steps(
        super::CLONE,
        &tables,
        |t| t.name.clone(),
        d.parallel_writes(),
        |t| {
            // A table left by an interrupted run is created again. The drop runs before SOURCE is
            // reachable: SQLite resolves an unqualified name that DB_DATA lacks in the attached
            // SOURCE.
            let mut plain = ctx.writer(data.as_ref())?;
            ctx.exec(
                &mut plain,
                &format!("DROP TABLE IF EXISTS {}", d.q(&t.name)),
            )?;
            drop(plain);
            let (mut s, from) = ctx.reaching_source(data.as_ref(), super::CLONE)?;
            for sql in data.create_table_sql(&from, t) {
                ctx.exec(&mut s, &sql)?;
            }
            Ok(0)
        },
    )?;
    Ok(Outcome {
        rows: 0,
        detail: Some(format!("{} tables created", tables.len())),
    })
}

/// Runs a statement on the server of `b` without a database selected (CREATE DATABASE).
fn server_exec(b: &dyn Backend, sql: &str) -> Result<()> {
    b.execute_on_server(sql)
}
