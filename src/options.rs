//! The options every command shares, in their parsed, engine-neutral form.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a UUID is stored (`--uuid-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum UuidFormat {
    /// 32 lowercase hex characters, as SQLAlchemy/Django GUID types store them.
    #[default]
    Char32,
    /// The hyphenated 36-character form.
    Char36,
    /// 16 raw bytes.
    Binary16,
    /// The engine's own UUID type (MariaDB 10.7+ `UUID`, PostgreSQL `uuid`).
    Native,
}

/// Which UUID version new keys get (`--uuid-version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum UuidVersion {
    /// Time-ordered in old-key order (ORDER BY key keeps its meaning, inserts append), and so
    /// revealing: every key shows its row's old id (counter = id % 4096, time = run start + id /
    /// 4096 ms), and the keys the row count.
    V7,
    /// A keyed hash of the old id under the run's 256-bit secret (kept only in the run's
    /// journal): reveals neither old ids nor row counts.
    #[default]
    V4,
}

/// What to do with a reference whose value has no parent row (`--orphans`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OrphanPolicy {
    /// Stop before anything is written, listing the orphans.
    #[default]
    Fail,
    /// Store NULL (nullable columns only); every one is listed in orphans/<table>.<column>.csv.
    Null,
}

/// A reference the user declares for a column without a constraint (`--reference T.C=P.K`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredReference {
    pub table: String,
    pub column: String,
    pub ref_table: String,
    pub ref_column: String,
}

impl DeclaredReference {
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::usage(
                format!("--reference {text} is not of the form TABLE.COLUMN=TABLE.COLUMN."),
                "Write for example --reference content_item.parent_id=content_item.id.",
            )
        };
        let (left, right) = text.split_once('=').ok_or_else(bad)?;
        let (table, column) = left.trim().rsplit_once('.').ok_or_else(bad)?;
        let (ref_table, ref_column) = right.trim().rsplit_once('.').ok_or_else(bad)?;
        if [table, column, ref_table, ref_column]
            .iter()
            .any(|s| s.is_empty())
        {
            return Err(bad());
        }
        Ok(DeclaredReference {
            table: table.into(),
            column: column.into(),
            ref_table: ref_table.into(),
            ref_column: ref_column.into(),
        })
    }
}

/// Reads declared references from a file: one `TABLE.COLUMN=TABLE.COLUMN` per line, blank lines
/// and `#` comments ignored (`--reference-file`).
pub fn read_reference_file(path: &std::path::Path) -> Result<Vec<DeclaredReference>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::usage(
            format!("--reference-file {} cannot be read ({e}).", path.display()),
            "Give a readable file with one TABLE.COLUMN=TABLE.KEY per line.",
        )
    })?;
    parse_references(&text).map_err(|e| match e {
        Error::Usage { message, hint } => {
            Error::usage(format!("{}: {message}", path.display()), hint)
        }
        other => other,
    })
}

/// One `TABLE.COLUMN=TABLE.COLUMN` per line; blank lines and `#` comments are skipped.
pub fn parse_references(text: &str) -> Result<Vec<DeclaredReference>> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(DeclaredReference::parse)
        .collect()
}

/// The load path the user asks for (`--load-path`); `Auto` takes the fastest one available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LoadChoice {
    /// The fastest one available.
    #[default]
    Auto,
    /// INSERT ... SELECT, when DB_DATA and DB_FINAL share a server.
    Direct,
    /// Server-side SELECT ... INTO OUTFILE and LOAD DATA INFILE (FILE privilege, secure_file_priv).
    Files,
    /// LOAD DATA LOCAL INFILE fed by rekey, without temporary files.
    Stream,
    /// DB_DATA's tables built with DB_FINAL's own definitions, filled once by swap and renamed
    /// into DB_FINAL (one server): the fastest cutover, but DB_DATA gives its tables up.
    Move,
}

/// Options that decide what a run does to the data; recorded in the journal so a resumed run
/// does exactly what the interrupted one started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ConversionOptions {
    pub exclude: Vec<String>,
    pub references: Vec<DeclaredReference>,
    pub uuid_format: UuidFormat,
    pub uuid_version: UuidVersion,
    pub seed: Option<u64>,
    pub orphans: OrphanPolicy,
}

/// How a run is carried out; may differ between an interrupted run and its resumption.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub jobs: usize,
    pub run_dir: PathBuf,
    pub resume: bool,
    pub dry_run: bool,
    pub json: bool,
    /// How rows travel in the load (`--load-path`).
    pub load_path: LoadChoice,
    /// `run --full-data-copy`: keep DB_DATA as the full converted copy (every row written twice,
    /// into DB_DATA by swap and into DB_FINAL by the load), as a rehearsal may want.
    pub full_data_copy: bool,
    /// Settled from the command, the options and the journal (`data-shape = definitions`): rows
    /// go from SOURCE straight into DB_FINAL in the load, written once, wherever the engine can;
    /// DB_DATA holds the converted definitions and the mapping tables, without rows.
    pub one_write: bool,
    /// A rehearsal's run directory to scale into a downtime estimate (`plan --estimate-from`).
    pub estimate_from: Option<PathBuf>,
    /// A file holding the password of every URL given without one (`--password-file`).
    pub password_file: Option<PathBuf>,
    /// Whether `--uuid-format` was given; without it a new run takes the engine's default
    /// (`Dialect::default_uuid_format`) and a resumed run the journal's.
    pub uuid_format_given: bool,
    /// `clean --remove-maps`: remove map/ and orphans/ too (kept by default: they are the only
    /// record of old id -> new id).
    pub remove_maps: bool,
    /// The application's directory whose audit `plan --app` includes.
    pub app: Option<PathBuf>,
    /// `run --follow`: convert from a consistent snapshot of a SOURCE the application keeps
    /// writing to, then apply its changes to DB_FINAL until `rekey cutover`.
    pub follow: bool,
    /// `--zero-dates null`: a move to another engine stores SOURCE's zero dates
    /// (`0000-00-00`) as NULL in nullable columns (listed), instead of refusing them.
    pub zero_dates_null: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: 2,
            run_dir: PathBuf::from("rekey-run"),
            resume: false,
            dry_run: false,
            json: false,
            load_path: LoadChoice::Auto,
            full_data_copy: false,
            one_write: false,
            estimate_from: None,
            password_file: None,
            uuid_format_given: false,
            remove_maps: false,
            app: None,
            follow: false,
            zero_dates_null: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_declared_reference() {
        let r = DeclaredReference::parse("content_item.parent_id=content_item.id").unwrap();
        assert_eq!(r.table, "content_item");
        assert_eq!(r.column, "parent_id");
        assert_eq!(r.ref_column, "id");
        assert!(DeclaredReference::parse("a.b").is_err());
        assert!(DeclaredReference::parse("a=b.c").is_err());
    }

    #[test]
    fn reference_file_lines_and_comments() {
        let refs = parse_references("# legacy columns\nnode.parent_id=node.id\n\n  legacy_note.node_id = node.id  # MyISAM\n").unwrap();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[1].table, "legacy_note");
        assert_eq!(refs[1].ref_column, "id");
        assert!(parse_references("node.parent_id").is_err());
    }
}
