//! Scenarios written once and run on every engine: each `on_every_engine!` scenario is a
//! function of `Databases<S>` for any `TestServer`, and becomes one test per engine (`sqlite`,
//! `mysql`, `postgres`), as Prisma's `#[test_connector]` does. A server that is not reachable
//! skips its test, unless the engine is required (REKEY_REQUIRE_MYSQL, REKEY_REQUIRE_POSTGRES,
//! CI), where it fails it.

mod common;
use common::tree;

use common::engine::{Databases, Mariadb, TestServer};
use common::sqlite::Sqlite;
use common::{assert_exit, rekey, stage_rows, stderr, stdout};

/// `on_every_engine!(name, "tag", |dbs| { ... })`: a module `name` with one test per engine, each
/// running the body on that engine's `Databases` (its database names carry `tag`).
macro_rules! on_every_engine {
    ($name:ident, $tag:literal, |$dbs:ident| $body:block) => {
        mod $name {
            use super::*;

            fn scenario<S: TestServer>($dbs: Databases<S>) $body

            #[test]
            fn sqlite() {
                scenario(Databases::new(Sqlite::new(), $tag));
            }

            #[test]
            fn mysql() {
                let Some(url) = common::server() else { return };
                scenario(Databases::new(Mariadb(url), $tag));
            }

            #[test]
            fn postgres() {
                let Some(pg) = common::pg::pg_server() else { return };
                scenario(Databases::new(pg, $tag));
            }
        }
    };
}

// SOURCE columns named like rekey's work columns (`<pk>_upk_copy`, `<pk>_ipk_copy`,
// `<col>_ufk_copy`) are the application's: a derived DB_FINAL keeps them, with their values and
// in their places, beside the converted key and reference.
on_every_engine!(
    source_columns_named_like_work_columns_keep_their_values,
    "worknames",
    |dbs| {
        dbs.server.load(
            &dbs.source,
            "CREATE TABLE parent (id INT PRIMARY KEY, id_upk_copy VARCHAR(10), id_ipk_copy INT);
         CREATE TABLE child (id INT PRIMARY KEY, id_upk_copy VARCHAR(10), parent_id INT NULL,
           parent_id_ufk_copy VARCHAR(10),
           CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) REFERENCES parent (id));
         INSERT INTO parent VALUES (1, 'upk', 41), (2, NULL, 42);
         INSERT INTO child VALUES (1, 'c-upk', 1, 'ufk'), (2, NULL, NULL, 'ufk2');",
        );
        dbs.server.drop_database(&dbs.final_db);
        assert_exit(&dbs.run(&["--derive-final"]), 0);
        let fin = &dbs.final_db;
        let text = |s: &str| Some(s.to_string());
        assert_eq!(
            dbs.server
                .texts(fin, "SELECT id_upk_copy FROM parent ORDER BY id_ipk_copy"),
            [text("upk"), None]
        );
        assert_eq!(
            dbs.server
                .texts(fin, "SELECT id_ipk_copy FROM parent ORDER BY id_ipk_copy"),
            [text("41"), text("42")]
        );
        assert_eq!(
            dbs.server.texts(
                fin,
                "SELECT parent_id_ufk_copy FROM child ORDER BY parent_id_ufk_copy"
            ),
            [text("ufk"), text("ufk2")]
        );
        // Its own key's work-column name and a reference's in one table.
        assert_eq!(
            dbs.server.texts(
                fin,
                "SELECT id_upk_copy FROM child ORDER BY parent_id_ufk_copy"
            ),
            [text("c-upk"), None]
        );
        assert_eq!(
            dbs.server.columns(fin, "parent"),
            ["id", "id_upk_copy", "id_ipk_copy"]
        );
        assert_eq!(
            dbs.server.columns(fin, "child"),
            ["id", "id_upk_copy", "parent_id", "parent_id_ufk_copy"]
        );
        // The converted key holds UUIDs, not the old integers.
        assert!(dbs
            .server
            .texts(fin, "SELECT id FROM parent")
            .iter()
            .all(|id| id.as_deref().is_some_and(|id| id.len() >= 32)));
    }
);

