//! PostgreSQL's SQL differences, as the capabilities the stages ask about.

use crate::backend::{Arrival, Dialect};
use crate::error::Result;
use crate::ident::QuoteStyle;
use crate::model::Table;
use crate::options::{UuidFormat, UuidVersion};
use crate::uuidgen::DerivedKey;

/// NAMEDATALEN - 1: longer identifiers are truncated silently (with a NOTICE), so two work
/// columns could collide.
const MAX_IDENTIFIER_BYTES: usize = 63;

pub struct PostgresDialect;

impl Dialect for PostgresDialect {
    fn blob_literal(&self, bytes: &[u8]) -> String {
        // bytea's hex input form; standard_conforming_strings keeps the backslash literal.
        format!("'\\x{}'", crate::text::hex(bytes).to_ascii_lowercase())
    }
    fn durable_commit_sql(&self) -> Option<String> {
        Some("SET LOCAL synchronous_commit = on".into())
    }
    fn follow_session(&self) -> Vec<String> {
        // A commit need not wait for its WAL flush: a transaction lost in a crash of DB_FINAL's
        // server takes its stored position with it, and the follower confirms the slot only up
        // to a position stored with a flushed commit (`durable_commit_sql`), so the stream
        // still has what was lost; the cutover's own writes flush everything before DB_FINAL is
        // handed over.
        vec![
            "SET SESSION standard_conforming_strings = on".into(),
            "SET SESSION synchronous_commit = off".into(),
        ]
    }
    fn not_an_integer_sql(&self, column: &str) -> Option<String> {
        Some(format!("CAST({column} AS text) !~ '^[+-]?[0-9]+$'"))
    }
    fn reference_key_sql(&self, expr: &str) -> String {
        // text = integer has no operator. Through numeric, which takes any integer text exactly;
        // bigint holds every key (`map_key_type`), and a value past it is NULL instead of an
        // overflow error: no key equals it. bigint, not numeric, so the parent's or mapping's
        // index on the key serves the join.
        let n = format!("CAST(CAST({expr} AS text) AS numeric)");
        format!(
            "(CASE WHEN {n} BETWEEN -9223372036854775808 AND 9223372036854775807 THEN CAST({n} AS bigint) END)"
        )
    }
    fn quote_style(&self) -> QuoteStyle {
        QuoteStyle::DoubleQuote
    }
    fn backslash_escapes(&self) -> bool {
        // Every session sets standard_conforming_strings = on.
        false
    }
    fn alters_in_place(&self) -> bool {
        true
    }
    fn parallel_writes(&self) -> bool {
        true
    }
    fn converts_in_clone(&self) -> bool {
        // One bare CREATE TABLE in the converted shape (`Ddl::converted_table_sql`) instead of
        // shadow's, link's, unconstrain's and swap's statements on an empty table, each stage
        // with its own read of DB_DATA's catalog (ten queries): 0.08-0.10 s of PostgreSQL
        // lean's four tables (docs/performance.md, "eleventh round").
        true
    }
    fn fits_identifier(&self, name: &str) -> bool {
        name.len() <= MAX_IDENTIFIER_BYTES
    }
    fn uuid_type(&self, format: UuidFormat) -> Result<String> {
        // As the catalog prints them (format_type), so a predicted column compares equal.
        Ok(match format {
            UuidFormat::Char32 => "character(32)",
            UuidFormat::Char36 => "character(36)",
            UuidFormat::Binary16 => "bytea",
            UuidFormat::Native => "uuid",
        }
        .to_string())
    }
    fn default_uuid_format(&self) -> UuidFormat {
        UuidFormat::Native
    }
    fn bulk_session(&self, _arrival: Arrival) -> Vec<String> {
        // Foreign keys are enforced by triggers, which replica mode skips (stage load empties a
        // half-loaded table with it, so ON DELETE CASCADE does not reach rows already loaded).
        // Needs superuser or GRANT SET ON PARAMETER session_replication_role (PostgreSQL 15).
        vec!["SET session_replication_role = replica".into()]
    }
    fn checked_session(&self) -> Vec<String> {
        vec!["SET session_replication_role = DEFAULT".into()]
    }
    fn map_key_type(&self, _column_type: &str) -> String {
        // Every integer key (and domains over them) fits, and compares with int2/int4/int8.
        "bigint".into()
    }
    fn add_columns_sql(&self, table: &str, columns: &[(String, String)]) -> Vec<String> {
        if columns.is_empty() {
            return Vec::new();
        }
        let clauses: Vec<String> = columns
            .iter()
            .map(|(name, ty)| format!("ADD COLUMN {} {ty} NULL", self.q(name)))
            .collect();
        vec![format!(
            "ALTER TABLE {} {}",
            self.q(table),
            clauses.join(", ")
        )]
    }
    fn empty_table_sql(&self, table: &str) -> String {
        format!("TRUNCATE TABLE {table}")
    }
    fn clone_keeps_foreign_keys(&self) -> bool {
        // DB_DATA's tables are created bare: columns only (see `Ddl::clone_table_sql`).
        false
    }
    fn map_format(&self, _column_format: UuidFormat) -> UuidFormat {
        // 16 bytes whatever the column stores; converted back exactly by `map_to_column_sql`.
        UuidFormat::Native
    }
    fn map_to_column_sql(&self, expr: &str, map: UuidFormat, column: UuidFormat) -> String {
        match (map, column) {
            (UuidFormat::Native, UuidFormat::Char32) => format!("replace({expr}::text, '-', '')"),
            (UuidFormat::Native, UuidFormat::Char36) => format!("{expr}::text"),
            (UuidFormat::Native, UuidFormat::Binary16) => format!("uuid_send({expr})"),
            _ => expr.to_string(),
        }
    }
    fn derived_key_secret_sql(&self) -> Option<&'static str> {
        Some("SELECT set_config('rekey.k', $1, false)")
    }
    fn uuid_bytes_select(&self, column: &str, format: UuidFormat) -> Option<String> {
        // The uuid type's send function: its 16 bytes, read as bytea. The text form would be
        // written out by rekey and parsed back, three uuids per row of the lean benchmark's
        // 10M-row table.
        (format == UuidFormat::Native).then(|| format!("uuid_send({})", self.q(column)))
    }
    fn derived_key_sql(&self, key: &str, spec: &DerivedKey, format: UuidFormat) -> Option<String> {
        // The fill computes these in the COPY stream (`copy::KeyRewrite`); this SQL serves a
        // table whose fill also joins a mapping table. The hash is over bytes (the prefix as
        // UTF-8, the key's ASCII digits), so the server's encoding cannot change it; NULL stays
        // NULL through every function and ||.
        let k = format!("({key})::bigint");
        // The secret is the session's setting (`derived_key_secret_sql`), never the statement's
        // text, which pg_stat_activity and the server's log show; current_setting fails on a
        // session that lacks it rather than hash without it.
        let table: String = format!(":{}:", spec.table)
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        let hash = format!(
            "md5(convert_to(current_setting('rekey.k'), 'UTF8') || decode('{table}', 'hex') || convert_to({k}::text, 'UTF8'))"
        );
        let hex = match spec.version {
            UuidVersion::V7 => format!(
                "(lpad(to_hex({base} + ({k} >> 12)), 12, '0') || '7' || lpad(to_hex({k} & 4095), 3, '0') || '8' || substr({hash}, 1, 15))",
                base = spec.base_ms
            ),
            UuidVersion::V4 => {
                format!("overlay(overlay({hash} placing '4' from 13) placing '8' from 17)")
            }
        };
        Some(match format {
            UuidFormat::Char32 => hex,
            UuidFormat::Char36 => format!("{hex}::uuid::text"),
            UuidFormat::Binary16 => format!("decode({hex}, 'hex')"),
            UuidFormat::Native => format!("{hex}::uuid"),
        })
    }
    fn own_rows(&self, table: &Table) -> String {
        // ONLY: an inheritance parent's own rows, not its children's. A partitioned table has no
        // rows of its own: its partitions' rows are its rows.
        if table.partitioning.is_some() {
            self.q(&table.name)
        } else {
            format!("ONLY {}", self.q(&table.name))
        }
    }
}

