//! `rekey status --run-dir DIR`: where a run stands, from its journal alone, while it runs or
//! after it ended: the stage, tables done and in flight, rows moved, elapsed time and an ETA. The
//! journal is opened read-only and the run directory's lock is never taken, so a second terminal
//! can watch a live run without slowing or blocking it. The in-process overall progress line
//! uses the same figures.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::journal::{epoch_seconds, Journal, SourceTable, StageSpan, StageStatus, StepSpan};
use crate::model::is_bookkeeping;
use crate::progress::Glance;
use crate::stage::{moves_rows, Stage, ROW_STAGES};
use crate::text::{duration, thousands};

/// A stage as `rekey status` shows it: its state in the journal, or waiting (not started yet), or
/// stopped (the journal says running, and the process is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LineStatus {
    Waiting,
    Pending,
    Running,
    Done,
    Failed,
    Interrupted,
    Stopped,
}

impl LineStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            LineStatus::Waiting => "waiting",
            LineStatus::Pending => "pending",
            LineStatus::Running => "running",
            LineStatus::Done => "done",
            LineStatus::Failed => "failed",
            LineStatus::Interrupted => "interrupted",
            LineStatus::Stopped => "stopped",
        }
    }
}

impl From<StageStatus> for LineStatus {
    fn from(s: StageStatus) -> LineStatus {
        match s {
            StageStatus::Pending => LineStatus::Pending,
            StageStatus::Running => LineStatus::Running,
            StageStatus::Done => LineStatus::Done,
            StageStatus::Failed => LineStatus::Failed,
            StageStatus::Interrupted => LineStatus::Interrupted,
        }
    }
}

impl std::fmt::Display for LineStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where the whole run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    #[serde(rename = "not started")]
    NotStarted,
    Running,
    /// A live run applying SOURCE's changes to DB_FINAL, waiting for `rekey cutover`.
    Following,
    Finished,
    /// A stage failed.
    Failed,
    /// Ctrl-C.
    Interrupted,
    /// The journal says a stage runs, and the process is gone.
    Stopped,
}

impl RunState {
    pub const fn as_str(self) -> &'static str {
        match self {
            RunState::NotStarted => "not started",
            RunState::Running => "running",
            RunState::Following => "following",
            RunState::Finished => "finished",
            RunState::Failed => "failed",
            RunState::Interrupted => "interrupted",
            RunState::Stopped => "stopped",
        }
    }
}

/// One stage of the run as `rekey status` lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageLine {
    pub stage: String,
    pub status: LineStatus,
    pub tables_done: usize,
    pub tables_total: usize,
    pub tables_in_flight: usize,
    /// Rows written by its finished tables (stages that move rows only).
    pub rows: Option<u64>,
    pub seconds: Option<f64>,
    /// What it did, or the error that stopped it.
    pub detail: Option<String>,
}

/// A table a stage is working on now.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InFlight {
    pub stage: String,
    pub table: String,
    /// 1-based, as the report's timeline numbers workers.
    pub worker: Option<u32>,
    pub seconds: f64,
}

/// Where a run stands.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunStatus {
    pub run_id: Option<String>,
    pub source: Option<String>,
    pub data: Option<String>,
    #[serde(rename = "final")]
    pub final_db: Option<String>,
    pub state: RunState,
    /// The process that holds (or last held) the run directory, and whether it is alive; None
    /// where this system cannot tell.
    pub pid: Option<u32>,
    pub process_alive: Option<bool>,
    /// The stage running now, or the last one that ran.
    pub stage: Option<String>,
    pub stages: Vec<StageLine>,
    pub in_flight: Vec<InFlight>,
    pub rows_moved: u64,
    /// The rows the stages that move rows will have moved at the end (an estimate until swap
    /// has counted them).
    pub rows_expected: u64,
    /// Share of the expected work done, 0 to 1.
    pub fraction: f64,
    /// From the first stage's start to now (or to the journal's last entry when nothing runs).
    pub elapsed_seconds: f64,
    /// Seconds left, while running and when there is a basis for a guess.
    pub eta_seconds: Option<f64>,
    /// What the ETA is based on.
    pub eta_basis: String,
    /// The error of a failed stage.
    pub error: Option<String>,
    /// What to do next, in one sentence.
    pub next: Option<String>,
    /// A live run's follower: how far behind SOURCE it is.
    pub follow: Option<FollowLag>,
}

