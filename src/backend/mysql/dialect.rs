//! MariaDB/MySQL's SQL differences, as the capabilities the stages ask about, and the differences
//! between the servers that speak this protocol (MariaDB, MySQL 8, a Galera cluster) as named
//! capabilities of one dialect chosen from the server's version once per backend.

use super::split_statements;
use crate::backend::{Arrival, Dialect};
use crate::error::{Error, Result};
use crate::ident::QuoteStyle;
use crate::model::Column;
use crate::options::{UuidFormat, UuidVersion};
use crate::uuidgen::DerivedKey;

/// The longest identifier, in characters (tables, columns, indexes, constraints).
const MAX_IDENTIFIER_CHARS: usize = 64;

const BULK_SESSION_SQL: &str = include_str!("bulk_session.sql");
const APPEND_SESSION_SQL: &str = include_str!("append_session.sql");
const INDEXES_SQL: &str = include_str!("indexes.sql");
const INDEXES_WITH_EXPRESSIONS_SQL: &str = include_str!("indexes_mysql8.sql");
const CHECKS_SQL: &str = include_str!("checks.sql");
const CHECKS_MYSQL8_SQL: &str = include_str!("checks_mysql8.sql");

/// Which server speaks the protocol: the two diverged after MySQL 5.7 / MariaDB 10.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    MariaDb,
    MySql,
}

/// One server's dialect: its family and version, and whether it is a Galera node. Built from
/// `SELECT VERSION()` and `wsrep_on` on the backend's first connection (`MysqlBackend::facts`);
/// before that, and in code that has no server, the reference engine's (`MysqlDialect::MARIADB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MysqlDialect {
    family: Family,
    version: (u32, u32, u32),
    galera: bool,
}

/// The reference dialect (MariaDB 10.11, no cluster) under the name of the type, for code that
/// needs a MySQL dialect without a server (tests of names and options).
#[allow(non_upper_case_globals)]
pub const MysqlDialect: MysqlDialect = MysqlDialect::MARIADB;

impl MysqlDialect {
    pub const MARIADB: MysqlDialect = MysqlDialect {
        family: Family::MariaDb,
        version: (10, 11, 0),
        galera: false,
    };

    /// The dialect of a server that answers `SELECT VERSION()` with `version` ("10.11.19-MariaDB-
    /// 0+deb12u1", "8.0.36", "8.0.36-0ubuntu0.22.04.1", "8.0.36-28" for Percona) and has
    /// `wsrep_on` set as `galera` says.
    pub fn from_server(version: &str, galera: bool) -> MysqlDialect {
        let text = version.trim().trim_start_matches("5.5.5-");
        let mut parts = text
            .split(|c: char| !c.is_ascii_digit())
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let version = (
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        );
        let family = if text.to_ascii_lowercase().contains("mariadb") {
            Family::MariaDb
        } else {
            Family::MySql
        };
        MysqlDialect {
            family,
            version,
            galera: galera && family == Family::MariaDb,
        }
    }

    pub fn family(&self) -> Family {
        self.family
    }

    fn at_least(&self, family: Family, version: (u32, u32, u32)) -> bool {
        self.family == family && self.version >= version
    }

    /// A Galera cluster node: writes replicate as write-sets, certified on every node, within
    /// wsrep_max_ws_rows / wsrep_max_ws_size, and DDL runs in total order (TOI) on every node.
    pub fn galera(&self) -> bool {
        self.galera
    }

    /// Writes go in chunks that each fit one write-set, one transaction each (Galera).
    pub fn chunks_writes(&self) -> bool {
        self.galera
    }

    /// DB_DATA's tables keep (or get) a primary key (Galera: rows of keyless tables are
    /// certified and applied by full scans, `wsrep_mode=REQUIRED_PRIMARY_KEY` refuses them,
    /// and chunked writes page and resume on the key).
    pub fn keeps_primary_keys(&self) -> bool {
        self.galera
    }

