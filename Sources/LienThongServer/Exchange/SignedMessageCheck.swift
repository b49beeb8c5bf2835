import Foundation
import LienThongAudit
import LienThongCore
import LienThongTrust

/// Verifies a message signed by a peer: the JWS over the canonical form, the signer's chain and
/// revocation status (stapled OCSP first), and that the signer is the member it must be
/// (`docs/protocol.md` §3, "Verifying").
public enum SignedMessageCheck {
    /// Verifies and returns the parsed signature.
    ///
    /// - Parameters:
    ///   - signature: the `X-LienThong-Signature` header value, if any.
    ///   - staple: the `X-LienThong-OCSP` header value (base64 DER), if any.
    ///   - message: the canonical message rebuilt from what was received.
    ///   - signer: the member that must have signed it.
    ///   - validations: validates the signer's chain (cached until its OCSP status needs refreshing).
    ///   - verifyingSide: the side doing the check; it selects the error types.
    ///   - now: the time of the check.
    public static func verify(
        signature: String?, staple: String?, message: CanonicalMessage, signer: MemberId,
        validations: ValidationCache, verifyingSide: ExchangeSide, now: Date
    ) async throws(XRoadFault) -> DetachedJWS {
        let badSignature: XRoadErrorType = verifyingSide == .provider ? .providerInvalidSignature : .consumerInvalidSignature
        let badCertificate: XRoadErrorType = verifyingSide == .provider ? .providerCertValidation : .consumerCertValidation
        let what = message.kind == .request ? "request" : "response"
        guard let signature, !signature.isEmpty else {
            throw XRoadFault(badSignature, "The \(what) carries no \(InterServerHeader.signature) header.")
        }
        let jws: DetachedJWS
        do {
            jws = try DetachedJWS(compact: signature)
            try jws.verify(digest: message.digest)
        } catch {
            throw XRoadFault(badSignature, "The \(what) signature does not verify over the message as received: \(error)")
        }
        var stapled: [UInt8]?
        if let staple, !staple.isEmpty {
            guard let bytes = Data(base64Encoded: staple) else {
                throw XRoadFault(badCertificate, "The stapled OCSP response is not valid base64.")
            }
            stapled = Array(bytes)
        }
        let validated: ValidatedCertificate
        do {
            validated = try await validations.validateMember(chain: jws.certificateChain, chainKey: jws.encodedHeader, stapled: stapled, at: now)
        } catch {
            throw XRoadFault(badCertificate, "The \(what) signer's certificate is not acceptable: \(error)")
        }
        guard validated.holderId == signer.canonical else {
            throw XRoadFault(badSignature, "The \(what) is signed by \(validated.holderId), not by \(signer).")
        }
        return jws
    }
}
