import ArgumentParser
import Foundation
import LienThongServer
import LienThongTrust

/// `lienthong bench network`: the control plane of the relay benchmark (`scripts/bench.sh`).
///
/// It creates a development PKI (member signing keys P-256 or RSA-2048), runs an OCSP responder
/// and a registry set up through its management API, and writes the configurations of two
/// security servers: the Ministry of Public Security's provider in front of `--backend-url`, and
/// the Hanoi LGSP node's consumer for its one-stop-shop subsystem. The servers themselves run as
/// separate `lienthong server serve` processes, so that the benchmark can measure each one's
/// memory. It writes `DIR/bench-network.json` and stays up until SIGTERM or SIGINT.
struct BenchNetworkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Run the registry and OCSP responder of the relay benchmark and write two security-server configurations (see scripts/bench.sh).")

    @Option(help: "Working directory (PKI, configurations, audit logs, bench-network.json).") var dir: String
    @Option(help: "Member signing keys: p256 or rsa2048.") var keyAlgorithm: KeyAlgorithm = .p256
    @Option(help: "The backend both cases share (the provider's service URL).") var backendURL = "http://127.0.0.1:9000"
    @Option(help: "PostgreSQL server URL without a database (postgres://USER@HOST:PORT): the consumer logs to database lienthong_consumer, the provider to lienthong_provider, which must exist. SQLite files when absent.") var postgres: String?
    @Option(help: "How often the servers checkpoint their logs to the registry (seconds).") var checkpointInterval = 60
    @Option(help: "Largest request or response body the servers accept (bytes).") var maximumBodyBytes = 128 << 20

    /// What `bench-network.json` holds: where everything is, for the script.
    struct Description: Codable {
        var instance: String
        var registryURL: String
        var ocspURL: String
        var consumerConfig: String
        var providerConfig: String
        var consumerClientURL: String
        var providerClientURL: String
        var client: String
        var purpose: String
        var servicePath: String
        var keyAlgorithm: String
        var auditStore: String

        enum CodingKeys: String, CodingKey {
            case instance, registryURL = "registry_url", ocspURL = "ocsp_url", consumerConfig = "consumer_config"
            case providerConfig = "provider_config", consumerClientURL = "consumer_client_url", providerClientURL = "provider_client_url"
            case client, purpose, servicePath = "service_path", keyAlgorithm = "key_algorithm", auditStore = "audit_store"
        }
    }

    func run() async throws {
        let directory = URL(fileURLWithPath: dir, isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let ocspPort = try FreePort.find()
        let ocspURL = "http://127.0.0.1:\(ocspPort)/"
        let pki = try DevelopmentPKI.initialise(at: directory.appendingPathComponent("pki"), instance: "VN", ocspURL: ocspURL)
        for member in [DemoRegistry.bca, DemoRegistry.hanoi] { try pki.issue(role: .member, holderId: member, keyAlgorithm: keyAlgorithm) }
        let ports = try DemoRegistry.ServerPorts.pick()
        let clientPorts = (consumer: try FreePort.find(), provider: try FreePort.find())
        let (backendURL, postgres, maximumBodyBytes, keyAlgorithm) = (self.backendURL, self.postgres, self.maximumBodyBytes, self.keyAlgorithm)
        try await DevelopmentOCSPService(pki: pki).withRunning(host: "127.0.0.1", port: ocspPort) { _ in
            // GET /v1/{id} for the measured exchanges (scripts/bench.py asks for /v1/1k and /v1/64k), POST /v1/{id} for the
            // 100 MiB request body; since endpoint-level access rights, any other path is refused with AccessDenied.
            try await DemoRegistry.run(pki: pki, ocspURL: ocspURL, checkpointIntervalSeconds: checkpointInterval, ports: ports,
                                       serviceEndpoints: DemoRegistry.benchServiceEndpoints,
                                       verbose: false, step: { _ in }) { registry in
                func configuration(member: String, role: String, clientPort: Int, clients: [String],
                                   services: [SecurityServerConfiguration.LocalService]) throws -> SecurityServerConfiguration {
                    var server = try DemoExchange.configuration(pki: pki, registryURL: registry.globalConfigurationURL, ports: ports,
                                                                member: member, clients: clients, services: services)
                    server.clientListener = .init(port: clientPort)
                    server.limits.maximumBodyBytes = maximumBodyBytes
                    if let postgres { server.audit.postgresURL = "\(postgres)/lienthong_\(role)" }
                    return server
                }
                let provider = try configuration(member: DemoRegistry.bca, role: "provider", clientPort: clientPorts.provider, clients: [],
                                                 services: [.init(id: DemoRegistry.population, backendURL: backendURL)])
                let consumer = try configuration(member: DemoRegistry.hanoi, role: "consumer", clientPort: clientPorts.consumer,
                                                 clients: [DemoExchange.motCua], services: [])
                let providerFile = directory.appendingPathComponent("provider.json")
                let consumerFile = directory.appendingPathComponent("consumer.json")
                try provider.jsonData().write(to: providerFile)
                try consumer.jsonData().write(to: consumerFile)
                let description = Description(
                    instance: "VN", registryURL: registry.baseURL, ocspURL: ocspURL,
                    consumerConfig: consumerFile.path, providerConfig: providerFile.path,
                    consumerClientURL: "http://127.0.0.1:\(clientPorts.consumer)", providerClientURL: "http://127.0.0.1:\(clientPorts.provider)",
                    client: DemoExchange.motCua, purpose: DemoRegistry.purposeResidence, servicePath: "/r1/\(DemoRegistry.population)",
                    keyAlgorithm: keyAlgorithm.rawValue, auditStore: postgres == nil ? "sqlite" : "postgresql")
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                // Atomic: scripts/bench.py reads it as soon as it exists.
                try encoder.encode(description).write(to: directory.appendingPathComponent("bench-network.json"), options: .atomic)
                FileHandle.standardOutput.write(Data("ready: \(directory.appendingPathComponent("bench-network.json").path)\n".utf8))
                await DemoCommand.waitForTermination()
            }
        }
    }
}
