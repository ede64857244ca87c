SELECT t.name, c.cid, c.name, c.type, c."notnull", c.dflt_value, c.pk, c.hidden
FROM pragma_table_list AS t
JOIN pragma_table_xinfo(t.name, 'main') AS c
WHERE t.schema = 'main' AND t.type = 'table' AND t.name NOT LIKE 'sqlite\_%' ESCAPE '\'
ORDER BY t.name, c.cid
