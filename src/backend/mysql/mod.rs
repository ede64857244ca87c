//! The MariaDB/MySQL backend: the connection and its errors. Catalog from INFORMATION_SCHEMA
//! (`catalog.rs`), statements (`ddl.rs`), swap's fill and the bulk load through INSERT ... SELECT,
//! SELECT ... INTO OUTFILE / LOAD DATA INFILE or LOAD DATA LOCAL INFILE streamed from DB_DATA
//! (`load.rs`), accounts and databases (`admin.rs`), and the dialect (`dialect.rs`). Which
//! server it talks to (MariaDB, MySQL 8, a Galera node) is read once, on the first connection
//! (`facts`), and picks the dialect; writes on Galera go in chunks under the cluster's write-set
//! limits (`chunks.rs`).

mod admin;
mod catalog;
mod change_stream;
mod chunks;
mod ddl;
mod dialect;
mod follow;
mod load;
mod lock;
mod pool;
mod session;
#[cfg(test)]
mod tests_mysql8;
mod transfer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};

pub use dialect::{Family, MysqlDialect};
pub use session::{write_load_data_row, MysqlSession};

use super::{Dialect, Session, Value};
use crate::error::{Error, Place, Result};
use crate::url::{redact, DbUrl};

use dialect::DIALECT;
use pool::{Pooled, IDLE};

const FACTS_SQL: &str = include_str!("facts.sql");

/// What the server is, read once per backend on its first connection: it picks the dialect.
#[derive(Debug, Clone)]
pub(super) struct Facts {
    pub dialect: MysqlDialect,
    /// `SELECT VERSION()`.
    pub version: String,
    /// The Galera node's name (wsrep_node_name), to say which node holds what.
    pub node: Option<String>,
}

impl Facts {
    /// From `SELECT VERSION()` and the rows of `facts.sql` (name, value).
    pub(super) fn from_server(version: String, variables: &[(String, String)]) -> Facts {
        let var = |name: &str| {
            variables
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let galera = var("wsrep_on").is_some_and(|v| v.eq_ignore_ascii_case("ON"));
        Facts {
            dialect: MysqlDialect::from_server(&version, galera),
            version,
            node: var("wsrep_node_name").filter(|n| galera && !n.is_empty()),
        }
    }
}

/// What writes cost on a Galera cluster, for the report: DDL statements and the seconds they
/// took (each runs in total order, TOI, and stalls writes on every node while it runs), and the
/// write-sets that chunked writes committed.
#[derive(Debug, Default)]
pub(super) struct ClusterClock {
    ddl: AtomicU64,
    ddl_micros: AtomicU64,
    write_sets: AtomicU64,
    largest: AtomicU64,
}

impl ClusterClock {
    fn add_ddl(&self, took: std::time::Duration) {
        self.ddl.fetch_add(1, Ordering::Relaxed);
        self.ddl_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }
    /// One committed chunk of `rows` rows.
    pub(super) fn add_write_set(&self, rows: u64) {
        self.write_sets.fetch_add(1, Ordering::Relaxed);
        self.largest.fetch_max(rows, Ordering::Relaxed);
    }
    /// What was counted since the last call (then reset), as a line of the report.
    fn take_note(&self) -> Option<String> {
        let ddl = self.ddl.swap(0, Ordering::Relaxed);
        let secs = self.ddl_micros.swap(0, Ordering::Relaxed) as f64 / 1e6;
        let sets = self.write_sets.swap(0, Ordering::Relaxed);
        let largest = self.largest.swap(0, Ordering::Relaxed);
        let mut parts = Vec::new();
        if sets > 0 {
            parts.push(format!(
                "{sets} chunked write-{} of at most {largest} rows",
                if sets == 1 { "set" } else { "sets" }
            ));
        }
        if ddl > 0 {
            parts.push(format!(
                "{ddl} DDL {}, {secs:.2} s of TOI",
                if ddl == 1 { "statement" } else { "statements" }
            ));
        }
        (!parts.is_empty()).then(|| format!("Galera: {}", parts.join(", ")))
    }
}

pub struct MysqlBackend {
    url: DbUrl,
    facts: OnceLock<Facts>,
    clock: Arc<ClusterClock>,
}

impl MysqlBackend {
    pub fn new(url: DbUrl) -> Self {
        MysqlBackend {
            url,
            facts: OnceLock::new(),
            clock: Arc::default(),
        }
    }

