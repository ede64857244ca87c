//! Unit tests of the SQLite backend against real files: catalog, values, rebuilds and their
//! atomicity, re-runs of finished work.

use std::path::Path;

use super::dialect::type_facts;
use super::*;
use crate::backend::{Admin, Catalog, Ddl, Session, Swap, Unconstrain, Value};
use crate::model::Column;
use crate::url::DbUrl;

const SOURCE_SQL: &str = include_str!("../../../fixtures/blog/sqlite/source.sql");

fn backend(path: &Path) -> SqliteBackend {
    SqliteBackend::new(DbUrl::sqlite(path.to_path_buf()))
}

/// A new database file built from `script`.
fn database(dir: &Path, name: &str, script: &str) -> SqliteBackend {
    let b = backend(&dir.join(name));
    b.create_database(None, false).unwrap();
    b.connect().unwrap().execute(script).unwrap();
    b
}

fn run_all(s: &mut dyn Session, statements: &[String]) {
    for sql in statements {
        s.execute(sql).unwrap();
    }
}

#[test]
fn type_facts_of_declared_types() {
    let f = type_facts("varchar ( 190 )");
    assert_eq!(
        (f.data_type.as_str(), f.max_length, f.precision),
        ("varchar", Some(190), None)
    );
    let f = type_facts("DECIMAL(12, 2)");
    assert_eq!(
        (f.data_type.as_str(), f.max_length, f.precision, f.scale),
        ("decimal", None, Some(12), Some(2))
    );
    let f = type_facts("INT UNSIGNED");
    assert_eq!(f.data_type, "int");
    for t in [
        "INTEGER",
        "int",
        "BIGINT",
        "SMALLINT",
        "TINYINT",
        "MEDIUMINT",
    ] {
        let c = Column {
            data_type: type_facts(t).data_type,
            ..Column::default()
        };
        assert!(c.is_integer(), "{t}");
    }
    assert_eq!(type_facts("CHAR(32)").max_length, Some(32));
    assert_eq!(type_facts("").data_type, "");
}

#[test]
fn describes_the_blog_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let b = database(dir.path(), "source.db", SOURCE_SQL);
    let mut s = b.connect().unwrap();
    let schema = b.describe(s.as_mut()).unwrap();
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert!(!names.iter().any(|n| n.starts_with("sqlite_")), "{names:?}");
    assert_eq!(names.len(), 10);

    let user = schema.table("user").unwrap();
    let id = user.column("id").unwrap();
    assert!(id.is_integer() && !id.nullable && id.auto_increment);
    assert_eq!(user.primary_key, ["id"]);
    assert_eq!(user.estimated_rows, 50);
    let email = user.column("email").unwrap();
    assert_eq!(
        (email.data_type.as_str(), email.max_length, email.nullable),
        ("varchar", Some(190), false)
    );
    let unique = &user.indexes[0];
    assert_eq!(unique.name, "uq_user_email");
    assert!(unique.unique && unique.create_sql.is_none());
    assert_eq!(
        user.column("created_at").unwrap().default.as_deref(),
        Some("CURRENT_TIMESTAMP")
    );

    let item = schema.table("content_item").unwrap();
    let price = item.column("price").unwrap();
    assert_eq!(
        (price.numeric_precision, price.numeric_scale),
        (Some(12), Some(2))
    );
    let parent = item.column("parent_id").unwrap();
    assert!(parent.is_integer() && parent.nullable);
    let fks: Vec<(&str, &str, &str)> = item
        .foreign_keys
        .iter()
        .map(|f| (f.name.as_str(), f.ref_table.as_str(), f.on_delete.as_str()))
        .collect();
    assert_eq!(
        fks,
        [
            ("fk_content_item_parent", "content_item", "CASCADE"),
            ("fk_content_item_author", "user", "SET NULL")
        ]
    );
    let ix = item
        .indexes
        .iter()
        .find(|i| i.name == "ix_content_item_author_published")
        .unwrap();
    assert_eq!(ix.columns, ["author_id", "published_on"]);
    assert!(ix
        .create_sql
        .as_deref()
        .unwrap()
        .starts_with("CREATE INDEX"));

    let mtm = schema.table("user_mtm_user_group").unwrap();
    assert_eq!(mtm.primary_key, ["user_id", "user_group_id"]);
    assert!(mtm.indexes.iter().all(|i| i.create_sql.is_some()));
    let alembic = schema.table("alembic_version").unwrap();
    assert!(
        alembic.indexes.is_empty(),
        "the key's index is the primary key"
    );
}

