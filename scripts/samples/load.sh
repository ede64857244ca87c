#!/usr/bin/env bash
# Load a public PostgreSQL sample database (written by no one on this project) into a fresh database,
# for rekey's PostgreSQL acceptance runs. The samples are NOT in this repository: fetch their git
# repositories first and point this script at them. See scripts/samples/README.md.
#
#   scripts/samples/load.sh [--replace] NAME DBNAME [REPO_DIR]
#
# NAME      pagila | pagila-legacy | chinook
# DBNAME    the database to create (it must not exist, unless --replace: then it is dropped first)
# REPO_DIR  the sample's git repository (a bare/mirror git directory or a clone with a work tree).
#           Default: $REKEY_SAMPLES_MIRROR/<owner>+<name>/repo, with REKEY_SAMPLES_MIRROR defaulting
#           to /work/.mirror (where the agent's `fetch github:<owner>/<name>` tool puts them);
#           or per sample: REKEY_SAMPLE_PAGILA_REPO, REKEY_SAMPLE_CHINOOK_REPO.
#           Any clone works too: git clone https://github.com/devrimgunduz/pagila
#
# Files are read with `git show <pinned commit>:<path>`, so the same bytes load whatever the clone's
# checked-out branch is (the pinned commits are below and in the README). A directory that is not a
# git repository is read as a plain checkout (unpinned: a warning is printed).
#
# Server: PGHOST (default 127.0.0.1), PGPORT (5432), PGUSER (postgres); a password, if any, from
# PGPASSWORD or ~/.pgpass. Loading needs a role that may CREATE DATABASE and own what the dumps create
# (the pg_dump files say OWNER TO postgres): use postgres.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 2
}
die() {
    printf 'load.sh: %s\n' "$*" >&2
    exit 1
}
log() { printf '==> %s\n' "$*" >&2; }

replace=0
if [[ ${1:-} == --replace ]]; then
    replace=1
    shift
fi
[[ $# -ge 2 && $# -le 3 ]] || usage
name=$1 db=$2 repo=${3:-}

export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
mirror=${REKEY_SAMPLES_MIRROR:-/work/.mirror}

# Per sample: repository (owner/name), pinned commit, files to load in order, and a filter that
# removes what would load them somewhere else (DROP/CREATE DATABASE, \c).
case $name in
pagila)
    # Last commit whose data file is in the fetched snapshot and whose schema loads on PG 12-17
    # (later commits target PG 18/19: virtual generated columns, temporal keys).
    gh=devrimgunduz/pagila
    commit=5ba5a57aeb159f75f02aca2432d3c262186d13d3
    files=(pagila-schema.sql pagila-data.sql)
    repo=${repo:-${REKEY_SAMPLE_PAGILA_REPO:-}}
    ;;
pagila-legacy)
    # The last pagila with inheritance partitions of payment and DO INSTEAD rules (before PG 10
    # declarative partitioning replaced them, commit 885379c of 2018-02-12).
    gh=devrimgunduz/pagila
    commit=0bad574f0614b0938be9fd7df8a314287aad78b2
    files=(pagila-schema.sql pagila-data.sql)
    repo=${repo:-${REKEY_SAMPLE_PAGILA_REPO:-}}
    ;;
chinook)
    # Version 1.4.5, the variant with GENERATED ALWAYS AS IDENTITY keys.
    gh=lerocha/chinook-database
    commit=7f67772503d71ba90f19283c38e93923addb43fa
    files=(ChinookDatabase/DataSources/Chinook_PostgreSql_AutoIncrementPKs.sql)
    repo=${repo:-${REKEY_SAMPLE_CHINOOK_REPO:-}}
    ;;
*) die "unknown sample '$name' (pagila, pagila-legacy, chinook)" ;;
esac
repo=${repo:-$mirror/${gh/\//+}/repo}
[[ -d $repo ]] || die "no repository at $repo: fetch github:$gh first (or clone https://github.com/$gh) and pass its path"

filter() {
    # chinook creates and connects to its own database: keep it in ours.
    sed -E -e '/^DROP DATABASE /d' -e '/^CREATE DATABASE /d' -e '/^\\c /d'
}

read_file() {
    local path=$1
    if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$repo" cat-file -e "$commit^{commit}" 2>/dev/null ||
            die "commit $commit is not in $repo (fetch a newer snapshot of $gh)"
        git -C "$repo" show "$commit:$path" 2>/dev/null ||
            die "$path at $commit is missing from $repo (large files may be absent from a snapshot)"
    elif [[ -f $repo/$path ]]; then
        cat "$repo/$path"
    else
        die "$repo/$path does not exist"
    fi
}
if ! git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
    log "warning: $repo is not a git repository: loading its files as they are, not the pinned commit $commit"
fi

exists=$(psql -X -w -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '${db//\'/\'\'}'") ||
    die "cannot connect to PostgreSQL at $PGHOST:$PGPORT as $PGUSER"
if [[ $exists == 1 ]]; then
    ((replace)) || die "database $db exists (use --replace to drop and recreate it)"
    log "dropping database $db"
    dropdb -w --force "$db"
fi
log "creating database $db"
createdb -w -T template0 -E UTF8 "$db"

for f in "${files[@]}"; do
    log "loading $gh@${commit:0:7}:$f into $db"
    read_file "$f" | filter | psql -X -w -q -v ON_ERROR_STOP=1 -d "$db" -f - >/dev/null ||
        die "loading $f failed (database $db is left as it is)"
done
psql -X -w -q -d "$db" -c 'ANALYZE' >/dev/null
log "loaded $name into $db: $(psql -X -w -At -d "$db" -c "SELECT count(*) || ' tables, ' || coalesce(sum(n_live_tup), 0) || ' rows (estimate)' FROM pg_stat_user_tables")"
