//! PostgreSQL accounts and databases: connections, CREATE/DROP DATABASE, which cluster a URL
//! reaches (its system identifier), privileges with the GRANT that fixes them, statements a killed
//! run left running (found by application_name and marker, ended with pg_terminate_backend).

use std::thread;
use std::time::Duration;

use super::{catalog_rows, PostgresBackend, DIALECT, IDLE};
use crate::backend::{Admin, Dialect, Finding, Footprint, Identity, Role, Session, Value};
use crate::error::{Error, Place, Result};
use crate::model::Table;
use crate::url::DbUrl;

const PRIVILEGES_SQL: &str = include_str!("privileges.sql");

#[derive(serde::Deserialize)]
struct Missing {
    object_type: String,
    object_schema: Option<String>,
    object_name: String,
    privilege: String,
}

impl PostgresBackend {
    /// What the session's account lacks on this database and schema, each with the statement
    /// that grants it.
    fn missing(&self, session: &mut dyn Session, role: Role) -> Result<(Vec<String>, Vec<String>)> {
        let server = self.server_row(session)?;
        let account = DIALECT.q(&server.current_user);
        let db = DIALECT.q(&self.url.database);
        let schema = DIALECT.q(self.schema());
        let rows: Vec<Missing> = catalog_rows(
            session,
            &self.bind(PRIVILEGES_SQL).replace("$2::text", "''::text"),
        )?;
        let mut lacks = Vec::new();
        let mut grants = Vec::new();
        let mut add = |what: String, grant: String| {
            if !grants.contains(&grant) {
                grants.push(grant);
            }
            lacks.push(what);
        };
        for m in &rows {
            let wanted = match (role, m.object_type.as_str(), m.privilege.as_str()) {
                (_, "database", "CONNECT") | (_, "schema", "USAGE") => true,
                (Role::Source, "table", "SELECT" | "BYPASSRLS") => true,
                (Role::Source, "sequence", _) => false,
                (Role::Data, "schema", "CREATE") => true,
                (Role::Final { .. }, "table", "SELECT") => true,
                (Role::Final { derive: true, .. }, "schema", "CREATE") => true,
                _ => false,
            };
            if !wanted {
                continue;
            }
            let object = match m.object_type.as_str() {
                "database" => format!("DATABASE {db}"),
                "schema" => format!("SCHEMA {schema}"),
                _ => format!(
                    "TABLE {}.{}",
                    DIALECT.q(m.object_schema.as_deref().unwrap_or(self.schema())),
                    DIALECT.q(&m.object_name)
                ),
            };
            if m.privilege == "BYPASSRLS" {
                add(
                    format!("BYPASSRLS for {object} (row-level security)"),
                    format!("ALTER ROLE {account} BYPASSRLS;"),
                );
            } else if m.object_type == "table" {
                add(
                    format!("{} on {object}", m.privilege),
                    format!("GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {account};"),
                );
            } else {
                add(
                    format!("{} on {object}", m.privilege),
                    format!("GRANT {} ON {object} TO {account};", m.privilege),
                );
            }
        }
        if let Role::Final { .. } = role {
            // The load writes every table, sets their triggers aside (ALTER TABLE: the owner's
            // right) and skips foreign-key triggers in replica mode.
            if !server.can_set_replication_role {
                add(
                    "SET on session_replication_role".into(),
                    format!("GRANT SET ON PARAMETER session_replication_role TO {account};"),
                );
            }
            let not_owned = session.query_all(&format!(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = {} AND c.relkind IN ('r', 'p') AND NOT pg_has_role(c.relowner, 'USAGE') ORDER BY 1",
                DIALECT.lit(self.schema())
            ))?;
            for row in not_owned.iter().take(3) {
                let t = row.first().and_then(Value::as_string).unwrap_or_default();
                add(
                    format!("ownership of {schema}.{}", DIALECT.q(&t)),
                    format!("ALTER TABLE {schema}.{} OWNER TO {account};", DIALECT.q(&t)),
                );
            }
        }
        if let Role::Data = role {
            if !server.can_create_db && !self.database_exists()? {
                add("CREATEDB".into(), format!("ALTER ROLE {account} CREATEDB;"));
            }
        }
        Ok((lacks, grants))
    }
}

impl Admin for PostgresBackend {
    fn url(&self) -> &DbUrl {
        &self.url
    }

    fn dialect(&self) -> &dyn Dialect {
        &DIALECT
    }

