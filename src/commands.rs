//! The commands of the command line, as library calls: each one sets up the run (journal, identity,
//! backends) and runs its stages in order.

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};

use rand::RngCore;

use crate::backend::{check_same_engine, open, Backend};
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::options::{ConversionOptions, RunOptions};
use crate::progress::Progress;
use crate::report::Report;
use crate::stages::{self, Context, Stage};
use crate::url::{DbUrl, ProcessEnv};
use crate::uuidgen::SEEDED_BASE_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Plan,
    Convert,
    DeriveFinal,
    Compare,
    Load,
    Verify,
    Run { derive_final: bool },
    Clean,
    Check { derive_final: bool },
}

impl Command {
    /// The stages this command runs, in order.
    pub fn stages(self) -> Vec<Stage> {
        match self {
            Command::Plan => vec![Stage::Introspect],
            Command::Convert => Stage::CONVERT.to_vec(),
            Command::DeriveFinal => vec![Stage::DeriveFinal],
            Command::Compare => vec![Stage::Compare],
            Command::Load => vec![Stage::Load],
            Command::Verify => vec![Stage::Verify],
            Command::Run { derive_final } => Stage::ALL
                .into_iter()
                .filter(|s| derive_final || *s != Stage::DeriveFinal)
                .collect(),
            Command::Clean | Command::Check { .. } => vec![],
        }
    }
}

/// One invocation: the command, the database URLs as given, and the options.
pub struct Invocation {
    pub command: Command,
    pub source: Option<String>,
    pub data: Option<String>,
    pub final_db: Option<String>,
    pub conversion: ConversionOptions,
    pub run: RunOptions,
}

fn backend(url: &Option<String>) -> Result<Option<(DbUrl, Arc<dyn Backend>)>> {
    url.as_deref()
        .map(|u| {
            let parsed = DbUrl::parse(u, &ProcessEnv)?;
            let b = open(&parsed)?;
            Ok((parsed, b))
        })
        .transpose()
}

/// Runs a command. Results go to `out`, progress to `progress`; `interrupted` is set by Ctrl-C.
pub fn execute(
    inv: Invocation,
    out: Box<dyn Write + Send>,
    progress: Progress,
    interrupted: Arc<AtomicBool>,
) -> Result<()> {
    let source = backend(&inv.source)?;
    let data = backend(&inv.data)?;
    let final_db = backend(&inv.final_db)?;
    let named: Vec<(&str, &DbUrl)> = [
        ("SOURCE", &source),
        ("DB_DATA", &data),
        ("DB_FINAL", &final_db),
    ]
    .into_iter()
    .filter_map(|(n, b)| b.as_ref().map(|(u, _)| (n, u)))
    .collect();
    check_same_engine(&named)?;
    if let (Some((s, _)), Some((d, _))) = (&source, &data) {
        if s == d {
            return Err(Error::usage(
                "SOURCE and DB_DATA are the same database.",
                "rekey never writes SOURCE: give DB_DATA a new database name.",
            ));
        }
    }
    if let (Some((s, _)), Some((f, _))) = (&source, &final_db) {
        if s == f {
            return Err(Error::usage(
                "SOURCE and DB_FINAL are the same database.",
                "rekey never writes SOURCE: give DB_FINAL its own database.",
            ));
        }
    }

    let ephemeral = inv.run.dry_run || matches!(inv.command, Command::Plan | Command::Check { .. });
    let journal = if ephemeral {
        Journal::in_memory()?
    } else {
        Journal::open(
            &inv.run.run_dir,
            inv.command != Command::Clean || inv.run.run_dir.exists(),
        )?
    };
    let (run_id, seed, base_ms, conversion) = identity(&journal, &inv)?;

    let ctx = Context {
        source: source.map(|(_, b)| b),
        data: data.map(|(_, b)| b),
        final_db: final_db.map(|(_, b)| b),
        conversion,
        run: inv.run.clone(),
        journal,
        progress,
        out: Mutex::new(out),
        seed,
        base_ms,
        run_id,
        interrupted,
        source_schema: OnceLock::new(),
    };
    if !ephemeral {
        for (key, b) in [
            ("source", &ctx.source),
            ("data", &ctx.data),
            ("final", &ctx.final_db),
        ] {
            if let Some(b) = b {
                ctx.journal.set(key, &b.url().to_string())?;
            }
        }
    }

    if inv.run.resume && !inv.run.dry_run {
        // A killed run may have left statements running on the server; they must end before
        // the same tables are touched again.
        for b in [&ctx.data, &ctx.final_db].into_iter().flatten() {
            let stopped = b.stop_leftovers(&ctx.run_id)?;
            if stopped > 0 {
                ctx.progress.note(&format!(
                    "stopped {stopped} statements left running by the interrupted run on {}",
                    b.url()
                ));
            }
        }
    }
    let result = run_stages(&ctx, inv.command);
    if !ephemeral && inv.command != Command::Clean {
        let report = Report::build(
            &ctx.journal,
            ctx.source_schema.get().map(|p| p.as_ref()),
            result.as_ref().err().map(|e| e.to_string()),
        )?;
        report.write(&inv.run.run_dir)?;
        if result.is_ok() && matches!(inv.command, Command::Run { .. } | Command::Verify) {
            ctx.say(&report.to_markdown());
        }
    }
    result
}

