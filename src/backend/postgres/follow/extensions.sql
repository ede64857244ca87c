-- SOURCE's extensions: pg_dump -n copies no extension, yet the schema's columns, indexes and
-- defaults may use their types and functions.
SELECT e.extname::text, n.nspname::text
FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname <> 'plpgsql'
ORDER BY 1
