import Foundation
import LienThongCore
import SwiftASN1
import Testing
import X509
@testable import LienThongTrust

@Suite("Development PKI")
struct PKITests {
    @Test("init creates root, configuration-signing and OCSP certificates with private keys 0600")
    func initCreatesInstanceCertificates() throws {
        let t = try TemporaryPKI()
        defer { t.remove() }
        let records = try t.pki.records()
        #expect(records.map(\.role) == [.configurationSigning, .ocspSigning])
        #expect(t.pki.rootCertificate.subject == t.pki.rootCertificate.issuer)
        let constraints = try #require(try t.pki.rootCertificate.extensions.basicConstraints)
        #expect(constraints == .isCertificateAuthority(maxPathLength: 0))
        for file in DevelopmentPKI.File.allCases where file.rawValue.hasSuffix(".key") {
            let attributes = try FileManager.default.attributesOfItem(atPath: t.pki.url(file).path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "\(file)")
        }
        let dirAttributes = try FileManager.default.attributesOfItem(atPath: t.directory.path)
        #expect((dirAttributes[.posixPermissions] as? NSNumber)?.intValue == 0o700)
    }

    @Test("init refuses to overwrite an existing PKI")
    func initRefusesOverwrite() throws {
        let t = try TemporaryPKI()
        defer { t.remove() }
        let before = try Data(contentsOf: t.pki.url(.rootKey))
        #expect(throws: PKIError.self) {
            try DevelopmentPKI.initialise(at: t.directory, instance: "VN", ocspURL: nil)
        }
        #expect(try Data(contentsOf: t.pki.url(.rootKey)) == before)
    }

    @Test("init rejects an invalid instance code")
    func initRejectsBadInstance() {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-bad-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let error = #expect(throws: PKIError.self) {
            try DevelopmentPKI.initialise(at: dir, instance: "V N", ocspURL: nil)
        }
        #expect(error?.code == .invalidHolderId)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("index.json").path))
    }

    @Test("each role gets its key usage, extended key usage and subject mapping", arguments: [
        (CertificateRole.server, "VN/GOV/000.00.00.G22/ss1"),
        (.member, "VN/GOV/000.00.00.G22"),
        (.auditor, "VN/GOV/000.00.00.KTNN/kiem-toan-vien-01"),
        (.admin, "VN/GOV/000.00.00.VPCP/quan-tri-01"),
    ])
    func issueProfiles(role: CertificateRole, id: String) throws {
        let t = try TemporaryPKI()
        defer { t.remove() }
        let record = try t.pki.issue(role: role, holderId: id)
        let certificate = try #require(try t.chain(record).first)
        #expect(record.holderId == id)
        #expect(CertificateRole.holder(of: certificate)?.role == role)
        #expect(CertificateRole.holder(of: certificate)?.holderId == id)
        #expect(try certificate.extensions.keyUsage == role.keyUsage)
        let eku = try certificate.extensions.extendedKeyUsage
        #expect(eku.map { Array($0) } == role.extendedKeyUsage)
        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
        let aia = try #require(try certificate.extensions.authorityInformationAccess)
        #expect(aia.description.contains("http://127.0.0.1:1/"))
        let attributes = try FileManager.default.attributesOfItem(atPath: t.path(record.keyPath))
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        if role == .server {
            let san = try #require(try certificate.extensions.subjectAlternativeNames)
            #expect(san.contains(.dnsName("localhost")))
        }
    }

    @Test("issue rejects holder ids that do not fit the role, and changes nothing", arguments: [
        (CertificateRole.server, "VN/GOV/000.00.00.G22"),
        (.member, "VN/GOV/000.00.00.G22/ss1"),
        (.member, "VN/GOV/Bộ Công an"),
        (.auditor, "VN/GOV"),
        (.server, "VN/GOV/000.00.00.G22/datasets"),
    ])
    func issueRejectsBadIds(role: CertificateRole, id: String) throws {
        let t = try TemporaryPKI()
        defer { t.remove() }
        let before = try t.pki.records()
        let error = #expect(throws: PKIError.self) { try t.pki.issue(role: role, holderId: id) }
        #expect(error?.code == .invalidHolderId)
        #expect(error?.message.contains(id) == true)
        #expect(try t.pki.records() == before)
    }

    @Test("a second certificate for the same holder needs --replace")
    func duplicateNeedsReplace() throws {
        let t = try TemporaryPKI()
        defer { t.remove() }
        let first = try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22")
        let error = #expect(throws: PKIError.self) { try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22") }
        #expect(error?.code == .alreadyIssued)
        let second = try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22", replace: true)
        #expect(second.serial == first.serial + 1)
        #expect(second.certificatePath != first.certificatePath)
    }

    @Test("revoke marks the record; unknown and repeated revocations are errors")
    func revokeBookkeeping() throws {
        let t = try TemporaryPKI()
        defer { t.remove() }
        let record = try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22")
        let revoked = try t.pki.revoke(serial: record.serial, reason: "keyCompromise")
        #expect(revoked.revokedAt != nil)
        #expect(try t.pki.record(serial: Certificate.SerialNumber(record.serial))?.revocationReason == "keyCompromise")
        #expect(throws: PKIError.self) { try t.pki.revoke(serial: record.serial) }
        let unknown = #expect(throws: PKIError.self) { try t.pki.revoke(serial: 999_999) }
        #expect(unknown?.code == .unknownSerial)
    }

    @Test("RSA-2048 member keys can be issued")
    func rsaMember() throws {
        let t = try TemporaryPKI()
        defer { t.remove() }
        let record = try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22", keyAlgorithm: .rsa2048)
        let key = try MessageSigningKey(pemEncoded: try PEMFiles.readText(t.directory.appendingPathComponent(record.keyPath)))
        #expect(key.algorithm == "RS256")
    }

    @Test("openssl verify -CAfile accepts every issued certificate", .enabled(if: which("openssl") != nil))
    func opensslVerifiesEverything() async throws {
        let t = try TemporaryPKI()
        defer { t.remove() }
        try t.pki.issue(role: .server, holderId: "VN/GOV/000.00.00.G22/ss1")
        try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22")
        try t.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.H26", keyAlgorithm: .rsa2048)
        try t.pki.issue(role: .auditor, holderId: "VN/GOV/000.00.00.KTNN/kiem-toan-vien-01")
        try t.pki.issue(role: .admin, holderId: "VN/GOV/000.00.00.VPCP/quan-tri-01")
        let openssl = try #require(which("openssl"))
        let records = try t.pki.records()
        #expect(records.count == 7)
        for record in records {
            let result = try await runProcess(openssl, ["verify", "-CAfile", t.pki.url(.rootCertificate).path, t.path(record.certificatePath)])
            #expect(result.status == 0, "\(record.certificatePath): \(result.output)")
            #expect(result.output.contains(": OK"))
        }
        // And openssl rejects a certificate against another CA.
        let other = try TemporaryPKI()
        defer { other.remove() }
        let foreign = try other.pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22")
        let result = try await runProcess(openssl, ["verify", "-CAfile", t.pki.url(.rootCertificate).path, other.path(foreign.certificatePath)])
        #expect(result.status != 0)
    }
}
