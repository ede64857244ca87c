//! Changing engine in the same cutover (MariaDB/MySQL or SQLite to PostgreSQL): the neutral
//! types a column's values take on the way (`Portable`), one value in flight (`Cell`), and the
//! two halves an engine may implement: `Export` (SOURCE's engine reads its rows as cells, exactly)
//! and `Import` (DB_DATA's engine creates a copy of SOURCE's tables in its own types, stores the
//! cells with binary COPY and reads them back for the check). The stage that drives them
//! (`stages/transfer.rs`) is engine-neutral; the copy it makes is what every later stage reads as
//! SOURCE, so the conversion itself runs within one engine as it always did.

use serde::Serialize;

use crate::error::{Error, Place, Result};
use crate::model::{Column, ForeignKey, Index, Table};
use crate::url::Engine;

/// What values a column holds, in terms every engine can map exactly. The exporting engine
/// names its column's type; the importing engine chooses the type that stores every such value
/// unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Portable {
    /// Integers of `bits` (8, 16, 24, 32 or 64), signed or not; unsigned ones are widened where
    /// the target has no unsigned type (a BIGINT UNSIGNED takes numeric(20,0)).
    Integer {
        bits: u8,
        unsigned: bool,
    },
    /// Exact decimals; `None` precision: any (SQLite's NUMERIC, PostgreSQL's bare numeric).
    Decimal {
        precision: Option<u32>,
        scale: Option<u32>,
    },
    /// IEEE floats of 32 or 64 bits, every value round-tripped bit for bit.
    Float {
        bits: u8,
    },
    Boolean,
    /// Character strings; `length` in characters, `fixed` for CHAR(n). Never holds a zero byte
    /// (PostgreSQL's text cannot), which `Export::export_blockers` finds first.
    Text {
        length: Option<u64>,
        fixed: bool,
    },
    /// Byte strings; `length` in bytes, `fixed` for BINARY(n).
    Bytes {
        length: Option<u64>,
        fixed: bool,
    },
    Date,
    /// A date and time of day without a zone (MySQL DATETIME), `fraction` digits of seconds.
    DateTime {
        fraction: u8,
    },
    /// A moment (MySQL TIMESTAMP, read in UTC), `fraction` digits of seconds.
    Timestamp {
        fraction: u8,
    },
    /// A signed span (MySQL TIME, up to 838 hours), `fraction` digits of seconds.
    Duration {
        fraction: u8,
    },
    /// MySQL YEAR: 0 or 1901-2155.
    Year,
    /// A fixed number of bits (MySQL BIT(n)).
    Bits {
        width: u32,
    },
    /// One of a list of strings (MySQL ENUM), in declaration order.
    Enum {
        values: Vec<String>,
    },
    /// Any subset of a list of strings (MySQL SET).
    Set {
        values: Vec<String>,
    },
    Json,
    Uuid,
}

/// A value in flight between two engines, decoded by meaning. Both the exporting engine's reader
/// and the importing engine's read-back produce cells, so the check compares meanings, not bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    /// Every integer type, and YEAR.
    Int(i128),
    /// Decimal text as the engine prints it: optional `-`, digits, optional `.` and digits.
    Decimal(String),
    /// FLOAT (widened exactly) and DOUBLE.
    Float(f64),
    Bool(bool),
    /// Valid UTF-8 without a zero byte.
    Text(String),
    Bytes(Vec<u8>),
    /// Days since 1970-01-01 (proleptic Gregorian).
    Date(i32),
    /// Microseconds since 1970-01-01 00:00:00, no zone (`Portable::DateTime`).
    DateTime(i64),
    /// Microseconds since 1970-01-01 00:00:00 UTC (`Portable::Timestamp`).
    Timestamp(i64),
    /// Microseconds, signed (`Portable::Duration`).
    Duration(i64),
    /// `Portable::Bits`: the value's bits, most significant byte first, `ceil(width / 8)` bytes,
    /// the unused high bits of the first byte zero.
    Bits(Vec<u8>),
    /// `Portable::Enum`: the member's text.
    Enum(String),
    /// `Portable::Set`: the members present, in the declaration's order.
    Set(Vec<String>),
    /// JSON text as the engine gives it; compared by meaning (`serde_json::Value`).
    Json(String),
    Uuid(u128),
}

