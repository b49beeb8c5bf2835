import AsyncHTTPClient
import Foundation
import LienThongAudit
import LienThongCore
import LienThongServer
import LienThongTrust
import Logging
import NIOCore
import NIOHTTP1

/// The security-server part of `lienthong demo` (and the network `lienthong bench exchange`
/// measures): the Ministry of Public Security's server in front of a small population backend, and
/// the Hanoi LGSP node's server for its one-stop-shop subsystem, both on the registry's configuration.
enum DemoExchange {
    static let motCua = "\(DemoRegistry.hanoi)/MOTCUA"
    static let lookup = "/r1/\(DemoRegistry.bca)/DANCU/tra-cuu-cong-dan"

    /// What is running.
    struct Running: Sendable {
        /// Hanoi's client-facing port.
        var consumerPort: Int
        /// The backend's port (direct calls, for comparison).
        var backendPort: Int
        /// The audit log files of both servers.
        var consumerLog: URL
        var providerLog: URL
    }

    /// Runs the backend and both security servers while `body` runs.
    static func withServers<T: Sendable>(pki: DevelopmentPKI, registryURL: String, ports: DemoRegistry.ServerPorts, quiet: Bool,
                                         _ body: (Running) async throws -> T) async throws -> T {
        let backendPort = try FreePort.find()
        let data = pki.directory.appendingPathComponent("servers")
        func configuration(member: String, clients: [String], services: [SecurityServerConfiguration.LocalService]) throws -> SecurityServerConfiguration {
            let records = try pki.records().filter { $0.revokedAt == nil }
            guard let tls = records.first(where: { $0.role == .server && $0.holderId == "\(member)/ss1" }),
                  let signing = records.first(where: { $0.role == .member && $0.holderId == member }) else {
                throw DemoError("no TLS or signing certificate for \(member)")
            }
            let file = { (path: String) in pki.directory.appendingPathComponent(path).path }
            return SecurityServerConfiguration(
                serverId: "\(member)/ss1", clientListener: .init(port: 0), interServerListener: .init(port: ports.byMember[member] ?? 0),
                tlsCertificateFile: file(tls.certificatePath), tlsKeyFile: file(tls.keyPath),
                signingCertificateFile: file(signing.certificatePath), signingKeyFile: file(signing.keyPath),
                registryURL: registryURL, trustAnchorFile: pki.url(.rootCertificate).path,
                dataDirectory: data.appendingPathComponent(member.replacingOccurrences(of: "/", with: "_")).path,
                clients: clients.map { .init(subsystem: $0) }, services: services)
        }
        let provider = try configuration(member: DemoRegistry.bca, clients: [], services: [
            .init(id: "\(DemoRegistry.bca)/DANCU/tra-cuu-cong-dan", backendURL: "http://127.0.0.1:\(backendPort)")])
        let consumer = try configuration(member: DemoRegistry.hanoi, clients: [motCua], services: [])
        var logger = Logger(label: "lienthong.server")
        logger.logLevel = quiet ? .critical : .warning
        return try await DemoBackend.withRunning(port: backendPort) {
            try await LienThongSecurityServer(configuration: provider, logger: logger).withRunning { _ in
                try await LienThongSecurityServer(configuration: consumer, logger: logger).withRunning { ports in
                    try await body(Running(
                        consumerPort: ports.client, backendPort: backendPort,
                        consumerLog: URL(fileURLWithPath: consumer.dataDirectory).appendingPathComponent("audit.sqlite"),
                        providerLog: URL(fileURLWithPath: provider.dataDirectory).appendingPathComponent("audit.sqlite")))
                }
            }
        }
    }

    /// The demo's exchanges, printed.
    static func show(_ running: Running, pki: DevelopmentPKI, freshness: Int, step: (String) -> Void) async throws {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let result: Result<Void, any Error>
        do {
            try await exchanges(http, running, pki: pki, freshness: freshness, step: step)
            result = .success(())
        } catch {
            result = .failure(error)
        }
        try await http.shutdown()
        try result.get()
    }

