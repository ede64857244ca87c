//! The PostgreSQL test server (`TestServer` for the postgres integration tests): a reachable
//! server or a loud failure where it is required, throwaway databases and roles, fixtures, and
//! fingerprints of a whole database (rows and catalog objects).
#![allow(dead_code)]

use std::collections::BTreeMap;

use postgres::{Client, NoTls};

use super::engine::{Databases, TestServer};
use super::Fingerprint;

pub const PG_BLOG_SOURCE: &str = include_str!("../../fixtures/blog/postgres/source.sql");
pub const PG_BLOG_FINAL: &str = include_str!("../../fixtures/blog/postgres/final.sql");
pub const PG_SHAPES_SOURCE: &str = include_str!("../../fixtures/shapes/postgres/source.sql");

/// The server's URL, or return from the test (only where it is not required; see `pg_server`).
#[macro_export]
macro_rules! pg_or_skip {
    () => {
        match $crate::common::pg::pg_server() {
            Some(s) => s,
            None => return,
        }
    };
}

/// The server's message of an error (the driver's Display says only "db error").
pub fn db_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

#[derive(Clone)]
pub struct Postgres {
    /// `postgres://user@host:port`, no database.
    pub base: String,
}

/// The server under test: REKEY_TEST_POSTGRES_URL, or postgres on 127.0.0.1:5432. None (test
/// skipped, said on stderr) only when neither REKEY_REQUIRE_POSTGRES nor CI is set;
/// scripts/test.sh sets REKEY_REQUIRE_POSTGRES, so there an unreachable server fails every test.
pub fn pg_server() -> Option<Postgres> {
    let base = std::env::var("REKEY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let base = base.trim_end_matches('/').to_string();
    let pg = Postgres { base };
    match Client::connect(&pg.conninfo("postgres"), NoTls) {
        Ok(_) => Some(pg),
        Err(e) => {
            let required =
                std::env::var("REKEY_REQUIRE_POSTGRES").is_ok() || std::env::var("CI").is_ok();
            if required {
                panic!("PostgreSQL is required but unreachable at {}: {e}", pg.base);
            }
            eprintln!(
                "SKIPPED: no PostgreSQL at {} ({e}); run scripts/test.sh to start one",
                pg.base
            );
            None
        }
    }
}

impl Postgres {
    pub fn conninfo(&self, db: &str) -> String {
        format!("{}/{db}", self.base)
    }
    pub fn client(&self, db: &str) -> Client {
        let mut c = Client::connect(&self.conninfo(db), NoTls)
            .unwrap_or_else(|e| panic!("connect to {db}: {e}"));
        c.batch_execute(
            "SET client_min_messages = warning; SET TimeZone = 'UTC'; SET extra_float_digits = 3",
        )
        .unwrap();
        c
    }
    /// The URL of `db` as `role` (password `pw`).
    pub fn url_as(&self, role: &str, pw: &str, db: &str) -> String {
        let rest = self.base.split_once('@').map(|(_, r)| r).unwrap_or("");
        format!("postgres://{role}:{pw}@{rest}/{db}")
    }
    /// Runs `sql` as the administrator in `db`.
    pub fn exec(&self, db: &str, sql: &str) {
        self.client(db)
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {}", db_text(&e)));
    }
    /// The first column of every row of `sql`, as text.
    pub fn texts(&self, db: &str, sql: &str) -> Vec<Option<String>> {
        self.client(db)
            .simple_query(sql)
            .unwrap_or_else(|e| panic!("{sql}: {}", db_text(&e)))
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
                _ => None,
            })
            .collect()
    }
    /// Every column of every row of `sql`, as text.
    pub fn text_rows(&self, db: &str, sql: &str) -> Vec<Vec<Option<String>>> {
        self.client(db)
            .simple_query(sql)
            .unwrap_or_else(|e| panic!("{sql}: {}", db_text(&e)))
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                }
                _ => None,
            })
            .collect()
    }
    pub fn text(&self, db: &str, sql: &str) -> String {
        self.texts(db, sql)
            .into_iter()
            .next()
            .flatten()
            .unwrap_or_default()
    }
}

impl TestServer for Postgres {
    fn tag(&self) -> &'static str {
        "pg"
    }
    fn url(&self, db: &str) -> String {
        format!("{}/{db}", self.base)
    }
    fn create_database(&self, db: &str) {
        self.exec("postgres", &format!("CREATE DATABASE \"{db}\""));
    }
    fn drop_database(&self, db: &str) {
        if let Ok(mut c) = Client::connect(&self.conninfo("postgres"), NoTls) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"));
        }
    }
    fn exists(&self, db: &str) -> bool {
        self.text(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
        ) != "0"
    }
    fn load(&self, db: &str, sql: &str) {
        self.client(db)
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("fixture failed in {db}: {}", db_text(&e)));
    }
    fn fingerprint(&self, db: &str) -> Fingerprint {
        fingerprint(self, db)
    }
    fn texts(&self, db: &str, sql: &str) -> Vec<Option<String>> {
        Postgres::texts(self, db, sql)
    }
    fn columns(&self, db: &str, table: &str) -> Vec<String> {
        self.texts(
            db,
            &format!(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY ordinal_position"
            ),
        )
        .into_iter()
        .flatten()
        .collect()
    }
}

