import AsyncHTTPClient
import Foundation
import GRDB
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongTrust
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import Testing

/// "A checkpoint speaks only for its signer" (issue 15 item 3), against a real registry
/// (`RegistryServer.withRunning`, mutual TLS, development PKI, OCSP responder on loopback) with
/// checkpoints made by real audit logs and signed with real member keys.
///
/// Each hostile submission must get its typed status and X-Road error, change nothing (the
/// ledger, every usage table, the receipts' hash chain) and be logged by the registry; the honest
/// servers' checkpoints — including one that carries the refusal of a request naming another
/// member's client, and one that carries the refusal of a request for another member's service —
/// still go through.
@Suite("Checkpoint authority: transport identity, nodes, usage attribution, sums, windows (real registry)", .serialized)
struct CheckpointAuthorityTests {
    static let g22 = "VN/GOV/000.00.00.G22"     // Bộ Công an: provider
    static let h26 = "VN/GOV/000.00.00.H26"     // Hà Nội: consumer
    static let g13 = "VN/GOV/000.00.00.G13"     // Bộ Tư pháp: a third member
    static let providerServer = "\(g22)/ss1"
    static let consumerServer = "\(h26)/ss1"
    static let unregisteredServer = "\(g22)/ss2"
    static let service = "\(g22)/DANCU/tra-cuu-cong-dan"
    static let foreignService = "\(g13)/HOTICH/khai-sinh"
    static let dataset = "\(g22)/datasets/dan-cu"
    static let foreignDataset = "\(g13)/datasets/ho-tich"
    static let motcua = "\(h26)/MOTCUA"
    static let foreignClient = "\(g13)/HOTICH"

    // MARK: - Fixture

    /// The lines a ``CapturingLogHandler`` captured.
    final class LogLines: Sendable {
        let value = Mutex<[String]>([])
    }

