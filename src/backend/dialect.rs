//! SQL differences between engines as named capabilities (sqlparser-rs style): stages ask these
//! questions instead of testing which engine they talk to.

use super::{Arrival, Value};
use crate::error::Result;
use crate::ident::{self, QuoteStyle};
use crate::model::{Column, Table};
use crate::options::UuidFormat;
use crate::uuidgen::DerivedKey;

pub trait Dialect: Send + Sync {
    fn quote_style(&self) -> QuoteStyle;
    /// Backslash is an escape character inside string literals.
    fn backslash_escapes(&self) -> bool;
    /// Constraints and columns can be dropped with ALTER TABLE (else tables are rebuilt).
    fn alters_in_place(&self) -> bool;
    /// Several connections can write at once (SQLite has one writer per file).
    fn parallel_writes(&self) -> bool;
    /// The column type of a stored UUID in this engine, or why the format is not available.
    fn uuid_type(&self, format: UuidFormat) -> Result<String>;

    /// The UUID format when the user names none: the engine's own type where the seed article's
    /// GUID recipe uses it (PostgreSQL's uuid), else 32 hex characters.
    fn default_uuid_format(&self) -> UuidFormat {
        UuidFormat::Char32
    }

    /// Whether the load verifies each table as soon as its rows are in, while other tables load
    /// (`stages::verify::after_load`), instead of leaving every table to the verify stage.
    fn verifies_during_load(&self) -> bool {
        true
    }

    /// Whether the engine reads a column's distinct values from an index that starts with it
    /// without reading every entry (MariaDB/MySQL's loose index scan): preflight then looks for
    /// a reference's orphans among its distinct values first, and counts rows only when some
    /// value has no parent.
    fn reads_distinct_by_index(&self) -> bool {
        false
    }

    /// Whether clone makes a table on the one-write route in its converted definition at once
    /// (`Ddl::converted_table_sql`: derive-final's statements, or a barer table where the engine
    /// makes one more cheaply) instead of cloning SOURCE's and reshaping it, still empty, by
    /// shadow, link, unconstrain and swap. DB_DATA holds no rows of such a table: only the
    /// definition compare reads.
    /// Worth it where every ALTER of an empty table costs milliseconds of the downtime (MariaDB
    /// rebuilds the table), or where each of those stages reads DB_DATA's catalog anew
    /// (PostgreSQL).
    fn converts_in_clone(&self) -> bool {
        false
    }

    /// The FROM item that reads `table`'s own rows (PostgreSQL: `ONLY t`, so an inheritance
    /// parent's rows come without its children's).
    fn own_rows(&self, table: &Table) -> String {
        self.q(&table.name)
    }

    /// A condition true where the text in `column` (quoted) does not spell an integer, which a
    /// reference column of another type must hold to be mapped. `None` where the engine's own
    /// `Catalog::check_source` refuses such values (SQLite).
    fn not_an_integer_sql(&self, _column: &str) -> Option<String> {
        None
    }

    /// The integer key that `expr`, a reference column of another type (text) whose values
    /// `not_an_integer_sql` accepted, holds, for joining it to its parent's integer key: `'+1'`
    /// and `'01'` join key 1; a value no integer key can equal may be NULL (an orphan). As it is
    /// where the engine compares text with an integer by value (MySQL).
    fn reference_key_sql(&self, expr: &str) -> String {
        expr.to_string()
    }

    /// Whether stored UUIDs of `format` sort in the order of their bytes, so that v7 keys
    /// generated in old-key order keep it in the engine (MariaDB's UUID type compares its groups
    /// in another order; PostgreSQL's uuid compares bytes).
    fn uuid_sorts_by_bytes(&self, _format: UuidFormat) -> bool {
        true
    }

    /// Whether `name` is short enough to be an identifier (MySQL: 64 characters, PostgreSQL: 63
    /// bytes; SQLite has no limit).
    fn fits_identifier(&self, _name: &str) -> bool {
        true
    }

