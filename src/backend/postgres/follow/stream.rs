//! SOURCE's change stream: the run's slot peeked over an ordinary connection, test_decoding's
//! rows gathered into committed transactions, the ones the copy's snapshot already holds passed
//! over (empty, so the position still moves), and the followed tables' columns watched, since
//! logical decoding carries no DDL.

use std::collections::{BTreeMap, BTreeSet};
use std::thread;
use std::time::{Duration, Instant};

use super::super::{PostgresBackend, PostgresSession};
use super::decoding::{parse_line, Change, Line, Op};
use super::position::Position;
use super::slot;
use crate::backend::follow::{follow_place, ChangeStream, SourceTransaction, StreamPosition};
use crate::backend::{RowChange, Session, Value};
use crate::error::{Error, Result};

const FINGERPRINT_SQL: &str = include_str!("fingerprint.sql");
const PARTITIONS_SQL: &str = include_str!("partitions.sql");

/// Output rows a poll asks for beyond the ones already handed out and not yet confirmed (the
/// slot returns whole transactions, so at least one new one comes whatever its size).
const POLL_ROWS: u64 = 10_000;

/// One committed transaction as the slot printed it.
#[derive(Debug, Default)]
pub struct Decoded {
    pub xid: u32,
    /// The LSN right after its commit record.
    pub end: u64,
    pub at: Option<i64>,
    pub changes: Vec<Change>,
    pub truncated: Vec<(String, String)>,
    /// Output rows it took, BEGIN and COMMIT included.
    pub rows: u64,
}

/// The slot's output rows as transactions; a trailing one without its COMMIT is left out.
pub fn transactions(rows: Vec<(u64, String)>) -> Result<Vec<Decoded>> {
    let mut out = Vec::new();
    let mut current: Option<Decoded> = None;
    for (lsn, data) in rows {
        let line = parse_line(&data).map_err(|why| {
            let start: String = data.chars().take(200).collect();
            Error::env(
                follow_place(None),
                format!("a line of the change stream could not be read ({why}): {start}"),
                "Report this as a bug, with the server's version and the table's definition.",
            )
        })?;
        match line {
            Line::Begin { xid } => {
                current = Some(Decoded {
                    xid,
                    rows: 1,
                    ..Decoded::default()
                })
            }
            Line::Commit { at, .. } => {
                if let Some(mut t) = current.take() {
                    t.end = lsn;
                    t.at = at;
                    t.rows += 1;
                    out.push(t);
                }
            }
            Line::Change(c) => {
                if let Some(t) = current.as_mut() {
                    t.rows += 1;
                    t.changes.push(c);
                }
            }
            Line::Truncate(tables) => {
                if let Some(t) = current.as_mut() {
                    t.rows += 1;
                    t.truncated.extend(tables);
                }
            }
            Line::Other => {
                if let Some(t) = current.as_mut() {
                    t.rows += 1;
                }
            }
        }
    }
    Ok(out)
}

/// Whether the copy already holds `t` (the position still carries the snapshot, and the
/// snapshot saw it committed).
pub fn in_copy(position: &Position, t: &Decoded) -> bool {
    position
        .snapshot
        .as_ref()
        .is_some_and(|s| t.end <= s.lsn && s.sees(t.xid))
}

/// A followed table's columns and types, and its key's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shape {
    columns: String,
    key: Vec<String>,
}

pub struct PgStream {
    backend: PostgresBackend,
    session: PostgresSession,
    slot: String,
    schema: String,
    tables: BTreeSet<String>,
    shapes: BTreeMap<String, Shape>,
    /// Partitions of followed tables (schema, name) -> the followed table, and relations known
    /// to be neither.
    partitions: BTreeMap<(String, String), String>,
    others: BTreeSet<(String, String)>,
    cursor: Position,
    /// Transactions handed out and not yet confirmed: (end, output rows).
    unconfirmed: Vec<(u64, u64)>,
    /// A TRUNCATE met after the transactions before it were handed out: the next call's error.
    stop: Option<Error>,
}

