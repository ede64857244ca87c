//! Moving rows on MariaDB/MySQL: swap's fill as INSERT ... SELECT from SOURCE on the same server
//! (or another node of its Galera cluster), and the load into DB_FINAL by INSERT ... SELECT (same
//! server), server-side OUTFILE / INFILE, or LOAD DATA LOCAL streamed from DB_DATA. Off a
//! cluster each table is one statement; on Galera each is a series of key ranges that fit one
//! write-set each (`chunks.rs`), journaled, so a resumed run continues after the last. The
//! one-write route fills DB_FINAL straight from SOURCE on the same server with the same INSERT
//! ... SELECT as swap's fill (`fill_final`); a cluster keeps the two-write route.

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mysql::LocalInfileHandler;

use super::chunks::{self, Keyset, Point, WriteError, WriteLimits};
use super::session::{check_warnings, write_load_data_row, LOAD_FORMAT};
use super::{MysqlBackend, MysqlDialect, MysqlSession, DIALECT};
use crate::backend::{
    Arrival, Backend, Dialect, FillColumn, FillFrom, FillJob, FillRoute, FinalFill, Load,
    LoadChoice, LoadJob, LoadPath, Moved, Session,
};
use crate::error::{Error, Place, Result};
use crate::model::Column;
use crate::url::DbUrl;

/// The most parent rows whose keys a one-write fill keeps in a MEMORY table (SOURCE's estimate):
/// at most `KEYS_TABLE_BYTES` of the server's memory per loading session.
const KEYS_TABLE_ROWS: u64 = 250_000;
const KEYS_TABLE_BYTES: u64 = 64 << 20;

/// The one-write fill's statements (`MysqlBackend::final_statements`): the session's settings,
/// the parents' keys tables it fills for itself, the INSERT ... SELECT.
struct FinalStatements {
    setup: Vec<String>,
    keys: Vec<String>,
    /// The keys tables `keys` makes (qualified).
    maps: Vec<String>,
    fill: String,
}

impl MysqlBackend {
    /// The one-write fill of `job`: with `keys`, each of `job.small_parents` gets a temporary
    /// MEMORY table of its new keys, typed as DB_FINAL's column stores them, filled once from
    /// SOURCE's parent and LEFT JOINed (a hash lookup per row instead of two MD5s: `view_log`'s
    /// 800,000 rows in 3.23-3.31 s against 3.59-3.80 s; docs/performance.md).
    fn final_statements(
        &self,
        source: &DbUrl,
        data: &DbUrl,
        job: &FinalFill<'_>,
        keys: bool,
    ) -> Result<FinalStatements> {
        // The load's bulk session (foreign-key checks off, InnoDB's bulk path into the empty
        // table), unique checks on where DB_FINAL has unique keys (see `load_table`).
        let d = self.flavour();
        let setup = self.fill_session(&job.fill);
        // Mapping tables live in DB_DATA; the statement runs in DB_FINAL.
        let data_db = DIALECT.q(&data.database);
        let source_db = DIALECT.q(&source.database);
        let mut key_sql = Vec::new();
        let mut maps = Vec::new();
        let mut columns = Vec::new();
        for (i, c) in job.fill.columns.iter().enumerate() {
            let from = match &c.from {
                FillFrom::OwnKey { map } => FillFrom::OwnKey {
                    map: format!("{data_db}.{map}"),
                },
                FillFrom::Reference { map } => FillFrom::Reference {
                    map: format!("{data_db}.{map}"),
                },
                FillFrom::Derived(spec) if keys && d.joins_small_parents() => {
                    match self.parent_keys(&source_db, &data_db, job, c, spec, i) {
                        Some((sql, map)) => {
                            key_sql.extend(sql);
                            maps.push(map.clone());
                            FillFrom::Keys { map }
                        }
                        None => c.from.clone(),
                    }
                }
                other => other.clone(),
            };
            columns.push(FillColumn {
                name: c.name.clone(),
                from,
            });
        }
        let fill = FillJob {
            columns,
            ..job.fill.reborrow()
        };
        Ok(FinalStatements {
            setup,
            keys: key_sql,
            maps,
            fill: fill.insert_select_sql(d, &source_db)?,
        })
    }

