//! Moving rows on PostgreSQL, where one session cannot read another database: swap's fill streams
//! SOURCE's rows by binary COPY straight into DB_DATA's table, new keys derived from the old ones on
//! the way (`copy::KeyRewrite`); a table with a mapped key or reference goes through an UNLOGGED
//! staging table in DB_DATA, then one INSERT ... SELECT joins the mapping tables. The load streams
//! DB_DATA's rows by binary COPY into DB_FINAL with foreign-key triggers off
//! (session_replication_role = replica) and user triggers set aside by the stage; the one-write
//! route streams SOURCE's rows the same way straight into DB_FINAL, keys derived on the way
//! (`fill_final`). COPY never fires rules, and every side's count is compared: no row is reported
//! stored that was not.

use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;
use std::sync::Mutex;

use postgres::types::{Kind, Type};
use postgres::Client;

use super::copy::{self, ArrayPatch, KeyRewrite, PipeError};
use super::ddl::SET_ASIDE_PRIMARY_KEY_SQL;
use super::extra::PgTable;
use super::session::{CopyReader, OwnConnection};
use super::{catalog_rows, sql_error, PostgresBackend, DIALECT};
use crate::backend::{
    Admin, Backend, Dialect, FillFrom, FillJob, FillRoute, FinalFill, Load, LoadChoice, LoadJob,
    LoadPath, Moved, Session, SourceTap,
};
use crate::error::{Error, Place, Result};
use crate::model::Schema;
use crate::url::{DbUrl, Engine};

/// The schema in DB_DATA that holds swap's staging tables (named as their tables).
const STAGE_SCHEMA: &str = "_rekey_stage";

/// From this many rows (SOURCE's estimate), a table whose new keys arrive out of its primary
/// key's order takes one write only when the key is set aside for it. Below, its B-tree takes the
/// rows at random for less than a second write costs: 100,000 v4 keys into a uuid key took 0.36 s
/// at random and 0.36 s sorted, 300,000 took 1.08 s and 0.89 s, 1M 4.1 s and 2.5 s
/// (docs/performance.md, "PostgreSQL, second round").
const RANDOM_KEY_ROWS: u64 = 500_000;

/// From this many rows expected, the load sets a table's primary key aside and builds it after
/// the rows (`set_aside_primary_key.sql`); a smaller table's key takes its rows as they come for
/// less than the three statements it would cost.
pub(super) const KEY_ASIDE_ROWS: u64 = 10_000;

/// Up to this many rows, swap's join looks keys up by index instead of hashing the mappings.
const INDEX_LOOKUP_ROWS: u64 = 20_000;

/// Memory for index builds' sorts (server-side, per session; the default 64 MB spills the sort
/// of 1M uuid keys, or of a 600,000-row table's index, to disk).
pub(super) const MAINTENANCE_WORK_MEM: &str = "SET maintenance_work_mem = '256MB'";

/// Memory for the sorts and hashes of the fill's join (the default 4 MB spills a 600,000-row
/// table to disk), and for index builds.
fn work_mem() -> String {
    format!("SET work_mem = '128MB'; {MAINTENANCE_WORK_MEM}")
}

/// The run id in a stage's marker (`/* rekey:<id> */ `), for the sessions' application_name.
fn run_id(marker: &str) -> Option<&str> {
    marker
        .trim()
        .strip_prefix("/* rekey:")
        .and_then(|s| s.strip_suffix("*/"))
        .map(str::trim)
}

fn not_postgres(url: &DbUrl) -> Error {
    Error::usage(
        format!("{url} is not a PostgreSQL database."),
        "Give SOURCE, DB_DATA and DB_FINAL as postgres:// URLs.",
    )
}

/// The column types a statement's result (or a table's columns) has, by preparing it.
fn result_types(client: &mut Client, sql: &str) -> Result<Vec<Type>> {
    Ok(client
        .prepare(sql)
        .map_err(|e| sql_error(&e, sql))?
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect())
}

