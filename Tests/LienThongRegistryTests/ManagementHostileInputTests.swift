import AsyncHTTPClient
import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongTrust
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

/// Hostile input against a real registry (`RegistryServer.withRunning`, mutual TLS, development
/// PKI and OCSP responder on loopback): the management API `/api/v1/...` and `POST /checkpoints`.
///
/// Every hostile request must get a typed X-Road error — a 4xx status, the `X-Road-Error` header
/// and a `{type, message, detail}` body whose detail is a UUID — and change nothing: the
/// collections, the pending access requests, the checkpoint ledger, the serial of the signed
/// global configuration and the admin audit trail (admin reads are not trailed; auditor reads
/// are, but only on the auditor routes, which this suite does not call) are byte for byte the
/// same after the batch. Between the groups and at the end the registry still answers `/healthz`
/// and valid requests. Requests no route takes (another method, an unknown path) and requests the
/// HTTP parser refuses get typed errors too. Finally SQL-looking text in free-text fields is
/// accepted as plain data and survives a restart of the registry on the same store, and the
/// auditor API's dates are as strict as the management API's.
@Suite("Management API hostile input (real registry, mutual TLS)", .serialized)
struct ManagementHostileInputTests {
    // MARK: - Fixture

    static let g22 = "VN/GOV/000.00.00.G22"
    static let h26 = "VN/GOV/000.00.00.H26"
    static let dancu = "\(g22)/DANCU"
    static let motcua = "\(h26)/MOTCUA"
    static let service = "\(dancu)/tra-cuu-cong-dan"
    static let dataset = "\(g22)/datasets/dan-cu"
    static let server = "\(g22)/ss1"

