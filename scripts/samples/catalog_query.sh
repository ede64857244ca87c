#!/usr/bin/env bash
# Run one of rekey's PostgreSQL catalog queries (src/backend/postgres/*.sql) by hand, the way the
# backend runs it: as a prepared statement with the schema name as $1 (and the role name as $2 for
# privileges.sql; server_info.sql takes no parameter).
#
#   scripts/samples/catalog_query.sh DBNAME QUERY [SCHEMA [ROLE]] [-- psql options...]
#
# QUERY is a file name or a bare name (columns -> src/backend/postgres/columns.sql). SCHEMA defaults
# to public, ROLE to '' (= current_user). Server from PGHOST/PGPORT/PGUSER (127.0.0.1, 5432, postgres).
# Examples:
#   scripts/samples/catalog_query.sh rk_shapes foreign_keys Sales
#   scripts/samples/catalog_query.sh rk_shapes privileges public reader -- -x
#   PGUSER=reader scripts/samples/catalog_query.sh rk_shapes server_info
set -euo pipefail

[[ $# -ge 2 ]] || { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 2; }
db=$1 query=$2
shift 2
schema=public role=''
if [[ $# -gt 0 && $1 != -- ]]; then schema=$1; shift; fi
if [[ $# -gt 0 && $1 != -- ]]; then role=$1; shift; fi
[[ ${1:-} == -- ]] && shift

file=$query
if [[ ! -f $file ]]; then
    file=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/src/backend/postgres/${query%.sql}.sql
fi
[[ -f $file ]] || { echo "catalog_query.sh: no query file $query" >&2; exit 2; }

# shellcheck disable=SC2016 # a literal $2 / $1 is what is searched for
if grep -qF '$2' "$file"; then
    decl='(text, text)' args="(:'schema', :'role')"
elif grep -qF '$1' "$file"; then
    decl='(text)' args="(:'schema')"
else
    decl='' args=''
fi
{
    printf 'PREPARE rekey_catalog_query%s AS\n' "$decl"
    cat "$file"
    printf ';\nEXECUTE rekey_catalog_query%s;\n' "$args"
} | psql -X -w -q -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" -U "${PGUSER:-postgres}" -d "$db" \
    -v ON_ERROR_STOP=1 -v schema="$schema" -v role="$role" "$@" -f -
