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
import Testing

/// Who may call a security server's operations API comes from the registry's records, published
/// in the global configuration (`data_plane_actors`), not from a certificate's `OU`: end to end
/// against a real registry, OCSP responder and security server over mutual TLS 1.3.
///
/// - another member's registered operator may not run the owner's veto (403, veto unchanged);
/// - an unregistered `OU=admin` certificate whose CN starts with the owner member (the round-1
///   hole) may not either;
/// - the owner's registered operator may, until the instance administrator revokes its
///   registration: once the server holds the next configuration, the same certificate gets 403;
/// - evidence: an unregistered `OU=auditor` certificate gets 403, a registered auditor is served.
@Suite("Operations API actors", .serialized)
struct OperationsActorTests {
    typealias N = ExchangeNetwork

    /// Expects `body` to fail with an operations error of `status` and `type`.
    func expectRefusal<T>(_ what: String, status: Int, type: String,
                          _ body: () async throws -> T) async {
        do {
            _ = try await body()
            Issue.record("\(what): succeeded, expected HTTP \(status) \(type)")
        } catch let error as ServerOperationsError {
            #expect(error.status == status && error.type == type, "\(what): \(error)")
        } catch {
            Issue.record("\(what): unexpected \(error)")
        }
    }

    /// The serial of the configuration the registry publishes now (the payload of `GET /globalconf`).
    static func publishedSerial(_ api: RegistryAPIClient) async throws -> Int64 {
        let answer = try await api.getRaw("/globalconf")
        let parts = String(decoding: answer.body, as: UTF8.self).split(separator: ".", omittingEmptySubsequences: false)
        #expect(answer.status == 200 && parts.count == 3)
        var payload = String(parts.count == 3 ? parts[1] : "").replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        let object = try JSONSerialization.jsonObject(with: Data(base64Encoded: payload) ?? Data()) as? [String: Any]
        return (object?["serial"] as? NSNumber)?.int64Value ?? -1
    }

