import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongTrust
import X509
@testable import LienThongServer
import LienThongTestSupport
import Testing

@Suite("Agreement check")
struct AccessPolicyTests {
    typealias F = MetaFixtures

    func refusal(_ client: ClientId, _ service: ServiceId, purpose: String? = nil, side: ExchangeSide = .consumer,
                 method: String = "POST", path: String = "/v1/tra-cuu",
                 configuration: GlobalConfiguration? = nil) throws -> XRoadFault? {
        let index = GlobalConfigurationIndex(try configuration ?? F.configuration())
        do {
            _ = try AccessPolicy.agreement(client: client, service: service, purpose: purpose, method: method, path: path,
                                           index: index, side: side, now: F.now)
            return nil
        } catch {
            return error
        }
    }

    @Test func anAgreementInForceAllows() throws {
        #expect(try refusal(.subsystem(F.lgsp), F.traCuuV1) == nil)
        let index = GlobalConfigurationIndex(try F.configuration())
        let agreement = try AccessPolicy.agreement(client: .subsystem(F.lgsp), service: F.traCuuV1, purpose: "any",
                                                   method: "GET", path: "/v1/cong-dan/001099012345", index: index,
                                                   side: .provider, now: F.now)
        #expect(agreement.id == "AG-1")
    }

    @Test func onlyTheServicesEndpointsNarrowedByTheAgreementAreReachable() throws {
        #expect(try refusal(.subsystem(F.lgsp), F.traCuuV1, method: "get", path: "/v1/cong-dan/7?x=1") == nil)
        for (method, path) in [("DELETE", "/internal/export?all=1"), ("DELETE", "/v1/cong-dan/zz7"), ("GET", "/v1/cong-dan/zz7/x"),
                               ("GET", "/v1/cong-dan/"), ("GET", "/v1/tra-cuu")] {
            let denied = try refusal(.subsystem(F.lgsp), F.traCuuV1, side: .provider, method: method, path: path)
            #expect(denied?.type == .providerAccessDenied && denied?.message.contains("GET /v1/cong-dan/{so-dinh-danh}") == true
                    && denied?.message.contains("zz7") == false && denied?.message.contains("export") == false,
                    "\(method) \(path): \(denied?.message ?? "allowed")")
        }
        var configuration = try F.configuration()
        configuration.agreements[0].endpoints = [ServiceEndpoint(method: "POST", path: "/v1/tra-cuu")]
        #expect(try refusal(.subsystem(F.lgsp), F.traCuuV1, method: "POST", path: "/v1/tra-cuu", configuration: configuration) == nil)
        let narrowed = try refusal(.subsystem(F.lgsp), F.traCuuV1, method: "GET", path: "/v1/cong-dan/7", configuration: configuration)
        #expect(narrowed?.type == .consumerAccessDenied, "the agreement narrows the service to POST /v1/tra-cuu")
    }

    @Test func noAgreementExpiredOrNotYetInForceIsAccessDenied() throws {
        let none = try refusal(.subsystem(F.hoTich), F.traCuuV1)
        #expect(none?.type == .consumerAccessDenied && none?.message.contains("No sharing agreement") == true)
        let expired = try refusal(.subsystem(F.lgsp), F.traCuuV2, side: .provider)
        #expect(expired?.type == .providerAccessDenied && expired?.message.contains("expired") == true)
        let future = try refusal(.subsystem(F.lgsp), F.xacThuc)
        #expect(future?.type == .consumerAccessDenied && future?.message.contains("not in force before") == true)
    }

    @Test func purposesAreRequiredAndChecked() throws {
        var configuration = try F.configuration()
        configuration.agreements[0].purposes = ["1.004227"]
        #expect(try refusal(.subsystem(F.lgsp), F.traCuuV1, purpose: "1.004227", configuration: configuration) == nil)
        let wrong = try refusal(.subsystem(F.lgsp), F.traCuuV1, purpose: "9.9", configuration: configuration)
        #expect(wrong?.type == .consumerAccessDenied && wrong?.message.contains("1.004227") == true)
        let missing = try refusal(.subsystem(F.lgsp), F.traCuuV1, purpose: nil, configuration: configuration)
        #expect(missing?.type == .consumerAccessDenied && missing?.message.contains(XRoadHeader.purpose) == true)
    }

    @Test func membersCannotHoldAgreementsAndDisabledMembersAreRefused() throws {
        #expect(try refusal(.member(F.member("000.00.00.H29")), F.traCuuV1)?.type == .consumerAccessDenied)
        let disabled = try refusal(.subsystem(F.thue), F.traCuuV1)
        #expect(disabled?.type == .consumerAccessDenied && disabled?.message.contains("disabled") == true)
    }
}

