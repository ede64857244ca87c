//! Snapshots of the SQLite backend's generated SQL (no server; the catalog is read from files in a
//! temp dir): clones from stored CREATE statements, the table rebuilds of unconstrain and swap
//! (also re-run and half-swapped), derive-final per UUID format, triggers, and swap's fill, on
//! STRICT and WITHOUT ROWID tables, AUTOINCREMENT, CHECKs on keys and quoted/unicode names. Every
//! snapshotted statement is also executed, so the SQL is known to be valid SQLite.

use std::path::Path;

use rekey::backend::sqlite::{SqliteBackend, SqliteDialect};
use rekey::backend::{
    Admin, Arrival, Catalog, Ddl, Dialect, FillColumn, FillFrom, FillJob, Load, Swap, Unconstrain,
};
use rekey::model::{Column, Schema, Table, Trigger};
use rekey::options::UuidFormat;
use rekey::url::DbUrl;

/// SOURCE: one table per shape the rebuilds must keep.
const SOURCE: &str = r#"
-- A reserved word, AUTOINCREMENT, a CHECK on the key (column and table level), a collation.
CREATE TABLE "order" (
  id INTEGER PRIMARY KEY AUTOINCREMENT CHECK (id > 0),
  code TEXT COLLATE NOCASE NOT NULL UNIQUE,
  total REAL NOT NULL DEFAULT 0,
  CHECK (length(code) > 0),
  CONSTRAINT ck_order_range CHECK (id < 1000000000)
);
-- Quoted and unicode names, STRICT, a named UNIQUE over a reference, a CHECK on another
-- column that mentions the key, a generated column.
CREATE TABLE "naïve 表" (
  "clé ""x""" INTEGER PRIMARY KEY,
  "order_id" INTEGER NOT NULL REFERENCES "order" (id) ON DELETE CASCADE,
  label TEXT,
  "rank" INT CHECK ("rank" <> "clé ""x"""),
  shout TEXT GENERATED ALWAYS AS (upper(label)) VIRTUAL,
  CONSTRAINT "uq naïve" UNIQUE ("order_id", label)
) STRICT;
CREATE INDEX "ix naïve label" ON "naïve 表" (label);
CREATE INDEX ix_naive_order ON "naïve 表" ("order_id");
-- WITHOUT ROWID and STRICT, a self reference.
CREATE TABLE kv (
  k INTEGER NOT NULL PRIMARY KEY,
  parent_k INTEGER REFERENCES kv (k),
  v BLOB
) WITHOUT ROWID, STRICT;
-- A many-to-many table: composite key of two references (kept), WITHOUT ROWID.
CREATE TABLE tag_link (
  order_id INTEGER NOT NULL,
  kv_k INTEGER NOT NULL,
  PRIMARY KEY (order_id, kv_k),
  FOREIGN KEY (order_id) REFERENCES "order" (id),
  CONSTRAINT fk_tag_kv FOREIGN KEY (kv_k) REFERENCES kv (k) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX ix_tag_link_kv ON tag_link (kv_k);
CREATE TRIGGER "trg order's total" AFTER UPDATE OF total ON "order"
BEGIN
  UPDATE kv SET v = NULL WHERE k = NEW.id;
END;
"#;

/// What each table's conversion changes: (table, key or None, references).
const CONVERSIONS: [(&str, Option<&str>, &[&str]); 4] = [
    ("order", Some("id"), &[]),
    ("naïve 表", Some("clé \"x\""), &["order_id"]),
    ("kv", Some("k"), &["parent_k"]),
    ("tag_link", None, &["order_id", "kv_k"]),
];

fn backend(path: &Path) -> SqliteBackend {
    SqliteBackend::new(DbUrl::sqlite(path.to_path_buf()))
}

fn new_database(path: &Path, script: &str) -> SqliteBackend {
    let b = backend(path);
    b.create_database(None, false).unwrap();
    if !script.is_empty() {
        b.connect().unwrap().execute(script).unwrap();
    }
    b
}

fn describe(b: &SqliteBackend) -> Schema {
    let mut s = b.connect().unwrap();
    b.describe(s.as_mut()).unwrap()
}

fn run_all(b: &SqliteBackend, statements: &[String]) {
    let mut s = b.connect().unwrap();
    for sql in statements {
        s.execute(sql)
            .unwrap_or_else(|e| panic!("SQLite rejected the generated SQL: {e}\n{sql}"));
    }
}

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

/// The output of `f` for each table, under a header line naming it.
fn per_table(tables: &[&str], mut f: impl FnMut(&str) -> String) -> String {
    tables
        .iter()
        .map(|t| format!("-- {t}\n{}", f(t)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn tables() -> Vec<&'static str> {
    CONVERSIONS.iter().map(|(t, _, _)| *t).collect()
}

fn shadow(column: &str, suffix: &str) -> String {
    format!("{column}{suffix}")
}

fn swaps(table: &str, uuid_type: &str, source: &Table) -> (Vec<Swap>, Vec<String>) {
    let (_, key, refs) = CONVERSIONS.iter().find(|(t, _, _)| *t == table).unwrap();
    let mut swaps = Vec::new();
    let mut drop = Vec::new();
    if let Some(k) = key {
        swaps.push(Swap {
            column: k.to_string(),
            shadow: shadow(k, "_upk_copy"),
            uuid_type: uuid_type.into(),
            nullable: false,
        });
        drop.push(shadow(k, "_ipk_copy"));
    }
    for r in refs.iter() {
        swaps.push(Swap {
            column: r.to_string(),
            shadow: shadow(r, "_ufk_copy"),
            uuid_type: uuid_type.into(),
            nullable: source.column(r).unwrap().nullable,
        });
    }
    (swaps, drop)
}

/// A temp dir with SOURCE, and DB_DATA built from it by clone and shadow/link's added columns.
struct Files {
    dir: tempfile::TempDir,
    source: Schema,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        let src = new_database(&dir.path().join("source.db"), SOURCE);
        let source = describe(&src);
        Files { dir, source }
    }

    fn table(&self, name: &str) -> &Table {
        self.source.table(name).unwrap()
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// DB_DATA after clone, shadow and link: every table with its work columns added.
    fn data(&self) -> SqliteBackend {
        let data = new_database(&self.path("data.db"), "");
        let d = SqliteDialect;
        for name in tables() {
            let t = self.table(name);
            run_all(&data, &data.clone_table_sql(data.url(), t).unwrap());
            let (swaps, drop) = swaps(name, "CHAR(32)", t);
            let added: Vec<(String, String)> = drop
                .iter()
                .map(|c| (c.clone(), d.added_column_type(Some(t), "INTEGER")))
                .chain(
                    swaps
                        .iter()
                        .map(|s| (s.shadow.clone(), d.added_column_type(Some(t), &s.uuid_type))),
                )
                .collect();
            run_all(&data, &d.add_columns_sql(name, &added));
        }
        data
    }
}

#[test]
fn sqlite_clone_table() {
    let f = Files::new();
    let data = new_database(&f.path("data.db"), "");
    let out = per_table(&tables(), |t| {
        let statements = data.clone_table_sql(data.url(), f.table(t)).unwrap();
        run_all(&data, &statements);
        sql(&statements)
    });
    insta::assert_snapshot!("sqlite_clone_table", out);
}

/// A table whose stored statement is missing is written from the neutral model.
#[test]
fn sqlite_clone_table_from_the_model() {
    let f = Files::new();
    let data = new_database(&f.path("data.db"), "");
    let mut t = f.table("naïve 表").clone();
    t.create_sql = None;
    t.columns.retain(|c| c.generated.is_none());
    t.columns.push(Column {
        name: "with \"default\"".into(),
        data_type: "text".into(),
        column_type: "TEXT".into(),
        nullable: true,
        default: Some("'it''s'".into()),
        ..Column::default()
    });
    let statements = data.clone_table_sql(data.url(), &t).unwrap();
    run_all(&data, &statements);
    insta::assert_snapshot!("sqlite_clone_table_from_the_model", sql(&statements));
}

#[test]
fn sqlite_add_columns() {
    let f = Files::new();
    let d = SqliteDialect;
    let out = per_table(&["order", "kv"], |t| {
        let table = f.table(t);
        let cols = vec![
            (
                "id_upk_copy".to_string(),
                d.added_column_type(Some(table), "CHAR(32)"),
            ),
            (
                "x_ufk_copy".to_string(),
                d.added_column_type(Some(table), "BLOB"),
            ),
        ];
        sql(&d.add_columns_sql(t, &cols))
    });
    insta::assert_snapshot!("sqlite_add_columns", out);
}

/// What the unconstrain stage asks for: every foreign key, the primary key, every index.
#[test]
fn sqlite_unconstrain_everything() {
    let f = Files::new();
    let data = f.data();
    let shape = describe(&data);
    let out = per_table(&tables(), |t| {
        let table = shape.table(t).unwrap();
        let what = Unconstrain {
            foreign_keys: table.foreign_keys.iter().map(|f| f.name.clone()).collect(),
            primary_key: !table.primary_key.is_empty(),
            indexes: table.indexes.iter().map(|i| i.name.clone()).collect(),
            checks: Vec::new(),
        };
        let statements = data.unconstrain_sql(table, &what);
        run_all(&data, &statements);
        sql(&statements)
    });
    insta::assert_snapshot!("sqlite_unconstrain_everything", out);
}

/// Less than everything: CREATE INDEX indexes only (dropped in place), or one named UNIQUE
/// constraint and one foreign key (a rebuild that keeps the rest).
#[test]
fn sqlite_unconstrain_partial() {
    let f = Files::new();
    let data = f.data();
    let shape = describe(&data);
    let naive = shape.table("naïve 表").unwrap();
    let only_indexes = Unconstrain {
        indexes: vec!["ix naïve label".into(), "ix_naive_order".into()],
        ..Unconstrain::default()
    };
    let tag_link = shape.table("tag_link").unwrap();
    let one_fk = Unconstrain {
        foreign_keys: vec!["fk_tag_kv".into()],
        ..Unconstrain::default()
    };
    let unique = Unconstrain {
        indexes: vec!["uq naïve".into()],
        ..Unconstrain::default()
    };
    let out = format!(
        "-- naïve 表: CREATE INDEX indexes\n{}\n-- tag_link: one of two foreign keys\n{}\n-- naïve 表: the UNIQUE constraint\n{}",
        sql(&data.unconstrain_sql(naive, &only_indexes)),
        sql(&data.unconstrain_sql(tag_link, &one_fk)),
        sql(&data.unconstrain_sql(naive, &unique)),
    );
    for (t, what) in [(naive, &only_indexes), (tag_link, &one_fk)] {
        run_all(&data, &data.unconstrain_sql(t, what));
    }
    insta::assert_snapshot!("sqlite_unconstrain_partial", out);
}

/// Swap after unconstrain (as the pipeline runs it), then the same swap again (resume).
#[test]
fn sqlite_swap() {
    let f = Files::new();
    let data = f.data();
    let shape = describe(&data);
    for t in tables() {
        let table = shape.table(t).unwrap();
        let what = Unconstrain {
            foreign_keys: table.foreign_keys.iter().map(|f| f.name.clone()).collect(),
            primary_key: !table.primary_key.is_empty(),
            indexes: table.indexes.iter().map(|i| i.name.clone()).collect(),
            checks: Vec::new(),
        };
        run_all(&data, &data.unconstrain_sql(table, &what));
    }
    let shape = describe(&data);
    let out = per_table(&tables(), |t| {
        let (swaps, drop) = swaps(t, "CHAR(32)", f.table(t));
        let statements = data.swap_sql(shape.table(t).unwrap(), &swaps, &drop);
        run_all(&data, &statements);
        sql(&statements)
    });
    let swapped = describe(&data);
    let again = per_table(&tables(), |t| {
        let (swaps, drop) = swaps(t, "CHAR(32)", f.table(t));
        sql(&data.swap_sql(swapped.table(t).unwrap(), &swaps, &drop))
    });
    insta::assert_snapshot!("sqlite_swap", format!("{out}\n-- re-run\n{again}"));
}

/// Swap straight from SOURCE's shape plus work columns, as a dry run sees it: keys and indexes on
/// converted columns must not come back.
#[test]
fn sqlite_swap_from_source_shape() {
    let f = Files::new();
    let out = per_table(&tables(), |t| {
        let mut table = f.table(t).clone();
        let (swaps, drop) = swaps(t, "CHAR(36)", &table);
        for name in swaps.iter().map(|s| &s.shadow).chain(&drop) {
            table.columns.push(Column {
                name: name.clone(),
                ..Column::default()
            });
        }
        sql(&backend(&f.path("none.db")).swap_sql(&table, &swaps, &drop))
    });
    insta::assert_snapshot!("sqlite_swap_from_source_shape", out);
}

/// A table a killed run left half-swapped: the integer key column is gone, its shadow is still
/// there, the reference is swapped already.
#[test]
fn sqlite_swap_half_swapped() {
    let f = Files::new();
    let data = new_database(
        &f.path("half.db"),
        r#"CREATE TABLE "naïve 表" (
  "clé ""x""_upk_copy" TEXT,
  "order_id" TEXT NOT NULL,
  label TEXT,
  "clé ""x""_ipk_copy" INTEGER
) STRICT;"#,
    );
    let shape = describe(&data);
    let (swaps, drop) = swaps("naïve 表", "CHAR(32)", f.table("naïve 表"));
    let statements = data.swap_sql(shape.table("naïve 表").unwrap(), &swaps, &drop);
    run_all(&data, &statements);
    let cols: Vec<String> = describe(&data)
        .table("naïve 表")
        .unwrap()
        .columns
        .iter()
        .map(|c| format!("{} {}", c.name, c.column_type))
        .collect();
    insta::assert_snapshot!(
        "sqlite_swap_half_swapped",
        format!(
            "{}\n-- columns after: {}",
            sql(&statements),
            cols.join(", ")
        )
    );
}

#[test]
fn sqlite_derive_table_per_uuid_format() {
    let f = Files::new();
    let d = SqliteDialect;
    let mut out = Vec::new();
    for format in [UuidFormat::Char32, UuidFormat::Char36, UuidFormat::Binary16] {
        let ty = d.uuid_type(format).unwrap();
        let fin = new_database(&f.path(&format!("final-{format:?}.db")), "");
        out.push(format!("-- {format:?}: {ty}"));
        out.push(per_table(&tables(), |t| {
            let table = f.table(t);
            let (swaps, _) = swaps(t, &ty, table);
            let statements = fin.derive_table_sql(fin.url(), table, &swaps).unwrap();
            run_all(&fin, &statements);
            let constraints = fin.derive_constraints_sql(table, &[]);
            assert!(
                constraints.is_empty(),
                "SQLite declares foreign keys inline"
            );
            sql(&statements)
        }));
    }
    out.push(format!(
        "-- Native\n{}",
        d.uuid_type(UuidFormat::Native).unwrap_err()
    ));
    insta::assert_snapshot!("sqlite_derive_table_per_uuid_format", out.join("\n"));
}

#[test]
fn sqlite_triggers_set_aside_and_restored() {
    let f = Files::new();
    let b = backend(&f.path("source.db"));
    let trigger: &Trigger = &f.source.triggers[0];
    let out = format!(
        "-- set aside\n{}\n-- restored\n{}",
        sql(&b.set_aside_trigger_sql(trigger)),
        sql(&b.restore_trigger_sql(trigger)),
    );
    insta::assert_snapshot!("sqlite_triggers_set_aside_and_restored", out);
}

#[test]
fn sqlite_fill() {
    let f = Files::new();
    let d = SqliteDialect;
    let table = f.table("naïve 表");
    let column = |name: &str, from: FillFrom| FillColumn {
        name: name.into(),
        from,
    };
    let job = FillJob {
        table,
        columns: vec![
            column(
                "clé \"x\"",
                FillFrom::OwnKey {
                    map: d.q("_rekey_map_naïve 表"),
                },
            ),
            column(
                "order_id",
                FillFrom::Reference {
                    map: d.q("_rekey_map_order"),
                },
            ),
            column("label", FillFrom::Value),
            column("rank", FillFrom::Value),
        ],
        order_by: Some("clé \"x\"".into()),
        format: UuidFormat::Char32,
        arrival: Arrival::InKeyOrder,
        unique_keys: &[],
        marker: "/* rekey:0123456789abcdef */ ",
        resume_after: None,
        on_chunk: &|_| Ok(()),
    };
    // A path with the characters a SQLite URI and a literal must escape.
    let source = DbUrl::sqlite("/srv/legacy it's/50%#1?.db".into());
    let out = format!(
        "-- insert_select_sql\n{};\n-- fill_table_sql\n{}",
        job.insert_select_sql(&d, &d.q("rekey_source")).unwrap(),
        sql(&backend(&f.path("data.db"))
            .fill_table_sql(&source, &job)
            .unwrap()),
    );
    insta::assert_snapshot!("sqlite_fill", out);
}
