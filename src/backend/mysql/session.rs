//! A MariaDB/MySQL session: statements (retried after a deadlock or a Galera certification
//! failure, DDL timed on a cluster), streamed rows, batch inserts (LOAD DATA LOCAL from memory,
//! falling back to multi-row INSERT, in statements that fit the cluster's write-set limits), and
//! LOAD DATA's text format.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::LocalInfileHandler;

use super::chunks::{self, WriteError, WriteLimits};
use super::pool::Pooled;
use super::{sql_error, ClusterClock, MysqlDialect, DIALECT};
use crate::backend::{Dialect, Session, Value};
use crate::error::{Error, Place, Result};

/// Attempts of a statement that a deadlock or a certification failure rolled back (ERROR 1213;
/// on Galera also at commit, when another node's write-set wins). rekey runs every statement in
/// autocommit, so the whole transaction is the statement and running it again is safe.
const ATTEMPTS: u32 = 6;

/// The text format of every export and LOAD DATA: raw bytes, tab-separated, backslash escapes.
pub(super) const LOAD_FORMAT: &str =
    "CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'";

/// Error codes of a LOAD DATA LOCAL that the server (or the client library) does not allow.
pub(super) const LOCAL_REFUSED: &[u16] = &[1148, 2068, 3948, 3950, 4166];

/// Rows per multi-row INSERT in `insert_rows`: large enough to amortise round trips, small enough
/// to stay far below max_allowed_packet with CHAR(36) keys.
const INSERT_BATCH: usize = 2000;

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
    pub(super) conn: Pooled,
    /// Whether LOAD DATA LOCAL works on this server (unknown until first tried).
    local_infile: Option<bool>,
    flavour: MysqlDialect,
    /// Where DDL time and write-sets are counted (Galera).
    clock: Option<Arc<ClusterClock>>,
    /// The write-set limits, read on the first chunked write (Galera).
    limits: Option<WriteLimits>,
}

impl MysqlSession {
    pub(super) fn new(conn: Pooled) -> Self {
        MysqlSession {
            conn,
            local_infile: None,
            flavour: MysqlDialect::MARIADB,
            clock: None,
            limits: None,
        }
    }

    /// The session of a server of `flavour`; on Galera its DDL and write-sets count on `clock`.
    pub(super) fn on(mut self, flavour: MysqlDialect, clock: Arc<ClusterClock>) -> Self {
        self.flavour = flavour;
        self.clock = flavour.galera().then_some(clock);
        self
    }

    /// Counts one committed chunk of `rows` rows (Galera).
    pub(super) fn count_write_set(&self, rows: u64) {
        if let Some(c) = &self.clock {
            c.add_write_set(rows);
        }
    }

    /// The cluster's write-set limits (read once per session), or none off a cluster.
    pub(super) fn write_limits(&mut self) -> Result<Option<WriteLimits>> {
        if !self.flavour.chunks_writes() {
            return Ok(None);
        }
        if self.limits.is_none() {
            self.limits = Some(chunks::read_limits(self)?);
        }
        Ok(self.limits)
    }

    /// Runs a statement whose values travel as bound parameters (a secret that the statement's
    /// text, shown in the processlist and logs, must not carry).
    pub(super) fn execute_with(&mut self, sql: &str, params: Vec<mysql::Value>) -> Result<()> {
        self.conn
            .exec_drop(sql, params)
            .map_err(|e| sql_error(e, sql))
    }

