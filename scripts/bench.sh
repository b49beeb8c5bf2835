#!/usr/bin/env bash
# The relay benchmark (docs/performance.md): direct vs nginx mutual-TLS relay vs LienThong, in one
# run, in alternation, on loopback. Installs nginx, wrk and curl (and the PostgreSQL server for the
# PostgreSQL variant) when missing, builds lienthong in release mode, then runs scripts/bench.py.
#
# Usage: scripts/bench.sh [bench.py options]    e.g. --duration 5 --repetitions 1 --no-postgres
#        scripts/bench.sh ... --baseline-bin ../base/.build/release/lienthong   (before/after: a binary built from
#        another commit in a second clone; each binary runs its own network, measured in alternation)
# Prints a table and writes bench/results.json. A full run takes about 20 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [[ " $* " != *" --no-postgres "* ]]; then
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bench.sh: installing ${need_apt[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Debian starts nginx's own service on install; the benchmark runs its own instances only.
command -v systemctl >/dev/null 2>&1 && systemctl stop nginx >/dev/null 2>&1 || true

# LIENTHONG_BENCH_BUILD=debug uses the debug build (CI's smoke run: the test command built it);
# figures from it mean nothing, but every step of the benchmark runs.
configuration=${LIENTHONG_BENCH_BUILD:-release}
echo "bench.sh: building lienthong ($configuration)" >&2
swift build -c "$configuration" --product lienthong >&2
exec python3 scripts/bench.py --lienthong "$(swift build -c "$configuration" --show-bin-path)/lienthong" "$@"
