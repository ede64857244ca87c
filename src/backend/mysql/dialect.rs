//! MariaDB/MySQL's SQL differences, as the capabilities the stages ask about.

use super::split_statements;
use crate::backend::{Arrival, Dialect};
use crate::error::Result;
use crate::ident::QuoteStyle;
use crate::model::Column;
use crate::options::{UuidFormat, UuidVersion};
use crate::uuidgen::DerivedKey;

/// The longest identifier, in characters (tables, columns, indexes, constraints).
const MAX_IDENTIFIER_CHARS: usize = 64;

const BULK_SESSION_SQL: &str = include_str!("bulk_session.sql");
const APPEND_SESSION_SQL: &str = include_str!("append_session.sql");

pub struct MysqlDialect;

impl Dialect for MysqlDialect {
    fn quote_style(&self) -> QuoteStyle {
        QuoteStyle::Backtick
    }
    fn backslash_escapes(&self) -> bool {
        true
    }
    fn alters_in_place(&self) -> bool {
        true
    }
    fn parallel_writes(&self) -> bool {
        true
    }
    fn fits_identifier(&self, name: &str) -> bool {
        name.chars().count() <= MAX_IDENTIFIER_CHARS
    }
    fn uuid_sorts_by_bytes(&self, format: UuidFormat) -> bool {
        // MariaDB's UUID type compares its groups in reverse order (so that v1 UUIDs sort by
        // time), not byte by byte.
        format != UuidFormat::Native
    }
    fn uuid_type(&self, format: UuidFormat) -> Result<String> {
        Ok(match format {
            UuidFormat::Char32 => "CHAR(32)",
            UuidFormat::Char36 => "CHAR(36)",
            UuidFormat::Binary16 => "BINARY(16)",
            UuidFormat::Native => "UUID",
        }
        .to_string())
    }
    fn bulk_session(&self, arrival: Arrival) -> Vec<String> {
        // InnoDB's bulk-insert path (an empty table, unique_checks and foreign_key_checks off)
        // sorts every index before building it: it pays for secondary indexes and out-of-order
        // keys, but makes appends slower (600,000 rows into a table without secondary indexes:
        // 2.2 s with unique checks on against 3.9 s with them off; docs/performance.md).
        split_statements(match arrival {
            Arrival::InKeyOrder => APPEND_SESSION_SQL,
            Arrival::Unordered => BULK_SESSION_SQL,
        })
    }
    fn map_key_type(&self, column_type: &str) -> String {
        column_type.to_string()
    }
    fn exact_select(&self, column: &Column) -> String {
        match column.data_type.as_str() {
            "float" => format!("CAST({} AS DOUBLE)", self.q(&column.name)),
            _ => self.q(&column.name),
        }
    }
    fn clone_keeps_foreign_keys(&self) -> bool {
        false
    }
    fn empty_table_sql(&self, table: &str) -> String {
        format!("TRUNCATE TABLE {table}")
    }
    fn checked_session(&self) -> Vec<String> {
        vec!["SET SESSION foreign_key_checks = 1".into()]
    }
    fn map_format(&self, column_format: UuidFormat) -> UuidFormat {
        // 16 bytes instead of 32 or 36 characters: a mapping row is a third smaller, so more
        // of the parents' mappings stay in the buffer pool while swap looks up every reference
        // (page_request's fill at scale 10: 54 s against 67 s).
        match column_format {
            UuidFormat::Native => UuidFormat::Native,
            _ => UuidFormat::Binary16,
        }
    }
    fn map_to_column_sql(&self, expr: &str, map: UuidFormat, column: UuidFormat) -> String {
        match (map, column) {
            (UuidFormat::Binary16, UuidFormat::Char32) => format!("LOWER(HEX({expr}))"),
            // INSERT, not CONCAT_WS: CONCAT_WS skips NULLs and would turn a NULL into "----".
            (UuidFormat::Binary16, UuidFormat::Char36) => format!(
                "LOWER(INSERT(INSERT(INSERT(INSERT(HEX({expr}), 21, 0, '-'), 17, 0, '-'), 13, 0, '-'), 9, 0, '-'))"
            ),
            _ => expr.to_string(),
        }
    }
    fn add_columns_sql(&self, table: &str, columns: &[(String, String)]) -> Vec<String> {
        let clauses: Vec<String> = columns
            .iter()
            .map(|(name, ty)| format!("ADD COLUMN {} {ty} NULL", self.q(name)))
            .collect();
        alter(table, &clauses)
    }
    fn derived_key_sql(&self, key: &str, spec: &DerivedKey, format: UuidFormat) -> Option<String> {
        let hash = format!("MD5(CONCAT({}, {key}))", self.lit(&spec.hash_prefix()));
        // 32 lowercase hex digits laid out as DerivedKey::uuid lays them out; MD5 of NULL is NULL.
        let hex = match spec.version {
            UuidVersion::V7 => format!(
                "CONCAT(LPAD(LOWER(HEX({base} + ({key} >> 12))), 12, '0'), '7', LPAD(LOWER(HEX({key} & 4095)), 3, '0'), '8', SUBSTR({hash}, 1, 15))",
                base = spec.base_ms
            ),
            UuidVersion::V4 => format!("INSERT(INSERT({hash}, 13, 1, '4'), 17, 1, '8')"),
        };
        Some(match format {
            UuidFormat::Char32 => hex,
            UuidFormat::Binary16 => format!("UNHEX({hex})"),
            // MariaDB's UUID type takes the hyphenated text.
            UuidFormat::Char36 | UuidFormat::Native => format!(
                "INSERT(INSERT(INSERT(INSERT({hex}, 21, 0, '-'), 17, 0, '-'), 13, 0, '-'), 9, 0, '-')"
            ),
        })
    }
    fn catalog_type(&self, declared: &str) -> String {
        declared.to_ascii_lowercase()
    }
}

