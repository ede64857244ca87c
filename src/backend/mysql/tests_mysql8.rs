//! MySQL 8 dialect tests on the catalog rows captured in `fixtures/mysql8/` (no MySQL 8 server can
//! be installed on the project's machines): one test per hazard its README lists, each feeding
//! the captured rows to the describer, the dialect or the checks that run on a real server.

use super::admin::{definer_fix, has_global};
use super::catalog::{
    generated_invisible_key, is_generated, review, tables_from_rows, CatalogRows,
};
use super::load::{export_sql, transfer_lists};
use super::session::{is_ddl, LOCAL_REFUSED};
use super::{sql_error, Facts, Family, MysqlDialect};
use crate::backend::{Dialect, Value};
use crate::model::{Schema, Table};
use crate::options::{ConversionOptions, UuidFormat};
use crate::plan::Plan;

const COLUMNS: &str = include_str!("../../../fixtures/mysql8/columns.tsv");
const STATISTICS: &str = include_str!("../../../fixtures/mysql8/statistics.tsv");
const TRIGGERS: &str = include_str!("../../../fixtures/mysql8/triggers.tsv");
const VARIABLES: &str = include_str!("../../../fixtures/mysql8/variables.tsv");
const GRANTS: &str = include_str!("../../../fixtures/mysql8/grants.txt");
const VERSION: &str = include_str!("../../../fixtures/mysql8/version.txt");

/// Rows of a captured file as the server sends them: `\N` is NULL, every other field its bytes
/// (rekey's sessions read results as binary text).
fn tsv(text: &str) -> Vec<Vec<Value>> {
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split('\t')
                .map(|f| match f {
                    "\\N" => Value::Null,
                    f => Value::Text(f.as_bytes().to_vec()),
                })
                .collect()
        })
        .collect()
}

fn text(v: &str) -> Value {
    Value::Text(v.as_bytes().to_vec())
}

fn mysql8() -> MysqlDialect {
    Facts::from_server(VERSION.trim().to_string(), &variables()).dialect
}

fn variables() -> Vec<(String, String)> {
    tsv(VARIABLES)
        .into_iter()
        .map(|r| {
            (
                r[0].as_string().unwrap_or_default(),
                r[1].as_string().unwrap_or_default(),
            )
        })
        .collect()
}

/// The `shop` schema of the README, from the captured rows (TABLES rows written from the
/// README's schema: name, engine, collation, rows, options, bytes).
fn shop() -> Schema {
    let tables = ["author", "book", "event_log"]
        .iter()
        .map(|t| {
            vec![
                text(t),
                text("InnoDB"),
                text("utf8mb4_0900_ai_ci"),
                text("3"),
                text(""),
                text("16384"),
            ]
        })
        .collect();
    let rows = CatalogRows {
        tables,
        columns: tsv(COLUMNS),
        indexes: tsv(STATISTICS),
        foreign_keys: vec![vec![
            text("book"),
            text("fk_book_author"),
            text("author_id"),
            text("author"),
            text("id"),
            text("RESTRICT"),
            text("RESTRICT"),
            text("shop"),
        ]],
        partitions: Vec::new(),
        checks: Vec::new(),
    };
    tables_from_rows(&mysql8(), "shop", &rows)
}

fn table<'a>(schema: &'a Schema, name: &str) -> &'a Table {
    schema.table(name).unwrap()
}

/// Hazard 1: information_schema.GLOBAL_VARIABLES is gone in 8.0 (ERROR 1109): the facts come from
/// SHOW GLOBAL VARIABLES, where a MySQL server has no wsrep_on row.
#[test]
fn hazard_01_no_global_variables_table() {
    for sql in [
        include_str!("server_info.sql"),
        include_str!("facts.sql"),
        include_str!("identity.sql"),
        include_str!("size.sql"),
        include_str!("tables.sql"),
    ] {
        let upper = sql.to_ascii_uppercase();
        assert!(!upper.contains("GLOBAL_VARIABLES"), "{sql}");
    }
    assert!(include_str!("facts.sql").starts_with("SHOW GLOBAL VARIABLES"));
    let facts = Facts::from_server(VERSION.trim().to_string(), &variables());
    assert_eq!(facts.dialect.family(), Family::MySql);
    assert!(!facts.dialect.galera());
    assert_eq!(facts.node, None);
}

