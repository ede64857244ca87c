-- Tables of one schema: ordinary tables (relkind 'r') and partitioned tables ('p'); partitions are
-- not tables of their own for rekey (rows are read and loaded through their root), they are listed
-- in their root's `partitions`. $1 = schema name (text). One row per table.
-- Columns:
--   table_name          text     the table's name, unquoted
--   partition_key       text     'RANGE (created_on)' of a partitioned table (pg_get_partkeydef), else NULL
--   partitions          json     [{name, parent, bound, partition_key}], every partition below the root,
--                                parents before children (pg_partition_tree level)
--   inherits            text[]   tables it INHERITS from (same schema, unquoted), in inheritance order
--   estimated_rows      bigint   reltuples (never negative); a partitioned table: the sum over its leaves
--   total_bytes         bigint   heap + indexes + toast; a partitioned table: over its whole tree
--   unlogged, row_security, force_row_security   boolean
--   comment             text     COMMENT ON TABLE
SELECT c.relname::text AS table_name,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
       coalesce((SELECT json_agg(json_build_object(
                   'name', pc.relname::text,
                   'parent', pp.relname::text,
                   'bound', pg_get_expr(pc.relpartbound, pc.oid),
                   'partition_key', CASE WHEN pc.relkind = 'p' THEN pg_get_partkeydef(pc.oid) END)
                   ORDER BY pt.level, pc.relname COLLATE "C")
                 FROM pg_partition_tree(c.oid) pt
                 JOIN pg_class pc ON pc.oid = pt.relid
                 JOIN pg_class pp ON pp.oid = pt.parentrelid
                 WHERE c.relkind = 'p' AND pt.level > 0), '[]'::json) AS partitions,
       coalesce((SELECT array_agg(ihc.relname::text ORDER BY ih.inhseqno)
                 FROM pg_inherits ih
                 JOIN pg_class ihc ON ihc.oid = ih.inhparent
                 WHERE ih.inhrelid = c.oid AND NOT c.relispartition), '{}') AS inherits,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT coalesce(sum(greatest(lc.reltuples, 0)), 0)::bigint
                  FROM pg_partition_tree(c.oid) pt JOIN pg_class lc ON lc.oid = pt.relid WHERE pt.isleaf)
            ELSE greatest(c.reltuples, 0)::bigint END AS estimated_rows,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT coalesce(sum(pg_total_relation_size(pt.relid)), 0)::bigint FROM pg_partition_tree(c.oid) pt)
            ELSE pg_total_relation_size(c.oid) END AS total_bytes,
       c.relpersistence = 'u' AS unlogged,
       c.relrowsecurity AS row_security,
       c.relforcerowsecurity AS force_row_security,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1::text
  AND c.relkind IN ('r', 'p')
  AND c.relpersistence <> 't'
  AND NOT c.relispartition
ORDER BY c.relname COLLATE "C"
