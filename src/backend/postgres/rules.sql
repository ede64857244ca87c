-- Rewrite rules on the tables of one schema (relkind 'r' and 'p'), not the _RETURN rules that implement
-- views and materialized views (those are in views.sql). A DO INSTEAD rule on INSERT redirects rows
-- (pagila before PG 10: payment -> payment_p2017_0N, and may renumber them with DEFAULT); COPY FROM
-- never fires rules, INSERT ... SELECT does. $1 = schema name (text).
-- One row per rule, ordered by table_name, rule_name (C collation).
-- Columns:
--   table_name    text     the table the rule is on
--   rule_name     text     the rule
--   event         text     'SELECT' | 'UPDATE' | 'INSERT' | 'DELETE' (ev_type 1..4)
--   is_instead    boolean  DO INSTEAD (true) or DO ALSO (false)
--   enabled       text     ev_enabled: 'O' enabled, 'D' disabled, 'R' replica, 'A' always
--   has_condition boolean  the rule has a WHERE condition (ev_qual)
--   definition    text     pg_get_ruledef(oid): the full CREATE RULE statement, table name unqualified
SELECT c.relname::text AS table_name,
       r.rulename::text AS rule_name,
       CASE r.ev_type WHEN '1' THEN 'SELECT' WHEN '2' THEN 'UPDATE' WHEN '3' THEN 'INSERT' WHEN '4' THEN 'DELETE' END AS event,
       r.is_instead,
       r.ev_enabled::text AS enabled,
       r.ev_qual <> '<>' AS has_condition,
       replace(pg_get_ruledef(r.oid),
               ' TO ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' ',
               ' TO ' || quote_ident(c.relname) || ' ') AS definition
FROM pg_rewrite r
JOIN pg_class c ON c.oid = r.ev_class
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1::text
  AND c.relkind IN ('r', 'p')
  AND r.rulename <> '_RETURN'
ORDER BY c.relname COLLATE "C", r.rulename COLLATE "C"
