import AsyncHTTPClient
import Foundation
import LienThongCore
import LienThongRegistry
import LienThongTrust
import NIOSSL

/// The registry part of `lienthong demo`: a real registry on loopback, set up through its API
/// with an admin certificate, publishing a signed global configuration.
enum DemoRegistry {
    /// How often the demo's security servers checkpoint their audit logs (seconds).
    static let checkpointIntervalSeconds = 2

    static let bca = "VN/GOV/000.00.00.G22"        // Bộ Công an — Ministry of Public Security
    static let justice = "VN/GOV/000.00.00.G13"    // Bộ Tư pháp — Ministry of Justice
    static let hanoi = "VN/GOV/000.00.00.H26"      // UBND TP Hà Nội (LGSP)
    static let hcmc = "VN/GOV/000.00.00.H29"       // UBND TP Hồ Chí Minh (LGSP)

    /// The inter-server port of each demo security server, chosen before they are registered.
    struct ServerPorts: Sendable {
        var byMember: [String: Int]
        static func pick() throws -> ServerPorts {
            var ports: [String: Int] = [:]
            for member in [bca, justice, hanoi, hcmc] { ports[member] = try FreePort.find() }
            return ServerPorts(byMember: ports)
        }
    }

    /// Runs the registry, sets it up, and runs `body` with its URL while it serves.
    static func run(pki: DevelopmentPKI, ocspURL: String, ocspFreshnessSeconds: Int = 3600, ports: ServerPorts, verbose: Bool = true,
                    step: (String) -> Void, body: (String) async throws -> Void = { _ in }) async throws {
        let admin = try pki.issue(role: .admin, holderId: "VN/GOV/000.00.00.VPCP/quan-tri-02")
        let tls = try pki.issue(role: .server, holderId: "VN/GOV/000.00.00.VPCP/registry")
        let dir = pki.directory
        let configuration = RegistryServerConfiguration(
            instance: "VN", port: 0, dataDirectory: dir.appendingPathComponent("registry-data").path, pkiDirectory: dir.path,
            tlsCertificateFile: dir.appendingPathComponent(tls.certificatePath).path,
            tlsKeyFile: dir.appendingPathComponent(tls.keyPath).path, ocspURL: ocspURL, ocspFreshnessSeconds: ocspFreshnessSeconds,
            checkpointIntervalSeconds: checkpointIntervalSeconds)
        try await RegistryServer(configuration: configuration).withRunning { port in
            let base = "https://127.0.0.1:\(port)"
            step("5. Central registry on \(base) (mutual TLS 1.3, SQLite); set up through its API as admin quan-tri-02")
            let api = try RegistryAPIClient(
                baseURL: base, certificateFile: dir.appendingPathComponent(admin.certificatePath).path,
                keyFile: dir.appendingPathComponent(admin.keyPath).path, caFile: pki.url(.rootCertificate).path)
            let result: Result<Void, any Error>
            do {
                try await setUp(api, pki: pki, ports: ports, verbose: verbose)
                if verbose { try await publish(base: base, pki: pki) }
                try await body(base + "/globalconf")
                result = .success(())
            } catch {
                print("   !! registry step failed: \(error)")
                result = .failure(error)
            }
            try? await api.shutdown()
            try result.get()
        }
    }