/// Hazard 2: EXTRA says DEFAULT_GENERATED for ordinary expression defaults: those columns hold data
/// and are copied; only VIRTUAL/STORED GENERATED columns are left out.
#[test]
fn hazard_02_default_generated_is_not_generated() {
    let schema = shop();
    let author = table(&schema, "author");
    let writable: Vec<&str> = author.writable_columns().map(|c| c.name.as_str()).collect();
    assert_eq!(
        writable,
        [
            "id",
            "name",
            "legacy_name",
            "created_at",
            "updated_at",
            "ext_id"
        ]
    );
    let book = table(&schema, "book");
    assert!(book.column("uid").unwrap().generated.is_none());
    assert_eq!(
        book.column("title_len").unwrap().generated.as_deref(),
        Some("char_length(`title`)")
    );
    assert_eq!(
        book.column("price_cents").unwrap().generated.as_deref(),
        Some("(`price` * 100)")
    );
    assert!(!is_generated(
        "DEFAULT_GENERATED on update CURRENT_TIMESTAMP"
    ));
    assert!(is_generated("STORED GENERATED") && is_generated("PERSISTENT GENERATED"));
}

/// Hazard 3: MySQL prints literal defaults unquoted: the model keeps MariaDB's form (literals quoted,
/// numbers and expressions bare).
#[test]
fn hazard_03_defaults_read_as_mariadb_prints_them() {
    let schema = shop();
    let book = table(&schema, "book");
    let default = |c: &str| book.column(c).unwrap().default.clone();
    assert_eq!(default("format").as_deref(), Some("'paper'"));
    assert_eq!(default("price").as_deref(), Some("0.00"));
    assert_eq!(default("flags").as_deref(), Some("b'0'"));
    assert_eq!(default("uid").as_deref(), Some("uuid_to_bin(uuid())"));
    assert_eq!(default("rating"), None);
    let author = table(&schema, "author");
    assert_eq!(
        author.column("created_at").unwrap().default.as_deref(),
        Some("CURRENT_TIMESTAMP")
    );
}

/// Hazard 4: MySQL has no UUID type: `--uuid-format native` is refused with the fix.
#[test]
fn hazard_04_no_native_uuid_type() {
    let d = mysql8();
    let err = d.uuid_type(UuidFormat::Native).unwrap_err().to_string();
    assert!(
        err.contains("binary16") && err.contains("UUID_TO_BIN"),
        "{err}"
    );
    assert_eq!(d.uuid_type(UuidFormat::Binary16).unwrap(), "BINARY(16)");
    assert_eq!(
        MysqlDialect::MARIADB.uuid_type(UuidFormat::Native).unwrap(),
        "UUID"
    );
    assert!(!d.has_uuid_type());
}

/// Hazard 5: CAST(x AS DOUBLE) exists from 8.0.17 only; older servers get the same double by `+ 0e0`
/// (verify and the load read FLOAT exactly either way).
#[test]
fn hazard_05_cast_as_double_from_8_0_17() {
    let schema = shop();
    let mut f = table(&schema, "book").column("rating").unwrap().clone();
    f.data_type = "float".into();
    assert_eq!(mysql8().exact_select(&f), "CAST(`rating` AS DOUBLE)");
    let old = MysqlDialect::from_server("8.0.16", false);
    assert_eq!(old.exact_select(&f), "(`rating` + 0e0)");
    assert_eq!(transfer_lists(&old, &[f]).0, "(`rating` + 0e0)");
    assert!(MysqlDialect::from_server("8.0.17", false).casts_to_double());
}