    /// A fill's session settings, swap's and the one-write load's: the bulk session for the
    /// way its rows arrive, unique checks on where the table keeps unique keys, and the derived
    /// keys' secret where the fill derives any.
    fn fill_session(&self, job: &FillJob<'_>) -> Vec<String> {
        let d = self.flavour();
        let mut out = d.bulk_session(job.arrival);
        if !job.unique_keys.is_empty() {
            out.push("SET SESSION unique_checks = 1".into());
        }
        if job.secret().is_some() {
            out.extend(d.derived_key_secret_sql().map(str::to_string));
        }
        out
    }

    /// Runs one of `job`'s statements on the session that fills: the secret's statement gets
    /// the secret as a parameter, never in its text.
    fn run_fill_statement(&self, s: &mut MysqlSession, job: &FillJob<'_>, sql: &str) -> Result<()> {
        match job.secret() {
            Some(secret) if Some(sql) == self.flavour().derived_key_secret_sql() => {
                s.execute_with(sql, vec![secret.text().into()])?
            }
            _ => {
                s.execute(sql)?;
            }
        }
        Ok(())
    }

    /// The statements that make and fill the keys table of the parent that `c` (the fill's
    /// `i`th column, derived by `spec`) references, and the table's name; None unless `c` is
    /// one of `job.small_parents` holding integers and DB_FINAL's column is known.
    fn parent_keys(
        &self,
        source_db: &str,
        data_db: &str,
        job: &FinalFill<'_>,
        c: &FillColumn,
        spec: &crate::uuidgen::DerivedKey,
        i: usize,
    ) -> Option<(Vec<String>, String)> {
        let parent = job
            .small_parents
            .iter()
            .find(|p| p.column == c.name && p.rows <= KEYS_TABLE_ROWS)?;
        let held = job.fill.table.column(&c.name).filter(|m| m.is_integer())?;
        let stored = job.models.iter().find(|m| m.name == c.name)?;
        let old = if held.column_type.to_ascii_lowercase().contains("unsigned") {
            "BIGINT UNSIGNED"
        } else {
            "BIGINT"
        };
        // As DB_FINAL's column stores them, so the join hands over the value as it is.
        let charset = match (&stored.charset, &stored.collation) {
            (Some(cs), Some(co)) => format!(" CHARACTER SET {cs} COLLATE {co}"),
            (Some(cs), None) => format!(" CHARACTER SET {cs}"),
            _ => String::new(),
        };
        let map = format!("{data_db}.{}", DIALECT.q(&format!("rekey_keys_{i}")));
        let key = DIALECT.q(&parent.key);
        let new = self
            .flavour()
            .derived_key_sql(&format!("p.{key}"), spec, job.fill.format)?;
        Some((
            vec![
                // The session's own limit on MEMORY tables, not the server's: room for
                // KEYS_TABLE_ROWS keys of 36 four-byte characters with their hash index (never
                // below the server's, which also bounds the statement's own temporary tables).
                format!(
                    "SET SESSION max_heap_table_size = GREATEST(@@max_heap_table_size, {KEYS_TABLE_BYTES})"
                ),
                format!(
                    "CREATE TEMPORARY TABLE {map} (old_id {old} NOT NULL PRIMARY KEY, new_id {}{charset} NOT NULL) ENGINE=MEMORY",
                    stored.column_type
                ),
                format!(
                    "INSERT INTO {map} SELECT p.{key}, {new} FROM {source_db}.{} p",
                    DIALECT.q(&parent.table)
                ),
            ],
            map,
        ))
    }
}

