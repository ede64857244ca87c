//! MariaDB/MySQL accounts and databases: connections, CREATE/DROP DATABASE, which server a URL
//! reaches, privileges with the GRANT that fixes them, statements a killed run left running, and
//! the server's own checks (Galera).

use std::thread;

use super::{MysqlBackend, MysqlSession, DIALECT};
use crate::backend::{Admin, Dialect, Finding, Footprint, Identity, Role, Session, Value};
use crate::error::{Error, Place, Result};
use crate::model::{Table, Trigger};
use crate::url::DbUrl;

const PRIVILEGES_SQL: &str = include_str!("privileges.sql");
const SIZE_SQL: &str = include_str!("size.sql");
const IDENTITY_SQL: &str = include_str!("identity.sql");

/// The privileges each role needs on its database (docs/cutover.md lists the GRANTs).
fn needs(role: Role) -> Vec<&'static str> {
    match role {
        Role::Source => vec!["SELECT"],
        Role::Data => vec![
            "SELECT", "INSERT", "DELETE", "CREATE", "DROP", "ALTER", "INDEX",
        ],
        Role::Final { derive } => {
            let mut v = vec!["SELECT", "INSERT", "DELETE", "TRIGGER"];
            if derive {
                v.extend(["CREATE", "ALTER", "INDEX", "REFERENCES", "CREATE VIEW"]);
            }
            v
        }
    }
}

impl MysqlBackend {
    /// The account this session runs as (`'user'@'host'`), for GRANT statements in advice.
    pub(super) fn account(&self, session: &mut dyn Session) -> Result<Option<String>> {
        let current = session
            .query_first("SELECT CURRENT_USER()")?
            .as_ref()
            .and_then(Value::as_string);
        Ok(current.map(|c| match c.rsplit_once('@') {
            Some((user, host)) => format!("{}@{}", DIALECT.lit(user), DIALECT.lit(host)),
            None => DIALECT.lit(&c),
        }))
    }

    /// Which of `needs` the session's account lacks on this database.
    fn missing_privileges(&self, session: &mut dyn Session, needs: &[&str]) -> Result<Vec<String>> {
        let Some(grantee) = self.account(session)? else {
            return Ok(needs.iter().map(|n| n.to_string()).collect());
        };
        let sql = PRIVILEGES_SQL
            .replace("{grantee}", &DIALECT.lit(&grantee))
            .replace("{schema}", &self.schema_literal());
        let have: Vec<String> = session
            .query_all(&sql)?
            .iter()
            .filter_map(|r| r.first().and_then(Value::as_string))
            .collect();
        Ok(needs
            .iter()
            .filter(|n| !have.iter().any(|h| h.eq_ignore_ascii_case(n)))
            .map(|n| n.to_string())
            .collect())
    }
}

impl Admin for MysqlBackend {
    fn url(&self) -> &DbUrl {
        &self.url
    }

    fn dialect(&self) -> &dyn Dialect {
        &DIALECT
    }

    fn connect(&self) -> Result<Box<dyn Session>> {
        Ok(Box::new(MysqlSession::new(self.raw_connect(true)?)))
    }

    fn connect_server(&self) -> Result<Box<dyn Session>> {
        Ok(Box::new(self.server_session()?))
    }

