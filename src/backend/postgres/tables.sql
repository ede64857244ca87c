-- Tables of one schema: ordinary tables (relkind 'r', partitions included) and partitioned tables
-- ('p'). $1 = schema name (text). One row per table, ordered by table_name (C collation).
-- Columns:
--   table_name          text     the table's name, unquoted
--   relkind             text     'r' ordinary table (or a partition), 'p' partitioned table (no storage)
--   is_partition        boolean  relispartition: a partition of partition_parent
--   partition_parent_schema, partition_parent_table   text   the direct parent of a partition, else NULL
--   partition_bound     text     FOR VALUES ... / DEFAULT of a partition (pg_get_expr(relpartbound)), else NULL
--   partition_key       text     'RANGE (created_on)' / 'LIST (region)' / 'HASH (...)' of a partitioned table
--                                (pg_get_partkeydef), else NULL
--   inherits_schemas, inherits_tables  text[]  parents of a table that INHERITS others (not partitions), in
--                                inhseqno order; empty arrays when none. Partitions report their parent above.
--   child_count         integer  direct children in pg_inherits (partitions or inheritance children)
--   persistence         text     'p' permanent, 'u' unlogged (relpersistence; temp tables are never listed)
--   estimated_rows      bigint   pg_class.reltuples rounded; -1 when never vacuumed/analyzed (PG 14+). For a
--                                partitioned table, the sum over its leaf partitions (each -1 counted as 0)
--   total_bytes         bigint   pg_total_relation_size (heap + indexes + toast); for a partitioned table the
--                                sum over its whole partition tree (pg_partition_tree)
--   row_security        boolean  relrowsecurity (ALTER TABLE ... ENABLE ROW LEVEL SECURITY)
--   force_row_security  boolean  relforcerowsecurity (policies apply to the owner too)
--   has_rules           boolean  relhasrules: the table has rewrite rules (see rules.sql)
--   has_triggers        boolean  relhastriggers: any trigger, internal FK triggers included
--   owner               text     the owning role
--   comment             text     COMMENT ON TABLE, or NULL
--   table_oid           oid      for joining with other results of the same session
SELECT c.relname::text AS table_name,
       c.relkind::text AS relkind,
       c.relispartition AS is_partition,
       pn.nspname::text AS partition_parent_schema,
       pc.relname::text AS partition_parent_table,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
       coalesce((SELECT array_agg(ihn.nspname::text ORDER BY ih.inhseqno)
                 FROM pg_inherits ih JOIN pg_class ihc ON ihc.oid = ih.inhparent JOIN pg_namespace ihn ON ihn.oid = ihc.relnamespace
                 WHERE ih.inhrelid = c.oid AND NOT c.relispartition), '{}') AS inherits_schemas,
       coalesce((SELECT array_agg(ihc.relname::text ORDER BY ih.inhseqno)
                 FROM pg_inherits ih JOIN pg_class ihc ON ihc.oid = ih.inhparent
                 WHERE ih.inhrelid = c.oid AND NOT c.relispartition), '{}') AS inherits_tables,
       (SELECT count(*)::integer FROM pg_inherits ch WHERE ch.inhparent = c.oid) AS child_count,
       c.relpersistence::text AS persistence,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT coalesce(sum(greatest(lc.reltuples, 0)), 0)::bigint
                  FROM pg_partition_tree(c.oid) pt JOIN pg_class lc ON lc.oid = pt.relid WHERE pt.isleaf)
            ELSE c.reltuples::bigint END AS estimated_rows,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT coalesce(sum(pg_total_relation_size(pt.relid)), 0)::bigint FROM pg_partition_tree(c.oid) pt)
            ELSE pg_total_relation_size(c.oid) END AS total_bytes,
       c.relrowsecurity AS row_security,
       c.relforcerowsecurity AS force_row_security,
       c.relhasrules AS has_rules,
       c.relhastriggers AS has_triggers,
       pg_get_userbyid(c.relowner)::text AS owner,
       obj_description(c.oid, 'pg_class') AS comment,
       c.oid AS table_oid
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_inherits pi ON c.relispartition AND pi.inhrelid = c.oid
LEFT JOIN pg_class pc ON pc.oid = pi.inhparent
LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
WHERE n.nspname = $1::text
  AND c.relkind IN ('r', 'p')
  AND c.relpersistence <> 't'
ORDER BY c.relname COLLATE "C"
