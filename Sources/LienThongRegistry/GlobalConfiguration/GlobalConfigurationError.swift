/// An error from building, signing, publishing, fetching or verifying the global configuration.
///
/// Callers switch on ``code``; ``message`` is a sentence for the operator that names the
/// offending value.
public struct GlobalConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Hashable, Sendable, CaseIterable {
        /// The signed form or the document is not what the format requires: not a compact JWS,
        /// bad base64url, bad JSON, a missing or ill-typed field, an unexpected `typ`.
        case malformed
        /// The JWS `alg` is not `ES256`, or the signing key is not a P-256 key.
        case unsupportedAlgorithm
        /// The document's `format_version` is not one this code understands.
        case unsupportedVersion
        /// The signature does not verify under the `x5c[0]` certificate's key.
        case badSignature
        /// The signer's certificate does not chain to the trust anchor, is outside its validity
        /// period, or is not a configuration-signing certificate.
        case untrustedSigner
        /// The document is for another instance than the one expected.
        case wrongInstance
        /// The document is past its `expires_at`: security servers must fail closed.
        case expired
        /// The fetched document has a lower serial than the one held.
        case serialRegression
        /// The fetched document has the same serial as the one held but different content.
        case serialConflict
        /// The registry could not be reached, answered with an unexpected status, or sent too much.
        case transport
        /// No valid configuration is held (none cached, none fetched yet).
        case noConfiguration
        /// Encoding or signing the document failed.
        case signingFailed
        /// A state or cache file could not be read or written, or holds garbage.
        case storage
        /// A parameter is out of range (policy, instance code, signing chain).
        case invalidArgument
    }

    /// The error's code.
    public var code: Code
    /// A sentence explaining it.
    public var message: String

    /// Creates an error.
    /// - Parameters:
    ///   - code: What went wrong.
    ///   - message: A sentence for the operator.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
