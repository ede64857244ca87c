-- Privileges a role LACKS for rekey's work on one schema of the current database.
-- $1 = schema name (text); $2 = role name (text; '' means current_user). Rows only for what is missing,
-- so an empty result means the role has everything listed below. Ordered by object_type, object_schema,
-- object_name, privilege (C collation).
-- Checked (and what needs it):
--   database  CONNECT    every database rekey opens
--   database  CREATE     DB_DATA / DB_FINAL only if rekey creates schemas there (not needed on SOURCE)
--   schema    USAGE      every database
--   schema    CREATE     DB_DATA (tables are created in it); not needed on SOURCE or DB_FINAL
--   table     SELECT     SOURCE: every ordinary and partitioned table, partitions included (each is
--                        read on its own by COPY ... TO)
--   sequence  SELECT     SOURCE: reading last_value (pg_sequences shows NULL without SELECT or USAGE)
--   table     BYPASSRLS  SOURCE: a table with row level security enabled that the role neither owns nor
--                        may bypass (not superuser, not BYPASSRLS): with row_security = off, rekey's
--                        reads of it fail ("query would be affected by row-level security policy");
--                        with FORCE ROW LEVEL SECURITY even the owner needs BYPASSRLS
-- Columns:
--   object_type    text   'database' | 'schema' | 'table' | 'sequence' | 'role'
--   object_schema  text   the schema ($1), NULL for the database
--   object_name    text   the database, schema, table or sequence name
--   privilege      text   'CONNECT' | 'CREATE' | 'USAGE' | 'SELECT' | 'BYPASSRLS' | 'EXISTS'
--   role_name      text   the role that was checked
-- A role that does not exist gives one row: ('role', NULL, name, 'EXISTS', name) and nothing else.
WITH params AS (
  SELECT coalesce(nullif($2::text, ''), current_user)::name AS role_name, $1::text AS schema_name
),
r AS (
  SELECT p.role_name, p.schema_name, ro.rolsuper, ro.rolbypassrls, ro.oid AS role_oid
  FROM params p JOIN pg_roles ro ON ro.rolname = p.role_name
),
missing_role AS (
  SELECT 'role' AS object_type, NULL::text AS object_schema, p.role_name::text AS object_name, 'EXISTS' AS privilege,
         false AS granted
  FROM params p WHERE NOT EXISTS (SELECT 1 FROM pg_roles ro WHERE ro.rolname = p.role_name)
),
ns AS (
  SELECT n.oid, n.nspname FROM pg_namespace n, params p WHERE n.nspname = p.schema_name
),
checks AS (
  SELECT * FROM missing_role
  UNION ALL
  SELECT 'database' AS object_type, NULL::text AS object_schema, current_database()::text AS object_name, x.privilege,
         has_database_privilege(r.role_name, current_database(), x.privilege) AS granted
  FROM r CROSS JOIN (VALUES ('CONNECT'), ('CREATE')) AS x(privilege)
  UNION ALL
  SELECT 'schema', r.schema_name, r.schema_name, x.privilege,
         coalesce((SELECT has_schema_privilege(r.role_name, ns.oid, x.privilege) FROM ns), false)
  FROM r CROSS JOIN (VALUES ('USAGE'), ('CREATE')) AS x(privilege)
  UNION ALL
  SELECT 'table', ns.nspname::text, c.relname::text, 'SELECT', has_table_privilege(r.role_name, c.oid, 'SELECT')
  FROM r CROSS JOIN ns JOIN pg_class c ON c.relnamespace = ns.oid
  WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
  UNION ALL
  SELECT 'sequence', ns.nspname::text, c.relname::text, 'SELECT', has_sequence_privilege(r.role_name, c.oid, 'SELECT')
  FROM r CROSS JOIN ns JOIN pg_class c ON c.relnamespace = ns.oid
  WHERE c.relkind = 'S'
  UNION ALL
  SELECT 'table', ns.nspname::text, c.relname::text, 'BYPASSRLS',
         r.rolsuper OR r.rolbypassrls OR (NOT c.relforcerowsecurity AND pg_has_role(r.role_name, c.relowner, 'USAGE'))
  FROM r CROSS JOIN ns JOIN pg_class c ON c.relnamespace = ns.oid
  WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity
)
SELECT checks.object_type, checks.object_schema, checks.object_name, checks.privilege, params.role_name::text AS role_name
FROM checks CROSS JOIN params
WHERE NOT checks.granted
ORDER BY checks.object_type COLLATE "C", checks.object_schema COLLATE "C", checks.object_name COLLATE "C", checks.privilege COLLATE "C"
