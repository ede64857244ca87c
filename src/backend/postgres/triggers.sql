-- User triggers on the tables of one schema (relkind 'r' and 'p', partitions included). Internal
-- triggers (the RI_ConstraintTrigger_* pairs behind foreign keys, tgisinternal) are not listed: rekey
-- handles foreign keys through foreign_keys.sql. $1 = schema name (text).
-- One row per trigger, ordered by table_name, trigger_name (C collation).
-- Columns:
--   table_name       text     the table the trigger is on
--   trigger_name     text     the trigger
--   enabled          text     tgenabled: 'O' enabled (fires in origin and local modes), 'D' disabled,
--                             'R' ENABLE REPLICA (fires only when session_replication_role = replica),
--                             'A' ENABLE ALWAYS (fires whatever session_replication_role says). Restore
--                             with ALTER TABLE ... ENABLE TRIGGER / DISABLE TRIGGER / ENABLE REPLICA
--                             TRIGGER / ENABLE ALWAYS TRIGGER. Note that 'A' triggers fire even under
--                             session_replication_role = replica.
--   is_constraint    boolean  a CONSTRAINT TRIGGER (user-declared, tgconstraint <> 0)
--   is_inherited     boolean  a clone on a partition of a trigger declared on its partitioned parent
--                             (tgparentid <> 0): it follows the parent's trigger, do not recreate it
--   function_name    text     the trigger function, schema-qualified with its argument types
--                             (tgfoid::regprocedure)
--   definition       text     pg_get_triggerdef(oid): the full CREATE TRIGGER statement (without the
--                             enabled state, which is in 'enabled'), table name unqualified
--   function_def     text     CREATE OR REPLACE FUNCTION of the trigger function when it lives in
--                             schema $1 (recreated with the trigger), name unqualified; else NULL
SELECT c.relname::text AS table_name,
       t.tgname::text AS trigger_name,
       t.tgenabled::text AS enabled,
       t.tgconstraint <> 0 AS is_constraint,
       t.tgparentid <> 0 AS is_inherited,
       (SELECT quote_ident(pn.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')'
        FROM pg_proc p JOIN pg_namespace pn ON pn.oid = p.pronamespace WHERE p.oid = t.tgfoid) AS function_name,
       replace(pg_get_triggerdef(t.oid),
               ' ON ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' ',
               ' ON ' || quote_ident(c.relname) || ' ') AS definition,
       (SELECT replace(pg_get_functiondef(p.oid),
                       'FUNCTION ' || quote_ident(pn.nspname) || '.', 'FUNCTION ')
        FROM pg_proc p JOIN pg_namespace pn ON pn.oid = p.pronamespace
        WHERE p.oid = t.tgfoid AND pn.nspname = $1::text) AS function_def
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1::text
  AND c.relkind IN ('r', 'p')
  AND NOT t.tgisinternal
  AND t.tgparentid = 0
ORDER BY c.relname COLLATE "C", t.tgname COLLATE "C"
