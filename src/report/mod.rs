//! `report.json`, `report.md` and `report.html`: per stage and per table, rows and seconds,
//! warnings, orphans stored as NULL, the verification result, why counts differ between stages,
//! and (in the HTML) a timeline of every table's stages on the workers. Built from the journal.

mod html;
mod markdown;
mod timeline;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{io_error, Result};
use crate::journal::{
    Artifact, DataShape, Journal, StageRecord, StageSpan, StageStatus, StepRecord, StepSpan,
};
use crate::model::{is_bookkeeping, Schema};
use crate::plan::{Plan, Warning};
use crate::stage::{moves_rows, Stage, ROW_STAGES};
use crate::stages::verify::TableCheck;
use crate::url::redact;

// How numbers are written for people: the report's pages take them from here.
pub use crate::text::{count, duration, plural, thousands};
pub use timeline::timeline_svg;

/// The smallest run whose seconds per million rows mean something: below it the fixed costs
/// (catalog reads, DDL, connections) outweigh the rows, and the figure would promise a rate a
/// big snapshot never sees. docs/cockpit.md says so.
pub const RATE_MIN_ROWS: u64 = 100_000;
pub const RATE_MIN_SECONDS: f64 = 1.0;

/// Seconds per million rows, only for a run large enough (`RATE_MIN_ROWS`, `RATE_MIN_SECONDS`).
pub fn rate_per_million_rows(rows: u64, seconds: f64) -> Option<f64> {
    (rows >= RATE_MIN_ROWS && seconds >= RATE_MIN_SECONDS).then(|| seconds / rows as f64 * 1e6)
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub run_id: Option<String>,
    pub source: Option<String>,
    pub data: Option<String>,
    #[serde(rename = "final")]
    pub final_db: Option<String>,
    pub status: String,
    pub error: Option<String>,
    /// The sum of the stages' seconds (the work, without pauses between commands).
    pub total_seconds: f64,
    pub stages: Vec<StageReport>,
    pub warnings: Vec<Warning>,
    pub orphans_nulled: Vec<serde_json::Value>,
    pub verification: Vec<TableCheck>,
    /// SOURCE's tables: rows (as counted by the run, else the catalog's estimate) and bytes.
    pub tables: Vec<TableFacts>,
    /// Seconds per million rows of the whole run; `None` for a run too small for the figure
    /// to mean anything (`rate_per_million_rows`). `plan --estimate-from` scales per table.
    pub seconds_per_million_rows: Option<f64>,
    /// Why a stage's row count differs from swap's (which writes every row of SOURCE once).
    pub count_notes: Vec<String>,
    /// Every stage and every table's step with its start time and worker.
    pub timeline: Timeline,
    /// `"move"` when DB_DATA's tables were built with DB_FINAL's definitions and renamed into it
    /// (`--load-path move`: DB_DATA gave its tables up); absent when DB_DATA is a kept copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_path: Option<String>,
    /// How each table's rows reached DB_FINAL: `one write` (from SOURCE straight into DB_FINAL
    /// in the load) or `two writes: <why>` (swap filled DB_DATA, the load copied it). Empty for
    /// a run that kept no routes (`--load-path move`, commands without a load).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<TableRoute>,
    /// The application audit's summary (`rekey run --app DIR`): findings per rule, top files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit: Option<serde_json::Value>,
    /// A live run's follow and cutover (`run --follow`): what the follower applied, its lag over
    /// time, and the write freeze the cutover measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveReport>,
}

#[derive(Debug, Serialize)]
pub struct LiveReport {
    pub transactions: u64,
    pub changes: u64,
    /// Row changes applied per second of applying (the follower's throughput).
    pub apply_rate: Option<f64>,
    /// (seconds since the epoch, lag seconds).
    pub lag_timeline: Vec<(f64, f64)>,
    /// Absent until the cutover ended.
    pub cutover: Option<crate::journal::CutoverRecord>,
}

#[derive(Debug, Serialize)]
pub struct TableRoute {
    pub table: String,
    pub route: String,
}

