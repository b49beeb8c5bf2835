import AsyncHTTPClient
import Foundation
import LienThongAudit
import LienThongAuditPostgres
import Logging
import LienThongCore
import LienThongRegistry
import LienThongServer
import LienThongTrust
import LienThongTestSupport
import NIOCore
import NIOHTTP1
import Testing

/// Audit logs checkpointed to the real registry: both servers of an exchange write durable SQLite
/// logs, sign checkpoints every second, get them countersigned, and both logs verify offline
/// against the root CA with every record covered; a server whose checkpoints cannot be
/// countersigned refuses exchanges once past its limit.
@Suite("Audit checkpoints end to end", .serialized)
struct AuditCheckpointEndToEndTests {
    typealias N = ExchangeNetwork

    struct Entry: Decodable {
        let server: String
        let sequence: UInt64
        let treeSize: UInt64
        let records: UInt64
    }

    /// Polls until every record of the log at `path` is covered by a countersigned checkpoint.
    func waitUntilCountersigned(_ path: String, records: UInt64) async throws -> AuditVerificationReport? {
        for _ in 0..<100 {
            let store = try SQLiteAuditLeafStore(path: path)
            let checkpoints = try await store.checkpoints(from: 0)
            if let last = checkpoints.last(where: { $0.receipt != nil }), last.treeSize >= records, try await store.count() == last.treeSize {
                return try await AuditLogVerifier.verify(store, anchors: nil)
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }

    @Test func bothSidesCheckpointToTheRegistryAndVerifyOffline() async throws {
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        let http = ClientCaller.makeHTTPClient()
        defer { _ = http.shutdown() }
        let caller = ClientCaller(http: http)
        let motCua = "\(N.consumer)/MOTCUA"

        try await N.withBackend(BackendLog()) { backendPort in
            try await network.withInfrastructure(checkpointIntervalSeconds: 1) { network in
                let ports = ["\(N.provider)/ss1": try await N.freePort(), "\(N.consumer)/ss1": try await N.freePort()]
                try await network.register(serverPorts: ports)
                let provider = LienThongSecurityServer(configuration: try network.configuration(
                    server: "\(N.provider)/ss1", member: N.provider, interServerPort: ports["\(N.provider)/ss1"] ?? 0,
                    services: [.init(id: N.lookup, backendURL: "http://127.0.0.1:\(backendPort)/api")]))
                var consumerConfiguration = try network.configuration(
                    server: "\(N.consumer)/ss1", member: N.consumer, interServerPort: ports["\(N.consumer)/ss1"] ?? 0, clients: [motCua])
                consumerConfiguration.audit.checkpointFailureLimitSeconds = 30
                let consumer = LienThongSecurityServer(configuration: consumerConfiguration)
                // Not registered: the registry refuses its checkpoints, so after 2 s it must refuse exchanges.
                var orphanConfiguration = try network.configuration(
                    server: "\(N.consumer)/ss7", member: N.consumer, interServerPort: try await N.freePort(), clients: [motCua])
                orphanConfiguration.audit.checkpointFailureLimitSeconds = 2

                try await provider.withRunning { _ in
                    try await consumer.withRunning { consumerPorts in
                        for i in 0..<12 {
                            let answer = try await caller.call(consumerPorts.client, .GET, "/r1/\(N.lookup)/cong-dan/00109900\(String(format: "%04d", i))",
                                                               headers: [("X-Road-Client", motCua), ("X-LienThong-Purpose", N.purpose),
                                                                         ("X-Road-Id", "e2e-\(i)")])
                            #expect(answer.status == 200, "\(answer.text)")
                        }
                        let refused = try await caller.call(consumerPorts.client, .GET, "/r1/\(N.lookup)/x",
                                                            headers: [("X-Road-Client", motCua), ("X-LienThong-Purpose", "sai-muc-dich"),
                                                                      ("X-Road-Id", "e2e-refused")])
                        #expect(refused.status != 200)
                        // A request naming another member's subsystem: refused and recorded as
                        // claimed, but counted without the foreign client, so the registry still
                        // countersigns the consumer's checkpoints (docs/audit-checkpoints.md §Attribution).
                        let foreign = try await caller.call(consumerPorts.client, .GET, "/r1/\(N.lookup)/x",
                                                            headers: [("X-Road-Client", "\(N.justice)/HOTICH"), ("X-LienThong-Purpose", N.purpose),
                                                                      ("X-Road-Id", "e2e-foreign-client")])
                        #expect(foreign.status != 200, "\(foreign.text)")

                        let providerLog = provider.configuration.dataDirectory + "/audit.sqlite"
                        let consumerLog = consumer.configuration.dataDirectory + "/audit.sqlite"
                        let providerReport = try await waitUntilCountersigned(providerLog, records: 12)
                        let consumerReport = try await waitUntilCountersigned(consumerLog, records: 14)
                        #expect(providerReport?.treeHead.treeSize == 12, "provider log: \(String(describing: providerReport))")
                        #expect(consumerReport?.treeHead.treeSize == 14, "the refusals are logged too: \(String(describing: consumerReport))")
                        #expect(consumerReport?.uncheckpointedRecords == 0)
                        for path in [providerLog, consumerLog] {
                            let report = try await AuditLogVerifier.verify(try SQLiteAuditLeafStore(path: path), anchors: [network.pki.rootCertificate])
                            #expect(report.receipts >= 1 && report.checkpoints >= report.receipts)
                        }
                        // The consumer's usage counters add up to what it did: 12 successes, 2
                        // refusals; none names the foreign client, which the record keeps.
                        var outcomes: [ExchangeOutcome: UInt64] = [:]
                        for stored in try await SQLiteAuditLeafStore(path: consumerLog).checkpoints(from: 0) {
                            for counter in try AuditCheckpoint(canonicalBytes: stored.body).usage {
                                outcomes[counter.key.outcome, default: 0] += counter.count
                                #expect(counter.key.client == nil || counter.key.client == motCua, "\(counter.key)")
                            }
                        }
                        #expect(outcomes == [.success: 12, .refused: 2])
                        let foreignRecord = try await EvidenceExporter.evidence(for: "e2e-foreign-client", in: try SQLiteAuditLeafStore(path: consumerLog))
                        let foreignEvidence = try #require(foreignRecord.first)
                        let foreignBytes = try #require(Base64URL.decode(foreignEvidence.record))
                        #expect(try AuditRecord(canonicalBytes: foreignBytes).client == "\(N.justice)/HOTICH", "the record keeps what was claimed")

                        // Evidence of one exchange from both logs verifies with only the root CA.
                        let anchors = [network.pki.rootCertificate]
                        var evidence: [EvidenceRecord] = []
                        for path in [consumerLog, providerLog] {
                            evidence += try await EvidenceExporter.evidence(for: "e2e-5", in: try SQLiteAuditLeafStore(path: path))
                        }
                        let bundle = EvidenceBundle(exchange: "e2e-5", createdAt: Date(), records: evidence)
                        #expect(bundle.records.map(\.side) == [.consumer, .provider])
                        let report = try await EvidenceVerifier.verify(bundle, anchors: anchors)
                        #expect(report.warnings.isEmpty, "\(report.warnings)")
                        #expect(report.checks.contains { $0.contains("not revoked") }, "OCSP evidence is checked: \(report.checks)")
                        #expect(report.checks.last?.contains("response") == true, "both sides agree on the response: \(report.checks)")
                        let encoder = JSONEncoder()
                        let schemaCheck = try await JSONSchemaCheck.validate([
                            (schema: "schemas/evidence-bundle.schema.json", document: Array(try encoder.encode(bundle))),
                            (schema: "schemas/audit-checkpoint.schema.json", document: Base64URL.decode(bundle.records[0].checkpoint) ?? []),
                            (schema: "schemas/audit-checkpoint-receipt.schema.json", document: Base64URL.decode(bundle.records[0].receipt ?? "") ?? []),
                            (schema: "schemas/audit-record.schema.json", document: Base64URL.decode(bundle.records[0].record) ?? []),
                        ])
                        #expect(schemaCheck.status == 0, "\(schemaCheck.output)")

                        // Any change to the bundle is caught and named.
                        var changedRecord = bundle
                        let original = Base64URL.decode(changedRecord.records[1].record) ?? []
                        changedRecord.records[1].record = Base64URL.encode(Array(String(decoding: original, as: UTF8.self)
                            .replacingOccurrences(of: "\"status\":200", with: "\"status\":500").utf8))
                        var shortProof = bundle
                        shortProof.records[0].inclusionProof.removeLast()
                        var otherCheckpoint = bundle
                        otherCheckpoint.records[0].checkpointSignature = bundle.records[1].checkpointSignature
                        for (name, forged, words) in [("changed provider record", changedRecord, "provider record"),
                                                      ("truncated proof", shortProof, "inclusion proof"),
                                                      ("swapped checkpoint signature", otherCheckpoint, "consumer record")] {
                            do {
                                _ = try await EvidenceVerifier.verify(forged, anchors: anchors)
                                Issue.record("\(name): the bundle verified")
                            } catch {
                                #expect("\(error)".contains(words), "\(name): \(error)")
                            }
                        }
                        let refusal = try await EvidenceExporter.evidence(for: "e2e-refused", in: try SQLiteAuditLeafStore(path: consumerLog))
                        let refusalReport = try await EvidenceVerifier.verify(EvidenceBundle(exchange: "e2e-refused", createdAt: Date(), records: refusal),
                                                                              anchors: anchors)
                        #expect(refusalReport.records.first?.outcome == .refused)

                        // The registry holds both servers' checkpoints.
                        let admin = try await network.registeredActor(.admin, "VN/GOV/000.00.00.VPCP/kiem-tra", as: .instanceAdmin)
                        let api = try RegistryAPIClient(baseURL: network.registryURL, certificateFile: network.path(admin),
                                                        keyFile: network.path(admin, key: true), caFile: network.pki.url(.rootCertificate).path)
                        let entries: [Entry] = try await api.get("/api/v1/checkpoints?limit=1000")
                        try await api.shutdown()
                        #expect(Set(entries.map(\.server)) == ["\(N.provider)/ss1", "\(N.consumer)/ss1"])
                        #expect(entries.filter { $0.server == "\(N.provider)/ss1" }.reduce(0) { $0 + $1.records } >= 12)
                    }
                }

                // Fail closed: checkpoints that the registry will not countersign stop exchanges.
                try await LienThongSecurityServer(configuration: orphanConfiguration).withRunning { ports in
                    try await Task.sleep(for: .seconds(3.5))
                    let answer = try await caller.call(ports.client, .GET, "/r1/\(N.lookup)/x",
                                                       headers: [("X-Road-Client", motCua), ("X-LienThong-Purpose", N.purpose)])
                    #expect(answer.errorType == "Server.ClientProxy.LoggingFailed", "\(answer.status) \(answer.text)")
                    #expect(answer.text.contains("countersigned"), "\(answer.text)")
                }
            }
        }
    }

    /// The provider keeps its audit log in a real PostgreSQL database (its own partition), and
    /// the log is checkpointed and verifies like the SQLite one.
    @Test func aServerLogsToPostgreSQL() async throws {
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        defer { _ = http.shutdown() }
        let caller = ClientCaller(http: http)
        let motCua = "\(N.consumer)/MOTCUA"
        try await withPostgres { url in
            try await N.withBackend(BackendLog()) { backendPort in
                try await network.withInfrastructure(checkpointIntervalSeconds: 1) { network in
                    let ports = ["\(N.provider)/ss1": try await N.freePort(), "\(N.consumer)/ss1": try await N.freePort()]
                    try await network.register(serverPorts: ports)
                    var providerConfiguration = try network.configuration(
                        server: "\(N.provider)/ss1", member: N.provider, interServerPort: ports["\(N.provider)/ss1"] ?? 0,
                        services: [.init(id: N.lookup, backendURL: "http://127.0.0.1:\(backendPort)/api")])
                    providerConfiguration.audit.postgresURL = url
                    let consumer = LienThongSecurityServer(configuration: try network.configuration(
                        server: "\(N.consumer)/ss1", member: N.consumer, interServerPort: ports["\(N.consumer)/ss1"] ?? 0, clients: [motCua]))
                    try await LienThongSecurityServer(configuration: providerConfiguration).withRunning { _ in
                        try await consumer.withRunning { consumerPorts in
                            for i in 0..<5 {
                                let answer = try await caller.call(consumerPorts.client, .GET, "/r1/\(N.lookup)/pg-\(i)",
                                                                   headers: [("X-Road-Client", motCua), ("X-LienThong-Purpose", N.purpose)])
                                #expect(answer.status == 200, "\(answer.text)")
                            }
                            // Wait for a countersigned checkpoint covering all five records.
                            var logger = Logger(label: "test")
                            logger.logLevel = .critical
                            var report: AuditVerificationReport?
                            for _ in 0..<50 {
                                report = try await PostgresAuditLeafStore.withStore(
                                    configuration: try .init(url: url), node: "\(N.provider)/ss1/default", logger: logger) { store in
                                    try await AuditLogVerifier.verify(store, anchors: [network.pki.rootCertificate])
                                }
                                if let report, report.treeHead.treeSize == 5, report.uncheckpointedRecords == 0, report.receipts == report.checkpoints { break }
                                try await Task.sleep(for: .milliseconds(200))
                            }
                            #expect(report?.treeHead.treeSize == 5 && report?.uncheckpointedRecords == 0, "\(String(describing: report))")
                            #expect(!FileManager.default.fileExists(atPath: providerConfiguration.dataDirectory + "/audit.sqlite"),
                                    "no SQLite log when PostgreSQL is configured")
                        }
                    }
                }
            }
        }
    }
}
