//! The SQLite backend (the embedded default): the connection and its errors. Catalog from
//! sqlite_schema and the pragma functions (`catalog.rs`), constraint changes by rebuilding tables
//! (SQLite's 12-step ALTER procedure, one transaction per table; `ddl.rs`, with `parse.rs` reading
//! the stored CREATE statements), and copies between files through ATTACH, read-only for every
//! database it reaches (`load.rs`).

mod admin;
mod catalog;
mod ddl;
mod dialect;
mod follow;
mod load;
mod parse;
mod session;
mod transfer;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

pub use dialect::SqliteDialect;
pub use session::SqliteSession;

use crate::error::{Error, Place, Result};
use crate::url::DbUrl;
use dialect::DIALECT;

const SESSION_SQL: &str = include_str!("session.sql");

/// How long a statement waits for another connection's lock (parallel readers, the journal).
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

fn q(name: &str) -> String {
    use crate::backend::Dialect;
    DIALECT.q(name)
}

pub(super) fn sql_error(e: rusqlite::Error, sql: &str) -> Error {
    let hint = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            "Another process holds a lock on the database file: let it finish (or stop it), then run again with --resume."
        }
        Some(ErrorCode::ReadOnly) => {
            "The file or its directory is not writable by this user: fix the permissions, then run again with --resume."
        }
        Some(ErrorCode::DiskFull) => "The disk is full: free space, then run again with --resume.",
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            "The file is not an intact SQLite database: check the URL, or restore the file from its snapshot."
        }
        _ => "Fix the cause named by SQLite, then run again with --resume.",
    };
    let short: String = sql.chars().take(300).collect();
    Error::env(
        Place::default(),
        format!("SQLite rejected `{short}`: {e}."),
        hint,
    )
}

pub struct SqliteBackend {
    url: DbUrl,
    /// Set by `create_database`: only then may `connect` create a missing file, so a mistyped
    /// SOURCE or DB_FINAL path is an error instead of a new empty database.
    may_create: AtomicBool,
}

impl SqliteBackend {
    pub fn new(url: DbUrl) -> Self {
        SqliteBackend {
            url,
            may_create: AtomicBool::new(false),
        }
    }

    fn path(&self) -> &Path {
        Path::new(&self.url.database)
    }

    fn open(&self) -> Result<SqliteSession> {
        let create = self.may_create.load(Ordering::SeqCst);
        if !create && !self.path().exists() {
            return Err(Error::input(
                Place::default(),
                format!("{} does not exist.", self.url),
                "Check the file path in the URL (a relative path starts from the current directory).",
            ));
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(self.path(), flags).map_err(|e| {
            Error::env(
                Place::default(),
                format!("cannot open {}: {e}.", self.url),
                "Check that the file is a SQLite database and that its directory exists and is writable.",
            )
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql_error(e, "busy_timeout"))?;
        conn.execute_batch(SESSION_SQL)
            .map_err(|e| sql_error(e, SESSION_SQL))?;
        Ok(SqliteSession { conn })
    }
}

/// The path as a read-only SQLite URI (`file:...?mode=ro`), so that ATTACH can never write it.
fn read_only_uri(path: &str) -> String {
    let mut out = String::from("file:");
    for ch in path.chars() {
        match ch {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out.push_str("?mode=ro");
    out
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests;
