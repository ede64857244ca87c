//! SQLite databases as files: creating and removing them, which file a URL reaches, whether the
//! files can be read and written, and their size.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::{sql_error, SqliteBackend, SqliteSession, DIALECT, SESSION_SQL};
use crate::backend::{Admin, Dialect, Finding, Footprint, Identity, Role, Session};
use crate::error::Result;
use crate::model::Table;
use crate::url::DbUrl;

/// The file's canonical path, also before it exists (its directory's canonical path and its
/// name), so that one file reached by two paths has one name.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .map(|d| d.join(name))
            .unwrap_or(absolute.clone()),
        _ => absolute,
    }
}

impl Admin for SqliteBackend {
    fn url(&self) -> &DbUrl {
        &self.url
    }

    fn dialect(&self) -> &dyn Dialect {
        &DIALECT
    }

    fn connect(&self) -> Result<Box<dyn Session>> {
        Ok(Box::new(self.open()?))
    }

    fn connect_server(&self) -> Result<Box<dyn Session>> {
        // SQLite has no server: a private in-memory database answers what a server session is
        // asked (the version), whether or not the file exists yet.
        let conn = rusqlite::Connection::open_in_memory().map_err(|e| sql_error(e, ":memory:"))?;
        conn.execute_batch(SESSION_SQL)
            .map_err(|e| sql_error(e, SESSION_SQL))?;
        Ok(Box::new(SqliteSession { conn }))
    }

    fn database_exists(&self) -> Result<bool> {
        Ok(self.path().exists())
    }

    fn create_database(&self, _like: Option<&Table>, dry_run: bool) -> Result<Vec<String>> {
        // The file appears with the first connection; nothing to run.
        if !dry_run {
            self.may_create.store(true, Ordering::SeqCst);
        }
        Ok(Vec::new())
    }

    fn drop_database(&self) -> Result<()> {
        let base = self.url.database.clone();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let path = format!("{base}{suffix}");
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(crate::error::io_error("remove", Path::new(&path), e)),
            }
        }
        Ok(())
    }

    fn identity(&self) -> Result<Identity> {
        let object = std::fs::metadata(self.path()).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            format!("{}:{}", m.dev(), m.ino())
        });
        Ok(Identity {
            server: "file".into(),
            database: canonical(self.path()).to_string_lossy().into_owned(),
            object,
        })
    }

    fn change_stream_findings(&self, _session: &mut dyn Session) -> Result<Vec<Finding>> {
        // Another process can read a SQLite file's changes only through something written into
        // it (triggers into a log table, a session extension in the writer): SOURCE is never
        // written.
        Ok(vec![Finding::fail(
            "change stream",
            "SQLite has no change stream that another process can read without writing SOURCE",
            "convert with the application stopped: rekey run without --follow",
        )])
    }

    fn check_privileges(&self, _session: &mut dyn Session, role: Role) -> Result<Finding> {
        let path = self.path();
        let problem = match role {
            Role::Source => std::fs::File::open(path)
                .err()
                .map(|e| format!("{} cannot be read ({e})", path.display())),
            _ if path.exists() => std::fs::metadata(path)
                .ok()
                .filter(|m| m.permissions().readonly())
                .map(|_| format!("{} is read-only", path.display())),
            _ => {
                let dir = canonical(path);
                let dir = dir.parent().unwrap_or(Path::new("."));
                match std::fs::metadata(dir) {
                    Ok(m) if m.permissions().readonly() => {
                        Some(format!("{} is read-only", dir.display()))
                    }
                    Ok(_) => None,
                    Err(e) => Some(format!("{} cannot be used ({e})", dir.display())),
                }
            }
        };
        Ok(match problem {
            None => Finding::ok("file access", path.display().to_string()),
            Some(p) => Finding::fail(
                "file access",
                p,
                "Give a path this user can read (SOURCE) or write (DB_DATA, DB_FINAL and their directory).",
            ),
        })
    }

    fn footprint(&self, _session: &mut dyn Session) -> Result<Footprint> {
        let size = |suffix: &str| {
            std::fs::metadata(format!("{}{suffix}", self.url.database))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        let (bytes, rows) = if self.path().exists() {
            let mut s = self.open()?;
            let (schema, _) = self.read_tables(&mut s)?;
            (
                size("") + size("-wal"),
                schema.tables.iter().map(|t| t.estimated_rows).sum(),
            )
        } else {
            (0, 0)
        };
        let absolute = std::path::absolute(self.path()).ok();
        let local_dir = absolute
            .as_deref()
            .and_then(Path::parent)
            .filter(|d| d.exists())
            .map(Path::to_path_buf);
        Ok(Footprint {
            bytes,
            rows,
            local_dir,
        })
    }
}