impl Load for MysqlBackend {
    fn fill_table(&self, source: &dyn Backend, job: &FillJob<'_>) -> Result<u64> {
        // Only a session on SOURCE's own server can read it.
        self.source_table(source.url(), &job.table.name)?;
        let mut statements = self.fill_table_sql(source.url(), job)?.into_iter();
        let fill = statements.next_back().unwrap_or_default();
        let mut s = self.session(true)?;
        for sql in statements {
            self.run_fill_statement(&mut s, job, &sql)?;
        }
        if let Some(limits) = s.write_limits()? {
            return self.fill_in_chunks(s, source.url(), job, &limits);
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
        // Unconstrain left DB_DATA's tables without any index (on Galera: only the primary key,
        // which new keys ascend in): every row is an append. A table built with DB_FINAL's
        // definition (to be moved there) has its indexes, and its unique keys are checked (see
        // `load_table`).
        let mut out = self.fill_session(job);
        out.push(job.insert_select_sql(self.flavour(), &DIALECT.q(&source.database))?);
        Ok(out)
    }

    fn fill_final_route(
        &self,
        source: &DbUrl,
        data: &DbUrl,
        job: &FinalFill<'_>,
    ) -> Result<FillRoute> {
        // InnoDB's bulk path sorts for every index itself (`Arrival`): the order rows come in
        // does not decide the route here.
        // The fill is one statement per table: a cluster's write-set limits need the chunked
        // load from DB_DATA (keyed ranges of DB_DATA's rows), which this route does not split.
        if self.flavour().chunks_writes() {
            return Ok(FillRoute::TwoWrites(
                "a Galera cluster writes in chunks under its write-set limits, which the one-write fill does not split".into(),
            ));
        }
        if !self.reaches(source)? {
            return Ok(FillRoute::TwoWrites(
                "SOURCE is on another server than DB_FINAL".into(),
            ));
        }
        let mapped = job
            .fill
            .columns
            .iter()
            .any(|c| matches!(c.from, FillFrom::OwnKey { .. } | FillFrom::Reference { .. }));
        if mapped && !self.reaches(data)? {
            return Ok(FillRoute::TwoWrites(
                "a key comes from a mapping table in DB_DATA, on another server than DB_FINAL"
                    .into(),
            ));
        }
        Ok(FillRoute::OneWrite)
    }

    fn fill_final(
        &self,
        source: &dyn Backend,
        data: &dyn Backend,
        job: &FinalFill<'_>,
    ) -> Result<Moved> {
        self.source_table(source.url(), &job.fill.table.name)?;
        // DB_FINAL's session: the INSERT's unqualified table is DB_FINAL's.
        let mut s = self.session(true)?;
        let run = |s: &mut MysqlSession, sql: &str| self.run_fill_statement(s, &job.fill, sql);
        let FinalStatements {
            setup,
            keys,
            maps,
            fill,
        } = self.final_statements(source.url(), data.url(), job, true)?;
        for sql in &setup {
            run(&mut s, sql)?;
        }
        // The parents' keys tables are a speed-up only: a server that refuses them (no CREATE
        // TEMPORARY TABLES on DB_DATA, more keys than estimated) gets the statement that
        // derives every reference in the row, without the memory a half-filled one holds.
        let mut fill = fill;
        if keys.iter().try_for_each(|sql| run(&mut s, sql)).is_err() {
            for map in &maps {
                s.execute(&format!("DROP TEMPORARY TABLE IF EXISTS {map}"))?;
            }
            fill = self
                .final_statements(source.url(), data.url(), job, false)?
                .fill;
        }
        // One statement reads and stores every row, or fails.
        let rows = s.execute(&format!("{}{fill}", job.fill.marker))?;
        (job.progress)(rows);
        Ok(Moved::whole(rows))
    }

    fn fill_final_sql(
        &self,
        source: &DbUrl,
        data: &DbUrl,
        job: &FinalFill<'_>,
    ) -> Result<Vec<String>> {
        let FinalStatements {
            setup, keys, fill, ..
        } = self.final_statements(source, data, job, true)?;
        Ok(setup.into_iter().chain(keys).chain([fill]).collect())
    }

    fn load_path(
        &self,
        session: &mut dyn Session,
        data: &DbUrl,
        choice: LoadChoice,
    ) -> Result<LoadPath> {
        let info = self.server_facts(session)?;
        let same = self.reaches(data)?;
        let account = self
            .account(session)?
            .unwrap_or_else(|| "the migration account".into());
        if self.flavour().galera() {
            if let Some(why) = self.non_replicated_tables(session)? {
                return Ok(LoadPath::Unavailable(why));
            }
        }
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
                None => unavailable("DB_DATA is on another server and this one has local_infile OFF (MySQL 8's default): SET GLOBAL local_infile = 1; (or put DB_DATA on the server of DB_FINAL)".to_string()),
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
            // Galera: a RENAME is one short DDL, but moving tables between databases under TOI
            // while other nodes apply the fill's write-sets is not what this path was measured
            // on; the cluster keeps the chunked load.
            LoadChoice::Move if self.flavour().galera() => unavailable(
                "--load-path move is not used on a Galera cluster: drop --load-path (the load is chunked under the cluster's write-set limits)".into(),
            ),
            LoadChoice::Move => same.then_some(LoadPath::Move).map(Ok).unwrap_or_else(|| {
                unavailable("--load-path move needs DB_DATA and DB_FINAL on one server: drop --load-path, or put DB_DATA on DB_FINAL's server".into())
            }),
        }
    }

