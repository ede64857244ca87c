//! What SOURCE holds that a move to another engine cannot store exactly, counted in one scan per
//! table: text with a zero byte, text that is no character of its character set, zero dates (and
//! days past their month's end), ENUM's error value (the '' a non-strict server stores for a
//! value not in the list); then the first keys of each problem's rows.

use mysql::prelude::Queryable;

use super::super::{sql_error, DIALECT};
use super::{fill, MysqlBackend};
use crate::backend::transfer::{BlockerKind, ExportBlocker, Portable, PortableColumn};
use crate::backend::Dialect;
use crate::error::{Place, Result};
use crate::model::Table;
use crate::stage::Stage;

const COUNT_SQL: &str = include_str!("blockers_count.sql");
const KEYS_SQL: &str = include_str!("blockers_keys.sql");

/// The rows named per problem.
const KEYS_SHOWN: usize = 5;

/// One thing to count: a column, its problem, and the condition that finds it in a row.
#[derive(Debug, PartialEq)]
pub(super) struct Probe {
    column: String,
    problem: BlockerKind,
    condition: String,
}

/// Character sets in which a zero byte is part of other characters (UTF-16/32, UCS-2): their
/// text is looked at as utf8mb4, where a zero byte is only the character NUL.
fn wide(charset: Option<&str>) -> bool {
    charset.is_some_and(|c| {
        let c = c.to_ascii_lowercase();
        c.starts_with("utf16") || c.starts_with("utf32") || c.starts_with("ucs2")
    })
}

/// The rows whose text in `charset` the server cannot send as the characters it holds: it
/// converts a byte sequence that is no character of the set (kept by a non-strict server, or
/// unassigned there) to '?' or U+FFFD, valid UTF-8 that would move changed. `None` where every
/// stored value converts exactly, for speed: utf8mb4 goes out as stored (bytes that are not UTF-8
/// are refused while reading), the server keeps no byte that is not UTF-8 in utf8mb3 (it refuses
/// or replaces them on every write, strict or not), latin1 gives every byte a character.
fn unconvertible(q: &str, charset: Option<&str>) -> Option<String> {
    let charset = charset?.to_ascii_lowercase();
    match charset.as_str() {
        "utf8mb4" | "utf8mb3" | "utf8" | "latin1" | "binary" => None,
        // A '?' byte is part of other characters here: the value must come back from a
        // conversion through Unicode as it is. Through utf16 too: it has no character for the
        // surrogates ucs2 and utf32 keep, which utf8mb4 would carry as bytes that are not UTF-8.
        "ucs2" | "utf16" | "utf16le" | "utf32" => Some(format!(
            "CONVERT(CONVERT(CONVERT(CONVERT({q} USING utf16) USING utf8mb4) USING {charset}) USING binary) <> CONVERT({q} USING binary)"
        )),
        // Every other set is ASCII's superset, where a '?' byte is only the character '?' (in
        // MariaDB 10.11's sets, each byte and pair of bytes tried). A conversion back is no
        // test: several codes may stand for one character (sjis's backslash comes back as
        // 0x815F, cp932's NEC and IBM duplicates, armscii8's punctuation), each moving as that
        // character. What is lost shows as one more '?' than the stored bytes hold, or as
        // U+FFFD, no character of these sets.
        _ => {
            let sent = format!("CONVERT(CONVERT({q} USING utf8mb4) USING binary)");
            let stored = format!("CONVERT({q} USING binary)");
            let marks = |v: &str| format!("LENGTH({v}) - LENGTH(REPLACE({v}, x'3F', ''))");
            Some(format!(
                "(LOCATE(x'EFBFBD', {sent}) > 0 OR {} > {})",
                marks(&sent),
                marks(&stored)
            ))
        }
    }
}

