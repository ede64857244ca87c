//! A SQLite column in portable terms: the type its declared type promises, its default where it
//! has an exact translation, and whether SQLite numbers its rows for it (identity).
//!
//! The declared type is read by name first, where the name says more than SQLite's affinity
//! (DATE, BOOLEAN, DECIMAL(p,s), JSON, UUID), then by SQLite's own affinity rules (datatype3.html
//! section 3.1: INT, then CHAR/CLOB/TEXT, then BLOB or nothing, then REAL/FLOA/DOUB, else
//! NUMERIC), so that every declared type has exactly one portable type.

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::rows::to_cell;
use super::{parse, q, SqliteBackend};
use crate::backend::transfer::{Portable, PortableColumn, PortableDefault};
use crate::model::{Column, Table};

/// The portable type of a declared type, or `None` for a column without one (and ANY in a STRICT
/// table), whose type comes from its values (`untyped`).
pub(super) fn portable_type(declared: &str) -> Option<Portable> {
    let (base, args) = match declared.find('(') {
        Some(p) => (&declared[..p], &declared[p + 1..]),
        None => (declared, ""),
    };
    let base = base
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    let nums: Vec<u64> = args
        .trim_end()
        .trim_end_matches(')')
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    let length = nums.first().copied();
    let first_word = base.split(' ').next().unwrap_or_default();
    let ty = match first_word {
        "" => return None,
        "BOOLEAN" | "BOOL" => Portable::Boolean,
        "DATE" => Portable::Date,
        // SQLite's own date functions write 'YYYY-MM-DD HH:MM:SS' (and '.SSS'); six digits hold
        // every fraction the accepted spellings can carry (rows::datetime_micros).
        "DATETIME" | "TIMESTAMP" => Portable::DateTime { fraction: 6 },
        // SQLite's time() values are times of day; a span of up to 24 hours holds each exactly.
        "TIME" => Portable::Duration { fraction: 6 },
        "JSON" | "JSONB" => Portable::Json,
        "UUID" | "GUID" | "UNIQUEIDENTIFIER" => Portable::Uuid,
        // DECIMAL(p) is DECIMAL(p, 0) as in SQL; bare DECIMAL/NUMERIC promise no bound (NUMERIC
        // affinity keeps any integer or real).
        "DECIMAL" | "NUMERIC" | "DEC" => Portable::Decimal {
            precision: nums.first().map(|&p| p as u32),
            scale: nums
                .first()
                .map(|_| nums.get(1).copied().unwrap_or(0) as u32),
        },
        // BINARY(n) has NUMERIC affinity by SQLite's rules, but blobs are never converted: the
        // name says bytes, and a number stored there is refused as WrongType.
        "BINARY" | "VARBINARY" => Portable::Bytes {
            length,
            fixed: false,
        },
        _ => affinity_type(&base, length),
    };
    Some(ty)
}

/// SQLite's affinity rules, in their order.
fn affinity_type(base: &str, length: Option<u64>) -> Portable {
    if base.contains("INT") {
        // Whatever the declared width (TINYINT, SMALLINT, INT...), SQLite stores any 64-bit
        // integer in the column and enforces nothing: only 64 bits hold every value it may hold.
        Portable::Integer {
            bits: 64,
            unsigned: false,
        }
    } else if ["CHAR", "CLOB", "TEXT"].iter().any(|w| base.contains(w)) {
        // SQLite neither pads CHAR(n) nor enforces n: values come back as stored, so CHAR(n) is
        // not `fixed` (a padded target type would add spaces); values longer than n are refused.
        Portable::Text {
            length,
            fixed: false,
        }
    } else if base.contains("BLOB") {
        Portable::Bytes {
            length,
            fixed: false,
        }
    } else if ["REAL", "FLOA", "DOUB"].iter().any(|w| base.contains(w)) {
        // SQLite stores every REAL as an 8-byte IEEE double, whatever FLOAT(n) says.
        Portable::Float { bits: 64 }
    } else {
        // NUMERIC affinity: integers and reals, exactly as decimals without a bound.
        Portable::Decimal {
            precision: None,
            scale: None,
        }
    }
}

