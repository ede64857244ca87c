//! SOURCE's binlog after a position as committed transactions: one connection that asks for the
//! binlog like a replica (a server_id of its own, derived from the run), read on a thread so
//! that `next` can wait for at most its `wait`; row events of the followed tables decoded with
//! SOURCE's catalog; any statement that could change a followed table's shape or rows outside
//! row events stops the stream.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use mysql::binlog::events::{Event, EventData, RowsEventData};
use mysql::binlog::row::BinlogRow;
use mysql::prelude::Queryable;
use mysql::{BinlogRequest, BinlogStream};

use super::super::{connect_error, readable, sql_error, MysqlBackend, DIALECT};
use super::values::{convert, ColumnInfo};
use super::BinlogPos;
use crate::backend::follow::{
    follow_place, ChangeStream, RowChange, SourceTransaction, StreamPosition, StreamRow,
};
use crate::backend::Dialect;
use crate::error::{Error, Result};
use crate::url::redact;

const COLUMNS_SQL: &str = include_str!("columns.sql");

/// Heartbeats from SOURCE while it has nothing to send (nanoseconds): the reading thread wakes
/// at least this often and notices that its stream was dropped.
const HEARTBEAT_SQL: &str = "SET @master_heartbeat_period = 1000000000";

/// How long the binlog connection may stay silent, heartbeats included, before it counts as lost.
const SILENCE: Duration = Duration::from_secs(30);

const SERVER_ID_SQL: &str = "SELECT @@server_id";

/// Committed transactions decoded ahead of `next`.
const AHEAD: usize = 1024;

/// Where "start again" is said once.
const START_AGAIN: &str = "The live cutover follows a fixed schema: let the schema change finish, then start the live cutover again (`rekey clean`, then `rekey run --follow`), or hold schema changes until after the cutover.";

pub(super) struct BinlogChangeStream {
    rx: Receiver<Result<SourceTransaction>>,
    /// An error that came after transactions `next` already returned: the next call gives it.
    failed: Option<Error>,
    stop: Arc<AtomicBool>,
}

