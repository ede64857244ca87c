//! What SOURCE holds that its columns' portable types cannot take: counted in one scan per
//! table (one `SUM` per column and problem), then up to five keys for each problem found.

use rusqlite::Connection;

use super::{key_columns, key_text, place, show, SqliteBackend};
use crate::backend::transfer::{BlockerKind, ExportBlocker, Portable, PortableColumn};
use crate::error::Result;
use crate::model::Table;

const CHECKS_SQL: &str = include_str!("blockers.sql");

/// How many rows each blocker names.
const KEYS: usize = 5;

/// Sums in one SELECT, well under SQLite's default limit of 2000 result columns.
const SUMS_PER_SCAN: usize = 1000;

/// One section of `blockers.sql`: the lines after `-- @name` up to the next section, comments
/// dropped, `{datetime_shape}` put in.
fn fragment(name: &str) -> String {
    let mut out = Vec::new();
    let mut inside = false;
    for line in CHECKS_SQL.lines() {
        let trimmed = line.trim();
        if let Some(section) = trimmed.strip_prefix("-- @") {
            inside = section == name;
            continue;
        }
        if inside && !trimmed.is_empty() && !trimmed.starts_with("--") {
            out.push(trimmed);
        }
    }
    let text = out.join(" ");
    if text.contains("{datetime_shape}") {
        text.replace("{datetime_shape}", &fragment("datetime_shape"))
    } else {
        text
    }
}

/// The condition under which a non-NULL value of `column` (quoted) converts to `ty`.
pub(super) fn ok_condition(ty: &Portable, column: &str) -> String {
    let (name, n, k, s) = match ty {
        Portable::Integer { .. } => ("integer", 0, 0, 0),
        Portable::Boolean => ("boolean", 0, 0, 0),
        Portable::Float { .. } => ("float", 0, 0, 0),
        Portable::Decimal {
            precision: Some(p),
            scale: Some(s),
        } => ("decimal_bounded", 0, p.saturating_sub(*s), *s),
        Portable::Decimal { .. } => ("decimal", 0, 0, 0),
        Portable::Text {
            length: Some(n), ..
        } => ("text_bounded", *n, 0, 0),
        Portable::Text { .. } => ("text", 0, 0, 0),
        Portable::Bytes {
            length: Some(n), ..
        } => ("bytes_bounded", *n, 0, 0),
        Portable::Bytes { .. } => ("bytes", 0, 0, 0),
        Portable::Date => ("date", 0, 0, 0),
        Portable::DateTime { .. } | Portable::Timestamp { .. } => ("datetime", 0, 0, 0),
        Portable::Duration { .. } => ("time", 0, 0, 0),
        Portable::Json => ("json", 0, 0, 0),
        Portable::Uuid => ("uuid", 0, 0, 0),
        // Types SQLite never names (YEAR, BIT, ENUM, SET): no value is one.
        _ => return "0".into(),
    };
    fill(&fragment(name), column, n, k, s)
}

fn fill(template: &str, column: &str, n: u64, k: u32, s: u32) -> String {
    template
        .replace("{n}", &n.to_string())
        .replace("{k}", &k.to_string())
        .replace("{s}", &s.to_string())
        .replace("{c}", column)
}

/// The zero-date condition of a date column, `None` for other types.
fn zero_condition(ty: &Portable, column: &str) -> Option<String> {
    let name = match ty {
        Portable::Date => "date_zero",
        Portable::DateTime { .. } | Portable::Timestamp { .. } => "datetime_zero",
        _ => return None,
    };
    Some(fill(&fragment(name), column, 0, 0, 0))
}

