#!/usr/bin/env bash
# The move column of the benchmark (scripts/bench.sh SCALE RUNS cross [SHAPE]): a MariaDB
# database moved to PostgreSQL.
#   scripts/bench/cross.sh [SCALE] [RUNS] [SHAPE]   (defaults: scale 1, 3 runs, shape wide)
# SHAPE is one of the MariaDB shapes (wide, narrow, lean: scripts/bench/generate_SHAPE.sh),
# generated once per scale (the same databases scripts/bench.sh uses). Each round runs,
# interleaved: (a) Debian's pgloader, a plain copy of the database to PostgreSQL (its defaults:
# schema and rows, integer keys kept, nothing verified), and (b) `rekey run --derive-final`
# from MariaDB to PostgreSQL: rows copied by meaning and checked, keys converted to uuid,
# DB_FINAL derived, loaded and verified (the schema is made inside the timed run, as pgloader
# makes its own). Prints per-stage seconds of the median rekey run, peak RSS, and the ratio of
# the medians (b)/(a); below 1.0 rekey is faster.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=scripts/lib/mariadb.sh
source scripts/lib/mariadb.sh
# shellcheck source=scripts/lib/postgres.sh
source scripts/lib/postgres.sh

scale=${1:-1}
runs=${2:-3}
shape=${3:-wide}
prefix=${BENCH_PREFIX:-bench}
src=bench_${shape}_src
tag=cross_${shape}_$(printf '%s' "$scale" | tr -c 'a-zA-Z0-9' '_')
out_dir=${TMPDIR:-/tmp}/rekey-$prefix
mkdir -p "$out_dir"
export PGOPTIONS="-c client_min_messages=warning"

ensure_mariadb
ensure_postgres
need_pkgs=()
have pgloader || need_pkgs+=(pgloader)
[[ -x /usr/bin/time ]] || need_pkgs+=(time)
have bc || need_pkgs+=(bc)
if ((${#need_pkgs[@]})); then
    log "installing ${need_pkgs[*]} (apt-get)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
[[ -x scripts/bench/generate_$shape.sh ]] || die "unknown shape $shape (wide, narrow, lean)"
log "building rekey (release)"
cargo build --release -j 2 -q
rekey=target/release/rekey

sql() { sql_tcp "$1"; }
drop_pg() { pg_sql "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null; }
my="mysql://root@$DB_HOST:$DB_PORT"
pg="postgres://postgres@$(pg_host):$(pg_port)"

if [[ $(sql "SELECT scale FROM $src.bench_meta" 2>/dev/null || true) != "$scale" ]]; then
    log "generating $src at scale $scale"
    sql "DROP DATABASE IF EXISTS $src; CREATE DATABASE $src DEFAULT CHARSET utf8mb4"
    "scripts/bench/generate_$shape.sh" "$scale" | "$(client_bin)" --protocol=TCP -h"$DB_HOST" -P"$DB_PORT" -uroot "$src"
fi
exact_rows=0
while read -r t; do
    exact_rows=$((exact_rows + $(sql "SELECT COUNT(*) FROM $src.\`$t\`")))
done < <(sql "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$src' AND TABLE_NAME <> 'bench_meta'")
log "machine: $(nproc) cores; $(sql 'SELECT VERSION()'); $(pg_sql 'SHOW server_version'); $(pgloader --version | head -1)"
log "$shape, scale $scale: $exact_rows rows, MariaDB -> PostgreSQL"

copy_times=()
rekey_times=()
for ((i = 1; i <= runs; i++)); do
    # (a) pgloader with its defaults into an empty database.
    drop_pg ${prefix}_pgloader
    pg_sql "CREATE DATABASE ${prefix}_pgloader" >/dev/null
    start=$(date +%s.%N)
    if ! pgloader --quiet "$my/$src" "$pg/${prefix}_pgloader" >"$out_dir/pgloader-$i.log" 2>&1; then
        # Debian's pgloader 3.6.7 sometimes exhausts its SBCL heap here with its defaults
        # ("Heap exhausted during garbage collection"); the round is run again with fewer rows
        # prefetched, as its documentation advises, and says so.
        grep -m1 -o 'Heap exhausted[^.]*' "$out_dir/pgloader-$i.log" >&2 || tail -5 "$out_dir/pgloader-$i.log" >&2
        log "run $i: pgloader failed with its defaults; again with --with 'prefetch rows = 10000'"
        drop_pg ${prefix}_pgloader
        pg_sql "CREATE DATABASE ${prefix}_pgloader" >/dev/null
        start=$(date +%s.%N)
        pgloader --quiet --with "prefetch rows = 10000" "$my/$src" "$pg/${prefix}_pgloader" >"$out_dir/pgloader-$i.log" 2>&1 ||
            { tail -20 "$out_dir/pgloader-$i.log"; die "pgloader failed"; }
    fi
    copy=$(echo "$(date +%s.%N) - $start" | bc)
    copy_times+=("$copy")
    drop_pg ${prefix}_pgloader

    # (b) rekey: the whole move, verified.
    for db in ${prefix}_xdata ${prefix}_xdata_source ${prefix}_xfinal; do drop_pg "$db"; done
    run_dir="$out_dir/run-$tag-$i"
    rm -rf "$run_dir"
    start=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$out_dir/rss-$tag-$i" "$rekey" run --source "$my/$src" \
        --data "$pg/${prefix}_xdata" --final "$pg/${prefix}_xfinal" --derive-final --jobs 2 \
        --run-dir "$run_dir" -q >/dev/null
    took=$(echo "$(date +%s.%N) - $start" | bc)
    rekey_times+=("$took")
    log "run $i: pgloader $(printf '%.2f' "$copy") s; rekey $(printf '%.2f' "$took") s, peak RSS $(($(cat "$out_dir/rss-$tag-$i") / 1024)) MB"
done
for db in ${prefix}_xdata ${prefix}_xdata_source ${prefix}_xfinal; do drop_pg "$db"; done

python3 - "$out_dir" "$tag" "$exact_rows" "${copy_times[*]}" "${rekey_times[*]}" <<'PY'
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
print(f"\nrekey run MariaDB -> PostgreSQL (median of {len(rekeys)}, run {run}), verified: {len(report['verification'])} tables")
print(f"{'stage':14}{'seconds':>10}{'rows':>12}")
for s in report["stages"]:
    print(f"{s['name']:14}{s['seconds']:>10.2f}{s['rows']:>12}")
copy = statistics.median(copies)
print(f"\npgloader (defaults): median {copy:.2f} s  runs {' '.join(f'{c:.2f}' for c in copies)}  ({rows / copy:.0f} rows/s)")
print(f"rekey end to end:    median {median:.2f} s  runs {' '.join(f'{r:.2f}' for r in rekeys)}")
print(f"{tag}: rows {rows}, pgloader {copy:.2f} s, rekey {median:.2f} s, {median / rows * 1e6:.2f} s per million rows, peak RSS {rss:.0f} MB, ratio {median / copy:.2f}")
PY
