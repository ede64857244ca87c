#!/usr/bin/env bash
# Benchmark: rekey end to end against a plain parallel copy of the same database, on two shapes
# of data (the yardstick's own speed depends on the shape):
#   scripts/bench.sh [SCALE] [RUNS] [SHAPE...]   (defaults: scale 1 = ~1.44M rows, 3 runs, wide narrow lean)
#   wide:   80 tables, wide rows, many secondary indexes (scripts/bench/generate_wide.sh)
#   narrow: 81 tables, narrow rows, only the indexes foreign keys need, two large log tables
#           (scripts/bench/generate_narrow.sh)
#   lean:   81 tables, rows under 120 bytes, only primary, unique and foreign-key indexes, most
#           rows in two log tables: where the plain copy is fastest (scripts/bench/generate_lean.sh)
#   postgres [wide|lean] (alone): the PostgreSQL column, scripts/bench/postgres.sh: the wide shape,
#           or one table of 1M narrow rows and 3 small ones, against pg_dump -Fd -j 2 + pg_restore -j 2
#   cross [wide|narrow|lean] (alone): a MariaDB shape moved to PostgreSQL, scripts/bench/cross.sh:
#           rekey run --derive-final (keys converted, verified) against Debian's pgloader
#   live [mysql|postgres] (alone): the live cutover, scripts/bench/live.sh: write freeze and apply
#           rate with a writer at 1,000 row writes/s during the whole run
# Generates each shape's seed-like MariaDB database once per scale, then runs, RUNS times each,
# interleaved: (a) mydumper + myloader with 2 threads (the yardstick), and (b) `rekey run`
# (SOURCE -> DB_DATA -> compare -> DB_FINAL, verified), once per load path (BENCH_LOAD_PATHS,
# default "auto": the default options; "auto move" adds --load-path move). Prints per-stage seconds and
# rows/s of the median rekey run, rekey's peak RSS, and the ratio of the medians (b)/(a).
# DB_FINAL's empty schema is created before each timed run (in a cutover the application's
# migrations create it before the site goes down), with `rekey derive-final`.
# Both use the server as it is configured; its settings are printed with the results.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ${3:-} == postgres ]]; then
    exec scripts/bench/postgres.sh "${1:-1}" "${2:-3}" "${4:-wide}"
fi
if [[ ${3:-} == cross ]]; then
    exec scripts/bench/cross.sh "${1:-1}" "${2:-3}" "${4:-wide}"
fi
if [[ ${3:-} == live ]]; then
    exec scripts/bench/live.sh "${1:-1}" "${2:-1}" "${4:-mysql}"
fi
# shellcheck source=scripts/lib/mariadb.sh
source scripts/lib/mariadb.sh

