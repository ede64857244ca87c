//! The conversion plan: which tables get UUID keys, which columns follow them as references, what is
//! excluded, and what the maintainer should look at before the cutover.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::error::{Error, Place, Result};
use crate::model::{is_internal, Schema, Table};
use crate::options::ConversionOptions;
use crate::stage::Stage;

/// A table whose single integer primary key becomes a UUID.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Converted {
    pub table: String,
    pub column: String,
    pub column_type: String,
    /// Set when the key is itself a reference (one-to-one tables): the key takes the parent row's
    /// UUID instead of a new one.
    pub follows: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A FOREIGN KEY constraint in the catalog.
    Constraint,
    /// Declared with --reference.
    Declared,
}

/// A column that holds keys of a converted table and so becomes a UUID column too.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reference {
    pub table: String,
    pub column: String,
    pub ref_table: String,
    pub ref_column: String,
    pub nullable: bool,
    pub origin: Origin,
    /// The constraint's name, when there is one.
    pub constraint: Option<String>,
    /// The column is also its table's converted primary key (see `Converted::follows`).
    pub is_primary_key: bool,
}

impl Reference {
    pub fn label(&self) -> String {
        format!(
            "{}.{} -> {}.{}",
            self.table, self.column, self.ref_table, self.ref_column
        )
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Warning {
    pub kind: &'static str,
    pub table: String,
    pub column: Option<String>,
    pub message: String,
}

/// The plan warning that marks a bookkeeping-named table as the application's (`run::bookkeeping`).
pub const APPLICATION_TABLE: &str = "application-table";

/// A table that keeps its keys, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Kept {
    pub table: String,
    pub reason: String,
}

/// Serialized with `tables`, the per-table view (see `Plan::tables`), after its own fields.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub converted: Vec<Converted>,
    pub references: Vec<Reference>,
    pub excluded: Vec<String>,
    pub kept: Vec<Kept>,
    pub warnings: Vec<Warning>,
}

impl Serialize for Plan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Plan", 6)?;
        st.serialize_field("converted", &self.converted)?;
        st.serialize_field("references", &self.references)?;
        st.serialize_field("excluded", &self.excluded)?;
        st.serialize_field("kept", &self.kept)?;
        st.serialize_field("warnings", &self.warnings)?;
        st.serialize_field("tables", &self.tables())?;
        st.end()
    }
}

/// What happens to a table, one of `TableView::outcome`.
pub const CONVERTED: &str = "converted";
pub const REFERENCES_FOLLOWED: &str = "references followed";
pub const KEPT: &str = "kept";

