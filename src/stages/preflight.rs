//! Stage 2: everything that can be checked before anything is written: orphan references in
//! SOURCE, an existing DB_DATA from another run, a non-empty DB_FINAL, server versions.

use super::{Context, Outcome, Stage};
pub use crate::backend::Finding;
use crate::backend::{Backend, Dialect, LoadPath, Role};
use crate::error::{Error, Place, Result};
use crate::journal::Artifact;
use crate::model::{is_internal, Schema};
use crate::options::{LoadChoice, OrphanPolicy};
use crate::plan::Reference;
use crate::run::final_db::{final_empty, FinalSchema};
use crate::run::marker::marker_of;

/// Orphans of one reference: values with no parent row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Orphans {
    pub reference: String,
    pub rows: u64,
    pub samples: Vec<String>,
    /// With `--orphans null`: the run directory's file that lists every one of them.
    pub file: Option<String>,
}

/// A database of the run, when the command names it.
type Endpoint = Option<std::sync::Arc<dyn Backend>>;

/// Room DB_DATA and DB_FINAL need next to SOURCE's size: the UUID columns are wider than the
/// integers they replace, and both copies exist at once on a rehearsal server.
const SPACE_FACTOR: f64 = 2.5;
/// Bytes per row of the map files.
const MAP_BYTES_PER_ROW: u64 = 60;

/// Versions, privileges, the load path, free space and cluster settings, as findings. Only errors
/// that stop the checking itself (an unreachable server) are returned as errors.
pub fn environment(ctx: &Context, derive: bool) -> Result<Vec<Finding>> {
    environment_with(ctx, derive, &FinalSchema::default())
}

fn environment_with(ctx: &Context, derive: bool, described: &FinalSchema) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    let endpoints: [(&str, &Endpoint, Role); 3] = [
        ("SOURCE", &ctx.source, Role::Source),
        ("DB_DATA", &ctx.data, Role::Data),
        (
            "DB_FINAL",
            &ctx.final_db,
            Role::Final {
                derive,
                moved: ctx.run.load_path == LoadChoice::Move,
            },
        ),
    ];
    let mut source_size = None;
    for (name, backend, role) in endpoints {
        let Some(b) = backend else { continue };
        let mut s = b.connect_server()?;
        let info = b.server_info(s.as_mut())?;
        out.push(Finding::ok(
            format!("{name} server"),
            format!("{} {}", b.url(), info.version),
        ));
        let mut privileges = b.check_privileges(s.as_mut(), role)?;
        privileges.subject = format!("{name} {}", privileges.subject);
        out.push(privileges);
        for mut f in b.findings(s.as_mut())? {
            f.subject = format!("{name} {}", f.subject);
            out.push(f);
        }
        if name == "SOURCE" && b.database_exists()? {
            let mut ss = b.connect()?;
            source_size = Some(b.footprint(ss.as_mut())?);
        }
    }
    if let Some(fin) = ctx.final_db.as_ref().filter(|_| !derive) {
        if fin.database_exists()? {
            out.extend(trigger_findings(fin.as_ref(), described)?);
        }
    }
    if let (Some(d), Some(f)) = (&ctx.data, &ctx.final_db) {
        let mut s = f.connect_server()?;
        match f.load_path(s.as_mut(), d.url(), ctx.run.load_path)? {
            LoadPath::Unavailable(fix) => out.push(Finding::fail(
                "load path",
                "DB_FINAL cannot receive rows by any bulk path",
                fix,
            )),
            LoadPath::ServerFiles(dir) => out.push(Finding::ok(
                "load path",
                format!("server-side OUTFILE/INFILE in {dir}"),
            )),
            p => out.push(Finding::ok("load path", p.describe())),
        }
    }
    if let (Some(size), Some(data)) = (&source_size, &ctx.data) {
        let mut s = data.connect_server()?;
        let target = data.footprint(s.as_mut())?;
        let dir = target.local_dir;
        let need = (size.bytes as f64 * SPACE_FACTOR) as u64;
        match dir.and_then(|d| fs4::available_space(&d).ok().map(|free| (d, free))) {
            Some((d, free)) if free >= need => out.push(Finding::ok("disk space", format!("{} free in {}, about {} needed", mb(free), d.display(), mb(need)))),
            Some((d, free)) => out.push(Finding::fail(
                "disk space",
                format!("{} free in {}, but DB_DATA and DB_FINAL need about {} ({SPACE_FACTOR}x SOURCE's {})", mb(free), d.display(), mb(need), mb(size.bytes)),
                "Free space on the server's data volume, or put DB_DATA on a server with room.",
            )),
            None => {
                // A loopback address is this machine: say why its disk is out of sight.
                let why = if data.url().is_local_host() {
                    "the server's data directory is out of rekey's sight: in a container, or not shown to this database account"
                } else {
                    "remote server"
                };
                out.push(Finding::ok("disk space", format!("not measurable from here ({why}); DB_DATA and DB_FINAL need about {}", mb(need))))
            }
        }
        let map_need = size.rows * MAP_BYTES_PER_ROW;
        let run_dir = if ctx.run.run_dir.exists() {
            ctx.run.run_dir.clone()
        } else {
            std::path::PathBuf::from(".")
        };
        if let Ok(free) = fs4::available_space(&run_dir) {
            if free < map_need {
                out.push(Finding::fail(
                    "run directory space",
                    format!("{} free, map files need about {}", mb(free), mb(map_need)),
                    "Give a --run-dir on a disk with room.",
                ));
            }
        }
    }
    Ok(out)
}

