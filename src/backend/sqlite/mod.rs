//! The SQLite backend (the embedded default): catalog from sqlite_schema and the pragma functions,
//! constraint changes by rebuilding tables (SQLite's 12-step ALTER procedure, one transaction per
//! table), and copies between files through ATTACH, read-only for every database it reaches.

mod ddl;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Batch, Connection, ErrorCode, OpenFlags, ToSql};

use super::{
    Arrival, Backend, Dialect, Footprint, LoadJob, Moved, ServerInfo, Session, Swap, Unconstrain,
    Value,
};
use crate::error::{Error, Place, Result};
use crate::ident::QuoteStyle;
use crate::model::{Column, ForeignKey, Index, Schema, Table, Trigger, View, INTERNAL_PREFIX};
use crate::options::UuidFormat;
use crate::url::{DbUrl, Engine};
use ddl::{same_columns, Clause, ClauseKind, Item, TableDef};

const TABLES_SQL: &str = include_str!("tables.sql");
const COLUMNS_SQL: &str = include_str!("columns.sql");
const INDEXES_SQL: &str = include_str!("indexes.sql");
const FOREIGN_KEYS_SQL: &str = include_str!("foreign_keys.sql");
const TRIGGERS_SQL: &str = include_str!("triggers.sql");
const VIEWS_SQL: &str = include_str!("views.sql");
const SERVER_INFO_SQL: &str = include_str!("server_info.sql");
const SESSION_SQL: &str = include_str!("session.sql");
const ATTACHED_SQL: &str = include_str!("attached.sql");
const TABLE_INDEXES_SQL: &str = include_str!("table_indexes.sql");

/// The alias under which `load_table` reaches DB_DATA from a DB_FINAL session.
const DATA_ALIAS: &str = "rekey_data";

/// How long a statement waits for another connection's lock (parallel readers, the journal).
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct SqliteDialect;

static DIALECT: SqliteDialect = SqliteDialect;

fn q(name: &str) -> String {
    DIALECT.q(name)
}

impl Dialect for SqliteDialect {
    fn quote_style(&self) -> QuoteStyle {
        QuoteStyle::DoubleQuote
    }
    fn backslash_escapes(&self) -> bool {
        false
    }
    fn alters_in_place(&self) -> bool {
        false
    }
    fn parallel_writes(&self) -> bool {
        false
    }
    fn uuid_type(&self, format: UuidFormat) -> Result<String> {
        match format {
            UuidFormat::Char32 => Ok("CHAR(32)".into()),
            UuidFormat::Char36 => Ok("CHAR(36)".into()),
            UuidFormat::Binary16 => Ok("BLOB".into()),
            UuidFormat::Native => Err(Error::usage(
                "SQLite has no native UUID type.",
                "Use --uuid-format char32 (default), char36 or binary16 with SQLite.",
            )),
        }
    }
    fn bulk_session(&self, _arrival: Arrival) -> Vec<String> {
        vec!["PRAGMA foreign_keys = OFF".into()]
    }
    fn map_key_type(&self, _column_type: &str) -> String {
        "INTEGER".into()
    }
    fn added_column_type(&self, table: Option<&Table>, declared: &str) -> String {
        match table
            .and_then(|t| t.create_sql.as_deref())
            .and_then(ddl::parse_create_table)
        {
            Some(def) if def.strict() => strict_type(declared),
            _ => declared.to_string(),
        }
    }
    fn predict_column(&self, name: &str, declared: &str, nullable: bool, table: &Table) -> Column {
        let declared = self.added_column_type(Some(table), declared);
        let facts = type_facts(&declared);
        Column {
            name: name.to_string(),
            data_type: facts.data_type,
            column_type: declared.clone(),
            nullable,
            max_length: facts.max_length,
            numeric_precision: facts.precision,
            numeric_scale: facts.scale,
            ..Column::default()
        }
    }
}

fn sql_error(e: rusqlite::Error, sql: &str) -> Error {
    let hint = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            "Another process holds a lock on the database file: let it finish (or stop it), then run again with --resume."
        }
        Some(ErrorCode::ReadOnly) => {
            "The file or its directory is not writable by this user: fix the permissions, then run again with --resume."
        }
        Some(ErrorCode::DiskFull) => "The disk is full: free space, then run again with --resume.",
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            "The file is not an intact SQLite database: check the URL, or restore the file from its snapshot."
        }
        _ => "Fix the cause named by SQLite, then run again with --resume.",
    };
    let short: String = sql.chars().take(300).collect();
    Error::env(
        Place::default(),
        format!("SQLite rejected `{short}`: {e}."),
        hint,
    )
}

fn to_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(b) => Value::Text(b.to_vec()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// A value bound by its storage class, bytes unchanged (TEXT may hold NUL or invalid UTF-8).
struct Bind<'a>(&'a Value);

impl ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(b) => ValueRef::Text(b),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

