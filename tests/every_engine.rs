//! Scenarios written once and run on every engine: each `on_every_engine!` scenario is a
//! function of `Databases<S>` for any `TestServer`, and becomes one test per engine (`sqlite`,
//! `mysql`, `postgres`), as Prisma's `#[test_connector]` does. A server that is not reachable
//! skips its test, unless the engine is required (REKEY_REQUIRE_MYSQL, REKEY_REQUIRE_POSTGRES,
//! CI), where it fails it.

mod common;

use common::assert_exit;
use common::engine::{Databases, Mariadb, TestServer};
use common::sqlite::Sqlite;

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
         CREATE TABLE child (id INT PRIMARY KEY, parent_id INT NULL, parent_id_ufk_copy VARCHAR(10),
           CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) REFERENCES parent (id));
         INSERT INTO parent VALUES (1, 'upk', 41), (2, NULL, 42);
         INSERT INTO child VALUES (1, 1, 'ufk'), (2, NULL, 'ufk2');",
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
        assert_eq!(
            dbs.server.columns(fin, "parent"),
            ["id", "id_upk_copy", "id_ipk_copy"]
        );
        assert_eq!(
            dbs.server.columns(fin, "child"),
            ["id", "parent_id", "parent_id_ufk_copy"]
        );
        // The converted key holds UUIDs, not the old integers.
        assert!(dbs
            .server
            .texts(fin, "SELECT id FROM parent")
            .iter()
            .all(|id| id.as_deref().is_some_and(|id| id.len() >= 32)));
    }
);
