//! MariaDB/MySQL's catalog: INFORMATION_SCHEMA (and SHOW CREATE for triggers and views) into the
//! neutral model, the server's facts, and the shapes this engine refuses or warns about.

use super::{opt_text, text, Family, MysqlBackend, MysqlDialect, DIALECT};
use crate::backend::{Catalog, Dialect, Finding, ServerInfo, Session, Value};
use crate::error::{Error, Place, Result};
use crate::model::{Check, Column, ForeignKey, Index, Schema, Table, Trigger, View};
use crate::options::{ConversionOptions, UuidFormat};
use crate::plan::{Kept, Plan, Warning};
use crate::stage::Stage;

const TABLES_SQL: &str = include_str!("tables.sql");
const COLUMNS_SQL: &str = include_str!("columns.sql");
const FOREIGN_KEYS_SQL: &str = include_str!("foreign_keys.sql");
const TRIGGERS_SQL: &str = include_str!("triggers.sql");
const VIEWS_SQL: &str = include_str!("views.sql");
const ROUTINES_SQL: &str = include_str!("routines.sql");
const SERVER_INFO_SQL: &str = include_str!("server_info.sql");
const PARTITIONS_SQL: &str = include_str!("partitions.sql");

/// What the server says about itself that the load path and the checks decide on.
#[derive(Debug, Clone, Default)]
pub(super) struct ServerFacts {
    /// `Some(dir)` where server-side export files may go; `None` when the server forbids them.
    pub outfile_dir: Option<String>,
    pub local_infile: bool,
    pub has_file_privilege: bool,
}

/// The name of the invisible key column rekey gives a keyless table in DB_DATA on Galera; the
/// catalog of DB_DATA does not show it (it is not SOURCE's nor DB_FINAL's column).
pub(super) const WORK_KEY: &str = "_rekey_row";

impl MysqlBackend {
    pub(super) fn server_facts(&self, session: &mut dyn Session) -> Result<ServerFacts> {
        let row = session
            .query_all(SERVER_INFO_SQL)?
            .into_iter()
            .next()
            .unwrap_or_default();
        let get = |i: usize| row.get(i).and_then(Value::as_string);
        // secure_file_priv: a directory restricts exports to it; empty allows any directory.
        // NULL disables exports on MySQL but means "unset, no restriction" on MariaDB.
        let outfile_dir = match get(1) {
            None if self.flavour().family() == Family::MariaDb => get(3),
            None => None,
            Some(dir) if dir.is_empty() => get(3),
            Some(dir) => Some(dir),
        };
        let grants: Vec<String> = session
            .query_all("SHOW GRANTS")?
            .iter()
            .filter_map(|g| g.first().and_then(Value::as_string))
            .collect();
        Ok(ServerFacts {
            outfile_dir,
            local_infile: get(2).as_deref() == Some("1"),
            has_file_privilege: super::admin::has_global(&grants, &["FILE"]),
        })
    }
}

/// The rows of the catalog queries that describe tables (the parts of a schema that need no
/// further statement per object), so they can be read from a server or from captured rows.
#[derive(Debug, Default)]
pub(super) struct CatalogRows {
    pub tables: Vec<Vec<Value>>,
    pub columns: Vec<Vec<Value>>,
    pub indexes: Vec<Vec<Value>>,
    pub foreign_keys: Vec<Vec<Value>>,
    pub partitions: Vec<Vec<Value>>,
    /// CHECK constraints: table, name, clause, level (`Column` for MariaDB's column checks).
    pub checks: Vec<Vec<Value>>,
}

/// Whether EXTRA marks a generated column. MySQL 8 says `DEFAULT_GENERATED` for ordinary
/// expression defaults (CURRENT_TIMESTAMP, `DEFAULT (uuid())`): those columns hold data.
pub(super) fn is_generated(extra: &str) -> bool {
    let e = extra.to_ascii_lowercase();
    e.contains("virtual generated") || e.contains("stored generated") || e.contains("persistent")
}