pub struct SqliteSession {
    conn: Connection,
}

impl SqliteSession {
    /// Runs every statement of `sql` in turn (a later one may need what an earlier one created)
    /// and returns the rows that INSERT, UPDATE and DELETE statements changed.
    fn run(&mut self, sql: &str) -> Result<u64> {
        let mut batch = Batch::new(&self.conn, sql);
        let mut changed = 0;
        while let Some(mut stmt) = batch.next().map_err(|e| sql_error(e, sql))? {
            let before = self.conn.total_changes();
            // Statements that return rows (some PRAGMAs) are stepped to the end, rows ignored.
            let mut rows = stmt.raw_query();
            while rows.next().map_err(|e| sql_error(e, sql))?.is_some() {}
            drop(rows);
            // changes() keeps the count of the last INSERT, UPDATE or DELETE, also after DDL:
            // only a statement that changed rows reports it.
            if self.conn.total_changes() != before {
                changed += self.conn.changes();
            }
        }
        Ok(changed)
    }

    fn insert_all(
        conn: &Connection,
        sql: &str,
        width: usize,
        rows: &mut dyn Iterator<Item = Result<Vec<Value>>>,
    ) -> Result<u64> {
        let mut stmt = conn.prepare(sql).map_err(|e| sql_error(e, sql))?;
        let mut total = 0u64;
        for row in rows {
            let row = row?;
            if row.len() != width {
                return Err(Error::env(
                    Place::default(),
                    format!(
                        "internal: a row of {} values for {width} columns in `{sql}`.",
                        row.len()
                    ),
                    "Report this as a bug.",
                ));
            }
            for (i, v) in row.iter().enumerate() {
                stmt.raw_bind_parameter(i + 1, Bind(v))
                    .map_err(|e| sql_error(e, sql))?;
            }
            total += stmt.raw_execute().map_err(|e| sql_error(e, sql))? as u64;
        }
        Ok(total)
    }
}

impl Session for SqliteSession {
    fn execute(&mut self, sql: &str) -> Result<u64> {
        let result = self.run(sql);
        // A failed statement inside a rebuild must not leave its transaction open on the
        // session: the table goes back to how it was before BEGIN.
        if result.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        result
    }

    fn query(&mut self, sql: &str, each: &mut dyn FnMut(&[Value]) -> Result<()>) -> Result<()> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| sql_error(e, sql))?;
        let width = stmt.column_count();
        let mut rows = stmt.raw_query();
        let mut values = Vec::with_capacity(width);
        while let Some(row) = rows.next().map_err(|e| sql_error(e, sql))? {
            values.clear();
            for i in 0..width {
                values.push(to_value(row.get_ref(i).map_err(|e| sql_error(e, sql))?));
            }
            each(&values)?;
        }
        Ok(())
    }

    fn insert_rows(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &mut dyn Iterator<Item = Result<Vec<Value>>>,
    ) -> Result<u64> {
        let marks = vec!["?"; columns.len()].join(", ");
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({marks})",
            DIALECT.column_list(columns)
        );
        let own = self.conn.is_autocommit();
        if own {
            self.run("BEGIN IMMEDIATE")?;
        }
        let result = Self::insert_all(&self.conn, &sql, columns.len(), rows);
        if own {
            match &result {
                Ok(_) => {
                    if let Err(e) = self.run("COMMIT") {
                        let _ = self.conn.execute_batch("ROLLBACK");
                        return Err(e);
                    }
                }
                Err(_) => {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
            }
        }
        result
    }
}

pub struct SqliteBackend {
    url: DbUrl,
    /// Set by `create_database`: only then may `connect` create a missing file, so a mistyped
    /// SOURCE or DB_FINAL path is an error instead of a new empty database.
    may_create: AtomicBool,
}

impl SqliteBackend {
    pub fn new(url: DbUrl) -> Self {
        SqliteBackend {
            url,
            may_create: AtomicBool::new(false),
        }
    }

    fn path(&self) -> &Path {
        Path::new(&self.url.database)
    }