/// DB_FINAL's triggers are set aside during the load and recreated after it: the account must
/// be allowed to recreate each one exactly (MySQL: as its definer).
fn trigger_findings(fin: &dyn Backend, described: &FinalSchema) -> Result<Vec<Finding>> {
    let schema = described.get(fin)?;
    let mut fs = fin.connect()?;
    let mut out = Vec::new();
    for t in &schema.triggers {
        if let Some(fix) = fin.may_recreate(fs.as_mut(), t)? {
            out.push(Finding::fail(
                "DB_FINAL triggers",
                format!(
                    "trigger {} on {} runs as {}, which this account may not recreate after setting it aside for the load",
                    t.name,
                    t.table,
                    t.runs_as.as_deref().unwrap_or("another account")
                ),
                fix,
            ));
        }
    }
    if !schema.triggers.is_empty() && out.is_empty() {
        out.push(Finding::ok(
            "DB_FINAL triggers",
            format!(
                "{} {} can be set aside and recreated",
                schema.triggers.len(),
                crate::text::plural(schema.triggers.len(), "trigger")
            ),
        ));
    }
    Ok(out)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Fails with every failing finding in one paragraph.
pub fn require(findings: &[Finding]) -> Result<()> {
    let failed: Vec<String> = findings
        .iter()
        .filter(|f| !f.ok)
        .map(|f| {
            format!(
                "{}: {} (fix: {})",
                f.subject,
                f.detail,
                f.fix.as_deref().unwrap_or("")
            )
        })
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::env(
        Place::stage(Stage::Preflight),
        format!("the environment is not ready: {}.", failed.join("; ")),
        "Apply the fixes (`rekey check` lists every check), then run again; nothing was written.",
    ))
}

/// Fails with every failing finding about the databases' contents in one paragraph (exit 2).
pub fn require_data(findings: &[Finding]) -> Result<()> {
    let failed: Vec<String> = findings
        .iter()
        .filter(|f| !f.ok)
        .map(|f| {
            format!(
                "{}: {} (fix: {})",
                f.subject,
                f.detail,
                f.fix.as_deref().unwrap_or("")
            )
        })
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::input(
        Place::stage(Stage::Preflight),
        format!("the run would fail on the data: {}.", failed.join("; ")),
        "Apply the fixes (`rekey check` lists every check), then run again; nothing was written.",
    ))
}

/// What would fail mid-run because of what the databases hold, found before any write: the
/// engine's own checks of SOURCE, and DB_FINAL's unique keys against SOURCE's data.
pub fn data_findings(ctx: &Context, derive: bool) -> Result<Vec<Finding>> {
    data_findings_with(ctx, derive, &FinalSchema::default())
}

