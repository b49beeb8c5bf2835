import AsyncHTTPClient
import Crypto
import Foundation
import Hummingbird
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongServer
import LienThongTrust
import Logging
import ServiceLifecycle
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import SwiftASN1
import X509

/// A backend that answers every call with what it received, and counts calls.
actor BackendLog {
    private(set) var calls: [(method: String, target: String, headers: [String: String], bytes: Int)] = []
    var count: Int { calls.count }
    func add(method: String, target: String, headers: [String: String], bytes: Int) {
        calls.append((method, target, headers, bytes))
    }
}

/// A whole LienThong network on loopback for end-to-end tests: a development PKI, the OCSP
/// responder, the registry (set up through its API), a backend, and security servers.
struct ExchangeNetwork {
    static let provider = "VN/GOV/000.00.00.G22"     // Bộ Công an
    static let consumer = "VN/GOV/000.00.00.H26"     // Hà Nội
    static let justice = "VN/GOV/000.00.00.G13"      // Bộ Tư pháp: registered, its server is down
    static let lookup = "\(provider)/DANCU/tra-cuu-cong-dan"
    static let slow = "\(provider)/DANCU/cham"
    static let vetoed = "\(provider)/DANCU/khoa"
    static let lapsed = "\(provider)/DANCU/het-han"
    static let civil = "\(justice)/HOTICH/khai-sinh"
    static let purpose = "1.004227"
    static let ocspFreshness = 3