/// What the run will do to one table: the row of the table a reviewer signs off in `rekey
/// plan`, and its `tables` in `--json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TableView {
    pub table: String,
    /// `converted` (its key becomes a UUID), `references followed` (it keeps its key, but
    /// columns that hold converted tables' keys become UUIDs) or `kept` (nothing changes).
    pub outcome: &'static str,
    /// The converted key column and its type.
    pub key: Option<String>,
    pub key_type: Option<String>,
    /// The parent whose row's UUID the key takes (one-to-one tables), else a new UUID.
    pub key_follows: Option<String>,
    /// Why the table keeps its key.
    pub kept_because: Option<String>,
    /// Columns that become UUIDs because they hold a converted table's keys.
    pub references: Vec<ViewReference>,
    /// How many columns (in any table) hold this table's keys.
    pub referenced_by: usize,
    /// Warnings about this table: kind and column.
    pub warnings: Vec<ViewWarning>,
    /// A migration tool's bookkeeping table (alembic_version...): where DB_FINAL has it, the
    /// load keeps DB_FINAL's rows and does not load SOURCE's.
    pub bookkeeping: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ViewReference {
    pub column: String,
    pub ref_table: String,
    pub ref_column: String,
    pub origin: Origin,
    pub nullable: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ViewWarning {
    pub kind: &'static str,
    pub column: Option<String>,
}

impl Plan {
    /// Builds the plan from SOURCE's catalog and the user's options. Fails on options that name
    /// tables or columns that do not exist, or declared references that cannot be followed.
    pub fn build(schema: &Schema, options: &ConversionOptions) -> Result<Plan> {
        let place = Place::stage(Stage::Introspect);
        for t in &options.exclude {
            if schema.table(t).is_none() {
                return Err(Error::usage(
                    format!("--exclude names the table `{t}`, which SOURCE does not have."),
                    spelling_hint(schema, t),
                ));
            }
        }
        let excluded: BTreeSet<&str> = options.exclude.iter().map(String::as_str).collect();
        let mut plan = Plan {
            excluded: options.exclude.clone(),
            ..Plan::default()
        };
        for t in schema.tables.iter().filter(|t| !is_internal(&t.name)) {
            if excluded.contains(t.name.as_str()) {
                continue;
            }
            match single_integer_key(t) {
                Some(col) => plan.converted.push(Converted {
                    table: t.name.clone(),
                    column: col.to_string(),
                    column_type: t
                        .column(col)
                        .map(|c| c.column_type.clone())
                        .unwrap_or_default(),
                    follows: None,
                }),
                None => plan.kept.push(Kept {
                    table: t.name.clone(),
                    reason: if t.primary_key.is_empty() {
                        "no primary key".into()
                    } else if t.primary_key.len() > 1 {
                        "composite primary key".into()
                    } else {
                        "primary key is not an integer".into()
                    },
                }),
            }
        }

        for t in schema.tables.iter().filter(|t| !is_internal(&t.name)) {
            for fk in &t.foreign_keys {
                if let Some(other) = &fk.ref_schema {
                    plan.warnings.push(Warning {
                        kind: "foreign-database",
                        table: t.name.clone(),
                        column: Some(fk.columns.join(",")),
                        message: format!(
                            "foreign key {} points at {other}.{}, outside SOURCE; its columns keep their values",
                            fk.name, fk.ref_table
                        ),
                    });
                    continue;
                }
                let target = plan
                    .converted
                    .iter()
                    .find(|c| c.table == fk.ref_table)
                    .cloned();
                match target {
                    // Two constraints on one column (one per partition, or a duplicate) are one
                    // reference.
                    Some(c)
                        if fk.columns.len() == 1
                            && fk.ref_columns[0] == c.column
                            && plan
                                .references
                                .iter()
                                .any(|r| r.table == t.name && r.column == fk.columns[0]) => {}
                    Some(c) if fk.columns.len() == 1 && fk.ref_columns[0] == c.column => {
                        plan.add_reference(t, &fk.columns[0], &c, Origin::Constraint, Some(&fk.name));
                    }
                    // Composite keys are paired column by column once every single-column
                    // reference is known (below).
                    Some(_) if fk.columns.len() > 1 => {}
                    Some(c) => plan.warnings.push(Warning {
                        kind: "reference-not-to-key",
                        table: t.name.clone(),
                        column: Some(fk.columns.join(",")),
                        message: format!(
                            "foreign key {} points at {}({}), not at the converted key {}; its columns keep their values",
                            fk.name, fk.ref_table, fk.ref_columns.join(","), c.column
                        ),
                    }),
                    None => {}
                }
            }
        }

        plan.pair_composite_keys(schema);

        for d in &options.references {
            let Some(t) = schema.table(&d.table) else {
                return Err(Error::usage(
                    format!(
                        "--reference names the table `{}`, which SOURCE does not have.",
                        d.table
                    ),
                    spelling_hint(schema, &d.table),
                ));
            };
            if schema.table(&d.ref_table).is_none() {
                return Err(Error::usage(
                    format!(
                        "--reference points at the table `{}`, which SOURCE does not have.",
                        d.ref_table
                    ),
                    spelling_hint(schema, &d.ref_table),
                ));
            }
            if t.column(&d.column).is_none() {
                return Err(Error::usage(
                    format!(
                        "--reference names the column `{}.{}`, which SOURCE does not have.",
                        d.table, d.column
                    ),
                    "Check the spelling against `rekey plan --source URL`.",
                ));
            }
            let Some(c) = plan
                .converted
                .iter()
                .find(|c| c.table == d.ref_table)
                .cloned()
            else {
                return Err(Error::input(
                    place.clone().table(&d.table).column(&d.column),
                    format!("the declared reference points at `{}`, which is not a converted table (excluded, missing, or without a single integer primary key).", d.ref_table),
                    "Declare references only to converted tables' keys, or drop the --reference.",
                ));
            };
            if c.column != d.ref_column {
                return Err(Error::input(
                    place.clone().table(&d.table).column(&d.column),
                    format!(
                        "the declared reference points at `{}.{}`, but that table's key is `{}`.",
                        d.ref_table, d.ref_column, c.column
                    ),
                    format!(
                        "Write --reference {}.{}={}.{}.",
                        d.table, d.column, d.ref_table, c.column
                    ),
                ));
            }
            if plan.already_declared(t, d, &c)? {
                continue;
            }
            plan.add_reference(t, &d.column, &c, Origin::Declared, None);
        }

        for r in plan.references.iter().filter(|r| r.is_primary_key) {
            if let Some(c) = plan.converted.iter_mut().find(|c| c.table == r.table) {
                c.follows = Some(r.ref_table.clone());
            }
        }
        plan.check_follow_chains()?;
        plan.add_warnings(schema);
        Ok(plan)
    }

    /// A composite foreign key pairs each of its columns with a column of the referenced table:
    /// where that column holds UUIDs after the conversion (the converted key, or a reference to
    /// a converted table), the paired column holds the same keys and converts with it
    /// (`(tenant_id, item_id) -> tenant_item (tenant_id, id)`: both convert); the others keep their
    /// values. Repeated until nothing changes, since pairs can chain.
    fn pair_composite_keys(&mut self, schema: &Schema) {
        loop {
            let mut added = false;
            for t in schema.tables.iter().filter(|t| !is_internal(&t.name)) {
                for fk in t
                    .foreign_keys
                    .iter()
                    .filter(|f| f.columns.len() > 1 && f.ref_schema.is_none())
                {
                    for (col, ref_col) in fk.columns.iter().zip(&fk.ref_columns) {
                        let holds = self
                            .converted
                            .iter()
                            .find(|c| c.table == fk.ref_table && &c.column == ref_col)
                            .or_else(|| {
                                self.references
                                    .iter()
                                    .find(|r| r.table == fk.ref_table && &r.column == ref_col)
                                    .and_then(|r| self.converted(&r.ref_table))
                            })
                            .cloned();
                        let Some(target) = holds else { continue };
                        if self
                            .references
                            .iter()
                            .any(|r| r.table == t.name && &r.column == col)
                        {
                            continue;
                        }
                        self.add_reference(t, col, &target, Origin::Constraint, Some(&fk.name));
                        added = true;
                    }
                }
            }
            if !added {
                break;
            }
        }
        for t in schema.tables.iter().filter(|t| !is_internal(&t.name)) {
            for fk in t
                .foreign_keys
                .iter()
                .filter(|f| f.columns.len() > 1 && f.ref_schema.is_none())
            {
                let Some(c) = self.converted(&fk.ref_table) else {
                    continue;
                };
                let converts = fk.columns.iter().any(|col| {
                    self.references
                        .iter()
                        .any(|r| r.table == t.name && &r.column == col)
                });
                if !converts {
                    self.warnings.push(Warning {
                        kind: "reference-not-to-key",
                        table: t.name.clone(),
                        column: Some(fk.columns.join(",")),
                        message: format!(
                            "foreign key {} points at {}({}), not at the converted key {}; its columns keep their values",
                            fk.name, fk.ref_table, fk.ref_columns.join(","), c.column
                        ),
                    });
                }
            }
        }
    }

    fn add_reference(
        &mut self,
        table: &Table,
        column: &str,
        target: &Converted,
        origin: Origin,
        constraint: Option<&str>,
    ) {
        let nullable = table.column(column).map(|c| c.nullable).unwrap_or(true);
        let is_primary_key = self
            .converted
            .iter()
            .any(|c| c.table == table.name && c.column == column);
        self.references.push(Reference {
            table: table.name.clone(),
            column: column.to_string(),
            ref_table: target.table.clone(),
            ref_column: target.column.clone(),
            nullable,
            origin,
            constraint: constraint.map(str::to_string),
            is_primary_key,
        });
    }

    /// Whether `d`'s column already holds a reference to the same table (a constraint, or the
    /// same declaration given twice). A declaration that gives the column another target than
    /// its constraint or an earlier declaration is refused: one column maps through one parent
    /// (a polymorphic `commentable_id` cannot be converted by rekey).
    fn already_declared(
        &self,
        t: &Table,
        d: &crate::options::DeclaredReference,
        target: &Converted,
    ) -> Result<bool> {
        let other = self
            .references
            .iter()
            .find(|r| r.table == d.table && r.column == d.column)
            .map(|r| match (&r.origin, &r.constraint) {
                (Origin::Constraint, Some(n)) => (
                    r.ref_table.clone(),
                    r.ref_column.clone(),
                    format!("its foreign key {n}"),
                ),
                (Origin::Constraint, None) => (
                    r.ref_table.clone(),
                    r.ref_column.clone(),
                    "its foreign key".into(),
                ),
                (Origin::Declared, _) => (
                    r.ref_table.clone(),
                    r.ref_column.clone(),
                    "an earlier --reference".into(),
                ),
            })
            .or_else(|| {
                // A constraint to a table that keeps its keys is no reference of the plan, but
                // still says where the column's values belong.
                t.foreign_keys
                    .iter()
                    .find(|f| f.columns.len() == 1 && f.columns[0] == d.column)
                    .map(|f| {
                        let table = match &f.ref_schema {
                            Some(db) => format!("{db}.{}", f.ref_table),
                            None => f.ref_table.clone(),
                        };
                        (
                            table,
                            f.ref_columns.join(","),
                            format!("its foreign key {}", f.name),
                        )
                    })
            });
        match other {
            None => Ok(false),
            Some((table, column, _)) if table == target.table && column == target.column => {
                Ok(true)
            }
            Some((table, column, what)) => Err(Error::input(
                Place::stage(Stage::Introspect).table(&d.table).column(&d.column),
                format!(
                    "--reference {}.{}={}.{} contradicts {what}, which points the column at {table}.{column}: one column can hold the keys of one table only.",
                    d.table, d.column, d.ref_table, d.ref_column
                ),
                format!(
                    "Keep one target for {}.{} (drop the --reference that is wrong). A column whose target depends on the row (a polymorphic *_type/*_id pair) cannot be converted by rekey: leave it undeclared, or --exclude its table.",
                    d.table, d.column
                ),
            )),
        }
    }

    /// A key that follows a parent's key needs that parent's UUIDs first; a cycle of such keys
    /// (or a table following itself) has no first table.
    fn check_follow_chains(&self) -> Result<()> {
        for c in &self.converted {
            let mut seen = BTreeSet::new();
            let mut at = c;
            while let Some(parent) = &at.follows {
                if !seen.insert(at.table.clone()) || parent == &c.table {
                    return Err(Error::input(
                        Place::stage(Stage::Introspect).table(&c.table).column(&c.column),
                        "the primary key references itself, directly or through other tables' keys, so no table of the chain can give the first UUIDs.",
                        "Exclude one table of the chain with --exclude.",
                    ));
                }
                match self.converted.iter().find(|p| &p.table == parent) {
                    Some(p) => at = p,
                    None => break,
                }
            }
        }
        Ok(())
    }

    fn add_warnings(&mut self, schema: &Schema) {
        for t in schema.tables.iter().filter(|t| !is_internal(&t.name)) {
            for c in t.columns.iter().filter(|c| c.is_integer()) {
                let looks_like_ref = c.name.to_ascii_lowercase().ends_with("_id");
                let is_key = t.primary_key.len() == 1 && t.primary_key[0] == c.name;
                let covered = self
                    .references
                    .iter()
                    .any(|r| r.table == t.name && r.column == c.name)
                    || t.foreign_keys.iter().any(|f| f.columns.contains(&c.name));
                if looks_like_ref && !is_key && !covered {
                    self.warnings.push(Warning {
                        kind: "undeclared-reference",
                        table: t.name.clone(),
                        column: Some(c.name.clone()),
                        message: format!(
                            "integer column {}.{} has no foreign key; if it holds keys of a converted table, declare it with --reference {}.{}=TABLE.KEY, or it keeps its integer values",
                            t.name, c.name, t.name, c.name
                        ),
                    });
                }
            }
        }
        self.add_polymorphic_warnings(schema);
        for t in schema.tables.iter().filter(|t| !is_internal(&t.name)) {
            let uuid_columns = self.uuid_columns(&t.name);
            for ck in &t.checks {
                if let Some((col, _)) = uuid_columns.iter().find(|(c, _)| ck.mentions(c)) {
                    self.warnings.push(Warning {
                        kind: "check",
                        table: t.name.clone(),
                        column: Some(col.clone()),
                        message: format!(
                            "CHECK constraint {} ({}) uses {}.{col}, which becomes a UUID: it is dropped in DB_DATA and in a DB_FINAL made by derive-final; write the rule for UUIDs in the application's schema if it still matters",
                            if ck.name.is_empty() { "without a name" } else { &ck.name },
                            ck.expression,
                            t.name
                        ),
                    });
                }
            }
        }
        let converted: Vec<&Converted> = self.converted.iter().collect();
        let mentions = |text: &str| -> Option<String> {
            converted
                .iter()
                .find(|c| crate::model::mentions_identifier(text, &c.table))
                .map(|c| c.table.clone())
        };
        for tr in &schema.triggers {
            if let Some(t) = mentions(&tr.create_sql) {
                self.warnings.push(Warning {
                    kind: "trigger",
                    table: tr.table.clone(),
                    column: None,
                    message: format!("trigger {} mentions converted table {t}; check that it still works with UUID keys", tr.name),
                });
            }
        }
        for v in &schema.views {
            if let Some(t) = mentions(&v.definition) {
                self.warnings.push(Warning {
                    kind: "view",
                    table: v.name.clone(),
                    column: None,
                    message: format!("view {} mentions converted table {t}; check that it still works with UUID keys", v.name),
                });
            }
        }
        for r in &schema.routines {
            if let Some(t) = mentions(&r.definition) {
                self.warnings.push(Warning {
                    kind: "routine",
                    table: r.name.clone(),
                    column: None,
                    message: format!("{} {} mentions converted table {t}; check that it still works with UUID keys", r.kind.to_lowercase(), r.name),
                });
            }
        }
    }

    /// `<x>_type` beside an integer `<x>_id` is how ORMs store a reference whose table depends
    /// on the row (Rails' polymorphic associations, Django's generic relations): rekey can map a
    /// column through one table only.
    fn add_polymorphic_warnings(&mut self, schema: &Schema) {
        for t in schema.tables.iter().filter(|t| !is_internal(&t.name)) {
            for c in t.columns.iter().filter(|c| c.is_integer()) {
                let lower = c.name.to_ascii_lowercase();
                let Some(stem) = lower.strip_suffix("_id").filter(|s| !s.is_empty()) else {
                    continue;
                };
                let Some(kind) = t
                    .columns
                    .iter()
                    .find(|k| k.name.to_ascii_lowercase() == format!("{stem}_type"))
                else {
                    continue;
                };
                let followed = self
                    .references
                    .iter()
                    .find(|r| r.table == t.name && r.column == c.name)
                    .map(|r| format!("; the plan maps every value of it through {} (wrong for rows of another type)", r.ref_table))
                    .unwrap_or_else(|| "; it keeps its integer values".into());
                self.warnings.push(Warning {
                    kind: "polymorphic",
                    table: t.name.clone(),
                    column: Some(c.name.clone()),
                    message: format!(
                        "{}.{} beside {} looks like a polymorphic reference (the table its value belongs to depends on the row){followed}; rekey maps a column through one table only: convert such a column in the application",
                        t.name, c.name, kind.name
                    ),
                });
            }
        }
    }

    pub fn converted(&self, table: &str) -> Option<&Converted> {
        self.converted.iter().find(|c| c.table == table)
    }

    /// References held by columns of `table` that are not its own key.
    pub fn references_from<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a Reference> {
        self.references
            .iter()
            .filter(move |r| r.table == table && !r.is_primary_key)
    }

    /// Every column of `table` that holds UUIDs after the conversion, with the table whose keys it
    /// holds (itself for its own key).
    pub fn uuid_columns(&self, table: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(c) = self.converted(table) {
            out.push((c.column.clone(), c.table.clone()));
        }
        for r in self.references_from(table) {
            out.push((r.column.clone(), r.ref_table.clone()));
        }
        out
    }

    /// Converted tables, parents of one-to-one keys before the tables that follow them.
    pub fn converted_in_follow_order(&self) -> Vec<&Converted> {
        let mut done: Vec<&Converted> = Vec::new();
        let mut rest: Vec<&Converted> = self.converted.iter().collect();
        while !rest.is_empty() {
            let before = rest.len();
            rest.retain(|c| {
                let ready = match &c.follows {
                    None => true,
                    Some(p) => done.iter().any(|d| &d.table == p) || self.converted(p).is_none(),
                };
                if ready {
                    done.push(c);
                }
                !ready
            });
            if rest.len() == before {
                done.append(&mut rest); // unreachable after check_follow_chains
            }
        }
        done
    }

    /// Every table of SOURCE (rekey's own aside) with what the run will do to it, by name.
    pub fn tables(&self) -> Vec<TableView> {
        let mut names: Vec<&str> = self
            .converted
            .iter()
            .map(|c| c.table.as_str())
            .chain(self.kept.iter().map(|k| k.table.as_str()))
            .chain(self.excluded.iter().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .map(|table| {
                let converted = self.converted(table);
                let references: Vec<ViewReference> = self
                    .references_from(table)
                    .map(|r| ViewReference {
                        column: r.column.clone(),
                        ref_table: r.ref_table.clone(),
                        ref_column: r.ref_column.clone(),
                        origin: r.origin,
                        nullable: r.nullable,
                    })
                    .collect();
                let kept_because = if converted.is_some() {
                    None
                } else if self.excluded.iter().any(|t| t == table) {
                    Some("excluded with --exclude".to_string())
                } else {
                    self.kept
                        .iter()
                        .find(|k| k.table == table)
                        .map(|k| k.reason.clone())
                };
                TableView {
                    table: table.to_string(),
                    outcome: match (converted, references.is_empty()) {
                        (Some(_), _) => CONVERTED,
                        (None, false) => REFERENCES_FOLLOWED,
                        (None, true) => KEPT,
                    },
                    key: converted.map(|c| c.column.clone()),
                    key_type: converted.map(|c| c.column_type.clone()),
                    key_follows: converted.and_then(|c| c.follows.clone()),
                    kept_because,
                    referenced_by: self
                        .references
                        .iter()
                        .filter(|r| r.ref_table == table && !r.is_primary_key)
                        .count(),
                    references,
                    warnings: self
                        .warnings
                        .iter()
                        .filter(|w| w.table == table)
                        .map(|w| ViewWarning {
                            kind: w.kind,
                            column: w.column.clone(),
                        })
                        .collect(),
                    bookkeeping: crate::model::is_bookkeeping(table)
                        && !self
                            .warnings
                            .iter()
                            .any(|w| w.table == table && w.kind == APPLICATION_TABLE),
                }
            })
            .collect()
    }

    /// The plan as text for `rekey plan`: first a table with one row per table that a reviewer
    /// can sign off, then the details (constraints, reasons, warnings in full).
    pub fn to_text(&self) -> String {
        let views = self.tables();
        let with = |o: &str| views.iter().filter(|v| v.outcome == o).count() as u64;
        // One definition throughout: a table keeps its key when its key is not converted, whether
        // or not references to converted tables in it are followed.
        let keeping: Vec<&TableView> = views.iter().filter(|v| v.outcome != CONVERTED).collect();
        let mut s = format!(
            "What happens to each table ({}: {} converted, {} keep their keys, {} of them with references followed):\n\n",
            crate::text::count(views.len() as u64, "table"),
            with(CONVERTED),
            keeping.len(),
            with(REFERENCES_FOLLOWED)
        );
        let mut rows: Vec<[Vec<String>; 5]> = vec![[
            vec!["TABLE".into()],
            vec!["OUTCOME".into()],
            vec!["KEY".into()],
            vec!["REFERENCES FOLLOWED (become UUIDs)".into()],
            vec!["WARNINGS".into()],
        ]];
        for v in &views {
            let mut key = vec![
                match (&v.key, &v.key_type, &v.key_follows, &v.kept_because) {
                    (Some(k), Some(t), Some(p), _) => format!("{k} {t} -> UUID of its {p} row"),
                    (Some(k), Some(t), None, _) => format!("{k} {t} -> new UUID"),
                    (_, _, _, Some(why)) => format!("kept: {why}"),
                    _ => "kept".into(),
                },
            ];
            if v.bookkeeping {
                key.push("migration bookkeeping: DB_FINAL keeps its own rows".into());
            }
            let refs: Vec<String> = v
                .references
                .iter()
                .map(|r| {
                    format!(
                        "{} -> {}{}",
                        r.column,
                        r.ref_table,
                        if r.origin == Origin::Declared {
                            " (declared)"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            let warns: Vec<String> = v
                .warnings
                .iter()
                .map(|w| match &w.column {
                    Some(c) => format!("{} {c}", w.kind),
                    None => w.kind.to_string(),
                })
                .collect();
            let or_dash = |v: Vec<String>| if v.is_empty() { vec!["-".into()] } else { v };
            rows.push([
                vec![v.table.clone()],
                vec![v.outcome.to_string()],
                key,
                or_dash(refs),
                or_dash(warns),
            ]);
        }
        s.push_str(&columns(&rows));
        s.push_str("\nDetails\n\n");
        s.push_str(&format!("Converted tables ({}):\n", self.converted.len()));
        for c in &self.converted {
            match &c.follows {
                Some(p) => s.push_str(&format!(
                    "  {}.{} ({}) takes the UUID of its {} row\n",
                    c.table, c.column, c.column_type, p
                )),
                None => s.push_str(&format!("  {}.{} ({})\n", c.table, c.column, c.column_type)),
            }
        }
        s.push_str(&format!("References ({}):\n", self.references.len()));
        for r in &self.references {
            let how = match (&r.origin, &r.constraint) {
                (Origin::Constraint, Some(n)) => format!("constraint {n}"),
                (Origin::Constraint, None) => "constraint".into(),
                (Origin::Declared, _) => "declared".into(),
            };
            s.push_str(&format!(
                "  {}{} [{how}]\n",
                r.label(),
                if r.nullable { ", nullable" } else { "" }
            ));
        }
        if !self.excluded.is_empty() {
            s.push_str(&format!("Excluded tables: {}\n", self.excluded.join(", ")));
        }
        if !keeping.is_empty() {
            s.push_str(&format!(
                "Tables that keep their keys ({}):\n",
                keeping.len()
            ));
            for v in &keeping {
                match &v.kept_because {
                    Some(why) => s.push_str(&format!("  {} ({why})\n", v.table)),
                    None => s.push_str(&format!("  {}\n", v.table)),
                }
            }
        }
        s.push_str(&format!("Warnings ({}):\n", self.warnings.len()));
        for w in &self.warnings {
            s.push_str(&format!("  [{}] {}\n", w.kind, w.message));
        }
        s
    }
}

/// What to do about a table name SOURCE does not have: its name as SOURCE spells it when only
/// the case differs (names are compared exactly: `Artist` and `artist` may be two tables).
fn spelling_hint(schema: &Schema, name: &str) -> String {
    let same: Vec<&str> = schema
        .tables
        .iter()
        .map(|t| t.name.as_str())
        .filter(|t| t.eq_ignore_ascii_case(name))
        .collect();
    match same.as_slice() {
        [] => "Check the spelling against `rekey plan --source URL`.".into(),
        [one] => format!(
            "SOURCE has `{one}`: table names are case-sensitive here, write it as SOURCE does."
        ),
        many => format!(
            "SOURCE has {}: table names are case-sensitive here, write it as SOURCE does.",
            many.iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Rows of cells (each cell one or more lines) as aligned columns, a rule under the first row.
fn columns<const N: usize>(rows: &[[Vec<String>; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            for line in cell {
                widths[i] = widths[i].max(line.chars().count());
            }
        }
    }
    let mut s = String::new();
    for (n, row) in rows.iter().enumerate() {
        let height = row.iter().map(Vec::len).max().unwrap_or(1);
        for l in 0..height {
            let mut line = String::from("  ");
            for (i, cell) in row.iter().enumerate() {
                let text = cell.get(l).map(String::as_str).unwrap_or("");
                if i + 1 == N {
                    line.push_str(text);
                } else {
                    line.push_str(text);
                    line.push_str(&" ".repeat(widths[i] - text.chars().count() + 2));
                }
            }
            s.push_str(line.trim_end());
            s.push('\n');
        }
        if n == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (N - 1);
            s.push_str(&format!("  {}\n", "-".repeat(total)));
        }
    }
    s
}

fn single_integer_key(t: &Table) -> Option<&str> {
    if t.primary_key.len() != 1 {
        return None;
    }
    let col = t.column(&t.primary_key[0])?;
    col.is_integer().then_some(col.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Column, ForeignKey};

    fn plan() -> Plan {
        let reference = |table: &str, column: &str, parent: &str, origin| Reference {
            table: table.into(),
            column: column.into(),
            ref_table: parent.into(),
            ref_column: "id".into(),
            nullable: true,
            origin,
            constraint: None,
            is_primary_key: false,
        };
        Plan {
            converted: vec![
                Converted {
                    table: "user".into(),
                    column: "id".into(),
                    column_type: "int".into(),
                    follows: None,
                },
                Converted {
                    table: "profile".into(),
                    column: "user_id".into(),
                    column_type: "int".into(),
                    follows: Some("user".into()),
                },
            ],
            references: vec![
                reference("membership", "user_id", "user", Origin::Constraint),
                reference("audit", "user_id", "user", Origin::Declared),
            ],
            excluded: vec!["audit".into()],
            kept: vec![
                Kept {
                    table: "membership".into(),
                    reason: "composite primary key".into(),
                },
                Kept {
                    table: "alembic_version".into(),
                    reason: "primary key is not an integer".into(),
                },
            ],
            warnings: vec![Warning {
                kind: "undeclared-reference",
                table: "user".into(),
                column: Some("boss_id".into()),
                message: "integer column user.boss_id has no foreign key".into(),
            }],
        }
    }

    #[test]
    fn every_table_has_one_outcome_a_reviewer_can_read() {
        let views = plan().tables();
        let outcome = |t: &str| views.iter().find(|v| v.table == t).unwrap().outcome;
        assert_eq!(views.len(), 5);
        assert_eq!(outcome("user"), CONVERTED);
        assert_eq!(outcome("profile"), CONVERTED);
        assert_eq!(outcome("membership"), REFERENCES_FOLLOWED);
        assert_eq!(outcome("audit"), REFERENCES_FOLLOWED);
        assert_eq!(outcome("alembic_version"), KEPT);
        let user = views.iter().find(|v| v.table == "user").unwrap();
        assert_eq!(user.referenced_by, 2);
        assert_eq!(user.warnings[0].kind, "undeclared-reference");

        let text = plan().to_text();
        assert!(text.starts_with(
            "What happens to each table (5 tables: 2 converted, 3 keep their keys, 2 of them with references followed):"
        ));
        // The count in the header is the list in the details.
        assert!(
            text.contains("Tables that keep their keys (3):\n  alembic_version (primary key is not an integer)\n  audit (excluded with --exclude)\n  membership (composite primary key)\n"),
            "{text}"
        );
        for line in [
            "  audit            references followed  kept: excluded with --exclude",
            "  profile          converted            user_id int -> UUID of its user row",
            "  user             converted            id int -> new UUID",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        assert!(text.contains("user_id -> user (declared)"), "{text}");
        assert!(text.contains("undeclared-reference boss_id"), "{text}");
        assert!(text.contains("migration bookkeeping: DB_FINAL keeps its own rows"));

        let json = serde_json::to_value(plan()).unwrap();
        assert_eq!(json["tables"].as_array().unwrap().len(), 5);
        assert_eq!(json["converted"][0]["table"], "user");
    }

    fn table(name: &str, key: &[&str], columns: &[&str], fks: Vec<ForeignKey>) -> Table {
        Table {
            name: name.into(),
            columns: columns
                .iter()
                .map(|c| Column {
                    name: c.to_string(),
                    data_type: "integer".into(),
                    column_type: "integer".into(),
                    ..Column::default()
                })
                .collect(),
            primary_key: key.iter().map(|c| c.to_string()).collect(),
            foreign_keys: fks,
            ..Table::default()
        }
    }

    fn fk(name: &str, columns: &[&str], ref_table: &str, ref_columns: &[&str]) -> ForeignKey {
        ForeignKey {
            name: name.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            ref_schema: None,
            ref_table: ref_table.into(),
            ref_columns: ref_columns.iter().map(|c| c.to_string()).collect(),
            on_delete: "NO ACTION".into(),
            on_update: "NO ACTION".into(),
        }
    }

    #[test]
    fn a_table_named_in_another_case_is_suggested_as_source_spells_it() {
        let schema = Schema {
            tables: vec![
                table("Artist", &["id"], &["id"], vec![]),
                table("album", &["id"], &["id", "artist_id"], vec![]),
            ],
            ..Schema::default()
        };
        let hint = |options: ConversionOptions| match Plan::build(&schema, &options) {
            Err(Error::Usage { hint, .. }) => hint,
            other => panic!("{other:?}"),
        };
        let exclude = hint(ConversionOptions {
            exclude: vec!["artist".into()],
            ..ConversionOptions::default()
        });
        assert!(exclude.contains("SOURCE has `Artist`"), "{exclude}");
        for (table, ref_table) in [("ALBUM", "Artist"), ("album", "ARTIST")] {
            let declared = hint(ConversionOptions {
                references: vec![crate::options::DeclaredReference {
                    table: table.into(),
                    column: "artist_id".into(),
                    ref_table: ref_table.into(),
                    ref_column: "id".into(),
                }],
                ..ConversionOptions::default()
            });
            let expected = if table == "ALBUM" {
                "`album`"
            } else {
                "`Artist`"
            };
            assert!(
                declared.contains(&format!("SOURCE has {expected}")),
                "{declared}"
            );
        }
    }

    #[test]
    fn composite_keys_convert_the_columns_paired_with_uuid_columns() {
        let schema = Schema {
            tables: vec![
                table("tenant", &["id"], &["id"], vec![]),
                table(
                    "tenant_item",
                    &["id"],
                    &["id", "tenant_id"],
                    vec![fk("fk_item_tenant", &["tenant_id"], "tenant", &["id"])],
                ),
                table(
                    "item_ref",
                    &["id"],
                    &["id", "tenant_id", "item_id"],
                    vec![fk(
                        "fk_ref_item",
                        &["tenant_id", "item_id"],
                        "tenant_item",
                        &["tenant_id", "id"],
                    )],
                ),
            ],
            ..Schema::default()
        };
        let plan = Plan::build(&schema, &ConversionOptions::default()).unwrap();
        let refs: Vec<String> = plan.references.iter().map(Reference::label).collect();
        assert!(
            refs.contains(&"item_ref.item_id -> tenant_item.id".to_string()),
            "{refs:?}"
        );
        assert!(
            refs.contains(&"item_ref.tenant_id -> tenant.id".to_string()),
            "{refs:?}"
        );
        assert!(plan
            .warnings
            .iter()
            .all(|w| w.kind != "reference-not-to-key"));
    }

    #[test]
    fn two_constraints_on_one_column_are_one_reference() {
        let schema = Schema {
            tables: vec![
                table("customer", &["id"], &["id"], vec![]),
                table(
                    "payment",
                    &[],
                    &["customer_id"],
                    vec![
                        fk("p1_customer", &["customer_id"], "customer", &["id"]),
                        fk("p2_customer", &["customer_id"], "customer", &["id"]),
                    ],
                ),
            ],
            ..Schema::default()
        };
        let plan = Plan::build(&schema, &ConversionOptions::default()).unwrap();
        assert_eq!(plan.references.len(), 1, "{:?}", plan.references);
    }

    #[test]
    fn a_column_gets_one_target_and_polymorphic_pairs_are_named() {
        let mut vote = table("vote", &["id"], &["id", "votable_id", "user_id"], vec![]);
        vote.columns.push(Column {
            name: "votable_type".into(),
            data_type: "varchar".into(),
            column_type: "varchar(20)".into(),
            ..Column::default()
        });
        vote.foreign_keys
            .push(fk("fk_vote_user", &["user_id"], "user", &["id"]));
        let schema = Schema {
            tables: vec![
                table("user", &["id"], &["id"], vec![]),
                table("post", &["id"], &["id"], vec![]),
                vote,
            ],
            ..Schema::default()
        };
        let declare = |refs: &[&str]| ConversionOptions {
            references: refs
                .iter()
                .map(|r| crate::options::DeclaredReference::parse(r).unwrap())
                .collect(),
            ..ConversionOptions::default()
        };
        let plan = Plan::build(&schema, &declare(&["vote.user_id=user.id"])).unwrap();
        assert_eq!(plan.references.len(), 1);
        assert!(plan
            .warnings
            .iter()
            .any(|w| w.kind == "polymorphic" && w.column.as_deref() == Some("votable_id")));
        for refs in [
            &["vote.user_id=post.id"][..],
            &["vote.votable_id=user.id", "vote.votable_id=post.id"][..],
        ] {
            let err = Plan::build(&schema, &declare(refs)).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{err}");
            assert!(
                err.to_string().contains("user.id") && err.to_string().contains("post.id"),
                "{err}"
            );
        }
        let twice = declare(&["vote.votable_id=user.id", "vote.votable_id=user.id"]);
        assert_eq!(Plan::build(&schema, &twice).unwrap().references.len(), 2);
    }
}
