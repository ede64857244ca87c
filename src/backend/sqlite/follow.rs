//! SQLite as the SOURCE of a live cutover: refused, since no other process can read its changes
//! without writing SOURCE (a trigger log or a WAL hook inside the application).

use super::SqliteBackend;
use crate::backend::follow::{no_change_stream, ChangeStream, Follow, Snapshot, StreamPosition};
use crate::backend::Admin;
use crate::error::Result;
use crate::url::DbUrl;

impl Follow for SqliteBackend {
    fn has_change_stream(&self) -> bool {
        false
    }
    fn stream_has_cascades(&self) -> bool {
        false
    }
    fn snapshot_into(&self, _target: &DbUrl, _run_id: &str) -> Result<Snapshot> {
        Err(no_change_stream(self.url()))
    }
    fn stream_from(
        &self,
        _from: &StreamPosition,
        _run_id: &str,
        _tables: &[String],
    ) -> Result<Box<dyn ChangeStream>> {
        Err(no_change_stream(self.url()))
    }
    fn position_now(&self, _run_id: &str) -> Result<StreamPosition> {
        Err(no_change_stream(self.url()))
    }
    fn reached(&self, _applied: &StreamPosition, _target: &StreamPosition) -> Result<bool> {
        Err(no_change_stream(self.url()))
    }
    fn release(&self, _run_id: &str) -> Result<()> {
        Ok(())
    }
}