#[test]
fn unnamed_foreign_keys_get_names_and_parent_keys() {
    let dir = tempfile::tempdir().unwrap();
    let b = database(
        dir.path(),
        "a.db",
        "CREATE TABLE P (ID INTEGER PRIMARY KEY);
         CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INT REFERENCES p ON UPDATE CASCADE);",
    );
    let mut s = b.connect().unwrap();
    let schema = b.describe(s.as_mut()).unwrap();
    let fk = &schema.table("c").unwrap().foreign_keys[0];
    assert_eq!(fk.name, "fk_c_0");
    assert_eq!(fk.ref_table, "P");
    assert_eq!(fk.ref_columns, ["ID"]);
    assert_eq!(fk.on_update, "CASCADE");
}

#[test]
fn values_keep_their_storage_class_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let b = database(dir.path(), "v.db", "CREATE TABLE v (a, b, c, d, e)");
    let mut s = b.connect().unwrap();
    let rows = vec![
        vec![
            Value::Int(i64::MIN),
            Value::Real(f64::from_bits(1)),
            Value::Text(b"a\0b\tc\r\n\\N".to_vec()),
            Value::Blob((0..=255).collect()),
            Value::Null,
        ],
        vec![
            Value::Real(f64::MAX),
            Value::Real(-0.0),
            Value::Text(Vec::new()),
            Value::Blob(Vec::new()),
            Value::Text(b"NULL \xff\xfe not UTF-8".to_vec()),
        ],
    ];
    let cols: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
    let n = s
        .insert_rows("\"v\"", &cols, &mut rows.clone().into_iter().map(Ok))
        .unwrap();
    assert_eq!(n, 2);
    let back = s
        .query_all("SELECT a, b, c, d, e FROM v ORDER BY rowid")
        .unwrap();
    assert_eq!(back.len(), 2);
    for (got, want) in back.iter().zip(&rows) {
        for (g, w) in got.iter().zip(want) {
            match (g, w) {
                (Value::Real(x), Value::Real(y)) => assert_eq!(x.to_bits(), y.to_bits()),
                _ => assert_eq!(g, w),
            }
        }
    }
    // DDL reports no rows, a DELETE its own count.
    assert_eq!(s.execute("CREATE TABLE w (x)").unwrap(), 0);
    assert_eq!(s.execute("DELETE FROM v").unwrap(), 2);
}

#[test]
fn a_missing_file_is_an_error_until_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.db");
    let b = backend(&path);
    assert!(b.connect().is_err());
    assert!(
        !path.exists(),
        "connect must not create a database nobody asked for"
    );
    assert!(b.create_database(None, false).unwrap().is_empty());
    b.connect().unwrap();
    assert!(b.database_exists().unwrap());
    b.drop_database().unwrap();
    assert!(!path.exists());
}

const SHADOWED: &str = "
CREATE TABLE p (id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT COLLATE NOCASE NOT NULL UNIQUE,
  n INT CHECK (n >= 0), CHECK (length(code) > 0));
CREATE TABLE c (
  id INTEGER PRIMARY KEY,
  p_id INTEGER NOT NULL REFERENCES p (id) ON DELETE CASCADE,
  note TEXT DEFAULT 'x',
  doubled INT GENERATED ALWAYS AS (length(note) * 2) VIRTUAL,
  CONSTRAINT uq_c UNIQUE (p_id, note)
);
CREATE INDEX ix_c_note ON c (note);
CREATE INDEX ix_c_p ON c (p_id);
INSERT INTO p (id, code, n) VALUES (1, 'a', 1), (2, 'b', 2);
INSERT INTO c (id, p_id, note) VALUES (10, 1, 'one'), (11, 2, NULL);
ALTER TABLE c ADD COLUMN id_ipk_copy INTEGER NULL;
ALTER TABLE c ADD COLUMN id_upk_copy CHAR(32) NULL;
ALTER TABLE c ADD COLUMN p_id_ufk_copy CHAR(32) NULL;
UPDATE c SET id_ipk_copy = id, id_upk_copy = printf('%032x', id), p_id_ufk_copy = printf('%032x', p_id);
";

