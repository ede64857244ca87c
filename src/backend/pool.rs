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
use std::time::{Duration, Instant};

/// Idle connections beyond this are closed. A run keeps at most two per worker and database
/// (24 with --jobs 4: SOURCE, DB_DATA and DB_FINAL, tagged with the run or not); more workers
/// than that open some connections anew, which is slower, never wrong.
const KEEP: usize = 32;

/// A connection that came back this recently is handed out without asking whether it answers:
/// its reset, a round trip that succeeded, just said so. A run checks a connection out about
/// a thousand times, most of them milliseconds after it came back, and each question is a
/// round trip that wakes the server (MariaDB lean: 1,000 pings of 3,000 round trips spent on
/// the pool). Well under the shortest idle limit a server is given (`wait_timeout`,
/// `idle_session_timeout`: a second at the least), so that only a server that ends a session
/// for another reason within this window makes its first statement fail, as one that the
/// server ends while in use does.
const FRESH: Duration = Duration::from_millis(250);

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
    all: Mutex<Vec<(String, C, Instant)>>,
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
            let (mut conn, back) = {
                let mut all = self.all.lock().ok()?;
                let at = all.iter().position(|(k, _, _)| k == key)?;
                let (_, conn, back) = all.swap_remove(at);
                (conn, back)
            };
            if back.elapsed() < FRESH || conn.answers() {
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
            all.retain(|(k, _, _)| !k.starts_with(prefix));
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
                all.push((std::mem::take(&mut self.key), conn, Instant::now()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static ASKED: AtomicUsize = AtomicUsize::new(0);

    struct Fake;

    impl Reusable for Fake {
        fn answers(&mut self) -> bool {
            ASKED.fetch_add(1, Ordering::SeqCst);
            true
        }
        fn reset(&mut self) -> bool {
            true
        }
    }

    static IDLE: Idle<Fake> = Idle::new();

    #[test]
    fn a_connection_just_back_is_reused_without_a_question_and_an_older_one_is_asked() {
        // Just back from a reset that succeeded: handed out as it is.
        drop(IDLE.adopt("k", Fake));
        let first = IDLE.reuse("k");
        assert!(first.is_some());
        assert_eq!(ASKED.load(Ordering::SeqCst), 0);
        // Idle longer than FRESH: asked whether it still answers before it is handed out.
        let long_ago = Instant::now()
            .checked_sub(FRESH * 2)
            .expect("the clock reaches back two seconds");
        IDLE.all
            .lock()
            .expect("the pool's lock")
            .push(("k".into(), Fake, long_ago));
        let again = IDLE.reuse("k");
        assert!(again.is_some());
        assert_eq!(ASKED.load(Ordering::SeqCst), 1);
        // The pool keeps nothing under another key.
        drop((first, again));
        assert!(IDLE.reuse("other").is_none());
    }
}
