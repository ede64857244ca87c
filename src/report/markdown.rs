//! `report.md`: the run's summary, its stages, rows and seconds per table (one table each, with a
//! column per stage, so that a count that differs stands next to the others and is explained
//! under them), verification, orphans and warnings.

use std::fmt::Write;

use super::{count, moves_rows, plural, thousands, Report};

pub fn render(r: &Report) -> String {
    let mut s = String::from("# rekey report\n\n");
    if let Some(id) = &r.run_id {
        let _ = writeln!(s, "- run: `{id}`");
    }
    for (k, v) in [
        ("SOURCE", &r.source),
        ("DB_DATA", &r.data),
        ("DB_FINAL", &r.final_db),
    ] {
        if let Some(v) = v {
            let _ = writeln!(s, "- {k}: `{v}`");
        }
    }
    let _ = writeln!(s, "- status: **{}**", r.status);
    if let Some(e) = &r.error {
        let _ = writeln!(s, "- error: {e}");
    }
    let _ = writeln!(s, "- total: {:.2} s", r.total_seconds);
    if r.load_path.as_deref() == Some("move") {
        let _ = writeln!(
            s,
            "- load path: `--load-path move`: DB_DATA's tables were built with DB_FINAL's definitions and renamed into DB_FINAL; DB_DATA keeps no converted copy"
        );
    }
    if !r.routes.is_empty() {
        let once = r.written_once();
        // Grouped by reason: a full copy gives every table the same one.
        let mut twice: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for t in r.routes.iter().filter(|t| t.route != "one write") {
            twice
                .entry(t.route.strip_prefix("two writes: ").unwrap_or(&t.route))
                .or_default()
                .push(&t.table);
        }
        if !once.is_empty() {
            let _ = writeln!(
                s,
                "- route: {} written once, from SOURCE straight into DB_FINAL by the load (DB_DATA holds their converted definitions, without rows)",
                count(once.len() as u64, "table")
            );
        }
        for (why, tables) in &twice {
            let _ = writeln!(
                s,
                "- route: {} written twice, into DB_DATA by swap and copied into DB_FINAL by the load, because {why}: {}",
                count(tables.len() as u64, "table"),
                tables.join(", ")
            );
        }
    }
    let _ = writeln!(
        s,
        "- timeline of every table's stages: `report.html` (beside this file)"
    );

    s.push_str("\n## Stages\n\n| stage | status | seconds | rows | rows/s | detail |\n|---|---|---:|---:|---:|---|\n");
    for st in &r.stages {
        let rec = &st.stage;
        let (rows, rate) = if moves_rows(&rec.name) {
            let rate = if rec.seconds > 0.0 {
                thousands((rec.rows as f64 / rec.seconds).round() as u64)
            } else {
                "-".into()
            };
            (thousands(rec.rows), rate)
        } else {
            ("-".into(), "-".into())
        };
        let status = if st.failed() {
            format!("**{}**", rec.status)
        } else {
            rec.status.to_string()
        };
        let _ = writeln!(
            s,
            "| {} | {status} | {:.2} | {rows} | {rate} | {} |",
            rec.name,
            rec.seconds,
            cell(rec.detail.as_deref().unwrap_or(""))
        );
    }

    let by_table = r.rows_by_table();
    let row_stages = r.row_stages_run();
    if !by_table.is_empty() && !row_stages.is_empty() {
        let columns: Vec<usize> = super::ROW_STAGES
            .iter()
            .enumerate()
            .filter(|(_, st)| row_stages.contains(st))
            .map(|(i, _)| i)
            .collect();
        s.push_str("\n## Rows per table\n\n| table |");
        for &i in &columns {
            let _ = write!(s, " {} |", super::ROW_STAGES[i]);
        }
        s.push_str("\n|---|");
        s.push_str(&"---:|".repeat(columns.len()));
        s.push('\n');
        let mut totals = vec![0u64; columns.len()];
        for (table, rows) in &by_table {
            let _ = write!(s, "| {} |", cell(table));
            for (k, &i) in columns.iter().enumerate() {
                match rows[i] {
                    Some(n) => {
                        totals[k] += n;
                        let _ = write!(s, " {} |", thousands(n));
                    }
                    None => s.push_str(" - |"),
                }
            }
            s.push('\n');
        }
        s.push_str("| **total** |");
        for t in totals {
            let _ = write!(s, " **{}** |", thousands(t));
        }
        s.push('\n');
        if !r.count_notes.is_empty() {
            s.push_str("\nWhy the counts differ:\n\n");
            for n in &r.count_notes {
                let _ = writeln!(s, "- {n}");
            }
        }
    }

    let step_stages: Vec<&super::StageReport> =
        r.stages.iter().filter(|st| !st.tables.is_empty()).collect();
    if !step_stages.is_empty() {
        let mut tables: Vec<&str> = step_stages
            .iter()
            .flat_map(|st| st.tables.iter().map(|t| t.item.as_str()))
            .collect();
        tables.sort_unstable();
        tables.dedup();
        s.push_str("\n## Seconds per table\n\n| table |");
        for st in &step_stages {
            let _ = write!(s, " {} |", st.stage.name);
        }
        s.push_str(" all stages |\n|---|");
        s.push_str(&"---:|".repeat(step_stages.len() + 1));
        s.push('\n');
        for table in tables {
            let _ = write!(s, "| {} |", cell(table));
            let mut sum = 0.0;
            for st in &step_stages {
                match st.tables.iter().find(|t| t.item == table) {
                    Some(t) => {
                        sum += t.seconds;
                        let _ = write!(s, " {:.2} |", t.seconds);
                    }
                    None => s.push_str(" - |"),
                }
            }
            let _ = writeln!(s, " {sum:.2} |");
        }
    }

    if !r.tables.is_empty() {
        let rows: u64 = r.tables.iter().map(|t| t.rows).sum();
        let bytes: u64 = r.tables.iter().map(|t| t.bytes).sum();
        // Engines that keep no sizes in their catalog (SQLite) report 0 bytes: say nothing then.
        let size = if bytes > 0 {
            format!(", {:.1} MB", bytes as f64 / 1e6)
        } else {
            String::new()
        };
        let rate = match r.seconds_per_million_rows {
            Some(rate) => format!("{rate:.2} s per million rows"),
            None => format!(
                "too small a run for a figure per million rows (it takes at least {} and {:.0} s)",
                count(super::RATE_MIN_ROWS, "row"),
                super::RATE_MIN_SECONDS
            ),
        };
        let _ = writeln!(
            s,
            "\n## Size and downtime\n\n{}, {}{size} in SOURCE; {rate}. For a bigger snapshot: `rekey plan --source URL --estimate-from RUN_DIR`.",
            count(r.tables.len() as u64, "table"),
            count(rows, "row"),
        );
    }
    if !r.verification.is_empty() {
        let ok = r.verification.iter().filter(|v| v.ok).count();
        let _ = writeln!(
            s,
            "\n## Verification\n\n{ok} of {} {} identical in SOURCE and DB_FINAL.\n",
            r.verification.len(),
            plural(r.verification.len(), "table")
        );
        for v in r.verification.iter().filter(|v| !v.ok) {
            let _ = writeln!(s, "- {}: {}", v.table, v.problems.join("; "));
        }
    }
    if !r.orphans_nulled.is_empty() {
        s.push_str("\n## Orphans stored as NULL\n\n");
        for o in &r.orphans_nulled {
            let _ = writeln!(
                s,
                "- {}: {}, e.g. {}; every one in `{}`",
                o["reference"].as_str().unwrap_or_default(),
                count(o["rows"].as_u64().unwrap_or(0), "row"),
                o["samples"]
                    .as_array()
                    .map(|v| v
                        .iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default(),
                o["file"].as_str().unwrap_or("(not written)")
            );
        }
    }
    if !r.warnings.is_empty() {
        s.push_str("\n## Warnings\n\n");
        for w in &r.warnings {
            let _ = writeln!(s, "- [{}] {}", w.kind, w.message);
        }
    }
    if let Some(l) = &r.live {
        s.push_str("\n## Live cutover\n\n");
        let _ = writeln!(
            s,
            "- followed SOURCE: {} transactions, {} row changes applied to DB_FINAL{}",
            l.transactions,
            l.changes,
            l.apply_rate.map_or(String::new(), |r| format!(
                " ({r:.0} row changes/s while applying)"
            ))
        );
        if let Some(max) = l.lag_timeline.iter().map(|p| p.1).reduce(f64::max) {
            let _ = writeln!(s, "- largest lag seen: {max:.1} s");
        }
        match &l.cutover {
            Some(c) => {
                let _ = writeln!(
                    s,
                    "- write freeze: {:.2} s (from `rekey cutover` to a verified DB_FINAL); {} transactions drained in it, {} changed rows verified",
                    c.freeze_seconds, c.drained, c.verified_rows
                );
                if !c.phases.is_empty() {
                    let phases: Vec<String> = c
                        .phases
                        .iter()
                        .map(|(what, secs)| format!("{what} {secs:.2} s"))
                        .collect();
                    let _ = writeln!(s, "- where the freeze went: {}", phases.join("; "));
                }
            }
            None => s.push_str("- not cut over yet\n"),
        }
    }
    if let Some(a) = &r.audit {
        s.push_str(&crate::audit::render::summary_markdown(a));
    }
    s
}

/// Text for a table cell: a `|` would end the cell and a newline the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
