//! The command line's definition: commands, options grouped by what they are about, and how
//! they become a library `Invocation`. Each command has only the options that apply to it, and
//! the databases it needs are required. The help, the completions and the man pages come from
//! `cli()` alike.

mod help;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use rekey::commands::{Command, Invocation};
use rekey::options::{
    read_reference_file, ConversionOptions, DeclaredReference, LoadChoice, OrphanPolicy,
    RunOptions, UuidFormat, UuidVersion,
};
use rekey::Error;

use help::{databases, COMMAND_HELP, EXIT_CODES, REACH_DATABASES, START};

#[derive(Parser)]
#[command(
    name = "rekey",
    version,
    about = "Convert integer primary keys to UUID keys, every foreign key following, in one offline cutover.",
    long_about = "Convert integer primary keys to UUID keys, every foreign key following, in one offline cutover.\n\n\
rekey reads SOURCE (a snapshot of the database; never written), builds DB_DATA (a converted copy \
to inspect), checks it against DB_FINAL (the empty UUID schema of the new application version), \
bulk-loads it and verifies every row and reference. Every stage is journaled in --run-dir, so an \
interrupted run continues with --resume, and `rekey status` shows where a run stands.",
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Show, per table, what will be converted, followed, kept or warned about.
    Plan(PlanArgs),
    /// Run every preflight check (versions, privileges, load path, disk, orphans); writes nothing.
    Check(CheckArgs),
    /// Build DB_DATA from SOURCE: introspect, preflight, clone, shadow, link, unconstrain, swap.
    Convert(ConvertArgs),
    /// Create DB_FINAL from SOURCE's schema with UUID keys (for applications without migrations).
    DeriveFinal(DeriveArgs),
    /// List the differences between DB_DATA and DB_FINAL (exit 1 when they differ).
    Compare(CompareArgs),
    /// Bulk-load DB_DATA into the empty DB_FINAL, tables in parallel.
    Load(LoadArgs),
    /// Check SOURCE against DB_FINAL through the id mapping (exit 1 on any difference).
    Verify(VerifyArgs),
    /// Every stage in order: convert, [derive-final], compare, load, verify.
    Run(RunArgs),
    /// End a live cutover (`run --follow`) once the application has stopped writing to SOURCE:
    /// drain SOURCE's last changes into DB_FINAL, verify, restore what the load set aside.
    Cutover(CutoverArgs),
    /// Where a run stands, live or finished: stage, tables, rows, elapsed time, ETA.
    Status(StatusArgs),
    /// Undo what a run created (DB_DATA, a derived DB_FINAL), from its journal; maps kept.
    Clean(CleanArgs),
    /// Run every stage on a small blog database in SQLite files: nothing to install.
    Demo(DemoArgs),
    /// List the application code that assumes integer ids (exit 1 when there is any).
    Audit(AuditArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page, or write one per command into a directory.
    Man {
        /// Write rekey.1 and one page per command (rekey-run.1, ...) into this directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

// The databases. A command's required ones are their own struct, so that `--help` and the usage
// line show them as required and a command accepts only the databases it uses.

#[derive(Args)]
#[command(next_help_heading = "Databases")]
pub struct SourceReq {
    /// SOURCE, the snapshot to convert (only ever read). Required.
    #[arg(long, value_name = "URL")]
    source: String,
}

#[derive(Args)]
#[command(next_help_heading = "Databases")]
pub struct SourceOpt {
    /// SOURCE, the snapshot to convert (only ever read).
    #[arg(long, value_name = "URL")]
    source: Option<String>,
}

#[derive(Args)]
#[command(next_help_heading = "Databases")]
pub struct DataReq {
    /// DB_DATA, the converted copy rekey builds (a new database). Required.
    #[arg(long, value_name = "URL")]
    data: String,
}

#[derive(Args)]
#[command(next_help_heading = "Databases")]
pub struct DataOpt {
    /// DB_DATA, the converted copy rekey builds (a new database).
    #[arg(long, value_name = "URL")]
    data: Option<String>,
}

#[derive(Args)]
#[command(next_help_heading = "Databases")]
pub struct FinalReq {
    /// DB_FINAL, the application's empty UUID schema to load. Required.
    #[arg(long = "final", value_name = "URL")]
    final_db: String,
}

#[derive(Args)]
#[command(next_help_heading = "Databases")]
pub struct FinalOpt {
    /// DB_FINAL, the application's empty UUID schema to load.
    #[arg(long = "final", value_name = "URL")]
    final_db: Option<String>,
}

#[derive(Args)]
#[command(next_help_heading = "Databases")]
pub struct Passwords {
    /// A file whose first line is the password of every URL given without one.
    ///
    /// Keeps the password off the command line. Without it: DB_PASS, MYSQL_PWD, ~/.my.cnf
    /// [client], PGPASSWORD, ~/.pgpass, or a prompt when a terminal is attached.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

#[derive(Args)]
#[command(next_help_heading = "Databases")]
pub struct Derive {
    /// Create DB_FINAL from SOURCE's schema instead of using an existing one.
    #[arg(long)]
    derive_final: bool,
}

/// Which tables and columns convert.
#[derive(Args)]
#[command(next_help_heading = "Conversion")]
pub struct Selection {
    /// Tables that keep their integer keys (their references to converted tables still convert).
    #[arg(long, value_delimiter = ',', value_name = "T1,T2")]
    exclude: Vec<String>,
    /// A reference without a constraint (repeatable).
    #[arg(long = "reference", value_name = "TABLE.COL=TABLE.KEY")]
    references: Vec<String>,
    /// A file of references without constraints, one TABLE.COL=TABLE.KEY per line (# comments).
    #[arg(long, value_name = "FILE")]
    reference_file: Option<PathBuf>,
}

#[derive(Args)]
#[command(next_help_heading = "Conversion")]
pub struct Format {
    /// How UUIDs are stored [default: the engine's own: native on PostgreSQL, char32 elsewhere].
    #[arg(long, value_enum, value_name = "FORMAT")]
    uuid_format: Option<UuidFormat>,
}

/// How new keys are made and what happens to orphans (recorded in the journal: a resumed run
/// takes them from there).
#[derive(Args)]
#[command(next_help_heading = "Conversion")]
pub struct Keys {
    /// Which UUID version new keys get, and what they reveal.
    #[arg(long, value_enum, default_value_t = UuidVersion::V4, value_name = "VERSION")]
    uuid_version: UuidVersion,
    /// Same seed, same UUIDs: reproducible rehearsals (the seed replaces the run's secret:
    /// whoever knows it can recompute every key from the old ids).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// What a reference whose value has no parent row does.
    #[arg(long, value_enum, default_value_t = OrphanPolicy::Fail, value_name = "POLICY")]
    orphans: OrphanPolicy,
}

#[derive(Args)]
#[command(next_help_heading = "Run")]
pub struct RunDir {
    /// Where the journal, map files and reports go.
    #[arg(long, default_value = "rekey-run", value_name = "DIR")]
    run_dir: PathBuf,
}

#[derive(Args)]
#[command(next_help_heading = "Run")]
pub struct Resume {
    /// Continue the run recorded in --run-dir, skipping what it finished.
    #[arg(long)]
    resume: bool,
}

#[derive(Args)]
#[command(next_help_heading = "Run")]
pub struct Jobs {
    /// Tables processed in parallel.
    #[arg(long, default_value_t = 2, value_name = "N")]
    jobs: usize,
}

#[derive(Args)]
#[command(next_help_heading = "Run")]
pub struct LoadPath {
    /// How the load moves rows.
    #[arg(long, value_enum, default_value_t = LoadChoice::Auto, value_name = "PATH")]
    load_path: LoadChoice,
}

#[derive(Args)]
#[command(next_help_heading = "Run")]
pub struct Act {
    /// Print the SQL each stage would execute; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print nothing when the command succeeds (its output is shown if it fails).
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
pub struct PlanArgs {
    #[command(flatten)]
    source: SourceReq,
    #[command(flatten)]
    passwords: Passwords,
    #[command(flatten)]
    selection: Selection,
    /// Scale this rehearsal's timings (its --run-dir) to SOURCE's row counts: a downtime estimate.
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    estimate_from: Option<PathBuf>,
    /// Include the audit of the application in this directory (counts per rule, top files).
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    app: Option<PathBuf>,
    /// The plan as JSON.
    #[arg(long, help_heading = "Output")]
    json: bool,
}

#[derive(Args)]
pub struct CheckArgs {
    #[command(flatten)]
    source: SourceOpt,
    #[command(flatten)]
    data: DataOpt,
    #[command(flatten)]
    final_db: FinalOpt,
    #[command(flatten)]
    derive: Derive,
    #[command(flatten)]
    passwords: Passwords,
    #[command(flatten)]
    selection: Selection,
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    keys: Keys,
    #[command(flatten)]
    jobs: Jobs,
    #[command(flatten)]
    load_path: LoadPath,
    /// Also check what a live cutover needs on SOURCE: its change stream (a row-based binlog on
    /// MariaDB/MySQL, logical decoding on PostgreSQL), the grants to read it, and replication
    /// slots left by earlier runs. Run it days before the cutover: what it finds takes a restart.
    #[arg(long)]
    follow: bool,
    /// The findings as JSON.
    #[arg(long, help_heading = "Output")]
    json: bool,
}

#[derive(Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    source: SourceReq,
    #[command(flatten)]
    data: DataReq,
    #[command(flatten)]
    passwords: Passwords,
    #[command(flatten)]
    selection: Selection,
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    keys: Keys,
    #[command(flatten)]
    run_dir: RunDir,
    #[command(flatten)]
    resume: Resume,
    #[command(flatten)]
    jobs: Jobs,
    #[command(flatten)]
    act: Act,
}

#[derive(Args)]
pub struct DeriveArgs {
    #[command(flatten)]
    source: SourceReq,
    #[command(flatten)]
    final_db: FinalReq,
    #[command(flatten)]
    passwords: Passwords,
    #[command(flatten)]
    selection: Selection,
    #[command(flatten)]
    format: Format,
    // Not used by derive-final itself, but part of the run's options that the journal records:
    // derive-final in the run directory of a `convert --seed 7` must be able to say the same.
    #[command(flatten)]
    keys: Keys,
    #[command(flatten)]
    run_dir: RunDir,
    #[command(flatten)]
    resume: Resume,
    #[command(flatten)]
    act: Act,
}

#[derive(Args)]
pub struct CompareArgs {
    #[command(flatten)]
    data: DataReq,
    #[command(flatten)]
    final_db: FinalReq,
    #[command(flatten)]
    passwords: Passwords,
    #[command(flatten)]
    run_dir: RunDir,
    #[command(flatten)]
    act: Act,
}

#[derive(Args)]
pub struct LoadArgs {
    #[command(flatten)]
    data: DataReq,
    #[command(flatten)]
    final_db: FinalReq,
    /// SOURCE, optional: its plan lets tables whose one index is the new key load faster.
    #[arg(long, value_name = "URL", help_heading = "Databases")]
    source: Option<String>,
    #[command(flatten)]
    passwords: Passwords,
    #[command(flatten)]
    run_dir: RunDir,
    #[command(flatten)]
    resume: Resume,
    #[command(flatten)]
    jobs: Jobs,
    #[command(flatten)]
    load_path: LoadPath,
    #[command(flatten)]
    act: Act,
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    source: SourceReq,
    #[command(flatten)]
    final_db: FinalReq,
    #[command(flatten)]
    passwords: Passwords,
    #[command(flatten)]
    run_dir: RunDir,
    #[command(flatten)]
    jobs: Jobs,
    #[command(flatten)]
    act: Act,
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    source: SourceReq,
    #[command(flatten)]
    data: DataReq,
    #[command(flatten)]
    final_db: FinalReq,
    #[command(flatten)]
    derive: Derive,
    #[command(flatten)]
    passwords: Passwords,
    #[command(flatten)]
    selection: Selection,
    #[command(flatten)]
    format: Format,
    #[command(flatten)]
    keys: Keys,
    #[command(flatten)]
    run_dir: RunDir,
    #[command(flatten)]
    resume: Resume,
    #[command(flatten)]
    jobs: Jobs,
    #[command(flatten)]
    load_path: LoadPath,
    /// Keep DB_DATA as the full converted copy, for a rehearsal to inspect: swap fills DB_DATA and
    /// the load copies it into DB_FINAL (every row written twice). Without it, DB_DATA holds the
    /// converted definitions and the mapping tables, and the load writes each row once, straight
    /// from SOURCE into DB_FINAL, wherever the engine can (the report names each table's route).
    #[arg(long, help_heading = "Run")]
    full_data_copy: bool,
    /// Convert with the site up: copy SOURCE from a consistent snapshot while the application
    /// keeps writing, convert and load that copy, then apply SOURCE's changes to DB_FINAL until
    /// `rekey cutover` (needs the row-based binlog or logical decoding `rekey check --follow`
    /// checks). The process keeps running until the cutover ends it.
    #[arg(long, help_heading = "Run")]
    follow: bool,
    /// When SOURCE is on another engine than DB_DATA and DB_FINAL (a move to PostgreSQL): what
    /// to do with SOURCE's zero dates (`0000-00-00`), which no calendar holds. `refuse` (the
    /// default) stops before anything is written and names the rows; `null` stores them as NULL
    /// in nullable columns and lists them.
    #[arg(long, value_name = "WHAT", value_parser = ["refuse", "null"], default_value = "refuse", help_heading = "Run")]
    zero_dates: String,
    /// Include the audit of the application in this directory in the report.
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    app: Option<PathBuf>,
    #[command(flatten)]
    act: Act,
}

#[derive(Args)]
pub struct CutoverArgs {
    #[command(flatten)]
    passwords: Passwords,
    /// The run directory of the live run (`run --follow`) to end.
    #[arg(long, default_value = "rekey-run", value_name = "DIR")]
    run_dir: PathBuf,
    #[command(flatten)]
    act: Act,
}

#[derive(Args)]
pub struct StatusArgs {
    /// The run directory of the run to look at.
    #[arg(long, default_value = "rekey-run", value_name = "DIR")]
    pub run_dir: PathBuf,
    /// A finished rehearsal's run directory: the ETA scales its stage times to this run's rows
    /// (without it, the ETA extrapolates from the rows moved so far).
    #[arg(long, value_name = "DIR")]
    pub rehearsal: Option<PathBuf>,
    /// The status as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct CleanArgs {
    /// DB_DATA to drop (default: the one the journal names).
    #[arg(long, value_name = "URL", help_heading = "Databases")]
    data: Option<String>,
    /// DB_FINAL to restore or drop (default: the one the journal names).
    #[arg(long = "final", value_name = "URL", help_heading = "Databases")]
    final_db: Option<String>,
    #[command(flatten)]
    passwords: Passwords,
    #[command(flatten)]
    run_dir: RunDir,
    /// Remove the run's map/ and orphans/ files too: the only record of old id -> new id
    /// (kept by default).
    #[arg(long)]
    remove_maps: bool,
    #[command(flatten)]
    act: Act,
}

#[derive(Args)]
pub struct AuditArgs {
    /// The application's source directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// SOURCE: report only ids of the tables it converts, with the --reference lines `rekey run`
    /// needs for integer references without a constraint.
    #[arg(long, value_name = "URL", help_heading = "Databases")]
    pub source: Option<String>,
    #[command(flatten)]
    pub passwords: Passwords,
    #[command(flatten)]
    pub selection: Selection,
    /// The findings as a JSON array (file, line, column, rule, message, code).
    #[arg(long, help_heading = "Output", conflicts_with = "sarif")]
    pub json: bool,
    /// The findings as SARIF 2.1.0, for code-scanning tools.
    #[arg(long, help_heading = "Output")]
    pub sarif: bool,
}

#[derive(Args)]
pub struct DemoArgs {
    /// Where the demo's databases and run directory go (only the demo's own files there are
    /// replaced).
    #[arg(long, default_value = "target/rekey-demo", value_name = "DIR")]
    pub dir: PathBuf,
    /// Print nothing when the demo succeeds.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The whole command line, with every command's examples and, in `--help`, the databases'
/// environment and the exit codes. The parser, the completions and the man pages use it alike.
pub fn cli() -> clap::Command {
    // Help wider than 100 columns is hard to read, and a fixed limit keeps it the same in logs.
    let databases = databases();
    let mut cmd = Cli::command()
        .max_term_width(100)
        .after_help(START)
        .after_long_help(format!("{START}\n\n{databases}\n\n{EXIT_CODES}"));
    for (name, text) in COMMAND_HELP {
        let reaches = REACH_DATABASES.contains(name);
        cmd = cmd.mut_subcommand(*name, |sub| {
            let long = if reaches {
                format!("{text}\n\n{databases}\n\n{EXIT_CODES}")
            } else {
                format!("{text}\n\n{EXIT_CODES}")
            };
            sub.after_help(*text).after_long_help(long)
        });
    }
    cmd
}

/// What a command's options come to, before they become an `Invocation`.
#[derive(Default)]
pub struct Parts {
    pub source: Option<String>,
    pub data: Option<String>,
    pub final_db: Option<String>,
    pub selection: Option<Selection>,
    pub uuid_format: Option<UuidFormat>,
    pub keys: Option<Keys>,
    pub run_dir: Option<PathBuf>,
    pub resume: bool,
    pub jobs: Option<usize>,
    pub dry_run: bool,
    pub quiet: bool,
    pub json: bool,
    pub load_path: Option<LoadChoice>,
    pub full_data_copy: bool,
    pub estimate_from: Option<PathBuf>,
    pub password_file: Option<PathBuf>,
    pub remove_maps: bool,
    pub app: Option<PathBuf>,
    pub follow: bool,
    pub zero_dates_null: bool,
}

pub fn invocation(command: Command, p: Parts) -> Result<Invocation, Error> {
    let mut conversion = ConversionOptions::default();
    if let Some(s) = p.selection {
        let mut references = s
            .references
            .iter()
            .map(|r| DeclaredReference::parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(file) = &s.reference_file {
            references.extend(read_reference_file(file)?);
        }
        conversion.exclude = s.exclude.into_iter().filter(|t| !t.is_empty()).collect();
        conversion.references = references;
    }
    let uuid_format_given = p.uuid_format.is_some();
    if let Some(f) = p.uuid_format {
        conversion.uuid_format = f;
    }
    if let Some(k) = p.keys {
        conversion.uuid_version = k.uuid_version;
        conversion.seed = k.seed;
        conversion.orphans = k.orphans;
    }
    let defaults = RunOptions::default();
    Ok(Invocation {
        command,
        source: p.source,
        data: p.data,
        final_db: p.final_db,
        conversion,
        run: RunOptions {
            jobs: p.jobs.unwrap_or(defaults.jobs).max(1),
            run_dir: p.run_dir.unwrap_or(defaults.run_dir),
            resume: p.resume,
            dry_run: p.dry_run,
            json: p.json,
            load_path: p.load_path.unwrap_or_default(),
            full_data_copy: p.full_data_copy,
            one_write: false,
            estimate_from: p.estimate_from,
            password_file: p.password_file,
            uuid_format_given,
            remove_maps: p.remove_maps,
            app: p.app,
            follow: p.follow,
            zero_dates_null: p.zero_dates_null,
        },
        prompt: terminal_prompt(),
    })
}

/// The library command and its options. `status`, `demo`, `completions` and `man` are not
/// library commands: main.rs runs them itself.
pub fn parts(cmd: Cmd) -> (Command, Parts) {
    match cmd {
        Cmd::Plan(a) => (
            Command::Plan,
            Parts {
                source: Some(a.source.source),
                selection: Some(a.selection),
                estimate_from: a.estimate_from,
                app: a.app,
                json: a.json,
                password_file: a.passwords.password_file,
                ..Parts::default()
            },
        ),
        Cmd::Check(a) => (
            Command::Check {
                derive_final: a.derive.derive_final,
                follow: a.follow,
            },
            Parts {
                source: a.source.source,
                data: a.data.data,
                final_db: a.final_db.final_db,
                selection: Some(a.selection),
                uuid_format: a.format.uuid_format,
                keys: Some(a.keys),
                jobs: Some(a.jobs.jobs),
                load_path: Some(a.load_path.load_path),
                json: a.json,
                password_file: a.passwords.password_file,
                ..Parts::default()
            },
        ),
        Cmd::Convert(a) => (
            Command::Convert,
            Parts {
                source: Some(a.source.source),
                data: Some(a.data.data),
                selection: Some(a.selection),
                uuid_format: a.format.uuid_format,
                keys: Some(a.keys),
                run_dir: Some(a.run_dir.run_dir),
                resume: a.resume.resume,
                jobs: Some(a.jobs.jobs),
                dry_run: a.act.dry_run,
                quiet: a.act.quiet,
                password_file: a.passwords.password_file,
                ..Parts::default()
            },
        ),
        Cmd::DeriveFinal(a) => (
            Command::DeriveFinal,
            Parts {
                source: Some(a.source.source),
                final_db: Some(a.final_db.final_db),
                selection: Some(a.selection),
                uuid_format: a.format.uuid_format,
                keys: Some(a.keys),
                run_dir: Some(a.run_dir.run_dir),
                resume: a.resume.resume,
                dry_run: a.act.dry_run,
                quiet: a.act.quiet,
                password_file: a.passwords.password_file,
                ..Parts::default()
            },
        ),
        Cmd::Compare(a) => (
            Command::Compare,
            Parts {
                data: Some(a.data.data),
                final_db: Some(a.final_db.final_db),
                run_dir: Some(a.run_dir.run_dir),
                dry_run: a.act.dry_run,
                quiet: a.act.quiet,
                password_file: a.passwords.password_file,
                ..Parts::default()
            },
        ),
        Cmd::Load(a) => (
            Command::Load,
            Parts {
                source: a.source,
                data: Some(a.data.data),
                final_db: Some(a.final_db.final_db),
                run_dir: Some(a.run_dir.run_dir),
                resume: a.resume.resume,
                jobs: Some(a.jobs.jobs),
                load_path: Some(a.load_path.load_path),
                dry_run: a.act.dry_run,
                quiet: a.act.quiet,
                password_file: a.passwords.password_file,
                ..Parts::default()
            },
        ),
        Cmd::Verify(a) => (
            Command::Verify,
            Parts {
                source: Some(a.source.source),
                final_db: Some(a.final_db.final_db),
                run_dir: Some(a.run_dir.run_dir),
                jobs: Some(a.jobs.jobs),
                dry_run: a.act.dry_run,
                quiet: a.act.quiet,
                password_file: a.passwords.password_file,
                ..Parts::default()
            },
        ),
        Cmd::Run(a) => (
            Command::Run {
                derive_final: a.derive.derive_final,
                follow: a.follow,
            },
            Parts {
                app: a.app,
                follow: a.follow,
                zero_dates_null: a.zero_dates == "null",
                source: Some(a.source.source),
                data: Some(a.data.data),
                final_db: Some(a.final_db.final_db),
                selection: Some(a.selection),
                uuid_format: a.format.uuid_format,
                keys: Some(a.keys),
                run_dir: Some(a.run_dir.run_dir),
                resume: a.resume.resume,
                jobs: Some(a.jobs.jobs),
                load_path: Some(a.load_path.load_path),
                full_data_copy: a.full_data_copy,
                dry_run: a.act.dry_run,
                quiet: a.act.quiet,
                password_file: a.passwords.password_file,
                ..Parts::default()
            },
        ),
        Cmd::Clean(a) => (
            Command::Clean,
            Parts {
                data: a.data,
                final_db: a.final_db,
                run_dir: Some(a.run_dir.run_dir),
                dry_run: a.act.dry_run,
                quiet: a.act.quiet,
                password_file: a.passwords.password_file,
                remove_maps: a.remove_maps,
                ..Parts::default()
            },
        ),
        Cmd::Cutover(a) => (
            Command::Cutover,
            Parts {
                run_dir: Some(a.run_dir),
                dry_run: a.act.dry_run,
                quiet: a.act.quiet,
                password_file: a.passwords.password_file,
                ..Parts::default()
            },
        ),
        Cmd::Status(_)
        | Cmd::Demo(_)
        | Cmd::Audit(_)
        | Cmd::Completions { .. }
        | Cmd::Man { .. } => {
            unreachable!("main.rs runs status, demo, audit, completions and man itself")
        }
    }
}

/// `rekey audit`'s options as the library takes them.
pub fn audit_invocation(a: AuditArgs) -> Result<rekey::audit::Invocation, Error> {
    let inv = invocation(
        Command::Plan,
        Parts {
            source: a.source,
            selection: Some(a.selection),
            password_file: a.passwords.password_file,
            ..Parts::default()
        },
    )?;
    Ok(rekey::audit::Invocation {
        dir: a.dir,
        source: inv.source,
        conversion: inv.conversion,
        password_file: inv.run.password_file,
        prompt: inv.prompt,
        format: if a.sarif {
            rekey::audit::Format::Sarif
        } else if a.json {
            rekey::audit::Format::Json
        } else {
            rekey::audit::Format::Text
        },
    })
}

/// Asks for a password without echo, when a person is at the terminal to answer.
fn terminal_prompt() -> Option<std::sync::Arc<rekey::secrets::Prompt>> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    Some(std::sync::Arc::new(|question: &str| {
        rpassword::prompt_password(question).ok()
    }))
}
