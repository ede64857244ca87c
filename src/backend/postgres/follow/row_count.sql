-- The copy's tables (leaves only: a partitioned table's rows are its partitions').
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1::text
  AND c.relkind = 'r'
ORDER BY 1
