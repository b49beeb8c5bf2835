import Crypto
import Foundation
import SwiftASN1
import X509

/// An RFC 6960 OCSP responder for one issuing CA.
///
/// Answers are signed either by the CA itself or, typically, by a delegated responder
/// certificate that the CA issued with the extended key usage `id-kp-OCSPSigning`; that
/// certificate is included in the response's `certs` so clients can verify it.
///
/// ``respond(to:now:)`` never throws and never traps: garbage yields a DER `malformedRequest`
/// response, internal failures an `internalError` response.
public struct OCSPResponder: Sendable {
    /// Looks up the revocation status of a certificate issued by the responder's CA.
    public typealias StatusLookup = @Sendable (Certificate.SerialNumber) async -> OCSPCertificateStatus

    /// The most `Request`s one `OCSPRequest` may contain; larger requests are `malformedRequest`.
    public static let maximumRequestsPerMessage = 64

    /// The issuing CA whose certificates this responder answers for.
    public let issuer: Certificate
    /// The certificate whose key signs responses (the CA itself or a delegated responder).
    public let signer: Certificate
    /// How long an answer stays valid: `nextUpdate = thisUpdate + validity`.
    public let validity: TimeInterval

    private let signerKey: Certificate.PrivateKey
    private let signatureAlgorithm: Certificate.SignatureAlgorithm
    private let responderKeyHash: [UInt8]
    private let statusLookup: StatusLookup

    /// Creates a responder.
    ///
    /// - Parameters:
    ///   - issuer: The issuing CA certificate.
    ///   - signer: The OCSP signing certificate: either `issuer` itself or a certificate issued
    ///     (and signed) by `issuer` with extended key usage `id-kp-OCSPSigning`.
    ///   - signerKey: The private key of `signer`.
    ///   - validity: The validity window of answers, one hour by default.
    ///   - statusLookup: Looks up the status of a serial number issued by `issuer`.
    /// - Throws: ``OCSPError`` with code ``OCSPError/Code/untrustedSigner`` when `signer` does not
    ///   fit `issuer`, `signerKey` does not match `signer`, or the key type is unsupported.
    public init(
        issuer: Certificate,
        signer: Certificate,
        signerKey: Certificate.PrivateKey,
        validity: TimeInterval = 3600,
        statusLookup: @escaping StatusLookup
    ) throws(OCSPError) {
        guard signerKey.publicKey == signer.publicKey else {
            throw OCSPError(.untrustedSigner, "the OCSP signing key does not match the signer certificate")
        }
        if signer != issuer {
            guard signer.issuer == issuer.subject, issuer.publicKey.isValidSignature(signer.signature, for: signer)
            else {
                throw OCSPError(.untrustedSigner, "the OCSP signer certificate is not issued by the CA")
            }
            guard OCSPSignerCheck.hasOCSPSigningUsage(signer) else {
                throw OCSPError(.untrustedSigner, "the OCSP signer certificate lacks extended key usage OCSPSigning")
            }
        }
        guard let algorithm = OCSPSignatureAlgorithms.defaultAlgorithm(for: signer.publicKey) else {
            throw OCSPError(.untrustedSigner, "unsupported OCSP signing key type \(signer.publicKey)")
        }
        guard validity > 0, validity.isFinite else {
            throw OCSPError(.untrustedSigner, "the answer validity must be positive")
        }
        self.issuer = issuer
        self.signer = signer
        self.signerKey = signerKey
        self.validity = validity
        self.signatureAlgorithm = algorithm
        self.responderKeyHash = signer.ocspKeyHash
        self.statusLookup = statusLookup
    }

    /// Answers a DER-encoded `OCSPRequest` with a DER-encoded `OCSPResponse`.
    ///
    /// - Unparseable requests, requests with no or too many entries, and invalid nonces
    ///   (RFC 8954: 1…32 octets) get a `malformedRequest` response.
    /// - `CertID`s whose `issuerNameHash`/`issuerKeyHash` do not designate our CA, or use an
    ///   unsupported hash, are answered `unknown`; others with the looked-up status.
    /// - A request nonce is echoed in the response extensions.
    /// - Parameters:
    ///   - requestDER: The request bytes (untrusted).
    ///   - now: The time used for `producedAt` and `thisUpdate`.
    /// - Returns: The response bytes.
    public func respond(to requestDER: [UInt8], now: Date) async -> [UInt8] {
        guard let request = try? OCSPRequest(derEncoded: requestDER) else {
            return OCSPResponse.statusOnlyDER(.malformedRequest)
        }
        let tbs = request.tbsRequest
        guard tbs.version == 0, !tbs.requestList.isEmpty, tbs.requestList.count <= Self.maximumRequestsPerMessage
        else {
            return OCSPResponse.statusOnlyDER(.malformedRequest)
        }
        let nonceExtension = OCSPNonce.findExtension(in: tbs.requestExtensions)
        if let nonceExtension {
            let nonce = OCSPNonce.nonce(of: nonceExtension)
            guard (1...32).contains(nonce.count) else {
                return OCSPResponse.statusOnlyDER(.malformedRequest)
            }
        }

        var singles: [(OCSPCertID, OCSPCertificateStatus)] = []
        singles.reserveCapacity(tbs.requestList.count)
        for single in tbs.requestList {
            let certID = single.certID
            if certID.matchesIssuer(self.issuer) {
                singles.append((certID, await self.statusLookup(certID.serialNumber)))
            } else {
                singles.append((certID, .unknown))
            }
        }

        do {
            let der = try self.signedResponse(
                singles: singles,
                nonceExtension: nonceExtension.map { Certificate.Extension(oid: $0.oid, critical: false, value: $0.value) },
                now: now
            )
            return der
        } catch {
            return OCSPResponse.statusOnlyDER(.internalError)
        }
    }

    private func signedResponse(
        singles: [(OCSPCertID, OCSPCertificateStatus)],
        nonceExtension: Certificate.Extension?,
        now: Date
    ) throws -> [UInt8] {
        let thisUpdate = try OCSPTime.generalizedTime(now)
        let nextUpdate = try OCSPTime.generalizedTime(now.addingTimeInterval(self.validity))
        let responses = try singles.map { certID, status in
            OCSPSingleResponse(
                certID: certID,
                certStatus: try Self.encode(status),
                thisUpdate: thisUpdate,
                nextUpdate: nextUpdate
            )
        }
        let data = OCSPResponseData(
            responderID: .byKey(self.responderKeyHash),
            producedAt: thisUpdate,
            responses: responses,
            responseExtensions: nonceExtension.map { [$0] }
        )
        let basic = try OCSPBasicResponse(
            signing: data,
            with: self.signerKey,
            signatureAlgorithm: self.signatureAlgorithm,
            certs: self.signer == self.issuer ? nil : [self.signer]
        )
        return try OCSPDER.encode(OCSPResponse(successful: basic))
    }

    private static func encode(_ status: OCSPCertificateStatus) throws -> OCSPCertStatus {
        switch status {
        case .good: return .good
        case .unknown: return .unknown
        case .revoked(let at, let reason):
            return .revoked(
                OCSPRevokedInfo(revocationTime: try OCSPTime.generalizedTime(at), revocationReason: reason)
            )
        }
    }
}

/// Checks shared by the responder (configuration) and the verifier (trust decisions).
enum OCSPSignerCheck {
    /// Whether the certificate's extended key usage extension lists `id-kp-OCSPSigning`.
    static func hasOCSPSigningUsage(_ certificate: Certificate) -> Bool {
        guard let eku = try? certificate.extensions.extendedKeyUsage else { return false }
        return eku.contains(.ocspSigning)
    }
}
