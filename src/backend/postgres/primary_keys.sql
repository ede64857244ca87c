-- Primary keys of the tables of one schema (relkind 'r' and 'p', partitions included).
-- $1 = schema name (text). One row per primary key, ordered by table_name (C collation).
-- Columns:
--   table_name       text     the table
--   constraint_name  text     the PRIMARY KEY constraint's name
--   columns          text[]   key column names in key order (conkey order, not column order)
--   column_types     text[]   format_type of each key column, same order ('integer', 'bigint', 'positive_int')
--   base_types       text[]   typname of each key column's base type after unwrapping domains ('int4', 'int8'):
--                             a single int2/int4/int8 column makes a converted table
--   index_name       text     the unique index that backs the key
--   is_inherited     boolean  conparentid <> 0: a partition's copy of its partitioned parent's key (the key of
--                             a partition that declared its own key, as part_list_note_eu, is not inherited)
--   deferrable       boolean  condeferrable
--   definition       text     pg_get_constraintdef: 'PRIMARY KEY (id, created_on)'
WITH RECURSIVE pk AS (
  SELECT c.relname, k.oid AS conoid, k.conname, k.conkey, k.conindid, k.conparentid, k.condeferrable, k.conrelid
  FROM pg_constraint k
  JOIN pg_class c ON c.oid = k.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1::text AND k.contype = 'p' AND c.relkind IN ('r', 'p')
),
keycols AS (
  SELECT pk.conoid, u.ord, a.attname, a.atttypid, a.atttypmod
  FROM pk
  CROSS JOIN LATERAL unnest(pk.conkey) WITH ORDINALITY AS u(attnum, ord)
  JOIN pg_attribute a ON a.attrelid = pk.conrelid AND a.attnum = u.attnum
),
unwrap AS (
  SELECT conoid, ord, atttypid AS typid, 0 AS depth FROM keycols
  UNION ALL
  SELECT u.conoid, u.ord, t.typbasetype, u.depth + 1
  FROM unwrap u JOIN pg_type t ON t.oid = u.typid WHERE t.typtype = 'd'
),
base AS (
  SELECT DISTINCT ON (conoid, ord) conoid, ord, typid FROM unwrap ORDER BY conoid, ord, depth DESC
)
SELECT pk.relname::text AS table_name,
       pk.conname::text AS constraint_name,
       (SELECT array_agg(kc.attname::text ORDER BY kc.ord) FROM keycols kc WHERE kc.conoid = pk.conoid) AS columns,
       (SELECT array_agg(format_type(kc.atttypid, kc.atttypmod) ORDER BY kc.ord) FROM keycols kc WHERE kc.conoid = pk.conoid) AS column_types,
       (SELECT array_agg(t.typname::text ORDER BY b.ord) FROM base b JOIN pg_type t ON t.oid = b.typid WHERE b.conoid = pk.conoid) AS base_types,
       (SELECT i.relname::text FROM pg_class i WHERE i.oid = pk.conindid) AS index_name,
       pk.conparentid <> 0 AS is_inherited,
       pk.condeferrable AS deferrable,
       pg_get_constraintdef(pk.conoid) AS definition
FROM pk
ORDER BY pk.relname COLLATE "C"
