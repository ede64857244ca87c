//! The commands of the command line, as library calls: each one sets up the run (journal, identity,
//! backends) and runs its stages in order.

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};

use rand::RngCore;

use crate::backend::{check_same_engine, open};
use crate::error::{Error, Place, Result};
use crate::guard::{self, Role};
use crate::journal::{DataShape, Journal, KeySource, PreviousRun};
use crate::options::{ConversionOptions, LoadChoice, RunOptions};
use crate::progress::Progress;
use crate::report::Report;
use crate::run_lock::RunLock;
use crate::secrets::{self, Prompt};
use crate::stages::{self, Context, Stage};
use crate::url::{DbUrl, ProcessEnv};
use crate::uuidgen::{Secret, SEEDED_BASE_MS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Plan,
    Convert,
    DeriveFinal,
    Compare,
    Load,
    Verify,
    Run {
        derive_final: bool,
        follow: bool,
    },
    /// Ends a live run (`run --follow`): the databases come from its journal.
    Cutover,
    Clean,
    Check {
        derive_final: bool,
        follow: bool,
    },
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
            Command::Run {
                derive_final,
                follow,
            } => Stage::ALL
                .into_iter()
                .filter(|s| derive_final || *s != Stage::DeriveFinal)
                .filter(|s| follow || !s.is_live())
                .filter(|s| *s != Stage::Transfer)
                .collect(),
            Command::Clean | Command::Check { .. } | Command::Cutover => vec![],
        }
    }
}

impl Command {
    /// The databases this command cannot do without: SOURCE, DB_DATA, DB_FINAL.
    fn required(self) -> [bool; 3] {
        match self {
            Command::Plan => [true, false, false],
            Command::Convert => [true, true, false],
            Command::DeriveFinal => [true, false, true],
            Command::Compare => [false, true, true],
            Command::Load => [false, true, true],
            Command::Verify => [true, false, true],
            Command::Run { .. } => [true, true, true],
            Command::Clean | Command::Check { .. } | Command::Cutover => [false, false, false],
        }
    }

