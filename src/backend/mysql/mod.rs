//! The MariaDB/MySQL backend: catalog from INFORMATION_SCHEMA, set-based SQL, and bulk load through
//! SELECT ... INTO OUTFILE / LOAD DATA INFILE or LOAD DATA LOCAL INFILE streamed from DB_DATA.

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use mysql::prelude::Queryable;
use mysql::{Conn, LocalInfileHandler, OptsBuilder};

use super::{
    Arrival, Backend, Dialect, Footprint, LoadChoice, LoadJob, LoadPath, Moved, ServerInfo,
    Session, Swap, Unconstrain, Value,
};
use crate::error::{Error, Place, Result};
use crate::ident::QuoteStyle;
use crate::model::{Column, ForeignKey, Index, Schema, Table, Trigger, View};
use crate::options::UuidFormat;
use crate::url::{redact, DbUrl};

const TABLES_SQL: &str = include_str!("tables.sql");
const COLUMNS_SQL: &str = include_str!("columns.sql");
const INDEXES_SQL: &str = include_str!("indexes.sql");
const FOREIGN_KEYS_SQL: &str = include_str!("foreign_keys.sql");
const TRIGGERS_SQL: &str = include_str!("triggers.sql");
const VIEWS_SQL: &str = include_str!("views.sql");
const ROUTINES_SQL: &str = include_str!("routines.sql");
const SERVER_INFO_SQL: &str = include_str!("server_info.sql");
const BULK_SESSION_SQL: &str = include_str!("bulk_session.sql");
const APPEND_SESSION_SQL: &str = include_str!("append_session.sql");
const PARTITIONS_SQL: &str = include_str!("partitions.sql");
const PRIVILEGES_SQL: &str = include_str!("privileges.sql");
const SIZE_SQL: &str = include_str!("size.sql");

/// The text format of every export and LOAD DATA: raw bytes, tab-separated, backslash escapes.
const LOAD_FORMAT: &str =
    "CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'";

/// Rows per multi-row INSERT in `insert_rows`: large enough to amortise round trips, small enough
/// to stay far below max_allowed_packet with CHAR(36) keys.
const INSERT_BATCH: usize = 2000;

pub struct MysqlDialect;

impl Dialect for MysqlDialect {
    fn quote_style(&self) -> QuoteStyle {
        QuoteStyle::Backtick
    }
    fn backslash_escapes(&self) -> bool {
        true
    }
    fn alters_in_place(&self) -> bool {
        true
    }
    fn parallel_writes(&self) -> bool {
        true
    }
    fn uuid_type(&self, format: UuidFormat) -> Result<String> {
        Ok(match format {
            UuidFormat::Char32 => "CHAR(32)",
            UuidFormat::Char36 => "CHAR(36)",
            UuidFormat::Binary16 => "BINARY(16)",
            UuidFormat::Native => "UUID",
        }
        .to_string())
    }
    fn bulk_session(&self, arrival: Arrival) -> Vec<String> {
        // InnoDB's bulk-insert path (an empty table, unique_checks and foreign_key_checks off)
        // sorts every index before building it: it pays for secondary indexes and out-of-order
        // keys, but makes appends slower (600,000 rows into a table without secondary indexes:
        // 2.2 s with unique checks on against 3.9 s with them off; docs/performance.md).
        split_statements(match arrival {
            Arrival::InKeyOrder => APPEND_SESSION_SQL,
            Arrival::Unordered => BULK_SESSION_SQL,
        })
    }
    fn map_key_type(&self, column_type: &str) -> String {
        column_type.to_string()
    }
    fn exact_select(&self, column: &Column) -> String {
        match column.data_type.as_str() {
            "float" => format!("CAST({} AS DOUBLE)", self.q(&column.name)),
            _ => self.q(&column.name),
        }
    }
    fn clone_keeps_foreign_keys(&self) -> bool {
        false
    }
    fn empty_table_sql(&self, table: &str) -> String {
        format!("TRUNCATE TABLE {table}")
    }
    fn checked_session(&self) -> Vec<String> {
        vec!["SET SESSION foreign_key_checks = 1".into()]
    }
    fn map_format(&self, column_format: UuidFormat) -> UuidFormat {
        // 16 bytes instead of 32 or 36 characters: a mapping row is a third smaller, so more
        // of the parents' mappings stay in the buffer pool while swap looks up every reference
        // (page_request's fill at scale 10: 54 s against 67 s).
        match column_format {
            UuidFormat::Native => UuidFormat::Native,
            _ => UuidFormat::Binary16,
        }
    }
    fn map_to_column_sql(&self, expr: &str, map: UuidFormat, column: UuidFormat) -> String {
        match (map, column) {
            (UuidFormat::Binary16, UuidFormat::Char32) => format!("LOWER(HEX({expr}))"),
            // INSERT, not CONCAT_WS: CONCAT_WS skips NULLs and would turn a NULL into "----".
            (UuidFormat::Binary16, UuidFormat::Char36) => format!(
                "LOWER(INSERT(INSERT(INSERT(INSERT(HEX({expr}), 21, 0, '-'), 17, 0, '-'), 13, 0, '-'), 9, 0, '-'))"
            ),
            _ => expr.to_string(),
        }
    }
    fn add_columns_sql(&self, table: &str, columns: &[(String, String)]) -> Vec<String> {
        let clauses: Vec<String> = columns
            .iter()
            .map(|(name, ty)| format!("ADD COLUMN {} {ty} NULL", self.q(name)))
            .collect();
        alter(table, &clauses)
    }
    fn catalog_type(&self, declared: &str) -> String {
        declared.to_ascii_lowercase()
    }
}

