import Crypto
import Foundation
import LienThongCore
import LienThongTrust
import SwiftASN1
import X509

/// A JWS (RFC 7515) in compact serialisation with an attached payload:
/// `BASE64URL(header).BASE64URL(payload).BASE64URL(signature)`, as the registry signs the
/// global configuration.
///
/// The protected header is `{"alg":"ES256","typ":"lienthong-globalconf+jws","x5c":[leaf, ...]}`
/// in RFC 8785 canonical form, with the signer's chain as standard base64 DER, leaf first
/// (RFC 7515 §4.1.6). The signature is ECDSA P-256 with SHA-256, `r‖s` (RFC 7518 §3.4), over the
/// ASCII bytes `header.payload` as they appear on the wire. Any JOSE library can verify it; the
/// media type is `application/jose`.
///
/// Parsing does not verify; call ``verifySignature()``, and validate ``certificateChain`` (a
/// ``GlobalConfigurationVerifier`` does both).
public struct GlobalConfigurationJWS: Sendable {
    /// The `typ` header value.
    public static let typeHeader = "lienthong-globalconf+jws"
    /// The only `alg` accepted.
    public static let algorithm = "ES256"
    /// The media type of the compact serialisation.
    public static let mediaType = "application/jose"
    /// The default upper bound on the compact serialisation's size: 256 MiB.
    public static let defaultMaximumSize = 256 << 20

    /// The compact serialisation.
    public let compact: String
    /// The decoded payload: the document's canonical JSON.
    public let payload: [UInt8]
    /// The signature, `r‖s`.
    public let signature: [UInt8]
    /// The signer's chain from `x5c`, leaf first (never empty).
    public let certificateChain: [Certificate]
    /// The UTF-8 length of `header.payload`, the signing input at the start of ``compact``.
    private let signingInputLength: Int

    /// The signer's (leaf) certificate.
    public var signerCertificate: Certificate {
        // Both initialisers guarantee a non-empty chain.
        certificateChain[0]
    }

    /// Parses a compact JWS and checks its header. It does not verify the signature.
    /// - Parameters:
    ///   - compact: `header.payload.signature`.
    ///   - maximumSize: the largest accepted serialisation, in bytes.
    /// - Throws: ``GlobalConfigurationError/Code/malformed`` for a bad shape, base64url, JSON,
    ///   `typ`, `crit` or `x5c`; ``GlobalConfigurationError/Code/unsupportedAlgorithm`` for an `alg`
    ///   other than `ES256`.
    public init(compact: String, maximumSize: Int = GlobalConfigurationJWS.defaultMaximumSize) throws(GlobalConfigurationError) {
        var text = compact
        text.makeContiguousUTF8()
        guard text.utf8.count <= maximumSize else {
            throw GlobalConfigurationError(.malformed, "the signed configuration is \(text.utf8.count) bytes, over the \(maximumSize)-byte limit")
        }
        // A native string after makeContiguousUTF8() always has contiguous storage.
        guard let parsed = text.utf8.withContiguousStorageIfAvailable({ buffer in
            Result { () throws(GlobalConfigurationError) in try Self.parse(buffer) }
        }) else {
            throw GlobalConfigurationError(.malformed, "the signed configuration is not a contiguous UTF-8 string")
        }
        let parts = try parsed.get()
        self.compact = text
        self.payload = parts.payload
        self.signature = parts.signature
        self.certificateChain = parts.chain
        self.signingInputLength = parts.signingInputLength
    }

    private struct Parts {
        var payload: [UInt8]
        var signature: [UInt8]
        var chain: [Certificate]
        var signingInputLength: Int
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(GlobalConfigurationError) -> Parts {
        var dots: [Int] = []
        for i in 0..<bytes.count where bytes[i] == UInt8(ascii: ".") {
            dots.append(i)
            if dots.count > 2 { break }
        }
        guard dots.count == 2 else {
            throw GlobalConfigurationError(.malformed, "a compact JWS has exactly three parts, header.payload.signature")
        }
        let headerPart = UnsafeBufferPointer(rebasing: bytes[0..<dots[0]])
        let payloadPart = UnsafeBufferPointer(rebasing: bytes[(dots[0] + 1)..<dots[1]])
        let signaturePart = UnsafeBufferPointer(rebasing: bytes[(dots[1] + 1)...])
        guard !headerPart.isEmpty, !payloadPart.isEmpty, !signaturePart.isEmpty else {
            throw GlobalConfigurationError(.malformed, "the JWS header, payload and signature must all be present (the payload is attached)")
        }
        guard headerPart.count <= 64 * 1024, let headerBytes = GlobalConfigurationBase64URL.decode(buffer: headerPart),
              let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any] else {
            throw GlobalConfigurationError(.malformed, "the JWS protected header is not base64url JSON")
        }
        guard let alg = header["alg"] as? String else {
            throw GlobalConfigurationError(.malformed, "the JWS protected header has no alg")
        }
        guard alg == algorithm else {
            throw GlobalConfigurationError(.unsupportedAlgorithm, "JWS alg \(alg) is not \(algorithm)")
        }
        guard header["typ"] as? String == typeHeader else {
            throw GlobalConfigurationError(.malformed, "JWS typ must be \(typeHeader), not \(String(describing: header["typ"] ?? "missing"))")
        }
        if let crit = header["crit"] {
            throw GlobalConfigurationError(.malformed, "JWS crit \(crit) is not understood")
        }
        if header["b64"] != nil {
            throw GlobalConfigurationError(.malformed, "the JWS b64 header (RFC 7797) is not used here")
        }
        guard let x5c = header["x5c"] as? [String], !x5c.isEmpty, x5c.count <= 8 else {
            throw GlobalConfigurationError(.malformed, "the JWS header has no x5c certificate chain (1 to 8 certificates)")
        }
        var chain: [Certificate] = []
        for entry in x5c {
            guard let der = Data(base64Encoded: entry), let certificate = try? Certificate(derEncoded: Array(der)) else {
                throw GlobalConfigurationError(.malformed, "an x5c entry is not a base64 DER certificate")
            }
            chain.append(certificate)
        }
        guard let payload = GlobalConfigurationBase64URL.decode(buffer: payloadPart) else {
            throw GlobalConfigurationError(.malformed, "the JWS payload is not base64url")
        }
        guard let signature = GlobalConfigurationBase64URL.decode(buffer: signaturePart) else {
            throw GlobalConfigurationError(.malformed, "the JWS signature is not base64url")
        }
        return Parts(payload: payload, signature: signature, chain: chain, signingInputLength: dots[1])
    }

