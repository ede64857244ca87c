//! PostgresBackend as the SOURCE of a live cutover: a logical replication slot (test_decoding)
//! made over SQL (`slot.rs`), a snapshot exported after it and copied by pg_dump/pg_restore
//! (`snapshot.rs`), the slot's text decoded (`decoding.rs`) into committed transactions, minus
//! those the snapshot already saw (`position.rs`, `stream.rs`).

mod decoding;
mod position;
mod slot;
pub(super) mod snapshot;
mod stream;

use std::thread;
use std::time::{Duration, Instant};

use super::PostgresBackend;
use crate::backend::follow::{ChangeStream, Follow, Snapshot, StreamPosition};
use crate::backend::{Session, Value};
use crate::error::Result;
use crate::url::DbUrl;

use position::{parse_lsn, Position};

impl PostgresBackend {
    /// One LSN SOURCE reports now (`pg_current_wal_insert_lsn()`, ...).
    fn wal_lsn(&self, function: &str) -> Result<u64> {
        let mut session = self.session(None)?;
        let session: &mut dyn Session = &mut session;
        let rows = session.query_all(&format!("SELECT {function}()::text"))?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_string)
            .and_then(|t: String| parse_lsn(&t))
            .unwrap_or(0))
    }
}

impl Follow for PostgresBackend {
    /// Measured (docs/cutover.md §9): logical decoding carries every row a foreign-key action
    /// changed, in the same transaction.
    fn stream_has_cascades(&self) -> bool {
        true
    }

    fn snapshot_into(&self, target: &DbUrl, run_id: &str) -> Result<Snapshot> {
        self.take_snapshot(target, run_id)
    }

    fn stream_from(
        &self,
        from: &StreamPosition,
        run_id: &str,
        tables: &[String],
    ) -> Result<Box<dyn ChangeStream>> {
        Ok(Box::new(stream::PgStream::open(
            self, from, run_id, tables,
        )?))
    }

    /// The WAL insert position: every commit made before the call, flushed or not, is before it.
    fn position_now(&self, run_id: &str) -> Result<StreamPosition> {
        let lsn = self.wal_lsn("pg_current_wal_insert_lsn")?;
        Ok(Position::at(&slot::slot_name(run_id), lsn).to_stream())
    }

    /// Reached when `applied` is at or past `target`, or when the slot holds no transaction
    /// between them that the copy lacks: after the application stops, the last transactions may
    /// end before `target`, and nothing would move `applied` further.
    fn reached(&self, applied: &StreamPosition, target: &StreamPosition) -> Result<bool> {
        let applied = Position::parse(applied)?;
        let target = Position::parse(target)?;
        if applied.lsn >= target.lsn {
            return Ok(true);
        }
        // Decoding reads flushed WAL only, and `target` is the insert position: an asynchronous
        // commit (or any record) before it may not be flushed yet. The WAL writer flushes within
        // wal_writer_delay (200 ms by default).
        let waiting = Instant::now();
        while self.wal_lsn("pg_current_wal_flush_lsn")? < target.lsn {
            if waiting.elapsed() > Duration::from_secs(2) {
                return Ok(false);
            }
            thread::sleep(Duration::from_millis(20));
        }
        let mut session = self.session(None)?;
        Session::execute(&mut session, slot::DECODING_STYLES)?;
        let rows = slot::peek(&mut session, &applied.slot, Some(target.lsn), None)?;
        let pending = stream::transactions(rows)?
            .iter()
            .any(|t| t.end > applied.lsn && t.end <= target.lsn && !stream::in_copy(&applied, t));
        Ok(!pending)
    }

    fn behind(&self, applied: &StreamPosition, head: &StreamPosition) -> Option<u64> {
        let applied = Position::parse(applied).ok()?;
        let head = Position::parse(head).ok()?;
        Some(head.lsn.saturating_sub(applied.lsn))
    }

    fn release(&self, run_id: &str) -> Result<()> {
        let mut session = self.session(Some(run_id))?;
        slot::drop(&mut session, &slot::slot_name(run_id))
    }
}
