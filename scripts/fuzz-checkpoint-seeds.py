#!/usr/bin/env python3
"""Writes the seed corpus of the `checkpoint` fuzz target (Tests/Fuzz/corpus/checkpoint).

    scripts/fuzz-checkpoint-seeds.py

Each seed is a `POST /checkpoints` body ({checkpoint, signature}) whose checkpoint is exact RFC 8785
canonical JSON for server VN/GOV/000.00.00.G22/ss1 (the owner the target's ledger knows). The
signature is a placeholder: the target re-signs every body with the owner's member key, so these
reach the chain checks and the ingestion (docs/robustness.md §Untrusted numbers). Seeds: a valid
checkpoint 0 and its valid successor 1 (real RFC 6962 tree heads and consistency proof), and
overflowing variants — latency buckets summing to 2^64, a count of 2^63 − 1, 1,100 durations of
2^53 − 1 ms in one month, and a successor whose duration overflows the usage row of checkpoint 0.
Everything here is synthetic. Seeds are named by their SHA-1; nothing is deleted.
"""
import base64, hashlib, json, os

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
folder = os.path.join(root, "Tests", "Fuzz", "corpus", "checkpoint")
SERVER = "VN/GOV/000.00.00.G22/ss1"
SERVICE = "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan"
CLIENT = "VN/GOV/000.00.00.H26/MOTCUA"
MARCH = 1_740_787_200_000          # 2025-03-01T00:00:00.000Z
FIVE = 300_000
MAX_SAFE = 2**53 - 1
BIG = 2**63 - 1


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ts(ms):
    import datetime
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def leaf(i):
    return hashlib.sha256(b"\x00" + ("record %d" % i).encode()).digest()


def mth(hashes):
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()


def subproof(m, hashes, b):
    n = len(hashes)
    if m == n:
        return [] if b else [mth(hashes)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return subproof(m, hashes[:k], b) + [mth(hashes[k:])]
    return subproof(m - k, hashes[k:], False) + [mth(hashes[:k])]


def counter(window, count=1, duration=10, buckets=None, outcome="success"):
    c = {"side": "provider", "window": ts(window), "client": CLIENT, "service": SERVICE, "outcome": outcome,
         "count": count, "duration_ms_total": duration,
         "latency_buckets": buckets if buckets is not None else [count] + [0] * 11}
    if outcome != "success":
        c["error_type"] = "AccessDenied"
    return c


def key(c):
    parts = [c["side"], c["window"]] + [("1" + c[k]) if k in c else "0"
                                         for k in ["client", "service", "dataset", "agreement"]] + [c["outcome"]] + \
            [("1" + c["error_type"]) if "error_type" in c else "0"]
    return parts


def checkpoint(sequence, size, usage, start, end, previous=None):
    leaves = [leaf(i) for i in range(min(size, 1200))]
    tree = {"tree_size": size, "root_hash": b64(mth(leaves) if size <= 1200 else leaf(0))}
    doc = {"v": 1, "server": SERVER, "node": "default", "sequence": sequence, "tree": tree,
           "consistency_proof": [], "window_start": ts(start), "window_end": ts(end),
           "usage": sorted(usage, key=key)}
    if previous is not None:
        doc["previous"] = {"tree_size": previous, "root_hash": b64(mth(leaves[:previous]))}
        if 0 < previous < size <= 1200:
            doc["consistency_proof"] = [b64(h) for h in subproof(previous, leaves, True)]
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def body(checkpoint_bytes):
    return json.dumps({"checkpoint": b64(checkpoint_bytes), "signature": "x"}, separators=(",", ":")).encode()


def write(data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


w = MARCH + 3_600_000
seeds = [
    checkpoint(0, 1, [counter(MARCH, duration=MAX_SAFE)], MARCH, w),
    checkpoint(1, 3, [counter(w), counter(w, outcome="refused")], w, w + 3_600_000, previous=1),
    checkpoint(1, 3, [counter(w, count=2, buckets=[BIG, BIG, 2] + [0] * 9)], w, w + 3_600_000, previous=1),
    checkpoint(1, 1 + BIG - 1, [counter(w, count=BIG, buckets=[BIG] + [0] * 11)], w, w + 3_600_000, previous=1),
    checkpoint(1, 1101, [counter(w + i * FIVE, duration=MAX_SAFE) for i in range(1100)], w, w + 100 * 3_600_000, previous=1),
    checkpoint(1, 2, [counter(w, duration=1)], w, w + 3_600_000, previous=1),
]
for seed in seeds:
    write(body(seed))
print("wrote %d checkpoint seeds to %s" % (len(seeds), folder))
