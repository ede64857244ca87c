//! The backend traits every engine implements: a `Session` that runs SQL and streams rows, a
//! `Dialect` that names the SQL differences as capabilities, and a `Backend` for the operations whose
//! mechanics differ per engine (catalog, cloning, dropping constraints, swapping columns, bulk load).

pub mod mysql;
pub mod sqlite;

use std::sync::Arc;

use crate::error::{Error, Place, Result};
use crate::ident::{self, QuoteStyle};
use crate::model::{Column, Schema, Table};
use crate::options::UuidFormat;
use crate::url::{DbUrl, Engine};

/// One value as an engine returned it. MySQL's text protocol gives `Text` for every non-NULL value;
/// SQLite keeps its storage classes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    /// The value as text, for catalog queries and keys.
    pub fn as_string(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Int(i) => Some(i.to_string()),
            Value::Real(r) => Some(r.to_string()),
            Value::Text(b) | Value::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        }
    }
    /// The value as an integer key (any integer type, signed or unsigned, up to 64 bits).
    pub fn as_key(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(*i as i128),
            Value::Text(b) | Value::Blob(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> Option<u64> {
        self.as_key().and_then(|k| u64::try_from(k).ok())
    }
}

/// A live connection to one database. Not shared between threads: parallel stages open one each.
pub trait Session: Send {
    /// Runs one statement; returns the number of affected rows.
    fn execute(&mut self, sql: &str) -> Result<u64>;
    /// Streams the rows of a query to `each`, without holding the result in memory.
    fn query(&mut self, sql: &str, each: &mut dyn FnMut(&[Value]) -> Result<()>) -> Result<()>;
    /// Inserts rows into `table` (already quoted and qualified) in batches, the engine's fastest
    /// portable way. Returns the number of rows inserted.
    fn insert_rows(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &mut dyn Iterator<Item = Result<Vec<Value>>>,
    ) -> Result<u64>;
}

impl dyn Session + '_ {
    /// All rows of a small query (catalog reads, counts).
    pub fn query_all(&mut self, sql: &str) -> Result<Vec<Vec<Value>>> {
        let mut out = Vec::new();
        self.query(sql, &mut |row| {
            out.push(row.to_vec());
            Ok(())
        })?;
        Ok(out)
    }
    /// Whether a table (quoted, possibly qualified) holds any row, without counting them all.
    pub fn has_rows(&mut self, table: &str) -> Result<bool> {
        Ok(!self
            .query_all(&format!("SELECT 1 FROM {table} LIMIT 1"))?
            .is_empty())
    }
    /// The first column of the first row as a number (COUNT(*) and the like).
    pub fn query_u64(&mut self, sql: &str) -> Result<u64> {
        let rows = self.query_all(sql)?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_u64)
            .unwrap_or(0))
    }
}

/// SQL differences between engines, as named capabilities (sqlparser-rs style).
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

    /// A select expression that renders `column`'s value exactly in this engine's text protocol
    /// (MariaDB prints FLOAT with 6 digits; as DOUBLE it is exact).
    fn exact_select(&self, column: &Column) -> String {
        self.q(&column.name)
    }

    fn q(&self, name: &str) -> String {
        ident::quote(self.quote_style(), name)
    }
    fn lit(&self, value: &str) -> String {
        ident::literal(value, self.backslash_escapes())
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

/// What unconstrain removes from one table of DB_DATA.
#[derive(Debug, Clone, Default)]
pub struct Unconstrain {
    pub foreign_keys: Vec<String>,
    pub primary_key: bool,
    pub indexes: Vec<String>,
}

/// One converted column swap: `shadow` takes the place and name of `column`.
#[derive(Debug, Clone)]
pub struct Swap {
    pub column: String,
    pub shadow: String,
    pub uuid_type: String,
    pub nullable: bool,
}

/// Version, settings and account facts that preflight and load decide on.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ServerInfo {
    pub version: String,
    /// `Some(dir)` where server-side export files may go; `None` when the server forbids them.
    pub outfile_dir: Option<String>,
    pub local_infile: bool,
    pub has_file_privilege: bool,
    pub galera: bool,
}

