#!/usr/bin/env bash
# The adversarial operator's session, repeatable, and run by scripts/test.sh in CI. Every case
# states what must happen (an exit code, and what must or must not be there afterwards); the
# script prints one line per case and ends with "adversarial: N passed, M failed" (exit 1 if any
# case failed).
#   1. MariaDB: a run killed in its load, then every wrong URL an operator could type (SOURCE
#      under another host name, another loaded database, another server) for each role, foreign
#      cleans, a second process on the run directory; SOURCE's checksum before, between and after.
#   2. MariaDB and PostgreSQL: the cases of issue 20 (DB_FINAL's own foreign keys, hostile table
#      names, tables named like bookkeeping or like rekey's own, conflicting --reference, missing
#      schema, empty SOURCE, partitions on a key, what keys and files reveal, clean keeping map/,
#      work-column names, two runs on one DB_DATA, non-integer references, passwords in URL
#      errors, SOURCE changed during a run).
# Needs MariaDB on 127.0.0.1:3306 and PostgreSQL on 127.0.0.1:5432 (scripts/test.sh starts them);
# starts a second, throwaway MariaDB on 127.0.0.1:3307 (data in /var/tmp/rekey-adversarial) to be
# "another server" (its own tmpdir and error log there: nothing of it reaches the shared server),
# and stops it at the end.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q || exit 3
B=$PWD/target/release/rekey
D2=/var/tmp/rekey-adversarial
if ! mysql -uroot -h127.0.0.1 -P3307 -e 'select 1' >/dev/null 2>&1; then
    rm -rf "$D2"; mkdir -p "$D2/tmp"; chown -R mysql:mysql "$D2"
    # Its own tmpdir, for the installer's bootstrap server too: mariadbd deletes every #sql* file
    # in its tmpdir when it starts, and /tmp holds the shared server's internal temporary tables.
    mariadb-install-db --user=mysql --datadir="$D2/data" --tmpdir="$D2/tmp" >/dev/null 2>&1
    (mariadbd --user=mysql --datadir="$D2/data" --tmpdir="$D2/tmp" --port=3307 \
        --bind-address=127.0.0.1 --socket="$D2/sock" --pid-file="$D2/pid" --log-error="$D2/error.log" --skip-log-bin \
        --innodb-buffer-pool-size=64M >"$D2/log" 2>&1 &)
    for _ in $(seq 60); do [[ -S $D2/sock ]] && break; sleep 0.5; done
    sleep 1
    mysql -uroot -S "$D2/sock" -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION"
fi
# Stop the throwaway server by the pid its own pid file names, and only if that process is a
# mariadbd started on $D2 (never a client command that could reach the shared server).
stop_second() {
    local pid
    pid=$(cat "$D2/pid" 2>/dev/null) || return 0
    [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"--datadir=$D2/data"* ]] || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
}
trap stop_second EXIT
M="mysql -uroot -h127.0.0.1 -N -B"
export PGOPTIONS="-c client_min_messages=warning"
P="psql -h 127.0.0.1 -U postgres -X -q -v ON_ERROR_STOP=1 -At"
S=adv_src; D=adv_data; F=adv_final; O=adv_other
TMP=$(mktemp -d)
R=$TMP/run
passed=0; failed=0

