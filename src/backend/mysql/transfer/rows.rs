//! A table's rows as cells: one prepared SELECT, its rows streamed with the binary protocol (the
//! server's own integers, floats, dates and times, no text to parse and no rounding), each value
//! turned into the cell of its column's portable type as it arrives.

use mysql::prelude::Queryable;
use mysql::Value;

use super::super::{sql_error, DIALECT};
use super::types::set_members;
use super::{civil_micros, days_from_civil, fill, MysqlBackend};
use crate::backend::transfer::{Cell, Portable, PortableColumn};
use crate::backend::Dialect;
use crate::error::{Error, Place, Result};
use crate::model::Table;
use crate::stage::Stage;

const ROWS_SQL: &str = include_str!("rows.sql");

/// How one column's values become cells, decided once per column.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Boolean,
    Decimal,
    Float,
    Text,
    Bytes,
    Date,
    DateTime,
    Timestamp,
    Duration,
    /// BIT(n): `ceil(n / 8)` bytes.
    Bits(usize),
    Enum,
    Set,
    Json,
    Uuid,
}

impl Kind {
    fn of(ty: &Portable) -> Kind {
        match ty {
            Portable::Integer { .. } | Portable::Year => Kind::Int,
            Portable::Boolean => Kind::Boolean,
            Portable::Decimal { .. } => Kind::Decimal,
            Portable::Float { .. } => Kind::Float,
            Portable::Text { .. } => Kind::Text,
            Portable::Bytes { .. } => Kind::Bytes,
            Portable::Date => Kind::Date,
            Portable::DateTime { .. } => Kind::DateTime,
            Portable::Timestamp { .. } => Kind::Timestamp,
            Portable::Duration { .. } => Kind::Duration,
            Portable::Bits { width } => Kind::Bits(width.div_ceil(8).max(1) as usize),
            Portable::Enum { .. } => Kind::Enum,
            Portable::Set { .. } => Kind::Set,
            Portable::Json => Kind::Json,
            Portable::Uuid => Kind::Uuid,
        }
    }
}

