//! Writes on a Galera cluster in chunks that each fit one write-set. A transaction over
//! `wsrep_max_ws_rows` rows or `wsrep_max_ws_size` bytes fails whole (ERROR 1180 / 1105) and
//! stores nothing, and streaming replication lifts only the size limit; so swap's fill, the load
//! and the mapping tables write consecutive ranges of the key they read in, one statement (one
//! transaction) per range. Each committed range is reported to the stage, which journals it; a
//! resumed run continues after the last range the target holds.
//!
//! The target's row count is the truth on resume: ranges are written in key order and each is
//! atomic, so the target holds exactly the first N rows of the source in key order. The
//! journal's point (rows and last key) only saves reading the key from the start: a range that
//! committed just before a kill, and was not journaled, is found by counting.

use serde::{Deserialize, Serialize};

use super::{sql_error, DIALECT};
use crate::backend::{Dialect, Session, Value};
use crate::error::{Error, Place, Result};

/// Rows per chunk where the cluster sets no row limit: small transactions replicate smoothly
/// (a large write-set is certified and applied at once on every node, and holds flow control).
pub(super) const DEFAULT_CHUNK_ROWS: u64 = 50_000;
/// Bytes per chunk where the size limit is larger (the default limit is 2 GiB).
const DEFAULT_CHUNK_BYTES: u64 = 64 << 20;

/// A cluster's limits on one transaction, as the server reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteLimits {
    /// wsrep_max_ws_rows; 0 means no limit.
    pub max_rows: u64,
    /// wsrep_max_ws_size.
    pub max_bytes: u64,
}

impl WriteLimits {
    /// Rows per chunk: at most the row limit, and rows of `avg_row_bytes` filling at most half
    /// the size limit (a write-set carries keys and row images besides the values).
    pub fn rows_per_chunk(&self, avg_row_bytes: u64) -> u64 {
        let by_rows = if self.max_rows == 0 {
            DEFAULT_CHUNK_ROWS
        } else {
            self.max_rows
        };
        let budget = self.max_bytes.min(2 * DEFAULT_CHUNK_BYTES) / 2;
        (budget / avg_row_bytes.max(1)).clamp(1, by_rows)
    }

    pub fn describe(&self) -> String {
        let rows = if self.max_rows == 0 {
            "no row limit".to_string()
        } else {
            format!("wsrep_max_ws_rows={}", self.max_rows)
        };
        format!("{rows}, wsrep_max_ws_size={}", self.max_bytes)
    }
}

pub(super) fn read_limits(s: &mut dyn Session) -> Result<WriteLimits> {
    let row = s
        .query_all("SELECT @@GLOBAL.wsrep_max_ws_rows, @@GLOBAL.wsrep_max_ws_size")?
        .into_iter()
        .next()
        .unwrap_or_default();
    let get = |i: usize| row.get(i).and_then(Value::as_u64);
    Ok(WriteLimits {
        max_rows: get(0).unwrap_or(0),
        max_bytes: get(1).unwrap_or(2147483647),
    })
}

/// Why a chunk failed: the server's answer (a write-set limit is retried in smaller chunks) or
/// rekey's own error.
#[derive(Debug)]
pub(super) enum WriteError {
    Server(mysql::Error, String),
    Rekey(Error),
}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        WriteError::Rekey(e)
    }
}

impl WriteError {
    /// The statement's error, as every other failed statement reads.
    pub fn into_error(self) -> Error {
        match self {
            WriteError::Server(e, sql) => sql_error(e, &sql),
            WriteError::Rekey(e) => e,
        }
    }
}

/// The transaction was over a write-set limit: it was rolled back whole, so a smaller chunk can
/// be written instead.
pub(super) fn is_over_limit(e: &WriteError) -> bool {
    match e {
        WriteError::Server(mysql::Error::MySqlError(me), _) => {
            me.code == 1180 && me.message.contains("wsrep_max_ws_rows")
                || me.code == 1105 && me.message.to_ascii_lowercase().contains("writeset size")
        }
        _ => false,
    }
}

