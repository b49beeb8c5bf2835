import Foundation
import Hummingbird
import LienThongCore
import NIOCore

/// A refusal or failure of the operations API (`/auditor/…`, `/admin/…` on the inter-server
/// port), answered in X-Road style: the `X-Road-Error` header with the type and the JSON body
/// `{type, message, detail}` (``XRoadErrorBody``), `detail` being a UUID also written to the log.
///
/// The exchange path keeps to the Message Protocol's two statuses (``XRoadErrorType``: 400 and
/// 500). The operations API is not that protocol; it answers the status that says what happened
/// and uses the types of the registry's management API for the cases the exchange catalogue has
/// no type for: `Client.Unauthenticated` (401), `Client.Forbidden` (403), `Client.NotFound`
/// (404), `Client.Conflict` (409).
public struct OperationsError: Error, Sendable, CustomStringConvertible {
    /// The HTTP status.
    public var status: Int
    /// The X-Road style error type, e.g. `Client.Forbidden`.
    public var type: String
    /// What went wrong, for the caller and the log.
    public var message: String
    /// The log reference.
    public var detail: UUID
    /// Extra response headers (`Retry-After`, `Allow`).
    public var headers: [(name: String, value: String)]

    /// Creates an error.
    public init(status: Int, type: String, message: String, headers: [(name: String, value: String)] = []) {
        self.status = status
        self.type = type
        self.message = message
        self.detail = UUID()
        self.headers = headers
    }

    /// 400 `Client.BadRequest`: a malformed id, header or body.
    public static func badRequest(_ message: String) -> OperationsError {
        OperationsError(status: 400, type: XRoadErrorType.badRequest.name, message: message)
    }

    /// 400 `Client.RequestTooLarge`: the body exceeds the operations API's limit.
    public static func requestTooLarge(_ message: String) -> OperationsError {
        OperationsError(status: 400, type: XRoadErrorType.requestTooLarge.name, message: message)
    }

    /// 401 `Client.Unauthenticated`: the TLS client certificate is not acceptable (expired,
    /// revoked, status unknown, not from an approved CA).
    public static func unauthenticated(_ message: String) -> OperationsError {
        OperationsError(status: 401, type: "Client.Unauthenticated", message: message)
    }

    /// 403 `Client.Forbidden`: a valid certificate whose role or member may not do this.
    public static func forbidden(_ message: String) -> OperationsError {
        OperationsError(status: 403, type: "Client.Forbidden", message: message)
    }

    /// 404 `Client.NotFound`: no such route, or no such exchange in this server's log.
    public static func notFound(_ message: String) -> OperationsError {
        OperationsError(status: 404, type: "Client.NotFound", message: message)
    }

    /// 405 `Client.BadRequest` with `Allow`: the route exists, not for this method.
    public static func methodNotAllowed(_ method: String, allowed: [String]) -> OperationsError {
        OperationsError(status: 405, type: XRoadErrorType.badRequest.name,
                        message: "method \(method) is not allowed here; use \(allowed.joined(separator: " or "))",
                        headers: [(name: "Allow", value: allowed.joined(separator: ", "))])
    }

    /// 409 `Client.Conflict`: the exchange is in the log but no checkpoint covers it yet.
    public static func conflict(_ message: String, retryAfterSeconds: Int?) -> OperationsError {
        OperationsError(status: 409, type: "Client.Conflict", message: message,
                        headers: retryAfterSeconds.map { [(name: "Retry-After", value: String($0))] } ?? [])
    }

    /// 503 with a `Server.ServerProxy.*` type: this server cannot answer now (no valid global
    /// configuration, audit log unreadable).
    public static func unavailable(_ type: XRoadErrorType, _ message: String) -> OperationsError {
        OperationsError(status: 503, type: type.name, message: message)
    }

    /// The error body.
    public var body: XRoadErrorBody {
        XRoadErrorBody(type: type, message: message, detail: detail.uuidString.lowercased())
    }

    /// The response: the status, `X-Road-Error`, `Content-Type` and the JSON body.
    public func response() -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(body)) ?? Data(#"{"type":"Server.ServerProxy.InternalError"}"#.utf8)
        let all = [(name: XRoadHeader.error, value: type), (name: "Content-Type", value: XRoadFault.contentType)] + headers
        return Response(status: .init(code: status), headers: ExchangeHTTP.fields(all), body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// `type: message (detail)`.
    public var description: String {
        "\(type): \(message) (\(body.detail))"
    }
}
