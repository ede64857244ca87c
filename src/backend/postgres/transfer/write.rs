//! SOURCE's rows into the copy's table: each cell encoded in PostgreSQL's binary format for its
//! column's type and streamed by one `COPY ... FROM STDIN (FORMAT binary)` in one transaction,
//! a row at a time, never the table in memory. A cell its column cannot hold unchanged is refused
//! with the row, table and column, before the server sees it.

use std::collections::HashSet;
use std::io::Write;

use postgres::Client;

use super::super::copy::{HEADER, TRAILER};
use super::super::{sql_error, PostgresBackend, DIALECT};
use super::types::import_type_sql;
use super::{place, MICROS_PER_DAY, PG_EPOCH_DAYS};
use crate::backend::transfer::{Cell, ImportTable, Portable};
use crate::backend::Dialect;
use crate::error::{Error, Result};

/// PostgreSQL's date range, in days since 2000-01-01: 4714-11-24 BC to 5874897-12-31.
const PG_MIN_DAY: i64 = -2_451_545;
const PG_END_DAY: i64 = 2_147_483_494 - 2_451_545;
/// PostgreSQL's timestamp range, in microseconds since 2000-01-01 (the end excluded).
const PG_MIN_MICROS: i64 = -211_813_488_000_000_000;
const PG_END_MICROS: i64 = 9_223_371_331_200_000_000;
/// The largest display scale a numeric may have.
const NUMERIC_DSCALE_MAX: usize = 0x3FFF;
/// The element type of text[]: text's OID.
const TEXT_OID: i32 = 25;

pub(super) fn import_rows(
    backend: &PostgresBackend,
    table: &ImportTable,
    rows: &mut dyn Iterator<Item = Result<Vec<Cell>>>,
) -> Result<u64> {
    let mut client = backend.client(&backend.url.database, None)?;
    client
        .batch_execute("BEGIN")
        .map_err(|e| sql_error(&e, "BEGIN").at(&place(&table.name, None)))?;
    match copy_rows(&mut client, table, rows) {
        Ok(n) => {
            client
                .batch_execute("COMMIT")
                .map_err(|e| sql_error(&e, "COMMIT").at(&place(&table.name, None)))?;
            Ok(n)
        }
        Err(e) => {
            // Nothing of the table is kept; a failed ROLLBACK leaves the connection to the pool's
            // check, which closes it.
            let _ = client.batch_execute("ROLLBACK");
            Err(e)
        }
    }
}

fn copy_rows(
    client: &mut Client,
    table: &ImportTable,
    rows: &mut dyn Iterator<Item = Result<Vec<Cell>>>,
) -> Result<u64> {
    let names: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
    let sql = format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        DIALECT.q(&table.name),
        DIALECT.column_list(&names)
    );
    let codecs: Vec<Codec> = table
        .columns
        .iter()
        .map(
            |c| match table.final_types.get(&c.name).map(String::as_str) {
                // DB_FINAL's json keeps its text as given: no jsonb version byte.
                Some("json") => Codec::JsonText,
                _ => Codec::of(&c.ty),
            },
        )
        .collect();
    let mut writer = client
        .copy_in(&sql)
        .map_err(|e| sql_error(&e, &sql).at(&place(&table.name, None)))?;
    let lost = |e: std::io::Error| {
        Error::env(
            place(&table.name, None),
            format!("sending rows to the copy failed ({e})."),
            "Check the connection to DB_DATA's server (and its log), then run again with --resume.",
        )
    };
    writer.write_all(HEADER).map_err(lost)?;
    let mut tuple: Vec<u8> = Vec::with_capacity(1024);
    let mut count = 0u64;
    for row in rows {
        // An error here drops the writer unfinished: the server aborts the COPY.
        let row = row?;
        count += 1;
        if row.len() != codecs.len() {
            return Err(Error::input(
                place(&table.name, None),
                format!(
                    "row {count} has {} values for the copy's {} columns.",
                    row.len(),
                    codecs.len()
                ),
                "Report this as a bug: SOURCE's reader and the copy disagree on the table's columns.",
            ));
        }
        tuple.clear();
        tuple.extend_from_slice(&(row.len() as i16).to_be_bytes());
        for ((cell, codec), column) in row.iter().zip(&codecs).zip(&table.columns) {
            let start = tuple.len();
            tuple.extend_from_slice(&[0; 4]);
            match codec.encode(cell, &mut tuple) {
                Ok(true) => {
                    let len = (tuple.len() - start - 4) as i32;
                    tuple[start..start + 4].copy_from_slice(&len.to_be_bytes());
                }
                Ok(false) => tuple[start..start + 4].copy_from_slice(&(-1i32).to_be_bytes()),
                Err(why) => {
                    return Err(Error::input(
                        place(&table.name, Some(&column.name)),
                        format!(
                            "row {count}: the value {} does not fit the copy's column of type {}: {why}.",
                            shown(cell),
                            import_type_sql(&column.ty)
                        ),
                        "SOURCE's reader gave a value its own column type does not allow: fix the row in SOURCE (or report the bug, with the column's type), then run again.",
                    ));
                }
            }
        }
        writer.write_all(&tuple).map_err(lost)?;
    }
    writer.write_all(TRAILER).map_err(lost)?;
    let stored = writer.finish().map_err(|e| copy_error(&e, &sql, table))?;
    if stored != count {
        return Err(Error::mismatch(
            place(&table.name, None),
            format!("{count} rows were sent to the copy but it stored {stored}."),
        ));
    }
    Ok(stored)
}

