//! The production downtime estimate: a rehearsal's per-stage, per-table timings scaled by the row
//! counts of the snapshot to convert (cost grows linearly with rows; docs/performance.md).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{io_error, Error, Result};

/// One stage: what the rehearsal took and what the bigger (or smaller) snapshot should take.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageEstimate {
    pub stage: String,
    pub rehearsal_seconds: f64,
    pub estimated_seconds: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Estimate {
    pub rehearsal_rows: u64,
    pub production_rows: u64,
    pub stages: Vec<StageEstimate>,
    pub rehearsal_seconds: f64,
    pub estimated_seconds: f64,
    /// The rehearsal moved DB_DATA's tables into DB_FINAL (`--load-path move`): its load is a
    /// rename, whatever the rows, and the estimate holds for a cutover run the same way.
    pub moved: bool,
    /// The route the rehearsal's rows took, which the estimate assumes: `one write` (SOURCE
    /// straight into DB_FINAL in the load, `rekey run`'s default), `two writes` (swap filled
    /// DB_DATA, the load copied it: `--full-data-copy`, or an engine or table that cannot take
    /// the one-write route), `mixed`, or `move`.
    pub route: String,
    /// The same snapshot on the other route (one write <-> two writes), predicted from this
    /// rehearsal's stages: the two-write route adds swap's fill of DB_DATA, which costs about
    /// what the load's write of the same rows costs; the one-write route drops it.
    pub other_route_seconds: Option<f64>,
}

/// Reads a rehearsal's report.json.
pub fn read_report(run_dir: &Path) -> Result<serde_json::Value> {
    let path = run_dir.join("report.json");
    let text = std::fs::read_to_string(&path).map_err(|e| io_error("read", &path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::usage(
            format!("{} is not a rekey report ({e}).", path.display()),
            "Give --estimate-from the --run-dir of a finished rehearsal.",
        )
    })
}

/// Scales each stage by its tables: a table's seconds grow with its rows. Stages without per-table
/// rows (catalog work, DDL) keep their time.
pub fn estimate(report: &serde_json::Value, production_rows: &BTreeMap<String, u64>) -> Estimate {
    let stages = report["stages"].as_array().cloned().unwrap_or_default();
    let moved = report["load_path"] == "move";
    let mut rehearsal_rows: BTreeMap<String, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for s in &stages {
        let name = s["name"].as_str().unwrap_or_default().to_string();
        let seconds = s["seconds"].as_f64().unwrap_or(0.0);
        let tables = s["tables"].as_array().cloned().unwrap_or_default();
        let mut spent = 0.0;
        let mut scaled = 0.0;
        for t in &tables {
            let item = t["item"].as_str().unwrap_or_default();
            let rows = t["rows"].as_u64().unwrap_or(0);
            let secs = t["seconds"].as_f64().unwrap_or(0.0);
            let factor = match (rows, production_rows.get(item)) {
                (0, _) | (_, None) => 1.0,
                // One RENAME moved every table: metadata, not rows.
                _ if moved && name == "load" => 1.0,
                (r, Some(p)) => {
                    rehearsal_rows.insert(item.to_string(), r);
                    *p as f64 / r as f64
                }
            };
            spent += secs;
            scaled += secs * factor;
        }
        // The stage's wall time includes parallelism and fixed costs; scale it by how much its
        // tables' work grows.
        let ratio = if spent > 0.0 { scaled / spent } else { 1.0 };
        out.push(StageEstimate {
            stage: name,
            rehearsal_seconds: seconds,
            estimated_seconds: seconds * ratio,
        });
    }
    let routes: Vec<&str> = report["routes"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["route"].as_str()).collect())
        .unwrap_or_default();
    let once = routes.iter().filter(|r| **r == "one write").count();
    let route = if moved {
        "move"
    } else if once > 0 && once == routes.len() {
        "one write"
    } else if once > 0 {
        "mixed"
    } else {
        // Reports from before routes were kept wrote every row twice.
        "two writes"
    };
    let seconds_of = |stage: &str| {
        out.iter()
            .find(|s| s.stage == stage)
            .map_or(0.0, |s| s.estimated_seconds)
    };
    let estimated: f64 = out.iter().map(|s| s.estimated_seconds).sum();
    let other_route_seconds = match route {
        // Swap's fill (its DDL on empty tables is instant) goes; the load reads SOURCE instead.
        "two writes" => Some(estimated - seconds_of("swap")),
        // DB_DATA filled too: one more write of every row, about the load's.
        "one write" => Some(estimated + seconds_of("load")),
        _ => None,
    };
    let production: u64 = rehearsal_rows
        .keys()
        .filter_map(|t| production_rows.get(t))
        .sum();
    Estimate {
        rehearsal_rows: rehearsal_rows.values().sum(),
        production_rows: production,
        rehearsal_seconds: out.iter().map(|s| s.rehearsal_seconds).sum(),
        estimated_seconds: estimated,
        stages: out,
        moved,
        route: route.to_string(),
        other_route_seconds,
    }
}