static DIALECT: MysqlDialect = MysqlDialect;

fn split_statements(sql: &str) -> Vec<String> {
    sql.split(";\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches(';').to_string())
        .collect()
}

pub struct MysqlBackend {
    url: DbUrl,
}

impl MysqlBackend {
    pub fn new(url: DbUrl) -> Self {
        MysqlBackend { url }
    }

    fn opts(&self, with_db: bool) -> OptsBuilder {
        OptsBuilder::new()
            .ip_or_hostname(Some(self.url.host.clone()))
            .tcp_port(self.url.port)
            .user(self.url.user.clone())
            .pass(self.url.password.clone())
            .db_name(with_db.then(|| self.url.database.clone()))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(std::time::Duration::from_secs(10)))
            // One statement, one round trip: rekey opens about a thousand sessions in a run.
            // Results come back as the bytes stored, whatever the column's character set, so
            // values are compared and streamed without any conversion. TIMESTAMP values travel
            // as text: in UTC no local time is ambiguous. Zero dates copy as they are, and a 0
            // key stays 0 instead of taking an AUTO_INCREMENT value; strict, so a value that
            // does not fit is an error.
            .init(vec![concat!(
                "SET NAMES utf8mb4",
                ", SESSION character_set_results = binary",
                ", SESSION group_concat_max_len = 1048576",
                ", SESSION time_zone = '+00:00'",
                ", SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"
            )])
    }

    /// Connects, retrying while the server is unreachable (starting), never on refused credentials.
    fn raw_connect(&self, with_db: bool) -> Result<Conn> {
        let mut attempt = 0;
        loop {
            match Conn::new(self.opts(with_db)) {
                Ok(c) => return Ok(c),
                Err(e) if is_unreachable(&e) && attempt < self.url.retries => {
                    attempt += 1;
                    thread::sleep(self.url.retry_delay);
                }
                Err(e) => return Err(connect_error(&self.url, &e, attempt)),
            }
        }
    }

    fn server_session(&self) -> Result<MysqlSession> {
        Ok(MysqlSession::new(self.raw_connect(false)?))
    }

    fn schema_literal(&self) -> String {
        DIALECT.lit(&self.url.database)
    }

    fn catalog(&self, session: &mut dyn Session, sql: &str) -> Result<Vec<Vec<Value>>> {
        session.query_all(&sql.replace("{schema}", &self.schema_literal()))
    }
}

fn is_unreachable(e: &mysql::Error) -> bool {
    match e {
        mysql::Error::IoError(_) => true,
        mysql::Error::DriverError(mysql::DriverError::CouldNotConnect(_)) => true,
        mysql::Error::MySqlError(me) => me.code == 1040 || me.code == 1053, // too many connections, shutdown in progress
        _ => false,
    }
}

fn connect_error(url: &DbUrl, e: &mysql::Error, retries: u32) -> Error {
    let message = redact(&format!("cannot connect to {url}: {e}"));
    let hint = match e {
        mysql::Error::MySqlError(me) if me.code == 1045 => {
            "The server refused the user name or password: check the URL or DB_USER/DB_PASS.".to_string()
        }
        mysql::Error::MySqlError(me) if me.code == 1049 => {
            "The database does not exist: check its name in the URL.".to_string()
        }
        mysql::Error::MySqlError(me) if me.code == 1044 => format!(
            "The account may not use this database: GRANT the privileges listed in docs/cutover.md ON `{}`.* to it.",
            url.database
        ),
        _ => format!(
            "Gave up after {retries} retries; check that the server runs and listens at {}:{}, or raise DB_MAX_RETRIES/DB_RETRY_DELAY for a server that is still starting.",
            url.host, url.port
        ),
    };
    Error::env(Place::default(), format!("{message}."), hint)
}

fn sql_error(e: mysql::Error, sql: &str) -> Error {
    let hint = match &e {
        mysql::Error::MySqlError(me) if matches!(me.code, 1142 | 1143 | 1044 | 1227 | 1045) => {
            "The account lacks a privilege for this statement: GRANT it (docs/cutover.md lists the GRANTs per database), then run again with --resume."
        }
        mysql::Error::MySqlError(me) if me.code == 1148 || me.code == 3948 || me.code == 2068 => {
            "LOAD DATA LOCAL is disabled: SET GLOBAL local_infile = 1 on the server, or give the account the FILE privilege so the server-side path is used."
        }
        mysql::Error::IoError(_) | mysql::Error::DriverError(_) => {
            "The connection was lost: check the server, then run again with --resume."
        }
        _ => "Fix the cause named by the server, then run again with --resume.",
    };
    let short: String = sql.chars().take(300).collect();
    Error::env(
        Place::default(),
        redact(&format!("the server rejected `{short}`: {e}.")),
        hint,
    )
}

fn to_value(v: mysql::Value) -> Value {
    match v {
        mysql::Value::NULL => Value::Null,
        mysql::Value::Bytes(b) => Value::Text(b),
        mysql::Value::Int(i) => Value::Int(i),
        mysql::Value::UInt(u) => Value::Text(u.to_string().into_bytes()),
        mysql::Value::Float(f) => Value::Real(f as f64),
        mysql::Value::Double(d) => Value::Real(d),
        other => Value::Text(other.as_sql(true).into_bytes()),
    }
}

