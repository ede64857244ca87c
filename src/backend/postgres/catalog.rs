//! PostgreSQL's catalog: pg_catalog (the queries are the `.sql` files beside this one, each row
//! read as JSON) into the neutral model, with what only PostgreSQL needs to recreate a table kept in
//! `Table.create_sql` (`PgTable`); the server's facts; and the shapes this engine warns about.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;

use super::extra::{PgColumn, PgConstraint, PgIndex, PgPartition, PgPolicy, PgTable, PgType};
use super::{catalog_rows, PostgresBackend, DIALECT};
use crate::backend::{Catalog, Dialect, ServerInfo, Session};
use crate::error::Result;
use crate::model::{Check, Column, ForeignKey, Index, Routine, Schema, Table, Trigger, View};
use crate::plan::{Plan, Warning};

const TABLES_SQL: &str = include_str!("tables.sql");
const COLUMNS_SQL: &str = include_str!("columns.sql");
const CONSTRAINTS_SQL: &str = include_str!("constraints.sql");
const INDEXES_SQL: &str = include_str!("indexes.sql");
const TRIGGERS_SQL: &str = include_str!("triggers.sql");
const VIEWS_SQL: &str = include_str!("views.sql");
const RULES_SQL: &str = include_str!("rules.sql");
const POLICIES_SQL: &str = include_str!("policies.sql");
const TYPES_SQL: &str = include_str!("types.sql");
const ROUTINES_SQL: &str = include_str!("routines.sql");
const ROUTINE_DEFS_SQL: &str = include_str!("routine_defs.sql");
pub(super) const SERVER_INFO_SQL: &str = include_str!("server_info.sql");
const SCHEMAS_SQL: &str = include_str!("schemas.sql");
const FOREIGN_KEYS_SQL: &str = include_str!("foreign_keys.sql");

#[derive(Deserialize)]
struct ForeignKeyRow {
    table_schema: String,
    table_name: String,
    columns: Vec<String>,
    ref_schema: String,
    ref_table: String,
}

#[derive(Deserialize)]
struct SchemaRow {
    schema_name: String,
}

#[derive(Deserialize)]
struct TableRow {
    table_name: String,
    partition_key: Option<String>,
    partitions: Vec<PgPartition>,
    inherits: Vec<String>,
    estimated_rows: i64,
    total_bytes: i64,
    unlogged: bool,
    row_security: bool,
    force_row_security: bool,
    comment: Option<String>,
}

#[derive(Deserialize)]
struct ColumnRow {
    table_name: String,
    column_name: String,
    column_type: String,
    base_type_name: String,
    nullable: bool,
    default_expr: Option<String>,
    identity: String,
    generated: String,
    generation_expr: Option<String>,
    owned_sequence: Option<String>,
    default_sequence: Option<String>,
    collation: Option<String>,
    max_length: Option<i64>,
    numeric_precision: Option<i64>,
    numeric_scale: Option<i64>,
    comment: Option<String>,
    type_oid: u32,
    is_local: bool,
}

#[derive(Deserialize)]
struct ConstraintRow {
    on_table: String,
    root_table: String,
    name: String,
    kind: String,
    definition: String,
    columns: Vec<String>,
    ref_schema: Option<String>,
    ref_table: Option<String>,
    ref_columns: Vec<String>,
    on_delete: Option<String>,
    on_update: Option<String>,
}

#[derive(Deserialize)]
struct IndexRow {
    on_table: String,
    root_table: String,
    name: String,
    is_unique: bool,
    is_primary: bool,
    constraint_name: Option<String>,
    method: String,
    key_columns: Option<Vec<Option<String>>>,
    columns: Vec<String>,
    computed: bool,
    definition: String,
}

#[derive(Deserialize)]
struct TriggerRow {
    table_name: String,
    trigger_name: String,
    enabled: String,
    definition: String,
    function_def: Option<String>,
}

#[derive(Deserialize)]
struct ViewRow {
    view_name: String,
    relkind: String,
    definition: String,
    create_sql: String,
    index_definitions: Vec<String>,
    routine_oids: Vec<i64>,
}