/// The conditions to count for `columns` of `table`.
pub(super) fn probes(table: &Table, columns: &[PortableColumn]) -> Vec<Probe> {
    let mut out = Vec::new();
    for c in columns {
        let q = DIALECT.q(&c.name);
        let charset = table.column(&c.name).and_then(|col| col.charset.as_deref());
        match &c.ty {
            Portable::Text { .. }
            | Portable::Enum { .. }
            | Portable::Set { .. }
            | Portable::Json => {
                // Bytes, not characters: under a collation that ignores NUL (UCA's), a
                // character comparison would find it everywhere.
                let text = if wide(charset) {
                    format!("CONVERT({q} USING utf8mb4)")
                } else {
                    q.clone()
                };
                out.push(Probe {
                    column: c.name.clone(),
                    problem: BlockerKind::ZeroByte,
                    condition: format!("LOCATE(x'00', CONVERT({text} USING binary)) > 0"),
                });
                // ENUM's and SET's members were converted when the table was made.
                if let (Portable::Text { .. } | Portable::Json, Some(condition)) =
                    (&c.ty, unconvertible(&q, charset))
                {
                    out.push(Probe {
                        column: c.name.clone(),
                        problem: BlockerKind::Unconvertible,
                        condition,
                    });
                }
            }
            Portable::Date | Portable::DateTime { .. } | Portable::Timestamp { .. } => {
                out.push(Probe {
                    column: c.name.clone(),
                    problem: BlockerKind::ZeroDate,
                    // A day past its month's end is stored under ALLOW_INVALID_DATES; LAST_DAY
                    // reads it (date arithmetic gives NULL for it, and for year 0 too).
                    condition: format!(
                        "(MONTH({q}) = 0 OR DAYOFMONTH({q}) = 0 OR DAYOFMONTH({q}) > DAYOFMONTH(LAST_DAY({q})))"
                    ),
                });
            }
            _ => {}
        }
        if matches!(c.ty, Portable::Enum { .. }) {
            // Index 0 is the error value: it reads as '' but is no member of the list.
            out.push(Probe {
                column: c.name.clone(),
                problem: BlockerKind::WrongType,
                condition: format!("{q} + 0 = 0"),
            });
        }
    }
    out
}