/// The run's identity: a new one, or the journal's when the run dir holds this run already.
fn identity(journal: &Journal, inv: &Invocation) -> Result<(String, u64, u64, ConversionOptions)> {
    let stored: Option<ConversionOptions> = journal
        .get("conversion")?
        .and_then(|s| serde_json::from_str(&s).ok());
    if let Some(stored) = stored {
        let run_id = journal.get("run_id")?.unwrap_or_default();
        let seed = journal
            .get("seed")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let base_ms = journal
            .get("base_ms")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let started: Vec<&str> = inv
            .command
            .stages()
            .into_iter()
            .filter(|s| {
                journal
                    .stages()
                    .map(|all| all.iter().any(|r| r.name == s.name()))
                    .unwrap_or(false)
            })
            .map(Stage::name)
            .collect();
        if !started.is_empty()
            && !inv.run.resume
            && !matches!(inv.command, Command::Compare | Command::Verify)
        {
            return Err(Error::usage(
                format!("the run directory {} already holds a run that started {}.", inv.run.run_dir.display(), started.join(", ")),
                "Add --resume to finish that run, `rekey clean --run-dir DIR` to undo it, or give another --run-dir.",
            ));
        }
        if inv.command != Command::Clean
            && stored != inv.conversion
            && inv.conversion != ConversionOptions::default()
        {
            return Err(Error::usage(
                "the conversion options differ from those the run in this run directory started with.",
                "Resume with the same --exclude, --reference, --uuid-format, --uuid-version, --seed and --orphans (or none of them, to take the journal's), or use another --run-dir.",
            ));
        }
        return Ok((run_id, seed, base_ms, stored));
    }
    if inv.run.resume {
        return Err(Error::usage(
            format!(
                "--resume was given but {} holds no run to resume.",
                inv.run.run_dir.display()
            ),
            "Give the --run-dir of the interrupted run, or drop --resume to start a new one.",
        ));
    }
    let mut id = [0u8; 8];
    rand::rng().fill_bytes(&mut id);
    let run_id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let (seed, base_ms) = match inv.conversion.seed {
        Some(s) => (s, SEEDED_BASE_MS),
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(SEEDED_BASE_MS);
            (rand::rng().next_u64(), now)
        }
    };
    if inv.command != Command::Plan && !inv.run.dry_run {
        journal.set("run_id", &run_id)?;
        journal.set("seed", &seed.to_string())?;
        journal.set("base_ms", &base_ms.to_string())?;
        journal.set(
            "conversion",
            &serde_json::to_string(&inv.conversion).unwrap_or_default(),
        )?;
    }
    Ok((run_id, seed, base_ms, inv.conversion.clone()))
}

