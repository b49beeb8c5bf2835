#!/usr/bin/env bash
# Regenerates docs/test-vectors/message-signature-v2.json with the lienthong CLI.
# The key in the vector is a published TEST-ONLY key. ECDSA is randomised: every run gives a
# different, equally valid JWS, so only rerun this when the canonical form changes.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lt() { swift run --quiet lienthong "$@"; }

lt pki init --dir "$work/pki" --instance VN --ocsp-url http://127.0.0.1:8888/ --days 36500 >/dev/null
lt pki issue --dir "$work/pki" --kind member --id VN/GOV/000.00.00.H26 --days 36000 >/dev/null

body='{"so-dinh-danh":"001099012345","ma-thu-tuc":"1.004227"}'
body_digest=$(printf '%s' "$body" | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=')
cat > "$work/message.json" <<JSON
{"v":2,"kind":"request","time":1767225600000,"id":"7c2f3f0e-1d6b-4c47-9b5e-2e8f2a9d4b10","method":"POST",
 "service":"VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan","client":"VN/GOV/000.00.00.H26/MOTCUA",
 "path":"/v1/cong-dan/tra-cuu?ma-thu-tuc=1.004227",
 "headers":{"content-type":"application/json","x-lienthong-purpose":"1.004227","x-road-userid":"VN001099012345"},
 "body":"$body_digest"}
JSON
lt message sign --message "$work/message.json" --key "$work/pki/member/VN_GOV_000.00.00.H26.key" \
   --cert "$work/pki/member/VN_GOV_000.00.00.H26.crt" > "$work/jws.txt"
digest_out=$(lt message digest --message "$work/message.json")

python3 - "$work" "$body" "$digest_out" <<'PY'
import json, sys
work, body, digest_out = sys.argv[1], sys.argv[2], sys.argv[3].splitlines()
canonical = digest_out[0]
b64 = digest_out[1].split()[-1]
hexd = digest_out[2].split()[-1]
read = lambda p: open(f"{work}/{p}").read()
vector = {
  "description": "LienThong message signature test vector, canonical form version 2 (docs/protocol.md). TEST ONLY: the private key is published; never trust it.",
  "privateKeyPem": read("pki/member/VN_GOV_000.00.00.H26.key"),
  "certificatePem": read("pki/member/VN_GOV_000.00.00.H26.crt"),
  "caCertificatePem": read("pki/ca/root.crt"),
  "body": body,
  "message": json.loads(read("message.json")),
  "canonical": canonical,
  "digestHex": hexd,
  "digestBase64url": b64,
  "jws": read("jws.txt").strip(),
}
with open("docs/test-vectors/message-signature-v2.json", "w") as f:
    json.dump(vector, f, indent=2, ensure_ascii=False)
    f.write("\n")
PY
python3 scripts/verify_test_vector.py docs/test-vectors/message-signature-v2.json