/// A literal for a multi-row INSERT: hex for bytes so no character set or escape can alter them.
fn sql_literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Int(i) => i.to_string(),
        Value::Real(r) => format!("{r:e}"),
        Value::Text(b) if b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-') => {
            format!("'{}'", String::from_utf8_lossy(b))
        }
        Value::Text(b) | Value::Blob(b) if b.is_empty() => "''".into(),
        Value::Text(b) | Value::Blob(b) => {
            let mut s = String::with_capacity(b.len() * 2 + 3);
            s.push_str("X'");
            for byte in b {
                s.push_str(&format!("{byte:02x}"));
            }
            s.push('\'');
            s
        }
    }
}

pub struct MysqlSession {
    conn: Conn,
    /// Whether LOAD DATA LOCAL works on this server (unknown until first tried).
    local_infile: Option<bool>,
}

impl MysqlSession {
    fn new(conn: Conn) -> Self {
        MysqlSession {
            conn,
            local_infile: None,
        }
    }

    /// Loads rows through LOAD DATA LOCAL INFILE from memory; `Ok(None)` when the server refuses
    /// LOCAL (then the caller inserts them with plain INSERTs).
    fn load_local(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &[Vec<Value>],
    ) -> Result<Option<u64>> {
        let mut buf = Vec::with_capacity(rows.len() * 64);
        for row in rows {
            write_load_data_row(&mut buf, row).map_err(|e| {
                Error::env(
                    Place::default(),
                    format!("could not encode rows: {e}."),
                    "Report this as a bug.",
                )
            })?;
        }
        self.conn
            .set_local_infile_handler(Some(LocalInfileHandler::new(move |_, w| w.write_all(&buf))));
        // Text values are text (a UUID column parses them only from a text character set);
        // byte values must not be converted.
        let charset = if rows.iter().flatten().any(|v| matches!(v, Value::Blob(_))) {
            "binary"
        } else {
            "utf8mb4"
        };
        let format = LOAD_FORMAT.replacen("binary", charset, 1);
        let sql = format!(
            "LOAD DATA LOCAL INFILE 'rekey-rows' INTO TABLE {table} {format} ({})",
            DIALECT.column_list(columns)
        );
        let result = self.conn.query_iter(&sql).map(|r| r.affected_rows());
        self.conn.set_local_infile_handler(None);
        match result {
            Ok(n) => {
                check_warnings(self, table)?;
                Ok(Some(n))
            }
            Err(mysql::Error::MySqlError(me)) if matches!(me.code, 1148 | 3948 | 4166) => Ok(None),
            Err(e) => Err(sql_error(e, &sql)),
        }
    }
}

impl Session for MysqlSession {
    fn execute(&mut self, sql: &str) -> Result<u64> {
        let result = self.conn.query_iter(sql).map_err(|e| sql_error(e, sql))?;
        let affected = result.affected_rows();
        drop(result);
        Ok(affected)
    }

    fn query(&mut self, sql: &str, each: &mut dyn FnMut(&[Value]) -> Result<()>) -> Result<()> {
        let result = self.conn.query_iter(sql).map_err(|e| sql_error(e, sql))?;
        let mut values = Vec::new();
        for row in result {
            let row = row.map_err(|e| sql_error(e, sql))?;
            values.clear();
            values.extend(row.unwrap().into_iter().map(to_value));
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
        // Callers pass one bounded batch at a time (shadow: one batch of mapping rows).
        let rows: Vec<Vec<Value>> = rows.collect::<Result<_>>()?;
        if self.local_infile != Some(false) {
            match self.load_local(table, columns, &rows)? {
                Some(n) => {
                    self.local_infile = Some(true);
                    return Ok(n);
                }
                None => self.local_infile = Some(false),
            }
        }
        let head = format!(
            "INSERT INTO {table} ({}) VALUES ",
            DIALECT.column_list(columns)
        );
        let mut total = 0u64;
        for batch in rows.chunks(INSERT_BATCH) {
            let values: Vec<String> = batch
                .iter()
                .map(|row| {
                    format!(
                        "({})",
                        row.iter().map(sql_literal).collect::<Vec<_>>().join(",")
                    )
                })
                .collect();
            total += self.execute(&format!("{head}{}", values.join(",")))?;
        }
        Ok(total)
    }
}

fn text(v: &Value) -> String {
    v.as_string().unwrap_or_default()
}

fn opt_text(v: &Value) -> Option<String> {
    v.as_string()
}

impl Backend for MysqlBackend {
    fn url(&self) -> &DbUrl {
        &self.url
    }

    fn dialect(&self) -> &dyn Dialect {
        &DIALECT
    }

    fn connect(&self) -> Result<Box<dyn Session>> {
        Ok(Box::new(MysqlSession::new(self.raw_connect(true)?)))
    }

    fn database_exists(&self) -> Result<bool> {
        let mut s = self.server_session()?;
        let sql = format!(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}",
            self.schema_literal()
        );
        Ok((&mut s as &mut dyn Session).query_u64(&sql)? > 0)
    }

    fn create_database(&self, like: Option<&Table>) -> Result<Vec<String>> {
        let mut sql = format!("CREATE DATABASE {}", DIALECT.q(&self.url.database));
        if let Some(collation) = like.and_then(|t| t.collation.as_deref()) {
            sql.push_str(&format!(" COLLATE {}", DIALECT.lit(collation)));
        }
        Ok(vec![sql])
    }

