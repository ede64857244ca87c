//! The copy's rows read back as cells for the check that what was stored is what was read. The
//! cells are decoded from PostgreSQL's own text output (`COPY ... TO STDOUT` in text format, with
//! ISO dates, UTC and hex bytea), never from the binary form `write.rs` sends: an encoder's
//! mistake (an epoch, a bit order) then shows as a difference instead of cancelling itself out.

use std::io::{BufRead, BufReader};

use super::super::{sql_error, PostgresBackend, DIALECT};
use super::{days_from_civil, place, MICROS_PER_DAY};
use crate::backend::transfer::{Cell, ImportTable, Portable};
use crate::backend::Dialect;
use crate::error::{Error, Result};

/// Settings of the read's transaction that fix how values print, whatever the server's defaults.
const PRINTING: &str = "BEGIN READ ONLY; SET LOCAL DateStyle = 'ISO, YMD'; \
     SET LOCAL TimeZone = 'UTC'; SET LOCAL bytea_output = 'hex'; \
     SET LOCAL extra_float_digits = 3; SET LOCAL IntervalStyle = 'postgres'";

pub(super) fn read_back(
    backend: &PostgresBackend,
    table: &ImportTable,
    sink: &mut dyn FnMut(Vec<Cell>) -> Result<()>,
) -> Result<u64> {
    let at = place(&table.name, None);
    let mut client = backend.client(&backend.url.database, None)?;
    client
        .batch_execute(PRINTING)
        .map_err(|e| sql_error(&e, PRINTING).at(&at))?;
    let sql = select_sql(table);
    let count = {
        let reader = client
            .copy_out(&sql)
            .map_err(|e| sql_error(&e, &sql).at(&at))?;
        let mut reader = BufReader::with_capacity(1 << 16, reader);
        let mut line = Vec::with_capacity(1024);
        let mut count = 0u64;
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(|e| {
                Error::env(
                    at.clone(),
                    format!("reading the copy back failed ({e})."),
                    "Check the connection to DB_DATA's server (and its log), then run again with --resume.",
                )
            })?;
            if n == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            count += 1;
            sink(row(&line, table, count)?)?;
        }
        count
    };
    client
        .batch_execute("COMMIT")
        .map_err(|e| sql_error(&e, "COMMIT").at(&at))?;
    Ok(count)
}

/// The table's columns in order, each as an expression whose text output decodes exactly:
/// the column itself, an interval's seconds (`extract` gives numeric, exact), a SET as a JSON
/// array (no array-literal quoting to undo). In primary-key order, where there is one.
fn select_sql(table: &ImportTable) -> String {
    let exprs: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            let col = DIALECT.q(&c.name);
            match c.ty {
                Portable::Duration { .. } => format!("extract(epoch from {col})"),
                Portable::Set { .. } => format!("array_to_json({col})::text"),
                _ => col,
            }
        })
        .collect();
    let order = if table.primary_key.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", DIALECT.column_list(&table.primary_key))
    };
    format!(
        "COPY (SELECT {} FROM {}{order}) TO STDOUT",
        exprs.join(", "),
        DIALECT.q(&table.name)
    )
}

/// One line of COPY's text format as cells.
fn row(line: &[u8], table: &ImportTable, number: u64) -> Result<Vec<Cell>> {
    let fields: Vec<&[u8]> = line.split(|b| *b == b'\t').collect();
    if fields.len() != table.columns.len() {
        return Err(Error::env(
            place(&table.name, None),
            format!(
                "row {number} of the copy came back with {} fields for {} columns.",
                fields.len(),
                table.columns.len()
            ),
            "Report this as a bug, with the server's version.",
        ));
    }
    fields
        .into_iter()
        .zip(&table.columns)
        .map(|(field, column)| {
            if field == b"\\N" {
                return Ok(Cell::Null);
            }
            let text = unescape(field).and_then(|t| decode(&t, &column.ty).ok_or(t));
            text.map_err(|t| {
                Error::env(
                    place(&table.name, Some(&column.name)),
                    format!(
                        "row {number} of the copy printed {t:?}, which is not a value of {:?}.",
                        column.ty
                    ),
                    "Report this as a bug, with the server's version.",
                )
            })
        })
        .collect()
}

