//! What an engine does to reach and administer databases: connections, creating and dropping
//! databases, which database a URL really reaches, privileges, leftovers of a killed run, and the
//! engine's own environment checks.

use serde::{Deserialize, Serialize};

use super::{Dialect, Session};
use crate::error::Result;
use crate::model::{Table, Trigger};
use crate::url::DbUrl;

/// Which database a URL reaches, whatever it was called: the server (or file) and the database
/// in it. Two URLs that reach one database have equal identities (`same_database`), so a resumed
/// run can check it talks to the databases it started on, and SOURCE is never written under
/// another name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The server: MySQL's server_uuid, a Galera cluster's state UUID, MariaDB's
    /// hostname:port:datadir, PostgreSQL's system identifier; `file` for SQLite.
    pub server: String,
    /// The database on that server (with its schema where the engine has them); SQLite: the
    /// file's canonical path.
    pub database: String,
    /// Where the engine can tell: the storage object itself (a SQLite file's device and inode),
    /// which two different paths to one file share.
    #[serde(default)]
    pub object: Option<String>,
}

impl Identity {
    pub fn same_database(&self, other: &Identity) -> bool {
        (self.server == other.server && self.database == other.database)
            || matches!((&self.object, &other.object), (Some(a), Some(b)) if a == b)
    }
    /// Whether both live on one server (or one machine's files).
    pub fn same_server(&self, other: &Identity) -> bool {
        self.server == other.server
    }
}

/// What the run does with a database, for the privileges it needs there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Only read.
    Source,
    /// Created, altered, filled and read.
    Data,
    /// Loaded (and, with `derive`, created first), triggers set aside and restored; with
    /// `moved`, its empty tables are replaced by DB_DATA's (`--load-path move`).
    Final { derive: bool, moved: bool },
}

/// One line of `rekey check`: what was checked, whether it passed, and the fix when it did not.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub ok: bool,
    pub subject: String,
    pub detail: String,
    pub fix: Option<String>,
    /// Whether a live run must stop for it (a setting or a grant); a leftover of another run
    /// is told, but does not stop this one.
    #[serde(skip)]
    pub blocks: bool,
}

impl Finding {
    pub fn ok(subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding {
            ok: true,
            subject: subject.into(),
            detail: detail.into(),
            fix: None,
            blocks: false,
        }
    }
    pub fn fail(
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            ok: false,
            subject: subject.into(),
            detail: detail.into(),
            fix: Some(fix.into()),
            blocks: true,
        }
    }
    /// A failed check that `rekey check` shows as one but that does not stop a run.
    pub fn warning(
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            blocks: false,
            ..Finding::fail(subject, detail, fix)
        }
    }
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} {}: {}",
            if self.ok { "ok  " } else { "FAIL" },
            self.subject,
            self.detail
        );
        if let Some(f) = &self.fix {
            s.push_str(&format!("\n       fix: {f}"));
        }
        s
    }
}

/// How big a database is and where it lives.
#[derive(Debug, Clone, Default)]
pub struct Footprint {
    pub bytes: u64,
    pub rows: u64,
    /// The local directory holding it, when that is on this machine (for free-space checks).
    pub local_dir: Option<std::path::PathBuf>,
}

pub trait Admin: Send + Sync {
    fn url(&self) -> &DbUrl;
    fn dialect(&self) -> &dyn Dialect;
    /// A session on this database, waiting for a starting server per DB_MAX_RETRIES/DB_RETRY_DELAY.
    fn connect(&self) -> Result<Box<dyn Session>>;
    /// A session on the server without a database selected (the database may not exist yet).
    fn connect_server(&self) -> Result<Box<dyn Session>> {
        self.connect()
    }
    fn database_exists(&self) -> Result<bool>;
    /// Creates the (empty) database, `like` giving the character set and collation to copy;
    /// returns the statements, and in a dry run only returns them.
    fn create_database(&self, like: Option<&Table>, dry_run: bool) -> Result<Vec<String>>;
    fn drop_database(&self) -> Result<()>;
    /// Which database this URL reaches (see `Identity`).
    fn identity(&self) -> Result<Identity>;
    /// Takes rekey's lock on this database, held for the whole process on a session of its own
    /// (dropping the returned guard releases it): `key` names the database (its identity), `what`
    /// its role for the message. A database another process holds is refused (exit 2) naming the
    /// holder. `None` where the engine needs no lock of its own (SQLite: one file, locked by
    /// the engine itself; a Galera cluster, which refuses GET_LOCK).
    fn hold_lock(&self, _key: &str, _what: &str) -> Result<Option<Box<dyn ServerLock>>> {
        Ok(None)
    }
    /// Stops statements that a killed earlier process of run `run_id` left running on the server
    /// (they carry its marker). Returns how many were stopped. Engines without a server have none.
    fn stop_leftovers(&self, _run_id: &str) -> Result<u32> {
        Ok(0)
    }
    /// Whether the session's account has what `role` needs here; a failure names the statement
    /// (GRANT) that fixes it.
    fn check_privileges(&self, session: &mut dyn Session, role: Role) -> Result<Finding>;
    /// `rekey check --follow`: whether this database, as SOURCE, has the change stream a live
    /// cutover reads (settings, grants, leftovers), one finding each. An engine without one says
    /// so in a failing finding: the cutover then runs with the site down.
    fn change_stream_findings(&self, session: &mut dyn Session) -> Result<Vec<Finding>>;
    /// The engine's own environment checks (cluster settings, packet limits, ...).
    fn findings(&self, _session: &mut dyn Session) -> Result<Vec<Finding>> {
        Ok(Vec::new())
    }
    /// Bytes the database takes (data and indexes), its estimated rows, and where it lives.
    fn footprint(&self, _session: &mut dyn Session) -> Result<Footprint> {
        Ok(Footprint::default())
    }
    /// What the engine noted about the work done since the last call, for the report (Galera:
    /// the DDL statements run and the seconds of total-order isolation they cost every node).
    fn take_notes(&self) -> Option<String> {
        None
    }
    /// Whether this session's account may recreate `trigger` exactly after setting it aside
    /// (MySQL: a trigger that runs as another account needs SET USER or SUPER); `Some(fix)` when
    /// it may not.
    fn may_recreate(
        &self,
        _session: &mut dyn Session,
        _trigger: &Trigger,
    ) -> Result<Option<String>> {
        Ok(None)
    }
}

/// rekey's lock on a database, held on a session of its own (`Admin::hold_lock`); dropping it
/// releases the lock.
pub trait ServerLock: Send {
    /// Fails (exit 3, naming the lock) when the session no longer holds the lock: the server or
    /// a DBA ended it, and another process could now work on the database.
    fn still_held(&mut self) -> Result<()>;
}