/// A column's default, where it has an exact translation.
#[derive(Debug, Clone, PartialEq)]
pub enum PortableDefault {
    Value(Cell),
    /// `CURRENT_TIMESTAMP` and its synonyms (on `DateTime`/`Timestamp`/`Date` columns): the
    /// inserting session's date and time (MySQL's DATETIME, like PostgreSQL's timestamp).
    Now,
    /// The current moment's date and time in UTC, whatever the inserting session's zone
    /// (SQLite's CURRENT_TIMESTAMP, CURRENT_DATE, datetime('now')).
    NowUtc,
}

/// One column of SOURCE in portable terms.
#[derive(Debug, Clone, PartialEq)]
pub struct PortableColumn {
    pub name: String,
    /// The type SOURCE's column has; `Export::export_rows` gives cells of this type.
    pub ty: Portable,
    /// Other types the same values can take exactly, that DB_FINAL may ask for: a TINYINT(1) as
    /// `Boolean` (every value 0 or 1), CHAR(36)/BINARY(16) as `Uuid`, DATETIME as `Timestamp`
    /// (read as UTC). The stage picks the one DB_FINAL's column has (`Import::portable_of`)
    /// and converts each cell (`Cell::convert`), refusing a value the choice would change.
    pub alternatives: Vec<Portable>,
    pub nullable: bool,
    pub default: Option<PortableDefault>,
    /// SOURCE's default expression where it has no exact translation (listed for the reviewer,
    /// not carried over).
    pub untranslated_default: Option<String>,
    /// AUTO_INCREMENT (MySQL) / AUTOINCREMENT (SQLite): an identity column on the target, its
    /// sequence set past the largest value after the rows.
    pub identity: bool,
    pub comment: Option<String>,
}

impl PortableColumn {
    /// A nullable column of type `ty` with nothing else said about it.
    pub fn new(name: &str, ty: Portable) -> Self {
        PortableColumn {
            name: name.to_string(),
            ty,
            alternatives: Vec::new(),
            nullable: true,
            default: None,
            untranslated_default: None,
            identity: false,
            comment: None,
        }
    }
}

/// What SOURCE holds that the move cannot store exactly, found before anything is written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportBlocker {
    pub table: String,
    pub column: String,
    pub problem: BlockerKind,
    /// Rows with the problem.
    pub rows: u64,
    /// The first few such rows' primary keys, as text.
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockerKind {
    /// Text holding a zero byte: PostgreSQL's text cannot store it.
    ZeroByte,
    /// A date with month or day 0 (`0000-00-00` and kin): no such day exists on the target.
    /// Refused, or stored as NULL with `--zero-dates null` (then reported, not blocking).
    ZeroDate,
    /// A value stored under a type SOURCE's engine does not enforce (SQLite: text in an
    /// INTEGER column) that the target type cannot hold.
    WrongType,
    /// Text whose stored bytes are no character of its column's character set (kept by a
    /// non-strict server, or unassigned in that set): the server converts them to '?' or U+FFFD,
    /// so the value would move changed.
    Unconvertible,
}

/// One table of the copy on the importing engine: SOURCE's table with each column's chosen type.
#[derive(Debug, Clone, Default)]
pub struct ImportTable {
    pub name: String,
    pub columns: Vec<PortableColumn>,
    /// SOURCE's primary-key columns (their integer keys kept: the copy is SOURCE, not DB_FINAL).
    pub primary_key: Vec<String>,
    /// Unique and secondary indexes that translate (plain column lists), SOURCE's names.
    pub indexes: Vec<Index>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Per column, DB_FINAL's exact column type where the copy takes it instead of its own
    /// spelling of the column's `ty` (an application's `timestamp with time zone`, `json`, an
    /// enum type): the importer creates the column with it and encodes values for it. Set only
    /// where that type holds every value of the column's `ty` (`Portable::holds`).
    pub final_types: std::collections::BTreeMap<String, String>,
}

/// The statements that make one `ImportTable`: `before` the rows (the table, its primary key,
/// the CHECKs that keep ENUM and SET values in their lists), `after` them (indexes, identity
/// restarts), and `links` once every table has its rows (foreign keys, with their rules).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportDdl {
    pub before: Vec<String>,
    pub after: Vec<String>,
    pub links: Vec<String>,
}

/// SOURCE's engine as the origin of a move to another engine.
pub trait Export: Send + Sync {
    /// Whether a SOURCE of this engine can move to `target` (no engine moves to itself).
    fn exports_to(&self, _target: Engine) -> bool {
        false
    }

