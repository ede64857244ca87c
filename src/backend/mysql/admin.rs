//! MariaDB/MySQL accounts and databases: connections, CREATE/DROP DATABASE, which server a URL
//! reaches, privileges with the GRANT that fixes them, statements a killed run left running, and
//! the server's own checks (Galera).

use std::thread;

use super::{MysqlBackend, DIALECT};
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
        Role::Final { derive, moved } => {
            let mut v = vec!["SELECT", "INSERT", "DELETE", "TRIGGER"];
            if derive {
                v.extend(["CREATE", "ALTER", "INDEX", "REFERENCES", "CREATE VIEW"]);
            }
            // RENAME TABLE into DB_FINAL needs CREATE there; its empty tables are dropped first.
            if moved {
                for p in ["CREATE", "DROP"] {
                    if !v.contains(&p) {
                        v.push(p);
                    }
                }
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

impl MysqlBackend {
    /// `rekey check` on a Galera node: the cluster's size and state, flow control, the limits
    /// writes are chunked under, and the settings that change what rekey can do there.
    fn cluster_findings(&self, session: &mut dyn Session) -> Result<Vec<Finding>> {
        let status = name_values(session.query_all(
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size', 'wsrep_cluster_status', 'wsrep_local_state_comment', 'wsrep_ready', 'wsrep_flow_control_paused', 'wsrep_flow_control_sent', 'wsrep_flow_control_recv', 'wsrep_local_recv_queue_avg')",
        )?);
        let vars = name_values(session.query_all(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('wsrep_mode', 'wsrep_node_name', 'wsrep_osu_method', 'log_bin_trust_function_creators')",
        )?);
        let get = |m: &[(String, String)], k: &str| {
            m.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let node = get(&vars, "wsrep_node_name");
        let (size, state, primary, ready) = (
            get(&status, "wsrep_cluster_size"),
            get(&status, "wsrep_local_state_comment"),
            get(&status, "wsrep_cluster_status"),
            get(&status, "wsrep_ready"),
        );
        let mut out = Vec::new();
        let detail = format!("Galera, {size} nodes; node {node} is {state} in a {primary} component (wsrep_ready={ready})");
        out.push(if state == "Synced" && primary == "Primary" && ready == "ON" {
            Finding::ok("cluster", detail)
        } else {
            Finding::fail(
                "cluster",
                detail,
                "wait until the node is Synced in the Primary component (SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'), or give the URL of a node that is",
            )
        });
        out.push(Finding::ok(
            "flow control",
            format!(
                "paused {} of the time since the last FLUSH STATUS, {} pauses sent, {} received, receive queue {} on average",
                get(&status, "wsrep_flow_control_paused"),
                get(&status, "wsrep_flow_control_sent"),
                get(&status, "wsrep_flow_control_recv"),
                get(&status, "wsrep_local_recv_queue_avg")
            ),
        ));
        let limits = super::chunks::read_limits(session)?;
        out.push(Finding::ok(
            "write-set limits",
            format!(
                "{}: swap's fill, the load and the mapping tables write at most {} rows per transaction (fewer for rows over {} bytes), each chunk journaled",
                limits.describe(),
                limits.rows_per_chunk(1),
                (limits.max_bytes.min(128 << 20) / 2) / limits.rows_per_chunk(1).max(1)
            ),
        ));
        let mode = get(&vars, "wsrep_mode");
        out.push(Finding::ok(
            "keys",
            format!(
                "DB_DATA's tables keep a primary key (keyless ones get an invisible one); wsrep_mode={}; DDL by {} (rekey counts its DDL statements and their seconds in the report)",
                if mode.is_empty() { "(none)".into() } else { mode },
                get(&vars, "wsrep_osu_method")
            ),
        ));
        if get(&vars, "log_bin_trust_function_creators") != "ON" {
            out.push(Finding::ok(
                "triggers",
                "log_bin_trust_function_creators=OFF: an account without SUPER cannot drop or create triggers here (ERROR 1419); rekey checks DB_FINAL's triggers against this (fix: SET GLOBAL log_bin_trust_function_creators = 1; on every node)",
            ));
        }
        let engines = session.query_all(&format!(
            "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND ENGINE IN ('MyISAM', 'Aria') ORDER BY TABLE_NAME",
            self.schema_literal()
        ))?;
        if !engines.is_empty() {
            let names: Vec<String> = engines
                .iter()
                .map(|r| {
                    format!(
                        "{} ({})",
                        r.first().and_then(Value::as_string).unwrap_or_default(),
                        r.get(1).and_then(Value::as_string).unwrap_or_default()
                    )
                })
                .collect();
            out.push(Finding::ok(
                "non-replicated tables",
                format!(
                    "{} in {}: their rows do not replicate, only node {node} is known to hold them; rekey reads them here and writes its copies as InnoDB",
                    names.join(", "),
                    self.url.database
                ),
            ));
        }
        Ok(out)
    }
}

/// `SHOW ... STATUS/VARIABLES` rows as (name, value).
pub(super) fn name_values(rows: Vec<Vec<Value>>) -> Vec<(String, String)> {
    rows.into_iter()
        .map(|r| {
            (
                r.first().and_then(Value::as_string).unwrap_or_default(),
                r.get(1).and_then(Value::as_string).unwrap_or_default(),
            )
        })
        .collect()
}

impl Admin for MysqlBackend {
    fn url(&self) -> &DbUrl {
        &self.url
    }

    fn dialect(&self) -> &dyn Dialect {
        self.flavour()
    }

    fn connect(&self) -> Result<Box<dyn Session>> {
        Ok(Box::new(self.session(true)?))
    }

    fn connect_server(&self) -> Result<Box<dyn Session>> {
        Ok(Box::new(self.server_session()?))
    }

    fn hold_lock(
        &self,
        key: &str,
        what: &str,
    ) -> Result<Option<Box<dyn crate::backend::ServerLock>>> {
        super::lock::hold(self, key, what)
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
        self.forget_idle();
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
        let cluster = if self.facts()?.dialect.galera() {
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

    fn change_stream_findings(&self, session: &mut dyn Session) -> Result<Vec<Finding>> {
        self.binlog_findings(session)
    }

    fn findings(&self, session: &mut dyn Session) -> Result<Vec<Finding>> {
        if !self.facts()?.dialect.galera() {
            return Ok(Vec::new());
        }
        self.cluster_findings(session)
    }

    fn take_notes(&self) -> Option<String> {
        self.clock.take_note()
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
        let flavour = *self.flavour();
        let grants: Vec<String> = session
            .query_all("SHOW GRANTS")?
            .iter()
            .filter_map(|g| g.first().and_then(Value::as_string))
            .collect();
        let account = self
            .account(session)?
            .unwrap_or_else(|| "the migration account".into());
        // Dropping and creating a trigger is logged for replication: with the binary log on
        // (MySQL 8's default) or on a Galera node (binlog emulation), an account without SUPER
        // gets ERROR 1419 unless log_bin_trust_function_creators is set.
        let row = session
            .query_all("SELECT @@GLOBAL.log_bin, @@GLOBAL.log_bin_trust_function_creators")?
            .into_iter()
            .next()
            .unwrap_or_default();
        let on = |i: usize| {
            row.get(i)
                .and_then(Value::as_string)
                .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("ON"))
        };
        if (on(0) || flavour.galera()) && !on(1) && !has_global(&grants, &["SUPER"]) {
            return Ok(Some(format!(
                "SET GLOBAL log_bin_trust_function_creators = 1;{} (with binary logging{}, an account without SUPER may not drop or create triggers: ERROR 1419), or GRANT SUPER ON *.* TO {account};",
                if flavour.galera() { " on every node" } else { "" },
                if flavour.galera() { " emulated on a Galera node" } else { " on" }
            )));
        }
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
        Ok(definer_fix(&flavour, &grants, &account, definer))
    }
}

/// Whether SHOW GRANTS' lines give one of `privileges` on every database (or ALL PRIVILEGES).
/// MySQL 8 prints dynamic privileges on their own line, comma-separated without spaces
/// (`GRANT SET_USER_ID,SYSTEM_USER ON *.* TO ...`); static ones are separated by ", ".
pub(super) fn has_global(grants: &[String], privileges: &[&str]) -> bool {
    grants.iter().any(|line| {
        let Some((head, _)) = line.split_once(" ON *.* ") else {
            return false;
        };
        let listed = head.trim_start_matches("GRANT ");
        listed
            .split(',')
            .map(str::trim)
            .any(|p| p == "ALL PRIVILEGES" || privileges.iter().any(|w| p.eq_ignore_ascii_case(w)))
    })
}

/// The GRANT that lets `account` recreate a trigger defined by `definer`, or None when its
/// grants already allow it (SUPER, or MariaDB's SET USER, or MySQL's SET_USER_ID /
/// SET_ANY_DEFINER).
pub(super) fn definer_fix(
    flavour: &super::MysqlDialect,
    grants: &[String],
    account: &str,
    definer: &str,
) -> Option<String> {
    if has_global(grants, flavour.definer_privileges()) {
        return None;
    }
    let older = match flavour.family() {
        super::Family::MariaDb => "SUPER on MariaDB before 10.5.2",
        super::Family::MySql => "or SUPER",
    };
    Some(format!(
        "GRANT {} ON *.* TO {account}; ({older}), or run the load as {definer}",
        flavour.definer_grant()
    ))
}
