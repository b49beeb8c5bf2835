import Crypto
import Foundation
import SwiftASN1
import X509

// MARK: - Request building

/// An OCSP request ready to send, with what is needed to verify its answer.
public struct OCSPClientRequest: Sendable, Hashable {
    /// The DER-encoded `OCSPRequest`.
    public let derEncoded: [UInt8]
    /// The nonce sent in the request (content of the nonce `OCTET STRING`), if any.
    public let nonce: [UInt8]?
    /// The `CertID` asked about.
    public let certID: OCSPCertID

    /// Creates a prepared request.
    /// - Parameters:
    ///   - derEncoded: The DER-encoded request.
    ///   - nonce: The nonce it carries, if any.
    ///   - certID: The `CertID` it asks about.
    public init(derEncoded: [UInt8], nonce: [UInt8]?, certID: OCSPCertID) {
        self.derEncoded = derEncoded
        self.nonce = nonce
        self.certID = certID
    }
}

/// Builds OCSP requests for one certificate at a time.
public struct OCSPRequestBuilder: Sendable, Hashable {
    /// The hash algorithm of the `CertID` (SHA-1 by default, which every responder supports).
    public var hashAlgorithm: OCSPHashAlgorithm
    /// The length of the random nonce in octets (RFC 8954 allows 1…32); `nil` sends no nonce.
    public var nonceLength: Int?

    /// Creates a builder.
    /// - Parameters:
    ///   - hashAlgorithm: The `CertID` hash algorithm, `.sha1` by default.
    ///   - nonceLength: The nonce length in octets (clamped to 1…32), 32 by default; `nil` for no nonce.
    public init(hashAlgorithm: OCSPHashAlgorithm = .sha1, nonceLength: Int? = 32) {
        self.hashAlgorithm = hashAlgorithm
        self.nonceLength = nonceLength.map { min(max($0, 1), 32) }
    }

    /// Builds a request asking about `leaf`, issued by `issuer`, with a fresh random nonce.
    /// - Parameters:
    ///   - leaf: The certificate whose status is wanted.
    ///   - issuer: The certificate of the CA that issued `leaf`.
    /// - Returns: The request bytes, the nonce and the `CertID`.
    public func makeRequest(for leaf: Certificate, issuer: Certificate) throws(OCSPError) -> OCSPClientRequest {
        try self.makeRequest(serialNumber: leaf.serialNumber, issuer: issuer)
    }

    /// Builds a request asking about the certificate with `serialNumber` issued by `issuer`.
    /// - Parameters:
    ///   - serialNumber: The serial number of the certificate whose status is wanted.
    ///   - issuer: The certificate of the CA that issued it.
    /// - Returns: The request bytes, the nonce and the `CertID`.
    public func makeRequest(
        serialNumber: Certificate.SerialNumber,
        issuer: Certificate
    ) throws(OCSPError) -> OCSPClientRequest {
        do {
            let certID = try OCSPCertID(serialNumber: serialNumber, issuer: issuer, hashAlgorithm: self.hashAlgorithm)
            var nonce: [UInt8]?
            var extensions: [Certificate.Extension]?
            if let length = self.nonceLength {
                var generator = SystemRandomNumberGenerator()
                let bytes = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
                nonce = bytes
                extensions = [try OCSPNonce.makeExtension(bytes)]
            }
            let request = OCSPRequest(
                tbsRequest: OCSPTBSRequest(
                    requestList: [OCSPSingleRequest(certID: certID)],
                    requestExtensions: extensions
                )
            )
            return OCSPClientRequest(derEncoded: try OCSPDER.encode(request), nonce: nonce, certID: certID)
        } catch {
            throw OCSPError(.malformedResponse, "cannot encode the OCSP request: \(error)")
        }
    }
}

// MARK: - Verification

/// A verified OCSP answer about one certificate.
public struct VerifiedOCSPStatus: Sendable, Hashable {
    /// The certificate's status.
    public var status: OCSPCertificateStatus
    /// When the responder knew the status to be correct.
    public var thisUpdate: Date
    /// When newer information will be available, if stated.
    public var nextUpdate: Date?
    /// When the response was signed.
    public var producedAt: Date
    /// The complete DER `OCSPResponse`, e.g. to staple it to outgoing messages.
    public var responseDER: [UInt8]