/// Whether any of `columns` of `table` is an array (only those need the element-type patch, and
/// so the two result descriptions it is computed from).
fn has_arrays(table: &crate::model::Table, columns: &[String]) -> bool {
    columns
        .iter()
        .filter_map(|c| table.column(c))
        .any(|c| c.data_type.ends_with("[]"))
}

/// Array columns whose element type is named by an OID of its own database (enums, domains):
/// the stream takes the target's. `list` read from `from_rel` on `from`, written to `to_rel` on
/// `to`.
fn array_patches(
    from: &mut Client,
    from_rel: &str,
    to: &mut Client,
    to_rel: &str,
    list: &str,
) -> Result<Vec<ArrayPatch>> {
    let from = result_types(from, &format!("SELECT {list} FROM {from_rel}"))?;
    let to = result_types(to, &format!("SELECT {list} FROM {to_rel}"))?;
    Ok(from
        .iter()
        .zip(&to)
        .enumerate()
        .filter_map(|(field, (f, t))| match (f.kind(), t.kind()) {
            (Kind::Array(fe), Kind::Array(te)) if fe.oid() != te.oid() => Some(ArrayPatch {
                field,
                element_oid: te.oid(),
            }),
            _ => None,
        })
        .collect())
}

/// What a stream changes on the way: array element types, and keys replaced by derived ones.
#[derive(Default)]
struct Rewrites {
    arrays: Vec<ArrayPatch>,
    keys: Vec<KeyRewrite>,
}

/// Streams `reader` (a COPY ... TO STDOUT) into `copy_in` (a COPY ... FROM STDIN on `to`);
/// returns the rows read and the rows the target stored.
fn stream(
    reader: &mut dyn std::io::Read,
    to: &mut Client,
    copy_in: &str,
    rewrites: &Rewrites,
    table: &str,
    progress: &dyn Fn(u64),
    tee: &mut dyn FnMut(&[u8]),
) -> Result<Moved> {
    let mut writer = to.copy_in(copy_in).map_err(|e| sql_error(&e, copy_in))?;
    let read = match copy::pipe(
        reader,
        &mut writer,
        &rewrites.arrays,
        &rewrites.keys,
        progress,
        tee,
    ) {
        Ok(n) => n,
        Err(e) => {
            // The writer is dropped unfinished: the target's COPY is aborted, nothing stored.
            drop(writer);
            let (what, hint) = match e {
                PipeError::Read(e) => (
                    format!("reading rows from the source failed ({e})"),
                    "Check the connection to the database read from (and its log), then run again with --resume.",
                ),
                PipeError::Write(e) => (
                    format!("sending rows to the target failed ({e})"),
                    "The target's own error follows in its log; fix it, then run again with --resume.",
                ),
                PipeError::Malformed(m) => (
                    format!("the COPY stream is not readable: {m}"),
                    "Report this as a bug, with both servers' versions.",
                ),
                PipeError::Key(m) => {
                    return Err(Error::input(
                        Place::default().table(table),
                        format!("{m}: SOURCE changed while rekey read it."),
                        "SOURCE must be a snapshot nobody writes: restore an unchanging copy, run `rekey clean`, then run again.",
                    ))
                }
            };
            return Err(Error::env(
                Place::default().table(table),
                format!("{what}."),
                hint,
            ));
        }
    };
    let written = writer.finish().map_err(|e| sql_error(&e, copy_in))?;
    Ok(Moved { read, written })
}

impl PostgresBackend {
    /// How SOURCE's rows of `job` are read: COPY of the table itself (its own rows, never an
    /// inheritance child's), or of a SELECT for a partitioned table, whose rows live in its
    /// partitions, or for a converted table filled directly, read in old-key order so its new v7
    /// keys arrive ascending (as the staged fill's INSERT ... SELECT writes them).
    fn source_copy(job: &FillJob<'_>) -> String {
        let columns: Vec<String> = job.columns.iter().map(|c| c.name.clone()).collect();
        let list = DIALECT.column_list(&columns);
        let order = match &job.order_by {
            Some(key) if !Self::staged(job) => format!(" ORDER BY {}", DIALECT.q(key)),
            _ => String::new(),
        };
        if job.table.partitioning.is_some() || !order.is_empty() {
            format!(
                "{}COPY (SELECT {list} FROM {}{order}) TO STDOUT (FORMAT binary)",
                job.marker,
                DIALECT.own_rows(job.table)
            )
        } else {
            format!(
                "{}COPY {} ({list}) TO STDOUT (FORMAT binary)",
                job.marker,
                DIALECT.q(&job.table.name)
            )
        }
    }

