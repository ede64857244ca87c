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
                if lang == Lang::Python
                    && relative
                        .split('/')
                        .any(|p| p == "migrations" || p == "versions")
                {
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
