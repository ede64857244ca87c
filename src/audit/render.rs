//! The audit's findings for people (text grouped by file), for scripts (`--json`) and for
//! code-scanning tools (`--sarif`, SARIF 2.1.0), and its summary for `rekey plan --app`.

use std::io::Write;

use serde_json::json;

use super::rules::RuleSet;
use super::Audit;
use crate::error::{Error, Place, Result};

fn write_err(e: std::io::Error) -> Error {
    Error::env(
        Place::default(),
        format!("the audit's output could not be written: {e}."),
        "Check where standard output goes (a closed pipe, a full disk).",
    )
}

/// Text: per file, one line per finding (line, rule, code) and the sentence that says why it
/// breaks and what to write instead.
pub fn text(audit: &Audit, out: &mut dyn Write) -> Result<()> {
    let mut s = String::new();
    let mut file = "";
    for f in &audit.findings {
        if f.file != file {
            if !file.is_empty() {
                s.push('\n');
            }
            file = &f.file;
            s.push_str(&format!("{file}\n"));
        }
        s.push_str(&format!(
            "  {}:{} [{}] {}\n",
            f.line, f.column, f.rule, f.code
        ));
        s.push_str(&format!("      {}\n", f.message));
        if let Some(r) = &f.reference {
            s.push_str(&format!("      give `rekey run` {r}\n"));
        }
    }
    if !audit.findings.is_empty() {
        s.push('\n');
    }
    s.push_str(&summary_line(audit));
    s.push('\n');
    out.write_all(s.as_bytes()).map_err(write_err)
}

fn summary_line(audit: &Audit) -> String {
    let files = audit.counts_per_file().len();
    format!(
        "{} finding{} in {} file{} ({} files, {} lines read)",
        audit.findings.len(),
        if audit.findings.len() == 1 { "" } else { "s" },
        files,
        if files == 1 { "" } else { "s" },
        audit.files,
        audit.lines
    )
}

/// JSON: an array of findings (`file`, `line`, `column`, `rule`, `message`, `code`, and
/// `reference` where there is one).
pub fn json(audit: &Audit, out: &mut dyn Write) -> Result<()> {
    let text = serde_json::to_string_pretty(&audit.findings).unwrap_or_else(|_| "[]".into());
    writeln!(out, "{text}").map_err(write_err)
}

/// SARIF 2.1.0: one run of the tool `rekey audit`, its rules, and a result per finding.
pub fn sarif(audit: &Audit, out: &mut dyn Write) -> Result<()> {
    let rules = RuleSet::builtin()?;
    let descriptors: Vec<_> = rules
        .rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.title,
                "shortDescription": {"text": r.title},
                "fullDescription": {"text": r.message},
                "defaultConfiguration": {"level": "warning"},
            })
        })
        .collect();
    let results: Vec<_> = audit
        .findings
        .iter()
        .map(|f| {
            let mut message = f.message.clone();
            if let Some(r) = &f.reference {
                message.push_str(&format!(" Give `rekey run` {r}."));
            }
            json!({
                "ruleId": f.rule,
                "ruleIndex": rules.rules.iter().position(|r| r.id == f.rule).unwrap_or(0),
                "level": "warning",
                "message": {"text": message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.file, "uriBaseId": "SRCROOT"},
                        "region": {"startLine": f.line, "startColumn": f.column, "snippet": {"text": f.code}},
                    }
                }],
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "rekey audit",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": descriptors,
            }},
            "originalUriBaseIds": {"SRCROOT": {"description": {"text": "the audited application directory"}}},
            "results": results,
        }],
    });
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    writeln!(out, "{text}").map_err(write_err)
}

/// The summary `rekey plan --app` shows: counts per rule and the files with most findings.
pub fn summary(audit: &Audit, top_files: usize) -> String {
    let mut s = format!("Application audit: {}\n", summary_line(audit));
    if audit.findings.is_empty() {
        return s;
    }
    s.push_str("  per rule:\n");
    for (rule, n) in audit.counts_per_rule() {
        s.push_str(&format!("    {n:>5}  {rule}\n"));
    }
    s.push_str("  files with most findings:\n");
    for (file, n) in audit.counts_per_file().into_iter().take(top_files) {
        s.push_str(&format!("    {n:>5}  {file}\n"));
    }
    s.push_str("  (`rekey audit DIR` lists each place and what to write instead)\n");
    s
}

/// The summary as JSON, for `rekey plan --app --json`.
pub fn summary_json(audit: &Audit, top_files: usize) -> serde_json::Value {
    json!({
        "findings": audit.findings.len(),
        "files_read": audit.files,
        "lines_read": audit.lines,
        "per_rule": audit.counts_per_rule().into_iter().map(|(r, n)| json!({"rule": r, "findings": n})).collect::<Vec<_>>(),
        "top_files": audit.counts_per_file().into_iter().take(top_files).map(|(f, n)| json!({"file": f, "findings": n})).collect::<Vec<_>>(),
    })
}

/// The report's section (report.md) from the summary the run journaled.
pub fn summary_markdown(summary: &serde_json::Value) -> String {
    let mut s = String::from("\n## Application audit\n\n");
    s.push_str(&format!(
        "{} places in the application assume integer ids ({} files, {} lines read); `rekey audit DIR` lists them with what to write instead.\n",
        summary["findings"], summary["files_read"], summary["lines_read"]
    ));
    let rows = |key: &str, name: &str| -> String {
        let mut t = format!("\n| {name} | findings |\n|---|---:|\n");
        for r in summary[key].as_array().into_iter().flatten() {
            t.push_str(&format!(
                "| `{}` | {} |\n",
                r[name].as_str().unwrap_or(""),
                r["findings"]
            ));
        }
        t
    };
    if summary["findings"].as_u64().unwrap_or(0) > 0 {
        s.push_str(&rows("per_rule", "rule"));
        s.push_str(&rows("top_files", "file"));
    }
    s
}