    /// Each column of `table` in portable terms, or one line per column that has no exact
    /// portable type (spatial types, generated columns' expressions...), naming the column and
    /// what to do.
    fn portable_columns(
        &self,
        _table: &Table,
    ) -> std::result::Result<Vec<PortableColumn>, Vec<String>> {
        Err(vec![format!(
            "table {}: this engine cannot be the SOURCE of a move to another engine",
            _table.name
        )])
    }

    /// SOURCE's values the move cannot store exactly, one entry per (column, problem), counted
    /// in one scan of the table: text with a zero byte, zero dates, values of the wrong type.
    fn export_blockers(
        &self,
        _table: &Table,
        _columns: &[PortableColumn],
    ) -> Result<Vec<ExportBlocker>> {
        Ok(Vec::new())
    }

    /// Streams every row of `table`, the cells in `columns`' order and of each column's `ty`,
    /// into `sink`; zero dates as `Cell::Null` when `zero_dates_null` (refused otherwise, by
    /// `export_blockers` before). Returns the number of rows. SOURCE is only read.
    fn export_rows(
        &self,
        table: &Table,
        _columns: &[PortableColumn],
        _zero_dates_null: bool,
        _sink: &mut dyn FnMut(Vec<Cell>) -> Result<()>,
    ) -> Result<u64> {
        Err(Error::input(
            Place::stage(crate::stage::Stage::Transfer).table(&table.name),
            "this engine cannot be the SOURCE of a move to another engine.".to_string(),
            "Use SOURCE, DB_DATA and DB_FINAL of one engine.",
        ))
    }
}

/// DB_DATA's engine as the target of a move: the copy of SOURCE it holds, in its own types.
/// `self` is the backend of the copy's database.
pub trait Import: Send + Sync {
    /// Whether this engine can hold a copy of another engine's SOURCE.
    fn imports(&self) -> bool {
        false
    }

    /// The portable type a column of this engine holds exactly (DB_FINAL's columns, to choose
    /// among a SOURCE column's alternatives); `None` when it has none.
    fn portable_of(&self, _column: &Column) -> Option<Portable> {
        None
    }

    /// The column type that stores every value of `ty` exactly, as DDL text.
    fn import_type_sql(&self, _ty: &Portable) -> String {
        String::new()
    }

    /// The statements that create `table` in the copy (quoted by the one helper).
    fn import_ddl(&self, _table: &ImportTable) -> ImportDdl {
        ImportDdl::default()
    }

    /// Makes in the copy the types DB_FINAL's columns use that the copy will take
    /// (`ImportTable::final_types`) and it lacks (PostgreSQL's enum types), as DB_FINAL defines
    /// them.
    fn import_types(
        &self,
        _final_db: &dyn crate::backend::Backend,
        _types: &[String],
    ) -> Result<()> {
        Ok(())
    }

    /// Stores `rows` (cells of each column's chosen `ty`, in `table.columns`' order) into the
    /// copy's empty table with binary COPY, in one transaction. Returns the rows stored.
    fn import_rows(
        &self,
        table: &ImportTable,
        _rows: &mut dyn Iterator<Item = Result<Vec<Cell>>>,
    ) -> Result<u64> {
        Err(Error::input(
            Place::stage(crate::stage::Stage::Transfer).table(&table.name),
            "this engine cannot hold a copy of another engine's SOURCE.".to_string(),
            "Use PostgreSQL for DB_DATA and DB_FINAL when SOURCE is another engine.",
        ))
    }

    /// Reads the copy's table back as cells of each column's chosen `ty`, in `table.columns`'
    /// order (the check that what was stored is what was read).
    fn read_back(
        &self,
        table: &ImportTable,
        _sink: &mut dyn FnMut(Vec<Cell>) -> Result<()>,
    ) -> Result<u64> {
        Err(Error::input(
            Place::stage(crate::stage::Stage::Transfer).table(&table.name),
            "this engine cannot hold a copy of another engine's SOURCE.".to_string(),
            "Use PostgreSQL for DB_DATA and DB_FINAL when SOURCE is another engine.",
        ))
    }
}

