//! Moving rows: swap's fill of DB_DATA from SOURCE (keys through the mapping tables), the bulk
//! load of DB_FINAL from DB_DATA, and the one-write route: DB_FINAL filled straight from SOURCE in
//! the load, keys computed on the way (`Load::fill_final`), where the engine can.

use super::{Backend, Dialect, Session, Value};
use crate::error::{Error, Place, Result};
use crate::model::{Column, Schema, Table};
pub use crate::options::LoadChoice;
use crate::options::UuidFormat;
use crate::url::DbUrl;
use crate::uuidgen::DerivedKey;

/// The way rows reach DB_FINAL in the load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadPath {
    /// Server-side export and import files in this directory (MySQL OUTFILE/INFILE).
    ServerFiles(String),
    /// Rows streamed through rekey (MySQL LOAD DATA LOCAL INFILE, PostgreSQL binary COPY).
    ClientStream,
    /// One INSERT ... SELECT reads DB_DATA directly (same MySQL server, or SQLite ATTACH).
    Direct,
    /// DB_DATA's tables, built with DB_FINAL's definitions, are renamed into DB_FINAL.
    Move,
    /// No way is open; the text says what to change.
    Unavailable(String),
}

impl LoadPath {
    pub fn describe(&self) -> &'static str {
        match self {
            LoadPath::ServerFiles(_) => "server-side OUTFILE/INFILE",
            LoadPath::ClientStream => "client-side stream",
            LoadPath::Direct => "direct INSERT ... SELECT",
            LoadPath::Move => "moving DB_DATA's tables into DB_FINAL by RENAME",
            LoadPath::Unavailable(_) => "no load path",
        }
    }
}

/// What one table's load moved, as the statements that moved it counted: rows read from DB_DATA
/// and rows DB_FINAL stored. A single INSERT ... SELECT stores every row it reads or fails, so
/// both counts are its own; an export and a load (or a stream) count each side separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub read: u64,
    pub written: u64,
}

impl Moved {
    /// One statement that read and stored `rows`.
    pub fn whole(rows: u64) -> Moved {
        Moved {
            read: rows,
            written: rows,
        }
    }
}

/// How rows reach an empty table in a bulk write, relative to the table's indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The table has at most one index and the rows come in its order: each row is an append.
    InKeyOrder,
    /// Secondary indexes to build, or keys out of order: worth sorting before building.
    Unordered,
}

impl Arrival {
    /// How rows in old-key order arrive in `table` (DB_FINAL's shape): in key order when the
    /// table has no index, or only a primary key on `ascending`, a column whose new values
    /// ascend with the old keys.
    pub fn into_table(table: &Table, ascending: Option<&str>) -> Arrival {
        let only_key = match table.primary_key.as_slice() {
            [] => true,
            [pk] => ascending == Some(pk.as_str()),
            _ => false,
        };
        if table.indexes.is_empty() && only_key {
            Arrival::InKeyOrder
        } else {
            Arrival::Unordered
        }
    }
}

/// One table to load: its name, the columns to move (generated ones left out), and how.
pub struct LoadJob<'a> {
    pub table: &'a str,
    /// How DB_DATA's rows arrive relative to DB_FINAL's indexes (picks the bulk mode).
    pub arrival: Arrival,
    pub columns: &'a [String],
    /// The same columns as DB_FINAL describes them (types decide how values travel).
    pub models: &'a [Column],
    /// DB_FINAL's unique keys on this table, which the data must not violate: a bulk path that
    /// skips unique checks could otherwise report rows as stored that it dropped.
    pub unique_keys: &'a [String],
    /// DB_FINAL's primary key, when it holds new keys that DB_DATA's rows do not come in the
    /// order of (random keys, or references). An engine that inserts each row into the key's
    /// index as it arrives reads DB_DATA in this order, so every row appends to the index instead
    /// of landing on a random page (PostgreSQL); one whose bulk path sorts for the index itself
    /// (MySQL's, see `Arrival`) reads as it is.
    pub key_order: Option<&'a [String]>,
    /// How the rows travel (chosen once per load by `Load::load_path`).
    pub path: &'a LoadPath,
    /// A name unique to this run and attempt, for export files.
    pub file_tag: &'a str,
    /// The comment that tags this run's statements (see `Context::marker`).
    pub marker: &'a str,
    /// Called with the number of rows moved so far, when the engine can tell.
    pub progress: &'a (dyn Fn(u64) + Sync),
    /// Where an interrupted load of this table stopped, as the engine described it to
    /// `on_chunk` (the table then holds the rows before it and is not emptied).
    pub resume_after: Option<&'a str>,
    /// Called after each committed chunk of an engine that writes a table in several
    /// transactions (Galera), with the point a resumed load continues from; the stage journals it.
    pub on_chunk: &'a (dyn Fn(&str) -> Result<()> + Sync),
}

