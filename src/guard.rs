//! A run only ever touches the databases it was started on: which database each URL really
//! reaches (by the engine's identity of server and database, not by URL text), SOURCE never being
//! DB_DATA or DB_FINAL under any name, and a resumed or later command naming the same databases as
//! the journal recorded.

use std::sync::Arc;

use crate::backend::{open, Backend, Identity};
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::secrets::Prompt;
use crate::url::{register_secret, DbUrl};

/// The three databases of a run, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Source,
    Data,
    Final,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Source => "SOURCE",
            Role::Data => "DB_DATA",
            Role::Final => "DB_FINAL",
        }
    }
    /// The journal's key for this role's URL and identity.
    pub fn key(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Data => "data",
            Role::Final => "final",
        }
    }
}

/// One database of the command: its backend and which database it reaches.
pub struct Endpoint {
    pub role: Role,
    pub backend: Arc<dyn Backend>,
    pub identity: Identity,
}

/// Finds which database `url` reaches. When the server refuses the account and the URL has no
/// password, asks for one at the terminal (when there is one) and tries once more.
pub fn reach(role: Role, url: DbUrl, prompt: Option<&Prompt>) -> Result<Endpoint> {
    let backend = open(&url)?;
    match backend.identity() {
        Ok(identity) => Ok(Endpoint {
            role,
            backend,
            identity,
        }),
        Err(Error::Credentials { .. }) if url.password.is_none() && prompt.is_some() => {
            let ask = prompt.map(|p| {
                p(&format!(
                    "Password for {} ({}): ",
                    url.user.as_deref().unwrap_or("the account"),
                    role.label()
                ))
            });
            let Some(Some(password)) = ask else {
                return Err(Error::usage(
                    format!("{} {url} needs a password and none was given.", role.label()),
                    "Give it by DB_PASS, the engine's variable (MYSQL_PWD, PGPASSWORD), its option file, or --password-file.",
                ));
            };
            register_secret(&password);
            let mut with = url;
            with.password = Some(password);
            let backend = open(&with)?;
            let identity = backend.identity()?;
            Ok(Endpoint {
                role,
                backend,
                identity,
            })
        }
        Err(e) => Err(e),
    }
}

/// Refuses SOURCE as a write target under any name, and DB_DATA and DB_FINAL as one database.
pub fn distinct(endpoints: &[Endpoint]) -> Result<()> {
    for (i, a) in endpoints.iter().enumerate() {
        for b in &endpoints[i + 1..] {
            if !a.identity.same_database(&b.identity) {
                continue;
            }
            let (first, second) = (a.role.label(), b.role.label());
            let hint = if a.role == Role::Source || b.role == Role::Source {
                format!("rekey never writes SOURCE: give {second} a database of its own.")
            } else {
                "DB_DATA is rekey's working copy and DB_FINAL the application's schema: give each its own database.".to_string()
            };
            return Err(Error::usage(
                format!(
                    "{second} {} reaches the same database as {first} {}.",
                    b.backend.url(),
                    a.backend.url()
                ),
                hint,
            ));
        }
    }
    Ok(())
}

/// Checks every endpoint against the identity the journal recorded for its role, and records
/// the identities it has none of yet (the first command that names the role).
pub fn against_journal(journal: &Journal, endpoints: &[Endpoint], record: bool) -> Result<()> {
    for e in endpoints {
        let recorded: Option<Identity> = journal
            .database_identity(e.role.key())?
            .and_then(|text| serde_json::from_str(&text).ok());
        match recorded {
            Some(r) if r.same_database(&e.identity) => {}
            Some(r) => {
                let was = journal
                    .database_url(e.role.key())?
                    .unwrap_or_else(|| format!("{} on {}", r.database, r.server));
                return Err(Error::usage(
                    format!(
                        "{} {} is not the database this run directory's run works on: it recorded {was}.",
                        e.role.label(),
                        e.backend.url()
                    ),
                    "Give the same databases as the run that started here (another host name for the same server is fine), or another --run-dir for a new run.",
                ));
            }
            None if record => {
                journal.record_database(
                    e.role.key(),
                    &serde_json::to_string(&e.identity).unwrap_or_default(),
                    &e.backend.url().stored(),
                )?;
            }
            None => {}
        }
    }
    Ok(())
}

/// Forgets the recorded databases (after `rekey clean`, the run directory may serve a new run).
pub fn forget(journal: &Journal) -> Result<()> {
    journal.forget_databases()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::DbUrl;

    fn sqlite(dir: &std::path::Path, name: &str, role: Role) -> Endpoint {
        reach(role, DbUrl::sqlite(dir.join(name)), None).unwrap()
    }

    #[test]
    fn one_file_under_two_names_is_one_database() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("source.db"), b"").unwrap();
        std::os::unix::fs::symlink(dir.path().join("source.db"), dir.path().join("alias.db"))
            .unwrap();
        std::fs::hard_link(dir.path().join("source.db"), dir.path().join("hard.db")).unwrap();
        let source = sqlite(dir.path(), "source.db", Role::Source);
        for other in ["alias.db", "hard.db", "./source.db"] {
            let data = sqlite(dir.path(), other, Role::Data);
            let err = distinct(&[sqlite(dir.path(), "source.db", Role::Source), data]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{other}");
            assert!(err.to_string().contains("never writes SOURCE"), "{err}");
        }
        let fresh = sqlite(dir.path(), "new.db", Role::Data);
        distinct(&[source, fresh]).unwrap();
    }

    #[test]
    fn the_journal_holds_a_run_to_its_databases() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::in_memory().unwrap();
        let first = [sqlite(dir.path(), "data.db", Role::Data)];
        against_journal(&journal, &first, true).unwrap();
        // The same file by another path is the same database; another file is not.
        let same = [reach(
            Role::Data,
            DbUrl::sqlite(dir.path().join(".").join("data.db")),
            None,
        )
        .unwrap()];
        against_journal(&journal, &same, true).unwrap();
        let other = [sqlite(dir.path(), "other.db", Role::Data)];
        let err = against_journal(&journal, &other, true).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("recorded sqlite://"), "{err}");
        forget(&journal).unwrap();
        against_journal(&journal, &other, true).unwrap();
    }
}
