//! The rekey command line: parses arguments, hands the library a writer and a progress handle,
//! and maps errors to exit codes (0 done, 1 differences found, 2 bad usage or input, 3 environment).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use rekey::backend::LoadChoice;
use rekey::commands::{execute, Command, Invocation};
use rekey::options::{
    read_reference_file, ConversionOptions, DeclaredReference, OrphanPolicy, RunOptions,
    UuidFormat, UuidVersion,
};
use rekey::progress::Progress;
use rekey::url::redact;
use rekey::Error;

#[derive(Parser)]
#[command(
    name = "rekey",
    version,
    about = "Convert integer primary keys to UUID keys, every foreign key following, in one offline cutover."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show what would be converted: tables, references, exclusions, warnings.
    Plan(Common),
    /// Build DB_DATA from SOURCE: introspect, preflight, clone, shadow, link, unconstrain, swap.
    Convert(Common),
    /// Create DB_FINAL from SOURCE's schema with UUID keys (for applications without migrations).
    DeriveFinal(Common),
    /// List the differences between DB_DATA and DB_FINAL (exit 1 when they differ).
    Compare(Common),
    /// Bulk-load DB_DATA into the empty DB_FINAL, tables in parallel.
    Load(Common),
    /// Check SOURCE against DB_FINAL through the id mapping (exit 1 on any difference).
    Verify(Common),
    /// Every stage in order: convert, [derive-final], compare, load, verify.
    Run {
        #[command(flatten)]
        common: Common,
        /// Create DB_FINAL from SOURCE's schema instead of using an existing one.
        #[arg(long)]
        derive_final: bool,
    },
    /// Every preflight check (versions, privileges, load path, disk, orphans, DB_DATA, DB_FINAL); writes nothing.
    Check {
        #[command(flatten)]
        common: Common,
        /// Check for a run that creates DB_FINAL itself.
        #[arg(long)]
        derive_final: bool,
    },
    /// Undo what a run created (DB_DATA, a derived DB_FINAL, map files), from its journal.
    Clean(Common),
    /// Run every stage on a small blog database in SQLite files: nothing to install.
    Demo {
        /// Where the demo's databases and run directory go (only the demo's own files there are replaced).
        #[arg(long, default_value = "target/rekey-demo")]
        dir: PathBuf,
        /// No progress output.
        #[arg(long, short)]
        quiet: bool,
    },
}

#[derive(Args, Clone)]
struct Common {
    /// The snapshot to convert (only ever read): mysql://user:pass@host:port/db, sqlite://file.db, or a bare name with DB_TYPE/DB_HOST/...
    #[arg(long)]
    source: Option<String>,
    /// The database rekey builds from SOURCE.
    #[arg(long)]
    data: Option<String>,
    /// The application's empty UUID schema to load.
    #[arg(long = "final")]
    final_db: Option<String>,
    /// Tables that keep their integer keys (their references to converted tables still convert).
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    /// A reference without a constraint, TABLE.COL=TABLE.KEY (repeatable).
    #[arg(long = "reference")]
    references: Vec<String>,
    /// A file of references without constraints, one TABLE.COL=TABLE.KEY per line (# comments).
    #[arg(long)]
    reference_file: Option<PathBuf>,
    /// How UUIDs are stored: char32, char36, binary16, native.
    #[arg(long, default_value = "char32")]
    uuid_format: String,
    /// v7 (time-ordered, in old-key order) or v4.
    #[arg(long, default_value = "v7", value_parser = ["v7", "v4"])]
    uuid_version: String,
    /// Same seed, same UUIDs: reproducible rehearsals.
    #[arg(long)]
    seed: Option<u64>,
    /// Tables processed in parallel.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Where the journal, map files and reports go.
    #[arg(long, default_value = "rekey-run")]
    run_dir: PathBuf,
    /// Continue the run recorded in --run-dir, skipping finished stages.
    #[arg(long)]
    resume: bool,
    /// Print the SQL each stage would execute; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Machine-readable output where the command has some (plan).
    #[arg(long)]
    json: bool,
    /// Orphan references: fail (default), or null to store NULL in nullable columns.
    #[arg(long, default_value = "fail", value_parser = ["fail", "null"])]
    orphans: String,
    /// How the load moves rows: auto (fastest available), direct (INSERT ... SELECT on one
    /// server), files (server-side OUTFILE/INFILE), stream (LOAD DATA LOCAL fed by rekey).
    #[arg(long, default_value = "auto", value_parser = ["auto", "direct", "files", "stream"])]
    load_path: String,
    /// A file whose first line is the password of every URL given without one (keeps it off
    /// the command line; DB_PASS, MYSQL_PWD, ~/.my.cnf, PGPASSWORD and ~/.pgpass work too).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// plan: scale this rehearsal's timings (its --run-dir) to SOURCE's row counts.
    #[arg(long)]
    estimate_from: Option<PathBuf>,
    /// No progress output.
    #[arg(long, short)]
    quiet: bool,
}