    fn drop_database(&self) -> Result<()> {
        let mut s = self.server_session()?;
        s.execute(&format!(
            "DROP DATABASE IF EXISTS {}",
            DIALECT.q(&self.url.database)
        ))?;
        Ok(())
    }

    fn execute_on_server(&self, sql: &str) -> Result<()> {
        self.server_session()?.execute(sql).map(|_| ())
    }

    fn describe(&self, session: &mut dyn Session) -> Result<Schema> {
        let mut schema = Schema::default();
        for row in self.catalog(session, TABLES_SQL)? {
            let collation = opt_text(&row[2]);
            schema.tables.push(Table {
                name: text(&row[0]),
                engine: opt_text(&row[1]),
                charset: collation
                    .as_deref()
                    .and_then(|c| c.split('_').next())
                    .map(str::to_string),
                collation,
                estimated_rows: row[3].as_u64().unwrap_or(0),
                bytes: row[5].as_u64().unwrap_or(0),
                ..Table::default()
            });
        }
        let index_of =
            |schema: &Schema, name: &str| schema.tables.iter().position(|t| t.name == name);
        for row in self.catalog(session, COLUMNS_SQL)? {
            let Some(ti) = index_of(&schema, &text(&row[0])) else {
                continue; // a view's columns
            };
            let extra = text(&row[11]).to_ascii_lowercase();
            let generated = if extra.contains("generated") || extra.contains("persistent") {
                Some(text(&row[12]))
            } else {
                None
            };
            schema.tables[ti].columns.push(Column {
                name: text(&row[1]),
                data_type: text(&row[2]).to_ascii_lowercase(),
                column_type: text(&row[3]),
                nullable: text(&row[4]) == "YES",
                default: opt_text(&row[5]),
                max_length: row[6].as_u64(),
                numeric_precision: row[7].as_u64(),
                numeric_scale: row[8].as_u64(),
                charset: opt_text(&row[9]),
                collation: opt_text(&row[10]),
                auto_increment: extra.contains("auto_increment"),
                generated,
                invisible: extra.contains("invisible"),
                comment: opt_text(&row[13]).filter(|c| !c.is_empty()),
            });
        }
        for row in self.catalog(session, INDEXES_SQL)? {
            let Some(ti) = index_of(&schema, &text(&row[0])) else {
                continue;
            };
            let table = &mut schema.tables[ti];
            let name = text(&row[1]);
            let column = text(&row[3]);
            if name == "PRIMARY" {
                table.primary_key.push(column);
                continue;
            }
            match table.indexes.iter_mut().find(|i| i.name == name) {
                Some(ix) => ix.columns.push(column),
                None => table.indexes.push(Index {
                    name,
                    columns: vec![column],
                    unique: row[2].as_u64() == Some(0),
                    kind: text(&row[4]),
                    create_sql: None,
                }),
            }
        }
        for row in self.catalog(session, FOREIGN_KEYS_SQL)? {
            let Some(ti) = index_of(&schema, &text(&row[0])) else {
                continue;
            };
            let table = &mut schema.tables[ti];
            let name = text(&row[1]);
            match table.foreign_keys.iter_mut().find(|f| f.name == name) {
                Some(fk) => {
                    fk.columns.push(text(&row[2]));
                    fk.ref_columns.push(text(&row[4]));
                }
                None => table.foreign_keys.push(ForeignKey {
                    name,
                    columns: vec![text(&row[2])],
                    ref_schema: opt_text(&row[7]).filter(|s| *s != self.url.database),
                    ref_table: text(&row[3]),
                    ref_columns: vec![text(&row[4])],
                    on_delete: text(&row[5]),
                    on_update: text(&row[6]),
                }),
            }
        }
        for row in self.catalog(session, TRIGGERS_SQL)? {
            let name = text(&row[0]);
            let show = session.query_all(&format!(
                "SHOW CREATE TRIGGER {}.{}",
                DIALECT.q(&self.url.database),
                DIALECT.q(&name)
            ))?;
            let Some(def) = show.first() else { continue };
            schema.triggers.push(Trigger {
                name,
                table: text(&row[1]),
                create_sql: text(&def[2]),
                sql_mode: opt_text(&def[1]),
                definer: opt_text(&row[2]),
            });
        }
        for row in self.catalog(session, PARTITIONS_SQL)? {
            if let Some(ti) = index_of(&schema, &text(&row[0])) {
                let exprs: Vec<String> = [opt_text(&row[2]), opt_text(&row[3])]
                    .into_iter()
                    .flatten()
                    .collect();
                schema.tables[ti].partitioning =
                    Some(format!("{}({})", text(&row[1]), exprs.join(", ")));
            }
        }
        for row in self.catalog(session, VIEWS_SQL)? {
            let name = text(&row[0]);
            // Unqualified because the session's database is the view's: it recreates elsewhere.
            let create_sql = session
                .query_all(&format!("SHOW CREATE VIEW {}", DIALECT.q(&name)))?
                .first()
                .and_then(|r| r.get(1))
                .and_then(Value::as_string);
            schema.views.push(View {
                name,
                definition: text(&row[1]),
                create_sql,
            });
        }
        for row in self.catalog(session, ROUTINES_SQL)? {
            schema.routines.push(crate::model::Routine {
                name: text(&row[0]),
                kind: text(&row[1]),
                definition: text(&row[2]),
            });
        }
        Ok(schema)
    }