    fn database_exists(&self) -> Result<bool> {
        let mut s = self.server_session()?;
        let sql = format!(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}",
            self.schema_literal()
        );
        Ok((&mut s as &mut dyn Session).query_u64(&sql)? > 0)
    }

    fn create_database(&self, like: Option<&Table>, dry_run: bool) -> Result<Vec<String>> {
        let mut sql = format!("CREATE DATABASE {}", DIALECT.q(&self.url.database));
        if let Some(collation) = like.and_then(|t| t.collation.as_deref()) {
            sql.push_str(&format!(" COLLATE {}", DIALECT.lit(collation)));
        }
        if !dry_run {
            self.server_session()?.execute(&sql)?;
        }
        Ok(vec![sql])
    }

    fn drop_database(&self) -> Result<()> {
        let mut s = self.server_session()?;
        s.execute(&format!(
            "DROP DATABASE IF EXISTS {}",
            DIALECT.q(&self.url.database)
        ))?;
        Ok(())
    }

    fn identity(&self) -> Result<Identity> {
        let mut s = self.server_session()?;
        let s: &mut dyn Session = &mut s;
        let row = s
            .query_all(IDENTITY_SQL)?
            .into_iter()
            .next()
            .unwrap_or_default();
        let get = |i: usize| row.get(i).and_then(Value::as_string).unwrap_or_default();
        let (host, port, datadir, lower_case, version) = (get(0), get(1), get(2), get(3), get(4));
        // The name of the server itself, not of the way to it: one Galera cluster is one
        // server whichever node answers; MySQL has a UUID per server; MariaDB has neither, and
        // a host name with its port and data directory tells two servers apart.
        let cluster = if version.contains("MariaDB") {
            s.query_all("SHOW GLOBAL STATUS LIKE 'wsrep_cluster_state_uuid'")?
                .first()
                .and_then(|r| r.get(1))
                .and_then(Value::as_string)
                .filter(|u| !u.is_empty() && !u.starts_with("00000000-"))
        } else {
            None
        };
        let server = match cluster {
            Some(uuid) => format!("galera:{uuid}"),
            None if !version.contains("MariaDB") => s
                .query_first("SELECT @@server_uuid")?
                .and_then(|v| v.as_string())
                .map(|u| format!("mysql:{u}"))
                .unwrap_or_else(|| format!("mysql:{host}:{port}:{datadir}")),
            None => format!("mariadb:{host}:{port}:{datadir}"),
        };
        // With lower_case_table_names set, `Shop` and `shop` are one database.
        let database = if lower_case != "0" {
            self.url.database.to_lowercase()
        } else {
            self.url.database.clone()
        };
        Ok(Identity {
            server,
            database,
            object: None,
        })
    }

    fn stop_leftovers(&self, run_id: &str) -> Result<u32> {
        let mut s = self.server_session()?;
        let find = format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE {} AND ID <> CONNECTION_ID()",
            DIALECT.lit(&format!("%rekey:{run_id} */%"))
        );
        let ids: Vec<u64> = (&mut s as &mut dyn Session)
            .query_all(&find)?
            .iter()
            .filter_map(|r| r.first().and_then(Value::as_u64))
            .collect();
        for id in &ids {
            // The statement may have ended meanwhile; that is what we want anyway.
            let _ = s.execute(&format!("KILL CONNECTION {id}"));
        }
        for _ in 0..600 {
            if (&mut s as &mut dyn Session).query_all(&find)?.is_empty() {
                return Ok(ids.len() as u32);
            }
            thread::sleep(std::time::Duration::from_millis(100));
        }
        Err(Error::env(
            Place::default(),
            format!("statements of the interrupted run {run_id} are still running on {} after being killed.", self.url),
            "Wait until SHOW PROCESSLIST no longer shows them (they may be rolling back), then resume again.",
        ))
    }

    fn check_privileges(&self, session: &mut dyn Session, role: Role) -> Result<Finding> {
        let needs = needs(role);
        let missing = self.missing_privileges(session, &needs)?;
        if missing.is_empty() {
            return Ok(Finding::ok("privileges", needs.join(", ")));
        }
        let account = self
            .account(session)?
            .unwrap_or_else(|| "the migration account".into());
        let db = DIALECT.q(&self.url.database);
        Ok(Finding::fail(
            "privileges",
            format!("the account lacks {} on {db}", missing.join(", ")),
            format!("GRANT {} ON {db}.* TO {account};", missing.join(", ")),
        ))
    }

    fn findings(&self, session: &mut dyn Session) -> Result<Vec<Finding>> {
        let mut out = Vec::new();
        if self.server_facts(session)?.galera {
            out.push(Finding::ok(
                "cluster",
                "Galera (wsrep_on=ON): each table is copied and loaded in one transaction, which must fit wsrep_max_ws_rows and wsrep_max_ws_size (docs/limitations.md)",
            ));
        }
        Ok(out)
    }

    fn footprint(&self, session: &mut dyn Session) -> Result<Footprint> {
        let row = self
            .catalog(session, SIZE_SQL)?
            .into_iter()
            .next()
            .unwrap_or_default();
        let get = |i: usize| row.get(i).and_then(Value::as_u64).unwrap_or(0);
        let local_dir = row
            .get(2)
            .and_then(Value::as_string)
            .filter(|_| self.url.is_local_host())
            .map(std::path::PathBuf::from)
            .filter(|p| p.exists());
        Ok(Footprint {
            bytes: get(0),
            rows: get(1),
            local_dir,
        })
    }

    fn may_recreate(&self, session: &mut dyn Session, trigger: &Trigger) -> Result<Option<String>> {
        let Some(definer) = &trigger.runs_as else {
            return Ok(None);
        };
        let current = session
            .query_first("SELECT CURRENT_USER()")?
            .and_then(|v| v.as_string())
            .unwrap_or_default();
        let unquote = |s: &str| s.replace(['`', '\'', '"'], "");
        if unquote(&current) == unquote(definer) {
            return Ok(None);
        }
        let grants = session.query_all("SHOW GRANTS")?;
        let allowed = grants.iter().any(|g| {
            let line = g.first().and_then(Value::as_string).unwrap_or_default();
            line.contains(" ON *.* ")
                && (line.contains("ALL PRIVILEGES")
                    || line.contains("SUPER")
                    || line.contains("SET USER"))
        });
        let account = self
            .account(session)?
            .unwrap_or_else(|| "the migration account".into());
        Ok((!allowed).then(|| {
            format!("GRANT SET USER ON *.* TO {account}; (SUPER on MySQL before 8.0), or run the load as {definer}")
        }))
    }
}
