#!/usr/bin/env bash
# The adversarial operator's session, repeatable: a run killed in its load, then every wrong URL
# an operator could type (SOURCE under another host name, another loaded database, another
# server) for each role, foreign cleans, a second process on the run directory. Prints each exit
# code with the first words of its message, and SOURCE's checksum before, between and after.
# Needs MariaDB on 127.0.0.1:3306 (scripts/test.sh starts it); starts a second, throwaway
# MariaDB on 127.0.0.1:3307 (data in /var/tmp/rekey-adversarial) to be "another server".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q
B=target/release/rekey
D2=/var/tmp/rekey-adversarial
if ! mysql -uroot -h127.0.0.1 -P3307 -e 'select 1' >/dev/null 2>&1; then
    rm -rf "$D2"; mkdir -p "$D2"; chown mysql:mysql "$D2"
    mariadb-install-db --user=mysql --datadir="$D2/data" >/dev/null 2>&1
    (mariadbd --user=mysql --datadir="$D2/data" --port=3307 --bind-address=127.0.0.1 \
        --socket="$D2/sock" --pid-file="$D2/pid" --skip-log-bin --innodb-buffer-pool-size=64M >"$D2/log" 2>&1 &)
    for _ in $(seq 60); do [[ -S $D2/sock ]] && break; sleep 0.5; done
    sleep 1
    mysql -uroot -S "$D2/sock" -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION"
fi
M="mysql -uroot -h127.0.0.1 -N -B"
S=adv_src; D=adv_data; F=adv_final; O=adv_other
R=$(mktemp -d)/run

for db in $S $D $F $O; do $M -e "DROP DATABASE IF EXISTS $db"; done
$M -P3307 -e "DROP DATABASE IF EXISTS $F; DROP DATABASE IF EXISTS $S"
$M -e "CREATE DATABASE $S; CREATE DATABASE $F; CREATE DATABASE $O"
$M $S < fixtures/blog/mysql/source.sql; $M $F < fixtures/blog/mysql/final.sql; $M $O < fixtures/blog/mysql/source.sql
$M -P3307 -e "CREATE DATABASE $F; CREATE DATABASE $S"; $M -P3307 $F < fixtures/blog/mysql/final.sql; $M -P3307 $S < fixtures/blog/mysql/source.sql
checksum() { $M $S -e "CHECKSUM TABLE $(echo $($M -e "select group_concat(table_name) from information_schema.tables where table_schema='$S'")) EXTENDED" | md5sum | cut -c1-12; }
echo "SOURCE checksum before: $(checksum)"
U=mysql://root@127.0.0.1:3306; L=mysql://root@localhost:3306; X=mysql://root@127.0.0.1:3307
rm -rf $R
try() { local what=$1; shift; out=$("$B" "$@" 2>&1); code=$?; printf '%-62s exit %s  | %s\n' "$what" "$code" "$(echo "$out" | tail -1 | cut -c1-150)"; }
REKEY_TEST_STALL_AFTER_STEP=load $B run --source $U/$S --data $U/$D --final $U/$F --run-dir $R -q & pid=$!
while [ ! -f $R/stalled ]; do sleep 0.1; done
try "second run while the first lives" run --source $U/$S --data $U/$D --final $U/$F --run-dir $R -q
try "--resume while the first lives" run --source $U/$S --data $U/$D --final $U/$F --run-dir $R -q --resume
kill -9 $pid; wait $pid 2>/dev/null
try "resume, --final = SOURCE (localhost)" run --source $U/$S --data $U/$D --final $L/$S --run-dir $R -q --resume
try "resume, --final = another loaded database" run --source $U/$S --data $U/$D --final $U/$O --run-dir $R -q --resume
try "resume, --final on another server (same name)" run --source $U/$S --data $U/$D --final $X/$F --run-dir $R -q --resume
try "resume, --data = SOURCE" run --source $U/$S --data $L/$S --final $U/$F --run-dir $R -q --resume
try "resume, --data = another loaded database" run --source $U/$S --data $U/$O --final $U/$F --run-dir $R -q --resume
try "resume, --data on another server" run --source $U/$S --data $X/$D --final $U/$F --run-dir $R -q --resume
try "resume, --source = another loaded database" run --source $U/$O --data $U/$D --final $U/$F --run-dir $R -q --resume
try "resume, --source on another server (same name)" run --source $X/$S --data $U/$D --final $U/$F --run-dir $R -q --resume
try "clean --data = SOURCE" clean --run-dir $R --data $U/$S
try "clean --data = another database" clean --run-dir $R --data $U/$O
try "clean --final = another server's database" clean --run-dir $R --final $X/$F
try "load into SOURCE on the run dir" load --data $U/$D --final $L/$S --run-dir $R -q
echo "SOURCE checksum after the refusals: $(checksum)"
try "resume under localhost names" run --source $L/$S --data $L/$D --final $L/$F --run-dir $R -q --resume
try "clean (URLs from the journal)" clean --run-dir $R
echo "SOURCE checksum at the end: $(checksum)"
$M -e "select count(*) as other_db_tables from information_schema.tables where table_schema='$O'"
for db in $S $D $F $O; do $M -e "DROP DATABASE IF EXISTS $db"; done
mysqladmin -uroot -S "$D2/sock" shutdown 2>/dev/null || true