/// Where a column of swap's fill takes its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillFrom {
    /// SOURCE's value as it is.
    Value,
    /// The table's own new key: its mapping table (quoted), joined on the old key.
    OwnKey { map: String },
    /// A reference: the parent's mapping table (quoted), LEFT JOINed so NULL stays NULL.
    Reference { map: String },
    /// A key the engine computes from the old key (`Dialect::derived_key_sql`): the table's own
    /// key, or a reference (the spec names the parent). No mapping table, no join.
    Derived(DerivedKey),
    /// A reference: a table (quoted) of the parent's keys as this column stores them
    /// (`old_id`, `new_id`), filled by the fill's own session for its statement and LEFT JOINed
    /// (`FinalFill::small_parents`).
    Keys { map: String },
}

#[derive(Debug, Clone)]
pub struct FillColumn {
    pub name: String,
    pub from: FillFrom,
}

/// Swap's fill of one DB_DATA table from SOURCE: every row once, converted columns through the
/// mapping tables in DB_DATA, in old-key order so new v7 keys arrive ascending.
pub struct FillJob<'a> {
    /// The table as SOURCE describes it.
    pub table: &'a Table,
    /// DB_DATA's writable columns, in order.
    pub columns: Vec<FillColumn>,
    /// SOURCE's old key, when the table is converted.
    pub order_by: Option<String>,
    /// The format of DB_DATA's UUID columns.
    pub format: UuidFormat,
    /// How the rows arrive relative to the table's indexes (none, unless DB_DATA's tables are
    /// built with DB_FINAL's definitions to be moved there).
    pub arrival: Arrival,
    /// The table's unique keys besides its primary key (see `LoadJob::unique_keys`).
    pub unique_keys: &'a [String],
    pub marker: &'a str,
    /// Where an interrupted fill of this table stopped, as the engine described it to
    /// `on_chunk` (the table then holds the rows before it and is not emptied).
    pub resume_after: Option<&'a str>,
    /// Called after each committed chunk of an engine that fills a table in several
    /// transactions (Galera), with the point a resumed fill continues from; the stage journals it.
    pub on_chunk: &'a (dyn Fn(&str) -> Result<()> + Sync),
}

impl<'a> FillJob<'a> {
    /// The same job with its columns copied (to change some of them in a struct update).
    pub fn reborrow(&self) -> FillJob<'a> {
        FillJob {
            table: self.table,
            columns: self.columns.clone(),
            order_by: self.order_by.clone(),
            format: self.format,
            arrival: self.arrival,
            unique_keys: self.unique_keys,
            marker: self.marker,
            resume_after: self.resume_after,
            on_chunk: self.on_chunk,
        }
    }

    /// The run's secret, when a column's new keys are derived in SQL: the fill's session gets it
    /// through `Dialect::derived_key_secret_sql` before the fill.
    pub fn secret(&self) -> Option<&crate::uuidgen::Secret> {
        self.columns.iter().find_map(|c| match &c.from {
            FillFrom::Derived(spec) => Some(&spec.secret),
            _ => None,
        })
    }

    /// The SELECT that produces the fill's rows where one session reads SOURCE (qualified as
    /// `from`) and DB_DATA's mapping tables at once.
    pub fn select_sql(&self, d: &dyn Dialect, from: &str) -> Result<String> {
        let order = self
            .order_by
            .as_ref()
            .map(|k| format!(" ORDER BY s.{}", d.q(k)))
            .unwrap_or_default();
        Ok(format!("{}{order}", self.select_rows_sql(d, from)?))
    }

    /// The fill's SELECT without an order: SOURCE's table is `s`, so a caller can add
    /// `WHERE` (on `s.`) and its own `ORDER BY` to fill the table a range of keys at a time.
    pub fn select_rows_sql(&self, d: &dyn Dialect, from: &str) -> Result<String> {
        let stored = d.map_format(self.format);
        let new_key =
            |alias: &str| d.map_to_column_sql(&format!("{alias}.new_id"), stored, self.format);
        let mut exprs = Vec::new();
        let mut joins = Vec::new();
        for (i, c) in self.columns.iter().enumerate() {
            let col = d.q(&c.name);
            match &c.from {
                FillFrom::Value => exprs.push(format!("s.{col}")),
                FillFrom::OwnKey { map } => {
                    joins.push(format!(" JOIN {map} m ON m.old_id = s.{col}"));
                    exprs.push(new_key("m"));
                }
                FillFrom::Reference { map } => {
                    let alias = format!("p{i}");
                    // A reference held in text joins by the integer it spells.
                    let value = format!("s.{col}");
                    let value = if self.table.column(&c.name).is_none_or(|c| c.is_integer()) {
                        value
                    } else {
                        d.reference_key_sql(&value)
                    };
                    joins.push(format!(
                        " LEFT JOIN {map} {alias} ON {alias}.old_id = {value}"
                    ));
                    exprs.push(new_key(&alias));
                }
                FillFrom::Keys { map } => {
                    let alias = format!("k{i}");
                    joins.push(format!(
                        " LEFT JOIN {map} {alias} ON {alias}.old_id = s.{col}"
                    ));
                    exprs.push(format!("{alias}.new_id"));
                }
                FillFrom::Derived(spec) => exprs.push(
                    d.derived_key_sql(&format!("s.{col}"), spec, self.format)
                        .ok_or_else(|| {
                            Error::env(
                                Place::default().table(&self.table.name).column(&c.name),
                                "internal: this engine cannot derive new keys in SQL.",
                                "Report this as a bug.",
                            )
                        })?,
                ),
            }
        }
        Ok(format!(
            "SELECT {} FROM {from}.{} s{}",
            exprs.join(", "),
            d.q(&self.table.name),
            joins.concat()
        ))
    }

    /// The one INSERT ... SELECT of an engine whose session reaches SOURCE as `from`.
    pub fn insert_select_sql(&self, d: &dyn Dialect, from: &str) -> Result<String> {
        let columns: Vec<String> = self.columns.iter().map(|c| c.name.clone()).collect();
        Ok(format!(
            "INSERT INTO {} ({}) {}",
            d.q(&self.table.name),
            d.column_list(&columns),
            self.select_sql(d, from)?
        ))
    }
}

