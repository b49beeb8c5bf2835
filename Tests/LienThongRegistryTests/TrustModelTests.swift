import Foundation
import LienThongCore
import LienThongRegistry
import LienThongTrust
import Testing

/// Issue 15's registry attacks, against a real registry over mutual TLS: roles come from the
/// registry's own records; a member operator acts only for its own member; nobody approves their
/// own request; a revoked registration stops at once. Every refusal is typed and changes nothing.
@Suite("Trust model: every actor can do only what its role and its own membership allow", .serialized)
struct TrustModelTests {
    static let bca = "VN/GOV/000.00.00.G22"
    static let danang = "VN/GOV/000.00.00.H17"
    static let service = "\(bca)/DANCU/tra-cuu-cong-dan"
    static let dataset = "\(bca)/datasets/dan-cu"

    /// A registry API client as `record`.
    static func client(_ r: LiveRegistry, _ record: IssuedCertificateRecord) throws -> RegistryAPIClient {
        try RegistryAPIClient(baseURL: r.url, certificateFile: r.path(record.certificatePath), keyFile: r.path(record.keyPath), caFile: r.caFile)
    }

    /// The status of a call that must fail (0 if it succeeded).
    static func status<T: Decodable>(_ call: () async throws(RegistryClientError) -> T) async -> (Int, String) {
        do {
            _ = try await call()
            return (0, "")
        } catch {
            return (error.status ?? -1, error.type)
        }
    }

    /// What "nothing changed" compares: the admin trail's length and head, and the agreements,
    /// requests, registrations and management requests.
    static func state(_ admin: RegistryAPIClient) async throws -> [String] {
        let trail: [AdminAuditEntry] = try await admin.get("/api/v1/audit-trail?limit=1000")
        let agreements: [Agreement] = try await admin.get("/api/v1/agreements")
        let registrations: [ActorRegistration] = try await admin.get("/api/v1/registrations")
        let requests: [ManagementRequest] = try await admin.get("/api/v1/management-requests")
        let servers: [SecurityServer] = try await admin.get("/api/v1/servers")
        return ["\(trail.count)", trail.last?.hash ?? "-", "\(agreements.map(\.status))", "\(registrations.map(\.revokedAt))",
                "\(requests.map(\.status))", "\(servers.count)"]
    }

    @Test("an agency's operator acts only for its own member; the administrator approves; revocation is immediate; the trail names role and member")
    func operatorsAreScoped() async throws {
        try await LiveRegistry.with { r in
            // The ground: two members, a provider's objects, an agreement between BCA and Hà Nội's stand-in (Đà Nẵng).
            _ = try await r.ok(["member", "create", "--id", Self.bca, "--name", "Bộ Công an", "--kind", "ministry"])
            _ = try await r.ok(["member", "create", "--id", Self.danang, "--name", "UBND Thành phố Đà Nẵng", "--kind", "province"])
            _ = try await r.ok(["subsystem", "create", "--id", "\(Self.bca)/DANCU"])
            _ = try await r.ok(["subsystem", "create", "--id", "\(Self.danang)/MOTCUA"])
            _ = try await r.ok(["service", "create", "--id", Self.service, "--endpoint", "GET /v1/{id}"])
            _ = try await r.ok(["dataset", "create", "--id", Self.dataset, "--name-vi", "Dân cư", "--name-en", "Population",
                                "--classification", "confidential", "--personal-data", "--legal-basis", "Luật Căn cước 2023", "--service", Self.service])
            _ = try await r.ok(["agreement", "create", "--dataset", Self.dataset, "--service", Self.service, "--consumer", "\(Self.danang)/MOTCUA",
                                "--purpose", "1.004227", "--legal-basis", "Nghị định 104/2022/NĐ-CP", "--valid-until", "2030-01-01"])

            // Each agency's own operators hold admin-OU certificates, as in round 1: the OU grants nothing.
            let bcaOperator = try r.pki.issue(role: .admin, holderId: "\(Self.bca)/quan-tri-ss1")
            let danangOperator = try r.pki.issue(role: .admin, holderId: "\(Self.danang)/quan-tri-ss1")
            let bcaViewer = try r.pki.issue(role: .admin, holderId: "\(Self.bca)/lanh-dao-01")
            let admin = try Self.client(r, r.admin)
            let danang = try Self.client(r, danangOperator)
            let bca = try Self.client(r, bcaOperator)
            let viewer = try Self.client(r, bcaViewer)
            defer { for c in [admin, danang, bca, viewer] { Task { try? await c.shutdown() } } }

            // Unregistered: 401 on every API; the global configuration stays open to anyone.
            #expect(await Self.status { () async throws(RegistryClientError) -> [Member] in try await danang.get("/api/v1/members") } == (401, "Client.Unauthenticated"))
            #expect(await Self.status { () async throws(RegistryClientError) -> Member in
                try await danang.post("/api/v1/members", NewMember(id: try! MemberId(parsing: "VN/GOV/000.00.00.X99"), name: "Giả mạo", kind: .other))
            } == (401, "Client.Unauthenticated"))
            let (conf, _, _) = try await admin.getRaw("/globalconf")
            #expect(conf == 200)