fn data_findings_with(
    ctx: &Context,
    derive: bool,
    described: &FinalSchema,
) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    let Some((source, shared)) = crate::run::source::existing_source(ctx)? else {
        return Ok(out);
    };
    let (schema, plan) = &*shared;
    let mut s = source.connect()?;
    out.extend(source.check_source(s.as_mut(), schema, plan, &ctx.conversion, derive)?);
    let Some(fin) = ctx.final_db.as_ref().filter(|_| !derive) else {
        return Ok(out);
    };
    if !fin.database_exists()? {
        return Ok(out);
    }
    let final_schema = described.get(fin.as_ref())?;
    out.extend(unique_keys(
        source.as_ref(),
        s.as_mut(),
        schema,
        final_schema,
    )?);
    out.extend(crate::run::final_keys::check_source(
        source.as_ref(),
        s.as_mut(),
        schema,
        plan,
        final_schema,
    )?);
    Ok(out)
}

/// DB_FINAL's unique keys must hold for the data. Converted columns map one to one, so a key is
/// checked on SOURCE's values; a key SOURCE enforces itself needs no check.
fn unique_keys(
    source: &dyn Backend,
    s: &mut dyn crate::backend::Session,
    schema: &Schema,
    final_schema: &Schema,
) -> Result<Vec<Finding>> {
    let d = source.dialect();
    let mut out = Vec::new();
    for ft in &final_schema.tables {
        let Some(st) = schema.table(&ft.name) else {
            continue;
        };
        for ix in ft.indexes.iter().filter(|i| i.unique) {
            if ix.columns.is_empty() || ix.columns.iter().any(|c| st.column(c).is_none()) {
                continue; // an expression key, or columns SOURCE does not have
            }
            let same = |cols: &[String]| {
                cols.len() == ix.columns.len() && cols.iter().all(|c| ix.columns.contains(c))
            };
            let enforced =
                same(&st.primary_key) || st.indexes.iter().any(|i| i.unique && same(&i.columns));
            if enforced {
                continue;
            }
            let cols = d.column_list(&ix.columns);
            let not_null: Vec<String> = ix
                .columns
                .iter()
                .map(|c| format!("{} IS NOT NULL", d.q(c)))
                .collect();
            let dup = s.query_all(&format!(
                "SELECT {cols} FROM {} WHERE {} GROUP BY {cols} HAVING COUNT(*) > 1 LIMIT 1",
                d.q(&st.name),
                not_null.join(" AND ")
            ))?;
            if let Some(row) = dup.first() {
                let values: Vec<String> = row
                    .iter()
                    .map(|v| v.as_string().unwrap_or_else(|| "NULL".into()))
                    .collect();
                out.push(Finding::fail(
                    "DB_FINAL unique keys",
                    format!(
                        "{}: unique key {} ({}) would be broken by SOURCE's rows, e.g. ({}) appears more than once",
                        ft.name,
                        ix.name,
                        ix.columns.join(", "),
                        values.join(", ")
                    ),
                    "drop or widen that key in DB_FINAL's schema, or remove the duplicates from the snapshot",
                ));
            }
        }
    }
    Ok(out)
}

pub fn run(ctx: &Context, check_data: bool, check_final: bool) -> Result<Outcome> {
    // SOURCE's counts (the run's snapshot) are taken while the checks run: the counts only
    // read SOURCE, the checks write nothing it reads, and the counts of the large tables had
    // waited for every check (the lean benchmark's preflight: the orphans' scans, then the
    // catalogs, then the counts). They use `--jobs` connections to SOURCE beside the orphan
    // checks' (no more than the load holds), are journaled only once every check passed, and
    // stop at the next table when one failed, whose error is the one reported.
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let counting = scope.spawn(|| crate::run::source_snapshot::count(ctx, &stop));
        let checked = checks(ctx, check_data, check_final);
        if checked.is_err() {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let counted = crate::run::joined(
            counting.join(),
            Place::stage(Stage::Preflight),
            "the thread counting SOURCE's rows",
        );
        let outcome = checked?;
        crate::run::source_snapshot::store(ctx, counted?)?;
        Ok(outcome)
    })
}

