import Crypto
import Foundation
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
    public init(compact text: String) throws(SignatureError) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1].isEmpty, !parts[0].isEmpty, !parts[2].isEmpty, text.utf8.count <= 64 * 1024 else {
            throw SignatureError(.malformed, "a detached JWS has the form header..signature")
        }
        guard let headerBytes = Base64URL.decode(parts[0]),
              let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any] else {
            throw SignatureError(.malformed, "the JWS protected header is not base64url JSON")
        }
        guard let signature = Base64URL.decode(parts[2]) else {
            throw SignatureError(.malformed, "the JWS signature is not base64url")
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
        self.encodedHeader = String(parts[0])
        self.signature = signature
        self.algorithm = alg
        self.certificateChain = chain
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
        let publicKey = signerCertificate.publicKey
        guard publicKey.signatureAlgorithmName == algorithm else {
            throw SignatureError(.unsupportedAlgorithm, "JWS alg \(algorithm) does not fit the signer's key")
        }
        let valid: Bool
        if algorithm == "ES256" {
            guard signature.count == 64,
                  let key = P256.Signing.PublicKey(publicKey),
                  let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else {
                throw SignatureError(.badSignature, "the ES256 signature is not 64 bytes r‖s")
            }
            valid = key.isValidSignature(ecdsa, for: SHA256.hash(data: input))
        } else {
            guard let key = _RSA.Signing.PublicKey(publicKey) else {
                throw SignatureError(.unsupportedAlgorithm, "the signer's key is not RSA")
            }
            valid = key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature),
                                         for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5)
        }
        guard valid else {
            throw SignatureError(.badSignature, "the signature does not match the message digest \(digest.base64URL)")
        }
    }
}

extension Certificate.PublicKey {
    /// The JWS `alg` this key signs with, or `nil` if LienThong does not sign with this key type.
    var signatureAlgorithmName: String? {
        if P256.Signing.PublicKey(self) != nil { return "ES256" }
        if let rsa = _RSA.Signing.PublicKey(self), rsa.keySizeInBits >= 2048 { return "RS256" }
        return nil
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
