#!/usr/bin/env bash
# The PostgreSQL column of the benchmark (scripts/bench.sh SCALE RUNS postgres):
#   scripts/bench/postgres.sh [SCALE] [RUNS] [SHAPE]   (defaults: scale 1, 3 runs, shape wide)
#   wide: ~1.5M rows / 80 tables (scripts/bench/generate_postgres.sh);
#   lean: one table of 1M narrow rows and 3 small ones (scripts/bench/generate_postgres_lean.sh).
# Generates the shape's PostgreSQL database once per scale,
# then runs, RUNS times each: (a) pg_dump -Fd -j 2 + pg_restore -j 2 into a new database (the
# yardstick), and (b) `rekey run` (SOURCE -> DB_DATA -> compare -> DB_FINAL, verified, native
# uuid keys). DB_FINAL's empty schema is made before each timed run by `rekey derive-final` (the
# application's migrations in a cutover). Prints per-stage seconds and rows/s of the median rekey
# run, rekey's peak RSS, and the ratio of the medians (b)/(a).
# BENCH_REKEY="name=binary ..." (as for the MariaDB shapes; BENCH_PG_VARIANTS is its older name)
# runs several rekey binaries in each round, interleaved (an A/B of two builds:
# "before=/tmp/rekey-old after=target/release/rekey"); the default is the worktree's release
# build alone, reported under the shape's tag.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=scripts/lib/postgres.sh
source scripts/lib/postgres.sh

scale=${1:-1}
runs=${2:-3}
shape=${3:-wide}
prefix=${BENCH_PREFIX:-bench}
# SOURCE is named by the prefix too (bench_pg_src by default), so benches side by side never
# regenerate each other's.
case $shape in
    wide) src=${prefix}_pg_src generator=scripts/bench/generate_postgres.sh ;;
    lean) src=${prefix}_pg_lean_src generator=scripts/bench/generate_postgres_lean.sh ;;
    *) echo "unknown PostgreSQL shape $shape (wide, lean)" >&2; exit 2 ;;
esac
tag=pg_${shape}_$(printf '%s' "$scale" | tr -c 'a-zA-Z0-9' '_')
out_dir=${TMPDIR:-/tmp}/rekey-$prefix
mkdir -p "$out_dir"
base=$PG_DEFAULT_URL
export PGOPTIONS="-c client_min_messages=warning"

ensure_postgres
for tool in pg_dump pg_restore bc python3; do
    have "$tool" || die "$tool is missing (apt-get install postgresql-client bc python3)"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install time)"

log "building rekey (release)"
cargo build --release -j 2 -q
read -r -a variants <<<"${BENCH_REKEY:-${BENCH_PG_VARIANTS:-=target/release/rekey}}"