impl Portable {
    /// Whether a column of this type stores every value of `other` unchanged: the same type, a
    /// wider integer or decimal, a longer string, more fraction digits, a moment for a date and
    /// time read as UTC, text for enum members or JSON, an enum of unknown members (PostgreSQL
    /// checks each label as it stores it, and refuses one it lacks) for enum members or text.
    pub fn holds(&self, other: &Portable) -> bool {
        use Portable as P;
        let fits = |mine: Option<u64>, theirs: Option<u64>| match (mine, theirs) {
            (None, _) => true,
            (Some(m), Some(t)) => t <= m,
            (Some(_), None) => false,
        };
        match (self, other) {
            (a, b) if a == b => true,
            (
                P::Integer { bits, unsigned },
                P::Integer {
                    bits: b2,
                    unsigned: u2,
                },
            ) => {
                let (lo, hi) = integer_range(*bits, *unsigned);
                let (lo2, hi2) = integer_range(*b2, *u2);
                lo <= lo2 && hi2 <= hi
            }
            (
                P::Integer {
                    bits: 16 | 24 | 32 | 64,
                    ..
                },
                P::Year,
            ) => true,
            (
                P::Decimal {
                    precision: None, ..
                },
                P::Decimal { .. } | P::Integer { .. },
            ) => true,
            (
                P::Decimal {
                    precision: Some(p),
                    scale,
                },
                P::Decimal {
                    precision: Some(p2),
                    scale: s2,
                },
            ) => {
                let (s, s2) = (scale.unwrap_or(0), s2.unwrap_or(0));
                s >= s2 && p.saturating_sub(s) >= p2.saturating_sub(s2)
            }
            (
                P::Decimal {
                    precision: Some(p),
                    scale,
                },
                P::Integer { bits, unsigned },
            ) => {
                let digits = integer_range(*bits, *unsigned).1.to_string().len() as u32;
                p.saturating_sub(scale.unwrap_or(0)) >= digits
            }
            (P::Float { bits: 64 }, P::Float { bits: 32 }) => true,
            (P::Text { length, .. }, P::Text { length: l2, .. }) => fits(*length, *l2),
            (P::Text { length, .. }, P::Enum { values }) => fits(
                *length,
                Some(
                    values
                        .iter()
                        .map(|v| v.chars().count() as u64)
                        .max()
                        .unwrap_or(0),
                ),
            ),
            (P::Text { length: None, .. }, P::Json) => true,
            (P::Bytes { length, .. }, P::Bytes { length: l2, .. }) => fits(*length, *l2),
            (P::Bytes { length: None, .. }, P::Text { .. }) => true,
            (P::Enum { values }, P::Enum { values: v2 }) => {
                values.is_empty() || v2.iter().all(|v| values.contains(v))
            }
            (P::Enum { values }, P::Text { .. }) => values.is_empty(),
            (P::DateTime { fraction }, P::DateTime { fraction: f2 })
            | (P::Timestamp { fraction }, P::Timestamp { fraction: f2 })
            | (P::Timestamp { fraction }, P::DateTime { fraction: f2 })
            | (P::Duration { fraction }, P::Duration { fraction: f2 }) => fraction >= f2,
            (P::Bits { width }, P::Bits { width: w2 }) => width == w2,
            _ => false,
        }
    }
}

