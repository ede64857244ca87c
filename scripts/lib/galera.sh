# A throw-away 3-node MariaDB Galera cluster on loopback, for rekey's Galera tests.
#
# Why: the spec's Galera engine row (write sets chunked under wsrep_max_ws_rows / wsrep_max_ws_size,
# REQUIRED_PRIMARY_KEY, short DDL, MyISAM/Aria not replicated, reads through wsrep_sync_wait on another
# node, deadlock / certification-failure retries) can only be proven on a real cluster, and the
# project's machines have no cluster but can run one: galera-4 + MariaDB 10.11 from Debian, three
# mariadbd processes beside the ordinary server on 127.0.0.1:3306 (which this file never touches, nor
# /var/lib/mysql, nor /etc/mysql: every node reads only its own --defaults-file).
#
# Layout (GALERA_DIR, default /var/tmp/rekey-galera):
#   nodeN/my.cnf       the node's only option file
#   nodeN/data/        its datadir (owned by mysql: nodes run as mysql because the rsync SST daemon
#                      drops privileges to that user)
#   nodeN/mysqld.sock  nodeN/mysqld.pid  nodeN/error.log  nodeN/console.log
# Ports of node N (1..3): SQL 440N, gcomm 4567+10N, IST 4568+10N, SST (rsync) 4444+10N.
# root@127.0.0.1 / root@localhost have an empty password: mysql://root@127.0.0.1:4401 (4402, 4403).
#
# Choices measured on this kind of machine (2 cores, MariaDB 10.11.19, galera-4 26.4.23):
# - only node 1 is initialised with mariadb-install-db; it bootstraps with --wsrep-new-cluster and the
#   others receive everything by rsync SST (a state transfer before the storage engines start);
# - wsrep_slave_threads=1 and wsrep_auto_increment_control=OFF: with the defaults AUTO_INCREMENT ids
#   came out 3, 6, 9 (the cluster-size stride) and an MDL BF-BF conflict once froze a node;
# - small caches (64M buffer pool, 16M Aria page cache, 8M key buffer, 64M gcache): the three idle
#   nodes hold ~300 MiB of RSS (an earlier setup with default caches measured ~1.1 GiB), and
#   ~560-720 MiB after the probe writes 200k rows;
#   innodb_flush_log_at_trx_commit=2 (the cluster is the durability here);
# - up takes 10-16 s, down 6-7 s (a leaving node sometimes waits out evs.suspect_timeout, 5 s).
#
# Restart and recovery: `down` stops node 3, then 2, then 1, one at a time, so node 1 stays in the
# primary component to the end and keeps safe_to_bootstrap: 1; `up` then reuses the data. `up` on a
# partly running cluster whose live part is Primary starts only the missing nodes (full SST). After a
# crash or a killed `up`, `down` kills what is left of this cluster (its mariadbd, SST scripts and
# rsync daemons, found by their command lines naming GALERA_DIR) and removes stale pid/socket files;
# `up` sets node 1's safe_to_bootstrap to 1 and removes the other nodes' grastate.dat, so they take a
# full SST from node 1 and cannot diverge (node 1 starts a new cluster history: its wsrep position is
# not recovered). If node 1's mariadbd exits when started on its old data, the cluster is wiped and
# built again (a test cluster only); a mere timeout never wipes.
#
# Needs root (or sudo): installs galera-4 / rsync / mariadb-server with apt-get when missing.
# Source scripts/lib/mariadb.sh before this file (log, die, have, as_root, client_bin, install_mariadb).
# shellcheck shell=bash

readonly GALERA_DIR=${REKEY_GALERA_DIR:-/var/tmp/rekey-galera}
readonly GALERA_NODES=(1 2 3)
readonly GALERA_HOST=127.0.0.1
readonly GALERA_CLUSTER_NAME=rekey-galera
readonly GALERA_PROVIDER=/usr/lib/galera/libgalera_smm.so
readonly GALERA_UP_TIMEOUT=${REKEY_GALERA_UP_TIMEOUT:-180}
readonly GALERA_DOWN_TIMEOUT=${REKEY_GALERA_DOWN_TIMEOUT:-60}

galera_sql_port() { echo $((4400 + $1)); }
galera_gcomm_port() { echo $((4567 + 10 * $1)); }
galera_ist_port() { echo $((4568 + 10 * $1)); }
galera_sst_port() { echo $((4444 + 10 * $1)); }
galera_node_dir() { echo "$GALERA_DIR/node$1"; }
galera_datadir() { echo "$GALERA_DIR/node$1/data"; }
galera_cnf() { echo "$GALERA_DIR/node$1/my.cnf"; }
galera_pidfile() { echo "$GALERA_DIR/node$1/mysqld.pid"; }
galera_socket() { echo "$GALERA_DIR/node$1/mysqld.sock"; }
galera_errlog() { echo "$GALERA_DIR/node$1/error.log"; }
galera_console() { echo "$GALERA_DIR/node$1/console.log"; }
galera_url() { echo "mysql://root@$GALERA_HOST:$(galera_sql_port "$1")"; }

