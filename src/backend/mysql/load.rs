//! Moving rows on MariaDB/MySQL: swap's fill as one INSERT ... SELECT from SOURCE on the same
//! server, and the load into DB_FINAL by INSERT ... SELECT (same server), server-side OUTFILE /
//! INFILE, or LOAD DATA LOCAL streamed from DB_DATA.

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mysql::LocalInfileHandler;

use super::session::{check_warnings, write_load_data_row, LOAD_FORMAT};
use super::{MysqlBackend, MysqlSession, DIALECT};
use crate::backend::{
    Arrival, Backend, Dialect, FillJob, Load, LoadChoice, LoadJob, LoadPath, Moved, Session,
};
use crate::error::{Error, Place, Result};
use crate::model::Column;
use crate::url::DbUrl;

impl Load for MysqlBackend {
    fn fill_table(&self, source: &dyn Backend, job: &FillJob<'_>) -> Result<u64> {
        // Only a session on SOURCE's own server can read it.
        self.source_table(source.url(), &job.table.name)?;
        let mut statements = self.fill_table_sql(source.url(), job)?.into_iter();
        let fill = statements.next_back().unwrap_or_default();
        let mut s = MysqlSession::new(self.raw_connect(true)?);
        for sql in statements {
            s.execute(&sql)?;
        }
        // A table half-filled by an interrupted run is filled again from empty.
        let table = DIALECT.q(&job.table.name);
        let session: &mut dyn Session = &mut s;
        if session.has_rows(&table)? {
            session.execute(&DIALECT.empty_table_sql(&table))?;
        }
        session.execute(&format!("{}{fill}", job.marker))
    }

    fn fill_table_sql(&self, source: &DbUrl, job: &FillJob<'_>) -> Result<Vec<String>> {
        // Unconstrain left DB_DATA's tables without any index: every row is an append.
        let mut out = DIALECT.bulk_session(Arrival::InKeyOrder);
        out.push(job.insert_select_sql(&DIALECT, &DIALECT.q(&source.database))?);
        Ok(out)
    }

    fn load_path(
        &self,
        session: &mut dyn Session,
        data: &DbUrl,
        choice: LoadChoice,
    ) -> Result<LoadPath> {
        let info = self.server_facts(session)?;
        let same = data.same_server(&self.url);
        let account = self
            .account(session)?
            .unwrap_or_else(|| "the migration account".into());
        // Measured (docs/performance.md): INSERT ... SELECT on one server is the fastest, then
        // server-side files, then streaming through rekey.
        let direct = same.then_some(LoadPath::Direct);
        // The export file is written by the server and removed by rekey: both must see it.
        let files = info
            .outfile_dir
            .clone()
            .filter(|_| same && self.url.is_local_host() && info.has_file_privilege)
            .map(LoadPath::ServerFiles);
        let stream = info.local_infile.then_some(LoadPath::ClientStream);
        let unavailable = |why: String| Ok(LoadPath::Unavailable(why));
        match choice {
            LoadChoice::Auto => match direct.or(files).or(stream) {
                Some(p) => Ok(p),
                None => unavailable("DB_DATA is on another server and this one has local_infile OFF: SET GLOBAL local_infile = 1; (or put DB_DATA on the server of DB_FINAL)".to_string()),
            },
            LoadChoice::Direct => direct.map(Ok).unwrap_or_else(|| {
                unavailable("--load-path direct needs DB_DATA and DB_FINAL on one server".into())
            }),
            LoadChoice::Files => files.map(Ok).unwrap_or_else(|| {
                unavailable(format!(
                    "--load-path files needs DB_DATA and DB_FINAL on one server on this machine, secure_file_priv allowing exports, and GRANT FILE ON *.* TO {account};"
                ))
            }),
            LoadChoice::Stream => stream.map(Ok).unwrap_or_else(|| {
                unavailable("--load-path stream needs local_infile: SET GLOBAL local_infile = 1;".into())
            }),
        }
    }