pub(super) static DIALECT: PostgresDialect = PostgresDialect;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_follower_writes_values_back_exactly_and_rows_whole() {
        use crate::backend::Value;
        let lit = |v: Value| DIALECT.value_literal(&v);
        assert_eq!(lit(Value::Text(b"it's".to_vec())), "'it''s'");
        assert_eq!(lit(Value::Blob(vec![0, 0xff])), "'\\x00ff'");
        assert_eq!(lit(Value::Real(f64::NAN)), "'NaN'");
        assert_eq!(lit(Value::Real(f64::NEG_INFINITY)), "'-Infinity'");
        let q = |c: &str| DIALECT.q(c);
        assert_eq!(
            DIALECT.upsert_sql(&q("t"), &[q("id"), q("v")], &["1".into(), "2".into()], &[q("id")]),
            "INSERT INTO \"t\" (\"id\", \"v\") VALUES (1, 2) ON CONFLICT (\"id\") DO UPDATE SET \"v\" = excluded.\"v\""
        );
        assert_eq!(
            DIALECT.upsert_sql(&q("t"), &[q("a")], &["1".into()], &[q("a")]),
            "INSERT INTO \"t\" (\"a\") VALUES (1) ON CONFLICT (\"a\") DO NOTHING"
        );
    }

    #[test]
    fn identifiers_are_limited_to_63_bytes() {
        assert!(DIALECT.fits_identifier(&"a".repeat(63)));
        assert!(!DIALECT.fits_identifier(&"a".repeat(64)));
        // Bytes, not characters: 32 two-byte characters are 64 bytes.
        assert!(!DIALECT.fits_identifier(&"é".repeat(32)));
    }

    #[test]
    fn mapping_keys_convert_to_every_format() {
        let m = |f| DIALECT.map_to_column_sql("m.new_id", UuidFormat::Native, f);
        assert_eq!(m(UuidFormat::Native), "m.new_id");
        assert_eq!(m(UuidFormat::Char32), "replace(m.new_id::text, '-', '')");
        assert_eq!(m(UuidFormat::Char36), "m.new_id::text");
        assert_eq!(m(UuidFormat::Binary16), "uuid_send(m.new_id)");
    }

    #[test]
    fn reads_a_table_s_own_rows() {
        let plain = Table {
            name: "inh vehicle".into(),
            ..Table::default()
        };
        assert_eq!(DIALECT.own_rows(&plain), "ONLY \"inh vehicle\"");
        let partitioned = Table {
            name: "part_event".into(),
            partitioning: Some("RANGE (created_on)".into()),
            ..Table::default()
        };
        assert_eq!(DIALECT.own_rows(&partitioned), "\"part_event\"");
    }
}
