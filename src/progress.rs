//! Progress reporting: on a terminal, one line per table in flight and an overall bar with the
//! run's ETA; otherwise plain lines at most every few seconds (for logs and CI); nothing when
//! quiet. The library reports through a `Progress` handle and never prints itself.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::text::{count, duration, thousands};
use crate::url::redact;

/// Where the whole run stands, as `rekey status` computes it from the journal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Glance {
    /// The stage running now (or the last one).
    pub stage: Option<String>,
    /// Its place among the stages of the command, 1-based, and their number.
    pub stage_number: usize,
    pub stage_count: usize,
    /// The tables of that stage that are done, and how many it has.
    pub tables_done: usize,
    pub tables_total: usize,
    /// Rows written by finished tables of every stage that moves rows.
    pub rows_moved: u64,
    /// Share of the run's expected work that is done, 0 to 1.
    pub fraction: f64,
    pub elapsed: f64,
    /// Seconds left, when there is a basis for a guess.
    pub eta: Option<f64>,
    /// Every stage of the command is done.
    pub finished: bool,
}

impl Glance {
    /// One line: "swap (7/10) · 4/10 tables · 3,200 rows moved · 12 s elapsed · ETA 10 s".
    pub fn line(&self, elapsed: f64, eta: Option<f64>) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.stage {
            parts.push(format!("{s} ({}/{})", self.stage_number, self.stage_count));
        }
        if self.tables_total > 0 {
            parts.push(format!("{}/{} tables", self.tables_done, self.tables_total));
        }
        parts.push(format!("{} rows moved", thousands(self.rows_moved)));
        parts.push(format!("{} elapsed", duration(elapsed)));
        parts.push(match eta {
            _ if self.finished => "done".to_string(),
            Some(e) => format!("ETA {}", duration(e)),
            None => "ETA after the first table".to_string(),
        });
        parts.join(" · ")
    }
}

/// The overall bar's figures, kept apart from the bar so that its elapsed time and ETA can count
/// on between two updates (a long table may take minutes).
struct Overall {
    glance: Glance,
    at: Instant,
}

impl Overall {
    fn line(&self) -> String {
        // A finished run's figures stand still.
        let since = if self.glance.finished {
            0.0
        } else {
            self.at.elapsed().as_secs_f64()
        };
        self.glance.line(
            self.glance.elapsed + since,
            self.glance.eta.map(|e| (e - since).max(0.0)),
        )
    }
}

enum Mode {
    Bars {
        multi: MultiProgress,
        overall: OnceLock<ProgressBar>,
        figures: Arc<Mutex<Option<Overall>>>,
        /// The line of each (stage, table) in flight.
        active: Mutex<HashMap<(String, String), ProgressBar>>,
    },
    Lines {
        out: Mutex<Box<dyn Write + Send>>,
        every: Duration,
        last_overall: Mutex<Option<Instant>>,
    },
    Quiet,
}

/// A shared handle: cheap to clone, usable from parallel table jobs.
#[derive(Clone)]
pub struct Progress {
    mode: Arc<Mode>,
}