    /// The server's facts, read on the first call (one connection without a database).
    pub(super) fn facts(&self) -> Result<&Facts> {
        if let Some(f) = self.facts.get() {
            return Ok(f);
        }
        let mut conn = self.connect_with(false, &[])?;
        let version: String = conn
            .query_first("SELECT VERSION()")
            .map_err(|e| sql_error(e, "SELECT VERSION()"))?
            .unwrap_or_default();
        // SHOW, not information_schema.GLOBAL_VARIABLES (gone in MySQL 8) nor
        // performance_schema.global_variables (off on MariaDB by default): no row where the
        // variable does not exist.
        let rows: Vec<(String, String)> =
            conn.query(FACTS_SQL).map_err(|e| sql_error(e, FACTS_SQL))?;
        let facts = Facts::from_server(version, &rows);
        Ok(self.facts.get_or_init(|| facts))
    }

    /// This server's dialect; the reference one while the server cannot be reached (the next
    /// connection reports why).
    pub(super) fn flavour(&self) -> &MysqlDialect {
        match self.facts() {
            Ok(f) => &f.dialect,
            Err(_) => &DIALECT,
        }
    }

    /// A session of this backend: its dialect's settings, and on Galera the DDL clock and the
    /// write-set limits that insert_rows keeps to.
    pub(super) fn session(&self, with_db: bool) -> Result<MysqlSession> {
        let conn = self.raw_connect(with_db)?;
        let flavour = *self.flavour();
        Ok(MysqlSession::new(conn).on(flavour, self.clock.clone()))
    }

    /// Whether SOURCE (or DB_DATA) at `other` is on this server, so one statement here can read
    /// it: the same host and port, or another name or node of the same server (a Galera
    /// cluster's nodes are one server: same cluster state UUID).
    /// A server that cannot be asked counts as another one: runs ask every database's identity
    /// before any stage, so this only decides for statements printed without a server.
    pub(super) fn reaches(&self, other: &DbUrl) -> Result<bool> {
        if self.url.same_server(other) {
            return Ok(true);
        }
        Ok(match (server_name(&self.url), server_name(other)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        })
    }

    fn opts(&self, with_db: bool, init: &[String]) -> OptsBuilder {
        OptsBuilder::new()
            .ip_or_hostname(Some(self.url.host.clone()))
            .tcp_port(self.url.port)
            .user(self.url.user.clone())
            .pass(self.url.password.clone())
            .db_name(with_db.then(|| self.url.database.clone()))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(std::time::Duration::from_secs(10)))
            // One statement, one round trip: rekey opens about a thousand sessions in a run.
            // Results come back as the bytes stored, whatever the column's character set, so
            // values are compared and streamed without any conversion. TIMESTAMP values travel
            // as text: in UTC no local time is ambiguous. Zero dates copy as they are, and a 0
            // key stays 0 instead of taking an AUTO_INCREMENT value; strict, so a value that
            // does not fit is an error.
            .init(
                std::iter::once(
                    concat!(
                        "SET NAMES utf8mb4",
                        ", SESSION character_set_results = binary",
                        ", SESSION group_concat_max_len = 1048576",
                        ", SESSION time_zone = '+00:00'",
                        ", SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"
                    )
                    .to_string(),
                )
                .chain(init.iter().cloned())
                .collect(),
            )
    }

    /// Connects with the settings of this server's flavour, or reuses an idle connection of this
    /// process that was opened exactly so (`pool.rs`).
    fn raw_connect(&self, with_db: bool) -> Result<Pooled> {
        let init = self.facts()?.dialect.session_init();
        let key = self.pool_key(with_db, &init);
        if let Some(reused) = IDLE.reuse(&key) {
            return Ok(reused);
        }
        Ok(IDLE.adopt(&key, self.connect_with(with_db, &init)?))
    }

    /// The pool's key of a connection: everything that decides who it is and what it sees.
    fn pool_key(&self, with_db: bool, init: &[String]) -> String {
        format!(
            "{}{}\0{}\0{}\0{}",
            self.server_prefix(),
            if with_db {
                self.url.database.as_str()
            } else {
                ""
            },
            self.url.user.as_deref().unwrap_or(""),
            self.url.password.as_deref().unwrap_or(""),
            init.join("\0")
        )
    }