/// The error when not even one row fits a write-set.
pub(super) fn limit_error(e: WriteError, table: &str, limits: &WriteLimits) -> Error {
    if !is_over_limit(&e) {
        return e.into_error();
    }
    Error::env(
        Place::default().table(table),
        format!(
            "a single row is larger than one write-set may be on this cluster ({}).",
            limits.describe()
        ),
        "Raise wsrep_max_ws_size on every node for the cutover (SET GLOBAL wsrep_max_ws_size = 1073741824;), then run again with --resume.",
    )
}

/// How a key column's values are written back into SQL to compare with the column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum KeyKind {
    /// Integer types: the digits as they came.
    Integer,
    /// Character types: the bytes in the column's character set, compared in its collation (a
    /// binary literal would compare bytes, not the order ORDER BY gives).
    Text { charset: String, collation: String },
    /// BINARY, VARBINARY, BLOB: the bytes.
    Bytes,
    /// Dates, times, decimals, UUID and INET types: the text, which the server converts to the
    /// column's type before comparing.
    Quoted,
}

impl KeyKind {
    /// The kind of a column of `data_type` (INFORMATION_SCHEMA's), or None for types whose
    /// order a literal cannot reproduce (ENUM sorts by position, FLOAT compares approximately).
    pub fn of(data_type: &str, charset: Option<&str>, collation: Option<&str>) -> Option<KeyKind> {
        let t = data_type.to_ascii_lowercase();
        Some(match t.as_str() {
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => KeyKind::Integer,
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => {
                match (charset, collation) {
                    (Some(cs), Some(co)) if is_word(cs) && is_word(co) => KeyKind::Text {
                        charset: cs.to_string(),
                        collation: co.to_string(),
                    },
                    _ => return None,
                }
            }
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
                KeyKind::Bytes
            }
            "date" | "datetime" | "timestamp" | "time" | "year" | "decimal" | "uuid" | "inet4"
            | "inet6" => KeyKind::Quoted,
            _ => return None,
        })
    }

    /// `value` (as the server sent it, in its bytes) as a literal of this kind.
    fn literal(&self, value: &[u8]) -> Option<String> {
        match self {
            KeyKind::Integer => {
                let text = std::str::from_utf8(value).ok()?;
                let digits = text.strip_prefix('-').unwrap_or(text);
                (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| text.to_string())
            }
            KeyKind::Text { charset, collation } => {
                Some(format!("_{charset} X'{}' COLLATE {collation}", hex(value)))
            }
            KeyKind::Bytes => Some(format!("X'{}'", hex(value))),
            KeyKind::Quoted => Some(DIALECT.lit(std::str::from_utf8(value).ok()?)),
        }
    }
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The key a table is read in, range by range: its primary key's columns in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Keyset {
    pub columns: Vec<(String, KeyKind)>,
}

const KEY_SQL: &str = "SELECT k.COLUMN_NAME, c.DATA_TYPE, c.CHARACTER_SET_NAME, c.COLLATION_NAME \
FROM information_schema.STATISTICS k JOIN information_schema.COLUMNS c \
ON c.TABLE_SCHEMA = k.TABLE_SCHEMA AND c.TABLE_NAME = k.TABLE_NAME AND c.COLUMN_NAME = k.COLUMN_NAME \
WHERE k.TABLE_SCHEMA = {schema} AND k.TABLE_NAME = {table} AND k.INDEX_NAME = 'PRIMARY' \
ORDER BY k.SEQ_IN_INDEX";

impl Keyset {
    /// The primary key of `db`.`table`, if it has one that ranges can be read by.
    pub fn of(s: &mut dyn Session, db: &str, table: &str) -> Result<Option<Keyset>> {
        let sql = KEY_SQL
            .replace("{schema}", &DIALECT.lit(db))
            .replace("{table}", &DIALECT.lit(table));
        let rows = s.query_all(&sql)?;
        Ok(Keyset::from_rows(&rows))
    }

    /// From the rows of KEY_SQL (column, data type, character set, collation).
    pub fn from_rows(rows: &[Vec<Value>]) -> Option<Keyset> {
        let text = |r: &Vec<Value>, i: usize| r.get(i).and_then(Value::as_string);
        let columns = rows
            .iter()
            .map(|r| {
                let name = text(r, 0)?;
                let kind = KeyKind::of(&text(r, 1)?, text(r, 2).as_deref(), text(r, 3).as_deref())?;
                Some((name, kind))
            })
            .collect::<Option<Vec<_>>>()?;
        (!columns.is_empty()).then_some(Keyset { columns })
    }

