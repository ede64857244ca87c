-- Each followed table's columns and types, and its key's columns: logical decoding carries no
-- DDL, so a change here while following means the stream no longer fits DB_FINAL's tables.
SELECT c.relname::text,
       coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                   || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                                   ', ' ORDER BY a.attnum)
                 FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), ''),
       coalesce((SELECT string_agg(a.attname, ',' ORDER BY k.ord)
                 FROM pg_index i
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                 WHERE i.indrelid = c.oid
                   AND (i.indisprimary
                        OR (i.indisreplident AND NOT EXISTS (SELECT 1 FROM pg_index p
                                                             WHERE p.indrelid = c.oid
                                                               AND p.indisprimary)))), '')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1::text
  AND c.relkind IN ('r', 'p')
  AND c.relname = ANY ($2::text[])
ORDER BY 1
