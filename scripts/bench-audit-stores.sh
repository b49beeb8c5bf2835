#!/usr/bin/env bash
# Group-commit throughput of the audit log on both stores, in one run: builds `lienthong` in
# release mode, starts a throw-away PostgreSQL server (initdb into a temporary directory, free
# loopback port, default durability settings: fsync=on, synchronous_commit=on), then runs
# `lienthong audit bench-commit` on SQLite and on PostgreSQL and prints both tables.
#
# Usage: scripts/bench-audit-stores.sh [bench-commit options, e.g. --records 4000 --writers 1,16,256]
# Needs the PostgreSQL server binaries (scripts/test.sh installs them; LIENTHONG_PG_BIN overrides
# where they are looked for). As root, PostgreSQL runs as the `postgres` user via runuser.
set -euo pipefail
cd "$(dirname "$0")/.."

find_pg_bin() {
  local dir
  for dir in "${LIENTHONG_PG_BIN:-}" /usr/lib/postgresql/15/bin \
             $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/createdb" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

pg_bin=$(find_pg_bin) || {
  echo "bench-audit-stores.sh: the PostgreSQL server binaries are not installed; run scripts/test.sh (apt-get install postgresql) or set LIENTHONG_PG_BIN" >&2
  exit 1
}

echo "bench-audit-stores.sh: building lienthong (release)" >&2
swift build -c release --product lienthong >&2
lienthong=$(swift build -c release --show-bin-path)/lienthong

as_postgres=()
base=${TMPDIR:-/tmp}
if [ "$(id -u)" -eq 0 ]; then
  as_postgres=(runuser -u postgres --)
  base=/tmp   # the postgres user must be able to reach it
fi
dir=$(mktemp -d "$base/lienthong-pgbench-XXXXXX")
[ ${#as_postgres[@]} -eq 0 ] || chown postgres: "$dir"

cleanup() {
  "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_postgres[@]}" "$pg_bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
"${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
"$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U postgres audit_bench
settings=$("$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d audit_bench -Atc \
  "SELECT 'PostgreSQL ' || current_setting('server_version') || ', fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit') || ', wal_sync_method=' || current_setting('wal_sync_method')")

echo "== $(uname -m), $(nproc) cores, data under $base"
echo
"$lienthong" audit bench-commit --dir "$dir" "$@"
echo
echo "== $settings (loopback TCP, data under $dir)"
"$lienthong" audit bench-commit --postgres "postgres://postgres@127.0.0.1:$port/audit_bench" "$@"
