import AsyncHTTPClient
import Foundation
import LienThongAudit
import LienThongCore
import LienThongServer
import LienThongTrust
import Logging
import NIOCore
import NIOHTTP1

/// The two-server network `lienthong bench exchange` measures: the Ministry of Public Security's
/// server in front of a small population backend, and the Hanoi LGSP node's server for its
/// one-stop-shop subsystem, both on the registry's configuration. (`lienthong demo` runs the
/// four-server network of ``DemoNetworkRunner``.)
enum DemoExchange {
    static let motCua = "\(DemoRegistry.hanoi)/MOTCUA"
    static let lookup = "/r1/\(DemoRegistry.bca)/DANCU/tra-cuu-cong-dan"

    /// What is running.
    struct Running: Sendable {
        /// Hanoi's client-facing port.
        var consumerPort: Int
        /// The backend's port (direct calls, for comparison).
        var backendPort: Int
        /// The audit log files of both servers.
        var consumerLog: URL
        var providerLog: URL
    }

    /// Runs the backend and both security servers while `body` runs.
    static func withServers<T: Sendable>(pki: DevelopmentPKI, registryURL: String, ports: DemoRegistry.ServerPorts, quiet: Bool,
                                         _ body: (Running) async throws -> T) async throws -> T {
        let backendPort = try FreePort.find()
        let provider = try configuration(pki: pki, registryURL: registryURL, ports: ports, member: DemoRegistry.bca, clients: [], services: [
            .init(id: "\(DemoRegistry.bca)/DANCU/tra-cuu-cong-dan", backendURL: "http://127.0.0.1:\(backendPort)")])
        let consumer = try configuration(pki: pki, registryURL: registryURL, ports: ports, member: DemoRegistry.hanoi, clients: [motCua], services: [])
        var logger = Logger(label: "lienthong.server")
        logger.logLevel = quiet ? .critical : .warning
        return try await DemoBackend.withRunning(port: backendPort) {
            try await LienThongSecurityServer(configuration: provider, logger: logger).withRunning { _ in
                try await LienThongSecurityServer(configuration: consumer, logger: logger).withRunning { ports in
                    try await body(Running(
                        consumerPort: ports.client, backendPort: backendPort,
                        consumerLog: URL(fileURLWithPath: consumer.dataDirectory).appendingPathComponent("audit.sqlite"),
                        providerLog: URL(fileURLWithPath: provider.dataDirectory).appendingPathComponent("audit.sqlite")))
                }
            }
        }
    }

    /// The configuration of `member`'s server `ss1`: its development certificates, the registry,
    /// the inter-server port registered for it, and a data directory under the PKI's.
    static func configuration(pki: DevelopmentPKI, registryURL: String, ports: DemoRegistry.ServerPorts, member: String, clients: [String],
                              services: [SecurityServerConfiguration.LocalService]) throws -> SecurityServerConfiguration {
        let records = try pki.records().filter { $0.revokedAt == nil }
        guard let tls = records.first(where: { $0.role == .server && $0.holderId == "\(member)/ss1" }),
              let signing = records.first(where: { $0.role == .member && $0.holderId == member }) else {
            throw DemoError("no TLS or signing certificate for \(member)")
        }
        let file = { (path: String) in pki.directory.appendingPathComponent(path).path }
        return SecurityServerConfiguration(
            serverId: "\(member)/ss1", clientListener: .init(port: 0), interServerListener: .init(port: ports.byMember[member] ?? 0),
            tlsCertificateFile: file(tls.certificatePath), tlsKeyFile: file(tls.keyPath),
            signingCertificateFile: file(signing.certificatePath), signingKeyFile: file(signing.keyPath),
            registryURL: registryURL, trustAnchorFile: pki.url(.rootCertificate).path,
            dataDirectory: pki.directory.appendingPathComponent("servers").appendingPathComponent(member.replacingOccurrences(of: "/", with: "_")).path,
            clients: clients.map { .init(subsystem: $0) }, services: services)
    }

    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: String
    }

    static func call(_ http: HTTPClient, _ port: Int, _ target: String, client: String = motCua, purpose: String?) async throws -> Answer {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(target)")
        request.headers.add(name: "X-Road-Client", value: client)
        if let purpose { request.headers.add(name: "X-LienThong-Purpose", value: purpose) }
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers, body: String(buffer: body))
    }

}

/// A demo step that did not go as it must.
struct DemoError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