    let directory: URL
    let pki: DevelopmentPKI
    var ocspURL = ""
    var registryURL = ""

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        pki = try DevelopmentPKI.initialise(at: directory.appendingPathComponent("pki"), instance: "VN", ocspURL: nil)
    }

    func path(_ record: IssuedCertificateRecord, key: Bool = false) -> String {
        pki.directory.appendingPathComponent(key ? record.keyPath : record.certificatePath).path
    }

    /// SHA-256 (lower-case hex) of the DER of the PEM certificate at `path`.
    static func pin(of path: String) throws -> String {
        let certificate = try PEMFiles.readCertificate(URL(fileURLWithPath: path))
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return SHA256.hash(data: serializer.serializedBytes).map { String(format: "%02x", $0) }.joined()
    }

    /// A free loopback port (bound, read, released).
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }

    /// Runs the OCSP responder and the registry while `body` runs.
    /// Runs the OCSP responder and the registry while `body` runs; with `evidenceRelay` the
    /// registry gets an auditor certificate to fetch evidence from the servers.
    /// `ocspFreshnessSeconds` is the freshness limit the registry publishes: tests that move a
    /// server's clock forward need more than the default 3 s.
    func withInfrastructure<T: Sendable>(checkpointIntervalSeconds: Int = 60, evidenceRelay: Bool = false,
                                         ocspFreshnessSeconds: Int = Self.ocspFreshness,
                                         _ body: (ExchangeNetwork) async throws -> T) async throws -> T {
        try await DevelopmentOCSPService(pki: pki).withRunning(host: "127.0.0.1", port: 0) { ocspPort in
            let tls = try pki.issue(role: .server, holderId: "VN/GOV/000.00.00.VPCP/registry")
            let relay = evidenceRelay ? try pki.issue(role: .auditor, holderId: "VN/GOV/000.00.00.VPCP/registry-evidence-relay") : nil
            let configuration = RegistryServerConfiguration(
                instance: "VN", port: 0, dataDirectory: directory.appendingPathComponent("registry").path, pkiDirectory: pki.directory.path,
                tlsCertificateFile: path(tls), tlsKeyFile: path(tls, key: true), ocspURL: "http://127.0.0.1:\(ocspPort)/",
                ocspFreshnessSeconds: ocspFreshnessSeconds, checkpointIntervalSeconds: checkpointIntervalSeconds,
                evidenceCertificateFile: relay.map { path($0) }, evidenceKeyFile: relay.map { path($0, key: true) })
            // The first instance administrator, registered before the registry starts.
            try await RegistryServer.initialise(
                dataDirectory: configuration.dataDirectory, instance: "VN",
                adminCertificatePEM: try PEMFiles.readText(URL(fileURLWithPath: path(try administrator()))), name: "Quản trị 01")
            return try await RegistryServer(configuration: configuration).withRunning { registryPort in
                var network = self
                network.ocspURL = "http://127.0.0.1:\(ocspPort)/"
                network.registryURL = "https://127.0.0.1:\(registryPort)"
                // The relay reads evidence from the servers: a registered auditor, as in the demo.
                if let relay { try await network.register(relay, as: .auditor) }
                return try await body(network)
            }
        }
    }

    /// The instance administrator's certificate (`quan-tri-01`), registered when the registry is
    /// initialised.
    func administrator() throws -> IssuedCertificateRecord {
        if let existing = try pki.records().first(where: { $0.role == .admin && $0.holderId == "VN/GOV/000.00.00.VPCP/quan-tri-01" && $0.revokedAt == nil }) {
            return existing
        }
        return try pki.issue(role: .admin, holderId: "VN/GOV/000.00.00.VPCP/quan-tri-01")
    }

    /// Issues a certificate of the development PKI (`certificateRole`) and registers it at the
    /// running registry for `role` (and `member`), as the instance administrator does.
    func registeredActor(_ certificateRole: CertificateRole, _ holderId: String, as role: ActorRole,
                         member: String? = nil) async throws -> IssuedCertificateRecord {
        let record = try pki.issue(role: certificateRole, holderId: holderId)
        try await register(record, as: role, member: member)
        return record
    }

    /// Registers an issued certificate at the running registry for `role` (and `member`), as the
    /// instance administrator does.
    func register(_ record: IssuedCertificateRecord, as role: ActorRole, member: String? = nil) async throws {
        let holderId = record.holderId
        let admin = try administrator()
        let api = try RegistryAPIClient(baseURL: registryURL, certificateFile: path(admin), keyFile: path(admin, key: true),
                                        caFile: pki.url(.rootCertificate).path)
        let result: Result<Void, any Error>
        do {
            _ = try await api.register(certificateFile: path(record), role: role, member: try member.map { try MemberId(parsing: $0) }, name: holderId)
            result = .success(())
        } catch { result = .failure(error) }
        try await api.shutdown()
        try result.get()
    }

    /// Registers members, subsystems, servers (with the given inter-server ports), services, datasets and agreements.
    func register(serverPorts: [String: Int]) async throws {
        let admin = try administrator()
        let api = try RegistryAPIClient(baseURL: registryURL, certificateFile: path(admin), keyFile: path(admin, key: true),
                                        caFile: pki.url(.rootCertificate).path)
        do {
            for (id, name, kind) in [(Self.provider, "Bộ Công an", MemberKind.ministry), (Self.consumer, "UBND Thành phố Hà Nội", .province),
                                     (Self.justice, "Bộ Tư pháp", .ministry)] {
                let _: Member = try await api.post("/api/v1/members", NewMember(id: try MemberId(parsing: id), name: name, kind: kind))
            }
            for id in ["\(Self.provider)/DANCU", "\(Self.consumer)/MOTCUA", "\(Self.consumer)/THONGKE", "\(Self.consumer)/DVC", "\(Self.justice)/HOTICH"] {
                let _: Subsystem = try await api.post("/api/v1/subsystems", NewSubsystem(id: try SubsystemId(parsing: id)))
            }
            for (server, port) in serverPorts.sorted(by: { $0.key < $1.key }) {
                let record = try tlsRecord(server)
                let pem = try PEMFiles.readText(URL(fileURLWithPath: path(record)))
                let _: Created = try await api.post("/api/v1/servers", NewSecurityServer(
                    id: try SecurityServerId(parsing: server), address: "127.0.0.1:\(port)", tlsCertificate: pem, nodes: ["default"]))
            }
            let any = [ServiceEndpoint(method: "*", path: "/*")]
            for service in [Self.lookup, Self.slow, Self.vetoed, Self.lapsed, Self.civil] {
                let _: Created = try await api.post("/api/v1/services", NewService(id: try ServiceId(parsing: service), endpoints: any))
            }
            let danCu = try DatasetId(parsing: "\(Self.provider)/datasets/dan-cu")
            let hoTich = try DatasetId(parsing: "\(Self.justice)/datasets/ho-tich")
            let _: Dataset = try await api.post("/api/v1/datasets", NewDataset(
                id: danCu, nameVi: "CSDL quốc gia về dân cư", nameEn: "National population database", classification: .confidential,
                personalData: true, legalBasis: "Nghị định 47/2020/NĐ-CP",
                services: try [Self.lookup, Self.slow, Self.vetoed, Self.lapsed].map { try ServiceId(parsing: $0) }))
            let _: Dataset = try await api.post("/api/v1/datasets", NewDataset(
                id: hoTich, nameVi: "CSDL hộ tịch điện tử", nameEn: "Civil status database", classification: .confidential,
                personalData: true, legalBasis: "Luật Hộ tịch 2014", services: [try ServiceId(parsing: Self.civil)]))
            let motCua = try SubsystemId(parsing: "\(Self.consumer)/MOTCUA")
            let now = Date()
            let _: Agreement = try await api.post("/api/v1/agreements", NewAgreement(
                dataset: danCu, services: try [Self.lookup, Self.slow, Self.vetoed].map { try ServiceId(parsing: $0) }, consumer: motCua,
                purposes: [Self.purpose], legalBasis: "Nghị định 47/2020/NĐ-CP", validFrom: now.addingTimeInterval(-60),
                validUntil: now.addingTimeInterval(86_400)))
            // The registry refuses an agreement already over when it is made: this one ends two
            // seconds from now, and register() returns only once it has (below).
            let lapsedUntil = RegistryJSON.wholeSecond(now).addingTimeInterval(2)
            let _: Agreement = try await api.post("/api/v1/agreements", NewAgreement(
                dataset: danCu, services: [try ServiceId(parsing: Self.lapsed)], consumer: motCua, purposes: [Self.purpose],
                legalBasis: "Nghị định 47/2020/NĐ-CP", validFrom: now.addingTimeInterval(-60), validUntil: lapsedUntil))
            // Personal data: every agreement lists its purposes (Decree 13/2023).
            let _: Agreement = try await api.post("/api/v1/agreements", NewAgreement(
                dataset: danCu, services: [try ServiceId(parsing: Self.lookup)], consumer: try SubsystemId(parsing: "\(Self.consumer)/DVC"),
                purposes: [Self.purpose], legalBasis: "Nghị định 47/2020/NĐ-CP", validFrom: now.addingTimeInterval(-60),
                validUntil: now.addingTimeInterval(86_400)))
            let _: Agreement = try await api.post("/api/v1/agreements", NewAgreement(
                dataset: hoTich, services: [try ServiceId(parsing: Self.civil)], consumer: motCua, purposes: [Self.purpose],
                legalBasis: "Luật Hộ tịch 2014", validFrom: now.addingTimeInterval(-60), validUntil: now.addingTimeInterval(86_400)))
            while Date() < lapsedUntil { try await Task.sleep(for: .milliseconds(100)) }
        } catch {
            try? await api.shutdown()
            throw error
        }
        try await api.shutdown()
    }

    /// The TLS certificate of `server`, issued on first use.
    func tlsRecord(_ server: String) throws -> IssuedCertificateRecord {
        if let record = try pki.records().first(where: { $0.role == .server && $0.holderId == server && $0.revokedAt == nil }) {
            return record
        }
        return try pki.issue(role: .server, holderId: server)
    }

    /// The signing certificate of `member`, issued on first use.
    func memberRecord(_ member: String) throws -> IssuedCertificateRecord {
        if let record = try pki.records().first(where: { $0.role == .member && $0.holderId == member && $0.revokedAt == nil }) {
            return record
        }
        return try pki.issue(role: .member, holderId: member)
    }

    /// A security server configuration for `server` of `member`.
    func configuration(server: String, member: String, interServerPort: Int, clients: [String] = [],
                       httpsClients: [(subsystem: String, pin: String)] = [], services: [SecurityServerConfiguration.LocalService] = [],
                       veto: SecurityServerConfiguration.Veto = .init(), limits: SecurityServerConfiguration.Limits = .init()) throws -> SecurityServerConfiguration {
        let tls = try tlsRecord(server)
        let signing = try memberRecord(member)
        return SecurityServerConfiguration(
            serverId: server, clientListener: .init(port: 0), clientHttpsListener: httpsClients.isEmpty ? nil : .init(port: 0),
            interServerListener: .init(port: interServerPort),
            tlsCertificateFile: path(tls), tlsKeyFile: path(tls, key: true),
            signingCertificateFile: path(signing), signingKeyFile: path(signing, key: true),
            registryURL: registryURL + "/globalconf", trustAnchorFile: pki.url(.rootCertificate).path,
            dataDirectory: directory.appendingPathComponent("data-" + server.replacingOccurrences(of: "/", with: "_")).path,
            clients: clients.map { .init(subsystem: $0) } + httpsClients.map { .init(subsystem: $0.subsystem, connection: .https, certificateSHA256: [$0.pin]) },
            services: services, veto: veto, limits: limits)
    }

    /// Runs a backend on a free port while `body` runs: `/api/...` echoes, `/slow/...` sleeps 3 s first.
    static func withBackend<T: Sendable>(_ log: BackendLog, _ body: (Int) async throws -> T) async throws -> T {
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            let body = try await request.body.collect(upTo: 16 << 20)
            let bytes = Array(body.readableBytesView)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let target = request.head.path ?? ""
            await log.add(method: request.method.rawValue, target: target, headers: headers, bytes: bytes.count)
            if target.hasPrefix("/slow") { try await Task.sleep(for: .seconds(3)) }
            let digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
            let json = #"{"method":"\#(request.method.rawValue)","target":"\#(target)","bytes":\#(bytes.count),"sha256":"\#(digest)"}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
        }
        var logger = Logger(label: "backend")
        logger.logLevel = .warning
        let port = try await freePort()
        let app = Application(responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        return try await withRunning(app, port: port, logger: logger) { try await body(port) }
    }

    /// Runs `service` (an application listening on `port` of 127.0.0.1) while `body` runs: waits
    /// until the port accepts connections, and shuts the service down gracefully afterwards, also
    /// when `body` throws.
    static func withRunning<T: Sendable>(_ service: some ServiceLifecycle.Service, port: Int, logger: Logger,
                                         _ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            let serviceGroup = ServiceGroup(configuration: .init(services: [service], logger: logger))
            group.addTask { try await serviceGroup.run() }
            for _ in 0..<100 {
                if (try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get().close().get()) != nil { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            await serviceGroup.triggerGracefulShutdown()
            try await group.waitForAll()
            return try result.get()
        }
    }
}

/// A plain HTTP client for the client-facing ports.
struct ClientCaller {
    /// An HTTP client for the tests' calls that does not retry a refused connection (a server that
    /// is down must show as down, not as slow). Shut it down after use.
    static func makeHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    let http: HTTPClient

    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var errorType: String? { headers.first(name: "X-Road-Error") }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func call(_ port: Int, _ method: HTTPMethod = .GET, _ target: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(target)")
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 32 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers, body: Array(bytes.readableBytesView))
    }
}

/// Any created registry entity: only its id is read.
struct Created: Decodable {
    let id: String
}

/// A clock a test can move forward.
final class SkewClock: Sendable {
    private let offset = Mutex<TimeInterval>(0)
    /// Moves the clock `seconds` ahead of real time.
    func skew(_ seconds: TimeInterval) { offset.withLock { $0 = seconds } }
    /// Real time plus the skew.
    func now() -> Date { Date().addingTimeInterval(offset.withLock { $0 }) }
}
