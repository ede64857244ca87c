//! `report.json` and `report.md`: per stage and per table, rows and seconds, warnings, orphans stored
//! as NULL, and the verification result, built from the journal.

use std::path::Path;

use serde::Serialize;

use crate::error::{io_error, Result};
use crate::journal::{Journal, StageRecord, StepRecord};
use crate::model::Schema;
use crate::plan::{Plan, Warning};
use crate::stages::verify::TableCheck;
use crate::url::redact;

#[derive(Debug, Serialize)]
pub struct Report {
    pub run_id: Option<String>,
    pub source: Option<String>,
    pub data: Option<String>,
    #[serde(rename = "final")]
    pub final_db: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub total_seconds: f64,
    pub stages: Vec<StageReport>,
    pub warnings: Vec<Warning>,
    pub orphans_nulled: Vec<serde_json::Value>,
    pub verification: Vec<TableCheck>,
    /// SOURCE's tables: rows (as counted by the run, else the catalog's estimate) and bytes.
    pub tables: Vec<TableFacts>,
    /// Seconds per million rows of the whole run, the basis of `plan --estimate-from`.
    pub seconds_per_million_rows: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct TableFacts {
    pub table: String,
    pub rows: u64,
    pub bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct StageReport {
    #[serde(flatten)]
    pub stage: StageRecord,
    pub tables: Vec<StepRecord>,
}

impl Report {
    pub fn build(
        journal: &Journal,
        source: Option<&(Schema, Plan)>,
        error: Option<String>,
    ) -> Result<Report> {
        let stages = journal
            .stages()?
            .into_iter()
            .map(|s| {
                let tables = journal.steps(&s.name)?;
                Ok(StageReport { stage: s, tables })
            })
            .collect::<Result<Vec<_>>>()?;
        let verification = journal
            .artifacts("verify")?
            .into_iter()
            .filter_map(|(_, d)| serde_json::from_str(&d).ok())
            .collect();
        let orphans_nulled = journal
            .artifacts("orphans-nulled")?
            .into_iter()
            .filter_map(|(_, d)| serde_json::from_str(&d).ok())
            .collect();
        // The rows a stage wrote per table are exact; the catalog's count is an estimate.
        let counted: std::collections::BTreeMap<String, u64> = stages
            .iter()
            .filter(|s| matches!(s.stage.name.as_str(), "swap" | "load" | "verify"))
            .flat_map(|s| s.tables.iter().map(|t| (t.item.clone(), t.rows)))
            .collect();
        let tables: Vec<TableFacts> = source
            .map(|(schema, _)| {
                schema
                    .tables
                    .iter()
                    .filter(|t| !crate::model::is_internal(&t.name))
                    .map(|t| TableFacts {
                        table: t.name.clone(),
                        rows: counted.get(&t.name).copied().unwrap_or(t.estimated_rows),
                        bytes: t.bytes,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let total_rows: u64 = tables.iter().map(|t| t.rows).sum();
        let total_seconds: f64 = stages.iter().map(|s| s.stage.seconds).sum();
        let warnings: Vec<Warning> = source.map(|(_, p)| p.warnings.clone()).unwrap_or_default();
        let status = match &error {
            Some(_) => "failed".to_string(),
            None => "ok".to_string(),
        };
        Ok(Report {
            run_id: journal.get("run_id")?,
            source: journal.get("source")?,
            data: journal.get("data")?,
            final_db: journal.get("final")?,
            status,
            error: error.map(|e| redact(&e)),
            total_seconds,
            stages,
            warnings,
            orphans_nulled,
            verification,
            seconds_per_million_rows: (total_rows > 0)
                .then(|| total_seconds / total_rows as f64 * 1e6),
            tables,
        })
    }

    pub fn to_markdown(&self) -> String {
        let mut s = String::from("# rekey report\n\n");
        if let Some(id) = &self.run_id {
            s.push_str(&format!("- run: `{id}`\n"));
        }
        for (k, v) in [
            ("SOURCE", &self.source),
            ("DB_DATA", &self.data),
            ("DB_FINAL", &self.final_db),
        ] {
            if let Some(v) = v {
                s.push_str(&format!("- {k}: `{v}`\n"));
            }
        }
        s.push_str(&format!("- status: **{}**\n", self.status));
        if let Some(e) = &self.error {
            s.push_str(&format!("- error: {e}\n"));
        }
        s.push_str(&format!("- total: {:.2} s\n\n## Stages\n\n| stage | status | seconds | rows | rows/s | detail |\n|---|---|---:|---:|---:|---|\n", self.total_seconds));
        for st in &self.stages {
            let r = &st.stage;
            let rate = if r.seconds > 0.0 {
                format!("{:.0}", r.rows as f64 / r.seconds)
            } else {
                "-".into()
            };
            s.push_str(&format!(
                "| {} | {} | {:.2} | {} | {} | {} |\n",
                r.name,
                r.status,
                r.seconds,
                r.rows,
                rate,
                r.detail.as_deref().unwrap_or("")
            ));
        }
        for st in self.stages.iter().filter(|st| !st.tables.is_empty()) {
            s.push_str(&format!(
                "\n### {}\n\n| table | rows | seconds |\n|---|---:|---:|\n",
                st.stage.name
            ));
            for t in &st.tables {
                s.push_str(&format!("| {} | {} | {:.2} |\n", t.item, t.rows, t.seconds));
            }
        }
        if !self.tables.is_empty() {
            let rows: u64 = self.tables.iter().map(|t| t.rows).sum();
            let bytes: u64 = self.tables.iter().map(|t| t.bytes).sum();
            // Engines that keep no sizes in their catalog (SQLite) report 0 bytes: say nothing then.
            let size = if bytes > 0 {
                format!(", {:.1} MB", bytes as f64 / 1e6)
            } else {
                String::new()
            };
            s.push_str(&format!(
                "\n## Size and downtime\n\n{} tables, {rows} rows{size} in SOURCE; {:.2} s per million rows. For a bigger snapshot: `rekey plan --source URL --estimate-from RUN_DIR`.\n",
                self.tables.len(),
                self.seconds_per_million_rows.unwrap_or(0.0)
            ));
        }
        if !self.verification.is_empty() {
            let ok = self.verification.iter().filter(|v| v.ok).count();
            s.push_str(&format!(
                "\n## Verification\n\n{ok} of {} tables identical in SOURCE and DB_FINAL.\n\n",
                self.verification.len()
            ));
            for v in self.verification.iter().filter(|v| !v.ok) {
                s.push_str(&format!("- {}: {}\n", v.table, v.problems.join("; ")));
            }
        }
        if !self.orphans_nulled.is_empty() {
            s.push_str("\n## Orphans stored as NULL\n\n");
            for o in &self.orphans_nulled {
                s.push_str(&format!(
                    "- {}: {} rows, e.g. {}; every one in `{}`\n",
                    o["reference"].as_str().unwrap_or_default(),
                    o["rows"],
                    o["samples"]
                        .as_array()
                        .map(|v| v
                            .iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_default(),
                    o["file"].as_str().unwrap_or("(not written)")
                ));
            }
        }
        if !self.warnings.is_empty() {
            s.push_str("\n## Warnings\n\n");
            for w in &self.warnings {
                s.push_str(&format!("- [{}] {}\n", w.kind, w.message));
            }
        }
        s
    }

    pub fn write(&self, run_dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).unwrap_or_default();
        let jp = run_dir.join("report.json");
        std::fs::write(&jp, redact(&json)).map_err(|e| io_error("write", &jp, e))?;
        let mp = run_dir.join("report.md");
        std::fs::write(&mp, redact(&self.to_markdown())).map_err(|e| io_error("write", &mp, e))
    }
}

/// `word`, or its plural for any count but one ("1 trigger", "2 triggers").
pub fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        word.to_string()
    } else if word.ends_with('s') || word.ends_with('x') {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}