# Milliseconds since the epoch, and a duration in seconds with 1 decimal.
galera_now_ms() { date +%s%3N; }
galera_secs_since() { awk -v a="$1" -v b="$(galera_now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

galera_cluster_address() {
    local n addrs=()
    for n in "${GALERA_NODES[@]}"; do addrs+=("$GALERA_HOST:$(galera_gcomm_port "$n")"); done
    local IFS=,
    echo "gcomm://${addrs[*]}"
}

# ---------------------------------------------------------------------------- packages

galera_ensure_packages() {
    local pkgs=()
    [[ -x /usr/sbin/mariadbd ]] || pkgs+=(mariadb-server)
    [[ -n $(client_bin) ]] || pkgs+=(mariadb-client)
    [[ -r $GALERA_PROVIDER ]] || pkgs+=(galera-4)
    have rsync || pkgs+=(rsync)
    have mariadb-install-db || have mysql_install_db || pkgs+=(mariadb-server)
    if ((${#pkgs[@]})); then
        install_mariadb "${pkgs[@]}"
    fi
    [[ -r $GALERA_PROVIDER ]] || die "galera-4 is installed but $GALERA_PROVIDER is missing"
    id mysql >/dev/null 2>&1 || die "system user 'mysql' does not exist (is mariadb-server installed?)"
}

# ---------------------------------------------------------------------------- processes

galera_pid_alive() { [[ -n ${1:-} && -d /proc/$1 ]]; }

# The pid of node N's mariadbd: the one its pid file names if that process is alive and really is
# that node's mariadbd (a stale pid file may name a recycled pid); else the mariadbd process whose
# command line names the node's option file (a joiner writes its pid file only after its SST).
galera_node_pid() {
    local pidfile pid cnf p
    pidfile=$(galera_pidfile "$1")
    cnf="--defaults-file=$(galera_cnf "$1") "
    if [[ -r $pidfile ]]; then
        pid=$(<"$pidfile")
        if galera_pid_alive "$pid" && [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) " == *"$cnf"* ]]; then
            echo "$pid"
            return 0
        fi
    fi
    for p in /proc/[0-9]*; do
        [[ $(cat "$p/comm" 2>/dev/null) == mariadbd ]] || continue
        if [[ "$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) " == *"$cnf"* ]]; then
            echo "${p#/proc/}"
            return 0
        fi
    done
    return 1
}

# Pids of this cluster's processes (all nodes, or node N): mariadbd, the wsrep_sst_rsync script (its
# comm is sh or bash) and the rsync daemon / stunnel it starts, recognised by their command line
# naming the node's directory. Nothing else is matched: only these programs, only with these paths.
galera_stray_pids() {
    local where=$GALERA_DIR/
    [[ -n ${1:-} ]] && where=$(galera_node_dir "$1")/
    local p comm cmd
    for p in /proc/[0-9]*; do
        comm=$(cat "$p/comm" 2>/dev/null) || continue
        case $comm in
        mariadbd | mysqld | rsync | stunnel | stunnel4 | wsrep_sst_* | sh | bash) ;;
        *) continue ;;
        esac
        cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
        [[ $cmd == *"$where"* ]] || continue
        # A shell counts only when it runs an SST script ("sh -c wsrep_sst_rsync ...").
        [[ $comm == sh || $comm == bash ]] && [[ $cmd != *wsrep_sst_* ]] && continue
        echo "${p#/proc/}"
    done
    return 0
}

galera_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# ---------------------------------------------------------------------------- SQL

# SQL as root over TCP on node N with an empty password; tab-separated, no headers.
galera_sql() {
    local n=$1
    shift
    "$(client_bin)" --protocol=TCP -h"$GALERA_HOST" -P"$(galera_sql_port "$n")" -uroot \
        --connect-timeout=3 -N -B -e "$*"
}

# "size state status ready" of node N, e.g. "3 Synced Primary ON"; fails when it does not answer.
galera_node_state() {
    local out
    out=$(galera_sql "$1" "SHOW GLOBAL STATUS WHERE Variable_name IN
        ('wsrep_cluster_size','wsrep_local_state_comment','wsrep_cluster_status','wsrep_ready')" 2>/dev/null) ||
        return 1
    awk -F'\t' '{ v[$1] = $2 } END {
        printf "%s %s %s %s\n", v["wsrep_cluster_size"], v["wsrep_local_state_comment"],
                                v["wsrep_cluster_status"], v["wsrep_ready"] }' <<<"$out"
}

galera_node_synced() {
    local want=$2 st
    st=$(galera_node_state "$1") || return 1
    [[ $st == "$want Synced Primary ON" ]]
}

galera_healthy() {
    local n
    for n in "${GALERA_NODES[@]}"; do
        galera_node_pid "$n" >/dev/null || return 1
        galera_node_synced "$n" 3 || return 1
    done
}

# ---------------------------------------------------------------------------- files

galera_write_cnf() {
    local n=$1 cnf
    cnf=$(galera_cnf "$n")
    as_root tee "$cnf" >/dev/null <<EOF
# Written by scripts/lib/galera.sh: node $n of rekey's test cluster. Edited files are overwritten.
[mysqld]
user = mysql
basedir = /usr
datadir = $(galera_datadir "$n")
socket = $(galera_socket "$n")
pid-file = $(galera_pidfile "$n")
log-error = $(galera_errlog "$n")
port = $(galera_sql_port "$n")
bind-address = $GALERA_HOST
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
local_infile = ON
# secure_file_priv is left unset, as on the main server.
default_storage_engine = InnoDB
binlog_format = ROW
# A row binlog holding every node's writes: the live cutover follows a node (issue 22).
log_bin = binlog
log_slave_updates = ON
binlog_row_image = FULL
server_id = $n
log_bin_trust_function_creators = ON
innodb_autoinc_lock_mode = 2
innodb_buffer_pool_size = 64M
innodb_log_file_size = 48M
innodb_flush_log_at_trx_commit = 2
aria_pagecache_buffer_size = 16M
key_buffer_size = 8M

wsrep_on = ON
wsrep_provider = $GALERA_PROVIDER
wsrep_cluster_name = $GALERA_CLUSTER_NAME
wsrep_cluster_address = $(galera_cluster_address)
wsrep_node_name = node$n
wsrep_node_address = $GALERA_HOST:$(galera_gcomm_port "$n")
wsrep_node_incoming_address = $GALERA_HOST:$(galera_sql_port "$n")
wsrep_sst_method = rsync
wsrep_sst_receive_address = $GALERA_HOST:$(galera_sst_port "$n")
wsrep_provider_options = "gmcast.listen_addr=tcp://$GALERA_HOST:$(galera_gcomm_port "$n");ist.recv_addr=$GALERA_HOST:$(galera_ist_port "$n");gcache.size=64M"
wsrep_slave_threads = 1
wsrep_auto_increment_control = OFF
EOF
}

# The datadirs belong to mysql (mode 0750): look into them as root.
galera_root_test() { as_root test "$@"; }

galera_grastate_get() { # $1 node, $2 key -> value ("" when absent)
    local f
    f=$(galera_datadir "$1")/grastate.dat
    galera_root_test -r "$f" || return 0
    as_root cat "$f" | awk -v k="$2:" '$1 == k { print $2 }'
}

galera_show_logs() {
    local n f
    for n in "${GALERA_NODES[@]}"; do
        # console.log only holds what mariadbd printed before it opened error.log.
        for f in "$(galera_console "$n"):5" "$(galera_errlog "$n"):25"; do
            if galera_root_test -s "${f%:*}"; then
                printf -- '--- last lines of %s ---\n' "${f%:*}" >&2
                as_root tail -n "${f##*:}" "${f%:*}" >&2 || true
            fi
        done
    done
}

galera_fail() {
    galera_show_logs
    die "$*"
}

# Wipe node N (datadir and logs; the node must be stopped).
galera_wipe_node() {
    local d
    d=$(galera_node_dir "$1")
    case $d in "$GALERA_DIR"/node[0-9]) ;; *) die "refusing to wipe '$d'" ;; esac
    as_root rm -rf -- "$d"
}