#[derive(Deserialize)]
struct RoutineDefRow {
    oid: i64,
    create_sql: String,
    needs: Vec<i64>,
}

#[derive(Deserialize)]
struct RuleRow {
    table_name: String,
    definition: String,
}

#[derive(Deserialize)]
struct PolicyRow {
    table_name: String,
    policy_name: String,
    definition: String,
    columns: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TypeRow {
    oid: u32,
    array_oid: u32,
    name: String,
    schema_name: String,
    depends_on: Option<u32>,
    create_sql: String,
}

#[derive(Deserialize)]
struct RoutineRow {
    name: String,
    kind: String,
    definition: String,
}

#[derive(Deserialize)]
pub(super) struct ServerRow {
    pub version: String,
    pub system_identifier: String,
    pub current_user: String,
    pub can_create_db: bool,
    pub can_set_replication_role: bool,
    pub database_collation: String,
    pub database_bytes: Option<i64>,
}

impl PostgresBackend {
    pub(super) fn server_row(&self, session: &mut dyn Session) -> Result<ServerRow> {
        catalog_rows::<ServerRow>(session, SERVER_INFO_SQL)?
            .into_iter()
            .next()
            .ok_or_else(|| {
                crate::error::Error::env(
                    crate::error::Place::default(),
                    format!("{} did not describe itself.", self.url),
                    "Check that the account's role exists (pg_roles), then run again.",
                )
            })
    }

