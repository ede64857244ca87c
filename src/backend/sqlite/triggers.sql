SELECT name, tbl_name, sql
FROM main.sqlite_schema
WHERE type = 'trigger'
ORDER BY name
