# Private servers with a change stream, for the live cutover (issue 22): a MariaDB with a row-based
# binlog on 127.0.0.1:3316 and a PostgreSQL 15 cluster with wal_level=logical on 127.0.0.1:5442.
# The shared servers on 3306 and 5432 are never touched (their settings are not the project's to
# change). Everything of these two lives under $REKEY_LIVE_DIR (default /var/tmp/rekey-live):
#   mariadb/{data,tmp,sock,pid,error.log}   run as mysql, --no-defaults, its own tmpdir (mariadbd
#                                           deletes every #sql* file in its tmpdir at start: /tmp
#                                           holds the shared server's temporary tables)
#   postgres/{data,server.log}               run as postgres, trust, socket in postgres/
# Source scripts/lib/mariadb.sh first (log, die, as_root, have).
# shellcheck shell=bash

readonly LIVE_DIR=${REKEY_LIVE_DIR:-/var/tmp/rekey-live}
readonly LIVE_MY_PORT=3316
readonly LIVE_PG_PORT=5442
readonly LIVE_MY_URL="mysql://root@127.0.0.1:$LIVE_MY_PORT"
readonly LIVE_PG_URL="postgres://postgres@127.0.0.1:$LIVE_PG_PORT"
readonly LIVE_WAIT=60

live_my_dir() { echo "$LIVE_DIR/mariadb"; }
live_pg_dir() { echo "$LIVE_DIR/postgres"; }

live_my_sql() {
    "$(client_bin)" --protocol=TCP -h127.0.0.1 -P"$LIVE_MY_PORT" -uroot --connect-timeout=3 -N -B -e "$1"
}
live_pg_sql() {
    PGCONNECT_TIMEOUT=3 psql -X -w -q -h 127.0.0.1 -p "$LIVE_PG_PORT" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 -At -c "$1"
}

# The pid of the binlog MariaDB if its pid file names a live mariadbd started on our datadir.
live_my_pid() {
    local d pid
    d=$(live_my_dir)
    pid=$(as_root cat "$d/pid" 2>/dev/null) || return 1
    [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"--datadir=$d/data"* ]] || return 1
    echo "$pid"
}

live_my_up() {
    local d i
    d=$(live_my_dir)
    if live_my_sql 'SELECT 1' >/dev/null 2>&1; then
        log "binlog MariaDB is up on 127.0.0.1:$LIVE_MY_PORT"
        return 0
    fi
    [[ -x /usr/sbin/mariadbd ]] || die "mariadbd is not installed (scripts/test.sh installs mariadb-server)"
    if ! as_root test -d "$d/data/mysql"; then
        as_root rm -rf -- "$d"
        as_root install -d -o mysql -g mysql -m 0750 "$d" "$d/tmp"
        log "initialising the binlog MariaDB in $d"
        # Its bootstrap server deletes every #sql* file in its tmpdir too: its own.
        as_root mariadb-install-db --no-defaults --user=mysql --datadir="$d/data" --tmpdir="$d/tmp" --skip-test-db \
            --auth-root-authentication-method=normal >"$d.install.log" 2>&1 ||
            { tail -n 20 "$d.install.log" >&2; die "mariadb-install-db failed for the binlog MariaDB"; }
    fi
    as_root install -d -o mysql -g mysql -m 0750 "$d/tmp"
    as_root rm -f -- "$d/sock" "$d/pid"
    log "starting the binlog MariaDB on 127.0.0.1:$LIVE_MY_PORT (log: $d/error.log)"
    as_root start-stop-daemon --start --background --pidfile "$d/pid" --exec /usr/sbin/mariadbd -- \
        --no-defaults --user=mysql --datadir="$d/data" --tmpdir="$d/tmp" --port="$LIVE_MY_PORT" \
        --bind-address=127.0.0.1 --socket="$d/sock" --pid-file="$d/pid" --log-error="$d/error.log" \
        --skip-name-resolve --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
        --local-infile=ON --innodb-buffer-pool-size=128M \
        --server-id=3316 --log-bin=binlog --binlog-format=ROW --binlog-row-image=FULL
    for ((i = 0; i < LIVE_WAIT * 4; i++)); do
        if as_root "$(client_bin)" --protocol=SOCKET -S "$d/sock" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
            as_root "$(client_bin)" --protocol=SOCKET -S "$d/sock" -uroot -e "
                CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
                GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" ||
                die "could not let root log in over TCP on the binlog MariaDB"
            live_my_sql 'SELECT 1' >/dev/null || die "the binlog MariaDB does not accept root over TCP"
            return 0
        fi
        sleep 0.25
    done
    as_root tail -n 30 "$d/error.log" >&2 || true
    die "the binlog MariaDB did not start within ${LIVE_WAIT}s"
}

