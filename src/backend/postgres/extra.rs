//! What PostgreSQL needs to recreate a table that the neutral model does not say: identities and
//! sequences, the user types its columns use, constraints as the server prints them, partitions,
//! inheritance, rules, row security and its policies. The catalog writes it as JSON into `Table.create_sql`
//! (a field the model has for an engine's own statement of a table), the statements read it back.

use serde::{Deserialize, Serialize};

use crate::model::Table;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PgTable {
    /// `PARTITION BY ...` of a partitioned table.
    pub partition_key: Option<String>,
    /// Its partitions, parents before children (sub-partitions follow their parent).
    pub partitions: Vec<PgPartition>,
    /// Tables of the schema it INHERITS from (old-style partitioning).
    pub inherits: Vec<String>,
    pub unlogged: bool,
    pub row_security: bool,
    pub force_row_security: bool,
    pub columns: Vec<PgColumn>,
    /// Statements creating the user types (enums, domains) the columns use, dependencies first.
    pub types: Vec<PgType>,
    /// Constraints (primary, unique, check, exclusion, foreign) of the table and its partitions.
    pub constraints: Vec<PgConstraint>,
    /// Indexes not made by a constraint, of the table and of its partitions.
    pub indexes: Vec<PgIndex>,
    /// CREATE RULE statements (DO INSTEAD / DO ALSO), table name unqualified.
    pub rules: Vec<String>,
    /// Row-level security policies.
    #[serde(default)]
    pub policies: Vec<PgPolicy>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PgPolicy {
    pub name: String,
    /// The CREATE POLICY statement, table name unqualified.
    pub definition: String,
    /// The table's columns its expressions use.
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PgPartition {
    pub name: String,
    /// The table it is a partition of (the root or a sub-partitioned partition).
    pub parent: String,
    /// `FOR VALUES ...` or `DEFAULT`.
    pub bound: String,
    /// `PARTITION BY ...` when it is partitioned itself.
    pub partition_key: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PgColumn {
    pub name: String,
    /// attidentity: `a` (ALWAYS), `d` (BY DEFAULT), empty for none.
    pub identity: String,
    /// The sequence the column's default or identity draws from, as an SQL name.
    pub sequence: Option<String>,
    /// The sequence belongs to the column (serial, OWNED BY), and goes with it.
    #[serde(default)]
    pub owns_sequence: bool,
    /// Declared in this table, not only inherited from a parent.
    pub local: bool,
    /// The column's collation when it is not its type's, as an SQL name.
    pub collation: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PgType {
    /// The type as columns name it (format_type).
    pub name: String,
    pub create_sql: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PgConstraint {
    pub name: String,
    /// The table (or partition) it is declared on.
    pub on: String,
    /// `p`, `u`, `c`, `x` or `f`.
    pub kind: String,
    /// pg_get_constraintdef: the constraint as written, independent of its columns' types.
    pub definition: String,
    pub columns: Vec<String>,
    /// A foreign key into another schema.
    pub foreign_schema: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PgIndex {
    pub name: String,
    pub on: String,
    /// The CREATE INDEX statement, table name unqualified.
    pub definition: String,
    /// Columns the index uses, in its key, expressions or predicate.
    pub columns: Vec<String>,
    /// Some key part is an expression, or the index is partial.
    pub computed: bool,
}

impl PgTable {
    /// The facts the catalog stored in `table`, or none (a table described by another engine, or a
    /// dry run's prediction).
    pub fn of(table: &Table) -> PgTable {
        table
            .create_sql
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn column(&self, name: &str) -> Option<&PgColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}