    fn reach(
        &self,
        _session: &mut dyn Session,
        other: &DbUrl,
        _alias: &str,
    ) -> Result<Option<String>> {
        Ok(self
            .url
            .same_server(other)
            .then(|| DIALECT.q(&other.database)))
    }

    fn create_table_sql(&self, from: &str, table: &Table) -> Vec<String> {
        let name = DIALECT.q(&table.name);
        vec![format!("CREATE TABLE {name} LIKE {from}.{name}")]
    }

    fn unconstrain_sql(&self, table: &Table, what: &Unconstrain) -> Vec<String> {
        let drops: Vec<String> = what
            .foreign_keys
            .iter()
            .map(|f| format!("DROP FOREIGN KEY {}", DIALECT.q(f)))
            .collect();
        let mut out = alter(&table.name, &drops);
        let mut clauses = Vec::new();
        if what.primary_key {
            // AUTO_INCREMENT must go before the key it needs.
            for c in table.columns.iter().filter(|c| c.auto_increment) {
                clauses.push(format!(
                    "MODIFY {} {} NOT NULL",
                    DIALECT.q(&c.name),
                    c.column_type
                ));
            }
            clauses.push("DROP PRIMARY KEY".into());
        }
        for ix in &what.indexes {
            clauses.push(format!("DROP INDEX {}", DIALECT.q(ix)));
        }
        out.extend(alter(&table.name, &clauses));
        out
    }

    fn swap_sql(&self, table: &Table, swaps: &[Swap], drop: &[String]) -> Vec<String> {
        // One ALTER per table: atomic, so a resumed run finds a table either swapped or not.
        let pending: Vec<&Swap> = swaps
            .iter()
            .filter(|s| table.column(&s.shadow).is_some())
            .collect();
        let mut clauses = Vec::new();
        for s in &pending {
            if table.column(&s.column).is_some() {
                clauses.push(format!("DROP COLUMN {}", DIALECT.q(&s.column)));
            }
        }
        let shadows: Vec<&str> = swaps.iter().map(|s| s.shadow.as_str()).collect();
        let originals: Vec<&Column> = table
            .columns
            .iter()
            .filter(|c| !shadows.contains(&c.name.as_str()) && !drop.contains(&c.name))
            .collect();
        for s in &pending {
            let position = match originals.iter().position(|c| c.name == s.column) {
                Some(0) | None => "FIRST".to_string(),
                Some(i) => format!("AFTER {}", DIALECT.q(&originals[i - 1].name)),
            };
            let comment = table
                .column(&s.column)
                .and_then(|c| c.comment.as_deref())
                .map(|c| format!(" COMMENT {}", DIALECT.lit(c)))
                .unwrap_or_default();
            clauses.push(format!(
                "CHANGE COLUMN {} {} {} {}{} {}",
                DIALECT.q(&s.shadow),
                DIALECT.q(&s.column),
                s.uuid_type,
                if s.nullable { "NULL" } else { "NOT NULL" },
                comment,
                position
            ));
        }
        for d in drop {
            if table.column(d).is_some() {
                clauses.push(format!("DROP COLUMN {}", DIALECT.q(d)));
            }
        }
        alter(&table.name, &clauses)
    }

    fn derive_table_sql(&self, from: &str, table: &Table, swaps: &[Swap]) -> Vec<String> {
        let name = DIALECT.q(&table.name);
        let mut out = vec![format!("CREATE TABLE {name} LIKE {from}.{name}")];
        let clauses: Vec<String> = swaps
            .iter()
            .map(|s| {
                let comment = table
                    .column(&s.column)
                    .and_then(|c| c.comment.as_deref())
                    .map(|c| format!(" COMMENT {}", DIALECT.lit(c)))
                    .unwrap_or_default();
                format!(
                    "MODIFY {} {} {}{}",
                    DIALECT.q(&s.column),
                    s.uuid_type,
                    if s.nullable { "NULL" } else { "NOT NULL" },
                    comment
                )
            })
            .collect();
        // MariaDB converts no integer to its UUID type, not even in an empty table; text can.
        let via_text: Vec<String> = swaps
            .iter()
            .filter(|s| s.uuid_type.eq_ignore_ascii_case("uuid"))
            .map(|s| format!("MODIFY {} CHAR(36) NULL", DIALECT.q(&s.column)))
            .collect();
        out.extend(alter(&table.name, &via_text));
        out.extend(alter(&table.name, &clauses));
        out
    }

    fn derive_constraints_sql(&self, table: &Table) -> Vec<String> {
        let clauses: Vec<String> = table
            .foreign_keys
            .iter()
            .map(|fk| {
                format!(
                    "ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
                    DIALECT.q(&fk.name),
                    DIALECT.column_list(&fk.columns),
                    crate::ident::qualified(DIALECT.quote_style(), fk.ref_schema.as_deref(), &fk.ref_table),
                    DIALECT.column_list(&fk.ref_columns),
                    fk.on_delete,
                    fk.on_update
                )
            })
            .collect();
        alter(&table.name, &clauses)
    }

