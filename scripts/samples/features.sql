-- Which of the PostgreSQL shapes rekey must carry does a loaded database have? Proof from pg_catalog.
--   psql -X -h 127.0.0.1 -U postgres -d DBNAME -v schema=public -f scripts/samples/features.sql
-- One row per feature: feature, count, examples (up to 6, sorted). Read-only; any role that can read
-- the catalog may run it. Row counts are exact (count(*) per table, ONLY, leaf tables).
\if :{?schema}
\else
\set schema public
\endif
SET search_path = pg_catalog;

WITH s AS (SELECT oid FROM pg_namespace WHERE nspname = :'schema'),
rel AS (
  SELECT c.oid, c.relname, c.relkind, c.relispartition
  FROM pg_class c JOIN s ON c.relnamespace = s.oid
),
leaf AS (  -- tables with storage
  SELECT oid, relname,
         (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY %s', oid::regclass), false, true, '')))[1]::text::bigint AS n
  FROM rel WHERE relkind = 'r'
),
f AS (
  SELECT 'tables (relkind r, partitions included)' AS feature, count(*) AS n, string_agg(relname, ', ' ORDER BY relname) FILTER (WHERE relkind = 'r') AS ex
  FROM rel WHERE relkind = 'r'
  UNION ALL
  SELECT 'rows (exact, all leaf tables)', sum(n), NULL FROM leaf
  UNION ALL
  SELECT 'partitioned tables (pg_partitioned_table)', count(*),
         string_agg(r.relname || ' BY ' || CASE p.partstrat WHEN 'r' THEN 'RANGE' WHEN 'l' THEN 'LIST' WHEN 'h' THEN 'HASH' END
                    || ' (' || (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = r.oid) || ' partitions)', ', ' ORDER BY r.relname)
  FROM rel r JOIN pg_partitioned_table p ON p.partrelid = r.oid
  UNION ALL
  SELECT 'partitions (relispartition)', count(*), string_agg(relname, ', ' ORDER BY relname)
  FROM rel WHERE relispartition AND relkind IN ('r', 'p')
  UNION ALL
  SELECT 'inheritance children, not partitions (pg_inherits)', count(*),
         string_agg(c.relname || ' INHERITS ' || p.relname, ', ' ORDER BY c.relname)
  FROM pg_inherits i JOIN rel c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
  WHERE NOT c.relispartition
  UNION ALL
  SELECT 'rules DO INSTEAD on tables (pg_rewrite, not _RETURN)', count(*) FILTER (WHERE w.is_instead),
         string_agg(r.relname || '.' || w.rulename || CASE WHEN w.is_instead THEN ' (INSTEAD)' ELSE ' (ALSO)' END, ', ' ORDER BY r.relname, w.rulename)
  FROM pg_rewrite w JOIN rel r ON r.oid = w.ev_class WHERE w.rulename <> '_RETURN'
  UNION ALL
  SELECT 'views', count(*), string_agg(relname, ', ' ORDER BY relname) FROM rel WHERE relkind = 'v'
  UNION ALL
  SELECT 'materialized views', count(*), string_agg(relname, ', ' ORDER BY relname) FROM rel WHERE relkind = 'm'
  UNION ALL
  SELECT 'views/matviews using a primary-key column (pg_depend)', count(DISTINCT v.oid),
         string_agg(DISTINCT v.relname, ', ')
  FROM rel v
  JOIN pg_rewrite w ON w.ev_class = v.oid
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
  JOIN pg_constraint k ON k.conrelid = d.refobjid AND k.contype = 'p' AND d.refobjsubid = ANY (k.conkey)
  WHERE v.relkind IN ('v', 'm') AND d.refobjid <> v.oid
  UNION ALL
  SELECT 'triggers, not internal (pg_trigger)', count(*),
         string_agg(DISTINCT t.tgname, ', ')
  FROM pg_trigger t JOIN rel r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
  UNION ALL
  SELECT 'domains', count(*), string_agg(t.typname || ' over ' || format_type(t.typbasetype, t.typtypmod), ', ' ORDER BY t.typname)
  FROM pg_type t JOIN s ON t.typnamespace = s.oid WHERE t.typtype = 'd'
  UNION ALL
  SELECT 'enums', count(*), string_agg(t.typname, ', ' ORDER BY t.typname)
  FROM pg_type t JOIN s ON t.typnamespace = s.oid WHERE t.typtype = 'e'
  UNION ALL
  SELECT 'array columns', count(*), string_agg(r.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY r.relname, a.attname)
  FROM pg_attribute a JOIN rel r ON r.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid
  WHERE r.relkind IN ('r', 'p') AND NOT r.relispartition AND a.attnum > 0 AND NOT a.attisdropped AND t.typcategory = 'A'
  UNION ALL
  SELECT 'identity columns (attidentity)', count(*), string_agg(r.relname || '.' || a.attname || ' ' || CASE a.attidentity WHEN 'a' THEN 'ALWAYS' ELSE 'BY DEFAULT' END, ', ' ORDER BY r.relname)
  FROM pg_attribute a JOIN rel r ON r.oid = a.attrelid
  WHERE r.relkind IN ('r', 'p') AND NOT r.relispartition AND a.attidentity <> '' AND NOT a.attisdropped
  UNION ALL
  SELECT 'sequence defaults (serial-like nextval)', count(*), string_agg(r.relname || '.' || a.attname, ', ' ORDER BY r.relname)
  FROM pg_attrdef ad JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum JOIN rel r ON r.oid = ad.adrelid
  WHERE r.relkind IN ('r', 'p') AND NOT r.relispartition AND pg_get_expr(ad.adbin, ad.adrelid) LIKE 'nextval(%'
  UNION ALL
  SELECT 'single-integer-column primary keys (converted tables)', count(*), string_agg(r.relname, ', ' ORDER BY r.relname)
  FROM pg_constraint k JOIN rel r ON r.oid = k.conrelid
  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
  JOIN pg_type t ON t.oid = a.atttypid
  WHERE k.contype = 'p' AND cardinality(k.conkey) = 1 AND NOT r.relispartition
    AND (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END) IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
  UNION ALL
  SELECT 'foreign keys (conparentid = 0)', count(*), NULL
  FROM pg_constraint k JOIN rel r ON r.oid = k.conrelid WHERE k.contype = 'f' AND k.conparentid = 0
  UNION ALL
  SELECT 'self-referencing foreign keys', count(*), string_agg(r.relname || '.' || k.conname, ', ' ORDER BY r.relname)
  FROM pg_constraint k JOIN rel r ON r.oid = k.conrelid WHERE k.contype = 'f' AND k.conrelid = k.confrelid AND k.conparentid = 0
  UNION ALL
  SELECT 'composite primary keys whose every column is in a foreign key', count(*), string_agg(r.relname, ', ' ORDER BY r.relname)
  FROM pg_constraint k JOIN rel r ON r.oid = k.conrelid
  WHERE k.contype = 'p' AND cardinality(k.conkey) > 1 AND NOT r.relispartition
    AND NOT EXISTS (SELECT 1 FROM unnest(k.conkey) AS col(n)
                    WHERE NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conrelid = k.conrelid AND col.n = ANY (f.conkey)))
  UNION ALL
  SELECT 'reference cycles of two tables (A->B->A)', count(*), string_agg(a, ', ' ORDER BY a)
  FROM (SELECT DISTINCT least(r1.relname, r2.relname) || ' <-> ' || greatest(r1.relname, r2.relname) AS a
        FROM pg_constraint f1 JOIN pg_constraint f2 ON f1.conrelid = f2.confrelid AND f1.confrelid = f2.conrelid
        JOIN rel r1 ON r1.oid = f1.conrelid JOIN rel r2 ON r2.oid = f2.conrelid
        WHERE f1.contype = 'f' AND f2.contype = 'f' AND f1.conrelid <> f1.confrelid AND f1.conparentid = 0) c
  UNION ALL
  SELECT 'deferrable foreign keys', count(*), string_agg(r.relname || '.' || k.conname, ', ' ORDER BY r.relname)
  FROM pg_constraint k JOIN rel r ON r.oid = k.conrelid WHERE k.contype = 'f' AND k.condeferrable
  UNION ALL
  SELECT 'generated stored columns', count(*), string_agg(r.relname || '.' || a.attname, ', ' ORDER BY r.relname)
  FROM pg_attribute a JOIN rel r ON r.oid = a.attrelid WHERE a.attgenerated = 's' AND NOT r.relispartition
  UNION ALL
  SELECT 'tables with row level security', count(*), string_agg(r.relname, ', ' ORDER BY r.relname)
  FROM pg_class r JOIN s ON r.relnamespace = s.oid WHERE r.relrowsecurity
)
SELECT feature, n AS count,
       CASE WHEN length(ex) > 160 THEN left(ex, 157) || '...' ELSE ex END AS examples
FROM f;
