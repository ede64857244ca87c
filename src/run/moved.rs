//! A move to another engine's shared facts (issue 24): where the transfer stage's copy of SOURCE
//! lives and what its journal calls it; the plan by which SOURCE's tables are copied and read
//! (each column's type, each value converted by meaning); and the check at the end of a run that
//! SOURCE still holds what the transfer copied (`changes_since`: the stages after the transfer
//! read only the copy).

use std::collections::BTreeMap;

use crate::backend::transfer::{Cell, ImportTable, Portable, PortableColumn, PortableDefault};
use crate::backend::Backend;
use crate::error::{Error, Place, Result};
use crate::journal::Artifact;
use crate::model::{Schema, Table};
use crate::run::digest::Digest;
use crate::run::marker::Companion;
use crate::run::Context;
use crate::stage::Stage;

/// The journal's name for the copy among the databases a run created.
pub const TRANSFER_DATABASE: &str = "transfer";

/// The copy of SOURCE a move makes: a database next to DB_DATA named after it, in DB_DATA's
/// schema.
pub const COPY: Companion = Companion {
    artifact: TRANSFER_DATABASE,
    suffix: "_source",
    purpose: "a move to another engine copies SOURCE into",
    called: "SOURCE's copy",
};

/// Refuses a DB_FINAL named like the copy of SOURCE a move makes (`<DB_DATA>_source` on the
/// same server): the copy would be taken for DB_FINAL, or DB_FINAL for the copy.
pub fn copy_apart(copy: &crate::url::DbUrl, final_db: &crate::url::DbUrl) -> Result<()> {
    let same_server = copy.host.eq_ignore_ascii_case(&final_db.host) && copy.port == final_db.port;
    if same_server && copy.database == final_db.database {
        return Err(Error::usage(
            format!(
                "DB_FINAL is {}, the name a move gives its copy of SOURCE (DB_DATA's name plus _source).",
                final_db.database
            ),
            "Give DB_FINAL or DB_DATA another name.",
        ));
    }
    Ok(())
}

/// The transfer's step that adds the copy's foreign keys once every table has its rows.
pub const LINKS_STEP: &str = "(foreign keys)";

/// What the copy will hold: SOURCE's tables with each column's chosen type, and what is not
/// carried over (for the reviewer: generated columns, untranslated defaults and indexes).
pub struct CopyPlan {
    pub tables: Vec<ImportTable>,
    /// Per table, SOURCE's columns as the exporter gave them (their own types), in the copy's
    /// column order.
    pub exported: BTreeMap<String, Vec<PortableColumn>>,
    pub notes: Vec<String>,
}

/// DB_FINAL's columns when the application made DB_FINAL (not `--derive-final`): they choose
/// among a SOURCE column's exact alternatives (a TINYINT(1) that DB_FINAL holds as boolean).
pub fn final_columns(ctx: &Context) -> Result<Option<Schema>> {
    let Some(fin) = &ctx.final_db else {
        return Ok(None);
    };
    if !fin.database_exists()? {
        return Ok(None);
    }
    let mut s = fin.connect()?;
    Ok(Some(fin.describe(s.as_mut())?))
}