    /// The user types a table's columns need, dependencies first, each once.
    fn types_for(columns: &[ColumnRow], types: &[TypeRow]) -> Vec<PgType> {
        let by_oid: HashMap<u32, &TypeRow> = types.iter().map(|t| (t.oid, t)).collect();
        let by_array: HashMap<u32, &TypeRow> = types.iter().map(|t| (t.array_oid, t)).collect();
        let mut out: Vec<PgType> = Vec::new();
        let mut seen = BTreeSet::new();
        fn visit(
            t: &TypeRow,
            by_oid: &HashMap<u32, &TypeRow>,
            seen: &mut BTreeSet<u32>,
            out: &mut Vec<PgType>,
        ) {
            if !seen.insert(t.oid) {
                return;
            }
            if let Some(base) = t.depends_on.and_then(|b| by_oid.get(&b)) {
                visit(base, by_oid, seen, out);
            }
            let mut create_sql = String::new();
            let schema = DIALECT.q(&t.schema_name);
            if t.name.starts_with(&format!("{schema}."))
                || t.name.starts_with(&format!("{}.", t.schema_name))
            {
                create_sql.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {schema}; "));
            }
            create_sql.push_str(&t.create_sql);
            out.push(PgType {
                name: t.name.clone(),
                create_sql,
            });
        }
        for c in columns {
            if let Some(t) = by_oid
                .get(&c.type_oid)
                .or_else(|| by_array.get(&c.type_oid))
            {
                visit(t, &by_oid, &mut seen, &mut out);
            }
        }
        out
    }
}

impl Catalog for PostgresBackend {
    fn describe(&self, session: &mut dyn Session) -> Result<Schema> {
        let server = self.server_row(session)?;
        let tables: Vec<TableRow> = catalog_rows(session, &self.bind(TABLES_SQL))?;
        let columns: Vec<ColumnRow> = catalog_rows(session, &self.bind(COLUMNS_SQL))?;
        let constraints: Vec<ConstraintRow> = catalog_rows(session, &self.bind(CONSTRAINTS_SQL))?;
        let indexes: Vec<IndexRow> = catalog_rows(session, &self.bind(INDEXES_SQL))?;
        let rules: Vec<RuleRow> = catalog_rows(session, &self.bind(RULES_SQL))?;
        let policies: Vec<PolicyRow> = catalog_rows(session, &self.bind(POLICIES_SQL))?;
        let types: Vec<TypeRow> = catalog_rows(session, TYPES_SQL)?;
        let schema_name = self.schema().to_string();

        let mut by_table: BTreeMap<String, Vec<ColumnRow>> = BTreeMap::new();
        for c in columns {
            by_table.entry(c.table_name.clone()).or_default().push(c);
        }
        let mut out = Schema::default();
        for t in tables {
            let cols = by_table.remove(&t.table_name).unwrap_or_default();
            let mut extra = PgTable {
                partition_key: t.partition_key.clone(),
                partitions: t.partitions,
                inherits: t.inherits,
                unlogged: t.unlogged,
                row_security: t.row_security,
                force_row_security: t.force_row_security,
                types: Self::types_for(&cols, &types),
                comment: t.comment,
                ..PgTable::default()
            };
            let mut table = Table {
                name: t.table_name.clone(),
                estimated_rows: t.estimated_rows.max(0) as u64,
                bytes: t.total_bytes.max(0) as u64,
                collation: Some(server.database_collation.clone()),
                partitioning: t.partition_key,
                ..Table::default()
            };
            for c in cols {
                extra.columns.push(PgColumn {
                    name: c.column_name.clone(),
                    identity: c.identity.clone(),
                    sequence: c.owned_sequence.clone().or(c.default_sequence.clone()),
                    owns_sequence: c.owned_sequence.is_some(),
                    local: c.is_local,
                    collation: c.collation.clone(),
                });
                table.columns.push(Column {
                    name: c.column_name,
                    data_type: c.base_type_name,
                    column_type: c.column_type,
                    nullable: c.nullable,
                    default: c.default_expr,
                    max_length: c.max_length.map(|n| n.max(0) as u64),
                    numeric_precision: c.numeric_precision.map(|n| n.max(0) as u64),
                    numeric_scale: c.numeric_scale.map(|n| n.max(0) as u64),
                    charset: None,
                    collation: c.collation,
                    auto_increment: !c.identity.is_empty() || c.default_sequence.is_some(),
                    generated: (c.generated == "s").then(|| c.generation_expr.unwrap_or_default()),
                    invisible: false,
                    comment: c.comment,
                });
            }
            for k in constraints.iter().filter(|k| k.root_table == table.name) {
                let foreign_schema = k.ref_schema.as_deref().is_some_and(|s| s != schema_name);
                extra.constraints.push(PgConstraint {
                    name: k.name.clone(),
                    on: k.on_table.clone(),
                    kind: k.kind.clone(),
                    definition: k.definition.clone(),
                    columns: k.columns.clone(),
                    foreign_schema,
                });
                if k.kind == "p" && k.on_table == table.name {
                    table.primary_key = k.columns.clone();
                }
                if k.kind == "c" && k.on_table == table.name {
                    table.checks.push(Check {
                        name: k.name.clone(),
                        expression: k.definition.clone(),
                        column: None,
                    });
                }
                let same_reference = |f: &ForeignKey| {
                    f.columns == k.columns
                        && Some(&f.ref_table) == k.ref_table.as_ref()
                        && f.ref_columns == k.ref_columns
                };
                if k.kind == "f" && !table.foreign_keys.iter().any(same_reference) {
                    // A partition's own foreign key is the partitioned table's reference too: a
                    // column's type is the same in every partition (declared on each partition,
                    // as pagila does, it is one reference).
                    table.foreign_keys.push(ForeignKey {
                        name: k.name.clone(),
                        columns: k.columns.clone(),
                        ref_schema: k.ref_schema.clone().filter(|_| foreign_schema),
                        ref_table: k.ref_table.clone().unwrap_or_default(),
                        ref_columns: k.ref_columns.clone(),
                        on_delete: k.on_delete.clone().unwrap_or_default(),
                        on_update: k.on_update.clone().unwrap_or_default(),
                    });
                }
            }
            for ix in indexes.iter().filter(|i| i.root_table == table.name) {
                if ix.constraint_name.is_none() {
                    extra.indexes.push(PgIndex {
                        name: ix.name.clone(),
                        on: ix.on_table.clone(),
                        definition: ix.definition.clone(),
                        columns: ix.columns.clone(),
                        computed: ix.computed,
                    });
                }
                if ix.is_primary || ix.on_table != table.name {
                    continue;
                }
                table.indexes.push(Index {
                    name: ix.name.clone(),
                    columns: ix
                        .key_columns
                        .clone()
                        .unwrap_or_default()
                        .into_iter()
                        .flatten()
                        .collect(),
                    unique: ix.is_unique,
                    kind: ix.method.to_ascii_uppercase(),
                    create_sql: ix.constraint_name.is_none().then(|| ix.definition.clone()),
                });
            }
            extra.rules = rules
                .iter()
                .filter(|r| r.table_name == table.name)
                .map(|r| r.definition.clone())
                .collect();
            extra.policies = policies
                .iter()
                .filter(|p| p.table_name == table.name)
                .map(|p| PgPolicy {
                    name: p.policy_name.clone(),
                    definition: p.definition.clone(),
                    columns: p.columns.clone().unwrap_or_default(),
                })
                .collect();
            table.create_sql = Some(extra.to_json());
            out.tables.push(table);
        }
        inherit_keys(&mut out.tables);
        inheritance_order(&mut out.tables);

        for r in catalog_rows::<TriggerRow>(session, &self.bind(TRIGGERS_SQL))? {
            out.triggers.push(Trigger {
                name: r.trigger_name,
                table: r.table_name,
                create_sql: r.definition,
                setup: r.function_def.into_iter().collect(),
                runs_as: None,
                enabled: Some(r.enabled),
            });
        }
        let routines: HashMap<i64, RoutineDefRow> =
            catalog_rows::<RoutineDefRow>(session, &self.bind(ROUTINE_DEFS_SQL))?
                .into_iter()
                .map(|r| (r.oid, r))
                .collect();
        for v in catalog_rows::<ViewRow>(session, &self.bind(VIEWS_SQL))? {
            // The schema's own functions and aggregates the view calls come first (an aggregate
            // after its support functions), so derive-final can create the view.
            let mut create_sql = String::new();
            let mut done = BTreeSet::new();
            let mut pending: Vec<(i64, bool)> =
                v.routine_oids.iter().rev().map(|o| (*o, false)).collect();
            while let Some((oid, expanded)) = pending.pop() {
                let Some(r) = routines.get(&oid) else {
                    continue;
                };
                if done.contains(&oid) {
                    continue;
                }
                if !expanded {
                    pending.push((oid, true));
                    pending.extend(r.needs.iter().map(|n| (*n, false)));
                    continue;
                }
                done.insert(oid);
                create_sql.push_str(r.create_sql.trim_end().trim_end_matches(';'));
                create_sql.push_str(";\n");
            }
            create_sql.push_str(&v.create_sql);
            for ix in &v.index_definitions {
                create_sql.push_str(&format!("\n{ix};"));
            }
            out.views.push(View {
                name: v.view_name,
                definition: if v.relkind == "m" {
                    format!("MATERIALIZED {}", v.definition)
                } else {
                    v.definition
                },
                create_sql: Some(create_sql),
            });
        }
        for r in catalog_rows::<RoutineRow>(session, &self.bind(ROUTINES_SQL))? {
            out.routines.push(Routine {
                name: r.name,
                kind: r.kind,
                definition: r.definition,
            });
        }
        Ok(out)
    }