/// Where a live run's follower stands.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FollowLag {
    /// How long SOURCE's last applied transaction took to reach DB_FINAL (0 when nothing waits).
    /// `None` until the follower has applied or waited once since it started.
    pub lag_seconds: Option<f64>,
    /// How far behind SOURCE's head the follower is, in the engine's unit (bytes of binlog or
    /// WAL), where the engine can tell.
    pub behind: Option<u64>,
    pub transactions: u64,
    pub changes: u64,
    /// Seconds since the follower last wrote where it stands.
    pub as_of_seconds: f64,
}

/// What `rekey status` knows about the process that ran the journal.
#[derive(Debug, Clone, Copy, Default)]
pub struct Process {
    pub pid: Option<u32>,
    pub alive: Option<bool>,
}

impl Process {
    /// Reads the PID the run directory's lock file names and looks whether that process lives.
    /// Only reads: taking the lock would stop a run from starting or resuming meanwhile.
    pub fn of(run_dir: &Path) -> Process {
        let pid = std::fs::read_to_string(run_dir.join("lock"))
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok());
        // Without /proc this system cannot tell. A PID can be reused: a live process of another
        // program is not the run.
        let alive = match pid {
            Some(p) if Path::new("/proc/self").exists() => Some(
                std::fs::read(format!("/proc/{p}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains("rekey"))
                    .unwrap_or(false),
            ),
            _ => None,
        };
        Process { pid, alive }
    }
}

/// SOURCE's tables as introspect recorded them, by name.
fn source_tables(journal: &Journal) -> Result<BTreeMap<String, SourceTable>> {
    Ok(journal
        .source_tables()?
        .into_iter()
        .map(|t| (t.table.clone(), t))
        .collect())
}

impl RunStatus {
    /// Where the run that this process is carrying out stands (for its progress display). With
    /// a rehearsal's report.json, the ETA scales the rehearsal's stage times to this run's rows;
    /// without, it extrapolates from the rows moved so far.
    pub fn read(journal: &Journal, rehearsal: Option<&serde_json::Value>) -> Result<RunStatus> {
        let this = Process {
            pid: Some(std::process::id()),
            alive: Some(true),
        };
        Self::read_at(journal, rehearsal, this, epoch_seconds())
    }