/// Each table of SOURCE as the copy will hold it, or every reason it cannot be moved exactly.
pub fn plan_copy(
    origin: &dyn Backend,
    copy: &dyn Backend,
    schema: &Schema,
    wanted: Option<&Schema>,
) -> Result<CopyPlan> {
    let mut tables = Vec::new();
    let mut exported = BTreeMap::new();
    let mut notes = Vec::new();
    let mut refused = Vec::new();
    for table in schema
        .tables
        .iter()
        .filter(|t| !crate::model::is_internal(&t.name))
    {
        let columns = match origin.portable_columns(table) {
            Ok(c) => c,
            Err(lines) => {
                refused.extend(lines);
                continue;
            }
        };
        let keys: Vec<&str> = table
            .primary_key
            .iter()
            .chain(table.foreign_keys.iter().flat_map(|f| f.columns.iter()))
            .map(String::as_str)
            .collect();
        let final_table = wanted.and_then(|w| w.table(&table.name));
        let mut chosen = Vec::new();
        let mut final_types = BTreeMap::new();
        for mut col in columns {
            let natural = col.ty.clone();
            // DB_FINAL's column chooses among the types that store every value unchanged, and
            // the copy takes its exact spelling, so compare finds DB_DATA and DB_FINAL equal;
            // a type that would change a value is left for compare to refuse.
            if let Some(final_col) = final_table.and_then(|t| t.column(&col.name)) {
                if let Some(target) = copy.portable_of(final_col) {
                    if col.alternatives.contains(&target) || target.holds(&natural) {
                        col.ty = target;
                        final_types.insert(col.name.clone(), final_col.column_type.clone());
                    }
                }
            }
            // A key or reference keeps an integer type the target's keys convert (`bigint`):
            // an unsigned 64-bit value past its range is refused row by row while copying.
            if keys.contains(&col.name.as_str())
                && natural
                    == (Portable::Integer {
                        bits: 64,
                        unsigned: true,
                    })
            {
                col.ty = Portable::Integer {
                    bits: 64,
                    unsigned: false,
                };
            }
            // SOURCE's default is a value of SOURCE's type: converted like the rows (a BIT(1)
            // default of a boolean column is true or false, a DATETIME's a moment in UTC), or,
            // where the chosen type would change it, not carried over.
            if let Some(PortableDefault::Value(cell)) = &col.default {
                match cell.clone().convert(&natural, &col.ty) {
                    Ok(converted) => col.default = Some(PortableDefault::Value(converted)),
                    Err(why) => {
                        notes.push(format!(
                            "{}.{}: default not carried over, as the copy's type would change it: {why}",
                            table.name, col.name
                        ));
                        col.default = None;
                    }
                }
            }
            if let Some(d) = &col.untranslated_default {
                notes.push(format!(
                    "{}.{}: default {d} has no exact translation and is not carried over",
                    table.name, col.name
                ));
            }
            chosen.push((export_type(natural, &col.ty), col));
        }
        for check in table
            .checks
            .iter()
            .filter(|c| !c.expression.to_ascii_lowercase().contains("json_valid"))
        {
            notes.push(format!(
                "{}: CHECK {} ({}) is not translated",
                table.name, check.name, check.expression
            ));
        }
        for c in table.columns.iter().filter(|c| c.generated.is_some()) {
            notes.push(format!(
                "{}.{}: a generated column ({}) is not copied; DB_FINAL computes its own",
                table.name,
                c.name,
                c.generated.as_deref().unwrap_or("")
            ));
        }
        let names: Vec<&str> = chosen.iter().map(|(_, c)| c.name.as_str()).collect();
        let indexes = table
            .indexes
            .iter()
            .filter(|i| {
                let plain = i.columns.iter().all(|c| names.contains(&c.as_str()))
                    && matches!(i.kind.to_ascii_uppercase().as_str(), "BTREE" | "HASH" | "");
                if !plain {
                    notes.push(format!(
                        "{}: index {} ({} {}) is not translated",
                        table.name,
                        i.name,
                        i.kind,
                        i.columns.join(", ")
                    ));
                }
                plain && i.columns != table.primary_key
            })
            .cloned()
            .collect();
        exported.insert(
            table.name.clone(),
            chosen
                .iter()
                .map(|(ty, c)| PortableColumn {
                    ty: ty.clone(),
                    ..c.clone()
                })
                .collect(),
        );
        tables.push(ImportTable {
            name: table.name.clone(),
            columns: chosen.into_iter().map(|(_, c)| c).collect(),
            primary_key: table.primary_key.clone(),
            indexes,
            foreign_keys: table.foreign_keys.clone(),
            final_types,
        });
    }
    for (kind, names) in [
        (
            "view",
            schema
                .views
                .iter()
                .map(|v| v.name.clone())
                .collect::<Vec<_>>(),
        ),
        (
            "trigger",
            schema.triggers.iter().map(|t| t.name.clone()).collect(),
        ),
        (
            "routine",
            schema.routines.iter().map(|r| r.name.clone()).collect(),
        ),
    ] {
        for name in names {
            notes.push(format!("{kind} {name} is not translated"));
        }
    }
    if !refused.is_empty() {
        return Err(Error::input(
            Place::stage(Stage::Transfer),
            format!(
                "SOURCE has columns the move to {} cannot store exactly: {}.",
                copy.url().engine,
                refused.join("; ")
            ),
            "Change or drop those columns in a copy of SOURCE and convert that, or convert within one engine.",
        ));
    }
    Ok(CopyPlan {
        tables,
        exported,
        notes,
    })
}

