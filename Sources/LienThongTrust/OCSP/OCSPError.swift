import Foundation

/// An error raised while building, fetching or verifying an OCSP (RFC 6960) response.
///
/// Every failure of the OCSP client side is reported with this type so callers can switch over
/// ``OCSPError/code`` and log ``OCSPError/message`` (or ``OCSPError/description``).
public struct OCSPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The machine readable category of an ``OCSPError``.
    public enum Code: Hashable, Sendable, CustomStringConvertible {
        /// The response bytes are not a well-formed DER `OCSPResponse`/`BasicOCSPResponse`,
        /// or use an algorithm or response type we do not support.
        case malformedResponse
        /// The responder answered with a `responseStatus` other than `successful`;
        /// the associated value names the status (e.g. `"malformedRequest"`).
        case unsuccessfulStatus(String)
        /// The response was not signed by the issuer itself nor by a valid delegated
        /// responder (issued by the issuer, EKU `id-kp-OCSPSigning`, within its validity).
        case untrustedSigner
        /// The signature over `tbsResponseData` does not verify with the signer's public key.
        case badSignature
        /// The response contains no `SingleResponse` for the certificate that was asked about.
        case noMatchingResponse
        /// The response's `thisUpdate` lies in the future (beyond the allowed clock skew).
        case notYetValid
        /// The response's `nextUpdate` lies in the past (beyond the allowed clock skew): it is stale.
        case expired
        /// The nonce in the response does not match the nonce sent in the request.
        case nonceMismatch
        /// The HTTP exchange with the responder failed; the associated value describes why.
        case transport(String)

        /// A short, stable name of the code (e.g. `"badSignature"`).
        public var description: String {
            switch self {
            case .malformedResponse: return "malformedResponse"
            case .unsuccessfulStatus(let status): return "unsuccessfulStatus(\(status))"
            case .untrustedSigner: return "untrustedSigner"
            case .badSignature: return "badSignature"
            case .noMatchingResponse: return "noMatchingResponse"
            case .notYetValid: return "notYetValid"
            case .expired: return "expired"
            case .nonceMismatch: return "nonceMismatch"
            case .transport(let reason): return "transport(\(reason))"
            }
        }
    }

    /// The category of the failure.
    public var code: Code
    /// A human readable explanation of the failure.
    public var message: String

    /// Creates an error with a code and an explanation.
    /// - Parameters:
    ///   - code: The category of the failure.
    ///   - message: A human readable explanation.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `"OCSP <code>: <message>"`.
    public var description: String { "OCSP \(code): \(message)" }
}