const TABLE_SPINNER: &str = "  {prefix:<44!} {spinner} {elapsed:>4} {msg}";
const TABLE_BAR: &str = "  {prefix:<44!} [{bar:24}] {rows:>11}/{total:<11} {rate:>11} {elapsed:>4}";

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Progress {
    /// Bars drawn on standard error (for a terminal).
    pub fn bars() -> Self {
        Progress {
            mode: Arc::new(Mode::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                overall: OnceLock::new(),
                figures: Arc::new(Mutex::new(None)),
                active: Mutex::new(HashMap::new()),
            }),
        }
    }
    /// Plain lines to `out`, at most one per table and one overall every `every` (for logs and
    /// CI).
    pub fn lines(out: Box<dyn Write + Send>, every: Duration) -> Self {
        Progress {
            mode: Arc::new(Mode::Lines {
                out: Mutex::new(out),
                every,
                last_overall: Mutex::new(None),
            }),
        }
    }
    pub fn quiet() -> Self {
        Progress {
            mode: Arc::new(Mode::Quiet),
        }
    }

    /// A one-off line (stage started, stage skipped on resume).
    pub fn note(&self, line: &str) {
        match &*self.mode {
            Mode::Bars { multi, .. } => {
                let _ = multi.println(redact(line));
            }
            Mode::Lines { out, .. } => {
                if let Ok(mut o) = out.lock() {
                    let _ = writeln!(o, "{}", redact(line));
                }
            }
            Mode::Quiet => {}
        }
    }

    /// Whether `overall` shows anything (callers skip computing it otherwise).
    pub fn shows_overall(&self) -> bool {
        !matches!(&*self.mode, Mode::Quiet)
    }

    /// Shows where the whole run stands: the bar under the tables on a terminal, a line at most
    /// every few seconds otherwise.
    pub fn overall(&self, glance: &Glance) {
        match &*self.mode {
            Mode::Bars {
                multi,
                overall,
                figures,
                ..
            } => {
                if let Ok(mut f) = figures.lock() {
                    *f = Some(Overall {
                        glance: glance.clone(),
                        at: Instant::now(),
                    });
                }
                let bar = overall.get_or_init(|| {
                    let shared = figures.clone();
                    let bar = multi.add(ProgressBar::new(1000));
                    bar.set_style(
                        style("{prefix:.bold} [{bar:30}] {percent:>3}% {run}").with_key(
                            "run",
                            move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                                if let Some(o) =
                                    shared.lock().ok().as_ref().and_then(|f| f.as_ref())
                                {
                                    let _ = w.write_str(&o.line());
                                }
                            },
                        ),
                    );
                    bar.set_prefix("rekey");
                    bar.enable_steady_tick(Duration::from_secs(1));
                    bar
                });
                bar.set_position((glance.fraction.clamp(0.0, 1.0) * 1000.0) as u64);
                if glance.finished {
                    // Drawn now: the process may end before the next tick would draw it.
                    bar.finish();
                }
            }
            Mode::Lines {
                out,
                every,
                last_overall,
            } => {
                let Ok(mut last) = last_overall.lock() else {
                    return;
                };
                if last.is_some_and(|l| l.elapsed() < *every) {
                    return;
                }
                *last = Some(Instant::now());
                if let Ok(mut o) = out.lock() {
                    let _ = writeln!(o, "run: {}", glance.line(glance.elapsed, glance.eta));
                }
            }
            Mode::Quiet => {}
        }
    }

    /// The command ended: on a terminal the lines of tables still shown go, and the overall bar
    /// stays as last drawn (the error, if any, follows it).
    pub fn end(&self) {
        if let Mode::Bars {
            overall, active, ..
        } = &*self.mode
        {
            if let Ok(mut active) = active.lock() {
                for (_, bar) in active.drain() {
                    bar.finish_and_clear();
                }
            }
            if let Some(bar) = overall.get() {
                bar.abandon();
            }
        }
    }

    /// A table of a stage starts: on a terminal it gets its line until it ends.
    pub fn step_started(&self, stage: &str, table: &str) {
        if let Mode::Bars { .. } = &*self.mode {
            self.line_for(stage, table);
        }
    }

    /// A table of a stage ended (`rows` is None when it failed): its line goes away. In a log,
    /// tables that took long enough to have had progress lines get a closing one.
    pub fn step_ended(&self, stage: &str, table: &str, rows: Option<u64>, seconds: f64) {
        match &*self.mode {
            Mode::Bars { active, .. } => {
                let bar = active
                    .lock()
                    .ok()
                    .and_then(|mut a| a.remove(&(stage.to_string(), table.to_string())));
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
            }
            Mode::Lines { every, .. } if seconds >= every.as_secs_f64() => match rows {
                Some(rows) => self.note(&format!(
                    "{stage} {table}: done, {} in {seconds:.2} s",
                    count(rows, "row")
                )),
                None => self.note(&format!("{stage} {table}: failed after {seconds:.2} s")),
            },
            _ => {}
        }
    }

    /// Tracks the rows of one table of a stage. `total` is the expected row count (0 if
    /// unknown).
    pub fn table(&self, stage: &str, table: &str, total: u64) -> TableProgress {
        let label = format!("{stage} {table}");
        // A bar only once rows are counted: a statement that runs on the server reports
        // nothing until it ends, and a bar standing at 0 would say it is stuck.
        let bar = match &*self.mode {
            Mode::Bars { .. } => {
                let bar = self.line_for(stage, table);
                if total > 0 {
                    bar.set_message(format!("about {}", count(total, "row")));
                }
                bar.set_length(total);
                Some(bar)
            }
            _ => None,
        };
        TableProgress {
            progress: self.clone(),
            label,
            total,
            done: AtomicU64::new(0),
            started: Instant::now(),
            last_line: Mutex::new(Instant::now()),
            bar,
            counting: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The terminal line of a table in flight, created on first use, above the overall bar.
    fn line_for(&self, stage: &str, table: &str) -> ProgressBar {
        let Mode::Bars {
            multi,
            overall,
            active,
            ..
        } = &*self.mode
        else {
            return ProgressBar::hidden();
        };
        let Ok(mut active) = active.lock() else {
            return ProgressBar::hidden();
        };
        let bar = active
            .entry((stage.to_string(), table.to_string()))
            .or_insert_with(|| {
                let bar = ProgressBar::new_spinner();
                let bar = match overall.get() {
                    Some(o) => multi.insert_before(o, bar),
                    None => multi.add(bar),
                };
                bar.set_style(style(TABLE_SPINNER));
                bar.set_prefix(format!("{stage} {table}"));
                bar.enable_steady_tick(Duration::from_millis(250));
                bar
            })
            .clone();
        bar
    }
}

/// Progress of one table in one stage.
pub struct TableProgress {
    progress: Progress,
    label: String,
    total: u64,
    done: AtomicU64,
    started: Instant,
    last_line: Mutex<Instant>,
    bar: Option<ProgressBar>,
    /// Rows have been counted: the line shows as a bar.
    counting: std::sync::atomic::AtomicBool,
}

fn table_bar_style() -> ProgressStyle {
    // indicatif's own counters print four decimals: rows are whole, in groups of three.
    style(TABLE_BAR)
        .with_key("rows", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&thousands(s.pos()));
        })
        .with_key("total", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&thousands(s.len().unwrap_or(0)));
        })
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}/s", thousands(s.per_sec() as u64));
        })
}

