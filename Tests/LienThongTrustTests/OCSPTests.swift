import AsyncHTTPClient
import Crypto
import _CryptoExtras
import Foundation
import NIOCore
import NIOHTTP1
import SwiftASN1
import Testing
import X509

@testable import LienThongTrust

// MARK: - Fixtures

/// A small development PKI built in memory: a P-256 root, a delegated OCSP signer, two
/// leaves (one good, one revoked), and an unrelated "foreign" CA.
private struct OCSPFixture: Sendable {
    let now: Date
    let caKey: Certificate.PrivateKey
    let ca: Certificate
    let signerKey: Certificate.PrivateKey
    let signer: Certificate
    let goodLeaf: Certificate
    let revokedLeaf: Certificate
    let revokedAt: Date
    let foreignKey: Certificate.PrivateKey
    let foreignCA: Certificate
    let foreignLeaf: Certificate

    static let ocspURL = "http://127.0.0.1:1/ocsp"

    init() throws {
        // Whole seconds: GeneralizedTime carries no fractions in our encoding.
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        self.now = now
        self.caKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        self.ca = try Self.makeCA(name: "LienThong Test Root CA", key: caKey, now: now)
        self.signerKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        self.signer = try Self.makeSigner(
            name: "LienThong Test OCSP",
            key: signerKey,
            issuer: ca,
            issuerKey: caKey,
            now: now,
            eku: [.ocspSigning]
        )
        self.goodLeaf = try Self.makeLeaf(name: "good.member", issuer: ca, issuerKey: caKey, now: now, serial: 1001)
        self.revokedLeaf = try Self.makeLeaf(
            name: "revoked.member",
            issuer: ca,
            issuerKey: caKey,
            now: now,
            serial: 1002
        )
        self.revokedAt = now.addingTimeInterval(-600)
        self.foreignKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        self.foreignCA = try Self.makeCA(name: "Foreign Root CA", key: foreignKey, now: now)
        self.foreignLeaf = try Self.makeLeaf(
            name: "foreign.member",
            issuer: foreignCA,
            issuerKey: foreignKey,
            now: now,
            serial: 1001  // same serial as goodLeaf on purpose
        )
    }

    static func name(_ commonName: String) throws -> DistinguishedName {
        try DistinguishedName {
            CountryName("VN")
            OrganizationName("LienThong Test")
            CommonName(commonName)
        }
    }

    static func makeCA(name: String, key: Certificate.PrivateKey, now: Date) throws -> Certificate {
        let subject = try Self.name(name)
        return try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(86_400 * 365),
            issuer: subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: key
        )
    }

    static func makeSigner(
        name: String,
        key: Certificate.PrivateKey,
        issuer: Certificate,
        issuerKey: Certificate.PrivateKey,
        now: Date,
        eku: [ExtendedKeyUsage.Usage]?,
        notValidAfter: Date? = nil
    ) throws -> Certificate {
        try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: notValidAfter ?? now.addingTimeInterval(86_400 * 30),
            issuer: issuer.subject,
            subject: try Self.name(name),
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                if let eku {
                    try ExtendedKeyUsage(eku)
                }
            },
            issuerPrivateKey: issuerKey
        )
    }

    static func makeLeaf(
        name: String,
        issuer: Certificate,
        issuerKey: Certificate.PrivateKey,
        now: Date,
        serial: Int
    ) throws -> Certificate {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        return try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(serial),
            publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(86_400 * 30),
            issuer: issuer.subject,
            subject: try Self.name(name),
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                AuthorityInformationAccess([
                    .init(method: .ocspServer, location: .uniformResourceIdentifier(Self.ocspURL))
                ])
            },
            issuerPrivateKey: issuerKey
        )
    }

    /// The status table of our CA.
    var statuses: [Certificate.SerialNumber: OCSPCertificateStatus] {
        [
            goodLeaf.serialNumber: .good,
            revokedLeaf.serialNumber: .revoked(at: revokedAt, reason: .keyCompromise),
        ]
    }

    func responder(validity: TimeInterval = 3600) throws -> OCSPResponder {
        let statuses = self.statuses
        return try OCSPResponder(
            issuer: ca,
            signer: signer,
            signerKey: signerKey,
            validity: validity,
            statusLookup: { serial in statuses[serial] ?? .unknown }
        )
    }

    /// Builds a response by hand with the public codec (to produce responses our responder refuses to).
    func forgeResponse(
        signer: Certificate,
        signerKey: Certificate.PrivateKey,
        certs: [Certificate]?,
        about leaf: Certificate,
        issuer: Certificate,
        status: OCSPCertStatus = .good,
        thisUpdate: Date? = nil,
        nextUpdate: Date? = nil,
        nonce: [UInt8]? = nil
    ) throws -> [UInt8] {
        let thisUpdate = thisUpdate ?? now
        let single = OCSPSingleResponse(
            certID: try OCSPCertID(serialNumber: leaf.serialNumber, issuer: issuer),
            certStatus: status,
            thisUpdate: try OCSPTime.generalizedTime(thisUpdate),
            nextUpdate: try OCSPTime.generalizedTime(nextUpdate ?? thisUpdate.addingTimeInterval(3600))
        )
        let data = OCSPResponseData(
            responderID: .byKey(signer.ocspKeyHash),
            producedAt: try OCSPTime.generalizedTime(thisUpdate),
            responses: [single],
            responseExtensions: try nonce.map { [try OCSPNonce.makeExtension($0)] }
        )
        let basic = try OCSPBasicResponse(
            signing: data,
            with: signerKey,
            signatureAlgorithm: .ecdsaWithSHA256,
            certs: certs
        )
        return try OCSPDER.encode(OCSPResponse(successful: basic))
    }
}