    fn move_tables(
        &self,
        data: &dyn Backend,
        tables: &[String],
        marker: &str,
        dry_run: bool,
    ) -> Result<Vec<String>> {
        let (data_db, final_db) = (
            DIALECT.q(&data.url().database),
            DIALECT.q(&self.url.database),
        );
        let mut s = self.server_session()?;
        // Only the tables still in DB_DATA move (an interrupted move resumes with those); DB_FINAL's
        // empty one of each goes first. It cannot be parked instead: InnoDB names foreign keys
        // per database, and DB_DATA's tables carry the same names.
        let session: &mut dyn Session = &mut s;
        let present: Vec<(String, String)> = if dry_run {
            Vec::new()
        } else {
            session
                .query_all(&format!(
                    "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ({}, {})",
                    DIALECT.lit(&data.url().database),
                    DIALECT.lit(&self.url.database)
                ))?
                .into_iter()
                .filter_map(|row| Some((row.first()?.as_string()?, row.get(1)?.as_string()?)))
                .collect()
        };
        let is_in = |db: &str, t: &str| present.iter().any(|(d, n)| d == db && n == t);
        let mut left = Vec::new();
        for t in tables {
            if !dry_run && !is_in(&data.url().database, t) {
                continue;
            }
            // Only an empty table of DB_FINAL is ever dropped: rows written there since the
            // load began are not rekey's to remove.
            let qt = DIALECT.q(t);
            if !dry_run
                && is_in(&self.url.database, t)
                && session.has_rows(&format!("{final_db}.{qt}"))?
            {
                return Err(Error::input(
                    Place::default().table(t),
                    format!("DB_FINAL's {t} holds rows, and --load-path move would replace it with DB_DATA's table; nothing was moved."),
                    "Something wrote into DB_FINAL during the cutover: stop it, recreate DB_FINAL from the application's migrations, and run again with a new --run-dir.",
                ));
            }
            left.push(qt);
        }
        if left.is_empty() {
            return Ok(Vec::new());
        }
        let dropped: Vec<String> = left.iter().map(|t| format!("{final_db}.{t}")).collect();
        let renames: Vec<String> = left
            .iter()
            .map(|t| format!("{data_db}.{t} TO {final_db}.{t}"))
            .collect();
        // One RENAME moves every table at once; foreign keys between them follow.
        let out = vec![
            "SET SESSION foreign_key_checks = 0".to_string(),
            format!("DROP TABLE IF EXISTS {}", dropped.join(", ")),
            format!("RENAME TABLE {}", renames.join(", ")),
        ];
        if !dry_run {
            for sql in &out {
                s.execute(&format!("{marker}{sql}"))?;
            }
        }
        Ok(out)
    }

    fn load_table(&self, data: &dyn Backend, job: &LoadJob<'_>) -> Result<Moved> {
        let flavour = *self.flavour();
        let mut fin = self.session(true)?;
        for s in flavour.bulk_session(job.arrival) {
            fin.execute(&s)?;
        }
        if !job.unique_keys.is_empty() {
            // InnoDB's bulk path without unique checks reports every row of a statement that
            // hits a duplicate as stored, and stores none (FACTS.md): with checks on, the
            // duplicate is an error that names its key.
            fin.execute("SET SESSION unique_checks = 1")?;
        }
        let transfer = Transfer::new(&flavour, data, job)?;
        match fin.write_limits()? {
            None => transfer
                .run(&mut fin, "")
                .map_err(WriteError::into_error)
                .inspect(|m| (job.progress)(m.written)),
            Some(limits) => self.load_in_chunks(fin, data, job, &transfer, &limits),
        }
    }

    fn empty_table(&self, s: &mut dyn Session, d: &dyn Dialect, table: &str) -> Result<()> {
        for sql in d.bulk_session(Arrival::Unordered) {
            s.execute(&sql)?;
        }
        if self.flavour().chunks_writes() {
            return chunks::delete_in_chunks(s, table);
        }
        s.execute(&format!("DELETE FROM {table}"))?;
        Ok(())
    }
}