impl TableProgress {
    /// Sets the rows done so far.
    pub fn set(&self, rows: u64) {
        self.done.store(rows, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            if !self.counting.swap(true, Ordering::Relaxed) && self.total > 0 {
                b.set_style(table_bar_style());
            }
            b.set_position(rows);
            return;
        }
        if let Mode::Lines { out, every, .. } = &*self.progress.mode {
            let Ok(mut last) = self.last_line.lock() else {
                return;
            };
            if last.elapsed() >= *every {
                *last = Instant::now();
                let secs = self.started.elapsed().as_secs_f64().max(1e-3);
                if let Ok(mut o) = out.lock() {
                    let _ = writeln!(
                        o,
                        "{}: {}/{} rows, {:.0} rows/s",
                        self.label,
                        thousands(rows),
                        thousands(self.total),
                        rows as f64 / secs
                    );
                }
            }
        }
    }

    /// The table's rows are all written (its line goes when its step ends).
    pub fn finish(&self, rows: u64) {
        self.done.store(rows, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.set_length(rows.max(self.total));
            b.set_position(rows);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn glance() -> Glance {
        Glance {
            stage: Some("swap".into()),
            stage_number: 7,
            stage_count: 10,
            tables_done: 4,
            tables_total: 10,
            rows_moved: 3200,
            fraction: 0.4,
            elapsed: 12.0,
            eta: Some(10.0),
            finished: false,
        }
    }

    #[test]
    fn the_overall_line_says_stage_tables_rows_and_eta() {
        assert_eq!(
            glance().line(12.0, Some(10.0)),
            "swap (7/10) · 4/10 tables · 3,200 rows moved · 12 s elapsed · ETA 10 s"
        );
        let unknown = Glance {
            eta: None,
            ..glance()
        };
        assert!(unknown
            .line(1.0, None)
            .ends_with("ETA after the first table"));
        let done = Glance {
            finished: true,
            ..glance()
        };
        assert!(done.line(12.0, None).ends_with("12 s elapsed · done"));
    }

    #[test]
    fn plain_lines_are_periodic_and_quiet_says_nothing() {
        let sink = Sink::default();
        let p = Progress::lines(Box::new(sink.clone()), Duration::from_secs(3600));
        p.overall(&glance());
        p.overall(&glance());
        p.step_started("swap", "user");
        p.step_ended("swap", "user", Some(5), 0.1);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("run: swap (7/10)"), "{text}");

        let q = Progress::quiet();
        assert!(!q.shows_overall());
        q.overall(&glance());
        q.note("nothing");
    }
}