impl Cell {
    /// This cell, of a column whose SOURCE type is `from`, as a value of `to` (one of the
    /// column's `alternatives`, or `from` itself): exact, or why not (the value the choice would
    /// change, which the transfer refuses, naming the row).
    pub fn convert(self, from: &Portable, to: &Portable) -> std::result::Result<Cell, String> {
        if from == to || self == Cell::Null {
            return Ok(self);
        }
        match (self, to) {
            (Cell::Int(i), Portable::Boolean) => match i {
                0 => Ok(Cell::Bool(false)),
                1 => Ok(Cell::Bool(true)),
                other => Err(format!("{other} is not a boolean (only 0 and 1 are)")),
            },
            (Cell::Bits(b), Portable::Boolean) if b.len() == 1 && b[0] <= 1 => {
                Ok(Cell::Bool(b[0] == 1))
            }
            (Cell::Int(i), Portable::Integer { bits, unsigned }) => {
                let (lo, hi) = integer_range(*bits, *unsigned);
                if (lo..=hi).contains(&i) {
                    Ok(Cell::Int(i))
                } else {
                    Err(format!("{i} does not fit a {bits}-bit integer"))
                }
            }
            (Cell::Text(t), Portable::Uuid) => uuid::Uuid::try_parse(t.trim())
                .map(|u| Cell::Uuid(u.as_u128()))
                .map_err(|_| format!("{t:?} is not a UUID")),
            (Cell::Bytes(b), Portable::Uuid) => <[u8; 16]>::try_from(b.as_slice())
                .map(|a| Cell::Uuid(u128::from_be_bytes(a)))
                .map_err(|_| format!("{} bytes are not a UUID (16 are)", b.len())),
            (Cell::DateTime(micros), Portable::Timestamp { .. }) => Ok(Cell::Timestamp(micros)),
            (Cell::Timestamp(micros), Portable::DateTime { .. }) => Ok(Cell::DateTime(micros)),
            (Cell::Int(i), Portable::Decimal { .. }) => Ok(Cell::Decimal(i.to_string())),
            (Cell::Float(f), Portable::Float { .. }) => Ok(Cell::Float(f)),
            (Cell::Decimal(d), Portable::Decimal { .. }) => Ok(Cell::Decimal(d)),
            (Cell::Text(t), Portable::Text { .. }) => Ok(Cell::Text(t)),
            (Cell::Text(t), Portable::Enum { .. }) => Ok(Cell::Enum(t)),
            (Cell::Enum(t), Portable::Enum { .. }) => Ok(Cell::Enum(t)),
            (Cell::Json(j), Portable::Text { .. }) => Ok(Cell::Text(j)),
            (Cell::Text(t), Portable::Json) => json_text(t),
            (Cell::Bytes(b), Portable::Bytes { .. }) => Ok(Cell::Bytes(b)),
            (Cell::Date(d), Portable::Date) => Ok(Cell::Date(d)),
            (Cell::DateTime(m), Portable::DateTime { .. }) => Ok(Cell::DateTime(m)),
            (Cell::Timestamp(m), Portable::Timestamp { .. }) => Ok(Cell::Timestamp(m)),
            (Cell::Duration(m), Portable::Duration { .. }) => Ok(Cell::Duration(m)),
            (Cell::Bits(b), Portable::Bits { .. }) => Ok(Cell::Bits(b)),
            (Cell::Enum(t), Portable::Text { .. }) => Ok(Cell::Text(t)),
            (Cell::Text(t), Portable::Bytes { .. }) => Ok(Cell::Bytes(t.into_bytes())),
            (cell, to) => Err(format!("{cell:?} cannot be stored as {to:?}")),
        }
    }

    /// Appends this cell's meaning to `out`: equal meanings give equal bytes whichever engine
    /// produced the cell (decimals without insignificant zeros, JSON parsed, CHAR padding gone).
    pub fn canonical(&self, out: &mut Vec<u8>) {
        let mut put = |tag: u8, bytes: &[u8]| {
            out.push(tag);
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        };
        match self {
            Cell::Null => put(0, &[]),
            Cell::Int(i) => put(1, &i.to_le_bytes()),
            Cell::Decimal(d) => put(2, canonical_decimal(d).as_bytes()),
            Cell::Float(f) => put(3, &f.to_bits().to_le_bytes()),
            Cell::Bool(b) => put(4, &[*b as u8]),
            Cell::Text(t) => put(5, t.as_bytes()),
            Cell::Bytes(b) => put(6, b),
            Cell::Date(d) => put(7, &d.to_le_bytes()),
            Cell::DateTime(m) => put(8, &m.to_le_bytes()),
            Cell::Timestamp(m) => put(9, &m.to_le_bytes()),
            Cell::Duration(m) => put(10, &m.to_le_bytes()),
            Cell::Bits(b) => put(11, b),
            Cell::Enum(t) => put(12, t.as_bytes()),
            Cell::Set(members) => put(13, members.join("\u{0}").as_bytes()),
            Cell::Json(j) => match serde_json::from_str::<serde_json::Value>(j) {
                Ok(v) => put(14, json_meaning(v).to_string().as_bytes()),
                Err(_) => put(15, j.as_bytes()),
            },
            Cell::Uuid(u) => put(16, &u.to_le_bytes()),
        }
    }
}

