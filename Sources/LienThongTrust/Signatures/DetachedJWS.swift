import Crypto
import Foundation
import Synchronization
import LienThongCore
import SwiftASN1
import X509
import _CryptoExtras

/// An error from creating or checking a message signature.
public struct SignatureError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Hashable, Sendable {
        /// Not a compact JWS with an empty payload part (`header..signature`).
        case malformed
        /// The `alg` is not one LienThong accepts (`ES256`, `RS256`), or does not fit the key.
        case unsupportedAlgorithm
        /// The protected header carries no usable `x5c` certificate chain.
        case missingCertificate
        /// The signature does not verify for this digest and certificate.
        case badSignature
        /// The key cannot sign (wrong type, or the crypto library refused).
        case signingFailed
    }

    /// The error's code.
    public var code: Code
    /// A sentence explaining it.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// A JWS (RFC 7515) in compact serialisation with a detached payload: `BASE64URL(header)..BASE64URL(signature)`.
///
/// The payload is the 32-byte ``MessageDigest`` of a ``CanonicalMessage``; it is not carried,
/// because the receiver recomputes it from the message. The protected header is
/// `{"alg":"ES256"|"RS256","typ":"lienthong-msg+jws","x5c":[leaf, ...]}` — the signer's
/// certificate chain, leaf first, as standard base64 DER (RFC 7515 §4.1.6). Any JOSE
/// library can verify it: re-attach `BASE64URL(digest)` as the payload.
public struct DetachedJWS: Sendable, Hashable, CustomStringConvertible {
    /// The `typ` header value.
    public static let typeHeader = "lienthong-msg+jws"

    /// The encoded protected header, as it appeared on the wire.
    public let encodedHeader: String
    /// The signature bytes (`r‖s` for ES256, PKCS #1 v1.5 for RS256).
    public let signature: [UInt8]
    /// The `alg` value.
    public let algorithm: String
    /// The certificate chain from `x5c`, leaf first.
    public let certificateChain: [Certificate]

    /// The compact serialisation with the payload detached.
    public var compact: String { "\(encodedHeader)..\(Base64URL.encode(signature))" }

    /// The compact serialisation.
    public var description: String { compact }

    /// Parses a detached compact JWS. It does not verify the signature.
    ///
    /// A server receives the same protected header (the peer's `x5c` chain) on every message, so
    /// parsed headers are kept in ``JWSHeaderCache/shared`` by their exact encoded form: the
    /// certificates are parsed once, not per message. The signature is still checked on every
    /// message by ``verify(digest:)``.
    public init(compact text: String) throws(SignatureError) {
        // Split on the UTF-8 view: the header is long (it carries the chain), and splitting by
        // Characters would cost a grapheme walk over it on every message.
        let utf8 = text.utf8
        guard utf8.count <= 64 * 1024, let firstDot = utf8.firstIndex(of: UInt8(ascii: ".")) else {
            throw SignatureError(.malformed, "a detached JWS has the form header..signature")
        }
        let afterFirst = utf8.index(after: firstDot)
        guard afterFirst < utf8.endIndex, utf8[afterFirst] == UInt8(ascii: ".") else {
            throw SignatureError(.malformed, "a detached JWS has the form header..signature")
        }
        let signatureStart = utf8.index(after: afterFirst)
        let encodedSignature = Substring(utf8[signatureStart...])
        guard firstDot > utf8.startIndex, !encodedSignature.isEmpty, !encodedSignature.utf8.contains(UInt8(ascii: ".")) else {
            throw SignatureError(.malformed, "a detached JWS has the form header..signature")
        }
        let encodedHeader = String(Substring(utf8[..<firstDot]))
        let header: JWSHeaderCache.Entry
        if let cached = JWSHeaderCache.shared.entry(for: encodedHeader) {
            header = cached
        } else {
            header = try Self.parseHeader(encodedHeader)
            JWSHeaderCache.shared.insert(header, for: encodedHeader)
        }
        guard let signature = Base64URL.decode(encodedSignature) else {
            throw SignatureError(.malformed, "the JWS signature is not base64url")
        }
        self.encodedHeader = encodedHeader
        self.signature = signature
        self.algorithm = header.algorithm
        self.certificateChain = header.chain
    }

