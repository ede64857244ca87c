//! Which files of the application the audit reads: source files of the languages it parses,
//! without dependencies, build output, version control or Python migrations (the models say the
//! same, and a migration's history would repeat every column).

use std::path::{Path, PathBuf};

use super::lang::Lang;
use crate::error::{io_error, Result};

/// Directories that hold other people's code or generated files.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "vendor",
    "venv",
    ".venv",
    "env",
    "__pycache__",
    "site-packages",
    "dist",
    "build",
    "target",
    ".tox",
    "coverage",
    "tmp",
    "log",
    "public",
    "bower_components",
    ".next",
    ".nuxt",
    "storage",
];

/// Files larger than this are generated or bundled, not written by hand.
const MAX_BYTES: u64 = 1 << 20;

pub struct SourceFile {
    pub path: PathBuf,
    /// Relative to the audited directory, `/`-separated.
    pub relative: String,
    pub lang: Lang,
}

/// The source files under `dir`, sorted by path.
pub fn files(dir: &Path) -> Result<Vec<SourceFile>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| io_error("read the directory", &d, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            // Symbolic links are not followed: a link to a parent would never end.
            if kind.is_dir() {
                if !SKIPPED_DIRS.contains(&name.as_str()) {
                    stack.push(path);
                }
            } else if kind.is_file() {
                let Some(lang) = Lang::of(&path) else {
                    continue;
                };
                if entry
                    .metadata()
                    .map(|m| m.len() > MAX_BYTES)
                    .unwrap_or(true)
                {
                    continue;
                }
                let relative = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().to_string())
                    .collect::<Vec<_>>()
                    .join("/");
                if lang == Lang::Python && is_python_migration(dir, &path) {
                    continue;
                }
                if name.ends_with(".min.js") {
                    continue;
                }
                out.push(SourceFile {
                    path,
                    relative,
                    lang,
                });
            }
        }
    }
    out.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(out)
}

/// A Django migration (under `migrations/`) or an Alembic revision (under a `versions/` folder
/// beside Alembic's `env.py`). Another `versions/` folder (`api/versions/v1/`) is application
/// code and is read.
fn is_python_migration(root: &Path, path: &Path) -> bool {
    path.ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(root) && *a != root)
        .any(|a| match a.file_name().and_then(|n| n.to_str()) {
            Some("migrations") => true,
            Some("versions") => a.parent().is_some_and(|p| p.join("env.py").is_file()),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_migrations_are_skipped_and_other_versions_folders_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "blog/migrations/0001_initial.py",
            "alembic/env.py",
            "alembic/versions/abc123_add_user.py",
            "api/versions/v1/routes.py",
            "app/models.py",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x = 1\n").unwrap();
        }
        let read: Vec<String> = files(root)
            .unwrap()
            .into_iter()
            .map(|f| f.relative)
            .collect();
        assert_eq!(
            read,
            [
                "alembic/env.py",
                "api/versions/v1/routes.py",
                "app/models.py"
            ]
        );
    }
}