/// Each (column, problem) to count, as a condition on a row.
pub(super) fn checks(columns: &[PortableColumn]) -> Vec<(String, BlockerKind, String)> {
    let mut out = Vec::new();
    for column in columns {
        let c = super::q(&column.name);
        if matches!(column.ty, Portable::Text { .. } | Portable::Json) {
            out.push((
                column.name.clone(),
                BlockerKind::ZeroByte,
                fill(&fragment("zero_byte"), &c, 0, 0, 0),
            ));
        }
        let ok = ok_condition(&column.ty, &c);
        let wrong = match zero_condition(&column.ty, &c) {
            Some(zero) => {
                out.push((column.name.clone(), BlockerKind::ZeroDate, zero.clone()));
                format!("{c} IS NOT NULL AND NOT coalesce(({ok}), 0) AND NOT coalesce(({zero}), 0)")
            }
            None => format!("{c} IS NOT NULL AND NOT coalesce(({ok}), 0)"),
        };
        out.push((column.name.clone(), BlockerKind::WrongType, wrong));
    }
    out
}

pub(super) fn export_blockers(
    backend: &SqliteBackend,
    table: &Table,
    columns: &[PortableColumn],
) -> Result<Vec<ExportBlocker>> {
    let checks = checks(columns);
    if checks.is_empty() {
        return Ok(Vec::new());
    }
    let conn = backend.open_read_only(&table.name)?;
    let from = format!("main.{}", super::q(&table.name));
    let mut counts: Vec<i64> = Vec::with_capacity(checks.len());
    // One scan for the table, unless it has so many columns that the sums would pass SQLite's
    // limit of result columns (2000 by default).
    for part in checks.chunks(SUMS_PER_SCAN) {
        let sums: Vec<String> = part
            .iter()
            .map(|(_, _, cond)| format!("coalesce(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0)"))
            .collect();
        let sql = format!("SELECT {} FROM {from}", sums.join(",\n  "));
        let got: Vec<i64> = conn
            .query_row(&sql, [], |row| {
                (0..part.len()).map(|i| row.get(i)).collect()
            })
            .map_err(|e| super::super::sql_error(e, &sql).at(&place(&table.name)))?;
        counts.extend(got);
    }
    let mut out = Vec::new();
    for ((column, problem, cond), rows) in checks.into_iter().zip(counts) {
        if rows <= 0 {
            continue;
        }
        out.push(ExportBlocker {
            table: table.name.clone(),
            keys: first_keys(&conn, table, &from, &cond)?,
            column,
            problem,
            rows: rows as u64,
        });
    }
    Ok(out)
}

