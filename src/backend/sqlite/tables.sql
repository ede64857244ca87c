SELECT t.name, s.sql
FROM pragma_table_list AS t
JOIN main.sqlite_schema AS s ON s.type = 'table' AND s.name = t.name
WHERE t.schema = 'main' AND t.type = 'table' AND t.name NOT LIKE 'sqlite\_%' ESCAPE '\'
ORDER BY t.name