    /// Creates a verified status (normally produced by ``OCSPResponseVerifier``).
    /// - Parameters:
    ///   - status: The certificate's status.
    ///   - thisUpdate: When the status was known correct.
    ///   - nextUpdate: When newer information will be available.
    ///   - producedAt: When the response was signed.
    ///   - responseDER: The response bytes.
    public init(
        status: OCSPCertificateStatus,
        thisUpdate: Date,
        nextUpdate: Date?,
        producedAt: Date,
        responseDER: [UInt8]
    ) {
        self.status = status
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.producedAt = producedAt
        self.responseDER = responseDER
    }
}

/// Parses and verifies OCSP responses (RFC 6960 §3.2).
///
/// A response is accepted only when:
/// 1. its `responseStatus` is `successful` and it carries a basic response;
/// 2. it is signed by the issuer itself, or by a certificate in `certs` that the issuer signed,
///    that carries extended key usage `id-kp-OCSPSigning` and is valid at `now`;
/// 3. the signature over `tbsResponseData` verifies;
/// 4. it contains a `SingleResponse` for the certificate's `CertID`;
/// 5. that answer's `thisUpdate` is not in the future and its `nextUpdate` (if any) not in the
///    past, both with ``allowedClockSkew`` tolerance;
/// 6. the nonce matches when one was expected (stapled responses are checked without one).
public struct OCSPResponseVerifier: Sendable, Hashable {
    /// The tolerated clock difference with the responder, 5 minutes by default.
    public var allowedClockSkew: TimeInterval

    /// Creates a verifier.
    /// - Parameter allowedClockSkew: The tolerated clock difference, in seconds (default 300).
    public init(allowedClockSkew: TimeInterval = 300) {
        self.allowedClockSkew = allowedClockSkew
    }

    /// Verifies a response for the certificate `leaf` issued by `issuer`.
    /// - Parameters:
    ///   - responseDER: The DER `OCSPResponse` (untrusted).
    ///   - leaf: The certificate asked about.
    ///   - issuer: The certificate of its issuing CA (trusted).
    ///   - expectedNonce: The nonce sent in the request, or `nil` (e.g. for stapled responses).
    ///   - now: The current time.
    /// - Returns: The verified status.
    public func verify(
        responseDER: [UInt8],
        for leaf: Certificate,
        issuer: Certificate,
        expectedNonce: [UInt8]? = nil,
        now: Date
    ) throws(OCSPError) -> VerifiedOCSPStatus {
        try self.verify(
            responseDER: responseDER,
            serialNumber: leaf.serialNumber,
            issuer: issuer,
            expectedNonce: expectedNonce,
            now: now
        )
    }