@Suite("Local client connection check")
struct ClientConnectionTests {
    let subsystem = try! SubsystemId(parsing: "VN/GOV/000.00.00.H26/MOTCUA")

    func allowed(_ connection: ClientConnection, _ local: SecurityServerConfiguration.LocalClient) -> Bool {
        (try? ConsumerExchange.checkConnection(connection, for: local, subsystem: subsystem)) != nil
    }

    @Test func httpClientsComeFromListedAddressesOrLoopback() {
        let loopbackOnly = SecurityServerConfiguration.LocalClient(subsystem: subsystem.canonical)
        #expect(allowed(.init(address: "127.0.0.1"), loopbackOnly))
        #expect(allowed(.init(address: "::1"), loopbackOnly))
        #expect(!allowed(.init(address: "10.0.0.5"), loopbackOnly))
        #expect(!allowed(.init(address: nil), loopbackOnly))
        let listed = SecurityServerConfiguration.LocalClient(subsystem: subsystem.canonical, allowedAddresses: ["10.0.0.5"])
        #expect(allowed(.init(address: "10.0.0.5"), listed))
        #expect(!allowed(.init(address: "127.0.0.1"), listed))
    }

    @Test func httpsClientsNeedTheirPinnedCertificate() {
        let pin = String(repeating: "ab", count: 32)
        let local = SecurityServerConfiguration.LocalClient(subsystem: subsystem.canonical, connection: .https, certificateSHA256: [pin.uppercased()])
        #expect(allowed(.init(address: "10.0.0.5", certificateSHA256: pin, isHTTPS: true), local))
        #expect(!allowed(.init(address: "10.0.0.5", certificateSHA256: String(repeating: "cd", count: 32), isHTTPS: true), local))
        #expect(!allowed(.init(address: "127.0.0.1"), local), "an HTTPS-only client may not use the plain HTTP port")
    }
}

@Suite("Security server configuration")
struct SecurityServerConfigurationTests {
    static let example = JSONSchemaCheck.repositoryRoot.appendingPathComponent("docs/examples/security-server.json")

    @Test func theExampleLoadsWithDefaultsAndResolvedPaths() throws {
        let configuration = try SecurityServerConfiguration.load(from: Self.example)
        #expect(configuration.serverId == "VN/GOV/000.00.00.G22/ss1")
        #expect(configuration.configurationRefreshSeconds == 60)
        #expect(configuration.limits.memoryThresholdBytes == 1 << 20 && configuration.limits.backendTimeoutSeconds == 30)
        #expect(configuration.limits.peerIdleConnections == 128, "enough idle peer connections that 64 concurrent exchanges reuse theirs")
        #expect(configuration.tlsCertificateFile.hasPrefix("/") && configuration.tlsCertificateFile.hasSuffix("docs/examples/pki/server/VN_GOV_000.00.00.G22_ss1.crt"))
        #expect(configuration.services.first?.openAPIFile?.hasSuffix("docs/examples/openapi/tra-cuu-cong-dan.yaml") == true)
        #expect(configuration.clients.first?.connection == .http)
    }

    @Test(.enabled(if: JSONSchemaCheck.python != nil))
    func theExampleAndAFilledInConfigurationMatchTheSchema() async throws {
        let example = try Array(Data(contentsOf: Self.example))
        let filled = try Array(SecurityServerConfiguration.load(from: Self.example).jsonData())
        let result = try await JSONSchemaCheck.validate([
            (schema: "schemas/security-server-config.schema.json", document: example),
            (schema: "schemas/security-server-config.schema.json", document: filled),
        ])
        #expect(result.status == 0, "\(result.output)")
    }

    func loadError(_ edit: (inout [String: Any]) -> Void) throws -> String? {
        var object = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: Self.example)) as? [String: Any])
        edit(&object)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ss-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: object).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        do {
            _ = try SecurityServerConfiguration.load(from: file)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func inconsistentConfigurationsAreRejectedWithAReason() throws {
        #expect(try loadError { $0["server_id"] = "VN/GOV" }?.contains("server_id") == true)
        #expect(try loadError { $0["clients"] = [["subsystem": "VN/GOV/000.00.00.H26/MOTCUA"]] }?.contains("not a subsystem of this server's owner") == true)
        #expect(try loadError { $0["clients"] = [["subsystem": "VN/GOV/000.00.00.G22/DANCU", "connection": "https"]] }?.contains("client_https_listener") == true)
        #expect(try loadError { $0["services"] = [["id": "VN/GOV/000.00.00.G22/DANCU/x", "backend_url": "ftp://x"]] }?.contains("backend_url") == true)
        #expect(try loadError { $0["services"] = [["id": "VN/GOV/000.00.00.G13/HOTICH/x", "backend_url": "http://x"]] }?.contains("not provided by this server's owner") == true)
        #expect(try loadError { $0["limits"] = ["maximum_body_bytes": 0] }?.contains("limit") == true)
        #expect(try loadError { $0["limits"] = ["peer_idle_connections": -1] }?.contains("peer_idle_connections") == true)
        #expect(try loadError { $0["limits"] = ["peer_max_connections": 0] }?.contains("peer_max_connections") == true)
        #expect(try loadError { $0.removeValue(forKey: "registry_url") } != nil)
    }
}

