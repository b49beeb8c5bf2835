import AsyncHTTPClient
import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry
@testable import LienThongServer
import LienThongTrust
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import Testing

/// Log entries a test can read back.
final class CapturedLog: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let entries = Mutex<[Entry]>([])

    var all: [Entry] { entries.withLock { $0 } }

    func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }

    /// A logger at `info` that writes here.
    func logger(label: String) -> Logger {
        var logger = Logger(label: label) { _ in CapturingLogHandler(log: self) }
        logger.logLevel = .info
        return logger
    }
}

/// Writes every event to a ``CapturedLog``.
struct CapturingLogHandler: LogHandler {
    let log: CapturedLog
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { all[key] = "\(value)" }
        log.append(.init(level: event.level, message: event.message.description, metadata: all))
    }
}

/// The operations API on the inter-server port, end to end over mutual TLS 1.3 on loopback:
/// an auditor fetches the evidence of a real exchange from both servers and the merged bundle
/// verifies offline; other roles are refused; the owner's admin switches maintenance mode on and
/// off at run time while other members' admins and malformed bodies change nothing.
@Suite("Operations API", .serialized)
struct OperationsAPITests {
    typealias N = ExchangeNetwork

    static let motCua = "\(N.consumer)/MOTCUA"
    static let thongKe = "\(N.consumer)/THONGKE"

