//! rekey's lock on a database it writes, held on the server for the whole process: an advisory
//! lock taken on a session of its own (never pooled: the pool's reset releases advisory locks),
//! on the `postgres` database, where every rekey process looks for it (advisory locks are per
//! database, and an idle session on template1 would stop CREATE DATABASE), so two processes
//! never work on one database at once, whichever run directories they use.

use postgres::NoTls;

use super::{connect_error, sql_error, PostgresBackend};
use crate::backend::ServerLock;
use crate::error::{Error, Place, Result};

const HOLDER_SQL: &str = include_str!("lock_holder.sql");

/// The first half of the advisory lock's key: rekey's (ASCII `reke`), so that the second, a hash
/// of the database, cannot meet an application's own advisory locks by chance.
const CLASS: i32 = 0x7265_6b65;

/// Where the lock lives: one database every server has.
const LOCK_DATABASE: &str = "postgres";

/// What keeps the lock's idle session open as long as the run lasts.
const KEEP_ALIVE_SQL: &str = "SELECT set_config('idle_session_timeout', '0', false) WHERE current_setting('idle_session_timeout', true) IS NOT NULL";

/// The session that holds the lock; closing it (dropping this) releases it.
struct Held {
    client: postgres::Client,
    object: i32,
    /// The database's role and URL, for the message of a lost lock.
    what: String,
}

impl ServerLock for Held {
    fn still_held(&mut self) -> Result<()> {
        // The advisory lock of two int4 keys: classid and objid hold them (as oid), objsubid 2.
        let sql = format!(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = ({CLASS})::oid AND objid = ({})::oid AND objsubid = 2 AND granted AND pid = pg_backend_pid()",
            self.object
        );
        let held = self
            .client
            .query_one(sql.as_str(), &[])
            .map(|row| row.get::<_, i64>(0))
            .unwrap_or(0);
        if held == 1 {
            return Ok(());
        }
        Err(Error::env(
            Place::default(),
            format!(
                "rekey's advisory lock on {} ({CLASS}, {}) was lost: the server ended the session that held it (pg_terminate_backend, a restart, an idle limit), so another process could have started working on the database.",
                self.what, self.object
            ),
            "Make sure no other rekey process works on it (`rekey status --run-dir` of each run directory), then resume this run with --resume.",
        ))
    }
}

fn object(key: &str) -> i32 {
    xxhash_rust::xxh3::xxh3_64(key.as_bytes()) as u32 as i32
}

pub(super) fn hold(
    backend: &PostgresBackend,
    key: &str,
    what: &str,
) -> Result<Option<Box<dyn ServerLock>>> {
    Ok(Some(Box::new(take(backend, key, what)?)))
}

fn take(backend: &PostgresBackend, key: &str, what: &str) -> Result<Held> {
    let application_name = format!("rekey lock, pid {}", std::process::id());
    // TCP keepalives, so that no firewall or NAT in between drops the idle session.
    let mut client = backend
        .config(LOCK_DATABASE, &application_name)
        .keepalives(true)
        .keepalives_idle(std::time::Duration::from_secs(60))
        .connect(NoTls)
        .map_err(|e| connect_error(&backend.url, LOCK_DATABASE, &e, 0))?;
    // The session idles for the whole run: a server (or role, or database) with an
    // idle_session_timeout (PostgreSQL 14 and later) would end it and the lock would lapse
    // unnoticed. `current_setting(.., true)` is NULL where the setting does not exist.
    client
        .batch_execute(KEEP_ALIVE_SQL)
        .map_err(|e| sql_error(&e, KEEP_ALIVE_SQL))?;
    let (class, object) = (CLASS, object(key));
    let sql = format!("SELECT pg_try_advisory_lock({class}, {object})");
    // A run killed a moment ago holds the lock until the server has ended its session, which
    // under load takes a while: asked again, briefly, before it is named as a live run.
    let deadline = std::time::Instant::now() + crate::backend::LOCK_SETTLE;
    let got = loop {
        let got: bool = client
            .query_one(sql.as_str(), &[])
            .map_err(|e| sql_error(&e, &sql))?
            .get(0);
        if got || std::time::Instant::now() >= deadline {
            break got;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    if got {
        return Ok(Held {
            client,
            object,
            what: format!("{what} {}", backend.url),
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::{DbUrl, ProcessEnv};

    /// A role whose sessions end after a second of idleness (idle_session_timeout, as a hosted
    /// server may set it) still holds the lock after that second: the lock's session turns the
    /// limit off.
    #[test]
    fn the_lock_session_outlives_an_idle_session_timeout() {
        let Ok(base) = std::env::var("REKEY_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var("REKEY_REQUIRE_POSTGRES").is_err(),
                "REKEY_TEST_POSTGRES_URL is not set"
            );
            return;
        };
        let admin_url = DbUrl::parse(&format!("{base}/postgres"), &ProcessEnv).unwrap();
        let role = format!("rekey_idle_{}", std::process::id());
        let mut admin = PostgresBackend::new(admin_url.clone())
            .config(LOCK_DATABASE, "rekey lock test")
            .connect(NoTls)
            .unwrap();
        admin
            .batch_execute(&format!(
                "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN; ALTER ROLE {role} SET idle_session_timeout = '1s'"
            ))
            .unwrap();
        let mut url = admin_url;
        url.user = Some(role.clone());
        let key = format!("lock-timeout-test\0{}", std::process::id());
        let mut held = take(&PostgresBackend::new(url), &key, "DB_DATA").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2500));
        let alive = held.still_held();
        let pid: i32 = admin
            .query_one(
                "SELECT pid FROM pg_stat_activity WHERE usename = $1",
                &[&role],
            )
            .map(|r| r.get(0))
            .unwrap_or(0);
        // Then it is ended, as a DBA would: the loss is noticed, exit 3.
        let _ = admin.execute("SELECT pg_terminate_backend($1)", &[&pid]);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let lost = held.still_held();
        drop(held);
        admin.batch_execute(&format!("DROP ROLE {role}")).unwrap();
        assert!(alive.is_ok(), "the lock's session was ended: {alive:?}");
        let err = lost.unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("lock on DB_DATA"), "{err}");
    }
}
