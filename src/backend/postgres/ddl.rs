//! PostgreSQL's schema statements, built from the neutral model and the `PgTable` the catalog kept
//! beside it. DB_DATA's tables are bare (columns only: DB_DATA holds no constraints, and swap
//! recreates each empty table with its UUID columns in place, one atomic statement, since
//! PostgreSQL cannot move a column; clone makes a one-write table that way at once).
//! derive-final creates each table with its final types directly, so no identity, default or
//! view is ever in the way of a type change.

use super::extra::{PgColumn, PgTable};
use super::{catalog_rows, PostgresBackend, DIALECT};
use crate::backend::{Ddl, Dialect, IndexesAside, Session, Swap, Unconstrain};
use crate::error::Result;
use crate::model::{Column, Table, Trigger};
use crate::url::DbUrl;

const SET_ASIDE_INDEXES_SQL: &str = include_str!("set_aside_indexes.sql");
pub(super) const SET_ASIDE_PRIMARY_KEY_SQL: &str = include_str!("set_aside_primary_key.sql");

/// `pg_get_indexdef`'s statement made to do nothing when the index exists (a restore that a kill
/// interrupted runs again); the index it creates is the same, and so is `pg_dump`'s text of it.
fn if_not_exists(definition: &str) -> String {
    for head in ["CREATE UNIQUE INDEX ", "CREATE INDEX "] {
        if let Some(rest) = definition.strip_prefix(head) {
            return format!("{head}IF NOT EXISTS {rest}");
        }
    }
    definition.to_string()
}

/// One index `set_aside_indexes.sql` found.
#[derive(Debug, serde::Deserialize)]
struct AsideRow {
    name: String,
    definition: String,
    comment: Option<String>,
}

/// A constraint `set_aside_primary_key.sql` found: the primary key, or a foreign key on it.
#[derive(Debug, serde::Deserialize)]
struct AsideConstraint {
    name: String,
    definition: String,
    comment: Option<String>,
}

/// The primary key `set_aside_primary_key.sql` found, with the table's own foreign keys on it.
#[derive(Debug, serde::Deserialize)]
struct AsideKey {
    #[serde(flatten)]
    key: AsideConstraint,
    /// Its btree index's `CREATE UNIQUE INDEX`; none for a deferrable key.
    #[serde(default)]
    index: Option<String>,
    foreign_keys: Vec<AsideConstraint>,
}

/// Rebuilt indexes go where the originals were, the database's default tablespace (only those
/// are set aside), whatever `default_tablespace` the role or database sets for new objects.
const DATABASE_TABLESPACE: &str = "SET default_tablespace = ''";

/// The dollar quote of the restoring DO block; a key whose text holds it is not set aside.
const DO_QUOTE: &str = "$rekey$";

impl AsideKey {
    /// The key, then its foreign keys: the order they are added back in.
    fn constraints(&self) -> impl Iterator<Item = &AsideConstraint> {
        std::iter::once(&self.key).chain(&self.foreign_keys)
    }

    /// The statements that drop the foreign keys, then the key: one ALTER of one table, and a
    /// no-op once they are gone (IF EXISTS), so `--resume` can run them again; then the key's
    /// index where it stands alone (`index_name`, schema-qualified): a restore killed between
    /// its build and the ALTER that makes it the key leaves it so, and a load into the table
    /// would maintain it row by row.
    fn drop_sql(&self, table: &str, index_name: &str) -> Vec<String> {
        let clauses: Vec<String> = self
            .foreign_keys
            .iter()
            .chain(std::iter::once(&self.key))
            .map(|k| format!("DROP CONSTRAINT IF EXISTS {}", DIALECT.q(&k.name)))
            .collect();
        let mut out = vec![format!("ALTER TABLE {table} {}", clauses.join(", "))];
        if self.index.is_some() {
            out.push(format!("DROP INDEX IF EXISTS {index_name}"));
        }
        out
    }

