//! The run's timeline as SVG, drawn by rekey itself (no script, no external file): a lane of
//! stages, a lane per table (longest first) with a bar for each of its stages, and a lane per
//! worker. The longest table of each stage is outlined: no number of workers makes the stage
//! shorter than it, so those tables are the critical path of the downtime.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::journal::{StageSpan, StageStatus, StepSpan};

const LABEL_W: f64 = 210.0;
const PLOT_W: f64 = 800.0;
const RIGHT: f64 = 40.0;
const ROW_H: f64 = 20.0;
const BAR_H: f64 = 14.0;
const AXIS_H: f64 = 28.0;
const SECTION_GAP: f64 = 26.0;

/// The fill of each stage's bars (a qualitative palette: neighbours in the pipeline differ).
pub fn stage_color(stage: &str) -> &'static str {
    match stage {
        "introspect" => "#bab0ac",
        "preflight" => "#8f8f8f",
        "clone" => "#4e79a7",
        "shadow" => "#f28e2b",
        "link" => "#e15759",
        "unconstrain" => "#76b7b2",
        "swap" => "#59a14f",
        "derive-final" => "#edc948",
        "compare" => "#b07aa1",
        "load" => "#ff9da7",
        "verify" => "#9c755f",
        _ => "#cccccc",
    }
}

/// Escapes text for XML and HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A bar: a span of time, absolute seconds.
struct Span<'a> {
    step: &'a StepSpan,
    start: f64,
    end: f64,
}

