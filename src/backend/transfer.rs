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
    /// `CURRENT_TIMESTAMP` and its synonyms (on `DateTime`/`Timestamp`/`Date` columns).
    Now,
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
}

/// One table of the copy on the importing engine: SOURCE's table with each column's chosen type.
#[derive(Debug, Clone)]
pub struct ImportTable {
    pub name: String,
    pub columns: Vec<PortableColumn>,
    /// SOURCE's primary-key columns (their integer keys kept: the copy is SOURCE, not DB_FINAL).
    pub primary_key: Vec<String>,
    /// Unique and secondary indexes that translate (plain column lists), SOURCE's names.
    pub indexes: Vec<Index>,
    pub foreign_keys: Vec<ForeignKey>,
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