impl Estimate {
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "Downtime estimate: {:.0} s for {} rows (the rehearsal took {:.0} s for {} rows)\n",
            self.estimated_seconds,
            self.production_rows,
            self.rehearsal_seconds,
            self.rehearsal_rows
        );
        s.push_str(&format!(
            "  {:<14}{:>12}{:>12}\n",
            "stage", "rehearsal", "estimate"
        ));
        for st in &self.stages {
            s.push_str(&format!(
                "  {:<14}{:>11.1}s{:>11.1}s\n",
                st.stage, st.rehearsal_seconds, st.estimated_seconds
            ));
        }
        if self.moved {
            s.push_str("The rehearsal ran with --load-path move (DB_DATA's tables renamed into DB_FINAL): the estimate holds for a cutover run with it; without it the load copies every row once more.\n");
        }
        match (self.route.as_str(), self.other_route_seconds) {
            ("one write", Some(other)) => s.push_str(&format!(
                "The estimate assumes the rehearsal's route: every row written once, from SOURCE straight into DB_FINAL (rekey run's default). With --full-data-copy (DB_DATA kept full, every row written twice): about {other:.0} s.\n"
            )),
            ("two writes", Some(other)) => s.push_str(&format!(
                "The estimate assumes the rehearsal's route: every row written twice, into DB_DATA by swap, then into DB_FINAL by the load (--full-data-copy or rekey convert + load). A default rekey run writes each row once where the engine can: about {other:.0} s.\n"
            )),
            ("mixed", _) => s.push_str("The estimate assumes the rehearsal's routes: some tables written once from SOURCE into DB_FINAL, the others twice through DB_DATA (report.md names them).\n"),
            _ => {}
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_table_work_by_rows_and_keeps_fixed_costs() {
        let report = serde_json::json!({"stages": [
            {"name": "introspect", "seconds": 0.5, "tables": []},
            {"name": "swap", "seconds": 10.0, "tables": [
                {"item": "big", "rows": 1000, "seconds": 8.0},
                {"item": "small", "rows": 10, "seconds": 2.0}]}
        ]});
        let prod = BTreeMap::from([("big".to_string(), 3000), ("small".to_string(), 10)]);
        let e = estimate(&report, &prod);
        assert_eq!(e.stages[0].estimated_seconds, 0.5);
        // big triples (24 s of work), small stays (2 s): 26/10 of the stage's 10 s.
        assert!((e.stages[1].estimated_seconds - 26.0).abs() < 1e-9);
        assert_eq!(e.rehearsal_rows, 1010);
        assert_eq!(e.production_rows, 3010);
        assert!((e.estimated_seconds - 26.5).abs() < 1e-9);
    }

    #[test]
    fn a_moved_load_is_a_rename_whatever_the_rows() {
        let stages = serde_json::json!([
            {"name": "swap", "seconds": 10.0, "tables": [{"item": "big", "rows": 1000, "seconds": 10.0}]},
            {"name": "load", "seconds": 0.5, "tables": [{"item": "big", "rows": 1000, "seconds": 0.5}]}
        ]);
        let prod = BTreeMap::from([("big".to_string(), 10_000)]);
        let copied = estimate(&serde_json::json!({ "stages": stages }), &prod);
        assert!(!copied.moved);
        assert!((copied.stages[1].estimated_seconds - 5.0).abs() < 1e-9);
        let moved = estimate(
            &serde_json::json!({ "stages": stages, "load_path": "move" }),
            &prod,
        );
        assert!(moved.moved);
        assert!((moved.stages[0].estimated_seconds - 100.0).abs() < 1e-9);
        assert!((moved.stages[1].estimated_seconds - 0.5).abs() < 1e-9);
        assert!(moved.to_text().contains("--load-path move"));
        assert_eq!(moved.route, "move");
    }

    #[test]
    fn the_estimate_names_its_route_and_predicts_the_other() {
        let stages = serde_json::json!([
            {"name": "swap", "seconds": 4.0, "tables": [{"item": "big", "rows": 1000, "seconds": 4.0}]},
            {"name": "load", "seconds": 6.0, "tables": [{"item": "big", "rows": 1000, "seconds": 6.0}]}
        ]);
        let prod = BTreeMap::from([("big".to_string(), 2000)]);
        // A full copy (or a report from before routes): dropping swap's fill predicts one write.
        let twice = estimate(&serde_json::json!({ "stages": stages }), &prod);
        assert_eq!(twice.route, "two writes");
        assert!((twice.estimated_seconds - 20.0).abs() < 1e-9);
        assert!((twice.other_route_seconds.unwrap() - 12.0).abs() < 1e-9);
        assert!(
            twice.to_text().contains("writes each row once"),
            "{}",
            twice.to_text()
        );
        let once = estimate(
            &serde_json::json!({ "stages": stages, "routes": [{"table": "big", "route": "one write"}] }),
            &prod,
        );
        assert_eq!(once.route, "one write");
        assert!((once.other_route_seconds.unwrap() - 32.0).abs() < 1e-9);
        assert!(
            once.to_text().contains("--full-data-copy"),
            "{}",
            once.to_text()
        );
    }
}