            try await r.register(danangOperator, as: .memberOperator, member: Self.danang)
            try await r.register(bcaOperator, as: .memberOperator, member: Self.bca)
            try await r.register(bcaViewer, as: .viewer, member: Self.bca)
            let before = try await Self.state(admin)

            // Đà Nẵng's operator on every management route of another member (BCA): 403, nothing changes.
            let bcaMember = try MemberId(parsing: Self.bca)
            let pem = try PEMFiles.readText(URL(fileURLWithPath: r.path(danangOperator.certificatePath)))
            let serverCert = try r.pki.issue(role: .server, holderId: "\(Self.bca)/ss-gia-mao")
            let serverPEM = try PEMFiles.readText(URL(fileURLWithPath: r.path(serverCert.certificatePath)))
            let rogueServer = NewSecurityServer(id: try SecurityServerId(parsing: "\(Self.bca)/ss-gia-mao"), address: "10.0.0.66:5500", tlsCertificate: serverPEM)
            let bcaService = try ServiceId(parsing: Self.service)
            let bcaDataset = try DatasetId(parsing: Self.dataset)
            typealias Call = () async throws(RegistryClientError) -> Void
            func post<B: Encodable>(_ path: String, _ body: B) -> Call {
                { () async throws(RegistryClientError) in let _: IgnoredBody = try await danang.post(path, body) }
            }
            func postEmpty(_ path: String) -> Call { { () async throws(RegistryClientError) in let _: IgnoredBody = try await danang.post(path) } }
            func get(_ path: String) -> Call { { () async throws(RegistryClientError) in let _: IgnoredBody = try await danang.get(path) } }
            let attacks: [(String, Call)] = [
                ("create a member", post("/api/v1/members", NewMember(id: try MemberId(parsing: "VN/GOV/000.00.00.X99"), name: "X", kind: .other))),
                ("disable BCA", postEmpty("/api/v1/members/\(bcaMember.percentEncoded):disable")),
                ("add a BCA subsystem", post("/api/v1/subsystems", NewSubsystem(id: try SubsystemId(parsing: "\(Self.bca)/GIAMAO")))),
                ("register a rogue BCA server", post("/api/v1/servers", rogueServer)),
                ("register a BCA service", post("/api/v1/services", NewService(id: try ServiceId(parsing: "\(Self.bca)/DANCU/xuat-du-lieu")))),
                ("disable BCA's service", postEmpty("/api/v1/services/\(bcaService.percentEncoded):disable")),
                ("declare a BCA dataset", post("/api/v1/datasets", NewDataset(id: try DatasetId(parsing: "\(Self.bca)/datasets/gia-mao"), nameVi: "x",
                                                                               nameEn: "x", classification: .public, personalData: false, legalBasis: "x", services: []))),
                ("grant itself BCA's dataset", post("/api/v1/agreements", NewAgreement(dataset: bcaDataset, services: [bcaService],
                                                                                       consumer: try SubsystemId(parsing: "\(Self.danang)/MOTCUA"),
                                                                                       purposes: ["1.004227"], legalBasis: "x", validFrom: Date(),
                                                                                       validUntil: Date().addingTimeInterval(86_400)))),
                ("revoke BCA's agreement", postEmpty("/api/v1/agreements/AG-000001:revoke")),
                ("file a request as BCA's subsystem", post("/api/v1/access-requests", NewAccessRequest(
                    consumer: try SubsystemId(parsing: "\(Self.bca)/DANCU"), dataset: bcaDataset, purposes: ["1"], justification: "x", legalBasis: "x"))),
                ("ask for a rogue BCA server", post("/api/v1/management-requests", ManagementRequestChange.registerServer(rogueServer))),
                ("ask to disable BCA's service", post("/api/v1/management-requests", ManagementRequestChange.disableService(bcaService))),
                ("register its own certificate as administrator", post("/api/v1/registrations", NewRegistration(certificate: pem, role: .instanceAdmin,
                                                                                                                   member: nil, name: "x"))),
                ("read the admin trail", get("/api/v1/audit-trail")),
            ]
            for (what, attack) in attacks {
                var outcome = (0, "")
                do { try await attack() } catch let error as RegistryClientError { outcome = (error.status ?? -1, error.type) } catch {
                    outcome = (-1, "\(error)")
                }
                #expect(outcome == (403, "Client.Forbidden"), "Đà Nẵng's operator could \(what): \(outcome)")
            }
            // It cannot decide BCA's access requests either: BCA's own operator files... for BCA,
            // Đà Nẵng's operator files its own, and may not decide it.
            let filed: AccessRequest = try await danang.post("/api/v1/access-requests", NewAccessRequest(
                consumer: try SubsystemId(parsing: "\(Self.danang)/MOTCUA"), dataset: bcaDataset, purposes: ["2.000305"],
                justification: "Xác nhận cư trú", legalBasis: "Luật Nhà ở 2023"))
            #expect(await Self.status { () async throws(RegistryClientError) -> AccessRequest in
                try await danang.post("/api/v1/access-requests/\(filed.id):decide", AccessDecisionInput(outcome: .approved))
            } == (403, "Client.Forbidden"))
            let afterAttacks = try await Self.state(admin)
            #expect(afterAttacks[2...] == before[2...], "an attack changed the registry")
            #expect(Int(afterAttacks[0]) == (Int(before[0]) ?? 0) + 1, "only the legitimate access request reached the trail")

            // The agreement between BCA and Đà Nẵng is visible to both; the viewer reads, changes nothing.
            let seen: [Agreement] = try await viewer.get("/api/v1/agreements")
            #expect(seen.map(\.id) == ["AG-000001"])
            #expect(await Self.status { () async throws(RegistryClientError) -> Agreement in try await viewer.post("/api/v1/agreements/AG-000001:suspend") }
                    == (403, "Client.Forbidden"))

            // BCA's operator asks for its server; it cannot approve it; an administrator can.
            let ownServer = NewSecurityServer(id: try SecurityServerId(parsing: "\(Self.bca)/ss1"), address: "127.0.0.1:5500",
                                              tlsCertificate: try PEMFiles.readText(URL(fileURLWithPath: r.path(try r.pki.issue(role: .server, holderId: "\(Self.bca)/ss1").certificatePath))))
            // A request is checked with its operation's rules when it is submitted: a service of a
            // subsystem that does not exist is refused, and nothing is stored.
            let requestsBefore: [ManagementRequest] = try await admin.get("/api/v1/management-requests")
            #expect(await Self.status { () async throws(RegistryClientError) -> ManagementRequest in
                try await bca.post("/api/v1/management-requests", ManagementRequestChange.registerService(
                    NewService(id: try! ServiceId(parsing: "\(Self.bca)/KHONGCO/tra-cuu"))))
            } == (404, "Client.NotFound"))
            let requestsAfter: [ManagementRequest] = try await admin.get("/api/v1/management-requests")
            #expect(requestsAfter == requestsBefore)
            let asked: ManagementRequest = try await bca.post("/api/v1/management-requests", ManagementRequestChange.registerServer(ownServer))
            #expect(asked.status == .pending)
            #expect(await Self.status { () async throws(RegistryClientError) -> ManagementRequest in
                try await bca.post("/api/v1/management-requests/\(asked.id):approve", ManagementDecisionInput())
            } == (403, "Client.Forbidden"))
            let approved: ManagementRequest = try await admin.post("/api/v1/management-requests/\(asked.id):approve", ManagementDecisionInput(reason: "Đã kiểm tra"))
            #expect(approved.status == .approved)
            let servers: [SecurityServer] = try await admin.get("/api/v1/servers")
            #expect(servers.map(\.id.canonical) == ["\(Self.bca)/ss1"])
            // An administrator's own request needs another administrator.
            let mine: ManagementRequest = try await admin.post("/api/v1/management-requests", ManagementRequestChange.addSubsystem(
                NewSubsystem(id: try SubsystemId(parsing: "\(Self.bca)/THONGKE"))))
            #expect(await Self.status { () async throws(RegistryClientError) -> ManagementRequest in
                try await admin.post("/api/v1/management-requests/\(mine.id):approve", ManagementDecisionInput())
            } == (409, "Client.Conflict"))

            // The owner decides its own dataset's requests; the administrator may, on the owner's behalf.
            let refused: AccessRequest = try await bca.post("/api/v1/access-requests/\(filed.id):decide", AccessDecisionInput(
                outcome: .refused, reason: "Không đủ căn cứ", legalBasis: "Nghị định 13/2023/NĐ-CP"))
            #expect(refused.decision?.outcome == .refused)
            let trail: [AdminAuditEntry] = try await admin.get("/api/v1/audit-trail?limit=1000")
            let refusal = try #require(trail.last { $0.action == "access_request.refuse" })
            #expect(refusal.actorRole == .memberOperator && refusal.actorMember?.canonical == Self.bca)
            let approval = try #require(trail.last { $0.action == "management_request.approve" })
            #expect(approval.actorRole == .instanceAdmin && approval.actorMember == nil)

            // Revoking Đà Nẵng's operator takes effect with its next request.
            let mineNow: ActorRegistration = try await danang.get("/api/v1/me")
            let _: ActorRegistration = try await admin.post("/api/v1/registrations/\(mineNow.certificateSHA256):revoke")
            #expect(await Self.status { () async throws(RegistryClientError) -> [Member] in try await danang.get("/api/v1/members") }
                    == (401, "Client.Unauthenticated"))
            let verified: AuditTrailVerification = try await admin.get("/api/v1/audit-trail/verify")
            #expect(verified.count == Int64(trail.count) + 1)
        }
    }
}

/// Any JSON answer, ignored.
private struct IgnoredBody: Decodable {
    init(from decoder: any Decoder) throws {}
}
