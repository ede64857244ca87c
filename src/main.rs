//! The rekey command line: parses arguments, hands the library a writer and a progress handle,
//! and maps errors to exit codes (0 done, 1 differences found, 2 bad usage or input, 3 environment
//! or interrupted).

mod cli;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::FromArgMatches;

use cli::{cli, invocation, parts, Cli, Cmd};
use rekey::commands::execute;
use rekey::progress::Progress;
use rekey::url::redact;
use rekey::Error;

fn main() -> ExitCode {
    let matches = cli().get_matches();
    let parsed = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match parsed.command {
        Cmd::Status(a) => exit(rekey::status::show(
            &a.run_dir,
            a.rehearsal.as_deref(),
            a.json,
            &mut std::io::stdout(),
        )),
        Cmd::Demo(a) => {
            let (progress, interrupted) = handles(a.quiet);
            let (out, held) = output(a.quiet);
            let result = rekey::demo::run(&a.dir, out, progress.clone(), interrupted);
            progress.end();
            finish(result, held)
        }
        Cmd::Audit(a) => exit(
            cli::audit_invocation(a)
                .and_then(|inv| rekey::commands::audit(inv, &mut std::io::stdout())),
        ),
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut cli(), "rekey", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Cmd::Man { dir } => exit(man(dir)),
        other => {
            let (command, parts) = parts(other);
            // A dry run's SQL is what was asked for: --quiet holds back only the rest.
            let hold = parts.quiet && !parts.dry_run;
            let (progress, interrupted) = handles(parts.quiet);
            let (out, held) = output(hold);
            let result = invocation(command, parts)
                .and_then(|inv| execute(inv, out, progress.clone(), interrupted));
            progress.end();
            finish(result, held)
        }
    }
}

/// Writes the man page to standard output, or every command's page into `dir`.
fn man(dir: Option<PathBuf>) -> Result<(), Error> {
    let fail = |what: &str, e: std::io::Error| {
        Error::env(
            Default::default(),
            format!("the man pages could not be written to {what}: {e}."),
            "Give a --dir this user can write to (it must exist).",
        )
    };
    match dir {
        Some(dir) => {
            clap_mangen::generate_to(cli(), &dir).map_err(|e| fail(&dir.display().to_string(), e))
        }
        None => clap_mangen::Man::new(cli())
            .render(&mut std::io::stdout())
            .map_err(|e| fail("standard output", e)),
    }
}

/// Output held back under --quiet (shown only if the command fails).
type Held = Arc<Mutex<Vec<u8>>>;

struct HeldWriter(Held);

impl Write for HeldWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where a command's results go: standard output, or held back when quiet.
fn output(hold: bool) -> (Box<dyn Write + Send>, Option<Held>) {
    if hold {
        let held: Held = Arc::default();
        (Box::new(HeldWriter(held.clone())), Some(held))
    } else {
        (Box::new(std::io::stdout()), None)
    }
}

fn finish(result: Result<(), Error>, held: Option<Held>) -> ExitCode {
    if let (Err(_), Some(held)) = (&result, held) {
        // What a quiet command held back (differences, the report) explains its failure.
        if let Ok(bytes) = held.lock() {
            let mut out = std::io::stdout();
            let _ = out.write_all(&bytes);
            let _ = out.flush();
        }
    }
    exit(result)
}

/// The exit code of an interrupted run (an environment problem: run again with --resume).
const INTERRUPTED: i32 = 3;

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
    // The first Ctrl-C asks for a stop at the next safe point; a second one ends at once, with
    // the exit code of an interrupted run (3, not the shell's 130): the journal holds every step
    // finished so far, as after a kill, and --resume continues from there.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("rekey: stopped at once (interrupted); run the same command again with --resume to continue");
            std::process::exit(INTERRUPTED);
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