/// The timeline of a run as an `<svg>` element. Steps that never started (pending) are left
/// out; a step still running (a killed run) ends at the last moment the journal knows of.
pub fn timeline_svg(stages: &[StageSpan], steps: &[StepSpan]) -> String {
    let stage_spans: Vec<(&StageSpan, f64, f64)> = stages
        .iter()
        .filter_map(|s| {
            let start = s.started_at?;
            let end = s
                .finished_at
                .or_else(|| s.seconds.map(|d| start + d))
                .unwrap_or(start);
            Some((s, start, end.max(start)))
        })
        .collect();
    let mut spans: Vec<Span> = steps
        .iter()
        .filter_map(|st| {
            let start = st.started_at?;
            let end = start + st.seconds.unwrap_or(0.0);
            Some(Span {
                step: st,
                start,
                end,
            })
        })
        .collect();
    let t0 = stage_spans
        .iter()
        .map(|s| s.1)
        .chain(spans.iter().map(|s| s.start))
        .fold(f64::INFINITY, f64::min);
    if !t0.is_finite() {
        return "<p>The journal holds no timed stages yet.</p>".to_string();
    }
    let mut t1 = stage_spans
        .iter()
        .map(|s| s.2)
        .chain(spans.iter().map(|s| s.end))
        .fold(t0, f64::max);
    for s in spans
        .iter_mut()
        .filter(|s| s.step.status == StageStatus::Running)
    {
        s.end = t1;
    }
    t1 = t1.max(t0 + 1e-3);
    let span = t1 - t0;
    let x = |t: f64| LABEL_W + (t - t0) / span * PLOT_W;
    let w = |a: f64, b: f64| ((b - a) / span * PLOT_W).max(2.0);

    // No number of workers makes a stage shorter than its longest table: those tables are the
    // critical path of the downtime. (The one that happened to end last is often a small table
    // a worker took after a long one elsewhere.)
    let mut critical: BTreeMap<&str, (f64, &str, usize)> = BTreeMap::new();
    for s in spans.iter().filter(|s| s.step.status == StageStatus::Done) {
        let e = critical
            .entry(s.step.stage.as_str())
            .or_insert((f64::MIN, "", 0));
        e.2 += 1;
        if s.end - s.start > e.0 {
            *e = (s.end - s.start, s.step.item.as_str(), e.2);
        }
    }
    let is_critical = |s: &Span| {
        critical
            .get(s.step.stage.as_str())
            .is_some_and(|(_, item, steps)| *steps > 1 && *item == s.step.item)
    };

    // The tables that took longest first: the ones that decide the downtime lead.
    let mut busy: BTreeMap<&str, f64> = BTreeMap::new();
    for s in &spans {
        *busy.entry(s.step.item.as_str()).or_default() += s.end - s.start;
    }
    let mut tables: Vec<&str> = busy.keys().copied().collect();
    tables.sort_by(|a, b| busy[b].total_cmp(&busy[a]).then(a.cmp(b)));
    let workers: u32 = spans
        .iter()
        .filter_map(|s| s.step.worker)
        .max()
        .map_or(0, |m| m + 1);

    let stage_top = AXIS_H + 18.0;
    let tables_top = stage_top + ROW_H + SECTION_GAP;
    let workers_top = tables_top + tables.len() as f64 * ROW_H + SECTION_GAP;
    let height = workers_top + f64::from(workers) * ROW_H + 12.0;
    let width = LABEL_W + PLOT_W + RIGHT;

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="timeline of the run" font-family="sans-serif" font-size="11">"#
    );
    s.push_str("<title>Timeline of the run: stages, every table's stages, and the workers</title>");

    // Time axis and grid.
    let step = nice_step(span);
    let mut t = 0.0;
    while t <= span + step * 1e-6 {
        let gx = x(t0 + t);
        let _ = write!(
            s,
            r##"<line x1="{gx:.1}" y1="{:.1}" x2="{gx:.1}" y2="{:.1}" stroke="#e3e3e3"/><text x="{gx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            AXIS_H - 6.0,
            height - 8.0,
            AXIS_H - 10.0,
            tick_label(t, step)
        );
        t += step;
    }

    section(&mut s, "stages", stage_top - 6.0);
    for (st, start, end) in &stage_spans {
        let (bx, bw) = (x(*start), w(*start, *end));
        let failed = st.status.ended_badly();
        let _ = write!(
            s,
            r#"<rect class="stage-span" data-stage="{}" data-status="{}" x="{bx:.1}" y="{:.1}" width="{bw:.1}" height="{BAR_H}" fill="{}"{}><title>{}</title></rect>"#,
            escape(&st.name),
            escape(st.status.as_str()),
            stage_top + (ROW_H - BAR_H) / 2.0,
            stage_color(&st.name),
            if failed {
                r##" stroke="#d62728" stroke-width="2""##
            } else {
                ""
            },
            escape(&format!(
                "{}: {}, {:.2} s{}",
                st.name,
                st.status,
                end - start,
                st.detail
                    .as_deref()
                    .map(|d| format!(" — {d}"))
                    .unwrap_or_default()
            ))
        );
        if bw > st.name.len() as f64 * 6.5 + 4.0 {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="#222">{}</text>"##,
                bx + 3.0,
                stage_top + ROW_H / 2.0 + 4.0,
                escape(&st.name)
            );
        }
    }

    section(&mut s, "tables", tables_top - 6.0);
    for (row, table) in tables.iter().enumerate() {
        let y = tables_top + row as f64 * ROW_H;
        if row % 2 == 1 {
            let _ = write!(
                s,
                r##"<rect x="0" y="{y:.1}" width="{width:.0}" height="{ROW_H}" fill="#f7f7f7"/>"##
            );
        }
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#222">{}<title>{}</title></text>"##,
            LABEL_W - 8.0,
            y + ROW_H / 2.0 + 4.0,
            escape(&shorten(table, 30)),
            escape(table)
        );
        for sp in spans.iter().filter(|sp| sp.step.item == *table) {
            bar(
                &mut s,
                sp,
                t0,
                (x(sp.start), w(sp.start, sp.end)),
                y,
                is_critical(sp),
                "bar",
            );
        }
    }

    if workers > 0 {
        section(&mut s, "workers", workers_top - 6.0);
        for worker in 0..workers {
            let y = workers_top + f64::from(worker) * ROW_H;
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#222">worker {}</text>"##,
                LABEL_W - 8.0,
                y + ROW_H / 2.0 + 4.0,
                worker + 1
            );
            for sp in spans.iter().filter(|sp| sp.step.worker == Some(worker)) {
                bar(
                    &mut s,
                    sp,
                    t0,
                    (x(sp.start), w(sp.start, sp.end)),
                    y,
                    is_critical(sp),
                    "slot",
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

fn section(s: &mut String, title: &str, y: f64) {
    let _ = write!(
        s,
        r##"<text x="8" y="{y:.1}" font-weight="bold" fill="#333">{title}</text>"##
    );
}

/// One step's bar: `class` is `bar` in a table's lane (one per table and stage) and `slot` in a
/// worker's lane.
fn bar(
    s: &mut String,
    sp: &Span,
    t0: f64,
    (bx, bw): (f64, f64),
    y: f64,
    critical: bool,
    class: &str,
) {
    let st = sp.step;
    let mut classes = vec![class];
    let mut stroke = String::new();
    match st.status {
        StageStatus::Failed => {
            classes.push("failed");
            stroke = r##" stroke="#d62728" stroke-width="2""##.into();
        }
        StageStatus::Running => {
            classes.push("running");
            stroke = r##" stroke="#333" stroke-width="1" stroke-dasharray="3 2""##.into();
        }
        _ if critical => {
            classes.push("critical");
            stroke = r##" stroke="#111" stroke-width="1.5""##.into();
        }
        _ => {}
    }
    let worker = st.worker.map(|w| w + 1);
    let tip = format!(
        "{} · {} · {}{}{} · {:.2} s, from {:.2} s{}",
        st.stage,
        st.item,
        worker
            .map(|w| format!("worker {w}"))
            .unwrap_or_else(|| "worker ?".into()),
        st.rows
            .filter(|_| super::moves_rows(&st.stage))
            .map(|r| format!(" · {}", super::count(r, "row")))
            .unwrap_or_default(),
        if st.status == StageStatus::Done {
            String::new()
        } else {
            format!(" · {}", st.status)
        },
        sp.end - sp.start,
        sp.start - t0,
        if critical {
            " · the longest table of its stage (critical path)"
        } else {
            ""
        },
    );
    let _ = write!(
        s,
        r#"<rect class="{}" data-table="{}" data-stage="{}" data-worker="{}" data-status="{}" x="{bx:.1}" y="{:.1}" width="{bw:.1}" height="{BAR_H}" fill="{}"{stroke}><title>{}</title></rect>"#,
        classes.join(" "),
        escape(&st.item),
        escape(&st.stage),
        worker.map(|w| w.to_string()).unwrap_or_default(),
        escape(st.status.as_str()),
        y + (ROW_H - BAR_H) / 2.0,
        stage_color(&st.stage),
        escape(&tip)
    );
    let label = if class == "slot" {
        shorten(&st.item, ((bw - 4.0) / 6.5).max(0.0) as usize)
    } else if bw >= 18.0 {
        worker.map(|w| format!("w{w}")).unwrap_or_default()
    } else {
        String::new()
    };
    if !label.is_empty() && bw >= 18.0 {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" fill="#111" font-size="10" pointer-events="none">{}</text>"##,
            bx + 3.0,
            y + ROW_H / 2.0 + 3.5,
            escape(&label)
        );
    }
}

/// A name cut to `max` characters with an ellipsis.
fn shorten(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    if max < 2 {
        return String::new();
    }
    let mut s: String = name.chars().take(max - 1).collect();
    s.push('…');
    s
}

/// A round tick interval giving about eight ticks over `span` seconds.
fn nice_step(span: f64) -> f64 {
    let raw = span / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

fn tick_label(t: f64, step: f64) -> String {
    if step >= 60.0 {
        format!("{:.0} min", t / 60.0)
    } else {
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        format!("{t:.decimals$} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(stage: &str, item: &str, start: f64, secs: f64, worker: u32) -> StepSpan {
        StepSpan {
            stage: stage.into(),
            item: item.into(),
            status: StageStatus::Done,
            started_at: Some(start),
            seconds: Some(secs),
            worker: Some(worker),
            rows: Some(10),
            expected: None,
            detail: None,
        }
    }

    #[test]
    fn one_bar_per_table_and_stage_and_the_longest_of_each_stage_outlined() {
        let stages = vec![StageSpan {
            name: "swap".into(),
            status: StageStatus::Done,
            started_at: Some(100.0),
            finished_at: Some(103.0),
            seconds: Some(3.0),
            rows: Some(20),
            detail: None,
        }];
        let steps = vec![
            step("swap", "big", 100.0, 3.0, 0),
            step("swap", "small <t>", 100.0, 1.0, 1),
            StepSpan {
                status: StageStatus::Pending,
                started_at: None,
                ..step("swap", "later", 0.0, 0.0, 0)
            },
        ];
        let svg = timeline_svg(&stages, &steps);
        assert_eq!(svg.matches(r#"<rect class="bar"#).count(), 2, "{svg}");
        assert_eq!(svg.matches(r#"<rect class="slot"#).count(), 2, "{svg}");
        assert_eq!(
            svg.matches(r#"class="bar critical" data-table="big""#)
                .count(),
            1
        );
        assert!(svg.contains("small &lt;t&gt;"));
        assert!(svg.contains(">worker 2<"));
        assert!(!svg.contains("later"));
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_step(2.0), 0.5);
        assert_eq!(nice_step(100.0), 20.0);
        assert_eq!(tick_label(1.5, 0.5), "1.5 s");
        assert_eq!(tick_label(120.0, 60.0), "2 min");
    }
}