impl MysqlBackend {
    /// DB_FINAL's MyISAM and Aria tables on a cluster: their rows would stay on this node.
    fn non_replicated_tables(&self, session: &mut dyn Session) -> Result<Option<String>> {
        let rows = session.query_all(&format!(
            "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND ENGINE IN ('MyISAM', 'Aria') ORDER BY TABLE_NAME",
            self.schema_literal()
        ))?;
        let names: Vec<String> = rows
            .iter()
            .filter_map(|r| r.first().and_then(|v| v.as_string()))
            .filter(|n| !crate::model::is_internal(n))
            .collect();
        Ok((!names.is_empty()).then(|| {
            format!(
                "DB_FINAL's tables {} are MyISAM or Aria, whose rows a Galera cluster does not replicate (only this node would hold them): ALTER TABLE ... ENGINE=InnoDB for each in DB_FINAL's schema (for example {}), then run again",
                names.join(", "),
                names
                    .iter()
                    .map(|n| format!("ALTER TABLE {} ENGINE=InnoDB;", DIALECT.q(n)))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }))
    }

    /// Swap's fill on a cluster: SOURCE's rows in ranges of its primary key, one INSERT ...
    /// SELECT (one write-set) each, continuing after the rows an interrupted run committed.
    fn fill_in_chunks(
        &self,
        mut s: MysqlSession,
        source: &DbUrl,
        job: &FillJob<'_>,
        limits: &WriteLimits,
    ) -> Result<u64> {
        let name = &job.table.name;
        let table = DIALECT.q(name);
        let source_db = DIALECT.q(&source.database);
        let from = format!("{source_db}.{table}");
        let avg = match job.table.estimated_rows {
            0 => 256,
            rows => job.table.bytes / rows + 64,
        };
        let per = limits.rows_per_chunk(avg);
        let columns: Vec<String> = job.columns.iter().map(|c| c.name.clone()).collect();
        let insert = format!(
            "{}INSERT INTO {table} ({}) {}",
            job.marker,
            DIALECT.column_list(&columns),
            job.select_rows_sql(self.flavour(), &source_db)?
        );
        let mut pager = self.session(true)?;
        let Some(key) = Keyset::of(&mut pager, &source.database, name)? else {
            let rows = (&mut pager as &mut dyn Session)
                .query_u64(&format!("SELECT COUNT(*) FROM {from}"))?;
            chunks::whole_or_refuse(rows, per, name, limits)?;
            let session: &mut dyn Session = &mut s;
            if session.has_rows(&table)? {
                session.execute(&DIALECT.empty_table_sql(&table))?;
            }
            return s.execute(&insert);
        };
        let held = held_rows(&mut s, &table)?;
        let start = match chunks::resume_from(&mut pager, &key, &from, held, job.resume_after)? {
            Some(point) => point,
            None => {
                s.execute(&DIALECT.empty_table_sql(&table))?;
                Point::default()
            }
        };
        let order = key.order("s.");
        let (rows, _) = chunks::write_ranges(
            &mut pager,
            &key,
            "s.",
            &from,
            start,
            per,
            limits,
            name,
            &mut |range| {
                let sql = format!("{insert} WHERE {range} ORDER BY {order}");
                let n = s.run(&sql).map_err(|e| WriteError::Server(e, sql))?;
                s.count_write_set(n);
                Ok(n)
            },
            job.on_chunk,
        )?;
        Ok(rows)
    }

    /// The load on a cluster: DB_DATA's rows in ranges of its primary key (kept through
    /// unconstrain on a cluster), one statement (one write-set) each.
    fn load_in_chunks(
        &self,
        mut fin: MysqlSession,
        data: &dyn Backend,
        job: &LoadJob<'_>,
        transfer: &Transfer,
        limits: &WriteLimits,
    ) -> Result<Moved> {
        let table = DIALECT.q(job.table);
        let mut pager = data.connect()?;
        let avg = avg_row_bytes(pager.as_mut(), &data.url().database, job.table)?;
        let per = limits.rows_per_chunk(avg);
        let Some(key) = Keyset::of(pager.as_mut(), &data.url().database, job.table)? else {
            let rows = pager.query_u64(&format!("SELECT COUNT(*) FROM {table}"))?;
            chunks::whole_or_refuse(rows, per, job.table, limits)?;
            let moved = transfer.run(&mut fin, "").map_err(WriteError::into_error)?;
            (job.progress)(moved.written);
            return Ok(moved);
        };
        let held = held_rows(&mut fin, &table)?;
        let start = match chunks::resume_from(pager.as_mut(), &key, &table, held, job.resume_after)?
        {
            Some(point) => point,
            None => {
                chunks::delete_in_chunks(&mut fin, &table)?;
                Point::default()
            }
        };
        let order = key.order("");
        let mut read = start.rows;
        let (written, _) = chunks::write_ranges(
            pager.as_mut(),
            &key,
            "",
            &table,
            start.clone(),
            per,
            limits,
            job.table,
            &mut |range| {
                let moved = transfer.run(&mut fin, &format!(" WHERE {range} ORDER BY {order}"))?;
                fin.count_write_set(moved.written);
                read += moved.read;
                if moved.read != moved.written {
                    // The stage reports the difference; stop before the next chunk.
                    return Ok(moved.written);
                }
                (job.progress)(read);
                Ok(moved.written)
            },
            job.on_chunk,
        )?;
        Ok(Moved { read, written })
    }
}

/// The rows a target table holds (0 without counting when it is empty).
fn held_rows(s: &mut MysqlSession, table: &str) -> Result<u64> {
    let s: &mut dyn Session = s;
    if !s.has_rows(table)? {
        return Ok(0);
    }
    s.query_u64(&format!("SELECT COUNT(*) FROM {table}"))
}

/// Bytes per row of `db`.`table` by the catalog's estimate (256 when it has none yet).
fn avg_row_bytes(s: &mut dyn Session, db: &str, table: &str) -> Result<u64> {
    let row = s
        .query_all(&format!(
            "SELECT DATA_LENGTH + INDEX_LENGTH, TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
            DIALECT.lit(db),
            DIALECT.lit(table)
        ))?
        .into_iter()
        .next()
        .unwrap_or_default();
    let get = |i: usize| row.get(i).and_then(|v| v.as_u64()).unwrap_or(0);
    Ok(match get(1) {
        0 => 256,
        rows => get(0) / rows + 64,
    })
}

/// How one statement of the load moves rows of a table (all of them, or those a suffix
/// `WHERE ... ORDER BY ...` selects) along the path the load chose.
struct Transfer<'a> {
    job: &'a LoadJob<'a>,
    table: String,
    data_db: String,
    /// The export's select list and LOAD DATA's target list (see `transfer_lists`).
    select: String,
    targets: String,
    /// A session on DB_DATA that the stream path reads from.
    reader: Option<Arc<Mutex<Box<dyn Session>>>>,
}

