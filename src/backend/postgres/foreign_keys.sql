-- Foreign keys that touch one schema: declared on its tables (relkind 'r' and 'p', partitions included:
-- a partition may declare a foreign key of its own), or declared elsewhere and referencing its tables.
-- Only the constraint a user declared is listed (conparentid = 0): PostgreSQL clones a partitioned
-- table's foreign key onto each partition, and a key that references a partitioned table onto each
-- referenced partition; those clones have conparentid <> 0 and are left out.
-- $1 = schema name (text). One row per foreign key, ordered by table_schema, table_name,
-- constraint_name (C collation).
-- Columns:
--   table_schema         text     schema of the referencing table: $1, or another schema for an INBOUND
--                                 reference (a table elsewhere pointing at a table of $1, whose column must
--                                 convert too)
--   table_name           text     the referencing table
--   constraint_name      text     the constraint
--   columns              text[]   referencing columns in key order (conkey)
--   ref_schema           text     schema of the referenced table (may differ from $1)
--   ref_table            text     the referenced table
--   ref_columns          text[]   referenced columns in the same order (confkey): columns[i] -> ref_columns[i]
--   on_delete            text     'NO ACTION' | 'RESTRICT' | 'CASCADE' | 'SET NULL' | 'SET DEFAULT'
--   on_update            text     same words
--   set_columns          text[]   PG 15 ON DELETE SET NULL / SET DEFAULT (col, ...) column list (confdelsetcols),
--                                 empty array when the action applies to all columns
--   match_type           text     'SIMPLE' | 'FULL' | 'PARTIAL'
--   deferrable           boolean  condeferrable
--   initially_deferred   boolean  condeferred
--   validated            boolean  convalidated (false: added NOT VALID and never validated)
--   is_partition_table   boolean  the referencing table is a partition (its own key, not a clone)
--   definition           text     pg_get_constraintdef: 'FOREIGN KEY (a, b) REFERENCES t(x, y) ON DELETE ...'
SELECT tn.nspname::text AS table_schema,
       t.relname::text AS table_name,
       k.conname::text AS constraint_name,
       (SELECT array_agg(a.attname::text ORDER BY u.ord)
        FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum) AS columns,
       rn.nspname::text AS ref_schema,
       r.relname::text AS ref_table,
       (SELECT array_agg(a.attname::text ORDER BY u.ord)
        FROM unnest(k.confkey) WITH ORDINALITY AS u(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum) AS ref_columns,
       CASE k.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                          WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END AS on_delete,
       CASE k.confupdtype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                          WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END AS on_update,
       coalesce((SELECT array_agg(a.attname::text ORDER BY u.ord)
                 FROM unnest(k.confdelsetcols) WITH ORDINALITY AS u(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum), '{}') AS set_columns,
       CASE k.confmatchtype WHEN 's' THEN 'SIMPLE' WHEN 'f' THEN 'FULL' WHEN 'p' THEN 'PARTIAL' END AS match_type,
       k.condeferrable AS deferrable,
       k.condeferred AS initially_deferred,
       k.convalidated AS validated,
       t.relispartition AS is_partition_table,
       pg_get_constraintdef(k.oid) AS definition
FROM pg_constraint k
JOIN pg_class t ON t.oid = k.conrelid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
JOIN pg_class r ON r.oid = k.confrelid
JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE k.contype = 'f'
  AND k.conparentid = 0
  AND (tn.nspname = $1::text OR rn.nspname = $1::text)
ORDER BY tn.nspname COLLATE "C", t.relname COLLATE "C", k.conname COLLATE "C"
