#!/usr/bin/env bash
# Full local / CI check for rekey:
#   1. cargo fmt --check and cargo clippy -D warnings (cheap, fail fast)
#   2. make sure a MariaDB server answers on 127.0.0.1:3306 with root and an
#      empty password, and local_infile=ON (install / start it if needed)
#   3. the same for PostgreSQL on 127.0.0.1:5432 (user postgres, trust), scripts/lib/postgres.sh,
#      and Chromium for the report's rendering test
#   4. start rekey's 3-node Galera test cluster (scripts/galera.sh up, while the tests compile)
#      and the private change-stream servers (scripts/live.sh up), and stop them when the script
#      ends, whatever happens
#   5. cargo test --release with REKEY_REQUIRE_MYSQL, _POSTGRES, _GALERA and _CHROMIUM set (those
#      tests must run: an unreachable server fails them, never skips them)
#
# Works on this dev machine and on a fresh Debian 12 machine that only has
# Rust installed (run as root there, or with sudo available).
# Extra arguments go to the test binaries, e.g.  scripts/test.sh blog_fixture
#
# If REKEY_TEST_MYSQL_URL is already set to something other than the default
# below, the local MariaDB setup is skipped and that server is used as is.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib/mariadb.sh
source scripts/lib/mariadb.sh
# shellcheck source=scripts/lib/postgres.sh
source scripts/lib/postgres.sh

ensure_cargo_component() {
    # $1 = cargo subcommand, $2 = rustup component
    if ! cargo "$1" --version >/dev/null 2>&1; then
        have rustup || die "cargo $1 is not installed (and rustup is not available)"
        log "installing rustup component $2"
        rustup component add "$2"
    fi
}

# ---------------------------------------------------------------------------

have cargo || die "cargo is not on PATH"

ensure_cargo_component fmt rustfmt
log "cargo fmt --all -- --check"
cargo fmt --all -- --check

ensure_cargo_component clippy clippy
log "cargo clippy --all-targets -- -D warnings"
cargo clippy -j 2 --all-targets -- -D warnings

if [[ -z ${REKEY_TEST_MYSQL_URL:-} || ${REKEY_TEST_MYSQL_URL} == "$DEFAULT_URL" ]]; then
    ensure_mariadb
    export REKEY_TEST_MYSQL_URL=$DEFAULT_URL
else
    log "REKEY_TEST_MYSQL_URL is set, using that server and skipping the local MariaDB setup"
fi
export REKEY_REQUIRE_MYSQL=1
# shellcheck source=scripts/lib/chromium.sh
source scripts/lib/chromium.sh && ensure_chromium && export REKEY_REQUIRE_CHROMIUM=1
log "REKEY_TEST_MYSQL_URL=$REKEY_TEST_MYSQL_URL REKEY_REQUIRE_MYSQL=$REKEY_REQUIRE_MYSQL"

# PostgreSQL the same way: a server started here unless another one is named.
if [[ -z ${REKEY_TEST_POSTGRES_URL:-} || ${REKEY_TEST_POSTGRES_URL} == "$PG_DEFAULT_URL" ]]; then
    ensure_postgres
    export REKEY_TEST_POSTGRES_URL=$PG_DEFAULT_URL
else
    log "REKEY_TEST_POSTGRES_URL is set, using that server and skipping the local PostgreSQL setup"
fi
export REKEY_REQUIRE_POSTGRES=1
log "REKEY_TEST_POSTGRES_URL=$REKEY_TEST_POSTGRES_URL REKEY_REQUIRE_POSTGRES=$REKEY_REQUIRE_POSTGRES"

# tests/postgres_alembic.rs makes a Python venv under target/ and pip-installs the Alembic site's
# requirements there; Debian splits the venv module out of python3.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    log "installing python3 and python3-venv (apt-get)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null ||
        die "apt-get install python3 python3-venv failed"
fi

# The Galera cluster comes up (10-16 s, mostly waiting for state transfers) while the tests
# compile, after the other setups so that no two apt-get runs overlap; it is stopped on exit
# (it holds 300-700 MiB).
test_log=$(mktemp)
galera_log=$(mktemp)
trap 'scripts/galera.sh down || true; scripts/live.sh down || true; rm -f "$test_log" "$galera_log"' EXIT
# The private servers with a change stream (binlog MariaDB on 3316, wal_level=logical PostgreSQL
# on 5442) for the live-cutover checks; the shared servers' settings are never changed.
log "scripts/live.sh up"
scripts/live.sh up
export REKEY_TEST_LIVE_MYSQL_URL=mysql://root@127.0.0.1:3316
export REKEY_TEST_LIVE_POSTGRES_URL=postgres://postgres@127.0.0.1:5442
export REKEY_REQUIRE_LIVE=1
log "scripts/galera.sh up (in the background), cargo test --no-run"
scripts/galera.sh up >"$galera_log" 2>&1 &
galera_pid=$!
cargo test --release -j 2 --no-run
wait "$galera_pid" || { cat "$galera_log" >&2; die "the Galera test cluster did not come up"; }
tail -n 5 "$galera_log"
export REKEY_REQUIRE_GALERA=1

log "cargo test --release -j 2 -- --test-threads=2 $*"
cargo test --release -j 2 -- --test-threads=2 "$@" 2>&1 | tee "$test_log"

# The adversarial operator's session (scripts/adversarial.sh): every case of issue 20 and the
# wrong URLs, on MariaDB and PostgreSQL, each with the outcome it must have. Only for the full
# suite (a filter given to this script runs only those tests).
adversarial=ok
if [[ $# -eq 0 ]]; then
    log "scripts/adversarial.sh"
    scripts/adversarial.sh 2>&1 | tee -a "$test_log" || adversarial=failed
fi
# One closing line for the whole suite, summed over every test binary and the adversarial cases.
awk '/^test result:/ { p += $4; f += $6; s += $8 }
     /^adversarial: / { p += $2; f += $4 }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$test_log"
[[ $adversarial == ok ]] || die "scripts/adversarial.sh: a case did not hold (lines marked FAILED above)"