    fn read_at(
        journal: &Journal,
        rehearsal: Option<&serde_json::Value>,
        process: Process,
        now: f64,
    ) -> Result<RunStatus> {
        let spans = journal.stage_spans()?;
        let steps = journal.step_spans()?;
        let sources = source_tables(journal)?;
        let planned: Vec<String> = journal
            .planned_stages()?
            .into_iter()
            .map(|s| s.name().to_string())
            .collect();

        // Stages in pipeline order: those recorded, then those the command has yet to run.
        let mut names: Vec<String> = spans.iter().map(|s| s.name.clone()).collect();
        for p in &planned {
            if !names.contains(p) {
                names.push(p.clone());
            }
        }
        names.sort_by_key(|n| Stage::parse(n).map_or(usize::MAX, |s| s as usize));

        let stages: Vec<StageLine> = names
            .iter()
            .map(|name| {
                let span = spans.iter().find(|s| &s.name == name);
                let of: Vec<&StepSpan> = steps.iter().filter(|s| &s.stage == name).collect();
                let done: Vec<&&StepSpan> = of
                    .iter()
                    .filter(|s| s.status == StageStatus::Done)
                    .collect();
                let status = span.map_or(LineStatus::Waiting, |s| s.status.into());
                let seconds = span.and_then(|s| match s.status {
                    StageStatus::Running => s.started_at.map(|t| (now - t).max(0.0)),
                    _ => s.seconds,
                });
                StageLine {
                    stage: name.clone(),
                    tables_done: done.len(),
                    tables_total: of.len(),
                    tables_in_flight: of
                        .iter()
                        .filter(|s| s.status == StageStatus::Running)
                        .count(),
                    rows: moves_rows(name).then(|| done.iter().map(|s| s.rows.unwrap_or(0)).sum()),
                    seconds,
                    detail: span.and_then(|s| s.detail.clone()),
                    status,
                }
            })
            .collect();

        let running_stage = spans.iter().find(|s| s.status == StageStatus::Running);
        let last = spans.iter().max_by(|a, b| {
            a.started_at
                .partial_cmp(&b.started_at)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let stage = running_stage.or(last).map(|s| s.name.clone());
        let all_done = !stages.is_empty() && stages.iter().all(|s| s.status == LineStatus::Done);
        let ended_badly = last.filter(|s| s.status.ended_badly());
        let state = if spans.is_empty() {
            RunState::NotStarted
        } else if let Some(s) = ended_badly {
            match s.status {
                StageStatus::Interrupted => RunState::Interrupted,
                _ => RunState::Failed,
            }
        } else if all_done {
            RunState::Finished
        } else {
            // The journal says what ran; only the process can say whether it still runs.
            let following = running_stage.is_some_and(|s| s.name == Stage::Follow.name());
            match process.alive {
                Some(true) if following => RunState::Following,
                Some(true) => RunState::Running,
                Some(false) => RunState::Stopped,
                None if running_stage.is_some() => RunState::Running,
                None => RunState::Stopped,
            }
        };

        let in_flight: Vec<InFlight> = steps
            .iter()
            .filter(|s| s.status == StageStatus::Running)
            .map(|s| InFlight {
                stage: s.stage.clone(),
                table: s.item.clone(),
                worker: s.worker.map(|w| w + 1),
                seconds: s.started_at.map_or(0.0, |t| (now - t).max(0.0)),
            })
            .collect();

        // The last moment the journal knows of: a run that is not running ended there.
        let last_seen = spans
            .iter()
            .flat_map(|s| [s.started_at, s.finished_at])
            .chain(
                steps
                    .iter()
                    .map(|s| s.started_at.map(|t| t + s.seconds.unwrap_or(0.0))),
            )
            .flatten()
            .fold(f64::MIN, f64::max);
        let first = spans
            .iter()
            .filter_map(|s| s.started_at)
            .fold(f64::INFINITY, f64::min);
        let end = if matches!(state, RunState::Running | RunState::Following) {
            now
        } else {
            last_seen
        };
        // A stage the journal says is running, in a run whose process is gone, has stopped, no
        // later than the journal's last entry.
        let mut stages = stages;
        if state == RunState::Stopped {
            for l in stages
                .iter_mut()
                .filter(|l| l.status == LineStatus::Running)
            {
                l.status = LineStatus::Stopped;
                let started = spans
                    .iter()
                    .find(|s| s.name == l.stage)
                    .and_then(|s| s.started_at);
                l.seconds = started.map(|t| (last_seen - t).max(0.0));
            }
        }
        let elapsed_seconds = if first.is_finite() {
            (end - first).max(0.0)
        } else {
            0.0
        };

        let work = Work::of(&stages, &steps, &sources, &planned);
        let running = state == RunState::Running;
        let (eta_seconds, fraction, eta_basis) = match rehearsal {
            Some(report) => {
                let (eta, fraction) =
                    work.eta_from_rehearsal(report, &stages, &sources, now, &spans);
                (
                    running.then_some(eta),
                    fraction,
                    "the rehearsal's stage times, scaled to this run's rows".to_string(),
                )
            }
            None => {
                let eta = work.eta_from_rows(&spans, now);
                (
                    if running { eta } else { None },
                    work.fraction(),
                    "the rows moved so far".to_string(),
                )
            }
        };
        let fraction = if state == RunState::Finished {
            1.0
        } else {
            fraction
        };

        let error = ended_badly.and_then(|s| s.detail.clone());
        let next = match state {
            RunState::Finished => Some("Read report.md or report.html in the run directory.".to_string()),
            RunState::Running | RunState::NotStarted => None,
            RunState::Following => Some("Stop the application's writes to SOURCE, then run `rekey cutover --run-dir DIR`.".to_string()),
            RunState::Failed => Some("Fix what the error names, then run the same command again with --resume (or undo with `rekey clean --run-dir DIR`).".to_string()),
            _ => Some("Run the same command again with --resume to finish it, or undo it with `rekey clean --run-dir DIR`.".to_string()),
        };

        Ok(RunStatus {
            run_id: journal.run_id()?,
            source: journal.database_url("source")?,
            data: journal.database_url("data")?,
            final_db: journal.database_url("final")?,
            state,
            pid: process.pid,
            process_alive: process.alive,
            stage,
            stages,
            in_flight,
            rows_moved: work.done,
            rows_expected: work.total,
            fraction,
            elapsed_seconds,
            eta_seconds,
            eta_basis,
            error,
            next,
            follow: journal
                .follow_progress()?
                .filter(|_| state == RunState::Following || state == RunState::Stopped)
                .map(|p| FollowLag {
                    lag_seconds: p.lag_seconds,
                    behind: p.behind,
                    transactions: p.transactions,
                    changes: p.changes,
                    as_of_seconds: (now - p.at).max(0.0),
                }),
        })
    }

    /// The figures of the overall progress line.
    pub fn glance(&self) -> Glance {
        let current = self
            .stage
            .as_ref()
            .and_then(|s| self.stages.iter().find(|l| &l.stage == s));
        Glance {
            stage: self.stage.clone(),
            stage_number: current
                .and_then(|c| self.stages.iter().position(|l| l.stage == c.stage))
                .map_or(0, |i| i + 1),
            stage_count: self.stages.len(),
            tables_done: current.map_or(0, |c| c.tables_done),
            tables_total: current.map_or(0, |c| c.tables_total),
            rows_moved: self.rows_moved,
            fraction: self.fraction,
            elapsed: self.elapsed_seconds,
            eta: self.eta_seconds,
            finished: self.state == RunState::Finished,
        }
    }

    /// The status as text for a terminal.
    pub fn to_text(&self, run_dir: &Path) -> String {
        let mut s = String::new();
        let who = match (self.pid, self.process_alive) {
            (Some(pid), Some(true)) => format!(" (PID {pid})"),
            (Some(pid), Some(false)) if self.state == RunState::Stopped => {
                format!(": the process that ran it (PID {pid}) is gone")
            }
            _ => String::new(),
        };
        let state = match (self.state, &self.stage) {
            (RunState::Failed, Some(st)) => format!("failed in stage {st}"),
            (RunState::Interrupted, Some(st)) => format!("interrupted in stage {st} (Ctrl-C)"),
            (RunState::Stopped, Some(st)) => format!("stopped in stage {st}{who}"),
            (RunState::Running, Some(st)) => format!("running stage {st}{who}"),
            (RunState::Following, _) => format!("following SOURCE{who}"),
            (other, _) => other.as_str().to_string(),
        };
        s.push_str(&format!(
            "rekey run {} in {}: {state}\n",
            self.run_id.as_deref().unwrap_or("?"),
            run_dir.display()
        ));
        for (k, v) in [
            ("SOURCE", &self.source),
            ("DB_DATA", &self.data),
            ("DB_FINAL", &self.final_db),
        ] {
            if let Some(v) = v {
                s.push_str(&format!("  {k:<9} {v}\n"));
            }
        }
        s.push_str(&format!(
            "\n  {:<13} {:<12} {:>18} {:>12} {:>9}\n",
            "stage", "status", "tables", "rows", "seconds"
        ));
        for l in &self.stages {
            let tables = if l.tables_total == 0 {
                "-".to_string()
            } else if l.tables_in_flight > 0 {
                format!(
                    "{}/{}, {} {}",
                    l.tables_done,
                    l.tables_total,
                    l.tables_in_flight,
                    if l.status == LineStatus::Running {
                        "in flight"
                    } else {
                        "unfinished"
                    }
                )
            } else {
                format!("{}/{}", l.tables_done, l.tables_total)
            };
            let rows = l.rows.map_or("-".to_string(), thousands);
            let secs = l.seconds.map_or(String::new(), |x| format!("{x:.2}"));
            if l.status == LineStatus::Waiting {
                s.push_str(&format!("  {:<13} {}\n", l.stage, l.status));
            } else {
                s.push_str(&format!(
                    "  {:<13} {:<12} {tables:>18} {rows:>12} {secs:>9}\n",
                    l.stage, l.status
                ));
            }
        }
        if !self.in_flight.is_empty() {
            s.push('\n');
            for f in &self.in_flight {
                let on = f
                    .worker
                    .map_or(String::new(), |w| format!(" on worker {w}"));
                if self.state == RunState::Running {
                    s.push_str(&format!(
                        "  in flight: {} {}{on} for {}\n",
                        f.stage,
                        f.table,
                        duration(f.seconds)
                    ));
                } else {
                    s.push_str(&format!(
                        "  unfinished: {} {}{on} (a resumed run does it again)\n",
                        f.stage, f.table
                    ));
                }
            }
        }
        s.push('\n');
        // Rows are counted once per stage that moves them (shadow, swap, load, verify).
        let mut line = if self.state == RunState::Finished {
            format!("  rows moved, all stages: {}", thousands(self.rows_moved))
        } else {
            format!(
                "  rows moved, all stages: {} of about {}",
                thousands(self.rows_moved),
                thousands(self.rows_expected.max(self.rows_moved))
            )
        };
        line.push_str(&format!(" · elapsed {}", duration(self.elapsed_seconds)));
        if self.state == RunState::Running {
            match self.eta_seconds {
                Some(eta) => line.push_str(&format!(
                    " · ETA {} (from {})",
                    duration(eta),
                    self.eta_basis
                )),
                None => line.push_str(" · ETA once the first table is done"),
            }
        }
        s.push_str(&line);
        s.push('\n');
        if let Some(f) = &self.follow {
            s.push_str(&format!(
                "  following: {}{}, {} transactions ({} row changes) applied, as of {:.0} s ago\n",
                f.lag_seconds
                    .map_or("lag not known yet (starting)".to_string(), |l| format!(
                        "lag {l:.1} s"
                    )),
                f.behind.map_or(String::new(), |b| format!(
                    ", {} bytes of SOURCE's log behind",
                    thousands(b)
                )),
                thousands(f.transactions),
                thousands(f.changes),
                f.as_of_seconds
            ));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!("  error: {e}\n"));
        }
        if let Some(n) = &self.next {
            s.push_str(&format!("  next: {n}\n"));
        }
        s
    }
}

/// The run's work in rows: what the stages that move rows will move, and what they moved.
struct Work {
    /// Per stage that moves rows: (expected rows, rows done).
    per_stage: BTreeMap<String, (u64, u64)>,
    total: u64,
    done: u64,
}

impl Work {
    fn of(
        stages: &[StageLine],
        steps: &[StepSpan],
        sources: &BTreeMap<String, SourceTable>,
        planned: &[String],
    ) -> Work {
        // swap counts every row exactly; before it, the catalog's estimates stand in.
        let swap_rows: BTreeMap<&str, u64> = steps
            .iter()
            .filter(|s| s.stage == Stage::Swap.name() && s.status == StageStatus::Done)
            .map(|s| (s.item.as_str(), s.rows.unwrap_or(0)))
            .collect();
        let rows_of = |table: &str, expected: Option<u64>| -> u64 {
            swap_rows
                .get(table)
                .copied()
                .or(expected)
                .or_else(|| sources.get(table).map(|t| t.rows))
                .unwrap_or(0)
        };
        let mut per_stage = BTreeMap::new();
        for stage in ROW_STAGES {
            let name = stage.name();
            let line = stages.iter().find(|l| l.stage == name);
            if line.is_none() && !planned.iter().any(|p| p == name) {
                continue;
            }
            let of: Vec<&StepSpan> = steps.iter().filter(|s| s.stage == name).collect();
            let done: u64 = of
                .iter()
                .filter(|s| s.status == StageStatus::Done)
                .map(|s| s.rows.unwrap_or(0))
                .sum();
            let mut expected: u64 = if of.is_empty() {
                sources
                    .iter()
                    .filter(|(t, st)| match stage {
                        Stage::Shadow => st.converted,
                        Stage::Load | Stage::Verify => !is_bookkeeping(t),
                        _ => true,
                    })
                    .map(|(t, _)| rows_of(t, None))
                    .sum()
            } else {
                let items: BTreeSet<&str> = of.iter().map(|s| s.item.as_str()).collect();
                items
                    .iter()
                    .map(|t| {
                        let step = of.iter().find(|s| s.item == *t);
                        match step {
                            Some(s) if s.status == StageStatus::Done => s.rows.unwrap_or(0),
                            Some(s) => rows_of(t, s.expected),
                            None => 0,
                        }
                    })
                    .sum()
            };
            if line.is_some_and(|l| l.status == LineStatus::Done) {
                expected = done;
            }
            per_stage.insert(name.to_string(), (expected.max(done), done));
        }
        Work {
            total: per_stage.values().map(|v| v.0).sum(),
            done: per_stage.values().map(|v| v.1).sum(),
            per_stage,
        }
    }

