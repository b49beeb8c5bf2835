import Foundation
import LienThongCore
import LienThongTrust
import SwiftASN1
import X509

/// A global configuration together with its signed form, as the registry serves it and as a
/// security server holds it.
public struct SignedGlobalConfiguration: Sendable {
    /// The media type to serve ``jws`` with: `application/jose`.
    public static let mediaType = GlobalConfigurationJWS.mediaType

    /// The document.
    public let configuration: GlobalConfiguration
    /// The compact JWS (attached payload): the bytes to serve and to cache.
    public let jws: String
    /// The strong HTTP entity tag, quotes included: `"<serial>-<first 16 hex digits of SHA-256(jws)>"`.
    public let etag: String
    /// Lower-case hex SHA-256 of the payload (the canonical JSON), to compare contents.
    public let payloadSHA256: String
    /// The certificate that signed it (`x5c[0]`).
    public let signerCertificate: Certificate

    /// The document's serial.
    public var serial: Int64 { configuration.serial }

    /// Pairs a document with its parsed JWS; the caller has checked that they belong together.
    init(configuration: GlobalConfiguration, jws: GlobalConfigurationJWS) {
        self.configuration = configuration
        self.jws = jws.compact
        self.etag = Self.etag(serial: configuration.serial, jws: jws.compact)
        self.payloadSHA256 = GlobalConfigurationDigest.sha256Hex(jws.payload)
        self.signerCertificate = jws.signerCertificate
    }

    /// The entity tag of a signed document: `"<serial>-<first 16 hex digits of SHA-256(jws)>"`.
    public static func etag(serial: Int64, jws: String) -> String {
        "\"\(serial)-\(GlobalConfigurationDigest.sha256Hex(utf8: jws).prefix(16))\""
    }

    /// Whether an `If-None-Match` header value matches this document, so that the answer is
    /// `304 Not Modified`: `*`, or a comma-separated list of entity tags one of which equals
    /// ``etag`` (weak comparison, RFC 9110 §13.1.2: a `W/` prefix is ignored).
    public func matches(ifNoneMatch header: String) -> Bool {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        if trimmed == "*" { return true }
        return trimmed.split(separator: ",").contains { candidate in
            var tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            return tag == etag
        }
    }
}

/// Signs global configurations with the registry's configuration-signing key.
public struct GlobalConfigurationSigner: Sendable {
    /// The private key (P-256).
    public let key: MessageSigningKey
    /// The chain carried in `x5c`, leaf (the configuration-signing certificate) first.
    public let certificateChain: [Certificate]

    /// Creates a signer.
    /// - Parameters:
    ///   - key: the configuration-signing key; must be P-256.
    ///   - certificateChain: its certificate first, then any intermediates (the root may be left out).
    /// - Throws: ``GlobalConfigurationError/Code/invalidArgument`` if the chain does not start with
    ///   the key's certificate, ``GlobalConfigurationError/Code/unsupportedAlgorithm`` for a non-P-256 key.
    public init(key: MessageSigningKey, certificateChain: [Certificate]) throws(GlobalConfigurationError) {
        guard key.algorithm == GlobalConfigurationJWS.algorithm else {
            throw GlobalConfigurationError(.unsupportedAlgorithm, "the configuration-signing key must be P-256 (ES256), not \(key.algorithm)")
        }
        guard let leaf = certificateChain.first, leaf.publicKey == key.certificatePublicKey, certificateChain.count <= 8 else {
            throw GlobalConfigurationError(.invalidArgument, "the configuration-signing chain must start with the key's own certificate (and hold at most 8)")
        }
        self.key = key
        self.certificateChain = certificateChain
    }

    /// Creates a signer from an X.509 private key.
    public init(privateKey: Certificate.PrivateKey, certificateChain: [Certificate]) throws(GlobalConfigurationError) {
        let key: MessageSigningKey
        do {
            key = try MessageSigningKey(pemEncoded: try privateKey.serializeAsPEM().pemString)
        } catch {
            throw GlobalConfigurationError(.unsupportedAlgorithm, "unusable configuration-signing key: \(error)")
        }
        try self.init(key: key, certificateChain: certificateChain)
    }

    /// Reads a signer from PEM files: the key, and the certificate (a chain, leaf first, may follow it).
    public init(keyFile: URL, certificateFile: URL) throws(GlobalConfigurationError) {
        let key: MessageSigningKey
        let chain: [Certificate]
        do {
            key = try MessageSigningKey(pemEncoded: try PEMFiles.readText(keyFile))
            chain = try PEMFiles.readCertificates(certificateFile)
        } catch {
            throw GlobalConfigurationError(.invalidArgument, "cannot load the configuration-signing key or certificate: \(error)")
        }
        try self.init(key: key, certificateChain: chain)
    }

