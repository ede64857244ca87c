-- User-defined enums and domains, wherever they live (a column may use a type of another schema),
-- with the statement that creates each in another database where the session's search_path is the
-- same. Extensions' types are left out (the extension brings them). No parameter.
-- Columns:
--   oid          oid      the type
--   array_oid    oid      its array type (typarray), so an array column finds its element type
--   name         text     format_type: how columns name it (qualified when its schema is not on the
--                         search_path)
--   schema_name  text     its schema
--   depends_on   oid      a domain's base type (which may be another user type), else NULL
--   create_sql   text     CREATE TYPE ... AS ENUM (...) / CREATE DOMAIN ... AS ... [COLLATE] [DEFAULT]
--                         [NOT NULL] [CONSTRAINT ... CHECK (...)]
SELECT t.oid::bigint AS oid,
       t.typarray::bigint AS array_oid,
       format_type(t.oid, NULL) AS name,
       n.nspname::text AS schema_name,
       CASE WHEN t.typtype = 'd' THEN t.typbasetype::bigint END AS depends_on,
       CASE t.typtype
         WHEN 'e' THEN 'CREATE TYPE ' || format_type(t.oid, NULL) || ' AS ENUM ('
                       || coalesce((SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                                    FROM pg_enum e WHERE e.enumtypid = t.oid), '') || ')'
         ELSE 'CREATE DOMAIN ' || format_type(t.oid, NULL) || ' AS ' || format_type(t.typbasetype, t.typtypmod)
              || coalesce((SELECT ' COLLATE ' || quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
                           FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
                           WHERE co.oid = t.typcollation AND t.typcollation <> (SELECT b.typcollation FROM pg_type b WHERE b.oid = t.typbasetype)), '')
              || coalesce(' DEFAULT ' || t.typdefault, '')
              || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
              || coalesce((SELECT string_agg(' CONSTRAINT ' || quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid), '' ORDER BY k.conname COLLATE "C")
                           FROM pg_constraint k WHERE k.contypid = t.oid), '')
       END AS create_sql
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'd')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY t.oid
