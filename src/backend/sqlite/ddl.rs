//! SQLite's schema statements: tables are rebuilt (SQLite's 12-step ALTER procedure, one
//! transaction per table) from their stored CREATE statements, read by `parse.rs`.

use super::dialect::strict_type;
use super::parse::{self, same_columns, Clause, ClauseKind, Item, TableDef};
use super::{q, SqliteBackend, DIALECT};
use crate::backend::{Ddl, Dialect, Swap, Unconstrain};
use crate::error::Result;
use crate::model::{ForeignKey, Index, Table, Trigger, INTERNAL_PREFIX};
use crate::url::DbUrl;

/// The table's definition: its stored CREATE TABLE read as written, or (for a table whose
/// statement cannot be read) one written from the neutral model.
pub(super) fn table_def(table: &Table) -> TableDef {
    if let Some(def) = table
        .create_sql
        .as_deref()
        .and_then(parse::parse_create_table)
        .filter(|d| d.name.eq_ignore_ascii_case(&table.name))
    {
        return def;
    }
    let mut items: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            let mut s = format!("{} {}", q(&c.name), c.column_type);
            if !c.nullable {
                s.push_str(" NOT NULL");
            }
            match (&c.generated, &c.default) {
                (Some(g), _) => s.push_str(&format!(" AS ({g})")),
                (None, Some(d)) => s.push_str(&format!(" DEFAULT ({d})")),
                (None, None) => {}
            }
            s
        })
        .collect();
    if !table.primary_key.is_empty() {
        items.push(format!(
            "PRIMARY KEY ({})",
            DIALECT.column_list(&table.primary_key)
        ));
    }
    for ix in table
        .indexes
        .iter()
        .filter(|i| i.unique && i.create_sql.is_none())
    {
        items.push(format!(
            "CONSTRAINT {} UNIQUE ({})",
            q(&ix.name),
            DIALECT.column_list(&ix.columns)
        ));
    }
    for fk in &table.foreign_keys {
        items.push(format!(
            "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
            q(&fk.name),
            DIALECT.column_list(&fk.columns),
            q(&fk.ref_table),
            DIALECT.column_list(&fk.ref_columns),
            fk.on_delete,
            fk.on_update
        ));
    }
    let sql = format!("CREATE TABLE {} ({})", q(&table.name), items.join(", "));
    parse::parse_create_table(&sql).unwrap_or(TableDef {
        name: table.name.clone(),
        items: Vec::new(),
        options: String::new(),
        body: String::new(),
    })
}

/// A column definition rebuilt from its name, a type, and the clauses it keeps.
fn column_text(name: &str, type_text: &str, clauses: &[String]) -> String {
    let mut parts = vec![q(name)];
    parts.extend(
        std::iter::once(type_text.to_string())
            .chain(clauses.iter().cloned())
            .filter(|p| !p.trim().is_empty()),
    );
    parts.join(" ")
}

fn null_word(nullable: bool) -> &'static str {
    if nullable {
        "NULL"
    } else {
        "NOT NULL"
    }
}

/// Whether `clause` is a CHECK whose condition uses one of `columns` (written for integer keys,
/// it may not hold for UUIDs).
fn checks_any(clause: &Clause, columns: &[&str]) -> bool {
    clause.kind == ClauseKind::Check
        && clause
            .detail
            .as_deref()
            .is_some_and(|e| columns.iter().any(|n| parse::mentions(e, n)))
}

/// A column's definition as written, without the CHECK clauses that use one of `columns`.
fn without_checks_on(c: &parse::ColumnDef, columns: &[&str]) -> String {
    if !c.clauses.iter().any(|cl| checks_any(cl, columns)) {
        return c.text.clone();
    }
    let kept: Vec<String> = c
        .clauses
        .iter()
        .filter(|cl| !checks_any(cl, columns))
        .map(|cl| cl.text.clone())
        .collect();
    column_text(&c.name, &c.type_text, &kept)
}

/// STRICT tables accept only their own type names.
fn uuid_column_type(def: &TableDef, uuid_type: &str) -> String {
    if def.strict() {
        strict_type(uuid_type)
    } else {
        uuid_type.to_string()
    }
}

