-- The secondary indexes of one table that the load may set aside and build again exactly:
-- not the primary key nor an index that backs a constraint (unique, exclusion) or that a foreign
-- key relies on (pg_constraint.conindid), nor one anything else depends on; valid, not the
-- replica identity nor CLUSTER's index, in the database's default tablespace, no per-column
-- statistics target, and only on a plain table that is not a partition (an index of a partition
-- comes and goes with its parent's). $1 = schema name, $2 = table name (text). One row per index.
-- Columns:
--   name        text  the index
--   definition  text  pg_get_indexdef: CREATE [UNIQUE] INDEX name ON schema.table USING ...
--   comment     text  COMMENT ON INDEX, NULL when none
SELECT ic.relname::text AS name,
       pg_get_indexdef(i.indexrelid) AS definition,
       obj_description(i.indexrelid, 'pg_class') AS comment
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1::text
  AND c.relname = $2::text
  AND c.relkind = 'r'
  AND NOT c.relispartition
  AND NOT i.indisprimary
  AND i.indisvalid
  AND i.indisready
  AND NOT i.indisreplident
  AND NOT i.indisclustered
  AND ic.reltablespace = 0
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indexrelid)
  AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                  WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0)
ORDER BY ic.relname COLLATE "C"