    /// A client with one identity (or none).
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
        var headers: HTTPHeaders
        var body: Data
        var text: String { String(decoding: body.prefix(300), as: UTF8.self) }
    }

    enum Who: String, Sendable { case admin, auditor, server, member, anonymous }

    /// The live registry and one client per identity.
    struct Live {
        let port: Int
        let pki: DevelopmentPKI
        let peers: [Who: Peer]
        var base: String { "https://127.0.0.1:\(port)" }

        func send(_ who: Who, _ method: HTTPMethod, _ path: String, contentType: String? = "application/json",
                  headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> Answer {
            guard let peer = peers[who] else { throw Failure("no client for \(who)") }
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            if let body {
                if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            let response = try await peer.http.execute(request, timeout: .seconds(60))
            let data = Data(try await response.body.collect(upTo: 64 << 20).readableBytesView)
            return Answer(status: Int(response.status.code), headers: response.headers, body: data)
        }

        func get(_ path: String, as who: Who = .admin) async throws -> Answer { try await send(who, .GET, path) }

        /// A request that must succeed with `status`.
        @discardableResult
        func ok(_ method: HTTPMethod, _ path: String, _ body: String? = nil, status: Int = 200) async throws -> Answer {
            let answer = try await send(.admin, method, path, body: body.map { Array($0.utf8) })
            guard answer.status == status else { throw Failure("\(method) \(path): \(answer.status) \(answer.text)") }
            return answer
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Starts a PKI, its OCSP responder and a registry; `body` runs once per start of the
    /// registry on the same data directory (`starts` times), so the store's contents can be read
    /// after a restart.
    static func withRegistry(starts: Int, prepare: (_ dataDirectory: URL) async throws -> Void = { _ in },
                             _ body: (_ run: Int, _ live: Live) async throws -> Void) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-hostile-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let pkiDir = root.appendingPathComponent("pki")
        let pki = try DevelopmentPKI.initialise(at: pkiDir, instance: "VN", ocspURL: nil)
        let admin = try pki.issue(role: .admin, holderId: "VN/GOV/000.00.00.VPCP/quan-tri-09")
        let auditor = try pki.issue(role: .auditor, holderId: "VN/GOV/000.00.00.KTNN/kiem-toan-vien-09")
        let serverTLS = try pki.issue(role: .server, holderId: server)
        let member = try pki.issue(role: .member, holderId: h26)
        let tls = try pki.issue(role: .server, holderId: "VN/GOV/000.00.00.VPCP/registry")
        let peers: [Who: Peer] = [
            .admin: try Peer(pki: pki, record: admin), .auditor: try Peer(pki: pki, record: auditor),
            .server: try Peer(pki: pki, record: serverTLS), .member: try Peer(pki: pki, record: member),
            .anonymous: try Peer(pki: pki, record: nil),
        ]
        
        try FileManager.default.createDirectory(at: root.appendingPathComponent("data"), withIntermediateDirectories: true)
        try await prepare(root.appendingPathComponent("data"))
        try await DevelopmentOCSPService(pki: pki).withRunning(host: "127.0.0.1", port: 0) { ocspPort in
            // A long validity: the configuration is re-signed only on a change during the test.
            let configuration = RegistryServerConfiguration(
                instance: "VN", port: 0, dataDirectory: root.appendingPathComponent("data").path, pkiDirectory: pkiDir.path,
                tlsCertificateFile: pkiDir.appendingPathComponent(tls.certificatePath).path,
                tlsKeyFile: pkiDir.appendingPathComponent(tls.keyPath).path,
                ocspURL: "http://127.0.0.1:\(ocspPort)/", configurationValiditySeconds: 7200)
            let data = configuration.dataDirectory
            try await RegistryServer.initialise(dataDirectory: data, instance: "VN", adminCertificatePEM: try PEMFiles.readText(
                pkiDir.appendingPathComponent(admin.certificatePath)), name: "Quản trị 09")
            try await RegistryServer.registerLocally(dataDirectory: data, instance: "VN", NewRegistration(
                certificate: try PEMFiles.readText(pkiDir.appendingPathComponent(auditor.certificatePath)), role: .auditor, member: nil,
                name: "Kiểm toán viên 09"))
            var failure: (any Error)?
            for run in 0..<starts where failure == nil {
                do {
                    try await RegistryServer(configuration: configuration).withRunning { port in
                        try await body(run, Live(port: port, pki: pki, peers: peers))
                    }
                } catch { failure = error }
            }
            for peer in peers.values { try? await peer.http.shutdown() }
            if let failure { throw failure }
        }
    }

    // MARK: - Inputs

    /// SQL injection and other hostile strings, raw (each request encodes them as its place needs).
    static let injections: [String] = [
        "' OR 1=1 --",
        "\"; DROP TABLE members; --",
        "%27%20OR%201%3D1",
        "\u{0}",
        "G22\u{0}'; DELETE FROM agreements; --",
        "../../etc/passwd",
        String(repeating: "' OR '1'='1' -- ", count: 300),
    ]
    /// A very long value for bodies (1 MiB).
    static let huge = String(repeating: "'; DROP TABLE admin_audit; -- ", count: 1 << 20 / 30)

    /// Percent-encodes everything but unreserved characters: the server sees the raw string.
    static func enc(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// A JSON string literal.
    static func json(_ text: String) -> String {
        String(decoding: (try? JSONEncoder().encode(text)) ?? Data(), as: UTF8.self)
    }

    /// A JSON object from its members in order (so a key can be given twice); values are JSON text.
    static func object(_ members: [(String, String)]) -> String {
        "{" + members.map { "\(json($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    /// `members` with the value of `key` replaced (every occurrence) by `value`.
    static func replacing(_ members: [(String, String)], _ key: String, with value: String) -> [(String, String)] {
        members.map { $0.0 == key ? ($0.0, value) : $0 }
    }

    /// One hostile request and the typed error it must get.
    struct Hostile {
        var group: String
        var who: Who = .admin
        var method: HTTPMethod
        var path: String
        var contentType: String? = "application/json"
        var headers: [(String, String)] = []
        var body: [UInt8]? = nil
        var status: Int
        var type: String
        /// The `Allow` header a 405 must carry.
        var allow: String? = nil

        var label: String {
            "[\(group)] \(who) \(method) \(path.prefix(160))\(path.count > 160 ? "…" : "")"
                + (body.map { " body \(String(decoding: $0.prefix(160), as: UTF8.self).debugDescription)\($0.count > 160 ? "… (\($0.count) bytes)" : "")" } ?? "")
                + (contentType != "application/json" && body != nil ? " content-type \(contentType ?? "none")" : "")
        }
    }

    // MARK: - The test

    @Test("hostile queries, path ids, bodies, roles and ranges get typed errors and change nothing; text is data")
    func hostileInputIsRefusedCleanlyAndChangesNothing() async throws {
        try await Self.withRegistry(starts: 2) { run, live in
            if run == 0 {
                let seeded = try await seed(live)
                try await hostileBatch(live, seeded: seeded)
                try await injectionTextIsData(live)
            } else {
                try await injectionTextSurvivesARestart(live)
                try await auditorDatesAreStrict(live)
            }
        }
    }

    // MARK: - The API contract (issue 15 item 9)

    /// The contract schemathesis checks, on a real registry: a body key the operation does not
    /// define is refused (400, nothing changes) rather than ignored; each entity and action path
    /// answers another method with 405 and an `Allow` naming exactly what that path takes (an
    /// unknown action, or a path that is no resource, 404); the auditor sees an agreement past its
    /// `valid_until` as `expired`, as the compliance tables do. The store is seeded before the
    /// registry starts, with a clock in 2025, so that one agreement is over by now.
    @Test("unknown body keys are 400, 405 Allow is exact per path, the auditor sees expired agreements as expired")
    func apiContract() async throws {
        try await Self.withRegistry(starts: 1, prepare: { data in
            let clock = RTClock(RTFixtures.start)
            let (registry, _) = try await RTFixtures.registry(in: data, clock: clock)
            try await RTFixtures.seed(registry, clock: clock)
            // AG-000001 ended on 2025-07-02; AG-000002 runs to 2099; AG-000003 starts in 2098.
            _ = try await registry.createAgreement(RTFixtures.agreementInput(validUntil: RTFixtures.start.addingTimeInterval(86_400)), actor: RTFixtures.admin)
            let far = try #require(ISO8601DateFormatter().date(from: "2099-01-01T00:00:00Z"))
            _ = try await registry.createAgreement(RTFixtures.agreementInput(validUntil: far), actor: RTFixtures.admin)
            _ = try await registry.createAgreement(RTFixtures.agreementInput(validFrom: far.addingTimeInterval(-365 * 86_400), validUntil: far),
                                                   actor: RTFixtures.admin)
            _ = try await registry.fileAccessRequest(RTFixtures.accessRequestInput(), actor: RTFixtures.admin)
        }) { _, live in
            try await unknownKeysAreRefused(live)
            try await allowMatchesEachPath(live)
            try await auditorSeesEffectiveStatus(live)
        }
    }

    /// Every collection and the trail, as bytes.
    func contractState(_ live: Live) async throws -> [Data] {
        var bodies: [Data] = []
        for path in ["/api/v1/members", "/api/v1/subsystems", "/api/v1/servers", "/api/v1/services", "/api/v1/datasets",
                     "/api/v1/agreements", "/api/v1/access-requests", "/api/v1/audit-trail?limit=1000"] {
            let answer = try await live.get(path)
            guard answer.status == 200 else { throw Failure("GET \(path): \(answer.status) \(answer.text)") }
            bodies.append(answer.body)
        }
        bodies.append(Data(String(try await serial(live)).utf8))
        return bodies
    }

    func unknownKeysAreRefused(_ live: Live) async throws {
        let g22 = RTFixtures.ministry.canonical, h29 = RTFixtures.province.canonical
        let bodies: [(String, String)] = [
            ("/api/v1/members", #"{"id":"VN/GOV/000.00.00.X01","name":"Cơ quan mới","kind":"central","dry_run":true,"disabled":true}"#),
            ("/api/v1/members", #"{"id":"VN/GOV/000.00.00.X01","name":"Cơ quan mới","kind":"central","nameEN":"x"}"#),
            ("/api/v1/members", #"{"id":"VN/GOV/000.00.00.X01","name":"Cơ quan mới","kind":"central","name_en":null}"#),
            ("/api/v1/subsystems", #"{"id":"\#(g22)/MOI","owner":"\#(h29)"}"#),
            ("/api/v1/servers", #"{"id":"\#(g22)/ss2","address":"10.0.0.2:5500","tls_certificate":"x","pinned":false}"#),
            ("/api/v1/services", #"{"id":"\#(g22)/DANCU/moi","endpoints":[{"method":"GET","path":"/v1/x","public":true}]}"#),
            ("/api/v1/services", #"{"id":"\#(g22)/DANCU/moi","enabled":true,"disabled":true}"#),
            ("/api/v1/datasets", #"{"id":"\#(g22)/datasets/moi","name_vi":"Mới","name_en":"New","classification":"public","personal_data":false,"legal_basis":"Luật","services":[],"owner":"\#(h29)"}"#),
            ("/api/v1/agreements", #"{"dataset":"\#(RTFixtures.citizens.canonical)","services":["\#(RTFixtures.lookup.canonical)"],"consumer":"\#(RTFixtures.provinceDVC.canonical)","purposes":["1.1"],"legal_basis":"Luật","valid_from":"2026-01-01T00:00:00Z","valid_until":"2030-01-01T00:00:00Z","status":"revoked"}"#),
            ("/api/v1/access-requests", #"{"consumer":"\#(RTFixtures.provinceDVC.canonical)","dataset":"\#(RTFixtures.citizens.canonical)","purposes":["1.1"],"justification":"Lý do","legal_basis":"Luật","approved":true}"#),
            ("/api/v1/access-requests/AR-000001:decide", #"{"outcome":"refused","reason":"Không","legal_basis":"Luật","notify":false}"#),
        ]
        let before = try await contractState(live)
        for (path, body) in bodies {
            let answer = try await live.send(.admin, .POST, path, body: Array(body.utf8))
            #expect(answer.status == 400 && answer.headers.first(name: "X-Road-Error") == "Client.BadRequest",
                    "POST \(path) \(body): \(answer.status) \(answer.text)")
            #expect(answer.text.contains("unknown field") || answer.text.contains("is null"), "POST \(path): \(answer.text)")
        }
        #expect(try await contractState(live) == before, "a body with an unknown key changed the registry")
        // A member without the extra keys is created, and enabled.
        let created = try await live.ok(.POST, "/api/v1/members", #"{"id":"VN/GOV/000.00.00.X02","name":"Cơ quan mới","kind":"central"}"#, status: 201)
        #expect(try RegistryJSONCoder.decoder().decode(Member.self, from: created.body).disabled == false)
    }

    func allowMatchesEachPath(_ live: Live) async throws {
        let member = "/api/v1/members/\(RTFixtures.ministry.canonical)"
        let service = "/api/v1/services/\(RTFixtures.lookup.canonical)"
        let dataset = "/api/v1/datasets/\(RTFixtures.citizens.canonical)"
        let cases: [(HTTPMethod, String, Int, String?)] = [
            (.GET, "\(member):disable", 405, "POST"), (.PUT, "\(member):disable", 405, "POST"),
            (.POST, member, 405, "GET"), (.DELETE, member, 405, "GET"),
            (.GET, "\(service):enable", 405, "POST"), (.DELETE, "\(service):disable", 405, "POST"), (.POST, service, 405, "GET"),
            (.POST, dataset, 405, "GET"), (.GET, "\(dataset):disable", 404, nil),
            (.GET, "/api/v1/agreements/AG-000001:suspend", 405, "POST"), (.PUT, "/api/v1/agreements/AG-000001:revoke", 405, "POST"),
            (.POST, "/api/v1/agreements/AG-000001", 405, "GET"), (.PATCH, "/api/v1/agreements/AG-000001", 405, "GET"),
            (.GET, "/api/v1/access-requests/AR-000001:decide", 405, "POST"), (.DELETE, "/api/v1/access-requests/AR-000001:decide", 405, "POST"),
            (.GET, "/api/v1/access-requests/AR-000001", 404, nil), (.POST, "/api/v1/access-requests/AR-000001", 404, nil),
            (.GET, "/api/v1/agreements/AG-000001:delete", 404, nil), (.POST, "/api/v1/agreements/AG-000001:delete", 404, nil),
            (.PUT, "/api/v1/access-requests/pending", 405, "GET"),
            // Management requests and registrations (found by schemathesis: Allow was "GET, POST" on
            // an action path, and POST on a request's entity path read the body first: 415/400, not 405).
            (.GET, "/api/v1/management-requests/MR-000001:approve", 405, "POST"), (.PUT, "/api/v1/management-requests/MR-000001:decline", 405, "POST"),
            (.POST, "/api/v1/management-requests/MR-000001", 405, "GET"), (.DELETE, "/api/v1/management-requests/MR-000001", 405, "GET"),
            (.POST, "/api/v1/management-requests/MR-000001:delete", 404, nil),
            (.GET, "/api/v1/registrations/\(String(repeating: "a", count: 64)):revoke", 405, "POST"),
            (.GET, "/api/v1/registrations/\(String(repeating: "a", count: 64))", 404, nil),
        ]
        let before = try await contractState(live)
        for (method, path, status, allow) in cases {
            let answer = try await live.send(.admin, method, path, body: method == .GET ? nil : Array("{}".utf8))
            #expect(answer.status == status, "\(method) \(path): \(answer.status) \(answer.text)")
            #expect(answer.headers.first(name: "Allow") == allow, "\(method) \(path): Allow \(answer.headers.first(name: "Allow") ?? "none")")
            #expect(answer.headers.first(name: "X-Road-Error") == (status == 405 ? "Client.BadRequest" : "Client.NotFound"), "\(method) \(path)")
        }
        #expect(try await contractState(live) == before)
    }

    func auditorSeesEffectiveStatus(_ live: Live) async throws {
        let listed = try await live.get("/api/v1/auditor/agreements", as: .auditor)
        #expect(listed.status == 200, "\(listed.text)")
        let rows = try #require(try JSONSerialization.jsonObject(with: listed.body) as? [[String: Any]])
        let status = Dictionary(uniqueKeysWithValues: rows.compactMap { row in (row["id"] as? String).map { ($0, row["status"] as? String ?? "-") } })
        #expect(status == ["AG-000001": "expired", "AG-000002": "active", "AG-000003": "active"], "\(status)")
        let one = try await live.get("/api/v1/auditor/agreements/AG-000001", as: .auditor)
        let history = try #require(try JSONSerialization.jsonObject(with: one.body) as? [String: Any])
        #expect((history["agreement"] as? [String: Any])?["status"] as? String == "expired", "\(one.text)")
        let csv = String(decoding: try await live.get("/api/v1/auditor/agreements?format=csv", as: .auditor).body, as: UTF8.self)
        #expect(csv.split(whereSeparator: \.isNewline).first { $0.hasPrefix("AG-000001,") }?.contains(",expired,") == true, "\(csv)")
        // The stored status is unchanged: the admin API shows the record as it is.
        let stored = try RegistryJSONCoder.decoder().decode(Agreement.self, from: try await live.get("/api/v1/agreements/AG-000001").body)
        #expect(stored.status == .active)
    }

    /// What the seed leaves: certificates and keys for signing checkpoints, and a valid body for
    /// every creation (which the hostile variants would have made).
    struct Seeded {
        var serverPEM: String
        var adminSigner: DetachedJWS.Signer
        var serverSigner: DetachedJWS.Signer
        var h26Signer: DetachedJWS.Signer
        var g22Signer: DetachedJWS.Signer
    }

    func signer(_ pki: DevelopmentPKI, _ record: IssuedCertificateRecord) throws -> DetachedJWS.Signer {
        try DetachedJWS.Signer(
            key: try MessageSigningKey(pemEncoded: try PEMFiles.readText(pki.directory.appendingPathComponent(record.keyPath))),
            chain: try PEMFiles.readCertificates(pki.directory.appendingPathComponent(record.certificatePath)))
    }

    /// Two members, their subsystems, a server, a service, a dataset, an agreement, a pending and
    /// a refused access request.
    func seed(_ live: Live) async throws -> Seeded {
        typealias S = ManagementHostileInputTests
        let serverRecord = try #require(try live.pki.records().first { $0.holderId == S.server && $0.role == .server })
        let serverPEM = try PEMFiles.readText(live.pki.directory.appendingPathComponent(serverRecord.certificatePath))
        try await live.ok(.POST, "/api/v1/members", #"{"id":"\#(S.g22)","name":"Bộ Công an","name_en":"Ministry of Public Security","kind":"ministry"}"#, status: 201)
        try await live.ok(.POST, "/api/v1/members", #"{"id":"\#(S.h26)","name":"UBND Thành phố Hà Nội","kind":"province"}"#, status: 201)
        try await live.ok(.POST, "/api/v1/subsystems", #"{"id":"\#(S.dancu)","name":"CSDL quốc gia về dân cư"}"#, status: 201)
        try await live.ok(.POST, "/api/v1/subsystems", #"{"id":"\#(S.motcua)"}"#, status: 201)
        try await live.ok(.POST, "/api/v1/servers", S.object([("id", S.json(S.server)), ("address", S.json("127.0.0.1:5500")),
                                                               ("tls_certificate", S.json(serverPEM))]), status: 201)
        try await live.ok(.POST, "/api/v1/services", #"{"id":"\#(S.service)","name":"Tra cứu công dân","endpoints":[{"method":"GET","path":"/v1/cong-dan/{id}"}]}"#, status: 201)
        try await live.ok(.POST, "/api/v1/datasets", #"{"id":"\#(S.dataset)","name_vi":"Dữ liệu dân cư","name_en":"Population data","classification":"confidential","personal_data":true,"legal_basis":"Nghị định 47/2020/NĐ-CP","services":["\#(S.service)"]}"#, status: 201)
        try await live.ok(.POST, "/api/v1/agreements", #"{"dataset":"\#(S.dataset)","services":["\#(S.service)"],"consumer":"\#(S.motcua)","purposes":["1.004227"],"legal_basis":"Nghị định 47/2020/NĐ-CP","valid_from":"2025-01-01T00:00:00Z","valid_until":"2030-01-01T00:00:00Z"}"#, status: 201)
        try await live.ok(.POST, "/api/v1/access-requests", #"{"consumer":"\#(S.motcua)","dataset":"\#(S.dataset)","purposes":["2.001234"],"justification":"Giải quyết thủ tục hộ tịch","legal_basis":"Nghị định 194/2025/NĐ-CP"}"#, status: 201)
        try await live.ok(.POST, "/api/v1/access-requests", #"{"consumer":"\#(S.motcua)","dataset":"\#(S.dataset)","purposes":["9.999"],"justification":"Thống kê","legal_basis":"—"}"#, status: 201)
        try await live.ok(.POST, "/api/v1/access-requests/AR-000002:decide", #"{"outcome":"refused","reason":"Không cần dữ liệu định danh","legal_basis":"Luật Bảo vệ dữ liệu cá nhân 2025"}"#)

        let admin = try #require(try live.pki.records().first { $0.role == .admin })
        let h26 = try #require(try live.pki.records().first { $0.holderId == S.h26 && $0.role == .member })
        let g22 = try live.pki.issue(role: .member, holderId: S.g22)
        return Seeded(serverPEM: serverPEM, adminSigner: try signer(live.pki, admin), serverSigner: try signer(live.pki, serverRecord),
                      h26Signer: try signer(live.pki, h26), g22Signer: try signer(live.pki, g22))
    }

    /// Everything a hostile request could change, as the registry reports it.
    struct Observed: Equatable {
        var collections: [String: Data]
        var serial: Int64
        var trail: Data
        var trailLength: Int
    }

    static let collections = ["/api/v1/members", "/api/v1/subsystems", "/api/v1/servers", "/api/v1/services", "/api/v1/datasets",
                              "/api/v1/agreements", "/api/v1/access-requests", "/api/v1/checkpoints",
                              "/api/v1/members/VN/GOV/000.00.00.G22", "/api/v1/members/VN/GOV/000.00.00.H26",
                              "/api/v1/services/VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan",
                              "/api/v1/agreements/AG-000001"]

    func observe(_ live: Live) async throws -> Observed {
        var bodies: [String: Data] = [:]
        for path in Self.collections {
            let answer = try await live.get(path)
            guard answer.status == 200 else { throw Failure("GET \(path): \(answer.status) \(answer.text)") }
            bodies[path] = answer.body
        }
        // The pending list carries each request's age, which grows: compare the requests only.
        let pending = try await live.get("/api/v1/access-requests/pending")
        let requests = try #require(try JSONSerialization.jsonObject(with: pending.body) as? [[String: Any]]).map { $0["request"] ?? NSNull() }
        bodies["/api/v1/access-requests/pending"] = try JSONSerialization.data(withJSONObject: requests, options: [.sortedKeys])
        let trail = try await live.get("/api/v1/audit-trail?limit=1000")
        let entries = try #require(try JSONSerialization.jsonObject(with: trail.body) as? [Any])
        return Observed(collections: bodies, serial: try await serial(live), trail: trail.body, trailLength: entries.count)
    }

    /// The `serial` in the payload of the signed global configuration.
    func serial(_ live: Live) async throws -> Int64 {
        let answer = try await live.send(.anonymous, .GET, "/globalconf")
        guard answer.status == 200 else { throw Failure("GET /globalconf: \(answer.status)") }
        let parts = String(decoding: answer.body, as: UTF8.self).split(separator: ".")
        guard parts.count == 3, let payload = Base64URL.decode(String(parts[1])),
              let object = try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
              let serial = (object["serial"] as? NSNumber)?.int64Value
        else { throw Failure("the global configuration has no readable serial") }
        return serial
    }

    /// The registry is alive and answers a valid read.
    func checkAlive(_ live: Live, after group: String) async throws {
        let health = try await live.send(.anonymous, .GET, "/healthz")
        #expect(health.status == 200 && health.text == "ok", "healthz after \(group): \(health.status) \(health.text)")
        let member = try await live.get("/api/v1/members/VN/GOV/000.00.00.G22")
        #expect(member.status == 200, "a valid read after \(group): \(member.status) \(member.text)")
    }

    // MARK: - The hostile batch

    func hostileBatch(_ live: Live, seeded: Seeded) async throws {
        let groups = try await hostileGroups(live, seeded: seeded)
        let before = try await observe(live)
        #expect(before.trailLength == 13, "the set-up wrote 2 registrations and the seed 11 trail entries")

        var count = 0
        var failures = 0
        for (name, cases) in groups {
            for hostile in cases {
                count += 1
                if try await !check(live, hostile) { failures += 1 }
            }
            try await checkAlive(live, after: name)
        }
        let after = try await observe(live)
        for path in before.collections.keys.sorted() where before.collections[path] != after.collections[path] {
            Issue.record("\(path) changed during the hostile batch")
        }
        #expect(after.serial == before.serial, "the global configuration was re-signed: serial \(before.serial) → \(after.serial)")
        #expect(after.trailLength == before.trailLength, "audit trail \(before.trailLength) → \(after.trailLength) entries")
        #expect(after.trail == before.trail)
        #expect(after == before)
        let verify = try await live.get("/api/v1/audit-trail/verify")
        #expect(verify.status == 200, "\(verify.text)")
        let summary = groups.map { "\($0.0) \($0.1.count)" }.joined(separator: ", ")
        print("ManagementHostileInputTests: \(count) hostile requests (\(summary)); \(failures) not answered as expected; "
            + "state, configuration serial \(after.serial) and audit trail (\(after.trailLength) entries) unchanged: \(after == before)")
    }

    /// Sends one hostile request and checks the answer; false (with an issue recorded) if wrong.
    func check(_ live: Live, _ hostile: Hostile) async throws -> Bool {
        let answer: Answer
        do {
            answer = try await live.send(hostile.who, hostile.method, hostile.path, contentType: hostile.contentType,
                                         headers: hostile.headers, body: hostile.body)
        } catch {
            Issue.record("\(hostile.label): no answer: \(error)")
            return false
        }
        if answer.status != hostile.status {
            Issue.record("\(hostile.label): status \(answer.status), expected \(hostile.status) — \(answer.text)")
            return false
        }
        var problems: [String] = []
        let header = answer.headers.first(name: "X-Road-Error")
        if header != hostile.type { problems.append("X-Road-Error \(header ?? "missing"), expected \(hostile.type)") }
        if answer.headers.first(name: "Content-Type")?.hasPrefix("application/json") != true {
            problems.append("Content-Type \(answer.headers.first(name: "Content-Type") ?? "missing")")
        }
        if let body = try? RegistryJSONCoder.decoder().decode(XRoadErrorBody.self, from: answer.body) {
            if body.type != hostile.type { problems.append("body type \(body.type)") }
            if body.message.isEmpty { problems.append("empty message") }
            if UUID(uuidString: body.detail) == nil { problems.append("detail \(body.detail) is not a UUID") }
        } else {
            problems.append("no X-Road error body")
        }
        if let allow = hostile.allow, answer.headers.first(name: "Allow") != allow {
            problems.append("Allow \(answer.headers.first(name: "Allow") ?? "missing"), expected \(allow)")
        }
        guard problems.isEmpty else {
            Issue.record("\(hostile.label): \(problems.joined(separator: "; ")) — \(answer.text)")
            return false
        }
        return true
    }

    // swiftlint:disable:next function_body_length
    func hostileGroups(_ live: Live, seeded: Seeded) async throws -> [(String, [Hostile])] {
        typealias S = ManagementHostileInputTests
        let bad = "Client.BadRequest", notFound = "Client.NotFound", forbidden = "Client.Forbidden"
        let encodedInjections = S.injections.map(S.enc) + ["%27%20OR%201%3D1"]   // the last one decoded by the server

        // Valid bodies: each would create or change something if it were let through.
        let member: [(String, String)] = [("id", S.json("VN/GOV/000.00.00.X01")), ("name", S.json("Cơ quan mới")),
                                          ("name_en", S.json("New agency")), ("kind", S.json("central"))]
        let subsystem: [(String, String)] = [("id", S.json("\(S.g22)/HOSTILE")), ("name", S.json("Hệ thống mới"))]
        let server: [(String, String)] = [("id", S.json("\(S.g22)/ss2")), ("address", S.json("10.0.0.2:5500")),
                                          ("tls_certificate", S.json(seeded.serverPEM))]
        let service: [(String, String)] = [("id", S.json("\(S.dancu)/hostile")), ("name", S.json("Dịch vụ mới")),
                                           ("open_api", S.json("openapi: 3.1.0")), ("endpoints", #"[{"method":"GET","path":"/v1/x"}]"#),
                                           ("enabled", "true")]
        let dataset: [(String, String)] = [("id", S.json("\(S.g22)/datasets/hostile")), ("name_vi", S.json("Dữ liệu mới")),
                                           ("name_en", S.json("New data")), ("classification", S.json("internal")),
                                           ("personal_data", "false"), ("legal_basis", S.json("Luật")), ("services", "[\(S.json(S.service))]")]
        let agreement: [(String, String)] = [("dataset", S.json(S.dataset)), ("services", "[\(S.json(S.service))]"),
                                             ("consumer", S.json(S.motcua)), ("purposes", #"["3.000001"]"#), ("legal_basis", S.json("Luật")),
                                             ("valid_from", S.json("2025-01-01T00:00:00Z")), ("valid_until", S.json("2029-01-01T00:00:00Z"))]
        let request: [(String, String)] = [("consumer", S.json(S.motcua)), ("dataset", S.json(S.dataset)),
                                           ("services", "[\(S.json(S.service))]"), ("purposes", #"["4.000001"]"#),
                                           ("justification", S.json("Lý do")), ("legal_basis", S.json("Luật")),
                                           ("requested_until", S.json("2031-01-01T00:00:00Z"))]
        let decision: [(String, String)] = [("outcome", S.json("approved")), ("reason", S.json("Đồng ý")),
                                            ("legal_basis", S.json("Luật")), ("valid_until", S.json("2029-06-01T00:00:00Z"))]
        /// Each body route with a valid body.
        let bodyRoutes: [(String, [(String, String)])] = [
            ("/api/v1/members", member), ("/api/v1/subsystems", subsystem), ("/api/v1/servers", server),
            ("/api/v1/services", service), ("/api/v1/datasets", dataset), ("/api/v1/agreements", agreement),
            ("/api/v1/access-requests", request), ("/api/v1/access-requests/AR-000001:decide", decision),
        ]
        /// Every POST route with the body that would make it change something.
        let changes: [(String, String?)] = bodyRoutes.map { ($0.0, S.object($0.1)) } + [
            ("/api/v1/members/VN/GOV/000.00.00.H26:disable", nil),
            ("/api/v1/services/VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan:disable", nil),
            ("/api/v1/agreements/AG-000001:suspend", nil), ("/api/v1/agreements/AG-000001:revoke", nil),
        ]
        let reads = ["/api/v1/members", "/api/v1/members/VN/GOV/000.00.00.G22", "/api/v1/subsystems", "/api/v1/servers",
                     "/api/v1/services", "/api/v1/services/VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan", "/api/v1/datasets",
                     "/api/v1/datasets/VN/GOV/000.00.00.G22/datasets/dan-cu", "/api/v1/agreements", "/api/v1/agreements/AG-000001",
                     "/api/v1/access-requests", "/api/v1/access-requests/pending", "/api/v1/audit-trail", "/api/v1/audit-trail/verify"]

        var groups: [(String, [Hostile])] = []

        // 1. SQL injection (and NUL, traversal, very long) in every query parameter.
        var queries: [Hostile] = []
        for (path, name) in [("/api/v1/subsystems", "member"), ("/api/v1/servers", "member"), ("/api/v1/services", "subsystem"),
                             ("/api/v1/audit-trail", "from"), ("/api/v1/audit-trail", "limit")] {
            for value in encodedInjections {
                queries.append(Hostile(group: "query", method: .GET, path: "\(path)?\(name)=\(value)", status: 400, type: bad))
            }
        }
        // Filters of the wrong kind, empty or repeated.
        for query in ["subsystems?member=VN", "subsystems?member=\(S.enc(S.dancu))", "subsystems?member=", "servers?member=\(S.enc(S.server))",
                      "services?subsystem=\(S.enc(S.g22))", "services?subsystem=\(S.enc(S.service))", "services?subsystem=",
                      "subsystems?member=\(S.enc(S.g22))&member=\(S.enc(S.h26))", "services?subsystem=\(S.enc(S.dancu))&subsystem=\(S.enc(S.dancu))"] {
            queries.append(Hostile(group: "query", method: .GET, path: "/api/v1/\(query)", status: 400, type: bad))
        }
        groups.append(("query", queries))

        // 2. Huge pages, negative and absurd ranges.
        let ranges = ["from=0", "from=-1", "from=-9223372036854775808", "from=9223372036854775808", "from=99999999999999999999999",
                      "from=1e3", "from=0x10", "from=1.5", "from=", "from=abc", "from=%201", "limit=0", "limit=-5", "limit=1001",
                      "limit=100000", "limit=2147483648", "limit=9223372036854775807", "limit=99999999999999999999", "limit=",
                      "limit=1e2", "limit=NaN", "from=1&from=2", "limit=10&limit=20", "from=1&limit=0", "from=-1&limit=1000000",
                      "offset=10", "page=-1&per_page=1000000", "limit=10&page=2"]
        groups.append(("range", ranges.map { Hostile(group: "range", method: .GET, path: "/api/v1/audit-trail?\($0)", status: 400, type: bad) }))

        // 3. Unknown query parameters on every route, read or write (a write with a valid body).
        var unknown: [Hostile] = []
        let strange = ["foo=1", "limit=1000000", "page=-1", "dry_run=1", "\(S.enc("' OR 1=1 --"))=1", "id=\(S.enc("' OR 1=1 --"))", "%00=1"]
        for path in reads {
            for query in strange {
                unknown.append(Hostile(group: "unknown-parameter", method: .GET, path: "\(path)?\(query)", status: 400, type: bad))
            }
        }
        for (path, body) in changes {
            for query in ["dry_run=1", "foo=\(S.enc("\"; DROP TABLE members; --"))"] {
                unknown.append(Hostile(group: "unknown-parameter", method: .POST, path: "\(path)?\(query)", body: body.map { Array($0.utf8) },
                                       status: 400, type: bad))
            }
        }
        // Thousands of parameters (80 KB of query).
        unknown.append(Hostile(group: "unknown-parameter", method: .GET, path: "/api/v1/members?" + String(repeating: "a=1&", count: 20_000),
                               status: 400, type: bad))
        unknown.append(Hostile(group: "unknown-parameter", method: .GET, path: "/api/v1/audit-trail?" + String(repeating: "from=1&", count: 10_000),
                               status: 400, type: bad))
        groups.append(("unknown-parameter", unknown))

        // 4. Hostile path ids.
        var ids: [Hostile] = []
        let decide = Array(S.object(decision).utf8)
        for value in encodedInjections {
            for (collection, prefix) in [("members", "VN/GOV/"), ("services", "\(S.dancu)/"), ("datasets", "\(S.g22)/datasets/")] {
                for id in [value, prefix.split(separator: "/").map { S.enc(String($0)) }.joined(separator: "/") + "/" + value] {
                    ids.append(Hostile(group: "path-id", method: .GET, path: "/api/v1/\(collection)/\(id)", status: 400, type: bad))
                }
            }
            ids.append(Hostile(group: "path-id", method: .POST, path: "/api/v1/members/\(value):disable", status: 400, type: bad))
            ids.append(Hostile(group: "path-id", method: .POST, path: "/api/v1/members/VN/GOV/\(value):disable", status: 400, type: bad))
            ids.append(Hostile(group: "path-id", method: .POST, path: "/api/v1/services/\(value):enable", status: 400, type: bad))
            ids.append(Hostile(group: "path-id", method: .POST, path: "/api/v1/services/\(S.dancu)/\(value):disable", status: 400, type: bad))
            ids.append(Hostile(group: "path-id", method: .GET, path: "/api/v1/agreements/\(value)", status: 400, type: bad))
            for action in ["suspend", "activate", "revoke"] {
                ids.append(Hostile(group: "path-id", method: .POST, path: "/api/v1/agreements/\(value):\(action)", status: 400, type: bad))
            }
            ids.append(Hostile(group: "path-id", method: .POST, path: "/api/v1/access-requests/\(value):decide", body: decide, status: 400, type: bad))
        }
        // Traversal and encoded separators.
        for path in ["/api/v1/members/VN/GOV/..%2F..%2Fservers", "/api/v1/members/VN%2FGOV%2F000.00.00.G22",
                     "/api/v1/members/VN/GOV/000.00.00.G22/..", "/api/v1/members/VN/GOV/%2E%2E", "/api/v1/services/VN/GOV/000.00.00.G22/DANCU/%00",
                     "/api/v1/datasets/VN/GOV/000.00.00.G22/datasets/dan-cu%2F..", "/api/v1/members/VN/GOV/000.00.00.G22%3Adisable"] {
            ids.append(Hostile(group: "path-id", method: .GET, path: path, status: 400, type: bad))
        }
        // Well-formed ids made of SQL (identifier parts may hold ' and =): unknown, so 404.
        for (method, path) in [(HTTPMethod.GET, "/api/v1/members/VN/GOV/'OR'1'='1"), (.POST, "/api/v1/members/VN/GOV/'OR'1'='1:disable"),
                               (.GET, "/api/v1/services/\(S.dancu)/'OR'1'='1"), (.POST, "/api/v1/services/\(S.dancu)/'OR'1'='1:disable"),
                               (.GET, "/api/v1/datasets/\(S.g22)/datasets/'OR'1'='1"), (.GET, "/api/v1/agreements/AG-999999"),
                               (.POST, "/api/v1/agreements/AG-000000000000000001:revoke")] {
            ids.append(Hostile(group: "path-id", method: method, path: path, status: 404, type: notFound))
        }
        ids.append(Hostile(group: "path-id", method: .POST, path: "/api/v1/access-requests/AR-999999:decide", body: decide, status: 404, type: notFound))
        for malformed in ["AG-", "AG-1", "AG-12x456", "ag-000001", "AG-0000000000000000001", "AR-000001", "AG-000001'--"] {
            ids.append(Hostile(group: "path-id", method: .GET, path: "/api/v1/agreements/\(S.enc(malformed))", status: 400, type: bad))
        }
        for malformed in ["AR-", "AR-1", "AG-000001", "ar-000001", "AR-000001 OR 1=1"] {
            ids.append(Hostile(group: "path-id", method: .POST, path: "/api/v1/access-requests/\(S.enc(malformed)):decide", body: decide, status: 400, type: bad))
        }
        // Unknown, injected or missing actions.
        for (method, path) in [(HTTPMethod.POST, "/api/v1/members/VN/GOV/000.00.00.H26:drop"),
                               (.POST, "/api/v1/members/VN/GOV/000.00.00.H26:\(S.enc("' OR 1=1 --"))"),
                               (.POST, "/api/v1/services/\(S.service):\(S.enc("\"; DROP TABLE services; --"))"),
                               (.POST, "/api/v1/agreements/AG-000001:delete"), (.GET, "/api/v1/agreements/AG-000001:delete")] {
            ids.append(Hostile(group: "path-id", method: method, path: path, status: 404, type: notFound))
        }
        // An entity path takes GET only, an action path POST only: the other is 405 with that Allow.
        for (method, path, allow) in [(HTTPMethod.POST, "/api/v1/members/VN/GOV/000.00.00.H26", "GET"),
                                      (.GET, "/api/v1/members/VN/GOV/000.00.00.H26:disable", "POST"),
                                      (.POST, "/api/v1/agreements/AG-000001", "GET"), (.GET, "/api/v1/agreements/AG-000001:suspend", "POST")] {
            ids.append(Hostile(group: "path-id", method: method, path: path, status: 405, type: bad, allow: allow))
        }
        ids.append(Hostile(group: "path-id", method: .POST, path: "/api/v1/access-requests/AR-000001:approve", body: decide, status: 404, type: notFound))
        ids.append(Hostile(group: "path-id", method: .POST, path: "/api/v1/access-requests/AR-000001:\(S.enc("' OR 1=1 --"))", body: decide,
                           status: 404, type: notFound))
        groups.append(("path-id", ids))

        // 5. Hostile strings in every string field of every body. Fields the registry checks
        //    (ids, enums, dates, codes, addresses, certificates, endpoints) refuse them on a body
        //    that is otherwise valid; free text (names, legal basis, reasons) is data, so there the
        //    body is refused for another reason the registry checks after reading the text —
        //    unless the text itself breaks the free-text rule (a control character such as NUL, or
        //    over 1,000 characters for a name or legal basis, 10,000 for a reason), which is 400
        //    before anything else is looked at. An OpenAPI document may hold tab and line breaks,
        //    no other control character, and is bounded by the body limit only.
        var fields: [Hostile] = []
        func add(_ path: String, _ members: [(String, String)], status: Int, type: String) {
            fields.append(Hostile(group: "body-field", method: .POST, path: path, body: Array(S.object(members).utf8), status: status, type: type))
        }
        /// Free text `raw` in a field of `limit` characters: 400 if it breaks the rule, else `otherwise`.
        func text(_ path: String, _ members: [(String, String)], _ raw: String, limit: Int, otherwise: (Int, String)) {
            let refused = raw.unicodeScalars.contains { $0.properties.generalCategory == .control } || raw.unicodeScalars.count > limit
            add(path, members, status: refused ? 400 : otherwise.0, type: refused ? bad : otherwise.1)
        }
        let duplicate = (409, "Client.Duplicate")
        let memberDuplicate = S.replacing(member, "id", with: S.json(S.g22))                       // 409 Client.Duplicate
        let serviceDuplicate = S.replacing(service, "id", with: S.json(S.service))                 // 409
        let datasetDuplicate = S.replacing(dataset, "id", with: S.json(S.dataset))                 // 409
        let agreementBackwards = S.replacing(agreement, "valid_from", with: S.json("2029-06-01T00:00:00Z"))   // 400 until before from
        let requestPast = S.replacing(request, "requested_until", with: S.json("2020-01-01T00:00:00Z"))      // 400 not in the future
        let refusalWithDates = [("outcome", S.json("refused")), ("reason", S.json("Không")), ("legal_basis", S.json("Luật")),
                                ("valid_until", S.json("2029-06-01T00:00:00Z"))]                       // 400 dates on a refusal
        for raw in S.injections + [S.huge] {
            let value = S.json(raw)
            add("/api/v1/members", S.replacing(member, "id", with: value), status: 400, type: bad)
            add("/api/v1/members", S.replacing(member, "kind", with: value), status: 400, type: bad)
            text("/api/v1/members", S.replacing(memberDuplicate, "name", with: value), raw, limit: 1_000, otherwise: duplicate)
            text("/api/v1/members", S.replacing(memberDuplicate, "name_en", with: value), raw, limit: 1_000, otherwise: duplicate)
            add("/api/v1/subsystems", S.replacing(subsystem, "id", with: value), status: 400, type: bad)
            text("/api/v1/subsystems", S.replacing(S.replacing(subsystem, "id", with: S.json(S.dancu)), "name", with: value), raw,
                 limit: 1_000, otherwise: duplicate)
            add("/api/v1/servers", S.replacing(server, "id", with: value), status: 400, type: bad)
            add("/api/v1/servers", S.replacing(server, "address", with: value), status: 400, type: bad)
            add("/api/v1/servers", S.replacing(server, "tls_certificate", with: value), status: 400, type: bad)
            add("/api/v1/services", S.replacing(service, "id", with: value), status: 400, type: bad)
            text("/api/v1/services", S.replacing(serviceDuplicate, "name", with: value), raw, limit: 1_000, otherwise: duplicate)
            text("/api/v1/services", S.replacing(serviceDuplicate, "open_api", with: value), raw.filter { !"\t\n\r".contains($0) },
                 limit: .max, otherwise: duplicate)
            add("/api/v1/services", S.replacing(serviceDuplicate, "endpoints", with: #"[{"method":\#(value),"path":"/v1/x"}]"#),
                status: 409, type: "Client.Duplicate")
            add("/api/v1/services", S.replacing(service, "endpoints", with: #"[{"method":"GET","path":\#(value)}]"#), status: 400, type: bad)
            add("/api/v1/services", S.replacing(service, "enabled", with: value), status: 400, type: bad)
            add("/api/v1/datasets", S.replacing(dataset, "id", with: value), status: 400, type: bad)
            for key in ["name_vi", "name_en", "legal_basis"] {
                text("/api/v1/datasets", S.replacing(datasetDuplicate, key, with: value), raw, limit: 1_000, otherwise: duplicate)
            }
            add("/api/v1/datasets", S.replacing(dataset, "classification", with: value), status: 400, type: bad)
            add("/api/v1/datasets", S.replacing(dataset, "personal_data", with: value), status: 400, type: bad)
            add("/api/v1/datasets", S.replacing(dataset, "services", with: "[\(value)]"), status: 400, type: bad)
            for key in ["dataset", "consumer", "valid_from", "valid_until"] {
                add("/api/v1/agreements", S.replacing(agreement, key, with: value), status: 400, type: bad)
            }
            add("/api/v1/agreements", S.replacing(agreement, "services", with: "[\(value)]"), status: 400, type: bad)
            add("/api/v1/agreements", S.replacing(agreement, "purposes", with: "[\(value)]"), status: 400, type: bad)
            add("/api/v1/agreements", S.replacing(agreementBackwards, "legal_basis", with: value), status: 400, type: bad)
            for key in ["consumer", "dataset", "requested_until"] {
                add("/api/v1/access-requests", S.replacing(request, key, with: value), status: 400, type: bad)
            }
            add("/api/v1/access-requests", S.replacing(request, "services", with: "[\(value)]"), status: 400, type: bad)
            add("/api/v1/access-requests", S.replacing(request, "purposes", with: "[\(value)]"), status: 400, type: bad)
            add("/api/v1/access-requests", S.replacing(requestPast, "justification", with: value), status: 400, type: bad)
            add("/api/v1/access-requests", S.replacing(requestPast, "legal_basis", with: value), status: 400, type: bad)
            add("/api/v1/access-requests/AR-000001:decide", S.replacing(decision, "outcome", with: value), status: 400, type: bad)
            add("/api/v1/access-requests/AR-000001:decide", S.replacing(decision, "valid_until", with: value), status: 400, type: bad)
            add("/api/v1/access-requests/AR-000001:decide", S.replacing(refusalWithDates, "reason", with: value), status: 400, type: bad)
            add("/api/v1/access-requests/AR-000001:decide", S.replacing(refusalWithDates, "legal_basis", with: value), status: 400, type: bad)
            text("/api/v1/access-requests/AR-000002:decide", S.replacing(refusalWithDates.filter { $0.0 != "valid_until" }, "reason", with: value),
                 raw, limit: 10_000, otherwise: (409, "Client.Conflict"))
        }
        groups.append(("body-field", fields))

        // 5b. Free text that breaks the rule, on bodies that are otherwise valid (each would create
        //     or decide something): every kind of control character, and one character too many.
        var texts: [Hostile] = []
        func refuse(_ path: String, _ members: [(String, String)]) {
            texts.append(Hostile(group: "free-text", method: .POST, path: path, body: Array(S.object(members).utf8), status: 400, type: bad))
        }
        for control in ["\u{0}", "\t", "\n", "\r\n", "\u{1B}[2J", "\u{7}", "\u{7F}", "\u{85}", "\u{9F}"] {
            let value = S.json("Cơ quan\(control)mới")
            refuse("/api/v1/members", S.replacing(member, "name", with: value))
            refuse("/api/v1/members", S.replacing(member, "name_en", with: value))
            refuse("/api/v1/subsystems", S.replacing(subsystem, "name", with: value))
            refuse("/api/v1/services", S.replacing(service, "name", with: value))
            for key in ["name_vi", "name_en", "legal_basis"] { refuse("/api/v1/datasets", S.replacing(dataset, key, with: value)) }
            refuse("/api/v1/agreements", S.replacing(agreement, "legal_basis", with: value))
            refuse("/api/v1/access-requests", S.replacing(request, "justification", with: value))
            refuse("/api/v1/access-requests", S.replacing(request, "legal_basis", with: value))
            refuse("/api/v1/access-requests/AR-000001:decide", S.replacing(decision, "reason", with: value))
            refuse("/api/v1/access-requests/AR-000001:decide", S.replacing(decision, "legal_basis", with: value))
        }
        for control in ["\u{0}", "\u{1B}", "\u{7F}"] {
            refuse("/api/v1/services", S.replacing(service, "open_api", with: S.json("openapi: 3.1.0\n\(control)")))
        }
        let name = S.json(String(repeating: "ư", count: 1_001)), reason = S.json(String(repeating: "ư", count: 10_001))
        refuse("/api/v1/members", S.replacing(member, "name", with: name))
        refuse("/api/v1/members", S.replacing(member, "name_en", with: name))
        refuse("/api/v1/subsystems", S.replacing(subsystem, "name", with: name))
        refuse("/api/v1/services", S.replacing(service, "name", with: name))
        for key in ["name_vi", "name_en", "legal_basis"] { refuse("/api/v1/datasets", S.replacing(dataset, key, with: name)) }
        refuse("/api/v1/agreements", S.replacing(agreement, "legal_basis", with: name))
        refuse("/api/v1/access-requests", S.replacing(request, "justification", with: reason))
        refuse("/api/v1/access-requests", S.replacing(request, "legal_basis", with: name))
        refuse("/api/v1/access-requests/AR-000001:decide", S.replacing(decision, "reason", with: reason))
        refuse("/api/v1/access-requests/AR-000001:decide", S.replacing(decision, "legal_basis", with: name))
        groups.append(("free-text", texts))

        // 6. Malformed JSON, the wrong shape, duplicate keys, numbers out of range.
        var shapes: [Hostile] = []
        let malformed: [[UInt8]] = ["", "{", "not json", "null", "[]", "true", "42", "\"VN/GOV/000.00.00.X01\"", #"{"id": }"#,
                                    #"{"id":"VN/GOV/000.00.00.X01",}"#, "{'id':'x'}", #"{"id":"VN/GOV/000.00.00.X01""#,
                                    String(repeating: "[", count: 100_000), String(repeating: #"{"a":"#, count: 50_000)].map { Array($0.utf8) }
            + [[0xFF, 0xFE, 0x7B, 0x7D], [0x7B, 0x22, 0x69, 0x64, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D], [0xEF, 0xBB, 0xBF, 0x00]]
        for (path, valid) in bodyRoutes {
            for body in malformed {
                shapes.append(Hostile(group: "json", method: .POST, path: path, body: body, status: 400, type: bad))
            }
            // The wrong shape: wrapped, in an array, every value of the wrong type.
            for body in ["{\"data\":\(S.object(valid))}", "[\(S.object(valid))]", S.object(valid.map { ($0.0, "{}") }),
                         S.object(valid.map { ($0.0, "[\($0.1)]") }), S.object(valid.map { ($0.0, "null") }),
                         S.object(valid.map { ($0.0.uppercased(), $0.1) })] {
                shapes.append(Hostile(group: "json", method: .POST, path: path, body: Array(body.utf8), status: 400, type: bad))
            }
            // A key given twice, first or last valid either way, plainly, escaped or spelled two ways.
            let (key, value) = valid[0]
            let other: String = switch key {
            case "id": S.json("VN/GOV/000.00.00.X02")
            case "outcome": S.json("refused")
            default: S.json(S.g22)
            }
            for body in [S.object(valid + [(key, other)]), S.object([(key, other)] + valid),
                         String(S.object(valid).dropLast()) + ",\"\\u00\(String(key.utf8.first ?? 0, radix: 16))\(key.dropFirst())\":\(other)}",
                         S.object(valid + [(key.uppercased(), other)]), S.object(valid + [(valid.last?.0 ?? key, valid.last?.1 ?? "")])] {
                shapes.append(Hostile(group: "json", method: .POST, path: path, body: Array(body.utf8), status: 400, type: bad))
            }
            if let snake = valid.first(where: { $0.0.contains("_") }) {
                let camel = snake.0.split(separator: "_").enumerated().map { $0.offset == 0 ? String($0.element) : $0.element.capitalized }.joined()
                shapes.append(Hostile(group: "json", method: .POST, path: path, body: Array(S.object(valid + [(camel, snake.1)]).utf8),
                                      status: 400, type: bad))
            }
            // A duplicate inside a nested object.
            if valid.contains(where: { $0.0 == "endpoints" }) {
                let body = S.object(S.replacing(valid, "endpoints", with: #"[{"method":"GET","path":"/v1/x","path":"/v1/y"}]"#))
                shapes.append(Hostile(group: "json", method: .POST, path: path, body: Array(body.utf8), status: 400, type: bad))
            }
            // Numbers out of range or in place of other values.
            for number in ["1e400", "-1e400", "99999999999999999999999999999", "-9223372036854775809", "1.7976931348623157e309", "-0", "0.1e-400"] {
                let body = S.object(valid.enumerated().map { $0.offset == valid.count - 1 ? ($0.element.0, number) : $0.element })
                shapes.append(Hostile(group: "json", method: .POST, path: path, body: Array(body.utf8), status: 400, type: bad))
            }
        }
        // Dates out of range.
        // (The ISO 8601 parser alone would read 2026-02-30 as 2 March and T25:00 as the next day.)
        for date in ["99999-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-04-31T00:00:00Z", "2027-02-29T00:00:00Z",
                     "0000-00-00T00:00:00Z", "2026-01-01", "2026-01-01T25:00:00Z", "2026-01-01T23:60:00Z", "2026-01-01T23:59:60Z",
                     "2026-01-01T00:00:00+25:00", "2026-01-01T00:00:00", " 2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z ",
                     "2026-01-01T00:00:00.Z", "+02026-01-01T00:00:00Z", "1e10", "-infinity"] {
            let body = S.object(S.replacing(agreement, "valid_until", with: S.json(date)))
            shapes.append(Hostile(group: "json", method: .POST, path: "/api/v1/agreements", body: Array(body.utf8), status: 400, type: bad))
        }
        groups.append(("json", shapes))

        // 7. Bodies over the 4 MiB limit, and not JSON by their Content-Type.
        var transport: [Hostile] = []
        let tooLarge = Array(S.object(S.replacing(member, "name", with: S.json(String(repeating: "A", count: 4 << 20)))).utf8)
        for (path, _) in bodyRoutes {
            transport.append(Hostile(group: "transport", method: .POST, path: path, body: tooLarge, status: 413, type: "Client.RequestTooLarge"))
        }
        for (path, valid) in bodyRoutes {
            for contentType in ["text/plain", "application/x-www-form-urlencoded", nil, "application/xml", "application/jsonx", "text/json"] as [String?] {
                transport.append(Hostile(group: "transport", method: .POST, path: path, contentType: contentType, body: Array(S.object(valid).utf8),
                                         status: 415, type: "Client.UnsupportedMediaType"))
            }
        }
        transport.append(Hostile(group: "transport", method: .POST, path: "/api/v1/members", headers: [("Content-Type", "text/plain")],
                                 body: Array(S.object(member).utf8), status: 415, type: "Client.UnsupportedMediaType"))
        transport.append(Hostile(group: "transport", method: .POST, path: "/api/v1/members", contentType: "multipart/form-data; boundary=x",
                                 body: Array("--x\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\nVN/GOV/000.00.00.X01\r\n--x--\r\n".utf8),
                                 status: 415, type: "Client.UnsupportedMediaType"))
        groups.append(("transport", transport))

        // 8. Roles that may not manage: a registered auditor gets 403 on every route, with the valid
        //    bodies; certificates the registry has not registered for a role (a security server's
        //    TLS certificate, a member's signing certificate) get 401, whatever their OU says; no
        //    certificate 401.
        var roles: [Hostile] = []
        for (who, status, type) in [(Who.auditor, 403, forbidden), (.server, 401, "Client.Unauthenticated")] {
            for path in reads + ["/api/v1/audit-trail?from=1&limit=10", "/api/v1/subsystems?member=\(S.enc(S.g22))"] {
                roles.append(Hostile(group: "role", who: who, method: .GET, path: path, status: status, type: type))
            }
            for (path, body) in changes {
                roles.append(Hostile(group: "role", who: who, method: .POST, path: path, body: body.map { Array($0.utf8) }, status: status, type: type))
            }
        }
        for (path, body) in changes.prefix(4) + changes.suffix(2) + [("/api/v1/members", nil), ("/api/v1/audit-trail", nil)] {
            roles.append(Hostile(group: "role", who: .member, method: body == nil && !path.contains(":") ? .GET : .POST, path: path,
                                 body: body.map { Array($0.utf8) }, status: 401, type: "Client.Unauthenticated"))
        }
        for (path, body) in changes.prefix(3) + [("/api/v1/members", nil)] {
            roles.append(Hostile(group: "role", who: .anonymous, method: body == nil ? .GET : .POST, path: path, body: body.map { Array($0.utf8) },
                                 status: 401, type: "Client.Unauthenticated"))
        }
        groups.append(("role", roles))

        // 9. POST /checkpoints takes the registered server's pinned TLS certificate (checked before
        //    the body is read: without a certificate 401, with an admin's 403), then the owner's
        //    signature. The server posting garbage gets 400; a checkpoint signed with the admin's
        //    key — or the server's TLS key, or another member's — gets 403.
        groups.append(("checkpoint", try await checkpointCases(live, seeded: seeded)))
        // 10. Outside the routes: a path the registry has, asked with another method, is 405
        //     Client.BadRequest with Allow (whoever asks: no route runs, so no role check); a path
        //     no route has 404 Client.NotFound; a request line or header too long for the HTTP
        //     parser 400 Client.BadRequest (FramingErrorHandler, which then closes the connection).
        //     Nothing changes either way.
        var unrouted: [Hostile] = []
        for (who, method, path, allow) in [(Who.admin, HTTPMethod.DELETE, "/api/v1/members/VN/GOV/000.00.00.G22", "GET"),
                                           (.admin, .PUT, "/api/v1/members", "GET, POST"), (.admin, .PATCH, "/api/v1/agreements/AG-000001", "GET"),
                                           (.admin, .DELETE, "/api/v1/audit-trail", "GET"), (.admin, .GET, "/api/v1/access-requests/AR-000001:decide", "POST"),
                                           (.auditor, .DELETE, "/api/v1/members/VN/GOV/000.00.00.G22", "GET"),
                                           (.anonymous, .PUT, "/api/v1/members", "GET, POST"), (.admin, .GET, "/checkpoints", "POST"),
                                           (.anonymous, .DELETE, "/globalconf", "GET"), (.admin, .POST, "/healthz", "GET"),
                                           (.admin, .PUT, "/api/v1/access-requests/pending", "GET")] {
            unrouted.append(Hostile(group: "unrouted", who: who, method: method, path: path,
                                    body: method == .PUT || method == .POST ? Array(S.object(member).utf8) : nil,
                                    status: 405, type: bad, allow: allow))
        }
        for (who, method, path) in [(Who.admin, HTTPMethod.GET, "/api/v1/\(S.enc("' OR 1=1 --"))"), (.admin, .GET, "/api/v2/members"),
                                    (.admin, .DELETE, "/api/v2/members"), (.anonymous, .GET, "/"), (.anonymous, .POST, "/api/v1"),
                                    (.auditor, .GET, "/api/v1/auditor/\(S.enc("\"; DROP TABLE members; --"))")] {
            unrouted.append(Hostile(group: "unrouted", who: who, method: method, path: path,
                                    body: method == .POST ? Array(S.object(member).utf8) : nil, status: 404, type: notFound))
        }
        unrouted.append(Hostile(group: "unrouted", method: .GET, path: "/api/v1/members/" + String(repeating: "A", count: 100_000), status: 400, type: bad))
        unrouted.append(Hostile(group: "unrouted", method: .GET, path: "/api/v1/members", headers: [("X-Big", String(repeating: "a", count: 200_000))],
                                status: 400, type: bad))
        groups.append(("unrouted", unrouted))
        return groups
    }

    func checkpointCases(_ live: Live, seeded: Seeded) async throws -> [Hostile] {
        typealias S = ManagementHostileInputTests
        let bad = "Client.BadRequest", forbidden = "Client.Forbidden"
        func checkpoint(server: String, signer: DetachedJWS.Signer) async throws -> StoredCheckpoint {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-log-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let log = try await AuditLog(store: try SQLiteAuditLeafStore(path: directory.appendingPathComponent("log.sqlite").path),
                                         protector: try PersonalDataProtector(key: [UInt8](repeating: 7, count: 32)))
            var event = ExchangeEvent(side: .consumer, server: server, method: "GET", startedAt: Date())
            event.messageId = "hostile-1"
            event.status = 200
            event.outcome = .success
            try await log.record(event)
            return try await log.makeCheckpoint(server: server, node: "default", at: Date()) { try signer.sign(digest: $0.digest).compact }
        }
        func submission(_ body: [UInt8], _ signature: String, ocsp: String? = nil) -> [UInt8] {
            var members = [("checkpoint", S.json(Base64URL.encode(body))), ("signature", S.json(signature))]
            if let ocsp { members.append(("ocsp", S.json(ocsp))) }
            return Array(S.object(members).utf8)
        }
        let byAdmin = try await checkpoint(server: S.server, signer: seeded.adminSigner)
        let byServerKey = try await checkpoint(server: S.server, signer: seeded.serverSigner)
        let byOtherMember = try await checkpoint(server: S.server, signer: seeded.h26Signer)
        let unregistered = try await checkpoint(server: "\(S.g22)/ss9", signer: seeded.g22Signer)
        let owner = try await checkpoint(server: S.server, signer: seeded.g22Signer)

        var cases: [Hostile] = []
        func add(_ body: [UInt8], _ status: Int, _ type: String, who: Who = .server) {
            cases.append(Hostile(group: "checkpoint", who: who, method: .POST, path: "/checkpoints", body: body, status: status, type: type))
        }
        for body in ["", "{", "null", "[]", "not json", #"{"checkpoint":1,"signature":2}"#, #"{"signature":"x"}"#] {
            add(Array(body.utf8), 400, bad)
        }
        for raw in S.injections + [S.huge] {
            add(Array(S.object([("checkpoint", S.json(raw)), ("signature", S.json("x"))]).utf8), 400, bad)
            add(Array(S.object([("checkpoint", S.json(Base64URL.encode(Array(raw.utf8)))), ("signature", S.json("x"))]).utf8), 400, bad)
            add(submission(owner.body, raw), 400, "Client.InvalidSignature")
            add(submission(owner.body, owner.signature, ocsp: raw), 400, bad)
        }
        // Signed, but not by the server's owner: the admin's key, the server's TLS key, another member's.
        for made in [byAdmin, byServerKey, byOtherMember] {
            add(submission(made.body, made.signature), 403, forbidden)
            add(submission(made.body, made.signature), 401, "Client.Unauthenticated", who: .anonymous)
        }
        // The owner's own checkpoint, but not over the server's TLS connection.
        add(submission(owner.body, owner.signature), 403, forbidden, who: .admin)
        add(submission(owner.body, owner.signature), 403, forbidden, who: .member)
        add(submission(owner.body, owner.signature), 401, "Client.Unauthenticated", who: .anonymous)
        add(Array(repeating: UInt8(ascii: "A"), count: 5 << 20), 401, "Client.Unauthenticated", who: .anonymous)
        add(submission(unregistered.body, unregistered.signature), 403, forbidden)
        // Over the 4 MiB limit: 413, as on the management routes.
        add(Array(repeating: UInt8(ascii: "A"), count: 5 << 20), 413, "Client.RequestTooLarge")
        // The owner's signature over another body.
        add(submission(byAdmin.body, owner.signature), 400, "Client.InvalidSignature")
        return cases
    }

    // MARK: - Text is data

    /// SQL-looking free text (no control character: those are refused, see the free-text group).
    static let dataName = "'; DROP TABLE members; -- ' OR 1=1 --"
    /// SQL-looking text padded to the longest name allowed, 1,000 characters (Unicode code points).
    static let dataNameEn: String = {
        let text = "%27%20OR%201%3D1 \"; DELETE FROM admin_audit; --"
        return text + String(repeating: "ư", count: 1_000 - text.unicodeScalars.count)
    }()

    /// After the batch: a valid creation still works, and SQL-looking text in a free-text field
    /// is stored and answered verbatim (one trail entry, one new configuration).
    func injectionTextIsData(_ live: Live) async throws {
        let before = try await observe(live)
        let body = Self.object([("id", Self.json("VN/GOV/'OR'1'='1")), ("name", Self.json(Self.dataName)),
                                ("name_en", Self.json(Self.dataNameEn)), ("kind", Self.json("other"))])
        let created = try await live.ok(.POST, "/api/v1/members", body, status: 201)
        let member = try RegistryJSONCoder.decoder().decode(Member.self, from: created.body)
        #expect(member.name == Self.dataName && member.nameEn == Self.dataNameEn)
        let read = try await live.get("/api/v1/members/VN/GOV/'OR'1'='1")
        #expect(try RegistryJSONCoder.decoder().decode(Member.self, from: read.body) == member)
        let after = try await observe(live)
        #expect(after.trailLength == before.trailLength + 1)
        #expect(after.serial > before.serial)
        let members = try RegistryJSONCoder.decoder().decode([Member].self, from: try #require(after.collections["/api/v1/members"]))
        #expect(members.count == 3)
    }

    /// The auditor API reads `from`/`to` as strictly as the management API reads dates: an
    /// impossible date is 400, not rolled over (each query, refused or not, is trailed, so this
    /// runs last).
    func auditorDatesAreStrict(_ live: Live) async throws {
        for value in ["2026-02-30", "2026-02-30T00:00:00Z", "2027-02-29", "2026-04-31T00:00:00Z", "2026-13-01", "2026-01-01T25:00:00Z",
                      "2026-01-01T23:60:00Z", "2026-01-01T23:59:60Z", "99999-01-01T00:00:00Z", "2026-01-01T00:00:00+25:00",
                      "2026-01-01T00:00:00", "+02026-01-01", "2026-1-01", "0000-01-01"] {
            for name in ["from", "to"] {
                let answer = try await live.get("/api/v1/auditor/compliance/kpis?\(name)=\(Self.enc(value))", as: .auditor)
                #expect(answer.status == 400 && answer.headers.first(name: "X-Road-Error") == "Client.BadRequest",
                        "\(name)=\(value): \(answer.status) \(answer.text)")
            }
        }
        for (from, to) in [("2026-02-28", "2026-03-01"), ("2024-02-29T00:00:00Z", "2024-03-01T08:30:00+07:00")] {
            let answer = try await live.get("/api/v1/auditor/compliance/kpis?from=\(Self.enc(from))&to=\(Self.enc(to))", as: .auditor)
            #expect(answer.status == 200, "from=\(from)&to=\(to): \(answer.status) \(answer.text)")
        }
    }

    /// The restarted registry reads the same member back from its store, and the trail verifies.
    func injectionTextSurvivesARestart(_ live: Live) async throws {
        let read = try await live.get("/api/v1/members/VN/GOV/'OR'1'='1")
        #expect(read.status == 200, "\(read.text)")
        let member = try? RegistryJSONCoder.decoder().decode(Member.self, from: read.body)
        #expect(member?.name == Self.dataName && member?.nameEn == Self.dataNameEn)
        let members = try RegistryJSONCoder.decoder().decode([Member].self, from: try await live.get("/api/v1/members").body)
        #expect(members.count == 3)
        let verify = try await live.get("/api/v1/audit-trail/verify")
        #expect(verify.status == 200, "\(verify.text)")
        let trail = try #require(try JSONSerialization.jsonObject(with: try await live.get("/api/v1/audit-trail?limit=1000").body) as? [Any])
        #expect(trail.count == 14, "2 registrations at set-up, the seed's 11 entries and 1 more")
    }
}
