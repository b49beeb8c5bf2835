import AsyncHTTPClient
import Foundation
import LienThongCore
import NIOCore
import NIOHTTP1
import NIOSSL

/// The data owner's veto of one security server as the operations API reads and writes it
/// (`GET`/`PUT /admin/v1/veto`, `docs/security-server.md` §Operations API):
/// `{"maintenance": …, "disabled_services": […], "denied_clients": […]}`.
///
/// A `PUT` replaces the whole veto, so every key is required in a request body.
public struct VetoSettings: Codable, Sendable, Hashable {
    /// Maintenance mode: every provided service answers `Server.ServerProxy.MaintenanceMode`.
    public var maintenance: Bool
    /// Services disabled locally: canonical service ids.
    public var disabledServices: [String]
    /// Clients denied locally: canonical subsystem or member ids.
    public var deniedClients: [String]

    /// Creates settings; the default is no veto at all.
    public init(maintenance: Bool = false, disabledServices: [String] = [], deniedClients: [String] = []) {
        self.maintenance = maintenance
        self.disabledServices = disabledServices
        self.deniedClients = deniedClients
    }

    enum CodingKeys: String, CodingKey {
        case maintenance
        case disabledServices = "disabled_services"
        case deniedClients = "denied_clients"
    }
}

/// An error answered by a security server's operations API, or met on the way to it: the same
/// X-Road style error as the registry API's.
public typealias ServerOperationsError = RegistryClientError

/// A client of the operations API that every security server offers on its inter-server port
/// (mutual TLS 1.3): the auditors' evidence of one exchange and the data owner's veto.
///
/// The caller authenticates with its certificate: an `auditor` certificate for ``evidence(server:exchange:onBehalfOf:)``,
/// an `admin` certificate of the server owner's member for ``veto(server:)`` and ``setVeto(server:_:)``.
/// The server's certificate must chain to the CA in `caFile` and name the host of the address
/// (development server certificates carry `localhost` and `127.0.0.1`).
public final class ServerOperationsClient: Sendable {
    /// The request header that names the auditor a relay (the registry) asks for; the server logs it
    /// beside the certificate's holder.
    public static let onBehalfOfHeader = "X-LienThong-On-Behalf-Of"
    /// The largest answer read (an evidence bundle is a few kilobytes per record).
    public static let maximumAnswerBytes = 64 * 1024 * 1024

    private let client: HTTPClient
    private let timeout: TimeAmount

    /// Creates a client that authenticates with `certificateFile`/`keyFile` (PEM) and trusts the
    /// CA certificates in `caFile` (PEM).
    ///
    /// - Parameter timeout: how long one call may take; an evidence search reads the server's whole log.
    public init(certificateFile: String, keyFile: String, caFile: String, timeout: TimeAmount = .seconds(120)) throws {
        self.client = try MutualTLSHTTPClient.make(certificateFile: certificateFile, keyFile: keyFile, caFile: caFile)
        self.timeout = timeout
    }

    /// Closes the connections. Call it once done.
    public func shutdown() async throws {
        try await client.shutdown()
    }

    /// `GET /auditor/v1/evidence/{exchange}` on the server at `address` (`host:port` of its
    /// inter-server port): the evidence bundle of that exchange in the server's own log, as the
    /// raw JSON bytes it answered (`schemas/evidence-bundle.schema.json`).
    ///
    /// - Parameters:
    ///   - exchange: the exchange's message id (`X-Road-Id`); it is percent-encoded here.
    ///   - onBehalfOf: the auditor a relay asks for (``onBehalfOfHeader``), if any.
    /// - Throws: ``ServerOperationsError``: status 404 when the server has no record of the
    ///   exchange, 409 when its record is not covered by a checkpoint yet, 403 for a certificate
    ///   that is not an auditor's.
    public func evidence(server address: String, exchange: String, onBehalfOf: String? = nil) async throws(ServerOperationsError) -> [UInt8] {
        var headers: [(String, String)] = [("Accept", "application/json")]
        if let onBehalfOf { headers.append((Self.onBehalfOfHeader, onBehalfOf)) }
        let path = "/auditor/v1/evidence/" + Self.percentEncoded(exchange)
        let (status, body) = try await send(.GET, server: address, path: path, headers: headers, body: nil)
        guard status == 200 else { throw Self.error(status: status, body: body) }
        return body
    }

    /// `GET /admin/v1/veto`: the veto in force on the server at `address`.
    /// - Throws: ``ServerOperationsError``; 403 unless the certificate is an admin's of the server owner's member.
    public func veto(server address: String) async throws(ServerOperationsError) -> VetoSettings {
        let (status, body) = try await send(.GET, server: address, path: "/admin/v1/veto", headers: [("Accept", "application/json")], body: nil)
        return try Self.decodeVeto(status: status, body: body)
    }

    /// `PUT /admin/v1/veto`: replaces the veto on the server at `address` (in memory: the
    /// configuration file's veto applies again at the server's next start) and returns the veto now in force.
    /// - Throws: ``ServerOperationsError``; 400 for an id that does not parse (nothing changes), 403
    ///   unless the certificate is an admin's of the server owner's member.
    public func setVeto(server address: String, _ settings: VetoSettings) async throws(ServerOperationsError) -> VetoSettings {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do { data = try encoder.encode(settings) } catch {
            throw ServerOperationsError(status: nil, type: "Client.BadRequest", message: "cannot encode the veto: \(error)", detail: nil)
        }
        let (status, body) = try await send(.PUT, server: address, path: "/admin/v1/veto",
                                            headers: [("Accept", "application/json"), ("Content-Type", "application/json")],
                                            body: Array(data))
        return try Self.decodeVeto(status: status, body: body)
    }

    // MARK: Plumbing

    private func send(_ method: HTTPMethod, server address: String, path: String, headers: [(String, String)],
                      body: [UInt8]?) async throws(ServerOperationsError) -> (status: Int, body: [UInt8]) {
        guard !address.isEmpty, !address.contains("/"), !address.contains("@"), !address.contains("?"), !address.contains("#") else {
            throw ServerOperationsError(status: nil, type: "Client.BadRequest", message: "\"\(address)\" is not a host:port address", detail: nil)
        }
        var request = HTTPClientRequest(url: "https://\(address)\(path)")
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        // Operations calls are rare: no idle connection is left open, which would hold a server's
        // graceful shutdown until its idle timeout.
        request.headers.add(name: "Connection", value: "close")
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await client.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: Self.maximumAnswerBytes)
            return (Int(response.status.code), Array(bytes.readableBytesView))
        } catch {
            throw ServerOperationsError(status: nil, type: "Client.NetworkError", message: "\(address)\(path): \(error)", detail: nil)
        }
    }

    private static func decodeVeto(status: Int, body: [UInt8]) throws(ServerOperationsError) -> VetoSettings {
        guard status == 200 else { throw error(status: status, body: body) }
        do { return try JSONDecoder().decode(VetoSettings.self, from: Data(body)) } catch {
            throw ServerOperationsError(status: status, type: "Server.UnexpectedResponse", message: "cannot decode the veto: \(error)", detail: nil)
        }
    }

    private static func error(status: Int, body: [UInt8]) -> ServerOperationsError {
        if let error = try? JSONDecoder().decode(XRoadErrorBody.self, from: Data(body)) {
            return ServerOperationsError(status: status, type: error.type, message: error.message, detail: error.detail)
        }
        return ServerOperationsError(status: status, type: "Server.UnexpectedResponse",
                                     message: String(decoding: body.prefix(300), as: UTF8.self), detail: nil)
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters, so that any id reaches
    /// the server as one path segment.
    public static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