/// Why a value has no cell.
#[derive(Debug, PartialEq)]
enum Problem {
    ZeroDate,
    NotUtf8,
    ZeroByte,
    /// JSON text with a key twice in one object (`transfer::duplicate_json_key`).
    DuplicateJsonKey(String),
    /// The server sent a value of another kind than the column's type (a catalog that changed
    /// since it was read).
    Unexpected(&'static str),
}

/// The cell of one value of a column of `kind`; zero dates as NULL when `zero_dates_null`.
fn cell(kind: Kind, value: Value, zero_dates_null: bool) -> Result<Cell, Problem> {
    let text = |b: Vec<u8>| String::from_utf8(b).map_err(|_| Problem::NotUtf8);
    Ok(match (kind, value) {
        (_, Value::NULL) => Cell::Null,
        (Kind::Int, Value::Int(i)) => Cell::Int(i128::from(i)),
        (Kind::Int, Value::UInt(u)) => Cell::Int(i128::from(u)),
        (Kind::Boolean, Value::Int(i @ (0 | 1))) => Cell::Bool(i == 1),
        (Kind::Decimal, Value::Bytes(b)) => Cell::Decimal(text(b)?),
        (Kind::Float, Value::Float(f)) => Cell::Float(f64::from(f)),
        (Kind::Float, Value::Double(d)) => Cell::Float(d),
        (Kind::Text, Value::Bytes(b)) => {
            if b.contains(&0) {
                return Err(Problem::ZeroByte);
            }
            Cell::Text(text(b)?)
        }
        (Kind::Bytes, Value::Bytes(b)) => Cell::Bytes(b),
        (Kind::Date | Kind::DateTime | Kind::Timestamp, Value::Date(y, m, d, h, mi, s, us)) => {
            if m == 0 || d == 0 || d > days_in_month(i64::from(y), m) {
                return if zero_dates_null {
                    Ok(Cell::Null)
                } else {
                    Err(Problem::ZeroDate)
                };
            }
            let day = (i64::from(y), i64::from(m), i64::from(d));
            match kind {
                Kind::Date => Cell::Date(days_from_civil(day.0, day.1, day.2) as i32),
                _ => {
                    let micros = civil_micros(
                        day,
                        (i64::from(h), i64::from(mi), i64::from(s)),
                        i64::from(us),
                    );
                    if kind == Kind::DateTime {
                        Cell::DateTime(micros)
                    } else {
                        Cell::Timestamp(micros)
                    }
                }
            }
        }
        (Kind::Duration, Value::Time(negative, days, h, m, s, us)) => {
            let micros = (((i64::from(days) * 24 + i64::from(h)) * 60 + i64::from(m)) * 60
                + i64::from(s))
                * 1_000_000
                + i64::from(us);
            Cell::Duration(if negative { -micros } else { micros })
        }
        (Kind::Bits(len), Value::Bytes(mut b)) => {
            if b.len() < len {
                let mut padded = vec![0; len - b.len()];
                padded.append(&mut b);
                b = padded;
            } else if b.len() > len {
                return Err(Problem::Unexpected(
                    "more bytes than the BIT column's width",
                ));
            }
            Cell::Bits(b)
        }
        (Kind::Enum, Value::Bytes(b)) => Cell::Enum(text(b)?),
        (Kind::Set, Value::Bytes(b)) => Cell::Set(set_members(&text(b)?)),
        (Kind::Json, Value::Bytes(b)) => {
            if b.contains(&0) {
                return Err(Problem::ZeroByte);
            }
            let json = text(b)?;
            if let Some(key) = crate::backend::transfer::duplicate_json_key(&json) {
                return Err(Problem::DuplicateJsonKey(key));
            }
            Cell::Json(json)
        }
        (Kind::Uuid, Value::Bytes(b)) => match <[u8; 16]>::try_from(b.as_slice()) {
            Ok(raw) => Cell::Uuid(u128::from_be_bytes(raw)),
            Err(_) => Cell::Uuid(
                std::str::from_utf8(&b)
                    .ok()
                    .and_then(|t| uuid::Uuid::try_parse(t).ok())
                    .ok_or(Problem::Unexpected("a UUID that does not parse"))?
                    .as_u128(),
            ),
        },
        (Kind::Boolean, Value::Int(_)) => {
            return Err(Problem::Unexpected("a value other than 0 and 1"))
        }
        _ => {
            return Err(Problem::Unexpected(
                "a value of another type than the column's",
            ))
        }
    })
}

/// The days of month `m` (1-12) of year `y`, proleptic Gregorian; a month past 12 has none.
fn days_in_month(y: i64, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        _ => 0,
    }
}

