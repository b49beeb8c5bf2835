import AsyncHTTPClient
import Foundation
import LienThongCore
import LienThongRegistry
import LienThongTrust
import NIOSSL

/// The registry part of `lienthong demo` (and of `lienthong bench exchange`): a real registry on
/// loopback, set up through its management API with an admin certificate, publishing a signed
/// global configuration. All names and codes are illustrative; all records are synthetic.
enum DemoRegistry {
    /// How often the demo's security servers checkpoint their audit logs (seconds).
    static let checkpointIntervalSeconds = 2

    static let bca = "VN/GOV/000.00.00.G22"        // Bộ Công an — Ministry of Public Security
    static let justice = "VN/GOV/000.00.00.G13"    // Bộ Tư pháp — Ministry of Justice
    static let hanoi = "VN/GOV/000.00.00.H26"      // UBND TP Hà Nội (LGSP)
    static let danang = "VN/GOV/000.00.00.H17"     // UBND TP Đà Nẵng (LGSP)
    static let hcmc = "VN/GOV/000.00.00.H29"       // UBND TP Hồ Chí Minh: registered, no server yet

    /// The members with a security server in the demo.
    static let connected = [bca, justice, hanoi, danang]

    static let population = "\(bca)/DANCU/tra-cuu-cong-dan"
    static let civilStatus = "\(justice)/HOTICH/tra-cuu-khai-sinh"
    static let populationDataset = "\(bca)/datasets/dan-cu"
    static let civilStatusDataset = "\(justice)/datasets/ho-tich"
    static let hanoiOneStop = "\(hanoi)/MOTCUA"
    static let danangOneStop = "\(danang)/MOTCUA"
    static let danangResidents = "\(danang)/QLDC"

    /// Purpose codes (administrative procedures; illustrative).
    static let purposeResidence = "1.004227"     // đăng ký thường trú
    static let purposeBirth = "1.001193"         // đăng ký khai sinh
    static let purposeHousing = "2.000305"       // xác nhận nơi cư trú cho hồ sơ nhà ở

    /// The inter-server port of each demo security server, chosen before they are registered.
    struct ServerPorts: Sendable {
        var byMember: [String: Int]
        static func pick() throws -> ServerPorts {
            var ports: [String: Int] = [:]
            for member in connected { ports[member] = try FreePort.find() }
            return ServerPorts(byMember: ports)
        }
    }

    /// The agreements the demo sets up, by role in the story.
    struct Agreements: Sendable {
        var hanoiPopulation = ""
        var hanoiCivilStatus = ""
        var danangPopulation = ""
        var dormant = ""
        var expired = ""
        var refusedRequest = ""
        var pendingRequest = ""
    }

    /// The running registry, as `body` gets it.
    struct Handle: Sendable {
        var baseURL: String
        var globalConfigurationURL: String { baseURL + "/globalconf" }
        var agreements: Agreements
    }

    /// The endpoints both demo services are registered with.
    static let serviceEndpoints = [ServiceEndpoint(method: "GET", path: "/v1/{id}")]
    /// The relay benchmark's (`lienthong bench network`): GET for the measured exchanges, POST for the 100 MiB body.
    static let benchServiceEndpoints = [ServiceEndpoint(method: "GET", path: "/v1/{id}"), ServiceEndpoint(method: "POST", path: "/v1/{id}")]