    /// The statements that add them back as they were, in two parts. First the key's unique
    /// index, built apart because `CREATE INDEX` lets the table be read (`ADD PRIMARY KEY` locks
    /// out readers for the whole build): the load's check of the table reads its rows during
    /// the build. Then one DO block (one transaction) that makes the index the key (a catalog
    /// change) and adds each foreign key, each only when a constraint of that name is missing (a
    /// restore that a kill interrupted runs again), and their comments. A deferrable key (rare;
    /// its index is not an immediate one) is added whole by the DO block. Adding a foreign
    /// key checks every row against the key (the table's rows were written with its triggers
    /// off).
    fn restore_sql(&self, table: &str) -> (Vec<String>, Vec<String>) {
        let rel = DIALECT.lit(table);
        let add = |k: &AsideConstraint, definition: &str| {
            format!(
                "IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {rel}::regclass AND conname = {}) THEN ALTER TABLE {table} ADD CONSTRAINT {} {definition}; END IF;",
                DIALECT.lit(&k.name),
                DIALECT.q(&k.name),
            )
        };
        let (build, key) = match &self.index {
            Some(index) => (
                vec![if_not_exists(index)],
                format!("PRIMARY KEY USING INDEX {}", DIALECT.q(&self.key.name)),
            ),
            None => (Vec::new(), self.key.definition.clone()),
        };
        let body: Vec<String> = std::iter::once(add(&self.key, &key))
            .chain(self.foreign_keys.iter().map(|f| add(f, &f.definition)))
            .collect();
        let mut constraints = vec![format!(
            "DO {DO_QUOTE} BEGIN {} END {DO_QUOTE}",
            body.join(" ")
        )];
        constraints.extend(self.constraints().filter_map(|k| {
            k.comment.as_ref().map(|c| {
                format!(
                    "COMMENT ON CONSTRAINT {} ON {table} IS {}",
                    DIALECT.q(&k.name),
                    DIALECT.lit(c)
                )
            })
        }));
        (build, constraints)
    }

    /// Whether its text can go in the DO block as it is.
    fn quotable(&self, table: &str) -> bool {
        !table.contains(DO_QUOTE)
            && self
                .constraints()
                .all(|k| !k.name.contains(DO_QUOTE) && !k.definition.contains(DO_QUOTE))
    }
}

/// `CREATE TYPE`/`CREATE DOMAIN` that does nothing when the type exists (parallel clone steps
/// create the types their tables share).
fn create_type_sql(create_sql: &str) -> String {
    format!(
        "DO $rekey$ BEGIN {create_sql}; EXCEPTION WHEN duplicate_object OR unique_violation OR duplicate_schema THEN NULL; END $rekey$"
    )
}

/// A column as DB_DATA has it: the declared type and collation, NOT NULL, nothing else (no
/// default, identity or generation: swap fills every column itself).
fn data_column(c: &Column, pg: Option<&PgColumn>) -> String {
    let mut s = format!("{} {}", DIALECT.q(&c.name), c.column_type);
    if let Some(coll) = pg
        .and_then(|p| p.collation.as_ref())
        .or(c.collation.as_ref())
    {
        s.push_str(&format!(" COLLATE {coll}"));
    }
    // A generated column is a plain one in DB_DATA, left empty: the load leaves it out and
    // DB_FINAL computes it.
    if !c.nullable && c.generated.is_none() {
        s.push_str(" NOT NULL");
    }
    s
}

/// DB_DATA's bare copy of `table` (its types first): SOURCE's columns, each of `swaps` as its
/// UUID column in the integer column's place; no defaults, constraints or indexes.
fn bare_table_sql(table: &Table, swaps: &[Swap]) -> Vec<String> {
    let extra = PgTable::of(table);
    let mut out: Vec<String> = extra
        .types
        .iter()
        .map(|t| create_type_sql(&t.create_sql))
        .collect();
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| match swaps.iter().find(|s| s.column == c.name) {
            Some(s) => swapped_column(s),
            None => data_column(c, extra.column(&c.name)),
        })
        .collect();
    out.push(format!(
        "CREATE TABLE {} ({})",
        DIALECT.q(&table.name),
        columns.join(", ")
    ));
    out
}