/// A field of COPY's text format with its backslash escapes undone, as UTF-8.
fn unescape(field: &[u8]) -> std::result::Result<String, String> {
    let lossy = || String::from_utf8_lossy(field).into_owned();
    if !field.contains(&b'\\') {
        return String::from_utf8(field.to_vec()).map_err(|_| lossy());
    }
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let b = field[i];
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some(&e) = field.get(i) else {
            return Err(lossy());
        };
        i += 1;
        match e {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match field.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            b'x' => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 {
                    match field.get(i).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            i += 1;
                            n += 1;
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    out.push(b'x');
                } else {
                    out.push(v as u8);
                }
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).map_err(|_| lossy())
}

/// A value's text as PostgreSQL prints it for the copy's type of `ty`, as a cell of `ty`.
fn decode(t: &str, ty: &Portable) -> Option<Cell> {
    Some(match ty {
        Portable::Integer { .. } | Portable::Year => Cell::Int(t.parse().ok()?),
        Portable::Decimal { .. } => {
            let digits = t.strip_prefix('-').unwrap_or(t);
            let ok = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && digits.bytes().filter(|b| *b == b'.').count() <= 1;
            ok.then(|| Cell::Decimal(t.to_string()))?
        }
        Portable::Float { bits } => {
            let special = match t {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                _ => None,
            };
            Cell::Float(match special {
                Some(f) => f,
                None if *bits <= 32 => f64::from(t.parse::<f32>().ok()?),
                None => t.parse::<f64>().ok()?,
            })
        }
        Portable::Boolean => match t {
            "t" => Cell::Bool(true),
            "f" => Cell::Bool(false),
            _ => return None,
        },
        // character(n) pads with spaces, which MySQL's CHAR drops on reading.
        Portable::Text { fixed: true, .. } => Cell::Text(t.trim_end_matches(' ').to_string()),
        Portable::Text { .. } => Cell::Text(t.to_string()),
        Portable::Bytes { .. } => Cell::Bytes(hex(t.strip_prefix("\\x")?)?),
        Portable::Date => Cell::Date(i32::try_from(date(t)?).ok()?),
        Portable::DateTime { .. } => Cell::DateTime(timestamp(t, false)?),
        Portable::Timestamp { .. } => Cell::Timestamp(timestamp(t, true)?),
        Portable::Duration { .. } => Cell::Duration(seconds_to_micros(t)?),
        Portable::Bits { width } => {
            if t.len() != *width as usize || !t.bytes().all(|b| b == b'0' || b == b'1') {
                return None;
            }
            let n = (*width as usize).div_ceil(8);
            let mut bytes = vec![0u8; n];
            // The last character is the value's lowest bit.
            for (i, b) in t.bytes().rev().enumerate() {
                if b == b'1' {
                    bytes[n - 1 - i / 8] |= 1 << (i % 8);
                }
            }
            Cell::Bits(bytes)
        }
        Portable::Enum { .. } => Cell::Enum(t.to_string()),
        Portable::Set { .. } => Cell::Set(serde_json::from_str::<Vec<String>>(t).ok()?),
        Portable::Json => Cell::Json(t.to_string()),
        Portable::Uuid => Cell::Uuid(uuid::Uuid::try_parse(t).ok()?.as_u128()),
    })
}

