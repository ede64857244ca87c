-- The indexes of one table that a load drops before its rows and builds again after them:
-- valid, not backing a constraint (primary key, unique, exclusion: foreign keys may depend on
-- them), not attached to a partitioned index, on an ordinary table. {table} = the table's quoted
-- name as a string literal, resolved on the search_path.
-- Columns: the index's qualified name (quoted), and pg_get_indexdef (recreates it exactly).
SELECT quote_ident(n.nspname) || '.' || quote_ident(ic.relname) AS name,
       pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
JOIN pg_class t ON t.oid = i.indrelid
WHERE i.indrelid = {table}::regclass
  AND t.relkind = 'r'
  AND i.indisvalid
  AND NOT ic.relispartition
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)
ORDER BY ic.relname COLLATE "C"