    /// Runs the registry, sets it up (both services with `serviceEndpoints`), and runs `body` while it serves.
    static func run(pki: DevelopmentPKI, ocspURL: String, ocspFreshnessSeconds: Int = 3600, checkpointIntervalSeconds: Int = checkpointIntervalSeconds, ports: ServerPorts,
                    serviceEndpoints: [ServiceEndpoint] = serviceEndpoints, verbose: Bool = true,
                    step: (String) -> Void, say: @escaping (String) -> Void = { print($0) },
                    body: (Handle) async throws -> Void) async throws {
        let admin = try pki.issue(role: .admin, holderId: "VN/GOV/000.00.00.VPCP/quan-tri-02")
        let tls = try pki.issue(role: .server, holderId: "VN/GOV/000.00.00.VPCP/registry")
        let relay = try pki.issue(role: .auditor, holderId: "VN/GOV/000.00.00.VPCP/registry-evidence-relay")
        let dir = pki.directory
        let configuration = RegistryServerConfiguration(
            instance: "VN", port: 0, dataDirectory: dir.appendingPathComponent("registry-data").path, pkiDirectory: dir.path,
            tlsCertificateFile: dir.appendingPathComponent(tls.certificatePath).path,
            tlsKeyFile: dir.appendingPathComponent(tls.keyPath).path, ocspURL: ocspURL, ocspFreshnessSeconds: ocspFreshnessSeconds,
            checkpointIntervalSeconds: checkpointIntervalSeconds,
            evidenceCertificateFile: dir.appendingPathComponent(relay.certificatePath).path,
            evidenceKeyFile: dir.appendingPathComponent(relay.keyPath).path)
        // The first instance administrator is registered on the registry's host before it starts
        // (`lienthong registry init --admin-cert`): the trail's first entry.
        try await RegistryServer.initialise(
            dataDirectory: configuration.dataDirectory, instance: configuration.instance,
            adminCertificatePEM: try PEMFiles.readText(dir.appendingPathComponent(admin.certificatePath)), name: "Quản trị hệ thống VPCP")
        try await RegistryServer(configuration: configuration).withRunning { port in
            let base = "https://127.0.0.1:\(port)"
            step("Central registry on \(base) (mutual TLS 1.3, SQLite), set up through its management API as admin quan-tri-02")
            let api = try RegistryAPIClient(
                baseURL: base, certificateFile: dir.appendingPathComponent(admin.certificatePath).path,
                keyFile: dir.appendingPathComponent(admin.keyPath).path, caFile: pki.url(.rootCertificate).path)
            let result: Result<Void, any Error>
            do {
                let agreements = try await setUp(api, base: base, pki: pki, ports: ports, serviceEndpoints: serviceEndpoints, say: verbose ? say : { _ in })
                if verbose { try await publish(base: base, pki: pki, say: say) }
                try await body(Handle(baseURL: base, agreements: agreements))
                result = .success(())
            } catch {
                result = .failure(error)
            }
            try? await api.shutdown()
            try result.get()
        }
    }

    /// The operator certificate of `member`'s own staff (`<member>/quan-tri-ss1`): registered at the
    /// registry as that member's operator, and the certificate its security server's veto accepts.
    static func operatorRecord(_ pki: DevelopmentPKI, _ member: String) throws -> IssuedCertificateRecord {
        let holder = "\(member)/quan-tri-ss1"
        let existing = try pki.records().first { (record: IssuedCertificateRecord) -> Bool in
            record.role == .admin && record.holderId == holder && record.revokedAt == nil
        }
        if let existing { return existing }
        return try pki.issue(role: .admin, holderId: holder)
    }