    /// The statement that gives a session the run's secret for `derived_key_sql`, with the
    /// secret (`Secret::text`) as its one bound parameter: the secret stays out of the text of
    /// the long fill statements, which the server shows to other sessions and logs. `None`
    /// where the engine derives no keys in SQL.
    fn derived_key_secret_sql(&self) -> Option<&'static str> {
        None
    }

    /// SQL computing the new key that `spec` derives from the old key `key` (an integer
    /// expression), stored as `format`, exactly as `DerivedKey::uuid` computes it; NULL stays
    /// NULL. It reads the run's secret from the session, which `derived_key_secret_sql` must
    /// have set first (the secret in `spec` is not used). `None` where the engine cannot, and
    /// its new keys go through mapping tables.
    fn derived_key_sql(
        &self,
        _key: &str,
        _spec: &DerivedKey,
        _format: UuidFormat,
    ) -> Option<String> {
        None
    }

    /// The value bound for a UUID of `format` in `insert_rows`: bytes for binary16, else text.
    fn uuid_value(&self, id: &uuid::Uuid, format: UuidFormat) -> Value {
        match format {
            UuidFormat::Binary16 => Value::Blob(id.as_bytes().to_vec()),
            f => Value::Text(crate::uuidgen::to_text(id, f).into_bytes()),
        }
    }
    /// The format mapping tables store new keys in, for columns of `column_format`: the
    /// column's own unless the engine has a smaller one that converts back exactly.
    fn map_format(&self, column_format: UuidFormat) -> UuidFormat {
        column_format
    }
    /// SQL turning `expr`, a mapping table's stored key, into the column format (NULL stays
    /// NULL: references without a parent come through a LEFT JOIN).
    fn map_to_column_sql(&self, expr: &str, _map: UuidFormat, _column: UuidFormat) -> String {
        expr.to_string()
    }
    /// Statements that put a session in bulk-load mode for writing rows into an empty table that
    /// arrive as `arrival` says: constraint checks off where allowed, and the engine's sorted
    /// bulk-build path only where it pays for itself.
    fn bulk_session(&self, arrival: Arrival) -> Vec<String>;
    /// The integer type of a mapping table's old key, from the converted column's declared type.
    fn map_key_type(&self, column_type: &str) -> String;

    /// The type to declare for a column that shadow or link adds to `table` (its current shape,
    /// when known): SQLite's STRICT tables accept only their own type names.
    fn added_column_type(&self, _table: Option<&Table>, declared: &str) -> String {
        declared.to_string()
    }

    /// Statements that add nullable columns `(name, declared type)` to an existing table: one
    /// ALTER per column, or one for all where the engine takes several clauses (each DDL
    /// statement on MariaDB costs a dictionary write, and rekey runs hundreds).
    fn add_columns_sql(&self, table: &str, columns: &[(String, String)]) -> Vec<String> {
        columns
            .iter()
            .map(|(name, ty)| {
                format!(
                    "ALTER TABLE {} ADD COLUMN {} {ty} NULL",
                    self.q(table),
                    self.q(name)
                )
            })
            .collect()
    }

    /// Statements that turn constraint checks back on in a session (MariaDB records an ON DELETE
    /// RESTRICT added without checks as NO ACTION).
    fn checked_session(&self) -> Vec<String> {
        Vec::new()
    }

    /// Drops a table (quoted) if it exists, whatever depends on it.
    fn drop_table_sql(&self, table: &str) -> String {
        format!("DROP TABLE IF EXISTS {table}")
    }

    /// Removes every row of a table (quoted) quickly; MySQL's TRUNCATE recreates it.
    fn empty_table_sql(&self, table: &str) -> String {
        format!("DELETE FROM {table}")
    }

    /// Whether a cloned table keeps its foreign keys (MySQL's CREATE TABLE ... LIKE drops them).
    fn clone_keeps_foreign_keys(&self) -> bool {
        true
    }

    /// A declared type as the catalog prints it (MySQL: lower case).
    fn catalog_type(&self, declared: &str) -> String {
        declared.to_string()
    }

    /// How the catalog describes a column declared as `declared` in `table`: used to predict
    /// DB_DATA's shape in a dry run, before DB_DATA exists.
    fn predict_column(&self, name: &str, declared: &str, nullable: bool, table: &Table) -> Column {
        let base = declared
            .split('(')
            .next()
            .unwrap_or(declared)
            .trim()
            .to_ascii_lowercase();
        let max_length = declared
            .split_once('(')
            .and_then(|(_, rest)| rest.trim_end_matches(')').trim().parse().ok());
        let textual = base.contains("char") || base.contains("text");
        Column {
            name: name.to_string(),
            data_type: base,
            column_type: self.catalog_type(declared),
            nullable,
            max_length,
            charset: if textual { table.charset.clone() } else { None },
            collation: if textual {
                table.collation.clone()
            } else {
                None
            },
            ..Column::default()
        }
    }

    /// A select expression that renders `column`'s value exactly in this engine's protocol
    /// (MariaDB prints FLOAT with 6 digits; as DOUBLE it is exact).
    fn exact_select(&self, column: &Column) -> String {
        self.q(&column.name)
    }

    /// A select expression that reads `column`, a UUID column stored as `format`, as its 16
    /// bytes, where every value such a column can hold is a well-formed UUID (a native uuid
    /// type) and the bytes cost less to read than its text; None: read it as stored.
    fn uuid_bytes_select(&self, _column: &str, _format: UuidFormat) -> Option<String> {
        None
    }

    fn q(&self, name: &str) -> String {
        ident::quote(self.quote_style(), name)
    }
    fn lit(&self, value: &str) -> String {
        ident::literal(value, self.backslash_escapes())
    }
    /// A value a change stream carried, as a literal that writes it back exactly into a
    /// column of its own type: text as a quoted string (the column's type parses it), bytes as
    /// the engine's binary literal, numbers as digits (a double in its shortest exact form).
    fn value_literal(&self, value: &Value) -> String {
        match value {
            Value::Null => "NULL".into(),
            Value::Int(i) => i.to_string(),
            Value::Real(r) if r.is_finite() => format!("{r}"),
            Value::Real(r) => self.lit(if r.is_nan() {
                "NaN"
            } else if *r > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            }),
            Value::Text(b) => match std::str::from_utf8(b) {
                Ok(text) => self.lit(text),
                Err(_) => self.blob_literal(b),
            },
            Value::Blob(b) => self.blob_literal(b),
        }
    }
    /// Bytes as a literal that stores them unchanged.
    fn blob_literal(&self, bytes: &[u8]) -> String {
        format!("X'{}'", crate::text::hex(bytes))
    }
    /// An INSERT of one row (`columns` and `values` already quoted) that overwrites the row
    /// holding the same `key` instead of failing: the follower writes a row whole, so writing
    /// it twice (a transaction replayed after a kill) changes nothing.
    fn upsert_sql(
        &self,
        table: &str,
        columns: &[String],
        values: &[String],
        key: &[String],
    ) -> String {
        let others: Vec<String> = columns
            .iter()
            .filter(|c| !key.contains(c))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        let action = if others.is_empty() {
            "DO NOTHING".to_string()
        } else {
            format!("DO UPDATE SET {}", others.join(", "))
        };
        format!(
            "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({}) {action}",
            columns.join(", "),
            values.join(", "),
            key.join(", ")
        )
    }
    /// Statements that set up the follower's session on DB_FINAL, so that the values the
    /// stream carries mean what they meant on SOURCE.
    fn follow_session(&self) -> Vec<String> {
        Vec::new()
    }
    /// The statement that opens a transaction.
    fn begin_sql(&self) -> &'static str {
        "BEGIN"
    }
    /// A statement that makes the open transaction's commit wait until it is on disk, where the
    /// follower's session does not (`follow_session`).
    fn durable_commit_sql(&self) -> Option<String> {
        None
    }

    /// A comma-separated list of quoted column names.
    fn column_list(&self, columns: &[String]) -> String {
        columns
            .iter()
            .map(|c| self.q(c))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
