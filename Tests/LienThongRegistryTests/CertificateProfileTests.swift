import Foundation
import LienThongAudit
import LienThongCore
@testable import LienThongRegistry
import LienThongTestSupport
import LienThongTrust
import Testing
import X509

/// Issue 15: the trust model must work when a government CA issues certificates that carry no
/// LienThong `OU` at all. A CA made with the `openssl` command line puts the member code in the
/// subject's `serialNumber`; its certificate profile in the global configuration says so.
@Suite("Certificate profiles: a CA with no LienThong OU")
struct CertificateProfileTests {
    static let server = "VN/GOV/000.00.00.H26/ss1"
    static let serverId = try! SecurityServerId(parsing: server)
    static let registry = RegistrySnapshot(servers: [
        SecurityServer(id: serverId, address: "127.0.0.1:5500", tlsCertificate: "", tlsCertificateSHA256: String(repeating: "0", count: 64),
                       createdAt: Date(timeIntervalSince1970: 1_700_000_000)),
    ])

    /// The government CA's profile: member code in `serialNumber`, roles from key usage.
    static let governmentProfile = CertificateProfile(
        memberId: .init(attribute: .serialNumber, form: .code, instance: "VN", memberClass: "GOV"), roles: .keyUsage)

    static func signer(_ leaf: OpenSSLCA.Leaf) throws -> DetachedJWS.Signer {
        try DetachedJWS.Signer(key: try MessageSigningKey(pemEncoded: try String(contentsOfFile: leaf.keyPath, encoding: .utf8)),
                               chain: try PEMFiles.readCertificates(URL(fileURLWithPath: leaf.certificatePath)))
    }

    /// A real audit log's checkpoint of `server`, signed by `signer`.
    static func checkpoint(in directory: URL, signer: DetachedJWS.Signer) async throws -> StoredCheckpoint {
        let log = try await AuditLog(store: try SQLiteAuditLeafStore(path: directory.appendingPathComponent("\(UUID().uuidString).sqlite").path),
                                     protector: try PersonalDataProtector(key: [UInt8](repeating: 1, count: 32)))
        for i in 0..<3 {
            var event = ExchangeEvent(side: .consumer, server: server, method: "GET", startedAt: Date())
            event.messageId = "m\(i)"
            event.status = 200
            event.outcome = .success
            try await log.record(event)
        }
        return try await log.makeCheckpoint(server: server, node: "default", at: Date()) { try signer.sign(digest: $0.digest).compact }
    }

    func refusal(_ body: () async throws -> Void) async -> CheckpointRefusal? {
        do { try await body(); return nil } catch let refusal as CheckpointRefusal { return refusal } catch { return nil }
    }

