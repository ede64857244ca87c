//! SOURCE's rows as cells: one prepared statement per table, streamed, each value converted by
//! the one rule per portable type that the blockers' SQL mirrors (`blockers.sql`).

use rusqlite::types::ValueRef;

use super::{key_columns, key_text, place, show, SqliteBackend};
use crate::backend::transfer::{Cell, Portable, PortableColumn};
use crate::error::{Error, Result};
use crate::model::Table;

/// Why a stored value has no cell of its column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Problem {
    /// Not a value of the type (storage class, range, spelling, length).
    WrongType,
    /// A date with month or day 00.
    ZeroDate,
    /// Text holding a zero byte.
    ZeroByte,
    /// Text that is not valid UTF-8.
    NotUtf8,
    /// JSON with a key twice in one object (`transfer::duplicate_json_key`).
    DuplicateJsonKey(String),
}

/// 2^53: the integers a double holds exactly, all of them.
const EXACT_IN_DOUBLE: i64 = 1 << 53;

/// The cell of a non-NULL value of a column of type `ty`. `json_ok` is SQLite's own
/// `json_valid` of the value, for JSON columns (selected beside it).
pub(super) fn to_cell(
    ty: &Portable,
    v: ValueRef<'_>,
    json_ok: bool,
) -> std::result::Result<Cell, Problem> {
    use Problem::*;
    Ok(match (ty, v) {
        (_, ValueRef::Null) => Cell::Null,
        (Portable::Integer { .. }, ValueRef::Integer(i)) => Cell::Int(i as i128),
        (Portable::Boolean, ValueRef::Integer(i @ (0 | 1))) => Cell::Bool(i == 1),
        (Portable::Float { .. }, ValueRef::Real(f)) => Cell::Float(f),
        (Portable::Float { .. }, ValueRef::Integer(i))
            if (-EXACT_IN_DOUBLE..=EXACT_IN_DOUBLE).contains(&i) =>
        {
            Cell::Float(i as f64)
        }
        (Portable::Decimal { precision, scale }, ValueRef::Integer(i)) => {
            let digits = i.unsigned_abs().to_string();
            if let (Some(p), Some(s)) = (precision, scale) {
                if i != 0 && digits.len() as u32 > p.saturating_sub(*s) {
                    return Err(WrongType);
                }
            }
            Cell::Decimal(i.to_string())
        }
        (Portable::Decimal { precision, scale }, ValueRef::Real(f)) => {
            Cell::Decimal(real_decimal(f, *precision, *scale).ok_or(WrongType)?)
        }
        (Portable::Text { length, .. }, ValueRef::Text(b)) => {
            let s = text(b)?;
            if length.is_some_and(|n| s.chars().count() as u64 > n) {
                return Err(WrongType);
            }
            Cell::Text(s)
        }
        (Portable::Bytes { length, .. }, ValueRef::Blob(b) | ValueRef::Text(b)) => {
            if length.is_some_and(|n| b.len() as u64 > n) {
                return Err(WrongType);
            }
            Cell::Bytes(b.to_vec())
        }
        (Portable::Date, ValueRef::Text(b)) => Cell::Date(date_days(b)?),
        (Portable::DateTime { .. }, ValueRef::Text(b)) => Cell::DateTime(datetime_micros(b)?),
        // The alternative of a DATETIME: the same text read as UTC (SQLite's CURRENT_TIMESTAMP
        // and datetime('now') write UTC).
        (Portable::Timestamp { .. }, ValueRef::Text(b)) => Cell::Timestamp(datetime_micros(b)?),
        (Portable::Duration { .. }, ValueRef::Text(b)) => Cell::Duration(time_micros(b)?),
        (Portable::Json, ValueRef::Text(b)) => {
            let s = text(b)?;
            if !json_ok {
                return Err(WrongType);
            }
            if let Some(key) = crate::backend::transfer::duplicate_json_key(&s) {
                return Err(Problem::DuplicateJsonKey(key));
            }
            Cell::Json(s)
        }
        // JSON text that is a bare number became a number on the way in (JSON's declared type
        // has NUMERIC affinity): it is that JSON number.
        (Portable::Json, ValueRef::Integer(i)) => Cell::Json(i.to_string()),
        (Portable::Json, ValueRef::Real(f)) if f.is_finite() => Cell::Json(format!("{f}")),
        (Portable::Uuid, ValueRef::Text(b)) => Cell::Uuid(uuid_text(b).ok_or(WrongType)?),
        (Portable::Uuid, ValueRef::Blob(b)) => {
            let bytes: [u8; 16] = b.try_into().map_err(|_| WrongType)?;
            Cell::Uuid(u128::from_be_bytes(bytes))
        }
        _ => return Err(WrongType),
    })
}

