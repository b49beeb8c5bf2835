#!/usr/bin/env bash
# The load soak (issue 8; docs/robustness.md): a steady rate through the full chain for 10
# minutes with the provider's server killed with kill -9 halfway, then the audit-log check.
# Installs nginx (the backend) when missing, builds lienthong, runs scripts/soak.py.
#
# Usage: scripts/soak.sh [soak.py options]     e.g. --minutes 10 --rate 100 --check
# Writes bench/soak-results.json. LIENTHONG_BENCH_BUILD=debug uses the debug build (CI's short form).
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)   # only for the machine description
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "soak.sh: installing ${need_apt[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v systemctl >/dev/null 2>&1 && systemctl stop nginx >/dev/null 2>&1 || true
python3 -c 'import jsonschema' >/dev/null 2>&1 || python3 -m pip install --quiet jsonschema
configuration=${LIENTHONG_BENCH_BUILD:-release}
echo "soak.sh: building lienthong ($configuration)" >&2
swift build -c "$configuration" --product lienthong >&2
exec python3 scripts/soak.py --lienthong "$(swift build -c "$configuration" --show-bin-path)/lienthong" "$@"
