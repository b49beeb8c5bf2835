import AsyncHTTPClient
import Foundation
import LienThongCore
import NIOCore
import NIOHTTP1
import NIOSSL

/// An error answered by the registry API or a security server's operations API (both X-Road
/// style), or met on the way to it.
public struct RegistryClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The HTTP status, or `nil` if no answer came.
    public var status: Int?
    /// The X-Road error type (`X-Road-Error`), e.g. `Client.Duplicate`.
    public var type: String
    /// The message.
    public var message: String
    /// The server's log reference.
    public var detail: String?

    /// Creates an error.
    public init(status: Int?, type: String, message: String, detail: String?) {
        self.status = status
        self.type = type
        self.message = message
        self.detail = detail
    }

    /// `type: message (HTTP status, detail)`.
    public var description: String {
        var text = "\(type): \(message)"
        if let status { text += " (HTTP \(status)\(detail.map { ", ref \($0)" } ?? ""))" }
        return text
    }
}

/// A client of the registry's management API over mutual TLS; `lienthong registry ...` uses it.
public final class RegistryAPIClient: Sendable {
    /// Base URL, e.g. `https://127.0.0.1:4443`.
    public let baseURL: String
    private let client: HTTPClient

    /// Creates a client that authenticates with `certificateFile`/`keyFile` and trusts `caFile`.
    public init(baseURL: String, certificateFile: String, keyFile: String, caFile: String) throws {
        self.client = try MutualTLSHTTPClient.make(certificateFile: certificateFile, keyFile: keyFile, caFile: caFile)
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
    }

    /// Closes the connections. Call it once done.
    public func shutdown() async throws {
        try await client.shutdown()
    }

    /// `GET path` and decode the answer.
    public func get<T: Decodable>(_ path: String, as type: T.Type = T.self) async throws(RegistryClientError) -> T {
        try await send(.GET, path, body: nil as Data?, as: type)
    }

    /// `POST path` with a JSON body and decode the answer.
    public func post<Body: Encodable, T: Decodable>(_ path: String, _ body: Body, as type: T.Type = T.self) async throws(RegistryClientError) -> T {
        let data: Data
        do { data = try RegistryJSONCoder.encoder().encode(body) } catch {
            throw RegistryClientError(status: nil, type: "Client.BadRequest", message: "cannot encode the request: \(error)", detail: nil)
        }
        return try await send(.POST, path, body: data, as: type)
    }

    /// `POST path` with no body and decode the answer.
    public func post<T: Decodable>(_ path: String, as type: T.Type = T.self) async throws(RegistryClientError) -> T {
        try await send(.POST, path, body: nil as Data?, as: type)
    }

    /// The raw body and headers of `GET path` (for the signed global configuration).
    public func getRaw(_ path: String, headers: [(String, String)] = []) async throws(RegistryClientError) -> (status: Int, headers: [(String, String)], body: Data) {
        var request = HTTPClientRequest(url: baseURL + path)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 64 * 1024 * 1024)
            return (Int(response.status.code), response.headers.map { ($0.name, $0.value) }, Data((body).readableBytesView))
        } catch {
            throw RegistryClientError(status: nil, type: "Client.NetworkError", message: "\(baseURL)\(path): \(error)", detail: nil)
        }
    }

    private func send<T: Decodable>(_ method: HTTPMethod, _ path: String, body: Data?, as type: T.Type) async throws(RegistryClientError) -> T {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let status: Int
        let data: Data
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            status = Int(response.status.code)
            data = Data((try await response.body.collect(upTo: 64 * 1024 * 1024).readableBytesView))
        } catch {
            throw RegistryClientError(status: nil, type: "Client.NetworkError", message: "\(baseURL)\(path): \(error)", detail: nil)
        }
        guard (200..<300).contains(status) else {
            if let error = try? RegistryJSONCoder.decoder().decode(XRoadErrorBody.self, from: data) {
                throw RegistryClientError(status: status, type: error.type, message: error.message, detail: error.detail)
            }
            throw RegistryClientError(status: status, type: "Server.Registry.UnexpectedResponse",
                                      message: String(decoding: data.prefix(300), as: UTF8.self), detail: nil)
        }
        do {
            return try RegistryJSONCoder.decoder().decode(T.self, from: data)
        } catch {
            throw RegistryClientError(status: status, type: "Server.Registry.UnexpectedResponse", message: "cannot decode the answer: \(error)", detail: nil)
        }
    }
}

extension RegistryAPIClient {
    /// Registers the certificate in `certificateFile` for `role` (`POST /api/v1/registrations`; the
    /// client must be an instance administrator's).
    public func register(certificateFile: String, role: ActorRole, member: MemberId? = nil, name: String) async throws -> ActorRegistration {
        let pem = try String(contentsOfFile: certificateFile, encoding: .utf8)
        return try await post("/api/v1/registrations", NewRegistration(certificate: pem, role: role, member: member, name: name))
    }
}