    private static func exchanges(_ http: HTTPClient, _ running: Running, pki: DevelopmentPKI, freshness: Int, step: (String) -> Void) async throws {
        let port = running.consumerPort
        step("6. Security servers: Bộ Công an (provider, backend on :\(running.backendPort)) and Hà Nội LGSP (client port :\(port))")
        let target = "\(lookup)/v1/001099012345"
        print("   GET http://127.0.0.1:\(port)\(target)")
        print("       X-Road-Client: \(motCua)   X-LienThong-Purpose: 1.004227")
        let ok = try await call(http, port, target, purpose: "1.004227")
        print("   → \(ok.status)  \(ok.body)")
        for name in ["X-Road-Id", "X-Road-Client", "X-Road-Service", "X-Road-Request-Id", "X-Road-Request-Hash"] {
            print("     \(name): \(ok.headers.first(name: name) ?? "-")")
        }
        guard ok.status == 200 else { throw DemoError("the signed exchange failed: \(ok.body)") }

        print("   the same call without a purpose (the agreement lists purposes):")
        let refused = try await call(http, port, target, purpose: nil)
        print("   → \(refused.status)  X-Road-Error: \(refused.headers.first(name: "X-Road-Error") ?? "-")  \(refused.body)")
        print("   a service Hanoi has no agreement for:")
        let none = try await call(http, port, "/r1/\(DemoRegistry.justice)/HOTICH/tra-cuu-khai-sinh/v1/1", purpose: "9.000001")
        print("   → \(none.status)  X-Road-Error: \(none.headers.first(name: "X-Road-Error") ?? "-")")
        let allowed = try await call(http, port, "/r1/\(DemoRegistry.bca)/DANCU/allowedMethods", purpose: nil)
        print("   allowedMethods of \(DemoRegistry.bca)/DANCU for Hanoi → \(allowed.status) \(allowed.body.prefix(160))…")

        try await showEvidence(running, pki: pki, exchange: ok.headers.first(name: "X-Road-Id") ?? "", step: step)

        step("7. Revoking Hanoi's member certificate at the OCSP responder; its server must stop within the \(freshness) s freshness limit")
        guard let member = try pki.records().first(where: { $0.role == .member && $0.holderId == DemoRegistry.hanoi && $0.revokedAt == nil }) else {
            throw DemoError("Hanoi has no member certificate")
        }
        try pki.revoke(serial: member.serial, reason: "keyCompromise")
        let start = Date()
        while Date().timeIntervalSince(start) < Double(freshness) + 5 {
            let answer = try await call(http, port, target, purpose: "1.004227")
            if answer.status != 200 {
                print(String(format: "   refused after %.1f s: %@ — %@", Date().timeIntervalSince(start),
                             answer.headers.first(name: "X-Road-Error") ?? "-", answer.body))
                return
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw DemoError("a revoked member certificate was still accepted after \(freshness + 5) s")
    }

    /// Waits for both logs' checkpoints to be countersigned, verifies the logs, and exports and
    /// verifies the evidence bundle of `exchange`.
    private static func showEvidence(_ running: Running, pki: DevelopmentPKI, exchange: String, step: (String) -> Void) async throws {
        step("6b. Audit logs: checkpoints signed by each server and countersigned by the registry (every \(DemoRegistry.checkpointIntervalSeconds) s here)")
        let anchors = [pki.rootCertificate]
        for (name, file) in [("Hà Nội", running.consumerLog), ("Bộ Công an", running.providerLog)] {
            var report: AuditVerificationReport?
            let deadline = Date().addingTimeInterval(Double(DemoRegistry.checkpointIntervalSeconds) * 5 + 5)
            while Date() < deadline {
                let current = try await AuditLogVerifier.verify(try SQLiteAuditLeafStore(path: file.path), anchors: anchors)
                report = current
                if current.uncheckpointedRecords == 0, current.receipts == current.checkpoints, current.receipts > 0 { break }
                try await Task.sleep(for: .milliseconds(300))
            }
            guard let report, report.uncheckpointedRecords == 0 else { throw DemoError("the audit log of \(name) was not checkpointed in time") }
            print("   audit log of \(name): \(report.treeHead.treeSize) records (refusals included), \(report.checkpoints) checkpoints, \(report.receipts) countersigned; verified offline against the root CA; Merkle root \(report.treeHead.rootHash.hex.prefix(16))…")
        }
        var records: [EvidenceRecord] = []
        for file in [running.consumerLog, running.providerLog] {
            records += try await EvidenceExporter.evidence(for: exchange, in: try SQLiteAuditLeafStore(path: file.path))
        }
        let bundle = EvidenceBundle(exchange: exchange, createdAt: Date(), records: records)
        let file = pki.directory.appendingPathComponent("evidence-\(exchange).json")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(bundle).write(to: file)
        let report = try await EvidenceVerifier.verify(bundle, anchors: anchors)
        print("   evidence bundle of exchange \(exchange) (both sides): \(file.path)")
        for check in report.checks { print("     ✓ \(check)") }
        for warning in report.warnings { print("     ! \(warning)") }
        print("   verify it yourself, offline:  lienthong audit verify-bundle \(file.path) --ca \(pki.url(.rootCertificate).path)")
        print("   re-export it from the logs:   lienthong audit export --exchange \(exchange) --log \(running.consumerLog.path) --log \(running.providerLog.path)")
    }

    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: String
    }

    static func call(_ http: HTTPClient, _ port: Int, _ target: String, purpose: String?) async throws -> Answer {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(target)")
        request.headers.add(name: "X-Road-Client", value: motCua)
        if let purpose { request.headers.add(name: "X-LienThong-Purpose", value: purpose) }
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers, body: String(buffer: body))
    }

}

/// A demo step that did not go as it must.
struct DemoError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