    /// Captures what the registry logs (its logger, as given to `RegistryServer`).
    struct CapturingLogHandler: LogHandler {
        let lines: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
                 function: String, line: UInt) {
            let all = self.metadata.merging(metadata ?? [:]) { $1 }
            let text = "\(level) \(message) " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            lines.value.withLock { $0.append(text) }
        }
    }

    /// A client presenting one TLS identity (or none).
    final class Peer: Sendable {
        let http: HTTPClient

        init(pki: DevelopmentPKI, record: IssuedCertificateRecord?) throws {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(pki.url(.rootCertificate).path))
            if let record {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(pki.directory.appendingPathComponent(record.certificatePath).path)
                    .map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: pki.directory.appendingPathComponent(record.keyPath).path, format: .pem))
            }
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
            configuration.connectionPool.retryConnectionEstablishment = false
            http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        }
    }

    struct Answer {
        var status: Int
        var type: String?
        var body: Data
        var text: String { String(decoding: body.prefix(400), as: UTF8.self) }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    enum Who: Hashable, Sendable { case admin, anonymous, server(String) }

    struct Live {
        let port: Int
        let pki: DevelopmentPKI
        let peers: [Who: Peer]
        let dataDirectory: URL
        let logged: LogLines

        func send(_ who: Who, _ method: HTTPMethod, _ path: String, body: [UInt8]? = nil) async throws -> Answer {
            guard let peer = peers[who] else { throw Failure("no client for \(who)") }
            var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)" + path)
            request.method = method
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            let response = try await peer.http.execute(request, timeout: .seconds(60))
            let data = Data(try await response.body.collect(upTo: 16 << 20).readableBytesView)
            return Answer(status: Int(response.status.code), type: response.headers.first(name: "X-Road-Error"), body: data)
        }

        @discardableResult
        func admin(_ method: HTTPMethod, _ path: String, _ body: String, status: Int = 201) async throws -> Answer {
            let answer = try await send(.admin, method, path, body: Array(body.utf8))
            guard answer.status == status else { throw Failure("\(method) \(path): \(answer.status) \(answer.text)") }
            return answer
        }

        /// Posts a checkpoint as `who`.
        func submit(_ who: Who, _ checkpoint: Signed) async throws -> Answer {
            let submission = CheckpointSubmission(body: checkpoint.body, signature: checkpoint.signature, ocsp: nil)
            return try await send(who, .POST, "/checkpoints", body: Array(try JSONEncoder().encode(submission)))
        }

        /// Everything a refused checkpoint could change: the ledger as listed, every usage table's
        /// rows (read from the registry's own SQLite file), and the last receipt.
        func observe() async throws -> [String: String] {
            let listed = try await send(.admin, .GET, "/api/v1/checkpoints?limit=1000")
            guard listed.status == 200 else { throw Failure("GET /api/v1/checkpoints: \(listed.status) \(listed.text)") }
            var observed = ["ledger": String(decoding: listed.body, as: UTF8.self)]
            let database = try DatabaseQueueReader(path: dataDirectory.appendingPathComponent("checkpoints.sqlite").path)
            for (table, digest) in try database.tableDigests() { observed[table] = digest }
            return observed
        }
    }

    /// A checkpoint's canonical bytes and signature.
    struct Signed {
        var checkpoint: AuditCheckpoint
        var body: [UInt8]
        var signature: String
    }

    static func signer(_ pki: DevelopmentPKI, _ record: IssuedCertificateRecord) throws -> DetachedJWS.Signer {
        try DetachedJWS.Signer(
            key: try MessageSigningKey(pemEncoded: try PEMFiles.readText(pki.directory.appendingPathComponent(record.keyPath))),
            chain: try PEMFiles.readCertificates(pki.directory.appendingPathComponent(record.certificatePath)))
    }

    /// Signs `checkpoint` as it is (a forgery is re-signed with the owner's real key: only the
    /// registry's rules can refuse it).
    static func sign(_ checkpoint: AuditCheckpoint, _ signer: DetachedJWS.Signer) throws -> Signed {
        let body = checkpoint.canonicalBytes
        return Signed(checkpoint: checkpoint, body: body, signature: try signer.sign(digest: MessageDigest.sha256(of: body)).compact)
    }

    /// A real audit log of one server and node.
    struct ServerLog {
        let log: AuditLog
        let server: String
        let node: String
        let signer: DetachedJWS.Signer

        init(directory: URL, server: String, node: String = "default", signer: DetachedJWS.Signer) async throws {
            log = try await AuditLog(store: try SQLiteAuditLeafStore(path: directory.appendingPathComponent("\(UUID().uuidString).sqlite").path),
                                     protector: try PersonalDataProtector(key: [UInt8](repeating: 3, count: 32)))
            self.server = server
            self.node = node
            self.signer = signer
        }

        /// Records one exchange.
        func record(_ side: ExchangeSide, client: String?, service: String?, dataset: String? = nil, agreement: String? = nil,
                    refused errorType: String? = nil, id: String) async throws {
            var event = ExchangeEvent(side: side, server: server, method: "GET", startedAt: Date().addingTimeInterval(-0.05))
            event.messageId = id
            event.client = client
            event.service = service
            event.dataset = dataset
            event.agreement = agreement
            event.status = errorType == nil ? 200 : 403
            event.outcome = errorType == nil ? .success : .refused
            event.errorType = errorType
            event.endedAt = Date()
            try await log.record(event)
        }

        /// The next checkpoint, as the log makes it.
        func checkpoint() async throws -> Signed {
            let signer = self.signer
            let stored = try await log.makeCheckpoint(server: server, node: node, at: Date()) { try signer.sign(digest: $0.digest).compact }
            return Signed(checkpoint: try AuditCheckpoint(canonicalBytes: stored.body), body: stored.body, signature: stored.signature)
        }
    }

    /// Starts a PKI, its OCSP responder and a registry whose logger is captured, seeds it, and runs `body`.
    static func withRegistry(_ body: (Live) async throws -> Void) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-ckauth-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let pkiDir = root.appendingPathComponent("pki")
        let pki = try DevelopmentPKI.initialise(at: pkiDir, instance: "VN", ocspURL: nil)
        let admin = try pki.issue(role: .admin, holderId: "VN/GOV/000.00.00.VPCP/quan-tri-07")
        var issued: [Who: Peer] = [.admin: try Peer(pki: pki, record: admin), .anonymous: try Peer(pki: pki, record: nil)]
        for server in [providerServer, consumerServer, unregisteredServer] {
            issued[.server(server)] = try Peer(pki: pki, record: try pki.issue(role: .server, holderId: server))
        }
        for member in [g22, h26, g13] { _ = try pki.issue(role: .member, holderId: member) }
        let tls = try pki.issue(role: .server, holderId: "VN/GOV/000.00.00.VPCP/registry")
        let peers = issued
        let lines = LogLines()
        let logger: Logger = {
            var logger = Logger(label: "test.registry") { _ in CapturingLogHandler(lines: lines) }
            logger.logLevel = .trace
            return logger
        }()
        let clients = peers.values.map(\.http)
        var failure: (any Error)?
        do {
        try await DevelopmentOCSPService(pki: pki).withRunning(host: "127.0.0.1", port: 0) { ocspPort in
            let data = root.appendingPathComponent("data")
            let configuration = RegistryServerConfiguration(
                instance: "VN", port: 0, dataDirectory: data.path, pkiDirectory: pkiDir.path,
                tlsCertificateFile: pkiDir.appendingPathComponent(tls.certificatePath).path,
                tlsKeyFile: pkiDir.appendingPathComponent(tls.keyPath).path,
                ocspURL: "http://127.0.0.1:\(ocspPort)/", configurationValiditySeconds: 7200)
            try await RegistryServer.initialise(dataDirectory: data.path, instance: "VN", adminCertificatePEM: try PEMFiles.readText(
                pkiDir.appendingPathComponent(admin.certificatePath)), name: "Quản trị 07")
            try await RegistryServer(configuration: configuration, logger: logger).withRunning { port in
                let live = Live(port: port, pki: pki, peers: peers, dataDirectory: data, logged: lines)
                try await seed(live)
                try await body(live)
            }
        }
        } catch { failure = error }
        for client in clients { try? await client.shutdown() }
        if let failure { throw failure }
    }

    static func json(_ text: String) -> String { String(decoding: (try? JSONEncoder().encode(text)) ?? Data(), as: UTF8.self) }

    /// Three members; G22's and H26's servers (declaring node `default`); a service and dataset
    /// each for G22 and G13; agreements AG-000001 (G22's dataset to H26/MOTCUA), AG-000002
    /// (G13's dataset to H26/MOTCUA) and AG-000003 (G22's dataset to G13/HOTICH).
    static func seed(_ live: Live) async throws {
        for (id, name, kind) in [(g22, "Bộ Công an", "ministry"), (h26, "UBND Thành phố Hà Nội", "province"), (g13, "Bộ Tư pháp", "ministry")] {
            try await live.admin(.POST, "/api/v1/members", #"{"id":"\#(id)","name":"\#(name)","kind":"\#(kind)"}"#)
        }
        for id in ["\(g22)/DANCU", motcua, foreignClient] {
            try await live.admin(.POST, "/api/v1/subsystems", #"{"id":"\#(id)"}"#)
        }
        for (server, port) in [(providerServer, 5500), (consumerServer, 5501)] {
            let record = try #require(try live.pki.records().first { $0.holderId == server && $0.role == .server })
            let pem = try PEMFiles.readText(live.pki.directory.appendingPathComponent(record.certificatePath))
            try await live.admin(.POST, "/api/v1/servers",
                                 #"{"id":"\#(server)","address":"127.0.0.1:\#(port)","tls_certificate":\#(json(pem)),"nodes":["default"]}"#)
        }
        for id in [service, foreignService] {
            try await live.admin(.POST, "/api/v1/services", #"{"id":"\#(id)","endpoints":[{"method":"GET","path":"/v1/{id}"}]}"#)
        }
        for (id, services) in [(dataset, service), (foreignDataset, foreignService)] {
            try await live.admin(.POST, "/api/v1/datasets", #"{"id":"\#(id)","name_vi":"Dữ liệu","name_en":"Data","classification":"confidential","personal_data":true,"legal_basis":"Nghị định 47/2020/NĐ-CP","services":["\#(services)"]}"#)
        }
        for (dataset, services, consumer) in [(dataset, service, motcua), (foreignDataset, foreignService, motcua), (dataset, service, foreignClient)] {
            try await live.admin(.POST, "/api/v1/agreements", #"{"dataset":"\#(dataset)","services":["\#(services)"],"consumer":"\#(consumer)","purposes":["1.004227"],"legal_basis":"Nghị định 47/2020/NĐ-CP","valid_from":"2025-01-01T00:00:00Z","valid_until":"2035-01-01T00:00:00Z"}"#)
        }
    }

    /// `checkpoint` with its usage replaced (the record count stays what the tree says).
    static func withUsage(_ checkpoint: AuditCheckpoint, _ change: (inout [UsageCounter]) -> Void) -> AuditCheckpoint {
        var copy = checkpoint
        var usage = checkpoint.usage
        change(&usage)
        copy.usage = usage.sorted { $0.key < $1.key }
        return copy
    }

    /// A counter of `count` records of 50 ms.
    static func counter(_ key: UsageCounter.Key, count: Int) -> UsageCounter {
        var counter = UsageCounter(key: key)
        for _ in 0..<count { counter.add(durationMilliseconds: 50) }
        return counter
    }

    // MARK: - The test

    @Test("each hostile checkpoint gets its typed status, changes nothing and is logged; honest ones go through")
    func aCheckpointSpeaksOnlyForItsSigner() async throws {
        try await Self.withRegistry { live in
            typealias S = CheckpointAuthorityTests
            let directory = live.dataDirectory.deletingLastPathComponent().appendingPathComponent("logs")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let g22Signer = try S.signer(live.pki, try #require(try live.pki.records().first { $0.holderId == S.g22 && $0.role == .member }))
            let h26Signer = try S.signer(live.pki, try #require(try live.pki.records().first { $0.holderId == S.h26 && $0.role == .member }))
            let provider = Who.server(S.providerServer), consumer = Who.server(S.consumerServer)

            // The provider's log: two calls of its own service under AG-000001, and the refusal of
            // a request for another member's service (misrouted or hostile).
            let providerLog = try await ServerLog(directory: directory, server: S.providerServer, signer: g22Signer)
            for i in 0..<2 {
                try await providerLog.record(.provider, client: S.motcua, service: S.service, dataset: S.dataset, agreement: "AG-000001", id: "p\(i)")
            }
            try await providerLog.record(.provider, client: S.motcua, service: S.foreignService, refused: "Server.ServerProxy.UnknownService", id: "p-foreign")
            let provider0 = try await providerLog.checkpoint()
            // The consumer's log: two calls by its own client, and the refusal of a request naming
            // another member's client ("not a local client").
            let consumerLog = try await ServerLog(directory: directory, server: S.consumerServer, signer: h26Signer)
            for i in 0..<2 {
                try await consumerLog.record(.consumer, client: S.motcua, service: S.service, dataset: S.dataset, agreement: "AG-000001", id: "c\(i)")
            }
            try await consumerLog.record(.consumer, client: S.foreignClient, service: S.service, refused: "Server.ClientProxy.UnknownClient", id: "c-foreign")
            let consumer0 = try await consumerLog.checkpoint()

            // Forgeries of the provider's checkpoint 0, each re-signed with G22's real key.
            let window = UsageCounter.window(containing: provider0.checkpoint.windowEnd)
            func key(_ side: ExchangeSide, window: AuditTimestamp = window, client: String? = S.motcua, service: String?, dataset: String?,
                     agreement: String?) -> UsageCounter.Key {
                UsageCounter.Key(side: side, window: window, client: client, service: service, dataset: dataset, agreement: agreement,
                                 outcome: .success, errorType: nil)
            }
            let foreignProviderUsage = try S.sign(S.withUsage(provider0.checkpoint) { usage in
                usage = [S.counter(key(.provider, service: S.service, dataset: S.dataset, agreement: "AG-000001"), count: 1),
                         S.counter(key(.provider, service: S.foreignService, dataset: S.foreignDataset, agreement: "AG-000002"), count: 2)]
            }, g22Signer)
            let foreignDatasetUsage = try S.sign(S.withUsage(provider0.checkpoint) { usage in
                usage = [S.counter(key(.provider, service: nil, dataset: S.foreignDataset, agreement: nil), count: 3)]
            }, g22Signer)
            let inflated = try S.sign(S.withUsage(provider0.checkpoint) { usage in
                usage = [S.counter(key(.provider, service: S.service, dataset: S.dataset, agreement: "AG-000001"), count: 1_000)]
            }, g22Signer)
            let short = try S.sign(S.withUsage(provider0.checkpoint) { usage in
                usage = [S.counter(key(.provider, service: S.service, dataset: S.dataset, agreement: "AG-000001"), count: 1)]
            }, g22Signer)
            let future = AuditTimestamp(millisecondsSince1970: window.millisecondsSince1970 + 86_400_000) ?? window
            let futureWindow = try S.sign(S.withUsage(provider0.checkpoint) { usage in
                usage = [S.counter(key(.provider, window: future, service: S.service, dataset: S.dataset, agreement: "AG-000001"), count: 3)]
            }, g22Signer)
            let past = AuditTimestamp(millisecondsSince1970: window.millisecondsSince1970 - 3 * 86_400_000) ?? window
            let oldWindow = try S.sign(S.withUsage(provider0.checkpoint) { usage in
                usage = [S.counter(key(.provider, window: past, service: S.service, dataset: S.dataset, agreement: "AG-000001"), count: 3)]
            }, g22Signer)
            var postdated = provider0.checkpoint
            postdated.windowEnd = AuditTimestamp(millisecondsSince1970: provider0.checkpoint.windowEnd.millisecondsSince1970 + 86_400_000) ?? window
            let futureEnd = try S.sign(postdated, g22Signer)
            // A fresh node nobody declared: a new chain from sequence 0.
            let otherNodeLog = try await ServerLog(directory: directory, server: S.providerServer, node: "nut-moi", signer: g22Signer)
            try await otherNodeLog.record(.provider, client: S.motcua, service: S.service, dataset: S.dataset, agreement: "AG-000001", id: "n0")
            let undeclared = try await otherNodeLog.checkpoint()

            let hostile: [(label: String, who: Who, checkpoint: Signed, status: Int, type: String)] = [
                ("no client certificate", .anonymous, provider0, 401, "Client.Unauthenticated"),
                ("an administrator's certificate", .admin, provider0, 403, "Client.Forbidden"),
                ("another server's certificate", consumer, provider0, 403, "Client.Forbidden"),
                ("a valid but unregistered server certificate", .server(S.unregisteredServer), provider0, 403, "Client.Forbidden"),
                ("provider-side counters for another member's service", provider, foreignProviderUsage, 403, "Client.Forbidden"),
                ("provider-side counters for another member's dataset", provider, foreignDatasetUsage, 403, "Client.Forbidden"),
                ("an undeclared node", provider, undeclared, 403, "Client.Forbidden"),
                ("counters that add up to more than the window's records", provider, inflated, 400, "Client.BadRequest"),
                ("counters that add up to fewer than the window's records", provider, short, 400, "Client.BadRequest"),
                ("a counter window in the future", provider, futureWindow, 400, "Client.BadRequest"),
                ("a counter window before the checkpoint's window", provider, oldWindow, 400, "Client.BadRequest"),
                ("a checkpoint window ending in the future", provider, futureEnd, 400, "Client.BadRequest"),
            ]
            try await expectRefused(live, hostile)

            // The honest checkpoints go through, refusals of foreign names included.
            for (who, made) in [(provider, provider0), (consumer, consumer0)] {
                let answer = try await live.submit(who, made)
                #expect(answer.status == 201, "honest checkpoint 0 of \(made.checkpoint.server): \(answer.status) \(answer.text)")
            }

            // Checkpoint 1 of each, and hostile variants of them.
            try await providerLog.record(.provider, client: S.motcua, service: S.service, dataset: S.dataset, agreement: "AG-000001", id: "p9")
            let provider1 = try await providerLog.checkpoint()
            try await consumerLog.record(.consumer, client: S.motcua, service: S.service, dataset: S.dataset, agreement: "AG-000001", id: "c9")
            let consumer1 = try await consumerLog.checkpoint()
            var overlapping = provider1.checkpoint
            overlapping.windowStart = AuditTimestamp(millisecondsSince1970: provider0.checkpoint.windowEnd.millisecondsSince1970 - 60_000) ?? window
            let forgedClient = try S.sign(S.withUsage(consumer1.checkpoint) { usage in
                // Makes AG-000003 (G22 → G13/HOTICH), which nobody used, look used by G13's client.
                usage = [S.counter(key(.consumer, window: usage[0].key.window, client: S.foreignClient, service: S.service,
                                       dataset: S.dataset, agreement: "AG-000003"), count: 1)]
            }, h26Signer)
            let foreignAgreement = try S.sign(S.withUsage(consumer1.checkpoint) { usage in
                // Its own client, but an agreement of another consumer.
                usage = [S.counter(key(.consumer, window: usage[0].key.window, client: S.motcua, service: S.service,
                                       dataset: S.dataset, agreement: "AG-000003"), count: 1)]
            }, h26Signer)
            try await expectRefused(live, [
                ("a window overlapping the previous checkpoint's", provider, try S.sign(overlapping, g22Signer), 409, "Client.CheckpointConflict"),
                ("consumer-side counters for another member's client", consumer, forgedClient, 403, "Client.Forbidden"),
                ("consumer-side counters under another consumer's agreement", consumer, foreignAgreement, 403, "Client.Forbidden"),
            ])

            // The receipts' chain continues from where it was: registry sequences 3 and 4.
            for (who, made, sequence) in [(provider, provider1, UInt64(3)), (consumer, consumer1, 4)] {
                let answer = try await live.submit(who, made)
                #expect(answer.status == 201, "honest checkpoint 1 of \(made.checkpoint.server): \(answer.status) \(answer.text)")
                let response = try JSONDecoder().decode(CheckpointReceiptResponse.self, from: answer.body)
                let receipt = try CheckpointReceipt(canonicalBytes: try #require(Base64URL.decode(response.receipt)))
                #expect(receipt.registrySequence == sequence)
            }
        }
    }

    @Test("declared nodes: validated when a server is registered, [\"default\"] when omitted or stored before the field")
    func nodesAreDeclaredAndValidated() async throws {
        try await Self.withRegistry { live in
            typealias S = CheckpointAuthorityTests
            let record = try live.pki.issue(role: .server, holderId: "\(S.g22)/ss3")
            let pem = S.json(try PEMFiles.readText(live.pki.directory.appendingPathComponent(record.certificatePath)))
            let body = { (nodes: String) in #"{"id":"\#(S.g22)/ss3","address":"127.0.0.1:5503","tls_certificate":\#(pem),"nodes":\#(nodes)}"# }
            let before = try await live.send(.admin, .GET, "/api/v1/servers")
            for nodes in ["[]", "[\"\"]", "[\"a b\"]", "[\"x\",\"x\"]", "[\"\(String(repeating: "n", count: 65))\"]", "[\"a/b\"]", "[\"a\\u0000\"]",
                          "[" + (0..<17).map { "\"n\($0)\"" }.joined(separator: ",") + "]", "\"default\"", "[1]"] {
                let answer = try await live.send(.admin, .POST, "/api/v1/servers", body: Array(body(nodes).utf8))
                #expect(answer.status == 400 && answer.type == "Client.BadRequest", "nodes \(nodes): \(answer.status) \(answer.text)")
            }
            let after = try await live.send(.admin, .GET, "/api/v1/servers")
            #expect(after.body == before.body, "a refused registration changes nothing")
            // Two declared nodes are kept as given; the seeded servers, registered with ["default"], read back so.
            try await live.admin(.POST, "/api/v1/servers", body(#"["nut-1","nut_2.hn"]"#))
            let servers = try RegistryJSONCoder.decoder().decode([SecurityServer].self, from: try await live.send(.admin, .GET, "/api/v1/servers").body)
            #expect(servers.first { $0.id.canonical == "\(S.g22)/ss3" }?.nodes == ["nut-1", "nut_2.hn"])
            #expect(servers.first { $0.id.canonical == S.providerServer }?.nodes == ["default"])
        }
        // A record stored before the field existed reads as the default node.
        let old = #"{"id":"VN/GOV/000.00.00.G22/ss1","address":"10.0.0.5:5500","tls_certificate":"","tls_certificate_sha256":"\#(String(repeating: "0", count: 64))","created_at":"2025-01-01T00:00:00Z"}"#
        let decoded = try RegistryJSONCoder.decoder().decode(SecurityServer.self, from: Data(old.utf8))
        #expect(decoded.nodes == ["default"])
        let omitted = try RegistryJSONCoder.decoder().decode(NewSecurityServer.self, from: Data(#"{"id":"VN/GOV/000.00.00.G22/ss1","address":"10.0.0.5:5500","tls_certificate":""}"#.utf8))
        #expect(omitted.nodes == nil)
    }

    /// Submits each hostile checkpoint; checks its status and type, that nothing changed, and
    /// that the registry logged the refusal (bounded text).
    func expectRefused(_ live: Live, _ cases: [(label: String, who: Who, checkpoint: Signed, status: Int, type: String)]) async throws {
        var before = try await live.observe()
        for hostile in cases {
            let logged = live.logged.value.withLock { $0.count }
            let answer = try await live.submit(hostile.who, hostile.checkpoint)
            #expect(answer.status == hostile.status && answer.type == hostile.type,
                    "\(hostile.label): \(answer.status) \(answer.type ?? "-") \(answer.text)")
            let lines = live.logged.value.withLock { Array($0.dropFirst(logged)) }
            #expect(lines.contains { $0.contains("checkpoint refused") && $0.contains("\(hostile.status)") },
                    "\(hostile.label): the registry logged \(lines)")
            #expect(lines.allSatisfy { $0.utf8.count <= 2_000 }, "\(hostile.label): a log line is not bounded")
            let after = try await live.observe()
            for key in before.keys.sorted() where before[key] != after[key] {
                Issue.record("\(hostile.label): \(key) changed")
            }
            before = after
        }
    }
}

/// Reads the registry's checkpoint database (a real SQLite file in WAL mode) read-only.
struct DatabaseQueueReader {
    let path: String

    init(path: String) throws { self.path = path }

    /// Per table, a digest of all its rows in order.
    func tableDigests() throws -> [String: String] {
        var configuration = GRDB.Configuration()
        configuration.readonly = true
        let queue = try GRDB.DatabasePool(path: path, configuration: configuration)
        return try queue.read { db in
            var digests: [String: String] = [:]
            for table in ["checkpoints", "usage_windows", "usage_daily", "usage_monthly", "usage_reconciliation", "usage_last",
                          "checkpoint_heads", "checkpoint_days"] {
                let rows = try GRDB.Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY 1, 2")
                digests[table] = MessageDigest.sha256(of: Array(rows.map { $0.description }.joined(separator: "\n").utf8)).hex
            }
            return digests
        }
    }
}
