import Foundation
import X509

/// The development PKI's OCSP responder: an ``OCSPResponder`` signed by the PKI's delegated
/// OCSP certificate, answering from the PKI's `index.json`, served over HTTP by ``OCSPHTTPServer``.
///
/// The index is read on every request, so `lienthong pki revoke` in another process takes
/// effect on the next answer. A serial this CA never issued is answered `unknown`.
public struct DevelopmentOCSPService: Sendable {
    /// The PKI whose certificates are answered for.
    public let pki: DevelopmentPKI
    /// How long each answer is valid (`nextUpdate - thisUpdate`).
    public let answerValidity: TimeInterval

    /// Creates the service.
    public init(pki: DevelopmentPKI, answerValidity: TimeInterval = 3600) {
        self.pki = pki
        self.answerValidity = answerValidity
    }

    /// The responder, with a status lookup over the PKI index.
    public func makeResponder() throws -> OCSPResponder {
        let signer = try pki.ocspSigner()
        let pki = self.pki
        return try OCSPResponder(
            issuer: pki.rootCertificate, signer: signer.certificate, signerKey: signer.key,
            validity: answerValidity
        ) { serial in
            Self.status(of: serial, in: pki)
        }
    }

    /// The status of `serial` according to the index; `unknown` when it was never issued or
    /// the index cannot be read.
    static func status(of serial: Certificate.SerialNumber, in pki: DevelopmentPKI) -> OCSPCertificateStatus {
        guard let record = try? pki.record(serial: serial) else { return .unknown }
        if let revokedAt = record.revokedAt {
            return .revoked(at: revokedAt, reason: record.revocationReason.flatMap { OCSPCertificateStatus.CRLReason(name: $0) })
        }
        return .good
    }

    /// Runs the responder on `host:port` until cancelled; `onRunning` receives the bound port.
    public func run(host: String, port: Int, onRunning: @escaping @Sendable (Int) async -> Void) async throws {
        try await OCSPHTTPServer(responder: makeResponder(), host: host, port: port).run(onServerRunning: onRunning)
    }

    /// Runs the responder on `host:port` while `body` runs.
    public func withRunning<Result: Sendable>(
        host: String, port: Int, _ body: (_ port: Int) async throws -> Result
    ) async throws -> Result {
        try await OCSPHTTPServer(responder: makeResponder(), host: host, port: port).withRunningServer(body)
    }
}

/// Fetches OCSP statuses over HTTP for ``RevocationChecker``, from a fixed responder URL or,
/// when none is given, from each certificate's Authority Information Access.
public struct HTTPOCSPStatusSource: OCSPStatusSource {
    /// The HTTP OCSP client.
    public let client: OCSPHTTPClient
    /// A responder URL that overrides the certificates' own.
    public let responderURL: String?

    /// Creates a source.
    public init(responderURL: String?, client: OCSPHTTPClient = OCSPHTTPClient()) {
        self.responderURL = responderURL
        self.client = client
    }

    /// Asks the responder and verifies its answer (with a nonce).
    public func fetchStatus(of leaf: Certificate, issuer: Certificate, at now: Date) async throws -> VerifiedOCSPStatus {
        if let responderURL {
            return try await client.fetchStatus(of: leaf, issuer: issuer, from: responderURL, at: now)
        }
        return try await client.fetchStatus(of: leaf, issuer: issuer, at: now)
    }

    /// Verifies a stapled answer.
    public func verifyStapled(_ responseDER: [UInt8], of leaf: Certificate, issuer: Certificate, at now: Date) throws -> VerifiedOCSPStatus {
        try client.verifyStapled(responseDER, of: leaf, issuer: issuer, at: now)
    }
}