impl PgStream {
    pub fn open(
        backend: &PostgresBackend,
        from: &StreamPosition,
        run_id: &str,
        tables: &[String],
    ) -> Result<PgStream> {
        let cursor = Position::parse(from)?;
        let slot = slot::slot_name(run_id);
        if cursor.slot != slot {
            return Err(Error::env(
                follow_place(None),
                format!(
                    "the stream position `{}` belongs to slot {}, not to this run's {slot}.",
                    from.0, cursor.slot
                ),
                "Resume with the run directory that wrote the position, or start the live cutover again.",
            ));
        }
        let mut session = backend.session(Some(run_id))?;
        Session::execute(&mut session, slot::DECODING_STYLES)?;
        let Some(info) = slot::info(&mut session, &slot)? else {
            return Err(Error::env(
                follow_place(None),
                format!("the replication slot {slot} of this run is gone from SOURCE, and with it the changes since the snapshot."),
                "Start the live cutover again: `rekey clean`, then `rekey run --follow`.",
            ));
        };
        match info.confirmed {
            Some(c) if c > cursor.lsn => {
                return Err(Error::env(
                    follow_place(None),
                    format!(
                        "the replication slot {slot} has moved past the position DB_FINAL has applied ({}), so SOURCE no longer has the changes in between.",
                        from.0
                    ),
                    "Start the live cutover again: `rekey clean`, then `rekey run --follow`.",
                ))
            }
            Some(c) if c < cursor.lsn => slot::advance(&mut session, &slot, cursor.lsn)?,
            _ => {}
        }
        let mut stream = PgStream {
            backend: PostgresBackend::new(backend.url.clone()),
            session,
            slot,
            schema: backend.schema().to_string(),
            tables: tables.iter().cloned().collect(),
            shapes: BTreeMap::new(),
            partitions: BTreeMap::new(),
            others: BTreeSet::new(),
            cursor,
            unconfirmed: Vec::new(),
            stop: None,
        };
        stream.shapes = stream.read_shapes()?;
        if let Some(missing) = stream
            .tables
            .iter()
            .find(|t| !stream.shapes.contains_key(*t))
        {
            return Err(Error::env(
                follow_place(Some(missing)),
                format!(
                    "table {missing} is not in schema {} of SOURCE.",
                    stream.schema
                ),
                "Start the live cutover again: `rekey clean`, then `rekey run --follow`.",
            ));
        }
        Ok(stream)
    }

    fn read_shapes(&mut self) -> Result<BTreeMap<String, Shape>> {
        let sql = self.about_tables(FINGERPRINT_SQL);
        let mut shapes = BTreeMap::new();
        self.session.query(&sql, &mut |row| {
            let get = |i: usize| row.get(i).and_then(Value::as_string).unwrap_or_default();
            shapes.insert(
                get(0),
                Shape {
                    columns: get(1),
                    key: get(2)
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                },
            );
            Ok(())
        })?;
        Ok(shapes)
    }

