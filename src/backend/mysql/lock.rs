//! rekey's lock on a database it writes, held on the server for the whole process: GET_LOCK on a
//! connection of its own (never pooled: a pooled connection's reset would release it), so two
//! processes (a second run, or a copy of a live run's directory resumed) never work on one
//! database at once, whichever run directories they use.

use mysql::prelude::Queryable;

use super::{sql_error, MysqlBackend};
use crate::backend::{Dialect, ServerLock};
use crate::error::{Error, Place, Result};

/// What keeps the lock's idle connection open as long as the run lasts.
const KEEP_ALIVE_SQL: &str =
    "SET SESSION wait_timeout = 31536000, SESSION interactive_timeout = 31536000";

/// How long the lock's connection idles before TCP checks that its peer is still there.
const KEEPALIVE_MS: u32 = 60_000;

/// The connection that holds the lock; closing it (dropping this) releases it.
struct Held {
    conn: mysql::Conn,
    /// The lock's name, as a literal.
    name: String,
    /// The database's role and URL, for the message of a lost lock.
    what: String,
}

impl ServerLock for Held {
    fn still_held(&mut self) -> Result<()> {
        let sql = format!("SELECT IS_USED_LOCK({}) = CONNECTION_ID()", self.name);
        let held: Option<Option<i64>> = self.conn.query_first(&sql).unwrap_or(None);
        if held.flatten() == Some(1) {
            return Ok(());
        }
        Err(Error::env(
            Place::default(),
            format!(
                "rekey's lock on {} ({}) was lost: the server ended the connection that held it (a KILL, a restart, an idle limit), so another process could have started working on the database.",
                self.what, self.name
            ),
            "Make sure no other rekey process works on it (`rekey status --run-dir` of each run directory), then resume this run with --resume.",
        ))
    }
}

/// GET_LOCK names are at most 64 characters: rekey's prefix and a hash of what `key` names.
fn lock_name(key: &str) -> String {
    format!("rekey:{:032x}", xxhash_rust::xxh3::xxh3_128(key.as_bytes()))
}

pub(super) fn hold(
    backend: &MysqlBackend,
    key: &str,
    what: &str,
) -> Result<Option<Box<dyn ServerLock>>> {
    Ok(take(backend, key, what)?.map(|h| Box::new(h) as Box<dyn ServerLock>))
}

fn take(backend: &MysqlBackend, key: &str, what: &str) -> Result<Option<Held>> {
    // A Galera cluster refuses GET_LOCK while wsrep is on (a lock would bind one node only).
    if backend.flavour().galera() {
        return Ok(None);
    }
    let init = backend.facts()?.dialect.session_init();
    // TCP keepalives, so that no firewall or NAT in between drops the idle connection.
    let opts = backend
        .opts(false, &init)
        .tcp_keepalive_time_ms(Some(KEEPALIVE_MS));
    let mut conn = mysql::Conn::new(opts).map_err(|e| super::connect_error(&backend.url, &e, 0))?;
    // The connection idles for the whole run; the server would close it after wait_timeout (8
    // hours by default, far less on hosted servers) and the lock would lapse unnoticed. A year,
    // the largest value the servers accept.
    conn.query_drop(KEEP_ALIVE_SQL)
        .map_err(|e| sql_error(e, KEEP_ALIVE_SQL))?;
    let name = super::DIALECT.lit(&lock_name(key));
    // A run killed a moment ago holds the lock until the server has ended its session, which
    // under load takes a while: waited for, briefly, rather than named as a live run.
    let sql = format!(
        "SELECT GET_LOCK({name}, {})",
        crate::backend::LOCK_SETTLE.as_secs()
    );
    let got: Option<Option<i64>> = conn.query_first(&sql).map_err(|e| sql_error(e, &sql))?;
    if got.flatten() == Some(1) {
        return Ok(Some(Held {
            conn,
            name,
            what: format!("{what} {}", backend.url),
        }));
    }
    let sql = format!(
        "SELECT l.ID, COALESCE(p.HOST, '') FROM (SELECT IS_USED_LOCK({name}) AS ID) l LEFT JOIN information_schema.PROCESSLIST p ON p.ID = l.ID"
    );
    let holder: Option<(Option<u64>, String)> =
        conn.query_first(&sql).map_err(|e| sql_error(e, &sql))?;
    let (id, host) = holder.unwrap_or_default();
    let who = match id {
        Some(id) if host.is_empty() => format!("connection {id}"),
        Some(id) => format!("connection {id} (from {host})"),
        None => "another connection".to_string(),
    };
    Err(Error::input(
        Place::default(),
        format!(
            "{what} {} is in use by another rekey process: {who} holds rekey's lock on it ({}).",
            backend.url,
            lock_name(key)
        ),
        format!(
            "Let that run finish (`rekey status --run-dir` of its directory says where it is) or stop it, then run again; a copy of a live run's directory cannot resume it. If no rekey process runs any more, end the stale session with KILL {}.",
            id.map_or("<id>".to_string(), |i| i.to_string())
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_server() -> Option<MysqlBackend> {
        super::super::test_server("mysql")
    }

    /// The lock's connection outlives the server's default idle limit: its session's
    /// wait_timeout is the year KEEP_ALIVE_SQL sets (the default is 8 hours).
    #[test]
    fn the_lock_connection_does_not_time_out_while_the_run_idles() {
        let Some(backend) = test_server() else {
            return;
        };
        let key = format!("lock-timeout-test\0{}", std::process::id());
        let mut held = take(&backend, &key, "DB_DATA").unwrap().unwrap();
        let timeouts: Option<(u64, u64)> = held
            .conn
            .query_first("SELECT @@SESSION.wait_timeout, @@SESSION.interactive_timeout")
            .unwrap();
        assert_eq!(timeouts, Some((31_536_000, 31_536_000)));
    }

    /// A lock whose connection was killed is noticed before the next stage: exit 3, naming it.
    #[test]
    fn a_killed_lock_connection_is_noticed() {
        let Some(backend) = test_server() else {
            return;
        };
        let key = format!("lock-kill-test\0{}", std::process::id());
        let mut held = take(&backend, &key, "DB_DATA").unwrap().unwrap();
        held.still_held().unwrap();
        let id = held.conn.connection_id();
        let mut other = mysql::Conn::new(backend.opts(false, &[])).unwrap();
        other.query_drop(format!("KILL {id}")).unwrap();
        let err = held.still_held().unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("lock on DB_DATA"), "{err}");
    }
}