    /// Closes this process's idle connections to the URL's database (before it is dropped).
    pub(super) fn forget_idle(&self) {
        IDLE.forget(&format!("{}{}\0", self.server_prefix(), self.url.database));
    }

    fn server_prefix(&self) -> String {
        format!("{}\0{}\0", self.url.host, self.url.port)
    }

    /// Connects, retrying while the server is unreachable (starting), never on refused credentials.
    fn connect_with(&self, with_db: bool, init: &[String]) -> Result<Conn> {
        let mut attempt = 0;
        loop {
            match Conn::new(self.opts(with_db, init)) {
                Ok(c) => return Ok(c),
                Err(e) if is_unreachable(&e) && attempt < self.url.retries => {
                    attempt += 1;
                    thread::sleep(self.url.retry_delay);
                }
                Err(e) => return Err(connect_error(&self.url, &e, attempt)),
            }
        }
    }

    fn server_session(&self) -> Result<MysqlSession> {
        self.session(false)
    }

    fn schema_literal(&self) -> String {
        DIALECT.lit(&self.url.database)
    }

    fn catalog(&self, session: &mut dyn Session, sql: &str) -> Result<Vec<Vec<Value>>> {
        session.query_all(&sql.replace("{schema}", &self.schema_literal()))
    }
}

/// The name of the server a URL reaches (its `Identity::server`), asked once per host and port.
fn server_name(url: &DbUrl) -> Result<String> {
    static KNOWN: OnceLock<Mutex<HashMap<(String, u16), String>>> = OnceLock::new();
    let key = (url.host.to_ascii_lowercase(), url.port);
    let known = KNOWN.get_or_init(Mutex::default);
    if let Some(name) = known.lock().ok().and_then(|k| k.get(&key).cloned()) {
        return Ok(name);
    }
    let name = super::Admin::identity(&MysqlBackend::new(url.clone()))?.server;
    if let Ok(mut k) = known.lock() {
        k.insert(key, name.clone());
    }
    Ok(name)
}

fn is_unreachable(e: &mysql::Error) -> bool {
    match e {
        // A reset or refused connection, or a half-read handshake: the server is not up yet.
        mysql::Error::IoError(_) | mysql::Error::CodecError(_) => true,
        mysql::Error::DriverError(mysql::DriverError::CouldNotConnect(_)) => true,
        mysql::Error::MySqlError(me) => me.code == 1040 || me.code == 1053, // too many connections, shutdown in progress
        _ => false,
    }
}

/// The driver's error as one readable sentence: the server's own code and message, or what
/// happened to the connection, without the driver's type names around it.
fn readable(e: &mysql::Error) -> String {
    match e {
        mysql::Error::MySqlError(me) => format!("ERROR {} ({}): {}", me.code, me.state, me.message),
        mysql::Error::IoError(io) => format!("the connection failed ({io})"),
        mysql::Error::CodecError(c) => format!("the connection broke off ({c})"),
        mysql::Error::DriverError(d) => d.to_string(),
        mysql::Error::UrlError(u) => u.to_string(),
        other => other.to_string(),
    }
}

fn connect_error(url: &DbUrl, e: &mysql::Error, retries: u32) -> Error {
    let message = redact(&format!("cannot connect to {url}: {}.", readable(e)));
    match e {
        // 1045: wrong password (or user); 1698: MariaDB's answer for an account that does not
        // exist for this host or must log in another way (unix_socket). Never a starting server.
        mysql::Error::MySqlError(me) if me.code == 1045 || me.code == 1698 => Error::Credentials {
            place: Place::default(),
            message,
            hint: format!(
                "The server refused the user name or password of the account `{}`: check the URL's user (a bare name takes DB_USER, else the login name) and that the account exists for this host (SELECT user, host FROM mysql.user), and give the password by DB_PASS, MYSQL_PWD, ~/.my.cnf or --password-file (docs/cutover.md).",
                url.user.as_deref().unwrap_or("")
            ),
        },
        mysql::Error::MySqlError(me) if me.code == 1049 => Error::input(
            Place::default(),
            message,
            "The database does not exist: check its name in the URL.",
        ),
        mysql::Error::MySqlError(me) if me.code == 1044 => Error::env(
            Place::default(),
            message,
            format!(
                "The account may not use this database: GRANT the privileges listed in docs/cutover.md ON `{}`.* to it.",
                url.database
            ),
        ),
        _ if is_unreachable(e) => Error::env(
            Place::default(),
            message,
            format!(
                "Gave up after {retries} {}; check that the server runs and listens at {}:{}, or raise DB_MAX_RETRIES/DB_RETRY_DELAY for a server that is still starting.",
                if retries == 1 { "retry" } else { "retries" },
                url.host, url.port
            ),
        ),
        _ => Error::env(
            Place::default(),
            message,
            "The server refused the connection for the reason it names: fix that (the account, its privileges or the server's settings), then run again.",
        ),
    }
}