fn invocation(command: Command, c: Common) -> Result<Invocation, Error> {
    let mut references = c
        .references
        .iter()
        .map(|r| DeclaredReference::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(file) = &c.reference_file {
        references.extend(read_reference_file(file)?);
    }
    let conversion = ConversionOptions {
        exclude: c.exclude.into_iter().filter(|s| !s.is_empty()).collect(),
        references,
        uuid_format: UuidFormat::parse(&c.uuid_format)?,
        uuid_version: if c.uuid_version == "v4" {
            UuidVersion::V4
        } else {
            UuidVersion::V7
        },
        seed: c.seed,
        orphans: if c.orphans == "null" {
            OrphanPolicy::Null
        } else {
            OrphanPolicy::Fail
        },
    };
    Ok(Invocation {
        command,
        source: c.source,
        data: c.data,
        final_db: c.final_db,
        conversion,
        run: RunOptions {
            jobs: c.jobs.max(1),
            run_dir: c.run_dir,
            resume: c.resume,
            dry_run: c.dry_run,
            json: c.json,
            load_path: match c.load_path.as_str() {
                "direct" => LoadChoice::Direct,
                "files" => LoadChoice::Files,
                "stream" => LoadChoice::Stream,
                _ => LoadChoice::Auto,
            },
            estimate_from: c.estimate_from,
            password_file: c.password_file,
        },
        prompt: terminal_prompt(),
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (command, common) = match cli.command {
        Cmd::Plan(c) => (Command::Plan, c),
        Cmd::Convert(c) => (Command::Convert, c),
        Cmd::DeriveFinal(c) => (Command::DeriveFinal, c),
        Cmd::Compare(c) => (Command::Compare, c),
        Cmd::Load(c) => (Command::Load, c),
        Cmd::Verify(c) => (Command::Verify, c),
        Cmd::Run {
            common,
            derive_final,
        } => (Command::Run { derive_final }, common),
        Cmd::Clean(c) => (Command::Clean, c),
        Cmd::Check {
            common,
            derive_final,
        } => (Command::Check { derive_final }, common),
        Cmd::Demo { dir, quiet } => {
            let (progress, interrupted) = handles(quiet);
            let out = Box::new(std::io::stdout());
            return exit(rekey::demo::run(&dir, out, progress, interrupted));
        }
    };
    let (progress, interrupted) = handles(common.quiet);
    let result = invocation(command, common)
        .and_then(|inv| execute(inv, Box::new(std::io::stdout()), progress, interrupted));
    exit(result)
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

/// Progress output for this terminal and the flag that Ctrl-C sets.
fn handles(quiet: bool) -> (Progress, Arc<AtomicBool>) {
    let progress = if quiet {
        Progress::quiet()
    } else if std::io::stderr().is_terminal() {
        Progress::bars()
    } else {
        Progress::lines(Box::new(std::io::stderr()), Duration::from_secs(5))
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    // The first Ctrl-C asks for a stop at the next safe point; a second one ends at once.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("rekey: stopping at the next safe point (Ctrl-C again to stop now)");
    });
    (progress, interrupted)
}

fn exit(result: Result<(), Error>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rekey: {}", redact(&e.to_string()));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