    fn open(&self) -> Result<SqliteSession> {
        let create = self.may_create.load(Ordering::SeqCst);
        if !create && !self.path().exists() {
            return Err(Error::input(
                Place::default(),
                format!("{} does not exist.", self.url),
                "Check the file path in the URL (a relative path starts from the current directory).",
            ));
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(self.path(), flags).map_err(|e| {
            Error::env(
                Place::default(),
                format!("cannot open {}: {e}.", self.url),
                "Check that the file is a SQLite database and that its directory exists and is writable.",
            )
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql_error(e, "busy_timeout"))?;
        conn.execute_batch(SESSION_SQL)
            .map_err(|e| sql_error(e, SESSION_SQL))?;
        Ok(SqliteSession { conn })
    }
}

fn text(v: &Value) -> String {
    v.as_string().unwrap_or_default()
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => other.as_key().unwrap_or(0) as i64,
    }
}

/// The parts of a declared type rekey compares: base type (lower case, no arguments, no
/// signedness words), length for character and binary types, precision and scale for numbers.
struct TypeFacts {
    data_type: String,
    max_length: Option<u64>,
    precision: Option<u64>,
    scale: Option<u64>,
}

fn type_facts(declared: &str) -> TypeFacts {
    let (base, args) = match declared.find('(') {
        Some(p) => (
            &declared[..p],
            declared[p + 1..].trim_end().trim_end_matches(')'),
        ),
        None => (declared, ""),
    };
    let base = base
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    let words: Vec<&str> = base
        .split(' ')
        .filter(|w| !matches!(*w, "unsigned" | "signed" | "zerofill"))
        .collect();
    let integer = |w: &str| {
        matches!(
            w,
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
        )
    };
    let data_type = match words.as_slice() {
        [w] if integer(w) => (*w).to_string(),
        _ => base.clone(),
    };
    let nums: Vec<Option<u64>> = args.split(',').map(|a| a.trim().parse().ok()).collect();
    let first = nums.first().copied().flatten();
    let numeric = base.contains("int")
        || ["real", "floa", "doub", "dec", "num"]
            .iter()
            .any(|w| base.contains(w));
    TypeFacts {
        data_type,
        max_length: if numeric { None } else { first },
        precision: if numeric { first } else { None },
        scale: if numeric {
            nums.get(1).copied().flatten()
        } else {
            None
        },
    }
}

/// The table's definition: its stored CREATE TABLE read as written, or (for a table whose
/// statement cannot be read) one written from the neutral model.
fn table_def(table: &Table) -> TableDef {
    if let Some(def) = table
        .create_sql
        .as_deref()
        .and_then(ddl::parse_create_table)
        .filter(|d| d.name.eq_ignore_ascii_case(&table.name))
    {
        return def;
    }
    let mut items: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            let mut s = format!("{} {}", q(&c.name), c.column_type);
            if !c.nullable {
                s.push_str(" NOT NULL");
            }
            match (&c.generated, &c.default) {
                (Some(g), _) => s.push_str(&format!(" AS ({g})")),
                (None, Some(d)) => s.push_str(&format!(" DEFAULT ({d})")),
                (None, None) => {}
            }
            s
        })
        .collect();
    if !table.primary_key.is_empty() {
        items.push(format!(
            "PRIMARY KEY ({})",
            DIALECT.column_list(&table.primary_key)
        ));
    }
    for ix in table
        .indexes
        .iter()
        .filter(|i| i.unique && i.create_sql.is_none())
    {
        items.push(format!(
            "CONSTRAINT {} UNIQUE ({})",
            q(&ix.name),
            DIALECT.column_list(&ix.columns)
        ));
    }
    for fk in &table.foreign_keys {
        items.push(format!(
            "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
            q(&fk.name),
            DIALECT.column_list(&fk.columns),
            q(&fk.ref_table),
            DIALECT.column_list(&fk.ref_columns),
            fk.on_delete,
            fk.on_update
        ));
    }
    let sql = format!("CREATE TABLE {} ({})", q(&table.name), items.join(", "));
    ddl::parse_create_table(&sql).unwrap_or(TableDef {
        name: table.name.clone(),
        items: Vec::new(),
        options: String::new(),
        body: String::new(),
    })
}

/// A column definition rebuilt from its name, a type, and the clauses it keeps.
fn column_text(name: &str, type_text: &str, clauses: &[String]) -> String {
    let mut parts = vec![q(name)];
    parts.extend(
        std::iter::once(type_text.to_string())
            .chain(clauses.iter().cloned())
            .filter(|p| !p.trim().is_empty()),
    );
    parts.join(" ")
}

fn null_word(nullable: bool) -> &'static str {
    if nullable {
        "NULL"
    } else {
        "NOT NULL"
    }
}

/// The type a STRICT table accepts for a declared type, by SQLite's affinity rules.
fn strict_type(declared: &str) -> String {
    let upper = declared.to_ascii_uppercase();
    if upper.contains("INT") {
        "INTEGER"
    } else if ["CHAR", "CLOB", "TEXT"].iter().any(|w| upper.contains(w)) {
        "TEXT"
    } else if upper.contains("BLOB") || upper.trim().is_empty() {
        "BLOB"
    } else if ["REAL", "FLOA", "DOUB"].iter().any(|w| upper.contains(w)) {
        "REAL"
    } else {
        "ANY"
    }
    .to_string()
}

/// STRICT tables accept only their own type names.
fn uuid_column_type(def: &TableDef, uuid_type: &str) -> String {
    if def.strict() {
        strict_type(uuid_type)
    } else {
        uuid_type.to_string()
    }
}