    fn server_info(&self, session: &mut dyn Session) -> Result<ServerInfo> {
        let row = session
            .query_all(SERVER_INFO_SQL)?
            .into_iter()
            .next()
            .unwrap_or_default();
        let get = |i: usize| row.get(i).and_then(Value::as_string);
        let version = get(0).unwrap_or_default();
        // secure_file_priv: a directory restricts exports to it; empty allows any directory.
        // NULL disables exports on MySQL but means "unset, no restriction" on MariaDB.
        let outfile_dir = match get(1) {
            None if version.contains("MariaDB") => get(3),
            None => None,
            Some(dir) if dir.is_empty() => get(3),
            Some(dir) => Some(dir),
        };
        let grants = session.query_all("SHOW GRANTS")?;
        let has_file_privilege = grants.iter().any(|g| {
            let line = g.first().and_then(Value::as_string).unwrap_or_default();
            line.contains(" ON *.* ") && (line.contains("ALL PRIVILEGES") || line.contains(" FILE"))
        });
        Ok(ServerInfo {
            version,
            outfile_dir,
            local_infile: get(2).as_deref() == Some("1"),
            has_file_privilege,
            galera: get(4).is_some_and(|v| v.eq_ignore_ascii_case("ON")),
        })
    }

    fn load_table(&self, data: &dyn Backend, job: &LoadJob<'_>) -> Result<Moved> {
        let mut fin = MysqlSession::new(self.raw_connect(true)?);
        for s in DIALECT.bulk_session(job.arrival) {
            fin.execute(&s)?;
        }
        let (select, targets) = transfer_lists(job.models);
        let table = DIALECT.q(job.table);
        let data_db = DIALECT.q(&data.url().database);
        let format = LOAD_FORMAT;
        if *job.path == LoadPath::Direct {
            let columns = DIALECT.column_list(job.columns);
            let loaded = fin.execute(&format!(
                "{}INSERT INTO {table} ({columns}) SELECT {columns} FROM {data_db}.{table}",
                job.marker
            ))?;
            (job.progress)(loaded);
            return Ok(Moved::whole(loaded));
        }
        if let LoadPath::ServerFiles(dir) = job.path {
            let path = format!("{}/rekey-{}.tsv", dir.trim_end_matches('/'), job.file_tag);
            let _ = std::fs::remove_file(&path);
            let exported = fin.execute(&format!(
                "{}SELECT {select} FROM {data_db}.{table} INTO OUTFILE {} {format}",
                job.marker,
                DIALECT.lit(&path)
            ))?;
            let loaded = fin.execute(&format!(
                "{}LOAD DATA INFILE {} INTO TABLE {table} {format} {targets}",
                job.marker,
                DIALECT.lit(&path)
            ));
            let _ = std::fs::remove_file(&path);
            let loaded = loaded?;
            check_warnings(&mut fin, job.table)?;
            (job.progress)(loaded);
            return Ok(Moved {
                read: exported,
                written: loaded,
            });
        }
        // Client-side: stream DB_DATA's rows into LOAD DATA LOCAL, no temporary file.
        let mut source =
            MysqlSession::new(MysqlBackend::new(data.url().clone()).raw_connect(true)?);
        let select = format!("SELECT {select} FROM {table}");
        let counter = Arc::new(AtomicU64::new(0));
        let stream_error: Arc<std::sync::Mutex<Option<Error>>> = Arc::default();
        let (c2, e2) = (counter.clone(), stream_error.clone());
        fin.conn
            .set_local_infile_handler(Some(LocalInfileHandler::new(move |_, writer| {
                let mut out = BufWriter::with_capacity(1 << 20, writer);
                let result = source.query(&select, &mut |row| {
                    write_load_data_row(&mut out, row).map_err(|e| {
                        Error::env(
                            Place::default(),
                            format!("streaming to the server failed: {e}."),
                            "Check the connection to DB_FINAL, then run again with --resume.",
                        )
                    })?;
                    c2.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                });
                if let Err(e) = result {
                    let msg = e.to_string();
                    if let Ok(mut slot) = e2.lock() {
                        *slot = Some(e);
                    }
                    return Err(std::io::Error::other(msg));
                }
                out.flush()
            })));
        let loaded = fin.execute(&format!(
            "{}LOAD DATA LOCAL INFILE 'rekey-stream' INTO TABLE {table} {format} {targets}",
            job.marker
        ));
        if let Some(e) = stream_error.lock().ok().and_then(|mut s| s.take()) {
            return Err(e);
        }
        let loaded = loaded?;
        check_warnings(&mut fin, job.table)?;
        let streamed = counter.load(Ordering::Relaxed);
        (job.progress)(streamed.max(loaded));
        Ok(Moved {
            read: streamed,
            written: loaded,
        })
    }

    fn drop_trigger_sql(&self, name: &str) -> String {
        format!("DROP TRIGGER IF EXISTS {}", DIALECT.q(name))
    }

