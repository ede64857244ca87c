//! A live connection to one database: run SQL, stream rows, insert batches.

use super::Value;
use crate::error::Result;

/// Not shared between threads: parallel stages open one each.
pub trait Session: Send {
    /// Runs one statement; returns the number of affected rows.
    fn execute(&mut self, sql: &str) -> Result<u64>;
    /// Streams the rows of a query to `each`, without holding the result in memory.
    fn query(&mut self, sql: &str, each: &mut dyn FnMut(&[Value]) -> Result<()>) -> Result<()>;
    /// `query` for a read of many rows that needs nothing of this session's state (no
    /// transaction, no temporary table): an engine may run it on a connection of its own, by a
    /// faster path (PostgreSQL: one async loop instead of the sync client's per-row runtime entry).
    /// `each` must not use a PostgreSQL session itself: it runs inside that loop's runtime, where
    /// the sync client cannot start its own.
    fn scan(&mut self, sql: &str, each: &mut dyn FnMut(&[Value]) -> Result<()>) -> Result<()> {
        self.query(sql, each)
    }
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
        Ok(self.query_first(sql)?.and_then(|v| v.as_u64()).unwrap_or(0))
    }
    /// The first column of the first row, if there is one.
    pub fn query_first(&mut self, sql: &str) -> Result<Option<Value>> {
        let rows = self.query_all(sql)?;
        Ok(rows.into_iter().next().and_then(|r| r.into_iter().next()))
    }
}

/// Every row of `sql` to `each`: by `Session::scan` for a `large` table (many rows, which an engine
/// may read on a connection of its own by a faster path), else by `Session::query`.
pub fn read_all(
    s: &mut dyn Session,
    large: bool,
    sql: &str,
    each: &mut dyn FnMut(&[Value]) -> Result<()>,
) -> Result<()> {
    if large {
        s.scan(sql, each)
    } else {
        s.query(sql, each)
    }
}