/// The server's refusal of a row, naming the column its CONTEXT names (`COPY t, line 3, column c`).
fn copy_error(e: &postgres::Error, sql: &str, table: &ImportTable) -> Error {
    let column = e.as_db_error().and_then(|db| db.where_()).and_then(|w| {
        table
            .columns
            .iter()
            .filter(|c| w.contains(&format!(", column {}", c.name)))
            .max_by_key(|c| c.name.len())
    });
    sql_error(e, sql).at(&place(&table.name, column.map(|c| c.name.as_str())))
}

/// A cell for a message: its kind and value, long ones cut.
fn shown(cell: &Cell) -> String {
    let text = format!("{cell:?}");
    if text.chars().count() > 80 {
        format!("{}...", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

/// How one column's cells are encoded, decided once per table.
enum Codec {
    /// int2/int4/int8 (`bytes`), or numeric(20,0) (`bytes` 0), holding `min..=max`.
    Int {
        bytes: u8,
        min: i128,
        max: i128,
    },
    Numeric {
        precision: Option<u32>,
        scale: Option<u32>,
    },
    Float4,
    Float8,
    Bool,
    Text {
        max_chars: Option<u64>,
    },
    Bytes,
    Date,
    /// timestamp (`zoned` false) / timestamptz: a multiple of `step` microseconds. A moment and a
    /// wall-clock time are not interchanged: the stage converts one into the other, or refuses.
    Timestamp {
        step: i64,
        zoned: bool,
    },
    Interval {
        step: i64,
    },
    Bits {
        width: u32,
    },
    Enum(HashSet<String>),
    Set(HashSet<String>),
    Json,
    /// `json` (DB_FINAL's choice over the copy's jsonb): the text alone.
    JsonText,
    Uuid,
}

impl Codec {
    fn of(ty: &Portable) -> Codec {
        let step = |fraction: u8| 10i64.pow(u32::from(6 - fraction.min(6)));
        match ty {
            Portable::Integer { bits, unsigned } => {
                let (min, max) = if *unsigned {
                    (0, (1i128 << bits.min(&64)) - 1)
                } else {
                    let half = 1i128 << (bits.clamp(&1, &64) - 1);
                    (-half, half - 1)
                };
                let bytes = match import_type_sql(ty).as_str() {
                    "smallint" => 2,
                    "integer" => 4,
                    "bigint" => 8,
                    _ => 0,
                };
                Codec::Int { bytes, min, max }
            }
            Portable::Year => Codec::Int {
                bytes: 2,
                min: i128::from(i16::MIN),
                max: i128::from(i16::MAX),
            },
            Portable::Decimal { precision, scale } => match import_type_sql(ty).as_str() {
                "numeric" => Codec::Numeric {
                    precision: None,
                    scale: None,
                },
                _ => Codec::Numeric {
                    precision: *precision,
                    scale: Some(scale.unwrap_or(0)),
                },
            },
            Portable::Float { bits } if *bits <= 32 => Codec::Float4,
            Portable::Float { .. } => Codec::Float8,
            Portable::Boolean => Codec::Bool,
            Portable::Text { .. } => Codec::Text {
                max_chars: import_type_sql(ty)
                    .split_once('(')
                    .and_then(|(_, n)| n.trim_end_matches(')').parse().ok()),
            },
            Portable::Bytes { .. } => Codec::Bytes,
            Portable::Date => Codec::Date,
            Portable::DateTime { fraction } => Codec::Timestamp {
                step: step(*fraction),
                zoned: false,
            },
            Portable::Timestamp { fraction } => Codec::Timestamp {
                step: step(*fraction),
                zoned: true,
            },
            Portable::Duration { fraction } => Codec::Interval {
                step: step(*fraction),
            },
            Portable::Bits { width } => Codec::Bits {
                width: (*width).max(1),
            },
            Portable::Enum { values } => Codec::Enum(values.iter().cloned().collect()),
            Portable::Set { values } => Codec::Set(values.iter().cloned().collect()),
            Portable::Json => Codec::Json,
            Portable::Uuid => Codec::Uuid,
        }
    }

    /// Appends the cell's binary form; false for NULL; why not where it does not fit.
    fn encode(&self, cell: &Cell, out: &mut Vec<u8>) -> std::result::Result<bool, String> {
        if *cell == Cell::Null {
            return Ok(false);
        }
        match (self, cell) {
            (Codec::Int { bytes, min, max }, Cell::Int(i)) => {
                if i < min || i > max {
                    return Err(format!("it is outside {min}..{max}"));
                }
                match bytes {
                    2 => out.extend_from_slice(&(*i as i16).to_be_bytes()),
                    4 => out.extend_from_slice(&(*i as i32).to_be_bytes()),
                    8 => out.extend_from_slice(&(*i as i64).to_be_bytes()),
                    _ => numeric(&i.to_string(), None, Some(0), out)?,
                }
            }
            (Codec::Numeric { precision, scale }, Cell::Decimal(s)) => {
                numeric(s, *precision, *scale, out)?
            }
            (Codec::Numeric { precision, scale }, Cell::Int(i)) => {
                numeric(&i.to_string(), *precision, *scale, out)?
            }
            (Codec::Float4, Cell::Float(f)) => {
                let narrow = *f as f32;
                if !f.is_nan() && f64::from(narrow).to_bits() != f.to_bits() {
                    return Err("it is not a 32-bit float (real would round it)".into());
                }
                out.extend_from_slice(&narrow.to_bits().to_be_bytes());
            }
            (Codec::Float8, Cell::Float(f)) => out.extend_from_slice(&f.to_bits().to_be_bytes()),
            (Codec::Bool, Cell::Bool(b)) => out.push(u8::from(*b)),
            (Codec::Bool, Cell::Int(i @ (0 | 1))) => out.push(*i as u8),
            (Codec::Text { max_chars }, Cell::Text(s) | Cell::Enum(s)) => {
                text(s, out)?;
                if let Some(n) = max_chars {
                    if s.len() as u64 > *n && s.chars().count() as u64 > *n {
                        return Err(format!("it is longer than {n} characters"));
                    }
                }
            }
            (Codec::Bytes, Cell::Bytes(b)) => out.extend_from_slice(b),
            (Codec::Date, Cell::Date(d)) => {
                let day = i64::from(*d) - PG_EPOCH_DAYS;
                if !(PG_MIN_DAY..PG_END_DAY).contains(&day) {
                    return Err("it is outside PostgreSQL's dates".into());
                }
                out.extend_from_slice(&(day as i32).to_be_bytes());
            }
            (Codec::Timestamp { step, zoned: false }, Cell::DateTime(us))
            | (Codec::Timestamp { step, zoned: true }, Cell::Timestamp(us)) => {
                if us.rem_euclid(*step) != 0 {
                    return Err("it has more fractional digits than the column keeps".into());
                }
                let pg = us
                    .checked_sub(PG_EPOCH_DAYS * MICROS_PER_DAY)
                    .filter(|v| (PG_MIN_MICROS..PG_END_MICROS).contains(v))
                    .ok_or("it is outside PostgreSQL's timestamps")?;
                out.extend_from_slice(&pg.to_be_bytes());
            }
            (Codec::Interval { step }, Cell::Duration(us)) => {
                if us.rem_euclid(*step) != 0 {
                    return Err("it has more fractional digits than the column keeps".into());
                }
                out.extend_from_slice(&us.to_be_bytes());
                out.extend_from_slice(&0i32.to_be_bytes()); // days
                out.extend_from_slice(&0i32.to_be_bytes()); // months
            }
            (Codec::Bits { width }, Cell::Bits(b)) => bits(b, *width, out)?,
            (Codec::Enum(values), Cell::Enum(s) | Cell::Text(s)) => {
                // No members known: DB_FINAL's enum type, whose labels the server checks.
                if !values.is_empty() && !values.contains(s) {
                    return Err("it is not one of the ENUM's values".into());
                }
                text(s, out)?;
            }
            (Codec::Set(values), Cell::Set(members)) => {
                if let Some(m) = members.iter().find(|m| !values.contains(*m)) {
                    return Err(format!("{m:?} is not one of the SET's values"));
                }
                let ndim: i32 = if members.is_empty() { 0 } else { 1 };
                for v in [ndim, 0, TEXT_OID] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                if ndim == 1 {
                    out.extend_from_slice(&(members.len() as i32).to_be_bytes());
                    out.extend_from_slice(&1i32.to_be_bytes()); // lower bound
                }
                for m in members {
                    out.extend_from_slice(&(m.len() as i32).to_be_bytes());
                    text(m, out)?;
                }
            }
            (Codec::JsonText, Cell::Json(s)) => text(s, out)?,
            (Codec::Json, Cell::Json(s)) => {
                out.push(1); // jsonb's binary format version
                text(s, out)?;
            }
            (Codec::Uuid, Cell::Uuid(u)) => out.extend_from_slice(&u.to_be_bytes()),
            _ => return Err("a value of another kind than the column's".into()),
        }
        Ok(true)
    }
}

fn text(s: &str, out: &mut Vec<u8>) -> std::result::Result<(), String> {
    if s.as_bytes().contains(&0) {
        return Err("PostgreSQL's text cannot hold a zero byte".into());
    }
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// bit(n)'s binary form: the bit count, then the bits from the first byte's high bit on (a cell
/// holds them from the last byte's low bit on).
fn bits(b: &[u8], width: u32, out: &mut Vec<u8>) -> std::result::Result<(), String> {
    let n = width.div_ceil(8) as usize;
    let extra = b.len().saturating_sub(n);
    if b[..extra].iter().any(|x| *x != 0) {
        return Err(format!("it has more than {width} bits"));
    }
    let mut value = vec![0u8; n - (b.len() - extra)];
    value.extend_from_slice(&b[extra..]);
    let pad = (n * 8) as u32 - width;
    if pad > 0 && value[0] >> (8 - pad) != 0 {
        return Err(format!("it has more than {width} bits"));
    }
    out.extend_from_slice(&(width as i32).to_be_bytes());
    for i in 0..n {
        let next = value.get(i + 1).copied().unwrap_or(0);
        let byte = if pad == 0 {
            value[i]
        } else {
            (value[i] << pad) | (next >> (8 - pad))
        };
        out.push(byte);
    }
    Ok(())
}

/// numeric's binary form of a decimal text (`-12.50`, `1e-30`), exactly: base-10000 digits, the
/// weight of the first, the sign, and the display scale (the fractional digits written), after
/// checking that numeric(precision, scale) holds it without rounding.
pub(super) fn numeric(
    s: &str,
    precision: Option<u32>,
    scale: Option<u32>,
    out: &mut Vec<u8>,
) -> std::result::Result<(), String> {
    let bad = || "it is not a decimal number".to_string();
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (
            &body[..at],
            body[at + 1..].parse::<i64>().map_err(|_| bad())?,
        ),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        || exponent.abs() > 100_000
    {
        return Err(bad());
    }
    // The point moved by the exponent: digits, and how many of them are before the point.
    let digits: String = format!("{int}{frac}");
    let point = int.len() as i64 + exponent;
    let (int, frac): (String, String) = if point <= 0 {
        (
            String::new(),
            "0".repeat(point.unsigned_abs() as usize) + &digits,
        )
    } else if point as usize >= digits.len() {
        (
            digits.clone() + &"0".repeat(point as usize - digits.len()),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_string(),
            digits[point as usize..].to_string(),
        )
    };
    let int = int.trim_start_matches('0');
    let dscale = frac.len();
    if dscale > NUMERIC_DSCALE_MAX {
        return Err("it has more fractional digits than numeric keeps".into());
    }
    if let Some(s) = scale {
        let significant = frac.trim_end_matches('0').len();
        if significant > s as usize {
            return Err(format!(
                "it has {significant} fractional digits, the column keeps {s}"
            ));
        }
        if let Some(p) = precision {
            let room = p.saturating_sub(s) as usize;
            if int.len() > room {
                return Err(format!(
                    "it has {} digits before the point, the column holds {room}",
                    int.len()
                ));
            }
        }
    }
    // Base-10000 digits: the integer part grouped from the point leftwards, the fraction from
    // the point rightwards.
    let lead = (4 - int.len() % 4) % 4;
    let int_padded = "0".repeat(lead) + int;
    let trail = (4 - frac.len() % 4) % 4;
    let frac_padded = frac.clone() + &"0".repeat(trail);
    let group = |chunk: &[u8]| -> i16 {
        chunk
            .iter()
            .fold(0i16, |acc, d| acc * 10 + i16::from(d - b'0'))
    };
    let mut groups: Vec<i16> = int_padded
        .as_bytes()
        .chunks(4)
        .chain(frac_padded.as_bytes().chunks(4))
        .map(group)
        .collect();
    let mut weight = (int_padded.len() / 4) as i64 - 1;
    let leading = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading);
    weight -= leading as i64;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let weight = i16::try_from(weight).map_err(|_| "it is beyond numeric's range".to_string())?;
    let sign: u16 = if negative && !groups.is_empty() {
        0x4000
    } else {
        0
    };
    out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(dscale as u16).to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(ty: Portable, cell: Cell) -> std::result::Result<Vec<u8>, String> {
        let mut out = Vec::new();
        Codec::of(&ty).encode(&cell, &mut out).map(|_| out)
    }

    #[test]
    fn cells_take_postgresql_binary_forms() {
        // bit(12): the count, then the bits from the high bit of the first byte.
        assert_eq!(
            encoded(Portable::Bits { width: 12 }, Cell::Bits(vec![0x0a, 0xbc])).unwrap(),
            [0, 0, 0, 12, 0xab, 0xc0]
        );
        assert!(encoded(Portable::Bits { width: 12 }, Cell::Bits(vec![0x1a, 0xbc])).is_err());
        // Days and microseconds since 2000-01-01.
        assert_eq!(
            encoded(Portable::Date, Cell::Date(10_957)).unwrap(),
            0i32.to_be_bytes()
        );
        assert_eq!(
            encoded(
                Portable::Timestamp { fraction: 6 },
                Cell::Timestamp(946_684_800_000_001)
            )
            .unwrap(),
            1i64.to_be_bytes()
        );
        assert_eq!(
            encoded(
                Portable::Duration { fraction: 0 },
                Cell::Duration(-1_000_000)
            )
            .unwrap(),
            [(-1_000_000i64).to_be_bytes().to_vec(), vec![0; 8]].concat()
        );
        let set = Portable::Set {
            values: vec!["x".into(), "y".into()],
        };
        assert_eq!(
            encoded(set.clone(), Cell::Set(vec![])).unwrap(),
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25]
        );
        assert_eq!(
            encoded(set.clone(), Cell::Set(vec!["y".into()])).unwrap(),
            [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 25, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, b'y']
        );
        assert_eq!(
            encoded(Portable::Json, Cell::Json("{}".into())).unwrap(),
            [1, b'{', b'}']
        );
        assert_eq!(
            encoded(Portable::Uuid, Cell::Uuid(1)).unwrap(),
            1u128.to_be_bytes()
        );
    }

    #[test]
    fn cells_that_would_change_are_refused() {
        let refused = |ty: Portable, cell: Cell| encoded(ty, cell).is_err();
        assert!(refused(Portable::Float { bits: 32 }, Cell::Float(0.1)));
        assert!(!refused(
            Portable::Float { bits: 32 },
            Cell::Float(f64::from(f32::MAX))
        ));
        assert!(refused(
            Portable::Integer {
                bits: 8,
                unsigned: true
            },
            Cell::Int(-1)
        ));
        assert!(refused(
            Portable::Text {
                length: Some(2),
                fixed: false
            },
            Cell::Text("abc".into())
        ));
        assert!(!refused(
            Portable::Text {
                length: Some(2),
                fixed: false
            },
            Cell::Text("éé".into())
        ));
        assert!(refused(
            Portable::Text {
                length: None,
                fixed: false
            },
            Cell::Text("a\0b".into())
        ));
        assert!(refused(
            Portable::Enum {
                values: vec!["a".into()]
            },
            Cell::Enum("b".into())
        ));
        assert!(refused(
            Portable::Set {
                values: vec!["a".into()]
            },
            Cell::Set(vec!["b".into()])
        ));
        // A wall-clock time is not a moment (the stage converts, or refuses).
        assert!(refused(
            Portable::DateTime { fraction: 6 },
            Cell::Timestamp(0)
        ));
        assert!(refused(
            Portable::Timestamp { fraction: 6 },
            Cell::DateTime(0)
        ));
        // More fractional digits than the column keeps would be rounded.
        assert!(refused(
            Portable::DateTime { fraction: 3 },
            Cell::DateTime(1)
        ));
        assert!(refused(
            Portable::Duration { fraction: 0 },
            Cell::Duration(1)
        ));
        assert!(refused(Portable::Uuid, Cell::Text("x".into())));
    }
}
