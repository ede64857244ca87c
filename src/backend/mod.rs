//! The seam between the staged passes and the engines. Stages talk to a `Backend`, which is one
//! trait per concern (`Admin`, `Catalog`, `Ddl`, `Load`), a `Dialect` that names the SQL
//! differences as capabilities, and `Session`s that run SQL. The URL scheme picks the engine, and
//! each engine lives in its own folder, one file per job.

pub mod admin;
pub mod catalog;
pub mod ddl;
pub mod dialect;
pub mod follow;
pub mod load;
pub mod mysql;
pub mod pool;
pub mod postgres;
pub mod session;
pub mod sqlite;
pub mod transfer;
pub mod value;

use std::sync::Arc;

pub use admin::{Admin, Finding, Footprint, Identity, Role, ServerLock};
pub use catalog::{Catalog, ServerInfo};
pub use ddl::{Ddl, IndexesAside, Swap, Unconstrain};
pub use dialect::Dialect;
pub use follow::{ChangeStream, Follow, RowChange, SourceTransaction, StreamPosition, StreamRow};
pub use load::{
    Arrival, FillColumn, FillFrom, FillJob, FillRoute, FinalFill, Load, LoadChoice, LoadJob,
    LoadPath, Moved, SmallParent, SourceTap,
};
pub use session::{read_all, Session};
pub use transfer::{Cell, Export, Import, Portable, PortableColumn};
pub use value::Value;

/// How long taking a server lock (`Admin::hold_lock`) waits for a holder to go before naming it
/// as a live run: the session of a run killed a moment ago ends only when the server notices.
pub const LOCK_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

use crate::error::{Error, Place, Result};
use crate::url::{DbUrl, Engine};

/// Everything one engine implements.
pub trait Backend: Admin + Catalog + Ddl + Load + Follow + Export + Import {}

impl<T: Admin + Catalog + Ddl + Load + Follow + Export + Import> Backend for T {}

/// Opens the backend for a URL: the URL scheme picks the engine.
pub fn open(url: &DbUrl) -> Result<Arc<dyn Backend>> {
    match url.engine {
        Engine::Mysql => Ok(Arc::new(mysql::MysqlBackend::new(url.clone()))),
        Engine::Sqlite => Ok(Arc::new(sqlite::SqliteBackend::new(url.clone()))),
        Engine::Postgres => Ok(Arc::new(postgres::PostgresBackend::new(url.clone()))),
    }
}

/// Checks that the databases of one command can work together.
pub fn check_same_engine(pairs: &[(&str, &DbUrl)]) -> Result<()> {
    if let Some((first_name, first)) = pairs.first() {
        for (name, url) in &pairs[1..] {
            if url.engine != first.engine {
                return Err(Error::usage(
                    format!(
                        "{first_name} is {} but {name} is {}; rekey moves data between databases of one engine.",
                        first.engine, url.engine
                    ),
                    "Convert within one engine (for example mysql:// for SOURCE, DB_DATA and DB_FINAL); to change engines, load the result with the engine's own tools afterwards.",
                ));
            }
        }
    }
    Ok(())
}

/// Wraps a driver error with the place it happened and a next step.
pub fn db_error(place: Place, what: &str, err: impl std::fmt::Display, hint: &str) -> Error {
    Error::env(place, format!("{what}: {err}."), hint.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Index, Table};

    /// A `{placeholder}` in a `--` comment of an engine's `.sql` file would be replaced too,
    /// and a name with a line break in it would end the comment and run as SQL.
    #[test]
    fn no_sql_file_has_a_placeholder_in_a_comment() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/backend");
        let mut files = 0;
        for engine in std::fs::read_dir(&root).unwrap() {
            let dir = engine.unwrap().path();
            if !dir.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&dir).unwrap() {
                let path = file.unwrap().path();
                if path.extension().is_none_or(|e| e != "sql") {
                    continue;
                }
                files += 1;
                for line in std::fs::read_to_string(&path).unwrap().lines() {
                    let Some(comment) = line.split_once("--").map(|(_, c)| c) else {
                        continue;
                    };
                    let placeholder = comment.split('{').skip(1).any(|after| {
                        after.split_once('}').is_some_and(|(word, _)| {
                            !word.is_empty()
                                && word.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        })
                    });
                    assert!(!placeholder, "{}: {line}", path.display());
                }
            }
        }
        assert!(
            files > 20,
            "{files} .sql files found under {}",
            root.display()
        );
    }

    fn table(primary_key: &[&str], indexes: &[&str]) -> Table {
        Table {
            name: "t".into(),
            primary_key: primary_key.iter().map(|c| c.to_string()).collect(),
            indexes: indexes
                .iter()
                .map(|c| Index {
                    name: format!("ix_{c}"),
                    columns: vec![c.to_string()],
                    unique: false,
                    kind: "BTREE".into(),
                    create_sql: None,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn rows_arrive_in_key_order_only_into_a_lone_ascending_key() {
        let in_order = Arrival::InKeyOrder;
        assert_eq!(
            Arrival::into_table(&table(&["id"], &[]), Some("id")),
            in_order
        );
        assert_eq!(Arrival::into_table(&table(&[], &[]), None), in_order);
        let unordered = Arrival::Unordered;
        assert_eq!(
            Arrival::into_table(&table(&["id"], &["user_id"]), Some("id")),
            unordered
        );
        assert_eq!(Arrival::into_table(&table(&["id"], &[]), None), unordered);
        assert_eq!(
            Arrival::into_table(&table(&["code"], &[]), Some("id")),
            unordered
        );
        assert_eq!(
            Arrival::into_table(&table(&["a", "b"], &[]), Some("a")),
            unordered
        );
        assert_eq!(Arrival::into_table(&table(&[], &["x"]), None), unordered);
    }

    #[test]
    fn one_alter_per_added_column_by_default() {
        let cols = [
            ("a".to_string(), "TEXT".to_string()),
            ("b".to_string(), "TEXT".to_string()),
        ];
        let sql = sqlite::SqliteDialect.add_columns_sql("t", &cols);
        assert_eq!(sql.len(), 2, "{sql:?}");
        assert!(sql[1].contains("ADD COLUMN \"b\" TEXT NULL"), "{sql:?}");
    }
}