    @Test("a member signing certificate with no OU signs its checkpoint; the member id comes from the CA's profile")
    func checkpointFromProfiledCA() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("profile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let gov = try await OpenSSLCA()
        defer { gov.remove() }
        let dev = try DevelopmentPKI.initialise(at: directory.appendingPathComponent("pki"), instance: "VN", ocspURL: nil)
        let h26 = try await gov.issue("h26", subject: "/C=VN/O=So Thong tin va Truyen thong Ha Noi/serialNumber=000.00.00.H26", kind: .signing)
        let g22 = try await gov.issue("g22", subject: "/C=VN/O=Bo Cong an/serialNumber=000.00.00.G22", kind: .signing)
        let h26TLS = try await gov.issue("h26tls", subject: "/C=VN/O=So Thong tin va Truyen thong Ha Noi/serialNumber=000.00.00.H26", kind: .tlsClient)
        let govRoot = try PEMFiles.readCertificate(URL(fileURLWithPath: gov.certificatePath))

        let registrySigner = try DetachedJWS.Signer(
            key: try MessageSigningKey(pemEncoded: try PEMFiles.readText(dev.url(.configurationSigningKey))),
            chain: try PEMFiles.readCertificates(dev.url(.configurationSigningCertificate)))
        let validator = CertificateValidator(trustAnchors: [dev.rootCertificate, govRoot], revocation: nil,
                                             profiles: [govRoot: Self.governmentProfile])
        let ledger = try CheckpointLedger(path: directory.appendingPathComponent("checkpoints.sqlite").path, instance: "VN",
                                          signer: registrySigner, validator: validator)

        // Another member's certificate from the same CA may not speak for H26's server.
        let forged = try await Self.checkpoint(in: directory, signer: try Self.signer(g22))
        let refused = await refusal { _ = try await ledger.submit(body: forged.body, signature: forged.signature, ocsp: nil, from: Self.serverId, registry: Self.registry) }
        #expect(refused?.code == .forbidden && refused?.message.contains("VN/GOV/000.00.00.G22") == true, "\(String(describing: refused))")
        // A TLS client certificate of the right member is not a signing certificate under the key-usage profile.
        let tlsSigned = try await Self.checkpoint(in: directory, signer: try Self.signer(h26TLS))
        let refusedTLS = await refusal { _ = try await ledger.submit(body: tlsSigned.body, signature: tlsSigned.signature, ocsp: nil, from: Self.serverId, registry: Self.registry) }
        #expect(refusedTLS?.code == .forbidden, "\(String(describing: refusedTLS))")
        #expect(try await ledger.entries().isEmpty, "refusals change nothing")

        // The member's own signing certificate: accepted, the member id read from serialNumber.
        let good = try await Self.checkpoint(in: directory, signer: try Self.signer(h26))
        let (entry, created) = try await ledger.submit(body: good.body, signature: good.signature, ocsp: nil, from: Self.serverId, registry: Self.registry)
        #expect(created && entry.checkpoint.sequence == 0)

        let signer = try await validator.validate(chain: try PEMFiles.readCertificates(URL(fileURLWithPath: h26.certificatePath)), role: .member)
        #expect(signer.holderId == "VN/GOV/000.00.00.H26")
        // Without the profile the same certificate is no member certificate at all (closed default).
        let plain = CertificateValidator(trustAnchors: [dev.rootCertificate, govRoot], revocation: nil)
        await #expect(throws: CertificateValidationError.self) {
            _ = try await plain.validate(chain: try PEMFiles.readCertificates(URL(fileURLWithPath: h26.certificatePath)), role: .member)
        }
    }

    @Test("the profile is part of the signed global configuration: canonical writer = JSONEncoder, both parsers read it, a bad profile is refused")
    func profileInGlobalConfiguration() throws {
        var document = GlobalConfiguration(instance: "VN", serial: 7, generatedAt: Date(timeIntervalSince1970: 1_700_000_000),
                                           expiresAt: Date(timeIntervalSince1970: 1_700_000_600))
        document.approvedCAs = [
            .init(certificate: "dev", ocspURL: "http://127.0.0.1:8888/"),
            .init(certificate: "gov", ocspURL: nil, profile: Self.governmentProfile),
            .init(certificate: "oid", ocspURL: nil, profile: CertificateProfile(
                memberId: .init(attribute: try #require(.init(rawValue: "2.5.4.97")), form: .canonical), roles: .ou)),
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let canonical = try document.canonicalJSON()
        #expect(Array(try encoder.encode(document)) == canonical)
        #expect(try GlobalConfiguration(jsonBytes: canonical) == document)
        #expect(try JSONDecoder().decode(GlobalConfiguration.self, from: Data(canonical)) == document)
        #expect(String(decoding: canonical, as: UTF8.self).contains(#""profile":{"member_id":{"attribute":"serialNumber","form":"code","instance":"VN","member_class":"GOV"},"roles":"key-usage"}"#))

        let text = String(decoding: canonical, as: UTF8.self)
        for (bad, why) in [(#""form":"code""#, #""form":"whole""#),
                           (#""roles":"key-usage""#, #""roles":"any""#),
                           (#","instance":"VN""#, ""),                                        // code form without instance
                           (#""attribute":"serialNumber""#, #""attribute":"x.y""#)] {
            let mutated = Array(text.replacingOccurrences(of: bad, with: why).utf8)
            #expect(throws: GlobalConfigurationError.self, "\(why)") { _ = try GlobalConfiguration(jsonBytes: mutated) }
        }
    }

    @Test("the registry's trustAnchorProfiles must name an anchor of its trust anchor file by SHA-256")
    func registryAnchorProfiles() async throws {
        let gov = try await OpenSSLCA()
        defer { gov.remove() }
        let root = try PEMFiles.readCertificate(URL(fileURLWithPath: gov.certificatePath))
        let pem = try String(contentsOfFile: gov.certificatePath, encoding: .utf8)
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let hash = GlobalConfigurationDigest.sha256Hex(try #require(Data(base64Encoded: body)))
        let profiles = try RegistryServer.anchorProfiles([root], configured: [hash.uppercased(): Self.governmentProfile])
        #expect(profiles[root] == Self.governmentProfile)
        #expect(throws: GlobalConfigurationError.self) {
            _ = try RegistryServer.anchorProfiles([root], configured: [String(repeating: "0", count: 64): Self.governmentProfile])
        }
    }

    @Test("under a key-usage profile: only member and server roles, the member id attribute exactly once and well-formed")
    func keyUsageProfileRules() async throws {
        let gov = try await OpenSSLCA()
        defer { gov.remove() }
        let root = try PEMFiles.readCertificate(URL(fileURLWithPath: gov.certificatePath))
        let validator = CertificateValidator(trustAnchors: [root], revocation: nil, profiles: [root: Self.governmentProfile])
        func chain(_ leaf: OpenSSLCA.Leaf) throws -> [Certificate] { try PEMFiles.readCertificates(URL(fileURLWithPath: leaf.certificatePath)) }
        func code(_ body: () async throws -> Void) async -> CertificateValidationError.Code? {
            do { try await body(); return nil } catch let error as CertificateValidationError { return error.code } catch { return nil }
        }
        let member = try await gov.issue("m", subject: "/C=VN/O=Bo Tu phap/serialNumber=000.00.00.G12", kind: .signing)
        let server = try await gov.issue("s", subject: "/C=VN/O=Bo Tu phap/CN=ss1.moj.gov.vn", kind: .tlsServer)
        let twice = try await gov.issue("t", subject: "/C=VN/O=Bo Tu phap/serialNumber=000.00.00.G12/serialNumber=000.00.00.G22", kind: .signing)
        let none = try await gov.issue("n", subject: "/C=VN/O=Bo Tu phap/CN=000.00.00.G12", kind: .signing)
        let bad = try await gov.issue("b", subject: "/C=VN/O=Bo Tu phap/serialNumber=G12 x:y", kind: .signing)

        #expect(try await validator.validate(chain: try chain(member), role: .member).holderId == "VN/GOV/000.00.00.G12")
        _ = try await validator.validate(chain: try chain(server), role: .server)
        // The member signing certificate is no server, no configuration signer, no OCSP signer, no person.
        for role in [CertificateRole.server, .configurationSigning, .ocspSigning, .admin, .auditor] {
            #expect(await code { _ = try await validator.validate(chain: try chain(member), role: role) } == .wrongRole, "\(role)")
        }
        // The server TLS certificate cannot sign as a member.
        #expect(await code { _ = try await validator.validate(chain: try chain(server), role: .member) } == .wrongRole)
        // Two serialNumbers, none, or one that is not a member code: refused, not guessed.
        #expect(await code { _ = try await validator.validate(chain: try chain(twice), role: .member) } == .wrongRole)
        #expect(await code { _ = try await validator.validate(chain: try chain(none), role: .member) } == .wrongRole)
        #expect(await code { _ = try await validator.validate(chain: try chain(bad), role: .member) } == .wrongRole)
    }
}
