//! Snapshots of the MariaDB/MySQL backend's generated SQL, without a server: clone, unconstrain,
//! swap (also re-run on a half-swapped table), derive-final per UUID format and its foreign keys,
//! triggers set aside and restored, the dialect's session and column statements, and swap's fill.

use rekey::backend::mysql::{MysqlBackend, MysqlDialect};
use rekey::backend::{Arrival, Ddl, Dialect, FillColumn, FillFrom, FillJob, Swap, Unconstrain};
use rekey::model::{Column, ForeignKey, Index, Table, Trigger};
use rekey::options::UuidFormat;
use rekey::url::{DbUrl, Env};

/// No DB_* variables: URLs are taken as written.
struct NoEnv;

impl Env for NoEnv {
    fn get(&self, _key: &str) -> Option<String> {
        None
    }
}

fn url(text: &str) -> DbUrl {
    DbUrl::parse(text, &NoEnv).unwrap()
}

/// DB_DATA's backend; SOURCE is `legacy` on the same server.
fn data() -> MysqlBackend {
    MysqlBackend::new(url("mysql://rekey@127.0.0.1:3306/legacy_data"))
}

fn source() -> DbUrl {
    url("mysql://rekey@127.0.0.1:3306/legacy")
}

/// Every statement on its own line, ending with `;`, as a dry run prints them.
fn sql(statements: &[String]) -> String {
    if statements.is_empty() {
        return "-- (no statements)".into();
    }
    statements
        .iter()
        .map(|s| format!("{s};"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn col(name: &str, data_type: &str, column_type: &str, nullable: bool) -> Column {
    Column {
        name: name.into(),
        data_type: data_type.into(),
        column_type: column_type.into(),
        nullable,
        ..Column::default()
    }
}

fn index(name: &str, columns: &[&str], unique: bool) -> Index {
    Index {
        name: name.into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        unique,
        kind: "BTREE".into(),
        create_sql: None,
    }
}

fn fk(name: &str, column: &str, ref_table: &str, ref_column: &str) -> ForeignKey {
    ForeignKey {
        name: name.into(),
        columns: vec![column.into()],
        ref_schema: None,
        ref_table: ref_table.into(),
        ref_columns: vec![ref_column.into()],
        on_delete: "CASCADE".into(),
        on_update: "RESTRICT".into(),
    }
}

/// A converted table with a self reference and a reference to `user`, as SOURCE's catalog
/// describes it: an unsigned AUTO_INCREMENT key with a comment, a reserved-word column, a
/// column name with a backtick, and a comment with a quote and a backslash.
fn content_item() -> Table {
    Table {
        name: "content_item".into(),
        columns: vec![
            Column {
                auto_increment: true,
                comment: Some("old key: it's C:\\legacy".into()),
                ..col("id", "int", "int(10) unsigned", false)
            },
            col("parent_id", "int", "int(10) unsigned", true),
            col("author_id", "bigint", "bigint(20)", false),
            col("order", "int", "int(11)", false),
            col("we`ird", "varchar", "varchar(20)", true),
            col("title", "varchar", "varchar(255)", false),
        ],
        primary_key: vec!["id".into()],
        indexes: vec![
            index("PRIMARY", &["id"], true),
            index("ix_content_item_parent", &["parent_id"], false),
            index("uq_author_order", &["author_id", "order"], true),
        ],
        foreign_keys: vec![
            fk("fk_content_item_parent", "parent_id", "content_item", "id"),
            fk("fk_content_item_author", "author_id", "user", "id"),
        ],
        engine: Some("InnoDB".into()),
        charset: Some("utf8mb4".into()),
        collation: Some("utf8mb4_general_ci".into()),
        ..Table::default()
    }
}

/// A unicode table name with a space, its key a non-`id` name that is not the first column.
fn unicode_table() -> Table {
    Table {
        name: "naïve 表".into(),
        columns: vec![
            col("label", "varchar", "varchar(20)", true),
            Column {
                auto_increment: true,
                ..col("clé", "bigint", "bigint(20) unsigned", false)
            },
        ],
        primary_key: vec!["clé".into()],
        indexes: vec![index("PRIMARY", &["clé"], true)],
        ..Table::default()
    }
}

fn work(name: &str) -> Column {
    col(name, "char", "char(32)", true)
}

/// content_item after shadow and link: the integer columns and their UUID shadows.
fn shadowed() -> Table {
    let mut t = content_item();
    t.columns
        .push(col("id_ipk_copy", "int", "int(10) unsigned", true));
    t.columns.push(work("id_upk_copy"));
    t.columns.push(work("parent_id_ufk_copy"));
    t.columns.push(work("author_id_ufk_copy"));
    t.indexes.clear();
    t.primary_key.clear();
    t.foreign_keys.clear();
    t
}

fn swaps(uuid_type: &str) -> Vec<Swap> {
    let swap = |column: &str, shadow: &str, nullable: bool| Swap {
        column: column.into(),
        shadow: shadow.into(),
        uuid_type: uuid_type.into(),
        nullable,
    };
    vec![
        swap("id", "id_upk_copy", false),
        swap("parent_id", "parent_id_ufk_copy", true),
        swap("author_id", "author_id_ufk_copy", false),
    ]
}

fn drop_work() -> Vec<String> {
    vec!["id_ipk_copy".into()]
}

#[test]
fn mysql_clone_table() {
    let b = data();
    let out = [content_item(), unicode_table()]
        .iter()
        .map(|t| sql(&b.clone_table_sql(&source(), t).unwrap()))
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("mysql_clone_table", out);
}

#[test]
fn mysql_clone_table_from_another_server_is_an_error() {
    let other = url("mysql://rekey@db2.example:3306/legacy");
    let err = data().clone_table_sql(&other, &content_item()).unwrap_err();
    insta::assert_snapshot!(
        "mysql_clone_table_from_another_server_is_an_error",
        err.to_string()
    );
}

#[test]
fn mysql_unconstrain() {
    let b = data();
    let t = content_item();
    let everything = Unconstrain {
        foreign_keys: t.foreign_keys.iter().map(|f| f.name.clone()).collect(),
        primary_key: true,
        indexes: vec!["ix_content_item_parent".into(), "uq_author_order".into()],
        checks: Vec::new(),
    };
    let fks_only = Unconstrain {
        foreign_keys: everything.foreign_keys.clone(),
        ..Unconstrain::default()
    };
    let rest = Unconstrain {
        foreign_keys: Vec::new(),
        ..everything.clone()
    };
    let u = unicode_table();
    let out = format!(
        "-- everything at once\n{}\n-- foreign keys (the stage's first pass)\n{}\n-- the rest\n{}\n-- a unicode table's key\n{}\n-- nothing to drop\n{}",
        sql(&b.unconstrain_sql(&t, &everything)),
        sql(&b.unconstrain_sql(&t, &fks_only)),
        sql(&b.unconstrain_sql(&t, &rest)),
        sql(&b.unconstrain_sql(
            &u,
            &Unconstrain {
                primary_key: true,
                ..Unconstrain::default()
            }
        )),
        sql(&b.unconstrain_sql(&t, &Unconstrain::default())),
    );
    insta::assert_snapshot!("mysql_unconstrain", out);
}

#[test]
fn mysql_swap() {
    let b = data();
    let out = sql(&b.swap_sql(&shadowed(), &swaps("CHAR(32)"), &drop_work()));
    insta::assert_snapshot!("mysql_swap", out);
}

/// A key that is not the table's first column and a unicode name.
#[test]
fn mysql_swap_unicode_key_not_first() {
    let mut t = unicode_table();
    t.columns
        .push(col("clé_ipk_copy", "bigint", "bigint(20) unsigned", true));
    t.columns.push(work("clé_upk_copy"));
    let swaps = vec![Swap {
        column: "clé".into(),
        shadow: "clé_upk_copy".into(),
        uuid_type: "BINARY(16)".into(),
        nullable: false,
    }];
    let out = sql(&data().swap_sql(&t, &swaps, &["clé_ipk_copy".into()]));
    insta::assert_snapshot!("mysql_swap_unicode_key_not_first", out);
}

/// Re-runs: a table whose swap is done needs nothing; a table where only some of the work is
/// left (author_id already swapped, parent_id's integer column already gone, the work column
/// still there) gets only what is left.
#[test]
fn mysql_swap_rerun() {
    let b = data();
    let mut done = content_item();
    for c in &mut done.columns {
        if ["id", "parent_id", "author_id"].contains(&c.name.as_str()) {
            *c = col(&c.name, "char", "char(32)", c.nullable);
        }
    }
    let mut half = shadowed();
    half.columns
        .retain(|c| !["id", "author_id_ufk_copy", "parent_id"].contains(&c.name.as_str()));
    for c in &mut half.columns {
        if c.name == "author_id" {
            *c = col("author_id", "char", "char(32)", false);
        }
    }
    let names: Vec<&str> = half.columns.iter().map(|c| c.name.as_str()).collect();
    let out = format!(
        "-- swapped already\n{}\n-- half-swapped, columns: {}\n{}",
        sql(&b.swap_sql(&done, &swaps("CHAR(32)"), &drop_work())),
        names.join(", "),
        sql(&b.swap_sql(&half, &swaps("CHAR(32)"), &drop_work())),
    );
    insta::assert_snapshot!("mysql_swap_rerun", out);
}

#[test]
fn mysql_derive_table_per_uuid_format() {
    let b = data();
    let d = MysqlDialect;
    let mut out = Vec::new();
    for format in [
        UuidFormat::Char32,
        UuidFormat::Char36,
        UuidFormat::Binary16,
        UuidFormat::Native,
    ] {
        let ty = d.uuid_type(format).unwrap();
        out.push(format!("-- {format:?}: {ty}"));
        out.push(sql(&b
            .derive_table_sql(&source(), &content_item(), &swaps(&ty))
            .unwrap()));
    }
    insta::assert_snapshot!("mysql_derive_table_per_uuid_format", out.join("\n"));
}

#[test]
fn mysql_derive_constraints() {
    let b = data();
    let mut t = content_item();
    t.foreign_keys.push(ForeignKey {
        ref_schema: Some("shared db".into()),
        on_delete: "SET NULL".into(),
        on_update: "NO ACTION".into(),
        ..fk("fk_content_item_shared", "we`ird", "currency", "code")
    });
    t.foreign_keys.push(ForeignKey {
        name: "fk_composite".into(),
        columns: vec!["author_id".into(), "order".into()],
        ref_schema: None,
        ref_table: "naïve 表".into(),
        ref_columns: vec!["clé".into(), "label".into()],
        on_delete: "RESTRICT".into(),
        on_update: "CASCADE".into(),
    });
    let out = format!(
        "{}\n-- no foreign keys\n{}",
        sql(&b.derive_constraints_sql(&t, &[])),
        sql(&b.derive_constraints_sql(&unicode_table(), &[]))
    );
    insta::assert_snapshot!("mysql_derive_constraints", out);
}

#[test]
fn mysql_triggers_set_aside_and_restored() {
    let b = data();
    let trigger = Trigger {
        name: "trg_content_item`audit".into(),
        table: "content_item".into(),
        create_sql: "CREATE DEFINER=`app`@`%` TRIGGER `trg_content_item``audit` AFTER INSERT ON `content_item` FOR EACH ROW INSERT INTO audit (msg) VALUES ('it''s \\\\ new')".into(),
        setup: vec!["SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'".into()],
        runs_as: Some("app@%".into()),
        enabled: None,
    };
    let out = format!(
        "-- set aside\n{}\n-- restored\n{}\n-- created\n{}",
        sql(&b.set_aside_trigger_sql(&trigger)),
        sql(&b.restore_trigger_sql(&trigger)),
        sql(&b.create_trigger_sql(&trigger)),
    );
    insta::assert_snapshot!("mysql_triggers_set_aside_and_restored", out);
}

#[test]
fn mysql_dialect_bulk_session() {
    let d = MysqlDialect;
    let out = format!(
        "-- rows in key order\n{}\n-- unordered rows\n{}\n-- checks back on\n{}",
        sql(&d.bulk_session(Arrival::InKeyOrder)),
        sql(&d.bulk_session(Arrival::Unordered)),
        sql(&d.checked_session()),
    );
    insta::assert_snapshot!("mysql_dialect_bulk_session", out);
}

#[test]
fn mysql_dialect_add_columns() {
    let d = MysqlDialect;
    let cols = [
        ("id_ipk_copy".to_string(), "int(10) unsigned".to_string()),
        ("id_upk_copy".to_string(), "CHAR(32)".to_string()),
        ("we`ird_ufk_copy".to_string(), "CHAR(32)".to_string()),
    ];
    let out = format!(
        "{}\n-- a unicode table\n{}\n-- no columns\n{}",
        sql(&d.add_columns_sql("content_item", &cols)),
        sql(&d.add_columns_sql("naïve 表", &cols[1..2])),
        sql(&d.add_columns_sql("content_item", &[])),
    );
    insta::assert_snapshot!("mysql_dialect_add_columns", out);
}

#[test]
fn mysql_dialect_map_to_column() {
    let d = MysqlDialect;
    let mut out = Vec::new();
    for column in [
        UuidFormat::Char32,
        UuidFormat::Char36,
        UuidFormat::Binary16,
        UuidFormat::Native,
    ] {
        let map = d.map_format(column);
        out.push(format!(
            "{column:?} column, {map:?} map: {}",
            d.map_to_column_sql("p1.new_id", map, column)
        ));
    }
    insta::assert_snapshot!("mysql_dialect_map_to_column", out.join("\n"));
}

/// The columns of swap's fill of content_item: its own key, two references, plain values.
pub fn fill_columns(d: &dyn Dialect) -> Vec<FillColumn> {
    let map = |t: &str| d.q(&format!("_rekey_map_{t}"));
    let column = |name: &str, from: FillFrom| FillColumn {
        name: name.into(),
        from,
    };
    vec![
        column(
            "id",
            FillFrom::OwnKey {
                map: map("content_item"),
            },
        ),
        column(
            "parent_id",
            FillFrom::Reference {
                map: map("content_item"),
            },
        ),
        column("author_id", FillFrom::Reference { map: map("user") }),
        column("order", FillFrom::Value),
        column("we`ird", FillFrom::Value),
        column("title", FillFrom::Value),
    ]
}

#[test]
fn mysql_fill_insert_select() {
    let d = MysqlDialect;
    let t = content_item();
    let mut out = Vec::new();
    for format in [UuidFormat::Char32, UuidFormat::Char36, UuidFormat::Native] {
        let job = FillJob {
            table: &t,
            columns: fill_columns(&d),
            order_by: Some("id".into()),
            format,
            arrival: Arrival::InKeyOrder,
            unique_keys: &[],
            marker: "/* rekey:0123456789abcdef */ ",
            resume_after: None,
            on_chunk: &|_| Ok(()),
        };
        out.push(format!(
            "-- {format:?}\n{};",
            job.insert_select_sql(&d, &d.q("legacy")).unwrap()
        ));
    }
    // A table that is not converted (no own key, no order) with one reference.
    let plain = unicode_table();
    let job = FillJob {
        table: &plain,
        columns: vec![
            FillColumn {
                name: "label".into(),
                from: FillFrom::Value,
            },
            FillColumn {
                name: "clé".into(),
                from: FillFrom::Reference {
                    map: d.q("_rekey_map_naïve 表"),
                },
            },
        ],
        order_by: None,
        format: UuidFormat::Binary16,
        arrival: Arrival::InKeyOrder,
        unique_keys: &[],
        marker: "",
        resume_after: None,
        on_chunk: &|_| Ok(()),
    };
    out.push(format!(
        "-- Binary16, not converted\n{};",
        job.insert_select_sql(&d, &d.q("legacy")).unwrap()
    ));
    insta::assert_snapshot!("mysql_fill_insert_select", out.join("\n"));
}

/// New keys computed from old keys in SQL: each version and format, as swap writes them.
#[test]
fn mysql_derived_key_sql() {
    use rekey::options::UuidVersion;
    use rekey::uuidgen::DerivedKey;
    let d = MysqlDialect;
    let mut out = Vec::new();
    for version in [UuidVersion::V7, UuidVersion::V4] {
        let spec = DerivedKey {
            secret: rekey::uuidgen::Secret::from_seed(42),
            base_ms: 946_684_800_000,
            table: "naïve `user`".into(),
            version,
        };
        for format in [
            UuidFormat::Char32,
            UuidFormat::Char36,
            UuidFormat::Binary16,
            UuidFormat::Native,
        ] {
            out.push(format!(
                "-- {version:?} {format:?}\n{}",
                d.derived_key_sql("s.`id`", &spec, format).unwrap()
            ));
        }
    }
    insta::assert_snapshot!(out.join("\n"));
}

/// The run's secret never reaches the text of a statement (the processlist, pg_stat_activity
/// and the servers' logs show that text): the fill reads it from its session, which gets it as
/// a bound parameter. On MySQL and PostgreSQL, raw and hex-encoded, in every version and format,
/// in the fill's statements as a dry run shows them.
#[test]
fn derived_keys_keep_the_secret_out_of_the_sql() {
    use rekey::backend::postgres::PostgresDialect;
    use rekey::backend::Load;
    use rekey::options::UuidVersion;
    use rekey::uuidgen::{DerivedKey, Secret};
    let secret = Secret::generate().unwrap();
    let raw = secret.text().to_string();
    let hex: String = raw.bytes().map(|b| format!("{b:02x}")).collect();
    let t = content_item();
    let mut texts = Vec::new();
    for version in [UuidVersion::V7, UuidVersion::V4] {
        let spec = DerivedKey {
            secret: secret.clone(),
            base_ms: 946_684_800_000,
            table: "content_item".into(),
            version,
        };
        for format in [
            UuidFormat::Char32,
            UuidFormat::Char36,
            UuidFormat::Binary16,
            UuidFormat::Native,
        ] {
            let dialects: [&dyn Dialect; 2] = [&MysqlDialect, &PostgresDialect];
            for d in dialects {
                texts.push(d.derived_key_sql("s.id", &spec, format).unwrap());
                texts.push(d.derived_key_secret_sql().unwrap().to_string());
            }
            let job = FillJob {
                table: &t,
                columns: vec![FillColumn {
                    name: "id".into(),
                    from: FillFrom::Derived(spec.clone()),
                }],
                order_by: Some("id".into()),
                format,
                arrival: Arrival::InKeyOrder,
                unique_keys: &[],
                marker: "",
                resume_after: None,
                on_chunk: &|_| Ok(()),
            };
            let statements = data().fill_table_sql(&source(), &job).unwrap();
            assert!(
                statements.iter().any(|s| s.starts_with("SET @rekey_k")),
                "the fill sets the secret on its session: {statements:?}"
            );
            texts.extend(statements);
        }
    }
    for text in &texts {
        assert!(
            !text.contains(&raw) && !text.contains(&hex),
            "the secret is in: {text}"
        );
    }
}
