//! Which tables named like a migration tool's bookkeeping table are really DB_FINAL's own history
//! (kept, never loaded nor verified), and what SOURCE may not hold at all (rekey's own prefix, no
//! table, a PostgreSQL schema that does not exist).

use crate::error::{Error, Place, Result};
use crate::model::{is_bookkeeping, is_internal, Schema};
use crate::plan::{Plan, Warning, APPLICATION_TABLE};

use crate::stage::Stage;

/// Whether anything in `schema` ties `table` to another table: a foreign key of its own, or one
/// that references it. A migration tool's history table has neither.
fn linked(schema: &Schema, table: &str) -> bool {
    schema
        .table(table)
        .is_some_and(|t| !t.foreign_keys.is_empty())
        || schema.tables.iter().any(|t| {
            t.foreign_keys
                .iter()
                .any(|f| f.ref_schema.is_none() && f.ref_table == table)
        })
}

/// Whether `table` is DB_FINAL's own migration history: named like a known tool's table, present
/// in DB_FINAL, and tied by no foreign key in DB_FINAL nor (where it is known) in SOURCE. Only
/// such a table keeps DB_FINAL's rows and is neither compared, loaded nor verified; a table of
/// that name with a foreign key is the application's, converted like any other.
pub fn kept(table: &str, final_schema: &Schema, source: Option<&Schema>) -> bool {
    is_bookkeeping(table)
        && final_schema.table(table).is_some()
        && !linked(final_schema, table)
        && !source.is_some_and(|s| linked(s, table))
}

/// Tells in the plan what happens to SOURCE's tables named like a migration tool's bookkeeping
/// table that foreign keys make the application's own: loaded and verified like the others.
pub fn review(schema: &Schema, plan: &mut Plan) {
    for t in schema
        .tables
        .iter()
        .filter(|t| is_bookkeeping(&t.name) && linked(schema, &t.name))
    {
        plan.warnings.push(Warning {
            kind: APPLICATION_TABLE,
            table: t.name.clone(),
            column: None,
            message: format!(
                "table {} is named like a migration tool's bookkeeping table, but foreign keys tie it to other tables: it is the application's, loaded and verified like every other table",
                t.name
            ),
        });
    }
}

/// SOURCE must hold tables, none of them under rekey's own prefix (DB_DATA's work tables and the
/// run marker share it, so such a table would be taken for rekey's and left out of the run).
pub fn refuse_source(schema: &Schema, source: &str) -> Result<()> {
    let internal: Vec<&str> = schema
        .tables
        .iter()
        .filter(|t| is_internal(&t.name))
        .map(|t| t.name.as_str())
        .collect();
    if !internal.is_empty() {
        return Err(Error::input(
            Place::stage(Stage::Introspect),
            format!(
                "SOURCE {source} has tables whose names start with rekey's own prefix {}: {}; rekey would take them for its own work tables and leave them out.",
                crate::model::INTERNAL_PREFIX,
                internal.join(", ")
            ),
            "Rename them in the snapshot (or drop them if they are left over from a rekey run), then run again; nothing was written.",
        ));
    }
    if schema.tables.is_empty() {
        return Err(Error::input(
            Place::stage(Stage::Introspect),
            format!("SOURCE {source} has no tables: there is nothing to convert."),
            "Check that --source names the restored snapshot (its database, file or ?schema=), then run again; nothing was written.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ForeignKey, Table};

    fn schema(tables: &[(&str, Option<&str>)]) -> Schema {
        Schema {
            tables: tables
                .iter()
                .map(|(name, refers)| Table {
                    name: name.to_string(),
                    foreign_keys: refers
                        .iter()
                        .map(|r| ForeignKey {
                            name: "fk".into(),
                            columns: vec!["x".into()],
                            ref_schema: None,
                            ref_table: r.to_string(),
                            ref_columns: vec!["id".into()],
                            on_delete: String::new(),
                            on_update: String::new(),
                        })
                        .collect(),
                    ..Table::default()
                })
                .collect(),
            ..Schema::default()
        }
    }

    #[test]
    fn only_an_unlinked_table_final_has_is_kept() {
        let plain = schema(&[("Migrations", None), ("users", None)]);
        assert!(kept("Migrations", &plain, Some(&plain)));
        assert!(!kept("users", &plain, Some(&plain)));
        // DB_FINAL does not have it: SOURCE's rows are loaded.
        assert!(!kept("migrations", &schema(&[("users", None)]), None));
        // A foreign key from it or to it, in either database, makes it the application's.
        let from = schema(&[("migrations", Some("users")), ("users", None)]);
        let to = schema(&[("migrations", None), ("users", Some("migrations"))]);
        assert!(!kept("migrations", &from, None));
        assert!(!kept("migrations", &to, None));
        assert!(!kept("migrations", &plain, Some(&from)));
    }

    #[test]
    fn rekeys_prefix_and_an_empty_source_are_refused() {
        let e = refuse_source(&schema(&[("_rekey_x", None), ("users", None)]), "db").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("_rekey_x"), "{e}");
        let e = refuse_source(&schema(&[]), "db").unwrap_err();
        assert!(e.to_string().contains("no tables"), "{e}");
        assert!(refuse_source(&schema(&[("users", None)]), "db").is_ok());
    }
}