/// Every check of `run`, without the snapshot.
fn checks(ctx: &Context, check_data: bool, check_final: bool) -> Result<Outcome> {
    let shared = crate::run::source::load(ctx)?;
    let (_, plan) = &*shared;
    require_data(&crate::run::reference_values::check(ctx)?)?;
    let mut orphans = find_orphans(ctx, &plan.references)?;
    let mut detail = Vec::new();
    if !orphans.is_empty() {
        let listing: Vec<String> = orphans
            .iter()
            .map(|o| {
                format!(
                    "{}: {} rows, e.g. {}",
                    o.reference,
                    o.rows,
                    o.samples.join(", ")
                )
            })
            .collect();
        let not_nullable: Vec<&Reference> = plan
            .references
            .iter()
            .filter(|r| !r.nullable && orphans.iter().any(|o| o.reference == r.label()))
            .collect();
        if ctx.conversion.orphans == OrphanPolicy::Fail || !not_nullable.is_empty() {
            let hint = if not_nullable.is_empty() {
                "Fix or delete these rows in the snapshot, or run with --orphans null to store NULL in them (each one is listed in the report).".to_string()
            } else {
                format!(
                    "{} cannot hold NULL, so --orphans null cannot help there: fix or delete those rows in the snapshot first.",
                    not_nullable.iter().map(|r| format!("{}.{}", r.table, r.column)).collect::<Vec<_>>().join(", ")
                )
            };
            return Err(Error::input(
                Place::stage(Stage::Preflight),
                format!(
                    "SOURCE has references whose value has no parent row: {}.",
                    listing.join("; ")
                ),
                hint,
            ));
        }
        for o in &mut orphans {
            if let Some(r) = plan.references.iter().find(|r| r.label() == o.reference) {
                o.file = list_orphans(ctx, r)?;
            }
            ctx.journal.add_artifact(
                Artifact::OrphansNulled,
                &o.reference,
                &serde_json::to_string(o).unwrap_or_default(),
            )?;
        }
        detail.push(format!("orphans stored as NULL: {}", listing.join("; ")));
    }
    let derive = !check_final && ctx.final_db.is_some();
    let described = FinalSchema::default();
    require(&environment_with(ctx, derive, &described)?)?;
    require_data(&data_findings_with(ctx, derive, &described)?)?;
    if derive {
        derive_final(ctx)?;
    }
    if check_data {
        check_data_db(ctx)?;
    }
    if check_final {
        let f = ctx.final_db()?;
        let source = crate::run::source::load_if_given(ctx)?;
        let final_schema = final_empty(f.as_ref(), source.as_ref().map(|p| &p.0), &described)?;
        if ctx.run.load_path == LoadChoice::Move {
            check_move(ctx, &final_schema)?;
            detail.push("DB_DATA's tables are built with DB_FINAL's definitions and moved into DB_FINAL by the load (--load-path move)".into());
        }
    }
    Ok(Outcome {
        rows: orphans.iter().map(|o| o.rows).sum(),
        detail: (!detail.is_empty()).then(|| detail.join("; ")),
    })
}

/// Counts, per reference, the non-NULL values that have no parent row in SOURCE: an anti-join per
/// reference (it reads the referencing column's index, not the table), after a count of the
/// distinct values without a parent where the engine reads those from an index
/// (`distinct_orphans_sql`), samples only where some row has none; references in parallel.
pub fn find_orphans(ctx: &Context, refs: &[Reference]) -> Result<Vec<Orphans>> {
    let source = ctx.source()?;
    let d = source.dialect();
    let shared = crate::run::source::load(ctx)?;
    let mut ordered: Vec<&Reference> = refs.iter().collect();
    ordered.sort_by_key(|r| {
        std::cmp::Reverse(
            shared
                .0
                .table(&r.table)
                .map(|t| t.estimated_rows)
                .unwrap_or(0),
        )
    });
    let found = super::greedy(ctx.run.jobs, &ordered, |r| {
        let from = orphan_rows(d, &shared.0, r, &d.q(&r.table));
        let mut s = source.connect()?;
        if let Some(sql) = distinct_orphans_sql(d, &shared.0, r) {
            if s.query_u64(&sql)? == 0 {
                return Ok(None);
            }
        }
        let count = s.query_u64(&format!("SELECT COUNT(*) {from}"))?;
        if count == 0 {
            return Ok(None);
        }
        let samples = s
            .query_all(&format!(
                "SELECT DISTINCT c.{} {from} ORDER BY 1 LIMIT 5",
                d.q(&r.column)
            ))?
            .iter()
            .filter_map(|row| row.first().and_then(|v| v.as_string()))
            .collect();
        Ok(Some(Orphans {
            reference: r.label(),
            rows: count,
            samples,
            file: None,
        }))
    })?;
    // Reported in the plan's order, whatever order the workers finished in.
    let mut all: Vec<Orphans> = found.into_iter().flatten().collect();
    all.sort_by_key(|o| refs.iter().position(|r| r.label() == o.reference));
    Ok(all)
}

