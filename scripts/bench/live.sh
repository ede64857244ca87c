#!/usr/bin/env bash
# The live column of the benchmark (issue 22): `scripts/bench.sh SCALE RUNS live mysql|postgres`.
# On the private change-stream servers (scripts/live.sh: binlog MariaDB 127.0.0.1:3316,
# wal_level=logical PostgreSQL 127.0.0.1:5442), SOURCE is the lean shape at SCALE (MariaDB:
# scripts/bench/generate_lean.sh, PostgreSQL: generate_postgres_lean.sh) plus the writer's own
# two tables. The writer (examples/live_writer.rs) writes BENCH_LIVE_RATE row writes/s (default
# 1000: inserts, updates, a re-pointed reference, a delete that cascades) from before
# `rekey run --follow` starts until the cutover; once `rekey status` says following and the lag
# is under a second (caught up with what was written during the copy, as an operator would wait
# for), it follows SOURCE for BENCH_LIVE_FOLLOW seconds (default 10), then the writer stops (the
# application's writes stopped) and `rekey cutover` runs. Printed per run: the write freeze (from
# the writer's stop to a verified DB_FINAL: the cutover's own figure plus the gap before it), the
# writer's real rate, the follower's apply rate and largest lag; and an independent check that
# DB_FINAL has SOURCE's rows (per-table counts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=scripts/lib/mariadb.sh
source scripts/lib/mariadb.sh
# shellcheck source=scripts/lib/postgres.sh
source scripts/lib/postgres.sh
# shellcheck source=scripts/lib/live.sh
source scripts/lib/live.sh

scale=${1:-1}
runs=${2:-1}
engine=${3:-mysql}
rate=${BENCH_LIVE_RATE:-1000}
follow_secs=${BENCH_LIVE_FOLLOW:-10}
prefix=${BENCH_PREFIX:-bench}
out_dir=${TMPDIR:-/tmp}/rekey-$prefix-live
mkdir -p "$out_dir"

live_up
log "building rekey and the writer (release)"
cargo build --release -j 2 -q
cargo build --release -j 2 -q --example live_writer
rekey=target/release/rekey
writer=target/release/examples/live_writer

tag=live-$engine-$scale
case $engine in
mysql)
    base=$LIVE_MY_URL
    src=${prefix}_live_src
    sql() { live_my_sql "$1"; }
    count() { live_my_sql "SELECT COUNT(*) FROM \`$1\`.\`$2\`"; }
    tables() { live_my_sql "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$1' AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME NOT LIKE '\\_rekey%' AND TABLE_NAME <> 'bench_meta'"; }
    drop_db() { live_my_sql "DROP DATABASE IF EXISTS \`$1\`"; }
    meaning() { live_my_sql "SET SESSION group_concat_max_len = 1073741824; SELECT MD5(GROUP_CONCAT(m ORDER BY m SEPARATOR ',')) FROM (SELECT CONCAT(c.note, '|', p.note) AS m FROM \`$1\`.live_child c JOIN \`$1\`.live_parent p ON p.id = c.parent_id) x"; }
    if [[ $(sql "SELECT scale FROM $src.bench_meta" 2>/dev/null || true) != "$scale" ]]; then
        log "generating $src at scale $scale"
        drop_db "$src"
        sql "CREATE DATABASE $src DEFAULT CHARSET utf8mb4"
        scripts/bench/generate_lean.sh "$scale" | "$(client_bin)" --protocol=TCP -h127.0.0.1 -P"$LIVE_MY_PORT" -uroot "$src"
    fi
    ;;
postgres)
    base=$LIVE_PG_URL
    src=${prefix}_live_src
    pg() { PGCONNECT_TIMEOUT=3 psql -X -w -q -h 127.0.0.1 -p "$LIVE_PG_PORT" -U postgres -v ON_ERROR_STOP=1 -At -d "$1" "${@:2}"; }
    sql() { live_pg_sql "$1"; }
    count() { pg "$1" -c "SELECT count(*) FROM \"$2\""; }
    tables() { pg "$1" -c "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' AND relname NOT LIKE '\\_rekey%' AND relname <> 'bench_meta'"; }
    drop_db() { live_pg_sql "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"; }
    meaning() { pg "$1" -c "SELECT md5(string_agg(c.note || '|' || p.note, ',' ORDER BY c.note || '|' || p.note)) FROM live_child c JOIN live_parent p ON p.id = c.parent_id"; }
    if [[ $(pg "$src" -c "SELECT scale FROM bench_meta" 2>/dev/null || true) != "$scale" ]]; then
        log "generating $src at scale $scale"
        drop_db "$src"
        live_pg_sql "CREATE DATABASE \"$src\""
        scripts/bench/generate_postgres_lean.sh "$scale" | pg "$src" >/dev/null
    fi
    ;;