    /// Whether the fill goes through a staging table: a column takes its new key from a mapping
    /// table (a join). Derived keys are computed in the stream.
    fn staged(job: &FillJob<'_>) -> bool {
        job.columns
            .iter()
            .any(|c| matches!(c.from, FillFrom::OwnKey { .. } | FillFrom::Reference { .. }))
    }

    /// The derived keys a direct fill computes on the way, by field.
    /// A dry run's note on the keys the COPY stream derives on the way (empty when none).
    fn derived_note(job: &FillJob<'_>) -> String {
        let derived: Vec<String> = Self::key_rewrites(job)
            .iter()
            .filter_map(|k| job.columns.get(k.field))
            .map(|c| DIALECT.q(&c.name))
            .collect();
        if derived.is_empty() {
            String::new()
        } else {
            format!(
                "; new keys of {} derived from the old ones on the way",
                derived.join(", ")
            )
        }
    }

    fn key_rewrites(job: &FillJob<'_>) -> Vec<KeyRewrite> {
        job.columns
            .iter()
            .enumerate()
            .filter_map(|(field, c)| match &c.from {
                FillFrom::Derived(key) => Some(KeyRewrite {
                    field,
                    key: key.clone(),
                    format: job.format,
                }),
                _ => None,
            })
            .collect()
    }

    fn stage_table(job: &FillJob<'_>) -> String {
        format!("{}.{}", DIALECT.q(STAGE_SCHEMA), DIALECT.q(&job.table.name))
    }

    /// The staging table: SOURCE's writable columns with SOURCE's types.
    fn stage_ddl(job: &FillJob<'_>) -> Vec<String> {
        let extra = PgTable::of(job.table);
        let columns: Vec<String> = job
            .columns
            .iter()
            .filter_map(|c| job.table.column(&c.name))
            .map(|c| {
                let mut d = format!("{} {}", DIALECT.q(&c.name), c.column_type);
                if let Some(coll) = extra.column(&c.name).and_then(|p| p.collation.as_ref()) {
                    d.push_str(&format!(" COLLATE {coll}"));
                }
                d
            })
            .collect();
        vec![
            // Parallel fills race to create it: the loser's unique_violation means it exists.
            format!(
                "DO $rekey$ BEGIN CREATE SCHEMA IF NOT EXISTS {}; EXCEPTION WHEN unique_violation OR duplicate_schema THEN NULL; END $rekey$",
                DIALECT.q(STAGE_SCHEMA)
            ),
            format!("DROP TABLE IF EXISTS {}", Self::stage_table(job)),
            format!(
                "CREATE UNLOGGED TABLE {} ({})",
                Self::stage_table(job),
                columns.join(", ")
            ),
        ]
    }
}

/// One table's write into DB_FINAL (see `PostgresBackend::copy_into_final`).
struct IntoFinal<'a, 't> {
    table: &'a str,
    columns: &'a [String],
    /// Whether a column is an array (its element-type OID may need the target's).
    arrays: bool,
    /// Keys derived on the way (the one-write route reads SOURCE's old keys).
    keys: Vec<KeyRewrite>,
    arrival: crate::backend::Arrival,
    marker: &'a str,
    progress: &'a (dyn Fn(u64) + Sync),
    /// Where SOURCE's rows go as they pass (`FinalFill::tap`).
    tap: Option<&'a Mutex<dyn SourceTap + 't>>,
}

/// Chunks of tuples a stream holds for its tap (`feed_tap`) before it waits for it: the tap
/// digests as fast as the stream writes, so this only evens out their pace.
const TAP_CHUNKS: usize = 8;