    /// A table whose load keeps unique checks on (it has a UNIQUE key besides the primary one,
    /// `Load::load_table`) loads faster with its secondary indexes set aside and built after
    /// the rows in one ALTER: 1M rows, four secondary indexes, 120 s row by row against 5.6 s +
    /// 9.1 s (docs/performance.md). With unique checks off InnoDB's bulk path sorts them already
    /// (16.8 s in place against 20.5 s after), so other tables keep theirs. MariaDB only: its
    /// `foreign_key_checks = 0` lets an index a foreign key needs go (measured on 10.11), and
    /// ADD UNIQUE checks the rows whatever unique_checks says. Not on Galera (every ALTER runs
    /// in total order on every node) nor MySQL (not measured; MySQL 8 also lacks the IF [NOT]
    /// EXISTS on indexes that makes the statements safe to run again after a kill).
    pub fn sets_aside_indexes(&self) -> bool {
        self.family == Family::MariaDb && !self.galera
    }

    /// A large table's load runs with InnoDB's automatic statistics off for that table
    /// (`STATS_AUTO_RECALC = 0`, an instant ALTER), put back as it was and gathered once by
    /// `ANALYZE TABLE` after the rows. MariaDB 10.6+'s statistics task re-queues a table whose
    /// statistics are under 10 s old and spins on it for as long as rows keep coming: a core of
    /// a 2-core machine for the whole `INSERT ... SELECT` of a table created more than 10 s
    /// before (the lean shape: 12.1 s of server CPU against 8.5 s, 8.4-9.4 s against 6.3-7.3 s
    /// of run; docs/performance.md). MariaDB only, where it was measured; not on Galera (every
    /// ALTER runs in total order on every node).
    pub fn sets_aside_statistics(&self) -> bool {
        self.family == Family::MariaDb && !self.galera
    }

    /// The one-write fill computes a small parent's keys once, into a temporary MEMORY table it
    /// joins (`FinalFill::small_parents`), instead of deriving the reference in every row.
    /// MariaDB, where it was measured; MySQL 8 keeps the expression (not measured, and its
    /// replication restricts temporary tables in some GTID modes).
    pub fn joins_small_parents(&self) -> bool {
        self.family == Family::MariaDb
    }

    /// A native UUID column type (MariaDB 10.7+; MySQL has none: `uuid_to_bin()` into
    /// BINARY(16) is its recipe).
    pub fn has_uuid_type(&self) -> bool {
        self.at_least(Family::MariaDb, (10, 7, 0))
    }

    /// `CAST(x AS DOUBLE)` parses (MariaDB; MySQL from 8.0.17). Elsewhere `x + 0e0` computes the
    /// same double.
    pub fn casts_to_double(&self) -> bool {
        self.family == Family::MariaDb || self.at_least(Family::MySql, (8, 0, 17))
    }

    /// Index parts can be expressions, with a NULL COLUMN_NAME and the text in
    /// STATISTICS.EXPRESSION (MySQL 8.0.13+; MariaDB has no such column).
    pub fn functional_index_parts(&self) -> bool {
        self.at_least(Family::MySql, (8, 0, 13))
    }

    /// COLUMN_DEFAULT quotes literal defaults (`'paper'`) and prints expressions bare (MariaDB
    /// 10.2.7+); MySQL prints both bare and marks expressions with EXTRA `DEFAULT_GENERATED`.
    pub fn quotes_literal_defaults(&self) -> bool {
        self.family == Family::MariaDb
    }

    /// INFORMATION_SCHEMA caches table statistics (TABLE_ROWS, DATA_LENGTH) for
    /// `information_schema_stats_expiry` seconds (MySQL 8; a day by default).
    pub fn caches_table_statistics(&self) -> bool {
        self.at_least(Family::MySql, (8, 0, 0))
    }

    /// COLUMN_TYPE may show integer display widths (`int(11)`) on one table and not on another
    /// (MySQL 8.0.19+ dropped them, but tables of an upgraded server keep them).
    pub fn integer_widths_vary(&self) -> bool {
        self.at_least(Family::MySql, (8, 0, 0))
    }

