#!/usr/bin/env python3
"""Verify a LienThong message-signature test vector without LienThong's code.

Independent implementation of docs/protocol.md (canonical form version 2, with the
request's signed time): builds the canonical form with Python's json,
hashes it with hashlib, verifies the detached JWS with the `cryptography` package, and checks
that the signer's certificate was issued by the test CA. Exit status 0 means every check passed.

Usage: python3 scripts/verify_test_vector.py docs/test-vectors/message-signature-v2.json
"""
import base64
import hashlib
import json
import sys

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def verify_jws(jws: str, digest: bytes) -> x509.Certificate:
    header_b64, payload, sig_b64 = jws.split(".")
    assert payload == "", "payload must be detached"
    header = json.loads(unb64url(header_b64))
    assert header["alg"] == "ES256", header["alg"]
    assert header["typ"] == "lienthong-msg+jws"
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    signature = unb64url(sig_b64)
    assert len(signature) == 64, "ES256 signatures are r||s, 64 bytes"
    der = utils.encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    signing_input = (header_b64 + "." + b64url(digest)).encode("ascii")
    leaf.public_key().verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    return leaf


# Canonical form version 2 (docs/protocol.md section 1): the keys each kind must and may have.
REQUEST_KEYS = {"v", "kind", "id", "method", "service", "client", "path", "headers", "body", "time"}
RESPONSE_KEYS = {"v", "kind", "id", "method", "service", "client", "path", "headers", "body", "status", "requestDigest"}
MAX_TIME = 253402300799999  # 9999-12-31T23:59:59.999Z in milliseconds


def check_form(message) -> None:
    assert message.get("v") == 2 and type(message["v"]) is int, f"canonical form version must be 2, not {message.get('v')!r}"
    kind = message.get("kind")
    assert kind in ("request", "response"), f"kind {kind!r}"
    expected = REQUEST_KEYS if kind == "request" else RESPONSE_KEYS
    assert set(message) == expected, f"a {kind} has exactly the keys {sorted(expected)}, not {sorted(message)}"
    if kind == "request":
        time = message["time"]
        assert type(time) is int and 0 <= time <= MAX_TIME, f"time must be integer milliseconds in 0..{MAX_TIME}, not {time!r}"


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        vector = json.load(f)
    message = vector["message"]
    check_form(message)

    if "body" in vector:
        body_digest = b64url(hashlib.sha256(vector["body"].encode("utf-8")).digest())
        assert message["body"] == body_digest, "body digest differs"

    data = canonical(message)
    assert data.decode("utf-8") == vector["canonical"], "canonical form differs from the vector"
    digest = hashlib.sha256(data).digest()
    assert digest.hex() == vector["digestHex"], "digest differs"
    assert b64url(digest) == vector["digestBase64url"], "base64url digest differs"

    leaf = verify_jws(vector["jws"], digest)
    pem_cert = x509.load_pem_x509_certificate(vector["certificatePem"].encode("ascii"))
    assert leaf == pem_cert, "x5c[0] is not the vector's certificate"
    ca = x509.load_pem_x509_certificate(vector["caCertificatePem"].encode("ascii"))
    leaf.verify_directly_issued_by(ca)
    key = serialization.load_pem_private_key(vector["privateKeyPem"].encode("ascii"), password=None)
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers(), "key does not match certificate"

    # Negative control: the same JWS must not verify for a message with any field changed
    # (the signed time moved by one millisecond, or the message as version 1 without a time).
    for field in ("id", "method", "service", "client", "path", "body", "time", "version 1"):
        tampered = dict(message)
        if field == "time":
            tampered["time"] = message.get("time", 0) + 1
        elif field == "version 1":
            tampered["v"] = 1
            tampered.pop("time", None)
        else:
            value = tampered[field]
            tampered[field] = value[:-1] + ("A" if value[-1] != "A" else "B")
        try:
            verify_jws(vector["jws"], hashlib.sha256(canonical(tampered)).digest())
        except InvalidSignature:
            continue
        print(f"FAIL: JWS verified for a message with {field} changed", file=sys.stderr)
        return 1

    print(f"OK: canonical form v2 (signed time {message.get('time')} ms), digest {vector['digestHex']}, ES256 JWS and certificate chain verified independently")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/test-vectors/message-signature-v2.json"))