/// The load's fill of one DB_FINAL table straight from SOURCE (the one-write route): SOURCE's rows,
/// keys derived in the statement or the stream, or (where the engine joins across databases)
/// through DB_DATA's mapping tables.
pub struct FinalFill<'a> {
    /// `fill.table` is SOURCE's table; `fill.columns` DB_FINAL's writable columns that DB_DATA
    /// has, in order; `fill.arrival` and `fill.unique_keys` DB_FINAL's (see `LoadJob`).
    pub fill: FillJob<'a>,
    /// The same columns as DB_FINAL describes them.
    pub models: &'a [Column],
    /// As `LoadJob::key_order`: DB_FINAL's primary key, when it holds new keys that SOURCE's
    /// old-key order does not give; an engine that inserts each row into the key's index reads
    /// SOURCE in the new keys' order where it can compute them there.
    pub key_order: Option<&'a [String]>,
    /// Called with the number of rows moved so far, when the engine can tell.
    pub progress: &'a (dyn Fn(u64) + Sync),
    /// SOURCE's table holds many rows (`source_snapshot::large`): worth a reader of its own.
    pub large: bool,
    /// Where an engine that streams SOURCE's rows through rekey hands each over as it passes
    /// (`SourceTap`); an engine that fills DB_FINAL in the server ignores it.
    pub tap: Option<&'a std::sync::Mutex<dyn SourceTap + 'a>>,
    /// The references whose keys the fill derives, of a large table, to a parent SOURCE holds
    /// far fewer rows of (`SmallParent`): an engine that derives keys in its statement may
    /// compute the parent's keys once and join them instead of once per row (MariaDB).
    pub small_parents: Vec<SmallParent>,
}

/// A derived reference of a one-write fill (`FinalFill::small_parents`): the referencing
/// column, SOURCE's parent table and the key column it references, whose new keys are
/// `FillFrom::Derived`'s spec applied to that key. Only where a missing parent fails the run
/// (`--orphans fail`): a joined reference with no parent row reads NULL, which the table's
/// check then names.
#[derive(Debug, Clone)]
pub struct SmallParent {
    pub column: String,
    pub table: String,
    pub key: String,
    /// The parent's rows: preflight's count, else SOURCE's estimate (an engine bounds the
    /// memory its keys take).
    pub rows: u64,
}

/// Receives the SOURCE rows a one-write fill streams through rekey (`FinalFill::tap`), as
/// `Session::query` gives them: the values of `fill.columns`, in that order, every row once, on
/// a thread of the engine's while the rows are written. An error ends the calls, never the fill.
pub trait SourceTap: Send {
    fn row(&mut self, row: &[Value]) -> Result<()>;
}

/// Whether a table's rows can go from SOURCE to DB_FINAL in one write, and if not, why (they then
/// take the two-write route: swap fills DB_DATA, the load copies it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillRoute {
    /// The load fills DB_FINAL's table straight from SOURCE (`Load::fill_final`).
    OneWrite,
    /// Swap fills DB_DATA, the load copies DB_DATA into DB_FINAL; the text says why.
    TwoWrites(String),
}