    /// Expects `body` to fail with an operations error of `status` (and `type`, if given).
    @discardableResult
    func expectRefusal<T>(_ what: String, status: Int, type: String? = nil,
                          _ body: () async throws -> T) async -> ServerOperationsError? {
        do {
            _ = try await body()
            Issue.record("\(what): succeeded, expected HTTP \(status)")
            return nil
        } catch let error as ServerOperationsError {
            #expect(error.status == status, "\(what): \(error)")
            if let type { #expect(error.type == type, "\(what): \(error)") }
            #expect(error.detail.map { UUID(uuidString: $0) != nil } == true, "\(what): the detail is a log reference UUID")
            return error
        } catch {
            Issue.record("\(what): unexpected \(error)")
            return nil
        }
    }

    /// The evidence of `exchange` on `server` once a countersigned checkpoint covers it.
    func countersignedEvidence(_ client: ServerOperationsClient, _ server: String, _ exchange: String,
                               onBehalfOf: String? = nil) async throws -> [UInt8] {
        var last: ServerOperationsError?
        for _ in 0..<150 {
            do {
                let bytes = try await client.evidence(server: server, exchange: exchange, onBehalfOf: onBehalfOf)
                let bundle = try JSONDecoder().decode(EvidenceBundle.self, from: Data(bytes))
                if !bundle.records.isEmpty, bundle.records.allSatisfy({ $0.receipt != nil }) { return bytes }
            } catch let error as ServerOperationsError where error.status == 409 {
                last = error
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw last ?? ServerOperationsError(status: nil, type: "test", message: "no countersigned evidence of \(exchange) on \(server)", detail: nil)
    }

    /// A raw mutual-TLS client, for requests the typed client cannot make.
    func rawClient(_ network: ExchangeNetwork, _ record: IssuedCertificateRecord) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(network.pki.url(.rootCertificate).path))
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(network.path(record)).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: network.path(record, key: true), format: .pem))
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    func raw(_ http: HTTPClient, _ method: HTTPMethod, _ url: String, body: [UInt8]? = nil)
        async throws -> (status: Int, headers: HTTPHeaders, body: [UInt8])
    {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), response.headers, Array(bytes.readableBytesView))
    }

    @Test("auditor evidence from both servers, role checks, and the owner's veto at run time, over mutual TLS")
    func operationsOverMutualTLS() async throws {
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        let http = ClientCaller.makeHTTPClient()
        let caller = ClientCaller(http: http)
        let captured = CapturedLog()
        let exchangeHeaders: (String) -> [(String, String)] = { id in
            [("X-Road-Client", Self.motCua), ("X-LienThong-Purpose", N.purpose), ("X-Road-Id", id)]
        }

        try await N.withBackend(BackendLog()) { backendPort in
            try await network.withInfrastructure(checkpointIntervalSeconds: 2) { network in
                let providerId = "\(N.provider)/ss1", consumerId = "\(N.consumer)/ss1"
                let ports = [providerId: try await N.freePort(), consumerId: try await N.freePort()]
                try await network.register(serverPorts: ports)
                let providerAddress = "127.0.0.1:\(ports[providerId] ?? 0)"
                let consumerAddress = "127.0.0.1:\(ports[consumerId] ?? 0)"
                let provider = LienThongSecurityServer(configuration: try network.configuration(
                    server: providerId, member: N.provider, interServerPort: ports[providerId] ?? 0,
                    services: [.init(id: N.lookup, backendURL: "http://127.0.0.1:\(backendPort)/api")],
                    veto: .init(deniedClients: [Self.thongKe])), logger: captured.logger(label: "provider"))
                let consumer = LienThongSecurityServer(configuration: try network.configuration(
                    server: consumerId, member: N.consumer, interServerPort: ports[consumerId] ?? 0, clients: [Self.motCua]))

                let ca = network.pki.url(.rootCertificate).path
                func client(_ record: IssuedCertificateRecord) throws -> ServerOperationsClient {
                    try ServerOperationsClient(certificateFile: network.path(record), keyFile: network.path(record, key: true), caFile: ca)
                }
                // Registered at the registry, so published in the global configuration the servers fetch at start.
                let auditorRecord = try await network.registeredActor(.auditor, "VN/GOV/000.00.00.VPCP/kiem-toan-01", as: .auditor)
                let auditorPin = try N.pin(of: network.path(auditorRecord))
                // Registered, then revoked by its CA: published, but OCSP refuses it (401).
                let revokedRecord = try await network.registeredActor(.auditor, "VN/GOV/000.00.00.VPCP/kiem-toan-99", as: .auditor)
                _ = try network.pki.revoke(serial: revokedRecord.serial, reason: "keyCompromise")
                let ownerAdminRecord = try await network.registeredActor(.admin, "\(N.provider)/quan-tri-01", as: .memberOperator, member: N.provider)
                let ownerAdminPin = try N.pin(of: network.path(ownerAdminRecord))
                let otherAdminRecord = try await network.registeredActor(.admin, "\(N.consumer)/quan-tri-01", as: .memberOperator, member: N.consumer)
                let auditor = try client(auditorRecord)
                let revokedAuditor = try client(revokedRecord)
                let ownerAdmin = try client(ownerAdminRecord)
                let otherAdmin = try client(otherAdminRecord)
                let serverRole = try client(try network.tlsRecord(consumerId))
                let memberRole = try client(try network.memberRecord(N.consumer))
                let ownerRaw = try rawClient(network, ownerAdminRecord)

                let outcome: Result<Void, any Error>
                do {
                    try await provider.withRunning { _ in
                        try await consumer.withRunning { consumerPorts in
                            // MARK: Evidence of a real exchange, from both servers, merged, verifies.
                            let answer = try await caller.call(consumerPorts.client, .GET, "/r1/\(N.lookup)/cong-dan/001099012345",
                                                               headers: exchangeHeaders("ops-1"))
                            #expect(answer.status == 200, "\(answer.text)")
                            let relayed = "VN/GOV/000.00.00.VPCP/thanh-tra-02"
                            let providerBytes = try await countersignedEvidence(auditor, providerAddress, "ops-1", onBehalfOf: relayed)
                            let consumerBytes = try await countersignedEvidence(auditor, consumerAddress, "ops-1")
                            let providerBundle = try JSONDecoder().decode(EvidenceBundle.self, from: Data(providerBytes))
                            let consumerBundle = try JSONDecoder().decode(EvidenceBundle.self, from: Data(consumerBytes))
                            #expect(providerBundle.exchange == "ops-1" && consumerBundle.exchange == "ops-1")
                            #expect(providerBundle.records.map(\.side) == [.provider] && providerBundle.records.map(\.server) == [providerId])
                            #expect(consumerBundle.records.map(\.side) == [.consumer] && consumerBundle.records.map(\.server) == [consumerId])
                            // Written exactly as `lienthong audit export` writes a bundle.
                            #expect(Array(try OperationsResponder.bundleEncoder().encode(providerBundle)) == providerBytes)
                            #expect(String(decoding: providerBytes, as: UTF8.self).hasPrefix("{\n"))
                            let merged = EvidenceBundle(exchange: "ops-1", createdAt: Date(), records: consumerBundle.records + providerBundle.records)
                            let report = try await EvidenceVerifier.verify(merged, anchors: [network.pki.rootCertificate])
                            #expect(report.warnings.isEmpty, "\(report.warnings)")
                            #expect(report.records.map(\.side) == [.consumer, .provider])
                            #expect(report.checks.last?.contains("response") == true, "both sides agree: \(report.checks)")
                            // The query is logged with the certificate's holder and the relayed auditor.
                            let queries = captured.all.filter { $0.message == "auditor evidence query" }
                            #expect(queries.contains { $0.level == .info && $0.metadata["certificate_sha256"] == auditorPin
                                    && $0.metadata["on_behalf_of"] == relayed && $0.metadata["exchange"] == "ops-1" },
                                    "\(queries.map(\.metadata))")

                            // MARK: Only registered auditors, and only valid certificates.
                            for (role, other) in [("admin", ownerAdmin), ("server", serverRole), ("member", memberRole)] {
                                await expectRefusal("\(role) certificate on the auditor endpoint", status: 403, type: "Client.Forbidden") {
                                    try await other.evidence(server: providerAddress, exchange: "ops-1")
                                }
                            }
                            await expectRefusal("revoked auditor certificate", status: 401, type: "Client.Unauthenticated") {
                                try await revokedAuditor.evidence(server: providerAddress, exchange: "ops-1")
                            }

                            // MARK: Ids: malformed 400, unknown 404, not yet checkpointed 409.
                            for bad in ["a/b", String(repeating: "x", count: 201), "có-dấu", "hai tu", ""] {
                                await expectRefusal("exchange id \"\(bad.prefix(20))\"", status: 400, type: "Client.BadRequest") {
                                    try await auditor.evidence(server: providerAddress, exchange: bad)
                                }
                            }
                            await expectRefusal("unknown exchange", status: 404, type: "Client.NotFound") {
                                try await auditor.evidence(server: providerAddress, exchange: "khong-co-giao-dich")
                            }
                            let longest = String(repeating: "y", count: 200)
                            await expectRefusal("200 characters is a valid id", status: 404) {
                                try await auditor.evidence(server: providerAddress, exchange: longest)
                            }
                            var conflict: ServerOperationsError?
                            for attempt in 0..<5 where conflict == nil {
                                // A checkpoint may fall between the exchange and the query; then try again.
                                let id = "ops-fresh-\(attempt)"
                                let fresh = try await caller.call(consumerPorts.client, .GET, "/r1/\(N.lookup)/x", headers: exchangeHeaders(id))
                                #expect(fresh.status == 200, "\(fresh.text)")
                                do {
                                    _ = try await auditor.evidence(server: providerAddress, exchange: id)
                                } catch let error as ServerOperationsError where error.status == 409 {
                                    conflict = error
                                }
                            }
                            #expect(conflict?.type == "Client.Conflict", "\(String(describing: conflict))")
                            #expect(conflict?.message.contains("retry after the next checkpoint") == true, "\(String(describing: conflict))")

                            // MARK: The veto: initialised from the configuration, the owner's registered operators only.
                            let configured = VetoSettings(maintenance: false, disabledServices: [], deniedClients: [Self.thongKe])
                            #expect(try await ownerAdmin.veto(server: providerAddress) == configured)
                            let maintenance = VetoSettings(maintenance: true, disabledServices: [], deniedClients: [Self.thongKe])
                            await expectRefusal("another member's admin reads the veto", status: 403, type: "Client.Forbidden") {
                                try await otherAdmin.veto(server: providerAddress)
                            }
                            await expectRefusal("another member's admin sets maintenance", status: 403, type: "Client.Forbidden") {
                                try await otherAdmin.setVeto(server: providerAddress, maintenance)
                            }
                            await expectRefusal("the provider's admin on the consumer's server", status: 403, type: "Client.Forbidden") {
                                try await ownerAdmin.setVeto(server: consumerAddress, maintenance)
                            }
                            await expectRefusal("an auditor sets the veto", status: 403, type: "Client.Forbidden") {
                                try await auditor.setVeto(server: providerAddress, maintenance)
                            }
                            await expectRefusal("a server certificate sets the veto", status: 403, type: "Client.Forbidden") {
                                try await serverRole.setVeto(server: providerAddress, maintenance)
                            }
                            #expect(try await ownerAdmin.veto(server: providerAddress) == configured, "refused calls change nothing")
                            let still = try await caller.call(consumerPorts.client, .GET, "/r1/\(N.lookup)/x", headers: exchangeHeaders("ops-still"))
                            #expect(still.status == 200, "\(still.text)")

                            // Maintenance on: the next exchange is refused by the provider; off: it succeeds.
                            #expect(try await ownerAdmin.setVeto(server: providerAddress, maintenance) == maintenance)
                            let refused = try await caller.call(consumerPorts.client, .GET, "/r1/\(N.lookup)/x", headers: exchangeHeaders("ops-maint"))
                            #expect(refused.errorType == "Server.ServerProxy.MaintenanceMode", "\(refused.status) \(refused.text)")
                            let changes = captured.all.filter { $0.message == "veto changed" }
                            #expect(changes.count == 1 && changes.first?.level == .notice, "\(changes.map(\.metadata))")
                            #expect(changes.first?.metadata["certificate_sha256"] == ownerAdminPin)
                            #expect(changes.first?.metadata["before"]?.contains(#""maintenance":false"#) == true)
                            #expect(changes.first?.metadata["after"]?.contains(#""maintenance":true"#) == true)

                            // Malformed bodies: 400 with a reason, and nothing changes.
                            let url = "https://\(providerAddress)/admin/v1/veto"
                            let bodies: [(String, String)] = [
                                ("not JSON", "khong phai json"),
                                ("an array", "[]"),
                                ("a missing key", #"{"maintenance": false}"#),
                                ("a wrong type", #"{"maintenance": "no", "disabled_services": [], "denied_clients": []}"#),
                                ("a bad service id", #"{"maintenance": false, "disabled_services": ["VN/GOV/khong-hop-le"], "denied_clients": []}"#),
                                ("a bad client id", #"{"maintenance": false, "disabled_services": [], "denied_clients": ["VN"]}"#),
                                ("an unknown key", #"{"maintenance": false, "disabled_services": [], "denied_clients": [], "ghi_chu": "x"}"#),
                            ]
                            for (what, body) in bodies {
                                let answer = try await raw(ownerRaw, .PUT, url, body: Array(body.utf8))
                                #expect(answer.status == 400, "\(what): \(answer.status)")
                                #expect(answer.headers.first(name: "X-Road-Error") == "Client.BadRequest", "\(what)")
                                let error = try? JSONDecoder().decode(XRoadErrorBody.self, from: Data(answer.body))
                                #expect(error?.type == "Client.BadRequest" && error?.message.isEmpty == false, "\(what): \(String(decoding: answer.body, as: UTF8.self))")
                            }
                            let huge = try await raw(ownerRaw, .PUT, url, body: Array(repeating: UInt8(ascii: " "), count: (1 << 20) + 1))
                            #expect(huge.status == 400 && huge.headers.first(name: "X-Road-Error") == "Client.RequestTooLarge")
                            await expectRefusal("a bad service id through the client", status: 400, type: "Client.BadRequest") {
                                try await ownerAdmin.setVeto(server: providerAddress, VetoSettings(maintenance: false, disabledServices: ["x"]))
                            }
                            #expect(try await ownerAdmin.veto(server: providerAddress) == maintenance, "malformed bodies change nothing")
                            #expect(captured.all.filter { $0.message == "veto changed" }.count == 1)

                            // Wrong method, unknown route.
                            let delete = try await raw(ownerRaw, .DELETE, url)
                            #expect(delete.status == 405 && delete.headers.first(name: "Allow") == "GET, PUT")
                            let unknown = try await raw(ownerRaw, .GET, "https://\(providerAddress)/admin/v1/khac")
                            #expect(unknown.status == 404 && unknown.headers.first(name: "X-Road-Error") == "Client.NotFound")

                            // A disabled service at run time, then everything cleared.
                            let disabled = VetoSettings(maintenance: false, disabledServices: [N.lookup], deniedClients: [Self.thongKe])
                            #expect(try await ownerAdmin.setVeto(server: providerAddress, disabled) == disabled)
                            let off = try await caller.call(consumerPorts.client, .GET, "/r1/\(N.lookup)/x", headers: exchangeHeaders("ops-disabled"))
                            #expect(off.errorType == "Server.ServerProxy.ServiceDisabled", "\(off.status) \(off.text)")
                            #expect(try await ownerAdmin.setVeto(server: providerAddress, configured) == configured)
                            let back = try await caller.call(consumerPorts.client, .GET, "/r1/\(N.lookup)/x", headers: exchangeHeaders("ops-back"))
                            #expect(back.status == 200, "\(back.text)")
                            // The refusal under maintenance is evidence too.
                            let refusal = try await countersignedEvidence(auditor, providerAddress, "ops-maint")
                            let refusalBundle = try JSONDecoder().decode(EvidenceBundle.self, from: Data(refusal))
                            let refusalReport = try await EvidenceVerifier.verify(refusalBundle, anchors: [network.pki.rootCertificate])
                            #expect(refusalReport.records.first?.outcome == .refused)
                        }
                    }
                    outcome = .success(())
                } catch {
                    outcome = .failure(error)
                }
                for operations in [auditor, revokedAuditor, ownerAdmin, otherAdmin, serverRole, memberRole] {
                    try? await operations.shutdown()
                }
                try? await ownerRaw.shutdown()
                try outcome.get()
            }
        }
        try await http.shutdown()
    }

    // MARK: Input rules

    @Test func exchangeIdsAreDecodedOnceAndChecked() throws {
        #expect(try OperationsResponder.exchangeId(fromRawSegment: "ops-1") == "ops-1")
        #expect(try OperationsResponder.exchangeId(fromRawSegment: "ops%2D1") == "ops-1")
        #expect(try OperationsResponder.exchangeId(fromRawSegment: "a%2525b") == "a%25b", "decoded once only")
        #expect(try OperationsResponder.exchangeId(fromRawSegment: "!~:@") == "!~:@")
        for bad in ["", "a%2Fb", "a/b", "%zz", "a%", "a%20b", "%C3%A9", "%7F", String(repeating: "x", count: 201)] {
            #expect(throws: OperationsError.self, "\(bad)") { try OperationsResponder.exchangeId(fromRawSegment: bad) }
        }
        #expect(try OperationsResponder.onBehalfOf(nil) == nil)
        #expect(try OperationsResponder.onBehalfOf(" VN/GOV/000.00.00.VPCP/thanh-tra-02 ") == "VN/GOV/000.00.00.VPCP/thanh-tra-02")
        #expect(throws: OperationsError.self) { try OperationsResponder.onBehalfOf(String(repeating: "a", count: 257)) }
        #expect(throws: OperationsError.self) { try OperationsResponder.onBehalfOf("a\u{1}b") }
        #expect(ServerOperationsClient.percentEncoded("a/b c%é") == "a%2Fb%20c%25%C3%A9")
    }

    @Test func vetoBodiesAreStrictAndCanonical() throws {
        let settings = try OperationsResponder.decodeVetoSettings(Array(#"""
            {"maintenance": true, "disabled_services": ["VN/GOV/000.00.00.G22/DANCU/khoa", "VN/GOV/000.00.00.G22/DANCU/khoa"],
             "denied_clients": ["VN/GOV/000.00.00.H26", "VN/GOV/000.00.00.H26/THONGKE"]}
            """#.utf8))
        let veto = try ProviderVeto(validating: settings)
        #expect(veto.maintenance && veto.disabledServices == ["VN/GOV/000.00.00.G22/DANCU/khoa"])
        #expect(veto.settings == VetoSettings(maintenance: true, disabledServices: ["VN/GOV/000.00.00.G22/DANCU/khoa"],
                                              deniedClients: ["VN/GOV/000.00.00.H26", "VN/GOV/000.00.00.H26/THONGKE"]))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(String(decoding: try encoder.encode(VetoSettings(maintenance: true)), as: UTF8.self)
                == #"{"denied_clients":[],"disabled_services":[],"maintenance":true}"#)
        for bad in [#"{"maintenance": 1, "disabled_services": [], "denied_clients": []}"#,
                    #"{"maintenance": true, "disabled_services": [], "denied_clients": null}"#,
                    #"{"maintenance": true, "disabled_services": [1], "denied_clients": []}"#,
                    #"{"disabled_services": [], "denied_clients": []}"#, "null", "\"x\""] {
            #expect(throws: OperationsError.self, "\(bad)") { try OperationsResponder.decodeVetoSettings(Array(bad.utf8)) }
        }
        #expect(throws: VetoSettingsError.self) { try ProviderVeto(validating: VetoSettings(deniedClients: ["VN/GOV/000.00.00.H26/a/b/c"])) }
        #expect(throws: VetoSettingsError.self) { try ProviderVeto(validating: VetoSettings(disabledServices: ["VN/GOV/000.00.00.G22"])) }
        // The holder swaps atomically and reports what it replaced.
        let state = VetoState(ProviderVeto(.init(deniedClients: ["VN/GOV/000.00.00.H26"])))
        let before = state.replace(with: veto)
        #expect(before.deniedClients == ["VN/GOV/000.00.00.H26"] && state.current == veto)
    }
}
