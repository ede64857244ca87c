-- Indexes of the tables of one schema (relkind 'r' and 'p', partitions included), primary keys too.
-- $1 = schema name (text). One row per index, ordered by table_name, index_name (C collation).
-- Columns:
--   table_name        text     the indexed table
--   index_name        text     the index
--   is_unique         boolean  indisunique
--   is_primary        boolean  indisprimary
--   constraint_name   text     the constraint the index backs (PRIMARY KEY, UNIQUE, EXCLUDE), else NULL:
--                              such an index is dropped/recreated through its constraint, not DROP INDEX
--   constraint_type   text     'p' / 'u' / 'x' for that constraint, else NULL
--   method            text     access method: btree, hash, gin, gist, brin, spgist
--   columns           text[]   key columns in index order; NULL elements for expression parts
--   column_defs       text[]   each key part as written (pg_get_indexdef(oid, n, true)): a column name or an
--                              expression like 'lower(title)' / '(id % 10)'
--   include_columns   text[]   INCLUDE (...) columns (non-key), empty array when none
--   has_expressions   boolean  some key part is an expression (indexprs)
--   predicate         text     WHERE clause of a partial index (pg_get_expr(indpred)), else NULL
--   nulls_not_distinct boolean PG 15 UNIQUE NULLS NOT DISTINCT
--   is_valid          boolean  indisvalid (false: a failed CREATE INDEX CONCURRENTLY, or a partitioned index
--                              not yet attached everywhere)
--   is_partition_index boolean the index belongs to a partition and is attached to its parent's partitioned
--                              index (relispartition): it comes and goes with the parent's index
--   definition        text     pg_get_indexdef(oid): the full CREATE [UNIQUE] INDEX statement
SELECT c.relname::text AS table_name,
       ic.relname::text AS index_name,
       i.indisunique AS is_unique,
       i.indisprimary AS is_primary,
       k.conname::text AS constraint_name,
       k.contype::text AS constraint_type,
       am.amname::text AS method,
       (SELECT array_agg(a.attname::text ORDER BY u.ord)
        FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS u(attnum, ord)
        LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum AND u.attnum > 0
        WHERE u.ord <= i.indnkeyatts) AS columns,
       (SELECT array_agg(pg_get_indexdef(i.indexrelid, u.ord::integer, true) ORDER BY u.ord)
        FROM generate_series(1, i.indnkeyatts) AS u(ord)) AS column_defs,
       coalesce((SELECT array_agg(a.attname::text ORDER BY u.ord)
                 FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS u(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum
                 WHERE u.ord > i.indnkeyatts), '{}') AS include_columns,
       i.indexprs IS NOT NULL AS has_expressions,
       pg_get_expr(i.indpred, i.indrelid) AS predicate,
       i.indnullsnotdistinct AS nulls_not_distinct,
       i.indisvalid AS is_valid,
       ic.relispartition AS is_partition_index,
       pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')
WHERE n.nspname = $1::text
  AND c.relkind IN ('r', 'p')
  AND c.relpersistence <> 't'
ORDER BY c.relname COLLATE "C", ic.relname COLLATE "C"