    private static func setUp(_ api: RegistryAPIClient, pki: DevelopmentPKI, ports: ServerPorts, verbose: Bool) async throws {
        func print(_ line: String) { if verbose { Swift.print(line) } }
        for (id, name, kind) in [(bca, "Bộ Công an", MemberKind.ministry), (justice, "Bộ Tư pháp", .ministry),
                                 (hanoi, "UBND Thành phố Hà Nội", .province), (hcmc, "UBND Thành phố Hồ Chí Minh", .province)] {
            let _: Member = try await api.post("/api/v1/members", NewMember(id: try MemberId(parsing: id), name: name, kind: kind))
        }
        for id in ["\(bca)/DANCU", "\(justice)/HOTICH", "\(hanoi)/MOTCUA", "\(hcmc)/MOTCUA"] {
            let _: Subsystem = try await api.post("/api/v1/subsystems", NewSubsystem(id: try SubsystemId(parsing: id)))
        }
        for member in [bca, justice, hanoi, hcmc] {
            let record = try pki.records().first { $0.role == .server && $0.holderId == "\(member)/ss1" && $0.revokedAt == nil }
                ?? pki.issue(role: .server, holderId: "\(member)/ss1")
            let pem = try PEMFiles.readText(pki.directory.appendingPathComponent(record.certificatePath))
            let _: SecurityServer = try await api.post("/api/v1/servers", NewSecurityServer(
                id: try SecurityServerId(parsing: "\(member)/ss1"), address: "127.0.0.1:\(ports.byMember[member] ?? 0)", tlsCertificate: pem))
        }
        let population = try ServiceId(parsing: "\(bca)/DANCU/tra-cuu-cong-dan")
        let civil = try ServiceId(parsing: "\(justice)/HOTICH/tra-cuu-khai-sinh")
        for service in [population, civil] {
            let _: Service = try await api.post("/api/v1/services", NewService(
                id: service, endpoints: [ServiceEndpoint(method: "GET", path: "/v1/{id}")]))
        }
        let danCu = try DatasetId(parsing: "\(bca)/datasets/dan-cu")
        let hoTich = try DatasetId(parsing: "\(justice)/datasets/ho-tich")
        let _: Dataset = try await api.post("/api/v1/datasets", NewDataset(
            id: danCu, nameVi: "CSDL quốc gia về dân cư", nameEn: "National population database", classification: .confidential,
            personalData: true, legalBasis: "Nghị định 47/2020/NĐ-CP", services: [population]))
        let _: Dataset = try await api.post("/api/v1/datasets", NewDataset(
            id: hoTich, nameVi: "CSDL hộ tịch điện tử", nameEn: "Civil status database", classification: .confidential,
            personalData: true, legalBasis: "Luật Hộ tịch 2014", services: [civil]))
        let until = Date().addingTimeInterval(365 * 86_400)
        for consumer in ["\(hanoi)/MOTCUA", "\(hcmc)/MOTCUA"] {
            let agreement: Agreement = try await api.post("/api/v1/agreements", NewAgreement(
                dataset: danCu, services: [population], consumer: try SubsystemId(parsing: consumer), purposes: ["1.004227"],
                legalBasis: "Nghị định 47/2020/NĐ-CP", validFrom: Date(), validUntil: until))
            print("   agreement \(agreement.id): \(consumer) may read \(danCu) for purpose 1.004227 until \(ISO8601DateFormatter().string(from: until).prefix(10))")
        }
        let request: AccessRequest = try await api.post("/api/v1/access-requests", NewAccessRequest(
            consumer: try SubsystemId(parsing: "\(hanoi)/MOTCUA"), dataset: hoTich, purposes: ["9.000001"],
            justification: "Thống kê dân số", legalBasis: "Nghị định 194/2025/NĐ-CP"))
        do {
            let _: AccessRequest = try await api.post("/api/v1/access-requests/\(request.id):decide",
                                                      AccessDecisionInput(outcome: .refused))
            print("   !! a refusal without a reason was accepted — this is a bug")
        } catch {
            print("   refusal without a written reason rejected: \(error)")
        }
        let refused: AccessRequest = try await api.post("/api/v1/access-requests/\(request.id):decide", AccessDecisionInput(
            outcome: .refused, reason: "Mục đích thống kê không cần dữ liệu định danh cá nhân",
            legalBasis: "Nghị định 13/2023/NĐ-CP về bảo vệ dữ liệu cá nhân"))
        print("   request \(refused.id) refused, in writing: \(refused.decision?.reason ?? "-")")
        do {
            let _: Agreement = try await api.post("/api/v1/agreements", NewAgreement(
                dataset: danCu, services: [civil], consumer: try SubsystemId(parsing: "\(hanoi)/MOTCUA"), purposes: [],
                legalBasis: "-", validFrom: Date(), validUntil: until))
            print("   !! an agreement over another owner's service was accepted — this is a bug")
        } catch {
            print("   agreement whose provider is not the dataset owner rejected: \(error)")
        }
        let verification: AuditTrailVerification = try await api.get("/api/v1/audit-trail/verify")
        print("   admin audit trail: \(verification.count) entries, hash chain verified, head #\(verification.headSequence) \(verification.headHash.prefix(16))…")
    }

    private static func publish(base: String, pki: DevelopmentPKI) async throws {
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        tlsConfiguration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(pki.url(.rootCertificate).path))
        var configuration = HTTPClient.Configuration(tlsConfiguration: tlsConfiguration)
        configuration.connectionPool.retryConnectionEstablishment = false
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let result: Result<Void, any Error>
        do {
            let client = await GlobalConfigurationClient(
                url: "\(base)/globalconf", cacheFile: pki.directory.appendingPathComponent("globalconf-cache.jws"),
                trustAnchors: [pki.rootCertificate], httpClient: http)
            _ = try await client.refresh()
            let document = try await client.current()
            print("   signed global configuration: serial \(document.serial), expires \(ISO8601DateFormatter().string(from: document.expiresAt)), "
                  + "\(document.members.count) members, \(document.servers.count) pinned servers, \(document.agreements.count) agreements in force — signature verified")
            result = .success(())
        } catch {
            result = .failure(error)
        }
        try await http.shutdown()
        try result.get()
    }
}