    /// The global privileges, any of which lets an account create a trigger whose DEFINER is
    /// another account (as SHOW GRANTS prints them).
    pub fn definer_privileges(&self) -> &'static [&'static str] {
        match self.family {
            Family::MariaDb => &["SUPER", "SET USER"],
            Family::MySql => &["SUPER", "SET_USER_ID", "SET_ANY_DEFINER"],
        }
    }

    /// The global privileges that let an account read the binlog as a replica does (the dump
    /// itself, then the position): MariaDB 10.5 renamed REPLICATION CLIENT to BINLOG MONITOR.
    pub fn binlog_reader_privileges(&self) -> [&'static str; 2] {
        if self.at_least(Family::MariaDb, (10, 5, 0)) {
            ["REPLICATION SLAVE", "BINLOG MONITOR"]
        } else {
            ["REPLICATION SLAVE", "REPLICATION CLIENT"]
        }
    }

    /// The privilege to GRANT so an account may create triggers for other definers.
    pub fn definer_grant(&self) -> &'static str {
        match self.family {
            Family::MariaDb => "SET USER",
            // SET_USER_ID is deprecated from 8.2, where SET_ANY_DEFINER replaces it.
            Family::MySql if self.version >= (8, 2, 0) => "SET_ANY_DEFINER",
            Family::MySql => "SET_USER_ID",
        }
    }

    /// The catalog query of index parts (with the expression of functional parts where the
    /// server has them).
    pub fn indexes_sql(&self) -> &'static str {
        if self.functional_index_parts() {
            INDEXES_WITH_EXPRESSIONS_SQL
        } else {
            INDEXES_SQL
        }
    }

    /// The catalog query of CHECK constraints (table, name, clause, level), if the server has
    /// them: MariaDB's CHECK_CONSTRAINTS names the table and the level; MySQL's (8.0.16+) has
    /// neither, so the table comes from TABLE_CONSTRAINTS (check names are unique per schema).
    pub fn checks_sql(&self) -> Option<&'static str> {
        match self.family {
            Family::MariaDb => Some(CHECKS_SQL),
            Family::MySql if self.version >= (8, 0, 16) => Some(CHECKS_MYSQL8_SQL),
            Family::MySql => None,
        }
    }

    /// Settings every session starts with, besides the connection's own (character sets, time
    /// zone, sql_mode): fresh table statistics on MySQL 8, and on Galera causal reads, so a
    /// session on one node sees every write committed on any node before its statement (SOURCE,
    /// DB_DATA and DB_FINAL may be reached through different nodes).
    pub fn session_init(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.caches_table_statistics() {
            out.push("SET SESSION information_schema_stats_expiry = 0".into());
        }
        if self.galera {
            out.push("SET SESSION wsrep_sync_wait = 15".into());
        }
        out
    }
}