    fn connect(&self) -> Result<Box<dyn Session>> {
        Ok(Box::new(self.session(None)?))
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
            "SELECT count(*) FROM pg_database WHERE datname = {}",
            DIALECT.lit(&self.url.database)
        );
        let exists = (&mut s as &mut dyn Session).query_u64(&sql)? > 0;
        if !exists || self.schema() == "public" {
            return Ok(exists);
        }
        // A database without the URL's schema is, for rekey, a database without its tables; it
        // is only created by `create_database`.
        let mut s = self.session(None)?;
        let sql = format!(
            "SELECT count(*) FROM pg_namespace WHERE nspname = {}",
            DIALECT.lit(self.schema())
        );
        Ok((&mut s as &mut dyn Session).query_u64(&sql)? > 0)
    }

    fn create_database(&self, like: Option<&Table>, dry_run: bool) -> Result<Vec<String>> {
        let mut create = format!(
            "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'",
            DIALECT.q(&self.url.database)
        );
        if let Some(collation) = like.and_then(|t| t.collation.as_deref()) {
            create.push_str(&format!(
                " LC_COLLATE {c} LC_CTYPE {c}",
                c = DIALECT.lit(collation)
            ));
        }
        let schema = format!("CREATE SCHEMA IF NOT EXISTS {}", DIALECT.q(self.schema()));
        let mut out = vec![create.clone()];
        if self.schema() != "public" {
            out.push(schema.clone());
        }
        if dry_run {
            return Ok(out);
        }
        let mut s = self.maintenance_session()?;
        let exists = (&mut s as &mut dyn Session).query_u64(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = {}",
            DIALECT.lit(&self.url.database)
        ))? > 0;
        if !exists {
            s.execute(&create)?;
        }
        if self.schema() != "public" {
            self.session(None)?.execute(&schema)?;
        }
        Ok(out)
    }

    fn drop_database(&self) -> Result<()> {
        IDLE.forget(&self.database_prefix(&self.url.database));
        let mut s = self.maintenance_session()?;
        s.execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            DIALECT.q(&self.url.database)
        ))?;
        Ok(())
    }

    fn identity(&self) -> Result<Identity> {
        // The cluster's system identifier names the server whatever host name reaches it; the
        // database may not exist yet (DB_DATA before clone), so it is named by the URL.
        let mut s = self.server_session()?;
        let server = self.server_row(&mut s)?;
        Ok(Identity {
            server: format!("postgres:{}", server.system_identifier),
            database: format!("{}/{}", self.url.database, self.schema()),
            object: None,
        })
    }

    fn stop_leftovers(&self, run_id: &str) -> Result<u32> {
        let mut s = self.server_session()?;
        let s: &mut dyn Session = &mut s;
        let find = format!(
            "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
             AND (application_name = {} OR query LIKE {})",
            DIALECT.lit(&format!("rekey:{run_id}")),
            DIALECT.lit(&format!("%rekey:{run_id} */%"))
        );
        let pids: Vec<u64> = s
            .query_all(&find)?
            .iter()
            .filter_map(|r| r.first().and_then(Value::as_u64))
            .collect();
        for pid in &pids {
            // The statement may have ended meanwhile; that is what we want anyway.
            let _ = s.execute(&format!("SELECT pg_terminate_backend({pid})"));
        }
        for _ in 0..600 {
            if s.query_all(&find)?.is_empty() {
                return Ok(pids.len() as u32);
            }
            thread::sleep(Duration::from_millis(100));
        }
        Err(Error::env(
            Place::default(),
            format!("statements of the interrupted run {run_id} are still running on {} after being terminated.", self.url),
            "Wait until pg_stat_activity no longer shows them (they may be rolling back), then resume again.",
        ))
    }

    fn check_privileges(&self, session: &mut dyn Session, role: Role) -> Result<Finding> {
        // A server session may be on another database: ask this one.
        let mut own;
        let session: &mut dyn Session = if self.database_exists()? {
            own = self.session(None)?;
            &mut own
        } else {
            if let Role::Data | Role::Final { derive: true, .. } = role {
                let server = self.server_row(session)?;
                if !server.can_create_db {
                    let account = DIALECT.q(&server.current_user);
                    return Ok(Finding::fail(
                        "privileges",
                        format!(
                            "{} does not exist and the account may not create databases",
                            self.url.database
                        ),
                        format!("ALTER ROLE {account} CREATEDB;"),
                    ));
                }
            }
            return Ok(Finding::ok("privileges", "may create the database"));
        };
        let (lacks, grants) = self.missing(session, role)?;
        if lacks.is_empty() {
            let what = match role {
                Role::Source => "CONNECT, USAGE, SELECT (read only)",
                Role::Data => "CONNECT, USAGE, CREATE",
                Role::Final { .. } => "CONNECT, USAGE, SELECT, INSERT, owner of the tables, SET session_replication_role",
            };
            return Ok(Finding::ok("privileges", what));
        }
        Ok(Finding::fail(
            "privileges",
            format!("the account lacks {}", lacks.join(", ")),
            grants.join(" "),
        ))
    }

    fn change_stream_findings(&self, session: &mut dyn Session) -> Result<Vec<Finding>> {
        self.logical_decoding_findings(session)
    }

    fn footprint(&self, session: &mut dyn Session) -> Result<Footprint> {
        let server = self.server_row(session)?;
        let rows = session.query_u64(&format!(
            "SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {} AND c.relkind = 'r'",
            DIALECT.lit(self.schema())
        ))?;
        // On this machine the server's data directory shows the free space (visible to
        // superusers and pg_read_all_settings; no row otherwise).
        let local_dir = if self.url.is_local_host() {
            session
                .query_first("SELECT setting FROM pg_settings WHERE name = 'data_directory'")?
                .and_then(|v| v.as_string())
                .map(std::path::PathBuf::from)
                .filter(|p| p.exists())
        } else {
            None
        };
        Ok(Footprint {
            bytes: server.database_bytes.unwrap_or(0).max(0) as u64,
            rows,
            local_dir,
        })
    }
}