const INTEGER_TYPES: &[&str] = &[
    "tinyint",
    "smallint",
    "mediumint",
    "int",
    "integer",
    "bigint",
];

/// A column's default as MariaDB prints it: literals quoted, expressions bare. MySQL prints
/// both bare and marks expressions (and CURRENT_TIMESTAMP) with EXTRA `DEFAULT_GENERATED`.
fn normal_default(
    flavour: &MysqlDialect,
    default: Option<String>,
    extra: &str,
    data_type: &str,
) -> Option<String> {
    let d = default?;
    if flavour.quotes_literal_defaults() || extra.to_ascii_lowercase().contains("default_generated")
    {
        return Some(d);
    }
    let bare = INTEGER_TYPES.contains(&data_type)
        || matches!(data_type, "decimal" | "float" | "double" | "bit")
        || d.starts_with("0x")
        || d.starts_with("b'");
    Some(if bare { d } else { DIALECT.lit(&d) })
}

/// COLUMN_TYPE without an integer display width (`int(10) unsigned` -> `int unsigned`) where
/// the server shows it on some tables and not others (MySQL 8 after an upgrade).
fn normal_column_type(flavour: &MysqlDialect, column_type: String, data_type: &str) -> String {
    if !flavour.integer_widths_vary() || !INTEGER_TYPES.contains(&data_type) {
        return column_type;
    }
    match (column_type.find('('), column_type.find(')')) {
        (Some(open), Some(close)) if open < close => {
            format!("{}{}", &column_type[..open], &column_type[close + 1..])
        }
        _ => column_type,
    }
}

/// The tables of a schema from its catalog rows, read as `flavour` prints them; `database` is
/// the schema's own name (references into it are not foreign).
pub(super) fn tables_from_rows(
    flavour: &MysqlDialect,
    database: &str,
    rows: &CatalogRows,
) -> Schema {
    let mut schema = Schema::default();
    for row in &rows.tables {
        let collation = opt_text(&row[2]);
        schema.tables.push(Table {
            name: text(&row[0]),
            engine: opt_text(&row[1]),
            charset: collation
                .as_deref()
                .and_then(|c| c.split('_').next())
                .map(str::to_string),
            collation,
            estimated_rows: row[3].as_u64().unwrap_or(0),
            bytes: row[5].as_u64().unwrap_or(0),
            ..Table::default()
        });
    }
    let index_of = |schema: &Schema, name: &str| schema.tables.iter().position(|t| t.name == name);
    for row in &rows.columns {
        let Some(ti) = index_of(&schema, &text(&row[0])) else {
            continue; // a view's columns
        };
        let name = text(&row[1]);
        if name == WORK_KEY {
            continue;
        }
        let extra = text(&row[11]);
        let generated = is_generated(&extra).then(|| text(&row[12]));
        let extra = extra.to_ascii_lowercase();
        let data_type = text(&row[2]).to_ascii_lowercase();
        schema.tables[ti].columns.push(Column {
            name,
            column_type: normal_column_type(flavour, text(&row[3]), &data_type),
            nullable: text(&row[4]) == "YES",
            default: normal_default(flavour, opt_text(&row[5]), &extra, &data_type),
            max_length: row[6].as_u64(),
            numeric_precision: row[7].as_u64(),
            numeric_scale: row[8].as_u64(),
            charset: opt_text(&row[9]),
            collation: opt_text(&row[10]),
            auto_increment: extra.contains("auto_increment"),
            generated,
            invisible: extra.contains("invisible"),
            comment: opt_text(&row[13]).filter(|c| !c.is_empty()),
            data_type,
        });
    }
    for row in &rows.indexes {
        let Some(ti) = index_of(&schema, &text(&row[0])) else {
            continue;
        };
        let table = &mut schema.tables[ti];
        let name = text(&row[1]);
        // A functional key part (MySQL 8.0.13+) has no column, only an expression: it is kept
        // as `(expression)`, which no column is called.
        let column = match opt_text(&row[3]) {
            Some(c) => c,
            None => format!(
                "({})",
                row.get(5).and_then(Value::as_string).unwrap_or_default()
            ),
        };
        if column == WORK_KEY {
            continue;
        }
        if name == "PRIMARY" {
            table.primary_key.push(column);
            continue;
        }
        match table.indexes.iter_mut().find(|i| i.name == name) {
            Some(ix) => ix.columns.push(column),
            None => table.indexes.push(Index {
                name,
                columns: vec![column],
                unique: row[2].as_u64() == Some(0),
                kind: text(&row[4]),
                create_sql: None,
            }),
        }
    }
    for row in &rows.foreign_keys {
        let Some(ti) = index_of(&schema, &text(&row[0])) else {
            continue;
        };
        let table = &mut schema.tables[ti];
        let name = text(&row[1]);
        match table.foreign_keys.iter_mut().find(|f| f.name == name) {
            Some(fk) => {
                fk.columns.push(text(&row[2]));
                fk.ref_columns.push(text(&row[4]));
            }
            None => table.foreign_keys.push(ForeignKey {
                name,
                columns: vec![text(&row[2])],
                ref_schema: opt_text(&row[7]).filter(|s| s != database),
                ref_table: text(&row[3]),
                ref_columns: vec![text(&row[4])],
                on_delete: text(&row[5]),
                on_update: text(&row[6]),
            }),
        }
    }
    for row in &rows.partitions {
        if let Some(ti) = index_of(&schema, &text(&row[0])) {
            let exprs: Vec<String> = [opt_text(&row[2]), opt_text(&row[3])]
                .into_iter()
                .flatten()
                .collect();
            schema.tables[ti].partitioning =
                Some(format!("{}({})", text(&row[1]), exprs.join(", ")));
        }
    }
    for row in &rows.checks {
        if let Some(ti) = index_of(&schema, &text(&row[0])) {
            let name = text(&row[1]);
            let column_level = text(&row[3]).eq_ignore_ascii_case("column");
            schema.tables[ti].checks.push(Check {
                column: column_level.then(|| name.clone()),
                name,
                expression: text(&row[2]),
            });
        }
    }
    schema
}