*) die "live bench: engine $engine is not mysql or postgres" ;;
esac

results=()
for ((i = 1; i <= runs; i++)); do
    run_dir=$out_dir/run-$tag-$i
    stop=$out_dir/stop-$tag-$i
    rm -rf "$run_dir" "$stop"
    "$rekey" clean --run-dir "$run_dir" -q >/dev/null 2>&1 || true
    for db in "${prefix}_live_data" "${prefix}_live_final" "${prefix}_live_data_snapshot"; do drop_db "$db"; done
    "$writer" setup "$base/$src"
    rows=0
    for t in $(tables "$src"); do rows=$((rows + $(count "$src" "$t"))); done
    "$writer" run "$base/$src" "$rate" "$stop" >"$out_dir/writer-$tag-$i" &
    writer_pid=$!
    sleep 2
    start=$(date +%s.%N)
    "$rekey" run --follow --derive-final --source "$base/$src" --data "$base/${prefix}_live_data" \
        --final "$base/${prefix}_live_final" --run-dir "$run_dir" -q >"$out_dir/follow-$tag-$i" 2>&1 &
    follower=$!
    until "$rekey" status --run-dir "$run_dir" --json 2>/dev/null | grep -q '"state": "following"'; do
        kill -0 "$follower" 2>/dev/null || { cat "$out_dir/follow-$tag-$i"; die "the follower ended before following"; }
        sleep 0.2
    done
    reached=$(echo "$(date +%s.%N) - $start" | bc)
    # An operator cuts over once `rekey status` shows the follower caught up: lag under a second.
    until "$rekey" status --run-dir "$run_dir" --json 2>/dev/null |
        python3 -c 'import json,sys; f=json.load(sys.stdin).get("follow") or {}; lag=f.get("lag_seconds"); sys.exit(0 if lag is not None and lag < 1 else 1)'; do
        kill -0 "$follower" 2>/dev/null || { cat "$out_dir/follow-$tag-$i"; die "the follower ended before catching up"; }
        sleep 0.5
    done
    caught=$(echo "$(date +%s.%N) - $start" | bc)
    sleep "$follow_secs"
    # The application stops writing: the freeze starts.
    touch "$stop"
    wait "$writer_pid"
    frozen=$(date +%s.%N)
    "$rekey" cutover --run-dir "$run_dir" -q >"$out_dir/cutover-$tag-$i"
    freeze=$(echo "$(date +%s.%N) - $frozen" | bc)
    wait "$follower"
    # Independent check: every table's rows counted on both sides, and the writer's rows by what
    # they mean (each child's note with its parent's, joined through each side's own keys).
    for t in $(tables "$src"); do
        a=$(count "$src" "$t")
        b=$(count "${prefix}_live_final" "$t")
        [[ $a == "$b" ]] || die "$t: $a rows on SOURCE, $b in DB_FINAL"
    done
    a=$(meaning "$src")
    b=$(meaning "${prefix}_live_final")
    [[ $a == "$b" ]] || die "the writer's rows differ: $a on SOURCE, $b in DB_FINAL"
    read -r _ writes _ txns _ wsecs _ wrate <"$out_dir/writer-$tag-$i"
    line=$(python3 - "$run_dir/report.json" "$freeze" "$reached" "$rows" "$writes" "$wsecs" "$wrate" "$tag" "$caught" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
live = report["live"]
cut = live["cutover"]
lag = max((p[1] for p in live["lag_timeline"]), default=0.0)
freeze, reached, rows, writes, wsecs, wrate, tag, caught = sys.argv[2:10]
phases = "; ".join(f"{w} {s:.2} s" for w, s in cut.get("phases", []))
print(f"{tag}: rows {rows}, writer {writes} row writes in {float(wsecs):.0f} s ({float(wrate):.0f}/s), "
      f"following after {float(reached):.1f} s, caught up after {float(caught):.1f} s, applied {live['changes']} row changes at {live['apply_rate'] or 0:.0f}/s, "
      f"largest lag {lag:.1f} s, write freeze {float(freeze):.2f} s (cutover's own figure {cut['freeze_seconds']:.2f} s), "
      f"{cut['verified_rows']} changed rows checked in the freeze, counts and the writer's rows equal; the freeze: {phases}")
PY
)
    log "$line"
    results+=("$line")
    "$rekey" clean --run-dir "$run_dir" -q >/dev/null 2>&1 || true
    drop_db "${prefix}_live_final"
done
printf '\n==> live summary (scale %s, %s run(s), writer %s row writes/s)\n' "$scale" "$runs" "$rate"
printf '%s\n' "${results[@]}"
