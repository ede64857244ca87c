//! A PostgreSQL session: statements (simple protocol, so one string may hold several statements
//! that run as one transaction), rows streamed in the binary protocol and turned into `Value`s, and
//! batch inserts by binary COPY.

use std::io::Write;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{FromSql, Kind, Type};
use postgres::SimpleQueryMessage;

use super::copy::{self, CopyEncoder};
use super::pool::Pooled;
use super::{sql_error, DIALECT};
use crate::backend::{Dialect, Session, Value};
use crate::error::{Error, Place, Result};

pub struct PostgresSession {
    pub(super) client: Pooled,
    /// Whether application_name already names the run (see `execute`).
    tagged: bool,
    /// Where `scan` opens its own connection; `None`: it reads on this one.
    scans: Option<OwnConnection>,
}

/// What a `scan`'s own connection needs: the session's server, database, name and settings.
pub(super) struct OwnConnection {
    pub config: tokio_postgres::Config,
    pub settings: String,
    pub url: crate::url::DbUrl,
    pub database: String,
}

impl PostgresSession {
    pub(super) fn new(client: Pooled) -> Self {
        PostgresSession {
            client,
            tagged: false,
            scans: None,
        }
    }

    pub(super) fn scanning(mut self, target: OwnConnection) -> Self {
        self.scans = Some(target);
        self
    }
}

/// `SET application_name` naming the run of a statement's `/* rekey:<id> */` marker, so that
/// pg_stat_activity shows whose session it is even while it runs a statement without one (a
/// COPY's data phase, a lock wait), and a resumed run finds it.
pub(super) fn tag_for(sql: &str) -> Option<String> {
    let id = sql.strip_prefix("/* rekey:")?.split_once(" */")?.0;
    id.chars()
        .all(|c| c.is_ascii_alphanumeric())
        .then(|| format!("SET application_name = 'rekey:{id}';\n"))
}

