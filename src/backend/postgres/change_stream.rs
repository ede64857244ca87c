//! What a live cutover needs from a PostgreSQL SOURCE (`rekey check --follow`): logical decoding
//! (wal_level, a free replication slot, a REPLICATION role), a key for every table's updates and
//! deletes in the stream, and no slot forgotten by an earlier rekey run.

use super::{PostgresBackend, DIALECT};
use crate::backend::{Dialect, Finding, Session, Value};
use crate::error::Result;

const CHANGE_STREAM_SQL: &str = include_str!("change_stream.sql");
const REKEY_SLOTS_SQL: &str = include_str!("rekey_slots.sql");
const REPLICA_IDENTITY_SQL: &str = include_str!("replica_identity.sql");

fn text(row: &[Value], i: usize) -> String {
    row.get(i).and_then(Value::as_string).unwrap_or_default()
}

impl PostgresBackend {
    pub(super) fn logical_decoding_findings(
        &self,
        session: &mut dyn Session,
    ) -> Result<Vec<Finding>> {
        let row = session
            .query_all(CHANGE_STREAM_SQL)?
            .into_iter()
            .next()
            .unwrap_or_default();
        let (wal_level, free_slots, max_slots, may_replicate, user) = (
            text(&row, 0),
            text(&row, 1),
            text(&row, 2),
            text(&row, 3),
            text(&row, 4),
        );
        let mut out = Vec::new();
        out.push(if wal_level == "logical" {
            Finding::ok("wal_level", "wal_level = logical")
        } else {
            Finding::fail(
                "wal_level",
                format!("wal_level = {wal_level}: the live cutover decodes SOURCE's changes from the WAL, which needs logical"),
                "ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL (plan the restart before the cutover night), and check again",
            )
        });
        out.push(if free_slots.parse::<i64>().unwrap_or(0) > 0 {
            Finding::ok(
                "replication slots",
                format!("{free_slots} of max_replication_slots = {max_slots} free"),
            )
        } else {
            Finding::fail(
                "replication slots",
                format!("no replication slot free (max_replication_slots = {max_slots}, all in use): the live cutover needs one"),
                "raise max_replication_slots (a restart), or drop a slot nothing uses: SELECT pg_drop_replication_slot('name');",
            )
        });
        out.push(if may_replicate == "true" {
            Finding::ok("replication role", format!("{user} may replicate"))
        } else {
            Finding::fail(
                "replication role",
                format!("{user} may not create a replication slot or read it"),
                format!("ALTER ROLE {} REPLICATION;", DIALECT.q(&user)),
            )
        });
        let keyless: Vec<String> = session
            .query_all(&self.bind(REPLICA_IDENTITY_SQL))?
            .iter()
            .map(|r| text(r, 0))
            .collect();
        out.push(if keyless.is_empty() {
            Finding::ok(
                "replica identity",
                "every table's updates and deletes reach the stream with the row's key",
            )
        } else {
            Finding::fail(
                "replica identity",
                format!(
                    "{} without a primary key or a replica identity, so their updates and deletes would reach the stream without the row's key: {}",
                    if keyless.len() == 1 { "1 table".to_string() } else { format!("{} tables", keyless.len()) },
                    keyless.join(", ")
                ),
                "give each a primary key, or run ALTER TABLE ... REPLICA IDENTITY FULL on SOURCE (a catalog setting the application does not see)",
            )
        });
        // A forgotten slot holds WAL back until the source's disk is full.
        for slot in session.query_all(REKEY_SLOTS_SQL)? {
            let name = text(&slot, 0);
            out.push(Finding::warning(
                "rekey slot",
                format!(
                    "replication slot {name} (database {}, active {}, holding {} of WAL) is left from a rekey run: a slot nobody reads keeps WAL until the disk fills",
                    text(&slot, 1),
                    text(&slot, 2),
                    text(&slot, 3)
                ),
                format!(
                    "rekey clean --run-dir of the run that made it, or SELECT pg_drop_replication_slot({});",
                    DIALECT.lit(&name)
                ),
            ));
        }
        // The snapshot is copied with pg_dump and pg_restore of SOURCE's major version or newer.
        let major: u32 = session
            .query_first("SELECT (current_setting('server_version_num')::int / 10000)::text")?
            .and_then(|v| v.as_string())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        out.push(match super::follow::snapshot::client_tools(major) {
            Ok((dump, restore)) => Finding::ok(
                "snapshot tools",
                format!(
                    "{} and {} copy SOURCE's snapshot",
                    dump.display(),
                    restore.display()
                ),
            ),
            Err(e) => Finding::fail(
                "snapshot tools",
                e.message(),
                format!("install postgresql-client-{major} where rekey runs"),
            ),
        });
        Ok(out)
    }
}
