//! `rekey audit`: finds the application code that assumes integer ids (routes, casts, integer
//! checks, model columns, SQL formatted with ids, ordering and paging by the key), from syntax
//! trees of its files and rules kept as data (src/audit/rules/*.toml). The library never prints:
//! `audit` returns the findings and `render` writes them to a writer.

pub mod lang;
pub mod names;
pub mod render;
pub mod rules;
pub mod sql;
pub mod walk;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Place, Result};
use crate::options::ConversionOptions;
use crate::plan::Plan;
use crate::secrets::Prompt;

pub use names::{Names, Scope};
pub use rules::{Rule, RuleSet};

/// One place in the application that assumes integer ids.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// The file, relative to the audited directory, with `/` separators.
    pub file: String,
    /// 1-based line of the start of the construct.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The rule's stable id.
    pub rule: String,
    /// Why it breaks with UUID keys and what to write instead.
    pub message: String,
    /// The code found, on one line, shortened.
    pub code: String,
    /// With `--source`: the `--reference TABLE.COL=TABLE.KEY` line that `rekey run` needs for an
    /// integer reference column that has no foreign key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// What an audit found and what it read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Audit {
    pub findings: Vec<Finding>,
    /// Files parsed.
    pub files: usize,
    /// Lines in those files.
    pub lines: usize,
}

impl Audit {
    /// Findings per rule id, most first (ties by id).
    pub fn counts_per_rule(&self) -> Vec<(String, usize)> {
        counts(self.findings.iter().map(|f| f.rule.as_str()))
    }
    /// Findings per file, most first (ties by path).
    pub fn counts_per_file(&self) -> Vec<(String, usize)> {
        counts(self.findings.iter().map(|f| f.file.as_str()))
    }
}

fn counts<'a>(items: impl Iterator<Item = &'a str>) -> Vec<(String, usize)> {
    let mut map = std::collections::BTreeMap::<&str, usize>::new();
    for i in items {
        *map.entry(i).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = map.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// How `rekey audit` writes its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

/// `rekey audit`'s options.
pub struct Invocation {
    pub dir: PathBuf,
    /// SOURCE, whose plan limits the findings to the tables that convert.
    pub source: Option<String>,
    /// `--exclude` and `--reference`, which change the plan as they change `rekey run`'s.
    pub conversion: ConversionOptions,
    pub password_file: Option<PathBuf>,
    pub prompt: Option<Arc<Prompt>>,
    pub format: Format,
}

/// Audits the application under `dir`. With `plan` (SOURCE's plan, from `--source`), only ids of
/// converted tables are reported, and unconstrained integer references get their
/// `--reference` line.
pub fn audit(dir: &Path, plan: Option<&Plan>) -> Result<Audit> {
    if !dir.is_dir() {
        return Err(Error::input(
            Place::default(),
            format!("{} is not a directory.", dir.display()),
            "Give the application's source directory (the one holding its models, routes and views).",
        ));
    }
    let rules = RuleSet::builtin()?;
    let files = walk::files(dir)?;
    // A file that cannot be read as UTF-8 text is not application source the rules understand.
    let read = |f: &walk::SourceFile| std::fs::read_to_string(&f.path).ok();
    // First pass: the names the application's own models declare as keys and references. Each
    // pass reads and parses the files again rather than keeping every tree: memory stays that
    // of the files in flight, whatever the application's size.
    let names = files
        .par_iter()
        .map(|f| {
            let mut names = Names::default();
            if let Some(text) = read(f) {
                if let Some(tree) = lang::parse(f.lang, &text) {
                    rules.collect_names(f.lang, &tree, &text, &mut names);
                }
            }
            names
        })
        .reduce(Names::default, Names::merge);
    let scope = plan.map(Scope::from_plan);
    let per_file: Vec<(usize, Vec<Finding>)> = files
        .par_iter()
        .map(|f| {
            let Some(text) = read(f) else {
                return (0, Vec::new());
            };
            let lines = text.lines().count();
            let Some(tree) = lang::parse(f.lang, &text) else {
                return (lines, Vec::new());
            };
            let mut found = rules.run(f.lang, &tree, &text, &names, scope.as_ref());
            for finding in &mut found {
                finding.file = f.relative.clone();
                if let Some(s) = &scope {
                    finding.reference = s.reference_line(finding);
                }
            }
            (lines, found)
        })
        .collect();
    let mut audit = Audit {
        files: files.len(),
        ..Audit::default()
    };
    let mut seen = BTreeSet::new();
    for (lines, found) in per_file {
        audit.lines += lines;
        for finding in found {
            if seen.insert((finding.file.clone(), finding.line, finding.rule.clone())) {
                audit.findings.push(finding);
            }
        }
    }
    audit.findings.sort();
    Ok(audit)
}
