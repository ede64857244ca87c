//! The MariaDB/MySQL backend: the connection and its errors. Catalog from INFORMATION_SCHEMA
//! (`catalog.rs`), statements (`ddl.rs`), swap's fill and the bulk load through INSERT ... SELECT,
//! SELECT ... INTO OUTFILE / LOAD DATA INFILE or LOAD DATA LOCAL INFILE streamed from DB_DATA
//! (`load.rs`), accounts and databases (`admin.rs`), and the dialect (`dialect.rs`).

mod admin;
mod catalog;
mod ddl;
mod dialect;
mod load;
mod session;

use std::thread;

use mysql::{Conn, OptsBuilder};

pub use dialect::MysqlDialect;
pub use session::{write_load_data_row, MysqlSession};

use super::{Dialect, Session, Value};
use crate::error::{Error, Place, Result};
use crate::url::{redact, DbUrl};

use dialect::DIALECT;

pub struct MysqlBackend {
    url: DbUrl,
}

impl MysqlBackend {
    pub fn new(url: DbUrl) -> Self {
        MysqlBackend { url }
    }

    fn opts(&self, with_db: bool) -> OptsBuilder {
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
            .init(vec![concat!(
                "SET NAMES utf8mb4",
                ", SESSION character_set_results = binary",
                ", SESSION group_concat_max_len = 1048576",
                ", SESSION time_zone = '+00:00'",
                ", SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"
            )])
    }

    /// Connects, retrying while the server is unreachable (starting), never on refused credentials.
    fn raw_connect(&self, with_db: bool) -> Result<Conn> {
        let mut attempt = 0;
        loop {
            match Conn::new(self.opts(with_db)) {
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
        Ok(MysqlSession::new(self.raw_connect(false)?))
    }

    fn schema_literal(&self) -> String {
        DIALECT.lit(&self.url.database)
    }

    fn catalog(&self, session: &mut dyn Session, sql: &str) -> Result<Vec<Vec<Value>>> {
        session.query_all(&sql.replace("{schema}", &self.schema_literal()))
    }
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
        mysql::Error::MySqlError(me) if me.code == 1045 => Error::Credentials {
            place: Place::default(),
            message,
            hint: "The server refused the user name or password: check the URL's user, and give the password by DB_PASS, MYSQL_PWD, ~/.my.cnf or --password-file (docs/cutover.md).".into(),
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
        _ => Error::env(
            Place::default(),
            message,
            format!(
                "Gave up after {retries} {}; check that the server runs and listens at {}:{}, or raise DB_MAX_RETRIES/DB_RETRY_DELAY for a server that is still starting.",
                if retries == 1 { "retry" } else { "retries" },
                url.host, url.port
            ),
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
        mysql::Error::MySqlError(me) if me.code == 1148 || me.code == 3948 || me.code == 2068 => {
            "LOAD DATA LOCAL is disabled: SET GLOBAL local_infile = 1 on the server, or give the account the FILE privilege so the server-side path is used."
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
