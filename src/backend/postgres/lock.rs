//! rekey's lock on a database it writes, held on the server for the whole process: an advisory
//! lock taken on a session of its own (never pooled: the pool's reset releases advisory locks),
//! on the `postgres` database, where every rekey process looks for it (advisory locks are per
//! database, and an idle session on template1 would stop CREATE DATABASE), so two processes
//! never work on one database at once, whichever run directories they use.

use postgres::NoTls;

use super::{connect_error, sql_error, PostgresBackend};
use crate::error::{Error, Place, Result};

const HOLDER_SQL: &str = include_str!("lock_holder.sql");

/// The first half of the advisory lock's key: rekey's (ASCII `reke`), so that the second, a hash
/// of the database, cannot meet an application's own advisory locks by chance.
const CLASS: i32 = 0x7265_6b65;

/// Where the lock lives: one database every server has.
const LOCK_DATABASE: &str = "postgres";

/// The session that holds the lock; closing it (dropping this) releases it.
struct Held(#[allow(dead_code)] postgres::Client);

fn object(key: &str) -> i32 {
    xxhash_rust::xxh3::xxh3_64(key.as_bytes()) as u32 as i32
}

pub(super) fn hold(
    backend: &PostgresBackend,
    key: &str,
    what: &str,
) -> Result<Option<Box<dyn std::any::Any + Send>>> {
    let application_name = format!("rekey lock, pid {}", std::process::id());
    let mut client = backend
        .config(LOCK_DATABASE, &application_name)
        .connect(NoTls)
        .map_err(|e| connect_error(&backend.url, LOCK_DATABASE, &e, 0))?;
    let (class, object) = (CLASS, object(key));
    let sql = format!("SELECT pg_try_advisory_lock({class}, {object})");
    let got: bool = client
        .query_one(sql.as_str(), &[])
        .map_err(|e| sql_error(&e, &sql))?
        .get(0);
    if got {
        return Ok(Some(Box::new(Held(client))));
    }
    let sql = HOLDER_SQL
        .replace("$1", &class.to_string())
        .replace("$2", &object.to_string());
    let holder = client
        .query_opt(sql.as_str(), &[])
        .map_err(|e| sql_error(&e, &sql))?;
    let (pid, name, addr): (Option<i32>, Option<String>, Option<String>) = match &holder {
        Some(row) => (row.get(0), row.get(1), row.get(2)),
        None => (None, None, None),
    };
    let who = match pid {
        Some(pid) => format!(
            "backend {pid} ({}{})",
            name.unwrap_or_default(),
            addr.map(|a| format!(", from {a}")).unwrap_or_default()
        ),
        None => "another session".to_string(),
    };
    Err(Error::input(
        Place::default(),
        format!(
            "{what} {} is in use by another rekey process: {who} holds rekey's advisory lock on it ({class}, {object}).",
            backend.url
        ),
        format!(
            "Let that run finish (`rekey status --run-dir` of its directory says where it is) or stop it, then run again; a copy of a live run's directory cannot resume it. If no rekey process runs any more, end the stale session with SELECT pg_terminate_backend({}).",
            pid.map_or("<pid>".to_string(), |p| p.to_string())
        ),
    ))
}
