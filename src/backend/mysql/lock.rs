//! rekey's lock on a database it writes, held on the server for the whole process: GET_LOCK on a
//! connection of its own (never pooled: a pooled connection's reset would release it), so two
//! processes (a second run, or a copy of a live run's directory resumed) never work on one
//! database at once, whichever run directories they use.

use mysql::prelude::Queryable;

use super::{sql_error, MysqlBackend};
use crate::backend::Dialect;
use crate::error::{Error, Place, Result};

/// The connection that holds the lock; closing it (dropping this) releases it.
struct Held(#[allow(dead_code)] mysql::Conn);

/// GET_LOCK names are at most 64 characters: rekey's prefix and a hash of what `key` names.
fn lock_name(key: &str) -> String {
    format!("rekey:{:032x}", xxhash_rust::xxh3::xxh3_128(key.as_bytes()))
}

pub(super) fn hold(
    backend: &MysqlBackend,
    key: &str,
    what: &str,
) -> Result<Option<Box<dyn std::any::Any + Send>>> {
    // A Galera cluster refuses GET_LOCK while wsrep is on (a lock would bind one node only).
    if backend.flavour().galera() {
        return Ok(None);
    }
    let init = backend.facts()?.dialect.session_init();
    let mut conn = backend.connect_with(false, &init)?;
    let name = super::DIALECT.lit(&lock_name(key));
    let sql = format!("SELECT GET_LOCK({name}, 0)");
    let got: Option<Option<i64>> = conn.query_first(&sql).map_err(|e| sql_error(e, &sql))?;
    if got.flatten() == Some(1) {
        return Ok(Some(Box::new(Held(conn))));
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