/// Hands each tuple of `chunks` (`copy::pipe`'s tee) to `tap` as the values a query of the same
/// columns reads (`types`), until the chunks end. A tuple it cannot read, or an error of the
/// tap's, ends the calls: the tap has then not seen every row, and the table's check reads
/// SOURCE itself.
fn feed_tap(chunks: Receiver<Vec<u8>>, types: &[Type], tap: &Mutex<dyn SourceTap + '_>) {
    let Ok(mut tap) = tap.lock() else {
        return;
    };
    let mut values = Vec::with_capacity(types.len());
    for chunk in chunks {
        let mut at = 0;
        while at < chunk.len() {
            let Some(n) = copy::decode_tuple(&chunk[at..], types, &mut values) else {
                return;
            };
            if tap.row(&values).is_err() {
                return;
            }
            at += n;
        }
    }
}

impl PostgresBackend {
    /// How the one-write route reads SOURCE's table for DB_FINAL: a converted table whose new
    /// keys ascend with the old ones (v7) in old-key order, so each row appends to the key's
    /// B-tree (or the key set aside is built over sorted rows); one whose new keys come in
    /// another order (`key_order`: v4 keys, references in the key) as it lies: its key is set
    /// aside and built after the rows (`set_aside_primary_key.sql`), or a small table's takes
    /// its rows at random (sorting SOURCE by keys computed in SQL measured slower than either).
    fn final_source_copy(job: &FinalFill<'_>) -> String {
        let fill = &job.fill;
        let columns: Vec<String> = fill.columns.iter().map(|c| c.name.clone()).collect();
        let list = DIALECT.column_list(&columns);
        let order = match (&fill.order_by, job.key_order) {
            (Some(key), None) => format!(" ORDER BY {}", DIALECT.q(key)),
            _ => String::new(),
        };
        if fill.table.partitioning.is_some() || !order.is_empty() {
            format!(
                "{}COPY (SELECT {list} FROM {}{order}) TO STDOUT (FORMAT binary)",
                fill.marker,
                DIALECT.own_rows(fill.table)
            )
        } else {
            format!(
                "{}COPY {} ({list}) TO STDOUT (FORMAT binary)",
                fill.marker,
                DIALECT.q(&fill.table.name)
            )
        }
    }

    /// Streams `read` (a COPY ... TO STDOUT on `from`, DB_DATA or SOURCE; on a connection of its
    /// own where `own` says how to open one, `session::CopyReader`) into DB_FINAL's table, in one
    /// transaction on a bulk session: foreign-key triggers off (replica).
    fn copy_into_final(
        &self,
        from: &mut Client,
        read: &str,
        own: Option<&OwnConnection>,
        job: &IntoFinal<'_, '_>,
    ) -> Result<Moved> {
        let id = run_id(job.marker);
        let mut fin = self.client(&self.url.database, id)?;
        // Foreign keys are triggers: replica mode skips them (checked again by verify, pair by
        // pair); user triggers are set aside by the stage, and COPY never fires rules.
        let mut setup = DIALECT.bulk_session(job.arrival);
        setup.push(work_mem());
        let setup = setup.join(";\n");
        fin.batch_execute(&setup)
            .map_err(|e| sql_error(&e, &setup))?;
        let list = DIALECT.column_list(job.columns);
        let table = DIALECT.q(job.table);
        let rewrites = Rewrites {
            arrays: if job.arrays {
                array_patches(from, &table, &mut fin, &table, &list)?
            } else {
                Vec::new()
            },
            keys: job.keys.clone(),
        };
        let exec = |c: &mut Client, sql: &str| -> Result<()> {
            c.batch_execute(sql).map_err(|e| sql_error(&e, sql))
        };
        // DB_FINAL's secondary indexes that pay to build after the rows are already aside
        // (`run/indexes.rs`, which keeps what must stay: replica identity, CLUSTER, ...).
        // SOURCE's types of the streamed columns, for a tap (before the sync reader holds
        // `from`).
        let tap = match job.tap {
            Some(tap) => Some((
                tap,
                result_types(from, &format!("SELECT {list} FROM {table}"))?,
            )),
            None => None,
        };
        exec(&mut fin, "BEGIN")?;
        let (mut own_reader, mut sync_reader);
        let reader: &mut dyn std::io::Read = match own {
            Some(target) => {
                own_reader = CopyReader::open(target, read)?;
                &mut own_reader
            }
            None => {
                sync_reader = from.copy_out(read).map_err(|e| sql_error(&e, read))?;
                &mut sync_reader
            }
        };
        let copy_in = format!(
            "{}COPY {table} ({list}) FROM STDIN (FORMAT binary)",
            job.marker
        );
        let mut to_final = |tee: &mut dyn FnMut(&[u8])| {
            stream(
                reader,
                &mut fin,
                &copy_in,
                &rewrites,
                job.table,
                job.progress,
                tee,
            )
        };
        let moved = match &tap {
            Some((tap, types)) => std::thread::scope(|scope| {
                let (send, chunks) = std::sync::mpsc::sync_channel::<Vec<u8>>(TAP_CHUNKS);
                scope.spawn(move || feed_tap(chunks, types, tap));
                let mut send = Some(send);
                // A tap that stopped is let go; the rows go on.
                to_final(&mut |tuples: &[u8]| {
                    if send
                        .as_ref()
                        .is_some_and(|s| s.send(tuples.to_vec()).is_err())
                    {
                        send = None;
                    }
                })
            })?,
            None => to_final(&mut |_: &[u8]| {})?,
        };
        // Statistics come after the indexes (`after_rows_sql`), beside the table's check.
        exec(&mut fin, "COMMIT")?;
        Ok(moved)
    }
}