/// Hazard 6: Recreating a trigger of another definer needs SET_USER_ID (8.0) or SET_ANY_DEFINER (8.2+)
/// on MySQL, SET USER on MariaDB; SHOW GRANTS lists dynamic privileges without spaces.
#[test]
fn hazard_06_definer_privileges() {
    let grants: Vec<String> = GRANTS.lines().map(str::to_string).collect();
    let triggers = tsv(TRIGGERS);
    let definer = triggers[1][2].as_string().unwrap();
    assert_eq!(definer, "app@%");
    let d = mysql8();
    assert!(has_global(&grants, &["SET_USER_ID"]));
    assert_eq!(definer_fix(&d, &grants, "'rekey'@'%'", &definer), None);
    // Without the dynamic-privilege line the account may not.
    let fix = definer_fix(&d, &grants[..1], "'rekey'@'%'", &definer).unwrap();
    assert!(
        fix.starts_with("GRANT SET_USER_ID ON *.* TO 'rekey'@'%'"),
        "{fix}"
    );
    let d82 = MysqlDialect::from_server("8.2.0", false);
    let fix = definer_fix(&d82, &grants[..1], "'rekey'@'%'", &definer).unwrap();
    assert!(fix.starts_with("GRANT SET_ANY_DEFINER"), "{fix}");
    // MariaDB's own privilege name does not count on MySQL, and the reverse.
    let maria = vec!["GRANT SET USER ON *.* TO `rekey`@`%`".to_string()];
    assert!(definer_fix(&MysqlDialect::MARIADB, &maria, "a", "b").is_none());
    assert!(definer_fix(&d, &maria, "a", "b").is_some());
    // A database-level ALL is not a global privilege.
    assert!(!has_global(&grants[2..], &["SUPER"]));
}

/// Hazard 7: log_bin is ON by default on MySQL 8, and emulated on Galera nodes: trigger DDL by an
/// account without SUPER fails with 1419 (named with its fix), and DDL is recognised for the
/// cluster's TOI count.
#[test]
fn hazard_07_binary_log_and_trigger_ddl() {
    let vars = variables();
    let log_bin = vars.iter().find(|(n, _)| n == "log_bin").unwrap();
    assert_eq!(log_bin.1, "ON");
    let me = mysql::error::MySqlError {
        state: "HY000".into(),
        code: 1419,
        message: "You do not have the SUPER privilege and binary logging is enabled".into(),
    };
    let err = sql_error(mysql::Error::MySqlError(me), "DROP TRIGGER `t`").to_string();
    assert!(err.contains("log_bin_trust_function_creators = 1"), "{err}");
    assert!(is_ddl("/* rekey:ab */ DROP TRIGGER IF EXISTS `t`"));
    assert!(is_ddl("  create table x (a int)"));
    assert!(!is_ddl("/* rekey:ab */ INSERT INTO t SELECT 1"));
}

/// Hazard 8: Functional index parts have a NULL COLUMN_NAME and the text in EXPRESSION (8.0.13+): the
/// describer keeps them as `(expression)`, which matches no column; the query asks for
/// EXPRESSION only where the server has it.
#[test]
fn hazard_08_functional_index_parts() {
    let schema = shop();
    let author = table(&schema, "author");
    let ix = author
        .indexes
        .iter()
        .find(|i| i.name == "idx_lower_name")
        .unwrap();
    assert_eq!(ix.columns, ["(lower(`name`))"]);
    let book = table(&schema, "book");
    let mixed = book
        .indexes
        .iter()
        .find(|i| i.name == "idx_author_price")
        .unwrap();
    assert_eq!(mixed.columns, ["author_id", "((`price` * 2))"]);
    assert!(mysql8().indexes_sql().contains("EXPRESSION\n"));
    assert!(MysqlDialect::MARIADB
        .indexes_sql()
        .contains("NULL AS EXPRESSION"));
    // An expression over a column that becomes a UUID is worth a warning.
    let mut schema = shop();
    schema.tables[1].indexes[0].columns = vec!["((`author_id` + 1))".into()];
    let mut plan = Plan::build(&schema, &ConversionOptions::default()).unwrap();
    review(&mysql8(), None, &schema, &mut plan).unwrap();
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.kind == "functional-index" && w.column.as_deref() == Some("author_id")),
        "{:?}",
        plan.warnings
    );
}

/// Hazard 9: INVISIBLE columns are left out of `SELECT *`: the describer keeps them, flagged, and they
/// are copied by name.
#[test]
fn hazard_09_invisible_columns_are_copied_by_name() {
    let schema = shop();
    let book = table(&schema, "book");
    let note = book.column("row_note").unwrap();
    assert!(note.invisible && note.generated.is_none());
    assert!(book.writable_columns().any(|c| c.name == "row_note"));
}