    /// The configuration signer of a development PKI (`ca/configuration-signing.{crt,key}`).
    public init(developmentPKI pki: DevelopmentPKI) throws(GlobalConfigurationError) {
        try self.init(keyFile: pki.url(.configurationSigningKey), certificateFile: pki.url(.configurationSigningCertificate))
    }

    /// Signs `configuration`: its canonical JSON becomes the JWS payload.
    public func sign(_ configuration: GlobalConfiguration) throws(GlobalConfigurationError) -> SignedGlobalConfiguration {
        let payload = try configuration.canonicalJSON()
        let jws = try GlobalConfigurationJWS.sign(payload: payload, key: key, chain: certificateChain)
        return SignedGlobalConfiguration(configuration: configuration, jws: jws)
    }
}

/// Verifies a signed global configuration against the instance's trust anchor.
///
/// Steps: parse the compact JWS and check `alg` (`ES256`) and `typ`; validate `x5c` with
/// ``CertificateValidator`` for ``CertificateRole/configurationSigning`` against the trust
/// anchors (chain, validity period, role; no OCSP, the configuration signer is an instance-level
/// certificate); verify the signature with `x5c[0]`'s key; decode the payload; check
/// `format_version`, that the payload is in canonical form, and, if given, the instance. Expiry is *not* checked here (a cached, expired
/// document still tells a client which serial it has seen); ``GlobalConfigurationClient`` checks it.
public struct GlobalConfigurationVerifier: Sendable {
    /// The trust anchors: the instance root CA(s).
    public let trustAnchors: [Certificate]
    /// The instance the document must be for, or `nil` to accept any.
    public var expectedInstance: String?
    /// The largest accepted compact serialisation, in bytes.
    public var maximumSize: Int

    /// Creates a verifier.
    public init(trustAnchors: [Certificate], expectedInstance: String? = nil,
                maximumSize: Int = GlobalConfigurationJWS.defaultMaximumSize) {
        self.trustAnchors = trustAnchors
        self.expectedInstance = expectedInstance
        self.maximumSize = maximumSize
    }

    /// Creates a verifier from a PEM file of trust anchors (e.g. the development PKI's `ca/root.crt`).
    public init(trustAnchorFile: URL, expectedInstance: String? = nil) throws(GlobalConfigurationError) {
        do {
            self.init(trustAnchors: try PEMFiles.readCertificates(trustAnchorFile), expectedInstance: expectedInstance)
        } catch {
            throw GlobalConfigurationError(.invalidArgument, "cannot read the trust anchor file: \(error)")
        }
    }

    /// Verifies `compact` at `now` and returns the document.
    public func verify(_ compact: String, at now: Date) async throws(GlobalConfigurationError) -> GlobalConfiguration {
        try await verifySigned(compact, at: now).configuration
    }

    /// Verifies `compact` at `now` and returns the document with its signed form.
    /// - Throws: ``GlobalConfigurationError`` with code `malformed` (also for a payload that is not
    ///   canonical JSON), `unsupportedAlgorithm`,
    ///   `untrustedSigner`, `badSignature`, `unsupportedVersion` or `wrongInstance`.
    public func verifySigned(_ compact: String, at now: Date) async throws(GlobalConfigurationError) -> SignedGlobalConfiguration {
        let jws = try GlobalConfigurationJWS(compact: compact, maximumSize: maximumSize)
        let validator = CertificateValidator(trustAnchors: trustAnchors, revocation: nil)
        do {
            _ = try await validator.validate(chain: jws.certificateChain, role: .configurationSigning, at: now)
        } catch {
            throw GlobalConfigurationError(.untrustedSigner, "the global configuration's signer is not trusted: \(error)")
        }
        try jws.verifySignature()
        let configuration = try GlobalConfiguration(jsonBytes: jws.payload)
        // Act only on exactly what was signed: the payload must be the document's canonical form
        // (no duplicate keys, alternative escapes or whitespace that other parsers might read differently).
        guard try configuration.canonicalJSON() == jws.payload else {
            throw GlobalConfigurationError(.malformed, "the global configuration payload is not in RFC 8785 canonical form")
        }
        if let expectedInstance, configuration.instance != expectedInstance {
            throw GlobalConfigurationError(
                .wrongInstance, "the global configuration is for instance \(configuration.instance), not \(expectedInstance)")
        }
        guard configuration.generatedAt < configuration.expiresAt else {
            throw GlobalConfigurationError(.malformed, "the global configuration expires before it was generated")
        }
        return SignedGlobalConfiguration(configuration: configuration, jws: jws)
    }
}