    /// Verifies a response for the certificate with `serialNumber` issued by `issuer`.
    /// - Parameters:
    ///   - responseDER: The DER `OCSPResponse` (untrusted).
    ///   - serialNumber: The serial number of the certificate asked about.
    ///   - issuer: The certificate of its issuing CA (trusted).
    ///   - expectedNonce: The nonce sent in the request, or `nil` (e.g. for stapled responses).
    ///   - now: The current time.
    /// - Returns: The verified status.
    public func verify(
        responseDER: [UInt8],
        serialNumber: Certificate.SerialNumber,
        issuer: Certificate,
        expectedNonce: [UInt8]? = nil,
        now: Date
    ) throws(OCSPError) -> VerifiedOCSPStatus {
        // 1. Envelope.
        let response: OCSPResponse
        do {
            response = try OCSPResponse(derEncoded: responseDER)
        } catch {
            throw OCSPError(.malformedResponse, "not a DER OCSPResponse: \(error)")
        }
        guard response.responseStatus == .successful else {
            let status = response.responseStatus.description
            throw OCSPError(.unsuccessfulStatus(status), "the responder answered \(status)")
        }
        let basic: OCSPBasicResponse
        do {
            guard let parsed = try response.basicResponse() else {
                throw OCSPError(.malformedResponse, "the response is not of type id-pkix-ocsp-basic")
            }
            basic = parsed
        } catch let error as OCSPError {
            throw error
        } catch {
            throw OCSPError(.malformedResponse, "malformed BasicOCSPResponse: \(error)")
        }
        let data = basic.tbsResponseData
        guard data.version == 0 else {
            throw OCSPError(.malformedResponse, "unsupported ResponseData version \(data.version)")
        }

        // 2. Signer.
        let signer = try self.findSigner(of: basic, issuer: issuer, now: now)

        // 3. Signature.
        guard let algorithm = OCSPSignatureAlgorithms.algorithm(for: basic.signatureAlgorithm) else {
            throw OCSPError(.malformedResponse, "unsupported signature algorithm \(basic.signatureAlgorithm.algorithm)")
        }
        guard signer.publicKey.isValidSignature(basic.signature, for: basic.tbsResponseDataBytes, signatureAlgorithm: algorithm)
        else {
            throw OCSPError(.badSignature, "the signature over tbsResponseData does not verify")
        }

        // 4. Matching answer.
        guard let single = data.responses.first(where: { $0.certID.matches(serialNumber: serialNumber, issuer: issuer) })
        else {
            throw OCSPError(.noMatchingResponse, "the response has no answer for serial \(serialNumber)")
        }

        // 5. Time window.
        let thisUpdate = OCSPTime.date(single.thisUpdate)
        let nextUpdate = single.nextUpdate.map(OCSPTime.date)
        if thisUpdate > now.addingTimeInterval(self.allowedClockSkew) {
            throw OCSPError(.notYetValid, "thisUpdate \(thisUpdate) is in the future (now \(now))")
        }
        if let nextUpdate, nextUpdate < now.addingTimeInterval(-self.allowedClockSkew) {
            throw OCSPError(.expired, "nextUpdate \(nextUpdate) has passed (now \(now))")
        }
        if let nextUpdate, nextUpdate < thisUpdate {
            throw OCSPError(.malformedResponse, "nextUpdate precedes thisUpdate")
        }

        // 6. Nonce.
        if let expectedNonce {
            guard let nonce = data.nonce else {
                throw OCSPError(.nonceMismatch, "the response carries no nonce")
            }
            guard nonce == expectedNonce else {
                throw OCSPError(.nonceMismatch, "the response nonce does not match the request nonce")
            }
        }

        let status: OCSPCertificateStatus
        switch single.certStatus {
        case .good: status = .good
        case .unknown: status = .unknown
        case .revoked(let info):
            status = .revoked(at: OCSPTime.date(info.revocationTime), reason: info.revocationReason)
        }
        return VerifiedOCSPStatus(
            status: status,
            thisUpdate: thisUpdate,
            nextUpdate: nextUpdate,
            producedAt: OCSPTime.date(data.producedAt),
            responseDER: responseDER
        )
    }

    /// Finds the certificate that signed the response and checks that it may sign for `issuer`.
    private func findSigner(of basic: OCSPBasicResponse, issuer: Certificate, now: Date) throws(OCSPError)
        -> Certificate
    {
        let responderID = basic.tbsResponseData.responderID
        func isNamed(_ certificate: Certificate) -> Bool {
            switch responderID {
            case .byKey(let hash): return certificate.ocspKeyHash == hash
            case .byName(let name): return certificate.subject == name
            }
        }
        if isNamed(issuer) {
            return issuer
        }
        guard let candidate = (basic.certs ?? []).first(where: isNamed) else {
            throw OCSPError(.untrustedSigner, "the responder is neither the issuer nor a certificate in the response")
        }
        guard candidate.issuer == issuer.subject,
            issuer.publicKey.isValidSignature(candidate.signature, for: candidate)
        else {
            throw OCSPError(.untrustedSigner, "the responder certificate \(candidate.subject) is not issued by \(issuer.subject)")
        }
        guard OCSPSignerCheck.hasOCSPSigningUsage(candidate) else {
            throw OCSPError(.untrustedSigner, "the responder certificate lacks extended key usage OCSPSigning")
        }
        guard candidate.notValidBefore <= now, now <= candidate.notValidAfter else {
            throw OCSPError(.untrustedSigner, "the responder certificate is not valid at \(now)")
        }
        return candidate
    }
}