impl Load for PostgresBackend {
    fn fill_table(&self, source: &dyn Backend, job: &FillJob<'_>) -> Result<u64> {
        if source.url().engine != Engine::Postgres {
            return Err(not_postgres(source.url()));
        }
        let id = run_id(job.marker);
        let reader = PostgresBackend::new(source.url().clone());
        let mut src = reader.client(&source.url().database, id)?;
        let mut data = self.client(&self.url.database, id)?;
        let table = DIALECT.q(&job.table.name);
        let columns: Vec<String> = job.columns.iter().map(|c| c.name.clone()).collect();
        let list = DIALECT.column_list(&columns);
        let copy_out = Self::source_copy(job);
        let exec = |c: &mut Client, sql: &str| -> Result<()> {
            c.batch_execute(sql).map_err(|e| sql_error(&e, sql))
        };
        let staged = Self::staged(job);
        let target = if staged {
            Self::stage_table(job)
        } else {
            table.clone()
        };
        // One transaction per table, few round trips: most tables are small, and each commit
        // and round trip counted more than their rows. A table half-filled by an interrupted run
        // is filled again from empty (the TRUNCATE).
        let mut setup = vec![
            work_mem(),
            "BEGIN".into(),
            format!("{}TRUNCATE TABLE {table}", job.marker),
        ];
        if staged {
            setup.extend(
                Self::stage_ddl(job)
                    .iter()
                    .map(|s| format!("{}{s}", job.marker)),
            );
        }
        exec(&mut data, &setup.join(";\n"))?;
        if job.order_by.is_some() && !staged {
            // SOURCE's sort (reading only: a session setting).
            exec(&mut src, &work_mem())?;
        }
        let rewrites = Rewrites {
            arrays: if has_arrays(job.table, &columns) {
                array_patches(&mut src, &table, &mut data, &target, &list)?
            } else {
                Vec::new()
            },
            keys: if staged {
                Vec::new()
            } else {
                Self::key_rewrites(job)
            },
        };
        let copy_in = format!(
            "{}COPY {target} ({list}) FROM STDIN (FORMAT binary)",
            job.marker
        );
        let mut reader = src
            .copy_out(&copy_out)
            .map_err(|e| sql_error(&e, &copy_out))?;
        let moved = stream(
            &mut reader,
            &mut data,
            &copy_in,
            &rewrites,
            &job.table.name,
            &|_| {},
            &mut |_| {},
        )?;
        let copied = same_count(&job.table.name, moved)?;
        if !staged {
            exec(&mut data, "COMMIT")?;
            return Ok(copied);
        }
        // The join, the staging table's end and the commit in one round trip; the INSERT is the
        // only command of them that counts rows.
        // A small table looks its keys up in the mappings' primary keys: hashing a parent's
        // whole mapping for a thousand rows cost 50 ms a table (64 such tables in the benchmark)
        // against 9 ms by index.
        let lookups = if copied <= INDEX_LOOKUP_ROWS {
            "SET LOCAL enable_hashjoin = off;\nSET LOCAL enable_mergejoin = off;\n"
        } else {
            ""
        };
        if let (Some(secret), Some(sql)) = (job.secret(), DIALECT.derived_key_secret_sql()) {
            // On this session, as a parameter: the INSERT below reads it.
            data.execute(sql, &[&secret.text()])
                .map_err(|e| sql_error(&e, sql))?;
        }
        let finish = format!(
            "{lookups}{m}{};\n{m}DROP TABLE {target};\nCOMMIT",
            job.insert_select_sql(&DIALECT, &DIALECT.q(STAGE_SCHEMA))?,
            m = job.marker
        );
        let filled = data
            .simple_query(&finish)
            .map_err(|e| sql_error(&e, &finish))?
            .iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        if filled != copied {
            return Err(Error::mismatch(
                Place::default().table(&job.table.name),
                format!("{copied} rows were copied from SOURCE but {filled} reached DB_DATA (a row without its key in the mapping table?)."),
            ));
        }
        Ok(filled)
    }