/// One engine's implementation of the operations whose mechanics differ.
pub trait Backend: Send + Sync {
    fn url(&self) -> &DbUrl;
    fn dialect(&self) -> &dyn Dialect;
    /// A session on this database, waiting for a starting server per DB_MAX_RETRIES/DB_RETRY_DELAY.
    fn connect(&self) -> Result<Box<dyn Session>>;
    fn database_exists(&self) -> Result<bool>;
    /// Creates the (empty) database; `like` gives the character set and collation to copy.
    fn create_database(&self, like: Option<&Table>) -> Result<Vec<String>>;
    fn drop_database(&self) -> Result<()>;
    /// Runs one statement on the server without a database selected (CREATE DATABASE).
    fn execute_on_server(&self, sql: &str) -> Result<()>;
    /// Reads the catalog into the neutral model.
    fn describe(&self, session: &mut dyn Session) -> Result<Schema>;
    /// Makes `other` reachable from `session` and returns the qualifier its tables take in SQL
    /// run there, or `None` when one session cannot read both (different servers).
    fn reach(
        &self,
        session: &mut dyn Session,
        other: &DbUrl,
        alias: &str,
    ) -> Result<Option<String>>;
    /// Statements that create `table` (as described in the source reached under `from`) in this
    /// database, without rows: swap fills it once, with its new keys.
    fn create_table_sql(&self, from: &str, table: &Table) -> Vec<String>;
    /// Statements that drop constraints and indexes from a table of DB_DATA.
    fn unconstrain_sql(&self, table: &Table, what: &Unconstrain) -> Vec<String>;
    /// Statements that swap shadow columns into place and drop `drop` columns, in one table whose
    /// current shape is `table`. Must be correct when re-run on a half-swapped table.
    fn swap_sql(&self, table: &Table, swaps: &[Swap], drop: &[String]) -> Vec<String>;
    /// Statements that create `table` in an empty database with the given UUID swaps applied and all
    /// constraints kept (derive-final).
    fn derive_table_sql(&self, from: &str, table: &Table, swaps: &[Swap]) -> Vec<String>;
    /// Statements that add `table`'s foreign keys in DB_FINAL once every table of derive-final
    /// exists with its final column types (engines that declare them inline return none).
    fn derive_constraints_sql(&self, _table: &Table) -> Vec<String> {
        Vec::new()
    }
    fn server_info(&self, session: &mut dyn Session) -> Result<ServerInfo>;
    /// Copies every row of `table` from `data` (another database of this engine) into this one,
    /// through the engine's bulk path. Returns the rows read and the rows stored.
    fn load_table(&self, data: &dyn Backend, job: &LoadJob<'_>) -> Result<Moved>;
    /// Statement that removes a trigger.
    fn drop_trigger_sql(&self, name: &str) -> String;
    /// Whether this session's account may create a trigger that runs as `definer` (MySQL needs
    /// SET USER or SUPER for another account's). Engines without definers always may.
    /// Stops statements that a killed earlier process of run `run_id` left running on the server
    /// (they carry its marker). Returns how many were stopped. Engines without a server have none.
    fn stop_leftovers(&self, _run_id: &str) -> Result<u32> {
        Ok(0)
    }

    /// A session on the server without a database selected (the database may not exist yet).
    fn connect_server(&self) -> Result<Box<dyn Session>> {
        self.connect()
    }

    /// How this database (as DB_FINAL) would receive rows from `data` given the user's choice,
    /// or what to change so it can.
    fn load_path(
        &self,
        _session: &mut dyn Session,
        _data: &DbUrl,
        _choice: LoadChoice,
    ) -> Result<LoadPath> {
        Ok(LoadPath::Direct)
    }

    /// The account this session runs as (`'user'@'host'`), for GRANT statements in advice.
    fn account(&self, _session: &mut dyn Session) -> Result<Option<String>> {
        Ok(None)
    }

    /// Which of `needs` (privilege names such as SELECT, ALTER) the session's account lacks on
    /// this database. Engines without privileges lack none.
    fn missing_privileges(
        &self,
        _session: &mut dyn Session,
        _needs: &[&str],
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// Bytes the database takes (data and indexes), its estimated rows, and the local directory
    /// holding it when that is on this machine (for free-space checks).
    fn footprint(&self, _session: &mut dyn Session) -> Result<Footprint> {
        Ok(Footprint::default())
    }

    fn may_define_as(&self, _session: &mut dyn Session, _definer: &str) -> Result<bool> {
        Ok(true)
    }
}

/// The load path the user asks for (`--load-path`); `Auto` takes the fastest one available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadChoice {
    #[default]
    Auto,
    Direct,
    Files,
    Stream,
}

/// The way rows reach DB_FINAL in the load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadPath {
    /// Server-side export and import files in this directory (MySQL OUTFILE/INFILE).
    ServerFiles(String),
    /// Rows streamed through rekey (MySQL LOAD DATA LOCAL INFILE).
    ClientStream,
    /// One INSERT ... SELECT reads DB_DATA directly (same MySQL server, or SQLite ATTACH).
    Direct,
    /// No way is open; the text says what to change.
    Unavailable(String),
}

impl LoadPath {
    pub fn describe(&self) -> &'static str {
        match self {
            LoadPath::ServerFiles(_) => "server-side OUTFILE/INFILE",
            LoadPath::ClientStream => "client-side stream",
            LoadPath::Direct => "direct INSERT ... SELECT",
            LoadPath::Unavailable(_) => "no load path",
        }
    }
}

/// How big a database is and where it lives.
#[derive(Debug, Clone, Default)]
pub struct Footprint {
    pub bytes: u64,
    pub rows: u64,
    pub local_dir: Option<std::path::PathBuf>,
}

/// What one table's load moved, as the statements that moved it counted: rows read from DB_DATA
/// and rows DB_FINAL stored. A single INSERT ... SELECT stores every row it reads or fails, so
/// both counts are its own; an export and a load (or a stream) count each side separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub read: u64,
    pub written: u64,
}

impl Moved {
    /// One statement that read and stored `rows`.
    pub fn whole(rows: u64) -> Moved {
        Moved {
            read: rows,
            written: rows,
        }
    }
}

