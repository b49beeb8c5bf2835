#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpus (Tests/Fuzz/corpus) from a `lienthong demo` folder.

    .build/release/lienthong demo --once --dir /tmp/fuzzdemo
    scripts/fuzz-corpus.py /tmp/fuzzdemo

Seeds: hand-written identifiers and client requests; from the demo's audit logs, canonical
records of every outcome and the message signatures (JWS) they keep; the test vector's canonical
message and JWS; the signed global configuration and its JSON payload; an evidence bundle. The
demo's root CA certificate (no key) goes to certs/dev/fuzz/root-ca.pem: the fuzz driver uses it as
the trust anchor, so that the signed seeds verify and mutations exercise the checks past the
signature. Everything here is synthetic test data.

Seeds are named by their SHA-1 and added next to what the corpus already holds (inputs that
longer fuzz runs found and `-merge=1` kept; see docs/robustness.md), nothing is deleted.
"""
import base64, glob, hashlib, json, os, shutil, sqlite3, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
demo = sys.argv[1] if len(sys.argv) > 1 else "/tmp/fuzzdemo"
corpus = os.path.join(root, "Tests", "Fuzz", "corpus")


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    folder = os.path.join(corpus, target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


for text in ["VN/GOV/000.00.00.G22", "VN/GOV/000.00.00.G22/DANCU", "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan",
             "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1", "VN/GOV/000.00.00.G22/datasets/dan-cu",
             "VN/GOV/000.00.00.G22/ss1", "  VN/GOV/000.00.00.H26/MOTCUA\t", "VN/COM/0101243150/a%3Fb",
             "VN/GOV/Bộ%20Công%20an", "VN/GOV/000.00.00.G22/%2E%2E",
             "/r1/VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1/cong-dan?so-dinh-danh=001099012345",
             "/r1/VN/GOV/000.00.00.G13/HOTICH/khai-sinh/ban-sao/../x%2Fy?a=1&b=%20",
             "/r2/VN/GOV/000.00.00.G22/DANCU/x", "/r1/VN/GOV/000.00.00.G22/DANCU/a%3Fb/v1?"]:
    write("identifiers", text)

base = ("GET /r1/VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan/v1/cong-dan?so-dinh-danh=001099012345\n"
        "X-Road-Client: VN/GOV/000.00.00.H26/MOTCUA\nX-Road-Id: 6f1c2a4e-demo\nX-LienThong-Purpose: 1.004227\n")
write("client-request", base)
write("client-request", base + "X-Road-UserId: VN0010990123\nX-Road-Issue: HS-2026-000123\n"
      "X-Road-Represented-Party: GOV/000.00.00.H26.01\nX-Road-Security-Server: VN/GOV/000.00.00.G22/ss1\n"
      "Content-Type: application/json\n")
write("client-request", "POST /r1/VN/GOV/000.00.00.G13/HOTICH/khai-sinh/ban-sao\nX-Road-Client: VN/GOV/000.00.00.H26\n"
      "X-Road-Client: VN/GOV/000.00.00.H26/DVC\nX-Road-Id: a\nX-Road-Id: b\n")

vector = json.load(open(os.path.join(root, "docs", "test-vectors", "message-signature-v2.json")))
write("jws", vector["jws"])
write("jws", vector["canonical"])

records = 0
for log in sorted(glob.glob(os.path.join(demo, "servers", "*", "audit.sqlite"))):
    db = sqlite3.connect(log)
    seen = set()
    for (blob,) in db.execute("select record from leaves where record is not null order by sequence"):
        record = json.loads(blob)
        kind = (record.get("side"), record.get("outcome"), record.get("error_type"))
        if kind in seen:
            continue
        seen.add(kind)
        write("record", bytes(blob))
        records += 1
        for field in ["request_signature", "response_signature"]:
            if record.get(field):
                write("jws", record[field])

jws = open(os.path.join(demo, "globalconf-cache.jws")).read().strip()
write("globalconf", jws)
payload = jws.split(".")[1]
write("globalconf", base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

for bundle in sorted(glob.glob(os.path.join(demo, "evidence-*.json")))[:1]:
    write("evidence", open(bundle, "rb").read())

os.makedirs(os.path.join(root, "certs", "dev", "fuzz"), exist_ok=True)
shutil.copy(os.path.join(demo, "ca", "root.crt"), os.path.join(root, "certs", "dev", "fuzz", "root-ca.pem"))
print(f"seed corpus written to {corpus} ({records} audit records)")
