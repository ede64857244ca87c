# Shared by scripts/test.sh and scripts/bench.sh: make sure a MariaDB server answers on
# 127.0.0.1:3306 with root and an empty password and local_infile=ON, installing (apt-get) and
# starting it when needed. Source it, then call ensure_mariadb.
# shellcheck shell=bash

readonly DB_HOST=127.0.0.1
readonly DB_PORT=3306
readonly DEFAULT_URL="mysql://root@${DB_HOST}:${DB_PORT}"
readonly MARIADBD=/usr/sbin/mariadbd
readonly DATADIR=/var/lib/mysql
readonly RUNDIR=/run/mysqld
readonly PIDFILE=$RUNDIR/mysqld.pid
readonly SERVER_LOG=${TMPDIR:-/tmp}/rekey-mariadbd.log
readonly INSTALL_LOG=${TMPDIR:-/tmp}/rekey-mariadb-install-db.log
readonly WAIT_SECONDS=60

log() { printf '==> %s\n' "$*"; }
die() {
    printf '==> ERROR: %s\n' "$*" >&2
    exit 1
}

# Privileged commands: plain when root, through sudo otherwise (if present).
SUDO=()
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
fi
as_root() { "${SUDO[@]}" "$@"; }

have() { command -v "$1" >/dev/null 2>&1; }

client_bin() {
    if have mariadb; then echo mariadb; elif have mysql; then echo mysql; fi
}
admin_bin() {
    if have mariadb-admin; then echo mariadb-admin; elif have mysqladmin; then echo mysqladmin; fi
}

# Something listening on the TCP port? (needs no client tools)
port_open() { (exec 3<>"/dev/tcp/$DB_HOST/$DB_PORT") 2>/dev/null; }

# Server alive over TCP? mariadb-admin ping exits 0 on "Access denied", but
# not on "Host '127.0.0.1' is not allowed to connect" (fresh data directory
# + skip-name-resolve: no root@127.0.0.1 account yet), which also proves the
# server is up.
server_alive() {
    local admin out
    admin=$(admin_bin)
    [[ -n $admin ]] || return 1
    out=$("$admin" --protocol=TCP -h"$DB_HOST" -P"$DB_PORT" -uroot --connect-timeout=2 ping 2>&1) && return 0
    [[ $out == *"is not allowed to connect"* || $out == *"Access denied"* ]]
}

# SQL as root over TCP with an empty password.
sql_tcp() {
    "$(client_bin)" --protocol=TCP -h"$DB_HOST" -P"$DB_PORT" -uroot --connect-timeout=5 -N -B -e "$1"
}
root_tcp_login_ok() { sql_tcp 'SELECT 1' >/dev/null 2>&1; }

install_mariadb() {
    local pkgs=("$@")
    have apt-get || die "MariaDB is missing and apt-get is not available: install ${pkgs[*]} yourself"
    log "installing ${pkgs[*]} (apt-get)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
}

show_server_log() {
    local f
    for f in "$SERVER_LOG" /var/log/mysql/error.log; do
        if [[ -r $f ]]; then
            printf -- '--- last lines of %s ---\n' "$f" >&2
            tail -n 30 "$f" >&2 || true
        fi
    done
}

start_mariadb() {
    id mysql >/dev/null 2>&1 || die "system user 'mysql' does not exist (is mariadb-server installed?)"
    as_root install -d -o mysql -g mysql -m 0755 "$RUNDIR"
    if [[ ! -d $DATADIR/mysql ]]; then
        log "initialising MariaDB data directory $DATADIR"
        as_root install -d -o mysql -g mysql -m 0755 "$DATADIR"
        local installer
        if have mariadb-install-db; then installer=mariadb-install-db; else installer=mysql_install_db; fi
        if ! as_root "$installer" --user=mysql --datadir="$DATADIR" --skip-test-db >"$INSTALL_LOG" 2>&1; then
            tail -n 30 "$INSTALL_LOG" >&2 || true
            die "$installer failed (full output in $INSTALL_LOG)"
        fi
    fi
    log "starting mariadbd (output in $SERVER_LOG)"
    as_root start-stop-daemon --start --oknodo --background \
        --pidfile "$PIDFILE" --exec "$MARIADBD" \
        --output "$SERVER_LOG" -- --user=mysql

    log "waiting up to ${WAIT_SECONDS}s for MariaDB on $DB_HOST:$DB_PORT"
    local i
    for ((i = 0; i < WAIT_SECONDS; i++)); do
        server_alive && return 0
        sleep 1
    done
    show_server_log
    die "MariaDB did not answer on $DB_HOST:$DB_PORT within ${WAIT_SECONDS}s"
}

fix_root_login() {
    log "allowing root@localhost / root@127.0.0.1 to log in over TCP with an empty password (via the unix socket)"
    # On a fresh Debian install root@localhost is unix_socket only, so this
    # only works as OS user root, through the server's unix socket.
    # Only reached when the empty-password TCP login fails. Note that it
    # resets any root password to empty: meant for test and CI machines.
    as_root "$(client_bin)" --protocol=SOCKET -uroot -e "
        ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
        CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
        ALTER USER 'root'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
        GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
        FLUSH PRIVILEGES;" ||
        die "could not fix root's authentication through the unix socket"
}

ensure_mariadb() {
    local pkgs=()
    if [[ -z $(client_bin) || -z $(admin_bin) ]]; then
        pkgs+=(mariadb-client)
    fi
    if ! port_open && [[ ! -x $MARIADBD ]]; then
        pkgs+=(mariadb-server)
    fi
    if ((${#pkgs[@]})); then
        install_mariadb "${pkgs[@]}"
    fi

    if server_alive; then
        log "MariaDB is up on $DB_HOST:$DB_PORT"
    else
        [[ -x $MARIADBD ]] || install_mariadb mariadb-server mariadb-client
        start_mariadb
        log "MariaDB is up on $DB_HOST:$DB_PORT"
    fi

    if ! root_tcp_login_ok; then
        fix_root_login
        root_tcp_login_ok || die "root still cannot log in over TCP at $DB_HOST:$DB_PORT with an empty password"
    fi
    log "root can log in over TCP ($(sql_tcp 'SELECT VERSION()'))"

    if [[ $(sql_tcp 'SELECT @@GLOBAL.local_infile') != 1 ]]; then
        log "enabling local_infile"
        sql_tcp 'SET GLOBAL local_infile = 1'
    fi
    [[ $(sql_tcp 'SELECT @@GLOBAL.local_infile') == 1 ]] || die "could not enable local_infile"
    log "local_infile is ON"
}