psql_db() { PGPASSWORD='' psql -X -w -q -h "$(pg_host)" -p "$(pg_port)" -U postgres -v ON_ERROR_STOP=1 -At -d "$1" "${@:2}"; }
drop_db() { pg_sql "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null; }

if [[ $(psql_db "$src" -c "SELECT scale FROM bench_meta" 2>/dev/null || true) != "$scale" ]]; then
    log "generating $src at scale $scale"
    drop_db "$src"
    pg_sql "CREATE DATABASE $src"
    start=$(date +%s.%N)
    "$generator" "$scale" | psql_db "$src" >/dev/null
    log "generated in $(echo "$(date +%s.%N) - $start" | bc) s"
fi
read -r tables bytes < <(psql_db "$src" -F ' ' -c "SELECT count(*), sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'bench_meta'")
exact_rows=0
while read -r t; do
    exact_rows=$((exact_rows + $(psql_db "$src" -c "SELECT count(*) FROM \"$t\"")))
done < <(psql_db "$src" -c "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'bench_meta'")
log "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(pg_sql 'SHOW server_version'); shared_buffers=$(pg_sql 'SHOW shared_buffers'); max_wal_size=$(pg_sql 'SHOW max_wal_size'); synchronous_commit=$(pg_sql 'SHOW synchronous_commit')"
log "$shape, scale $scale: $tables tables, $exact_rows rows, $((bytes / 1000000)) MB (data + indexes)"

copy_times=()
declare -A rekey_times=()
for ((i = 1; i <= runs; i++)); do
    # (a) the yardstick: pg_dump -Fd -j 2 and pg_restore -j 2 into a new database.
    rm -rf "$out_dir/pgdump"
    drop_db ${prefix}_pg_copy
    start=$(date +%s.%N)
    pg_dump -h "$(pg_host)" -p "$(pg_port)" -U postgres -w -Fd -j 2 -f "$out_dir/pgdump" "$src"
    pg_sql "CREATE DATABASE ${prefix}_pg_copy" >/dev/null
    pg_restore -h "$(pg_host)" -p "$(pg_port)" -U postgres -w -j 2 -d ${prefix}_pg_copy "$out_dir/pgdump"
    copy=$(echo "$(date +%s.%N) - $start" | bc)
    copy_times+=("$copy")
    drop_db ${prefix}_pg_copy
    rm -rf "$out_dir/pgdump"

    # (b) rekey end to end, verified, once per variant.
    for variant in "${variants[@]}"; do
        name=${variant%%=*}
        rekey=${variant#*=}
        vtag=$tag${name:+-$name}
        drop_db ${prefix}_pg_data
        drop_db ${prefix}_pg_final
        run_dir="$out_dir/run-$vtag-$i"
        rm -rf "$run_dir"
        "$rekey" derive-final --source "$base/$src" --final "$base/${prefix}_pg_final" --uuid-format native \
            --run-dir "$run_dir" -q >/dev/null
        start=$(date +%s.%N)
        /usr/bin/time -f '%M' -o "$out_dir/rss-$vtag-$i" "$rekey" run --source "$base/$src" --data "$base/${prefix}_pg_data" \
            --final "$base/${prefix}_pg_final" --uuid-format native --jobs 2 --run-dir "$run_dir" -q >/dev/null
        took=$(echo "$(date +%s.%N) - $start" | bc)
        rekey_times[$vtag]="${rekey_times[$vtag]:-} $took"
        log "run $i: pg_dump + pg_restore $(printf '%.2f' "$copy") s; rekey${name:+ ($name)} $(printf '%.2f' "$took") s, peak RSS $(($(cat "$out_dir/rss-$vtag-$i") / 1024)) MB"
    done
done
drop_db ${prefix}_pg_data
drop_db ${prefix}_pg_final

for variant in "${variants[@]}"; do
name=${variant%%=*}
vtag=$tag${name:+-$name}
python3 - "$out_dir" "$vtag" "$exact_rows" "${copy_times[*]}" "${rekey_times[$vtag]}" <<'PY'
import json, statistics, sys
out_dir, tag, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
copies = [float(x) for x in sys.argv[4].split()]
rekeys = [float(x) for x in sys.argv[5].split()]
median = statistics.median_low(rekeys)
run = rekeys.index(median) + 1
report = json.load(open(f"{out_dir}/run-{tag}-{run}/report.json"))
assert report["status"] == "ok", report.get("error")
assert all(v["ok"] for v in report["verification"]), "verification failed"
rss = max(int(open(f"{out_dir}/rss-{tag}-{i}").read().split()[-1]) for i in range(1, len(rekeys) + 1)) / 1024
print(f"\nrekey run on PostgreSQL (median of {len(rekeys)}, run {run}), verified: {len(report['verification'])} tables identical")
print(f"{'stage':14}{'seconds':>10}{'rows':>12}{'rows/s':>12}")
for s in report["stages"]:
    rate = f"{s['rows'] / s['seconds']:.0f}" if s["seconds"] > 0 and s["rows"] else "-"
    note = "   (before the run: not timed)" if s["name"] == "derive-final" else ""
    print(f"{s['name']:14}{s['seconds']:>10.2f}{s['rows']:>12}{rate:>12}{note}")
copy = statistics.median(copies)
print(f"\nplain copy (pg_dump -Fd -j 2 + pg_restore -j 2): median {copy:.2f} s  runs {' '.join(f'{c:.2f}' for c in copies)}  ({rows / copy:.0f} rows/s)")
print(f"rekey end to end:                              median {median:.2f} s  runs {' '.join(f'{r:.2f}' for r in rekeys)}")
print(f"rows: {rows}; rekey {median / rows * 1e6:.2f} s per million rows; peak RSS {rss:.0f} MB")
print(f"ratio rekey / plain copy: {median / copy:.2f}")
print(f"{tag}: rows {rows}, plain copy {copy:.2f} s ({rows / copy:.0f} rows/s), rekey {median:.2f} s, {median / rows * 1e6:.2f} s per million rows, peak RSS {rss:.0f} MB, ratio {median / copy:.2f}")
PY
done