/// The keys of the first rows that meet `cond`, in the table's order.
fn first_keys(conn: &Connection, table: &Table, from: &str, cond: &str) -> Result<Vec<String>> {
    let (key, by_rowid) = key_columns(table);
    if key.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {} FROM {from} WHERE {cond} LIMIT {KEYS}",
        key.join(", ")
    );
    let error = |e| super::super::sql_error(e, &sql).at(&place(&table.name));
    let mut stmt = conn.prepare(&sql).map_err(error)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(error)? {
        let values: Vec<String> = (0..key.len())
            .map(|i| row.get_ref(i).map(show).unwrap_or_default())
            .collect();
        out.push(key_text(&values, by_rowid));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::rows::{to_cell, Problem};
    use super::*;
    use rusqlite::types::ValueRef;

    fn col(name: &str, ty: Portable) -> PortableColumn {
        PortableColumn::new(name, ty)
    }

    /// The SQL conditions and the reader agree on every spelling: each value is counted by
    /// exactly the blockers that match the reader's verdict.
    #[test]
    fn sql_checks_agree_with_the_reader() {
        let conn = Connection::open_in_memory().unwrap();
        let types = [
            (
                "i",
                "INTEGER",
                Portable::Integer {
                    bits: 64,
                    unsigned: false,
                },
            ),
            ("b", "BOOLEAN", Portable::Boolean),
            ("f", "DOUBLE", Portable::Float { bits: 64 }),
            (
                "d",
                "DECIMAL(5,2)",
                Portable::Decimal {
                    precision: Some(5),
                    scale: Some(2),
                },
            ),
            (
                "n",
                "NUMERIC",
                Portable::Decimal {
                    precision: None,
                    scale: None,
                },
            ),
            (
                "t",
                "VARCHAR(4)",
                Portable::Text {
                    length: Some(4),
                    fixed: false,
                },
            ),
            (
                "y",
                "BLOB",
                Portable::Bytes {
                    length: Some(2),
                    fixed: false,
                },
            ),
            ("da", "DATE", Portable::Date),
            ("dt", "DATETIME", Portable::DateTime { fraction: 6 }),
            ("tm", "TIME", Portable::Duration { fraction: 6 }),
            ("j", "JSON", Portable::Json),
            ("u", "UUID", Portable::Uuid),
        ];
        let values = [
            "0",
            "1",
            "2",
            "-1",
            "1.5",
            "123.45",
            "123.456",
            "999.99",
            "1000",
            "1e400",
            "-0.0",
            "0.1 + 0.2",
            "9007199254740993",
            "'abc'",
            "'abcde'",
            "'a' || char(0)",
            "X'00'",
            "X'000102'",
            "'2020-02-29'",
            "'2021-02-29'",
            "'2021-00-10'",
            "'0000-00-00 00:00:00'",
            "'2020-01-01 10:00'",
            "'2020-01-01T10:00:00.123456'",
            "'2020-01-01 10:00:00.1234567'",
            "'2020-01-01 24:00:00'",
            "'2020-01-01 10:00:00Z'",
            "'2020-01-01' || char(0)",
            "'23:59:59.5'",
            "'24:00'",
            "'12:00'",
            "'{\"a\": [1]}'",
            "'{a:1}'",
            "'0123456789abcdef0123456789ABCDEF'",
            "'01234567-89ab-cdef-0123-456789abcdef'",
            "'0123456789abcdef0123456789abcdeg'",
            "X'000102030405060708090A0B0C0D0E0F'",
            "'1970-01-01'",
            "''",
        ];
        let defs: Vec<String> = types.iter().map(|(n, t, _)| format!("{n} {t}")).collect();
        conn.execute_batch(&format!(
            "CREATE TABLE v (id INTEGER PRIMARY KEY, {})",
            defs.join(", ")
        ))
        .unwrap();
        for v in values {
            let names: Vec<&str> = types.iter().map(|t| t.0).collect();
            let vals = vec![v; types.len()].join(", ");
            conn.execute_batch(&format!(
                "INSERT INTO v ({}) VALUES ({vals})",
                names.join(", ")
            ))
            .unwrap();
        }
        for (name, _, ty) in &types {
            let column = col(name, ty.clone());
            let sql = format!("SELECT {name}, json_valid({name}) FROM v ORDER BY id");
            let mut stmt = conn.prepare(&sql).unwrap();
            let mut rows = stmt.query([]).unwrap();
            let mut reader = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                let v = row.get_ref(0).unwrap();
                let json_ok = matches!(row.get_ref(1), Ok(ValueRef::Integer(1)));
                reader.push(match to_cell(ty, v, json_ok) {
                    Ok(_) => None,
                    Err(Problem::ZeroByte) => Some(BlockerKind::ZeroByte),
                    Err(Problem::ZeroDate) => Some(BlockerKind::ZeroDate),
                    Err(_) => Some(BlockerKind::WrongType),
                });
            }
            for (_, kind, cond) in checks(&[column]) {
                let flagged: Vec<bool> = conn
                    .prepare(&format!("SELECT coalesce(({cond}), 0) FROM v ORDER BY id"))
                    .unwrap()
                    .query_map([], |r| r.get::<_, bool>(0))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                for (i, flag) in flagged.iter().enumerate() {
                    // A value with a zero byte may also be of the wrong type: the reader names
                    // the first problem it meets, the blockers count both.
                    let by_reader = reader[i].as_ref() == Some(&kind);
                    let both =
                        kind == BlockerKind::WrongType && reader[i] == Some(BlockerKind::ZeroByte);
                    assert!(
                        *flag == by_reader || (both && *flag),
                        "{name} {kind:?} on {}: sql {flag}, reader {:?}",
                        values[i],
                        reader[i]
                    );
                }
            }
        }
    }
}