/// The table options without WITHOUT ROWID (a table without a primary key must have a rowid).
fn options_with_rowid(options: &str) -> String {
    options
        .split(',')
        .map(str::trim)
        .filter(|o| {
            let words: Vec<String> = o
                .split_whitespace()
                .map(|w| w.to_ascii_uppercase())
                .collect();
            words != ["WITHOUT", "ROWID"] && !o.is_empty()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One column of a rebuilt table: its definition and the expression that fills it (none for a
/// generated column, which SQLite computes).
struct NewColumn {
    name: String,
    def: String,
    source: Option<String>,
}

/// SQLite's 12-step table rebuild as one transaction: a crash anywhere before COMMIT leaves the
/// table as it was, and once committed the table is complete under its own name.
fn rebuild_sql(
    table: &str,
    columns: &[NewColumn],
    constraints: &[String],
    options: &str,
    indexes: &[String],
) -> Vec<String> {
    let name = q(table);
    let temp = q(&format!("{INTERNAL_PREFIX}new_{table}"));
    let mut defs: Vec<String> = columns.iter().map(|c| c.def.clone()).collect();
    defs.extend(constraints.iter().cloned());
    let filled: Vec<&NewColumn> = columns.iter().filter(|c| c.source.is_some()).collect();
    let targets: Vec<String> = filled.iter().map(|c| q(&c.name)).collect();
    let sources: Vec<String> = filled.iter().filter_map(|c| c.source.clone()).collect();
    let options = if options.is_empty() {
        String::new()
    } else {
        format!(" {options}")
    };
    let mut out = vec![
        "BEGIN IMMEDIATE".to_string(),
        format!("DROP TABLE IF EXISTS main.{temp}"),
        format!(
            "CREATE TABLE main.{temp} (\n  {}\n){options}",
            defs.join(",\n  ")
        ),
        format!(
            "INSERT INTO main.{temp} ({}) SELECT {} FROM main.{name}",
            targets.join(", "),
            sources.join(", ")
        ),
        format!("DROP TABLE main.{name}"),
        format!("ALTER TABLE main.{temp} RENAME TO {name}"),
    ];
    out.extend(indexes.iter().cloned());
    out.push("COMMIT".into());
    out
}

/// The path as a read-only SQLite URI (`file:...?mode=ro`), so that ATTACH can never write it.
fn read_only_uri(path: &str) -> String {
    let mut out = String::from("file:");
    for ch in path.chars() {
        match ch {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out.push_str("?mode=ro");
    out
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

impl SqliteBackend {
    fn read_tables(&self, session: &mut dyn Session) -> Result<(Schema, Vec<Option<TableDef>>)> {
        let mut schema = Schema::default();
        let mut defs = Vec::new();
        for row in session.query_all(TABLES_SQL)? {
            let name = text(&row[0]);
            let create_sql = row[1].as_string();
            defs.push(create_sql.as_deref().and_then(ddl::parse_create_table));
            let estimated_rows =
                session.query_u64(&format!("SELECT COUNT(*) FROM main.{}", q(&name)))?;
            schema.tables.push(Table {
                name,
                create_sql,
                estimated_rows,
                ..Table::default()
            });
        }
        Ok((schema, defs))
    }

    fn read_columns(
        &self,
        session: &mut dyn Session,
        schema: &mut Schema,
        defs: &[Option<TableDef>],
    ) -> Result<()> {
        let mut pk_positions: Vec<Vec<(i64, String)>> = vec![Vec::new(); schema.tables.len()];
        for row in session.query_all(COLUMNS_SQL)? {
            let Some(ti) = schema.tables.iter().position(|t| t.name == text(&row[0])) else {
                continue;
            };
            let hidden = int(&row[7]);
            if hidden == 1 {
                continue; // a virtual table's hidden column
            }
            let name = text(&row[2]);
            let declared = text(&row[3]);
            let def = defs[ti].as_ref();
            let col_def = def.and_then(|d| d.column(&name));
            let facts = type_facts(&declared);
            let generated =
                (hidden >= 2).then(|| col_def.and_then(|c| c.generated()).unwrap_or_default());
            let pk = int(&row[6]);
            if pk > 0 {
                pk_positions[ti].push((pk, name.clone()));
            }
            schema.tables[ti].columns.push(Column {
                data_type: facts.data_type,
                column_type: declared,
                nullable: int(&row[4]) == 0,
                default: row[5].as_string(),
                max_length: facts.max_length,
                numeric_precision: facts.precision,
                numeric_scale: facts.scale,
                charset: None,
                collation: col_def.and_then(|c| c.collation()),
                auto_increment: def.is_some_and(|d| d.autoincrement(&name)),
                generated,
                invisible: false,
                comment: None,
                name,
            });
        }
        for (ti, mut pks) in pk_positions.into_iter().enumerate() {
            pks.sort();
            let table = &mut schema.tables[ti];
            table.primary_key = pks.into_iter().map(|(_, n)| n).collect();
            let without_rowid = defs[ti].as_ref().is_some_and(|d| d.without_rowid());
            // An INTEGER PRIMARY KEY is the rowid: it can never hold NULL, whatever the pragma says.
            if let [key] = table.primary_key.as_slice() {
                let key = key.clone();
                if let Some(c) = table.columns.iter_mut().find(|c| c.name == key) {
                    if !without_rowid && c.column_type.eq_ignore_ascii_case("integer") {
                        c.nullable = false;
                    }
                }
            }
        }
        Ok(())
    }

    fn read_indexes(
        &self,
        session: &mut dyn Session,
        schema: &mut Schema,
        defs: &[Option<TableDef>],
    ) -> Result<()> {
        for row in session.query_all(INDEXES_SQL)? {
            let Some(ti) = schema.tables.iter().position(|t| t.name == text(&row[0])) else {
                continue;
            };
            let origin = text(&row[3]);
            if origin == "pk" {
                continue; // the primary key is `primary_key`
            }
            let table = &mut schema.tables[ti];
            let name = text(&row[1]);
            let column = text(&row[6]);
            match table.indexes.iter_mut().find(|i| i.name == name) {
                Some(ix) => ix.columns.push(column),
                None => table.indexes.push(Index {
                    name,
                    columns: vec![column],
                    unique: int(&row[2]) == 1,
                    kind: "BTREE".into(),
                    // The automatic index of a UNIQUE constraint has no statement of its own:
                    // it lives in the table's definition and comes back with it.
                    create_sql: if origin == "u" {
                        None
                    } else {
                        row[4].as_string()
                    },
                }),
            }
        }
        // A UNIQUE constraint is known by its CONSTRAINT name where it has one.
        for (ti, def) in defs.iter().enumerate() {
            let Some(def) = def else { continue };
            let table = &mut schema.tables[ti];
            let mut taken: Vec<String> = table.indexes.iter().map(|i| i.name.clone()).collect();
            for ix in table.indexes.iter_mut().filter(|i| i.create_sql.is_none()) {
                if let Some(n) = def.unique_name(&ix.columns) {
                    if !taken.contains(&n) {
                        taken.push(n.clone());
                        ix.name = n;
                    }
                }
            }
        }
        Ok(())
    }

    fn read_foreign_keys(
        &self,
        session: &mut dyn Session,
        schema: &mut Schema,
        defs: &[Option<TableDef>],
    ) -> Result<()> {
        let mut raw: Vec<(usize, i64, ForeignKey)> = Vec::new();
        for row in session.query_all(FOREIGN_KEYS_SQL)? {
            let Some(ti) = schema.tables.iter().position(|t| t.name == text(&row[0])) else {
                continue;
            };
            let id = int(&row[1]);
            let from = text(&row[4]);
            let to = row[5].as_string().unwrap_or_default();
            match raw.iter_mut().find(|(t, i, _)| *t == ti && *i == id) {
                Some((_, _, fk)) => {
                    fk.columns.push(from);
                    fk.ref_columns.push(to);
                }
                None => raw.push((
                    ti,
                    id,
                    ForeignKey {
                        name: String::new(),
                        columns: vec![from],
                        ref_schema: None,
                        ref_table: text(&row[3]),
                        ref_columns: vec![to],
                        on_delete: text(&row[7]),
                        on_update: text(&row[6]),
                    },
                )),
            }
        }
        for (ti, id, mut fk) in raw {
            // SQLite matches names without regard to case; the plan matches them exactly.
            if let Some(parent) = schema
                .tables
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case(&fk.ref_table))
            {
                fk.ref_table = parent.name.clone();
                if fk.ref_columns.iter().all(String::is_empty) {
                    // REFERENCES parent without columns: the parent's primary key.
                    fk.ref_columns = parent.primary_key.clone();
                }
                for c in &mut fk.ref_columns {
                    if let Some(pc) = parent
                        .columns
                        .iter()
                        .find(|x| x.name.eq_ignore_ascii_case(c))
                    {
                        *c = pc.name.clone();
                    }
                }
            }
            let table = &mut schema.tables[ti];
            for c in &mut fk.columns {
                if let Some(tc) = table
                    .columns
                    .iter()
                    .find(|x| x.name.eq_ignore_ascii_case(c))
                {
                    *c = tc.name.clone();
                }
            }
            // SQLite's catalog has no constraint names: the CONSTRAINT name as written, or one
            // made up from the table and the pragma's id.
            let written = defs[ti]
                .as_ref()
                .and_then(|d| d.foreign_key_name(&fk.columns, &fk.ref_table));
            fk.name = match written {
                Some(n) if !table.foreign_keys.iter().any(|f| f.name == n) => n,
                _ => format!("fk_{}_{id}", table.name),
            };
            table.foreign_keys.push(fk);
        }
        Ok(())
    }
}

impl Backend for SqliteBackend {
    fn url(&self) -> &DbUrl {
        &self.url
    }

    fn dialect(&self) -> &dyn Dialect {
        &DIALECT
    }

    fn connect(&self) -> Result<Box<dyn Session>> {
        Ok(Box::new(self.open()?))
    }

    fn database_exists(&self) -> Result<bool> {
        Ok(self.path().exists())
    }

    fn create_database(&self, _like: Option<&Table>) -> Result<Vec<String>> {
        // The file appears with the first connection; nothing to run.
        self.may_create.store(true, Ordering::SeqCst);
        Ok(Vec::new())
    }

    fn drop_database(&self) -> Result<()> {
        let base = self.url.database.clone();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let path = format!("{base}{suffix}");
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(crate::error::io_error("remove", Path::new(&path), e)),
            }
        }
        Ok(())
    }

    fn execute_on_server(&self, _sql: &str) -> Result<()> {
        Ok(())
    }

    fn describe(&self, session: &mut dyn Session) -> Result<Schema> {
        let (mut schema, defs) = self.read_tables(session)?;
        self.read_columns(session, &mut schema, &defs)?;
        self.read_indexes(session, &mut schema, &defs)?;
        self.read_foreign_keys(session, &mut schema, &defs)?;
        for row in session.query_all(TRIGGERS_SQL)? {
            schema.triggers.push(Trigger {
                name: text(&row[0]),
                table: text(&row[1]),
                create_sql: text(&row[2]),
                sql_mode: None,
                definer: None,
            });
        }
        for row in session.query_all(VIEWS_SQL)? {
            schema.views.push(View {
                name: text(&row[0]),
                definition: text(&row[1]),
                create_sql: Some(text(&row[1])),
            });
        }
        Ok(schema)
    }

    fn reach(
        &self,
        session: &mut dyn Session,
        other: &DbUrl,
        alias: &str,
    ) -> Result<Option<String>> {
        if other.engine != Engine::Sqlite {
            return Ok(None);
        }
        let path = Path::new(&other.database);
        if same_file(self.path(), path) {
            return Err(Error::usage(
                format!("{} and {} are the same file.", self.url, other),
                "rekey never writes SOURCE: give DB_DATA and DB_FINAL files of their own.",
            ));
        }
        let attached = session.query_all(&ATTACHED_SQL.replace("{alias}", &DIALECT.lit(alias)))?;
        if attached.is_empty() {
            if !path.exists() {
                return Err(Error::input(
                    Place::default(),
                    format!("{other} does not exist."),
                    "Check the file path in the URL (a relative path starts from the current directory).",
                ));
            }
            // rekey only reads through `reach`; read-only also stops an unqualified statement
            // that SQLite resolves in the attached file from ever changing it.
            session.execute(&format!(
                "ATTACH DATABASE {} AS {}",
                DIALECT.lit(&read_only_uri(&other.database)),
                q(alias)
            ))?;
        }
        Ok(Some(q(alias)))
    }

    fn create_table_sql(&self, _from: &str, table: &Table) -> Vec<String> {
        let name = q(&table.name);
        let def = table_def(table);
        let mut out = vec![format!("CREATE TABLE main.{name} {}", def.body)];
        out.extend(table.indexes.iter().filter_map(|i| i.create_sql.clone()));
        out
    }

    fn unconstrain_sql(&self, table: &Table, what: &Unconstrain) -> Vec<String> {
        let def = table_def(table);
        let dropped_fks: Vec<&ForeignKey> = table
            .foreign_keys
            .iter()
            .filter(|f| what.foreign_keys.contains(&f.name))
            .collect();
        let all_fks =
            !table.foreign_keys.is_empty() && dropped_fks.len() == table.foreign_keys.len();
        let dropped_indexes: Vec<&Index> = table
            .indexes
            .iter()
            .filter(|i| what.indexes.contains(&i.name))
            .collect();
        let drops = |columns: &[String], clause: &Clause| -> bool {
            match clause.kind {
                ClauseKind::PrimaryKey => what.primary_key,
                ClauseKind::References => {
                    all_fks
                        || dropped_fks.iter().any(|f| {
                            same_columns(&f.columns, columns)
                                && clause
                                    .ref_table
                                    .as_deref()
                                    .is_some_and(|t| t.eq_ignore_ascii_case(&f.ref_table))
                        })
                }
                ClauseKind::Unique => dropped_indexes
                    .iter()
                    .any(|i| i.create_sql.is_none() && same_columns(&i.columns, columns)),
                _ => false,
            }
        };
        let changes_table = def.keyed_clauses().iter().any(|(cols, cl)| drops(cols, cl));
        if !changes_table {
            // Only CREATE INDEX indexes: those can go in place.
            return dropped_indexes
                .iter()
                .filter(|i| i.create_sql.is_some())
                .map(|i| format!("DROP INDEX IF EXISTS main.{}", q(&i.name)))
                .collect();
        }
        let mut columns = Vec::new();
        for c in def.columns() {
            let own = [c.name.clone()];
            let kept: Vec<&Clause> = c.clauses.iter().filter(|cl| !drops(&own, cl)).collect();
            let model = table
                .columns
                .iter()
                .find(|m| m.name.eq_ignore_ascii_case(&c.name));
            let text = if kept.len() == c.clauses.len() {
                c.text.clone()
            } else {
                let mut clauses: Vec<String> = kept.iter().map(|cl| cl.text.clone()).collect();
                // A rowid key that loses its PRIMARY KEY keeps its NOT NULL.
                if model.is_some_and(|m| !m.nullable)
                    && !kept.iter().any(|cl| cl.kind == ClauseKind::NotNull)
                {
                    clauses.push("NOT NULL".into());
                }
                column_text(&c.name, &c.type_text, &clauses)
            };
            columns.push(NewColumn {
                name: c.name.clone(),
                def: text,
                source: (!c.has(ClauseKind::Generated)).then(|| q(&c.name)),
            });
        }
        let constraints: Vec<String> = def
            .constraints()
            .filter(|cl| !drops(&cl.columns, cl))
            .map(|cl| cl.text.clone())
            .collect();
        let options = if what.primary_key {
            options_with_rowid(&def.options)
        } else {
            def.options.clone()
        };
        let indexes: Vec<String> = table
            .indexes
            .iter()
            .filter(|i| !what.indexes.contains(&i.name))
            .filter_map(|i| i.create_sql.clone())
            .collect();
        rebuild_sql(&table.name, &columns, &constraints, &options, &indexes)
    }

    fn swap_sql(&self, table: &Table, swaps: &[Swap], drop: &[String]) -> Vec<String> {
        // Only what is still to do: a table that was swapped already needs nothing.
        let pending: Vec<&Swap> = swaps
            .iter()
            .filter(|s| table.column(&s.shadow).is_some())
            .collect();
        let dropping: Vec<&String> = drop.iter().filter(|d| table.column(d).is_some()).collect();
        if pending.is_empty() && dropping.is_empty() {
            return Vec::new();
        }
        let def = table_def(table);
        let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let gone = |name: &str| {
            dropping.iter().any(|d| is(d, name)) || pending.iter().any(|s| is(&s.shadow, name))
        };
        let mut columns = Vec::new();
        for c in def.columns() {
            let swap_here = pending.iter().find(|s| {
                is(&s.column, &c.name)
                    // A shadow whose integer column is gone already keeps its place.
                    || (is(&s.shadow, &c.name) && def.column(&s.column).is_none())
            });
            match swap_here {
                Some(s) => columns.push(NewColumn {
                    name: s.column.clone(),
                    def: format!(
                        "{} {} {}",
                        q(&s.column),
                        uuid_column_type(&def, &s.uuid_type),
                        null_word(s.nullable)
                    ),
                    source: Some(q(&s.shadow)),
                }),
                None if gone(&c.name) => {}
                None => columns.push(NewColumn {
                    name: c.name.clone(),
                    def: c.text.clone(),
                    source: (!c.has(ClauseKind::Generated)).then(|| q(&c.name)),
                }),
            }
        }
        let changed: Vec<&str> = pending
            .iter()
            .map(|s| s.column.as_str())
            .chain(dropping.iter().map(|d| d.as_str()))
            .collect();
        // Keys and indexes on converted columns are gone after unconstrain; a dry run, which
        // starts from SOURCE's shape, must not bring them back either.
        let touched = |cols: &[String]| {
            cols.iter()
                .any(|c| gone(c) || changed.iter().any(|n| is(n, c)))
        };
        let kept: Vec<&Clause> = def
            .constraints()
            .filter(|cl| !touched(&cl.columns))
            // A CHECK written for integer keys may not hold for UUIDs; DB_DATA needs none.
            .filter(|cl| {
                cl.kind != ClauseKind::Check
                    || !cl
                        .detail
                        .as_deref()
                        .is_some_and(|e| changed.iter().any(|n| ddl::mentions(e, n)))
            })
            .collect();
        let keyed = kept.iter().any(|cl| cl.kind == ClauseKind::PrimaryKey)
            || def.columns().any(|c| {
                !changed.iter().any(|n| is(n, &c.name))
                    && !gone(&c.name)
                    && c.has(ClauseKind::PrimaryKey)
            });
        let options = if keyed {
            def.options.clone()
        } else {
            options_with_rowid(&def.options)
        };
        let constraints: Vec<String> = kept.iter().map(|cl| cl.text.clone()).collect();
        let indexes: Vec<String> = table
            .indexes
            .iter()
            .filter(|i| !touched(&i.columns))
            .filter_map(|i| i.create_sql.clone())
            .collect();
        rebuild_sql(&table.name, &columns, &constraints, &options, &indexes)
    }

    fn derive_table_sql(&self, _from: &str, table: &Table, swaps: &[Swap]) -> Vec<String> {
        let def = table_def(table);
        let mut items = Vec::new();
        for item in &def.items {
            match item {
                Item::Column(c) => match swaps
                    .iter()
                    .find(|s| s.column.eq_ignore_ascii_case(&c.name))
                {
                    None => items.push(c.text.clone()),
                    Some(s) => {
                        // Keys, uniqueness, references and checks stay; what described the
                        // integer (default, collation, AUTOINCREMENT) goes.
                        let mut clauses = vec![null_word(s.nullable).to_string()];
                        for cl in &c.clauses {
                            match cl.kind {
                                ClauseKind::NotNull
                                | ClauseKind::Null
                                | ClauseKind::Default
                                | ClauseKind::Collate => {}
                                _ => clauses.push(cl.text_without_autoincrement.clone()),
                            }
                        }
                        items.push(column_text(
                            &c.name,
                            &uuid_column_type(&def, &s.uuid_type),
                            &clauses,
                        ));
                    }
                },
                Item::Constraint(cl) => items.push(cl.text_without_autoincrement.clone()),
            }
        }
        let options = if def.options.is_empty() {
            String::new()
        } else {
            format!(" {}", def.options)
        };
        let mut out = vec![format!(
            "CREATE TABLE main.{} (\n  {}\n){options}",
            q(&table.name),
            items.join(",\n  ")
        )];
        out.extend(table.indexes.iter().filter_map(|i| i.create_sql.clone()));
        out
    }

    fn server_info(&self, session: &mut dyn Session) -> Result<ServerInfo> {
        let version = session
            .query_all(SERVER_INFO_SQL)?
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_string)
            .unwrap_or_default();
        Ok(ServerInfo {
            version: format!("SQLite {version}"),
            outfile_dir: None,
            local_infile: false,
            has_file_privilege: false,
            galera: false,
        })
    }

    fn load_table(&self, data: &dyn Backend, job: &LoadJob<'_>) -> Result<Moved> {
        let mut session = self.open()?;
        let s: &mut dyn Session = &mut session;
        let from = self.reach(s, data.url(), DATA_ALIAS)?.ok_or_else(|| {
            Error::usage(
                format!("{} is not a SQLite database.", data.url()),
                "Give DB_DATA and DB_FINAL as sqlite:// URLs.",
            )
        })?;
        for sql in DIALECT.bulk_session(job.arrival) {
            s.execute(&sql)?;
        }
        let cols = DIALECT.column_list(job.columns);
        let table = q(job.table);
        // DB_FINAL's own indexes are built once after the rows are in (a sort instead of one
        // b-tree insert per row, about twice as fast), from their stored statements, in the same
        // transaction: no other connection ever sees the table without them.
        let indexes =
            s.query_all(&TABLE_INDEXES_SQL.replace("{table}", &DIALECT.lit(job.table)))?;
        s.execute("BEGIN IMMEDIATE")?;
        for ix in &indexes {
            s.execute(&format!("DROP INDEX main.{}", q(&text(&ix[0]))))?;
        }
        let rows = s.execute(&format!(
            "INSERT INTO main.{table} ({cols}) SELECT {cols} FROM {from}.{table}"
        ))?;
        for ix in &indexes {
            s.execute(&text(&ix[1]))?;
        }
        s.execute("COMMIT")?;
        (job.progress)(rows);
        Ok(Moved::whole(rows))
    }

    fn drop_trigger_sql(&self, name: &str) -> String {
        format!("DROP TRIGGER IF EXISTS main.{}", q(name))
    }

    fn connect_server(&self) -> Result<Box<dyn Session>> {
        // SQLite has no server: a private in-memory database answers what a server session is
        // asked (the version), whether or not the file exists yet.
        let conn = Connection::open_in_memory().map_err(|e| sql_error(e, ":memory:"))?;
        conn.execute_batch(SESSION_SQL)
            .map_err(|e| sql_error(e, SESSION_SQL))?;
        Ok(Box::new(SqliteSession { conn }))
    }

    fn footprint(&self, _session: &mut dyn Session) -> Result<Footprint> {
        let size = |suffix: &str| {
            std::fs::metadata(format!("{}{suffix}", self.url.database))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        let (bytes, rows) = if self.path().exists() {
            let mut s = self.open()?;
            let (schema, _) = self.read_tables(&mut s)?;
            (
                size("") + size("-wal"),
                schema.tables.iter().map(|t| t.estimated_rows).sum(),
            )
        } else {
            (0, 0)
        };
        let absolute = std::path::absolute(self.path()).ok();
        let local_dir = absolute
            .as_deref()
            .and_then(Path::parent)
            .filter(|d| d.exists())
            .map(Path::to_path_buf);
        Ok(Footprint {
            bytes,
            rows,
            local_dir,
        })
    }
}

#[cfg(test)]
mod tests;