fn text(b: &[u8]) -> std::result::Result<String, Problem> {
    if b.contains(&0) {
        return Err(Problem::ZeroByte);
    }
    String::from_utf8(b.to_vec()).map_err(|_| Problem::NotUtf8)
}

/// A REAL as an exact decimal: its shortest round-trip text (Rust's `{}` for f64, never an
/// exponent), `None` when it is not finite or needs more digits than DECIMAL(p,s) has. The
/// blockers ask the same of SQLite as `round(x, s) = x AND abs(x) < 1e(p-s)`.
pub(super) fn real_decimal(f: f64, precision: Option<u32>, scale: Option<u32>) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    // A decimal has no negative zero.
    let text = if f == 0.0 {
        "0".to_string()
    } else {
        format!("{f}")
    };
    if let (Some(p), Some(s)) = (precision, scale) {
        let unsigned = text.trim_start_matches('-');
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let int_digits = int.trim_start_matches('0').len() as u32;
        if frac.len() as u32 > s || int_digits > p.saturating_sub(s) {
            return None;
        }
    }
    Some(text)
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DD`, a real day of years 0000-9999 (SQLite's date range); month or day 00 is a
/// zero date.
pub(super) fn date_days(b: &[u8]) -> std::result::Result<i32, Problem> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(Problem::WrongType);
    }
    let (y, m, d) = match (digits(&b[..4]), digits(&b[5..7]), digits(&b[8..10])) {
        (Some(y), Some(m), Some(d)) => (y, m, d),
        _ => return Err(Problem::WrongType),
    };
    if m == 0 || d == 0 {
        return Err(Problem::ZeroDate);
    }
    if m > 12 || d > days_in_month(y, m) {
        return Err(Problem::WrongType);
    }
    Ok(crate::calendar::days_from_civil(i64::from(y), i64::from(m), i64::from(d)) as i32)
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.f` (1 to 6 digits) within a day, in microseconds.
fn clock_micros(b: &[u8]) -> Option<i64> {
    let field = |at: usize, max: u32| digits(b.get(at..at + 2)?).filter(|&v| v <= max);
    let h = field(0, 23)?;
    if b.get(2) != Some(&b':') {
        return None;
    }
    let m = field(3, 59)?;
    let (s, frac) = match b.len() {
        5 => (0, 0),
        8 if b[5] == b':' => (field(6, 59)?, 0),
        10..=15 if b[5] == b':' && b[8] == b'.' => {
            let f = &b[9..];
            let value = digits(f)?;
            (field(6, 59)?, value * 10u32.pow(6 - f.len() as u32))
        }
        _ => return None,
    };
    Some(((i64::from(h) * 60 + i64::from(m)) * 60 + i64::from(s)) * 1_000_000 + i64::from(frac))
}

/// `YYYY-MM-DD`, or it followed by ` ` or `T` and a time of day (`clock_micros`): SQLite's own
/// spellings without a zone. A number is refused: SQLite's functions read it as a Julian day,
/// applications often as Unix seconds, and nothing in the file says which.
pub(super) fn datetime_micros(b: &[u8]) -> std::result::Result<i64, Problem> {
    if b.len() < 10 {
        return Err(Problem::WrongType);
    }
    let time = if b.len() == 10 {
        Some(0)
    } else if b[10] == b' ' || b[10] == b'T' {
        clock_micros(&b[11..])
    } else {
        None
    };
    let days = date_days(&b[..10]);
    match (days, time) {
        (Err(Problem::ZeroDate), Some(_)) => Err(Problem::ZeroDate),
        (Ok(days), Some(t)) => Ok(i64::from(days) * 86_400_000_000 + t),
        _ => Err(Problem::WrongType),
    }
}

/// A TIME column's value: a time of day (`clock_micros`) as the span since midnight.
pub(super) fn time_micros(b: &[u8]) -> std::result::Result<i64, Problem> {
    clock_micros(b).ok_or(Problem::WrongType)
}

/// A UUID as text: 32 hex digits, or 36 with dashes at 8-4-4-4-12, either case.
pub(super) fn uuid_text(b: &[u8]) -> Option<u128> {
    let hex: Vec<u8> = match b.len() {
        32 => b.to_vec(),
        36 if [8, 13, 18, 23].iter().all(|&i| b[i] == b'-') => {
            b.iter().copied().filter(|&c| c != b'-').collect()
        }
        _ => return None,
    };
    if hex.len() != 32 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u128::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()
}

