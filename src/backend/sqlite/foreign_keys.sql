SELECT t.name, f.id, f.seq, f."table", f."from", f."to", f.on_update, f.on_delete
FROM pragma_table_list AS t
JOIN pragma_foreign_key_list(t.name, 'main') AS f
WHERE t.schema = 'main' AND t.type = 'table' AND t.name NOT LIKE 'sqlite\_%' ESCAPE '\'
ORDER BY t.name, f.id DESC, f.seq