    fn fill_table_sql(&self, _source: &DbUrl, job: &FillJob<'_>) -> Result<Vec<String>> {
        let columns: Vec<String> = job.columns.iter().map(|c| c.name.clone()).collect();
        let list = DIALECT.column_list(&columns);
        let table = DIALECT.q(&job.table.name);
        let copy_out = Self::source_copy(job).replacen(job.marker, "", 1);
        let mut out = vec![format!("TRUNCATE TABLE {table}")];
        if !Self::staged(job) {
            let derived = Self::derived_note(job);
            out.push(format!(
                "COPY {table} ({list}) FROM STDIN (FORMAT binary) -- from SOURCE: {copy_out}{derived}"
            ));
            return Ok(out);
        }
        out.extend(Self::stage_ddl(job));
        out.push(format!(
            "COPY {} ({list}) FROM STDIN (FORMAT binary) -- from SOURCE: {copy_out}",
            Self::stage_table(job)
        ));
        if job.secret().is_some() {
            out.extend(DIALECT.derived_key_secret_sql().map(str::to_string));
        }
        out.push(job.insert_select_sql(&DIALECT, &DIALECT.q(STAGE_SCHEMA))?);
        out.push(format!("DROP TABLE {}", Self::stage_table(job)));
        Ok(out)
    }

    fn load_path(
        &self,
        _session: &mut dyn Session,
        data: &DbUrl,
        _choice: LoadChoice,
    ) -> Result<LoadPath> {
        if data.engine != Engine::Postgres {
            return Ok(LoadPath::Unavailable(format!(
                "{data} is not a PostgreSQL database: give DB_DATA as a postgres:// URL"
            )));
        }
        // Binary COPY streamed through rekey is the only way between two databases; the
        // choices of MySQL's paths do not apply.
        Ok(LoadPath::ClientStream)
    }

