import LienThongCore

/// The headers LienThong adds between security servers (`docs/protocol.md` §6).
public enum InterServerHeader {
    /// The detached JWS over the canonical request or response (§3).
    public static let signature = "X-LienThong-Signature"
    /// The signer's OCSP response (DER, standard base64), stapled so that the peer need not ask the responder.
    public static let ocsp = "X-LienThong-OCSP"
    /// Headers that never pass from one side to a backend or client: they belong to the inter-server hop.
    public static let hopHeaders: Set<String> = [signature.lowercased(), ocsp.lowercased()]
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