    /// The serial of the configuration a server holds, from its `/healthz`.
    static func serverSerial(_ caller: ClientCaller, clientPort: Int) async throws -> Int64 {
        let answer = try await caller.call(clientPort, .GET, "/healthz")
        let object = try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]
        let configuration = object?["configuration"] as? [String: Any]
        return (configuration?["serial"] as? NSNumber)?.int64Value ?? -1
    }

    /// Polls the server until it holds a configuration of at least `serial` (no fixed sleep: the
    /// server refreshes every second in this test).
    static func waitForServer(_ caller: ClientCaller, clientPort: Int, serial: Int64) async throws {
        let deadline = Date().addingTimeInterval(30)
        var held: Int64 = -1
        while Date() < deadline {
            held = try await serverSerial(caller, clientPort: clientPort)
            if held >= serial { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the server still holds configuration \(held), not \(serial)")
    }

    @Test("operations.veto_operators: optional, hashes of 64 hex digits kept in lower case, anything else stops the server")
    func localVetoOperatorsAreChecked() throws {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let none = try decoder.decode(SecurityServerConfiguration.Operations.self, from: Data("{}".utf8))
        #expect(none.vetoOperators.isEmpty)
        let one = try decoder.decode(SecurityServerConfiguration.Operations.self, from: Data(#"{"veto_operators": ["\#(String(repeating: "AB", count: 32))"]}"#.utf8))
        #expect(one.vetoOperators == [String(repeating: "ab", count: 32)])
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        var configuration = try network.configuration(server: "\(N.provider)/ss1", member: N.provider, interServerPort: 1)
        configuration.registryURL = "https://127.0.0.1:1/globalconf"
        try configuration.validate()
        for bad in ["", "abc", String(repeating: "g", count: 64), String(repeating: "a", count: 65)] {
            configuration.operations = .init(vetoOperators: [bad])
            #expect(throws: SecurityServerConfigurationError.self, "\(bad)") { try configuration.validate() }
        }
    }

    @Test("veto only by the owner's registered operator, revoked at the next configuration; evidence only by a registered auditor")
    func vetoAndEvidenceByRegisteredActors() async throws {
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        let http = ClientCaller.makeHTTPClient()
        let caller = ClientCaller(http: http)
        let captured = CapturedLog()

        try await network.withInfrastructure { network in
            let providerId = "\(N.provider)/ss1"
            let port = try await N.freePort()
            try await network.register(serverPorts: [providerId: port])
            let address = "127.0.0.1:\(port)"

            // Who holds what: registered before the server starts.
            let ownerOperator = try await network.registeredActor(.admin, "\(N.provider)/quan-tri-ss1", as: .memberOperator, member: N.provider)
            let ownerOperator2 = try await network.registeredActor(.admin, "\(N.provider)/quan-tri-ss2", as: .memberOperator, member: N.provider)
            let foreignOperator = try await network.registeredActor(.admin, "\(N.consumer)/quan-tri-ss1", as: .memberOperator, member: N.consumer)
            let ownerViewer = try await network.registeredActor(.admin, "\(N.provider)/lanh-dao-01", as: .viewer, member: N.provider)
            // The round-1 hole: an OU=admin certificate whose CN starts with the owner member, unknown to the registry.
            let unregisteredAdmin = try network.pki.issue(role: .admin, holderId: "\(N.provider)/quan-tri-99")
            let auditorRecord = try await network.registeredActor(.auditor, "VN/GOV/000.00.00.VPCP/kiem-toan-01", as: .auditor)
            let unregisteredAuditorRecord = try network.pki.issue(role: .auditor, holderId: "VN/GOV/000.00.00.VPCP/kiem-toan-02")
            // Not registered, but listed in the server's own operations.veto_operators.
            let localOperatorRecord = try network.pki.issue(role: .admin, holderId: "VN/GOV/000.00.00.VPCP/tai-cho-01")

            var configuration = try network.configuration(
                server: providerId, member: N.provider, interServerPort: port,
                services: [.init(id: N.lookup, backendURL: "http://127.0.0.1:9/api")])
            configuration.configurationRefreshSeconds = 1
            configuration.operations = .init(vetoOperators: [try N.pin(of: network.path(localOperatorRecord)).uppercased()])
            try configuration.validate()
            let provider = LienThongSecurityServer(configuration: configuration, logger: captured.logger(label: "provider"))

            let ca = network.pki.url(.rootCertificate).path
            func client(_ record: IssuedCertificateRecord) throws -> ServerOperationsClient {
                try ServerOperationsClient(certificateFile: network.path(record), keyFile: network.path(record, key: true), caFile: ca)
            }
            let owner = try client(ownerOperator), owner2 = try client(ownerOperator2), foreign = try client(foreignOperator)
            let viewer = try client(ownerViewer), unregistered = try client(unregisteredAdmin)
            let auditor = try client(auditorRecord), unregisteredAuditor = try client(unregisteredAuditorRecord)
            let localOperator = try client(localOperatorRecord)
            let admin = try network.administrator()
            let api = try RegistryAPIClient(baseURL: network.registryURL, certificateFile: network.path(admin),
                                            keyFile: network.path(admin, key: true), caFile: ca)

            let outcome: Result<Void, any Error>
            do {
                try await provider.withRunning { ports in
                    try await Self.waitForServer(caller, clientPort: ports.client, serial: try await Self.publishedSerial(api))
                    let initial = VetoSettings(maintenance: false, disabledServices: [], deniedClients: [])
                    let maintenance = VetoSettings(maintenance: true, disabledServices: [], deniedClients: [])
                    func refusals() -> Int { captured.all.filter { $0.message == "operations request refused" && $0.metadata["status"] == "403" }.count }

                    // Another member's registered operator: 403, the veto unchanged, the refusal logged.
                    let before = refusals()
                    await expectRefusal("another member's registered operator sets the veto", status: 403, type: "Client.Forbidden") {
                        try await foreign.setVeto(server: address, maintenance)
                    }
                    await expectRefusal("another member's registered operator reads the veto", status: 403, type: "Client.Forbidden") {
                        try await foreign.veto(server: address)
                    }
                    // The round-1 hole: an unregistered OU=admin certificate named after the owner.
                    await expectRefusal("an unregistered owner-named admin certificate sets the veto", status: 403, type: "Client.Forbidden") {
                        try await unregistered.setVeto(server: address, maintenance)
                    }
                    await expectRefusal("an unregistered owner-named admin certificate reads the veto", status: 403, type: "Client.Forbidden") {
                        try await unregistered.veto(server: address)
                    }
                    // A viewer of the owner member reads nothing here and changes nothing.
                    await expectRefusal("the owner's viewer sets the veto", status: 403, type: "Client.Forbidden") {
                        try await viewer.setVeto(server: address, maintenance)
                    }
                    // An auditor is no operator.
                    await expectRefusal("a registered auditor sets the veto", status: 403, type: "Client.Forbidden") {
                        try await auditor.setVeto(server: address, maintenance)
                    }
                    #expect(refusals() - before == 6, "each refusal is recorded in the server log")
                    #expect(try await owner.veto(server: address) == initial, "refused calls change nothing")
                    #expect(captured.all.filter { $0.message == "veto changed" }.isEmpty)

                    // The owner's registered operator: 200, and the veto is in force.
                    #expect(try await owner.setVeto(server: address, maintenance) == maintenance)
                    #expect(try await owner2.veto(server: address) == maintenance)
                    #expect(captured.all.filter { $0.message == "veto changed" }.count == 1)

                    // A locally listed operator may run the veto here, and reads no evidence.
                    #expect(try await localOperator.veto(server: address) == maintenance)
                    await expectRefusal("a local veto operator reads evidence", status: 403, type: "Client.Forbidden") {
                        try await localOperator.evidence(server: address, exchange: "khong-co")
                    }

                    // Evidence: an unregistered OU=auditor certificate 403; a registered auditor reaches the log.
                    await expectRefusal("an unregistered auditor certificate reads evidence", status: 403, type: "Client.Forbidden") {
                        try await unregisteredAuditor.evidence(server: address, exchange: "khong-co")
                    }
                    await expectRefusal("a registered operator reads evidence", status: 403, type: "Client.Forbidden") {
                        try await owner.evidence(server: address, exchange: "khong-co")
                    }
                    await expectRefusal("a registered auditor asks for an unknown exchange", status: 404, type: "Client.NotFound") {
                        try await auditor.evidence(server: address, exchange: "khong-co")
                    }

                    // The administrator revokes the owner's operator; once the server holds the next configuration, 403.
                    let hash = try N.pin(of: network.path(ownerOperator))
                    let revoked: ActorRegistration = try await api.post("/api/v1/registrations/\(hash):revoke")
                    #expect(revoked.revokedAt != nil)
                    try await Self.waitForServer(caller, clientPort: ports.client, serial: try await Self.publishedSerial(api))
                    await expectRefusal("a revoked operator clears the veto", status: 403, type: "Client.Forbidden") {
                        try await owner.setVeto(server: address, initial)
                    }
                    #expect(try await owner2.veto(server: address) == maintenance, "the revoked operator changed nothing")
                }
                outcome = .success(())
            } catch {
                outcome = .failure(error)
            }
            for operations in [owner, owner2, foreign, viewer, unregistered, auditor, unregisteredAuditor, localOperator] {
                try? await operations.shutdown()
            }
            try? await api.shutdown()
            try outcome.get()
        }
        try await http.shutdown()
    }
}
