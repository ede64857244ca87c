#!/usr/bin/env bash
# rekey's PostgreSQL acceptance on the public samples: for each NAME (default: all three), load it
# (scripts/samples/load.sh --replace), `rekey run --derive-final` it with native uuid keys, check
# that the run verified, that SOURCE is unchanged (a digest of every row and of pg_catalog's
# objects before and after), that DB_FINAL has SOURCE's views, materialized views, triggers and
# rules, and that it takes a new row with a UUID key; then drop the databases.
#
#   scripts/samples/convert.sh [NAME...]      NAME: pagila | pagila-legacy | chinook
#
# pagila and pagila-legacy declare store.manager_staff_id (no foreign key in the sample, used by
# the view sales_by_store) with --reference, as rekey plan's warning says to.
# Server: PGHOST/PGPORT/PGUSER as load.sh (default postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
host=${PGHOST:-127.0.0.1} port=${PGPORT:-5432} user=${PGUSER:-postgres}
base="postgres://$user@$host:$port"
export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -w -q -At -h "$host" -p "$port" -U "$user" -d "$1" -c "$2"; }
digest() {
    q "$1" "SELECT md5(string_agg(x, E'\n' ORDER BY x)) FROM (
        SELECT n.nspname || '.' || c.relname || ' ' || c.relkind::text AS x FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
        UNION ALL SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace
        UNION ALL SELECT tgname || tgenabled::text FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL SELECT p.proname || md5(p.prosrc) FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
        UNION ALL SELECT rulename FROM pg_rules WHERE schemaname = 'public') q"
    for t in $(q "$1" "SELECT quote_ident(relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY 1"); do
        q "$1" "SELECT '$t ' || count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '') FROM ONLY $t t"
    done
}
count() { q "$1" "$2"; }

cargo build --release -j 2 -q
rekey=target/release/rekey
names=("$@")
((${#names[@]})) || names=(pagila pagila-legacy chinook)
for name in "${names[@]}"; do
    src=rk_sample_${name//-/_}
    scripts/samples/load.sh --replace "$name" "$src"
    q postgres "DROP DATABASE IF EXISTS ${src}_data WITH (FORCE)"
    q postgres "DROP DATABASE IF EXISTS ${src}_final WITH (FORCE)"
    refs=()
    [[ $name == pagila* ]] && refs=(--reference store.manager_staff_id=staff.staff_id)
    before=$(digest "$src")
    run_dir=$(mktemp -d)
    start=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$run_dir/rss" "$rekey" run --source "$base/$src" --data "$base/${src}_data" \
        --final "$base/${src}_final" --derive-final --uuid-format native "${refs[@]}" --run-dir "$run_dir/run" -q >/dev/null
    took=$(echo "$(date +%s.%N) - $start" | bc)
    status=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['status'], sum(v['ok'] for v in r['verification']), len(r['verification']))" "$run_dir/run/report.json")
    [[ $(digest "$src") == "$before" ]] || { echo "$name: SOURCE CHANGED" >&2; exit 1; }
    for what in "pg_views WHERE schemaname = 'public'" "pg_matviews WHERE schemaname = 'public'" "pg_trigger WHERE NOT tgisinternal" "pg_rules WHERE schemaname = 'public'"; do
        a=$(count "$src" "SELECT count(*) FROM $what"); b=$(count "${src}_final" "SELECT count(*) FROM $what")
        [[ $a == "$b" ]] || { echo "$name: $what: $a in SOURCE, $b in DB_FINAL" >&2; exit 1; }
    done
    table=$(q "$src" "SELECT relname FROM pg_class WHERE relname IN ('actor', 'artist') LIMIT 1")
    key=$(q "$src" "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] WHERE i.indrelid = '$table'::regclass AND i.indisprimary")
    if [[ $table == actor ]]; then
        q "${src}_final" "INSERT INTO actor ($key, first_name, last_name) VALUES (gen_random_uuid(), 'NEW', 'ACTOR')"
    else
        q "${src}_final" "INSERT INTO artist ($key, name) VALUES (gen_random_uuid(), 'New')"
    fi
    rows=$(q "$src" "SELECT sum(n_live_tup) FROM pg_stat_user_tables")
    printf '%s: %s (%s of %s tables verified), %s s, ~%s rows, peak RSS %s MB; SOURCE unchanged; views, triggers, rules kept; a new %s row took a UUID key\n' \
        "$name" "${status%% *}" "$(cut -d' ' -f2 <<<"$status")" "$(cut -d' ' -f3 <<<"$status")" "$(printf '%.2f' "$took")" "$rows" "$(($(cat "$run_dir/rss") / 1024))" "$table"
    # What derive-final left out (definitions the server refused for UUID columns), if anything.
    python3 -c "import json,sys; d=[s.get('detail') or '' for s in json.load(open(sys.argv[1]))['stages'] if s['name'] == 'derive-final']; sys.stdout.write(''.join('  derive-final: ' + x.split('; ', 1)[1] + chr(10) for x in d if '; left out' in x))" "$run_dir/run/report.json"
    for db in "$src" "${src}_data" "${src}_final"; do q postgres "DROP DATABASE IF EXISTS $db WITH (FORCE)"; done
    rm -rf "$run_dir"
done