/// How rows reach an empty table in a bulk write, relative to the table's indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The table has at most one index and the rows come in its order: each row is an append.
    InKeyOrder,
    /// Secondary indexes to build, or keys out of order: worth sorting before building.
    Unordered,
}

impl Arrival {
    /// How rows in old-key order arrive in `table` (DB_FINAL's shape): in key order when the
    /// table has no index, or only a primary key on `ascending`, a column whose new values
    /// ascend with the old keys.
    pub fn into_table(table: &crate::model::Table, ascending: Option<&str>) -> Arrival {
        let only_key = match table.primary_key.as_slice() {
            [] => true,
            [pk] => ascending == Some(pk.as_str()),
            _ => false,
        };
        if table.indexes.is_empty() && only_key {
            Arrival::InKeyOrder
        } else {
            Arrival::Unordered
        }
    }
}

/// One table to load: its name, the columns to move (generated ones left out), and how.
pub struct LoadJob<'a> {
    pub table: &'a str,
    /// How DB_DATA's rows arrive relative to DB_FINAL's indexes (picks the bulk mode).
    pub arrival: Arrival,
    pub columns: &'a [String],
    /// The same columns as DB_FINAL describes them (types decide how values travel).
    pub models: &'a [Column],
    /// How the rows travel (chosen once per load by `Backend::load_path`).
    pub path: &'a LoadPath,
    /// A name unique to this run and attempt, for export files.
    pub file_tag: &'a str,
    /// The comment that tags this run's statements (see `Context::marker`).
    pub marker: &'a str,
    /// Called with the number of rows moved so far, when the engine can tell.
    pub progress: &'a (dyn Fn(u64) + Sync),
}

/// Opens the backend for a URL: the URL scheme picks the engine.
pub fn open(url: &DbUrl) -> Result<Arc<dyn Backend>> {
    match url.engine {
        Engine::Mysql => Ok(Arc::new(mysql::MysqlBackend::new(url.clone()))),
        Engine::Sqlite => Ok(Arc::new(sqlite::SqliteBackend::new(url.clone()))),
        Engine::Postgres => Err(Error::usage(
            format!("{url}: the PostgreSQL backend is not available in this version of rekey."),
            "Use a mysql:// or sqlite:// URL; PostgreSQL support is planned (docs/limitations.md).",
        )),
    }
}

/// Checks that the databases of one command can work together.
pub fn check_same_engine(pairs: &[(&str, &DbUrl)]) -> Result<()> {
    if let Some((first_name, first)) = pairs.first() {
        for (name, url) in &pairs[1..] {
            if url.engine != first.engine {
                return Err(Error::usage(
                    format!(
                        "{first_name} is {} but {name} is {}; rekey moves data between databases of one engine.",
                        first.engine, url.engine
                    ),
                    "Convert within one engine (for example mysql:// for SOURCE, DB_DATA and DB_FINAL); to change engines, load the result with the engine's own tools afterwards.",
                ));
            }
        }
    }
    Ok(())
}

/// Wraps a driver error with the place it happened and a next step.
pub fn db_error(place: Place, what: &str, err: impl std::fmt::Display, hint: &str) -> Error {
    Error::env(place, format!("{what}: {err}."), hint.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Index, Table};

    fn table(primary_key: &[&str], indexes: &[&str]) -> Table {
        Table {
            name: "t".into(),
            primary_key: primary_key.iter().map(|c| c.to_string()).collect(),
            indexes: indexes
                .iter()
                .map(|c| Index {
                    name: format!("ix_{c}"),
                    columns: vec![c.to_string()],
                    unique: false,
                    kind: "BTREE".into(),
                    create_sql: None,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn rows_arrive_in_key_order_only_into_a_lone_ascending_key() {
        let in_order = Arrival::InKeyOrder;
        assert_eq!(
            Arrival::into_table(&table(&["id"], &[]), Some("id")),
            in_order
        );
        assert_eq!(Arrival::into_table(&table(&[], &[]), None), in_order);
        let unordered = Arrival::Unordered;
        assert_eq!(
            Arrival::into_table(&table(&["id"], &["user_id"]), Some("id")),
            unordered
        );
        assert_eq!(Arrival::into_table(&table(&["id"], &[]), None), unordered);
        assert_eq!(
            Arrival::into_table(&table(&["code"], &[]), Some("id")),
            unordered
        );
        assert_eq!(
            Arrival::into_table(&table(&["a", "b"], &[]), Some("a")),
            unordered
        );
        assert_eq!(Arrival::into_table(&table(&[], &["x"]), None), unordered);
    }

    #[test]
    fn one_alter_per_added_column_by_default() {
        let cols = [
            ("a".to_string(), "TEXT".to_string()),
            ("b".to_string(), "TEXT".to_string()),
        ];
        let sql = sqlite::SqliteDialect.add_columns_sql("t", &cols);
        assert_eq!(sql.len(), 2, "{sql:?}");
        assert!(sql[1].contains("ADD COLUMN \"b\" TEXT NULL"), "{sql:?}");
    }
}