fn describe(ty: &Portable) -> &'static str {
    match ty {
        Portable::Integer { .. } => "an integer",
        Portable::Decimal { .. } => "a decimal of the declared precision and scale",
        Portable::Float { .. } => "a floating-point number",
        Portable::Boolean => "a boolean (0 or 1)",
        Portable::Text { .. } => "text of the declared length",
        Portable::Bytes { .. } => "bytes of the declared length",
        Portable::Date => "a date written YYYY-MM-DD",
        Portable::DateTime { .. } | Portable::Timestamp { .. } => {
            "a date and time written YYYY-MM-DD[ HH:MM[:SS[.ffffff]]] (or with T)"
        }
        Portable::Duration { .. } => "a time of day written HH:MM[:SS[.ffffff]]",
        Portable::Json => "valid JSON text or a number",
        Portable::Uuid => "a UUID (32 hex digits, 36 with dashes, or a 16-byte blob)",
        _ => "a value of the column's type",
    }
}

pub(super) fn export_rows(
    backend: &SqliteBackend,
    table: &Table,
    columns: &[PortableColumn],
    zero_dates_null: bool,
    sink: &mut dyn FnMut(Vec<Cell>) -> Result<()>,
) -> Result<u64> {
    let conn = backend.open_read_only(&table.name)?;
    let mut select: Vec<String> = columns.iter().map(|c| super::q(&c.name)).collect();
    // JSON validity is SQLite's own verdict, read beside the value (one rule with the blockers).
    let json_at: Vec<Option<usize>> = columns
        .iter()
        .map(|c| {
            (c.ty == Portable::Json).then(|| {
                select.push(format!("json_valid({})", super::q(&c.name)));
                select.len() - 1
            })
        })
        .collect();
    // The row's key rides along (its primary key, or the rowid of a table without one), read
    // only to name a row whose value cannot convert.
    let (key, by_rowid) = key_columns(table);
    let key_at = select.len();
    select.extend(key.iter().cloned());
    let sql = format!(
        "SELECT {} FROM main.{}",
        select.join(", "),
        super::q(&table.name)
    );
    let mut stmt = conn
        .prepare(&sql)
        .map_err(|e| super::super::sql_error(e, &sql).at(&place(&table.name)))?;
    let mut rows = stmt.raw_query();
    let mut count = 0u64;
    while let Some(row) = rows
        .next()
        .map_err(|e| super::super::sql_error(e, &sql).at(&place(&table.name)))?
    {
        let mut cells = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            let v = row
                .get_ref(i)
                .map_err(|e| super::super::sql_error(e, &sql).at(&place(&table.name)))?;
            let json_ok = match json_at[i] {
                Some(j) => matches!(row.get_ref(j), Ok(ValueRef::Integer(1))),
                None => false,
            };
            match to_cell(&column.ty, v, json_ok) {
                Ok(cell) => cells.push(cell),
                Err(Problem::ZeroDate) if zero_dates_null => cells.push(Cell::Null),
                Err(problem) => {
                    let keys: Vec<String> = (key_at..key_at + key.len())
                        .map(|k| row.get_ref(k).map(show).unwrap_or_default())
                        .collect();
                    let row = match (keys.is_empty(), by_rowid) {
                        (true, _) => "a row".to_string(),
                        (false, true) => format!("the row with {}", key_text(&keys, true)),
                        (false, false) => {
                            format!("the row with primary key {}", key_text(&keys, false))
                        }
                    };
                    return Err(conversion_error(table, column, &row, show(v), problem));
                }
            }
        }
        sink(cells)?;
        count += 1;
    }
    Ok(count)
}