fn state_sql(trigger: &Trigger, state: &str) -> String {
    let verb = match state {
        "D" => "DISABLE TRIGGER",
        "R" => "ENABLE REPLICA TRIGGER",
        "A" => "ENABLE ALWAYS TRIGGER",
        _ => "ENABLE TRIGGER",
    };
    format!(
        "ALTER TABLE {} {verb} {}",
        DIALECT.q(&trigger.table),
        DIALECT.q(&trigger.name)
    )
}

impl Ddl for PostgresBackend {
    fn clone_table_sql(&self, _source: &DbUrl, table: &Table) -> Result<Vec<String>> {
        Ok(bare_table_sql(table, &[]))
    }

    /// The table clone's `clone_table_sql` makes, with each converted column in its integer
    /// column's place (as swap remakes an empty table): no defaults, constraints or indexes,
    /// which compare does not read, so nothing is left for shadow, link, unconstrain or swap.
    fn converted_table_sql(
        &self,
        _source: &DbUrl,
        table: &Table,
        swaps: &[Swap],
    ) -> Result<Vec<String>> {
        Ok(bare_table_sql(table, swaps))
    }

    fn unconstrain_sql(&self, table: &Table, what: &Unconstrain) -> Vec<String> {
        let extra = PgTable::of(table);
        let constraint = |name: &str| {
            extra
                .constraints
                .iter()
                .any(|k| k.name == name && k.on == table.name)
        };
        let mut clauses: Vec<String> = what
            .foreign_keys
            .iter()
            .map(|f| format!("DROP CONSTRAINT IF EXISTS {}", DIALECT.q(f)))
            .collect();
        if what.primary_key {
            let name = extra
                .constraints
                .iter()
                .find(|k| k.kind == "p" && k.on == table.name)
                .map(|k| k.name.clone())
                .unwrap_or_else(|| format!("{}_pkey", table.name));
            clauses.push(format!("DROP CONSTRAINT IF EXISTS {}", DIALECT.q(&name)));
        }
        clauses.extend(
            what.checks
                .iter()
                .map(|c| format!("DROP CONSTRAINT IF EXISTS {}", DIALECT.q(c))),
        );
        let mut out = Vec::new();
        for ix in &what.indexes {
            if constraint(ix) {
                clauses.push(format!("DROP CONSTRAINT IF EXISTS {}", DIALECT.q(ix)));
            } else {
                out.push(format!("DROP INDEX IF EXISTS {}", DIALECT.q(ix)));
            }
        }
        if !clauses.is_empty() {
            out.insert(
                0,
                format!(
                    "ALTER TABLE {} {}",
                    DIALECT.q(&table.name),
                    clauses.join(", ")
                ),
            );
        }
        out
    }

    fn swap_sql(&self, table: &Table, swaps: &[Swap], drop: &[String]) -> Vec<String> {
        let pending: Vec<&Swap> = swaps
            .iter()
            .filter(|s| table.column(&s.shadow).is_some())
            .collect();
        let name = DIALECT.q(&table.name);
        if pending.is_empty() {
            let drops: Vec<String> = drop
                .iter()
                .filter(|d| table.column(d).is_some())
                .map(|d| format!("DROP COLUMN IF EXISTS {}", DIALECT.q(d)))
                .collect();
            return if drops.is_empty() {
                Vec::new()
            } else {
                vec![format!("ALTER TABLE {name} {}", drops.join(", "))]
            };
        }
        // The table is still empty (swap fills it afterwards): recreating it puts each UUID column
        // where its integer column was, and one statement keeps a resumed run from ever finding
        // it half-swapped.
        let extra = PgTable::of(table);
        let shadows: Vec<&str> = swaps.iter().map(|s| s.shadow.as_str()).collect();
        let mut columns = Vec::new();
        let mut placed = Vec::new();
        for c in &table.columns {
            if shadows.contains(&c.name.as_str()) || drop.contains(&c.name) {
                continue;
            }
            match pending.iter().find(|s| s.column == c.name) {
                Some(s) => {
                    columns.push(swapped_column(s));
                    placed.push(s.column.as_str());
                }
                None => columns.push(data_column(c, extra.column(&c.name))),
            }
        }
        for s in pending
            .iter()
            .filter(|s| !placed.contains(&s.column.as_str()))
        {
            columns.push(swapped_column(s));
        }
        vec![format!(
            "DROP TABLE {name}; CREATE TABLE {name} ({})",
            columns.join(", ")
        )]
    }

