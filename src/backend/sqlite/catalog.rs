//! SQLite's catalog: sqlite_schema, the pragma functions, and the stored CREATE statements (for
//! what the pragmas do not say: constraint names, collations, generated expressions, STRICT).

use super::dialect::type_facts;
use super::parse::{self, Clause, ClauseKind, Item, TableDef};
use super::{q, SqliteBackend};
use crate::backend::{Catalog, Finding, ServerInfo, Session, Value};
use crate::error::Result;
use crate::model::{Check, Column, ForeignKey, Index, Schema, Table, Trigger, View};
use crate::options::ConversionOptions;
use crate::plan::Plan;

const TABLES_SQL: &str = include_str!("tables.sql");
const COLUMNS_SQL: &str = include_str!("columns.sql");
const INDEXES_SQL: &str = include_str!("indexes.sql");
const FOREIGN_KEYS_SQL: &str = include_str!("foreign_keys.sql");
const TRIGGERS_SQL: &str = include_str!("triggers.sql");
const VIEWS_SQL: &str = include_str!("views.sql");
const SERVER_INFO_SQL: &str = include_str!("server_info.sql");

pub(super) fn text(v: &Value) -> String {
    v.as_string().unwrap_or_default()
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => other.as_key().unwrap_or(0) as i64,
    }
}

impl SqliteBackend {
    pub(super) fn read_tables(
        &self,
        session: &mut dyn Session,
    ) -> Result<(Schema, Vec<Option<TableDef>>)> {
        let mut schema = Schema::default();
        let mut defs = Vec::new();
        for row in session.query_all(TABLES_SQL)? {
            let name = text(&row[0]);
            let create_sql = row[1].as_string();
            defs.push(create_sql.as_deref().and_then(parse::parse_create_table));
            let estimated_rows =
                session.query_u64(&format!("SELECT COUNT(*) FROM main.{}", q(&name)))?;
            schema.tables.push(Table {
                name,
                create_sql,
                estimated_rows,
                ..Table::default()
            });
        }
        Ok((schema, defs))
    }

    fn read_columns(
        &self,
        session: &mut dyn Session,
        schema: &mut Schema,
        defs: &[Option<TableDef>],
    ) -> Result<()> {
        let mut pk_positions: Vec<Vec<(i64, String)>> = vec![Vec::new(); schema.tables.len()];
        for row in session.query_all(COLUMNS_SQL)? {
            let Some(ti) = schema.tables.iter().position(|t| t.name == text(&row[0])) else {
                continue;
            };
            let hidden = int(&row[7]);
            if hidden == 1 {
                continue; // a virtual table's hidden column
            }
            let name = text(&row[2]);
            let declared = text(&row[3]);
            let def = defs[ti].as_ref();
            let col_def = def.and_then(|d| d.column(&name));
            let facts = type_facts(&declared);
            let generated =
                (hidden >= 2).then(|| col_def.and_then(|c| c.generated()).unwrap_or_default());
            let pk = int(&row[6]);
            if pk > 0 {
                pk_positions[ti].push((pk, name.clone()));
            }
            schema.tables[ti].columns.push(Column {
                data_type: facts.data_type,
                column_type: declared,
                nullable: int(&row[4]) == 0,
                default: row[5].as_string(),
                max_length: facts.max_length,
                numeric_precision: facts.precision,
                numeric_scale: facts.scale,
                charset: None,
                collation: col_def.and_then(|c| c.collation()),
                auto_increment: def.is_some_and(|d| d.autoincrement(&name)),
                generated,
                invisible: false,
                comment: None,
                name,
            });
        }
        for (ti, mut pks) in pk_positions.into_iter().enumerate() {
            pks.sort();
            let table = &mut schema.tables[ti];
            table.primary_key = pks.into_iter().map(|(_, n)| n).collect();
            let without_rowid = defs[ti].as_ref().is_some_and(|d| d.without_rowid());
            // An INTEGER PRIMARY KEY is the rowid: it can never hold NULL, whatever the pragma says.
            if let [key] = table.primary_key.as_slice() {
                let key = key.clone();
                if let Some(c) = table.columns.iter_mut().find(|c| c.name == key) {
                    if !without_rowid && c.column_type.eq_ignore_ascii_case("integer") {
                        c.nullable = false;
                    }
                }
            }
        }
        Ok(())
    }

