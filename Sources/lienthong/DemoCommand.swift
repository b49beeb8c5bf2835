import ArgumentParser
import Foundation
import LienThongCore
import LienThongTrust
import X509

/// `lienthong demo`: what exists today, run end to end on loopback.
///
/// It builds a development PKI for instance VN, runs the OCSP responder, issues the
/// certificates of two agencies and an auditor, validates them against the live responder,
/// signs and verifies a request, shows that tampering is caught, revokes a certificate and
/// shows the revocation being enforced. It then says plainly what is not built yet.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run what LienThong has so far on loopback: PKI, OCSP, validation, signatures, the registry, and two security servers exchanging signed calls.")

    @Option(help: "Working directory for the demo PKI (recreated on every run).")
    var dir: String = ".lienthong-demo"

    func run() async throws {
        let directory = URL(fileURLWithPath: dir)
        let fm = FileManager.default
        if fm.fileExists(atPath: directory.path) {
            guard fm.fileExists(atPath: directory.appendingPathComponent("index.json").path) else {
                throw ValidationError("\(directory.path) exists and is not a LienThong demo directory; choose another --dir")
            }
            try fm.removeItem(at: directory)
        }

        let port = try FreePort.find()
        let ocspURL = "http://127.0.0.1:\(port)/"
        step("1. Development PKI for instance VN (\(directory.path))")
        let pki = try DevelopmentPKI.initialise(at: directory, instance: "VN", ocspURL: ocspURL)
        let bca = "VN/GOV/000.00.00.G22"          // Bộ Công an (Ministry of Public Security), provider
        let hanoi = "VN/GOV/000.00.00.H26"        // UBND TP Hà Nội (Hanoi LGSP), consumer
        try pki.issue(role: .server, holderId: "\(bca)/ss1")
        try pki.issue(role: .member, holderId: bca)
        try pki.issue(role: .server, holderId: "\(hanoi)/ss1")
        let hanoiMember = try pki.issue(role: .member, holderId: hanoi)
        try pki.issue(role: .auditor, holderId: "VN/GOV/000.00.00.KTNN/kiem-toan-vien-01")
        try pki.issue(role: .admin, holderId: "VN/GOV/000.00.00.VPCP/quan-tri-01")
        for record in try pki.records() { print("   " + PKICommand.line(record)) }

        try await DevelopmentOCSPService(pki: pki).withRunning(host: "127.0.0.1", port: port) { _ in
            step("2. OCSP responder (RFC 6960) on \(ocspURL); validating every certificate against it")
            let checker = RevocationChecker(source: HTTPOCSPStatusSource(responderURL: nil))
            let validator = CertificateValidator(trustAnchors: [pki.rootCertificate], revocation: checker)
            for record in try pki.records() where CertificateRole.issuable.contains(record.role) {
                let chain = try PEMFiles.readCertificates(directory.appendingPathComponent(record.certificatePath))
                let valid = try await validator.validate(chain: chain, role: record.role)
                print("   OK  \(record.role)\t\(valid.holderId)\tOCSP \(valid.revocation.map { "\($0.status)" } ?? "-")")
            }

            step("3. Hanoi signs a request to the Ministry of Public Security (detached JWS, ES256)")
            let request = CanonicalMessage.request(
                messageId: UUID().uuidString.lowercased(), method: "GET",
                service: try ServiceId(parsing: "\(bca)/DANCU/tra-cuu-cong-dan"),
                client: try ClientId(parsing: "\(hanoi)/MOTCUA"),
                path: "/v1/cong-dan/001099012345",
                headers: [("X-LienThong-Purpose", "1.004227"), ("Content-Type", "application/json")],
                bodyDigest: MessageDigest.sha256(of: [UInt8]()))
            print("   canonical form: \(request.canonicalJSON.canonicalString)")
            let key = try MessageSigningKey(pemEncoded: try PEMFiles.readText(directory.appendingPathComponent(hanoiMember.keyPath)))
            let chain = try PEMFiles.readCertificates(directory.appendingPathComponent(hanoiMember.certificatePath))
            let jws = try DetachedJWS.sign(digest: request.digest, key: key, chain: chain)
            print("   digest \(request.digest.base64URL)")
            print("   JWS    \(jws.compact.prefix(60))…\(jws.compact.suffix(20))")
            try DetachedJWS(compact: jws.compact).verify(digest: request.digest)
            let signer = try await validator.validate(chain: jws.certificateChain, role: .member)
            print("   verified: signed by member \(signer.holderId), certificate good per OCSP")

            var tampered = request
            tampered.path = "/v1/cong-dan/001099099999"
            do {
                try jws.verify(digest: tampered.digest)
                print("   !! tampered request verified — this is a bug")
                throw ExitCode(1)
            } catch let error as SignatureError {
                print("   tampered path rejected: \(error.message)")
            }

            let compromised = try pki.issue(role: .member, holderId: "VN/GOV/000.00.00.H29")
            let compromisedChain = try PEMFiles.readCertificates(directory.appendingPathComponent(compromised.certificatePath))
            step("4. Revoking a compromised member certificate (Hồ Chí Minh City's, serial \(compromised.serial))")
            try pki.revoke(serial: compromised.serial, reason: "keyCompromise")
            await checker.clear()
            do {
                _ = try await validator.validate(chain: compromisedChain, role: .member)
                print("   !! revoked certificate accepted — this is a bug")
                throw ExitCode(1)
            } catch let error as CertificateValidationError {
                print("   rejected (\(error.code.rawValue)): \(error.message)")
            }

            let ports = try DemoRegistry.ServerPorts.pick()
            let freshness = 5
            try await DemoRegistry.run(pki: pki, ocspURL: ocspURL, ocspFreshnessSeconds: freshness, ports: ports, step: step) { registryURL in
                try await DemoExchange.withServers(pki: pki, registryURL: registryURL, ports: ports, quiet: true) { running in
                    try await DemoExchange.show(running, pki: pki, freshness: freshness, step: step)
                }
            }
        }

        step("Not built yet (see `issues`):")
        print("""
           - compliance view, auditor API and the full demo network (issue 6)
           - benchmark against an nginx mutual-TLS relay (issue 7)
           So far: identifiers, PKI, OCSP, certificate validation, signatures, the registry with its signed configuration,
           security servers exchanging signed X-Road REST calls over pinned mutual TLS, their durable Merkle audit logs
           checkpointed to the registry, and evidence bundles of one exchange verifiable offline.
        """)
    }

    private func step(_ title: String) { print("\n== \(title)") }
}
