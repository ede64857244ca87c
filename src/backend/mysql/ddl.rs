//! MariaDB/MySQL's schema statements: ALTER TABLE in place, one statement per table where it can
//! be, so that a resumed run finds each table changed or not.

use super::dialect::alter;
use super::{MysqlBackend, DIALECT};
use crate::backend::{Ddl, Dialect, Swap, Unconstrain};
use crate::error::{Error, Place, Result};
use crate::model::{Column, Table, Trigger};
use crate::url::DbUrl;

impl MysqlBackend {
    /// SOURCE's table, qualified for a statement on this server; SOURCE must be on it.
    pub(super) fn source_table(&self, source: &DbUrl, table: &str) -> Result<String> {
        if !self.url.same_server(source) {
            return Err(Error::input(
                Place::default().table(table),
                format!("{} and {} are on different servers; this version of rekey copies between databases of one server.", self.url, source),
                "Restore the snapshot on the server that will hold DB_DATA and DB_FINAL (docs/limitations.md).",
            ));
        }
        Ok(format!(
            "{}.{}",
            DIALECT.q(&source.database),
            DIALECT.q(table)
        ))
    }
}

impl Ddl for MysqlBackend {
    fn clone_table_sql(&self, source: &DbUrl, table: &Table) -> Result<Vec<String>> {
        let from = self.source_table(source, &table.name)?;
        Ok(vec![format!(
            "CREATE TABLE {} LIKE {from}",
            DIALECT.q(&table.name)
        )])
    }

    fn unconstrain_sql(&self, table: &Table, what: &Unconstrain) -> Vec<String> {
        let drops: Vec<String> = what
            .foreign_keys
            .iter()
            .map(|f| format!("DROP FOREIGN KEY {}", DIALECT.q(f)))
            .collect();
        let mut out = alter(&table.name, &drops);
        // A table-level CHECK on a key column would stop swap from dropping that column.
        let mut clauses: Vec<String> = what
            .checks
            .iter()
            .map(|c| format!("DROP CONSTRAINT {}", DIALECT.q(c)))
            .collect();
        if what.primary_key {
            // AUTO_INCREMENT must go before the key it needs.
            for c in table.columns.iter().filter(|c| c.auto_increment) {
                clauses.push(format!(
                    "MODIFY {} {} NOT NULL",
                    DIALECT.q(&c.name),
                    c.column_type
                ));
            }
            clauses.push("DROP PRIMARY KEY".into());
        }
        for ix in &what.indexes {
            clauses.push(format!("DROP INDEX {}", DIALECT.q(ix)));
        }
        out.extend(alter(&table.name, &clauses));
        out
    }

    fn swap_sql(&self, table: &Table, swaps: &[Swap], drop: &[String]) -> Vec<String> {
        // One ALTER per table: atomic, so a resumed run finds a table either swapped or not.
        let pending: Vec<&Swap> = swaps
            .iter()
            .filter(|s| table.column(&s.shadow).is_some())
            .collect();
        let mut clauses = Vec::new();
        for s in &pending {
            if table.column(&s.column).is_some() {
                clauses.push(format!("DROP COLUMN {}", DIALECT.q(&s.column)));
            }
        }
        let shadows: Vec<&str> = swaps.iter().map(|s| s.shadow.as_str()).collect();
        let originals: Vec<&Column> = table
            .columns
            .iter()
            .filter(|c| !shadows.contains(&c.name.as_str()) && !drop.contains(&c.name))
            .collect();
        for s in &pending {
            let position = match originals.iter().position(|c| c.name == s.column) {
                Some(0) | None => "FIRST".to_string(),
                Some(i) => format!("AFTER {}", DIALECT.q(&originals[i - 1].name)),
            };
            let comment = table
                .column(&s.column)
                .and_then(|c| c.comment.as_deref())
                .map(|c| format!(" COMMENT {}", DIALECT.lit(c)))
                .unwrap_or_default();
            clauses.push(format!(
                "CHANGE COLUMN {} {} {} {}{} {}",
                DIALECT.q(&s.shadow),
                DIALECT.q(&s.column),
                s.uuid_type,
                if s.nullable { "NULL" } else { "NOT NULL" },
                comment,
                position
            ));
        }
        for d in drop {
            if table.column(d).is_some() {
                clauses.push(format!("DROP COLUMN {}", DIALECT.q(d)));
            }
        }
        alter(&table.name, &clauses)
    }

    fn derive_table_sql(
        &self,
        source: &DbUrl,
        table: &Table,
        swaps: &[Swap],
    ) -> Result<Vec<String>> {
        let name = DIALECT.q(&table.name);
        let mut out = vec![format!(
            "CREATE TABLE {name} LIKE {}",
            self.source_table(source, &table.name)?
        )];
        let clauses: Vec<String> = swaps
            .iter()
            .map(|s| {
                let comment = table
                    .column(&s.column)
                    .and_then(|c| c.comment.as_deref())
                    .map(|c| format!(" COMMENT {}", DIALECT.lit(c)))
                    .unwrap_or_default();
                format!(
                    "MODIFY {} {} {}{}",
                    DIALECT.q(&s.column),
                    s.uuid_type,
                    if s.nullable { "NULL" } else { "NOT NULL" },
                    comment
                )
            })
            .collect();
        // A condition written for integer keys cannot hold for UUIDs (MODIFY below drops the
        // column-level ones with the column's old definition).
        let checks: Vec<String> = table
            .checks
            .iter()
            .filter(|c| c.column.is_none() && swaps.iter().any(|s| c.mentions(&s.column)))
            .map(|c| format!("DROP CONSTRAINT {}", DIALECT.q(&c.name)))
            .collect();
        out.extend(alter(&table.name, &checks));
        // MariaDB converts no integer to its UUID type, not even in an empty table; text can.
        let via_text: Vec<String> = swaps
            .iter()
            .filter(|s| s.uuid_type.eq_ignore_ascii_case("uuid"))
            .map(|s| format!("MODIFY {} CHAR(36) NULL", DIALECT.q(&s.column)))
            .collect();
        out.extend(alter(&table.name, &via_text));
        out.extend(alter(&table.name, &clauses));
        Ok(out)
    }

    fn derive_constraints_sql(&self, table: &Table) -> Vec<String> {
        let clauses: Vec<String> = table
            .foreign_keys
            .iter()
            .map(|fk| {
                format!(
                    "ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
                    DIALECT.q(&fk.name),
                    DIALECT.column_list(&fk.columns),
                    crate::ident::qualified(DIALECT.quote_style(), fk.ref_schema.as_deref(), &fk.ref_table),
                    DIALECT.column_list(&fk.ref_columns),
                    fk.on_delete,
                    fk.on_update
                )
            })
            .collect();
        alter(&table.name, &clauses)
    }

    fn set_aside_trigger_sql(&self, trigger: &Trigger) -> Vec<String> {
        vec![format!(
            "DROP TRIGGER IF EXISTS {}",
            DIALECT.q(&trigger.name)
        )]
    }
}