    /// Runs a statement, again after a deadlock or certification failure (bounded, with a
    /// growing pause), returning the driver's error otherwise.
    pub(super) fn run(&mut self, sql: &str) -> std::result::Result<u64, mysql::Error> {
        let ddl = self.clock.as_ref().filter(|_| is_ddl(sql)).cloned();
        let mut attempt = 1;
        loop {
            let started = Instant::now();
            // Every result set is read: an error in a later statement of a multi-statement text
            // is only seen there (dropping the result would step past it without a word).
            let result = self.conn.query_iter(sql).and_then(|mut r| {
                let mut n = 0;
                while let Some(set) = r.iter() {
                    n += set.affected_rows();
                    for row in set {
                        row?;
                    }
                }
                Ok(n)
            });
            if let Some(clock) = &ddl {
                clock.add_ddl(started.elapsed());
            }
            match result {
                Err(mysql::Error::MySqlError(me)) if me.code == 1213 && attempt < ATTEMPTS => {
                    std::thread::sleep(Duration::from_millis(50 << attempt));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Loads rows through LOAD DATA LOCAL INFILE from memory; `Ok(None)` when the server refuses
    /// LOCAL (then the caller inserts them with plain INSERTs).
    fn load_local(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &[Vec<Value>],
    ) -> std::result::Result<Option<u64>, WriteError> {
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
        let result = self.run(&sql);
        self.conn.set_local_infile_handler(None);
        match result {
            Ok(n) => {
                check_warnings(self, table)?;
                Ok(Some(n))
            }
            // LOCAL refused by the server's local_infile (OFF by default on MySQL 8: 3948/3950),
            // by an old server (1148) or by MariaDB's capability flag (4166).
            Err(mysql::Error::MySqlError(me)) if LOCAL_REFUSED.contains(&me.code) => Ok(None),
            Err(e) => Err(WriteError::Server(e, sql)),
        }
    }
}

impl Session for MysqlSession {
    fn execute(&mut self, sql: &str) -> Result<u64> {
        self.run(sql).map_err(|e| sql_error(e, sql))
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
        // Callers pass one bounded batch at a time (shadow: one batch of mapping rows). On a
        // cluster each statement (one transaction) must fit the write-set limits: pieces of at
        // most that many rows and half that many bytes, halved again if the server still says
        // no (a failed write-set stores nothing).
        let rows: Vec<Vec<Value>> = rows.collect::<Result<_>>()?;
        if let Some(limits) = self.write_limits()? {
            let bytes: usize = rows.iter().map(|r| row_bytes(r)).sum();
            let mut per = limits.rows_per_chunk((bytes / rows.len().max(1)) as u64) as usize;
            let mut total = 0u64;
            let mut rest: &[Vec<Value>] = &rows;
            while !rest.is_empty() {
                let (piece, after) = rest.split_at(per.min(rest.len()));
                match self.insert_piece(table, columns, piece) {
                    Ok(n) => {
                        self.count_write_set(n);
                        total += n;
                        rest = after;
                    }
                    Err(e) if chunks::is_over_limit(&e) && per > 1 => per /= 2,
                    Err(e) => return Err(chunks::limit_error(e, table, &limits)),
                }
            }
            return Ok(total);
        }
        self.insert_piece(table, columns, &rows)
            .map_err(WriteError::into_error)
    }
}

impl MysqlSession {
    /// Inserts rows by LOAD DATA LOCAL (or multi-row INSERTs where LOCAL is refused), keeping
    /// the driver's error so a caller can tell a write-set limit from other failures.
    fn insert_piece(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &[Vec<Value>],
    ) -> std::result::Result<u64, WriteError> {
        if self.local_infile != Some(false) {
            match self.load_local(table, columns, rows)? {
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
            let sql = format!("{head}{}", values.join(","));
            total += self.run(&sql).map_err(|e| WriteError::Server(e, sql))?;
        }
        Ok(total)
    }
}

/// The bytes a row takes in LOAD DATA's text (a write-set holds about as much).
fn row_bytes(row: &[Value]) -> usize {
    row.iter()
        .map(|v| match v {
            Value::Text(b) | Value::Blob(b) => b.len() + 1,
            _ => 9,
        })
        .sum()
}

/// A statement that changes the schema: on Galera it runs in total order (TOI) on every node.
pub(super) fn is_ddl(sql: &str) -> bool {
    let mut rest = sql.trim_start();
    // Skip rekey's marker and any other leading comment.
    while let Some(after) = rest.strip_prefix("/*") {
        rest = after
            .split_once("*/")
            .map(|(_, r)| r)
            .unwrap_or("")
            .trim_start();
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    matches!(
        word.as_str(),
        "CREATE" | "ALTER" | "DROP" | "TRUNCATE" | "RENAME"
    )
}

/// LOAD DATA turns a value it cannot store exactly into a warning; rekey turns it into an error.
pub(super) fn check_warnings(session: &mut MysqlSession, table: &str) -> Result<()> {
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
}