fn run_stages(ctx: &Context, command: Command) -> Result<()> {
    use stages::*;
    match command {
        Command::Plan => {
            let shared = introspect::load(ctx)?;
            let estimate = match &ctx.run.estimate_from {
                Some(dir) => Some(downtime_estimate(ctx, dir)?),
                None => None,
            };
            if ctx.run.json {
                let mut value = serde_json::to_value(&shared.1).unwrap_or_default();
                if let Some(e) = &estimate {
                    value["estimate"] = serde_json::to_value(e).unwrap_or_default();
                }
                ctx.say(&serde_json::to_string_pretty(&value).unwrap_or_default());
            } else {
                ctx.say(&shared.1.to_text());
                if let Some(e) = &estimate {
                    ctx.say(&e.to_text());
                }
            }
            return Ok(());
        }
        Command::Clean => {
            for line in clean::run(ctx)? {
                ctx.say(&line);
            }
            return Ok(());
        }
        Command::Check { derive_final } => return check(ctx, derive_final),
        _ => {}
    }
    let derive_final = matches!(command, Command::Run { derive_final: true });
    // Checks are never taken from an earlier run: compare and verify always look again.
    if matches!(command, Command::Compare | Command::Verify) && !ctx.run.dry_run {
        for stage in command.stages() {
            ctx.journal.reset_stage(stage.name())?;
        }
    }
    for stage in command.stages() {
        match stage {
            Stage::Introspect => ctx.stage(stage, introspect::run)?,
            Stage::Preflight => ctx.stage(stage, |c| {
                preflight::run(c, true, c.final_db.is_some() && !derive_final)
            })?,
            Stage::Clone => ctx.stage(stage, clone::run)?,
            Stage::Shadow => ctx.stage(stage, shadow::run)?,
            Stage::Link => ctx.stage(stage, link::run)?,
            Stage::Unconstrain => ctx.stage(stage, unconstrain::run)?,
            Stage::Swap => ctx.stage(stage, swap::run)?,
            Stage::DeriveFinal => ctx.stage(stage, derive::run)?,
            Stage::Compare => ctx.stage(stage, compare::run)?,
            Stage::Load => ctx.stage(stage, load::run)?,
            Stage::Verify => ctx.stage(stage, verify::run)?,
        }
    }
    Ok(())
}

/// `rekey check`: every preflight check, one line each, without writing anything.
fn check(ctx: &Context, derive_final: bool) -> Result<()> {
    use stages::preflight;
    let mut findings = preflight::environment(ctx, derive_final)?;
    let mut input_problems = Vec::new();
    if ctx.source.is_some() {
        let shared = stages::introspect::load(ctx)?;
        let orphans = preflight::find_orphans(ctx, &shared.1.references)?;
        if orphans.is_empty() {
            findings.push(preflight::Finding {
                ok: true,
                subject: "orphans".into(),
                detail: format!("none in {} references", shared.1.references.len()),
                fix: None,
            });
        }
        for o in orphans {
            let detail = format!(
                "{}: {} rows without a parent, e.g. {}",
                o.reference,
                o.rows,
                o.samples.join(", ")
            );
            input_problems.push(detail.clone());
            findings.push(preflight::Finding { ok: false, subject: "orphans".into(), detail, fix: Some("fix or delete them in the snapshot, or use --orphans null for nullable columns".into()) });
        }
        if ctx.data.is_some() {
            if let Err(e) = preflight::check_data_db(ctx) {
                input_problems.push(e.to_string());
                findings.push(preflight::Finding {
                    ok: false,
                    subject: "DB_DATA".into(),
                    detail: e.to_string(),
                    fix: None,
                });
            }
        }
    }
    if let (Some(f), false) = (&ctx.final_db, derive_final) {
        if let Err(e) = preflight::check_final_empty(f.as_ref()) {
            input_problems.push(e.to_string());
            findings.push(preflight::Finding {
                ok: false,
                subject: "DB_FINAL".into(),
                detail: e.to_string(),
                fix: None,
            });
        }
    }
    if ctx.run.json {
        ctx.say(&serde_json::to_string_pretty(&findings).unwrap_or_default());
    } else {
        for f in &findings {
            ctx.say(&f.line());
        }
    }
    preflight::require(&findings).map_err(|e| {
        if input_problems.is_empty() {
            e
        } else {
            Error::input(
                crate::error::Place::stage(Stage::Preflight),
                format!(
                    "{} problems with the databases themselves.",
                    input_problems.len()
                ),
                "See the FAIL lines above.",
            )
        }
    })
}

/// Scales a rehearsal's figures to SOURCE's current row counts (the catalog's estimates, or exact
/// counts where the engine keeps none).
fn downtime_estimate(
    ctx: &Context,
    rehearsal: &std::path::Path,
) -> Result<crate::estimate::Estimate> {
    let report = crate::estimate::read_report(rehearsal)?;
    let shared = stages::introspect::load(ctx)?;
    let source = ctx.source()?;
    let mut session = source.connect()?;
    let mut rows = std::collections::BTreeMap::new();
    for t in &shared.0.tables {
        let n = if t.estimated_rows > 0 {
            t.estimated_rows
        } else {
            session.query_u64(&format!(
                "SELECT COUNT(*) FROM {}",
                source.dialect().q(&t.name)
            ))?
        };
        rows.insert(t.name.clone(), n);
    }
    Ok(crate::estimate::estimate(&report, &rows))
}
