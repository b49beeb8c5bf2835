import Crypto
import Foundation
import LienThongCore
import SwiftASN1
import Testing
import X509
@testable import LienThongTrust

/// A responder URL nothing listens on: the responder is "down".
let deadResponder = "http://127.0.0.1:1/"

/// A status source that counts requests, to prove which answers came from the cache.
final class CountingSource: OCSPStatusSource, @unchecked Sendable {
    let inner: HTTPOCSPStatusSource
    private let lock = NSLock()
    private var _count = 0
    var count: Int { lock.withLock { _count } }

    init(_ url: String) { inner = HTTPOCSPStatusSource(responderURL: url) }

    func fetchStatus(of leaf: Certificate, issuer: Certificate, at now: Date) async throws -> VerifiedOCSPStatus {
        lock.withLock { _count += 1 }
        return try await inner.fetchStatus(of: leaf, issuer: issuer, at: now)
    }

    func verifyStapled(_ responseDER: [UInt8], of leaf: Certificate, issuer: Certificate, at now: Date) throws -> VerifiedOCSPStatus {
        try inner.verifyStapled(responseDER, of: leaf, issuer: issuer, at: now)
    }
}

/// A status source that, once told to, hangs on every fetch until released.
final class HangingSource: OCSPStatusSource, @unchecked Sendable {
    let inner: CountingSource
    private let lock = NSLock()
    private var _hang = false
    private var released = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    var hang: Bool {
        get { lock.withLock { _hang } }
        set { lock.withLock { _hang = newValue } }
    }

    init(_ inner: CountingSource) { self.inner = inner }

    func fetchStatus(of leaf: Certificate, issuer: Certificate, at now: Date) async throws -> VerifiedOCSPStatus {
        if hang {
            _ = try await inner.fetchStatus(of: leaf, issuer: issuer, at: now)   // counted
            await withCheckedContinuation { continuation in
                let resumeNow = lock.withLock { () -> Bool in
                    if released { return true }
                    waiting.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
            throw CancellationError()
        }
        return try await inner.fetchStatus(of: leaf, issuer: issuer, at: now)
    }

    func verifyStapled(_ responseDER: [UInt8], of leaf: Certificate, issuer: Certificate, at now: Date) throws -> VerifiedOCSPStatus {
        try inner.verifyStapled(responseDER, of: leaf, issuer: issuer, at: now)
    }

    /// Lets every hung fetch end (with an error).
    func release() {
        let continuations = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            released = true
            defer { waiting.removeAll() }
            return waiting
        }
        for continuation in continuations { continuation.resume() }
    }
}

@Suite("Certificate validation")
struct CertificateValidatorTests {
    /// Runs `body` with a PKI whose OCSP responder is live on a loopback port.
    func withLivePKI(_ body: (TemporaryPKI, String) async throws -> Void) async throws {
        let t = try TemporaryPKI()
        defer { t.remove() }
        try await DevelopmentOCSPService(pki: t.pki).withRunning(host: "127.0.0.1", port: 0) { port in
            try await body(t, "http://127.0.0.1:\(port)/")
        }
    }

    func validator(_ t: TemporaryPKI, _ url: String, freshness: TimeInterval = 3600) -> CertificateValidator {
        CertificateValidator(
            trustAnchors: [t.pki.rootCertificate],
            revocation: RevocationChecker(source: HTTPOCSPStatusSource(responderURL: url), policy: .init(freshness: freshness)))
    }

    @Test("a valid certificate passes for its role, with a good OCSP status from the live responder")
    func validPasses() async throws {
        try await withLivePKI { t, url in
            let record = try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22")
            let result = try await validator(t, url).validate(chain: t.chain(record), role: .member)
            #expect(result.holderId == "VN/GOV/000.00.00.G22")
            #expect(result.revocation?.status == .good)
            #expect(result.chain.last == t.pki.rootCertificate)
        }
    }