/// A primary key that MySQL 8.0.30+ generated for a table created without one
/// (`sql_generate_invisible_primary_key`): `my_row_id`, invisible, AUTO_INCREMENT. The
/// application never sees it, so it is no key to convert.
pub(super) fn generated_invisible_key(table: &Table) -> bool {
    matches!(table.primary_key.as_slice(), [k] if k == "my_row_id")
        && table
            .column("my_row_id")
            .is_some_and(|c| c.invisible && c.auto_increment)
}

/// The engine's review of a plan over `schema` read from a server of `flavour`: refusals, and
/// warnings only this engine can give.
pub(super) fn review(
    flavour: &MysqlDialect,
    node: Option<&str>,
    schema: &Schema,
    plan: &mut Plan,
) -> Result<()> {
    check_partitioning(schema, plan)?;
    for t in &schema.tables {
        let engine = t.engine.as_deref().unwrap_or_default();
        if engine.eq_ignore_ascii_case("myisam") {
            plan.warnings.push(Warning {
                kind: "myisam",
                table: t.name.clone(),
                column: None,
                message: "MyISAM table: it has no foreign keys, so declare its references with --reference".into(),
            });
        }
        if flavour.galera()
            && (engine.eq_ignore_ascii_case("myisam") || engine.eq_ignore_ascii_case("aria"))
        {
            plan.warnings.push(Warning {
                kind: "not-replicated",
                table: t.name.clone(),
                column: None,
                message: format!(
                    "{engine} table on a Galera cluster: its rows do not replicate, so only the node rekey reads ({}) is known to hold them; DB_DATA's and a derived DB_FINAL's copies are InnoDB, which replicates",
                    node.unwrap_or("the one in SOURCE's URL")
                ),
            });
        }
        for ix in &t.indexes {
            let converted: Vec<String> = plan
                .uuid_columns(&t.name)
                .into_iter()
                .map(|(c, _)| c)
                .collect();
            for part in ix.columns.iter().filter(|c| c.starts_with('(')) {
                if let Some(c) = converted.iter().find(|c| mentions(part, c)) {
                    plan.warnings.push(Warning {
                        kind: "functional-index",
                        table: t.name.clone(),
                        column: Some(c.clone()),
                        message: format!("index {} has the expression part {part} over {c}, which becomes a UUID: check that DB_FINAL's index still means what it should", ix.name),
                    });
                }
            }
        }
    }
    // A generated invisible primary key is MySQL's, not the application's: keep it.
    let generated: Vec<String> = schema
        .tables
        .iter()
        .filter(|t| generated_invisible_key(t))
        .map(|t| t.name.clone())
        .filter(|name| !plan.references.iter().any(|r| &r.ref_table == name))
        .collect();
    for name in generated {
        if let Some(i) = plan.converted.iter().position(|c| c.table == name) {
            plan.converted.remove(i);
            plan.kept.push(Kept {
                table: name.clone(),
                reason: "generated invisible primary key (my_row_id)".into(),
            });
            plan.warnings.push(Warning {
                kind: "invisible-key",
                table: name,
                column: Some("my_row_id".into()),
                message: "MySQL generated this invisible primary key (sql_generate_invisible_primary_key): it is no application key, so it keeps its integers and is copied as it is".into(),
            });
        }
    }
    Ok(())
}