/// Hazard 10: A generated invisible primary key (`my_row_id`, 8.0.30+) is MySQL's, not the
/// application's: it keeps its integers, with a warning.
#[test]
fn hazard_10_generated_invisible_primary_key_is_kept() {
    let schema = shop();
    let log = table(&schema, "event_log");
    assert!(generated_invisible_key(log));
    let mut plan = Plan::build(&schema, &ConversionOptions::default()).unwrap();
    assert!(
        plan.converted("event_log").is_some(),
        "the neutral plan sees an integer key"
    );
    review(&mysql8(), None, &schema, &mut plan).unwrap();
    assert!(plan.converted("event_log").is_none());
    assert!(plan.kept.iter().any(|k| k.table == "event_log"));
    assert!(plan.warnings.iter().any(|w| w.kind == "invisible-key"));
    assert!(plan.converted("author").is_some() && plan.converted("book").is_some());
}

/// Hazard 11: SELECT ... INTO OUTFILE goes before FROM, which every MySQL and MariaDB version takes
/// (8.0.20 deprecates INTO between FROM and a locking clause).
#[test]
fn hazard_11_outfile_before_from() {
    let sql = export_sql(
        "/* rekey:x */ ",
        "`id`, `title`",
        "/var/lib/mysql-files/rekey-x.tsv",
        "`shop_data`.`book` WHERE `id` > 5 ORDER BY `id`",
    );
    let into = sql.find("INTO OUTFILE").unwrap();
    let from = sql.find(" FROM ").unwrap();
    assert!(into < from, "{sql}");
    assert!(sql.ends_with("ORDER BY `id`"), "{sql}");
}

/// Hazard 12: local_infile is OFF by default on MySQL 8: a refused LOAD DATA LOCAL (3948/3950) falls
/// back to multi-row INSERT in insert_rows, and elsewhere names the setting that fixes it.
#[test]
fn hazard_12_local_infile_off() {
    let vars = variables();
    assert!(vars.contains(&("local_infile".into(), "OFF".into())));
    for code in [1148, 3948, 3950, 4166] {
        assert!(LOCAL_REFUSED.contains(&code), "{code}");
    }
    let me = mysql::error::MySqlError {
        state: "42000".into(),
        code: 3950,
        message: "Loading local data is disabled; this must be enabled on both the client and server side".into(),
    };
    let err = sql_error(
        mysql::Error::MySqlError(me),
        "LOAD DATA LOCAL INFILE 'x' INTO TABLE t",
    )
    .to_string();
    assert!(err.contains("SET GLOBAL local_infile = 1"), "{err}");
}

/// Hazard 13: caching_sha2_password is MySQL 8's default authentication: the mysql crate (28) answers
/// it over plain TCP by fetching the server's RSA key, and rekey sets no option that would stop
/// it (docs/limitations.md, "MySQL 8"). What can be checked without a server: the variable the
/// captured server reports, and that rekey never asks for a socket (where the crate would send
/// the password in clear).
#[test]
fn hazard_13_caching_sha2_password() {
    let vars = variables();
    assert!(vars.contains(&(
        "default_authentication_plugin".into(),
        "caching_sha2_password".into()
    )));
    let src = include_str!("mod.rs");
    assert!(src.contains(".prefer_socket(false)"));
}

/// Hazard 14: Table statistics are cached for a day on MySQL 8: every session asks for fresh ones.
#[test]
fn hazard_14_statistics_are_read_fresh() {
    assert!(mysql8()
        .session_init()
        .contains(&"SET SESSION information_schema_stats_expiry = 0".to_string()));
    assert!(MysqlDialect::MARIADB.session_init().is_empty());
}