fn shadowed() -> (tempfile::TempDir, SqliteBackend) {
    let dir = tempfile::tempdir().unwrap();
    let b = database(dir.path(), "data.db", SHADOWED);
    (dir, b)
}

fn swaps() -> Vec<Swap> {
    vec![
        Swap {
            column: "id".into(),
            shadow: "id_upk_copy".into(),
            uuid_type: "CHAR(32)".into(),
            nullable: false,
        },
        Swap {
            column: "p_id".into(),
            shadow: "p_id_ufk_copy".into(),
            uuid_type: "CHAR(32)".into(),
            nullable: false,
        },
    ]
}

fn unconstrain_c(b: &SqliteBackend, s: &mut dyn Session) {
    let schema = b.describe(s).unwrap();
    let c = schema.table("c").unwrap();
    let what = Unconstrain {
        foreign_keys: c.foreign_keys.iter().map(|f| f.name.clone()).collect(),
        primary_key: true,
        indexes: vec!["uq_c".into(), "ix_c_p".into()],
        checks: Vec::new(),
    };
    run_all(s, &b.unconstrain_sql(c, &what));
}

#[test]
fn unconstrain_then_swap_keeps_everything_else() {
    let (_dir, b) = shadowed();
    let mut s = b.connect().unwrap();
    unconstrain_c(&b, s.as_mut());
    let schema = b.describe(s.as_mut()).unwrap();
    let c = schema.table("c").unwrap();
    assert!(c.foreign_keys.is_empty() && c.primary_key.is_empty());
    let index_names: Vec<&str> = c.indexes.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(index_names, ["ix_c_note"]);
    assert!(
        !c.column("id").unwrap().nullable,
        "a rowid key keeps NOT NULL"
    );
    // The parent table, not asked for anything, is untouched.
    assert_eq!(schema.table("p").unwrap().primary_key, ["id"]);

    run_all(
        s.as_mut(),
        &b.swap_sql(c, &swaps(), &["id_ipk_copy".to_string()]),
    );
    let schema = b.describe(s.as_mut()).unwrap();
    let c = schema.table("c").unwrap();
    let cols: Vec<(&str, &str, bool)> = c
        .columns
        .iter()
        .map(|x| (x.name.as_str(), x.column_type.as_str(), x.nullable))
        .collect();
    assert_eq!(
        cols,
        [
            ("id", "CHAR(32)", false),
            ("p_id", "CHAR(32)", false),
            ("note", "TEXT", true),
            ("doubled", "INT", true),
        ]
    );
    assert_eq!(c.column("note").unwrap().default.as_deref(), Some("'x'"));
    assert!(c.column("doubled").unwrap().generated.is_some());
    assert_eq!(c.indexes.len(), 1);
    let rows = s
        .query_all("SELECT id, p_id, note, doubled FROM c ORDER BY id")
        .unwrap();
    assert_eq!(
        rows[0],
        [
            Value::Text(format!("{:032x}", 10).into_bytes()),
            Value::Text(format!("{:032x}", 1).into_bytes()),
            Value::Text(b"one".to_vec()),
            Value::Int(6)
        ]
    );
    assert_eq!(rows[1][2], Value::Null);
    // Re-run on the finished table (resume): nothing left to do.
    assert!(b
        .swap_sql(c, &swaps(), &["id_ipk_copy".to_string()])
        .is_empty());
    assert!(b
        .unconstrain_sql(c, &Unconstrain::default())
        .iter()
        .all(|s| s.starts_with("DROP INDEX")));
    let integrity = s.query_all("PRAGMA integrity_check").unwrap();
    assert_eq!(integrity[0][0], Value::Text(b"ok".to_vec()));
}

