//! The PostgreSQL backend: the connection (session settings, retries) and its errors. Catalog from
//! pg_catalog (`catalog.rs`, with the PostgreSQL-only facts each table needs to be recreated kept in
//! `Table.create_sql` as a `PgTable`, `extra.rs`), statements (`ddl.rs`), swap's fill and the load by
//! binary COPY streamed between databases (`load.rs`, `copy.rs`), accounts and databases
//! (`admin.rs`), and the dialect (`dialect.rs`). SOURCE is only ever read: every statement rekey
//! sends it is a SELECT or a COPY ... TO.

mod admin;
mod catalog;
mod change_stream;
mod copy;
mod ddl;
mod dialect;
mod extra;
mod follow;
mod load;
mod lock;
mod pool;
mod session;
mod transfer;

use std::thread;
use std::time::Duration;

use postgres::{Config, NoTls};

pub use dialect::PostgresDialect;
pub use session::PostgresSession;

use pool::{PgConn, Pooled, IDLE};

use crate::backend::{Dialect, Session, Value};
use crate::error::{Error, Place, Result};
use crate::url::{redact, DbUrl};

use dialect::DIALECT;

/// The database a server session opens when the URL's database may not exist yet.
const MAINTENANCE_DATABASES: [&str; 2] = ["postgres", "template1"];

pub struct PostgresBackend {
    url: DbUrl,
}

impl PostgresBackend {
    pub fn new(url: DbUrl) -> Self {
        PostgresBackend { url }
    }

    /// The schema rekey works in on this database.
    fn schema(&self) -> &str {
        self.url.schema_or_public()
    }

    fn config(&self, database: &str, application_name: &str) -> Config {
        Config::from(self.async_config(database, application_name))
    }

    /// `config` for tokio-postgres' client, which `Session::scan` drives itself.
    fn async_config(&self, database: &str, application_name: &str) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host(&self.url.host)
            .port(self.url.port)
            .dbname(database)
            .application_name(application_name)
            .connect_timeout(Duration::from_secs(10));
        if let Some(u) = &self.url.user {
            c.user(u);
        } else {
            c.user("postgres");
        }
        if let Some(p) = &self.url.password {
            c.password(p);
        }
        c
    }

    /// The pool's key of a connection to `database`: a reused connection must be one this URL
    /// would have opened, so everything that decides who it is and what it sees is part of it.
    fn pool_key(&self, database: &str, application_name: &str) -> String {
        format!(
            "{}{}\0{}\0{}\0{application_name}",
            self.database_prefix(database),
            self.url.user.as_deref().unwrap_or("postgres"),
            self.url.password.as_deref().unwrap_or(""),
            self.schema(),
        )
    }

    fn database_prefix(&self, database: &str) -> String {
        format!("{}\0{}\0{database}\0", self.url.host, self.url.port)
    }

    /// A client on `database`, retrying while the server is unreachable or starting, never on
    /// refused credentials; every session gets the settings that make values exact and reads
    /// complete (`session_settings`). `run_id` tags the session in pg_stat_activity so that a
    /// resumed run can stop what a killed one left running. An idle connection of this process
    /// with the same key is reused (`pool.rs`).
    fn client(&self, database: &str, run_id: Option<&str>) -> Result<Pooled> {
        let application_name = application_name(run_id);
        // Only the URL's own database: an idle session on a maintenance database would stop
        // other clients' CREATE DATABASE, which copies template1 and needs it to themselves.
        let key = if database == self.url.database {
            self.pool_key(database, &application_name)
        } else {
            String::new()
        };
        let settings = session_settings(self.schema());
        if let Some(reused) = (!key.is_empty()).then(|| IDLE.reuse(&key)).flatten() {
            return Ok(reused);
        }
        let mut client = with_retries(&self.url, database, || {
            self.config(database, &application_name).connect(NoTls)
        })?;
        client
            .batch_execute(&settings)
            .map_err(|e| sql_error(&e, &settings))?;
        let conn = PgConn::new(client, &settings);
        Ok(if key.is_empty() {
            Pooled::single(conn)
        } else {
            IDLE.adopt(&key, conn)
        })
    }

    fn session(&self, run_id: Option<&str>) -> Result<PostgresSession> {
        let database = &self.url.database;
        Ok(PostgresSession::new(self.client(database, run_id)?)
            .scanning(self.own_connection(database, run_id)))
    }

    /// What a large read's connection of its own needs (`session::OwnConnection`): the session
    /// `client` would open, unpooled.
    fn own_connection(&self, database: &str, run_id: Option<&str>) -> session::OwnConnection {
        session::OwnConnection {
            config: self.async_config(database, &application_name(run_id)),
            settings: session_settings(self.schema()),
            url: self.url.clone(),
            database: database.to_string(),
        }
    }

    /// A session on the server: the URL's database, or where it does not exist (yet) one that
    /// always does, for the questions asked before the URL's database exists.
    fn server_session(&self) -> Result<PostgresSession> {
        self.session_on(std::iter::once(self.url.database.as_str()).chain(MAINTENANCE_DATABASES))
    }

    /// A session on a maintenance database, never the URL's: a database cannot be dropped by a
    /// session that has it open.
    fn maintenance_session(&self) -> Result<PostgresSession> {
        self.session_on(MAINTENANCE_DATABASES.into_iter())
    }

    fn session_on<'a>(&self, databases: impl Iterator<Item = &'a str>) -> Result<PostgresSession> {
        let mut last = None;
        for db in databases {
            match self.client(db, None) {
                Ok(c) => return Ok(PostgresSession::new(c)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            Error::env(
                Place::default(),
                format!("cannot connect to {}.", self.url),
                "Check the URL.",
            )
        }))
    }

    /// A catalog query of this backend's schema: `$1` is the schema name.
    fn bind(&self, sql: &str) -> String {
        sql.replace("$1::text", &format!("{}::text", DIALECT.lit(self.schema())))
    }
}