    fn load_table(&self, data: &dyn Backend, job: &LoadJob<'_>) -> Result<Moved> {
        let mut fin = MysqlSession::new(self.raw_connect(true)?);
        for s in DIALECT.bulk_session(job.arrival) {
            fin.execute(&s)?;
        }
        if !job.unique_keys.is_empty() {
            // InnoDB's bulk path without unique checks reports every row of a statement that
            // hits a duplicate as stored, and stores none (FACTS.md): with checks on, the
            // duplicate is an error that names its key.
            fin.execute("SET SESSION unique_checks = 1")?;
        }
        let (select, targets) = transfer_lists(job.models);
        let table = DIALECT.q(job.table);
        let data_db = DIALECT.q(&data.url().database);
        let format = LOAD_FORMAT;
        if *job.path == LoadPath::Direct {
            let columns = DIALECT.column_list(job.columns);
            let loaded = fin.execute(&format!(
                "{}INSERT INTO {table} ({columns}) SELECT {columns} FROM {data_db}.{table}",
                job.marker
            ))?;
            (job.progress)(loaded);
            return Ok(Moved::whole(loaded));
        }
        if let LoadPath::ServerFiles(dir) = job.path {
            let path = format!("{}/rekey-{}.tsv", dir.trim_end_matches('/'), job.file_tag);
            let _ = std::fs::remove_file(&path);
            let exported = fin.execute(&format!(
                "{}SELECT {select} FROM {data_db}.{table} INTO OUTFILE {} {format}",
                job.marker,
                DIALECT.lit(&path)
            ))?;
            let loaded = fin.execute(&format!(
                "{}LOAD DATA INFILE {} INTO TABLE {table} {format} {targets}",
                job.marker,
                DIALECT.lit(&path)
            ));
            let _ = std::fs::remove_file(&path);
            let loaded = loaded?;
            check_warnings(&mut fin, job.table)?;
            (job.progress)(loaded);
            return Ok(Moved {
                read: exported,
                written: loaded,
            });
        }
        // Client-side: stream DB_DATA's rows into LOAD DATA LOCAL, no temporary file.
        let mut source =
            MysqlSession::new(MysqlBackend::new(data.url().clone()).raw_connect(true)?);
        let select = format!("SELECT {select} FROM {table}");
        let counter = Arc::new(AtomicU64::new(0));
        let stream_error: Arc<std::sync::Mutex<Option<Error>>> = Arc::default();
        let (c2, e2) = (counter.clone(), stream_error.clone());
        fin.conn
            .set_local_infile_handler(Some(LocalInfileHandler::new(move |_, writer| {
                let mut out = BufWriter::with_capacity(1 << 20, writer);
                let result = source.query(&select, &mut |row| {
                    write_load_data_row(&mut out, row).map_err(|e| {
                        Error::env(
                            Place::default(),
                            format!("streaming to the server failed: {e}."),
                            "Check the connection to DB_FINAL, then run again with --resume.",
                        )
                    })?;
                    c2.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                });
                if let Err(e) = result {
                    let msg = e.to_string();
                    if let Ok(mut slot) = e2.lock() {
                        *slot = Some(e);
                    }
                    return Err(std::io::Error::other(msg));
                }
                out.flush()
            })));
        let loaded = fin.execute(&format!(
            "{}LOAD DATA LOCAL INFILE 'rekey-stream' INTO TABLE {table} {format} {targets}",
            job.marker
        ));
        if let Some(e) = stream_error.lock().ok().and_then(|mut s| s.take()) {
            return Err(e);
        }
        let loaded = loaded?;
        check_warnings(&mut fin, job.table)?;
        let streamed = counter.load(Ordering::Relaxed);
        (job.progress)(streamed.max(loaded));
        Ok(Moved {
            read: streamed,
            written: loaded,
        })
    }
}

/// What the export selects and where LOAD DATA puts it, per column type: the text format is exact
/// for most types, but FLOAT prints with 6 digits (sent as DOUBLE, exact), BIT and spatial
/// values are raw bytes that OUTFILE does not escape (sent as a number and as hex), and UUID/INET
/// parse only from text, not from the binary character set.
fn transfer_lists(columns: &[Column]) -> (String, String) {
    let mut select = Vec::new();
    let mut targets = Vec::new();
    let mut sets = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        let q = DIALECT.q(&c.name);
        match c.data_type.as_str() {
            "bit" => {
                select.push(format!("CAST({q} AS UNSIGNED)"));
                targets.push(format!("@v{i}"));
                sets.push(format!("{q} = CAST(@v{i} AS UNSIGNED)"));
            }
            // Text-parsed types refuse the binary character set the load uses for every column.
            "uuid" | "inet6" | "inet4" => {
                select.push(q.clone());
                targets.push(format!("@v{i}"));
                sets.push(format!("{q} = CONVERT(@v{i} USING ascii)"));
            }
            t if is_spatial(t) => {
                select.push(format!("HEX({q})"));
                targets.push(format!("@v{i}"));
                sets.push(format!("{q} = UNHEX(@v{i})"));
            }
            _ => {
                select.push(DIALECT.exact_select(c));
                targets.push(q);
            }
        }
    }
    let mut into = format!("({})", targets.join(", "));
    if !sets.is_empty() {
        into.push_str(&format!(" SET {}", sets.join(", ")));
    }
    (select.join(", "), into)
}

fn is_spatial(data_type: &str) -> bool {
    matches!(
        data_type,
        "geometry"
            | "point"
            | "linestring"
            | "polygon"
            | "multipoint"
            | "multilinestring"
            | "multipolygon"
            | "geometrycollection"
    )
}