/// A column value as the server sent it in the binary protocol, whatever its type.
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }
    fn from_sql_null(
        _: &Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// One binary value as a `Value`: integers and floats as numbers (floats bit for bit), text-like
/// types as their UTF-8 bytes, bytea as bytes, uuid in its lowercase hyphenated form (what
/// `uuidgen::parse_stored` reads), and every other type as its binary form, which is exact and
/// the same in every database for the same value. An array's binary form names its element type
/// by OID, which differs between databases for enums and domains, so that field is zeroed.
pub(super) fn to_value(ty: &Type, raw: Option<&[u8]>) -> Value {
    let Some(b) = raw else { return Value::Null };
    let int = |n: usize| -> Option<i64> {
        (b.len() == n).then(|| match n {
            2 => i16::from_be_bytes([b[0], b[1]]) as i64,
            4 => i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i64,
            _ => i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        })
    };
    let value =
        match *ty {
            Type::INT2 => int(2).map(Value::Int),
            Type::INT4 => int(4).map(Value::Int),
            Type::INT8 => int(8).map(Value::Int),
            Type::OID => (b.len() == 4)
                .then(|| Value::Int(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i64)),
            Type::FLOAT4 => (b.len() == 4)
                .then(|| Value::Real(f32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64)),
            Type::FLOAT8 => int(8).map(|i| Value::Real(f64::from_bits(i as u64))),
            Type::BOOL => Some(Value::Text(if b.first() == Some(&1) {
                b"t".to_vec()
            } else {
                b"f".to_vec()
            })),
            Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::UNKNOWN
            | Type::CHAR
            | Type::JSON
            | Type::XML => Some(Value::Text(b.to_vec())),
            // jsonb's binary form is a version byte (1) and the text.
            Type::JSONB if b.first() == Some(&1) => Some(Value::Text(b[1..].to_vec())),
            Type::BYTEA => Some(Value::Blob(b.to_vec())),
            // Encoded into a buffer of its exact size: a verify reads millions of them, and
            // `to_string`'s formatter and growing String cost more than the rest of the value.
            Type::UUID => uuid::Uuid::from_slice(b).ok().map(|u| {
                Value::Text(
                    u.hyphenated()
                        .encode_lower(&mut uuid::Uuid::encode_buffer())
                        .as_bytes()
                        .to_vec(),
                )
            }),
            _ => None,
        };
    if let Some(v) = value {
        return v;
    }
    match ty.kind() {
        Kind::Enum(_) => Value::Text(b.to_vec()),
        Kind::Domain(inner) => to_value(inner, raw),
        Kind::Array(_) if b.len() >= 12 => {
            let mut canonical = b.to_vec();
            canonical[8..12].fill(0);
            Value::Blob(canonical)
        }
        _ => Value::Blob(b.to_vec()),
    }
}

/// The values of one row, in the form `to_value` gives them.
fn row_values(row: &tokio_postgres::Row, values: &mut Vec<Value>, sql: &str) -> Result<()> {
    values.clear();
    for (i, column) in row.columns().iter().enumerate() {
        let raw: Raw = row.try_get(i).map_err(|e| sql_error(&e, sql))?;
        values.push(to_value(column.type_(), raw.0));
    }
    Ok(())
}

/// A connection of its own for `target`, with its session settings, on a runtime of its own that
/// drives it while one of its calls is awaited (`Runtime::block_on`).
fn connect_own(
    target: &OwnConnection,
) -> Result<(tokio::runtime::Runtime, tokio_postgres::Client)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Error::env(
                Place::default(),
                format!("a reader of {} cannot start: {e}.", target.url),
                "Check the machine's resources (threads, file descriptors), then run again.",
            )
        })?;
    let (client, connection) = super::with_retries(&target.url, &target.database, || {
        runtime.block_on(target.config.connect(tokio_postgres::NoTls))
    })?;
    // Ends when the client is dropped; an error of its own comes with the client's calls.
    runtime.spawn(connection);
    runtime
        .block_on(client.batch_execute(&target.settings))
        .map_err(|e| sql_error(&e, &target.settings))?;
    Ok((runtime, client))
}

/// `Session::scan` on a connection of its own: the whole read is one async loop. The sync client
/// enters its runtime once per row, and that entry (context, scheduler, wakers) was 29% of rekey's
/// CPU on the PostgreSQL lean benchmark, in verify and the map files.
fn scan_on(
    target: &OwnConnection,
    sql: &str,
    each: &mut dyn FnMut(&[Value]) -> Result<()>,
) -> Result<()> {
    use futures_util::TryStreamExt;
    let (runtime, client) = connect_own(target)?;
    runtime.block_on(async {
        let rows = client
            .query_raw(sql, std::iter::empty::<i32>())
            .await
            .map_err(|e| sql_error(&e, sql))?;
        futures_util::pin_mut!(rows);
        let mut values = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(|e| sql_error(&e, sql))? {
            row_values(&row, &mut values, sql)?;
            each(&values)?;
        }
        Ok(())
    })
}

/// A COPY ... TO STDOUT read on a connection of its own, gathered into large chunks by one async
/// loop per chunk: the sync client's reader enters its runtime once per row.
pub(super) struct CopyReader {
    runtime: tokio::runtime::Runtime,
    /// Kept for the stream's connection (dropped with it).
    _client: tokio_postgres::Client,
    stream: std::pin::Pin<Box<tokio_postgres::CopyOutStream>>,
    chunk: Vec<u8>,
    at: usize,
    ended: bool,
}

/// Bytes gathered per chunk of a `CopyReader`.
const COPY_CHUNK: usize = 256 * 1024;

impl CopyReader {
    pub(super) fn open(target: &OwnConnection, sql: &str) -> Result<Self> {
        let (runtime, client) = connect_own(target)?;
        let stream = runtime
            .block_on(client.copy_out(sql))
            .map_err(|e| sql_error(&e, sql))?;
        Ok(CopyReader {
            runtime,
            _client: client,
            stream: Box::pin(stream),
            chunk: Vec::with_capacity(COPY_CHUNK * 2),
            at: 0,
            ended: false,
        })
    }
}