    fn server_info(&self, session: &mut dyn Session) -> Result<ServerInfo> {
        Ok(ServerInfo {
            version: self.server_row(session)?.version,
        })
    }

    fn check_namespace(&self, session: &mut dyn Session) -> Result<()> {
        let schemas: Vec<String> = catalog_rows::<SchemaRow>(session, SCHEMAS_SQL)?
            .into_iter()
            .map(|r| r.schema_name)
            .collect();
        if schemas.iter().any(|s| s == self.schema()) {
            return Ok(());
        }
        Err(crate::error::Error::input(
            crate::error::Place::stage(crate::stage::Stage::Introspect),
            format!(
                "{} names schema {}, which database {} does not have; its schemas are: {}.",
                self.url,
                self.schema(),
                self.url.database,
                if schemas.is_empty() { "none".to_string() } else { schemas.join(", ") }
            ),
            "Give one of those schemas with ?schema=NAME (names are case-sensitive; without ?schema= rekey works in public), then run again; nothing was written.",
        ))
    }

    fn review_outside(
        &self,
        session: &mut dyn Session,
        _schema: &Schema,
        plan: &mut Plan,
    ) -> Result<()> {
        let here = self.schema();
        let rows: Vec<ForeignKeyRow> = catalog_rows(session, &self.bind(FOREIGN_KEYS_SQL))?;
        for k in rows
            .iter()
            .filter(|k| k.table_schema != here && k.ref_schema == here)
        {
            let Some(c) = plan.converted(&k.ref_table) else {
                continue;
            };
            let message = format!(
                "{}.{}.{} (schema {} is not converted) references {}.{}, which becomes a UUID: that reference keeps its integer values and breaks (convert that schema's tables in the same run or drop the constraint before the cutover, or --exclude {})",
                k.table_schema,
                k.table_name,
                k.columns.join(", "),
                k.table_schema,
                k.ref_table,
                c.column,
                k.ref_table
            );
            plan.warnings.push(Warning {
                kind: "outside-reference",
                table: k.ref_table.clone(),
                column: None,
                message,
            });
        }
        Ok(())
    }