private func der<T: DERSerializable>(_ value: T) throws -> [UInt8] {
    var serializer = DER.Serializer()
    try serializer.serialize(value)
    return serializer.serializedBytes
}

/// Runs `body` and returns the ``OCSPError`` it throws (or records an issue if it does not).
private func ocspError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> OCSPError? {
    do {
        try body()
        Issue.record("expected an OCSPError, got success", sourceLocation: sourceLocation)
        return nil
    } catch let error as OCSPError {
        return error
    } catch {
        Issue.record("expected an OCSPError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

// MARK: - Codec

@Suite("OCSP codec")
struct OCSPCodecTests {
    @Test("request round trip, CertID contents, nonce")
    func requestRoundTrip() throws {
        let fx = try OCSPFixture()
        for algorithm in OCSPHashAlgorithm.allCases {
            let built = try OCSPRequestBuilder(hashAlgorithm: algorithm).makeRequest(for: fx.goodLeaf, issuer: fx.ca)
            let parsed = try OCSPRequest(derEncoded: built.derEncoded)
            #expect(try der(parsed) == built.derEncoded)
            #expect(parsed.tbsRequest.version == 0)
            #expect(parsed.tbsRequest.requestList.count == 1)
            let certID = try #require(parsed.tbsRequest.requestList.first).certID
            #expect(certID == built.certID)
            #expect(OCSPHashAlgorithm(certID.hashAlgorithm) == algorithm)
            #expect(certID.serialNumber == fx.goodLeaf.serialNumber)
            #expect(certID.issuerNameHash == algorithm.hash(try der(fx.ca.subject)))
            #expect(certID.issuerKeyHash == algorithm.hash(Array(fx.ca.publicKey.subjectPublicKeyInfoBytes)))
            #expect(certID.issuerNameHash.count == (algorithm == .sha1 ? 20 : 32))
            #expect(certID.matches(serialNumber: fx.goodLeaf.serialNumber, issuer: fx.ca))
            #expect(!certID.matches(serialNumber: fx.goodLeaf.serialNumber, issuer: fx.foreignCA))
            #expect(!certID.matches(serialNumber: fx.revokedLeaf.serialNumber, issuer: fx.ca))
            #expect(built.nonce?.count == 32)
            #expect(parsed.tbsRequest.nonce == built.nonce)
        }
        // Without nonce: no requestExtensions at all.
        let plain = try OCSPRequestBuilder(nonceLength: nil).makeRequest(for: fx.goodLeaf, issuer: fx.ca)
        #expect(plain.nonce == nil)
        #expect(try OCSPRequest(derEncoded: plain.derEncoded).tbsRequest.requestExtensions == nil)
    }

    @Test("SHA-1 CertID AlgorithmIdentifier is encoded like OpenSSL (OID + NULL)")
    func sha1AlgorithmEncoding() throws {
        #expect(try der(OCSPHashAlgorithm.sha1.algorithmIdentifier) == [
            0x30, 0x09, 0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A, 0x05, 0x00,
        ])
    }

    @Test("response round trip with every CertStatus")
    func responseRoundTrip() throws {
        let fx = try OCSPFixture()
        let statuses: [OCSPCertStatus] = [
            .good,
            .unknown,
            .revoked(OCSPRevokedInfo(revocationTime: try OCSPTime.generalizedTime(fx.revokedAt))),
            .revoked(
                OCSPRevokedInfo(
                    revocationTime: try OCSPTime.generalizedTime(fx.revokedAt),
                    revocationReason: .cessationOfOperation
                )
            ),
        ]
        for status in statuses {
            let bytes = try fx.forgeResponse(
                signer: fx.signer,
                signerKey: fx.signerKey,
                certs: [fx.signer],
                about: fx.goodLeaf,
                issuer: fx.ca,
                status: status,
                nonce: [1, 2, 3]
            )
            let response = try OCSPResponse(derEncoded: bytes)
            #expect(try der(response) == bytes)
            #expect(response.responseStatus == .successful)
            #expect(response.responseBytes?.responseType == OCSPResponseBytes.basicResponseType)
            let basic = try #require(try response.basicResponse())
            #expect(try der(basic) == response.responseBytes?.response)
            #expect(try der(basic.tbsResponseData) == basic.tbsResponseDataBytes)
            #expect(basic.certs == [fx.signer])
            #expect(basic.tbsResponseData.responses.first?.certStatus == status)
            #expect(basic.tbsResponseData.nonce == [1, 2, 3])
            #expect(basic.tbsResponseData.responderID == .byKey(Array(Insecure.SHA1.hash(data: Array(fx.signer.publicKey.subjectPublicKeyInfoBytes)))))
        }
    }

    @Test("status-only responses", arguments: OCSPResponseStatus.allCases)
    func statusOnly(status: OCSPResponseStatus) throws {
        let bytes = OCSPResponse.statusOnlyDER(status)
        let parsed = try OCSPResponse(derEncoded: bytes)
        #expect(parsed.responseStatus == status)
        #expect(parsed.responseBytes == nil)
        #expect(try der(OCSPResponse(responseStatus: status)) == bytes)
    }

    @Test("GeneralizedTime conversion is exact to the second")
    func timeConversion() throws {
        let dates: [TimeInterval] = [0, 951_782_400 /* 2000-02-29 */, 1_700_000_000, 4_102_444_799, -86_401]
        for seconds in dates {
            let date = Date(timeIntervalSince1970: seconds)
            let time = try OCSPTime.generalizedTime(date)
            #expect(OCSPTime.date(time) == date)
        }
        let leap = try OCSPTime.generalizedTime(Date(timeIntervalSince1970: 951_782_400))
        #expect((leap.year, leap.month, leap.day, leap.hours) == (2000, 2, 29, 0))
        let fractional = try OCSPTime.generalizedTime(Date(timeIntervalSince1970: 1_700_000_000.75))
        #expect(OCSPTime.date(fractional) == Date(timeIntervalSince1970: 1_700_000_000))
    }

    @Test("CRL reason names")
    func reasonNames() {
        #expect(OCSPCertificateStatus.CRLReason(name: "keyCompromise") == .keyCompromise)
        #expect(OCSPCertificateStatus.CRLReason(name: "CACOMPROMISE") == .caCompromise)
        #expect(OCSPCertificateStatus.CRLReason(name: "nonsense") == nil)
        for reason in OCSPCertificateStatus.CRLReason.allCases {
            #expect(OCSPCertificateStatus.CRLReason(name: reason.name) == reason)
        }
    }

    @Test("AIA OCSP URL helper")
    func aiaHelper() throws {
        let fx = try OCSPFixture()
        #expect(OCSPHTTPClient.responderURL(of: fx.goodLeaf) == OCSPFixture.ocspURL)
        #expect(OCSPHTTPClient.responderURL(of: fx.ca) == nil)
    }
}

// MARK: - Responder

@Suite("OCSP responder")
struct OCSPResponderTests {
    @Test("good, revoked with time and reason, unknown serial", arguments: OCSPHashAlgorithm.allCases)
    func statuses(hash: OCSPHashAlgorithm) async throws {
        let fx = try OCSPFixture()
        let responder = try fx.responder()
        let verifier = OCSPResponseVerifier()
        let builder = OCSPRequestBuilder(hashAlgorithm: hash)

        let goodRequest = try builder.makeRequest(for: fx.goodLeaf, issuer: fx.ca)
        let good = try verifier.verify(
            responseDER: await responder.respond(to: goodRequest.derEncoded, now: fx.now),
            for: fx.goodLeaf,
            issuer: fx.ca,
            expectedNonce: goodRequest.nonce,
            now: fx.now
        )
        #expect(good.status == .good)
        #expect(good.thisUpdate == fx.now)
        #expect(good.producedAt == fx.now)
        #expect(good.nextUpdate == fx.now.addingTimeInterval(3600))

        let revokedRequest = try builder.makeRequest(for: fx.revokedLeaf, issuer: fx.ca)
        let revoked = try verifier.verify(
            responseDER: await responder.respond(to: revokedRequest.derEncoded, now: fx.now),
            for: fx.revokedLeaf,
            issuer: fx.ca,
            expectedNonce: revokedRequest.nonce,
            now: fx.now
        )
        #expect(revoked.status == .revoked(at: fx.revokedAt, reason: .keyCompromise))

        let strangerSerial = Certificate.SerialNumber(424_242)
        let strangerRequest = try builder.makeRequest(serialNumber: strangerSerial, issuer: fx.ca)
        let stranger = try verifier.verify(
            responseDER: await responder.respond(to: strangerRequest.derEncoded, now: fx.now),
            serialNumber: strangerSerial,
            issuer: fx.ca,
            expectedNonce: strangerRequest.nonce,
            now: fx.now
        )
        #expect(stranger.status == .unknown)
    }

    @Test("a CertID naming another issuer is answered unknown, even for a known serial")
    func foreignIssuer() async throws {
        let fx = try OCSPFixture()
        let responder = try fx.responder()
        #expect(fx.foreignLeaf.serialNumber == fx.goodLeaf.serialNumber)
        let request = try OCSPRequestBuilder().makeRequest(for: fx.foreignLeaf, issuer: fx.foreignCA)
        let response = await responder.respond(to: request.derEncoded, now: fx.now)
        let basic = try #require(try OCSPResponse(derEncoded: response).basicResponse())
        let single = try #require(basic.tbsResponseData.responses.first)
        #expect(single.certID == request.certID)  // echoed verbatim
        #expect(single.certStatus == .unknown)
        // The foreign CA did not sign it, so a client trusting the foreign CA rejects it …
        let error = ocspError {
            _ = try OCSPResponseVerifier().verify(
                responseDER: response, for: fx.foreignLeaf, issuer: fx.foreignCA, now: fx.now)
        }
        #expect(error?.code == .untrustedSigner)
    }

    @Test("several requests in one message, nonce echoed verbatim")
    func multipleAndNonce() async throws {
        let fx = try OCSPFixture()
        let responder = try fx.responder()
        let nonce = Array((0..<16).map { UInt8($0) })
        let request = OCSPRequest(
            tbsRequest: OCSPTBSRequest(
                requestList: [
                    OCSPSingleRequest(certID: try OCSPCertID(serialNumber: fx.goodLeaf.serialNumber, issuer: fx.ca)),
                    OCSPSingleRequest(
                        certID: try OCSPCertID(
                            serialNumber: fx.revokedLeaf.serialNumber, issuer: fx.ca, hashAlgorithm: .sha256)
                    ),
                ],
                requestExtensions: [try OCSPNonce.makeExtension(nonce)]
            )
        )
        let response = await responder.respond(to: try der(request), now: fx.now)
        let basic = try #require(try OCSPResponse(derEncoded: response).basicResponse())
        #expect(basic.tbsResponseData.nonce == nonce)
        #expect(basic.tbsResponseData.responseExtensions == request.tbsRequest.requestExtensions)
        #expect(basic.tbsResponseData.responses.map(\.certStatus.isGood) == [true, false])

        let good = try OCSPResponseVerifier().verify(
            responseDER: response, for: fx.goodLeaf, issuer: fx.ca, expectedNonce: nonce, now: fx.now)
        #expect(good.status == .good)
        let revoked = try OCSPResponseVerifier().verify(
            responseDER: response, for: fx.revokedLeaf, issuer: fx.ca, expectedNonce: nonce, now: fx.now)
        #expect(revoked.status == .revoked(at: fx.revokedAt, reason: .keyCompromise))
    }

    @Test("garbage gets a DER malformedRequest that the verifier reports as unsuccessfulStatus")
    func garbage() async throws {
        let fx = try OCSPFixture()
        let responder = try fx.responder()
        let valid = try OCSPRequestBuilder().makeRequest(for: fx.goodLeaf, issuer: fx.ca).derEncoded
        var inputs: [[UInt8]] = [
            [],
            [0x00],
            Array("hello, responder".utf8),
            Array(valid.dropLast()),
            Array(valid.prefix(10)),
            valid + [0x00],
            [0x30, 0x80, 0x00, 0x00],  // BER indefinite length
            Array(repeating: 0x30, count: 10_000),  // deep nesting claims
            [0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],  // absurd length
            try der(OCSPRequest(tbsRequest: OCSPTBSRequest(requestList: []))),  // empty list
            try der(
                OCSPRequest(
                    tbsRequest: OCSPTBSRequest(
                        requestList: [OCSPSingleRequest(certID: try OCSPCertID(serialNumber: fx.goodLeaf.serialNumber, issuer: fx.ca))],
                        requestExtensions: [try OCSPNonce.makeExtension(Array(repeating: 7, count: 33))]  // nonce too long
                    )
                )
            ),
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var mutated = valid
            let index = Int.random(in: 0..<mutated.count, using: &generator)
            mutated[index] = UInt8.random(in: 0...255, using: &generator)
            inputs.append(mutated)
            inputs.append((0..<Int.random(in: 1...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }
        let malformed = OCSPResponse.statusOnlyDER(.malformedRequest)
        #expect(malformed == [0x30, 0x03, 0x0A, 0x01, 0x01])
        for (offset, input) in inputs.enumerated() {
            let response = await responder.respond(to: input, now: fx.now)
            // Every answer parses; fixed garbage (first 11 inputs) must be malformedRequest.
            let parsed = try OCSPResponse(derEncoded: response)
            if offset < 11 {
                #expect(response == malformed, "input #\(offset)")
                #expect(parsed.responseStatus == .malformedRequest)
            }
        }
        let error = ocspError {
            _ = try OCSPResponseVerifier().verify(responseDER: malformed, for: fx.goodLeaf, issuer: fx.ca, now: fx.now)
        }
        #expect(error?.code == .unsuccessfulStatus("malformedRequest"))
    }

    @Test("the responder refuses signer configurations clients would reject")
    func configuration() throws {
        let fx = try OCSPFixture()
        let lookup: OCSPResponder.StatusLookup = { _ in .good }
        // Wrong key for the signer certificate.
        #expect(throws: OCSPError.self) {
            try OCSPResponder(issuer: fx.ca, signer: fx.signer, signerKey: fx.caKey, statusLookup: lookup)
        }
        // Signer without the OCSPSigning EKU.
        let plainKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let plain = try OCSPFixture.makeSigner(
            name: "plain", key: plainKey, issuer: fx.ca, issuerKey: fx.caKey, now: fx.now, eku: [.serverAuth])
        #expect(throws: OCSPError.self) {
            try OCSPResponder(issuer: fx.ca, signer: plain, signerKey: plainKey, statusLookup: lookup)
        }
        // Signer issued by another CA.
        #expect(throws: OCSPError.self) {
            try OCSPResponder(issuer: fx.foreignCA, signer: fx.signer, signerKey: fx.signerKey, statusLookup: lookup)
        }
        // The CA signing its own responses is fine, and those verify.
        _ = try OCSPResponder(issuer: fx.ca, signer: fx.ca, signerKey: fx.caKey, statusLookup: lookup)
    }

    @Test("responses signed by the CA itself verify")
    func caSigned() async throws {
        let fx = try OCSPFixture()
        let responder = try OCSPResponder(issuer: fx.ca, signer: fx.ca, signerKey: fx.caKey, statusLookup: { _ in .good })
        let request = try OCSPRequestBuilder().makeRequest(for: fx.goodLeaf, issuer: fx.ca)
        let response = await responder.respond(to: request.derEncoded, now: fx.now)
        #expect(try OCSPResponse(derEncoded: response).basicResponse()?.certs == nil)
        let verified = try OCSPResponseVerifier().verify(
            responseDER: response, for: fx.goodLeaf, issuer: fx.ca, expectedNonce: request.nonce, now: fx.now)
        #expect(verified.status == .good)
        #expect(verified.responseDER == response)
    }

    @Test("RSA signers work too")
    func rsaSigner() async throws {
        let fx = try OCSPFixture()
        let rsaKey = Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        let rsaSigner = try OCSPFixture.makeSigner(
            name: "rsa ocsp", key: rsaKey, issuer: fx.ca, issuerKey: fx.caKey, now: fx.now, eku: [.ocspSigning])
        let responder = try OCSPResponder(issuer: fx.ca, signer: rsaSigner, signerKey: rsaKey, statusLookup: { _ in .good })
        let request = try OCSPRequestBuilder().makeRequest(for: fx.goodLeaf, issuer: fx.ca)
        let response = await responder.respond(to: request.derEncoded, now: fx.now)
        let basic = try #require(try OCSPResponse(derEncoded: response).basicResponse())
        #expect(OCSPSignatureAlgorithms.algorithm(for: basic.signatureAlgorithm) == .sha256WithRSAEncryption)
        let verified = try OCSPResponseVerifier().verify(
            responseDER: response, for: fx.goodLeaf, issuer: fx.ca, expectedNonce: request.nonce, now: fx.now)
        #expect(verified.status == .good)
    }
}

extension OCSPCertStatus {
    fileprivate var isGood: Bool { self == .good }
}

// MARK: - Verifier

@Suite("OCSP verifier rejections")
struct OCSPVerifierTests {
    @Test("tampered signature byte → badSignature")
    func tamperedSignature() async throws {
        let fx = try OCSPFixture()
        let request = try OCSPRequestBuilder().makeRequest(for: fx.goodLeaf, issuer: fx.ca)
        let response = try await fx.responder().respond(to: request.derEncoded, now: fx.now)
        let basic = try #require(try OCSPResponse(derEncoded: response).basicResponse())
        var signature = basic.signature
        signature[signature.count - 1] ^= 0x01
        let tampered = try der(
            OCSPResponse(
                successful: try OCSPBasicResponse(
                    tbsResponseData: basic.tbsResponseData,
                    signatureAlgorithm: basic.signatureAlgorithm,
                    signature: signature,
                    certs: basic.certs
                )
            )
        )
        #expect(tampered.count == response.count)
        let error = ocspError {
            _ = try OCSPResponseVerifier().verify(
                responseDER: tampered, for: fx.goodLeaf, issuer: fx.ca, expectedNonce: request.nonce, now: fx.now)
        }
        #expect(error?.code == .badSignature)

        // Flipping a byte of the signed data (the status) also breaks the signature.
        var flipped = response
        let goodTag: [UInt8] = [0x80, 0x00]  // good [0] IMPLICIT NULL
        let position = try #require(
            flipped.indices.dropLast().first(where: { flipped[$0] == goodTag[0] && flipped[$0 + 1] == goodTag[1] }))
        flipped[position] = 0x82  // → unknown [2] IMPLICIT NULL
        let flippedError = ocspError {
            _ = try OCSPResponseVerifier().verify(
                responseDER: flipped, for: fx.goodLeaf, issuer: fx.ca, expectedNonce: request.nonce, now: fx.now)
        }
        #expect(flippedError?.code == .badSignature)
    }

    @Test("signer without the OCSPSigning EKU → untrustedSigner")
    func signerWithoutEKU() throws {
        let fx = try OCSPFixture()
        for eku: [ExtendedKeyUsage.Usage]? in [nil, [.serverAuth, .clientAuth]] {
            let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
            let cert = try OCSPFixture.makeSigner(
                name: "not an OCSP signer", key: key, issuer: fx.ca, issuerKey: fx.caKey, now: fx.now, eku: eku)
            let response = try fx.forgeResponse(
                signer: cert, signerKey: key, certs: [cert], about: fx.goodLeaf, issuer: fx.ca)
            let error = ocspError {
                _ = try OCSPResponseVerifier().verify(responseDER: response, for: fx.goodLeaf, issuer: fx.ca, now: fx.now)
            }
            #expect(error?.code == .untrustedSigner)
        }
    }

    @Test("signer from another CA → untrustedSigner")
    func signerFromAnotherCA() throws {
        let fx = try OCSPFixture()
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        // Same subject as our real signer, EKU present, but issued by the foreign CA.
        let impostor = try OCSPFixture.makeSigner(
            name: "LienThong Test OCSP", key: key, issuer: fx.foreignCA, issuerKey: fx.foreignKey, now: fx.now,
            eku: [.ocspSigning])
        let response = try fx.forgeResponse(
            signer: impostor, signerKey: key, certs: [impostor], about: fx.goodLeaf, issuer: fx.ca)
        let error = ocspError {
            _ = try OCSPResponseVerifier().verify(responseDER: response, for: fx.goodLeaf, issuer: fx.ca, now: fx.now)
        }
        #expect(error?.code == .untrustedSigner)

        // A response signed by some key but carrying no certificate at all.
        let bare = try fx.forgeResponse(signer: impostor, signerKey: key, certs: nil, about: fx.goodLeaf, issuer: fx.ca)
        let bareError = ocspError {
            _ = try OCSPResponseVerifier().verify(responseDER: bare, for: fx.goodLeaf, issuer: fx.ca, now: fx.now)
        }
        #expect(bareError?.code == .untrustedSigner)
    }

    @Test("expired delegated signer → untrustedSigner")
    func expiredSigner() throws {
        let fx = try OCSPFixture()
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let stale = try OCSPFixture.makeSigner(
            name: "stale OCSP", key: key, issuer: fx.ca, issuerKey: fx.caKey, now: fx.now, eku: [.ocspSigning],
            notValidAfter: fx.now.addingTimeInterval(-60))
        let response = try fx.forgeResponse(signer: stale, signerKey: key, certs: [stale], about: fx.goodLeaf, issuer: fx.ca)
        let error = ocspError {
            _ = try OCSPResponseVerifier().verify(responseDER: response, for: fx.goodLeaf, issuer: fx.ca, now: fx.now)
        }
        #expect(error?.code == .untrustedSigner)
    }

    @Test("response for another serial → noMatchingResponse")
    func otherSerial() async throws {
        let fx = try OCSPFixture()
        let request = try OCSPRequestBuilder().makeRequest(for: fx.goodLeaf, issuer: fx.ca)
        let response = try await fx.responder().respond(to: request.derEncoded, now: fx.now)
        let error = ocspError {
            _ = try OCSPResponseVerifier().verify(
                responseDER: response, for: fx.revokedLeaf, issuer: fx.ca, expectedNonce: request.nonce, now: fx.now)
        }
        #expect(error?.code == .noMatchingResponse)
    }

    @Test("nonce mismatch or missing nonce → nonceMismatch; stapled (no expected nonce) passes")
    func nonce() async throws {
        let fx = try OCSPFixture()
        let responder = try fx.responder()
        let request = try OCSPRequestBuilder().makeRequest(for: fx.goodLeaf, issuer: fx.ca)
        let response = await responder.respond(to: request.derEncoded, now: fx.now)
        var other = try #require(request.nonce)
        other[0] ^= 0xFF
        let mismatch = ocspError {
            _ = try OCSPResponseVerifier().verify(
                responseDER: response, for: fx.goodLeaf, issuer: fx.ca, expectedNonce: other, now: fx.now)
        }
        #expect(mismatch?.code == .nonceMismatch)

        let withoutNonce = try OCSPRequestBuilder(nonceLength: nil).makeRequest(for: fx.goodLeaf, issuer: fx.ca)
        let noNonceResponse = await responder.respond(to: withoutNonce.derEncoded, now: fx.now)
        #expect(try OCSPResponse(derEncoded: noNonceResponse).basicResponse()?.tbsResponseData.responseExtensions == nil)
        let missing = ocspError {
            _ = try OCSPResponseVerifier().verify(
                responseDER: noNonceResponse, for: fx.goodLeaf, issuer: fx.ca, expectedNonce: request.nonce, now: fx.now)
        }
        #expect(missing?.code == .nonceMismatch)

        // Stapled: verified without an expected nonce.
        let client = OCSPHTTPClient()
        #expect(try client.verifyStapled(noNonceResponse, of: fx.goodLeaf, issuer: fx.ca, at: fx.now).status == .good)
        #expect(try client.verifyStapled(response, of: fx.goodLeaf, issuer: fx.ca, at: fx.now).status == .good)
    }

    @Test("thisUpdate in the future → notYetValid (skew tolerated); stale → expired")
    func timeWindow() async throws {
        let fx = try OCSPFixture()
        let responder = try fx.responder()
        let request = try OCSPRequestBuilder(nonceLength: nil).makeRequest(for: fx.goodLeaf, issuer: fx.ca)

        let future = await responder.respond(to: request.derEncoded, now: fx.now.addingTimeInterval(3600))
        let error = ocspError {
            _ = try OCSPResponseVerifier().verify(responseDER: future, for: fx.goodLeaf, issuer: fx.ca, now: fx.now)
        }
        #expect(error?.code == .notYetValid)

        let slightlyAhead = await responder.respond(to: request.derEncoded, now: fx.now.addingTimeInterval(120))
        #expect(try OCSPResponseVerifier().verify(
            responseDER: slightlyAhead, for: fx.goodLeaf, issuer: fx.ca, now: fx.now).status == .good)
        let strict = ocspError {
            _ = try OCSPResponseVerifier(allowedClockSkew: 60).verify(
                responseDER: slightlyAhead, for: fx.goodLeaf, issuer: fx.ca, now: fx.now)
        }
        #expect(strict?.code == .notYetValid)

        let current = await responder.respond(to: request.derEncoded, now: fx.now)
        let stale = ocspError {
            _ = try OCSPResponseVerifier().verify(
                responseDER: current, for: fx.goodLeaf, issuer: fx.ca, now: fx.now.addingTimeInterval(2 * 3600))
        }
        #expect(stale?.code == .expired)
    }

    @Test("garbage responses → malformedResponse")
    func malformedResponses() throws {
        let fx = try OCSPFixture()
        for bytes: [UInt8] in [[], [0x30, 0x00], Array("nope".utf8), [0x30, 0x03, 0x0A, 0x01, 0x04]] {
            let error = ocspError {
                _ = try OCSPResponseVerifier().verify(responseDER: bytes, for: fx.goodLeaf, issuer: fx.ca, now: fx.now)
            }
            #expect(error?.code == .malformedResponse)
        }
        let description = OCSPError(.badSignature, "x").description
        #expect(description.contains("badSignature"))
    }
}