    fn read_indexes(
        &self,
        session: &mut dyn Session,
        schema: &mut Schema,
        defs: &[Option<TableDef>],
    ) -> Result<()> {
        for row in session.query_all(INDEXES_SQL)? {
            let Some(ti) = schema.tables.iter().position(|t| t.name == text(&row[0])) else {
                continue;
            };
            let origin = text(&row[3]);
            if origin == "pk" {
                continue; // the primary key is `primary_key`
            }
            let table = &mut schema.tables[ti];
            let name = text(&row[1]);
            let column = text(&row[6]);
            match table.indexes.iter_mut().find(|i| i.name == name) {
                Some(ix) => ix.columns.push(column),
                None => table.indexes.push(Index {
                    name,
                    columns: vec![column],
                    unique: int(&row[2]) == 1,
                    kind: "BTREE".into(),
                    // The automatic index of a UNIQUE constraint has no statement of its own:
                    // it lives in the table's definition and comes back with it.
                    create_sql: if origin == "u" {
                        None
                    } else {
                        row[4].as_string()
                    },
                }),
            }
        }
        // A UNIQUE constraint is known by its CONSTRAINT name where it has one.
        for (ti, def) in defs.iter().enumerate() {
            let Some(def) = def else { continue };
            let table = &mut schema.tables[ti];
            let mut taken: Vec<String> = table.indexes.iter().map(|i| i.name.clone()).collect();
            for ix in table.indexes.iter_mut().filter(|i| i.create_sql.is_none()) {
                if let Some(n) = def.unique_name(&ix.columns) {
                    if !taken.contains(&n) {
                        taken.push(n.clone());
                        ix.name = n;
                    }
                }
            }
        }
        Ok(())
    }

    fn read_foreign_keys(
        &self,
        session: &mut dyn Session,
        schema: &mut Schema,
        defs: &[Option<TableDef>],
    ) -> Result<()> {
        let mut raw: Vec<(usize, i64, ForeignKey)> = Vec::new();
        for row in session.query_all(FOREIGN_KEYS_SQL)? {
            let Some(ti) = schema.tables.iter().position(|t| t.name == text(&row[0])) else {
                continue;
            };
            let id = int(&row[1]);
            let from = text(&row[4]);
            let to = row[5].as_string().unwrap_or_default();
            match raw.iter_mut().find(|(t, i, _)| *t == ti && *i == id) {
                Some((_, _, fk)) => {
                    fk.columns.push(from);
                    fk.ref_columns.push(to);
                }
                None => raw.push((
                    ti,
                    id,
                    ForeignKey {
                        name: String::new(),
                        columns: vec![from],
                        ref_schema: None,
                        ref_table: text(&row[3]),
                        ref_columns: vec![to],
                        on_delete: text(&row[7]),
                        on_update: text(&row[6]),
                    },
                )),
            }
        }
        for (ti, id, mut fk) in raw {
            // SQLite matches names without regard to case; the plan matches them exactly.
            if let Some(parent) = schema
                .tables
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case(&fk.ref_table))
            {
                fk.ref_table = parent.name.clone();
                if fk.ref_columns.iter().all(String::is_empty) {
                    // REFERENCES parent without columns: the parent's primary key.
                    fk.ref_columns = parent.primary_key.clone();
                }
                for c in &mut fk.ref_columns {
                    if let Some(pc) = parent
                        .columns
                        .iter()
                        .find(|x| x.name.eq_ignore_ascii_case(c))
                    {
                        *c = pc.name.clone();
                    }
                }
            }
            let table = &mut schema.tables[ti];
            for c in &mut fk.columns {
                if let Some(tc) = table
                    .columns
                    .iter()
                    .find(|x| x.name.eq_ignore_ascii_case(c))
                {
                    *c = tc.name.clone();
                }
            }
            // SQLite's catalog has no constraint names: the CONSTRAINT name as written, or one
            // made up from the table and the pragma's id.
            let written = defs[ti]
                .as_ref()
                .and_then(|d| d.foreign_key_name(&fk.columns, &fk.ref_table));
            fk.name = match written {
                Some(n) if !table.foreign_keys.iter().any(|f| f.name == n) => n,
                _ => format!("fk_{}_{id}", table.name),
            };
            table.foreign_keys.push(fk);
        }
        Ok(())
    }
}