    /// Parses and checks an encoded protected header: `alg`, `typ`, no `crit`, and an `x5c` chain.
    static func parseHeader(_ encodedHeader: String) throws(SignatureError) -> JWSHeaderCache.Entry {
        guard let headerBytes = Base64URL.decode(Substring(encodedHeader)),
              let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any] else {
            throw SignatureError(.malformed, "the JWS protected header is not base64url JSON")
        }
        guard let alg = header["alg"] as? String, alg == "ES256" || alg == "RS256" else {
            throw SignatureError(.unsupportedAlgorithm, "JWS alg \(String(describing: header["alg"] ?? "missing")) is not ES256 or RS256")
        }
        guard header["typ"] as? String == Self.typeHeader else {
            throw SignatureError(.malformed, "JWS typ must be \(Self.typeHeader)")
        }
        if let crit = header["crit"] {
            throw SignatureError(.malformed, "JWS crit \(crit) is not understood")
        }
        guard let x5c = header["x5c"] as? [String], !x5c.isEmpty, x5c.count <= 8 else {
            throw SignatureError(.missingCertificate, "the JWS header has no x5c certificate chain")
        }
        var chain: [Certificate] = []
        for entry in x5c {
            guard let der = Data(base64Encoded: entry), let certificate = try? Certificate(derEncoded: Array(der)) else {
                throw SignatureError(.missingCertificate, "an x5c entry is not a base64 DER certificate")
            }
            chain.append(certificate)
        }
        // `chain` is not empty: `x5c` is not.
        return JWSHeaderCache.Entry(algorithm: alg, chain: chain, key: JWSVerificationKey(chain[0].publicKey, algorithm: alg))
    }

    /// Signs `digest` with `key`, embedding `chain` (leaf first; the leaf must hold `key`'s public key).
    public static func sign(digest: MessageDigest, key: MessageSigningKey, chain: [Certificate]) throws(SignatureError) -> DetachedJWS {
        try Signer(key: key, chain: chain).sign(digest: digest)
    }

    /// A key with its chain and the protected header already encoded: what a server that signs
    /// every message keeps, so that only the signature itself is computed per message.
    public struct Signer: Sendable {
        /// The encoded protected header (`alg`, `typ`, `x5c`).
        public let encodedHeader: String
        /// The signing chain, leaf first.
        public let chain: [Certificate]
        private let key: MessageSigningKey

        /// Prepares `key` with `chain` (leaf first; the leaf must hold `key`'s public key).
        public init(key: MessageSigningKey, chain: [Certificate]) throws(SignatureError) {
            guard let leaf = chain.first, leaf.publicKey == key.certificatePublicKey else {
                throw SignatureError(.missingCertificate, "the signing chain must start with the key's own certificate")
            }
            let x5c: [String]
            do {
                x5c = try chain.map { certificate -> String in
                    var serializer = DER.Serializer()
                    try serializer.serialize(certificate)
                    return Data(serializer.serializedBytes).base64EncodedString()
                }
            } catch {
                throw SignatureError(.signingFailed, "cannot encode the certificate chain: \(error)")
            }
            let header = CanonicalJSON.object([
                "alg": .string(key.algorithm),
                "typ": .string(DetachedJWS.typeHeader),
                "x5c": .array(x5c.map { .string($0) }),
            ])
            self.encodedHeader = Base64URL.encode(header.canonicalBytes)
            self.chain = chain
            self.key = key
        }

        /// Signs `digest`.
        public func sign(digest: MessageDigest) throws(SignatureError) -> DetachedJWS {
            let signature = try key.sign(Array("\(encodedHeader).\(digest.base64URL)".utf8))
            return DetachedJWS(encodedHeader: encodedHeader, signature: signature, algorithm: key.algorithm, certificateChain: chain)
        }
    }

    init(encodedHeader: String, signature: [UInt8], algorithm: String, certificateChain: [Certificate]) {
        self.encodedHeader = encodedHeader
        self.signature = signature
        self.algorithm = algorithm
        self.certificateChain = certificateChain
    }

    /// The leaf (signer's) certificate.
    public var signerCertificate: Certificate {
        // `init(compact:)` and `sign` both guarantee a non-empty chain.
        certificateChain[0]
    }

    /// Checks that the signature covers `digest` under the leaf certificate's key.
    ///
    /// This proves only that the holder of that certificate's key signed this digest. Whether
    /// the certificate is trusted, valid, unrevoked and belongs to the expected member is
    /// ``CertificateValidator``'s job, and the caller must do both.
    public func verify(digest: MessageDigest) throws(SignatureError) {
        let input = Array("\(encodedHeader).\(digest.base64URL)".utf8)
        // The encoded header determines the chain (both `init(compact:)` and `Signer` derive one from the other).
        let key = JWSHeaderCache.shared.entry(for: encodedHeader).map(\.key)
            ?? JWSVerificationKey(signerCertificate.publicKey, algorithm: algorithm)
        guard let key else {
            throw SignatureError(.unsupportedAlgorithm, "JWS alg \(algorithm) does not fit the signer's key")
        }
        let valid: Bool
        switch key {
        case .p256(let key):
            guard signature.count == 64, let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else {
                throw SignatureError(.badSignature, "the ES256 signature is not 64 bytes r‖s")
            }
            valid = key.isValidSignature(ecdsa, for: SHA256.hash(data: input))
        case .rsa(let key):
            valid = key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature),
                                         for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5)
        }
        guard valid else {
            throw SignatureError(.badSignature, "the signature does not match the message digest \(digest.base64URL)")
        }
    }
}