# expect CODES WHAT CMD...: runs CMD, the case holds when its exit code is one of CODES
# (comma-separated). Leaves the output in $out and the code in $code.
expect() {
    local codes=$1 what=$2; shift 2
    out=$("$@" 2>&1); code=$?
    if [[ ",$codes," == *",$code,"* ]]; then verdict=ok; else verdict=FAILED; fi
    report "$verdict" "$what" "exit $code (want $codes) | $(echo "$out" | tail -1 | cut -c1-150)"
}
# check WHAT TEST...: a case that holds when the shell test holds.
check() {
    local what=$1; shift
    if "$@"; then report ok "$what" ""; else report FAILED "$what" "$*"; fi
}
# refute WHAT TEST...: a case that holds when the shell test does not.
refute() {
    local what=$1; shift
    if "$@"; then report FAILED "$what" "not: $*"; else report ok "$what" ""; fi
}
report() {
    if [[ $1 == ok ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    printf '%-6s %-64s %s\n' "$1" "$2" "$3"
}
mexists() { [[ $($M -e "select count(*) from information_schema.schemata where schema_name='$1'") == 1 ]]; }
pexists() { [[ $($P -d postgres -c "select count(*) from pg_database where datname='$1'") == 1 ]]; }
mfresh() { for db in "$@"; do $M -e "DROP DATABASE IF EXISTS \`$db\`"; done; }
pfresh() { for db in "$@"; do $P -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"; done; }

echo "== 1. MariaDB: wrong URLs around a killed run"
mfresh $S $D $F $O
$M -P3307 -e "DROP DATABASE IF EXISTS $F; DROP DATABASE IF EXISTS $S"
$M -e "CREATE DATABASE $S; CREATE DATABASE $F; CREATE DATABASE $O"
$M $S < fixtures/blog/mysql/source.sql; $M $F < fixtures/blog/mysql/final.sql; $M $O < fixtures/blog/mysql/source.sql
$M -P3307 -e "CREATE DATABASE $F; CREATE DATABASE $S"; $M -P3307 $F < fixtures/blog/mysql/final.sql; $M -P3307 $S < fixtures/blog/mysql/source.sql
checksum() { $M $S -e "CHECKSUM TABLE $(echo $($M -e "select group_concat(table_name) from information_schema.tables where table_schema='$S'")) EXTENDED" | md5sum | cut -c1-12; }
before=$(checksum)
U=mysql://root@127.0.0.1:3306; L=mysql://root@localhost:3306; X=mysql://root@127.0.0.1:3307
REKEY_TEST_STALL_AFTER_STEP=load $B run --source $U/$S --data $U/$D --final $U/$F --run-dir $R -q & pid=$!
while [ ! -f $R/stalled ]; do sleep 0.1; done
expect 2 "second run while the first lives" $B run --source $U/$S --data $U/$D --final $U/$F --run-dir $R -q
expect 2 "--resume while the first lives" $B run --source $U/$S --data $U/$D --final $U/$F --run-dir $R -q --resume
cp -r $R $TMP/copied
expect 2 "a copied run directory resumed over the live run" $B run --source $U/$S --data $U/$D --final $U/$F --run-dir $TMP/copied -q --resume
expect 2 "a second run dir on the same DB_DATA" $B run --source $U/$S --data $U/$D --final $U/$O --run-dir $TMP/second -q
kill -9 $pid; wait $pid 2>/dev/null
expect 2 "resume, --final = SOURCE (localhost)" $B run --source $U/$S --data $U/$D --final $L/$S --run-dir $R -q --resume
expect 2 "resume, --final = another loaded database" $B run --source $U/$S --data $U/$D --final $U/$O --run-dir $R -q --resume
expect 2 "resume, --final on another server (same name)" $B run --source $U/$S --data $U/$D --final $X/$F --run-dir $R -q --resume
expect 2 "resume, --data = SOURCE" $B run --source $U/$S --data $L/$S --final $U/$F --run-dir $R -q --resume
expect 2 "resume, --data = another loaded database" $B run --source $U/$S --data $U/$O --final $U/$F --run-dir $R -q --resume
expect 2 "resume, --data on another server" $B run --source $U/$S --data $X/$D --final $U/$F --run-dir $R -q --resume
expect 2 "resume, --source = another loaded database" $B run --source $U/$O --data $U/$D --final $U/$F --run-dir $R -q --resume
expect 2 "resume, --source on another server (same name)" $B run --source $X/$S --data $U/$D --final $U/$F --run-dir $R -q --resume
expect 2 "clean --data = SOURCE" $B clean --run-dir $R --data $U/$S
expect 2 "clean --data = another database" $B clean --run-dir $R --data $U/$O
expect 2 "clean --final = another server's database" $B clean --run-dir $R --final $X/$F
expect 2 "load into SOURCE on the run dir" $B load --data $U/$D --final $L/$S --run-dir $R -q
check "SOURCE unchanged by the refusals" [ "$(checksum)" == "$before" ]
expect 0 "resume under localhost names" $B run --source $L/$S --data $L/$D --final $L/$F --run-dir $R -q --resume
check "run directory is private (0700)" [ "$(stat -c %a $R)" == 700 ]
check "run files are private (0600)" [ -z "$(find $R -type f ! -perm 600)" ]
expect 0 "clean --dry-run" $B clean --run-dir $R --dry-run
check "clean --dry-run names what it would drop" grep -q "$D" <<<"$out"
check "clean --dry-run dropped nothing" mexists $D
expect 0 "clean (URLs from the journal)" $B clean --run-dir $R
check "clean keeps map/ (old id -> new id)" [ -s $R/map/user.csv ]
check "SOURCE unchanged at the end" [ "$(checksum)" == "$before" ]
check "the other database untouched" [ "$($M -e "select count(*) from information_schema.tables where table_schema='$O'")" -gt 0 ]

echo "== 2. MariaDB: what the adversarial operator found (issue 20)"
# prep_m NAME SOURCE_SQL [FINAL_SQL]: fresh SOURCE (and DB_FINAL when given) for a case; run_m NAME
# ARGS...: rekey run on them (exec, so that a background run's $! is rekey's own PID).
prep_m() {
    mfresh "${1}_s" "${1}_d" "${1}_f"
    $M -e "CREATE DATABASE \`${1}_s\`"; $M "${1}_s" -e "$2"
    if [[ -n ${3:-} ]]; then $M -e "CREATE DATABASE \`${1}_f\`"; $M "${1}_f" -e "$3"; fi
    rm -rf "$TMP/$1"
}
run_m() { local n=$1; shift; exec $B run --source "$U/${n}_s" --data "$U/${n}_d" --final "$U/${n}_f" --run-dir "$TMP/$n" -q "$@"; }

prep_m adv_fk "CREATE TABLE countries (code CHAR(2) PRIMARY KEY); INSERT INTO countries VALUES ('DE');
  CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, country CHAR(2)); INSERT INTO users (country) VALUES ('DE'), ('XX');" \
  "CREATE TABLE countries (code CHAR(2) PRIMARY KEY);
  CREATE TABLE users (id CHAR(32) PRIMARY KEY, country CHAR(2), FOREIGN KEY (country) REFERENCES countries(code));"
expect 2 "10 DB_FINAL adds a foreign key SOURCE's rows break" run_m adv_fk
refute "10 ... refused before DB_DATA was written" mexists adv_fk_d
check "10 ... and DB_FINAL holds no row" [ "$($M -e 'select count(*) from adv_fk_f.users')" == 0 ]

prep_m adv_two "CREATE TABLE a (id INT PRIMARY KEY); CREATE TABLE b (id INT PRIMARY KEY); INSERT INTO a VALUES (1),(2); INSERT INTO b VALUES (1);
  CREATE TABLE c (id INT PRIMARY KEY, x INT, FOREIGN KEY (x) REFERENCES a(id)); INSERT INTO c VALUES (1, 2);" \
  "CREATE TABLE a (id CHAR(32) PRIMARY KEY); CREATE TABLE b (id CHAR(32) PRIMARY KEY);
  CREATE TABLE c (id CHAR(32) PRIMARY KEY, x CHAR(32), FOREIGN KEY (x) REFERENCES a(id), FOREIGN KEY (x) REFERENCES b(id));"
expect 2 "10 a column with foreign keys to two converted tables" run_m adv_two

prep_m adv_esc "CREATE TABLE \`../../adv_escaped\` (id INT PRIMARY KEY, v INT); INSERT INTO \`../../adv_escaped\` VALUES (1, 1), (2, 2);"
rm -f "$TMP/../adv_escaped.csv" /tmp/adv_escaped.csv
expect 0 "11 a table named ../../adv_escaped converts" run_m adv_esc --derive-final
check "11 ... nothing written outside the run directory" [ ! -e "$TMP/../adv_escaped.csv" ]
check "11 ... its map file is inside the run directory" [ -n "$(find "$TMP/adv_esc/map" -type f -name '*adv_escaped*')" ]

prep_m adv_mig "CREATE TABLE users (id INT PRIMARY KEY); INSERT INTO users VALUES (1),(2);
  CREATE TABLE Migrations (id INT PRIMARY KEY, user_id INT, FOREIGN KEY (user_id) REFERENCES users(id)); INSERT INTO Migrations VALUES (1,1),(2,2),(3,NULL);"
expect 0 "12 an application table named Migrations" run_m adv_mig --derive-final
check "12 ... is loaded (3 rows)" [ "$($M -e 'select count(*) from adv_mig_f.Migrations')" == 3 ]

prep_m adv_pfx "CREATE TABLE users (id INT PRIMARY KEY); CREATE TABLE _rekey_notes (id INT PRIMARY KEY, t TEXT); INSERT INTO _rekey_notes VALUES (1,'x');"
expect 2 "12 a SOURCE table with rekey's prefix is refused" run_m adv_pfx --derive-final
refute "12 ... before DB_DATA was written" mexists adv_pfx_d

prep_m adv_poly "CREATE TABLE posts (id INT PRIMARY KEY); CREATE TABLE users (id INT PRIMARY KEY); INSERT INTO posts VALUES (1); INSERT INTO users VALUES (1);
  CREATE TABLE comments (id INT PRIMARY KEY, commentable_type VARCHAR(20), commentable_id INT); INSERT INTO comments VALUES (1, 'post', 1), (2, 'user', 1);"
expect 2 "13 two --reference targets for one column" run_m adv_poly --derive-final --reference comments.commentable_id=posts.id --reference comments.commentable_id=users.id
expect 0 "13 plan of a *_type + *_id pair" $B plan --source "$U/adv_poly_s"
check "13 ... warns about the polymorphic column" grep -qi "polymorphic\|commentable_type" <<<"$out"

prep_m adv_contra "CREATE TABLE a (id INT PRIMARY KEY); CREATE TABLE b (id INT PRIMARY KEY); INSERT INTO a VALUES (1); INSERT INTO b VALUES (1);
  CREATE TABLE c (id INT PRIMARY KEY, a_id INT, FOREIGN KEY (a_id) REFERENCES a(id)); INSERT INTO c VALUES (1, 1);"
expect 2 "13 a --reference contradicting the column's constraint" run_m adv_contra --derive-final --reference c.a_id=b.id

prep_m adv_work "CREATE TABLE t (id INT PRIMARY KEY, id_upk_copy VARCHAR(10), id_ipk_copy INT); INSERT INTO t VALUES (1, 'keep me', 7);
  CREATE TABLE u (id INT PRIMARY KEY, t_id INT, t_id_ufk_copy INT, FOREIGN KEY (t_id) REFERENCES t(id)); INSERT INTO u VALUES (1, 1, 5);"
expect 0 "18 SOURCE columns named like work columns" run_m adv_work --derive-final
check "18 ... keep their values" [ "$($M -e 'select concat(id_upk_copy, id_ipk_copy) from adv_work_f.t')" == "keep me7" ]

prep_m adv_txt "CREATE TABLE p (id INT PRIMARY KEY); INSERT INTO p VALUES (3);
  CREATE TABLE c (id INT PRIMARY KEY, p_ref VARCHAR(10)); INSERT INTO c VALUES (1, '3'), (2, '3abc');"
expect 2 "20 --reference on a text column holding '3abc'" run_m adv_txt --derive-final --reference c.p_ref=p.id
refute "20 ... refused before DB_DATA was written" mexists adv_txt_d

expect 2,3 "20 an unencoded / in a URL password" $B plan --source "mysql://root:se/cr3tpw@127.0.0.1:3306/adv_txt_s"
refute "20 ... the password is not echoed" grep -q "cr3tpw" <<<"$out"

prep_m adv_chg "CREATE TABLE p (id INT PRIMARY KEY, v INT); INSERT INTO p VALUES (1, 1), (2, 2);"
REKEY_TEST_STALL_AFTER_STEP=clone run_m adv_chg --derive-final & pid=$!
for _ in $(seq 300); do [ -f "$TMP/adv_chg/stalled" ] && break; sleep 0.1; done
kill -9 $pid; wait $pid 2>/dev/null
$M adv_chg_s -e "INSERT INTO p VALUES (3, 3)"
expect 1,2,3 "20 SOURCE changed during the run is not called verified" run_m adv_chg --derive-final --resume

prep_m adv_empty "DO 0"
expect 2 "14 an empty SOURCE is refused" run_m adv_empty --derive-final

prep_m adv_keys "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t SELECT seq FROM seq_1_to_5000;"
expect 0 "16 default keys" run_m adv_keys --derive-final
check "16 ... do not sort like the old ids" [ "$(sort -t, -k1,1n "$TMP/adv_keys/map/t.csv" | grep -v old | cut -d, -f2 | cut -c1-12 | sort -c 2>&1 | wc -l)" -gt 0 ]
expect 0 "16 plan --help says what v7 reveals" $B help run
check "16 ... (old ids or counts)" grep -qi "reveal" <<<"$out"

echo "== 3. PostgreSQL: what the adversarial operator found (issue 20)"
PU=postgres://postgres@127.0.0.1:5432
prep_p() {
    pfresh "${1}_s" "${1}_d" "${1}_f"
    $P -d postgres -c "CREATE DATABASE ${1}_s"; $P -d "${1}_s" -c "$2"
    if [[ -n ${3:-} ]]; then $P -d postgres -c "CREATE DATABASE ${1}_f"; $P -d "${1}_f" -c "$3"; fi
    rm -rf "$TMP/$1"
}
run_p() { local n=$1; shift; exec $B run --source "$PU/${n}_s" --data "$PU/${n}_d" --final "$PU/${n}_f" --run-dir "$TMP/$n" -q "$@"; }

prep_p adv_pfk "CREATE TABLE users (id serial PRIMARY KEY); CREATE TABLE customers (id serial PRIMARY KEY);
  CREATE TABLE orders (id serial PRIMARY KEY, user_id int REFERENCES users); INSERT INTO users DEFAULT VALUES; INSERT INTO users DEFAULT VALUES;
  INSERT INTO customers DEFAULT VALUES; INSERT INTO orders (user_id) VALUES (2);" \
  "CREATE TABLE users (id uuid PRIMARY KEY); CREATE TABLE customers (id uuid PRIMARY KEY);
  CREATE TABLE orders (id uuid PRIMARY KEY, user_id uuid REFERENCES customers);"
expect 2 "10 DB_FINAL retargets orders.user_id to customers" run_p adv_pfk
refute "10 ... refused before DB_DATA was written" pexists adv_pfk_d

prep_p adv_pesc "CREATE TABLE \"/tmp/adv_x/ABS\" (id int PRIMARY KEY); INSERT INTO \"/tmp/adv_x/ABS\" VALUES (1);"
rm -rf /tmp/adv_x
expect 0 "11 a table named /tmp/adv_x/ABS converts" run_p adv_pesc --derive-final
check "11 ... nothing written at /tmp/adv_x" [ ! -e /tmp/adv_x ]

expect 2 "14 ?schema=pubic (no such schema)" $B run --source "$PU/adv_pesc_s?schema=pubic" --data "$PU/adv_pesc2_d" --final "$PU/adv_pesc2_f" --run-dir "$TMP/pubic" -q --derive-final
refute "14 ... created nothing" pexists adv_pesc2_d

prep_p adv_part "CREATE TABLE ev (id int, v int, PRIMARY KEY (id)) PARTITION BY RANGE (id);
  CREATE TABLE ev_1 PARTITION OF ev FOR VALUES FROM (0) TO (1000); INSERT INTO ev VALUES (1, 1);"
expect 2 "15 a table partitioned on its converted key" run_p adv_part --derive-final
refute "15 ... refused before DB_DATA was written" pexists adv_part_d

prep_p adv_prun "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100);"
REKEY_TEST_STALL_AFTER_STEP=load run_p adv_prun --derive-final & pid=$!
for _ in $(seq 300); do [ -f "$TMP/adv_prun/stalled" ] && break; sleep 0.1; done
expect 2 "19 a second run dir on the same PostgreSQL DB_DATA" $B run --source "$PU/adv_prun_s" --data "$PU/adv_prun_d" --final "$PU/adv_prun_f2" --run-dir "$TMP/adv_prun2" -q --derive-final
kill -9 $pid; wait $pid 2>/dev/null
expect 0 "19 ... the first resumes" run_p adv_prun --derive-final --resume
expect 0 "6 a derived DB_FINAL" true
check "6 ... keeps nothing of rekey's" [ "$($P -d adv_prun_f -c "select count(*) from pg_class where relname like '\\_rekey%'")" == 0 ]
expect 0 "1 clean --dry-run (PostgreSQL)" $B clean --run-dir "$TMP/adv_prun" --dry-run
check "1 ... names DB_DATA" grep -q adv_prun_d <<<"$out"
check "1 ... drops nothing" pexists adv_prun_d

# Tidy: the databases of section 2 and 3.
for n in adv_fk adv_two adv_esc adv_mig adv_pfx adv_poly adv_contra adv_work adv_txt adv_chg adv_empty adv_keys; do mfresh "${n}_s" "${n}_d" "${n}_f"; done
mfresh $S $D $F $O
for n in adv_pfk adv_pesc adv_pesc2 adv_part adv_prun; do pfresh "${n}_s" "${n}_d" "${n}_f"; done
pfresh adv_prun_f2
rm -rf "$TMP"
echo "adversarial: $passed passed, $failed failed"
[[ $failed == 0 ]]
