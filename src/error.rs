//! The one error type of rekey: what failed, where (stage, table, column), and what to do next.

use std::fmt;

use crate::stage::Stage;

/// Where an error happened. Every field is optional because some errors (a bad URL) have no table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    pub stage: Option<Stage>,
    pub table: Option<String>,
    pub column: Option<String>,
}

impl Place {
    pub fn stage(stage: Stage) -> Self {
        Place {
            stage: Some(stage),
            ..Place::default()
        }
    }
    pub fn table(mut self, table: &str) -> Self {
        self.table = Some(table.to_string());
        self
    }
    pub fn column(mut self, column: &str) -> Self {
        self.column = Some(column.to_string());
        self
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(s) = self.stage {
            parts.push(format!("stage {s}"));
        }
        match (&self.table, &self.column) {
            (Some(t), Some(c)) => parts.push(format!("column {t}.{c}")),
            (Some(t), None) => parts.push(format!("table {t}")),
            (None, Some(c)) => parts.push(format!("column {c}")),
            (None, None) => {}
        }
        if parts.is_empty() {
            Ok(())
        } else {
            write!(f, "[{}] ", parts.join(", "))
        }
    }
}

/// Each variant maps to one documented exit code (see `Error::exit_code`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line itself is wrong.
    #[error("{message} {hint}")]
    Usage { message: String, hint: String },
    /// The databases or files given are not what rekey can work on (orphans, an existing DB_DATA,
    /// a non-empty DB_FINAL, an unsupported shape).
    #[error("{place}{message} {hint}")]
    Input {
        place: Place,
        message: String,
        hint: String,
    },
    /// A server, a connection, a privilege, a setting or the local file system failed.
    #[error("{place}{message} {hint}")]
    Environment {
        place: Place,
        message: String,
        hint: String,
    },
    /// The server refused the account: a wrong password, or none where one is needed.
    #[error("{place}{message} {hint}")]
    Credentials {
        place: Place,
        message: String,
        hint: String,
    },
    /// compare or verify found differences; the details were written to the report.
    #[error("{place}{message}")]
    Mismatch { place: Place, message: String },
    /// The user pressed Ctrl-C; the run stopped at a safe point.
    #[error("interrupted at a safe point after {after}. Resume with the same command and --resume, or undo with `rekey clean --run-dir {run_dir}`.")]
    Interrupted {
        after: String,
        /// The run directory, as the operator types it again (`shell_word`).
        run_dir: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
            hint: hint.into(),
        }
    }
    pub fn input(place: Place, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Input {
            place,
            message: message.into(),
            hint: hint.into(),
        }
    }
    pub fn env(place: Place, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Environment {
            place,
            message: message.into(),
            hint: hint.into(),
        }
    }
    pub fn mismatch(place: Place, message: impl Into<String>) -> Self {
        Error::Mismatch {
            place,
            message: message.into(),
        }
    }

    /// Exit codes are part of the command-line contract (docs/cutover.md):
    /// 0 done and verified, 1 verification or comparison failed, 2 bad usage or input,
    /// 3 server or environment problem (including an interrupted run).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Mismatch { .. } => 1,
            Error::Usage { .. } | Error::Input { .. } => 2,
            Error::Environment { .. } | Error::Credentials { .. } | Error::Interrupted { .. } => 3,
        }
    }

    /// What went wrong, without the place or the advice (for a line that lists several).
    pub fn message(&self) -> String {
        match self {
            Error::Usage { message, .. }
            | Error::Input { message, .. }
            | Error::Environment { message, .. }
            | Error::Credentials { message, .. }
            | Error::Mismatch { message, .. } => message.trim_end_matches('.').to_string(),
            Error::Interrupted { .. } => self.to_string(),
        }
    }

    /// Adds the place to an error that was raised below the stage that knows it.
    pub fn at(self, place: &Place) -> Self {
        fn merge(old: Place, new: &Place) -> Place {
            Place {
                stage: old.stage.or(new.stage),
                table: old.table.or_else(|| new.table.clone()),
                column: old.column.or_else(|| new.column.clone()),
            }
        }
        match self {
            Error::Input {
                place: p,
                message,
                hint,
            } => Error::Input {
                place: merge(p, place),
                message,
                hint,
            },
            Error::Environment {
                place: p,
                message,
                hint,
            } => Error::Environment {
                place: merge(p, place),
                message,
                hint,
            },
            Error::Credentials {
                place: p,
                message,
                hint,
            } => Error::Credentials {
                place: merge(p, place),
                message,
                hint,
            },
            Error::Mismatch { place: p, message } => Error::Mismatch {
                place: merge(p, place),
                message,
            },
            other => other,
        }
    }
}

/// A path as one shell word, for the commands hints tell the operator to type: quoted only when it
/// holds a character the shell would split or expand.
pub fn shell_word(path: &std::path::Path) -> String {
    let text = path.display().to_string();
    let plain = !text.is_empty()
        && text.chars().all(|c| {
            c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ',' | ':' | '+' | '=')
        });
    if plain {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Errors of the local file system (run directory, map files, exports).
pub fn io_error(what: &str, path: &std::path::Path, err: std::io::Error) -> Error {
    Error::env(
        Place::default(),
        format!("could not {what} {}: {err}.", path.display()),
        "Check that the run directory is writable and the disk has room, then run again with --resume.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_run_directory_in_a_hint_is_one_shell_word() {
        assert_eq!(
            shell_word(Path::new("/tmp/rehearsal-1")),
            "/tmp/rehearsal-1"
        );
        assert_eq!(shell_word(Path::new("my runs/a")), "'my runs/a'");
        assert_eq!(shell_word(Path::new("it's")), "'it'\\''s'");
        let e = Error::Interrupted {
            after: "swap of user".into(),
            run_dir: shell_word(Path::new("/srv/cutover")),
        };
        assert!(
            e.to_string()
                .contains("`rekey clean --run-dir /srv/cutover`"),
            "{e}"
        );
    }
}