impl Report {
    /// The tables written once (straight from SOURCE into DB_FINAL).
    pub fn written_once(&self) -> Vec<&str> {
        self.routes
            .iter()
            .filter(|r| r.route == "one write")
            .map(|r| r.table.as_str())
            .collect()
    }
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
    /// Set when the stage failed or was interrupted: the error that stopped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub tables: Vec<StepRecord>,
}

impl StageReport {
    pub fn failed(&self) -> bool {
        self.stage.status.ended_badly()
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Timeline {
    pub stages: Vec<StageSpan>,
    pub steps: Vec<StepSpan>,
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
                let failed = s.status.ended_badly();
                let error = if failed { s.detail.clone() } else { None };
                Ok(StageReport {
                    stage: s,
                    error,
                    tables,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let verification = journal
            .artifacts(Artifact::Verify)?
            .into_iter()
            .filter_map(|(_, d)| serde_json::from_str(&d).ok())
            .collect();
        let orphans_nulled = journal
            .artifacts(Artifact::OrphansNulled)?
            .into_iter()
            .filter_map(|(_, d)| serde_json::from_str(&d).ok())
            .collect();
        // The rows a stage wrote per table are exact; the catalog's count is an estimate.
        let counted: BTreeMap<String, u64> = stages
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
        // DB_FINAL's own bookkeeping table is never loaded, whatever swap journaled for it.
        let routes: Vec<TableRoute> = crate::run::data_shape::journaled_routes(journal)?
            .into_iter()
            .filter(|(table, _)| !is_bookkeeping(table))
            .map(|(table, route)| TableRoute { table, route })
            .collect();
        let once: std::collections::BTreeSet<&str> = routes
            .iter()
            .filter(|r| r.route == "one write")
            .map(|r| r.table.as_str())
            .collect();
        let count_notes = count_notes(&stages, source.map(|(_, p)| p), &once);
        Ok(Report {
            run_id: journal.run_id()?,
            source: journal.database_url("source")?,
            data: journal.database_url("data")?,
            final_db: journal.database_url("final")?,
            status,
            error: error.map(|e| redact(&e)),
            total_seconds,
            stages,
            warnings,
            orphans_nulled,
            verification,
            seconds_per_million_rows: rate_per_million_rows(total_rows, total_seconds),
            tables,
            count_notes,
            timeline: Timeline {
                stages: journal.stage_spans()?,
                steps: journal.step_spans()?,
            },
            load_path: (journal.data_shape()? == Some(DataShape::Final))
                .then(|| "move".to_string()),
            routes,
            audit: journal.app_audit()?,
            live: match (journal.follow_progress()?, journal.cutover()?) {
                (None, None) => None,
                (progress, cutover) => {
                    let p = progress.unwrap_or_default();
                    Some(LiveReport {
                        transactions: p.transactions,
                        changes: p.changes,
                        apply_rate: (p.busy_seconds > 0.0)
                            .then(|| p.changes as f64 / p.busy_seconds),
                        lag_timeline: p.timeline,
                        cutover,
                    })
                }
            },
        })
    }

    pub fn to_markdown(&self) -> String {
        markdown::render(self)
    }

    pub fn to_html(&self) -> String {
        html::render(self)
    }

    /// Rows per table in each stage that moves rows, in the order of `ROW_STAGES`; a table a
    /// stage did not touch has None there.
    pub fn rows_by_table(&self) -> Vec<(String, Vec<Option<u64>>)> {
        let mut by: BTreeMap<String, Vec<Option<u64>>> = BTreeMap::new();
        for (i, stage) in ROW_STAGES.iter().enumerate() {
            for st in self.stages.iter().filter(|s| s.stage.name == stage.name()) {
                for t in &st.tables {
                    by.entry(t.item.clone())
                        .or_insert_with(|| vec![None; ROW_STAGES.len()])[i] = Some(t.rows);
                }
            }
        }
        by.into_iter().collect()
    }

    /// The stages that moved rows in this run, among `ROW_STAGES`.
    pub fn row_stages_run(&self) -> Vec<Stage> {
        ROW_STAGES
            .into_iter()
            .filter(|s| self.stages.iter().any(|r| r.stage.name == s.name()))
            .collect()
    }

    pub fn write(&self, run_dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).unwrap_or_default();
        let jp = run_dir.join("report.json");
        crate::run_files::write_private(&jp, redact(&json).as_bytes())
            .map_err(|e| io_error("write", &jp, e))?;
        let mp = run_dir.join("report.md");
        crate::run_files::write_private(&mp, redact(&self.to_markdown()).as_bytes())
            .map_err(|e| io_error("write", &mp, e))?;
        let hp = run_dir.join("report.html");
        crate::run_files::write_private(&hp, redact(&self.to_html()).as_bytes())
            .map_err(|e| io_error("write", &hp, e))
    }
}

/// Explains every row count of a stage that differs from swap's, which writes each row of SOURCE
/// into DB_DATA once: tables that keep their keys have no new keys in shadow, and the migration
/// tool's bookkeeping table of DB_FINAL is neither loaded nor verified.
/// A table written once (`once`) has no rows in swap: the load's rows stand in for them.
fn count_notes(
    stages: &[StageReport],
    plan: Option<&Plan>,
    once: &std::collections::BTreeSet<&str>,
) -> Vec<String> {
    let rows_of = |name: &str| -> Option<BTreeMap<&str, u64>> {
        stages
            .iter()
            .find(|s| s.stage.name == name && !s.failed() && s.stage.status == StageStatus::Done)
            .map(|s| s.tables.iter().map(|t| (t.item.as_str(), t.rows)).collect())
    };
    let Some(mut swap) = rows_of("swap") else {
        return Vec::new();
    };
    let mut wrote = "swap wrote";
    if let Some(load) = rows_of("load") {
        for (table, n) in load.iter().filter(|(t, _)| once.contains(*t)) {
            swap.insert(table, *n);
            wrote = "the run wrote (swap into DB_DATA, or the load straight from SOURCE)";
        }
    }
    let swap_total: u64 = swap.values().sum();
    let why_kept = |table: &str| -> String {
        let Some(plan) = plan else {
            return "keeps its key".into();
        };
        if plan.excluded.iter().any(|t| t == table) {
            "excluded with --exclude".into()
        } else if let Some(k) = plan.kept.iter().find(|k| k.table == table) {
            format!("keeps its key: {}", k.reason)
        } else {
            "keeps its key".into()
        }
    };
    let mut notes = Vec::new();
    for (stage, what) in [
        (
            "shadow",
            "shadow makes one new key per row of the converted tables only",
        ),
        ("load", "load"),
        ("verify", "verify"),
    ] {
        let Some(rows) = rows_of(stage) else {
            continue;
        };
        let total: u64 = rows.values().sum();
        let mut reasons = Vec::new();
        for (table, n) in &swap {
            match rows.get(table) {
                None if *n == 0 => {}
                None => {
                    let why = if stage == "shadow" {
                        why_kept(table)
                    } else if is_bookkeeping(table) && stage == "load" {
                        "DB_FINAL's own migration bookkeeping table, which keeps its rows and is not loaded from DB_DATA".to_string()
                    } else if is_bookkeeping(table) {
                        "DB_FINAL's own migration bookkeeping table, which holds the new schema's history rather than SOURCE's rows, so it is not compared".to_string()
                    } else {
                        format!("not in {stage}")
                    };
                    reasons.push(format!("{table} ({}; {why})", count(*n, "row")));
                }
                Some(m) if m != n => {
                    reasons.push(format!(
                        "{table} has {} in {stage} and {} in swap",
                        thousands(*m),
                        thousands(*n)
                    ));
                }
                Some(_) => {}
            }
        }
        for (table, n) in rows.iter().filter(|(t, _)| !swap.contains_key(*t)) {
            reasons.push(format!("{table} ({}) is not in swap", count(*n, "row")));
        }
        if total != swap_total || !reasons.is_empty() {
            let lead = if stage == "shadow" {
                format!("{what}; ")
            } else {
                String::new()
            };
            notes.push(format!(
                "{stage}: {}, where {wrote} {}: {lead}{}.",
                count(total, "row"),
                thousands(swap_total),
                reasons.join(", ")
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_per_million_rows_only_for_a_run_large_enough() {
        // The demo: 6,418 rows in 0.31 s is no rate.
        assert_eq!(rate_per_million_rows(6_418, 0.31), None);
        assert_eq!(rate_per_million_rows(6_418, 30.0), None);
        assert_eq!(rate_per_million_rows(5_000_000, 0.5), None);
        assert_eq!(rate_per_million_rows(200_000, 4.0), Some(20.0));
    }

    #[test]
    fn counts_read_as_english() {
        assert_eq!(count(1, "row"), "1 row");
        assert_eq!(count(6418, "row"), "6,418 rows");
        assert_eq!(count(0, "trigger"), "0 triggers");
        assert_eq!(count(2, "index"), "2 indexes");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn durations_read_as_english() {
        assert_eq!(duration(0.35), "0.3 s");
        assert_eq!(duration(12.2), "12 s");
        assert_eq!(duration(245.0), "4 min 05 s");
        assert_eq!(duration(7380.0), "2 h 03 min");
    }

    fn step(stage: &str, item: &str, rows: u64) -> StepRecord {
        StepRecord {
            stage: stage.into(),
            item: item.into(),
            rows,
            seconds: 0.1,
            detail: None,
        }
    }

    fn stage(name: &str, tables: Vec<StepRecord>) -> StageReport {
        StageReport {
            stage: StageRecord {
                name: name.into(),
                status: StageStatus::Done,
                seconds: 1.0,
                rows: tables.iter().map(|t| t.rows).sum(),
                detail: None,
            },
            error: None,
            tables,
        }
    }

    #[test]
    fn every_count_that_differs_from_swap_is_explained() {
        let stages = vec![
            stage("shadow", vec![step("shadow", "user", 50)]),
            stage(
                "swap",
                vec![
                    step("swap", "user", 50),
                    step("swap", "user_group_link", 100),
                    step("swap", "alembic_version", 1),
                ],
            ),
            stage(
                "load",
                vec![
                    step("load", "user", 50),
                    step("load", "user_group_link", 100),
                ],
            ),
        ];
        let plan = Plan {
            kept: vec![
                crate::plan::Kept {
                    table: "user_group_link".into(),
                    reason: "composite primary key".into(),
                },
                crate::plan::Kept {
                    table: "alembic_version".into(),
                    reason: "primary key is not an integer".into(),
                },
            ],
            ..Plan::default()
        };
        let notes = count_notes(&stages, Some(&plan), &Default::default());
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!(
            notes[0],
            "shadow: 50 rows, where swap wrote 151: shadow makes one new key per row of the converted tables only; alembic_version (1 row; keeps its key: primary key is not an integer), user_group_link (100 rows; keeps its key: composite primary key)."
        );
        assert_eq!(
            notes[1],
            "load: 150 rows, where swap wrote 151: alembic_version (1 row; DB_FINAL's own migration bookkeeping table, which keeps its rows and is not loaded from DB_DATA)."
        );
    }

    #[test]
    fn a_table_written_once_counts_its_load_rows_where_swap_wrote_none() {
        let stages = vec![
            stage("shadow", vec![step("shadow", "user", 50)]),
            stage("swap", vec![step("swap", "user", 0)]),
            stage("load", vec![step("load", "user", 50)]),
        ];
        let once = std::collections::BTreeSet::from(["user"]);
        assert!(count_notes(&stages, None, &once).is_empty());
        // Without the route, the load's 50 rows against swap's 0 would need explaining.
        assert_eq!(count_notes(&stages, None, &Default::default()).len(), 2);
    }
}