pub(super) fn export_rows(
    backend: &MysqlBackend,
    table: &Table,
    columns: &[PortableColumn],
    zero_dates_null: bool,
    sink: &mut dyn FnMut(Vec<Cell>) -> Result<()>,
) -> Result<u64> {
    let place = Place::stage(Stage::Transfer).table(&table.name);
    // The primary key's columns come along when `columns` lacks one, to name a row in errors.
    let mut names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let key_at: Vec<usize> = table
        .primary_key
        .iter()
        .map(|k| match names.iter().position(|n| n == k) {
            Some(i) => i,
            None => {
                names.push(k);
                names.len() - 1
            }
        })
        .collect();
    let mut select: Vec<String> = names.iter().map(|n| DIALECT.q(n)).collect();
    if select.is_empty() {
        // No column to move (and no key): the rows are still counted.
        select.push("1".into());
    }
    let sql = fill(
        ROWS_SQL,
        &[
            ("columns", &select.join(", ")),
            ("table", &DIALECT.q(&table.name)),
        ],
    );
    let kinds: Vec<Kind> = columns.iter().map(|c| Kind::of(&c.ty)).collect();

    let mut conn = backend.export_connection().map_err(|e| e.at(&place))?;
    let statement = conn.prep(&sql).map_err(|e| sql_error(e, &sql).at(&place))?;
    let mut result = conn
        .exec_iter(&statement, ())
        .map_err(|e| sql_error(e, &sql).at(&place))?;
    let mut streamed = || -> Result<u64> {
        let mut rows = 0u64;
        for row in result.by_ref() {
            let mut values = row.map_err(|e| sql_error(e, &sql).at(&place))?.unwrap_raw();
            let mut cells = Vec::with_capacity(kinds.len());
            for (i, &kind) in kinds.iter().enumerate() {
                let value = values
                    .get_mut(i)
                    .and_then(Option::take)
                    .unwrap_or(Value::NULL);
                match cell(kind, value, zero_dates_null) {
                    Ok(c) => cells.push(c),
                    Err(problem) => {
                        let key = row_key(&key_at, &cells, &values);
                        return Err(value_error(&place, &columns[i], &key, problem));
                    }
                }
            }
            sink(cells)?;
            rows += 1;
        }
        Ok(rows)
    };
    let outcome = streamed();
    if outcome.is_err() {
        // Dropping the result would read the rest of the table first; the connection is
        // closed instead, which ends the server's side of the statement.
        std::mem::forget(result);
    }
    outcome
}