/// The count of reference `r`'s distinct values that have no parent row, where the engine
/// reads them from an index that starts with the column (`Dialect::reads_distinct_by_index`)
/// and the column holds integers (a text value equal to another under its collation, `'7'` and
/// `'7 '`, would stand for both, and they need not join alike). None: the join counts rows.
fn distinct_orphans_sql(d: &dyn Dialect, schema: &Schema, r: &Reference) -> Option<String> {
    let table = schema.table(&r.table)?;
    // InnoDB's primary key is a B-tree too (a junction table's reference often leads it).
    let clustered = table
        .engine
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case("InnoDB"))
        && table.primary_key.first() == Some(&r.column);
    let indexed = clustered
        || table
            .indexes
            .iter()
            .any(|i| i.columns.first() == Some(&r.column) && i.kind.eq_ignore_ascii_case("BTREE"));
    let integer = table.column(&r.column).is_some_and(|c| c.is_integer());
    (d.reads_distinct_by_index() && indexed && integer).then(|| {
        let values = format!(
            "(SELECT DISTINCT {col} FROM {} WHERE {col} IS NOT NULL)",
            d.q(&r.table),
            col = d.q(&r.column),
        );
        format!("SELECT COUNT(*) {}", orphan_rows(d, schema, r, &values))
    })
}

/// `FROM ... WHERE ...` of the rows of `rows` (reference `r`'s table, or a derived table of its
/// column, as `c`) whose value has no parent row (`p`) in SOURCE.
fn orphan_rows(d: &dyn Dialect, schema: &Schema, r: &Reference, rows: &str) -> String {
    format!(
        "FROM {rows} c LEFT JOIN {} p ON {} WHERE c.{col} IS NOT NULL AND p.{key} IS NULL",
        d.q(&r.ref_table),
        parent_join(d, schema, r),
        col = d.q(&r.column),
        key = d.q(&r.ref_column),
    )
}

/// The join of reference `r`'s rows (`c`) to their parent rows (`p`) in SOURCE: a reference held
/// in a text column joins by the integer it spells (`Dialect::reference_key_sql`).
fn parent_join(d: &dyn Dialect, schema: &Schema, r: &Reference) -> String {
    let col = format!("c.{}", d.q(&r.column));
    let integer = schema
        .table(&r.table)
        .and_then(|t| t.column(&r.column))
        .is_none_or(|c| c.is_integer());
    let value = if integer {
        col
    } else {
        d.reference_key_sql(&col)
    };
    format!("p.{} = {value}", d.q(&r.ref_column))
}

/// Writes every orphan of `r` (the row's key and the value that will become NULL) to
/// `orphans/<table>.<column>.csv` in the run directory (names encoded by `run_files::file_stem`),
/// so no lost reference goes unlisted.
fn list_orphans(ctx: &Context, r: &Reference) -> Result<Option<String>> {
    if ctx.run.dry_run {
        return Ok(None);
    }
    let source = ctx.source()?;
    let d = source.dialect();
    let shared = crate::run::source::load(ctx)?;
    let key: Vec<String> = shared
        .0
        .table(&r.table)
        .map(|t| t.primary_key.clone())
        .unwrap_or_default();
    let relative = format!(
        "orphans/{}.{}.csv",
        crate::run_files::file_stem(&r.table),
        crate::run_files::file_stem(&r.column)
    );
    let path = ctx.run.run_dir.join(&relative);
    if let Some(dir) = path.parent() {
        crate::run_files::create_private_dir(dir)
            .map_err(|e| crate::error::io_error("create", dir, e))?;
    }
    let mut csv = csv::Writer::from_writer(
        crate::run_files::create_private_file(&path)
            .map_err(|e| crate::error::io_error("create", &path, e))?,
    );
    let mut header = key.clone();
    header.push(r.column.clone());
    csv.write_record(&header)
        .map_err(|e| crate::error::io_error("write", &path, e.into()))?;
    let selected: Vec<String> = header.iter().map(|c| format!("c.{}", d.q(c))).collect();
    let sql = format!(
        "SELECT {} {} ORDER BY {}",
        selected.join(", "),
        orphan_rows(d, &shared.0, r, &d.q(&r.table)),
        selected.join(", "),
    );
    let mut s = source.connect()?;
    s.query(&sql, &mut |row| {
        let fields: Vec<String> = row
            .iter()
            .map(|v| v.as_string().unwrap_or_default())
            .collect();
        csv.write_record(&fields)
            .map_err(|e| crate::error::io_error("write", &path, e.into()))
    })?;
    csv.flush()
        .map_err(|e| crate::error::io_error("write", &path, e))?;
    Ok(Some(relative))
}