/// The type SOURCE's reader gives a column whose own type is `natural` and whose copy takes
/// `chosen`: its own, converted on the way (`Cell::convert`), except bytes for text, which the
/// reader gives as they are stored (a text with a zero byte that DB_FINAL keeps as bytea), and
/// JSON for text.
fn export_type(natural: Portable, chosen: &Portable) -> Portable {
    match (&natural, chosen) {
        (Portable::Text { .. }, Portable::Bytes { .. }) => chosen.clone(),
        // Text that DB_FINAL keeps as JSON is read as JSON, so SOURCE's engine finds the text
        // that is not JSON before anything is written, naming its rows (SQLite's TEXT).
        (Portable::Text { .. }, Portable::Json) => chosen.clone(),
        _ => natural,
    }
}

/// Adds a row of cells, by meaning, to `digest`.
pub fn add_row(digest: &mut Digest, row: &[Cell], buf: &mut Vec<u8>) {
    for (i, cell) in row.iter().enumerate() {
        let start = buf.len();
        cell.canonical(buf);
        digest.column(i, start, buf);
    }
    digest.end_row(buf);
}

/// SOURCE's rows of `table` as the copy stores them (each cell converted to the copy's column
/// type, or refused), handed to `each`, with their digest by meaning and their count.
pub fn read_source(
    origin: &dyn Backend,
    table: &Table,
    plan: &ImportTable,
    exported: &[PortableColumn],
    zero_dates_null: bool,
    consequence: &str,
    each: &mut dyn FnMut(Vec<Cell>) -> Result<()>,
) -> Result<(u64, Digest)> {
    let conversions: Vec<(Portable, Portable)> = exported
        .iter()
        .zip(&plan.columns)
        .map(|(e, c)| (e.ty.clone(), c.ty.clone()))
        .collect();
    let mut digest = Digest::new(plan.columns.len());
    let mut buf = Vec::new();
    let read = origin.export_rows(table, exported, zero_dates_null, &mut |row| {
        let mut out = Vec::with_capacity(row.len());
        for (i, cell) in row.into_iter().enumerate() {
            let (from, to) = &conversions[i];
            match cell.convert(from, to) {
                Ok(c) => out.push(c),
                Err(why) => {
                    return Err(Error::input(
                        Place::stage(Stage::Transfer)
                            .table(&plan.name)
                            .column(&plan.columns[i].name),
                        format!(
                            "SOURCE's value {why}, so the copy cannot store it as DB_FINAL's column asks; {consequence}."
                        ),
                        "Fix the value in a copy of SOURCE, or give DB_FINAL's column the type SOURCE's has.",
                    ));
                }
            }
        }
        add_row(&mut digest, &out, &mut buf);
        each(out)
    })?;
    Ok((read, digest))
}

/// The copy's rows of `plan`'s table, read back through the copy's own reader, as a digest by
/// meaning.
pub fn read_copy(copy: &dyn Backend, plan: &ImportTable) -> Result<Digest> {
    let mut digest = Digest::new(plan.columns.len());
    let mut buf = Vec::new();
    copy.read_back(plan, &mut |row| {
        add_row(&mut digest, &row, &mut buf);
        Ok(())
    })?;
    Ok(digest)
}

/// What the journal keeps of a copied table (`Artifact::Transferred`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Copied {
    /// The plan's fingerprint: SOURCE read again by the same plan gives the same digest.
    plan: String,
    /// `--zero-dates null` as the transfer read SOURCE: a resumed run given other options reads
    /// it again the same way.
    #[serde(default)]
    zero_dates_null: bool,
    rows: u64,
    sum: String,
    columns: Vec<u64>,
}

impl Copied {
    pub fn of(
        plan: &ImportTable,
        exported: &[PortableColumn],
        zero_dates_null: bool,
        digest: &Digest,
    ) -> Copied {
        Copied {
            plan: fingerprint(plan, exported),
            zero_dates_null,
            rows: digest.rows,
            sum: format!("{:032x}", digest.sum),
            columns: digest.columns.clone(),
        }
    }