/// The primary key of the row being read, as text: from the cells made so far, or the values
/// still to convert.
fn row_key(key_at: &[usize], cells: &[Cell], values: &[Option<Value>]) -> String {
    let part = |i: usize| -> String {
        if let Some(c) = cells.get(i) {
            return match c {
                Cell::Int(v) => v.to_string(),
                Cell::Text(t) | Cell::Decimal(t) | Cell::Enum(t) => t.clone(),
                other => format!("{other:?}"),
            };
        }
        match values.get(i).and_then(Option::as_ref) {
            Some(Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(v) => v.as_sql(true),
            None => "?".into(),
        }
    };
    key_at
        .iter()
        .map(|&i| part(i))
        .collect::<Vec<_>>()
        .join(", ")
}

fn value_error(place: &Place, column: &PortableColumn, key: &str, problem: Problem) -> Error {
    let place = place.clone().column(&column.name);
    let row = if key.is_empty() {
        "a row".to_string()
    } else {
        format!("the row with key ({key})")
    };
    match problem {
        Problem::ZeroDate => Error::input(
            place,
            format!("{row} holds a zero date (month or day 0) or a day past its month's end (stored under ALLOW_INVALID_DATES), which no date on the target can be."),
            "Run again with --zero-dates null to store such dates as NULL (they are reported), or correct the rows in SOURCE.",
        ),
        Problem::ZeroByte => Error::input(
            place,
            format!("{row} holds text with a zero byte, which PostgreSQL's text cannot store."),
            "Remove the zero bytes in SOURCE (REPLACE(col, CHAR(0), '')), or change the column to a binary type, then run again.",
        ),
        Problem::NotUtf8 => Error::input(
            place,
            format!("{row} holds text the server did not give as valid UTF-8."),
            "The column's bytes do not match its character set: convert them in SOURCE (for example ALTER the column to the character set the bytes really are in, or to a binary type), then run again.",
        ),
        Problem::DuplicateJsonKey(key) => Error::input(
            place,
            format!("{row} holds JSON with the key {key:?} twice in one object: MariaDB's JSON functions read the first value, PostgreSQL the last, so the move would change what it means."),
            "Keep one of the two values in SOURCE (the one the application means), then run again.",
        ),
        Problem::Unexpected(what) => Error::env(
            place,
            format!("{row} came back with {what}."),
            "SOURCE's table changed while it was read: make sure nothing alters SOURCE during the cutover, then run again.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_cells_of_their_column() {
        let ok = |kind, v| cell(kind, v, false).unwrap();
        assert_eq!(
            ok(Kind::Int, Value::UInt(u64::MAX)),
            Cell::Int(18_446_744_073_709_551_615)
        );
        assert_eq!(ok(Kind::Int, Value::Int(-8)), Cell::Int(-8));
        assert_eq!(ok(Kind::Int, Value::NULL), Cell::Null);
        assert_eq!(
            ok(Kind::Float, Value::Float(3.402_823_4e38)),
            Cell::Float(f64::from(f32::MAX))
        );
        assert_eq!(
            ok(Kind::Decimal, Value::Bytes(b"-0.50".to_vec())),
            Cell::Decimal("-0.50".into())
        );
        assert_eq!(
            ok(Kind::Text, Value::Bytes("é".as_bytes().to_vec())),
            Cell::Text("é".into())
        );
        assert_eq!(
            cell(Kind::Text, Value::Bytes(vec![0xff]), false),
            Err(Problem::NotUtf8)
        );
        assert_eq!(
            cell(Kind::Text, Value::Bytes(b"a\0".to_vec()), false),
            Err(Problem::ZeroByte)
        );
        assert_eq!(
            ok(Kind::Bytes, Value::Bytes(vec![0, 255])),
            Cell::Bytes(vec![0, 255])
        );
        assert_eq!(
            ok(Kind::Date, Value::Date(1970, 1, 2, 0, 0, 0, 0)),
            Cell::Date(1)
        );
        assert_eq!(
            ok(Kind::DateTime, Value::Date(1970, 1, 1, 0, 0, 1, 5)),
            Cell::DateTime(1_000_005)
        );
        assert_eq!(
            ok(Kind::Timestamp, Value::Date(1969, 12, 31, 23, 59, 59, 0)),
            Cell::Timestamp(-1_000_000)
        );
        assert_eq!(
            cell(Kind::Date, Value::Date(0, 0, 0, 0, 0, 0, 0), false),
            Err(Problem::ZeroDate)
        );
        assert_eq!(
            cell(Kind::DateTime, Value::Date(2024, 5, 0, 0, 0, 0, 0), true),
            Ok(Cell::Null)
        );
        assert_eq!(
            ok(Kind::Duration, Value::Time(true, 34, 22, 59, 59, 0)),
            Cell::Duration(-(838 * 3600 + 59 * 60 + 59) * 1_000_000)
        );
        assert_eq!(
            ok(Kind::Bits(2), Value::Bytes(vec![0x0A, 0xAA])),
            Cell::Bits(vec![0x0A, 0xAA])
        );
        assert_eq!(
            ok(Kind::Bits(2), Value::Bytes(vec![0x01])),
            Cell::Bits(vec![0, 1])
        );
        assert_eq!(
            ok(Kind::Set, Value::Bytes(b"x,z".to_vec())),
            Cell::Set(vec!["x".into(), "z".into()])
        );
        assert_eq!(
            ok(Kind::Set, Value::Bytes(Vec::new())),
            Cell::Set(Vec::new())
        );
        assert_eq!(
            ok(Kind::Enum, Value::Bytes(b"b c".to_vec())),
            Cell::Enum("b c".into())
        );
        assert_eq!(
            ok(Kind::Json, Value::Bytes(b"[]".to_vec())),
            Cell::Json("[]".into())
        );
        assert_eq!(
            ok(
                Kind::Uuid,
                Value::Bytes(b"00000000-0000-0000-0000-00000000000a".to_vec())
            ),
            Cell::Uuid(10)
        );
        assert_eq!(ok(Kind::Boolean, Value::Int(1)), Cell::Bool(true));
        assert!(matches!(
            cell(Kind::Int, Value::Bytes(vec![]), false),
            Err(Problem::Unexpected(_))
        ));
    }

    #[test]
    fn a_row_is_named_by_its_key() {
        let cells = vec![Cell::Int(7)];
        let values = vec![None, Some(Value::Bytes(b"DE".to_vec()))];
        assert_eq!(row_key(&[0, 1], &cells, &values), "7, DE");
        assert_eq!(row_key(&[], &cells, &values), "");
    }
}