pub(super) fn export_blockers(
    backend: &MysqlBackend,
    table: &Table,
    columns: &[PortableColumn],
) -> Result<Vec<ExportBlocker>> {
    let place = Place::stage(Stage::Transfer).table(&table.name);
    let probes = probes(table, columns);
    if probes.is_empty() {
        return Ok(Vec::new());
    }
    let quoted_table = DIALECT.q(&table.name);
    let sums: Vec<String> = probes
        .iter()
        .map(|p| format!("SUM({})", p.condition))
        .collect();
    let sql = fill(
        COUNT_SQL,
        &[("sums", &sums.join(", ")), ("table", &quoted_table)],
    );
    let mut conn = backend.export_pooled().map_err(|e| e.at(&place))?;
    let row: Option<mysql::Row> = conn
        .query_first(&sql)
        .map_err(|e| sql_error(e, &sql).at(&place))?;
    let counts: Vec<u64> = match row {
        Some(row) => row.unwrap().into_iter().map(count).collect(),
        None => Vec::new(),
    };
    let key_list = table
        .primary_key
        .iter()
        .map(|k| DIALECT.q(k))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = Vec::new();
    for (probe, rows) in probes.into_iter().zip(counts) {
        if rows == 0 {
            continue;
        }
        // A table without a primary key has no key to name its rows by.
        let keys = if table.primary_key.is_empty() {
            Vec::new()
        } else {
            let sql = fill(
                KEYS_SQL,
                &[
                    ("key", &key_list),
                    ("table", &quoted_table),
                    ("condition", &probe.condition),
                    ("limit", &KEYS_SHOWN.to_string()),
                ],
            );
            let found: Vec<mysql::Row> = conn
                .query(&sql)
                .map_err(|e| sql_error(e, &sql).at(&place))?;
            found
                .into_iter()
                .map(|r| {
                    r.unwrap()
                        .into_iter()
                        .map(key_text)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .collect()
        };
        out.push(ExportBlocker {
            table: table.name.clone(),
            column: probe.column,
            problem: probe.problem,
            rows,
            keys,
        });
    }
    Ok(out)
}

/// A SUM's value: NULL over no rows, a DECIMAL's text otherwise.
fn count(v: mysql::Value) -> u64 {
    match v {
        mysql::Value::Int(i) => i.max(0) as u64,
        mysql::Value::UInt(u) => u,
        mysql::Value::Bytes(b) => std::str::from_utf8(&b)
            .ok()
            .and_then(|t| t.split('.').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

/// A key value as text (the text protocol gives every value as its text, here in UTF-8).
fn key_text(v: mysql::Value) -> String {
    match v {
        mysql::Value::NULL => "NULL".into(),
        mysql::Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
        other => other.as_sql(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Column;

    fn portable(name: &str, ty: Portable) -> PortableColumn {
        PortableColumn::new(name, ty)
    }

    #[test]
    fn each_text_and_date_column_is_probed_once_per_problem_its_charset_can_have() {
        let table = Table {
            name: "t".into(),
            columns: ["w:utf16", "a:ascii", "l:latin1", "u:utf8mb3"]
                .map(|c| {
                    let (name, charset) = c.split_once(':').unwrap();
                    Column {
                        name: name.into(),
                        charset: Some(charset.into()),
                        ..Column::default()
                    }
                })
                .to_vec(),
            ..Table::default()
        };
        let text = Portable::Text {
            length: None,
            fixed: false,
        };
        let columns = vec![
            portable(
                "id",
                Portable::Integer {
                    bits: 32,
                    unsigned: false,
                },
            ),
            portable("s", text.clone()),
            portable("w", text.clone()),
            portable("a", text.clone()),
            portable("l", text.clone()),
            portable("u", text),
            portable("d", Portable::DateTime { fraction: 0 }),
            portable(
                "e",
                Portable::Enum {
                    values: vec!["a".into()],
                },
            ),
        ];
        let found = probes(&table, &columns);
        let described: Vec<(&str, &BlockerKind, &str)> = found
            .iter()
            .map(|p| (p.column.as_str(), &p.problem, p.condition.as_str()))
            .collect();
        assert_eq!(
            described,
            vec![
                (
                    "s",
                    &BlockerKind::ZeroByte,
                    "LOCATE(x'00', CONVERT(`s` USING binary)) > 0"
                ),
                (
                    "w",
                    &BlockerKind::ZeroByte,
                    "LOCATE(x'00', CONVERT(CONVERT(`w` USING utf8mb4) USING binary)) > 0"
                ),
                (
                    "w",
                    &BlockerKind::Unconvertible,
                    "CONVERT(CONVERT(CONVERT(CONVERT(`w` USING utf16) USING utf8mb4) USING utf16) USING binary) <> CONVERT(`w` USING binary)"
                ),
                (
                    "a",
                    &BlockerKind::ZeroByte,
                    "LOCATE(x'00', CONVERT(`a` USING binary)) > 0"
                ),
                (
                    "a",
                    &BlockerKind::Unconvertible,
                    "(LOCATE(x'EFBFBD', CONVERT(CONVERT(`a` USING utf8mb4) USING binary)) > 0 OR LENGTH(CONVERT(CONVERT(`a` USING utf8mb4) USING binary)) - LENGTH(REPLACE(CONVERT(CONVERT(`a` USING utf8mb4) USING binary), x'3F', '')) > LENGTH(CONVERT(`a` USING binary)) - LENGTH(REPLACE(CONVERT(`a` USING binary), x'3F', '')))"
                ),
                (
                    "l",
                    &BlockerKind::ZeroByte,
                    "LOCATE(x'00', CONVERT(`l` USING binary)) > 0"
                ),
                (
                    "u",
                    &BlockerKind::ZeroByte,
                    "LOCATE(x'00', CONVERT(`u` USING binary)) > 0"
                ),
                (
                    "d",
                    &BlockerKind::ZeroDate,
                    "(MONTH(`d`) = 0 OR DAYOFMONTH(`d`) = 0 OR DAYOFMONTH(`d`) > DAYOFMONTH(LAST_DAY(`d`)))"
                ),
                (
                    "e",
                    &BlockerKind::ZeroByte,
                    "LOCATE(x'00', CONVERT(`e` USING binary)) > 0"
                ),
                ("e", &BlockerKind::WrongType, "`e` + 0 = 0"),
            ]
        );
    }

    #[test]
    fn sums_read_as_counts() {
        assert_eq!(count(mysql::Value::NULL), 0);
        assert_eq!(count(mysql::Value::Bytes(b"2".to_vec())), 2);
        assert_eq!(count(mysql::Value::Bytes(b"7.0".to_vec())), 7);
        assert_eq!(count(mysql::Value::Int(3)), 3);
    }
}
