import Foundation
import LienThongRegistry
import LienThongServer
import LienThongTrust
import Logging

/// `DIR/network.json`: what `lienthong demo` runs, so that other tools and tests can drive it
/// (schema: `schemas/demo-network.schema.json`). JSON keys are snake_case.
struct DemoNetwork: Codable, Sendable {
    /// The registry and the certificates to talk to it.
    struct Registry: Codable, Sendable {
        var url: String
        var globalconfUrl: String
        var caCert: String
        var adminCert: String
        var adminKey: String
        var auditorCert: String
        var auditorKey: String
    }

    /// A local information system of a server and how it authenticates.
    struct LocalSubsystem: Codable, Sendable {
        var id: String
        var authentication: String
    }

    /// One security server.
    struct Server: Codable, Sendable {
        var id: String
        var owner: String
        var ownerName: String
        var clientUrl: String
        var peerUrl: String
        var operationsUrl: String
        var metricsUrl: String
        var healthUrl: String
        var auditPath: String
        var dataDirectory: String
        var adminCert: String
        var adminKey: String
        var subsystems: [LocalSubsystem]
    }

    /// One provided service.
    struct ServiceEntry: Codable, Sendable {
        var id: String
        var dataset: String
        var providerServer: String
        var backendUrl: String
        var purposes: [String]
    }

    /// One agreement as the demo set it up.
    struct AgreementEntry: Codable, Sendable {
        var id: String
        var consumer: String
        var dataset: String
        var purposes: [String]
        var status: String
        var role: String
    }

    var instance: String
    var note: String
    var registry: Registry
    var ocspUrl: String
    var servers: [Server]
    var services: [ServiceEntry]
    var agreements: [AgreementEntry]

    /// Reads a network file.
    static func load(_ url: URL) throws -> DemoNetwork {
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            return try decoder.decode(DemoNetwork.self, from: Data(contentsOf: url))
        } catch {
            throw DemoError("\(url.path) is not a LienThong network file: \(error)")
        }
    }

    /// Writes it atomically.
    func write(_ url: URL) throws {
        let encoder = RegistryJSON.makeEncoder()
        encoder.outputFormatting.insert(.prettyPrinted)
        try encoder.encode(self).write(to: url, options: .atomic)
    }
}

/// Runs the demo's four security servers and two provider backends on loopback.
enum DemoNetworkRunner {
    /// One server as it runs.
    struct Node: Sendable {
        var member: String
        var name: String
        var configuration: SecurityServerConfiguration
        var ports: SecurityServerPorts
        var adminCert: String
        var adminKey: String
        var auditLog: URL { URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("audit.sqlite") }
    }

    /// Everything running.
    struct Running: Sendable {
        var nodes: [String: Node]
        var backends: [DemoBackend.Dataset: Int]

        func node(_ member: String) throws -> Node {
            guard let node = nodes[member] else { throw DemoError("no security server for \(member)") }
            return node
        }
    }

    static let names = [DemoRegistry.bca: "Bộ Công an", DemoRegistry.justice: "Bộ Tư pháp",
                        DemoRegistry.hanoi: "Hà Nội LGSP", DemoRegistry.danang: "Đà Nẵng LGSP"]

    /// Starts backends and servers, runs `body`, then stops everything.
    static func withRunning<T: Sendable>(pki: DevelopmentPKI, registryURL: String, ports: DemoRegistry.ServerPorts,
                                         _ body: (Running) async throws -> T) async throws -> T {
        let populationPort = try FreePort.find()
        let civilPort = try FreePort.find()
        let data = pki.directory.appendingPathComponent("servers")
        var admins: [String: (String, String)] = [:]
        func configuration(member: String, clients: [String], services: [SecurityServerConfiguration.LocalService]) throws -> SecurityServerConfiguration {
            let records = try pki.records().filter { $0.revokedAt == nil }
            guard let tls = records.first(where: { $0.role == .server && $0.holderId == "\(member)/ss1" }),
                  let signing = records.first(where: { $0.role == .member && $0.holderId == member }) else {
                throw DemoError("no TLS or signing certificate for \(member)")
            }
            let admin = try DemoRegistry.operatorRecord(pki, member)
            let file = { (path: String) in pki.directory.appendingPathComponent(path).path }
            admins[member] = (file(admin.certificatePath), file(admin.keyPath))
            return SecurityServerConfiguration(
                serverId: "\(member)/ss1", clientListener: .init(port: 0), interServerListener: .init(port: ports.byMember[member] ?? 0),
                tlsCertificateFile: file(tls.certificatePath), tlsKeyFile: file(tls.keyPath),
                signingCertificateFile: file(signing.certificatePath), signingKeyFile: file(signing.keyPath),
                registryURL: registryURL, trustAnchorFile: pki.url(.rootCertificate).path,
                dataDirectory: data.appendingPathComponent(member.replacingOccurrences(of: "/", with: "_")).path,
                configurationRefreshSeconds: 2,
                clients: clients.map { .init(subsystem: $0) }, services: services)
        }
        let configurations = [
            (DemoRegistry.bca, try configuration(member: DemoRegistry.bca, clients: [], services: [
                .init(id: DemoRegistry.population, backendURL: "http://127.0.0.1:\(populationPort)")])),
            (DemoRegistry.justice, try configuration(member: DemoRegistry.justice, clients: [], services: [
                .init(id: DemoRegistry.civilStatus, backendURL: "http://127.0.0.1:\(civilPort)")])),
            (DemoRegistry.hanoi, try configuration(member: DemoRegistry.hanoi, clients: [DemoRegistry.hanoiOneStop], services: [])),
            (DemoRegistry.danang, try configuration(member: DemoRegistry.danang,
                                                    clients: [DemoRegistry.danangOneStop, DemoRegistry.danangResidents], services: [])),
        ]
        var logger = Logger(label: "lienthong.server")
        logger.logLevel = .critical
        let quiet = logger
        let adminFiles = admins

        // Nest the servers' lifetimes: each runs while the next ones start and `body` runs.
        func start(_ index: Int, _ nodes: [String: Node]) async throws -> T {
            guard index < configurations.count else {
                return try await body(Running(nodes: nodes, backends: [.population: populationPort, .civilStatus: civilPort]))
            }
            let (member, configuration) = configurations[index]
            return try await LienThongSecurityServer(configuration: configuration, logger: quiet).withRunning { bound in
                var nodes = nodes
                let admin = adminFiles[member] ?? ("", "")
                nodes[member] = Node(member: member, name: names[member] ?? member, configuration: configuration, ports: bound,
                                     adminCert: admin.0, adminKey: admin.1)
                return try await start(index + 1, nodes)
            }
        }
        return try await DemoBackend.withRunning(port: populationPort, dataset: .population) {
            try await DemoBackend.withRunning(port: civilPort, dataset: .civilStatus) {
                try await start(0, [:])
            }
        }
    }
}