/// DB_DATA must not exist, or must be the one this run (being resumed) built.
pub fn check_data_db(ctx: &Context) -> Result<()> {
    let data = ctx.data()?;
    if !data.database_exists()? {
        return Ok(());
    }
    let mut s = data.connect()?;
    let schema = data.describe(s.as_mut())?;
    let owner = marker_of(data.as_ref(), s.as_mut(), &schema)?;
    match owner {
        Some(id) if id == ctx.run_id => Ok(()),
        Some(id) => Err(Error::input(
            Place::stage(Stage::Preflight),
            format!("DB_DATA {} already exists from another rekey run ({id}).", data.url()),
            format!("Drop it with `rekey clean --run-dir` and the run directory of run {id} (or DROP DATABASE), or give another --data."),
        )),
        None if schema.tables.is_empty() => Ok(()),
        None => Err(Error::input(
            Place::stage(Stage::Preflight),
            format!("DB_DATA {} already exists and holds {} tables that rekey did not create.", data.url(), schema.tables.len()),
            "rekey never writes into a database it did not create: give another --data, or drop that database yourself.",
        )),
    }
}

/// DB_FINAL must be empty except the migration tool's bookkeeping tables.
/// With `--load-path move`, before anything is written: the engine moves tables between DB_DATA
/// and DB_FINAL, and DB_FINAL's definitions hold the converted rows (the compare that otherwise
/// runs after swap, done here on the shape the conversion gives SOURCE's tables).
pub fn check_move(ctx: &Context, final_schema: &Schema) -> Result<()> {
    let fin = ctx.final_db()?;
    let data = ctx.data()?;
    let mut s = fin.connect()?;
    let path = fin.load_path(s.as_mut(), data.url(), LoadChoice::Move)?;
    if path != LoadPath::Move {
        let fix = match path {
            LoadPath::Unavailable(fix) => fix,
            _ => "this engine cannot move tables between databases: drop --load-path".into(),
        };
        return Err(Error::input(
            Place::stage(Stage::Preflight),
            "--load-path move cannot be used for these databases; nothing was changed.",
            format!("{fix}."),
        ));
    }
    let predicted = crate::run::data_shape::predicted_data_schema(ctx)?;
    let source = crate::run::source::load_if_given(ctx)?;
    let diffs = crate::run::differences::differences(
        &predicted,
        final_schema,
        source.as_ref().map(|p| &p.0),
    );
    if !diffs.is_empty() {
        return Err(Error::input(
            Place::stage(Stage::Preflight),
            format!(
                "DB_FINAL cannot hold the converted rows as --load-path move writes them; nothing was changed. {} differences: {}.",
                diffs.len(),
                diffs.join("; ")
            ),
            "Change the application's schema (or the conversion options) so they match, then run again.",
        ));
    }
    Ok(())
}