    fn derive_table_sql(
        &self,
        _source: &DbUrl,
        table: &Table,
        swaps: &[Swap],
    ) -> Result<Vec<String>> {
        let extra = PgTable::of(table);
        let converted: Vec<&str> = swaps.iter().map(|s| s.column.as_str()).collect();
        let uses_converted = |cols: &[String]| cols.iter().any(|c| converted.contains(&c.as_str()));
        let mut out: Vec<String> = extra
            .types
            .iter()
            .map(|t| create_type_sql(&t.create_sql))
            .collect();
        let inherits = !extra.inherits.is_empty();
        let mut defs = Vec::new();
        let mut owned = Vec::new();
        for c in &table.columns {
            let pg = extra.column(&c.name);
            if inherits && pg.is_some_and(|p| !p.local) {
                continue; // comes from the parent
            }
            if let Some(s) = swaps.iter().find(|s| s.column == c.name) {
                defs.push(swapped_column(s));
                continue;
            }
            let mut d = format!("{} {}", DIALECT.q(&c.name), c.column_type);
            if let Some(coll) = pg.and_then(|p| p.collation.as_ref()) {
                d.push_str(&format!(" COLLATE {coll}"));
            }
            let identity = pg.map(|p| p.identity.as_str()).unwrap_or("");
            if let Some(expr) = &c.generated {
                d.push_str(&format!(" GENERATED ALWAYS AS ({expr}) STORED"));
            } else if identity == "a" {
                d.push_str(" GENERATED ALWAYS AS IDENTITY");
            } else if identity == "d" {
                d.push_str(" GENERATED BY DEFAULT AS IDENTITY");
            } else if let Some(def) = &c.default {
                if let Some(p) = pg.filter(|p| p.sequence.is_some()) {
                    let seq = p.sequence.as_deref().unwrap_or_default();
                    out.push(format!("CREATE SEQUENCE IF NOT EXISTS {seq}"));
                    if p.owns_sequence {
                        owned.push(format!(
                            "ALTER SEQUENCE {seq} OWNED BY {}.{}",
                            DIALECT.q(&table.name),
                            DIALECT.q(&c.name)
                        ));
                    }
                }
                d.push_str(&format!(" DEFAULT {def}"));
            }
            if !c.nullable {
                d.push_str(" NOT NULL");
            }
            defs.push(d);
        }
        let own = |k: &&super::extra::PgConstraint| {
            k.kind != "f" && !(k.kind == "c" && uses_converted(&k.columns))
        };
        for k in extra
            .constraints
            .iter()
            .filter(|k| k.on == table.name)
            .filter(own)
        {
            defs.push(format!(
                "CONSTRAINT {} {}",
                DIALECT.q(&k.name),
                k.definition
            ));
        }
        let mut create = format!(
            "CREATE {}TABLE {} ({})",
            if extra.unlogged { "UNLOGGED " } else { "" },
            DIALECT.q(&table.name),
            defs.join(", ")
        );
        if inherits {
            let parents: Vec<String> = extra.inherits.iter().map(|p| DIALECT.q(p)).collect();
            create.push_str(&format!(" INHERITS ({})", parents.join(", ")));
        }
        if let Some(key) = &extra.partition_key {
            create.push_str(&format!(" PARTITION BY {key}"));
        }
        out.push(create);
        out.extend(owned);
        for p in &extra.partitions {
            let mut sql = format!(
                "CREATE TABLE {} PARTITION OF {} {}",
                DIALECT.q(&p.name),
                DIALECT.q(&p.parent),
                p.bound
            );
            if let Some(key) = &p.partition_key {
                sql.push_str(&format!(" PARTITION BY {key}"));
            }
            out.push(sql);
            for k in extra
                .constraints
                .iter()
                .filter(|k| k.on == p.name)
                .filter(own)
            {
                out.push(add_constraint_sql(k));
            }
        }
        // An expression or partial index over a converted column is `derive_optional_sql`'s.
        for ix in extra
            .indexes
            .iter()
            .filter(|ix| !(ix.computed && uses_converted(&ix.columns)))
        {
            out.push(ix.definition.clone());
        }
        if extra.row_security {
            out.push(format!(
                "ALTER TABLE {} ENABLE ROW LEVEL SECURITY",
                DIALECT.q(&table.name)
            ));
        }
        if extra.force_row_security {
            out.push(format!(
                "ALTER TABLE {} FORCE ROW LEVEL SECURITY",
                DIALECT.q(&table.name)
            ));
        }
        if let Some(comment) = &extra.comment {
            out.push(format!(
                "COMMENT ON TABLE {} IS {}",
                DIALECT.q(&table.name),
                DIALECT.lit(comment)
            ));
        }
        for c in &table.columns {
            if let Some(comment) = &c.comment {
                out.push(format!(
                    "COMMENT ON COLUMN {}.{} IS {}",
                    DIALECT.q(&table.name),
                    DIALECT.q(&c.name),
                    DIALECT.lit(comment)
                ));
            }
        }
        Ok(out)
    }