    /// `ORDER BY` list, columns prefixed with `alias.` when given.
    pub fn order(&self, alias: &str) -> String {
        self.columns
            .iter()
            .map(|(c, _)| format!("{alias}{}", DIALECT.q(c)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The condition of the rows after `after` (exclusive) up to `upto` (inclusive), either end
    /// open when None.
    pub fn range(
        &self,
        alias: &str,
        after: Option<&[Vec<u8>]>,
        upto: Option<&[Vec<u8>]>,
    ) -> Result<String> {
        let mut parts = Vec::new();
        if let Some(a) = after {
            parts.push(self.compare(alias, a, ">", 0)?);
        }
        if let Some(u) = upto {
            parts.push(self.compare(alias, u, "<=", 0)?);
        }
        Ok(if parts.is_empty() {
            "1 = 1".into()
        } else {
            parts.join(" AND ")
        })
    }

    /// Lexicographic comparison of the key with `values` from column `i` on: `k_i op v_i` for
    /// the last column, else `(k_i strict v_i OR (k_i = v_i AND rest))`, which the range
    /// optimizer reads as ranges of the primary key.
    fn compare(&self, alias: &str, values: &[Vec<u8>], op: &str, i: usize) -> Result<String> {
        let (name, kind) = &self.columns[i];
        let col = format!("{alias}{}", DIALECT.q(name));
        let lit = values
            .get(i)
            .and_then(|v| kind.literal(v))
            .ok_or_else(|| bad_point(name))?;
        if i + 1 == self.columns.len() {
            return Ok(format!("{col} {op} {lit}"));
        }
        let strict = if op.starts_with('>') { ">" } else { "<" };
        Ok(format!(
            "({col} {strict} {lit} OR ({col} = {lit} AND {}))",
            self.compare(alias, values, op, i + 1)?
        ))
    }

    /// The key of the `n`-th row (1-based) of `from` after `after`, in key order; None when
    /// fewer rows are left.
    pub fn nth_after(
        &self,
        s: &mut dyn Session,
        from: &str,
        after: Option<&[Vec<u8>]>,
        n: u64,
    ) -> Result<Option<Vec<Vec<u8>>>> {
        let sql = format!(
            "SELECT {} FROM {from} WHERE {} ORDER BY {} LIMIT 1 OFFSET {}",
            self.order(""),
            self.range("", after, None)?,
            self.order(""),
            n.saturating_sub(1)
        );
        let row = s.query_all(&sql)?.into_iter().next();
        Ok(row.map(|r| {
            r.into_iter()
                .map(|v| match v {
                    Value::Text(b) | Value::Blob(b) => b,
                    other => other.as_string().unwrap_or_default().into_bytes(),
                })
                .collect()
        }))
    }
}

fn bad_point(column: &str) -> Error {
    Error::env(
        Place::default().column(column),
        "the journal's resume point of a chunked write cannot be read back as a key value.",
        "Undo the run with `rekey clean` on this command's --run-dir and start the run again (the journal must not be edited).",
    )
}

/// Where a chunked write got to: the rows the target holds and the last key written (None
/// before the first chunk). The stage journals it as text (`Point::to_text`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Point {
    pub rows: u64,
    /// Each key column's value, hex-encoded bytes.
    pub key: Option<Vec<String>>,
}

impl Point {
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
    pub fn parse(text: &str) -> Option<Point> {
        serde_json::from_str(text).ok()
    }
    fn key_bytes(&self) -> Option<Vec<Vec<u8>>> {
        self.key
            .as_ref()
            .and_then(|k| k.iter().map(|h| unhex(h)).collect())
    }
    fn at(rows: u64, key: Option<&[Vec<u8>]>) -> Point {
        Point {
            rows,
            key: key.map(|k| k.iter().map(|v| hex(v)).collect()),
        }
    }
}

/// Where to continue a chunked write whose target holds `target_rows` rows, given the
/// journal's point: the point of the last row the target holds, or None when the target does
/// not hold a prefix of the source in key order (then it must be emptied and written again).
pub(super) fn resume_from(
    s: &mut dyn Session,
    key: &Keyset,
    from: &str,
    target_rows: u64,
    journal: Option<&str>,
) -> Result<Option<Point>> {
    if target_rows == 0 {
        return Ok(Some(Point::default()));
    }
    let known = journal.and_then(Point::parse).unwrap_or_default();
    let known_key = match &known.key {
        Some(_) => Some(
            known
                .key_bytes()
                .ok_or_else(|| bad_point(&key.columns[0].0))?,
        ),
        None => None,
    };
    if target_rows < known.rows || (known_key.is_none() && known.rows > 0) {
        return Ok(None);
    }
    if target_rows == known.rows {
        return Ok(Some(known));
    }
    // Rows committed after the journal's point (the kill came between a commit and its entry).
    let beyond = target_rows - known.rows;
    Ok(key
        .nth_after(s, from, known_key.as_deref(), beyond)?
        .map(|k| Point::at(target_rows, Some(&k))))
}

/// Writes the rows of `from` after `start`, one key range of at most `per` rows per call of
/// `write` (one statement, one transaction), halving the range when the cluster still refuses
/// one as too large. Reports every committed range but the last to `on_chunk`. Returns the rows
/// the target holds at the end (those before `start` included) and the chunks written.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_ranges(
    pager: &mut dyn Session,
    key: &Keyset,
    alias: &str,
    from: &str,
    start: Point,
    mut per: u64,
    limits: &WriteLimits,
    table: &str,
    write: &mut dyn FnMut(&str) -> std::result::Result<u64, WriteError>,
    on_chunk: &dyn Fn(&str) -> Result<()>,
) -> Result<(u64, u64)> {
    let mut rows = start.rows;
    let mut after = match start.key {
        Some(_) => Some(start.key_bytes().ok_or_else(|| bad_point(table))?),
        None => None,
    };
    let mut chunks = 0u64;
    loop {
        let upto = key.nth_after(pager, from, after.as_deref(), per)?;
        let range = key.range(alias, after.as_deref(), upto.as_deref())?;
        match write(&range) {
            Ok(n) => {
                rows += n;
                chunks += 1;
                match upto {
                    None => return Ok((rows, chunks)),
                    Some(k) => {
                        on_chunk(&Point::at(rows, Some(&k)).to_text())?;
                        after = Some(k);
                    }
                }
            }
            Err(e) if is_over_limit(&e) && per > 1 => per /= 2,
            Err(e) => return Err(limit_error(e, table, limits).at(&Place::default().table(table))),
        }
    }
}

/// A table without a key to read it in ranges is written in one statement when its `rows` fit
/// one chunk of `per`; else the cluster cannot take it, and the error says what to change.
pub(super) fn whole_or_refuse(
    rows: u64,
    per: u64,
    table: &str,
    limits: &WriteLimits,
) -> Result<()> {
    if rows <= per {
        return Ok(());
    }
    Err(Error::input(
        Place::default().table(table),
        format!(
            "the table has {rows} rows and no primary key to write them in chunks by, and one write-set on this cluster takes at most {per} of them ({}).",
            limits.describe()
        ),
        format!(
            "Give the table a primary key in the snapshot (ALTER TABLE {} ADD COLUMN rekey_row BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY), or raise the limits for the cutover (SET GLOBAL wsrep_max_ws_rows = 0; SET GLOBAL wsrep_max_ws_size = 2147483647; on every node), then run again.",
            DIALECT.q(table)
        ),
    ))
}

/// Empties `table` (quoted, in the session's database) on a cluster, in deletes that each fit
/// a write-set (DB_FINAL keeps its foreign keys, so TRUNCATE is not allowed there).
pub(super) fn delete_in_chunks(s: &mut dyn Session, table: &str) -> Result<()> {
    let per = read_limits(s)?.rows_per_chunk(1024);
    while s.execute(&format!("DELETE FROM {table} LIMIT {per}"))? > 0 {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::Text(s.as_bytes().to_vec())
    }

    #[test]
    fn chunks_fit_both_limits() {
        let l = WriteLimits {
            max_rows: 10_000,
            max_bytes: 32 << 20,
        };
        assert_eq!(l.rows_per_chunk(100), 10_000);
        assert_eq!(l.rows_per_chunk(10_000), (16 << 20) / 10_000);
        assert_eq!(l.rows_per_chunk(u64::MAX), 1);
        let defaults = WriteLimits {
            max_rows: 0,
            max_bytes: 2147483647,
        };
        assert_eq!(defaults.rows_per_chunk(100), DEFAULT_CHUNK_ROWS);
        assert_eq!(defaults.rows_per_chunk(4096), (64 << 20) / 4096);
    }

    #[test]
    fn ranges_compare_in_key_order_with_each_columns_literal() {
        let rows = vec![
            vec![text("node_id"), text("int"), Value::Null, Value::Null],
            vec![
                text("code"),
                text("varchar"),
                text("utf8mb4"),
                text("utf8mb4_general_ci"),
            ],
        ];
        let key = Keyset::from_rows(&rows).unwrap();
        let after = [b"7".to_vec(), b"ab".to_vec()];
        let upto = [b"9".to_vec(), b"z".to_vec()];
        assert_eq!(
            key.range("s.", Some(&after), Some(&upto)).unwrap(),
            "(s.`node_id` > 7 OR (s.`node_id` = 7 AND s.`code` > _utf8mb4 X'6162' COLLATE utf8mb4_general_ci)) AND (s.`node_id` < 9 OR (s.`node_id` = 9 AND s.`code` <= _utf8mb4 X'7A' COLLATE utf8mb4_general_ci))"
        );
        assert_eq!(key.range("", None, None).unwrap(), "1 = 1");
        // A value that is not a number cannot become an integer literal.
        assert!(key
            .range("", Some(&[b"1; DROP".to_vec(), b"x".to_vec()]), None)
            .is_err());
        let single =
            Keyset::from_rows(&[vec![text("id"), text("bigint"), Value::Null, Value::Null]])
                .unwrap();
        assert_eq!(
            single.range("", Some(&[b"-5".to_vec()]), None).unwrap(),
            "`id` > -5"
        );
    }

    #[test]
    fn keys_whose_order_no_literal_reproduces_are_not_paged() {
        for t in ["enum", "set", "float", "double", "bit", "json"] {
            assert_eq!(KeyKind::of(t, None, None), None, "{t}");
        }
        assert_eq!(KeyKind::of("binary", None, None), Some(KeyKind::Bytes));
        assert_eq!(KeyKind::of("uuid", None, None), Some(KeyKind::Quoted));
        assert_eq!(KeyKind::of("char", Some("utf8mb4"), None), None);
        assert!(Keyset::from_rows(&[]).is_none());
    }

    #[test]
    fn points_round_trip_through_the_journal_text() {
        let p = Point::at(20_000, Some(&[b"\x00\xff".to_vec(), b"x".to_vec()]));
        let back = Point::parse(&p.to_text()).unwrap();
        assert_eq!(back, p);
        assert_eq!(
            back.key_bytes().unwrap(),
            vec![b"\x00\xff".to_vec(), b"x".to_vec()]
        );
        assert_eq!(Point::parse("not json"), None);
    }

    #[test]
    fn over_limit_errors_are_told_from_others() {
        let over = |code, message: &str| {
            WriteError::Server(
                mysql::Error::MySqlError(mysql::error::MySqlError {
                    state: "HY000".into(),
                    code,
                    message: message.into(),
                }),
                String::new(),
            )
        };
        assert!(is_over_limit(&over(1180, "wsrep_max_ws_rows exceeded")));
        assert!(is_over_limit(&over(1105, "Maximum writeset size exceeded")));
        assert!(!is_over_limit(&over(1105, "Unknown error")));
        assert!(!is_over_limit(&over(1062, "Duplicate entry")));
        let limits = WriteLimits {
            max_rows: 1000,
            max_bytes: 1 << 20,
        };
        let e = limit_error(
            over(1105, "Maximum writeset size exceeded"),
            "blob_table",
            &limits,
        );
        assert!(e.to_string().contains("wsrep_max_ws_size"), "{e}");
    }

    #[test]
    fn a_keyless_table_over_one_chunk_is_refused_with_the_fix() {
        let limits = WriteLimits {
            max_rows: 1000,
            max_bytes: 1 << 30,
        };
        assert!(whole_or_refuse(1000, 1000, "log", &limits).is_ok());
        let e = whole_or_refuse(1001, 1000, "log", &limits).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let text = e.to_string();
        assert!(
            text.contains("log")
                && text.contains("PRIMARY KEY")
                && text.contains("wsrep_max_ws_rows"),
            "{text}"
        );
    }
}
