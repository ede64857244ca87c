//! PostgreSQL's idle connections (`backend::pool`): how one is checked and made new again.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use postgres::Client;

use crate::backend::pool::{Idle, Reusable};

pub(super) type Pooled = crate::backend::pool::Pooled<PgConn>;

pub(super) static IDLE: Idle<PgConn> = Idle::new();

/// How long a returning or reused connection may take to answer an empty query. A connection
/// dropped in the middle of a COPY TO still has rows coming, and is closed rather than drained.
const ANSWER_WITHIN: Duration = Duration::from_millis(500);

/// A client and the statements that gave it rekey's session settings.
pub struct PgConn {
    client: Client,
    settings: String,
}

impl PgConn {
    pub(super) fn new(client: Client, settings: &str) -> Self {
        PgConn {
            client,
            settings: settings.to_string(),
        }
    }
}

impl Reusable for PgConn {
    fn answers(&mut self) -> bool {
        self.client.is_valid(ANSWER_WITHIN).is_ok()
    }

    /// No transaction, no session settings but rekey's own, no cursors, temporary tables,
    /// advisory locks or listeners: DISCARD ALL without its DEALLOCATE ALL, which would remove
    /// the statements the driver prepared and caches (its type lookups).
    fn reset(&mut self) -> bool {
        self.answers()
            && self.client.batch_execute("ROLLBACK").is_ok()
            && self
                .client
                .batch_execute(&format!(
                    "CLOSE ALL; RESET ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); \
                     DISCARD TEMP; DISCARD SEQUENCES; {}",
                    self.settings
                ))
                .is_ok()
    }
}

impl Deref for PgConn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}