    fn derive_constraints_sql(&self, table: &Table, swaps: &[Swap]) -> Vec<String> {
        let extra = PgTable::of(table);
        let mut out: Vec<String> = extra
            .constraints
            .iter()
            .filter(|k| k.kind == "f" && !k.foreign_schema)
            .map(add_constraint_sql)
            .collect();
        out.extend(extra.rules.iter().cloned());
        // A policy over a converted key compares it with integers, which the UUID column refuses
        // (plan warns about each one left out). Row security stays on, so without it the table
        // shows rows to its owner only: closed, never open.
        out.extend(
            extra
                .policies
                .iter()
                .filter(|p| {
                    !p.columns
                        .iter()
                        .any(|c| swaps.iter().any(|s| s.column == *c))
                })
                .map(|p| p.definition.clone()),
        );
        out
    }

    fn derive_optional_sql(&self, table: &Table, swaps: &[Swap]) -> Vec<(String, String)> {
        let extra = PgTable::of(table);
        let uses_converted =
            |cols: &[String]| cols.iter().any(|c| swaps.iter().any(|s| s.column == *c));
        let on_this =
            |name: &str| name == table.name || extra.partitions.iter().any(|p| p.name == name);
        let checks = extra
            .constraints
            .iter()
            .filter(|k| k.kind == "c" && on_this(&k.on) && uses_converted(&k.columns))
            .map(|k| {
                (
                    format!("CHECK constraint {} on {}", k.name, k.on),
                    add_constraint_sql(k),
                )
            });
        let indexes = extra
            .indexes
            .iter()
            .filter(|ix| ix.computed && uses_converted(&ix.columns))
            .map(|ix| {
                (
                    format!("index {} on {}", ix.name, ix.on),
                    ix.definition.clone(),
                )
            });
        // A foreign key into another schema holds where DB_FINAL's database has that table with
        // a matching column (the application's other schema), and is refused where it does not.
        let elsewhere = extra
            .constraints
            .iter()
            .filter(|k| k.kind == "f" && k.foreign_schema && on_this(&k.on))
            .map(|k| {
                (
                    format!("foreign key {} on {} into another schema", k.name, k.on),
                    add_constraint_sql(k),
                )
            });
        checks.chain(indexes).chain(elsewhere).collect()
    }