impl std::io::Read for CopyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use futures_util::StreamExt;
        if self.at == self.chunk.len() && !self.ended {
            self.chunk.clear();
            self.at = 0;
            let (stream, chunk) = (&mut self.stream, &mut self.chunk);
            self.ended = self.runtime.block_on(async {
                while chunk.len() < COPY_CHUNK {
                    match stream.next().await {
                        Some(Ok(bytes)) => chunk.extend_from_slice(&bytes),
                        Some(Err(e)) => return Err(std::io::Error::other(e)),
                        None => return Ok(true),
                    }
                }
                Ok(false)
            })?;
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Session for PostgresSession {
    fn execute(&mut self, sql: &str) -> Result<u64> {
        let tag = if self.tagged { None } else { tag_for(sql) };
        let messages = match &tag {
            // One round trip: the SET counts no rows.
            Some(t) => self.client.simple_query(&format!("{t}{sql}")),
            None => self.client.simple_query(sql),
        }
        .map_err(|e| sql_error(&e, sql))?;
        self.tagged |= tag.is_some();
        Ok(messages
            .iter()
            .map(|m| match m {
                SimpleQueryMessage::CommandComplete(n) => *n,
                _ => 0,
            })
            .sum())
    }

    fn query(&mut self, sql: &str, each: &mut dyn FnMut(&[Value]) -> Result<()>) -> Result<()> {
        let mut rows = self
            .client
            .query_raw(sql, std::iter::empty::<i32>())
            .map_err(|e| sql_error(&e, sql))?;
        let mut values = Vec::new();
        while let Some(row) = rows.next().map_err(|e| sql_error(&e, sql))? {
            row_values(&row, &mut values, sql)?;
            each(&values)?;
        }
        Ok(())
    }

    fn scan(&mut self, sql: &str, each: &mut dyn FnMut(&[Value]) -> Result<()>) -> Result<()> {
        match &self.scans {
            Some(target) => scan_on(target, sql, each),
            None => self.query(sql, each),
        }
    }

    fn insert_rows(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &mut dyn Iterator<Item = Result<Vec<Value>>>,
    ) -> Result<u64> {
        let list = DIALECT.column_list(columns);
        // The target's column types decide each value's binary form.
        let probe = format!("SELECT {list} FROM {table} LIMIT 0");
        let types: Vec<Type> = self
            .client
            .prepare(&probe)
            .map_err(|e| sql_error(&e, &probe))?
            .columns()
            .iter()
            .map(|c| c.type_().clone())
            .collect();
        let sql = format!("COPY {table} ({list}) FROM STDIN (FORMAT binary)");
        let mut writer = self.client.copy_in(&sql).map_err(|e| sql_error(&e, &sql))?;
        let mut encoder = CopyEncoder::new(&types);
        let mut sent = 0u64;
        let lost = |e: std::io::Error| {
            Error::env(
                Place::default(),
                format!("streaming rows into {table} failed: {e}."),
                "Check the connection to the server, then run again with --resume.",
            )
        };
        writer.write_all(copy::HEADER).map_err(lost)?;
        for row in rows {
            let row = row?;
            let bytes = encoder.tuple(&row).map_err(|why| {
                Error::env(
                    Place::default(),
                    format!("a row for {table} cannot be sent: {why}."),
                    "Report this as a bug.",
                )
            })?;
            writer.write_all(bytes).map_err(lost)?;
            sent += 1;
        }
        writer.write_all(copy::TRAILER).map_err(lost)?;
        let stored = writer.finish().map_err(|e| sql_error(&e, &sql))?;
        if stored != sent {
            return Err(Error::mismatch(
                Place::default(),
                format!("{sent} rows were sent to {table} but the server stored {stored}."),
            ));
        }
        Ok(stored)
    }
}