    fn review_plan(&self, schema: &Schema, plan: &mut Plan) -> Result<()> {
        review_partitions(schema, plan)?;
        for t in &schema.tables {
            let extra = PgTable::of(t);
            if extra.row_security {
                plan.warnings.push(Warning {
                    kind: "row-security",
                    table: t.name.clone(),
                    column: None,
                    message: format!(
                        "table {} has row-level security: rekey reads it with row_security = off, so the account must own it or have BYPASSRLS, else the run stops (it never copies only the rows a policy shows)",
                        t.name
                    ),
                });
            }
            for c in t.columns.iter().filter(|c| {
                c.data_type.ends_with("[]")
                    && matches!(
                        c.data_type.as_str(),
                        "smallint[]" | "integer[]" | "bigint[]"
                    )
                    && c.name.to_ascii_lowercase().ends_with("_ids")
            }) {
                plan.warnings.push(Warning {
                    kind: "key-array",
                    table: t.name.clone(),
                    column: Some(c.name.clone()),
                    message: format!(
                        "array column {}.{} looks like it holds keys; no constraint can say so and rekey keeps its integer values",
                        t.name, c.name
                    ),
                });
            }
            let converted: Vec<String> = plan
                .converted(&t.name)
                .map(|c| c.column.clone())
                .into_iter()
                .chain(plan.references_from(&t.name).map(|r| r.column.clone()))
                .collect();
            for p in &extra.policies {
                if let Some(c) = p.columns.iter().find(|c| converted.contains(c)) {
                    plan.warnings.push(Warning {
                        kind: "policy",
                        table: t.name.clone(),
                        column: Some(c.clone()),
                        message: format!(
                            "row-level security policy {} on {} uses converted column {c}: derive-final leaves it out (its expression compares integers; row security stays on, so only the owner sees rows until it is written again for UUIDs)",
                            p.name, t.name
                        ),
                    });
                }
            }
            // The neutral plan says a CHECK over a converted column is dropped; here derive-final
            // lets the server decide, so this engine's warning replaces it.
            plan.warnings
                .retain(|w| !(w.kind == "check" && w.table == t.name));
            let checks = extra.constraints.iter().filter(|k| k.kind == "c").map(|k| {
                (
                    "check",
                    format!("CHECK constraint {} ({})", k.name, k.definition),
                    &k.on,
                    &k.columns,
                )
            });
            let indexes = extra.indexes.iter().filter(|ix| ix.computed).map(|ix| {
                (
                    "expression-index",
                    format!("expression or partial index {}", ix.name),
                    &ix.on,
                    &ix.columns,
                )
            });
            for (kind, what, on, columns) in checks.chain(indexes) {
                if let Some(c) = columns.iter().find(|c| converted.contains(c)) {
                    plan.warnings.push(Warning {
                        kind,
                        table: t.name.clone(),
                        column: Some(c.clone()),
                        message: format!(
                            "{what} on {on} uses converted column {c}: it is dropped in DB_DATA; derive-final keeps it if PostgreSQL accepts it for UUIDs (parent_id <> id, WHERE parent_id IS NULL) and otherwise leaves it out, naming it in its report (id > 0, id % 10)"
                        ),
                    });
                }
            }
            if !extra.rules.is_empty() {
                plan.warnings.push(Warning {
                    kind: "rule",
                    table: t.name.clone(),
                    column: None,
                    message: format!(
                        "table {} has {} rewrite rule(s): rekey moves rows with COPY, which never fires rules; derive-final recreates them as written",
                        t.name,
                        extra.rules.len()
                    ),
                });
            }
        }
        Ok(())
    }
}

/// An inheritance child without a primary key of its own (old-style partitioning: pagila's
/// payment_p2017_01 INHERITS payment) is identified by the key it inherits from its parent, whose
/// values the parent's sequence keeps unique across the hierarchy: it converts with it, each row
/// its own UUID (a duplicate would stop shadow at the mapping table's primary key). Nothing is
/// added to DB_FINAL: the constraint is not in `PgTable`, only the model's key.
fn inherit_keys(tables: &mut [Table]) {
    let keys: HashMap<String, Vec<String>> = tables
        .iter()
        .map(|t| (t.name.clone(), t.primary_key.clone()))
        .collect();
    for t in tables.iter_mut().filter(|t| t.primary_key.is_empty()) {
        let extra = PgTable::of(t);
        let inherited = extra.inherits.iter().find_map(|p| {
            keys.get(p)
                .filter(|k| k.len() == 1 && extra.column(&k[0]).is_some_and(|c| !c.local))
        });
        if let Some(key) = inherited {
            t.primary_key = key.clone();
        }
    }
}

/// Tables that INHERITS others come after their parents (derive-final creates them in this
/// order), otherwise by name.
fn inheritance_order(tables: &mut Vec<Table>) {
    let parents: HashMap<String, Vec<String>> = tables
        .iter()
        .map(|t| (t.name.clone(), PgTable::of(t).inherits))
        .collect();
    let mut placed: Vec<Table> = Vec::with_capacity(tables.len());
    let mut rest: Vec<Table> = std::mem::take(tables);
    while !rest.is_empty() {
        let before = rest.len();
        let mut i = 0;
        while i < rest.len() {
            let ready = parents.get(&rest[i].name).is_none_or(|ps| {
                ps.iter()
                    .all(|p| placed.iter().any(|t| t.name == *p) || !parents.contains_key(p))
            });
            if ready {
                placed.push(rest.remove(i));
            } else {
                i += 1;
            }
        }
        if rest.len() == before {
            placed.append(&mut rest);
        }
    }
    *tables = placed;
}

/// A RANGE or LIST partition's bounds are written for the integer values of its key: a partition
/// key over a column that becomes a UUID cannot hold them (derive-final would fail with 22P02 after
/// DB_DATA is built). Refused before anything is written, as MySQL's review refuses partition
/// functions. A HASH key takes UUIDs as they are (`FOR VALUES WITH (MODULUS, REMAINDER)`): the
/// rows spread over the same partitions by their new keys, so it converts (measured: 1,000 rows
/// over two partitions, verified).
fn review_partitions(schema: &Schema, plan: &Plan) -> Result<()> {
    for t in &schema.tables {
        let extra = PgTable::of(t);
        let keys = t
            .partitioning
            .iter()
            .map(|k| (t.name.as_str(), k.as_str()))
            .chain(
                extra
                    .partitions
                    .iter()
                    .filter_map(|p| p.partition_key.as_deref().map(|k| (p.name.as_str(), k))),
            );
        for (on, key) in keys.filter(|(_, k)| !k.starts_with("HASH")) {
            let Some((col, _)) = plan
                .uuid_columns(&t.name)
                .into_iter()
                .find(|(c, _)| crate::model::mentions_identifier(key, c))
            else {
                continue;
            };
            return Err(crate::error::Error::input(
                crate::error::Place::stage(crate::stage::Stage::Introspect)
                    .table(&t.name)
                    .column(&col),
                format!(
                    "{on} is partitioned by {key}, and {col} becomes a UUID: the partitions' bounds are written for its integer values."
                ),
                format!(
                    "Partition {} by another column in the snapshot (or make it an ordinary table) before the cutover and partition the new schema afterwards, or --exclude {} to keep its integer key; nothing was written.",
                    t.name, t.name
                ),
            ));
        }
    }
    Ok(())
}