galera_prepare_node_dir() {
    local n=$1
    as_root install -d -m 0755 "$GALERA_DIR"
    as_root install -d -o mysql -g mysql -m 0750 "$(galera_node_dir "$n")" "$(galera_datadir "$n")"
    galera_write_cnf "$n"
    # A crashed node's pid file and socket (the node is not running when this is called).
    as_root rm -f -- "$(galera_pidfile "$n")" "$(galera_socket "$n")"
}

galera_install_db() {
    local n=$1 installer out
    if have mariadb-install-db; then installer=mariadb-install-db; else installer=mysql_install_db; fi
    log "node$n: $installer (root@localhost and root@127.0.0.1 with an empty password)"
    out=$(galera_node_dir "$n")/install-db.log
    # Its bootstrap server deletes every #sql* file in its tmpdir too (galera_start_node).
    as_root install -d -o mysql -g mysql -m 0750 "$(galera_node_dir "$n")/tmp"
    if ! as_root "$installer" --no-defaults --user=mysql --basedir=/usr --datadir="$(galera_datadir "$n")" \
        --tmpdir="$(galera_node_dir "$n")/tmp" \
        --auth-root-authentication-method=normal --skip-test-db \
        --innodb-log-file-size=48M --innodb-buffer-pool-size=64M >"$out" 2>&1; then
        tail -n 30 "$out" >&2 || true
        die "$installer failed for node$n (full output in $out)"
    fi
}

# ---------------------------------------------------------------------------- start / stop

galera_start_node() { # $1 node, $2 "bootstrap" or ""
    local n=$1 extra=()
    [[ ${2:-} == bootstrap ]] && extra=(--wsrep-new-cluster)
    log "node$n: starting mariadbd ${extra[*]:-(joiner)} on port $(galera_sql_port "$n")"
    # A tmpdir of its own: mariadbd deletes every #sql* file in its tmpdir when it starts, and
    # /tmp holds the shared server's internal temporary tables (deleting them crashed it).
    as_root install -d -o mysql -g mysql -m 0750 "$(galera_node_dir "$n")/tmp"
    as_root start-stop-daemon --start --background --pidfile "$(galera_pidfile "$n")" \
        --exec /usr/sbin/mariadbd --output "$(galera_console "$n")" -- \
        --defaults-file="$(galera_cnf "$n")" --tmpdir="$(galera_node_dir "$n")/tmp" "${extra[@]}"
}