    /// Whether the command only looks (nothing is written, the run directory is not used).
    fn looks_only(self, dry_run: bool) -> bool {
        dry_run || matches!(self, Command::Plan | Command::Check { .. })
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
    /// Asks for a password at the terminal when a server refuses an account given without one;
    /// `None` where no terminal is attached.
    pub prompt: Option<Arc<Prompt>>,
}

/// Runs a command. Results go to `out`, progress to `progress`; `interrupted` is set by Ctrl-C.
pub fn execute(
    inv: Invocation,
    out: Box<dyn Write + Send>,
    progress: Progress,
    interrupted: Arc<AtomicBool>,
) -> Result<()> {
    // Usage errors come before anything touches the disk: no run directory is left behind.
    let given = [&inv.source, &inv.data, &inv.final_db];
    for ((url, needed), option) in given
        .iter()
        .zip(inv.command.required())
        .zip(["--source", "--data", "--final"])
    {
        if needed && url.is_none() {
            return Err(Error::usage(
                format!("this command needs {option} URL."),
                format!("Add {option} (see `rekey help`)."),
            ));
        }
    }
    if let Some(dir) = inv.run.app.as_ref().filter(|d| !d.is_dir()) {
        // Found at the end of a run, it would fail the run that succeeded, without its report.
        return Err(Error::usage(
            format!("--app {} is not a directory.", dir.display()),
            "Give the application's source directory (the one holding its models, routes and views), or drop --app.",
        ));
    }
    let mut urls = [Role::Source, Role::Data, Role::Final]
        .into_iter()
        .zip(given)
        .filter_map(|(role, text)| text.as_deref().map(|t| (role, t)))
        .map(|(role, text)| Ok((role, DbUrl::parse(text, &ProcessEnv)?)))
        .collect::<Result<Vec<_>>>()?;

    if matches!(
        inv.command,
        Command::Run { follow: true, .. } | Command::Cutover
    ) && inv.run.dry_run
    {
        return Err(Error::usage(
            "a live cutover has no dry run: what it needs is checked by `rekey check --follow`.",
            "Run `rekey check --follow` and `rekey run --dry-run` (without --follow) to see what the run would do.",
        ));
    }
    if inv.command == Command::Cutover {
        // The follower holds the run directory until it has drained SOURCE's changes; the
        // freeze is counted from here.
        crate::stages::cutover::ask_follower(&inv.run.run_dir, &progress)?;
    }
    if let (Command::Run { follow: true, .. }, Some((_, url))) = (
        inv.command,
        urls.iter().find(|(role, _)| *role == Role::Source),
    ) {
        if !open(url)?.has_change_stream() {
            return Err(crate::backend::follow::no_change_stream(url));
        }
    }
    let looks_only = inv.command.looks_only(inv.run.dry_run);
    let _lock = if looks_only {
        None
    } else {
        if matches!(inv.command, Command::Clean | Command::Cutover) || inv.run.resume {
            Journal::require(&inv.run.run_dir, inv.run.resume)?;
        }
        Some(RunLock::acquire(&inv.run.run_dir)?)
    };
    let journal = if inv.command == Command::Clean && inv.run.dry_run {
        // A dry clean lists what the journal's run left, so it reads the journal (never writes).
        Journal::require(&inv.run.run_dir, false)?;
        Journal::open_read_only(&inv.run.run_dir)?
    } else if looks_only {
        Journal::in_memory()?
    } else {
        Journal::open(&inv.run.run_dir, true)?
    };
    // What the run directory holds of an earlier run, read once: the decisions below consult it.
    let mut previous = PreviousRun::read(&journal)?;
    if !looks_only && !inv.run.resume && inv.command != Command::Clean && previous.wrote_nothing() {
        // A run that stopped in introspect or preflight (which only read) left nothing to resume
        // or undo: the plain rerun its error asks for starts afresh, with what is given now.
        journal.forget_run()?;
        previous = PreviousRun::default();
    }
    // A live run: its stages read the snapshot copy, and clean and cutover reach SOURCE for what
    // the follower holds there.
    let live = match inv.command {
        Command::Run { follow, .. } => follow,
        Command::Cutover => true,
        Command::Clean => journal.planned_stages()?.contains(&Stage::Follow),
        _ => false,
    };
    if inv.run.resume
        && matches!(inv.command, Command::Run { .. })
        && previous.started(Stage::Introspect)
    {
        let was_live = journal.planned_stages()?.contains(&Stage::Follow);
        if was_live != live {
            return Err(Error::usage(
                if was_live {
                    "the run in this run directory is a live cutover (`run --follow`); it must be resumed as one."
                } else {
                    "the run in this run directory was started without --follow; a live cutover cannot take it over halfway."
                },
                if was_live {
                    "Resume with --follow, or undo it with `rekey clean`."
                } else {
                    "Resume it without --follow, or undo it with `rekey clean` and start the live cutover afresh."
                },
            ));
        }
    }
    if matches!(inv.command, Command::Clean | Command::Cutover) {
        // clean works on what the run created, cutover on the live run: the journal names it.
        let roles: &[Role] = if live {
            &[Role::Source, Role::Data, Role::Final]
        } else {
            &[Role::Data, Role::Final]
        };
        for &role in roles {
            if !urls.iter().any(|(r, _)| *r == role) {
                if let Some(stored) = previous.url(role.key()) {
                    urls.push((role, DbUrl::parse(stored, &ProcessEnv)?));
                }
            }
        }
    }
    for (_, url) in &mut urls {
        secrets::fill_password(url, &ProcessEnv, inv.run.password_file.as_deref())?;
    }
    let moving = engines_fit(&urls, inv.command, live)?;
    // A dry clean checks the databases against the journal as the real one does.
    let checks_journal = !looks_only || inv.command == Command::Clean;
    let endpoints = if urls.len() > 1 || checks_journal {
        urls.into_iter()
            .map(|(role, url)| guard::reach(role, url, inv.prompt.as_deref()))
            .collect::<Result<Vec<_>>>()?
    } else {
        urls.into_iter()
            .map(|(role, url)| {
                let backend = open(&url)?;
                Ok(guard::Endpoint {
                    role,
                    backend,
                    identity: Default::default(),
                })
            })
            .collect::<Result<Vec<_>>>()?
    };
    guard::distinct(&endpoints)?;
    if checks_journal {
        guard::against_journal(&journal, &endpoints, inv.command != Command::Clean)?;
    }
    // Before anything is written or stopped (a resume ends the statements its run left behind):
    // no other process may be working on these databases, whatever its run directory.
    let database_locks = if looks_only {
        None
    } else {
        Some(crate::run_lock::DatabaseLocks::acquire(&endpoints)?)
    };
    let mut inv = inv;
    if !inv.run.uuid_format_given {
        // The engine's own default for a new run (PostgreSQL: its uuid type); a resumed run
        // takes the journal's (`identity`).
        // A move's keys are the target engine's (DB_DATA's and DB_FINAL's), not SOURCE's.
        let target = if moving {
            endpoints.iter().find(|e| e.role != Role::Source)
        } else {
            endpoints.first()
        };
        if let Some(e) = target {
            inv.conversion.uuid_format = e.backend.dialect().default_uuid_format();
        }
    }
    let (run_id, secret, base_ms, conversion) = identity(&journal, &previous, &inv)?;
    (inv.run.load_path, inv.run.one_write) = settle_data_shape(&journal, &previous, &inv)?;
    let by_role = |role: Role| {
        endpoints
            .iter()
            .find(|e| e.role == role)
            .map(|e| e.backend.clone())
    };

    // A live run's stages read the snapshot copy of SOURCE (on DB_DATA's server); SOURCE itself
    // is read only by the snapshot, the follower and the cutover.
    // A move's stages read the transfer's copy of SOURCE, on DB_DATA's server and engine.
    // `rekey clean` of a move drops the copy without reaching SOURCE.
    let moved = moving
        || (inv.command == Command::Clean && journal.planned_stages()?.contains(&Stage::Transfer));
    let (source, live_source, moved_from) =
        match (live, moved, by_role(Role::Source), by_role(Role::Data)) {
            (true, _, Some(src), Some(data)) => {
                let copy = crate::run::live::snapshot_url(data.url(), src.url())?;
                (Some(open(&copy)?), Some(src), None)
            }
            (false, true, src, Some(data)) => {
                let copy = crate::run::moved::COPY.url(data.url())?;
                if let Some(fin) = by_role(Role::Final) {
                    crate::run::moved::copy_apart(&copy, fin.url())?;
                }
                (Some(open(&copy)?), None, src)
            }
            (_, _, src, _) => (src, None, None),
        };
    let ctx = Context {
        source,
        live_source,
        moved_from,
        data: by_role(Role::Data),
        final_db: by_role(Role::Final),
        conversion,
        run: inv.run.clone(),
        journal,
        progress,
        out: Mutex::new(out),
        secret,
        base_ms,
        run_id,
        interrupted,
        source_schema: OnceLock::new(),
        locks: database_locks,
        // The overall progress line shows what `rekey status` would say.
        overall: Some(Box::new(|journal| {
            crate::status::RunStatus::read(journal, None)
                .ok()
                .map(|s| s.glance())
        })),
        pending_maps: Mutex::new(None),
    };

    if inv.run.resume && !inv.run.dry_run {
        // A killed run may have left statements running on the server; they must end before
        // the same tables are touched again. The run directory's lock proves that the process
        // which started them is gone.
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
    if let (Ok(()), Command::Run { .. }, false) = (&result, inv.command, inv.run.dry_run) {
        // The conversion succeeded: an audit that cannot be made (the directory went away, a
        // rule failed) is told, and the run's report is still written.
        if let Err(e) = journal_app_audit(&ctx) {
            ctx.progress
                .note(&format!("the application audit (--app) was not made: {e}"));
        }
    }
    if !looks_only && inv.command != Command::Clean {
        let written = Report::build(
            &ctx.journal,
            ctx.source_schema.get().map(|p| p.as_ref()),
            result.as_ref().err().map(|e| e.to_string()),
        )
        .and_then(|report| report.write(&inv.run.run_dir).map(|()| report));
        match (&result, written) {
            // The first failure is the one to fix: on a full disk the reports fail too, after
            // the write that stopped the run.
            (Err(_), _) => {}
            (Ok(()), Err(e)) => return Err(e),
            (Ok(()), Ok(report)) => {
                if matches!(inv.command, Command::Run { .. } | Command::Verify) {
                    ctx.say(&report.to_markdown());
                }
            }
        }
    }
    result
}

/// `rekey audit`: the findings written to `out`; an error of exit code 1 when there are any.
pub fn audit(inv: crate::audit::Invocation, out: &mut dyn Write) -> Result<()> {
    let plan = match &inv.source {
        Some(source) => Some(source_plan(
            source,
            &inv.conversion,
            inv.password_file.as_deref(),
            inv.prompt.as_deref(),
        )?),
        None => None,
    };
    let found = crate::audit::audit(&inv.dir, plan.as_ref())?;
    match inv.format {
        crate::audit::Format::Text => crate::audit::render::text(&found, out)?,
        crate::audit::Format::Json => crate::audit::render::json(&found, out)?,
        crate::audit::Format::Sarif => crate::audit::render::sarif(&found, out)?,
    }
    if found.findings.is_empty() {
        Ok(())
    } else {
        Err(Error::mismatch(
            Place::default(),
            format!(
                "{} place{} in {} assume{} integer ids: change them with the conversion (see the list above).",
                found.findings.len(),
                if found.findings.len() == 1 { "" } else { "s" },
                inv.dir.display(),
                if found.findings.len() == 1 { "s" } else { "" },
            ),
        ))
    }
}

/// SOURCE's plan, built as `rekey plan` builds it, for `rekey audit --source`.
pub fn source_plan(
    source: &str,
    conversion: &ConversionOptions,
    password_file: Option<&std::path::Path>,
    prompt: Option<&Prompt>,
) -> Result<crate::plan::Plan> {
    let mut url = DbUrl::parse(source, &ProcessEnv)?;
    secrets::fill_password(&mut url, &ProcessEnv, password_file)?;
    let endpoint = guard::reach(Role::Source, url, prompt)?;
    let (_, plan) = crate::run::source::read(endpoint.backend.as_ref(), conversion)?;
    Ok(plan)
}

/// The audit of `--app DIR` for `rekey plan`, against the plan's converted tables.
fn app_audit(ctx: &Context, plan: &crate::plan::Plan) -> Result<Option<crate::audit::Audit>> {
    match &ctx.run.app {
        Some(dir) => Ok(Some(crate::audit::audit(dir, Some(plan))?)),
        None => Ok(None),
    }
}

/// `rekey run --app DIR`: the audit's summary, against SOURCE's plan, kept in the journal for
/// the report.
fn journal_app_audit(ctx: &Context) -> Result<()> {
    if ctx.run.app.is_none() {
        return Ok(());
    }
    let shared = crate::run::source::load(ctx)?;
    if let Some(a) = app_audit(ctx, &shared.1)? {
        let summary = crate::audit::render::summary_json(&a, 10);
        ctx.journal.set_app_audit(&summary)?;
    }
    Ok(())
}

/// The run's identity: a new one, or the journal's when the run dir holds this run already.
fn identity(
    journal: &Journal,
    previous: &PreviousRun,
    inv: &Invocation,
) -> Result<(String, Secret, u64, ConversionOptions)> {
    if let Some(stored) = previous.conversion.clone() {
        let mut given = inv.conversion.clone();
        if !inv.run.uuid_format_given {
            given.uuid_format = stored.uuid_format;
        }
        let run_id = previous.run_id.clone().unwrap_or_default();
        let secret = match &previous.keys {
            Some(KeySource::Secret(text)) => Secret::from_stored(text).ok_or_else(|| {
                Error::input(
                    Place::default(),
                    "the run journal's key secret is malformed.",
                    "The journal must not be edited; clean this run and start again.",
                )
            })?,
            Some(KeySource::Seed(seed)) => Secret::from_seed(*seed),
            None => Secret::from_seed(0),
        };
        secret.register();
        let base_ms = previous.base_ms;
        let started: Vec<&str> = inv
            .command
            .stages()
            .into_iter()
            .filter(|s| previous.started(*s))
            .map(Stage::name)
            .collect();
        if !started.is_empty()
            && !inv.run.resume
            && !matches!(inv.command, Command::Compare | Command::Verify)
        {
            let dir = crate::error::shell_word(&inv.run.run_dir);
            let finished = inv.command.stages().into_iter().all(|s| previous.done(s));
            if finished {
                return Err(Error::usage(
                    format!("the run directory {dir} holds a run that finished: every stage of this command is done, so there is nothing to resume."),
                    format!("For a new run give another --run-dir, or undo this one first with `rekey clean --run-dir {dir}`."),
                ));
            }
            return Err(Error::usage(
                format!("the run directory {dir} already holds a run that started {}.", started.join(", ")),
                format!("Add --resume to finish that run, `rekey clean --run-dir {dir}` to undo it, or give another --run-dir."),
            ));
        }
        let untouched = ConversionOptions {
            uuid_format: stored.uuid_format,
            ..ConversionOptions::default()
        };
        if inv.command != Command::Clean && stored != given && given != untouched {
            return Err(Error::usage(
                "the conversion options differ from those the run in this run directory started with.",
                "Resume with the same --exclude, --reference, --uuid-format, --uuid-version, --seed and --orphans (or none of them, to take the journal's), or use another --run-dir.",
            ));
        }
        return Ok((run_id, secret, base_ms, stored));
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
    let (secret, base_ms) = match inv.conversion.seed {
        Some(s) => (Secret::from_seed(s), SEEDED_BASE_MS),
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(SEEDED_BASE_MS);
            let secret = Secret::generate().map_err(|e| {
                Error::env(
                    Place::default(),
                    format!(
                        "the operating system gave no randomness for the run's key secret ({e})."
                    ),
                    "Run again; if it persists, check the system's random source (/dev/urandom).",
                )
            })?;
            (secret, now)
        }
    };
    secret.register();
    if inv.command != Command::Plan && !inv.run.dry_run {
        let keys = match inv.conversion.seed {
            Some(seed) => KeySource::Seed(seed),
            None => KeySource::Secret(secret.text().to_string()),
        };
        journal.set_run_identity(&run_id, &keys, base_ms, &inv.conversion)?;
    }
    Ok((run_id, secret, base_ms, inv.conversion.clone()))
}

/// DB_DATA's shape is decided once, when its tables are built: as SOURCE's full converted copy
/// (`rekey convert`, `run --full-data-copy` or an explicit `--load-path direct|files|stream`,
/// which name how the load reads DB_DATA's rows), as the converted definitions without rows, the
/// rows going from SOURCE straight into DB_FINAL in the load (`rekey run`'s default: one write),
/// or with DB_FINAL's definitions to be moved there (`--load-path move`). The journal keeps the
/// choice; a resumed run takes it, and an option that contradicts it is refused (the tables are
/// already built, or filled, one way). Returns the load path and whether rows are written once.
fn settle_data_shape(
    journal: &Journal,
    previous: &PreviousRun,
    inv: &Invocation,
) -> Result<(LoadChoice, bool)> {
    let asked = inv.run.load_path;
    let full = inv.run.full_data_copy;
    let builds = inv.command.stages().contains(&Stage::Clone);
    let refuse = |message: String, hint: &str| Err(Error::usage(message, hint.to_string()));
    // check and plan only look: preflight tells whether a move can happen here.
    if matches!(inv.command, Command::Check { .. } | Command::Plan) {
        return Ok((asked, false));
    }
    if asked == LoadChoice::Move {
        match inv.command {
            Command::Run { derive_final: true, .. } => {
                return refuse(
                    "--load-path move builds DB_DATA's tables with DB_FINAL's own definitions, so DB_FINAL must exist before the run starts; --derive-final creates it only after swap.".into(),
                    "Create DB_FINAL first (the application's migrations, or `rekey derive-final --source ... --final ...`), then run without --derive-final.",
                )
            }
            Command::Convert => {
                return refuse(
                    "--load-path move needs DB_FINAL: `rekey convert` builds DB_DATA as SOURCE's converted copy.".into(),
                    "Use `rekey run --load-path move` with --final, or drop --load-path.",
                )
            }
            _ if full => {
                return refuse(
                    "--full-data-copy keeps DB_DATA's converted rows, and --load-path move gives DB_DATA's tables up to DB_FINAL.".into(),
                    "Choose one: drop --load-path move to keep the full DB_DATA, or drop --full-data-copy.",
                )
            }
            _ => {}
        }
    }
    // What this command asks for, if it builds DB_DATA now.
    let reads_data = matches!(
        asked,
        LoadChoice::Direct | LoadChoice::Files | LoadChoice::Stream
    );
    let wanted = match inv.command {
        Command::Run { .. } if asked == LoadChoice::Move => DataShape::Final,
        Command::Run { .. } if full || reads_data => DataShape::Source,
        Command::Run { .. } => DataShape::Definitions,
        _ => DataShape::Source,
    };
    // A journal from before this key was kept built DB_DATA as SOURCE's copy.
    let stored = previous
        .data_shape
        .or_else(|| previous.started(Stage::Clone).then_some(DataShape::Source));
    match stored {
        Some(DataShape::Final) => match asked {
            LoadChoice::Auto | LoadChoice::Move if !full => Ok((LoadChoice::Move, false)),
            _ => refuse(
                format!(
                    "the run in {} built DB_DATA's tables with DB_FINAL's definitions (--load-path move); they can only be moved, not loaded another way.",
                    inv.run.run_dir.display()
                ),
                "Resume with --load-path move (or without --load-path), or `rekey clean` the run and start again.",
            ),
        },
        Some(DataShape::Definitions) => {
            let other = if asked == LoadChoice::Move {
                Some("--load-path move needs DB_DATA's tables built with DB_FINAL's definitions")
            } else if full {
                Some("--full-data-copy needs DB_DATA filled with every converted row")
            } else if reads_data {
                Some("an explicit --load-path reads the rows from a filled DB_DATA")
            } else if inv.command == Command::Convert {
                Some("`rekey convert` builds the full converted DB_DATA")
            } else {
                None
            };
            match other {
                Some(why) => refuse(
                    format!(
                        "the run in {} writes each row once, from SOURCE straight into DB_FINAL, and built DB_DATA without rows; {why}.",
                        inv.run.run_dir.display()
                    ),
                    "Resume it as it started (`rekey run --resume` without --full-data-copy or --load-path), or `rekey clean` the run and start again with the options you want.",
                ),
                None => Ok((asked, true)),
            }
        }
        stored => {
            if asked == LoadChoice::Move && (stored.is_some() || !builds) {
                return refuse(
                    format!(
                        "--load-path move needs DB_DATA's tables built with DB_FINAL's definitions, and the run in {} built them as SOURCE's copy.",
                        inv.run.run_dir.display()
                    ),
                    "Resume without --load-path move, or `rekey clean` the run and start again with `rekey run --load-path move`.",
                );
            }
            if stored.is_none() && builds {
                if !inv.run.dry_run {
                    journal.set_data_shape(wanted)?;
                }
                return Ok((asked, wanted == DataShape::Definitions));
            }
            // A full copy (or a command that does not build DB_DATA): the load reads DB_DATA.
            Ok((asked, false))
        }
    }
}

fn run_stages(ctx: &Context, command: Command) -> Result<()> {
    use stages::*;
    match command {
        Command::Plan => {
            let shared = crate::run::source::load(ctx)?;
            let estimate = match &ctx.run.estimate_from {
                Some(dir) => Some(downtime_estimate(ctx, dir)?),
                None => None,
            };
            let app = app_audit(ctx, &shared.1)?;
            if ctx.run.json {
                let mut value = serde_json::to_value(&shared.1).unwrap_or_default();
                if let Some(e) = &estimate {
                    value["estimate"] = serde_json::to_value(e).unwrap_or_default();
                }
                if let Some(a) = &app {
                    value["audit"] = crate::audit::render::summary_json(a, 10);
                }
                ctx.say(&serde_json::to_string_pretty(&value).unwrap_or_default());
            } else {
                ctx.say(&shared.1.to_text());
                if let Some(e) = &estimate {
                    ctx.say(&e.to_text());
                }
                if let Some(a) = &app {
                    ctx.say(&crate::audit::render::summary(a, 10));
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
        Command::Check {
            derive_final,
            follow,
        } => return check(ctx, derive_final, follow),
        Command::Cutover => {
            let lines = cutover::run(ctx)?;
            for line in lines {
                ctx.say(&line);
            }
            return Ok(());
        }
        _ => {}
    }
    let derive_final = matches!(
        command,
        Command::Run {
            derive_final: true,
            ..
        }
    );
    // Checks are never taken from an earlier run: compare and verify always look again.
    if matches!(command, Command::Compare | Command::Verify) && !ctx.run.dry_run {
        for stage in command.stages() {
            ctx.journal.reset_stage(stage.name())?;
        }
    }
    // A move begins by copying SOURCE to the other engine.
    let stages: Vec<Stage> = Stage::ALL
        .into_iter()
        .filter(|s| {
            command.stages().contains(s)
                || (*s == Stage::Transfer
                    && ctx.moved_from.is_some()
                    && matches!(command, Command::Run { .. }))
        })
        .collect();
    if !ctx.run.dry_run {
        // `rekey status` tells what is left of this command from the journal alone.
        ctx.journal.set_planned_stages(&stages)?;
    }
    let ran = each_stage(ctx, &stages, derive_final);
    // A read-ahead no load took (the command failed before, or stopped at the load) ends here,
    // before anything below writes map files.
    crate::stages::verify::ahead::stop(ctx);
    // The map files written in the background are the run's too: a command ends with them
    // written, or, when a stage failed, with the writer stopped (`--resume` writes what is
    // missing).
    match ran {
        // A command that made them (run, convert) ends with every map file written.
        Ok(()) if stages.contains(&Stage::Shadow) => crate::run::maps::maps_ready(ctx, false)?,
        Ok(()) => crate::run::maps::join_maps(ctx, false)?,
        Err(e) => {
            let _ = crate::run::maps::join_maps(ctx, true);
            return Err(e);
        }
    }
    // A live run hands DB_FINAL over at the cutover, after the last change.
    if command.stages().contains(&Stage::Verify)
        && !command.stages().contains(&Stage::Follow)
        && ctx.journal.stage_done(Stage::Load.name())?
    {
        crate::run::marker::hand_over(ctx)?;
    }
    Ok(())
}

/// The command's stages, in order.
fn each_stage(ctx: &Context, stages: &[Stage], derive_final: bool) -> Result<()> {
    use stages::*;
    for &stage in stages {
        match stage {
            Stage::Introspect => ctx.stage(stage, introspect::run)?,
            Stage::Preflight => ctx.stage(stage, |c| {
                preflight::run(c, true, c.final_db.is_some() && !derive_final)
            })?,
            Stage::Clone => {
                ctx.stage(stage, clone::run)?;
                // The load's checks' side of SOURCE, read while the stages up to the load run.
                verify::ahead::start(ctx);
            }
            Stage::Shadow => ctx.stage(stage, shadow::run)?,
            Stage::Link => ctx.stage(stage, link::run)?,
            Stage::Unconstrain => ctx.stage(stage, unconstrain::run)?,
            Stage::Swap => ctx.stage(stage, swap::run)?,
            Stage::DeriveFinal => ctx.stage(stage, derive::run)?,
            Stage::Compare => ctx.stage(stage, compare::run)?,
            Stage::Load => ctx.stage(stage, load::run)?,
            Stage::Verify => ctx.stage(stage, verify::run)?,
            Stage::Snapshot => ctx.stage(stage, snapshot::run)?,
            Stage::Transfer => {
                ctx.stage(stage, transfer::run)?;
                if ctx.run.dry_run {
                    // Every later stage reads the copy, which a dry run does not make.
                    ctx.say("-- the stages after transfer read SOURCE's copy, which a dry run does not make; they are shown by `rekey run --dry-run` within one engine, or run for real");
                    break;
                }
            }
            Stage::Follow => ctx.stage(stage, follow::run)?,
        }
    }
    Ok(())
}

/// `rekey check`: every preflight check, one line each, without writing anything.
fn check(ctx: &Context, derive_final: bool, follow: bool) -> Result<()> {
    use stages::preflight;
    let mut findings = preflight::environment(ctx, derive_final)?;
    if follow {
        let source = ctx.source.as_ref().ok_or_else(|| {
            Error::usage(
                "--follow checks SOURCE's change stream, and no SOURCE was given.",
                "Add --source URL (or DB_SOURCE) to `rekey check --follow`.",
            )
        })?;
        findings.extend(source.change_stream_findings(&mut *source.connect()?)?);
    }
    let mut input_problems = Vec::new();
    if ctx.source.is_some() {
        let shared = crate::run::source::load(ctx)?;
        let values = crate::run::reference_values::check(ctx)?;
        // A reference holding text cannot be joined to its parent's integer key.
        let joinable = values.is_empty();
        let orphans = if joinable {
            preflight::find_orphans(ctx, &shared.1.references)?
        } else {
            Vec::new()
        };
        for f in values {
            input_problems.push(f.detail.clone());
            findings.push(f);
        }
        if orphans.is_empty() && joinable {
            findings.push(preflight::Finding {
                ok: true,
                subject: "orphans".into(),
                detail: format!("none in {} references", shared.1.references.len()),
                fix: None,
                blocks: false,
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
            findings.push(preflight::Finding::fail(
                "orphans",
                detail,
                "fix or delete them in the snapshot, or use --orphans null for nullable columns",
            ));
        }
        for f in preflight::data_findings(ctx, derive_final)? {
            if !f.ok {
                input_problems.push(f.detail.clone());
            }
            findings.push(f);
        }
        if ctx.data.is_some() {
            if let Err(e) = preflight::check_data_db(ctx) {
                input_problems.push(e.to_string());
                findings.push(preflight::Finding {
                    ok: false,
                    subject: "DB_DATA".into(),
                    detail: e.to_string(),
                    fix: None,
                    blocks: true,
                });
            }
        }
    }
    if derive_final && ctx.final_db.is_some() && ctx.source.is_some() {
        if let Some(problem) = derive_check(ctx)? {
            input_problems.push(problem.detail.clone());
            findings.push(problem);
        }
    }
    if let (Some(f), false) = (&ctx.final_db, derive_final) {
        let moved =
            ctx.run.load_path == LoadChoice::Move && ctx.source.is_some() && ctx.data.is_some();
        let source = crate::run::source::load_if_given(ctx)?;
        let checked = crate::run::final_db::check_final_empty(f.as_ref(), source.as_ref().map(|p| &p.0))
            .and_then(|schema| {
            if moved {
                preflight::check_move(ctx, &schema)?;
                findings.push(preflight::Finding {
                    ok: true,
                    subject: "--load-path move".into(),
                    detail: "DB_DATA's tables can be built with DB_FINAL's definitions and moved into it".into(),
                    fix: None,
                    blocks: false,
                });
            }
            Ok(())
        });
        if let Err(e) = checked {
            input_problems.push(e.to_string());
            findings.push(preflight::Finding {
                ok: false,
                subject: "DB_FINAL".into(),
                detail: e.to_string(),
                fix: None,
                blocks: true,
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

/// `check --derive-final`: whether derive-final can create DB_FINAL (`None` when it can); an
/// environment error (a server that cannot be reached) stops the check.
fn derive_check(ctx: &Context) -> Result<Option<stages::preflight::Finding>> {
    match stages::preflight::derive_final(ctx) {
        Ok(()) => Ok(None),
        Err(e) if e.exit_code() == 2 => Ok(Some(stages::preflight::Finding {
            ok: false,
            subject: "DB_FINAL".into(),
            detail: e.to_string(),
            fix: None,
            blocks: true,
        })),
        Err(e) => Err(e),
    }
}

/// Scales a rehearsal's figures to SOURCE's current row counts. Counted, not the catalog's
/// estimate (InnoDB's is off by tens of percent): the rehearsal's rows are the exact counts its
/// stages wrote, and a ratio of an estimate to an exact count would scale a same-sized snapshot.
fn downtime_estimate(
    ctx: &Context,
    rehearsal: &std::path::Path,
) -> Result<crate::estimate::Estimate> {
    let report = crate::estimate::read_report(rehearsal)?;
    let shared = crate::run::source::load(ctx)?;
    let source = ctx.source()?;
    let mut session = source.connect()?;
    let mut rows = std::collections::BTreeMap::new();
    for t in &shared.0.tables {
        let n = session.query_u64(&format!(
            "SELECT COUNT(*) FROM {}",
            source.dialect().q(&t.name)
        ))?;
        rows.insert(t.name.clone(), n);
    }
    Ok(crate::estimate::estimate(&report, &rows))
}

/// Checks that the databases of one command can work together: all of one engine, or (a move)
/// SOURCE on an engine that moves to DB_DATA's and DB_FINAL's, for `rekey run` and `rekey
/// clean`. Returns whether the command moves SOURCE to another engine.
fn engines_fit(urls: &[(Role, DbUrl)], command: Command, live: bool) -> Result<bool> {
    let targets: Vec<(&str, &DbUrl)> = urls
        .iter()
        .filter(|(r, _)| *r != Role::Source)
        .map(|(r, u)| (r.label(), u))
        .collect();
    check_same_engine(&targets)?;
    let (Some((_, source)), Some((_, target))) = (
        urls.iter().find(|(r, _)| *r == Role::Source),
        targets.first(),
    ) else {
        return Ok(false);
    };
    if source.engine == target.engine {
        return Ok(false);
    }
    let roles: Vec<&str> = targets.iter().map(|(label, _)| *label).collect();
    let both = format!(
        "SOURCE is {} but {} {} {}",
        source.engine,
        roles.join(" and "),
        if roles.len() > 1 { "are" } else { "is" },
        target.engine
    );
    if !(open(source)?.exports_to(target.engine) && open(target)?.imports()) {
        return Err(Error::usage(
            format!("{both}; rekey moves MariaDB/MySQL and SQLite databases to PostgreSQL, and no other pair."),
            "Convert within one engine (one URL scheme for SOURCE, DB_DATA and DB_FINAL), or move to PostgreSQL.",
        ));
    }
    if live {
        return Err(Error::usage(
            format!("{both}; a live cutover (--follow) cannot change engines."),
            "Move engines with `rekey run` (without --follow) while the site is down, or follow within one engine.",
        ));
    }
    if !matches!(command, Command::Run { .. } | Command::Clean) {
        return Err(Error::usage(
            format!("{both}; only `rekey run` changes engines (its transfer stage copies SOURCE to the other engine first)."),
            "Use `rekey run` for a move, or give URLs of one engine to this command.",
        ));
    }
    Ok(true)
}