impl<'a> Transfer<'a> {
    fn new(flavour: &MysqlDialect, data: &dyn Backend, job: &'a LoadJob<'a>) -> Result<Self> {
        let (select, targets) = transfer_lists(flavour, job.models);
        let reader = match job.path {
            LoadPath::ClientStream => Some(Arc::new(Mutex::new(data.connect()?))),
            _ => None,
        };
        Ok(Transfer {
            job,
            table: DIALECT.q(job.table),
            data_db: DIALECT.q(&data.url().database),
            select,
            targets,
            reader,
        })
    }

    fn run(&self, fin: &mut MysqlSession, suffix: &str) -> std::result::Result<Moved, WriteError> {
        let (job, table, data_db) = (self.job, &self.table, &self.data_db);
        let format = LOAD_FORMAT;
        let server = |e: mysql::Error, sql: &str| WriteError::Server(e, sql.to_string());
        if *job.path == LoadPath::Direct {
            let columns = DIALECT.column_list(job.columns);
            let sql = format!(
                "{}INSERT INTO {table} ({columns}) SELECT {columns} FROM {data_db}.{table}{suffix}",
                job.marker
            );
            let loaded = fin.run(&sql).map_err(|e| server(e, &sql))?;
            return Ok(Moved::whole(loaded));
        }
        if let LoadPath::ServerFiles(dir) = job.path {
            let path = format!("{}/rekey-{}.tsv", dir.trim_end_matches('/'), job.file_tag);
            let _ = std::fs::remove_file(&path);
            let export = export_sql(
                job.marker,
                &self.select,
                &path,
                &format!("{data_db}.{table}{suffix}"),
            );
            let exported = fin.run(&export).map_err(|e| server(e, &export));
            let exported = match exported {
                Ok(n) => n,
                Err(e) => {
                    let _ = std::fs::remove_file(&path);
                    return Err(e);
                }
            };
            let load = format!(
                "{}LOAD DATA INFILE {} INTO TABLE {table} {format} {}",
                job.marker,
                DIALECT.lit(&path),
                self.targets
            );
            let loaded = fin.run(&load).map_err(|e| server(e, &load));
            let _ = std::fs::remove_file(&path);
            let loaded = loaded?;
            check_warnings(fin, job.table)?;
            return Ok(Moved {
                read: exported,
                written: loaded,
            });
        }
        // Client-side: stream DB_DATA's rows into LOAD DATA LOCAL, no temporary file.
        let Some(reader) = self.reader.clone() else {
            return Err(WriteError::Rekey(Error::env(
                Place::default().table(job.table),
                "internal: the stream path has no session on DB_DATA.",
                "Report this as a bug.",
            )));
        };
        let select = format!("SELECT {} FROM {table}{suffix}", self.select);
        let counter = Arc::new(AtomicU64::new(0));
        let stream_error: Arc<Mutex<Option<Error>>> = Arc::default();
        let (c2, e2) = (counter.clone(), stream_error.clone());
        fin.conn
            .set_local_infile_handler(Some(LocalInfileHandler::new(move |_, writer| {
                // A statement retried after a deadlock streams the rows again.
                c2.store(0, Ordering::Relaxed);
                let mut out = BufWriter::with_capacity(1 << 20, writer);
                let result = match reader.lock() {
                    Ok(mut source) => source.query(&select, &mut |row| {
                        write_load_data_row(&mut out, row).map_err(|e| {
                            Error::env(
                                Place::default(),
                                format!("streaming to the server failed: {e}."),
                                "Check the connection to DB_FINAL, then run again with --resume.",
                            )
                        })?;
                        c2.fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    }),
                    Err(_) => Err(Error::env(
                        Place::default(),
                        "the session reading DB_DATA stopped unexpectedly.",
                        "Run again with --resume.",
                    )),
                };
                if let Err(e) = result {
                    let msg = e.to_string();
                    if let Ok(mut slot) = e2.lock() {
                        *slot = Some(e);
                    }
                    return Err(std::io::Error::other(msg));
                }
                out.flush()
            })));
        let sql = format!(
            "{}LOAD DATA LOCAL INFILE 'rekey-stream' INTO TABLE {table} {format} {}",
            job.marker, self.targets
        );
        let loaded = fin.run(&sql);
        fin.conn.set_local_infile_handler(None);
        if let Some(e) = stream_error.lock().ok().and_then(|mut s| s.take()) {
            return Err(WriteError::Rekey(e));
        }
        let loaded = loaded.map_err(|e| server(e, &sql))?;
        check_warnings(fin, job.table)?;
        let streamed = counter.load(Ordering::Relaxed);
        Ok(Moved {
            read: streamed,
            written: loaded,
        })
    }
}