/// Whether the expression text mentions column `c` (quoted or as a bare word).
fn mentions(expr: &str, c: &str) -> bool {
    expr.contains(&format!("`{c}`"))
        || expr
            .split(|ch: char| !ch.is_alphanumeric() && ch != '_')
            .any(|w| w == c)
}

impl Catalog for MysqlBackend {
    fn describe(&self, session: &mut dyn Session) -> Result<Schema> {
        let flavour = *self.flavour();
        let rows = CatalogRows {
            tables: self.catalog(session, TABLES_SQL)?,
            columns: self.catalog(session, COLUMNS_SQL)?,
            indexes: self.catalog(session, flavour.indexes_sql())?,
            foreign_keys: self.catalog(session, FOREIGN_KEYS_SQL)?,
            partitions: self.catalog(session, PARTITIONS_SQL)?,
            checks: match flavour.checks_sql() {
                Some(sql) => self.catalog(session, sql)?,
                None => Vec::new(),
            },
        };
        let mut schema = tables_from_rows(&flavour, &self.url.database, &rows);
        for row in self.catalog(session, TRIGGERS_SQL)? {
            let name = text(&row[0]);
            let show = session.query_all(&format!(
                "SHOW CREATE TRIGGER {}.{}",
                DIALECT.q(&self.url.database),
                DIALECT.q(&name)
            ))?;
            let Some(def) = show.first() else { continue };
            schema.triggers.push(Trigger {
                name,
                table: text(&row[1]),
                create_sql: text(&def[2]),
                // The trigger's body is parsed under the sql_mode it was created with.
                setup: opt_text(&def[1])
                    .map(|mode| format!("SET SESSION sql_mode = {}", DIALECT.lit(&mode)))
                    .into_iter()
                    .collect(),
                runs_as: opt_text(&row[2]),
                enabled: None,
            });
        }
        for row in self.catalog(session, VIEWS_SQL)? {
            let name = text(&row[0]);
            // Unqualified because the session's database is the view's: it recreates elsewhere.
            let create_sql = session
                .query_all(&format!("SHOW CREATE VIEW {}", DIALECT.q(&name)))?
                .first()
                .and_then(|r| r.get(1))
                .and_then(Value::as_string);
            schema.views.push(View {
                name,
                definition: text(&row[1]),
                create_sql,
            });
        }
        for row in self.catalog(session, ROUTINES_SQL)? {
            schema.routines.push(crate::model::Routine {
                name: text(&row[0]),
                kind: text(&row[1]),
                definition: text(&row[2]),
            });
        }
        Ok(schema)
    }