/// A file name made from a table name as rekey makes it: `%XX` for every byte but
/// `[A-Za-z0-9_-]`.
fn stem(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// Table names that spell a relative or an absolute path never steer a file out of the run
// directory: the map files carry the names encoded, verify reads them, and `clean --remove-maps`
// removes them.
on_every_engine!(
    a_table_named_like_a_path_stays_inside_the_run_directory,
    "escape",
    |dbs| {
        let server = &dbs.server;
        let outside = dbs.dir.path().join("x");
        let absolute = format!("{}/ABS", outside.display());
        let (relative, absolute_q) = (server.quote("../../escaped"), server.quote(&absolute));
        server.load(
            &dbs.source,
            &format!(
                "CREATE TABLE {relative} (id INT PRIMARY KEY, name VARCHAR(10));
             INSERT INTO {relative} VALUES (1, 'a'), (2, 'b');
             CREATE TABLE {absolute_q} (id INT PRIMARY KEY, name VARCHAR(10));
             INSERT INTO {absolute_q} VALUES (1, 'x');
             CREATE TABLE child (id INT PRIMARY KEY, parent_id INT,
               CONSTRAINT fk_child_escaped FOREIGN KEY (parent_id) REFERENCES {relative} (id));
             INSERT INTO child VALUES (1, 1), (2, 2);"
            ),
        );
        server.drop_database(&dbs.final_db);
        assert_exit(&dbs.run(&["--derive-final"]), 0);
        let beside = || -> Vec<String> {
            tree(dbs.dir.path())
                .into_iter()
                .filter(|p| !p.starts_with("run/"))
                .collect()
        };
        assert_eq!(beside(), ["run"], "files beside the run directory");
        let files = tree(&dbs.run_dir());
        for want in [
            "map/%2E%2E%2F%2E%2E%2Fescaped.csv".to_string(),
            format!("map/{}.csv", stem(&absolute)),
        ] {
            assert!(files.contains(&want), "{want} not in {files:?}");
        }
        assert_exit(&dbs.verify(&[]), 0);
        let dir = dbs.run_dir();
        assert_exit(
            &rekey(&["clean", "--run-dir", dir.to_str().unwrap(), "--remove-maps"]),
            0,
        );
        assert!(!dir.join("map").exists());
        assert_eq!(beside(), ["run"]);
    }
);

// A SOURCE without tables, or with a table under rekey's own prefix (DB_DATA's work tables and
// the run marker share it), is refused before anything is written, and `rekey plan` refuses it
// too.
on_every_engine!(
    a_source_with_rekeys_prefix_or_no_table_is_refused_before_any_write,
    "refuse",
    |dbs| {
        let out = dbs.run(&[]);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains("no tables"), "{}", stderr(&out));
        assert!(!dbs.server.exists(&dbs.data), "DB_DATA was created");
        dbs.server.load(
            &dbs.source,
            "CREATE TABLE users (id INT PRIMARY KEY);
         CREATE TABLE _rekey_x (id INT PRIMARY KEY);
         INSERT INTO _rekey_x VALUES (1);",
        );
        let out = dbs.run(&[]);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(err.contains("_rekey_x") && err.contains("Rename"), "{err}");
        assert!(!dbs.server.exists(&dbs.data), "DB_DATA was created");
        assert_exit(&rekey(&["plan", "--source", &dbs.src_url()]), 2);
    }
);

// A table named like a migration tool's bookkeeping table that foreign keys tie to the others is
// the application's: plan says so, and the run loads and verifies its rows like every table's.
on_every_engine!(
    a_source_table_named_like_migration_bookkeeping_with_a_foreign_key_is_loaded_and_verified,
    "bkfk",
    |dbs| {
        // In another case than the tools write it: the name is matched without regard to case.
        let migrations = dbs.server.quote("Migrations");
        dbs.server.load(
            &dbs.source,
            &format!(
                "CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(20));
             CREATE TABLE {migrations} (id INT PRIMARY KEY, user_id INT NOT NULL, step VARCHAR(20),
               CONSTRAINT fk_mig_user FOREIGN KEY (user_id) REFERENCES users (id));
             INSERT INTO users VALUES (1, 'a'), (2, 'b');
             INSERT INTO {migrations} VALUES (10, 1, 'x'), (11, 2, 'y'), (12, 2, 'z');"
            ),
        );
        let plan = rekey(&["plan", "--source", &dbs.src_url()]);
        assert_exit(&plan, 0);
        assert!(
            stdout(&plan).contains("application-table"),
            "{}",
            stdout(&plan)
        );
        dbs.server.drop_database(&dbs.final_db);
        assert_exit(&dbs.run(&["--derive-final"]), 0);
        assert_eq!(
            dbs.server.texts(
                &dbs.final_db,
                &format!("SELECT COUNT(*) FROM {migrations} m JOIN users u ON u.id = m.user_id")
            ),
            [Some("3".to_string())],
            "the rows of Migrations were not loaded"
        );
        let dir = dbs.run_dir();
        assert_eq!(stage_rows(&dir, "load", "Migrations"), Some(3));
        assert_eq!(stage_rows(&dir, "verify", "Migrations"), Some(3));
    }
);