fn hex(t: &str) -> Option<Vec<u8>> {
    if !t.len().is_multiple_of(2) {
        return None;
    }
    (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `YYYY-MM-DD` (ISO), optionally ` BC`, as days since 1970-01-01.
fn date(t: &str) -> Option<i64> {
    match t.strip_suffix(" BC") {
        Some(rest) => ymd(rest, true),
        None => ymd(t, false),
    }
}

fn ymd(t: &str, bc: bool) -> Option<i64> {
    let mut parts = t.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(if bc { 1 - y } else { y }, m, d))
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM[:SS]]][ BC]` as microseconds since 1970 (UTC when
/// `zoned`: the session's TimeZone is UTC, so the offset is +00, but any is applied).
fn timestamp(t: &str, zoned: bool) -> Option<i64> {
    let (t, bc) = match t.strip_suffix(" BC") {
        Some(rest) => (rest, true),
        None => (t, false),
    };
    let (day, time) = t.split_once(' ')?;
    let days = ymd(day, bc)?;
    let (clock, offset) = if zoned {
        let at = time.rfind(['+', '-'])?;
        (&time[..at], Some(&time[at..]))
    } else {
        (time, None)
    };
    let mut c = clock.splitn(3, ':');
    let h: i64 = c.next()?.parse().ok()?;
    let min: i64 = c.next()?.parse().ok()?;
    let sec = seconds_to_micros(c.next()?)?;
    let mut us = days
        .checked_mul(MICROS_PER_DAY)?
        .checked_add(h * 3_600_000_000 + min * 60_000_000 + sec)?;
    if let Some(o) = offset {
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let mut p = o[1..].split(':');
        let oh: i64 = p.next()?.parse().ok()?;
        let om: i64 = p.next().map_or(Some(0), |v| v.parse().ok())?;
        let os: i64 = p.next().map_or(Some(0), |v| v.parse().ok())?;
        us = us.checked_sub(sign * (oh * 3600 + om * 60 + os) * 1_000_000)?;
    }
    Some(us)
}

/// Decimal seconds (`-3020399.500000`, `07`) as microseconds, refusing digits past them.
fn seconds_to_micros(t: &str) -> Option<i64> {
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 6 && frac[6..].bytes().any(|b| b != b'0') {
        return None;
    }
    let frac6: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
    let us = int
        .parse::<i64>()
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(frac6.parse::<i64>().ok()?)?;
    Some(if negative { -us } else { us })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_are_undone() {
        assert_eq!(
            unescape(br"a\tb\\c\nd\101\x41\\x").unwrap(),
            "a\tb\\c\ndAA\\x"
        );
    }

    #[test]
    fn printed_values_decode() {
        assert_eq!(date("1970-01-01"), Some(0));
        assert_eq!(date("1000-01-01"), Some(-354_285));
        assert_eq!(date("0001-01-01 BC"), Some(days_from_civil(0, 1, 1)));
        assert_eq!(
            timestamp("2017-07-14 02:40:00.123456+00", true),
            Some(1_500_000_000_123_456)
        );
        assert_eq!(
            timestamp("2017-07-14 04:40:00.5+02", true),
            Some(1_500_000_000_500_000)
        );
        assert_eq!(timestamp("1970-01-01 00:00:01", false), Some(1_000_000));
        assert_eq!(
            seconds_to_micros("-3020399.000000"),
            Some(-3_020_399_000_000)
        );
        assert_eq!(seconds_to_micros("0.0000001"), None);
        assert_eq!(
            decode("101010111100", &Portable::Bits { width: 12 }),
            Some(Cell::Bits(vec![0x0a, 0xbc]))
        );
        assert_eq!(
            decode(r#"["b c",""]"#, &Portable::Set { values: vec![] }),
            Some(Cell::Set(vec!["b c".into(), "".into()]))
        );
        assert_eq!(
            decode(
                "ab  ",
                &Portable::Text {
                    length: Some(4),
                    fixed: true
                }
            ),
            Some(Cell::Text("ab".into()))
        );
        assert_eq!(
            decode(
                "\\x00ff",
                &Portable::Bytes {
                    length: None,
                    fixed: false
                }
            ),
            Some(Cell::Bytes(vec![0, 255]))
        );
    }
}