/// The CHECK constraints of a stored CREATE TABLE, column-level and table-level.
fn checks_of(def: &TableDef) -> Vec<Check> {
    let mut out = Vec::new();
    for item in &def.items {
        let (clauses, column): (Vec<&Clause>, Option<&str>) = match item {
            Item::Column(c) => (c.clauses.iter().collect(), Some(c.name.as_str())),
            Item::Constraint(cl) => (vec![cl], None),
        };
        for cl in clauses
            .into_iter()
            .filter(|cl| cl.kind == ClauseKind::Check)
        {
            out.push(Check {
                name: cl.name.clone().unwrap_or_default(),
                expression: cl.detail.clone().unwrap_or_default(),
                column: column.map(str::to_string),
            });
        }
    }
    out
}

impl Catalog for SqliteBackend {
    fn check_source(
        &self,
        session: &mut dyn Session,
        _schema: &Schema,
        plan: &Plan,
        _options: &ConversionOptions,
        _derive: bool,
    ) -> Result<Vec<Finding>> {
        // SQLite stores any value in any column, except in a rowid key: a converted key or a
        // reference holding text, a real or (for a key) NULL has no place in the mapping.
        let keys = plan.converted.iter().map(|c| (&c.table, &c.column, false));
        let refs = plan
            .references
            .iter()
            .filter(|r| !r.is_primary_key)
            .map(|r| (&r.table, &r.column, true));
        let mut out = Vec::new();
        for (table, column, null_allowed) in keys.chain(refs) {
            let allowed = if null_allowed {
                "'integer', 'null'"
            } else {
                "'integer'"
            };
            let col = q(column);
            let bad = session.query_all(&format!(
                "SELECT COUNT(*), MIN(quote({col})) FROM main.{} WHERE typeof({col}) NOT IN ({allowed})",
                q(table)
            ))?;
            let row = bad.first();
            let count = row
                .and_then(|r| r.first())
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if count > 0 {
                let example = row
                    .and_then(|r| r.get(1))
                    .and_then(Value::as_string)
                    .unwrap_or_default();
                out.push(Finding::fail(
                    "key values",
                    format!("{table}.{column}: {count} rows hold a value that is not an integer key, e.g. {example}"),
                    format!("store integers there in the snapshot (UPDATE {} SET {col} = CAST({col} AS INTEGER) where that is right), or --exclude {table}", q(table)),
                ));
            }
        }
        Ok(out)
    }

    fn describe(&self, session: &mut dyn Session) -> Result<Schema> {
        let (mut schema, defs) = self.read_tables(session)?;
        self.read_columns(session, &mut schema, &defs)?;
        self.read_indexes(session, &mut schema, &defs)?;
        self.read_foreign_keys(session, &mut schema, &defs)?;
        for (table, def) in schema.tables.iter_mut().zip(&defs) {
            table.checks = def.as_ref().map(checks_of).unwrap_or_default();
        }
        for row in session.query_all(TRIGGERS_SQL)? {
            schema.triggers.push(Trigger {
                name: text(&row[0]),
                table: text(&row[1]),
                create_sql: text(&row[2]),
                setup: Vec::new(),
                runs_as: None,
                enabled: None,
            });
        }
        for row in session.query_all(VIEWS_SQL)? {
            schema.views.push(View {
                name: text(&row[0]),
                definition: text(&row[1]),
                create_sql: Some(text(&row[1])),
            });
        }
        Ok(schema)
    }

    fn server_info(&self, session: &mut dyn Session) -> Result<ServerInfo> {
        let version = session
            .query_all(SERVER_INFO_SQL)?
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_string)
            .unwrap_or_default();
        Ok(ServerInfo {
            version: format!("SQLite {version}"),
        })
    }
}