impl Dialect for MysqlDialect {
    fn not_an_integer_sql(&self, column: &str) -> Option<String> {
        Some(format!("CAST({column} AS CHAR) NOT REGEXP '^[+-]?[0-9]+$'"))
    }
    fn quote_style(&self) -> QuoteStyle {
        QuoteStyle::Backtick
    }
    fn backslash_escapes(&self) -> bool {
        true
    }
    fn upsert_sql(
        &self,
        table: &str,
        columns: &[String],
        values: &[String],
        key: &[String],
    ) -> String {
        // A row of key columns only has nothing to update: the key names itself.
        let mut others: Vec<String> = columns
            .iter()
            .filter(|c| !key.contains(c))
            .map(|c| format!("{c} = VALUES({c})"))
            .collect();
        if others.is_empty() {
            others = key.iter().map(|c| format!("{c} = {c}")).collect();
        }
        format!(
            "INSERT INTO {table} ({}) VALUES ({}) ON DUPLICATE KEY UPDATE {}",
            columns.join(", "),
            values.join(", "),
            others.join(", ")
        )
    }
    fn follow_session(&self) -> Vec<String> {
        // TIMESTAMP values come out of the binlog in UTC; the sql_mode is one this code's
        // literals are written for (backslash escapes on, a zero in an integer column is a zero);
        // DB_FINAL's foreign keys do the cascades the binlog leaves out (docs/cutover.md §9).
        vec![
            "SET SESSION time_zone = '+00:00'".into(),
            "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'".into(),
            "SET SESSION foreign_key_checks = 1".into(),
        ]
    }
    fn begin_sql(&self) -> &'static str {
        "START TRANSACTION"
    }
    fn alters_in_place(&self) -> bool {
        true
    }
    fn parallel_writes(&self) -> bool {
        true
    }
    fn verifies_during_load(&self) -> bool {
        // Each table checked right after its load, while the other worker still loads: on the
        // lean benchmark the table's pages are still in the buffer pool then, and the worker that
        // finishes first has time to spare (load + verify 0.5-1.2 s shorter, interleaved A/B in
        // docs/performance.md, "MariaDB lean, second round"). A first measurement on a machine
        // three times as loaded had found the opposite; the later one is on the benchmark's
        // conditions. A Galera cluster keeps one verify after the load: its chunked two-write
        // load was not measured with it.
        !self.galera
    }

    fn reads_distinct_by_index(&self) -> bool {
        // "Using index for group-by": 800,000 references to 20,000 posts read as their 20,000
        // values (0.045 s against the join's 0.13 s on MariaDB lean).
        true
    }

    fn converts_in_clone(&self) -> bool {
        // One CREATE TABLE written from SOURCE's definition (`Ddl::derive_table_at_once`, on
        // MariaDB; else derive-final's CREATE ... LIKE and one ALTER) instead of five
        // statements, each of which rebuilds or changes the empty table (docs/performance.md,
        // "fourth round", "eighth round"). A cluster takes two writes (chunked): it has no
        // one-write table.
        !self.galera
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
            UuidFormat::Native if self.has_uuid_type() => "UUID",
            UuidFormat::Native => {
                return Err(Error::usage(
                    "--uuid-format native: this server has no UUID column type (MySQL has none; MariaDB from 10.7).",
                    "Use --uuid-format binary16 (16 bytes, what MySQL's UUID_TO_BIN() stores and BIN_TO_UUID() reads) or char36/char32 (text).",
                ))
            }
        }
        .to_string())
    }
    fn bulk_session(&self, arrival: Arrival) -> Vec<String> {
        // InnoDB's bulk-insert path (an empty table, unique_checks and foreign_key_checks off)
        // sorts every index before building it: it pays for secondary indexes and out-of-order
        // keys, but makes appends slower (600,000 rows into a table without secondary indexes:
        // 2.2 s with unique checks on against 3.9 s with them off; docs/performance.md).
        // On Galera unique checks stay on: a write-set that the bulk path built without them
        // can hold rows that the other nodes' appliers refuse as duplicates, and the nodes then
        // vote each other out of the cluster (measured: an INSERT IGNORE under unique_checks=0
        // left node 1 Inconsistent). Chunked writes gain little from that path anyway: only
        // the first chunk goes into an empty table.
        split_statements(match arrival {
            _ if self.galera => APPEND_SESSION_SQL,
            Arrival::InKeyOrder => APPEND_SESSION_SQL,
            Arrival::Unordered => BULK_SESSION_SQL,
        })
    }
    fn map_key_type(&self, column_type: &str) -> String {
        column_type.to_string()
    }
    fn exact_select(&self, column: &Column) -> String {
        match column.data_type.as_str() {
            "float" if self.casts_to_double() => {
                format!("CAST({} AS DOUBLE)", self.q(&column.name))
            }
            // Before MySQL 8.0.17 there is no CAST to DOUBLE; the sum is computed as one.
            "float" => format!("({} + 0e0)", self.q(&column.name)),
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
    fn derived_key_secret_sql(&self) -> Option<&'static str> {
        Some("SET @rekey_k = CAST(? AS BINARY)")
    }
    fn derived_key_sql(&self, key: &str, spec: &DerivedKey, format: UuidFormat) -> Option<String> {
        // A binary prefix hashes the same bytes without a character-set conversion per row
        // (780,000 keys: 1.17 s against 1.79 s). The secret is the session's variable
        // (`derived_key_secret_sql`), never the statement's text, which the processlist and the
        // server's logs show.
        let hash = format!(
            "MD5(CONCAT(@rekey_k, _binary {}, {key}))",
            self.lit(&format!(":{}:", spec.table))
        );
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

/// The dialect for quoting names and literals, which every flavour shares; capabilities come
/// from the backend's own dialect (`MysqlBackend::flavour`).
pub(super) static DIALECT: MysqlDialect = MysqlDialect::MARIADB;

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
    fn the_follower_writes_values_back_exactly_and_rows_whole() {
        use crate::backend::Value;
        let lit = |v: Value| DIALECT.value_literal(&v);
        assert_eq!(lit(Value::Null), "NULL");
        assert_eq!(lit(Value::Int(-7)), "-7");
        assert_eq!(lit(Value::Real(0.1)), "0.1");
        assert_eq!(lit(Value::Real(1e300)).len(), 301);
        assert_eq!(
            lit(Value::Text(b"it's \\ 12.50".to_vec())),
            "'it''s \\\\ 12.50'"
        );
        // Bytes go as they are, whatever the column's charset (a zero byte too).
        assert_eq!(lit(Value::Blob(vec![0, 0xff, b'a'])), "X'00FF61'");
        assert_eq!(lit(Value::Text(vec![0xc3])), "X'C3'");
        let q = |c: &str| DIALECT.q(c);
        assert_eq!(
            DIALECT.upsert_sql(
                &q("t"),
                &[q("id"), q("v")],
                &["1".into(), "2".into()],
                &[q("id")]
            ),
            "INSERT INTO `t` (`id`, `v`) VALUES (1, 2) ON DUPLICATE KEY UPDATE `v` = VALUES(`v`)"
        );
        // A row of key columns only updates nothing, and still does not fail.
        assert_eq!(
            DIALECT.upsert_sql(
                &q("t"),
                &[q("a"), q("b")],
                &["1".into(), "2".into()],
                &[q("a"), q("b")]
            ),
            "INSERT INTO `t` (`a`, `b`) VALUES (1, 2) ON DUPLICATE KEY UPDATE `a` = `a`, `b` = `b`"
        );
        assert!(DIALECT
            .follow_session()
            .join(";")
            .contains("time_zone = '+00:00'"));
    }

    #[test]
    fn the_binlog_reader_grant_is_named_as_the_server_names_it() {
        let maria = MysqlDialect::from_server("10.11.19-MariaDB-0+deb12u1", false);
        assert_eq!(
            maria.binlog_reader_privileges(),
            ["REPLICATION SLAVE", "BINLOG MONITOR"]
        );
        let old_maria = MysqlDialect::from_server("10.4.33-MariaDB", false);
        let mysql = MysqlDialect::from_server("8.0.36", false);
        for d in [old_maria, mysql] {
            assert_eq!(
                d.binlog_reader_privileges(),
                ["REPLICATION SLAVE", "REPLICATION CLIENT"]
            );
        }
    }

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
    fn the_load_verifies_each_table_except_on_a_galera_cluster() {
        assert!(MysqlDialect::MARIADB.verifies_during_load());
        assert!(MysqlDialect::from_server("8.0.36", false).verifies_during_load());
        assert!(!MysqlDialect::from_server("10.11.19-MariaDB", true).verifies_during_load());
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

    #[test]
    fn the_flavour_comes_from_the_version_text() {
        let maria = MysqlDialect::from_server("10.11.19-MariaDB-0+deb12u1", false);
        assert_eq!(maria.family(), Family::MariaDb);
        assert!(maria.has_uuid_type() && maria.casts_to_double() && !maria.galera());
        let galera = MysqlDialect::from_server("10.11.19-MariaDB-0+deb12u1", true);
        assert!(galera.galera() && galera.chunks_writes() && galera.keeps_primary_keys());
        assert_eq!(
            MysqlDialect::from_server("10.6.3-MariaDB", false).version,
            (10, 6, 3)
        );
        assert!(!MysqlDialect::from_server("10.6.3-MariaDB", false).has_uuid_type());
        for mysql in ["8.0.36", "8.0.36-0ubuntu0.22.04.1", "8.0.36-28"] {
            let d = MysqlDialect::from_server(mysql, true);
            assert_eq!(d.family(), Family::MySql, "{mysql}");
            assert_eq!(d.version, (8, 0, 36), "{mysql}");
            // wsrep_on only means Galera on MariaDB here (Percona XtraDB Cluster is not tested).
            assert!(!d.galera(), "{mysql}");
        }
        // The reference dialect under the type's own name.
        assert_eq!(MysqlDialect, MysqlDialect::MARIADB);
    }

    #[test]
    fn session_settings_per_flavour() {
        assert!(MysqlDialect::MARIADB.session_init().is_empty());
        let galera = MysqlDialect::from_server("10.11.19-MariaDB", true).session_init();
        assert_eq!(galera, ["SET SESSION wsrep_sync_wait = 15"]);
        let mysql = MysqlDialect::from_server("8.0.36", false).session_init();
        assert_eq!(mysql, ["SET SESSION information_schema_stats_expiry = 0"]);
    }

    #[test]
    fn unique_checks_stay_on_in_a_cluster() {
        let galera = MysqlDialect::from_server("10.11.19-MariaDB", true);
        let session = galera.bulk_session(Arrival::Unordered).join("; ");
        assert!(session.contains("unique_checks = 1"), "{session}");
        assert!(session.contains("foreign_key_checks = 0"), "{session}");
    }
}