@Suite("Exchange events")
struct ExchangeEventTests {
    @Test(.enabled(if: JSONSchemaCheck.python != nil))
    func theJSONLinesHookWritesSchemaValidLinesAndFailsClosed() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("events-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: file) }
        let sink = try JSONLinesExchangeAuditSink(url: file)
        var event = ExchangeEvent(side: .provider, server: "VN/GOV/000.00.00.G22/ss1", method: "GET", startedAt: Date())
        event.messageId = "msg-1"
        event.outcome = .refused
        event.errorType = "Server.ServerProxy.AccessDenied"
        event.status = 500
        try await sink.record(event)
        event.outcome = .success
        event.errorType = nil
        event.status = 200
        try await sink.record(event)
        let lines = try Data(contentsOf: file).split(separator: UInt8(ascii: "\n"))
        #expect(lines.count == 2)
        let first = try #require(JSONSerialization.jsonObject(with: Data(lines[0])) as? [String: Any])
        #expect((first["startedAt"] as? String)?.range(of: #"T\d{2}:\d{2}:\d{2}\.\d{3}"#, options: .regularExpression) != nil,
                "times are kept to the millisecond")
        let result = try await JSONSchemaCheck.validate(lines.map { (schema: "schemas/exchange-event.schema.json", document: Array($0)) })
        #expect(result.status == 0, "\(result.output)")
        #expect(((try? FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions]) as? Int) == 0o600)

        let memory = InMemoryExchangeAuditSink()
        await memory.setFailure(CocoaError(.fileWriteOutOfSpace))
        await #expect(throws: (any Error).self) { try await memory.record(event) }
        #expect(await memory.events.isEmpty)
    }

    @Test func failuresAndRefusalsAreToldApart() {
        #expect(XRoadErrorType.providerServiceFailed.isFailure && XRoadErrorType.consumerNetworkError.isFailure)
        #expect(!XRoadErrorType.providerAccessDenied.isFailure && !XRoadErrorType.badRequest.isFailure)
    }
}

/// Answers every OCSP question with `good`, issued at the time asked: stands in for the responder
/// in a unit test of the cache (the end-to-end tests use the real responder).
struct AlwaysGoodOCSP: OCSPStatusSource {
    func fetchStatus(of leaf: Certificate, issuer: Certificate, at now: Date) async throws -> VerifiedOCSPStatus {
        VerifiedOCSPStatus(status: .good, thisUpdate: now, nextUpdate: now.addingTimeInterval(3600), producedAt: now, responseDER: [1, 2, 3])
    }
    func verifyStapled(_ responseDER: [UInt8], of leaf: Certificate, issuer: Certificate, at now: Date) throws -> VerifiedOCSPStatus {
        throw CertificateValidationError(.revocationStatusUnknown, "no stapling in this test")
    }
}

@Suite("Validation cache")
struct ValidationCacheTests {
    @Test func aChainIsValidatedOnceUntilItsStatusNeedsRefreshing() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let pki = try DevelopmentPKI.initialise(at: directory, instance: "VN", ocspURL: nil)
        let record = try pki.issue(role: .member, holderId: "VN/GOV/000.00.00.G22")
        let chain = try PEMFiles.readCertificates(directory.appendingPathComponent(record.certificatePath))
        let validator = CertificateValidator(trustAnchors: [pki.rootCertificate],
                                             revocation: RevocationChecker(source: AlwaysGoodOCSP(), policy: .init(freshness: 60)))
        let cache = ValidationCache(validator: validator, refreshAfter: 30)
        let start = Date()
        for offset in [0.0, 1, 29] {
            let validated = try await cache.validateMember(chain: chain, chainKey: "k", stapled: nil, at: start.addingTimeInterval(offset))
            #expect(validated.holderId == "VN/GOV/000.00.00.G22")
        }
        #expect(await cache.validations == 1)
        _ = try await cache.validateMember(chain: chain, chainKey: "k", stapled: nil, at: start.addingTimeInterval(31))
        #expect(await cache.validations == 2, "past the refresh point the chain is validated again")
        _ = try await cache.validateMember(chain: chain, chainKey: "k", stapled: [9], at: start.addingTimeInterval(31))
        #expect(await cache.validations == 3, "another staple is another entry")
        await #expect(throws: CertificateValidationError.self) {
            _ = try await cache.validateMember(chain: chain, chainKey: "k", stapled: nil, at: start.addingTimeInterval(2 * 365 * 86_400))
        }
    }
}

