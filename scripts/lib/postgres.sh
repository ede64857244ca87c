# Shared by scripts/test.sh and scripts/bench.sh: make sure a PostgreSQL server answers on
# 127.0.0.1:5432 as user postgres without a password (trust authentication for 127.0.0.1 and the
# local socket), installing (apt-get: postgresql, postgresql-client) and starting the Debian cluster
# when needed. Source it (after scripts/lib/mariadb.sh if both are used; it reuses that file's log,
# die, have and as_root, and defines copies of its own only when they are missing), then call
# ensure_postgres. Quick (well under a second) when the server is already up.
#
# Sets and exports one variable: PG_DEFAULT_URL=postgres://postgres@127.0.0.1:5432
# Everything else lives in functions (named pg_*) and their local variables, so sourcing it twice,
# or next to mariadb.sh (which makes DB_HOST, DB_PORT and DEFAULT_URL read-only), is fine.
#
# Debian's layout is assumed (postgresql-common: pg_lsclusters, pg_ctlcluster, pg_createcluster,
# /etc/postgresql/VERSION/CLUSTER/). On this kind of machine PostgreSQL 15 cluster "main" is
# installed and configured with trust for local and 127.0.0.1/32 and listen_addresses = '127.0.0.1'
# (conf.d/90-ci.conf); a fresh Debian 12 gets PostgreSQL 15 from apt-get, with peer/scram-sha-256
# in pg_hba.conf, which ensure_postgres turns into trust for 127.0.0.1, ::1 and local.
# shellcheck shell=bash

export PG_DEFAULT_URL=postgres://postgres@127.0.0.1:5432

# Guarded copies of mariadb.sh's helpers (same behaviour), defined only when missing.
if ! declare -F log >/dev/null; then
    log() { printf '==> %s\n' "$*"; }
fi
if ! declare -F die >/dev/null; then
    die() {
        printf '==> ERROR: %s\n' "$*" >&2
        exit 1
    }
fi
if ! declare -F have >/dev/null; then
    have() { command -v "$1" >/dev/null 2>&1; }
fi
if ! declare -F as_root >/dev/null; then
    # Privileged commands: plain when root, through sudo otherwise (if present).
    as_root() {
        if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
            sudo "$@"
        else
            "$@"
        fi
    }
fi

pg_host() { echo 127.0.0.1; }
pg_port() { echo 5432; }
pg_wait_seconds() { echo 60; }

# psql as postgres over TCP, never prompting for a password (-w), ignoring ~/.psqlrc (-X).
pg_sql() {
    PGCONNECT_TIMEOUT=3 PGPASSWORD='' psql -X -w -q -h "$(pg_host)" -p "$(pg_port)" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 -At -c "$1"
}

# Something answering the PostgreSQL protocol on the TCP port? (pg_isready: 0 accepting,
# 1 rejecting (starting up), 2 no response, 3 no attempt)
pg_answers() { pg_isready -q -h "$(pg_host)" -p "$(pg_port)" -t 2 >/dev/null 2>&1; }

pg_login_ok() { pg_sql 'SELECT 1' >/dev/null 2>&1; }

# "VERSION CLUSTER STATUS" of the cluster configured on port 5432, empty if none.
pg_cluster_on_port() {
    have pg_lsclusters || return 0
    pg_lsclusters --no-header 2>/dev/null | awk -v port="$(pg_port)" '$3 == port { print $1, $2, $4; exit }'
}

pg_install() {
    have apt-get || die "PostgreSQL is missing and apt-get is not available: install $* yourself"
    log "installing $* (apt-get)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
        die "apt-get install $* failed"
}

