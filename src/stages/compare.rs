//! Stage 8: DB_DATA and DB_FINAL must have the same tables and columns (names, data types, lengths,
//! nullability, character sets). Constraints are not compared. One line per difference.

use super::{Context, Outcome, Stage};
use crate::error::{Error, Place, Result};
use crate::model::{is_bookkeeping, is_internal, Column, Schema};

/// Every difference, one line each, as `table.column: what in DB_DATA, what in DB_FINAL`.
pub fn differences(data: &Schema, fin: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for t in data.tables.iter().filter(|t| !is_internal(&t.name)) {
        let Some(f) = fin.table(&t.name) else {
            if !is_bookkeeping(&t.name) {
                out.push(format!("{}: table in DB_DATA, missing in DB_FINAL", t.name));
            }
            continue;
        };
        if super::bookkeeping::kept(&t.name, fin, None) {
            continue; // the new schema's own history: never loaded, so never compared
        }
        for c in &t.columns {
            match f.column(&c.name) {
                None => out.push(format!(
                    "{}.{}: column in DB_DATA, missing in DB_FINAL",
                    t.name, c.name
                )),
                Some(fc) => column_differences(&t.name, c, fc, &mut out),
            }
        }
        for fc in &f.columns {
            if t.column(&fc.name).is_none() {
                out.push(format!(
                    "{}.{}: column missing in DB_DATA, in DB_FINAL",
                    t.name, fc.name
                ));
            }
        }
    }
    for f in fin
        .tables
        .iter()
        .filter(|t| !is_internal(&t.name) && !super::bookkeeping::kept(&t.name, fin, None))
    {
        if data.table(&f.name).is_none() {
            out.push(format!("{}: table missing in DB_DATA, in DB_FINAL", f.name));
        }
    }
    out
}

fn column_differences(table: &str, d: &Column, f: &Column, out: &mut Vec<String>) {
    let at = format!("{table}.{}", d.name);
    if !d.data_type.eq_ignore_ascii_case(&f.data_type) {
        out.push(format!(
            "{at}: data type {} in DB_DATA, {} in DB_FINAL",
            d.data_type, f.data_type
        ));
    } else if d.max_length != f.max_length {
        out.push(format!(
            "{at}: length {} in DB_DATA, {} in DB_FINAL",
            show(d.max_length),
            show(f.max_length)
        ));
    } else if !d.column_type.eq_ignore_ascii_case(&f.column_type) {
        out.push(format!(
            "{at}: type {} in DB_DATA, {} in DB_FINAL",
            d.column_type, f.column_type
        ));
    }
    if d.nullable != f.nullable {
        let n = |b: bool| if b { "NULL" } else { "NOT NULL" };
        out.push(format!(
            "{at}: {} in DB_DATA, {} in DB_FINAL",
            n(d.nullable),
            n(f.nullable)
        ));
    }
    if d.charset != f.charset {
        out.push(format!(
            "{at}: character set {} in DB_DATA, {} in DB_FINAL",
            d.charset.as_deref().unwrap_or("none"),
            f.charset.as_deref().unwrap_or("none")
        ));
    }
}

fn show(v: Option<u64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_else(|| "none".into())
}

pub fn run(ctx: &Context) -> Result<Outcome> {
    let fin = ctx.final_db()?;
    let data_schema = super::data_shape::data_or_predicted(ctx)?;
    let final_schema = match super::data_shape::predicted_final(ctx)? {
        Some(predicted) => {
            ctx.say(
                "    -- DB_FINAL does not exist yet: compared with the shape derive-final gives it",
            );
            predicted
        }
        None => {
            let mut fs = fin.connect()?;
            fin.describe(fs.as_mut())?
        }
    };
    let diffs = differences(&data_schema, &final_schema);
    if diffs.is_empty() {
        let n = data_schema
            .tables
            .iter()
            .filter(|t| !is_internal(&t.name))
            .count();
        return Ok(Outcome {
            rows: 0,
            detail: Some(format!("{} match", crate::report::count(n as u64, "table"))),
        });
    }
    for line in &diffs {
        ctx.say(line);
    }
    ctx.journal
        .add_artifact("compare-differences", "all", &diffs.join("\n"))?;
    Err(Error::mismatch(
        Place::stage(Stage::Compare),
        format!(
            "DB_DATA and DB_FINAL differ in {} places (listed above); nothing was loaded. Change the application's schema (or the conversion options) so they match, then run again with --resume.",
            diffs.len()
        ),
    ))
}
