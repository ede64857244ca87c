//! The live cutover's seam with an engine (`run --follow`, `cutover`): a consistent snapshot of
//! SOURCE copied into a database rekey owns, SOURCE's change stream after that snapshot as
//! committed transactions of row changes, and SOURCE's position now. The stages convert the
//! snapshot copy as if it were SOURCE; `src/follow/` applies the stream to DB_FINAL.

use std::time::Duration;

use super::Value;
use crate::error::{Error, Place, Result};
use crate::stage::Stage;
use crate::url::DbUrl;

/// A place in SOURCE's change stream as the engine writes it (MariaDB/MySQL: `file:position`,
/// PostgreSQL: an LSN plus what the snapshot saw). Journaled, and stored in DB_FINAL in the same
/// transaction as the changes that led to it. Only the engine that wrote it reads it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StreamPosition(pub String);

/// One row as the stream carries it: each column's name (SOURCE's) and its value, in the form
/// this engine's `Dialect::value_literal` writes back exactly. A column the stream left out
/// (PostgreSQL's unchanged TOAST value) is absent, and keeps DB_FINAL's value.
pub type StreamRow = Vec<(String, Value)>;

/// One row change of a committed SOURCE transaction, in commit order.
#[derive(Debug, Clone, PartialEq)]
pub enum RowChange {
    Insert {
        table: String,
        after: StreamRow,
    },
    /// `before` holds at least the primary key's columns as they were.
    Update {
        table: String,
        before: StreamRow,
        after: StreamRow,
    },
    /// `before` holds at least the primary key's columns.
    Delete {
        table: String,
        before: StreamRow,
    },
}

impl RowChange {
    pub fn table(&self) -> &str {
        match self {
            RowChange::Insert { table, .. }
            | RowChange::Update { table, .. }
            | RowChange::Delete { table, .. } => table,
        }
    }
}

/// One committed SOURCE transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceTransaction {
    /// Its row changes on the followed tables, in the order SOURCE made them (may be empty: a
    /// transaction on other tables still moves the position).
    pub changes: Vec<RowChange>,
    /// The position right after its commit: the stream resumes from here.
    pub end: StreamPosition,
    /// When SOURCE committed it, in seconds since the Unix epoch, where the stream says (lag).
    pub committed_at: Option<i64>,
}

/// What `Follow::snapshot_into` took.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The stream position the copied rows stand at: every transaction after it, and none
    /// before, comes out of `stream_from(position)`.
    pub position: StreamPosition,
    /// One line for the operator: how the snapshot was taken and where it stands.
    pub detail: String,
    /// Rows copied.
    pub rows: u64,
}

/// Reads SOURCE's committed changes after a position. Never writes SOURCE (PostgreSQL's slot
/// is rekey's own).
pub trait ChangeStream: Send {
    /// The next committed transactions in commit order, at most `max`, waiting up to `wait`
    /// for the first when none is ready (an empty list then). DDL or TRUNCATE on a followed
    /// table is an `Error::Environment` (exit 3) that names the statement and the table: the
    /// follower stops rather than let DB_FINAL diverge.
    fn next(&mut self, max: usize, wait: Duration) -> Result<Vec<SourceTransaction>>;
    /// Everything up to `position` is applied to DB_FINAL and committed: the engine may free
    /// it (PostgreSQL advances the slot, so WAL does not pile up on SOURCE).
    fn confirm(&mut self, position: &StreamPosition) -> Result<()>;
}

/// What an engine does as the SOURCE of a live cutover. `run_id` names what the run holds on
/// SOURCE (PostgreSQL's replication slot), so that `clean` and `check` find it.
pub trait Follow: Send + Sync {
    /// Whether the engine has a change stream another process can read at all.
    fn has_change_stream(&self) -> bool {
        true
    }

    /// Whether the stream carries the rows that SOURCE's foreign-key actions (`ON DELETE
    /// CASCADE`, `SET NULL`, `ON UPDATE CASCADE`) changed (docs/cutover.md §9). The follower
    /// applies with DB_FINAL's foreign keys on either way: where the stream lacks those rows,
    /// DB_FINAL's own actions make them; where it carries them, writing them again after
    /// DB_FINAL's action changes nothing.
    fn stream_has_cascades(&self) -> bool;

    /// Takes a consistent snapshot of SOURCE and copies its schema (tables, keys, indexes,
    /// foreign keys, triggers, views, sequences) and every row as of that snapshot into
    /// `target`, an empty database rekey created on DB_DATA's server. Returns the position the
    /// snapshot stands at. SOURCE is only read, and locked for milliseconds at most.
    fn snapshot_into(&self, target: &DbUrl, run_id: &str) -> Result<Snapshot>;

    /// Opens SOURCE's change stream after `from` (a position `snapshot_into` or a transaction's
    /// `end` gave), for the tables named (SOURCE's names).
    fn stream_from(
        &self,
        from: &StreamPosition,
        run_id: &str,
        tables: &[String],
    ) -> Result<Box<dyn ChangeStream>>;

    /// SOURCE's position now: once the application has stopped writing, every change it made
    /// is before this position.
    fn position_now(&self, run_id: &str) -> Result<StreamPosition>;

    /// Whether a stream that applied up to `applied` has every change up to `target`.
    fn reached(&self, applied: &StreamPosition, target: &StreamPosition) -> Result<bool>;

    /// How far `applied` is behind `head`, in the engine's own unit, for the lag SOURCE's
    /// operator reads (`None` where the engine cannot tell).
    fn behind(&self, _applied: &StreamPosition, _head: &StreamPosition) -> Option<u64> {
        None
    }

    /// Frees what the run holds on SOURCE (the replication slot). Succeeds when there is none.
    fn release(&self, run_id: &str) -> Result<()>;
}

/// The answer of an engine without a change stream another process can read.
pub fn no_change_stream(url: &DbUrl) -> Error {
    Error::usage(
        format!(
            "{} has no change stream that another process can read without writing SOURCE, so it cannot be converted with the site up.",
            url.engine
        ),
        "Convert it with the application stopped: `rekey run` without --follow.",
    )
}

/// Where a stream error happened, for the messages of both engines.
pub fn follow_place(table: Option<&str>) -> Place {
    let place = Place::stage(Stage::Follow);
    match table {
        Some(t) => place.table(t),
        None => place,
    }
}

/// The first value of `row` named `column`.
pub fn column<'a>(row: &'a StreamRow, column: &str) -> Option<&'a Value> {
    row.iter().find(|(c, _)| c == column).map(|(_, v)| v)
}
