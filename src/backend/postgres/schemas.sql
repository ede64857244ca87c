-- The schemas of the database a user's tables can live in (no system or temporary ones), to
-- refuse a `?schema=` that names none of them. One row per schema:
--   schema_name   text
SELECT n.nspname::text AS schema_name
FROM pg_namespace n
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\_temp\_%'
  AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
ORDER BY n.nspname COLLATE "C"
