-- Constraints of the tables of one schema and of their partitions, as declared: a partitioned
-- table's constraints cloned onto its partitions (conparentid <> 0) and check constraints inherited
-- from an INHERITS parent (not conislocal) are left out, they come back with their parent.
-- $1 = schema name (text). One row per constraint.
-- Columns:
--   on_table      text     the table or partition it is declared on
--   root_table    text     that table's partition root (itself when it is not a partition)
--   name          text     the constraint
--   kind          text     'p' primary key, 'u' unique, 'c' check, 'x' exclusion, 'f' foreign key
--   definition    text     pg_get_constraintdef: 'FOREIGN KEY (a) REFERENCES t(id) ON DELETE CASCADE
--                          DEFERRABLE', 'CHECK ((price > 0))', 'PRIMARY KEY (id)' (names per search_path)
--   columns       text[]   the constrained columns, in key order
--   ref_schema, ref_table  text     a foreign key's referenced table
--   ref_columns   text[]   its referenced columns, in the same order as columns
--   on_delete, on_update   text     'NO ACTION' | 'RESTRICT' | 'CASCADE' | 'SET NULL' | 'SET DEFAULT'
SELECT t.relname::text AS on_table,
       (SELECT r.relname::text FROM pg_class r WHERE r.oid = coalesce(pg_partition_root(t.oid), t.oid)) AS root_table,
       k.conname::text AS name,
       k.contype::text AS kind,
       pg_get_constraintdef(k.oid) AS definition,
       coalesce((SELECT array_agg(a.attname::text ORDER BY u.ord)
                 FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum), '{}') AS columns,
       rn.nspname::text AS ref_schema,
       r.relname::text AS ref_table,
       coalesce((SELECT array_agg(a.attname::text ORDER BY u.ord)
                 FROM unnest(k.confkey) WITH ORDINALITY AS u(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum), '{}') AS ref_columns,
       CASE k.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                          WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END AS on_delete,
       CASE k.confupdtype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                          WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END AS on_update
FROM pg_constraint k
JOIN pg_class t ON t.oid = k.conrelid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
LEFT JOIN pg_class r ON r.oid = k.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE tn.nspname = $1::text
  AND t.relkind IN ('r', 'p')
  AND t.relpersistence <> 't'
  AND k.contype IN ('p', 'u', 'c', 'x', 'f')
  AND k.conparentid = 0
  AND k.conislocal
ORDER BY t.relname COLLATE "C", k.contype, k.conname COLLATE "C"