fn sql_error(e: mysql::Error, sql: &str) -> Error {
    if let mysql::Error::MySqlError(me) = &e {
        if me.code == 1062 {
            // The data, not the server, is what must change: it is an input problem.
            return Error::input(
                Place::default(),
                redact(&format!("the rows break a unique key: {}.", me.message)),
                "A UNIQUE key of the target does not hold for the data: drop or widen that key in DB_FINAL's schema (or fix the duplicate rows in the snapshot), then run again with --resume.",
            );
        }
    }
    let hint = match &e {
        mysql::Error::MySqlError(me) if matches!(me.code, 1142 | 1143 | 1044 | 1227 | 1045) => {
            "The account lacks a privilege for this statement: GRANT it (docs/cutover.md lists the GRANTs per database), then run again with --resume."
        }
        mysql::Error::MySqlError(me) if session::LOCAL_REFUSED.contains(&me.code) => {
            "LOAD DATA LOCAL is disabled (MySQL 8 ships with local_infile OFF): SET GLOBAL local_infile = 1 on the server, or give the account the FILE privilege so the server-side path is used."
        }
        mysql::Error::MySqlError(me) if me.code == 1419 => {
            "With binary logging (MySQL 8's default, and emulated on every Galera node) an account without SUPER may not create or drop triggers: SET GLOBAL log_bin_trust_function_creators = 1 (on every node of a cluster), then run again with --resume."
        }
        mysql::Error::MySqlError(me) if me.code == 1213 => {
            "A deadlock or a Galera certification failure came back on every retry: another writer is changing the same rows (stop the application's writers for the cutover), then run again with --resume."
        }
        mysql::Error::MySqlError(me) if me.code == 1180 || me.code == 1105 && me.message.contains("writeset") => {
            "The transaction is larger than the cluster's write-set limits (wsrep_max_ws_rows, wsrep_max_ws_size): raise them on every node for the cutover, then run again with --resume."
        }
        mysql::Error::IoError(_) | mysql::Error::DriverError(_) => {
            "The connection was lost: check the server, then run again with --resume."
        }
        _ => "Fix the cause named by the server, then run again with --resume.",
    };
    let short: String = sql.chars().take(300).collect();
    Error::env(
        Place::default(),
        redact(&format!("the server rejected `{short}`: {}.", readable(&e))),
        hint,
    )
}

fn text(v: &Value) -> String {
    v.as_string().unwrap_or_default()
}

fn opt_text(v: &Value) -> Option<String> {
    v.as_string()
}

fn split_statements(sql: &str) -> Vec<String> {
    sql.split(";\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches(';').to_string())
        .collect()
}

/// The test server (REKEY_TEST_MYSQL_URL) with `database` as its URL's database, or None outside
/// a run that requires one.
#[cfg(test)]
fn test_server(database: &str) -> Option<MysqlBackend> {
    let Ok(base) = std::env::var("REKEY_TEST_MYSQL_URL") else {
        assert!(
            std::env::var("REKEY_REQUIRE_MYSQL").is_err(),
            "REKEY_TEST_MYSQL_URL is not set"
        );
        return None;
    };
    let url = crate::url::DbUrl::parse(&format!("{base}/{database}"), &crate::url::ProcessEnv);
    Some(MysqlBackend::new(
        url.expect("REKEY_TEST_MYSQL_URL is a URL"),
    ))
}