// MARK: - HTTP

@Suite("OCSP over HTTP")
struct OCSPHTTPTests {
    @Test("live server on 127.0.0.1:0, queried with POST and GET")
    func live() async throws {
        let fx = try OCSPFixture()
        let server = OCSPHTTPServer(responder: try fx.responder(), host: "127.0.0.1", port: 0)
        let client = OCSPHTTPClient(timeout: .seconds(10))
        try await server.withRunningServer { port in
            #expect(port > 0)
            let url = "http://127.0.0.1:\(port)"
            let verifier = OCSPResponseVerifier()

            // POST via fetchStatus (request building + nonce + verification).
            let good = try await client.fetchStatus(of: fx.goodLeaf, issuer: fx.ca, from: url, at: Date())
            #expect(good.status == .good)
            let revoked = try await client.fetchStatus(of: fx.revokedLeaf, issuer: fx.ca, from: url, at: Date())
            #expect(revoked.status == .revoked(at: fx.revokedAt, reason: .keyCompromise))

            // GET, with both hash algorithms (base64 containing '/', '+' and '=' is URL-encoded).
            for hash in OCSPHashAlgorithm.allCases {
                for leaf in [fx.goodLeaf, fx.revokedLeaf] {
                    let request = try OCSPRequestBuilder(hashAlgorithm: hash).makeRequest(for: leaf, issuer: fx.ca)
                    let body = try await client.get(request.derEncoded, from: url + "/")
                    let status = try verifier.verify(
                        responseDER: body, for: leaf, issuer: fx.ca, expectedNonce: request.nonce, now: Date())
                    #expect(status.status == fx.statuses[leaf.serialNumber])
                }
            }

            // GET with URL-safe, unpadded base64 is accepted as well.
            let request = try OCSPRequestBuilder().makeRequest(for: fx.goodLeaf, issuer: fx.ca)
            let urlSafe = Data(request.derEncoded).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            var getRequest = HTTPClientRequest(url: url + "/" + urlSafe)
            getRequest.method = .GET
            let getResponse = try await HTTPClient.shared.execute(getRequest, timeout: .seconds(10))
            #expect(getResponse.status == .ok)
            #expect(getResponse.headers.first(name: "Content-Type") == "application/ocsp-response")
            let getBody = Array(try await getResponse.body.collect(upTo: 1 << 20).readableBytesView)
            #expect(try verifier.verify(
                responseDER: getBody, for: fx.goodLeaf, issuer: fx.ca, expectedNonce: request.nonce, now: Date()
            ).status == .good)