/// What the values of a column without a declared type are, by storage class: all text (or
/// NULL) is Text, all integers Integer, integers and reals Float (an integer past 2^53 refused by
/// the blockers); anything else, and an empty column, Bytes (text taken as its bytes).
fn untyped(text: u64, integer: u64, real: u64, blob: u64) -> Portable {
    match (text, integer, real, blob) {
        (t, 0, 0, 0) if t > 0 => Portable::Text {
            length: None,
            fixed: false,
        },
        (0, i, 0, 0) if i > 0 => Portable::Integer {
            bits: 64,
            unsigned: false,
        },
        (0, _, r, 0) if r > 0 => Portable::Float { bits: 64 },
        _ => Portable::Bytes {
            length: None,
            fixed: false,
        },
    }
}

/// Other types DB_FINAL may give the same values (the stage converts cell by cell and refuses
/// a value the choice would change): integers as booleans, text and 16-byte blobs as UUIDs
/// (rekey's own CHAR(32)/CHAR(36)/BLOB keys), unbounded text as JSON (SQLite has no JSON type of
/// its own), a DATETIME as a timestamp in UTC (SQLite's CURRENT_TIMESTAMP is UTC).
fn alternatives(ty: &Portable) -> Vec<Portable> {
    match ty {
        Portable::Integer { .. } => vec![Portable::Boolean],
        Portable::Text { length: None, .. } => vec![Portable::Uuid, Portable::Json],
        Portable::Text {
            length: Some(32 | 36),
            ..
        } => vec![Portable::Uuid],
        Portable::Bytes {
            length: None | Some(16),
            ..
        } => vec![Portable::Uuid],
        Portable::DateTime { fraction } => vec![Portable::Timestamp {
            fraction: *fraction,
        }],
        _ => Vec::new(),
    }
}

/// Whether SQLite assigns the column's values when an INSERT leaves them out: AUTOINCREMENT,
/// and also a plain INTEGER PRIMARY KEY (the rowid alias), which applications use the same way
/// (SQLite gives max + 1); an identity never reuses a value, which either one accepts.
fn is_identity(table: &Table, column: &Column) -> bool {
    if column.auto_increment {
        return true;
    }
    if table.primary_key.len() != 1 || table.primary_key[0] != column.name {
        return false;
    }
    if !column.column_type.eq_ignore_ascii_case("integer") {
        return false;
    }
    let Some(def) = table
        .create_sql
        .as_deref()
        .and_then(parse::parse_create_table)
    else {
        return false;
    };
    if def.without_rowid() {
        return false;
    }
    // SQLite's documented quirk: a column-level `PRIMARY KEY DESC` is not the rowid alias.
    let desc = def.column(&column.name).is_some_and(|c| {
        c.clauses.iter().any(|cl| {
            cl.kind == parse::ClauseKind::PrimaryKey
                && cl
                    .text
                    .split(|ch: char| !ch.is_ascii_alphanumeric())
                    .any(|w| w.eq_ignore_ascii_case("DESC"))
        })
    });
    !desc
}

/// The default as SQL text, without the parentheses SQLite keeps around expressions.
fn bare(expr: &str) -> &str {
    let mut e = expr.trim();
    while e.starts_with('(') && e.ends_with(')') {
        e = e[1..e.len() - 1].trim();
    }
    e
}

/// A literal SQLite stores as written (after the column's affinity): NULL, TRUE/FALSE, a signed
/// number, a string or a blob. Anything else is an expression evaluated per row.
fn is_literal(e: &str) -> bool {
    let upper = e.to_ascii_uppercase();
    if matches!(upper.as_str(), "NULL" | "TRUE" | "FALSE") {
        return true;
    }
    let quoted = |s: &str| {
        s.len() >= 2
            && s.starts_with('\'')
            && s.ends_with('\'')
            && !s[1..s.len() - 1].replace("''", "").contains('\'')
    };
    if quoted(e) {
        return true;
    }
    if (upper.starts_with("X'")) && quoted(&e[1..]) {
        return true;
    }
    let n = e.trim_start_matches(['+', '-']);
    !n.is_empty()
        && n.len() + 1 >= e.len()
        && n.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && n.parse::<f64>().is_ok()
}