    private static func setUp(_ api: RegistryAPIClient, base: String, pki: DevelopmentPKI, ports: ServerPorts, serviceEndpoints: [ServiceEndpoint],
                              say: (String) -> Void) async throws -> Agreements {
        let members: [(String, String, String, MemberKind)] = [
            (bca, "Bộ Công an", "Ministry of Public Security", .ministry),
            (justice, "Bộ Tư pháp", "Ministry of Justice", .ministry),
            (hanoi, "UBND Thành phố Hà Nội", "Hanoi People's Committee (LGSP)", .province),
            (danang, "UBND Thành phố Đà Nẵng", "Da Nang People's Committee (LGSP)", .province),
            (hcmc, "UBND Thành phố Hồ Chí Minh", "Ho Chi Minh City People's Committee", .province),
        ]
        for (id, name, english, kind) in members {
            let _: Member = try await api.post("/api/v1/members", NewMember(id: try MemberId(parsing: id), name: name, nameEn: english, kind: kind))
        }
        // Roles come from the registry's records: the administrator registers each agency's
        // operator (for that member only) and the auditors.
        var operators: [String: RegistryAPIClient] = [:]
        defer { for client in operators.values { Task { try? await client.shutdown() } } }
        let file = { (path: String) in pki.directory.appendingPathComponent(path).path }
        for (member, name, _, _) in members {
            let record = try operatorRecord(pki, member)
            let _: ActorRegistration = try await api.post("/api/v1/registrations", NewRegistration(
                certificate: try PEMFiles.readText(URL(fileURLWithPath: file(record.certificatePath))), role: .memberOperator,
                member: try MemberId(parsing: member), name: "Cán bộ quản trị — \(name)"))
            operators[member] = try RegistryAPIClient(baseURL: base, certificateFile: file(record.certificatePath),
                                                      keyFile: file(record.keyPath), caFile: pki.url(.rootCertificate).path)
        }
        for auditor in try pki.records() where auditor.role == .auditor && auditor.revokedAt == nil {
            let _: ActorRegistration = try await api.post("/api/v1/registrations", NewRegistration(
                certificate: try PEMFiles.readText(URL(fileURLWithPath: file(auditor.certificatePath))), role: .auditor, member: nil,
                name: auditor.holderId.hasSuffix("registry-evidence-relay") ? "Registry evidence relay" : "Kiểm toán nhà nước"))
        }
        say("   5 members; each agency's operator registered for its own member only, and the auditors (roles come from the registry's records, not from certificate fields)")
        func operatorOf(_ member: String) throws -> RegistryAPIClient {
            guard let client = operators[member] else { throw DemoError("no operator for \(member)") }
            return client
        }

        // Each agency asks for its own objects; the administrator approves.
        var submitted: [ManagementRequest] = []
        func ask(_ member: String, _ change: ManagementRequestChange) async throws {
            submitted.append(try await operatorOf(member).post("/api/v1/management-requests", change))
        }
        var approvedCount = 0
        func approveAll() async throws {
            approvedCount += submitted.count
            for request in submitted {
                let _: ManagementRequest = try await api.post("/api/v1/management-requests/\(request.id):approve", ManagementDecisionInput())
            }
            submitted.removeAll()
        }
        let subsystems = [("\(bca)/DANCU", "CSDL quốc gia về dân cư"), ("\(justice)/HOTICH", "CSDL hộ tịch điện tử"),
                          (hanoiOneStop, "Hệ thống một cửa điện tử Hà Nội"), (danangOneStop, "Hệ thống một cửa điện tử Đà Nẵng"),
                          (danangResidents, "Quản lý cư trú Đà Nẵng"), ("\(hcmc)/MOTCUA", "Hệ thống một cửa TP.HCM")]
        for (id, name) in subsystems {
            let subsystem = try SubsystemId(parsing: id)
            try await ask(subsystem.member.canonical, .addSubsystem(NewSubsystem(id: subsystem, name: name)))
        }
        // A request is checked against the registry's state when it is submitted: the subsystems
        // are approved before the services that belong to them are asked for.
        try await approveAll()
        for member in connected {
            let record = try pki.records().first { $0.role == .server && $0.holderId == "\(member)/ss1" && $0.revokedAt == nil }
                ?? pki.issue(role: .server, holderId: "\(member)/ss1")
            let pem = try PEMFiles.readText(pki.directory.appendingPathComponent(record.certificatePath))
            try await ask(member, .registerServer(NewSecurityServer(
                id: try SecurityServerId(parsing: "\(member)/ss1"), address: "127.0.0.1:\(ports.byMember[member] ?? 0)", tlsCertificate: pem,
                nodes: ["default"])))
        }
        let populationService = try ServiceId(parsing: population)
        let civilService = try ServiceId(parsing: civilStatus)
        for (service, name) in [(populationService, "Tra cứu thông tin công dân"), (civilService, "Tra cứu thông tin khai sinh")] {
            try await ask(service.subsystem.member.canonical, .registerService(NewService(
                id: service, name: name, endpoints: serviceEndpoints)))
        }
        // A province's operator cannot ask for anything of a ministry's.
        do {
            let _: ManagementRequest = try await operatorOf(danang).post("/api/v1/management-requests", ManagementRequestChange.registerServer(
                NewSecurityServer(id: try SecurityServerId(parsing: "\(bca)/ss-gia-mao"), address: "127.0.0.1:1",
                                  tlsCertificate: try PEMFiles.readText(pki.directory.appendingPathComponent(try operatorRecord(pki, danang).certificatePath)))))
            throw DemoError("Đà Nẵng's operator was allowed to register a server for Bộ Công an")
        } catch let error as RegistryClientError where error.status == 403 {
            say("   Đà Nẵng's operator tries to register a server under Bộ Công an: \(error.status ?? 0) \(error.type)")
        }
        try await approveAll()
        let danCu = try DatasetId(parsing: populationDataset)
        let hoTich = try DatasetId(parsing: civilStatusDataset)
        try await ask(bca, .declareDataset(NewDataset(
            id: danCu, nameVi: "Cơ sở dữ liệu quốc gia về dân cư", nameEn: "National population database", classification: .confidential,
            personalData: true, legalBasis: "Luật Căn cước 2023; Nghị định 47/2024/NĐ-CP", services: [populationService])))
        try await ask(justice, .declareDataset(NewDataset(
            id: hoTich, nameVi: "Cơ sở dữ liệu hộ tịch điện tử", nameEn: "Civil status database", classification: .confidential,
            personalData: true, legalBasis: "Luật Hộ tịch 2014; Nghị định 87/2020/NĐ-CP", services: [civilService])))
        try await approveAll()
        say("   \(approvedCount) management requests from the agencies' own operators (6 subsystems, 4 security servers with pinned TLS certificates, "
            + "2 services, 2 datasets), each approved by the instance administrator")
        say("   datasets: \(danCu) (Bộ Công an), \(hoTich) (Bộ Tư pháp)")

        let day: TimeInterval = 86_400
        let now = Date()
        // Agreements on a dataset are its owner's to make: the owner's operator creates them.
        func agreement(_ owner: String, _ consumer: String, _ dataset: DatasetId, _ service: ServiceId, _ purposes: [String], _ legalBasis: String,
                       from: TimeInterval, until: TimeInterval, _ role: String) async throws -> String {
            let created: Agreement = try await operatorOf(owner).post("/api/v1/agreements", NewAgreement(
                dataset: dataset, services: [service], consumer: try SubsystemId(parsing: consumer), purposes: purposes,
                legalBasis: legalBasis, validFrom: now.addingTimeInterval(from * day), validUntil: now.addingTimeInterval(until * day)))
            say("   agreement \(created.id): \(consumer) → \(dataset.datasetCode) for \(purposes.joined(separator: ", ")) — \(role)")
            return created.id
        }
        var result = Agreements()
        // Hà Nội asks Bộ Công an for the population data; the ministry's operator approves, which
        // creates the agreement.
        let asked: AccessRequest = try await operatorOf(hanoi).post("/api/v1/access-requests", NewAccessRequest(
            consumer: try SubsystemId(parsing: hanoiOneStop), dataset: danCu, purposes: [purposeResidence],
            justification: "Giải quyết thủ tục đăng ký thường trú", legalBasis: "Nghị định 104/2022/NĐ-CP"))
        let approved: AccessRequest = try await operatorOf(bca).post("/api/v1/access-requests/\(asked.id):decide", AccessDecisionInput(
            outcome: .approved, reason: "Đủ căn cứ pháp lý", validFrom: now.addingTimeInterval(-90 * day), validUntil: now.addingTimeInterval(275 * day)))
        guard let approvedAgreement = approved.decision?.agreementId else { throw DemoError("the approval of \(asked.id) created no agreement") }
        result.hanoiPopulation = approvedAgreement
        say("   access request \(asked.id): \(hanoiOneStop) → \(danCu.datasetCode), approved by Bộ Công an's operator: agreement \(approvedAgreement) — active, used")
        result.hanoiCivilStatus = try await agreement(justice, hanoiOneStop, hoTich, civilService, [purposeBirth],
                                                       "Nghị định 63/2024/NĐ-CP", from: -90, until: 275, "active, used (and vetoed for a while)")
        result.danangPopulation = try await agreement(bca, danangOneStop, danCu, populationService, [purposeResidence],
                                                       "Nghị định 104/2022/NĐ-CP", from: -90, until: 275, "active, used")
        result.dormant = try await agreement(bca, danangResidents, danCu, populationService, [purposeHousing],
                                             "Nghị định 104/2022/NĐ-CP", from: -120, until: 245, "active, never used: dormant")
        // The registry refuses an agreement already over when it is made (docs/registry-api.md):
        // this one runs out three seconds after it is made, and the setup waits for that below.
        result.expired = try await agreement(justice, danangOneStop, hoTich, civilService, [purposeBirth],
                                             "Nghị định 63/2024/NĐ-CP", from: -400, until: 3 / day, "runs out in 3 seconds")
        let expiredAt = RegistryJSON.wholeSecond(now).addingTimeInterval(3)

        let renewal: AccessRequest = try await operatorOf(danang).post("/api/v1/access-requests", NewAccessRequest(
            consumer: try SubsystemId(parsing: danangOneStop), dataset: hoTich, purposes: ["9.000001"],
            justification: "Thống kê biến động dân số theo phường", legalBasis: "Nghị định 194/2025/NĐ-CP"))
        let refused: AccessRequest = try await operatorOf(justice).post("/api/v1/access-requests/\(renewal.id):decide", AccessDecisionInput(
            outcome: .refused, reason: "Mục đích thống kê không cần dữ liệu định danh cá nhân; đề nghị dùng số liệu tổng hợp đã công bố",
            legalBasis: "Nghị định 13/2023/NĐ-CP về bảo vệ dữ liệu cá nhân, Điều 3"))
        result.refusedRequest = refused.id
        say("   access request \(refused.id): \(danangOneStop) → \(hoTich.datasetCode) refused in writing by Bộ Tư pháp's own operator: \(refused.decision?.reason ?? "-")")
        let pending: AccessRequest = try await operatorOf(hanoi).post("/api/v1/access-requests", NewAccessRequest(
            consumer: try SubsystemId(parsing: hanoiOneStop), dataset: danCu, purposes: [purposeHousing],
            justification: "Xác nhận nơi cư trú cho hồ sơ nhà ở xã hội", legalBasis: "Luật Nhà ở 2023"))
        result.pendingRequest = pending.id
        say("   access request \(pending.id): \(hanoiOneStop) → \(danCu.datasetCode) for \(purposeHousing), waiting for Bộ Công an's decision")
        while Date() < expiredAt { try await Task.sleep(for: .milliseconds(100)) }
        say("   agreement \(result.expired) has run out: it is expired from now on")
        let verification: AuditTrailVerification = try await api.get("/api/v1/audit-trail/verify")
        say("   admin audit trail: \(verification.count) entries, each with its actor's role and member, hash chain verified")
        return result
    }

    private static func publish(base: String, pki: DevelopmentPKI, say: (String) -> Void) async throws {
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
            say("   signed global configuration: serial \(document.serial), expires \(RegistryJSON.timestamp(document.expiresAt)), "
                + "\(document.members.count) members, \(document.servers.count) pinned servers, \(document.agreements.count) agreements — signature verified")
            result = .success(())
        } catch {
            result = .failure(error)
        }
        try await http.shutdown()
        try result.get()
    }
}