    fn fraction(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.done as f64 / self.total as f64
        }
    }

    /// The time the stages took so far, stretched by the rows left over the rows moved. Every
    /// stage counts (the ones that move no rows cost time too), pauses between commands do not.
    fn eta_from_rows(&self, spans: &[StageSpan], now: f64) -> Option<f64> {
        if self.done == 0 {
            return None;
        }
        let spent: f64 = spans
            .iter()
            .map(|s| match s.status {
                StageStatus::Running => s.started_at.map_or(0.0, |t| (now - t).max(0.0)),
                _ => s.seconds.unwrap_or(0.0),
            })
            .sum();
        let left = self.total.saturating_sub(self.done) as f64;
        Some(spent * left / self.done as f64)
    }

    /// The rehearsal's time for each stage, scaled to this run's rows, less what is done of it.
    /// Returns the seconds left and the share of the estimated time done.
    fn eta_from_rehearsal(
        &self,
        report: &serde_json::Value,
        stages: &[StageLine],
        sources: &BTreeMap<String, SourceTable>,
        now: f64,
        spans: &[StageSpan],
    ) -> (f64, f64) {
        let rows: BTreeMap<String, u64> =
            sources.iter().map(|(t, s)| (t.clone(), s.rows)).collect();
        let estimate = crate::estimate::estimate(report, &rows);
        let mut left = 0.0;
        let mut whole = 0.0;
        for line in stages {
            let Some(est) = estimate.stages.iter().find(|e| e.stage == line.stage) else {
                continue;
            };
            let secs = est.estimated_seconds;
            whole += secs;
            left += match line.status {
                LineStatus::Done => 0.0,
                LineStatus::Waiting => secs,
                _ => {
                    let share = match self.per_stage.get(&line.stage) {
                        Some((expected, done)) if *expected > 0 => *done as f64 / *expected as f64,
                        _ if line.tables_total > 0 => {
                            line.tables_done as f64 / line.tables_total as f64
                        }
                        _ => {
                            let started = spans
                                .iter()
                                .find(|s| s.name == line.stage)
                                .and_then(|s| s.started_at)
                                .unwrap_or(now);
                            ((now - started) / secs.max(1e-9)).min(1.0)
                        }
                    };
                    secs * (1.0 - share.clamp(0.0, 1.0))
                }
            };
        }
        let fraction = if whole > 0.0 { 1.0 - left / whole } else { 0.0 };
        (left, fraction)
    }
}

/// `rekey status`: reads the journal of `run_dir` (read-only) and writes where the run stands,
/// as text or JSON. `rehearsal` is the run directory of a finished rehearsal, for the ETA.
pub fn show(
    run_dir: &Path,
    rehearsal: Option<&Path>,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let report = rehearsal.map(read_rehearsal).transpose()?;
    let journal = Journal::open_read_only(run_dir)?;
    let mut status = RunStatus::read_at(
        &journal,
        report.as_ref(),
        Process::of(run_dir),
        epoch_seconds(),
    )?;
    // The journal does not know where it lies; the hint names the directory that was given.
    status.next = status.next.map(|n| {
        n.replace(
            "--run-dir DIR",
            &format!("--run-dir {}", crate::error::shell_word(run_dir)),
        )
    });
    let text = if json {
        serde_json::to_string_pretty(&status).unwrap_or_default() + "\n"
    } else {
        status.to_text(run_dir)
    };
    out.write_all(crate::url::redact(&text).as_bytes())
        .map_err(|e| crate::error::io_error("write the status to", Path::new("standard output"), e))
}

fn read_rehearsal(dir: &Path) -> Result<serde_json::Value> {
    let path = dir.join("report.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::usage(
            format!(
                "--rehearsal {}: its report.json cannot be read ({e}).",
                dir.display()
            ),
            "Give --rehearsal the --run-dir of a finished rehearsal (it holds report.json).",
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Error::usage(
            format!("{} is not a rekey report ({e}).", path.display()),
            "Give --rehearsal the --run-dir of a finished rehearsal (it holds report.json).",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal of a run that did shadow and is half-way through swap.
    fn half_way() -> Journal {
        let j = Journal::in_memory().unwrap();
        j.set_planned_stages(&[Stage::Introspect, Stage::Shadow, Stage::Swap, Stage::Load])
            .unwrap();
        let table = |name: &str, rows, converted| SourceTable {
            table: name.into(),
            rows,
            converted,
        };
        j.set_source_tables(&[
            table("a", 100, true),
            table("b", 300, true),
            table("alembic_version", 1, false),
        ])
        .unwrap();
        for s in ["introspect", "shadow"] {
            j.stage_started(s).unwrap();
            j.stage_finished(s, 1.0, 0, None).unwrap();
        }
        j.steps_planned(
            "shadow",
            &[("a".into(), Some(100)), ("b".into(), Some(300))],
        )
        .unwrap();
        for (t, n) in [("a", 100), ("b", 300)] {
            j.step_started("shadow", t, 0).unwrap();
            j.step_finished("shadow", t, n, 0.5, None).unwrap();
        }
        j.stage_started("swap").unwrap();
        j.steps_planned(
            "swap",
            &[
                ("b".into(), Some(300)),
                ("a".into(), Some(100)),
                ("alembic_version".into(), Some(1)),
            ],
        )
        .unwrap();
        j.step_started("swap", "b", 0).unwrap();
        j.step_finished("swap", "b", 300, 2.0, None).unwrap();
        j.step_started("swap", "a", 1).unwrap();
        j
    }

    #[test]
    fn a_live_run_that_follows_says_following_with_its_lag() {
        let j = Journal::in_memory().unwrap();
        j.set_planned_stages(&[Stage::Snapshot, Stage::Verify, Stage::Follow])
            .unwrap();
        for s in ["snapshot", "verify"] {
            j.stage_started(s).unwrap();
            j.stage_finished(s, 1.0, 0, None).unwrap();
        }
        j.stage_started("follow").unwrap();
        let at = epoch_seconds();
        j.set_follow_progress(&crate::journal::FollowProgress {
            applied: "binlog.000001:400".into(),
            transactions: 1200,
            changes: 3400,
            at: at - 1.0,
            lag_seconds: Some(0.4),
            behind: Some(5120),
            ..Default::default()
        })
        .unwrap();
        let alive = Process {
            pid: Some(7),
            alive: Some(true),
        };
        let st = RunStatus::read_at(&j, None, alive, at).unwrap();
        assert_eq!(st.state, RunState::Following);
        let lag = st.follow.clone().unwrap();
        assert_eq!(
            (lag.lag_seconds, lag.behind, lag.transactions),
            (Some(0.4), Some(5120), 1200)
        );
        let text = st.to_text(Path::new("d"));
        assert!(text.contains("following SOURCE (PID 7)"), "{text}");
        assert!(text.contains("following: lag 0.4 s, 5,120 bytes"), "{text}");
        assert!(st.next.as_deref().unwrap_or("").contains("rekey cutover"));
        let json = serde_json::to_value(&st).unwrap();
        assert_eq!(json["state"], "following");
        // The follower killed: stopped, with where it stood.
        let gone = Process {
            pid: Some(7),
            alive: Some(false),
        };
        let st = RunStatus::read_at(&j, None, gone, at).unwrap();
        assert_eq!(st.state, RunState::Stopped);
    }

    #[test]
    fn a_live_run_shows_its_stage_tables_in_flight_and_an_eta_from_rows() {
        let j = half_way();
        let alive = Process {
            pid: Some(42),
            alive: Some(true),
        };
        let st = RunStatus::read_at(&j, None, alive, epoch_seconds()).unwrap();
        assert_eq!(st.state, RunState::Running);
        assert_eq!(st.stage.as_deref(), Some("swap"));
        let swap = st.stages.iter().find(|l| l.stage == "swap").unwrap();
        assert_eq!(
            (swap.tables_done, swap.tables_total, swap.tables_in_flight),
            (1, 3, 1)
        );
        assert_eq!(st.stages.last().unwrap().status, LineStatus::Waiting);
        assert_eq!(st.in_flight.len(), 1);
        assert_eq!(st.in_flight[0].worker, Some(2));
        // shadow 400 + swap 300 done; swap 401 and load 400 expected.
        assert_eq!(st.rows_moved, 700);
        assert_eq!(st.rows_expected, 1201);
        assert!(st.eta_seconds.is_some());
        let text = st.to_text(Path::new("d"));
        assert!(text.contains("running stage swap (PID 42)"), "{text}");
        assert!(text.contains("1/3, 1 in flight"), "{text}");
        assert!(text.contains("in flight: swap a on worker 2"), "{text}");
    }

    #[test]
    fn a_killed_run_is_stopped_and_says_how_to_resume() {
        let j = half_way();
        let gone = Process {
            pid: Some(42),
            alive: Some(false),
        };
        let st = RunStatus::read_at(&j, None, gone, epoch_seconds()).unwrap();
        assert_eq!(st.state, RunState::Stopped);
        assert_eq!(st.eta_seconds, None);
        let text = st.to_text(Path::new("d"));
        assert!(
            text.contains("stopped in stage swap: the process that ran it (PID 42) is gone"),
            "{text}"
        );
        assert!(text.contains("--resume"), "{text}");
    }

    #[test]
    fn a_failed_stage_is_named_with_its_error() {
        let j = half_way();
        j.step_failed("swap", "a", 0.1, "disk full").unwrap();
        j.stage_failed(
            "swap",
            StageStatus::Failed,
            3.0,
            "[stage swap, table a] disk full. Free space.",
        )
        .unwrap();
        let st = RunStatus::read_at(&j, None, Process::default(), epoch_seconds()).unwrap();
        assert_eq!(st.state, RunState::Failed);
        assert_eq!(
            st.error.as_deref(),
            Some("[stage swap, table a] disk full. Free space.")
        );
    }

    #[test]
    fn a_rehearsal_scales_each_stage_by_rows() {
        let j = half_way();
        let rehearsal = serde_json::json!({"stages": [
            {"name": "swap", "seconds": 10.0, "tables": [
                {"item": "a", "rows": 100, "seconds": 5.0}, {"item": "b", "rows": 300, "seconds": 5.0}]},
            {"name": "load", "seconds": 4.0, "tables": [
                {"item": "a", "rows": 100, "seconds": 2.0}, {"item": "b", "rows": 300, "seconds": 2.0}]}
        ]});
        let alive = Process {
            pid: None,
            alive: Some(true),
        };
        let st = RunStatus::read_at(&j, Some(&rehearsal), alive, epoch_seconds()).unwrap();
        // swap: 10 s, 300 of 401 rows done; load 4 s untouched.
        let eta = st.eta_seconds.unwrap();
        assert!((eta - (10.0 * 101.0 / 401.0 + 4.0)).abs() < 1e-6, "{eta}");
    }

    #[test]
    fn the_read_only_journal_follows_a_live_writer_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Journal::open(dir.path(), true).unwrap();
        writer.stage_started("clone").unwrap();
        let reader = Journal::open_read_only(dir.path()).unwrap();
        assert_eq!(
            reader.stage_spans().unwrap()[0].status,
            StageStatus::Running
        );
        writer
            .steps_planned("clone", &[("t".into(), Some(5))])
            .unwrap();
        writer.step_started("clone", "t", 1).unwrap();
        let step = &reader.step_spans().unwrap()[0];
        assert_eq!((step.status, step.worker), (StageStatus::Running, Some(1)));
        writer.step_finished("clone", "t", 5, 0.2, None).unwrap();
        writer.stage_finished("clone", 0.3, 5, None).unwrap();
        assert_eq!(reader.stage_spans().unwrap()[0].status, StageStatus::Done);
        assert_eq!(reader.step_spans().unwrap()[0].rows, Some(5));
        assert!(
            reader
                .set_data_shape(crate::journal::DataShape::Source)
                .is_err(),
            "a read-only journal wrote"
        );
        assert!(Journal::open_read_only(&dir.path().join("nothing")).is_err());
    }
}
