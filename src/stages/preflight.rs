//! Stage 2: everything that can be checked before anything is written: orphan references in
//! SOURCE, an existing DB_DATA from another run, a non-empty DB_FINAL, server versions.

use super::{Context, Outcome};
use crate::backend::{Backend, Session};
use crate::error::{Error, Place, Result};
use crate::model::{is_bookkeeping, is_internal, Schema};
use crate::options::OrphanPolicy;
use crate::plan::Reference;

/// The table in DB_DATA that says which run built it.
pub const RUN_MARKER: &str = "_rekey_run";

/// Orphans of one reference: values with no parent row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Orphans {
    pub reference: String,
    pub rows: u64,
    pub samples: Vec<String>,
}

pub fn run(ctx: &Context, check_data: bool, check_final: bool) -> Result<Outcome> {
    let shared = super::introspect::load(ctx)?;
    let (_, plan) = &*shared;
    let source = ctx.source()?;
    let mut session = source.connect()?;
    let orphans = find_orphans(ctx, session.as_mut(), &plan.references)?;
    let mut detail = Vec::new();
    if !orphans.is_empty() {
        let listing: Vec<String> = orphans
            .iter()
            .map(|o| {
                format!(
                    "{}: {} rows, e.g. {}",
                    o.reference,
                    o.rows,
                    o.samples.join(", ")
                )
            })
            .collect();
        let not_nullable: Vec<&Reference> = plan
            .references
            .iter()
            .filter(|r| !r.nullable && orphans.iter().any(|o| o.reference == r.label()))
            .collect();
        if ctx.conversion.orphans == OrphanPolicy::Fail || !not_nullable.is_empty() {
            let hint = if not_nullable.is_empty() {
                "Fix or delete these rows in the snapshot, or run with --orphans null to store NULL in them (each one is listed in the report).".to_string()
            } else {
                format!(
                    "{} cannot hold NULL, so --orphans null cannot help there: fix or delete those rows in the snapshot first.",
                    not_nullable.iter().map(|r| format!("{}.{}", r.table, r.column)).collect::<Vec<_>>().join(", ")
                )
            };
            return Err(Error::input(
                Place::stage(super::PREFLIGHT),
                format!(
                    "SOURCE has references whose value has no parent row: {}.",
                    listing.join("; ")
                ),
                hint,
            ));
        }
        for o in &orphans {
            ctx.journal.add_artifact(
                "orphans-nulled",
                &o.reference,
                &serde_json::to_string(o).unwrap_or_default(),
            )?;
        }
        detail.push(format!("orphans stored as NULL: {}", listing.join("; ")));
    }
    if check_data {
        check_data_db(ctx)?;
    }
    if check_final {
        let f = ctx.final_db()?;
        check_final_empty(f.as_ref())?;
    }
    Ok(Outcome {
        rows: orphans.iter().map(|o| o.rows).sum(),
        detail: (!detail.is_empty()).then(|| detail.join("; ")),
    })
}

/// Counts, per reference, the non-NULL values that have no parent row in SOURCE.
pub fn find_orphans(
    ctx: &Context,
    session: &mut dyn Session,
    refs: &[Reference],
) -> Result<Vec<Orphans>> {
    let d = ctx.source()?.dialect();
    let mut out = Vec::new();
    for r in refs {
        let from = format!(
            "FROM {} c LEFT JOIN {} p ON p.{} = c.{} WHERE c.{} IS NOT NULL AND p.{} IS NULL",
            d.q(&r.table),
            d.q(&r.ref_table),
            d.q(&r.ref_column),
            d.q(&r.column),
            d.q(&r.column),
            d.q(&r.ref_column)
        );
        let count = session.query_u64(&format!("SELECT COUNT(*) {from}"))?;
        if count == 0 {
            continue;
        }
        let samples = session
            .query_all(&format!(
                "SELECT DISTINCT c.{} {from} ORDER BY 1 LIMIT 5",
                d.q(&r.column)
            ))?
            .iter()
            .filter_map(|row| row.first().and_then(|v| v.as_string()))
            .collect();
        out.push(Orphans {
            reference: r.label(),
            rows: count,
            samples,
        });
    }
    Ok(out)
}

/// DB_DATA must not exist, or must be the one this run (being resumed) built.
fn check_data_db(ctx: &Context) -> Result<()> {
    let data = ctx.data()?;
    if !data.database_exists()? {
        return Ok(());
    }
    let mut s = data.connect()?;
    let schema = data.describe(s.as_mut())?;
    let owner = if schema.table(RUN_MARKER).is_some() {
        s.query_all(&format!(
            "SELECT run_id FROM {}",
            data.dialect().q(RUN_MARKER)
        ))?
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_string())
    } else {
        None
    };
    match owner {
        Some(id) if id == ctx.run_id => Ok(()),
        Some(id) => Err(Error::input(
            Place::stage(super::PREFLIGHT),
            format!("DB_DATA {} already exists from another rekey run ({id}).", data.url()),
            "Drop it with `rekey clean --run-dir DIR` for that run (or DROP DATABASE), or give another --data.",
        )),
        None if schema.tables.is_empty() => Ok(()),
        None => Err(Error::input(
            Place::stage(super::PREFLIGHT),
            format!("DB_DATA {} already exists and holds {} tables that rekey did not create.", data.url(), schema.tables.len()),
            "rekey never writes into a database it did not create: give another --data, or drop that database yourself.",
        )),
    }
}

/// DB_FINAL must be empty except the migration tool's bookkeeping tables.
pub fn check_final_empty(f: &dyn Backend) -> Result<Schema> {
    if !f.database_exists()? {
        return Err(Error::input(
            Place::stage(super::PREFLIGHT),
            format!("DB_FINAL {} does not exist.", f.url()),
            "Create it with the application's migrations (or `rekey derive-final`), then run again.",
        ));
    }
    let mut s = f.connect()?;
    let schema = f.describe(s.as_mut())?;
    for t in &schema.tables {
        if is_bookkeeping(&t.name) || is_internal(&t.name) {
            continue;
        }
        let rows = s.query_u64(&format!("SELECT COUNT(*) FROM {}", f.dialect().q(&t.name)))?;
        if rows > 0 {
            return Err(Error::input(
                Place::stage(super::PREFLIGHT).table(&t.name),
                format!("DB_FINAL {} is not empty: {} holds {rows} rows.", f.url(), t.name),
                "rekey loads only into an empty schema: recreate DB_FINAL from the application's migrations (or empty its tables), then run again.",
            ));
        }
    }
    Ok(schema)
}
