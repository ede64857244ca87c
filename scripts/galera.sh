#!/usr/bin/env bash
# Start, stop or inspect rekey's 3-node MariaDB Galera test cluster on loopback.
#
#   scripts/galera.sh up       # start (or just verify) 3 nodes; waits for cluster_size=3, all Synced
#   scripts/galera.sh down     # stop them (node 1 last); a no-op when already down
#   scripts/galera.sh status   # per node: url, pid, RSS, wsrep state; exit 0 only if all 3 Synced
#   scripts/galera.sh wipe     # down, then delete the cluster's directory (next up starts afresh)
#   scripts/galera.sh logs     # last lines of every node's error log
#   scripts/galera.sh probe    # re-measure the Galera facts rekey relies on (cluster must be up)
#   scripts/galera.sh bench [SCALE]  # issue 12's acceptance: seed-like database under 10000-row
#                                    # write-sets, against the same run on the single server
#
# Why a cluster of our own: the Galera row of the spec (write-set limits, REQUIRED_PRIMARY_KEY,
# short DDL under TOI, MyISAM/Aria not replicated, reads on another node with wsrep_sync_wait,
# deadlock/certification retries) is tested against a real cluster, beside the ordinary MariaDB on
# 127.0.0.1:3306, which this script never touches.
#
# Nodes: mysql://root@127.0.0.1:4401, :4402, :4403 (root, empty password). Data, sockets and logs
# under $REKEY_GALERA_DIR (default /var/tmp/rekey-galera). REKEY_GALERA_UP_TIMEOUT (s, default 180)
# bounds `up`; on failure it prints the last lines of each node's logs and exits 1.
# How it works, ports, and recovery after a crash: header of scripts/lib/galera.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib/mariadb.sh
source scripts/lib/mariadb.sh
# shellcheck source=scripts/lib/galera.sh
source scripts/lib/galera.sh

usage() {
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
}

main() {
    (($# >= 1)) || usage
    case $1 in
    up) galera_up ;;
    down) galera_down ;;
    status) galera_status ;;
    wipe) galera_wipe ;;
    logs) galera_show_logs 2>&1 ;;
    probe) galera_probe ;;
    bench) galera_bench "${2:-1}" ;;
    -h | --help | help) usage ;;
    *) usage ;;
    esac
}

main "$@"
