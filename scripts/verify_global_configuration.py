#!/usr/bin/env python3
"""Verify a signed LienThong global configuration without LienThong's code.

An independent implementation of docs/global-configuration.md, using only the Python standard
library and the `cryptography` package. It checks that:

  1. the file is a compact JWS with an attached payload (header.payload.signature);
  2. the protected header has alg ES256, typ lienthong-globalconf+jws and an x5c chain;
  3. the ES256 signature (r||s) verifies over the ASCII bytes "header.payload" with x5c[0]'s key;
  4. x5c[0] was issued by the root CA (verify_directly_issued_by) and is within its validity;
  5. x5c[0]'s subject OU is configuration-signing;
  6. the payload is RFC 8785 canonical JSON (re-serialising it gives the same bytes) with
     format_version 1.

It prints the instance, serial, generated_at and expires_at, and whether the document has
expired (an expired document still verifies; pass --require-unexpired to fail on it).
Exit status: 0 when every check passed, 1 otherwise.

Usage: python3 scripts/verify_global_configuration.py FILE.jws ROOT_CA.pem [--require-unexpired]
"""
import base64
import binascii
import datetime
import json
import sys

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

TYP = "lienthong-globalconf+jws"
ROLE_OU = "configuration-signing"
B64URL = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class Failure(Exception):
    pass


def unb64url(text: str, what: str) -> bytes:
    if not text or not set(text) <= B64URL or len(text) % 4 == 1:
        raise Failure(f"{what} is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise Failure(f"{what} is not base64url: {error}")


def canonical(value) -> bytes:
    # RFC 8785 for documents whose numbers are integers and whose keys are ASCII.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def not_before(cert):
    return getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)


def not_after(cert):
    return getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def verify(jws: str, root: x509.Certificate, require_unexpired: bool) -> None:
    parts = jws.strip().split(".")
    if len(parts) != 3 or not all(parts):
        raise Failure("not a compact JWS with an attached payload (header.payload.signature)")
    header_b64, payload_b64, signature_b64 = parts

    try:
        header = json.loads(unb64url(header_b64, "the protected header"))
    except ValueError as error:
        raise Failure(f"the protected header is not JSON: {error}")
    if not isinstance(header, dict):
        raise Failure("the protected header is not a JSON object")
    if header.get("alg") != "ES256":
        raise Failure(f"alg is {header.get('alg')!r}, not ES256")
    if header.get("typ") != TYP:
        raise Failure(f"typ is {header.get('typ')!r}, not {TYP}")
    if "crit" in header:
        raise Failure("the header has a crit parameter this verifier does not understand")
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or not x5c or not all(isinstance(entry, str) for entry in x5c):
        raise Failure("the header has no x5c certificate chain")
    try:
        signer = x509.load_der_x509_certificate(base64.b64decode(x5c[0], validate=True))
    except (binascii.Error, ValueError) as error:
        raise Failure(f"x5c[0] is not a base64 DER certificate: {error}")

    # 3. The signature over the ASCII bytes "header.payload".
    signature = unb64url(signature_b64, "the signature")
    if len(signature) != 64:
        raise Failure(f"an ES256 signature is 64 bytes r||s, not {len(signature)}")
    public_key = signer.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.name != "secp256r1":
        raise Failure("x5c[0] does not hold a P-256 key")
    der_signature = utils.encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der_signature, f"{header_b64}.{payload_b64}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Failure("the signature does not verify under x5c[0]'s key")

    # 4. Issued by the root CA, and valid now.
    try:
        signer.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature) as error:
        raise Failure(f"x5c[0] ({signer.subject.rfc4514_string()}) was not issued by the root CA: {error or 'bad signature'}")
    now = datetime.datetime.now(datetime.timezone.utc)
    if not (not_before(signer) <= now <= not_after(signer)):
        raise Failure(f"x5c[0] is outside its validity period ({not_before(signer)} .. {not_after(signer)})")

    # 5. The role.
    units = [attribute.value for attribute in signer.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    if units != [ROLE_OU]:
        raise Failure(f"x5c[0] has subject OU {units}, not [{ROLE_OU!r}]")

    # 6. The payload.
    payload = unb64url(payload_b64, "the payload")
    try:
        document = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise Failure(f"the payload is not UTF-8 JSON: {error}")
    if not isinstance(document, dict):
        raise Failure("the payload is not a JSON object")
    if canonical(document) != payload:
        raise Failure("the payload is not in RFC 8785 canonical form")
    if document.get("format_version") != 1:
        raise Failure(f"format_version is {document.get('format_version')!r}, not 1")

    expires_at = document.get("expires_at", "")
    try:
        expiry = datetime.datetime.strptime(expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        raise Failure(f"expires_at {expires_at!r} is not a UTC timestamp")
    expired = now >= expiry
    print(f"instance:     {document.get('instance')}")
    print(f"serial:       {document.get('serial')}")
    print(f"generated_at: {document.get('generated_at')}")
    print(f"expires_at:   {expires_at}{'  (EXPIRED)' if expired else ''}")
    print(f"signer:       {signer.subject.rfc4514_string()}")
    print(f"contents:     {len(document.get('members', []))} members, {len(document.get('subsystems', []))} subsystems, "
          f"{len(document.get('services', []))} services, {len(document.get('agreements', []))} agreements")
    if expired and require_unexpired:
        raise Failure(f"the document expired at {expires_at}")


def main(argv) -> int:
    arguments = [a for a in argv[1:] if not a.startswith("--")]
    flags = {a for a in argv[1:] if a.startswith("--")}
    if len(arguments) != 2 or not flags <= {"--require-unexpired"}:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    jws_path, root_path = arguments
    try:
        with open(jws_path, encoding="ascii") as f:
            jws = f.read()
        with open(root_path, "rb") as f:
            root = x509.load_pem_x509_certificate(f.read())
        verify(jws, root, "--require-unexpired" in flags)
    except Failure as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    except (OSError, UnicodeDecodeError, ValueError) as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    print("OK: signature, issuer, role and canonical form verified")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