    @Test("expired and not-yet-valid certificates are rejected")
    func validityPeriod() async throws {
        let t = try TemporaryPKI()
        defer { t.remove() }
        let now = Date()
        let expired = try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22", validity: 60, notBefore: now.addingTimeInterval(-3600))
        let future = try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.H26", validity: 86_400, notBefore: now.addingTimeInterval(3600))
        let v = validator(t, deadResponder)
        let e1 = await #expect(throws: CertificateValidationError.self) { try await v.validate(chain: t.chain(expired), role: .member) }
        #expect(e1?.code == .expired)
        let e2 = await #expect(throws: CertificateValidationError.self) { try await v.validate(chain: t.chain(future), role: .member) }
        #expect(e2?.code == .notYetValid)
        // The same checks follow the validation time, not the wall clock.
        let later = try await CertificateValidator(trustAnchors: [t.pki.rootCertificate], revocation: nil)
            .validate(chain: t.chain(future), role: .member, at: now.addingTimeInterval(7200))
        #expect(later.holderId == "VN/GOV/000.00.00.H26")
    }

    @Test("a certificate from another CA is rejected, even with the same subject")
    func wrongCA() async throws {
        let t = try TemporaryPKI()
        let other = try TemporaryPKI()
        defer { t.remove(); other.remove() }
        let foreign = try other.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22")
        let error = await #expect(throws: CertificateValidationError.self) {
            try await validator(t, deadResponder).validate(chain: other.chain(foreign), role: .member)
        }
        #expect(error?.code == .untrustedChain)
        // Presenting the foreign root as an "intermediate" does not help.
        let error2 = await #expect(throws: CertificateValidationError.self) {
            try await validator(t, deadResponder).validate(chain: other.chain(foreign) + [other.pki.rootCertificate], role: .member)
        }
        #expect(error2?.code == .untrustedChain)
    }

    @Test("a certificate is only good for its own role", arguments: [
        (CertificateRole.server, CertificateRole.member),
        (.member, .server),
        (.auditor, .admin),
        (.admin, .auditor),
        (.member, .auditor),
    ])
    func wrongRole(issued: CertificateRole, wanted: CertificateRole) async throws {
        let t = try TemporaryPKI()
        defer { t.remove() }
        let id = issued == .server ? "VN/GOV/000.00.00.G22/ss1" : issued == .member ? "VN/GOV/000.00.00.G22" : "VN/GOV/000.00.00.KTNN/a1"
        let record = try t.pki.issue(role: issued, holderId: id)
        let error = await #expect(throws: CertificateValidationError.self) {
            try await validator(t, deadResponder).validate(chain: t.chain(record), role: wanted)
        }
        #expect(error?.code == .wrongRole)
    }

    /// Issues a certificate by hand from the PKI's root with a chosen profile.
    func handMade(_ t: TemporaryPKI, role: CertificateRole, keyUsage: KeyUsage, eku: [ExtendedKeyUsage.Usage]?, serial: UInt64 = 900_000) throws -> Certificate {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        return try Certificate(
            version: .v3, serialNumber: .init(serial), publicKey: key.publicKey,
            notValidBefore: Date().addingTimeInterval(-60), notValidAfter: Date().addingTimeInterval(3600),
            issuer: t.pki.rootCertificate.subject,
            subject: try role.subject(holderId: "VN/GOV/000.00.00.G22", instance: "VN"),
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(keyUsage)
                if let eku { try ExtendedKeyUsage(eku) }
            },
            issuerPrivateKey: t.pki.rootKey)
    }

    @Test("wrong key usage or extended key usage for the role is rejected")
    func wrongKeyUsage() async throws {
        let t = try TemporaryPKI()
        defer { t.remove() }
        let v = CertificateValidator(trustAnchors: [t.pki.rootCertificate], revocation: nil)
        let cases: [Certificate] = [
            // member without nonRepudiation
            try handMade(t, role: .member, keyUsage: KeyUsage(digitalSignature: true), eku: nil),
            // member that could also authenticate TLS
            try handMade(t, role: .member, keyUsage: CertificateRole.member.keyUsage, eku: [.clientAuth]),
            // member that may sign certificates
            try handMade(t, role: .member, keyUsage: KeyUsage(digitalSignature: true, nonRepudiation: true, keyCertSign: true), eku: nil),
        ]
        for certificate in cases {
            let error = await #expect(throws: CertificateValidationError.self) { try await v.validate(chain: [certificate], role: .member) }
            #expect(error?.code == .wrongRole)
        }
        let serverNoClientAuth = try handMade(t, role: .server, keyUsage: KeyUsage(digitalSignature: true), eku: [.serverAuth])
        let error = await #expect(throws: CertificateValidationError.self) { try await v.validate(chain: [serverNoClientAuth], role: .server) }
        #expect(error?.code == .wrongRole)
        // The right profile, made the same way, passes: the failures above are about usage only.
        let fine = try handMade(t, role: .member, keyUsage: CertificateRole.member.keyUsage, eku: nil)
        #expect(try await v.validate(chain: [fine], role: .member).holderId == "VN/GOV/000.00.00.G22")
    }

    @Test("a certificate revoked with `pki revoke` is rejected through the live OCSP responder")
    func revokedViaLiveOCSP() async throws {
        try await withLivePKI { t, url in
            let record = try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22")
            _ = try await validator(t, url).validate(chain: t.chain(record), role: .member)
            try t.pki.revoke(serial: record.serial, reason: "keyCompromise")
            let error = await #expect(throws: CertificateValidationError.self) {
                try await validator(t, url).validate(chain: t.chain(record), role: .member)
            }
            #expect(error?.code == .revoked)
            #expect(error?.message.contains("keyCompromise") == true)
        }
    }

    @Test("a certificate the responder does not know is rejected")
    func unknownToResponder() async throws {
        try await withLivePKI { t, url in
            let stray = try handMade(t, role: .member, keyUsage: CertificateRole.member.keyUsage, eku: nil, serial: 777_777)
            let error = await #expect(throws: CertificateValidationError.self) {
                try await validator(t, url).validate(chain: [stray], role: .member)
            }
            #expect(error?.code == .revocationStatusUnknown)
        }
    }

    @Test("responder down: the cached status serves within the freshness limit, then validation fails closed")
    func freshnessLimit() async throws {
        let t = try TemporaryPKI()
        defer { t.remove() }
        let record = try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22")
        let chain = try t.chain(record)
        let now = Date()
        let source: CountingSource
        let checker: RevocationChecker
        do {
            // Live responder: one fetch fills the cache.
            let port = try await DevelopmentOCSPService(pki: t.pki).withRunning(host: "127.0.0.1", port: 0) { port in
                let s = CountingSource("http://127.0.0.1:\(port)/")
                let c = RevocationChecker(source: s, policy: .init(freshness: 600, refreshAfter: 60))
                let v = CertificateValidator(trustAnchors: [t.pki.rootCertificate], revocation: c)
                _ = try await v.validate(chain: chain, role: .member, at: now)
                _ = try await v.validate(chain: chain, role: .member, at: now.addingTimeInterval(30))
                #expect(s.count == 1, "the second lookup, within refreshAfter, must come from the cache")
                return (s, c)
            }
            source = port.0
            checker = port.1
        }
        // The responder is now stopped.
        let v = CertificateValidator(trustAnchors: [t.pki.rootCertificate], revocation: checker)
        let stillFresh = try await v.validate(chain: chain, role: .member, at: now.addingTimeInterval(300))
        #expect(stillFresh.revocation?.status == .good)
        // Past refreshAfter a refresh is attempted in the background (and fails).
        for _ in 0..<200 where source.count < 2 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(source.count == 2, "past refreshAfter a refresh is attempted (and fails)")
        let error = await #expect(throws: CertificateValidationError.self) {
            try await v.validate(chain: chain, role: .member, at: now.addingTimeInterval(700))
        }
        #expect(error?.code == .revocationStatusUnknown)
    }

    @Test("a hung responder delays no lookup while the cached status is fresh; the refresh runs once in the background")
    func hungResponderDoesNotDelayLookups() async throws {
        let t = try TemporaryPKI()
        defer { t.remove() }
        let record = try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22")
        let chain = try t.chain(record)
        let now = Date()
        try await DevelopmentOCSPService(pki: t.pki).withRunning(host: "127.0.0.1", port: 0) { port in
            let source = HangingSource(CountingSource("http://127.0.0.1:\(port)/"))
            let checker = RevocationChecker(source: source, policy: .init(freshness: 600, refreshAfter: 60))
            let validator = CertificateValidator(trustAnchors: [t.pki.rootCertificate], revocation: checker)
            _ = try await validator.validate(chain: chain, role: .member, at: now)
            source.hang = true
            let started = ContinuousClock.now
            for second in [100.0, 200, 300] {
                let validated = try await validator.validate(chain: chain, role: .member, at: now.addingTimeInterval(second))
                #expect(validated.revocation?.status == .good)
            }
            #expect(ContinuousClock.now - started < .seconds(2), "lookups past refreshAfter did not wait for the hung responder")
            for _ in 0..<200 where source.inner.count < 2 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(source.inner.count == 2, "one background refresh for the three lookups, not one each")
            source.release()
        }
    }

    @Test("an answer older than the freshness limit is not used even if the responder gives it")
    func staleAnswerRejected() async throws {
        try await withLivePKI { t, url in
            let record = try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22", validity: 10 * 86_400)
            // Validating two hours "later" with a one-hour limit: the responder's fresh answer
            // (thisUpdate = real now) is too old for that validation time.
            let error = await #expect(throws: CertificateValidationError.self) {
                try await validator(t, url, freshness: 3600).validate(chain: t.chain(record), role: .member, at: Date().addingTimeInterval(7200))
            }
            #expect(error?.code == .revocationStatusUnknown)
        }
    }

    @Test("a stapled OCSP response is used without asking the responder; a stale or foreign one is not")
    func stapled() async throws {
        let t = try TemporaryPKI()
        defer { t.remove() }
        let a = try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22")
        let b = try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.H26")
        let (stapleA, stapleB) = try await DevelopmentOCSPService(pki: t.pki).withRunning(host: "127.0.0.1", port: 0) { port in
            let client = OCSPHTTPClient()
            let url = "http://127.0.0.1:\(port)/"
            let sa = try await client.fetchStatus(of: t.chain(a)[0], issuer: t.pki.rootCertificate, from: url, at: Date())
            let sb = try await client.fetchStatus(of: t.chain(b)[0], issuer: t.pki.rootCertificate, from: url, at: Date())
            return (sa.responseDER, sb.responseDER)
        }
        let source = CountingSource(deadResponder)
        let v = CertificateValidator(trustAnchors: [t.pki.rootCertificate],
                                     revocation: RevocationChecker(source: source, policy: .init(freshness: 600)))
        let ok = try await v.validate(chain: t.chain(a), role: .member, stapledOCSP: stapleA)
        #expect(ok.revocation?.status == .good)
        #expect(source.count == 0)
        // B's staple does not cover A; the responder is down, so A's status must come from the cache.
        let fromCache = try await v.validate(chain: t.chain(a), role: .member, stapledOCSP: stapleB)
        #expect(fromCache.revocation?.responseDER == stapleA)
        // For a fresh checker, a foreign staple and a dead responder mean: unknown, rejected.
        let v2 = CertificateValidator(trustAnchors: [t.pki.rootCertificate],
                                      revocation: RevocationChecker(source: CountingSource(deadResponder), policy: .init(freshness: 600)))
        let e1 = await #expect(throws: CertificateValidationError.self) {
            try await v2.validate(chain: t.chain(a), role: .member, stapledOCSP: stapleB)
        }
        #expect(e1?.code == .revocationStatusUnknown)
        let e2 = await #expect(throws: CertificateValidationError.self) {
            try await v2.validate(chain: t.chain(a), role: .member, stapledOCSP: stapleA, at: Date().addingTimeInterval(1200))
        }
        #expect(e2?.code == .revocationStatusUnknown)
        let e3 = await #expect(throws: CertificateValidationError.self) {
            try await v2.validate(chain: t.chain(a), role: .member, stapledOCSP: Array(repeating: 0x30, count: 40))
        }
        #expect(e3?.code == .revocationStatusUnknown)
    }

    @Test("openssl ocsp queries the development responder: good, then revoked", .enabled(if: which("openssl") != nil))
    func opensslQueriesResponder() async throws {
        let openssl = try #require(which("openssl"))
        try await withLivePKI { t, url in
            let record = try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22")
            let args = ["ocsp", "-issuer", t.pki.url(.rootCertificate).path, "-cert", t.path(record.certificatePath),
                        "-url", url, "-CAfile", t.pki.url(.rootCertificate).path]
            let good = try await runProcess(openssl, args)
            #expect(good.output.contains("Response verify OK"), "\(good.output)")
            #expect(good.output.contains(": good"), "\(good.output)")
            try t.pki.revoke(serial: record.serial, reason: "superseded")
            let revoked = try await runProcess(openssl, args)
            #expect(revoked.output.contains("Response verify OK"), "\(revoked.output)")
            #expect(revoked.output.contains(": revoked"), "\(revoked.output)")
            #expect(revoked.output.contains("superseded"), "\(revoked.output)")
        }
    }
}