/// Text that is one JSON value, as JSON (kept as written: jsonb normalises it the way it does
/// SOURCE's own JSON); anything else refused, and an object with a key twice.
fn json_text(t: String) -> std::result::Result<Cell, String> {
    match json_key_twice(&t) {
        Ok(None) => Ok(Cell::Json(t)),
        Ok(Some(key)) => Err(format!(
            "{t:?} holds the key {key:?} twice in one object, whose meaning PostgreSQL (the last) and SOURCE's engine (MariaDB's and SQLite's functions: the first) differ on"
        )),
        Err(e) => Err(format!("{t:?} is not JSON ({e})")),
    }
}

/// The first key found twice in one object of JSON `text`, if any. Engines disagree on which
/// value such a key means (jsonb keeps the last; MariaDB's and SQLite's JSON functions read the
/// first), and serde_json's map keeps the last, so the check by meaning cannot see it: it is
/// refused instead.
pub fn duplicate_json_key(text: &str) -> Option<String> {
    json_key_twice(text).ok().flatten()
}

/// `duplicate_json_key` of text that must be one JSON value: the same walk parses it.
fn json_key_twice(text: &str) -> serde_json::Result<Option<String>> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    struct Walk<'a>(&'a std::cell::RefCell<Option<String>>);
    impl<'de> DeserializeSeed<'de> for Walk<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Walk<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
            while seq.next_element_seed(Walk(self.0))?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key.clone()) && self.0.borrow().is_none() {
                    *self.0.borrow_mut() = Some(key);
                }
                map.next_value_seed(Walk(self.0))?;
            }
            Ok(())
        }
    }
    let found = std::cell::RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    Walk(&found).deserialize(&mut de)?;
    de.end()?;
    Ok(found.into_inner())
}

/// A JSON value with its numbers in one spelling (`1e2`, `100.0` and `100` are one number to
/// PostgreSQL's jsonb and to MySQL's JSON); objects' keys sorted (serde_json's map).
fn json_meaning(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::Number(n) if n.as_i64().is_none() && n.as_u64().is_none() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => J::from(f as i64),
            _ => J::Number(n),
        },
        J::Array(items) => J::Array(items.into_iter().map(json_meaning).collect()),
        J::Object(map) => J::Object(map.into_iter().map(|(k, v)| (k, json_meaning(v))).collect()),
        other => other,
    }
}

/// The values of an integer type.
pub fn integer_range(bits: u8, unsigned: bool) -> (i128, i128) {
    let bits = u32::from(bits.clamp(1, 64));
    if unsigned {
        (0, (1i128 << bits) - 1)
    } else {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    }
}

