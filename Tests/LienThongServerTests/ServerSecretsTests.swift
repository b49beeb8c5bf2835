import AsyncHTTPClient
import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongServer
import LienThongTestSupport
import LienThongTrust
import NIOCore
import NIOHTTP1
import Testing
#if canImport(Glibc)
import Glibc
#endif

private typealias N = ExchangeNetwork

/// Issue 15, item 8, on real `lienthong server serve` processes: a private key readable by group
/// or others stops the server at start as ssh does; the server's own log output never carries a
/// citizen id number from a request path; the audit HMAC key is created `0600`.
@Suite("Security server secrets and personal data in logs", .serialized)
struct ServerSecretsTests {
    static let motCua = "\(N.consumer)/MOTCUA"
    static let citizenId = "001203004567"

    @Test("a private key file readable by group or others (0644) stops the server at start with ssh's message")
    func looseKeyPermissionsStopTheServer() async throws {
        var network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        network.registryURL = "https://127.0.0.1:9"   // never reached: the server must stop before
        let executable = BackgroundProcess.lienthongExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable), "run `swift build --build-tests` first")
        let base = try network.configuration(server: "\(N.consumer)/ss1", member: N.consumer, interServerPort: 0, clients: [Self.motCua])

        /// A copy of `source` (or 32 random bytes) at a new path with `mode`.
        func copy(_ source: String?, _ name: String, mode: mode_t) throws -> String {
            let target = network.directory.appendingPathComponent(name)
            let data = try source.map { try Data(contentsOf: URL(fileURLWithPath: $0)) } ?? Data((0..<32).map { _ in UInt8.random(in: 0...255) })
            try data.write(to: target)
            #expect(chmod(target.path, mode) == 0)
            return target.path
        }
        var cases: [(name: String, file: String, configuration: SecurityServerConfiguration)] = []
        var signing = base
        signing.signingKeyFile = try copy(base.signingKeyFile, "signing-0644.key", mode: 0o644)
        signing.dataDirectory = network.directory.appendingPathComponent("data-signing").path
        cases.append(("the member signing key", signing.signingKeyFile, signing))
        var tls = base
        tls.tlsKeyFile = try copy(base.tlsKeyFile, "tls-0640.key", mode: 0o640)
        tls.dataDirectory = network.directory.appendingPathComponent("data-tls").path
        cases.append(("the TLS key (group-readable, 0640)", tls.tlsKeyFile, tls))
        var hmac = base
        hmac.audit.hmacKeyFile = try copy(nil, "audit-hmac-0604.key", mode: 0o604)
        hmac.dataDirectory = network.directory.appendingPathComponent("data-hmac").path
        cases.append(("the audit HMAC key (others-readable, 0604)", hmac.audit.hmacKeyFile ?? "", hmac))

        for (index, (name, file, configuration)) in cases.enumerated() {
            let configurationFile = network.directory.appendingPathComponent("loose-\(index).json")
            try configuration.jsonData().write(to: configurationFile)
            let process = try BackgroundProcess(executable, ["server", "serve", "--config", configurationFile.path],
                                                outputFile: network.directory.appendingPathComponent("loose-\(index).log"))
            let exit = await process.waitForExit(timeout: .seconds(20))
            if exit == nil { process.kill() }
            let output = process.outputTail()
            let mode = String(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int ?? 0, radix: 8)
            #expect(exit != nil && exit != .init(status: 0, bySignal: false), "\(name): the server must stop at start, got \(exit?.description ?? "still running")")
            #expect(output.contains("permissions 0\(mode) for '\(file)' are too open"), "\(name): ssh's message: \(output)")
        }
    }

    @Test("a registry TLS key readable by others (0644) stops `lienthong registry serve` at start with ssh's message")
    func looseKeyPermissionsStopTheRegistry() async throws {
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        let executable = BackgroundProcess.lienthongExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable), "run `swift build --build-tests` first")
        let tls = try network.pki.issue(role: .server, holderId: "VN/GOV/000.00.00.VPCP/registry")
        let key = network.directory.appendingPathComponent("registry-tls-0644.key")
        try Data(contentsOf: URL(fileURLWithPath: network.path(tls, key: true))).write(to: key)
        #expect(chmod(key.path, 0o644) == 0)
        let port = try await N.freePort()
        let process = try BackgroundProcess(executable, [
            "registry", "serve", "--instance", "VN", "--listen", "127.0.0.1:\(port)",
            "--data", network.directory.appendingPathComponent("registry").path, "--pki", network.pki.directory.path,
            "--tls-cert", network.path(tls), "--tls-key", key.path,
        ], outputFile: network.directory.appendingPathComponent("registry.log"))
        let exit = await process.waitForExit(timeout: .seconds(20))
        if exit == nil { process.kill() }
        let output = process.outputTail()
        #expect(exit != nil && exit != .init(status: 0, bySignal: false), "the registry must stop at start, got \(exit?.description ?? "still running")")
        #expect(output.contains("permissions 0644 for '\(key.path)' are too open"), "ssh's message: \(output)")
    }

    @Test("a citizen id number in a request path never reaches the server process's log output")
    func citizenIdsStayOutOfTheServerLog() async throws {
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        let executable = BackgroundProcess.lienthongExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable), "run `swift build --build-tests` first")
        let http = ClientCaller.makeHTTPClient()
        let caller = ClientCaller(http: http)
        try await network.withInfrastructure { network in
            let providerId = "\(N.provider)/ss1", consumerId = "\(N.consumer)/ss1"
            // The provider's server is registered but not running: calls that pass the consumer's checks fail there.
            let interPorts = [providerId: try await N.freePort(), consumerId: try await N.freePort()]
            try await network.register(serverPorts: interPorts)
            let consumer = try ServerUnderTest(
                name: "consumer-log", network: network, clientPort: try await N.freePort(),
                configuration: try network.configuration(server: consumerId, member: N.consumer, interServerPort: interPorts[consumerId] ?? 0,
                                                         clients: [Self.motCua]))
            let process = try await consumer.start(http: http)
            defer { process.kill() }
            let headers = [("X-Road-Client", Self.motCua), ("X-LienThong-Purpose", N.purpose)]
            let lookup = "/r1/\(N.lookup)"
            let targets = [
                lookup + "/v1/cong-dan/\(Self.citizenId)/..",                   // a dot segment: Client.BadRequest
                lookup + "/v1/cong-dan/%30\(Self.citizenId.dropFirst())/%2e%2e", // encoded, then a dot segment
                lookup + "/v1/cong-dan?so-dinh-danh=\(Self.citizenId)",        // provider down: NetworkError
                "/r1/\(N.civil)/v1/\(Self.citizenId)",                          // provider not registered to run: NetworkError
                "/r1/\(N.provider)/DANCU/khong-co/\(Self.citizenId)",            // unknown service
            ]
            var refusals = 0
            for target in targets {
                let answer = try await caller.call(consumer.clientPort, .GET, target, headers: headers)
                #expect(answer.status >= 400, "\(target): \(answer.status) \(answer.text)")
                refusals += 1
            }
            try await Task.sleep(for: .milliseconds(300))
            process.terminate()
            _ = await process.waitForExit(timeout: .seconds(20))
            let log = try String(contentsOf: process.outputFile, encoding: .utf8)
            #expect(log.components(separatedBy: "exchange refused").count - 1 >= refusals,
                    "every refusal is logged (so the check below is not vacuous): \(log)")
            #expect(log.contains("Client.BadRequest"), "the malformed paths were refused and logged: \(log)")
            #expect(!log.contains(Self.citizenId) && !log.contains(String(Self.citizenId.dropFirst())),
                    "the citizen id number is in the server log:\n\(log.split(separator: "\n").filter { $0.contains(Self.citizenId.dropFirst()) }.joined(separator: "\n"))")
        }
        try await http.shutdown()
    }

    @Test("the audit HMAC key is created 0600 and a loose one is refused when loaded")
    func auditKeyFileIsCreatedPrivate() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-hmac-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("audit-hmac.key")
        let key = try AuditKeyFile.loadOrCreate(url)
        #expect(key.count == 32)
        #expect(try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int == 0o600)
        #expect(try AuditKeyFile.loadOrCreate(url) == key, "loaded again, the same key")
        #expect(chmod(url.path, 0o644) == 0)
        #expect(throws: AuditStoreError.self, "a key readable by others is refused") { try AuditKeyFile.loadOrCreate(url) }
    }
}