/// The default of one column: `Now` for the current moment on a column of its kind, the value
/// SQLite would store for a literal (evaluated by SQLite itself, affinity included, in a
/// throwaway in-memory table), untranslated for any other expression or a value the column's
/// portable type cannot take.
fn default_of(
    memory: Option<&Connection>,
    column: &Column,
    ty: &Portable,
) -> (Option<PortableDefault>, Option<String>) {
    let Some(text) = column.default.as_deref() else {
        return (None, None);
    };
    let e = bare(text);
    let squeezed: String = e
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let now = match ty {
        Portable::DateTime { .. } => {
            squeezed == "current_timestamp" || squeezed == "datetime('now')"
        }
        Portable::Date => squeezed == "current_date" || squeezed == "date('now')",
        _ => false,
    };
    if now {
        // SQLite's clock is UTC's (date and time functions, CURRENT_*), whatever the zone of the
        // session that inserts.
        return (Some(PortableDefault::NowUtc), None);
    }
    let untranslated = (None, Some(text.to_string()));
    if !is_literal(e) {
        return untranslated;
    }
    let Some(memory) = memory else {
        return untranslated;
    };
    let stored = (|| -> rusqlite::Result<Option<crate::backend::transfer::Cell>> {
        memory.execute_batch(&format!(
            "DROP TABLE IF EXISTS d; CREATE TABLE d (c {} DEFAULT {e}); INSERT INTO d DEFAULT VALUES;",
            column.column_type
        ))?;
        memory.query_row("SELECT c, json_valid(c) FROM d", [], |row| {
            let v: ValueRef<'_> = row.get_ref(0)?;
            if v == ValueRef::Null {
                return Ok(None);
            }
            let json_ok = row.get_ref(1)? == ValueRef::Integer(1);
            Ok(to_cell(ty, v, json_ok).ok())
        })
    })();
    match stored {
        // DEFAULT NULL is no default.
        Ok(None) if e.eq_ignore_ascii_case("null") => (None, None),
        Ok(Some(cell)) => (Some(PortableDefault::Value(cell)), None),
        _ => untranslated,
    }
}

pub(super) fn portable_columns(
    backend: &SqliteBackend,
    table: &Table,
) -> std::result::Result<Vec<PortableColumn>, Vec<String>> {
    let strict = table
        .create_sql
        .as_deref()
        .and_then(parse::parse_create_table)
        .is_some_and(|d| d.strict());
    let listed: Vec<&Column> = table
        .columns
        .iter()
        .filter(|c| c.generated.is_none())
        .collect();
    let declared: Vec<Option<Portable>> = listed
        .iter()
        .map(|c| {
            if strict && c.column_type.trim().eq_ignore_ascii_case("any") {
                None
            } else {
                portable_type(&c.column_type)
            }
        })
        .collect();
    let inferred = infer_untyped(backend, table, &listed, &declared)?;
    let memory = Connection::open_in_memory().ok();
    let mut out = Vec::with_capacity(listed.len());
    for ((column, ty), guess) in listed.iter().zip(declared).zip(inferred) {
        let ty = ty.or(guess).unwrap_or(Portable::Bytes {
            length: None,
            fixed: false,
        });
        let identity = is_identity(table, column);
        let (default, untranslated_default) = if identity {
            (None, None)
        } else {
            default_of(memory.as_ref(), column, &ty)
        };
        out.push(PortableColumn {
            name: column.name.clone(),
            alternatives: alternatives(&ty),
            ty,
            nullable: column.nullable,
            default,
            untranslated_default,
            identity,
            comment: column.comment.clone(),
        });
    }
    Ok(out)
}