    fn create_trigger_sql(&self, trigger: &Trigger) -> Vec<String> {
        let mut out = trigger.setup.clone();
        out.push(trigger.create_sql.clone());
        if let Some(state) = trigger.enabled.as_deref().filter(|s| *s != "O") {
            out.push(state_sql(trigger, state));
        }
        out
    }

    fn set_aside_trigger_sql(&self, trigger: &Trigger) -> Vec<String> {
        vec![state_sql(trigger, "D")]
    }

    fn restore_trigger_sql(&self, trigger: &Trigger) -> Vec<String> {
        vec![state_sql(
            trigger,
            trigger.enabled.as_deref().unwrap_or("O"),
        )]
    }

    /// COPY maintains every index row by row: 1M rows with four secondary indexes took 28.4 s,
    /// against 5.7 s without them and 5.1 s to build them after (docs/performance.md). The
    /// primary key too: 1M v4 keys into a uuid key took 4.1 s, against 1.5 s without it and
    /// 0.7 s to add it after (docs/performance.md, "PostgreSQL, second round").
    fn sets_aside_indexes(&self, table: &Table) -> bool {
        !table.indexes.is_empty() || !table.primary_key.is_empty()
    }

    fn indexes_aside(&self, s: &mut dyn Session, table: &Table) -> Result<Option<IndexesAside>> {
        let bind = |sql: &str| {
            self.bind(sql)
                .replace("$2::text", &format!("{}::text", DIALECT.lit(&table.name)))
        };
        let rows: Vec<AsideRow> = if table.indexes.is_empty() {
            Vec::new()
        } else {
            catalog_rows(s, &bind(SET_ASIDE_INDEXES_SQL))?
        };
        let schema = DIALECT.q(self.schema());
        let qualified = |name: &str| format!("{schema}.{}", DIALECT.q(name));
        let key: Option<AsideKey> =
            if table.primary_key.is_empty() || table.estimated_rows < super::load::KEY_ASIDE_ROWS {
                None
            } else {
                catalog_rows(s, &bind(SET_ASIDE_PRIMARY_KEY_SQL))?
                    .pop()
                    .filter(|k: &AsideKey| k.quotable(&qualified(&table.name)))
            };
        if rows.is_empty() && key.is_none() {
            return Ok(None);
        }
        let mut names = Vec::new();
        let mut set_aside = Vec::new();
        // The builds sort on the restoring session, a pooled one without the load's settings
        // (the default 64 MB spills the sort of 1M uuid keys to disk).
        let mut restore = vec![
            super::load::MAINTENANCE_WORK_MEM.to_string(),
            DATABASE_TABLESPACE.to_string(),
        ];
        // The builds, then the table's statistics (an expression index's need the index), then
        // the key's constraints: their ALTER waits for the table's readers, the builds and
        // ANALYZE do not (the load's check reads the table meanwhile).
        let mut constraints = Vec::new();
        if let Some(k) = &key {
            let t = qualified(&table.name);
            names.push(k.key.name.clone());
            names.extend(k.foreign_keys.iter().map(|f| f.name.clone()));
            set_aside.extend(k.drop_sql(&t, &qualified(&k.key.name)));
            let (build, added) = k.restore_sql(&t);
            restore.extend(build);
            constraints = added;
        }
        if !rows.is_empty() {
            let drops: Vec<String> = rows.iter().map(|r| qualified(&r.name)).collect();
            // One statement drops them all: a kill leaves every index or none aside; IF EXISTS
            // lets `--resume` run it again when a kill came between the journal's record and
            // the drop, or after the rebuild. Each restoring statement can run again too.
            set_aside.push(format!("DROP INDEX IF EXISTS {}", drops.join(", ")));
            restore.extend(rows.iter().map(|r| if_not_exists(&r.definition)));
            restore.extend(rows.iter().filter_map(|r| {
                r.comment.as_ref().map(|c| {
                    format!(
                        "COMMENT ON INDEX {} IS {}",
                        qualified(&r.name),
                        DIALECT.lit(c)
                    )
                })
            }));
            names.extend(rows.into_iter().map(|r| r.name));
        }
        restore.push(format!("ANALYZE {}", qualified(&table.name)));
        restore.extend(constraints);
        Ok(Some(IndexesAside {
            table: table.name.clone(),
            names,
            statistics: false,
            // The key's ALTER and the indexes' DROP in one string: the simple protocol runs
            // them as one transaction, so a kill leaves all or nothing aside.
            set_aside: vec![set_aside.join("; ")],
            restore,
            at_load_end: Vec::new(),
            indexes_back: false,
        }))
    }
}

