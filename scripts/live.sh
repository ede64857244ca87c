#!/usr/bin/env bash
# The private servers with a change stream that the live-cutover tests need (issue 22):
#   scripts/live.sh up       # binlog MariaDB on 127.0.0.1:3316, wal_level=logical PostgreSQL on :5442
#   scripts/live.sh down     # stop both (data kept under /var/tmp/rekey-live)
#   scripts/live.sh status   # one line each; exit 0 only if both answer
# The shared servers on 3306 and 5432 are never touched. Details: header of scripts/lib/live.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/mariadb.sh
source scripts/lib/mariadb.sh
# shellcheck source=scripts/lib/postgres.sh
source scripts/lib/postgres.sh
# shellcheck source=scripts/lib/live.sh
source scripts/lib/live.sh

case ${1:-} in
up) live_up ;;
down) live_down ;;
status) live_status ;;
*)
    sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
