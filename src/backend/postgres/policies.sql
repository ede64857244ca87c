-- Row-level security policies on the tables of one schema, as CREATE POLICY statements, with the
-- columns of their own table that their expressions use (a policy over a converted key compares
-- it with integers, which a UUID column refuses: derive-final leaves those out). $1 = schema name.
-- One row per policy, ordered by table_name, policy_name (C collation).
-- Columns:
--   table_name   text    the table the policy is on
--   policy_name  text    the policy
--   definition   text    CREATE POLICY ... ON <table unqualified> AS ... FOR ... TO ... USING (...) WITH CHECK (...)
--   columns      text[]  the table's columns its USING and WITH CHECK expressions use (pg_depend)
SELECT c.relname::text AS table_name,
       p.polname::text AS policy_name,
       'CREATE POLICY ' || quote_ident(p.polname) || ' ON ' || quote_ident(c.relname)
         || ' AS ' || CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END
         || ' FOR ' || CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                     WHEN 'd' THEN 'DELETE' ELSE 'ALL' END
         || ' TO ' || CASE WHEN p.polroles = '{0}'::oid[] THEN 'PUBLIC'
                           ELSE (SELECT string_agg(quote_ident(r.rolname), ', ' ORDER BY r.rolname)
                                 FROM pg_roles r WHERE r.oid = ANY (p.polroles)) END
         || coalesce(' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')', '')
         || coalesce(' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')', '') AS definition,
       (SELECT array_agg(u.attname ORDER BY u.attnum)
        FROM (SELECT DISTINCT a.attname::text AS attname, a.attnum
              FROM pg_depend d
              JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
              WHERE d.classid = 'pg_policy'::regclass AND d.objid = p.oid
                AND d.refclassid = 'pg_class'::regclass AND d.refobjid = p.polrelid
                AND d.refobjsubid > 0) u) AS columns
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1::text
ORDER BY c.relname COLLATE "C", p.polname COLLATE "C"