/// The table options without WITHOUT ROWID (a table without a primary key must have a rowid).
fn options_with_rowid(options: &str) -> String {
    options
        .split(',')
        .map(str::trim)
        .filter(|o| {
            let words: Vec<String> = o
                .split_whitespace()
                .map(|w| w.to_ascii_uppercase())
                .collect();
            words != ["WITHOUT", "ROWID"] && !o.is_empty()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One column of a rebuilt table: its definition and the expression that fills it (none for a
/// generated column, which SQLite computes).
struct NewColumn {
    name: String,
    def: String,
    source: Option<String>,
}

/// SQLite's 12-step table rebuild as one transaction: a crash anywhere before COMMIT leaves the
/// table as it was, and once committed the table is complete under its own name.
fn rebuild_sql(
    table: &str,
    columns: &[NewColumn],
    constraints: &[String],
    options: &str,
    indexes: &[String],
) -> Vec<String> {
    let name = q(table);
    let temp = q(&format!("{INTERNAL_PREFIX}new_{table}"));
    let mut defs: Vec<String> = columns.iter().map(|c| c.def.clone()).collect();
    defs.extend(constraints.iter().cloned());
    let filled: Vec<&NewColumn> = columns.iter().filter(|c| c.source.is_some()).collect();
    let targets: Vec<String> = filled.iter().map(|c| q(&c.name)).collect();
    let sources: Vec<String> = filled.iter().filter_map(|c| c.source.clone()).collect();
    let options = if options.is_empty() {
        String::new()
    } else {
        format!(" {options}")
    };
    let mut out = vec![
        "BEGIN IMMEDIATE".to_string(),
        format!("DROP TABLE IF EXISTS main.{temp}"),
        format!(
            "CREATE TABLE main.{temp} (\n  {}\n){options}",
            defs.join(",\n  ")
        ),
        format!(
            "INSERT INTO main.{temp} ({}) SELECT {} FROM main.{name}",
            targets.join(", "),
            sources.join(", ")
        ),
        format!("DROP TABLE main.{name}"),
        format!("ALTER TABLE main.{temp} RENAME TO {name}"),
    ];
    out.extend(indexes.iter().cloned());
    out.push("COMMIT".into());
    out
}

impl Ddl for SqliteBackend {
    fn clone_table_sql(&self, _source: &DbUrl, table: &Table) -> Result<Vec<String>> {
        let name = q(&table.name);
        let def = table_def(table);
        let mut out = vec![format!("CREATE TABLE main.{name} {}", def.body)];
        out.extend(table.indexes.iter().filter_map(|i| i.create_sql.clone()));
        Ok(out)
    }

    fn unconstrain_sql(&self, table: &Table, what: &Unconstrain) -> Vec<String> {
        let def = table_def(table);
        let dropped_fks: Vec<&ForeignKey> = table
            .foreign_keys
            .iter()
            .filter(|f| what.foreign_keys.contains(&f.name))
            .collect();
        let all_fks =
            !table.foreign_keys.is_empty() && dropped_fks.len() == table.foreign_keys.len();
        let dropped_indexes: Vec<&Index> = table
            .indexes
            .iter()
            .filter(|i| what.indexes.contains(&i.name))
            .collect();
        let drops = |columns: &[String], clause: &Clause| -> bool {
            match clause.kind {
                ClauseKind::PrimaryKey => what.primary_key,
                ClauseKind::References => {
                    all_fks
                        || dropped_fks.iter().any(|f| {
                            same_columns(&f.columns, columns)
                                && clause
                                    .ref_table
                                    .as_deref()
                                    .is_some_and(|t| t.eq_ignore_ascii_case(&f.ref_table))
                        })
                }
                ClauseKind::Unique => dropped_indexes
                    .iter()
                    .any(|i| i.create_sql.is_none() && same_columns(&i.columns, columns)),
                _ => false,
            }
        };
        let changes_table = def.keyed_clauses().iter().any(|(cols, cl)| drops(cols, cl));
        if !changes_table {
            // Only CREATE INDEX indexes: those can go in place.
            return dropped_indexes
                .iter()
                .filter(|i| i.create_sql.is_some())
                .map(|i| format!("DROP INDEX IF EXISTS main.{}", q(&i.name)))
                .collect();
        }
        let mut columns = Vec::new();
        for c in def.columns() {
            let own = [c.name.clone()];
            let kept: Vec<&Clause> = c.clauses.iter().filter(|cl| !drops(&own, cl)).collect();
            let model = table
                .columns
                .iter()
                .find(|m| m.name.eq_ignore_ascii_case(&c.name));
            let text = if kept.len() == c.clauses.len() {
                c.text.clone()
            } else {
                let mut clauses: Vec<String> = kept.iter().map(|cl| cl.text.clone()).collect();
                // A rowid key that loses its PRIMARY KEY keeps its NOT NULL.
                if model.is_some_and(|m| !m.nullable)
                    && !kept.iter().any(|cl| cl.kind == ClauseKind::NotNull)
                {
                    clauses.push("NOT NULL".into());
                }
                column_text(&c.name, &c.type_text, &clauses)
            };
            columns.push(NewColumn {
                name: c.name.clone(),
                def: text,
                source: (!c.has(ClauseKind::Generated)).then(|| q(&c.name)),
            });
        }
        let constraints: Vec<String> = def
            .constraints()
            .filter(|cl| !drops(&cl.columns, cl))
            .map(|cl| cl.text.clone())
            .collect();
        let options = if what.primary_key {
            options_with_rowid(&def.options)
        } else {
            def.options.clone()
        };
        let indexes: Vec<String> = table
            .indexes
            .iter()
            .filter(|i| !what.indexes.contains(&i.name))
            .filter_map(|i| i.create_sql.clone())
            .collect();
        rebuild_sql(&table.name, &columns, &constraints, &options, &indexes)
    }

    fn swap_sql(&self, table: &Table, swaps: &[Swap], drop: &[String]) -> Vec<String> {
        // Only what is still to do: a table that was swapped already needs nothing.
        let pending: Vec<&Swap> = swaps
            .iter()
            .filter(|s| table.column(&s.shadow).is_some())
            .collect();
        let dropping: Vec<&String> = drop.iter().filter(|d| table.column(d).is_some()).collect();
        if pending.is_empty() && dropping.is_empty() {
            return Vec::new();
        }
        let def = table_def(table);
        let changed: Vec<&str> = pending
            .iter()
            .map(|s| s.column.as_str())
            .chain(dropping.iter().map(|d| d.as_str()))
            .collect();
        let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let gone = |name: &str| {
            dropping.iter().any(|d| is(d, name)) || pending.iter().any(|s| is(&s.shadow, name))
        };
        let mut columns = Vec::new();
        for c in def.columns() {
            let swap_here = pending.iter().find(|s| {
                is(&s.column, &c.name)
                    // A shadow whose integer column is gone already keeps its place.
                    || (is(&s.shadow, &c.name) && def.column(&s.column).is_none())
            });
            match swap_here {
                Some(s) => columns.push(NewColumn {
                    name: s.column.clone(),
                    def: format!(
                        "{} {} {}",
                        q(&s.column),
                        uuid_column_type(&def, &s.uuid_type),
                        null_word(s.nullable)
                    ),
                    source: Some(q(&s.shadow)),
                }),
                None if gone(&c.name) => {}
                None => columns.push(NewColumn {
                    name: c.name.clone(),
                    def: without_checks_on(c, &changed),
                    source: (!c.has(ClauseKind::Generated)).then(|| q(&c.name)),
                }),
            }
        }
        // Keys and indexes on converted columns are gone after unconstrain; a dry run, which
        // starts from SOURCE's shape, must not bring them back either.
        let touched = |cols: &[String]| {
            cols.iter()
                .any(|c| gone(c) || changed.iter().any(|n| is(n, c)))
        };
        let kept: Vec<&Clause> = def
            .constraints()
            .filter(|cl| !touched(&cl.columns))
            // A CHECK written for integer keys may not hold for UUIDs; DB_DATA needs none.
            .filter(|cl| !checks_any(cl, &changed))
            .collect();
        let keyed = kept.iter().any(|cl| cl.kind == ClauseKind::PrimaryKey)
            || def.columns().any(|c| {
                !changed.iter().any(|n| is(n, &c.name))
                    && !gone(&c.name)
                    && c.has(ClauseKind::PrimaryKey)
            });
        let options = if keyed {
            def.options.clone()
        } else {
            options_with_rowid(&def.options)
        };
        let constraints: Vec<String> = kept.iter().map(|cl| cl.text.clone()).collect();
        let indexes: Vec<String> = table
            .indexes
            .iter()
            .filter(|i| !touched(&i.columns))
            .filter_map(|i| i.create_sql.clone())
            .collect();
        rebuild_sql(&table.name, &columns, &constraints, &options, &indexes)
    }

    fn derive_table_sql(
        &self,
        _source: &DbUrl,
        table: &Table,
        swaps: &[Swap],
    ) -> Result<Vec<String>> {
        let def = table_def(table);
        let swapped: Vec<&str> = swaps.iter().map(|s| s.column.as_str()).collect();
        let mut items = Vec::new();
        for item in &def.items {
            match item {
                Item::Column(c) => match swaps
                    .iter()
                    .find(|s| s.column.eq_ignore_ascii_case(&c.name))
                {
                    None => items.push(without_checks_on(c, &swapped)),
                    Some(s) => {
                        // Keys, uniqueness and references stay; what described the integer
                        // (default, collation, AUTOINCREMENT, a CHECK on its values) goes.
                        let mut clauses = vec![null_word(s.nullable).to_string()];
                        for cl in &c.clauses {
                            match cl.kind {
                                ClauseKind::NotNull
                                | ClauseKind::Null
                                | ClauseKind::Default
                                | ClauseKind::Collate
                                | ClauseKind::Check => {}
                                _ => clauses.push(cl.text_without_autoincrement.clone()),
                            }
                        }
                        items.push(column_text(
                            &c.name,
                            &uuid_column_type(&def, &s.uuid_type),
                            &clauses,
                        ));
                    }
                },
                Item::Constraint(cl) if checks_any(cl, &swapped) => {}
                Item::Constraint(cl) => items.push(cl.text_without_autoincrement.clone()),
            }
        }
        let options = if def.options.is_empty() {
            String::new()
        } else {
            format!(" {}", def.options)
        };
        let mut out = vec![format!(
            "CREATE TABLE main.{} (\n  {}\n){options}",
            q(&table.name),
            items.join(",\n  ")
        )];
        out.extend(table.indexes.iter().filter_map(|i| i.create_sql.clone()));
        Ok(out)
    }

    fn set_aside_trigger_sql(&self, trigger: &Trigger) -> Vec<String> {
        vec![format!("DROP TRIGGER IF EXISTS main.{}", q(&trigger.name))]
    }
}
