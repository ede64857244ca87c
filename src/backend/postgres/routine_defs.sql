-- Functions, procedures and aggregates of one schema (not extensions'), with the statement that
-- recreates each where the same names are on the search_path: views that call them need them
-- first in a derived DB_FINAL. $1 = schema name (text).
-- Columns:
--   oid         bigint    the routine
--   create_sql  text      CREATE OR REPLACE FUNCTION/PROCEDURE (pg_get_functiondef, name unqualified),
--                         or CREATE OR REPLACE AGGREGATE built from pg_aggregate
--   needs       bigint[]  an aggregate's transition and final functions (created before it)
SELECT p.oid::bigint AS oid,
       CASE WHEN p.prokind = 'a' THEN
         'CREATE OR REPLACE AGGREGATE ' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ') (SFUNC = '
         || a.aggtransfn::regproc::text || ', STYPE = ' || format_type(a.aggtranstype, NULL)
         || CASE WHEN a.aggfinalfn <> 0 THEN ', FINALFUNC = ' || a.aggfinalfn::regproc::text ELSE '' END
         || CASE WHEN a.agginitval IS NOT NULL THEN ', INITCOND = ' || quote_literal(a.agginitval) ELSE '' END || ')'
       ELSE replace(replace(pg_get_functiondef(p.oid),
                            'FUNCTION ' || quote_ident(n.nspname) || '.', 'FUNCTION '),
                    'PROCEDURE ' || quote_ident(n.nspname) || '.', 'PROCEDURE ')
       END AS create_sql,
       CASE WHEN p.prokind = 'a' THEN array_remove(ARRAY[a.aggtransfn::oid::bigint, a.aggfinalfn::oid::bigint], 0)
            ELSE '{}'::bigint[] END AS needs
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
WHERE n.nspname = $1::text
  AND p.prokind IN ('f', 'p', 'a')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY p.oid