/// What a database holds, byte for byte as far as rekey could change it: every row of every
/// table (as text, sorted), every object of pg_catalog that a write could add or change
/// (schemas, relations, columns, types, constraints, indexes, triggers and their states, rules,
/// functions, policies, sequences and their positions), keyed `objects:*`.
pub fn fingerprint(pg: &Postgres, db: &str) -> Fingerprint {
    let mut out = BTreeMap::new();
    let user_schemas = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";
    let catalog: [(&str, String); 10] = [
        ("schemas", "SELECT n.nspname || ' ' || n.nspowner::regrole::text FROM pg_namespace n WHERE ".to_string() + user_schemas),
        ("relations", format!("SELECT n.nspname || '.' || c.relname || ' ' || c.relkind::text || ' ' || c.relpersistence::text || ' ' || c.relrowsecurity || ' ' || c.relhastriggers || ' ' || c.relhasrules FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {user_schemas}")),
        ("columns", format!("SELECT n.nspname || '.' || c.relname || '.' || a.attname || ' ' || a.attnum || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' ' || a.attidentity::text || ' ' || a.attgenerated::text || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE a.attnum > 0 AND NOT a.attisdropped AND {user_schemas}")),
        ("constraints", format!("SELECT n.nspname || '.' || c.conname || ' ' || c.conrelid::regclass::text || ' ' || pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE {user_schemas}")),
        ("indexes", format!("SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {user_schemas}")),
        ("triggers", format!("SELECT t.tgname || ' ' || t.tgenabled::text || ' ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND {user_schemas}")),
        ("rules", format!("SELECT r.rulename || ' ' || r.ev_enabled::text || ' ' || pg_get_ruledef(r.oid) FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {user_schemas}")),
        ("functions", format!("SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || md5(coalesce(p.prosrc, '')) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {user_schemas}")),
        ("types", format!("SELECT n.nspname || '.' || t.typname || ' ' || t.typtype::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {user_schemas}")),
        ("policies", "SELECT p.polname || ' ' || p.polrelid::regclass::text || ' ' || coalesce(pg_get_expr(p.polqual, p.polrelid), '') FROM pg_policy p".to_string()),
    ];
    for (name, sql) in catalog {
        let mut rows: Vec<Vec<Option<Vec<u8>>>> = pg
            .texts(db, &sql)
            .into_iter()
            .map(|t| vec![t.map(String::into_bytes)])
            .collect();
        rows.sort();
        out.insert(format!("objects:{name}"), (String::new(), rows));
    }
    // Sequences' positions.
    let sequences = pg.texts(
        db,
        &format!("SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND {user_schemas} ORDER BY 1"),
    );
    let mut positions = Vec::new();
    for s in sequences.into_iter().flatten() {
        let v = pg.text(
            db,
            &format!("SELECT last_value || ' ' || is_called FROM {s}"),
        );
        positions.push(vec![Some(format!("{s} {v}").into_bytes())]);
    }
    out.insert("objects:sequences".into(), (String::new(), positions));
    // Every row of every table, partitions and children read on their own (ONLY).
    let tables = pg.texts(
        db,
        &format!("SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') AND {user_schemas} ORDER BY 1"),
    );
    for t in tables.into_iter().flatten() {
        let mut rows: Vec<Vec<Option<Vec<u8>>>> = pg
            .texts(db, &format!("SELECT t::text FROM ONLY {t} t"))
            .into_iter()
            .map(|r| vec![r.map(String::into_bytes)])
            .collect();
        rows.sort();
        out.insert(t, (String::new(), rows));
    }
    out
}

/// A role of one test, dropped (with what it owns and was granted in the databases its grants
/// named) when the test ends, whether it passed or not.
pub struct PgRole {
    pg: Postgres,
    pub name: String,
    pub password: String,
    databases: Vec<String>,
}

impl PgRole {
    /// Creates the role (LOGIN, password); `{role}` in each statement stands for it, and each
    /// runs in the database it names first (`db: statement`).
    pub fn new(pg: &Postgres, tag: &str, grants: &[(&str, String)]) -> PgRole {
        let name = format!("rk_{tag}_{}", std::process::id());
        let password = format!("pw-{tag}-9");
        pg.exec(
            "postgres",
            &format!("DROP ROLE IF EXISTS {name}; CREATE ROLE {name} LOGIN PASSWORD '{password}'"),
        );
        for (db, g) in grants {
            pg.exec(db, &g.replace("{role}", &name));
        }
        PgRole {
            pg: pg.clone(),
            name,
            password,
            databases: grants.iter().map(|(db, _)| db.to_string()).collect(),
        }
    }
    pub fn url(&self, db: &str) -> String {
        self.pg.url_as(&self.name, &self.password, db)
    }
    /// Drops what the role owns or was granted in `db` (before the database goes).
    pub fn forget_in(&self, db: &str) {
        if let Ok(mut c) = Client::connect(&self.pg.conninfo(db), NoTls) {
            let _ = c.batch_execute(&format!("DROP OWNED BY {}", self.name));
        }
    }
}

impl Drop for PgRole {
    fn drop(&mut self) {
        for db in &self.databases {
            self.forget_in(db);
        }
        if let Ok(mut c) = Client::connect(&self.pg.conninfo("postgres"), NoTls) {
            let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS {}", self.name));
        }
    }
}

/// The blog fixture in SOURCE and the application's schema in DB_FINAL.
pub fn blog(pg: &Postgres, tag: &str) -> Databases<Postgres> {
    let d = Databases::new(pg.clone(), tag);
    pg.load(&d.source, PG_BLOG_SOURCE);
    pg.load(&d.final_db, PG_BLOG_FINAL);
    d
}

/// The shapes fixture in SOURCE (DB_FINAL is left for derive-final: dropped).
pub fn shapes(pg: &Postgres, tag: &str) -> Databases<Postgres> {
    let d = Databases::new(pg.clone(), tag);
    pg.load(&d.source, PG_SHAPES_SOURCE);
    pg.drop_database(&d.final_db);
    d
}