/// Every session: times in UTC, floats printed exactly, UTF-8, row-level security making a read
/// fail instead of silently returning fewer rows, standard strings (no backslash escapes), and the
/// URL's schema first on the search path, so that names the catalog prints unqualified resolve
/// there in every database of the run.
fn session_settings(schema: &str) -> String {
    format!(
        "SET TIME ZONE 'UTC'; SET extra_float_digits = 3; SET client_encoding = 'UTF8'; \
         SET row_security = off; SET standard_conforming_strings = on; \
         SET search_path = {}; SET client_min_messages = warning",
        DIALECT.q(schema)
    )
}

fn is_unreachable(e: &postgres::Error) -> bool {
    match e.code() {
        // cannot_connect_now (starting up, shutting down), too_many_connections
        Some(code) => matches!(code.code(), "57P03" | "53300"),
        None => e.as_db_error().is_none() && !e.is_closed(),
    }
}

/// The driver's error as one readable sentence: the server's severity, code, message, detail and
/// hint, or what happened to the connection, without the driver's type names around it.
pub(crate) fn readable(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
        if let Some(d) = db.detail() {
            s.push_str(&format!(" ({d})"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!(" [server hint: {h}]"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(&format!(": {text}"));
        }
        source = inner.source();
    }
    s
}

/// `connect()` to `database` of `url`, again while the server is unreachable or starting (the
/// URL's retries), never on refused credentials: every connection rekey opens, pooled or its own.
fn with_retries<T>(
    url: &DbUrl,
    database: &str,
    mut connect: impl FnMut() -> std::result::Result<T, postgres::Error>,
) -> Result<T> {
    let mut attempt = 0;
    loop {
        match connect() {
            Ok(c) => return Ok(c),
            Err(e) if is_unreachable(&e) && attempt < url.retries => {
                attempt += 1;
                thread::sleep(url.retry_delay);
            }
            Err(e) => return Err(connect_error(url, database, &e, attempt)),
        }
    }
}

/// How rekey's sessions name themselves in pg_stat_activity: with the run they belong to, so that
/// a resumed run finds and stops what a killed one left running.
fn application_name(run_id: Option<&str>) -> String {
    match run_id {
        Some(id) => format!("rekey:{id}"),
        None => "rekey".to_string(),
    }
}

fn connect_error(url: &DbUrl, database: &str, e: &postgres::Error, retries: u32) -> Error {
    let message = redact(&format!("cannot connect to {url}: {}", readable(e)));
    let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
    let hint = match code.as_str() {
        "28P01" | "28000" => "The server refused the user name or password: check the URL (or DB_USER/DB_PASS, PGPASSWORD, ~/.pgpass) and pg_hba.conf.".to_string(),
        "3D000" => format!("The database {database} does not exist: check its name in the URL."),
        "42501" => format!("The account may not connect to {database}: GRANT CONNECT ON DATABASE {} TO the account.", DIALECT.q(database)),
        _ => format!(
            "Gave up after {retries} retries; check that the server runs and listens at {}:{}, or raise DB_MAX_RETRIES/DB_RETRY_DELAY for a server that is still starting.",
            url.host, url.port
        ),
    };
    let err = Error::env(Place::default(), format!("{message}."), hint);
    if code == "3D000" {
        // A database that does not exist is the user's input, not the environment.
        if let Error::Environment {
            place,
            message,
            hint,
        } = err
        {
            return Error::Input {
                place,
                message,
                hint,
            };
        }
    }
    err
}

/// A statement the server refused, with the statement's start and what to do.
fn sql_error(e: &postgres::Error, sql: &str) -> Error {
    let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
    let short: String = sql.chars().take(300).collect();
    let message = redact(&format!("the server rejected `{short}`: {}.", readable(e)));
    match code.as_str() {
        // unique_violation, exclusion_violation, not_null_violation, check_violation,
        // foreign_key_violation: the data, not the server, must change.
        "23505" | "23P01" | "23502" | "23514" | "23503" => Error::input(
            Place::default(),
            message,
            "A constraint of the target does not hold for the data: fix the rows in the snapshot or the constraint in DB_FINAL's schema, then run again with --resume.",
        ),
        "42501" => Error::env(
            Place::default(),
            message,
            "The account lacks a privilege for this statement: GRANT it (`rekey check` names the GRANTs per database), then run again with --resume.",
        ),
        _ if code.is_empty() => Error::env(
            Place::default(),
            message,
            "The connection was lost: check the server, then run again with --resume.",
        ),
        _ => Error::env(
            Place::default(),
            message,
            "Fix the cause named by the server, then run again with --resume.",
        ),
    }
}

fn text(v: &Value) -> String {
    v.as_string().unwrap_or_default()
}

/// One catalog query's rows, each as the JSON object `row_to_json` makes of it, decoded into `T`:
/// arrays, booleans and numbers arrive typed, whatever the binary protocol would have sent.
fn catalog_rows<T: serde::de::DeserializeOwned>(
    session: &mut dyn Session,
    sql: &str,
) -> Result<Vec<T>> {
    let wrapped = format!("SELECT row_to_json(q)::text FROM (\n{sql}\n) q");
    let mut out = Vec::new();
    session.query(&wrapped, &mut |row| {
        let json = row.first().map(text).unwrap_or_default();
        let value = serde_json::from_str(&json).map_err(|e| {
            Error::env(
                Place::default(),
                format!("a catalog row could not be read ({e}): {json}."),
                "Report this as a bug, with the server's version.",
            )
        })?;
        out.push(value);
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests;