    fn load_table(&self, data: &dyn Backend, job: &LoadJob<'_>) -> Result<Moved> {
        if data.url().engine != Engine::Postgres {
            return Err(not_postgres(data.url()));
        }
        let id = run_id(job.marker);
        let reader = PostgresBackend::new(data.url().clone());
        let mut from = reader.client(&data.url().database, id)?;
        let list = DIALECT.column_list(job.columns);
        let table = DIALECT.q(job.table);
        // In DB_FINAL's key order where the rows would come in another (random new keys): each
        // row then appends to the key's B-tree instead of reading a random leaf page. Same rows,
        // one sort in DB_DATA (reading only: a session setting).
        let read = match job.key_order {
            Some(key) => {
                let setting = work_mem();
                from.batch_execute(&setting)
                    .map_err(|e| sql_error(&e, &setting))?;
                format!(
                    "{}COPY (SELECT {list} FROM ONLY {table} ORDER BY {}) TO STDOUT (FORMAT binary)",
                    job.marker,
                    DIALECT.column_list(key)
                )
            }
            None => format!(
                "{}COPY {table} ({list}) TO STDOUT (FORMAT binary)",
                job.marker
            ),
        };
        self.copy_into_final(
            &mut from,
            &read,
            None,
            &IntoFinal {
                table: job.table,
                columns: job.columns,
                arrays: job.models.iter().any(|c| c.data_type.ends_with("[]")),
                keys: Vec::new(),
                arrival: job.arrival,
                marker: job.marker,
                progress: job.progress,
                tap: None,
            },
        )
    }

    fn fill_final_route(
        &self,
        source: &DbUrl,
        _data: &DbUrl,
        job: &FinalFill<'_>,
    ) -> Result<FillRoute> {
        if source.engine != Engine::Postgres {
            return Ok(FillRoute::TwoWrites(
                "SOURCE is not a PostgreSQL database".into(),
            ));
        }
        // A session reads one database: a join with DB_DATA's mapping tables is swap's staged
        // fill, in DB_DATA.
        if Self::staged(&job.fill) {
            return Ok(FillRoute::TwoWrites(
                "a key or reference comes from a mapping table in DB_DATA, which a session on DB_FINAL cannot join".into(),
            ));
        }
        // Rows whose new primary keys do not follow the old keys' order (v4 keys, references in
        // the key) go in at random unless the key is set aside and built after them
        // (`set_aside_primary_key.sql`): on a large table that cost more than writing DB_DATA
        // and sorting its stored UUIDs for the load (docs/performance.md).
        if job.key_order.is_some() && job.fill.table.estimated_rows >= RANDOM_KEY_ROWS {
            // DB_FINAL's key; before derive-final makes DB_FINAL from SOURCE, SOURCE's.
            let asked = if self.database_exists()? {
                PostgresBackend::new(self.url.clone())
            } else {
                PostgresBackend::new(source.clone())
            };
            let mut s = asked.connect()?;
            let sql = asked.bind(SET_ASIDE_PRIMARY_KEY_SQL).replace(
                "$2::text",
                &format!("{}::text", DIALECT.lit(&job.fill.table.name)),
            );
            let rows: Vec<serde_json::Value> = catalog_rows(s.as_mut(), &sql)?;
            if rows.is_empty() {
                return Ok(FillRoute::TwoWrites(
                    "DB_FINAL's primary key holds new keys that SOURCE's order does not give (v4 keys or references) and stays in place during the load (another table's foreign key or another object relies on it): DB_DATA's stored keys sort for the load for less than one write at random costs".into(),
                ));
            }
        }
        Ok(FillRoute::OneWrite)
    }

    fn fill_final(
        &self,
        source: &dyn Backend,
        _data: &dyn Backend,
        job: &FinalFill<'_>,
    ) -> Result<Moved> {
        if source.url().engine != Engine::Postgres {
            return Err(not_postgres(source.url()));
        }
        let fill = &job.fill;
        let id = run_id(fill.marker);
        let reader = PostgresBackend::new(source.url().clone());
        let mut src = reader.client(&source.url().database, id)?;
        let read = Self::final_source_copy(job);
        // A large table's rows come on a connection of their own (`session::CopyReader`).
        let mut own = job
            .large
            .then(|| reader.own_connection(&source.url().database, id));
        if fill.order_by.is_some() && job.key_order.is_none() {
            // SOURCE's sort (reading only: a session setting).
            let setting = work_mem();
            src.batch_execute(&setting)
                .map_err(|e| sql_error(&e, &setting))?;
            if let Some(own) = own.as_mut() {
                own.settings = format!("{};\n{setting}", own.settings);
            }
        }
        let columns: Vec<String> = fill.columns.iter().map(|c| c.name.clone()).collect();
        let moved = self.copy_into_final(
            &mut src,
            &read,
            own.as_ref(),
            &IntoFinal {
                table: &fill.table.name,
                columns: &columns,
                arrays: job.models.iter().any(|c| c.data_type.ends_with("[]")),
                keys: Self::key_rewrites(fill),
                arrival: fill.arrival,
                marker: fill.marker,
                progress: job.progress,
                tap: job.tap,
            },
        )?;
        Ok(moved)
    }