    fn stop_leftovers(&self, run_id: &str) -> Result<u32> {
        let mut s = self.server_session()?;
        let find = format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE {} AND ID <> CONNECTION_ID()",
            DIALECT.lit(&format!("%rekey:{run_id} */%"))
        );
        let ids: Vec<u64> = (&mut s as &mut dyn Session)
            .query_all(&find)?
            .iter()
            .filter_map(|r| r.first().and_then(Value::as_u64))
            .collect();
        for id in &ids {
            // The statement may have ended meanwhile; that is what we want anyway.
            let _ = s.execute(&format!("KILL CONNECTION {id}"));
        }
        for _ in 0..600 {
            if (&mut s as &mut dyn Session).query_all(&find)?.is_empty() {
                return Ok(ids.len() as u32);
            }
            thread::sleep(std::time::Duration::from_millis(100));
        }
        Err(Error::env(
            Place::default(),
            format!("statements of the interrupted run {run_id} are still running on {} after being killed.", self.url),
            "Wait until SHOW PROCESSLIST no longer shows them (they may be rolling back), then resume again.",
        ))
    }

    fn connect_server(&self) -> Result<Box<dyn Session>> {
        Ok(Box::new(self.server_session()?))
    }

    fn load_path(
        &self,
        session: &mut dyn Session,
        data: &DbUrl,
        choice: LoadChoice,
    ) -> Result<LoadPath> {
        let info = self.server_info(session)?;
        let same = data.same_server(&self.url);
        let account = self
            .account(session)?
            .unwrap_or_else(|| "the migration account".into());
        // Measured (docs/performance.md): INSERT ... SELECT on one server is the fastest, then
        // server-side files, then streaming through rekey.
        let direct = same.then_some(LoadPath::Direct);
        // The export file is written by the server and removed by rekey: both must see it.
        let files = info
            .outfile_dir
            .clone()
            .filter(|_| same && self.url.is_local_host() && info.has_file_privilege)
            .map(LoadPath::ServerFiles);
        let stream = info.local_infile.then_some(LoadPath::ClientStream);
        let unavailable = |why: String| Ok(LoadPath::Unavailable(why));
        match choice {
            LoadChoice::Auto => match direct.or(files).or(stream) {
                Some(p) => Ok(p),
                None => unavailable("DB_DATA is on another server and this one has local_infile OFF: SET GLOBAL local_infile = 1; (or put DB_DATA on the server of DB_FINAL)".to_string()),
            },
            LoadChoice::Direct => direct.map(Ok).unwrap_or_else(|| {
                unavailable("--load-path direct needs DB_DATA and DB_FINAL on one server".into())
            }),
            LoadChoice::Files => files.map(Ok).unwrap_or_else(|| {
                unavailable(format!(
                    "--load-path files needs DB_DATA and DB_FINAL on one server on this machine, secure_file_priv allowing exports, and GRANT FILE ON *.* TO {account};"
                ))
            }),
            LoadChoice::Stream => stream.map(Ok).unwrap_or_else(|| {
                unavailable("--load-path stream needs local_infile: SET GLOBAL local_infile = 1;".into())
            }),
        }
    }

    fn account(&self, session: &mut dyn Session) -> Result<Option<String>> {
        let current = session
            .query_all("SELECT CURRENT_USER()")?
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_string);
        Ok(current.map(|c| match c.rsplit_once('@') {
            Some((user, host)) => format!("{}@{}", DIALECT.lit(user), DIALECT.lit(host)),
            None => DIALECT.lit(&c),
        }))
    }

    fn missing_privileges(&self, session: &mut dyn Session, needs: &[&str]) -> Result<Vec<String>> {
        let Some(grantee) = self.account(session)? else {
            return Ok(needs.iter().map(|n| n.to_string()).collect());
        };
        let sql = PRIVILEGES_SQL
            .replace("{grantee}", &DIALECT.lit(&grantee))
            .replace("{schema}", &self.schema_literal());
        let have: Vec<String> = session
            .query_all(&sql)?
            .iter()
            .filter_map(|r| r.first().and_then(Value::as_string))
            .collect();
        Ok(needs
            .iter()
            .filter(|n| !have.iter().any(|h| h.eq_ignore_ascii_case(n)))
            .map(|n| n.to_string())
            .collect())
    }

    fn footprint(&self, session: &mut dyn Session) -> Result<Footprint> {
        let row = self
            .catalog(session, SIZE_SQL)?
            .into_iter()
            .next()
            .unwrap_or_default();
        let get = |i: usize| row.get(i).and_then(Value::as_u64).unwrap_or(0);
        let local_dir = row
            .get(2)
            .and_then(Value::as_string)
            .filter(|_| self.url.is_local_host())
            .map(std::path::PathBuf::from)
            .filter(|p| p.exists());
        Ok(Footprint {
            bytes: get(0),
            rows: get(1),
            local_dir,
        })
    }

    fn may_define_as(&self, session: &mut dyn Session, definer: &str) -> Result<bool> {
        let current = session
            .query_all("SELECT CURRENT_USER()")?
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_string)
            .unwrap_or_default();
        let unquote = |s: &str| s.replace(['`', '\'', '"'], "");
        if unquote(&current) == unquote(definer) {
            return Ok(true);
        }
        let grants = session.query_all("SHOW GRANTS")?;
        Ok(grants.iter().any(|g| {
            let line = g.first().and_then(Value::as_string).unwrap_or_default();
            line.contains(" ON *.* ")
                && (line.contains("ALL PRIVILEGES")
                    || line.contains("SUPER")
                    || line.contains("SET USER"))
        }))
    }
}

/// One ALTER TABLE with every clause (one statement, so the change is atomic), or nothing.
fn alter(table: &str, clauses: &[String]) -> Vec<String> {
    if clauses.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "ALTER TABLE {} {}",
        DIALECT.q(table),
        clauses.join(", ")
    )]
}

