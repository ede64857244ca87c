-- Sequences of one schema, with the column that owns each one (serial: OWNED BY, identity: internal)
-- and every column whose DEFAULT calls nextval() on it (a sequence can be shared by several tables, or
-- used by a table in another schema). After a load, a sequence still feeding an integer column is set
-- past that column's maximum; one that only fed converted keys is left alone.
-- $1 = schema name (text). One row per sequence, ordered by sequence_name (C collation).
-- Columns:
--   sequence_name     text     the sequence
--   data_type         text     'smallint' | 'integer' | 'bigint' (seqtypid)
--   start_value, min_value, max_value, increment, cache_size   bigint
--   cycle             boolean  CYCLE
--   last_value        bigint   pg_sequences.last_value: NULL when nextval/setval never ran (or ran with
--                              is_called = false) AND ALSO when the current user has neither SELECT nor
--                              USAGE on the sequence: see 'readable'
--   readable          boolean  has_sequence_privilege(current_user, seq, 'SELECT,USAGE')
--   owned_by_schema, owned_by_table, owned_by_column  text  the column the sequence belongs to (pg_depend
--                              deptype 'a' for serial / OWNED BY, 'i' for identity), else NULL
--   is_identity       boolean  it is the internal sequence of an identity column (deptype 'i')
--   used_by_schemas, used_by_tables, used_by_columns  text[]  parallel arrays: columns whose default is
--                              nextval('this sequence'), sorted by schema, table, column; empty when none
--                              (identity columns have no default expression: see owned_by_* instead)
WITH s AS (
  SELECT c.oid, c.relname, n.nspname, sq.*
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_sequence sq ON sq.seqrelid = c.oid
  WHERE n.nspname = $1::text AND c.relkind = 'S'
),
owner AS (
  SELECT d.objid AS seq_oid, tn.nspname, t.relname, a.attname, d.deptype
  FROM pg_depend d
  JOIN pg_class t ON t.oid = d.refobjid
  JOIN pg_namespace tn ON tn.oid = t.relnamespace
  JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
  WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
    AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
),
users AS (
  SELECT DISTINCT d.refobjid AS seq_oid, tn.nspname, t.relname, a.attname
  FROM pg_depend d
  JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND ad.oid = d.objid
  JOIN pg_class t ON t.oid = ad.adrelid
  JOIN pg_namespace tn ON tn.oid = t.relnamespace
  JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
  WHERE d.refclassid = 'pg_class'::regclass
)
SELECT s.relname::text AS sequence_name,
       format_type(s.seqtypid, NULL) AS data_type,
       s.seqstart AS start_value,
       s.seqmin AS min_value,
       s.seqmax AS max_value,
       s.seqincrement AS increment,
       s.seqcache AS cache_size,
       s.seqcycle AS cycle,
       ps.last_value,
       has_sequence_privilege(s.oid, 'SELECT,USAGE') AS readable,
       o.nspname::text AS owned_by_schema,
       o.relname::text AS owned_by_table,
       o.attname::text AS owned_by_column,
       coalesce(o.deptype = 'i', false) AS is_identity,
       coalesce((SELECT array_agg(u.nspname::text ORDER BY u.nspname COLLATE "C", u.relname COLLATE "C", u.attname COLLATE "C")
                 FROM users u WHERE u.seq_oid = s.oid), '{}') AS used_by_schemas,
       coalesce((SELECT array_agg(u.relname::text ORDER BY u.nspname COLLATE "C", u.relname COLLATE "C", u.attname COLLATE "C")
                 FROM users u WHERE u.seq_oid = s.oid), '{}') AS used_by_tables,
       coalesce((SELECT array_agg(u.attname::text ORDER BY u.nspname COLLATE "C", u.relname COLLATE "C", u.attname COLLATE "C")
                 FROM users u WHERE u.seq_oid = s.oid), '{}') AS used_by_columns
FROM s
LEFT JOIN owner o ON o.seq_oid = s.oid
LEFT JOIN pg_sequences ps ON ps.schemaname = s.nspname AND ps.sequencename = s.relname
ORDER BY s.relname COLLATE "C"