/// Hazard 15: COLUMN_TYPE may keep display widths on tables of an upgraded server: the describer drops
/// them on MySQL, so compare sees `int unsigned` on both sides.
#[test]
fn hazard_15_integer_display_widths() {
    let mut columns = tsv(COLUMNS);
    columns[0][3] = text("int(10) unsigned");
    columns[6][3] = text("bigint(20)");
    let rows = CatalogRows {
        tables: vec![
            vec![
                text("author"),
                text("InnoDB"),
                text("utf8mb4_0900_ai_ci"),
                text("1"),
                text(""),
                text("1"),
            ],
            vec![
                text("book"),
                text("InnoDB"),
                text("utf8mb4_0900_ai_ci"),
                text("1"),
                text(""),
                text("1"),
            ],
        ],
        columns,
        ..CatalogRows::default()
    };
    let schema = tables_from_rows(&mysql8(), "shop", &rows);
    assert_eq!(schema.tables[0].columns[0].column_type, "int unsigned");
    assert_eq!(schema.tables[1].columns[0].column_type, "bigint");
    assert_eq!(
        schema.tables[1].column("price").unwrap().column_type,
        "decimal(10,2)"
    );
    // MariaDB always prints widths, so they are kept there.
    let maria = tables_from_rows(&MysqlDialect::MARIADB, "shop", &rows);
    assert_eq!(maria.tables[0].columns[0].column_type, "int(10) unsigned");
}

/// Hazard 16: utf8mb4_0900_ai_ci is MySQL 8's default collation (MariaDB has no _0900_ ones): the
/// character set, which compare checks, is still read as utf8mb4.
#[test]
fn hazard_16_default_collation() {
    let schema = shop();
    let author = table(&schema, "author");
    assert_eq!(author.charset.as_deref(), Some("utf8mb4"));
    let name = author.column("name").unwrap();
    assert_eq!(name.charset.as_deref(), Some("utf8mb4"));
    assert_eq!(name.collation.as_deref(), Some("utf8mb4_0900_ai_ci"));
    assert_eq!(
        author.column("legacy_name").unwrap().charset.as_deref(),
        Some("latin1")
    );
}

/// The captured foreign key and the tables' keys make the plan the README's schema implies.
#[test]
fn the_captured_schema_plans_as_expected() {
    let schema = shop();
    let mut plan = Plan::build(&schema, &ConversionOptions::default()).unwrap();
    review(&mysql8(), None, &schema, &mut plan).unwrap();
    let converted: Vec<&str> = plan.converted.iter().map(|c| c.table.as_str()).collect();
    assert_eq!(converted, ["author", "book"]);
    assert_eq!(plan.references.len(), 1);
    assert_eq!(plan.references[0].label(), "book.author_id -> author.id");
    assert_eq!(table(&schema, "book").primary_key, ["id"]);
}

/// MySQL's CHECK_CONSTRAINTS (8.0.16+) has no TABLE_NAME and no LEVEL (MariaDB's has both): the
/// table comes from TABLE_CONSTRAINTS; before 8.0.16 there is no such table to read.
#[test]
fn check_constraints_are_read_with_mysql_8s_columns() {
    let sql = mysql8().checks_sql().unwrap();
    assert!(
        sql.contains("JOIN information_schema.TABLE_CONSTRAINTS"),
        "{sql}"
    );
    assert!(sql.contains("'Table' AS LEVEL"), "{sql}");
    assert!(
        !sql.contains("c.TABLE_NAME") && !sql.contains("c.LEVEL"),
        "{sql}"
    );
    assert_eq!(
        MysqlDialect::from_server("8.0.15", false).checks_sql(),
        None
    );
    let maria = MysqlDialect::MARIADB.checks_sql().unwrap();
    assert!(
        maria.contains("TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE, LEVEL"),
        "{maria}"
    );
    let rows = CatalogRows {
        tables: vec![vec![
            text("book"),
            text("InnoDB"),
            text("utf8mb4_0900_ai_ci"),
            text("1"),
            text(""),
            text("1"),
        ]],
        checks: vec![vec![
            text("book"),
            text("book_chk_1"),
            text("(`price` >= 0)"),
            text("Table"),
        ]],
        ..CatalogRows::default()
    };
    let schema = tables_from_rows(&mysql8(), "shop", &rows);
    assert_eq!(schema.tables[0].checks[0].name, "book_chk_1");
    assert_eq!(schema.tables[0].checks[0].column, None);
}