    fn server_info(&self, _session: &mut dyn Session) -> Result<ServerInfo> {
        Ok(ServerInfo {
            version: self.facts()?.version.clone(),
        })
    }

    fn check_source(
        &self,
        session: &mut dyn Session,
        schema: &Schema,
        plan: &Plan,
        options: &ConversionOptions,
        derive: bool,
    ) -> Result<Vec<Finding>> {
        let flavour = *self.flavour();
        let mut out = check_row_sizes(session, schema)?;
        if derive && matches!(options.uuid_format, UuidFormat::Char32 | UuidFormat::Char36) {
            out.extend(check_reference_charsets(schema, plan));
        }
        if let Err(e) = flavour.uuid_type(options.uuid_format) {
            out.push(Finding::fail(
                "UUID format",
                e.to_string(),
                "--uuid-format binary16 (or char36, char32)",
            ));
        }
        if flavour.chunks_writes() {
            out.extend(self.check_chunking(session, schema, derive)?);
        }
        Ok(out)
    }

    fn review_plan(&self, schema: &Schema, plan: &mut Plan) -> Result<()> {
        let (flavour, node) = match self.facts() {
            Ok(f) => (f.dialect, f.node.clone()),
            Err(_) => (DIALECT, None),
        };
        review(&flavour, node.as_deref(), schema, plan)
    }
}