@Suite("Provider veto")
struct ProviderVetoTests {
    let server = try! SecurityServerId(parsing: "VN/GOV/000.00.00.G22/ss1")
    let service = try! ServiceId(parsing: "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan")
    let client = try! ClientId(parsing: "VN/GOV/000.00.00.H26/MOTCUA")

    func type(_ veto: SecurityServerConfiguration.Veto, enabled: Bool = true, client: ClientId? = nil) -> XRoadErrorType? {
        do {
            try ProviderVeto(veto).check(client: client ?? self.client, service: service, enabledInConfiguration: enabled, server: server)
            return nil
        } catch {
            return error.type
        }
    }

    @Test func eachVetoHasItsType() throws {
        #expect(type(.init()) == nil)
        #expect(type(.init(maintenance: true)) == .providerMaintenanceMode)
        #expect(type(.init(disabledServices: [service.canonical])) == .providerServiceDisabled)
        #expect(type(.init(), enabled: false) == .providerServiceDisabled, "disabled in the registry")
        #expect(type(.init(deniedClients: [client.canonical])) == .providerAccessDenied)
        #expect(type(.init(deniedClients: ["VN/GOV/000.00.00.H26"])) == .providerAccessDenied, "a denied member denies its subsystems")
        #expect(type(.init(deniedClients: ["VN/GOV/000.00.00.H26/KHAC"])) == nil)
        #expect(type(.init(maintenance: true, deniedClients: [client.canonical])) == .providerMaintenanceMode, "maintenance comes first")
    }
}

@Suite("Replay guard")
struct ReplayGuardTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func anIdIsAcceptedOncePerClientWithinTheWindow() async throws {
        let guardian = ReplayGuard(window: 600)
        try await guardian.admit(client: "VN/GOV/000.00.00.H26/MOTCUA", messageId: "m-1", at: Self.t0)
        await #expect(throws: ReplayGuard.Refusal.duplicate) {
            try await guardian.admit(client: "VN/GOV/000.00.00.H26/MOTCUA", messageId: "m-1", at: Self.t0.addingTimeInterval(599))
        }
        // Another client may use the same id; the client's other ids pass.
        try await guardian.admit(client: "VN/GOV/000.00.00.H17/MOTCUA", messageId: "m-1", at: Self.t0.addingTimeInterval(1))
        try await guardian.admit(client: "VN/GOV/000.00.00.H26/MOTCUA", messageId: "m-2", at: Self.t0.addingTimeInterval(2))
        // Once the window has passed, the id is forgotten.
        try await guardian.admit(client: "VN/GOV/000.00.00.H26/MOTCUA", messageId: "m-1", at: Self.t0.addingTimeInterval(601))
        // At t0 + 601 everything up to t0 + 1 is 600 s old or more: only m-2 and the new m-1 remain.
        #expect(await guardian.count == 2, "m-2 and the new m-1")
    }

    @Test func oneClientCannotFillTheTableForTheOthers() async throws {
        let guardian = ReplayGuard(window: 10, capacity: 10, perClientCapacity: 2)
        try await guardian.admit(client: "busy", messageId: "a", at: Self.t0)
        try await guardian.admit(client: "busy", messageId: "b", at: Self.t0)
        await #expect(throws: ReplayGuard.Refusal.full) { try await guardian.admit(client: "busy", messageId: "c", at: Self.t0) }
        try await guardian.admit(client: "other", messageId: "a", at: Self.t0)   // others are not affected
        try await guardian.admit(client: "busy", messageId: "c", at: Self.t0.addingTimeInterval(10))   // a and b expired
    }

    @Test func aFullTableRefusesUntilOldIdsExpire() async throws {
        let guardian = ReplayGuard(window: 10, capacity: 3, perClientCapacity: 3)
        for i in 0..<3 { try await guardian.admit(client: "c", messageId: "m-\(i)", at: Self.t0.addingTimeInterval(Double(i))) }
        await #expect(throws: ReplayGuard.Refusal.full) { try await guardian.admit(client: "c", messageId: "m-3", at: Self.t0.addingTimeInterval(5)) }
        try await guardian.admit(client: "c", messageId: "m-3", at: Self.t0.addingTimeInterval(10.5))   // m-0 expired
        await #expect(throws: ReplayGuard.Refusal.duplicate) { try await guardian.admit(client: "c", messageId: "m-3", at: Self.t0.addingTimeInterval(11)) }
    }
}
