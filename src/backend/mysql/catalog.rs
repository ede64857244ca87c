//! MariaDB/MySQL's catalog: INFORMATION_SCHEMA (and SHOW CREATE for triggers and views) into the
//! neutral model, the server's facts, and the shapes this engine refuses or warns about.

use super::{opt_text, text, MysqlBackend, DIALECT};
use crate::backend::{Catalog, Dialect, Finding, ServerInfo, Session, Value};
use crate::error::{Error, Place, Result};
use crate::model::{Check, Column, ForeignKey, Index, Schema, Table, Trigger, View};
use crate::options::{ConversionOptions, UuidFormat};
use crate::plan::{Plan, Warning};
use crate::stages::Stage;

const TABLES_SQL: &str = include_str!("tables.sql");
const COLUMNS_SQL: &str = include_str!("columns.sql");
const INDEXES_SQL: &str = include_str!("indexes.sql");
const FOREIGN_KEYS_SQL: &str = include_str!("foreign_keys.sql");
const TRIGGERS_SQL: &str = include_str!("triggers.sql");
const VIEWS_SQL: &str = include_str!("views.sql");
const ROUTINES_SQL: &str = include_str!("routines.sql");
const SERVER_INFO_SQL: &str = include_str!("server_info.sql");
const PARTITIONS_SQL: &str = include_str!("partitions.sql");
const CHECKS_SQL: &str = include_str!("checks.sql");

/// What the server says about itself that the load path and the checks decide on.
#[derive(Debug, Clone, Default)]
pub(super) struct ServerFacts {
    pub version: String,
    /// `Some(dir)` where server-side export files may go; `None` when the server forbids them.
    pub outfile_dir: Option<String>,
    pub local_infile: bool,
    pub has_file_privilege: bool,
    pub galera: bool,
}

impl MysqlBackend {
    pub(super) fn server_facts(&self, session: &mut dyn Session) -> Result<ServerFacts> {
        let row = session
            .query_all(SERVER_INFO_SQL)?
            .into_iter()
            .next()
            .unwrap_or_default();
        let get = |i: usize| row.get(i).and_then(Value::as_string);
        let version = get(0).unwrap_or_default();
        // secure_file_priv: a directory restricts exports to it; empty allows any directory.
        // NULL disables exports on MySQL but means "unset, no restriction" on MariaDB.
        let outfile_dir = match get(1) {
            None if version.contains("MariaDB") => get(3),
            None => None,
            Some(dir) if dir.is_empty() => get(3),
            Some(dir) => Some(dir),
        };
        let grants = session.query_all("SHOW GRANTS")?;
        let has_file_privilege = grants.iter().any(|g| {
            let line = g.first().and_then(Value::as_string).unwrap_or_default();
            line.contains(" ON *.* ") && (line.contains("ALL PRIVILEGES") || line.contains(" FILE"))
        });
        Ok(ServerFacts {
            version,
            outfile_dir,
            local_infile: get(2).as_deref() == Some("1"),
            has_file_privilege,
            galera: get(4).is_some_and(|v| v.eq_ignore_ascii_case("ON")),
        })
    }
}

impl Catalog for MysqlBackend {
    fn describe(&self, session: &mut dyn Session) -> Result<Schema> {
        let mut schema = Schema::default();
        for row in self.catalog(session, TABLES_SQL)? {
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
        let index_of =
            |schema: &Schema, name: &str| schema.tables.iter().position(|t| t.name == name);
        for row in self.catalog(session, COLUMNS_SQL)? {
            let Some(ti) = index_of(&schema, &text(&row[0])) else {
                continue; // a view's columns
            };
            let extra = text(&row[11]).to_ascii_lowercase();
            let generated = if extra.contains("generated") || extra.contains("persistent") {
                Some(text(&row[12]))
            } else {
                None
            };
            schema.tables[ti].columns.push(Column {
                name: text(&row[1]),
                data_type: text(&row[2]).to_ascii_lowercase(),
                column_type: text(&row[3]),
                nullable: text(&row[4]) == "YES",
                default: opt_text(&row[5]),
                max_length: row[6].as_u64(),
                numeric_precision: row[7].as_u64(),
                numeric_scale: row[8].as_u64(),
                charset: opt_text(&row[9]),
                collation: opt_text(&row[10]),
                auto_increment: extra.contains("auto_increment"),
                generated,
                invisible: extra.contains("invisible"),
                comment: opt_text(&row[13]).filter(|c| !c.is_empty()),
            });
        }
        for row in self.catalog(session, INDEXES_SQL)? {
            let Some(ti) = index_of(&schema, &text(&row[0])) else {
                continue;
            };
            let table = &mut schema.tables[ti];
            let name = text(&row[1]);
            let column = text(&row[3]);
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
        for row in self.catalog(session, FOREIGN_KEYS_SQL)? {
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
                    ref_schema: opt_text(&row[7]).filter(|s| *s != self.url.database),
                    ref_table: text(&row[3]),
                    ref_columns: vec![text(&row[4])],
                    on_delete: text(&row[5]),
                    on_update: text(&row[6]),
                }),
            }
        }
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
        for row in self.catalog(session, PARTITIONS_SQL)? {
            if let Some(ti) = index_of(&schema, &text(&row[0])) {
                let exprs: Vec<String> = [opt_text(&row[2]), opt_text(&row[3])]
                    .into_iter()
                    .flatten()
                    .collect();
                schema.tables[ti].partitioning =
                    Some(format!("{}({})", text(&row[1]), exprs.join(", ")));
            }
        }
        for row in self.catalog(session, CHECKS_SQL)? {
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

    fn server_info(&self, session: &mut dyn Session) -> Result<ServerInfo> {
        Ok(ServerInfo {
            version: self.server_facts(session)?.version,
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
        let mut out = check_row_sizes(session, schema)?;
        if derive && matches!(options.uuid_format, UuidFormat::Char32 | UuidFormat::Char36) {
            out.extend(check_reference_charsets(schema, plan));
        }
        Ok(out)
    }

    fn review_plan(&self, schema: &Schema, plan: &mut Plan) -> Result<()> {
        check_partitioning(schema, plan)?;
        for t in schema.tables.iter().filter(|t| {
            t.engine
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case("myisam"))
        }) {
            plan.warnings.push(Warning {
                kind: "myisam",
                table: t.name.clone(),
                column: None,
                message: "MyISAM table: it has no foreign keys, so declare its references with --reference".into(),
            });
        }
        Ok(())
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
