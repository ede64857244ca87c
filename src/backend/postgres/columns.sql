-- Columns of the tables of one schema (relkind 'r' and 'p'; partitions have their root's columns and
-- are left out, see tables.sql).
-- $1 = schema name (text). One row per column, ordered by table_name (C collation), then ordinal
-- (attnum: the physical order, with gaps where columns were dropped; dropped columns are not listed).
-- Columns:
--   table_name            text     the column's table
--   ordinal               integer  attnum (1-based, may have gaps)
--   column_name           text     unquoted
--   column_type           text     format_type(atttypid, atttypmod), the full declared type as PostgreSQL
--                                  prints it: 'integer', 'character varying(190)', 'numeric(7,-3)',
--                                  'timestamp(6) without time zone', 'text[]', 'positive_int', '"Sales".x'
--   type_name             text     the column's own type name (pg_type.typname): 'int4', 'varchar', '_text',
--                                  'positive_int' (a domain), 'account_tier' (an enum)
--   type_schema           text     schema of that type ('pg_catalog' for built-ins)
--   data_type             text     the base type name after unwrapping every domain level: 'int4', 'int8',
--                                  'varchar', 'numeric', '_int4' for integer[]... (what decides whether a key
--                                  is an integer: int2, int4, int8)
--   base_type             text     format_type of that base type and its typmod ('integer', 'character varying(20)')
--   is_domain             boolean  the column's type is a domain (type_name is the domain)
--   domain_not_null       boolean  some domain level is NOT NULL (typnotnull)
--   is_enum               boolean  the base type is an enum
--   enum_labels           text[]   its labels in enumsortorder, else NULL
--   is_array              boolean  the base type is an array (typcategory 'A')
--   element_type          text     typname of the array's element type (after unwrapping domains), else NULL
--   typcategory           text     pg_type.typcategory of the base type: N numeric, S string, D datetime, B boolean,
--                                  U user (uuid, bytea...), A array, E enum, I network, V bit string, T timespan...
--   nullable              boolean  NOT attnotnull
--   default_expr          text     pg_get_expr of the default, NULL when none and for generated columns
--                                  ('nextval(''shared_seq''::regclass)' for serial and shared sequences)
--   identity              text     attidentity: 'a' GENERATED ALWAYS, 'd' BY DEFAULT, '' none
--   generated             text     attgenerated: 's' GENERATED ... STORED, '' none
--   generation_expr       text     the expression of a generated column, else NULL
--   owned_sequence        text     pg_get_serial_sequence: the sequence owned by the column (serial, identity),
--                                  schema-qualified and quoted as needed, else NULL
--   default_sequence      text     the sequence a nextval(...) default uses (through pg_depend, so a sequence
--                                  shared by several tables is found too), schema-qualified and quoted as
--                                  needed like owned_sequence ('public."Kunde_KundeID_seq"'), else NULL
--   collation             text     the column's collation when it is not its type's default, else NULL
--   max_length            integer  declared length of char(n) / varchar(n) / bit(n) / varbit(n), else NULL
--   numeric_precision     integer  numeric(p,s): p; int2/int4/int8: 16/32/64; real/double: 24/53 (binary
--                                  digits, as information_schema); NULL for unconstrained numeric and others
--   numeric_scale         integer  numeric(p,s): s, which may be NEGATIVE on PG 15+ (numeric(7,-3)); 0 for
--                                  integers; NULL otherwise
--   datetime_precision    integer  fractional-second digits of time/timestamp(tz)/interval (6 when not declared)
--   dimensions            integer  attndims (declared array dimensions, informational only)
--   comment               text     COMMENT ON COLUMN, or NULL
--   base_type_name        text     format_type of the base type without its modifier: 'integer', 'character
--                                  varying', 'uuid', 'integer[]' (the neutral model's data_type)
--   type_oid              oid      the column's own type (for the user types it needs, see types.sql)
--   is_local              boolean  attislocal: declared in this table, not only inherited from a parent
WITH RECURSIVE cols AS (
  SELECT c.oid AS relid, c.relname, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull,
         a.attidentity, a.attgenerated, a.attcollation, a.attndims, a.attislocal
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid
  WHERE n.nspname = $1::text
    AND c.relkind IN ('r', 'p')
    AND c.relpersistence <> 't'
    AND NOT c.relispartition
    AND a.attnum > 0
    AND NOT a.attisdropped
),
-- unwrap domains (over domains) to the base type, keeping the innermost typmod that is set
unwrap AS (
  SELECT cols.relid, cols.attnum, cols.atttypid AS typid, cols.atttypmod AS typmod, 0 AS depth, false AS dom_notnull
  FROM cols
  UNION ALL
  SELECT u.relid, u.attnum, t.typbasetype,
         CASE WHEN t.typtypmod <> -1 THEN t.typtypmod ELSE u.typmod END,
         u.depth + 1, u.dom_notnull OR t.typnotnull
  FROM unwrap u JOIN pg_type t ON t.oid = u.typid
  WHERE t.typtype = 'd'
),
base AS (
  SELECT DISTINCT ON (relid, attnum) relid, attnum, typid, typmod, dom_notnull
  FROM unwrap ORDER BY relid, attnum, depth DESC
)
SELECT cols.relname::text AS table_name,
       cols.attnum::integer AS ordinal,
       cols.attname::text AS column_name,
       format_type(cols.atttypid, cols.atttypmod) AS column_type,
       ct.typname::text AS type_name,
       ctn.nspname::text AS type_schema,
       bt.typname::text AS data_type,
       format_type(base.typid, base.typmod) AS base_type,
       ct.typtype = 'd' AS is_domain,
       base.dom_notnull AS domain_not_null,
       bt.typtype = 'e' AS is_enum,
       CASE WHEN bt.typtype = 'e'
            THEN (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = bt.oid) END AS enum_labels,
       bt.typcategory = 'A' AS is_array,
       CASE WHEN bt.typcategory = 'A' THEN
         (SELECT coalesce(nullif(et.typbasetype, 0), et.oid)::regtype::text FROM pg_type et WHERE et.oid = bt.typelem) END AS element_type,
       bt.typcategory::text AS typcategory,
       NOT cols.attnotnull AS nullable,
       CASE WHEN cols.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END AS default_expr,
       cols.attidentity::text AS identity,
       cols.attgenerated::text AS generated,
       CASE WHEN cols.attgenerated <> '' THEN pg_get_expr(ad.adbin, ad.adrelid) END AS generation_expr,
       pg_get_serial_sequence(format('%I.%I', $1::text, cols.relname), cols.attname) AS owned_sequence,
       (SELECT quote_ident(sn.nspname) || '.' || quote_ident(s.relname)
        FROM pg_depend d
        JOIN pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'
        JOIN pg_namespace sn ON sn.oid = s.relnamespace
        WHERE d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
          AND d.refclassid = 'pg_class'::regclass
        ORDER BY s.oid LIMIT 1) AS default_sequence,
       CASE WHEN cols.attcollation <> 0 AND cols.attcollation <> ct.typcollation
            THEN (SELECT CASE WHEN cn.nspname = 'pg_catalog' THEN quote_ident(co.collname)
                              ELSE quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END
                  FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = cols.attcollation) END AS collation,
       CASE WHEN base.typid IN ('bpchar'::regtype, 'varchar'::regtype) AND base.typmod <> -1 THEN base.typmod - 4
            WHEN base.typid IN ('bit'::regtype, 'varbit'::regtype) AND base.typmod <> -1 THEN base.typmod
       END AS max_length,
       CASE base.typid
            WHEN 'int2'::regtype THEN 16 WHEN 'int4'::regtype THEN 32 WHEN 'int8'::regtype THEN 64
            WHEN 'float4'::regtype THEN 24 WHEN 'float8'::regtype THEN 53
            WHEN 'numeric'::regtype THEN CASE WHEN base.typmod <> -1 THEN ((base.typmod - 4) >> 16) & 65535 END
       END AS numeric_precision,
       CASE WHEN base.typid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN 0
            -- the scale is an 11-bit two's complement number since PG 15 (negative scales)
            WHEN base.typid = 'numeric'::regtype AND base.typmod <> -1 THEN ((((base.typmod - 4) & 2047) # 1024) - 1024)
       END AS numeric_scale,
       CASE WHEN base.typid IN ('time'::regtype, 'timetz'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype)
            THEN CASE WHEN base.typmod <> -1 THEN base.typmod ELSE 6 END
            WHEN base.typid = 'interval'::regtype
            THEN CASE WHEN base.typmod <> -1 AND (base.typmod & 65535) <> 65535 THEN base.typmod & 65535 ELSE 6 END
       END AS datetime_precision,
       cols.attndims::integer AS dimensions,
       col_description(cols.relid, cols.attnum) AS comment,
       format_type(base.typid, NULL) AS base_type_name,
       cols.atttypid::bigint AS type_oid,
       cols.attislocal AS is_local
FROM cols
JOIN base ON base.relid = cols.relid AND base.attnum = cols.attnum
JOIN pg_type ct ON ct.oid = cols.atttypid
JOIN pg_namespace ctn ON ctn.oid = ct.typnamespace
JOIN pg_type bt ON bt.oid = base.typid
LEFT JOIN pg_attrdef ad ON ad.adrelid = cols.relid AND ad.adnum = cols.attnum
ORDER BY cols.relname COLLATE "C", cols.attnum