impl MysqlBackend {
    /// On Galera: tables that cannot be written in chunks (no key to read them in ranges) must
    /// fit one write-set; a keyless table cannot be derived where wsrep_mode requires keys, nor
    /// get rekey's invisible key where it has an AUTO_INCREMENT column already.
    fn check_chunking(
        &self,
        session: &mut dyn Session,
        schema: &Schema,
        derive: bool,
    ) -> Result<Vec<Finding>> {
        let mut out = Vec::new();
        let limits = super::chunks::read_limits(session)?;
        let mode = session
            .query_first("SELECT @@GLOBAL.wsrep_mode")?
            .and_then(|v| v.as_string())
            .unwrap_or_default();
        for t in schema
            .tables
            .iter()
            .filter(|t| !crate::model::is_internal(&t.name))
        {
            let pageable =
                super::chunks::Keyset::of(session, &self.url.database, &t.name)?.is_some();
            if !pageable {
                let avg = t.bytes.checked_div(t.estimated_rows).unwrap_or(256);
                let per = limits.rows_per_chunk(avg);
                let rows =
                    session.query_u64(&format!("SELECT COUNT(*) FROM {}", DIALECT.q(&t.name)))?;
                if let Err(Error::Input { message, hint, .. }) =
                    super::chunks::whole_or_refuse(rows, per, &t.name, &limits)
                {
                    out.push(Finding::fail(
                        "write-set limits",
                        format!("{}: {message}", t.name),
                        hint,
                    ));
                }
            }
            if t.primary_key.is_empty() {
                if derive && mode.to_ascii_uppercase().contains("REQUIRED_PRIMARY_KEY") {
                    out.push(Finding::fail(
                        "keyless table",
                        format!("{}: derive-final cannot create a table without a primary key on this cluster (wsrep_mode={mode})", t.name),
                        format!("give {} a primary key in the snapshot, or create DB_FINAL with the application's migrations", t.name),
                    ));
                }
                if t.columns.iter().any(|c| c.auto_increment) {
                    out.push(Finding::fail(
                        "keyless table",
                        format!("{}: it has no primary key but an AUTO_INCREMENT column; on Galera DB_DATA's copy needs a key, and rekey's invisible one cannot be a second AUTO_INCREMENT column", t.name),
                        format!("make that column {}'s primary key in the snapshot", t.name),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Column types whose single value can exceed the default packet limit (16 MiB).
const LARGE_TYPES: &[&str] = &[
    "mediumtext",
    "longtext",
    "mediumblob",
    "longblob",
    "json",
    "geometry",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
];

/// Rows that do not fit in one packet cannot be read or written by any statement; the server's
/// max_allowed_packet must be raised before the run (reading them fails in verify otherwise).
fn check_row_sizes(session: &mut dyn Session, schema: &Schema) -> Result<Vec<Finding>> {
    let packet = session
        .query_first("SELECT @@max_allowed_packet")?
        .and_then(|v| v.as_u64())
        .unwrap_or(16 << 20);
    let mut out = Vec::new();
    for t in &schema.tables {
        if !t
            .columns
            .iter()
            .any(|c| LARGE_TYPES.contains(&c.data_type.as_str()))
        {
            continue; // no row of it can come near the limit
        }
        let sizes: Vec<String> = t
            .columns
            .iter()
            .map(|c| format!("COALESCE(LENGTH({}), 0)", DIALECT.q(&c.name)))
            .collect();
        let largest = session
            .query_first(&format!(
                "SELECT COALESCE(MAX({}), 0) FROM {}",
                sizes.join(" + "),
                DIALECT.q(&t.name)
            ))?
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        // The row travels in one packet with a length prefix per column.
        let needed = largest + 9 * t.columns.len() as u64 + 1024;
        if needed >= packet {
            let suggest = needed.next_power_of_two().clamp(16 << 20, 1 << 30);
            out.push(Finding::fail(
                "row size",
                format!(
                    "{}: a row holds {largest} bytes, more than max_allowed_packet ({packet}) lets the server send",
                    t.name
                ),
                format!("SET GLOBAL max_allowed_packet = {suggest}; (and in the server's configuration), then run again"),
            ));
        }
    }
    Ok(out)
}

/// derive-final declares each UUID column with its table's default character set; a foreign key
/// between CHAR columns of different character sets is refused (errno 150).
fn check_reference_charsets(schema: &Schema, plan: &Plan) -> Vec<Finding> {
    let charset = |table: &str| schema.table(table).and_then(|t| t.charset.clone());
    plan.references
        .iter()
        .filter_map(|r| {
            let (child, parent) = (charset(&r.table), charset(&r.ref_table));
            (child.is_some() && parent.is_some() && child != parent).then(|| {
                Finding::fail(
                    "reference character sets",
                    format!(
                        "{}.{} is in a table of character set {}, its parent {}.{} of {}: derive-final cannot declare a foreign key between CHAR UUID columns of different character sets",
                        r.table,
                        r.column,
                        child.unwrap_or_default(),
                        r.ref_table,
                        r.ref_column,
                        parent.unwrap_or_default()
                    ),
                    format!(
                        "use --uuid-format binary16 (or native), or give both tables one character set in the snapshot (ALTER TABLE {} CONVERT TO CHARACTER SET {})",
                        DIALECT.q(&r.table),
                        charset(&r.ref_table).unwrap_or_default()
                    ),
                )
            })
        })
        .collect()
}

/// A partition function cannot take a UUID column; the server would refuse the swap halfway.
fn check_partitioning(schema: &Schema, plan: &Plan) -> Result<()> {
    for t in &schema.tables {
        let Some(p) = &t.partitioning else { continue };
        for (col, _) in plan.uuid_columns(&t.name) {
            if p.contains(&format!("`{col}`"))
                || p.contains(&format!("({col})"))
                || p.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .any(|w| w == col)
            {
                return Err(Error::input(
                    Place::stage(Stage::Introspect).table(&t.name).column(&col),
                    format!("the table is partitioned by {p}, and {col} becomes a UUID, which a partition function cannot use."),
                    format!("Remove the partitioning in the snapshot (ALTER TABLE {} REMOVE PARTITIONING) before the cutover and add a new one afterwards, or --exclude {} to keep its integer key.", t.name, t.name),
                ));
            }
        }
    }
    Ok(())
}