# Wait until node N is Synced in a cluster of $2 nodes; fail fast when its process dies.
galera_wait_synced() {
    local n=$1 size=$2 deadline=$3 started=$4
    while :; do
        if galera_node_synced "$n" "$size"; then
            log "node$n: Synced, cluster size $size ($(galera_secs_since "$started") s since up began)"
            return 0
        fi
        if ! galera_node_pid "$n" >/dev/null && [[ -z $(galera_stray_pids "$n") ]]; then
            # No pid file yet is normal for a moment; no process at all is not.
            sleep 1
            if ! galera_node_pid "$n" >/dev/null && [[ -z $(galera_stray_pids "$n") ]]; then
                return 2
            fi
        fi
        if (($(date +%s) >= deadline)); then
            return 1
        fi
        sleep 0.5
    done
}

# Stop node N: SIGTERM (a graceful leave), SIGKILL after GALERA_DOWN_TIMEOUT seconds; then whatever
# is left of it (SST helpers of a killed start).
galera_stop_node() {
    local n=$1 pid i
    if pid=$(galera_node_pid "$n"); then
        as_root kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < GALERA_DOWN_TIMEOUT * 5; i++)); do
            galera_pid_alive "$pid" || break
            sleep 0.2
        done
        if galera_pid_alive "$pid"; then
            log "node$n: mariadbd $pid did not stop in ${GALERA_DOWN_TIMEOUT}s, killing it"
            as_root kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    galera_kill_strays "$n"
    as_root rm -f -- "$(galera_pidfile "$n")" "$(galera_socket "$n")"
}