/// A decimal's text without what does not change its value: `+`, leading zeros, trailing
/// fraction zeros, the sign of zero.
pub fn canonical_decimal(text: &str) -> String {
    let t = text.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let body = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    if negative && body != "0" {
        format!("-{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(c: &Cell) -> Vec<u8> {
        let mut v = Vec::new();
        c.canonical(&mut v);
        v
    }

    #[test]
    fn decimals_compare_by_value() {
        assert_eq!(canonical_decimal("001.500"), "1.5");
        assert_eq!(canonical_decimal("-0.000"), "0");
        assert_eq!(canonical_decimal("+12"), "12");
        assert_eq!(canonical_decimal("-0.0000001"), "-0.0000001");
        assert_eq!(canonical_decimal(".5"), "0.5");
        assert_eq!(
            canon(&Cell::Decimal("1.50".into())),
            canon(&Cell::Decimal("1.5".into()))
        );
        assert_ne!(
            canon(&Cell::Decimal("1.5".into())),
            canon(&Cell::Decimal("15".into()))
        );
    }

    #[test]
    fn a_json_object_with_a_key_twice_is_refused() {
        assert_eq!(
            duplicate_json_key(r#"{"a": 1, "b": {"c": 1, "c": 2}}"#),
            Some("c".into())
        );
        assert_eq!(duplicate_json_key(r#"[{"a": 1}, {"a": 2}, "a"]"#), None);
        assert_eq!(
            duplicate_json_key(r#"{"a\u0062": 1, "ab": 2}"#),
            Some("ab".into())
        );
        let to_json = Cell::Text(r#"{"k": 1, "k": 2}"#.into()).convert(
            &Portable::Text {
                length: None,
                fixed: false,
            },
            &Portable::Json,
        );
        assert!(to_json.unwrap_err().contains("the key \"k\" twice"));
    }

    #[test]
    fn json_compares_by_meaning_and_kinds_stay_apart() {
        assert_eq!(
            canon(&Cell::Json(r#"{"b": 1, "a": [1, 2.5]}"#.into())),
            canon(&Cell::Json(r#"{"a":[1,2.5],"b":1}"#.into()))
        );
        assert_eq!(
            canon(&Cell::Json(r#"[1e2, 1.0, 2.50]"#.into())),
            canon(&Cell::Json(r#"[100, 1, 2.5]"#.into()))
        );
        assert_ne!(
            canon(&Cell::Json(r#"{"a": 1}"#.into())),
            canon(&Cell::Json(r#"{"a": 2}"#.into()))
        );
        assert_ne!(
            canon(&Cell::Text("1".into())),
            canon(&Cell::Enum("1".into()))
        );
        assert_ne!(canon(&Cell::Null), canon(&Cell::Text(String::new())));
    }

    #[test]
    fn a_type_holds_only_what_it_stores_unchanged() {
        let int = |bits, unsigned| Portable::Integer { bits, unsigned };
        assert!(int(64, false).holds(&int(32, true)));
        assert!(!int(32, false).holds(&int(32, true)));
        assert!(!int(64, false).holds(&int(64, true)));
        let text = |l: Option<u64>| Portable::Text {
            length: l,
            fixed: false,
        };
        assert!(text(None).holds(&text(Some(190))));
        assert!(text(Some(200)).holds(&text(Some(190))));
        assert!(!text(Some(50)).holds(&text(Some(190))));
        let dec = |p, s| Portable::Decimal {
            precision: Some(p),
            scale: Some(s),
        };
        assert!(dec(12, 2).holds(&dec(10, 2)));
        assert!(!dec(10, 1).holds(&dec(10, 2)));
        assert!(!dec(10, 2).holds(&dec(10, 0)));
        assert!(Portable::Timestamp { fraction: 6 }.holds(&Portable::DateTime { fraction: 0 }));
        assert!(!Portable::DateTime { fraction: 0 }.holds(&Portable::DateTime { fraction: 6 }));
        let members = Portable::Enum {
            values: vec!["draft".into(), "published".into()],
        };
        assert!(Portable::Enum { values: vec![] }.holds(&members));
        assert!(text(Some(9)).holds(&members));
        assert!(!text(Some(5)).holds(&members));
        assert!(!Portable::Float { bits: 32 }.holds(&Portable::Float { bits: 64 }));
    }

    #[test]
    fn alternatives_convert_exactly_or_refuse() {
        let tiny = Portable::Integer {
            bits: 8,
            unsigned: false,
        };
        assert_eq!(
            Cell::Int(1).convert(&tiny, &Portable::Boolean),
            Ok(Cell::Bool(true))
        );
        assert!(Cell::Int(2).convert(&tiny, &Portable::Boolean).is_err());
        assert_eq!(
            Cell::Null.convert(&tiny, &Portable::Boolean),
            Ok(Cell::Null)
        );
        let text = Portable::Text {
            length: Some(36),
            fixed: true,
        };
        assert_eq!(
            Cell::Text("00000000-0000-0000-0000-00000000002a".into())
                .convert(&text, &Portable::Uuid),
            Ok(Cell::Uuid(42))
        );
        assert!(Cell::Text("nope".into())
            .convert(&text, &Portable::Uuid)
            .is_err());
        let big_unsigned = Portable::Integer {
            bits: 64,
            unsigned: true,
        };
        let big = Portable::Integer {
            bits: 64,
            unsigned: false,
        };
        // SQLite's TEXT as DB_FINAL's json: JSON text only, kept as written.
        let any_text = Portable::Text {
            length: None,
            fixed: false,
        };
        assert_eq!(
            Cell::Text(r#"{"k": [1, 2.5]}"#.into()).convert(&any_text, &Portable::Json),
            Ok(Cell::Json(r#"{"k": [1, 2.5]}"#.into()))
        );
        for bad in ["not json", "{\"a\": 1", "[1] [2]", ""] {
            let why = Cell::Text(bad.into())
                .convert(&any_text, &Portable::Json)
                .unwrap_err();
            assert!(why.contains("is not JSON"), "{bad}: {why}");
        }
        assert!(Cell::Int(1 << 63).convert(&big_unsigned, &big).is_err());
        assert_eq!(Cell::Int(5).convert(&big_unsigned, &big), Ok(Cell::Int(5)));
    }
}