            // Undecodable GET → malformedRequest OCSP response.
            let junk = try await client.get(Array("junk".utf8), from: url)
            #expect(junk == OCSPResponse.statusOnlyDER(.malformedRequest))
            var badGet = HTTPClientRequest(url: url + "/%%%not-base64!")
            badGet.method = .GET
            let badGetResponse = try await HTTPClient.shared.execute(badGet, timeout: .seconds(10))
            #expect(badGetResponse.status == .ok)
            #expect(Array(try await badGetResponse.body.collect(upTo: 1024).readableBytesView)
                == OCSPResponse.statusOnlyDER(.malformedRequest))

            // POST with garbage → malformedRequest, over HTTP 200.
            let garbage = try await client.post(Array("garbage".utf8), to: url)
            #expect(garbage == OCSPResponse.statusOnlyDER(.malformedRequest))

            // Oversized body → 413, reported as a transport error.
            do {
                _ = try await client.post(Array(repeating: 0x30, count: 64 * 1024 + 1), to: url)
                Issue.record("oversized POST accepted")
            } catch {
                #expect((error as? OCSPError)?.code == .transport("HTTP 413"))
            }

            // Wrong content type → 415; wrong method → 405.
            var wrongType = HTTPClientRequest(url: url)
            wrongType.method = .POST
            wrongType.headers.add(name: "Content-Type", value: "text/plain")
            wrongType.body = .bytes(ByteBuffer(bytes: request.derEncoded))
            #expect(try await HTTPClient.shared.execute(wrongType, timeout: .seconds(10)).status.code == 415)
            var put = HTTPClientRequest(url: url)
            put.method = .PUT
            #expect(try await HTTPClient.shared.execute(put, timeout: .seconds(10)).status.code == 405)
        }
    }

    @Test("transport failures map to OCSPError.transport")
    func transportFailure() async throws {
        let fx = try OCSPFixture()
        // Grab a free port, then close the server so nothing listens there.
        let server = OCSPHTTPServer(responder: try fx.responder(), port: 0)
        let port = try await server.withRunningServer { $0 }
        let client = OCSPHTTPClient(timeout: .seconds(1))
        do {
            _ = try await client.post([0x30, 0x00], to: "http://127.0.0.1:\(port)/")
            Issue.record("request to a closed port succeeded")
        } catch {
            guard case .transport = error.code else {
                Issue.record("unexpected error \(error)")
                return
            }
        }
        // No URL in the certificate and no default → transport error too.
        do {
            _ = try await client.fetchStatus(of: fx.ca, issuer: fx.ca, at: fx.now)
            Issue.record("fetchStatus without URL succeeded")
        } catch {
            #expect(error.code == .transport("no responder URL"))
        }
    }

    @Test(
        "interoperates with openssl ocsp",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "openssl is not installed")
    )
    func openSSLInterop() async throws {
        let fx = try OCSPFixture()
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("lienthong-ocsp-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, certificate) in [("ca.pem", fx.ca), ("leaf.pem", fx.goodLeaf), ("revoked.pem", fx.revokedLeaf), ("signer.pem", fx.signer)] {
            try certificate.serializeAsPEM().pemString.write(
                to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }

        let server = OCSPHTTPServer(responder: try fx.responder(), host: "127.0.0.1", port: 0)
        try await server.withRunningServer { port in
            let good = try await runOpenSSL(
                ["ocsp", "-issuer", "ca.pem", "-cert", "leaf.pem", "-url", "http://127.0.0.1:\(port)",
                 "-CAfile", "ca.pem", "-resp_text", "-timeout", "20"],
                in: directory)
            #expect(good.status == 0, "\(good.output)")
            #expect(good.output.contains("leaf.pem: good"), "\(good.output)")
            #expect(good.output.contains("Response verify OK"), "\(good.output)")
            #expect(!good.output.contains("WARNING: no nonce"), "\(good.output)")

            let revoked = try await runOpenSSL(
                ["ocsp", "-issuer", "ca.pem", "-cert", "revoked.pem", "-url", "http://127.0.0.1:\(port)",
                 "-CAfile", "ca.pem", "-resp_text", "-timeout", "20"],
                in: directory)
            #expect(revoked.status == 0, "\(revoked.output)")
            #expect(revoked.output.contains("revoked.pem: revoked"), "\(revoked.output)")
            #expect(revoked.output.contains("Reason: keyCompromise"), "\(revoked.output)")
            #expect(revoked.output.contains("Response verify OK"), "\(revoked.output)")

            // A serial our CA never issued, asked with a SHA-256 CertID: a signed "unknown".
            let unknown = try await runOpenSSL(
                ["ocsp", "-sha256", "-issuer", "ca.pem", "-serial", "0x7777", "-url", "http://127.0.0.1:\(port)",
                 "-CAfile", "ca.pem"],
                in: directory)
            #expect(unknown.output.contains("0x7777: unknown"), "\(unknown.output)")
            #expect(unknown.output.contains("Response verify OK"), "\(unknown.output)")
        }

        // And the reverse: a request made by openssl is parsed by our codec.
        let requestFile = directory.appendingPathComponent("req.der")
        let made = try await runOpenSSL(
            ["ocsp", "-issuer", "ca.pem", "-cert", "leaf.pem", "-reqout", requestFile.path], in: directory)
        #expect(made.status == 0, "\(made.output)")
        let requestDER = Array(try Data(contentsOf: requestFile))
        let parsed = try OCSPRequest(derEncoded: requestDER)
        #expect(try der(parsed) == requestDER)
        let certID = try #require(parsed.tbsRequest.requestList.first?.certID)
        #expect(certID == (try OCSPCertID(serialNumber: fx.goodLeaf.serialNumber, issuer: fx.ca)))
        #expect(parsed.tbsRequest.nonce?.count == 16)
    }
}

/// Runs `/usr/bin/openssl` with `arguments` in `directory`, capturing stdout and stderr together.
private func runOpenSSL(_ arguments: [String], in directory: URL) async throws -> (status: Int32, output: String) {
    let outputURL = directory.appendingPathComponent("openssl-\(UUID().uuidString).log")
    guard FileManager.default.createFile(atPath: outputURL.path, contents: nil) else {
        throw CocoaError(.fileWriteUnknown)
    }
    let handle = try FileHandle(forWritingTo: outputURL)
    defer { try? handle.close() }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    process.arguments = arguments
    process.currentDirectoryURL = directory
    process.standardOutput = handle
    process.standardError = handle
    process.standardInput = FileHandle.nullDevice
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { process in continuation.resume(returning: process.terminationStatus) }
        do {
            try process.run()
        } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    let output = (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
    return (status, output)
}
