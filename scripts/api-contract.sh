#!/usr/bin/env bash
# The API contract check (issue 15 item 9, docs/robustness.md §API contract): Schemathesis 4.x,
# a fuzzer nobody here wrote, runs every check against a throw-away network — the registry's
# management API (admin certificate), its auditor API (auditor certificate), and one security
# server's operations API (the owner's admin certificate for the veto, the auditor's for
# evidence) — with a fixed seed and about 30 examples per operation (schemathesis.toml beside
# the schemas). It fails on any finding: a 5xx, a schema-valid request refused with 400, an
# invalid one accepted, a response or header that does not match the documents, a wrong Allow.
#
# The network is `lienthong demo` (no --once) in a temporary directory: its PKI, registry, OCSP
# responder and four security servers, with the story's data as the state the fuzzer starts
# from. It uses the already-built binary (`swift build` first; .ci/run runs this after
# scripts/test.sh). Schemathesis is installed from PyPI into .build/api-contract-venv on first
# use. Prints the number of requests and the time each run took.
#
# Usage: scripts/api-contract.sh [--keep]   (--keep leaves the work directory and its reports)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
keep=0
[ "${1:-}" = "--keep" ] && keep=1

bin="${LIENTHONG_BIN:-$(swift build --show-bin-path)/lienthong}"
[ -x "$bin" ] || { echo "api-contract: no $bin; run swift build first" >&2; exit 2; }

venv="$root/.build/api-contract-venv"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q 'version 4\.'; then
  echo "api-contract: installing Schemathesis 4.x into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'schemathesis>=4,<5'
fi
st="$venv/bin/schemathesis"
"$st" --version

work=$(mktemp -d)
demo_pid=""
cleanup() {
  if [ -n "$demo_pid" ]; then kill "$demo_pid" 2>/dev/null || true; wait "$demo_pid" 2>/dev/null || true; fi
  if [ "$keep" = 1 ]; then echo "api-contract: work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "api-contract: starting a throw-away network (lienthong demo) in $work/demo"
"$bin" demo --dir "$work/demo" > "$work/demo.log" 2>&1 &
demo_pid=$!
for _ in $(seq 1 300); do
  grep -q "Running until SIGTERM" "$work/demo.log" 2>/dev/null && break
  kill -0 "$demo_pid" 2>/dev/null || { echo "api-contract: the demo stopped:" >&2; tail -30 "$work/demo.log" >&2; exit 1; }
  sleep 1
done
grep -q "Running until SIGTERM" "$work/demo.log" || { echo "api-contract: the demo did not come up in 300 s" >&2; tail -30 "$work/demo.log" >&2; exit 1; }

# Certificates and addresses from the network file; client certificate and key in one PEM each.
eval "$(python3 - "$work/demo/network.json" "$work" <<'PY'
import json, sys, shlex
network = json.load(open(sys.argv[1]))
work = sys.argv[2]
def bundle(name, cert, key):
    path = f"{work}/{name}.pem"
    with open(path, "w") as out:
        out.write(open(cert).read()); out.write(open(key).read())
    return path
registry = network["registry"]
server = network["servers"][0]
values = {
    "registry_url": registry["url"].rstrip("/"),
    "ca": registry["ca_cert"],
    "admin": bundle("admin", registry["admin_cert"], registry["admin_key"]),
    "auditor": bundle("auditor", registry["auditor_cert"], registry["auditor_key"]),
    "operations_url": server["operations_url"].rstrip("/"),
    "owner_admin": bundle("owner-admin", server["admin_cert"], server["admin_key"]),
}
for key, value in values.items():
    print(f"{key}={shlex.quote(value)}")
PY
)"

config="$root/schemas/schemathesis.toml"
total_requests=0
total_seconds=0
failed=0
# run NAME SCHEMA URL CERT [filters...]
run() {
  local name=$1 schema=$2 url=$3 cert=$4; shift 4
  local started=$(date +%s)
  local status=0
  echo
  echo "api-contract: [$name] $schema against $url"
  "$st" --config-file "$config" run "$root/schemas/$schema" --url "$url" \
    --request-cert "$cert" --tls-verify "$ca" \
    --report ndjson --report-dir "$work/reports/$name" "$@" || status=$?
  local seconds=$(( $(date +%s) - started ))
  local requests
  requests=$(python3 - "$work/reports/$name" <<'PY'
import json, pathlib, sys
count = 0
for path in pathlib.Path(sys.argv[1]).glob("*.ndjson"):
    for line in path.open():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        # One ScenarioFinished per scenario; each carries the interactions it recorded.
        for payload in event.values():
            if isinstance(payload, dict) and "recorder" in payload:
                count += len(payload["recorder"].get("interactions", {}))
print(count)
PY
)
  echo "api-contract: [$name] $requests requests in $seconds s (exit $status)"
  total_requests=$(( total_requests + requests ))
  total_seconds=$(( total_seconds + seconds ))
  [ "$status" = 0 ] || failed=1
}

# The registry as an administrator: everything but the auditor API (403 for this role) and
# POST /checkpoints (a signed audit checkpoint cannot be generated from its schema; the
# checkpoint fuzz target and ManagementHostileInputTests cover it).
run registry-admin registry-api.openapi.yaml "$registry_url" "$admin" \
  --exclude-path-regex '^/api/v1/auditor/' --exclude-path '/checkpoints'
# The registry as an auditor: the auditor API (every query is recorded in the admin trail).
run registry-auditor registry-api.openapi.yaml "$registry_url" "$auditor" \
  --include-path-regex '^/api/v1/auditor/' --phases examples,coverage,fuzzing
# One security server's operations API: the veto as its owner's administrator, evidence as the auditor.
run operations-admin security-server-operations.openapi.yaml "$operations_url" "$owner_admin" --include-path-regex '^/admin/'
run operations-auditor security-server-operations.openapi.yaml "$operations_url" "$auditor" --include-path-regex '^/auditor/'

echo
echo "api-contract: $total_requests requests in $total_seconds s in all"
if [ "$failed" != 0 ]; then
  echo "api-contract: FAILED (the findings are above; reports in $work/reports with --keep)" >&2
  exit 1
fi
echo "api-contract: clean"