impl BinlogChangeStream {
    pub(super) fn open(
        backend: &MysqlBackend,
        from: &BinlogPos,
        run_id: &str,
        tables: &[String],
    ) -> Result<BinlogChangeStream> {
        // SOURCE sends a heartbeat every second while it has nothing: a connection silent for
        // much longer is dead (a network cut leaves no FIN), and the read fails instead of
        // waiting for ever.
        let opts = backend.opts(false, &[]).read_timeout(Some(SILENCE));
        let mut conn = mysql::Conn::new(opts)
            .map_err(|e| connect_error(&backend.url, &e, 0).at(&follow_place(None)))?;
        let sql = COLUMNS_SQL.replace("{schema}", &backend.schema_literal());
        let rows: Vec<(String, String, String, String, String)> = conn
            .query(&sql)
            .map_err(|e| sql_error(e, &sql).at(&follow_place(None)))?;
        let mut columns: HashMap<String, Vec<ColumnInfo>> = HashMap::new();
        for (table, name, data_type, column_type, extra) in rows {
            if tables.contains(&table) {
                columns.entry(table).or_default().push(ColumnInfo::new(
                    &name,
                    &data_type,
                    &column_type,
                    &extra,
                ));
            }
        }
        if let Some(missing) = tables.iter().find(|t| !columns.contains_key(*t)) {
            return Err(Error::env(
                follow_place(Some(missing)),
                format!(
                    "table {missing} is not in SOURCE's database {} any more.",
                    backend.url.database
                ),
                START_AGAIN,
            ));
        }
        conn.query_drop(HEARTBEAT_SQL)
            .map_err(|e| sql_error(e, HEARTBEAT_SQL).at(&follow_place(None)))?;
        // A replica with SOURCE's own server_id would be refused.
        let own: Option<u32> = conn
            .query_first(SERVER_ID_SQL)
            .map_err(|e| sql_error(e, SERVER_ID_SQL).at(&follow_place(None)))?;
        let mut id = server_id(run_id);
        if own == Some(id) {
            id += 1;
        }
        let request = BinlogRequest::new(id)
            .with_filename(from.file.as_bytes().to_vec())
            .with_pos(from.offset);
        let stream = conn
            .get_binlog_stream(request)
            .map_err(|e| stream_error(&e, from))?;
        let mut assembler = Assembler {
            source_db: backend.url.database.clone(),
            followed: tables.iter().cloned().collect(),
            columns,
            file: from.file.clone(),
            changes: Vec::new(),
            open: false,
            seen_fde: false,
        };
        let (tx, rx) = sync_channel(AHEAD);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let from = from.clone();
        thread::Builder::new()
            .name("rekey-binlog".into())
            .spawn(move || {
                let mut stream = stream;
                while !stopped.load(Ordering::Relaxed) {
                    let step = match stream.next() {
                        None => Err(Error::env(
                            follow_place(None),
                            "SOURCE ended the binlog stream (the server shut down or killed the connection).",
                            "When SOURCE is up again, run again with --resume: the stream goes on from the last applied transaction.",
                        )),
                        Some(Err(e)) => Err(stream_error(&e, &from)),
                        Some(Ok(event)) => assembler.event(&event, &stream),
                    };
                    let done = step.is_err();
                    match step {
                        Ok(None) => continue,
                        Ok(Some(t)) => {
                            if tx.send(Ok(t)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                    if done {
                        return;
                    }
                }
            })
            .map_err(|e| {
                Error::env(
                    follow_place(None),
                    format!("could not start the binlog reader: {e}."),
                    "Check the machine's limits on threads, then run again with --resume.",
                )
            })?;
        Ok(BinlogChangeStream {
            rx,
            failed: None,
            stop,
        })
    }
}

impl ChangeStream for BinlogChangeStream {
    fn next(&mut self, max: usize, wait: Duration) -> Result<Vec<SourceTransaction>> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let mut out = Vec::new();
        match self.rx.recv_timeout(wait) {
            Ok(Ok(t)) => out.push(t),
            Ok(Err(e)) => return Err(e),
            Err(RecvTimeoutError::Timeout) => return Ok(out),
            Err(RecvTimeoutError::Disconnected) => return Err(ended()),
        }
        while out.len() < max.max(1) {
            match self.rx.try_recv() {
                Ok(Ok(t)) => out.push(t),
                Ok(Err(e)) => {
                    self.failed = Some(e);
                    break;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.failed = Some(ended());
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The binlog is SOURCE's and expires on its own schedule: nothing to free.
    fn confirm(&mut self, _position: &StreamPosition) -> Result<()> {
        Ok(())
    }
}

impl Drop for BinlogChangeStream {
    fn drop(&mut self) {
        // The thread sees it at the next event or heartbeat, and closes the connection.
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn ended() -> Error {
    Error::env(
        follow_place(None),
        "the binlog reader stopped.",
        "Run again with --resume: the stream goes on from the last applied transaction.",
    )
}

/// A replica's server_id for this run: the same run gets the same one (a reconnect replaces its
/// old connection on SOURCE), and the range keeps clear of the small ids servers use.
pub(super) fn server_id(run_id: &str) -> u32 {
    let h = xxhash_rust::xxh3::xxh3_64(run_id.as_bytes());
    0x5000_0000 + (h % 0x2000_0000) as u32
}

fn stream_error(e: &mysql::Error, from: &BinlogPos) -> Error {
    let message = redact(&format!(
        "reading SOURCE's binlog from {}:{} failed: {}.",
        from.file,
        from.offset,
        readable(e)
    ));
    match e {
        // ER_MASTER_FATAL_ERROR_READING_BINLOG: purged, or a position that is not an event's.
        mysql::Error::MySqlError(me) if me.code == 1236 => Error::env(
            follow_place(None),
            message,
            "SOURCE no longer has that part of its binlog (purged: see binlog_expire_logs_seconds) or the position is not an event's. Start the live cutover again, with the binlog kept longer than the run takes.",
        ),
        mysql::Error::MySqlError(me) if matches!(me.code, 1227 | 1045 | 1044) => Error::env(
            follow_place(None),
            message,
            "The account needs REPLICATION SLAVE (and BINLOG MONITOR) on *.*: `rekey check --follow` prints the GRANT.",
        ),
        _ => Error::env(
            follow_place(None),
            message,
            "Check SOURCE and the network, then run again with --resume: the stream goes on from the last applied transaction.",
        ),
    }
}

/// Turns events into committed transactions.
struct Assembler {
    source_db: String,
    followed: HashSet<String>,
    columns: HashMap<String, Vec<ColumnInfo>>,
    /// The binlog file the events come from (Rotate events say).
    file: String,
    /// The open transaction's changes on followed tables.
    changes: Vec<RowChange>,
    /// Between a BEGIN and its commit.
    open: bool,
    /// Whether the stream's Format_description came: before it the reader does not know that
    /// events end in a checksum, and leaves it on the first (fake) Rotate's file name.
    seen_fde: bool,
}

/// The file a Rotate event names. The fake one that opens the stream comes before the
/// Format_description, so its name may end in the event's 4 checksum bytes: it names the file
/// asked for.
fn rotated_to(raw: &[u8], current: &str, seen_fde: bool) -> String {
    if !seen_fde {
        if raw == current.as_bytes()
            || raw.len() == current.len() + 4 && raw.starts_with(current.as_bytes())
        {
            return current.to_string();
        }
        let printable = |b: &[u8]| b.iter().all(|c| c.is_ascii_graphic());
        if raw.len() > 4 && !printable(raw) && printable(&raw[..raw.len() - 4]) {
            return String::from_utf8_lossy(&raw[..raw.len() - 4]).into_owned();
        }
    }
    String::from_utf8_lossy(raw).into_owned()
}

/// MySQL 8's compressed transaction (binlog_transaction_compression).
const TRANSACTION_PAYLOAD_EVENT: u8 = 40;

/// An incident: the server says the binlog misses changes.
const INCIDENT_EVENT: u8 = 26;

/// MariaDB's Binlog_checkpoint and Gtid_list events, written at the head of each binlog file.
const BOUNDARY_EVENTS: [u8; 2] = [161, 163];

/// XA_PREPARE_LOG_EVENT: the end of an XA transaction's first phase.
const XA_PREPARE_EVENT: u8 = 38;

/// MariaDB's compressed events (log_bin_compress), which the decoder cannot read.
const COMPRESSED_EVENTS: std::ops::RangeInclusive<u8> = 165..=171;

impl Assembler {
    fn event(&mut self, event: &Event, stream: &BinlogStream) -> Result<Option<SourceTransaction>> {
        let header = event.header();
        if COMPRESSED_EVENTS.contains(&header.event_type_raw()) {
            return Err(Error::env(
                follow_place(None),
                "SOURCE writes compressed binlog events (log_bin_compress = ON), which rekey cannot read.",
                "SET GLOBAL log_bin_compress = OFF (and in the option file), then start the live cutover again.",
            ));
        }
        if header.event_type_raw() == TRANSACTION_PAYLOAD_EVENT {
            return Err(Error::env(
                follow_place(None),
                "SOURCE writes compressed transactions (binlog_transaction_compression = ON), which rekey cannot read.",
                "SET GLOBAL binlog_transaction_compression = OFF (and in the option file), reconnect the application, then start the live cutover again.",
            ));
        }
        if header.event_type_raw() == INCIDENT_EVENT {
            return Err(Error::env(
                follow_place(None),
                "SOURCE's binlog holds an incident event: changes may be missing from it from here on.",
                "The binlog cannot be trusted past this point: start the live cutover again from a new snapshot.",
            ));
        }
        if header.event_type_raw() == XA_PREPARE_EVENT {
            // The prepared branch commits (or not) in a later group, `XA COMMIT 'xid'`: its
            // changes would have to wait for it. Not followed: say so rather than lose them.
            if !self.changes.is_empty() {
                return Err(Error::env(
                    follow_place(self.changes.first().map(RowChange::table)),
                    "an XA transaction changed a followed table: rekey does not follow XA (two-phase) transactions.",
                    "Let the application's XA transactions on SOURCE's database wait until after the cutover, then start the live cutover again.",
                ));
            }
            return Ok(None);
        }
        let data = event.read_data().map_err(|e| decode_error(None, &e))?;
        let commit = |this: &mut Assembler| {
            this.open = false;
            Some(SourceTransaction {
                changes: std::mem::take(&mut this.changes),
                end: BinlogPos {
                    file: this.file.clone(),
                    offset: u64::from(header.log_pos()),
                    gtid: None,
                }
                .to_position(),
                committed_at: Some(i64::from(header.timestamp())),
            })
        };
        Ok(match data {
            Some(EventData::RotateEvent(r)) => {
                self.file = rotated_to(r.name_raw(), &self.file, self.seen_fde);
                None
            }
            Some(EventData::FormatDescriptionEvent(_)) => {
                self.seen_fde = true;
                self.boundary(&header)
            }
            Some(EventData::XidEvent(_)) => commit(self),
            Some(EventData::QueryEvent(q)) => {
                let query = q.query();
                match classify(&query) {
                    Kind::Begin => {
                        if !self.changes.is_empty() {
                            return Err(Error::env(
                                follow_place(self.changes.first().map(RowChange::table)),
                                "a transaction in SOURCE's binlog ends without a commit, and another begins.",
                                "The binlog may be damaged (a crash of SOURCE mid-write): start the live cutover again from a new snapshot.",
                            ));
                        }
                        self.open = true;
                        None
                    }
                    Kind::Commit => commit(self),
                    Kind::Skip => None,
                    Kind::Statement => {
                        self.check_statement(&q.schema(), &query)?;
                        // Outside a transaction a statement on other databases commits on its
                        // own (DDL does); inside one, its COMMIT or Xid does.
                        if self.open {
                            None
                        } else {
                            commit(self)
                        }
                    }
                }
            }
            Some(EventData::RowsEvent(rows)) => {
                self.rows(&rows, stream)?;
                None
            }
            // A new binlog file's header events: the position moves past them between
            // transactions, and SHOW MASTER STATUS after a rotation points there.
            _ if BOUNDARY_EVENTS.contains(&header.event_type_raw()) => self.boundary(&header),
            _ => None,
        })
    }

    /// An empty transaction ending after a header event outside any transaction, so that the
    /// position read follows SOURCE's head across a rotation (the cutover waits for it).
    fn boundary(
        &self,
        header: &mysql::binlog::events::BinlogEventHeader,
    ) -> Option<SourceTransaction> {
        (!self.open && self.changes.is_empty() && self.seen_fde && header.log_pos() > 0).then(
            || SourceTransaction {
                changes: Vec::new(),
                end: BinlogPos {
                    file: self.file.clone(),
                    offset: u64::from(header.log_pos()),
                    gtid: None,
                }
                .to_position(),
                committed_at: None,
            },
        )
    }

    fn rows(&mut self, rows: &RowsEventData<'_>, stream: &BinlogStream) -> Result<()> {
        let Some(tme) = stream.get_tme(rows.table_id()) else {
            return Err(Error::env(
                follow_place(None),
                "a row event came without its table map.",
                "Run again with --resume; if it comes back, start the live cutover again.",
            ));
        };
        if tme.database_name() != self.source_db.as_str() {
            return Ok(());
        }
        let table = tme.table_name().into_owned();
        if !self.followed.contains(&table) {
            return Ok(());
        }
        let Some(columns) = self.columns.get(&table) else {
            return Ok(());
        };
        if tme.columns_count() as usize != columns.len() {
            return Err(Error::env(
                follow_place(Some(&table)),
                format!(
                    "the binlog's rows of {table} have {} columns where SOURCE's catalog has {}: the table changed shape after the snapshot.",
                    tme.columns_count(),
                    columns.len()
                ),
                START_AGAIN,
            ));
        }
        let before_cols: Option<Vec<usize>> =
            rows.columns_before_image().map(|b| b.iter_ones().collect());
        let after_cols: Option<Vec<usize>> =
            rows.columns_after_image().map(|b| b.iter_ones().collect());
        for row in rows.rows(tme) {
            let (before, after) = row.map_err(|e| decode_error(Some(&table), &e))?;
            let image = |row: Option<BinlogRow>, present: &Option<Vec<usize>>| match (row, present)
            {
                (Some(r), Some(p)) => stream_row(&table, &r, p, columns).map(Some),
                _ => Ok(None),
            };
            let before = image(before, &before_cols)?;
            let after = image(after, &after_cols)?;
            let table = table.clone();
            self.changes.push(match (before, after) {
                (None, Some(after)) => RowChange::Insert { table, after },
                (Some(before), Some(after)) => RowChange::Update {
                    table,
                    before,
                    after,
                },
                (Some(before), None) => RowChange::Delete { table, before },
                (None, None) => continue,
            });
        }
        Ok(())
    }

    /// A statement in the binlog (not a row event): DDL, TRUNCATE, or a write logged as a
    /// statement. On SOURCE's database, or naming it or a followed table, it stops the stream.
    fn check_statement(&self, schema: &str, query: &str) -> Result<()> {
        let names_db = mentions(query, &self.source_db);
        let table = self
            .followed
            .iter()
            .filter(|t| mentions(query, t))
            .min()
            .cloned();
        // Another database's statement may name a table like ours (its own table of that
        // name); without a default database there is no telling, so it stops the stream too.
        let ours = schema == self.source_db || names_db || schema.is_empty() && table.is_some();
        if !ours {
            return Ok(());
        }
        let short: String = query.chars().take(200).collect();
        let write = matches!(
            first_word(query).as_str(),
            "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "LOAD"
        );
        let what = match &table {
            Some(t) => format!("table {t}"),
            None => format!("database {}", self.source_db),
        };
        Err(if write {
            Error::env(
                follow_place(table.as_deref()),
                format!("SOURCE logged `{short}` on {what} as a statement, not as row events: its rows cannot be followed."),
                "Every session that writes SOURCE must log rows: SET GLOBAL binlog_format = 'ROW', reconnect the application, then start the live cutover again.",
            )
        } else {
            Error::env(
                follow_place(table.as_deref()),
                format!("SOURCE ran `{short}` on {what} after the snapshot."),
                START_AGAIN,
            )
        })
    }
}

fn stream_row(
    table: &str,
    row: &BinlogRow,
    present: &[usize],
    columns: &[ColumnInfo],
) -> Result<StreamRow> {
    let mut out = Vec::with_capacity(present.len());
    for (k, &i) in present.iter().enumerate() {
        let Some(col) = columns.get(i) else { continue };
        if col.generated {
            continue;
        }
        let Some(value) = row.as_ref(k) else { continue };
        let value = convert(value, col).map_err(|why| {
            Error::env(
                follow_place(Some(table)).column(&col.name),
                format!(
                    "a binlog value of {table}.{} cannot be followed: {why}.",
                    col.name
                ),
                "Fix the setting named, then start the live cutover again.",
            )
        })?;
        out.push((col.name.clone(), value));
    }
    Ok(out)
}

fn decode_error(table: Option<&str>, e: &std::io::Error) -> Error {
    Error::env(
        follow_place(table),
        format!("a binlog event could not be decoded: {e}."),
        "Check that SOURCE logs binlog_format = ROW with binlog_row_image = FULL (`rekey check --follow`), then start the live cutover again.",
    )
}

#[derive(Debug, PartialEq)]
enum Kind {
    Begin,
    Commit,
    /// Savepoints, MariaDB's placeholders for events an old replica cannot read (`# Dummy
    /// event ...`), and statements that change no table: users, grants, statistics.
    Skip,
    Statement,
}

fn classify(query: &str) -> Kind {
    let text = strip_comments(query);
    if text.is_empty() || query.trim_start().starts_with('#') {
        return Kind::Skip;
    }
    let words: Vec<String> = text
        .split_whitespace()
        .take(3)
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    if (w(0), w(1)) == ("SET", "STATEMENT") {
        // MariaDB's `SET STATEMENT var = value [, ...] FOR statement`: the statement decides.
        let upper = text.to_ascii_uppercase();
        return match upper.find(" FOR ") {
            Some(at) => classify(&text[at + 5..]),
            None => Kind::Statement,
        };
    }
    match (w(0), w(1)) {
        ("BEGIN", _) | ("START", "TRANSACTION") | ("XA", "START") | ("XA", "BEGIN") => Kind::Begin,
        ("COMMIT", _) | ("XA", "COMMIT") => Kind::Commit,
        // A ROLLBACK in the binlog means changes to non-transactional tables stayed.
        ("ROLLBACK", "TO") => Kind::Skip,
        ("ROLLBACK", _) => Kind::Commit,
        ("SAVEPOINT", _) | ("RELEASE", _) | ("XA", _) => Kind::Skip,
        ("ANALYZE" | "OPTIMIZE" | "REPAIR" | "CHECK" | "FLUSH" | "GRANT" | "REVOKE" | "SET", _) => {
            Kind::Skip
        }
        ("CREATE" | "DROP" | "ALTER" | "RENAME", "USER" | "ROLE") => Kind::Skip,
        ("DROP" | "CREATE", "TEMPORARY") => Kind::Skip,
        ("CREATE" | "DROP", "OR") if w(2) == "REPLACE" => Kind::Statement,
        _ => Kind::Statement,
    }
}

/// The statement without leading comments (`/* */`, `-- `, `#`) and versioned-comment openers.
fn strip_comments(query: &str) -> String {
    let mut s = query.trim_start();
    loop {
        if let Some(rest) = s.strip_prefix("/*") {
            if rest.starts_with('!') || rest.starts_with("M!") {
                // An executable comment: its content is the statement.
                let body = rest.trim_start_matches("M!").trim_start_matches('!');
                let body = body.trim_start_matches(|c: char| c.is_ascii_digit());
                return body.trim_end().trim_end_matches("*/").trim().to_string();
            }
            match rest.find("*/") {
                Some(end) => s = rest[end + 2..].trim_start(),
                None => return String::new(),
            }
        } else if s.starts_with("-- ") || s.starts_with('#') {
            match s.find('\n') {
                Some(end) => s = s[end + 1..].trim_start(),
                None => return String::new(),
            }
        } else {
            return s.to_string();
        }
    }
}

fn first_word(query: &str) -> String {
    strip_comments(query)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// Whether `query` names `name` as an identifier: quoted, or as a whole word (case aside).
fn mentions(query: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    if query.contains(&DIALECT.q(name)) {
        return true;
    }
    let q = query.to_lowercase();
    let n = name.to_lowercase();
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let mut from = 0;
    while let Some(at) = q[from..].find(&n) {
        let start = from + at;
        let end = start + n.len();
        let before = q[..start].chars().next_back();
        let after = q[end..].chars().next();
        if !before.is_some_and(ident) && !after.is_some_and(ident) {
            return true;
        }
        from = end;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assembler() -> Assembler {
        Assembler {
            source_db: "shop".into(),
            followed: ["orders".to_string(), "user".to_string()].into(),
            columns: HashMap::new(),
            file: "binlog.000001".into(),
            changes: Vec::new(),
            open: false,
            seen_fde: true,
        }
    }

    #[test]
    fn statements_are_told_apart() {
        assert_eq!(classify("BEGIN"), Kind::Begin);
        assert_eq!(classify("COMMIT"), Kind::Commit);
        assert_eq!(classify("ROLLBACK"), Kind::Commit);
        assert_eq!(classify("ROLLBACK TO SAVEPOINT a"), Kind::Skip);
        assert_eq!(classify("SAVEPOINT `a`"), Kind::Skip);
        assert_eq!(
            classify("# Dummy event replacing event type 160 that slave cannot handle."),
            Kind::Skip
        );
        assert_eq!(classify("GRANT SELECT ON shop.* TO 'a'@'%'"), Kind::Skip);
        assert_eq!(classify("CREATE USER 'a'@'%'"), Kind::Skip);
        assert_eq!(classify("DROP TEMPORARY TABLE IF EXISTS `t`"), Kind::Skip);
        assert_eq!(classify("ALTER TABLE orders ADD x INT"), Kind::Statement);
        assert_eq!(classify("/* app */ TRUNCATE TABLE orders"), Kind::Statement);
        assert_eq!(
            classify("/*!40000 ALTER TABLE `orders` DISABLE KEYS */"),
            Kind::Statement
        );
        assert_eq!(classify("TRUNCATE `orders`"), Kind::Statement);
        assert_eq!(
            classify("SET STATEMENT max_statement_time = 5 FOR ALTER TABLE orders FORCE"),
            Kind::Statement
        );
        assert_eq!(
            classify("SET PASSWORD FOR 'a'@'%' = PASSWORD('x')"),
            Kind::Skip
        );
    }

    #[test]
    fn ddl_on_source_or_naming_a_followed_table_stops_the_stream() {
        let a = assembler();
        let e = a
            .check_statement("shop", "ALTER TABLE `orders` ADD COLUMN x INT")
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("ALTER TABLE `orders`"), "{text}");
        assert!(text.contains("table orders"), "{text}");
        assert!(text.contains("start the live cutover again"), "{text}");
        assert_eq!(e.exit_code(), 3);
        assert!(a.check_statement("other", "TRUNCATE shop.orders").is_err());
        assert!(a.check_statement("", "DROP TABLE `shop`.`user`").is_err());
        assert!(a
            .check_statement("shop", "CREATE TABLE extra (id INT)")
            .is_err());
        // Another database's own tables, even of the same name, are not SOURCE's.
        assert!(a
            .check_statement("other", "ALTER TABLE orders ADD x INT")
            .is_ok());
        assert!(a
            .check_statement("other", "CREATE TABLE users (id INT)")
            .is_ok());
        let e = a
            .check_statement("shop", "INSERT INTO orders VALUES (1)")
            .unwrap_err()
            .to_string();
        assert!(e.contains("binlog_format = 'ROW'"), "{e}");
    }

    #[test]
    fn names_are_found_as_whole_identifiers() {
        assert!(mentions("ALTER TABLE `user` ADD x INT", "user"));
        assert!(mentions("alter table USER add x int", "user"));
        assert!(!mentions("ALTER TABLE users ADD x INT", "user"));
        assert!(!mentions("ALTER TABLE my_user ADD x INT", "user"));
        assert!(mentions("rename table a to shop.b", "shop"));
    }

    #[test]
    fn the_opening_rotate_loses_its_checksum_bytes() {
        let cur = "binlog.000001";
        assert_eq!(rotated_to(b"binlog.000001$h\x91\x07", cur, false), cur);
        assert_eq!(rotated_to(b"binlog.000001", cur, false), cur);
        assert_eq!(
            rotated_to(b"binlog.000002\x01\x02\x03\x04", cur, false),
            "binlog.000002"
        );
        assert_eq!(rotated_to(b"binlog.000002", cur, true), "binlog.000002");
    }

    #[test]
    fn run_ids_give_stable_replica_ids_clear_of_small_ones() {
        assert_eq!(server_id("run-1"), server_id("run-1"));
        assert_ne!(server_id("run-1"), server_id("run-2"));
        assert!(server_id("x") >= 0x5000_0000);
    }
}
