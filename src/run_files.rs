//! What rekey writes in a run directory, and how: file names made from table names (which whoever
//! could CREATE TABLE chose, so they must never steer a path), and private permissions (the
//! journal holds the run's key secret, the maps pair every old id with its new key).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// The longest name part `file_stem` returns; longer encodings are cut and end in a hash of the
/// whole name (a file name has at most 255 bytes, and `.csv.part` and a column follow).
const MAX_STEM: usize = 120;

/// The file name part standing for a table (or column) name: `[A-Za-z0-9_-]` kept, every other
/// byte as `%XX` (uppercase hex). So the result never holds `/`, `.` or NUL, is never `.` or `..`,
/// and two different names never give the same part (`%` itself is encoded). An encoding longer
/// than 120 bytes keeps its first 88 bytes and adds `~` and 32 hex digits of the name's 128-bit
/// hash (`~` is encoded in every other part). Every path made of a table name goes through here.
pub fn file_stem(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for &b in name.as_bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        // A name of no characters still needs a name part that is neither empty nor a dot.
        return "%".into();
    }
    if out.len() > MAX_STEM {
        let mut cut = MAX_STEM - 32 - 1 - 1;
        // Not inside a %XX.
        while out.as_bytes()[..cut]
            .iter()
            .rev()
            .take(2)
            .any(|&b| b == b'%')
        {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('~');
        out.push_str(&format!(
            "{:032x}",
            xxhash_rust::xxh3::xxh3_128(name.as_bytes())
        ));
    }
    out
}

/// Creates `dir` and its missing parents readable by this user only (0700). A directory that
/// exists is left as it is (it may be one the operator chose, like the current directory).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Opens `path` for writing, created (or truncated) readable by this user only (0600); a file
/// that existed with wider permissions is narrowed.
pub fn create_private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    private(&mut options);
    let file = options.open(path)?;
    narrow(&file)?;
    Ok(file)
}

/// Like `create_private_file`, without truncating (the run's lock keeps its file).
pub fn open_private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    private(&mut options);
    let file = options.open(path)?;
    narrow(&file)?;
    Ok(file)
}

/// Writes `bytes` to `path` as `std::fs::write` does, the file being private (0600).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    create_private_file(path)?.write_all(bytes)
}

fn private(options: &mut OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = options;
}

fn narrow(file: &File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_stay_readable_others_cannot_escape() {
        assert_eq!(file_stem("user_group-2"), "user_group-2");
        assert_eq!(file_stem("../../escaped"), "%2E%2E%2F%2E%2E%2Fescaped");
        assert_eq!(file_stem("/tmp/x/ABS"), "%2Ftmp%2Fx%2FABS");
        assert_eq!(file_stem("."), "%2E");
        assert_eq!(file_stem(".."), "%2E%2E");
        assert_eq!(file_stem(""), "%");
        assert_eq!(file_stem("café"), "caf%C3%A9");
        assert_eq!(file_stem("a\0b"), "a%00b");
        for name in ["../../escaped", "/tmp/x/ABS", "..", "a\\b", "ü/..", ""] {
            let stem = file_stem(name);
            assert!(!stem.contains(['/', '.', '\\', '\0']), "{stem}");
        }
    }

    #[test]
    fn distinct_names_give_distinct_stems() {
        let names = [
            "a%2Eb", "a.b", "a%b", "a%25b", "%", "", "A", "a", "a b", "a+b",
        ];
        let stems: std::collections::HashSet<String> = names.iter().map(|n| file_stem(n)).collect();
        assert_eq!(stems.len(), names.len());
        // Long names: cut, hashed, still distinct, and short enough for a file name.
        let long_a = "é".repeat(64);
        let long_b = format!("{}e", "é".repeat(63));
        let (a, b) = (file_stem(&long_a), file_stem(&long_b));
        assert_ne!(a, b);
        assert!(a.len() <= MAX_STEM && b.len() <= MAX_STEM, "{a} {b}");
        assert!(!a.contains('.') && a.contains('~'));
        // A cut never splits a %XX.
        let tail = a.split('~').next().unwrap_or_default();
        assert!(
            tail.len() >= 3 && !tail[tail.len() - 2..].contains('%'),
            "{a}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn private_files_and_directories() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run/map");
        create_private_dir(&dir).unwrap();
        for d in [tmp.path().join("run"), dir.clone()] {
            let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
        let f = dir.join("x.csv");
        std::fs::write(&f, b"old").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&f, b"new").unwrap();
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read(&f).unwrap(), b"new");
    }
}