scale=${1:-1}
runs=${2:-3}
shift $(($# < 2 ? $# : 2))
shapes=("$@")
((${#shapes[@]})) || shapes=(wide narrow lean)
# BENCH_PREFIX names the databases a run writes (several benches may run at once on one server).
prefix=${BENCH_PREFIX:-bench}
out_dir=${TMPDIR:-/tmp}/rekey-$prefix
mkdir -p "$out_dir"
# The load paths measured: auto keeps DB_DATA as the inspectable converted copy; move builds
# DB_DATA's tables with DB_FINAL's definitions and renames them into DB_FINAL (DB_DATA gives
# its tables up). BENCH_LOAD_PATHS="auto move" measures both.
read -r -a load_paths <<<"${BENCH_LOAD_PATHS:-auto}"

ensure_mariadb
need_pkgs=()
have mydumper || need_pkgs+=(mydumper)
[[ -x /usr/bin/time ]] || need_pkgs+=(time)
have python3 || need_pkgs+=(python3)
have bc || need_pkgs+=(bc)
if ((${#need_pkgs[@]})); then
    log "installing ${need_pkgs[*]} (apt-get)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# BENCH_REKEY="before=/path/to/rekey after=target/release/rekey" times several builds of rekey
# interleaved in the same rounds (A/B on one machine at one moment); each result is named
# LOAD_PATH@LABEL (the PostgreSQL shapes, scripts/bench/postgres.sh, take it too). Unset: the
# worktree's own release build, built here.
declare -A binaries=()
variants=()
if [[ -n ${BENCH_REKEY:-} ]]; then
    for pair in $BENCH_REKEY; do
        [[ $pair == *=* && -x ${pair#*=} ]] || die "BENCH_REKEY: '$pair' is not LABEL=EXECUTABLE"
        binaries[${pair%%=*}]=${pair#*=}
    done
    for path in "${load_paths[@]}"; do
        for pair in $BENCH_REKEY; do variants+=("$path@${pair%%=*}"); done
    done
else
    log "building rekey (release)"
    cargo build --release -j 2 -q
    binaries[default]=target/release/rekey
    variants=("${load_paths[@]}")
fi

sql() { sql_tcp "$1"; }

summary=()
bench_shape() {
    local shape=$1
    local src=bench_${shape}_src
    local tag copy_times=() i copy took start run_dir tables bytes exact_rows t path
    tag=$shape-$(printf '%s' "$scale" | tr -c 'a-zA-Z0-9' '_')
    rm -f "$out_dir/times-$tag-"*
    [[ -x scripts/bench/generate_$shape.sh ]] || die "unknown shape $shape (wide, narrow, lean)"
    if [[ $(sql "SELECT scale FROM $src.bench_meta" 2>/dev/null || true) != "$scale" ]]; then
        log "generating $src at scale $scale"
        sql "DROP DATABASE IF EXISTS $src; CREATE DATABASE $src DEFAULT CHARSET utf8mb4"
        start=$(date +%s.%N)
        "scripts/bench/generate_$shape.sh" "$scale" | "$(client_bin)" --protocol=TCP -h"$DB_HOST" -P"$DB_PORT" -uroot "$src"
        log "generated in $(echo "$(date +%s.%N) - $start" | bc) s"
    fi
    read -r tables _ bytes < <(sql "SELECT COUNT(*), SUM(TABLE_ROWS), SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$src' AND TABLE_NAME <> 'bench_meta'")
    exact_rows=0
    while read -r t; do
        exact_rows=$((exact_rows + $(sql "SELECT COUNT(*) FROM $src.\`$t\`")))
    done < <(sql "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$src' AND TABLE_NAME <> 'bench_meta'")
    log "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(sql 'SELECT VERSION()'); innodb_buffer_pool_size=$(sql 'SELECT @@innodb_buffer_pool_size'); innodb_log_file_size=$(sql 'SELECT @@innodb_log_file_size')"
    log "$shape, scale $scale: $tables tables, $exact_rows rows, $((bytes / 1000000)) MB (data + indexes)"

    for ((i = 1; i <= runs; i++)); do
        # (a) the yardstick: a plain parallel copy with mydumper/myloader, 2 threads.
        rm -rf "$out_dir/dump"
        sql "DROP DATABASE IF EXISTS ${prefix}_copy"
        start=$(date +%s.%N)
        mydumper -h "$DB_HOST" -P "$DB_PORT" -u root -B "$src" -t 2 -o "$out_dir/dump" >/dev/null 2>&1
        myloader -h "$DB_HOST" -P "$DB_PORT" -u root -d "$out_dir/dump" -B ${prefix}_copy -t 2 -o >/dev/null 2>&1
        copy=$(echo "$(date +%s.%N) - $start" | bc)
        copy_times+=("$copy")
        sql "DROP DATABASE IF EXISTS ${prefix}_copy"
        rm -rf "$out_dir/dump"

        # (b) rekey end to end, verified, once per load path (and build, with BENCH_REKEY).
        for variant in "${variants[@]}"; do
            path=${variant%%@*}
            label=${variant#"$path"}
            # A variant without a label (no BENCH_REKEY) runs the default build.
            if [[ -n $label ]]; then rekey=${binaries[${label#@}]}; else rekey=${binaries[default]}; fi
            sql "DROP DATABASE IF EXISTS ${prefix}_data; DROP DATABASE IF EXISTS ${prefix}_final"
            run_dir="$out_dir/run-$tag-$variant-$i"
            rm -rf "$run_dir"
            # DB_FINAL's empty schema is the application's migrations' work, done before the
            # downtime starts; derive-final stands in for them here and is not timed.
            "$rekey" derive-final --source "mysql://root@$DB_HOST:$DB_PORT/$src" \
                --final "mysql://root@$DB_HOST:$DB_PORT/${prefix}_final" --run-dir "$run_dir" -q >/dev/null
            # ...and long before it: InnoDB's statistics task handles a table written under 10 s
            # after its creation otherwise than one created earlier (docs/performance.md, "InnoDB's
            # statistics task"), so the timed run starts on tables as a cutover finds them.
            sleep "${BENCH_FINAL_AGE:-11}"
            start=$(date +%s.%N)
            /usr/bin/time -f '%M' -o "$out_dir/rss-$tag-$variant-$i" "$rekey" run \
                --source "mysql://root@$DB_HOST:$DB_PORT/$src" --data "mysql://root@$DB_HOST:$DB_PORT/${prefix}_data" \
                --final "mysql://root@$DB_HOST:$DB_PORT/${prefix}_final" --jobs 2 --load-path "$path" \
                --run-dir "$run_dir" -q >/dev/null
            took=$(echo "$(date +%s.%N) - $start" | bc)
            echo "$took" >>"$out_dir/times-$tag-$variant"
            log "run $i: plain copy $(printf '%.2f' "$copy") s; rekey --load-path $variant $(printf '%.2f' "$took") s, peak RSS $(($(cat "$out_dir/rss-$tag-$variant-$i") / 1024)) MB"
        done
    done
    sql "DROP DATABASE IF EXISTS ${prefix}_data; DROP DATABASE IF EXISTS ${prefix}_final"

    for variant in "${variants[@]}"; do
        python3 - "$out_dir" "$tag" "$exact_rows" "${copy_times[*]}" "$variant" <<'PY'
import json, statistics, sys
out_dir, tag, rows, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[5]
copies = [float(x) for x in sys.argv[4].split()]
rekeys = [float(x) for x in open(f"{out_dir}/times-{tag}-{path}").read().split()]
median = statistics.median_low(rekeys)
run = rekeys.index(median) + 1
report = json.load(open(f"{out_dir}/run-{tag}-{path}-{run}/report.json"))
assert report["status"] == "ok", report.get("error")
assert all(v["ok"] for v in report["verification"]), "verification failed"
rss = max(int(open(f"{out_dir}/rss-{tag}-{path}-{i}").read().split()[-1]) for i in range(1, len(rekeys) + 1)) / 1024
print(f"\nrekey run --load-path {path} (median of {len(rekeys)}, run {run}), verified: {len(report['verification'])} tables identical")
print(f"{'stage':14}{'seconds':>10}{'rows':>12}{'rows/s':>12}")
for s in report["stages"]:
    rate = f"{s['rows'] / s['seconds']:.0f}" if s["seconds"] > 0 and s["rows"] else "-"
    note = "   (before the run: not timed)" if s["name"] == "derive-final" else ""
    print(f"{s['name']:14}{s['seconds']:>10.2f}{s['rows']:>12}{rate:>12}{note}")
copy = statistics.median(copies)
print(f"\nplain copy (mydumper + myloader, 2 threads): median {copy:.2f} s  runs {' '.join(f'{c:.2f}' for c in copies)}  ({rows / copy:.0f} rows/s)")
print(f"rekey end to end (--load-path {path}):{'':>{max(0, 8 - len(path))}} median {median:.2f} s  runs {' '.join(f'{r:.2f}' for r in rekeys)}")
print(f"rows: {rows}; rekey {median / rows * 1e6:.2f} s per million rows; peak RSS {rss:.0f} MB")
print(f"ratio rekey / plain copy: {median / copy:.2f}")
open(f"{out_dir}/summary-{tag}-{path}", "w").write(f"{tag} --load-path {path}: rows {rows}, plain copy {copy:.2f} s ({rows / copy:.0f} rows/s), rekey {median:.2f} s, {median / rows * 1e6:.2f} s per million rows, peak RSS {rss:.0f} MB, ratio {median / copy:.2f}\n")
PY
        summary+=("$(cat "$out_dir/summary-$tag-$variant")")
    done
}

for shape in "${shapes[@]}"; do
    bench_shape "$shape"
done
printf '\n==> summary (scale %s, median of %s)\n' "$scale" "$runs"
printf '%s\n' "${summary[@]}"