pub trait Load {
    /// Fills one (empty, or half-filled by an interrupted run: it is emptied first) table of this
    /// database, DB_DATA, from SOURCE. Returns the rows written.
    fn fill_table(&self, source: &dyn Backend, job: &FillJob<'_>) -> Result<u64>;
    /// What `fill_table` would execute, for a dry run.
    fn fill_table_sql(&self, source: &DbUrl, job: &FillJob<'_>) -> Result<Vec<String>>;
    /// How this database (as DB_FINAL) would receive rows from `data` given the user's choice,
    /// or what to change so it can.
    fn load_path(
        &self,
        _session: &mut dyn Session,
        _data: &DbUrl,
        _choice: LoadChoice,
    ) -> Result<LoadPath> {
        Ok(LoadPath::Direct)
    }
    /// Copies every row of `job.table` from `data` (another database of this engine) into this
    /// one, through the engine's bulk path. Returns the rows read and the rows stored.
    fn load_table(&self, data: &dyn Backend, job: &LoadJob<'_>) -> Result<Moved>;
    /// Whether `fill_final` streams SOURCE's rows through rekey and hands each to
    /// `FinalFill::tap` (an engine that fills DB_FINAL in the server does not).
    fn taps_source(&self) -> bool {
        false
    }
    /// What to run on this database (as DB_FINAL) once `table`'s rows are in, beside its check
    /// (statistics for the planner), for a table whose indexes stayed in place: the restore of
    /// indexes set aside (`Ddl::indexes_aside`) gathers them itself, where it pays. `marker`
    /// tags each statement as the run's.
    fn after_rows_sql(&self, _table: &str, _marker: &str) -> Vec<String> {
        Vec::new()
    }
    /// Removes the rows an interrupted load left in `table` (its own rows, as
    /// `Dialect::own_rows` names them) of this database, on a
    /// session `s` of it whose dialect is `d`, with constraint checks off (DB_FINAL keeps its
    /// foreign keys). A cluster whose transactions have a row limit deletes in pieces.
    fn empty_table(&self, s: &mut dyn Session, d: &dyn Dialect, table: &str) -> Result<()> {
        for sql in d.bulk_session(Arrival::Unordered) {
            s.execute(&sql)?;
        }
        s.execute(&format!("DELETE FROM {table}"))?;
        Ok(())
    }
    /// Moves DB_DATA's `tables` into this database, DB_FINAL, on the same server, replacing
    /// DB_FINAL's empty tables of the same names. DB_DATA's tables carry DB_FINAL's definitions
    /// and foreign keys (among themselves, which follow the move). Must be correct when re-run
    /// after an interruption: tables already moved are left alone. Returns the statements (only
    /// those, in a dry run).
    fn move_tables(
        &self,
        _data: &dyn Backend,
        _tables: &[String],
        _marker: &str,
        _dry_run: bool,
    ) -> Result<Vec<String>> {
        Err(Error::usage(
            "--load-path move is not available for this engine.",
            "Use the default load path (drop --load-path).",
        ))
    }

    /// Whether this database, as DB_FINAL, can (and should: where it measured faster) be filled
    /// with `job`'s rows straight from SOURCE at `source` (mapping tables, if any, in DB_DATA at
    /// `data`), and why not. The default: not for this engine.
    fn fill_final_route(
        &self,
        _source: &DbUrl,
        _data: &DbUrl,
        _job: &FinalFill<'_>,
    ) -> Result<FillRoute> {
        Ok(FillRoute::TwoWrites(
            "this engine fills DB_FINAL from DB_DATA only".into(),
        ))
    }

    /// Fills one empty table of this database, DB_FINAL, straight from SOURCE (the load empties
    /// a table an interrupted run half-filled first), through the engine's bulk path with
    /// constraint checks off as `load_table` has them. Only called where `fill_final_route` said
    /// `OneWrite`. Returns the rows read and the rows stored.
    fn fill_final(
        &self,
        _source: &dyn Backend,
        _data: &dyn Backend,
        job: &FinalFill<'_>,
    ) -> Result<Moved> {
        Err(Error::env(
            Place::stage(crate::stage::Stage::Load).table(&job.fill.table.name),
            "internal: this engine cannot fill DB_FINAL straight from SOURCE.",
            "Report this as a bug; `rekey run --full-data-copy` takes the two-write route.",
        ))
    }

    /// What `fill_final` would execute, for a dry run.
    fn fill_final_sql(
        &self,
        _source: &DbUrl,
        _data: &DbUrl,
        job: &FinalFill<'_>,
    ) -> Result<Vec<String>> {
        Ok(vec![format!(
            "-- {}: this engine fills DB_FINAL from DB_DATA only",
            job.fill.table.name
        )])
    }

    /// Statements that finish DB_FINAL after every table is loaded (sequences past the loaded
    /// keys, refreshed materialized views, statistics).
    fn after_load_sql(&self, _schema: &Schema) -> Vec<String> {
        Vec::new()
    }
}
