-- The server, database and session rekey is connected to: one row. No parameter.
-- Measured on PostgreSQL 15.20 with a role that has only CONNECT + USAGE + SELECT: every function here
-- works for it. pg_control_system() is executable by PUBLIC (its proacl is NULL: default EXECUTE for
-- PUBLIC), so the system identifier needs no privilege; has_parameter_privilege() is new in PG 15
-- (this query fails on 14 and older, which the spec does not support).
-- Columns:
--   version                  text     version(): 'PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64...'
--   server_version_num       integer  150020
--   system_identifier        text     pg_control_system().system_identifier as text (the catalog types it bigint;
--                                     it is a uint64 written as signed, so it may print negative): the cluster's
--                                     identity, the same on a physical replica, new after initdb
--   database_name            text     current_database()
--   database_oid             oid      the database's oid (with system_identifier: which database this is,
--                                     whatever host name the URL used)
--   current_user             text     current_user (the role privileges are checked against)
--   session_user             text     session_user (the login role)
--   is_superuser             boolean  rolsuper of current_user
--   bypass_rls               boolean  rolbypassrls of current_user (superusers bypass RLS too)
--   can_create_db            boolean  rolcreatedb of current_user, or superuser
--   can_set_replication_role boolean  has_parameter_privilege(current_user, 'session_replication_role', 'SET'):
--                                     true for superusers, and for a role given GRANT SET ON PARAMETER
--                                     session_replication_role TO role (PG 15+); with it, SET
--                                     session_replication_role = replica skips FK and ordinary ('O') triggers
--   in_recovery              boolean  pg_is_in_recovery(): a hot standby (read-only: fine for SOURCE only)
--   server_encoding          text     SHOW server_encoding ('UTF8')
--   database_collation       text     datcollate of the current database
--   database_ctype           text     datctype
--   timezone                 text     the session TimeZone
--   max_connections          integer  max_connections (bounds --jobs)
--   database_bytes           bigint   pg_database_size(current_database()); needs CONNECT on it (which
--                                     the session has), NULL never
SELECT version() AS version,
       current_setting('server_version_num')::integer AS server_version_num,
       (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier,
       current_database()::text AS database_name,
       (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()) AS database_oid,
       current_user::text AS current_user,
       session_user::text AS session_user,
       r.rolsuper AS is_superuser,
       r.rolbypassrls AS bypass_rls,
       r.rolcreatedb OR r.rolsuper AS can_create_db,
       has_parameter_privilege(current_user, 'session_replication_role', 'SET') AS can_set_replication_role,
       pg_is_in_recovery() AS in_recovery,
       current_setting('server_encoding') AS server_encoding,
       (SELECT d.datcollate::text FROM pg_database d WHERE d.datname = current_database()) AS database_collation,
       (SELECT d.datctype::text FROM pg_database d WHERE d.datname = current_database()) AS database_ctype,
       current_setting('TimeZone') AS timezone,
       current_setting('max_connections')::integer AS max_connections,
       pg_database_size(current_database()) AS database_bytes
FROM pg_roles r
WHERE r.rolname = current_user