pub(super) static DIALECT: MysqlDialect = MysqlDialect;

/// One ALTER TABLE with every clause (one statement, so the change is atomic), or nothing.
pub(super) fn alter(table: &str, clauses: &[String]) -> Vec<String> {
    if clauses.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "ALTER TABLE {} {}",
        DIALECT.q(table),
        clauses.join(", ")
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn innodb_bulk_insert_path_only_for_unordered_arrival() {
        let unordered = DIALECT.bulk_session(Arrival::Unordered).join("; ");
        assert!(unordered.contains("unique_checks = 0"), "{unordered}");
        assert!(unordered.contains("foreign_key_checks = 0"), "{unordered}");
        let appends = DIALECT.bulk_session(Arrival::InKeyOrder).join("; ");
        assert!(appends.contains("unique_checks = 1"), "{appends}");
        assert!(appends.contains("foreign_key_checks = 0"), "{appends}");
        for session in [&unordered, &appends] {
            assert!(session.contains("READ COMMITTED"), "{session}");
            assert!(session.contains("STRICT_ALL_TABLES"), "{session}");
        }
    }

    #[test]
    fn added_columns_share_one_alter() {
        let cols = [
            ("a_ufk_copy".to_string(), "CHAR(32)".to_string()),
            ("b`x".to_string(), "CHAR(32)".to_string()),
        ];
        assert_eq!(
            DIALECT.add_columns_sql("t", &cols),
            vec!["ALTER TABLE `t` ADD COLUMN `a_ufk_copy` CHAR(32) NULL, ADD COLUMN `b``x` CHAR(32) NULL".to_string()]
        );
        assert!(DIALECT.add_columns_sql("t", &[]).is_empty());
    }

    #[test]
    fn identifiers_are_limited_to_64_characters() {
        assert!(DIALECT.fits_identifier(&"é".repeat(64)));
        assert!(!DIALECT.fits_identifier(&"a".repeat(65)));
    }
}