/// The types of the columns without a declared type, from one scan of their storage classes.
fn infer_untyped(
    backend: &SqliteBackend,
    table: &Table,
    listed: &[&Column],
    declared: &[Option<Portable>],
) -> std::result::Result<Vec<Option<Portable>>, Vec<String>> {
    let untyped_at: Vec<usize> = (0..listed.len())
        .filter(|&i| declared[i].is_none())
        .collect();
    let mut out = vec![None; listed.len()];
    if untyped_at.is_empty() {
        return Ok(out);
    }
    let sums: Vec<String> = untyped_at
        .iter()
        .flat_map(|&i| {
            let c = q(&listed[i].name);
            ["text", "integer", "real", "blob"]
                .map(|class| format!("coalesce(SUM(typeof({c}) = '{class}'), 0)"))
        })
        .collect();
    let sql = format!("SELECT {} FROM main.{}", sums.join(", "), q(&table.name));
    // The error already names the table (its place).
    let fail = |e: crate::error::Error| vec![e.to_string()];
    let conn = backend.open_read_only(&table.name).map_err(fail)?;
    let counts: Vec<u64> = conn
        .query_row(&sql, [], |row| {
            (0..untyped_at.len() * 4)
                .map(|i| row.get::<_, i64>(i).map(|n| n as u64))
                .collect()
        })
        .map_err(|e| fail(super::super::sql_error(e, &sql).at(&super::place(&table.name))))?;
    for (k, &i) in untyped_at.iter().enumerate() {
        let c = &counts[k * 4..k * 4 + 4];
        out[i] = Some(untyped(c[0], c[1], c[2], c[3]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int() -> Portable {
        Portable::Integer {
            bits: 64,
            unsigned: false,
        }
    }
    fn text(length: Option<u64>) -> Portable {
        Portable::Text {
            length,
            fixed: false,
        }
    }
    fn bytes(length: Option<u64>) -> Portable {
        Portable::Bytes {
            length,
            fixed: false,
        }
    }
    fn dec(p: Option<u32>, s: Option<u32>) -> Portable {
        Portable::Decimal {
            precision: p,
            scale: s,
        }
    }

    #[test]
    fn declared_types_map_by_name_then_affinity() {
        let cases: Vec<(&str, Option<Portable>)> = vec![
            ("INTEGER", Some(int())),
            ("int", Some(int())),
            ("TINYINT", Some(int())),
            ("SMALLINT", Some(int())),
            ("MEDIUMINT", Some(int())),
            ("BIGINT", Some(int())),
            ("UNSIGNED BIG INT", Some(int())),
            ("INT8", Some(int())),
            ("BOOLEAN", Some(Portable::Boolean)),
            ("bool", Some(Portable::Boolean)),
            ("REAL", Some(Portable::Float { bits: 64 })),
            ("DOUBLE", Some(Portable::Float { bits: 64 })),
            ("DOUBLE PRECISION", Some(Portable::Float { bits: 64 })),
            ("FLOAT", Some(Portable::Float { bits: 64 })),
            ("FLOAT(24)", Some(Portable::Float { bits: 64 })),
            ("DECIMAL(12,2)", Some(dec(Some(12), Some(2)))),
            ("NUMERIC(10, 3)", Some(dec(Some(10), Some(3)))),
            ("DECIMAL(7)", Some(dec(Some(7), Some(0)))),
            ("NUMERIC", Some(dec(None, None))),
            ("DECIMAL", Some(dec(None, None))),
            ("CHAR(5)", Some(text(Some(5)))),
            ("VARCHAR(190)", Some(text(Some(190)))),
            ("CHARACTER VARYING(20)", Some(text(Some(20)))),
            ("NVARCHAR(100)", Some(text(Some(100)))),
            ("NCHAR(55)", Some(text(Some(55)))),
            ("TEXT", Some(text(None))),
            ("CLOB", Some(text(None))),
            ("LONGTEXT", Some(text(None))),
            ("BLOB", Some(bytes(None))),
            ("VARBINARY(16)", Some(bytes(Some(16)))),
            ("", None),
            ("DATE", Some(Portable::Date)),
            ("DATETIME", Some(Portable::DateTime { fraction: 6 })),
            ("timestamp", Some(Portable::DateTime { fraction: 6 })),
            ("TIME", Some(Portable::Duration { fraction: 6 })),
            ("JSON", Some(Portable::Json)),
            ("UUID", Some(Portable::Uuid)),
            // Affinity decides the names it does not know: INT wins over everything (POINT).
            ("POINT", Some(int())),
            ("MONEY", Some(dec(None, None))),
            ("STRING", Some(dec(None, None))),
        ];
        for (declared, want) in cases {
            assert_eq!(portable_type(declared), want, "{declared}");
        }
    }

    #[test]
    fn untyped_columns_take_their_values_type() {
        assert_eq!(untyped(3, 0, 0, 0), text(None));
        assert_eq!(untyped(0, 3, 0, 0), int());
        assert_eq!(untyped(0, 3, 1, 0), Portable::Float { bits: 64 });
        assert_eq!(untyped(1, 3, 0, 0), bytes(None));
        assert_eq!(untyped(0, 0, 0, 0), bytes(None));
    }

    #[test]
    fn literals_and_expressions() {
        for e in [
            "NULL", "''", "'it''s'", "X'00ff'", "-1", "+2.5", "1e3", "TRUE", ".5",
        ] {
            assert!(is_literal(e), "{e}");
        }
        for e in [
            "1+1",
            "'a' || 'b'",
            "random()",
            "CURRENT_TIME",
            "'a' 'b'",
            "--1",
        ] {
            assert!(!is_literal(e), "{e}");
        }
        assert_eq!(bare(" ((0)) "), "0");
    }

    #[test]
    fn defaults_take_the_value_sqlite_stores() {
        let memory = Connection::open_in_memory().unwrap();
        let col = |ty: &str, d: &str| Column {
            name: "c".into(),
            column_type: ty.into(),
            default: Some(d.into()),
            ..Column::default()
        };
        use crate::backend::transfer::Cell;
        let cases: Vec<(&str, &str, Option<PortableDefault>, bool)> = vec![
            (
                "INTEGER",
                "'200'",
                Some(PortableDefault::Value(Cell::Int(200))),
                false,
            ),
            (
                "DOUBLE",
                "0",
                Some(PortableDefault::Value(Cell::Float(0.0))),
                false,
            ),
            (
                "VARCHAR(10)",
                "''",
                Some(PortableDefault::Value(Cell::Text(String::new()))),
                false,
            ),
            (
                "DECIMAL(5,2)",
                "1.5",
                Some(PortableDefault::Value(Cell::Decimal("1.5".into()))),
                false,
            ),
            (
                "BOOLEAN",
                "TRUE",
                Some(PortableDefault::Value(Cell::Bool(true))),
                false,
            ),
            (
                "DATE",
                "'2020-02-29'",
                Some(PortableDefault::Value(Cell::Date(18321))),
                false,
            ),
            (
                "DATETIME",
                "CURRENT_TIMESTAMP",
                Some(PortableDefault::NowUtc),
                false,
            ),
            (
                "DATETIME",
                "(datetime('now'))",
                Some(PortableDefault::NowUtc),
                false,
            ),
            ("DATE", "CURRENT_TIMESTAMP", None, true),
            ("DATE", "CURRENT_DATE", Some(PortableDefault::NowUtc), false),
            ("INTEGER", "'abc'", None, true),
            ("INTEGER", "(1+1)", None, true),
            ("TEXT", "NULL", None, false),
            (
                "JSON",
                "'{\"a\": 1}'",
                Some(PortableDefault::Value(Cell::Json("{\"a\": 1}".into()))),
                false,
            ),
            ("JSON", "'{a: 1}'", None, true),
        ];
        for (ty, d, want, untranslated) in cases {
            let portable = portable_type(ty).unwrap();
            let (got, un) = default_of(Some(&memory), &col(ty, d), &portable);
            assert_eq!(got, want, "{ty} DEFAULT {d}");
            assert_eq!(un.is_some(), untranslated, "{ty} DEFAULT {d}");
        }
    }
}