/// The server-side export of `select` from `from` (with any WHERE and ORDER BY) into `path`.
/// INTO OUTFILE goes before FROM: the one place every MySQL and MariaDB version takes it
/// (MySQL 8.0.20 deprecates it between FROM and a locking clause, and wants it last otherwise).
pub(super) fn export_sql(marker: &str, select: &str, path: &str, from: &str) -> String {
    format!(
        "{marker}SELECT {select} INTO OUTFILE {} {LOAD_FORMAT} FROM {from}",
        DIALECT.lit(path)
    )
}

/// What the export selects and where LOAD DATA puts it, per column type: the text format is exact
/// for most types, but FLOAT prints with 6 digits (sent as DOUBLE, exact), BIT and spatial
/// values are raw bytes that OUTFILE does not escape (sent as a number and as hex), and UUID/INET
/// parse only from text, not from the binary character set.
pub(super) fn transfer_lists(flavour: &MysqlDialect, columns: &[Column]) -> (String, String) {
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
                select.push(flavour.exact_select(c));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_travels_as_double_where_the_server_can_cast_to_it() {
        let cols = [Column {
            name: "f".into(),
            data_type: "float".into(),
            ..Column::default()
        }];
        let (maria, _) = transfer_lists(&MysqlDialect::MARIADB, &cols);
        assert_eq!(maria, "CAST(`f` AS DOUBLE)");
        let (mysql8, _) = transfer_lists(&MysqlDialect::from_server("8.0.36", false), &cols);
        assert_eq!(mysql8, "CAST(`f` AS DOUBLE)");
        // CAST(... AS DOUBLE) is new in MySQL 8.0.17; before, the sum is computed as a double.
        let (old, _) = transfer_lists(&MysqlDialect::from_server("8.0.16", false), &cols);
        assert_eq!(old, "(`f` + 0e0)");
    }
}
