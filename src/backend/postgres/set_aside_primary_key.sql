-- The primary key of one table that the load may set aside and build again exactly after the
-- rows (as pg_restore does: a sorted build instead of one B-tree insert per row, at random for v4
-- keys), with the foreign keys that rely on it. Only when every foreign key that references the
-- key is the table's own (a self reference): dropping a key another table's foreign key relies on
-- would lock that table too, while another worker may be loading it. Not when anything else
-- depends on the key or its index (a view grouped by the key), nor when the index is the replica
-- identity, CLUSTER's, carries a comment, storage parameters (WITH (fillfactor ...)), its own
-- tablespace or a per-column statistics target (pg_get_constraintdef prints none of those three,
-- so a rebuilt key would lose them), nor for a partition
-- or a table with inheritance parents or children, nor for foreign keys inherited from a
-- partitioned parent. $1 = schema name, $2 = table name (text). At most one row.
-- Columns:
--   name          text   the primary key's constraint (and index) name
--   definition    text   pg_get_constraintdef: PRIMARY KEY (...) [INCLUDE (...)]
--   index         text   pg_get_indexdef of its btree index, built before the key is added back
--                        by ADD CONSTRAINT ... USING INDEX; NULL otherwise (a deferrable key,
--                        which its recheck trigger keeps in place anyway), added whole
--   comment       text   COMMENT ON CONSTRAINT, NULL when none
--   foreign_keys  json   [{name, definition, comment}] the table's own foreign keys on the key, by name
SELECT k.conname::text AS name,
       pg_get_constraintdef(k.oid) AS definition,
       obj_description(k.oid, 'pg_constraint') AS comment,
       CASE WHEN NOT k.condeferrable AND ic.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')
            THEN pg_get_indexdef(k.conindid) END AS index,
       COALESCE((SELECT json_agg(json_build_object('name', f.conname::text,
                                                   'definition', pg_get_constraintdef(f.oid),
                                                   'comment', obj_description(f.oid, 'pg_constraint'))
                                 ORDER BY f.conname COLLATE "C")
                 FROM pg_constraint f
                 WHERE f.contype = 'f' AND f.conindid = k.conindid), '[]'::json) AS foreign_keys
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_index i ON i.indexrelid = k.conindid
JOIN pg_class ic ON ic.oid = k.conindid
WHERE n.nspname = $1::text
  AND c.relname = $2::text
  AND c.relkind = 'r'
  AND NOT c.relispartition
  AND k.contype = 'p'
  AND i.indisvalid
  AND NOT i.indisreplident
  AND NOT i.indisclustered
  AND ic.reltablespace = 0
  AND ic.reloptions IS NULL
  AND obj_description(i.indexrelid, 'pg_class') IS NULL
  AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = c.oid OR h.inhparent = c.oid)
  AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                  WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0)
  -- Every foreign key on the key is the table's own, declared on it (not inherited).
  AND NOT EXISTS (SELECT 1 FROM pg_constraint f
                  WHERE f.contype = 'f' AND f.conindid = k.conindid
                    AND (f.conrelid <> c.oid OR f.conparentid <> 0 OR NOT f.conislocal))
  -- Nothing else depends on the key or its index: only the index on its constraint, and those
  -- foreign keys on the index.
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.refclassid = 'pg_constraint'::regclass AND d.refobjid = k.oid
                    AND NOT (d.classid = 'pg_class'::regclass AND d.objid = k.conindid))
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = k.conindid
                    AND NOT (d.classid = 'pg_constraint'::regclass
                             AND d.objid IN (SELECT f.oid FROM pg_constraint f
                                             WHERE f.contype = 'f' AND f.conindid = k.conindid)))
