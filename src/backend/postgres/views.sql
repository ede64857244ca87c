-- Views ('v') and materialized views ('m') of one schema, with the table and view columns each one
-- reads (from pg_depend through its _RETURN rule). PostgreSQL refuses ALTER COLUMN ... TYPE on a
-- column a view uses ("cannot alter type of a column used by a view or rule") and DROP COLUMN without
-- CASCADE, so a view over a key column must be dropped and recreated around the key's change.
-- $1 = schema name (text). One row per view, ordered by view_name (C collation).
-- Columns:
--   view_name          text     the view
--   relkind            text     'v' view, 'm' materialized view
--   definition         text     pg_get_viewdef(oid, true): the SELECT, pretty-printed, ending with ';'
--   options            text[]   reloptions ('check_option=cascaded', 'security_barrier=true',
--                               'security_invoker=true'), empty array when none
--   is_populated       boolean  a materialized view holds data (relispopulated); true for plain views
--   create_sql         text     a statement that recreates it in a database where the same names exist on
--                               the search_path: CREATE VIEW "v" [WITH (...)] AS ... / CREATE MATERIALIZED
--                               VIEW "v" AS ... WITH NO DATA (a load then runs REFRESH MATERIALIZED VIEW)
--   index_definitions  text[]   CREATE INDEX statements of a materialized view's indexes, ordered by name
--                               (a unique one allows REFRESH ... CONCURRENTLY); empty array otherwise
--   dep_schemas, dep_tables, dep_columns   text[]  parallel arrays: each column of another relation the
--                               view reads, sorted by schema, table, column (C collation); a view over a view
--                               lists the inner view's columns (follow it to reach the tables)
--   dep_relkinds       text[]   relkind of each dep_tables entry: 'r', 'p', 'v', 'm', 'f'
--   dep_is_key         boolean[] each dependency column is part of its table's primary key
--   comment            text     COMMENT ON VIEW, or NULL
--   routine_oids       bigint[] functions and aggregates the view calls (those of schema $1 are
--                               recreated before it, see routine_defs.sql)
WITH v AS (
  SELECT c.oid, c.relname, c.relkind, c.reloptions, c.relispopulated, n.nspname
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1::text AND c.relkind IN ('v', 'm')
),
deps AS (
  SELECT DISTINCT v.oid AS view_oid, dn.nspname, dc.relname, dc.relkind, a.attname,
         EXISTS (SELECT 1 FROM pg_constraint k
                 WHERE k.conrelid = dc.oid AND k.contype = 'p' AND a.attnum = ANY (k.conkey)) AS is_key
  FROM v
  JOIN pg_rewrite r ON r.ev_class = v.oid AND r.rulename = '_RETURN'
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                  AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
  JOIN pg_class dc ON dc.oid = d.refobjid
  JOIN pg_namespace dn ON dn.oid = dc.relnamespace
  JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
  WHERE d.refobjid <> v.oid
)
SELECT v.relname::text AS view_name,
       v.relkind::text AS relkind,
       pg_get_viewdef(v.oid, true) AS definition,
       coalesce(v.reloptions::text[], '{}') AS options,
       v.relispopulated AS is_populated,
       CASE v.relkind
         WHEN 'v' THEN 'CREATE VIEW ' || quote_ident(v.relname)
                       || CASE WHEN v.reloptions IS NOT NULL THEN ' WITH (' || array_to_string(v.reloptions, ', ') || ')' ELSE '' END
                       || ' AS' || chr(10) || pg_get_viewdef(v.oid, true)
         ELSE 'CREATE MATERIALIZED VIEW ' || quote_ident(v.relname)
              || CASE WHEN v.reloptions IS NOT NULL THEN ' WITH (' || array_to_string(v.reloptions, ', ') || ')' ELSE '' END
              || ' AS' || chr(10) || rtrim(pg_get_viewdef(v.oid, true), ';') || chr(10) || 'WITH NO DATA;'
       END AS create_sql,
       coalesce((SELECT array_agg(replace(pg_get_indexdef(i.indexrelid),
                                          ' ON ' || quote_ident(v.nspname) || '.' || quote_ident(v.relname) || ' ',
                                          ' ON ' || quote_ident(v.relname) || ' ') ORDER BY ic.relname COLLATE "C")
                 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = v.oid), '{}') AS index_definitions,
       coalesce((SELECT array_agg(d.nspname::text ORDER BY d.nspname COLLATE "C", d.relname COLLATE "C", d.attname COLLATE "C")
                 FROM deps d WHERE d.view_oid = v.oid), '{}') AS dep_schemas,
       coalesce((SELECT array_agg(d.relname::text ORDER BY d.nspname COLLATE "C", d.relname COLLATE "C", d.attname COLLATE "C")
                 FROM deps d WHERE d.view_oid = v.oid), '{}') AS dep_tables,
       coalesce((SELECT array_agg(d.attname::text ORDER BY d.nspname COLLATE "C", d.relname COLLATE "C", d.attname COLLATE "C")
                 FROM deps d WHERE d.view_oid = v.oid), '{}') AS dep_columns,
       coalesce((SELECT array_agg(d.relkind::text ORDER BY d.nspname COLLATE "C", d.relname COLLATE "C", d.attname COLLATE "C")
                 FROM deps d WHERE d.view_oid = v.oid), '{}') AS dep_relkinds,
       coalesce((SELECT array_agg(d.is_key ORDER BY d.nspname COLLATE "C", d.relname COLLATE "C", d.attname COLLATE "C")
                 FROM deps d WHERE d.view_oid = v.oid), '{}') AS dep_is_key,
       obj_description(v.oid, 'pg_class') AS comment,
       coalesce((SELECT array_agg(DISTINCT d.refobjid::bigint)
                 FROM pg_rewrite r
                 JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                                 AND d.refclassid = 'pg_proc'::regclass
                 WHERE r.ev_class = v.oid AND r.rulename = '_RETURN'), '{}') AS routine_oids
FROM v
ORDER BY v.relname COLLATE "C"
