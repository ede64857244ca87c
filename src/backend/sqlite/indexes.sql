SELECT t.name, il.name, il."unique", il.origin, s.sql, ii.seqno, ii.name
FROM pragma_table_list AS t
JOIN pragma_index_list(t.name, 'main') AS il
JOIN pragma_index_info(il.name, 'main') AS ii
LEFT JOIN main.sqlite_schema AS s ON s.type = 'index' AND s.name = il.name
WHERE t.schema = 'main' AND t.type = 'table' AND t.name NOT LIKE 'sqlite\_%' ESCAPE '\'
ORDER BY t.name, il.name, ii.seqno