galera_kill_strays() {
    local n=$1 pids i
    mapfile -t pids < <(galera_stray_pids "$n")
    ((${#pids[@]})) || return 0
    log "node$n: stopping leftover processes ${pids[*]}"
    as_root kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        mapfile -t pids < <(galera_stray_pids "$n")
        ((${#pids[@]})) || return 0
        sleep 0.2
    done
    as_root kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.5
}

# ---------------------------------------------------------------------------- up / down / status

# Make node 1 ready to bootstrap. Prints "fresh" (new data), "clean" (last one out of a clean stop)
# or "recovered" (unclean stop: safe_to_bootstrap forced, other nodes will take a full SST).
galera_prepare_bootstrap() {
    local n
    if ! galera_root_test -d "$(galera_datadir 1)/mysql"; then
        for n in "${GALERA_NODES[@]}"; do galera_wipe_node "$n"; done
        galera_prepare_node_dir 1
        galera_install_db 1 >&2
        echo fresh
        return 0
    fi
    galera_prepare_node_dir 1
    if ! galera_root_test -e "$(galera_datadir 1)/grastate.dat" || [[ $(galera_grastate_get 1 safe_to_bootstrap) == 1 ]]; then
        echo clean
        return 0
    fi
    log "node1: grastate.dat says safe_to_bootstrap: 0 (unclean stop): forcing it to 1; nodes 2 and 3 will take a full SST" >&2
    as_root sed -i 's/^safe_to_bootstrap: *0/safe_to_bootstrap: 1/' "$(galera_datadir 1)/grastate.dat"
    for n in "${GALERA_NODES[@]}"; do
        as_root rm -f -- "$(galera_datadir "$n")/gvwstate.dat"
        ((n == 1)) || as_root rm -f -- "$(galera_datadir "$n")/grastate.dat"
    done
    echo recovered
}

galera_start_joiners() { # nodes...; starts them all, waits for each
    local started=$1 deadline=$2
    shift 2
    local n rc
    for n in "$@"; do
        galera_prepare_node_dir "$n"
        galera_start_node "$n"
        # One at a time: starting both joiners together was no faster (10.8-11.6 s against
        # 9.3-11.5 s for a whole up): a donor serves one state transfer at a time.
        rc=0
        galera_wait_synced "$n" "$n" "$deadline" "$started" || rc=$?
        ((rc == 0)) || return "$rc"
    done
}

galera_up() {
    local started deadline n live=() missing=() primary="" how rc
    started=$(galera_now_ms)
    deadline=$(($(date +%s) + GALERA_UP_TIMEOUT))
    galera_ensure_packages

    if galera_healthy && [[ $(galera_sql 1 "SELECT @@log_bin" 2>/dev/null) == 1 ]]; then
        log "cluster already up: 3 nodes Synced"
        galera_verify
        return 0
    fi
    if galera_healthy; then
        # Started by an older version of this file, without the binlog the live tests read.
        log "cluster up without a binlog: restarting it with this file's settings"
        galera_down quiet
    fi

    for n in "${GALERA_NODES[@]}"; do
        if galera_node_pid "$n" >/dev/null; then live+=("$n"); else missing+=("$n"); fi
    done
    for n in "${live[@]}"; do
        local st
        st=$(galera_node_state "$n") || continue
        [[ $st == *" Synced Primary ON" ]] && primary=$n && break
    done

    if [[ -n $primary ]]; then
        # Part of the cluster is alive and primary (e.g. an up that was killed half-way): let the
        # missing nodes join it with a full SST; wait for the live ones still joining.
        log "nodes ${live[*]} alive (node$primary Primary and Synced); starting ${missing[*]:-nothing}"
        for n in "${missing[@]}"; do
            galera_kill_strays "$n"
            as_root rm -f -- "$(galera_datadir "$n")/grastate.dat" "$(galera_datadir "$n")/gvwstate.dat"
            galera_prepare_node_dir "$n"
            galera_start_node "$n"
        done
        for n in "${GALERA_NODES[@]}"; do
            rc=0
            galera_wait_synced "$n" 3 "$deadline" "$started" || rc=$?
            ((rc == 0)) || galera_fail "node$n did not reach Synced in a cluster of 3 ($( ((rc == 2)) && echo 'its mariadbd exited' || echo "timeout ${GALERA_UP_TIMEOUT}s"))"
        done
    else
        ((${#live[@]} == 0)) || log "nodes ${live[*]} alive but no primary component: restarting the cluster"
        galera_down quiet
        how=$(galera_prepare_bootstrap)
        log "node1: bootstrapping a new cluster ($how data)"
        galera_start_node 1 bootstrap
        rc=0
        galera_wait_synced 1 1 "$deadline" "$started" || rc=$?
        # Only when mariadbd exited (rc 2), not on a timeout: a slow start is no reason to wipe data.
        if ((rc == 2)) && [[ $how != fresh ]]; then
            galera_show_logs
            log "node1 could not bootstrap from its old data: wiping the test cluster and starting afresh"
            galera_down quiet
            for n in "${GALERA_NODES[@]}"; do galera_wipe_node "$n"; done
            how=$(galera_prepare_bootstrap)
            galera_start_node 1 bootstrap
            rc=0
            galera_wait_synced 1 1 "$deadline" "$started" || rc=$?
        fi
        ((rc == 0)) || galera_fail "node1 did not bootstrap ($( ((rc == 2)) && echo 'mariadbd exited' || echo "timeout ${GALERA_UP_TIMEOUT}s"))"
        rc=0
        galera_start_joiners "$started" "$deadline" 2 3 || rc=$?
        ((rc == 0)) || galera_fail "a joiner did not reach Synced ($( ((rc == 2)) && echo 'its mariadbd exited' || echo "timeout ${GALERA_UP_TIMEOUT}s"))"
        for n in "${GALERA_NODES[@]}"; do
            galera_node_synced "$n" 3 || galera_fail "node$n is not Synced in a cluster of 3: $(galera_node_state "$n" || echo 'no answer')"
        done
    fi
    log "cluster up in $(galera_secs_since "$started") s"
    galera_verify
}

# Checks the settings tests rely on, then prints URLs and the nodes' RSS.
galera_verify() {
    local n got want
    want=$'1\t\tROW\t2\t67108864\tOFF\t1\t1\t1'
    for n in "${GALERA_NODES[@]}"; do
        got=$(galera_sql "$n" "SELECT @@local_infile, IFNULL(@@secure_file_priv, ''), @@binlog_format,
            @@innodb_autoinc_lock_mode, @@innodb_buffer_pool_size, IF(@@wsrep_auto_increment_control, 'ON', 'OFF'),
            @@wsrep_slave_threads, @@log_bin, @@log_slave_updates") || galera_fail "root cannot log in over TCP on node$n ($(galera_url "$n"))"
        [[ $got == "$want" ]] || galera_fail "node$n settings differ: got '$got', want '$want'
(local_infile, secure_file_priv, binlog_format, innodb_autoinc_lock_mode, innodb_buffer_pool_size, wsrep_auto_increment_control, wsrep_slave_threads, log_bin, log_slave_updates)"
    done
    galera_status
}

galera_down() {
    local quiet=${1:-} started n pids=()
    started=$(galera_now_ms)
    for n in "${GALERA_NODES[@]}"; do
        galera_node_pid "$n" >/dev/null && pids+=("$n")
    done
    if ((${#pids[@]} == 0)) && [[ -z $(galera_stray_pids) ]]; then
        for n in "${GALERA_NODES[@]}"; do
            if galera_root_test -e "$(galera_pidfile "$n")" || galera_root_test -e "$(galera_socket "$n")"; then
                log "node$n: removing a stale pid file / socket"
                as_root rm -f -- "$(galera_pidfile "$n")" "$(galera_socket "$n")"
            fi
        done
        [[ -n $quiet ]] || log "cluster is down (nothing to stop)"
        return 0
    fi
    # One at a time, node 1 last, so it stays in the primary component to the end and keeps
    # safe_to_bootstrap: 1. (When nodes 2 and 3 left at the same moment, node 1 was once left
    # NON-PRIMARY, "sending install message for new primary component failed", and saved 0.)
    galera_stop_node 3
    galera_stop_node 2
    galera_stop_node 1
    local left
    left=$(galera_stray_pids)
    [[ -z $left ]] || die "processes of the test cluster still alive: $left"
    [[ -n $quiet ]] || log "cluster down in $(galera_secs_since "$started") s"
}

# Per node: pid, RSS, wsrep state. Returns 0 when all three are Synced in a cluster of 3.
galera_status() {
    local n pid rss total=0 st ok=0
    printf '%-6s %-28s %-8s %-8s %s\n' node url pid rss_mib "size state status ready"
    for n in "${GALERA_NODES[@]}"; do
        if pid=$(galera_node_pid "$n"); then
            rss=$(galera_rss_kib "$pid")
            total=$((total + rss))
            st=$(galera_node_state "$n") || st="(no answer)"
        else
            pid=- rss=0 st="(stopped)"
        fi
        [[ $st == "3 Synced Primary ON" ]] && ok=$((ok + 1))
        printf '%-6s %-28s %-8s %-8s %s\n' "node$n" "$(galera_url "$n")" "$pid" \
            "$(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }')" "$st"
    done
    printf 'total RSS of the nodes: %s MiB\n' "$(awk -v k="$total" 'BEGIN { printf "%.0f", k / 1024 }')"
    ((ok == 3))
}

# Stop and delete everything (datadirs, logs, option files).
galera_wipe() {
    galera_down
    if [[ -d $GALERA_DIR ]]; then
        local n
        for n in "${GALERA_NODES[@]}"; do galera_wipe_node "$n"; done
        as_root rmdir -- "$GALERA_DIR" 2>/dev/null || true
        log "removed $GALERA_DIR"
    fi
}

# ---------------------------------------------------------------------------- probe

# Re-measures the Galera behaviour rekey relies on (FACTS.md), on a running cluster, in a scratch
# database that it drops; global settings it changes are put back. Prints one line per fact.
galera_probe() {
    galera_healthy || die "the cluster is not up (scripts/galera.sh up)"
    local db=rekey_galera_probe
    # Statements fed on stdin with --force: the session goes on after an error, as an application's would.
    p() { "$(client_bin)" --protocol=TCP -h"$GALERA_HOST" -P"$(galera_sql_port "$1")" -uroot -N -B --force -D "$db" 2>&1 | sed -e '/^-*$/d' -e 's/ at line [0-9]*//'; }
    say() { printf '%-58s %s\n' "$1" "$(tr '\n\t' '  ' <<<"$2" | sed 's/ *$//')"; }
    galera_sql 1 "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
    trap 'galera_sql 1 "SET GLOBAL wsrep_max_ws_rows = 0; SET GLOBAL wsrep_max_ws_size = 2147483647; SET GLOBAL wsrep_mode = DEFAULT; SET GLOBAL log_bin_trust_function_creators = 0; DROP USER IF EXISTS rekey_probe@127.0.0.1; DROP DATABASE IF EXISTS '"$db"'" >/dev/null 2>&1 || true; trap - RETURN' RETURN

    say "defaults (max_ws_rows, max_ws_size, sync_wait, mode, log_bin)" \
        "$(p 1 <<<"SELECT @@wsrep_max_ws_rows, @@wsrep_max_ws_size, @@wsrep_sync_wait, CONCAT('[', @@wsrep_mode, ']'), @@log_bin")"
    p 1 <<<"CREATE TABLE w (id INT PRIMARY KEY, v INT); SET GLOBAL wsrep_max_ws_rows = 1000;" >/dev/null
    say "max_ws_rows=1000 set on node1; node2 sees" "$(p 2 <<<"SELECT @@GLOBAL.wsrep_max_ws_rows")"
    say "1000-row INSERT ... SELECT" "$(p 1 <<<"INSERT INTO w SELECT seq, seq FROM seq_1_to_1000; SELECT ROW_COUNT(); DELETE FROM w WHERE id > 0 AND id <= 500; DELETE FROM w;")"
    say "1001-row INSERT ... SELECT, then COUNT(*)" "$(p 1 <<<"INSERT INTO w SELECT seq, seq FROM seq_1_to_1001; SELECT COUNT(*) FROM w;")"
    say "same with wsrep_trx_fragment_size=100 rows (streaming)" \
        "$(p 1 <<<"SET SESSION wsrep_trx_fragment_unit='rows', wsrep_trx_fragment_size=100; INSERT INTO w SELECT seq, seq FROM seq_1_to_1001; SELECT COUNT(*) FROM w;")"
    say "BEGIN;+600;+600 (fails);COUNT,in_trx;+10;COMMIT;COUNT" \
        "$(p 1 <<<"BEGIN; INSERT INTO w SELECT seq, seq FROM seq_1_to_600; INSERT INTO w SELECT seq, seq FROM seq_601_to_1200; SELECT COUNT(*), @@in_transaction FROM w; INSERT INTO w SELECT seq, seq FROM seq_2001_to_2010; COMMIT; SELECT COUNT(*) FROM w; DELETE FROM w;")"
    p 1 <<<"SET GLOBAL wsrep_max_ws_rows = 0; SET GLOBAL wsrep_max_ws_size = 65536; CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB);" >/dev/null
    say "max_ws_size=64K: one 100 KB row" "$(p 1 <<<"INSERT INTO big VALUES (1, REPEAT('x', 100000)); SELECT COUNT(*) FROM big;")"
    say "max_ws_size=64K: 200 KB with 16 KB fragments (streaming)" \
        "$(p 1 <<<"SET SESSION wsrep_trx_fragment_unit='bytes', wsrep_trx_fragment_size=16384; INSERT INTO big SELECT seq, REPEAT('x', 10000) FROM seq_1_to_20; SELECT COUNT(*) FROM big;")"
    p 1 <<<"SET GLOBAL wsrep_max_ws_size = 2147483647;" >/dev/null

    p 1 <<<"INSERT INTO w SELECT seq, seq FROM seq_1_to_200000;" >/dev/null
    say "200000 rows written on node1: node3 COUNT, sync_wait=0" "$(p 3 <<<"SELECT COUNT(*) FROM w")"
    p 1 <<<"DELETE FROM w WHERE id <= 100000; INSERT INTO w SELECT seq, seq FROM seq_1_to_100000;" >/dev/null
    say "again (delete + re-insert 100000): node3, sync_wait=1" "$(p 3 <<<"SET SESSION wsrep_sync_wait = 1; SELECT COUNT(*) FROM w")"

    p 1 <<<"CREATE TABLE my (id INT PRIMARY KEY) ENGINE=MyISAM; INSERT INTO my VALUES (1),(2),(3); CREATE TABLE ar (id INT PRIMARY KEY) ENGINE=Aria; INSERT INTO ar VALUES (1);" >/dev/null
    say "MyISAM/Aria on node2: engines, rows (node1 has 3 / 1)" \
        "$(p 2 <<<"SET SESSION wsrep_sync_wait = 1; SELECT GROUP_CONCAT(ENGINE ORDER BY TABLE_NAME DESC) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('my', 'ar'); SELECT COUNT(*) FROM my; SELECT COUNT(*) FROM ar;")"

    p 1 <<<"CREATE TABLE nokey (a INT); CREATE TABLE haskey (a INT PRIMARY KEY); SET GLOBAL wsrep_mode = 'REQUIRED_PRIMARY_KEY';" >/dev/null
    say "REQUIRED_PRIMARY_KEY on node1; node2's wsrep_mode" "[$(p 2 <<<"SELECT @@GLOBAL.wsrep_mode")]"
    say "  CREATE TABLE t (a INT)" "$(p 1 <<<"CREATE TABLE t (a INT); SHOW WARNINGS;")"
    say "  CREATE TABLE t2 LIKE nokey" "$(p 1 <<<"CREATE TABLE t2 LIKE nokey;")"
    say "  CREATE TABLE t3 (a INT NOT NULL, UNIQUE KEY (a))" "$(p 1 <<<"CREATE TABLE t3 (a INT NOT NULL, UNIQUE KEY (a));")"
    say "  ALTER TABLE haskey DROP PRIMARY KEY" "$(p 1 <<<"ALTER TABLE haskey DROP PRIMARY KEY; SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'haskey';") (0 = done)"
    say "  INSERT, DELETE on the old keyless table" "$(p 1 <<<"INSERT INTO nokey VALUES (1); DELETE FROM nokey; SELECT 'ok';")"
    p 1 <<<"SET GLOBAL wsrep_mode = DEFAULT;" >/dev/null

    p 1 <<<"CREATE USER rekey_probe@127.0.0.1; GRANT ALL ON $db.* TO rekey_probe@127.0.0.1; CREATE TRIGGER tr BEFORE INSERT ON haskey FOR EACH ROW SET NEW.a = NEW.a;" >/dev/null
    local as_user=("$(client_bin)" --protocol=TCP -h"$GALERA_HOST" -P"$(galera_sql_port 1)" -urekey_probe -N -B --force -D "$db")
    say "non-SUPER DROP TRIGGER (log_bin=0, wsrep on)" "$("${as_user[@]}" <<<"DROP TRIGGER tr;" 2>&1 | sed -e '/^-*$/d' -e 's/ at line [0-9]*//')"
    p 1 <<<"SET GLOBAL log_bin_trust_function_creators = 1;" >/dev/null
    say "  same with log_bin_trust_function_creators=1" "$("${as_user[@]}" <<<"DROP TRIGGER tr; SELECT 'dropped';" 2>&1)"

    p 1 <<<"INSERT INTO haskey VALUES (1);" >/dev/null
    local out
    out=$(mktemp)
    { echo "BEGIN; UPDATE haskey SET a = 10 WHERE a = 1;"; sleep 2; echo "SELECT 'still in trx'; COMMIT;"; } | p 1 >"$out" &
    sleep 0.7
    p 2 <<<"UPDATE haskey SET a = 20 WHERE a = 1;" >/dev/null
    wait
    say "open trx on node1, node2 updates that row: node1 gets" "$(<"$out")"
    { echo "BEGIN; UPDATE haskey SET a = a + 1;"; sleep 1; echo "COMMIT;"; } | p 1 >"$out" &
    { echo "BEGIN; UPDATE haskey SET a = a + 100;"; sleep 1; echo "COMMIT;"; } | p 2 >>"$out"
    wait
    say "both nodes COMMIT an update of one row at once" "$(<"$out")"
    rm -f "$out"
}

# ---------------------------------------------------------------------------- bench

# Issue 12's acceptance run: the seed-like database (scripts/bench/generate_wide.sh SCALE, default 1 =
# 1.44M rows) converted on node 1 under wsrep_max_ws_rows=10000 and wsrep_max_ws_size=32M, then
# verified again from node 3; and the same `rekey run` on the single server at 127.0.0.1:3306.
# Prints the seconds of each, and the cluster run's chunked write-sets and DDL per stage. For the
# run the nodes get the single server's buffer pool (their own 64M would measure the cache, not
# the cluster); every global setting is put back and the databases dropped at the end.
galera_bench() {
    local scale=${1:-1} rekey=target/release/rekey out=${TMPDIR:-/tmp}/rekey-galera-bench
    galera_healthy || die "the cluster is not up (scripts/galera.sh up)"
    have python3 || die "python3 is needed to read the reports"
    local single="mysql://root@127.0.0.1:3306" n1 n3 db
    n1=$(galera_url 1)
    n3=$(galera_url 3)
    single_sql() { "$(client_bin)" --protocol=TCP -h127.0.0.1 -P3306 -uroot -N -B -e "$*"; }
    single_sql "SELECT 1" >/dev/null || die "no single MariaDB server at 127.0.0.1:3306 (scripts/test.sh sets one up)"
    log "building rekey (release)"
    cargo build --release -j 2 -q
    rm -rf "$out" && mkdir -p "$out"
    local pool n saved=()
    pool=$(single_sql "SELECT @@innodb_buffer_pool_size")
    for n in "${GALERA_NODES[@]}"; do
        saved+=("$(galera_sql "$n" "SELECT CONCAT(@@wsrep_max_ws_rows, ' ', @@wsrep_max_ws_size, ' ', @@innodb_buffer_pool_size)")")
    done
    # shellcheck disable=SC2317 # called by the trap
    galera_bench_restore() {
        local i=0 rows size bp
        for n in "${GALERA_NODES[@]}"; do
            read -r rows size bp <<<"${saved[$i]}"
            galera_sql "$n" "SET GLOBAL wsrep_max_ws_rows = $rows; SET GLOBAL wsrep_max_ws_size = $size; SET GLOBAL innodb_buffer_pool_size = $bp" || true
            i=$((i + 1))
        done
        galera_sql 1 "DROP DATABASE IF EXISTS rk_gbench_src; DROP DATABASE IF EXISTS rk_gbench_data; DROP DATABASE IF EXISTS rk_gbench_final" || true
        single_sql "DROP DATABASE IF EXISTS rk_gbench_src; DROP DATABASE IF EXISTS rk_gbench_data; DROP DATABASE IF EXISTS rk_gbench_final" || true
    }
    trap 'galera_bench_restore; trap - RETURN' RETURN

    log "generating the seed-like database at scale $scale on node1 and on the single server"
    for target in cluster single; do
        if [[ $target == cluster ]]; then
            galera_sql 1 "DROP DATABASE IF EXISTS rk_gbench_src; DROP DATABASE IF EXISTS rk_gbench_data; DROP DATABASE IF EXISTS rk_gbench_final; CREATE DATABASE rk_gbench_src DEFAULT CHARSET utf8mb4"
            # With unique checks on: the generator's INSERT IGNORE under unique_checks=0 made
            # node 1 store rows the other nodes' appliers refused, and the cluster fell apart.
            scripts/bench/generate_wide.sh "$scale" | sed 's/SET SESSION unique_checks = 0;/SET SESSION unique_checks = 1;/' |
                "$(client_bin)" --protocol=TCP -h"$GALERA_HOST" -P"$(galera_sql_port 1)" -uroot rk_gbench_src
        else
            single_sql "DROP DATABASE IF EXISTS rk_gbench_src; DROP DATABASE IF EXISTS rk_gbench_data; DROP DATABASE IF EXISTS rk_gbench_final; CREATE DATABASE rk_gbench_src DEFAULT CHARSET utf8mb4"
            scripts/bench/generate_wide.sh "$scale" | "$(client_bin)" --protocol=TCP -h127.0.0.1 -P3306 -uroot rk_gbench_src
        fi
    done
    for n in "${GALERA_NODES[@]}"; do
        galera_sql "$n" "SET GLOBAL innodb_buffer_pool_size = $pool; SET GLOBAL wsrep_max_ws_rows = 10000; SET GLOBAL wsrep_max_ws_size = 33554432"
    done

    local url secs took verify
    for target in single cluster; do
        if [[ $target == cluster ]]; then url=$n1; else url=$single; fi
        # DB_FINAL's empty schema is the application's migrations' work, before the downtime.
        "$rekey" derive-final --source "$url/rk_gbench_src" --final "$url/rk_gbench_final" \
            --run-dir "$out/$target" -q >/dev/null
        secs=$(galera_now_ms)
        "$rekey" run --source "$url/rk_gbench_src" --data "$url/rk_gbench_data" --final "$url/rk_gbench_final" \
            --jobs 2 --run-dir "$out/$target" -q >/dev/null
        took=$(galera_secs_since "$secs")
        log "$target: rekey run in $took s (verified on the node that wrote it)"
        printf '%s\n' "$took" >"$out/$target.seconds"
    done
    secs=$(galera_now_ms)
    "$rekey" verify --source "$n1/rk_gbench_src" --final "$n3/rk_gbench_final" --run-dir "$out/cluster" -q >/dev/null
    verify=$(galera_secs_since "$secs")
    log "cluster: verified again from node3 in $verify s"
    python3 - "$out" "$scale" "$verify" <<'PY'
import json, sys
out, scale, verify = sys.argv[1], sys.argv[2], sys.argv[3]
single = float(open(f"{out}/single.seconds").read())
cluster = float(open(f"{out}/cluster.seconds").read())
report = json.load(open(f"{out}/cluster/report.json"))
rows = sum(c["source_rows"] for c in report["verification"])
print(f"\nscale {scale}: {rows} rows; wsrep_max_ws_rows=10000, wsrep_max_ws_size=32M on every node")
print(f"single server: {single:.1f} s; Galera (written on node1, DB_FINAL verified from node3 in {verify} s): {cluster:.1f} s ({cluster / single:.2f}x)")
for s in json.load(open(f"{out}/cluster/report.json"))["stages"]:
    print(f"  {s['name']:<12} {s['seconds']:7.2f} s  {s.get('detail') or ''}")
PY
}