    private init(compact: String, payload: [UInt8], signature: [UInt8], certificateChain: [Certificate], signingInputLength: Int) {
        self.compact = compact
        self.payload = payload
        self.signature = signature
        self.certificateChain = certificateChain
        self.signingInputLength = signingInputLength
    }

    /// Signs `payload` with `key` (a P-256 key), embedding `chain` (leaf first; the leaf must
    /// hold `key`'s public key).
    /// - Throws: ``GlobalConfigurationError/Code/unsupportedAlgorithm`` for a non-P-256 key,
    ///   ``GlobalConfigurationError/Code/invalidArgument`` for a chain that does not fit,
    ///   ``GlobalConfigurationError/Code/signingFailed`` if the crypto library refuses.
    public static func sign(payload: [UInt8], key: MessageSigningKey, chain: [Certificate]) throws(GlobalConfigurationError) -> GlobalConfigurationJWS {
        guard key.algorithm == algorithm else {
            throw GlobalConfigurationError(.unsupportedAlgorithm, "the configuration-signing key must be P-256 (ES256), not \(key.algorithm)")
        }
        guard let leaf = chain.first, leaf.publicKey == key.certificatePublicKey, chain.count <= 8 else {
            throw GlobalConfigurationError(.invalidArgument, "the signing chain must start with the key's own certificate (and hold at most 8)")
        }
        let header = CanonicalJSON.object([
            "alg": .string(algorithm),
            "typ": .string(typeHeader),
            "x5c": .array(try x5c(chain).map { .string($0) }),
        ])
        var input = GlobalConfigurationBase64URL.encode(header.canonicalBytes)
        input.append(UInt8(ascii: "."))
        input.append(contentsOf: GlobalConfigurationBase64URL.encode(payload))
        let signature: [UInt8]
        do {
            signature = try key.sign(input)
        } catch {
            throw GlobalConfigurationError(.signingFailed, "signing the global configuration failed: \(error)")
        }
        let signingInputLength = input.count
        input.append(UInt8(ascii: "."))
        input.append(contentsOf: GlobalConfigurationBase64URL.encode(signature))
        return GlobalConfigurationJWS(
            compact: String(decoding: input, as: UTF8.self), payload: payload, signature: signature,
            certificateChain: chain, signingInputLength: signingInputLength)
    }

    /// The `x5c` values (standard base64 DER) of a chain.
    static func x5c(_ chain: [Certificate]) throws(GlobalConfigurationError) -> [String] {
        do {
            return try chain.map { certificate -> String in
                var serializer = DER.Serializer()
                try serializer.serialize(certificate)
                return Data(serializer.serializedBytes).base64EncodedString()
            }
        } catch {
            throw GlobalConfigurationError(.signingFailed, "cannot encode the certificate chain: \(error)")
        }
    }

    /// Checks that the signature covers `header.payload` under the leaf certificate's key.
    ///
    /// This proves only that the holder of that certificate's key signed these bytes; whether
    /// the certificate is a trusted configuration-signing certificate is
    /// ``GlobalConfigurationVerifier``'s job.
    /// - Throws: ``GlobalConfigurationError/Code/badSignature``, or
    ///   ``GlobalConfigurationError/Code/unsupportedAlgorithm`` if the leaf's key is not P-256.
    public func verifySignature() throws(GlobalConfigurationError) {
        guard let key = P256.Signing.PublicKey(signerCertificate.publicKey) else {
            throw GlobalConfigurationError(.unsupportedAlgorithm, "the x5c[0] certificate's key is not P-256, so it cannot verify ES256")
        }
        guard signature.count == 64, let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else {
            throw GlobalConfigurationError(.badSignature, "the ES256 signature is not 64 bytes r‖s")
        }
        var text = compact
        text.makeContiguousUTF8()
        let length = signingInputLength
        let digest = text.utf8.withContiguousStorageIfAvailable { buffer in
            SHA256.hash(data: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[..<length])))
        } ?? SHA256.hash(data: Array(text.utf8.prefix(length)))
        guard key.isValidSignature(ecdsa, for: digest) else {
            throw GlobalConfigurationError(.badSignature, "the global configuration's signature does not verify")
        }
    }
}
