//! Progress reporting: indicatif bars per table on a terminal, periodic plain lines otherwise,
//! nothing when quiet. The library reports through a `Progress` handle and never prints itself.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::url::redact;

enum Mode {
    Bars(MultiProgress),
    Lines {
        out: Mutex<Box<dyn Write + Send>>,
        every: Duration,
    },
    Quiet,
}

/// A shared handle: cheap to clone, usable from parallel table jobs.
#[derive(Clone)]
pub struct Progress {
    mode: Arc<Mode>,
}

impl Progress {
    /// Bars drawn on standard error (for a terminal).
    pub fn bars() -> Self {
        Progress {
            mode: Arc::new(Mode::Bars(MultiProgress::with_draw_target(
                ProgressDrawTarget::stderr(),
            ))),
        }
    }
    /// Plain lines to `out`, at most one per table every `every` (for logs and CI).
    pub fn lines(out: Box<dyn Write + Send>, every: Duration) -> Self {
        Progress {
            mode: Arc::new(Mode::Lines {
                out: Mutex::new(out),
                every,
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
            Mode::Bars(m) => {
                let _ = m.println(redact(line));
            }
            Mode::Lines { out, .. } => {
                if let Ok(mut o) = out.lock() {
                    let _ = writeln!(o, "{}", redact(line));
                }
            }
            Mode::Quiet => {}
        }
    }

    /// Starts tracking one table of a stage. `total` is the expected row count (0 if unknown).
    pub fn table(&self, stage: &str, table: &str, total: u64) -> TableProgress {
        let label = format!("{stage} {table}");
        let bar = match &*self.mode {
            Mode::Bars(m) => {
                let bar = m.add(ProgressBar::new(total));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:<32!} {bar:30} {pos:>9}/{len:<9} {per_sec:>12} eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_prefix(label.clone());
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
        }
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
}

impl TableProgress {
    /// Sets the rows done so far.
    pub fn set(&self, rows: u64) {
        self.done.store(rows, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.set_position(rows);
            return;
        }
        if let Mode::Lines { out, every } = &*self.progress.mode {
            let Ok(mut last) = self.last_line.lock() else {
                return;
            };
            if last.elapsed() >= *every {
                *last = Instant::now();
                let secs = self.started.elapsed().as_secs_f64().max(1e-3);
                if let Ok(mut o) = out.lock() {
                    let _ = writeln!(
                        o,
                        "{}: {rows}/{} rows, {:.0} rows/s",
                        self.label,
                        self.total,
                        rows as f64 / secs
                    );
                }
            }
        }
    }

    pub fn finish(&self, rows: u64) {
        let secs = self.started.elapsed().as_secs_f64();
        if let Some(b) = &self.bar {
            b.set_length(rows.max(self.total));
            b.finish_with_message("done");
            return;
        }
        self.done.store(rows, Ordering::Relaxed);
        self.progress
            .note(&format!("{}: done, {rows} rows in {secs:.2} s", self.label));
    }
}
