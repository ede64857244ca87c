-- Indexes of the tables of one schema and of their partitions. An index attached to a partitioned
-- table's index (the index relation is itself a partition) comes and goes with its parent and is
-- left out. $1 = schema name (text). One row per index.
-- Columns:
--   on_table      text     the table or partition it is on
--   root_table    text     that table's partition root (itself when it is not a partition)
--   name          text     the index
--   is_unique, is_primary  boolean
--   constraint_name text   the constraint it backs (primary key, unique, exclusion), else NULL
--   method        text     btree, hash, gin, gist, brin, spgist
--   key_columns   text[]   key columns in order (NULL for an expression part)
--   columns       text[]   every column the index uses: keys, INCLUDE, expressions and predicate
--   computed      boolean  some key part is an expression, or the index is partial
--   definition    text     CREATE [UNIQUE] INDEX ... ON [ONLY] table ..., table name unqualified
SELECT c.relname::text AS on_table,
       (SELECT r.relname::text FROM pg_class r WHERE r.oid = coalesce(pg_partition_root(c.oid), c.oid)) AS root_table,
       ic.relname::text AS name,
       i.indisunique AS is_unique,
       i.indisprimary AS is_primary,
       k.conname::text AS constraint_name,
       am.amname::text AS method,
       (SELECT array_agg(a.attname::text ORDER BY u.ord)
        FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS u(attnum, ord)
        LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum AND u.attnum > 0
        WHERE u.ord <= i.indnkeyatts) AS key_columns,
       coalesce((SELECT array_agg(DISTINCT a.attname::text)
                 FROM pg_depend d
                 JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                   AND d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indrelid AND d.refobjsubid > 0), '{}') AS columns,
       i.indexprs IS NOT NULL OR i.indpred IS NOT NULL AS computed,
       replace(replace(pg_get_indexdef(i.indexrelid),
                       ' ON ONLY ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' ',
                       ' ON ONLY ' || quote_ident(c.relname) || ' '),
               ' ON ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' ',
               ' ON ' || quote_ident(c.relname) || ' ') AS definition
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')
WHERE n.nspname = $1::text
  AND c.relkind IN ('r', 'p')
  AND c.relpersistence <> 't'
  AND NOT ic.relispartition
ORDER BY c.relname COLLATE "C", ic.relname COLLATE "C"
