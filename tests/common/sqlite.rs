//! SQLite behind the engines' `TestServer` trait: a "server" is a directory of database files,
//! removed with it, so a scenario written once for `Databases<S>` runs on SQLite files too.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::engine::TestServer;
use super::Fingerprint;

/// A directory that holds one test's database files (`<db>.db`).
pub struct Sqlite {
    dir: tempfile::TempDir,
}

impl Sqlite {
    pub fn new() -> Sqlite {
        Sqlite {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, db: &str) -> PathBuf {
        self.dir.path().join(format!("{db}.db"))
    }

    fn open(&self, db: &str) -> Connection {
        Connection::open(self.path(db)).unwrap_or_else(|e| panic!("open {db}: {e}"))
    }
}

/// A value as text, as the other engines' text protocols give it.
fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(b.iter().map(|x| format!("{x:02x}")).collect()),
    }
}

impl TestServer for Sqlite {
    fn tag(&self) -> &'static str {
        "sqlite"
    }
    fn url(&self, db: &str) -> String {
        format!("sqlite://{}", self.path(db).display())
    }
    fn create_database(&self, db: &str) {
        // SQLite creates the file on first open; an empty database is an empty file.
        self.open(db);
    }
    fn drop_database(&self, db: &str) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.path(db).into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
    fn exists(&self, db: &str) -> bool {
        self.path(db).exists()
    }
    fn load(&self, db: &str, sql: &str) {
        self.open(db)
            .execute_batch(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    fn fingerprint(&self, db: &str) -> Fingerprint {
        let c = self.open(db);
        let tables = self.texts(
            db,
            "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
        );
        let mut out = BTreeMap::new();
        for t in tables.into_iter().flatten() {
            let create = c
                .query_row(
                    "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                    [&t],
                    |r| r.get::<_, String>(0),
                )
                .unwrap();
            let mut st = c
                .prepare(&format!(
                    "SELECT * FROM \"{}\" ORDER BY 1",
                    t.replace('"', "\"\"")
                ))
                .unwrap();
            let n = st.column_count();
            let rows = st
                .query_map([], |r| {
                    Ok((0..n)
                        .map(|i| text(r.get_ref(i).unwrap()).map(String::into_bytes))
                        .collect::<Vec<_>>())
                })
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            out.insert(t, (create, rows));
        }
        out
    }
    fn texts(&self, db: &str, sql: &str) -> Vec<Option<String>> {
        let c = self.open(db);
        let mut st = c.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        st.query_map([], |r| Ok(text(r.get_ref(0)?)))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    }
    fn columns(&self, db: &str, table: &str) -> Vec<String> {
        self.texts(
            db,
            &format!(
                "SELECT name FROM pragma_table_info('{}') ORDER BY cid",
                table.replace('\'', "''")
            ),
        )
        .into_iter()
        .flatten()
        .collect()
    }
}