    fn digest(&self) -> Option<Digest> {
        Some(Digest {
            rows: self.rows,
            sum: u128::from_str_radix(&self.sum, 16).ok()?,
            columns: self.columns.clone(),
        })
    }
}

/// Everything that decides how a table's rows are read and converted, as one hash.
fn fingerprint(plan: &ImportTable, exported: &[PortableColumn]) -> String {
    let columns: Vec<(&PortableColumn, &PortableColumn)> =
        exported.iter().zip(&plan.columns).collect();
    format!(
        "{:032x}",
        xxhash_rust::xxh3::xxh3_128(format!("{columns:?}").as_bytes())
    )
}

/// SOURCE's tables that no longer hold what the transfer copied, each with what differs. The
/// stages after the transfer read only the copy, so a write to SOURCE after it (an UPDATE as
/// much as an INSERT, or anything between a killed run and its resume) would be missing from
/// DB_FINAL: SOURCE is read once more, by the plan the transfer used, and its digest by meaning
/// compared with the one the transfer journaled; where the plan is not the same (DB_FINAL was
/// derived after the transfer), with the copy itself. Empty for a run that is not a move.
pub fn changes_since(ctx: &Context) -> Result<Vec<String>> {
    let Some(origin) = &ctx.moved_from else {
        return Ok(Vec::new());
    };
    if ctx.run.dry_run {
        return Ok(Vec::new());
    }
    let copy = ctx.source()?;
    let copied: Vec<(String, u64)> = ctx
        .journal
        .steps(Stage::Transfer.name())?
        .into_iter()
        .filter(|s| s.item != LINKS_STEP)
        .map(|s| (s.item, s.rows))
        .collect();
    let journaled: BTreeMap<String, String> = ctx
        .journal
        .artifacts(Artifact::Transferred)?
        .into_iter()
        .collect();
    let mut s = origin.connect()?;
    let schema = origin.describe(s.as_mut())?;
    drop(s);
    let wanted = final_columns(ctx)?;
    let plan = plan_copy(origin.as_ref(), copy.as_ref(), &schema, wanted.as_ref())?;
    let zero_dates_null = ctx.run.zero_dates_null;
    let changed = crate::run::greedy(ctx.run.jobs, &copied, |(name, rows)| {
        let (Some(t), Some(source_table)) = (
            plan.tables.iter().find(|t| &t.name == name),
            schema.table(name),
        ) else {
            return Ok(Some(format!(
                "{name} held {rows} rows when the transfer copied it and is gone now"
            )));
        };
        let exported = plan.exported.get(name).map_or(&t.columns, |c| c);
        let copied = journaled
            .get(name)
            .and_then(|d| serde_json::from_str::<Copied>(d).ok());
        let (_, now) = read_source(
            origin.as_ref(),
            source_table,
            t,
            exported,
            copied
                .as_ref()
                .map_or(zero_dates_null, |c| c.zero_dates_null),
            "the transfer copied another value, which DB_FINAL holds",
            &mut |_| Ok(()),
        )?;
        let then = match copied
            .filter(|c| c.plan == fingerprint(t, exported))
            .and_then(|c| c.digest())
        {
            Some(d) => d,
            None => read_copy(copy.as_ref(), t)?,
        };
        if now == then {
            return Ok(None);
        }
        let columns: Vec<&str> = now
            .differing_columns(&then)
            .into_iter()
            .filter_map(|i| t.columns.get(i).map(|c| c.name.as_str()))
            .collect();
        Ok(Some(if now.rows != then.rows {
            format!(
                "{name} held {} rows when the transfer copied it and holds {} now",
                then.rows, now.rows
            )
        } else if columns.is_empty() {
            format!("{name}'s rows changed after the transfer copied it")
        } else {
            format!(
                "{name}'s values in {} changed after the transfer copied it",
                columns.join(", ")
            )
        }))
    })?;
    let mut changed: Vec<String> = changed.into_iter().flatten().collect();
    // A table made in SOURCE after the transfer: none of its rows reached DB_FINAL.
    changed.extend(
        plan.tables
            .iter()
            .filter(|t| !copied.iter().any(|(name, _)| *name == t.name))
            .map(|t| {
                format!(
                    "{} was made after the transfer, which did not copy it",
                    t.name
                )
            }),
    );
    Ok(changed)
}
