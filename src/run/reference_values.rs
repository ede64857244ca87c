//! A reference column that is not an integer column (a `--reference` on a text column) must hold
//! integers: a value like `'3abc'` would pass the orphan check (the engine casts it to 3) and
//! then stop swap's fill with a conversion error, after DB_DATA is built.

use super::Context;
use crate::backend::Finding;
use crate::error::Result;

/// One failed finding per reference column holding values that do not spell an integer.
pub fn check(ctx: &Context) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    let Some((source, shared)) = super::source::existing_source(ctx)? else {
        return Ok(out);
    };
    let (schema, plan) = &*shared;
    let d = source.dialect();
    let mut s = source.connect()?;
    for r in plan.references.iter().filter(|r| !r.is_primary_key) {
        let Some(col) = schema.table(&r.table).and_then(|t| t.column(&r.column)) else {
            continue;
        };
        if col.is_integer() {
            continue;
        }
        let Some(bad) = d.not_an_integer_sql(&d.q(&r.column)) else {
            continue;
        };
        let from = format!(
            "FROM {} WHERE {} IS NOT NULL AND {bad}",
            d.q(&r.table),
            d.q(&r.column)
        );
        let rows = s.query_u64(&format!("SELECT COUNT(*) {from}"))?;
        if rows == 0 {
            continue;
        }
        let samples: Vec<String> = s
            .query_all(&format!(
                "SELECT DISTINCT {} {from} ORDER BY 1 LIMIT 3",
                d.q(&r.column)
            ))?
            .iter()
            .filter_map(|row| row.first().and_then(|v| v.as_string()))
            .map(|v| format!("'{v}'"))
            .collect();
        out.push(Finding::fail(
            "reference values",
            format!(
                "{}.{} ({}, a reference to {}.{}): {rows} rows hold a value that is not an integer key, e.g. {}",
                r.table,
                r.column,
                col.column_type,
                r.ref_table,
                r.ref_column,
                samples.join(", ")
            ),
            format!(
                "store only integer keys of {} (or NULL) in {}.{} in the snapshot, or drop that --reference",
                r.ref_table, r.table, r.column
            ),
        ));
    }
    Ok(out)
}
