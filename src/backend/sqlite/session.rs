//! A SQLite session: statements (several per call, in order), rows by storage class, and batch
//! inserts in one transaction.

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Batch, Connection, ToSql};

use super::{sql_error, DIALECT};
use crate::backend::{Dialect, Session, Value};
use crate::error::{Error, Place, Result};

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
    pub(super) conn: Connection,
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
