import ArgumentParser
import Foundation
import LienThongCore
import LienThongTrust
import X509

/// `lienthong pki ...`: the development PKI.
struct PKICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pki",
        abstract: "Development PKI: root CA, certificates per role, revocation and an OCSP responder.",
        discussion: "For development and tests only; production instances plug in the government CA. See docs/pki.md.",
        subcommands: [Init.self, Issue.self, Revoke.self, List.self, OCSP.self, Check.self]
    )

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an instance root CA, the configuration-signing and the OCSP signing certificates.")

        @Option(help: "PKI directory (created, mode 0700).") var dir: String
        @Option(help: "Instance code, e.g. VN.") var instance: String
        @Option(help: "OCSP responder URL written into issued certificates (AIA).")
        var ocspURL: String = "http://127.0.0.1:8888/"
        @Option(help: "Root CA validity in days.") var days: Int = 3650

        func run() async throws {
            let pki = try DevelopmentPKI.initialise(
                at: URL(fileURLWithPath: dir), instance: instance, ocspURL: ocspURL, validity: TimeInterval(days) * 86_400)
            print("Created the \(instance) development PKI in \(pki.directory.path)")
            for record in try pki.records() { print(PKICommand.line(record)) }
            print("root CA: \(pki.url(.rootCertificate).path)")
        }
    }

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue a server, member, auditor or admin certificate.")

        @Option(help: "PKI directory.") var dir: String
        @Option(help: "Role: server | member | auditor | admin.") var kind: CertificateRole
        @Option(help: "Holder id: server INST/CLASS/CODE/SERVER, member INST/CLASS/CODE, auditor/admin INST/CLASS/CODE/PERSON.")
        var id: String
        @Option(help: "Key algorithm: p256 | rsa2048.") var key: KeyAlgorithm = .p256
        @Option(help: "Validity in days.") var days: Int = 365
        @Option(help: "Extra DNS names (servers).") var dns: [String] = []
        @Option(help: "Extra IPv4 addresses (servers).") var ip: [String] = []
        @Flag(help: "Issue even if the holder already has a valid certificate in this role.") var replace = false

        func run() async throws {
            let pki = try DevelopmentPKI.open(at: URL(fileURLWithPath: dir))
            let record = try pki.issue(role: kind, holderId: id, keyAlgorithm: key, validity: TimeInterval(days) * 86_400,
                                       dnsNames: dns, ipAddresses: ip, replace: replace)
            print(PKICommand.line(record))
            print("certificate: \(pki.directory.appendingPathComponent(record.certificatePath).path)")
            print("private key: \(pki.directory.appendingPathComponent(record.keyPath).path) (mode 0600)")
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a certificate; the OCSP responder answers `revoked` from now on.")

        @Option(help: "PKI directory.") var dir: String
        @Option(help: "Serial number (decimal, or hex with 0x).") var serial: String
        @Option(help: "Reason: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, ...")
        var reason: String = "unspecified"

        func run() async throws {
            guard let number = PKICommand.parseSerial(serial) else {
                throw ValidationError("--serial must be a decimal number or 0x-prefixed hex, not \"\(serial)\"")
            }
            guard OCSPCertificateStatus.CRLReason(name: reason) != nil else {
                throw ValidationError("--reason \"\(reason)\" is not an RFC 5280 CRL reason")
            }
            let pki = try DevelopmentPKI.open(at: URL(fileURLWithPath: dir))
            let record = try pki.revoke(serial: number, reason: reason)
            print("revoked " + PKICommand.line(record))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every certificate this CA issued.")
        @Option(help: "PKI directory.") var dir: String

        func run() async throws {
            let pki = try DevelopmentPKI.open(at: URL(fileURLWithPath: dir))
            for record in try pki.records() { print(PKICommand.line(record)) }
        }
    }

    struct OCSP: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the RFC 6960 OCSP responder over HTTP (POST and GET).")
        @Option(help: "PKI directory.") var dir: String
        @Option(help: "Address to listen on, HOST:PORT.") var listen: String = "127.0.0.1:8888"

        func run() async throws {
            guard let (host, port) = PKICommand.parseHostPort(listen) else {
                throw ValidationError("--listen must be HOST:PORT, not \"\(listen)\"")
            }
            let pki = try DevelopmentPKI.open(at: URL(fileURLWithPath: dir))
            try await DevelopmentOCSPService(pki: pki).run(host: host, port: port) { bound in
                print("OCSP responder for \(pki.instance) listening on http://\(host):\(bound)/")
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a certificate for a role: chain, validity, key usage and OCSP status.")
        @Option(help: "PKI directory (its root CA is the trust anchor).") var dir: String
        @Option(help: "Certificate file (PEM; a chain is allowed, leaf first).") var cert: String
        @Option(help: "Role to validate for.") var kind: CertificateRole
        @Option(help: "OCSP responder URL; defaults to the certificate's AIA.") var ocspURL: String?

        func run() async throws {
            let pki = try DevelopmentPKI.open(at: URL(fileURLWithPath: dir))
            let chain = try PEMFiles.readCertificates(URL(fileURLWithPath: cert))
            let validator = CertificateValidator(
                trustAnchors: [pki.rootCertificate],
                revocation: RevocationChecker(source: HTTPOCSPStatusSource(responderURL: ocspURL)))
            do {
                let valid = try await validator.validate(chain: chain, role: kind)
                print("OK: \(kind) certificate \(valid.holderId), serial \(valid.certificate.serialNumber), OCSP \(valid.revocation.map { "\($0.status)" } ?? "not checked")")
            } catch {
                print("REJECTED (\(error.code.rawValue)): \(error.message)")
                throw ExitCode(1)
            }
        }
    }

    static func line(_ r: IssuedCertificateRecord) -> String {
        let state = r.revokedAt.map { "REVOKED \(ISO8601DateFormatter().string(from: $0)) (\(r.revocationReason ?? "unspecified"))" } ?? "valid"
        return "serial \(r.serial)\t\(r.role)\t\(r.holderId)\tuntil \(ISO8601DateFormatter().string(from: r.notAfter))\t\(state)\t\(r.certificatePath)"
    }

    static func parseSerial(_ text: String) -> UInt64? {
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return UInt64(text.dropFirst(2), radix: 16) }
        return UInt64(text)
    }

    static func parseHostPort(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        let host = String(text[..<colon])
        return host.isEmpty ? nil : (host, port)
    }
}

extension CertificateRole: ExpressibleByArgument {}
extension KeyAlgorithm: ExpressibleByArgument {}