/// Before any write: derive-final must be able to create DB_FINAL. It refuses a database that
/// exists with tables (unless this run created it), and builds every table's statements, which
/// is where an engine that copies definitions on the server (MySQL's CREATE TABLE ... LIKE)
/// finds a SOURCE it cannot reach from DB_FINAL's server.
pub fn derive_final(ctx: &Context) -> Result<()> {
    let fin = ctx.final_db()?;
    if fin.database_exists()? {
        let mut s = fin.connect()?;
        let existing = fin.describe(s.as_mut())?;
        let owner = crate::run::marker::marker_of(fin.as_ref(), s.as_mut(), &existing)?;
        if !existing.tables.is_empty() && owner.as_deref() != Some(ctx.run_id.as_str()) {
            let names: Vec<&str> = existing
                .tables
                .iter()
                .take(5)
                .map(|t| t.name.as_str())
                .collect();
            return Err(Error::input(
                Place::stage(Stage::Preflight),
                format!(
                    "--derive-final creates DB_FINAL, but {} already exists and has {} tables ({}{}); nothing was changed.",
                    fin.url(),
                    existing.tables.len(),
                    names.join(", "),
                    if existing.tables.len() > names.len() { ", ..." } else { "" }
                ),
                "Give --final the name of a database that does not exist yet (or an empty one), drop that one if it is yours to drop, or run without --derive-final to load into it as the application's schema.",
            ));
        }
    }
    let shared = crate::run::source::load(ctx)?;
    let source = ctx.source()?;
    let d = fin.dialect();
    let uuid_type = d.uuid_type(ctx.conversion.uuid_format)?;
    for t in shared.0.tables.iter().filter(|t| !is_internal(&t.name)) {
        let swaps = crate::run::data_shape::swaps_for(ctx, d, &t.name, &uuid_type)?.0;
        fin.derive_table_sql(source.url(), t, &swaps).map_err(|e| match e {
            Error::Input { .. } => Error::input(
                Place::stage(Stage::Preflight).table(&t.name),
                format!("derive-final cannot create DB_FINAL's tables: {}; nothing was changed.", e.message()),
                "Give --final a database on SOURCE's server (derive-final copies SOURCE's definitions there; the load can then reach another server), or create DB_FINAL with the application's migrations and run without --derive-final.",
            ),
            other => other,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::mysql::MysqlDialect;
    use crate::backend::postgres::PostgresDialect;
    use crate::model::{Column, Index, Table};
    use crate::plan::Origin;

    fn log(reference: &str, data_type: &str, index_kind: Option<&str>) -> Schema {
        let column = |name: &str, data_type: &str| Column {
            name: name.into(),
            data_type: data_type.into(),
            ..Column::default()
        };
        Schema {
            tables: vec![Table {
                name: "view log".into(),
                columns: vec![column("id", "bigint"), column(reference, data_type)],
                primary_key: vec!["id".into()],
                indexes: index_kind
                    .map(|kind| Index {
                        name: "by post".into(),
                        columns: vec![reference.into()],
                        unique: false,
                        kind: kind.into(),
                        create_sql: None,
                    })
                    .into_iter()
                    .collect(),
                ..Table::default()
            }],
            ..Schema::default()
        }
    }

    fn reference(column: &str) -> Reference {
        Reference {
            table: "view log".into(),
            column: column.into(),
            ref_table: "post".into(),
            ref_column: "id".into(),
            nullable: true,
            origin: Origin::Constraint,
            constraint: None,
            is_primary_key: false,
        }
    }

    /// Where the engine reads an indexed integer column's distinct values without reading every
    /// entry, orphans are looked for among those values first; otherwise the join counts rows.
    #[test]
    fn orphans_are_looked_for_among_distinct_values_where_an_index_gives_them() {
        let schema = log("post_id", "int", Some("BTREE"));
        assert_eq!(
            distinct_orphans_sql(&MysqlDialect, &schema, &reference("post_id")).as_deref(),
            Some("SELECT COUNT(*) FROM (SELECT DISTINCT `post_id` FROM `view log` WHERE `post_id` IS NOT NULL) c LEFT JOIN `post` p ON p.`id` = c.`post_id` WHERE c.`post_id` IS NOT NULL AND p.`id` IS NULL")
        );
        // PostgreSQL reads every entry for DISTINCT: its anti-join is as cheap.
        assert_eq!(
            distinct_orphans_sql(&PostgresDialect, &schema, &reference("post_id")),
            None
        );
        // No index that starts with the column, or not one that gives its values in order.
        for schema in [
            log("post_id", "int", None),
            log("post_id", "int", Some("FULLTEXT")),
        ] {
            assert_eq!(
                distinct_orphans_sql(&MysqlDialect, &schema, &reference("post_id")),
                None
            );
        }
        // A junction table's reference that leads InnoDB's primary key (a B-tree as well).
        let mut junction = log("post_id", "int", None);
        junction.tables[0].primary_key = vec!["post_id".into(), "id".into()];
        assert_eq!(
            distinct_orphans_sql(&MysqlDialect, &junction, &reference("post_id")),
            None
        );
        junction.tables[0].engine = Some("InnoDB".into());
        assert!(distinct_orphans_sql(&MysqlDialect, &junction, &reference("post_id")).is_some());
        // A text reference: values equal under the collation need not join alike.
        let text = log("post_ref", "varchar", Some("BTREE"));
        assert_eq!(
            distinct_orphans_sql(&MysqlDialect, &text, &reference("post_ref")),
            None
        );
    }
}
