//! Idle server connections kept for reuse within the process. A run opens one or two sessions
//! per table in every stage (1,135 on MariaDB and 1,219 on PostgreSQL at the benchmark's
//! scale), and a new connection costs a TCP handshake, authentication and the session settings
//! (about 7 ms on PostgreSQL, which forks a backend whose catalog caches start cold).
//!
//! A connection goes back to its engine's pool only after `Reusable::reset` made it what a new one
//! would be, and is handed out again only under the same key, which each engine builds from
//! everything that decides who the connection is and what it sees (server, account, password,
//! database, settings).

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// Idle connections beyond this are closed. A run keeps at most two per worker and database
/// (24 with --jobs 4: SOURCE, DB_DATA and DB_FINAL, tagged with the run or not); more workers
/// than that open some connections anew, which is slower, never wrong.
const KEEP: usize = 32;

/// A connection that can be made new again.
pub trait Reusable: Send + Sized + 'static {
    /// Whether an idle connection still answers (the server may have ended it: a dropped
    /// database, a restart, a killed session).
    fn answers(&mut self) -> bool;
    /// Makes the connection what a new one would be (no transaction, no session state but
    /// rekey's settings); false when that failed, and the connection is closed instead.
    fn reset(&mut self) -> bool;
}

/// One engine's idle connections, each under its key.
pub struct Idle<C> {
    all: Mutex<Vec<(String, C)>>,
}

impl<C: Reusable> Idle<C> {
    pub const fn new() -> Self {
        Idle {
            all: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection kept under `key` that still answers, if there is one.
    pub fn reuse(&'static self, key: &str) -> Option<Pooled<C>> {
        loop {
            let mut conn = {
                let mut all = self.all.lock().ok()?;
                let at = all.iter().position(|(k, _)| k == key)?;
                all.swap_remove(at).1
            };
            if conn.answers() {
                return Some(Pooled {
                    key: key.to_string(),
                    conn: Some(conn),
                    home: Some(self),
                });
            }
        }
    }

    /// A new connection, kept here under `key` once dropped.
    pub fn adopt(&'static self, key: &str, conn: C) -> Pooled<C> {
        Pooled {
            key: key.to_string(),
            conn: Some(conn),
            home: Some(self),
        }
    }

    /// Closes every idle connection whose key starts with `prefix`: a database about to be
    /// dropped must have none.
    pub fn forget(&self, prefix: &str) {
        if let Ok(mut all) = self.all.lock() {
            all.retain(|(k, _)| !k.starts_with(prefix));
        }
    }
}

impl<C: Reusable> Default for Idle<C> {
    fn default() -> Self {
        Self::new()
    }
}

/// A connection that returns to its pool when dropped, if it can be made new again.
pub struct Pooled<C: Reusable> {
    key: String,
    conn: Option<C>,
    home: Option<&'static Idle<C>>,
}

impl<C: Reusable> Pooled<C> {
    /// A connection that is closed when dropped (one that other clients need closed, such as a
    /// session on a maintenance database).
    pub fn single(conn: C) -> Self {
        Pooled {
            key: String::new(),
            conn: Some(conn),
            home: None,
        }
    }
}

impl<C: Reusable> Drop for Pooled<C> {
    fn drop(&mut self) {
        let (Some(mut conn), Some(home)) = (self.conn.take(), self.home) else {
            return;
        };
        // A panic may have left it anywhere, even in the middle of a result.
        if std::thread::panicking() || !conn.reset() {
            return;
        }
        if let Ok(mut all) = home.all.lock() {
            if all.len() < KEEP {
                all.push((std::mem::take(&mut self.key), conn));
            }
        }
    }
}

impl<C: Reusable> Deref for Pooled<C> {
    type Target = C;
    fn deref(&self) -> &C {
        // Only `drop` takes the connection out.
        self.conn
            .as_ref()
            .expect("a pooled connection is present until dropped")
    }
}

impl<C: Reusable> DerefMut for Pooled<C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn
            .as_mut()
            .expect("a pooled connection is present until dropped")
    }
}
