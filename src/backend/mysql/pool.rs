//! MariaDB/MySQL's idle connections (`backend::pool`): how one is checked and made new again.

use mysql::Conn;

use crate::backend::pool::{Idle, Reusable};

pub(super) type Pooled = crate::backend::pool::Pooled<Conn>;

pub(super) static IDLE: Idle<Conn> = Idle::new();

impl Reusable for Conn {
    fn answers(&mut self) -> bool {
        self.ping().is_ok()
    }

    /// COM_RESET_CONNECTION (a transaction rolled back; session and user variables, temporary
    /// tables, prepared statements and locks gone), then the driver runs the connection's init
    /// statements again: rekey's session settings. The current database is left as it was,
    /// and rekey never changes it (no USE).
    fn reset(&mut self) -> bool {
        Conn::reset(self).is_ok()
    }
}