#[test]
fn a_rebuild_that_fails_half_way_leaves_the_table_as_it_was() {
    let (_dir, b) = shadowed();
    let mut s = b.connect().unwrap();
    let schema = b.describe(s.as_mut()).unwrap();
    let c = schema.table("c").unwrap();
    let mut statements = b.swap_sql(c, &swaps(), &["id_ipk_copy".to_string()]);
    let commit = statements.pop().unwrap();
    assert_eq!(commit, "COMMIT");
    assert!(statements
        .iter()
        .any(|x| x.starts_with("DROP TABLE main.\"c\"")));
    statements.push("CREATE INDEX broken ON c (no_such_column)".into());
    let mut failed = false;
    for sql in &statements {
        if s.execute(sql).is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed);
    let after = b.describe(s.as_mut()).unwrap();
    let c2 = after.table("c").unwrap();
    assert_eq!(c2.columns, c.columns);
    assert!(after.table("_rekey_new_c").is_none());
    assert_eq!(s.query_u64("SELECT COUNT(*) FROM c").unwrap(), 2);
    // The session is usable again: no transaction was left open.
    s.execute("CREATE TABLE after_failure (x)").unwrap();
}

#[test]
fn derived_table_has_uuid_keys_and_keeps_constraints() {
    let dir = tempfile::tempdir().unwrap();
    let src = database(dir.path(), "src.db", SHADOWED);
    let mut s = src.connect().unwrap();
    let schema = src.describe(s.as_mut()).unwrap();
    let fin = backend(&dir.path().join("final.db"));
    fin.create_database(None, false).unwrap();
    let mut f = fin.connect().unwrap();
    for t in &schema.tables {
        let mut t = t.clone();
        t.columns.retain(|c| !c.name.ends_with("_copy"));
        let sw: Vec<Swap> = match t.name.as_str() {
            "c" => swaps(),
            _ => vec![Swap {
                column: "id".into(),
                shadow: String::new(),
                uuid_type: "CHAR(32)".into(),
                nullable: false,
            }],
        };
        run_all(
            f.as_mut(),
            &fin.derive_table_sql(src.url(), &t, &sw).unwrap(),
        );
    }
    let derived = fin.describe(f.as_mut()).unwrap();
    let p = derived.table("p").unwrap();
    let id = p.column("id").unwrap();
    assert_eq!((id.column_type.as_str(), id.nullable), ("CHAR(32)", false));
    assert!(!id.auto_increment);
    assert_eq!(
        p.column("code").unwrap().collation.as_deref(),
        Some("NOCASE")
    );
    let c = derived.table("c").unwrap();
    assert_eq!(c.primary_key, ["id"]);
    assert_eq!(c.foreign_keys[0].on_delete, "CASCADE");
    assert_eq!(c.column("p_id").unwrap().column_type, "CHAR(32)");
    assert!(c.indexes.iter().any(|i| i.name == "uq_c" && i.unique));
    assert_eq!(
        c.indexes.iter().filter(|i| i.create_sql.is_some()).count(),
        2
    );
    let check = f.execute("INSERT INTO p (id, code, n) VALUES ('x', 'y', -1)");
    assert!(check.is_err(), "CHECK constraints are kept");
}

#[test]
fn attach_is_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let src = database(
        dir.path(),
        "src.db",
        "CREATE TABLE t (x); INSERT INTO t VALUES (1);",
    );
    let data = backend(&dir.path().join("data.db"));
    data.create_database(None, false).unwrap();
    let mut s = data.connect().unwrap();
    let q = data.attach(s.as_mut(), src.url(), "src").unwrap().unwrap();
    assert_eq!(q, "\"src\"");
    // Reaching twice is fine.
    data.attach(s.as_mut(), src.url(), "src").unwrap();
    assert_eq!(s.query_u64("SELECT COUNT(*) FROM \"src\".t").unwrap(), 1);
    assert!(s.execute("DELETE FROM \"src\".t").is_err());
    assert!(s.execute("DROP TABLE IF EXISTS t").is_err());
    assert_eq!(s.query_u64("SELECT COUNT(*) FROM \"src\".t").unwrap(), 1);
    // A database never reaches itself.
    assert!(data.attach(s.as_mut(), data.url(), "me").is_err());
}