/// A constraint added to the table or partition it is declared on, as written.
fn add_constraint_sql(k: &super::extra::PgConstraint) -> String {
    format!(
        "ALTER TABLE {} ADD CONSTRAINT {} {}",
        DIALECT.q(&k.on),
        DIALECT.q(&k.name),
        k.definition
    )
}

fn swapped_column(s: &Swap) -> String {
    format!(
        "{} {}{}",
        DIALECT.q(&s.column),
        s.uuid_type,
        if s.nullable { "" } else { " NOT NULL" }
    )
}

#[cfg(test)]
mod set_aside_tests {
    use super::{if_not_exists, AsideConstraint, AsideKey};

    fn key(index: Option<&str>) -> AsideKey {
        AsideKey {
            key: AsideConstraint {
                name: "t_pkey".into(),
                definition: "PRIMARY KEY (id)".into(),
                comment: None,
            },
            index: index.map(String::from),
            foreign_keys: vec![AsideConstraint {
                name: "t_parent_fkey".into(),
                definition: "FOREIGN KEY (parent) REFERENCES public.t(id)".into(),
                comment: None,
            }],
        }
    }

    #[test]
    fn a_key_comes_back_as_a_readable_index_build_then_a_catalog_change() {
        let k = key(Some(
            "CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)",
        ));
        let (build, constraints) = k.restore_sql("public.t");
        assert_eq!(
            build,
            ["CREATE UNIQUE INDEX IF NOT EXISTS t_pkey ON public.t USING btree (id)"]
        );
        assert!(
            constraints[0].contains("ADD CONSTRAINT \"t_pkey\" PRIMARY KEY USING INDEX \"t_pkey\"")
        );
        assert!(constraints[0].contains("ADD CONSTRAINT \"t_parent_fkey\" FOREIGN KEY"));
        // A restore killed between the two leaves the index alone: setting the key aside
        // again drops it too.
        assert_eq!(
            k.drop_sql("public.t", "public.t_pkey"),
            [
                "ALTER TABLE public.t DROP CONSTRAINT IF EXISTS \"t_parent_fkey\", DROP CONSTRAINT IF EXISTS \"t_pkey\"",
                "DROP INDEX IF EXISTS public.t_pkey",
            ]
        );
        // A deferrable key is added whole, as it was set aside.
        let deferrable = key(None);
        let (build, constraints) = deferrable.restore_sql("public.t");
        assert!(build.is_empty());
        assert!(constraints[0].contains("ADD CONSTRAINT \"t_pkey\" PRIMARY KEY (id);"));
        assert_eq!(deferrable.drop_sql("public.t", "public.t_pkey").len(), 1);
    }

    #[test]
    fn a_restored_index_is_created_only_when_missing() {
        assert_eq!(
            if_not_exists("CREATE UNIQUE INDEX uq ON public.t USING btree (a) WHERE (a IS NOT NULL)"),
            "CREATE UNIQUE INDEX IF NOT EXISTS uq ON public.t USING btree (a) WHERE (a IS NOT NULL)"
        );
        assert_eq!(
            if_not_exists("CREATE INDEX \"Ix\" ON public.t USING gin (meta)"),
            "CREATE INDEX IF NOT EXISTS \"Ix\" ON public.t USING gin (meta)"
        );
    }
}
