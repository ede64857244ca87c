//! `report.html`: one self-contained page (inline CSS and SVG, no script) with the run's summary,
//! the timeline of every table's stages on the workers, the stages, rows per table with the
//! reasons counts differ, verification and warnings. It opens from the run directory in any
//! browser, also on a machine without network.

use std::fmt::Write;

use super::timeline::{escape, stage_color, timeline_svg};
use super::{count, duration, moves_rows, plural, thousands, Report, ROW_STAGES};

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 24px 32px; color: #222; max-width: 1100px; }
h1 { margin-bottom: 4px; }
h2 { margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.status { display: inline-block; padding: 2px 10px; border-radius: 4px; color: #fff; font-weight: bold; }
.status.ok { background: #2e7d32; }
.status.failed { background: #c62828; }
.error { border-left: 4px solid #c62828; background: #fdecea; padding: 8px 12px; margin: 12px 0; }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }
dl.summary dt { color: #555; }
dl.summary dd { margin: 0; font-family: ui-monospace, monospace; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
td:first-child { white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: #fdecea; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
.timeline { border: 1px solid #ddd; background: #fff; max-width: 100%; height: auto; }
.note { color: #555; }
";

pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let title = match &r.run_id {
        Some(id) => format!("rekey report — run {id}"),
        None => "rekey report".to_string(),
    };
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let _ = writeln!(
        s,
        "<h1>rekey report</h1>\n<p><span class=\"status {}\">{}</span></p>",
        if r.status == "ok" { "ok" } else { "failed" },
        escape(&r.status)
    );
    if let Some(e) = &r.error {
        let _ = writeln!(s, "<div class=\"error\">{}</div>", escape(e));
    }

    let (t0, t1) = wall_clock(r);
    let rows: u64 = r.tables.iter().map(|t| t.rows).sum();
    s.push_str("<dl class=\"summary\">\n");
    let mut item = |k: &str, v: String| {
        let _ = writeln!(s, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
    };
    if let Some(id) = &r.run_id {
        item("run", id.clone());
    }
    for (k, v) in [
        ("SOURCE", &r.source),
        ("DB_DATA", &r.data),
        ("DB_FINAL", &r.final_db),
    ] {
        if let Some(v) = v {
            item(k, v.clone());
        }
    }
    item(
        "stages",
        format!(
            "{:.2} s of work ({})",
            r.total_seconds,
            duration(r.total_seconds)
        ),
    );
    if let (Some(a), Some(b)) = (t0, t1) {
        item("wall clock", format!("{:.2} s, first stage to last", b - a));
    }
    if !r.tables.is_empty() {
        item(
            "SOURCE size",
            format!(
                "{}, {}",
                count(r.tables.len() as u64, "table"),
                count(rows, "row")
            ),
        );
    }
    if !r.verification.is_empty() {
        let ok = r.verification.iter().filter(|v| v.ok).count();
        item(
            "verification",
            format!(
                "{ok} of {} {} identical",
                r.verification.len(),
                plural(r.verification.len(), "table")
            ),
        );
    }
    s.push_str("</dl>\n");

    s.push_str("<h2>Timeline</h2>\n<p class=\"legend\">");
    for st in r.stages.iter().map(|st| st.stage.name.as_str()) {
        let _ = write!(
            s,
            "<span><i style=\"background:{}\"></i>{}</span>",
            stage_color(st),
            escape(st)
        );
    }
    s.push_str("</p>\n");
    s.push_str(&timeline_svg(&r.timeline.stages, &r.timeline.steps));
    s.push_str("\n<p class=\"note\">Each table has a lane with a bar for each of its stages (w1 is worker 1), the tables that took longest at the top. An outlined bar is the longest table of its stage: no number of workers makes the stage shorter than that table, so those tables are the critical path of the downtime. The worker lanes show what each worker ran and when it waited. A red outline marks a failure; a dashed one a step that never ended (the process was stopped). Hover over a bar for its rows and seconds.</p>\n");

    if let Some(l) = &r.live {
        s.push_str("<h2>Live cutover</h2>\n<dl>\n");
        let _ = writeln!(
            s,
            "<dt>followed</dt><dd>{} transactions, {} row changes applied to DB_FINAL</dd>",
            l.transactions, l.changes
        );
        if let Some(c) = &l.cutover {
            let _ = writeln!(
                s,
                "<dt>write freeze</dt><dd>{:.2} s from <code>rekey cutover</code> to a verified DB_FINAL ({} transactions drained, {} changed rows verified)</dd>",
                c.freeze_seconds, c.drained, c.verified_rows
            );
        }
        s.push_str("</dl>\n");
        s.push_str(&lag_svg(&l.lag_timeline));
    }

    s.push_str("<h2>Stages</h2>\n<table>\n<tr><th>stage</th><th>status</th><th class=\"n\">seconds</th><th class=\"n\">rows</th><th class=\"n\">rows/s</th><th>detail</th></tr>\n");
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
        let _ = writeln!(
            s,
            "<tr class=\"{}\"><td><i style=\"display:inline-block;width:10px;height:10px;background:{}\"></i> {}</td><td>{}</td><td class=\"n\">{:.2}</td><td class=\"n\">{rows}</td><td class=\"n\">{rate}</td><td>{}</td></tr>",
            if st.failed() { "failed" } else { "" },
            stage_color(&rec.name),
            escape(&rec.name),
            escape(rec.status.as_str()),
            rec.seconds,
            escape(rec.detail.as_deref().unwrap_or(""))
        );
    }
    s.push_str("</table>\n");

    let by_table = r.rows_by_table();
    let run = r.row_stages_run();
    if !by_table.is_empty() && !run.is_empty() {
        let columns: Vec<usize> = ROW_STAGES
            .iter()
            .enumerate()
            .filter(|(_, st)| run.contains(st))
            .map(|(i, _)| i)
            .collect();
        s.push_str("<h2>Rows per table</h2>\n<table>\n<tr><th>table</th>");
        for &i in &columns {
            let _ = write!(s, "<th class=\"n\">{}</th>", ROW_STAGES[i]);
        }
        s.push_str("</tr>\n");
        for (table, rows) in &by_table {
            let _ = write!(s, "<tr><td>{}</td>", escape(table));
            for &i in &columns {
                let _ = write!(
                    s,
                    "<td class=\"n\">{}</td>",
                    rows[i].map(thousands).unwrap_or_else(|| "-".into())
                );
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</table>\n");
        if !r.count_notes.is_empty() {
            s.push_str("<p>Why the counts differ:</p>\n<ul>\n");
            for n in &r.count_notes {
                let _ = writeln!(s, "<li>{}</li>", escape(n));
            }
            s.push_str("</ul>\n");
        }
    }

    if r.verification.iter().any(|v| !v.ok) {
        s.push_str("<h2>Verification</h2>\n<ul>\n");
        for v in r.verification.iter().filter(|v| !v.ok) {
            let _ = writeln!(
                s,
                "<li>{}: {}</li>",
                escape(&v.table),
                escape(&v.problems.join("; "))
            );
        }
        s.push_str("</ul>\n");
    }
    if !r.orphans_nulled.is_empty() {
        s.push_str("<h2>Orphans stored as NULL</h2>\n<ul>\n");
        for o in &r.orphans_nulled {
            let _ = writeln!(
                s,
                "<li>{}: {}; every one in <code>{}</code></li>",
                escape(o["reference"].as_str().unwrap_or_default()),
                escape(&count(o["rows"].as_u64().unwrap_or(0), "row")),
                escape(o["file"].as_str().unwrap_or("(not written)"))
            );
        }
        s.push_str("</ul>\n");
    }
    if !r.warnings.is_empty() {
        s.push_str("<h2>Warnings</h2>\n<ul>\n");
        for w in &r.warnings {
            let _ = writeln!(
                s,
                "<li><b>{}</b> {}</li>",
                escape(w.kind),
                escape(&w.message)
            );
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</body>\n</html>\n");
    s
}

/// The first stage's start and the last end the journal knows of.
fn wall_clock(r: &Report) -> (Option<f64>, Option<f64>) {
    let starts = r.timeline.stages.iter().filter_map(|s| s.started_at);
    let ends = r.timeline.stages.iter().filter_map(|s| s.finished_at);
    (
        starts.fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.min(b)))),
        ends.fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b)))),
    )
}

/// The follower's lag over time, as a line: seconds behind SOURCE against the time of the run.
fn lag_svg(points: &[(f64, f64)]) -> String {
    let (Some(t0), Some(t1)) = (points.first().map(|p| p.0), points.last().map(|p| p.0)) else {
        return String::new();
    };
    let span = (t1 - t0).max(1.0);
    let top = points.iter().map(|p| p.1).fold(1.0, f64::max);
    let (w, h) = (800.0, 120.0);
    let line: Vec<String> = points
        .iter()
        .map(|(t, lag)| format!("{:.1},{:.1}", (t - t0) / span * w, h - lag / top * h))
        .collect();
    format!(
        "<p class=\"legend\">Lag of the follower behind SOURCE over {:.0} s (top of the chart: {top:.1} s)</p>\n<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"follower lag\"><polyline fill=\"none\" stroke=\"#c44\" stroke-width=\"1.5\" points=\"{}\"/></svg>\n",
        span,
        line.join(" ")
    )
}