    /// A catalog query about the followed tables: `$1` is the schema (`bind`), `$2` the tables
    /// as one text[] literal.
    fn about_tables(&self, sql: &str) -> String {
        let list: Vec<String> = self
            .tables
            .iter()
            .map(|t| format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        let array = format!("{{{}}}", list.join(","));
        slot::fill(&self.backend.bind(sql), &[None, Some(&array)])
    }

    /// The followed table a decoded relation's rows belong to: itself, or the partitioned table
    /// it is a partition of (the partitions are read again when an unknown relation shows up,
    /// as one made while following would).
    fn followed(&mut self, schema: &str, table: &str) -> Result<Option<String>> {
        if schema == self.schema && self.tables.contains(table) {
            return Ok(Some(table.to_string()));
        }
        let key = (schema.to_string(), table.to_string());
        if let Some(root) = self.partitions.get(&key) {
            return Ok(Some(root.clone()));
        }
        if self.others.contains(&key) {
            return Ok(None);
        }
        let sql = self.about_tables(PARTITIONS_SQL);
        let mut partitions = BTreeMap::new();
        self.session.query(&sql, &mut |row| {
            let get = |i: usize| row.get(i).and_then(Value::as_string).unwrap_or_default();
            partitions.insert((get(0), get(1)), get(2));
            Ok(())
        })?;
        self.partitions = partitions;
        match self.partitions.get(&key) {
            Some(root) => Ok(Some(root.clone())),
            None => {
                self.others.insert(key);
                Ok(None)
            }
        }
    }

    /// The error of a followed table whose columns changed on SOURCE since the stream opened.
    fn check_shapes(&mut self) -> Result<()> {
        let now = self.read_shapes()?;
        for (table, before) in &self.shapes {
            let what = match now.get(table) {
                None => "was dropped or renamed".to_string(),
                Some(after) if after != before => format!(
                    "changed (ALTER TABLE): its columns were `{}` and are now `{}`",
                    before.columns, after.columns
                ),
                Some(_) => continue,
            };
            return Err(Error::env(
                follow_place(Some(table)),
                format!("table {table} {what} on SOURCE while rekey followed it; logical decoding does not carry DDL, so DB_FINAL can no longer follow it."),
                "The live cutover must start again: `rekey clean`, then `rekey run --follow` (make schema changes before or after the cutover, not during it).",
            ));
        }
        Ok(())
    }

    /// `c` as a change of the followed table `table`.
    fn row_change(&self, mut c: Change, table: String) -> Result<RowChange> {
        c.table = table;
        Ok(match c.op {
            Op::Insert => RowChange::Insert {
                table: c.table,
                after: c.new,
            },
            Op::Update => {
                let before = match c.old {
                    Some(old) => old,
                    // The key did not change: the new tuple holds it.
                    None => {
                        let key = self
                            .shapes
                            .get(&c.table)
                            .map(|s| s.key.clone())
                            .unwrap_or_default();
                        if key.is_empty() {
                            c.new.clone()
                        } else {
                            c.new
                                .iter()
                                .filter(|(name, _)| key.contains(name))
                                .cloned()
                                .collect()
                        }
                    }
                };
                RowChange::Update {
                    table: c.table,
                    before,
                    after: c.new,
                }
            }
            Op::Delete => match c.old {
                Some(before) => RowChange::Delete {
                    table: c.table,
                    before,
                },
                None => {
                    return Err(Error::env(
                        follow_place(Some(&c.table)),
                        format!("a DELETE on table {} reached the stream without the row's key (REPLICA IDENTITY NOTHING).", c.table),
                        "Give the table a primary key or REPLICA IDENTITY FULL on SOURCE (`rekey check --follow`), then start the live cutover again.",
                    ))
                }
            },
        })
    }

    /// The committed transactions after the cursor the slot holds now, at most `max`.
    fn poll(&mut self, max: usize) -> Result<Vec<SourceTransaction>> {
        let limit = self.unconfirmed.iter().map(|(_, rows)| rows).sum::<u64>() + POLL_ROWS;
        let rows = slot::peek(&mut self.session, &self.slot, None, Some(limit))?;
        let mut out = Vec::new();
        for t in transactions(rows)? {
            if t.end <= self.cursor.lsn {
                continue;
            }
            if out.len() >= max {
                break;
            }
            let copied = in_copy(&self.cursor, &t);
            let mut truncated = None;
            if !copied {
                for (schema, name) in &t.truncated {
                    if let Some(table) = self.followed(schema, name)? {
                        truncated = Some(table);
                        break;
                    }
                }
            }
            if let Some(table) = truncated {
                let err = Error::env(
                    follow_place(Some(&table)),
                    format!("table {table} was truncated on SOURCE (TRUNCATE) while rekey followed it; the stream carries no rows for it, so DB_FINAL can no longer follow it."),
                    "The live cutover must start again: `rekey clean`, then `rekey run --follow`.",
                );
                if out.is_empty() {
                    return Err(err);
                }
                self.stop = Some(err);
                break;
            }
            let mut changes = Vec::new();
            if !copied {
                for c in t.changes {
                    if let Some(table) = self.followed(&c.schema, &c.table)? {
                        changes.push(self.row_change(c, table)?);
                    }
                }
            }
            self.cursor = self.cursor.after(t.end);
            self.unconfirmed.push((t.end, t.rows));
            out.push(SourceTransaction {
                changes,
                end: self.cursor.to_stream(),
                committed_at: t.at,
            });
        }
        Ok(out)
    }
}

impl ChangeStream for PgStream {
    fn next(&mut self, max: usize, wait: Duration) -> Result<Vec<SourceTransaction>> {
        if let Some(e) = self.stop.take() {
            return Err(e);
        }
        let start = Instant::now();
        loop {
            let out = self.poll(max.max(1))?;
            let waited = start.elapsed();
            if !out.is_empty() || waited >= wait {
                self.check_shapes()?;
                return Ok(out);
            }
            thread::sleep((wait - waited).min(Duration::from_millis(200)));
        }
    }

    fn confirm(&mut self, position: &StreamPosition) -> Result<()> {
        let lsn = Position::parse(position)?.lsn;
        slot::advance(&mut self.session, &self.slot, lsn)?;
        self.unconfirmed.retain(|(end, _)| *end > lsn);
        Ok(())
    }
}