    fn fill_final_sql(
        &self,
        _source: &DbUrl,
        _data: &DbUrl,
        job: &FinalFill<'_>,
    ) -> Result<Vec<String>> {
        let fill = &job.fill;
        let columns: Vec<String> = fill.columns.iter().map(|c| c.name.clone()).collect();
        let list = DIALECT.column_list(&columns);
        let table = DIALECT.q(&fill.table.name);
        let read = Self::final_source_copy(job).replacen(fill.marker, "", 1);
        let mut out = DIALECT.bulk_session(fill.arrival);
        let derived = Self::derived_note(fill);
        out.push(format!(
            "COPY {table} ({list}) FROM STDIN (FORMAT binary) -- from SOURCE: {read}{derived}"
        ));
        Ok(out)
    }

    /// The one-write COPY passes through rekey (`copy_into_final`'s tee).
    fn taps_source(&self) -> bool {
        true
    }

    /// Statistics per table, as soon as its rows are in: the workers analyze one table while
    /// the other loads (after the last table, one ANALYZE of the database and the sequences had
    /// taken 1.85 s of a 10.23 s load), and beside the table's check instead of before it. A
    /// table whose indexes were set aside is analyzed by their restore, after the builds (an
    /// expression index's statistics need the index).
    fn after_rows_sql(&self, table: &str, marker: &str) -> Vec<String> {
        vec![format!("{marker}ANALYZE {}", DIALECT.q(table))]
    }

    fn after_load_sql(&self, schema: &Schema) -> Vec<String> {
        let mut out = Vec::new();
        // Sequences still feeding integer columns continue after the loaded keys; one that feeds
        // several columns (a shared sequence) after the largest of them.
        let mut sequences: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for t in &schema.tables {
            let extra = PgTable::of(t);
            for c in t.columns.iter().filter(|c| c.is_integer()) {
                if let Some(seq) = extra.column(&c.name).and_then(|p| p.sequence.clone()) {
                    sequences
                        .entry(seq)
                        .or_default()
                        .push((t.name.clone(), c.name.clone()));
                }
            }
        }
        for (seq, columns) in sequences {
            let maxes: Vec<String> = columns
                .iter()
                .map(|(t, c)| format!("(SELECT max({}) FROM {})", DIALECT.q(c), DIALECT.q(t)))
                .collect();
            let max = if maxes.len() == 1 {
                maxes[0].clone()
            } else {
                format!("GREATEST({})", maxes.join(", "))
            };
            out.push(format!(
                "SELECT setval({}, coalesce({max}, 1), {max} IS NOT NULL)",
                DIALECT.lit(&seq)
            ));
        }
        for v in &schema.views {
            if v.create_sql
                .as_deref()
                .is_some_and(|s| s.starts_with("CREATE MATERIALIZED VIEW"))
            {
                out.push(format!("REFRESH MATERIALIZED VIEW {}", DIALECT.q(&v.name)));
            }
        }
        out
    }
}

/// The rows stored, when they are all the rows streamed.
fn same_count(table: &str, moved: Moved) -> Result<u64> {
    if moved.read != moved.written {
        return Err(Error::mismatch(
            Place::default().table(table),
            format!(
                "{} rows were streamed but the server stored {}.",
                moved.read, moved.written
            ),
        ));
    }
    Ok(moved.written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_id_comes_from_the_marker() {
        assert_eq!(run_id("/* rekey:0a1b */ "), Some("0a1b"));
        assert_eq!(run_id("nothing"), None);
    }
}