fn conversion_error(
    table: &Table,
    column: &PortableColumn,
    row: &str,
    value: String,
    problem: Problem,
) -> Error {
    let what = match problem {
        Problem::ZeroByte => {
            "text holding a zero byte, which PostgreSQL's text cannot store".into()
        }
        Problem::NotUtf8 => "text that is not valid UTF-8".into(),
        Problem::ZeroDate => "a date with month or day 00, which no calendar has".into(),
        Problem::DuplicateJsonKey(ref key) => format!(
            "JSON with the key {key:?} twice in one object: SQLite's JSON functions read the first value, PostgreSQL the last, so the move would change what it means"
        ),
        Problem::WrongType => format!(
            "a value that is not {} (declared {})",
            describe(&column.ty),
            table
                .columns
                .iter()
                .find(|c| c.name == column.name)
                .map(|c| if c.column_type.is_empty() {
                    "without a type".to_string()
                } else {
                    c.column_type.clone()
                })
                .unwrap_or_default()
        ),
    };
    let hint = match problem {
        Problem::ZeroDate => "Store a real date or NULL there in SOURCE, or run with --zero-dates null to move such dates as NULL.",
        _ => "Correct or clear the value in SOURCE (SQLite does not enforce declared types, so other rows may hold the same: the transfer stage's check lists them), then run again.",
    };
    Error::input(
        place(&table.name).column(&column.name),
        format!("{row} holds {value}: {what}."),
        hint,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_days(b"1970-01-01"), Ok(0));
        assert_eq!(date_days(b"2000-02-29"), Ok(11016));
        assert_eq!(date_days(b"1969-12-31"), Ok(-1));
        assert_eq!(date_days(b"0000-01-01"), Ok(-719528));
        assert_eq!(date_days(b"9999-12-31"), Ok(2932896));
        assert_eq!(date_days(b"2021-02-29"), Err(Problem::WrongType));
        assert_eq!(date_days(b"2021-13-01"), Err(Problem::WrongType));
        assert_eq!(date_days(b"2021-00-10"), Err(Problem::ZeroDate));
        assert_eq!(date_days(b"0000-00-00"), Err(Problem::ZeroDate));
        assert_eq!(date_days(b"2021-1-01"), Err(Problem::WrongType));
        assert_eq!(date_days(b"2021/01/01"), Err(Problem::WrongType));
    }

    #[test]
    fn datetimes_with_and_without_fractions() {
        const DAY: i64 = 86_400_000_000;
        let at = |s: &str| datetime_micros(s.as_bytes());
        assert_eq!(at("1970-01-01 00:00:00"), Ok(0));
        assert_eq!(at("1970-01-02"), Ok(DAY));
        assert_eq!(at("1970-01-01 00:01"), Ok(60_000_000));
        assert_eq!(at("1970-01-01T00:00:01"), Ok(1_000_000));
        assert_eq!(at("1970-01-01 00:00:01.5"), Ok(1_500_000));
        assert_eq!(at("1970-01-01T00:00:01.123"), Ok(1_123_000));
        assert_eq!(at("1969-12-31 23:59:59.999999"), Ok(-1));
        assert_eq!(at("2038-01-19 03:14:08.123456"), Ok(2_147_483_648_123_456));
        assert_eq!(at("0000-00-00 00:00:00"), Err(Problem::ZeroDate));
        // Asked for as the alternative timestamp, the same text is the same instant in UTC.
        assert_eq!(
            to_cell(
                &Portable::Timestamp { fraction: 6 },
                ValueRef::Text(b"1970-01-01 00:00:01"),
                false
            ),
            Ok(Cell::Timestamp(1_000_000))
        );
        for bad in [
            "1970-01-01 24:00:00",
            "1970-01-01 00:60",
            "1970-01-01 00:00:60",
            "1970-01-01 00:00:00.1234567",
            "1970-01-01 00:00:00.",
            "1970-01-01 00:00:00Z",
            "1970-01-01 00:00:00+02:00",
            "1970-01-01t00:00:00",
            "1970-01-01  00:00",
            "1700000000",
            "",
        ] {
            assert_eq!(at(bad), Err(Problem::WrongType), "{bad}");
        }
    }

    #[test]
    fn times_of_day() {
        assert_eq!(time_micros(b"00:00"), Ok(0));
        assert_eq!(time_micros(b"23:59:59.999999"), Ok(86_399_999_999));
        assert_eq!(time_micros(b"12:34:56"), Ok(45_296_000_000));
        assert_eq!(time_micros(b"24:00:00"), Err(Problem::WrongType));
        assert_eq!(time_micros(b"-01:00:00"), Err(Problem::WrongType));
    }

    #[test]
    fn decimals_from_reals_are_their_shortest_text() {
        assert_eq!(
            real_decimal(123.45, Some(12), Some(2)).as_deref(),
            Some("123.45")
        );
        assert_eq!(real_decimal(-0.0, Some(3), Some(2)).as_deref(), Some("0"));
        assert_eq!(
            real_decimal(-9999999999.99, Some(12), Some(2)).as_deref(),
            Some("-9999999999.99")
        );
        assert_eq!(real_decimal(0.1 + 0.2, Some(12), Some(2)), None);
        assert_eq!(
            real_decimal(0.1 + 0.2, None, None).as_deref(),
            Some("0.30000000000000004")
        );
        assert_eq!(real_decimal(1e10, Some(12), Some(2)), None);
        assert_eq!(
            real_decimal(1e21, None, None).as_deref(),
            Some("1000000000000000000000")
        );
        assert_eq!(real_decimal(1e-7, None, None).as_deref(), Some("0.0000001"));
        assert_eq!(real_decimal(f64::INFINITY, None, None), None);
    }

    #[test]
    fn cells_by_type() {
        let int = Portable::Integer {
            bits: 64,
            unsigned: false,
        };
        assert_eq!(
            to_cell(&int, ValueRef::Integer(-5), false),
            Ok(Cell::Int(-5))
        );
        assert_eq!(
            to_cell(&int, ValueRef::Text(b"5"), false),
            Err(Problem::WrongType)
        );
        assert_eq!(
            to_cell(&int, ValueRef::Real(1.5), false),
            Err(Problem::WrongType)
        );
        let dec = Portable::Decimal {
            precision: Some(4),
            scale: Some(1),
        };
        assert_eq!(
            to_cell(&dec, ValueRef::Integer(-999), false),
            Ok(Cell::Decimal("-999".into()))
        );
        assert_eq!(
            to_cell(&dec, ValueRef::Integer(1000), false),
            Err(Problem::WrongType)
        );
        assert_eq!(
            to_cell(&Portable::Boolean, ValueRef::Integer(2), false),
            Err(Problem::WrongType)
        );
        let float = Portable::Float { bits: 64 };
        assert_eq!(
            to_cell(&float, ValueRef::Integer(1 << 53), false),
            Ok(Cell::Float(9007199254740992.0))
        );
        assert_eq!(
            to_cell(&float, ValueRef::Integer((1 << 53) + 1), false),
            Err(Problem::WrongType)
        );
        let text = Portable::Text {
            length: Some(3),
            fixed: false,
        };
        assert_eq!(
            to_cell(&text, ValueRef::Text("äöü".as_bytes()), false),
            Ok(Cell::Text("äöü".into()))
        );
        assert_eq!(
            to_cell(&text, ValueRef::Text(b"abcd"), false),
            Err(Problem::WrongType)
        );
        assert_eq!(
            to_cell(&text, ValueRef::Text(b"a\0b"), false),
            Err(Problem::ZeroByte)
        );
        assert_eq!(
            to_cell(&text, ValueRef::Text(b"\xff"), false),
            Err(Problem::NotUtf8)
        );
        let bytes = Portable::Bytes {
            length: None,
            fixed: false,
        };
        assert_eq!(
            to_cell(&bytes, ValueRef::Text(b"a\0"), false),
            Ok(Cell::Bytes(b"a\0".to_vec()))
        );
        assert_eq!(
            to_cell(&bytes, ValueRef::Integer(1), false),
            Err(Problem::WrongType)
        );
        let id = 0x0123_4567_89ab_cdef_0123_4567_89ab_cdefu128;
        for t in [
            "0123456789ABCDEF0123456789abcdef",
            "01234567-89ab-cdef-0123-456789ABCDEF",
        ] {
            assert_eq!(
                to_cell(&Portable::Uuid, ValueRef::Text(t.as_bytes()), false),
                Ok(Cell::Uuid(id))
            );
        }
        assert_eq!(
            to_cell(&Portable::Uuid, ValueRef::Blob(&id.to_be_bytes()), false),
            Ok(Cell::Uuid(id))
        );
        assert_eq!(
            to_cell(
                &Portable::Uuid,
                ValueRef::Text(b"0123456789-abcdef0123456789abcdef"),
                false
            ),
            Err(Problem::WrongType)
        );
        assert_eq!(
            to_cell(&Portable::Json, ValueRef::Text(b"{\"a\":1}"), true),
            Ok(Cell::Json("{\"a\":1}".into()))
        );
        assert_eq!(
            to_cell(&Portable::Json, ValueRef::Text(b"{a:1}"), false),
            Err(Problem::WrongType)
        );
        assert_eq!(
            to_cell(&Portable::Json, ValueRef::Real(1.5), false),
            Ok(Cell::Json("1.5".into()))
        );
        assert_eq!(
            to_cell(&Portable::Json, ValueRef::Real(f64::INFINITY), false),
            Err(Problem::WrongType)
        );
    }
}
