import LienThongCore

/// The headers LienThong adds between security servers (`docs/protocol.md` §6).
public enum InterServerHeader {
    /// The detached JWS over the canonical request or response (§3).
    public static let signature = "X-LienThong-Signature"
    /// The signer's OCSP response (DER, standard base64), stapled so that the peer need not ask the responder.
    public static let ocsp = "X-LienThong-OCSP"
    /// The inter-server protocol version the consumer speaks (§6.2). A request without it comes
    /// from a protocol-1 server.
    public static let protocolVersion = "X-LienThong-Protocol"
    /// When the consumer's server signed the request, in milliseconds since the Unix epoch: the
    /// canonical request's `time` (§1), which the signature covers.
    public static let time = "X-LienThong-Time"
    /// Headers that never pass from one side to a backend or client: they belong to the inter-server hop.
    public static let hopHeaders: Set<String> = [signature.lowercased(), ocsp.lowercased(), protocolVersion.lowercased(), time.lowercased()]

    /// The inter-server protocol this server speaks: 2, whose canonical request carries the signed time.
    public static let currentProtocol = 2

    /// Checks the request's protocol version and reads its signed time, before anything else of
    /// the request is trusted (the signature check then covers the time).
    /// - Throws: `Server.ServerProxy.InvalidProtocolVersion` for a peer of another version,
    ///   `Client.BadRequest` for a time that is not 1 to 15 decimal digits within
    ///   ``CanonicalMessage/maximumTime``.
    static func signedTime(protocolHeader: String?, timeHeader: String?) throws(XRoadFault) -> Int64 {
        guard let version = protocolHeader else {
            throw XRoadFault(.providerInvalidProtocolVersion, "The request carries no \(protocolVersion) header: it comes from a security server of inter-server protocol 1, which signs no time. This server speaks protocol \(currentProtocol) only; upgrade the consumer's security server.")
        }
        guard version == String(currentProtocol) else {
            throw XRoadFault(.providerInvalidProtocolVersion, "Inter-server protocol \(version.prefix(16)) is not supported; this server speaks protocol \(currentProtocol) only.")
        }
        guard let text = timeHeader, (1...15).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let value = Int64(text), value <= CanonicalMessage.maximumTime else {
            throw XRoadFault(.badRequest, "\(time) must be the signing time in milliseconds since 1970-01-01T00:00:00Z (1 to 15 digits).")
        }
        return value
    }
}

extension XRoadErrorType {
    /// Whether this error counts as a *failure* (the call was allowed but could not be completed)
    /// rather than a *refusal* (a check said no) in the audit record and the compliance view.
    public var isFailure: Bool {
        switch code {
        case .serviceFailed, .networkError, .internalError, .loggingFailed: return true
        default: return false
        }
    }
}
