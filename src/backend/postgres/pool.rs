//! Idle PostgreSQL connections kept for reuse within the process. A new connection costs about
//! 7 ms here (the server forks a backend whose catalog caches start cold), and a run at the
//! benchmark's scale opened 1,219 of them: one or two per table in every stage.
//!
//! A connection goes back to the pool only in a clean state (`release`), and is handed out again
//! only to the same server, account, password, database, schema and application name, so a
//! reused connection is indistinguishable from a new one.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use postgres::Client;

/// Idle connections beyond this are closed: a run uses at most two per worker and database.
const KEEP: usize = 16;

/// How long a returning or reused connection may take to answer an empty query. A connection
/// dropped in the middle of a COPY TO still has rows coming, and is closed rather than drained.
const ANSWER_WITHIN: Duration = Duration::from_millis(500);

static IDLE: OnceLock<Mutex<Vec<(String, Client)>>> = OnceLock::new();

fn idle() -> &'static Mutex<Vec<(String, Client)>> {
    IDLE.get_or_init(|| Mutex::new(Vec::new()))
}

/// A connection that returns to the pool when dropped, if it can be made clean again.
pub struct Pooled {
    key: String,
    client: Option<Client>,
    /// The statements that give a connection its session settings (run again after the reset).
    settings: String,
}

impl Pooled {
    /// An idle connection for `key`, if one answers.
    pub fn reuse(key: &str, settings: &str) -> Option<Pooled> {
        loop {
            let mut client = {
                let mut all = idle().lock().ok()?;
                let at = all.iter().position(|(k, _)| k == key)?;
                all.swap_remove(at).1
            };
            // The server may have ended it meanwhile (a DROP DATABASE ... WITH (FORCE), a
            // restart): try the next one.
            if client.is_valid(ANSWER_WITHIN).is_ok() {
                return Some(Pooled::new(key, client, settings));
            }
        }
    }

    /// A new connection, kept for reuse after it is dropped unless `key` is empty.
    pub fn new(key: &str, client: Client, settings: &str) -> Pooled {
        Pooled {
            key: key.to_string(),
            client: Some(client),
            settings: settings.to_string(),
        }
    }

    /// Makes the connection what a new one would be: no transaction, no session settings but
    /// rekey's own, no cursors, temporary tables, advisory locks or listeners. That is DISCARD
    /// ALL without its DEALLOCATE ALL, which would remove the statements the driver prepared
    /// and caches (its type lookups). Anything that fails closes the connection instead.
    fn release(client: &mut Client, settings: &str) -> bool {
        client.is_valid(ANSWER_WITHIN).is_ok()
            && client.batch_execute("ROLLBACK").is_ok()
            && client
                .batch_execute(&format!(
                    "CLOSE ALL; RESET ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); \
                     DISCARD TEMP; DISCARD SEQUENCES; {settings}"
                ))
                .is_ok()
    }

    /// Closes every idle connection whose key starts with `prefix` (server and database): a
    /// database about to be dropped must have none.
    pub fn forget(prefix: &str) {
        if let Ok(mut all) = idle().lock() {
            all.retain(|(k, _)| !k.starts_with(prefix));
        }
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(mut client) = self.client.take() else {
            return;
        };
        if self.key.is_empty()
            || std::thread::panicking()
            || !Self::release(&mut client, &self.settings)
        {
            return;
        }
        if let Ok(mut all) = idle().lock() {
            if all.len() < KEEP {
                all.push((std::mem::take(&mut self.key), client));
            }
        }
    }
}

impl Deref for Pooled {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Only `drop` takes the client out.
        self.client
            .as_ref()
            .expect("a pooled connection is present until dropped")
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("a pooled connection is present until dropped")
    }
}