/// What the export selects and where LOAD DATA puts it, per column type: the text format is exact
/// for most types, but FLOAT prints with 6 digits (sent as DOUBLE, exact), BIT and spatial
/// values are raw bytes that OUTFILE does not escape (sent as a number and as hex), and UUID/INET
/// parse only from text, not from the binary character set.
fn transfer_lists(columns: &[Column]) -> (String, String) {
    let mut select = Vec::new();
    let mut targets = Vec::new();
    let mut sets = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        let q = DIALECT.q(&c.name);
        match c.data_type.as_str() {
            "bit" => {
                select.push(format!("CAST({q} AS UNSIGNED)"));
                targets.push(format!("@v{i}"));
                sets.push(format!("{q} = CAST(@v{i} AS UNSIGNED)"));
            }
            // Text-parsed types refuse the binary character set the load uses for every column.
            "uuid" | "inet6" | "inet4" => {
                select.push(q.clone());
                targets.push(format!("@v{i}"));
                sets.push(format!("{q} = CONVERT(@v{i} USING ascii)"));
            }
            t if is_spatial(t) => {
                select.push(format!("HEX({q})"));
                targets.push(format!("@v{i}"));
                sets.push(format!("{q} = UNHEX(@v{i})"));
            }
            _ => {
                select.push(DIALECT.exact_select(c));
                targets.push(q);
            }
        }
    }
    let mut into = format!("({})", targets.join(", "));
    if !sets.is_empty() {
        into.push_str(&format!(" SET {}", sets.join(", ")));
    }
    (select.join(", "), into)
}

fn is_spatial(data_type: &str) -> bool {
    matches!(
        data_type,
        "geometry"
            | "point"
            | "linestring"
            | "polygon"
            | "multipoint"
            | "multilinestring"
            | "multipolygon"
            | "geometrycollection"
    )
}

/// LOAD DATA turns a value it cannot store exactly into a warning; rekey turns it into an error.
fn check_warnings(session: &mut MysqlSession, table: &str) -> Result<()> {
    let s: &mut dyn Session = session;
    let count = s.query_u64("SELECT @@warning_count")?;
    if count == 0 {
        return Ok(());
    }
    let warnings = s.query_all("SHOW WARNINGS LIMIT 3")?;
    let text: Vec<String> = warnings
        .iter()
        .map(|w| {
            w.iter()
                .filter_map(Value::as_string)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    Err(Error::input(
        Place::default().table(table),
        format!(
            "the server raised {count} warning(s) while storing rows, so some values would not be stored exactly: {}.",
            text.join("; ")
        ),
        "Check the column definitions named there (rekey compare lists DB_DATA/DB_FINAL differences), fix them, and run again with --resume.",
    ))
}

/// One row in LOAD DATA's default text format: tab-separated, `\N` for NULL, and the escapes that
/// LOAD DATA undoes (backslash, tab, newline, carriage return, NUL).
pub fn write_load_data_row(out: &mut impl Write, row: &[Value]) -> std::io::Result<()> {
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            out.write_all(b"\t")?;
        }
        match v {
            Value::Null => out.write_all(b"\\N")?,
            Value::Int(n) => write!(out, "{n}")?,
            Value::Real(r) => write!(out, "{r:e}")?,
            Value::Text(b) | Value::Blob(b) => {
                let mut start = 0;
                for (j, byte) in b.iter().enumerate() {
                    let esc: &[u8] = match byte {
                        b'\\' => b"\\\\",
                        b'\t' => b"\\t",
                        b'\n' => b"\\n",
                        b'\r' => b"\\r",
                        0 => b"\\0",
                        _ => continue,
                    };
                    out.write_all(&b[start..j])?;
                    out.write_all(esc)?;
                    start = j + 1;
                }
                out.write_all(&b[start..])?;
            }
        }
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_data_escaping() {
        let mut out = Vec::new();
        write_load_data_row(
            &mut out,
            &[
                Value::Null,
                Value::Text(b"\\N".to_vec()),
                Value::Text(b"a\tb\nc\rd\0e\\".to_vec()),
                Value::Text(Vec::new()),
                Value::Int(-5),
            ],
        )
        .unwrap();
        assert_eq!(out, b"\\N\t\\\\N\ta\\tb\\nc\\rd\\0e\\\\\t\t-5\n".to_vec());
    }

    #[test]
    fn insert_literals_are_exact() {
        assert_eq!(sql_literal(&Value::Text(b"ab12".to_vec())), "'ab12'");
        assert_eq!(sql_literal(&Value::Text(b"a'b".to_vec())), "X'612762'");
        assert_eq!(sql_literal(&Value::Null), "NULL");
        assert_eq!(sql_literal(&Value::Blob(Vec::new())), "''");
    }

    #[test]
    fn innodb_bulk_insert_path_only_for_unordered_arrival() {
        let unordered = DIALECT.bulk_session(Arrival::Unordered).join("; ");
        assert!(unordered.contains("unique_checks = 0"), "{unordered}");
        assert!(unordered.contains("foreign_key_checks = 0"), "{unordered}");
        let appends = DIALECT.bulk_session(Arrival::InKeyOrder).join("; ");
        assert!(appends.contains("unique_checks = 1"), "{appends}");
        assert!(appends.contains("foreign_key_checks = 0"), "{appends}");
        for session in [&unordered, &appends] {
            assert!(session.contains("READ COMMITTED"), "{session}");
            assert!(session.contains("STRICT_ALL_TABLES"), "{session}");
        }
    }

    #[test]
    fn added_columns_share_one_alter() {
        let cols = [
            ("a_ufk_copy".to_string(), "CHAR(32)".to_string()),
            ("b`x".to_string(), "CHAR(32)".to_string()),
        ];
        assert_eq!(
            DIALECT.add_columns_sql("t", &cols),
            vec!["ALTER TABLE `t` ADD COLUMN `a_ufk_copy` CHAR(32) NULL, ADD COLUMN `b``x` CHAR(32) NULL".to_string()]
        );
        assert!(DIALECT.add_columns_sql("t", &[]).is_empty());
    }
}
