#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, then runs `swift test`.
# Needs: openssl (interoperability checks of the PKI and OCSP responder), Python's
# `cryptography` (independent verification of the signature test vector), and the PostgreSQL
# server binaries (the audit store tests start throw-away servers with initdb/pg_ctl; see
# Tests/LienThongTestSupport/PostgresTestServer.swift), and zlib's headers (audit archives).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
[ -f /usr/include/zlib.h ] || need_apt+=(zlib1g-dev)   # audit archives are gzip (CZlib)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test.sh: installing ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# The independent verifiers need cryptography >= 40 (Certificate.verify_directly_issued_by).
if ! python3 -c 'from cryptography import x509; x509.Certificate.verify_directly_issued_by' >/dev/null 2>&1; then
  echo "test.sh: installing Python cryptography (>= 40)"
  python3 -m pip install --quiet --upgrade 'cryptography>=40' || apt-get install -y -qq python3-cryptography
fi
if ! python3 -c 'import jsonschema' >/dev/null 2>&1; then
  python3 -m pip install --quiet jsonschema
fi

# The end-to-end tests drive the real `lienthong` executable.
swift build

if [ $# -eq 0 ]; then
  # The socket-timing tests of the peer client run on their own after the rest: on 2 cores the
  # end-to-end suites (server processes killed and restarted, PostgreSQL, full disks) can stall
  # them for seconds, which they would read as a timeout that did not fire.
  # The demo's tests run a whole instance as a subprocess (a dozen ports picked free, then bound);
  # they too run on their own, so their ports cannot race the other end-to-end suites' ports.
  # The hostile-input suite opens 2,000 idle connections and times the idle cut-off: on its own too.
  # The fault-injection suite stops and restarts the registry and OCSP responder under load and
  # times how long the servers go on without them: on its own too.
  swift test --skip PeerClientTests --skip DemoCommandTests --skip 'LienThongServerTests\.HostileInputTests' --skip ChaosTests
  swift test --skip-build --filter PeerClientTests
  swift test --skip-build --filter DemoCommandTests
  swift test --skip-build --filter 'LienThongServerTests\.HostileInputTests'
  swift test --skip-build --filter ChaosTests
else
  swift test "$@"
fi