/// The public key a JWS is verified with, converted once from the signer's certificate.
enum JWSVerificationKey: Sendable {
    /// ES256.
    case p256(P256.Signing.PublicKey)
    /// RS256, with a modulus of at least 2048 bits.
    case rsa(_RSA.Signing.PublicKey)

    /// The key of `certificateKey` for `algorithm`, or `nil` if the key does not fit it.
    init?(_ certificateKey: Certificate.PublicKey, algorithm: String) {
        switch algorithm {
        case "ES256":
            guard let key = P256.Signing.PublicKey(certificateKey) else { return nil }
            self = .p256(key)
        case "RS256":
            guard let key = _RSA.Signing.PublicKey(certificateKey), key.keySizeInBits >= 2048 else { return nil }
            self = .rsa(key)
        default:
            return nil
        }
    }
}

/// Parsed JWS protected headers by their exact encoded bytes, so that a peer's certificate chain
/// is parsed once rather than on every message. Bounded: when full, it is emptied and refilled.
/// Only well-formed headers are kept; parsing is deterministic, so a cached entry is exactly what
/// parsing the same bytes again would give. The key is the UTF-8 bytes, not the `String`: Swift
/// compares strings by canonical equivalence, and a header spelled with, say, the Kelvin sign
/// (U+212A) instead of `K` must not find the entry of the base64url text it resembles.
final class JWSHeaderCache: Sendable {
    /// A parsed header.
    struct Entry: Sendable {
        /// `alg`.
        let algorithm: String
        /// `x5c`, leaf first; never empty.
        let chain: [Certificate]
        /// The leaf's key for `alg`, or `nil` if it does not fit it (``DetachedJWS/verify(digest:)`` refuses then).
        let key: JWSVerificationKey?
    }

    /// The process-wide cache.
    static let shared = JWSHeaderCache(capacity: 1024)

    private let capacity: Int
    private let entries = Mutex<[[UInt8]: Entry]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    func entry(for encodedHeader: String) -> Entry? {
        let key = Array(encodedHeader.utf8)
        return entries.withLock { $0[key] }
    }

    func insert(_ entry: Entry, for encodedHeader: String) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[Array(encodedHeader.utf8)] = entry
        }
    }
}

/// A member's private signing key: P-256 (`ES256`) or RSA-2048+ (`RS256`).
public enum MessageSigningKey: Sendable {
    /// An ECDSA P-256 key.
    case p256(P256.Signing.PrivateKey)
    /// An RSA key of at least 2048 bits.
    case rsa(_RSA.Signing.PrivateKey)

    /// Reads a PEM private key (PKCS #8, SEC1 or PKCS #1).
    public init(pemEncoded pem: String) throws(SignatureError) {
        if let key = try? P256.Signing.PrivateKey(pemRepresentation: pem) {
            self = .p256(key)
        } else if let key = try? _RSA.Signing.PrivateKey(pemRepresentation: pem), key.keySizeInBits >= 2048 {
            self = .rsa(key)
        } else {
            throw SignatureError(.unsupportedAlgorithm, "the key is neither a P-256 nor an RSA-2048+ private key in PEM")
        }
    }

    /// The JWS `alg`.
    public var algorithm: String {
        switch self {
        case .p256: return "ES256"
        case .rsa: return "RS256"
        }
    }

    /// The public key, as X.509 models it.
    public var certificatePublicKey: Certificate.PublicKey {
        switch self {
        case .p256(let key): return Certificate.PublicKey(key.publicKey)
        case .rsa(let key): return Certificate.PublicKey(key.publicKey)
        }
    }

    /// Signs the JWS signing input; returns `r‖s` for ES256 and the PKCS #1 v1.5 signature for RS256.
    public func sign(_ input: [UInt8]) throws(SignatureError) -> [UInt8] {
        do {
            switch self {
            case .p256(let key):
                return Array(try key.signature(for: SHA256.hash(data: input)).rawRepresentation)
            case .rsa(let key):
                return Array(try key.signature(for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation)
            }
        } catch {
            throw SignatureError(.signingFailed, "signing failed: \(error)")
        }
    }
}
