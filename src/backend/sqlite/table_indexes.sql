SELECT name, sql
FROM main.sqlite_schema
WHERE type = 'index' AND sql IS NOT NULL AND tbl_name = {table}
ORDER BY name
