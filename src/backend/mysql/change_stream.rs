//! What a live cutover needs from a MariaDB/MySQL SOURCE (`rekey check --follow`): a row-based
//! binlog with full row images, an account that may read it, and on a Galera node the writes of
//! the other nodes in this node's binlog.

use super::admin::name_values;
use super::{MysqlBackend, DIALECT};
use crate::backend::{Dialect, Finding, Session, Value};
use crate::error::Result;

const CHANGE_STREAM_SQL: &str = include_str!("change_stream.sql");
const GLOBAL_PRIVILEGES_SQL: &str = include_str!("global_privileges.sql");

/// One binlog setting: its value and what it must be, with the fix when it is not.
fn setting(subject: &str, value: &str, want: &str, fix: &str) -> Finding {
    if value.eq_ignore_ascii_case(want) {
        Finding::ok(subject, format!("{subject} = {value}"))
    } else {
        Finding::fail(
            subject,
            format!("{subject} = {value}: the live cutover reads row events, which need {want}"),
            fix,
        )
    }
}

impl MysqlBackend {
    pub(super) fn binlog_findings(&self, session: &mut dyn Session) -> Result<Vec<Finding>> {
        let vars = name_values(session.query_all(CHANGE_STREAM_SQL.trim())?);
        let get = |k: &str| {
            vars.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        let mut out = Vec::new();
        let log_bin = get("log_bin").unwrap_or_else(|| "OFF".into());
        out.push(setting(
            "log_bin",
            &log_bin,
            "ON",
            "start the server with log_bin and a server_id other than 0 under [mysqld] in its option file (a restart: plan it before the cutover night), then check again",
        ));
        // SET GLOBAL reaches only sessions opened after it: the application's pooled connections
        // keep writing in the old format until they reconnect.
        out.push(setting(
            "binlog_format",
            &get("binlog_format").unwrap_or_default(),
            "ROW",
            "SET GLOBAL binlog_format = 'ROW' and put binlog_format = ROW in the option file; restart the application's connections so that every session writes row events",
        ));
        out.push(setting(
            "binlog_row_image",
            &get("binlog_row_image").unwrap_or_else(|| "FULL".into()),
            "FULL",
            "SET GLOBAL binlog_row_image = 'FULL' and put it in the option file (updates must carry every column, before and after); restart the application's connections",
        ));
        if get("wsrep_on").is_some_and(|v| v.eq_ignore_ascii_case("ON")) {
            let updates = get("log_slave_updates")
                .or_else(|| get("log_replica_updates"))
                .unwrap_or_else(|| "OFF".into());
            out.push(if updates.eq_ignore_ascii_case("ON") {
                Finding::ok(
                    "Galera binlog",
                    "log_slave_updates = ON: this node's binlog holds the writes of every node",
                )
            } else {
                Finding::fail(
                    "Galera binlog",
                    "log_slave_updates = OFF: this node's binlog misses the writes the application makes on the other nodes",
                    "set log_slave_updates = ON on the node rekey reads (option file, then a rolling restart of that node)",
                )
            });
        }
        out.push(self.binlog_grants(session)?);
        // The snapshot is copied with MariaDB's own dump and client programs.
        let tools =
            super::follow::snapshot::binary(&["mariadb-dump", "mysqldump"]).and_then(|dump| {
                Ok((
                    dump,
                    super::follow::snapshot::binary(&["mariadb", "mysql"])?,
                ))
            });
        out.push(match tools {
            Ok((dump, client)) => Finding::ok(
                "snapshot tools",
                format!("{dump} and {client} copy SOURCE's snapshot"),
            ),
            Err(e) => Finding::fail(
                "snapshot tools",
                e.message(),
                "install mariadb-client where rekey runs",
            ),
        });
        Ok(out)
    }

    /// Whether the account may read the binlog (the replica's two global privileges).
    fn binlog_grants(&self, session: &mut dyn Session) -> Result<Finding> {
        let needs = self.facts()?.dialect.binlog_reader_privileges();
        let account = self.account(session)?;
        let have: Vec<String> = match &account {
            Some(grantee) => session
                .query_all(
                    &GLOBAL_PRIVILEGES_SQL
                        .trim()
                        .replace("{grantee}", &DIALECT.lit(grantee)),
                )?
                .iter()
                .filter_map(|r| r.first().and_then(Value::as_string))
                .collect(),
            None => Vec::new(),
        };
        // REPLICATION CLIENT and BINLOG MONITOR are one privilege under two names.
        let monitor = ["REPLICATION CLIENT", "BINLOG MONITOR"];
        let held = |p: &str| {
            have.iter().any(|h| {
                h.eq_ignore_ascii_case(p)
                    || (monitor.contains(&p) && monitor.iter().any(|m| h.eq_ignore_ascii_case(m)))
            })
        };
        let missing: Vec<&str> = needs.iter().copied().filter(|p| !held(p)).collect();
        let account = account.unwrap_or_else(|| "the migration account".into());
        Ok(if missing.is_empty() {
            Finding::ok("binlog grants", needs.join(", "))
        } else {
            Finding::fail(
                "binlog grants",
                format!("{account} lacks {} (global)", missing.join(", ")),
                format!("GRANT {} ON *.* TO {account};", missing.join(", ")),
            )
        })
    }
}