pg_newest_installed_version() {
    local d
    for d in /usr/lib/postgresql/*/bin/postgres; do
        [[ -x $d ]] || continue
        d=${d#/usr/lib/postgresql/}
        echo "${d%%/*}"
    done | sort -n | tail -n 1
}

pg_show_server_log() {
    local ver=$1 name=$2 f=/var/log/postgresql/postgresql-$1-$2.log
    if [[ -r $f ]]; then
        printf -- '--- last lines of %s ---\n' "$f" >&2
        tail -n 30 "$f" >&2 || true
    fi
}

# Start (or create, then start) the cluster on port 5432.
pg_start_cluster() {
    local line ver name status
    line=$(pg_cluster_on_port)
    if [[ -z $line ]]; then
        ver=$(pg_newest_installed_version)
        [[ -n $ver ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql (is postgresql installed?)"
        have pg_createcluster || die "pg_createcluster is missing (postgresql-common is not installed)"
        if pg_lsclusters --no-header 2>/dev/null | awk '$2 == "main"' | grep -q .; then
            die "no PostgreSQL cluster is configured on port $(pg_port) (pg_lsclusters lists others): free the port or move a cluster to it"
        fi
        log "creating PostgreSQL $ver cluster main on port $(pg_port)"
        as_root pg_createcluster "$ver" main --port "$(pg_port)" >/dev/null ||
            die "pg_createcluster $ver main failed"
        line=$(pg_cluster_on_port)
        [[ -n $line ]] || die "pg_createcluster did not leave a cluster on port $(pg_port)"
    fi
    read -r ver name status <<<"$line"
    pg_configure_trust "$ver" "$name"
    pg_configure_listen "$ver" "$name"
    if [[ $status == online* ]]; then
        # Running but not answering on 127.0.0.1:5432 (listen_addresses?): restart to apply the config.
        log "restarting PostgreSQL $ver/$name"
        as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" restart ||
            { pg_show_server_log "$ver" "$name"; die "pg_ctlcluster $ver $name restart failed"; }
    else
        log "starting PostgreSQL $ver/$name"
        # No systemd here (containers, CI): --skip-systemctl-redirect runs pg_ctl directly.
        as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start ||
            { pg_show_server_log "$ver" "$name"; die "pg_ctlcluster $ver $name start failed"; }
    fi
    local i
    for ((i = 0; i < $(pg_wait_seconds) * 4; i++)); do
        pg_answers && return 0
        sleep 0.25
    done
    pg_show_server_log "$ver" "$name"
    die "PostgreSQL did not answer on $(pg_host):$(pg_port) within $(pg_wait_seconds)s"
}

# Put trust lines for local, 127.0.0.1/32 and ::1/128 in front of the others in FILE (first match
# wins in pg_hba.conf). Idempotent: a file that has them already is left alone. Returns 0 when it
# changed the file, 1 when there was nothing to do.
pg_hba_add_trust() {
    local file=$1 marker='# rekey scripts/lib/postgres.sh: trust for local and loopback (test machines only)'
    grep -qF "$marker" "$file" && return 1
    local tmp
    tmp=$(mktemp) || die "mktemp failed"
    {
        printf '%s\n' "$marker"
        printf '%-8s%-16s%-16s%-24s%s\n' local all all '' trust
        printf '%-8s%-16s%-16s%-24s%s\n' host all all 127.0.0.1/32 trust
        printf '%-8s%-16s%-16s%-24s%s\n' host all all ::1/128 trust
        printf '%-8s%-16s%-16s%-24s%s\n' local replication all '' trust
        printf '%-8s%-16s%-16s%-24s%s\n' host replication all 127.0.0.1/32 trust
        printf '# end of rekey lines\n\n'
        cat "$file"
    } >"$tmp"
    as_root cp "$tmp" "$file"
    rm -f "$tmp"
    return 0
}

# Trust authentication for the cluster, unless it already lets postgres in without a password.
pg_configure_trust() {
    local ver=$1 name=$2 hba=/etc/postgresql/$1/$2/pg_hba.conf
    as_root test -f "$hba" || die "$hba does not exist"
    # Already trusting loopback and local? (this machine's configuration) Nothing to change.
    if as_root awk '!/^[[:space:]]*#/ && NF { print }' "$hba" | head -n 3 |
        awk '($1 == "local" || ($1 == "host" && $4 == "127.0.0.1/32")) && $NF == "trust" { n++ } END { exit !(n >= 2) }'; then
        return 0
    fi
    # (cp onto the existing file keeps its owner and mode)
    if pg_hba_add_trust "$hba"; then
        log "configured trust authentication for local and 127.0.0.1 in $hba"
    fi
}

# listen_addresses must cover 127.0.0.1 (Debian's default 'localhost' does; '' or another address
# does not): when it does not, a conf.d file sets it to 127.0.0.1 (read after postgresql.conf).
pg_configure_listen() {
    local ver=$1 name=$2 value
    value=$(pg_conftool -s "$ver" "$name" show listen_addresses 2>/dev/null) || value=localhost
    case ",${value// /}," in
    *,localhost,* | *,127.0.0.1,* | *,\*,* | *,0.0.0.0,*) return 0 ;;
    esac
    local conf=/etc/postgresql/$ver/$name/conf.d/90-rekey-listen.conf
    log "listen_addresses is '$value': setting it to 127.0.0.1 in $conf"
    as_root install -d "/etc/postgresql/$ver/$name/conf.d"
    printf "listen_addresses = '127.0.0.1'\n" | as_root tee "$conf" >/dev/null
}

ensure_postgres() {
    local pkgs=()
    if ! have psql || ! have pg_isready; then
        pkgs+=(postgresql-client)
    fi
    if ! pg_answers 2>/dev/null && { [[ -z $(pg_newest_installed_version) ]] || ! have pg_ctlcluster; }; then
        pkgs+=(postgresql)
    fi
    if ((${#pkgs[@]})); then
        pg_install "${pkgs[@]}"
    fi

    # Fast path: up and letting postgres in without a password.
    if pg_login_ok; then
        log "PostgreSQL is up on $(pg_host):$(pg_port) ($(pg_sql 'SHOW server_version'))"
        return 0
    fi

    if ! pg_answers; then
        pg_start_cluster
    fi

    if ! pg_login_ok; then
        # Up, but postgres cannot log in over TCP without a password: configure trust and reload.
        local line ver name status
        line=$(pg_cluster_on_port)
        [[ -n $line ]] || die "PostgreSQL answers on $(pg_host):$(pg_port) but pg_lsclusters shows no cluster on that port: cannot configure it; make user postgres log in without a password (trust) yourself"
        read -r ver name status <<<"$line"
        if pg_hba_add_trust "/etc/postgresql/$ver/$name/pg_hba.conf"; then
            log "configured trust authentication for local and 127.0.0.1 in /etc/postgresql/$ver/$name/pg_hba.conf"
        fi
        as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload ||
            die "pg_ctlcluster $ver $name reload failed"
        local i
        for ((i = 0; i < 20; i++)); do
            pg_login_ok && break
            sleep 0.25
        done
        pg_login_ok || die "user postgres still cannot log in on $(pg_host):$(pg_port) without a password (see /etc/postgresql/$ver/$name/pg_hba.conf)"
    fi
    log "PostgreSQL is up on $(pg_host):$(pg_port) ($(pg_sql 'SHOW server_version'))"
}