live_my_down() {
    local pid i
    pid=$(live_my_pid) || return 0
    log "stopping the binlog MariaDB (pid $pid)"
    as_root kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < LIVE_WAIT * 4; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.25
    done
    as_root kill -9 "$pid" 2>/dev/null || true
}

live_pg_bin() {
    local v
    v=$(pg_newest_installed_version)
    [[ -n $v ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
    echo "/usr/lib/postgresql/$v/bin"
}

live_pg_up() {
    local d bin
    d=$(live_pg_dir)
    if live_pg_sql 'SELECT 1' >/dev/null 2>&1; then
        log "logical PostgreSQL is up on 127.0.0.1:$LIVE_PG_PORT"
        return 0
    fi
    bin=$(live_pg_bin)
    if ! as_root test -f "$d/data/PG_VERSION"; then
        as_root rm -rf -- "$d"
        as_root install -d -o postgres -g postgres -m 0700 "$d"
        log "initialising the logical PostgreSQL in $d"
        as_root runuser -u postgres -- "$bin/initdb" -D "$d/data" -U postgres --auth=trust \
            >"$d.initdb.log" 2>&1 || { tail -n 20 "$d.initdb.log" >&2; die "initdb failed"; }
    fi
    log "starting the logical PostgreSQL on 127.0.0.1:$LIVE_PG_PORT (log: $d/server.log)"
    as_root runuser -u postgres -- "$bin/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t "$LIVE_WAIT" \
        -o "-p $LIVE_PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$d \
            -c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10 \
            -c shared_buffers=128MB -c fsync=on" start >/dev/null ||
        { as_root tail -n 30 "$d/server.log" >&2; die "the logical PostgreSQL did not start"; }
    live_pg_sql 'SELECT 1' >/dev/null || die "the logical PostgreSQL does not accept postgres over TCP"
}

live_pg_down() {
    local d
    d=$(live_pg_dir)
    as_root test -f "$d/data/postmaster.pid" || return 0
    log "stopping the logical PostgreSQL"
    as_root runuser -u postgres -- "$(live_pg_bin)/pg_ctl" -D "$d/data" -m fast -w stop >/dev/null || true
}

live_up() {
    live_my_up
    live_pg_up
}

live_down() {
    live_my_down
    live_pg_down
}

live_status() {
    local rc=0
    if live_my_sql 'SELECT 1' >/dev/null 2>&1; then
        echo "$LIVE_MY_URL up: $(live_my_sql "SELECT CONCAT('log_bin=', @@log_bin, ' binlog_format=', @@binlog_format, ' binlog_row_image=', @@binlog_row_image)")"
    else
        echo "$LIVE_MY_URL down"
        rc=1
    fi
    if live_pg_sql 'SELECT 1' >/dev/null 2>&1; then
        echo "$LIVE_PG_URL up: wal_level=$(live_pg_sql 'SHOW wal_level')"
    else
        echo "$LIVE_PG_URL down"
        rc=1
    fi
    return "$rc"
}
