import Foundation
import Hummingbird
import LienThongCore
import NIOCore
import HTTPTypes

/// An error answered by the registry API in X-Road style: the `X-Road-Error` header carries the
/// type, the JSON body is `{type, message, detail}` where `detail` is a UUID also written to the log.
public struct RegistryAPIError: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// The X-Road style error type, e.g. `Client.BadRequest`.
    public var type: String
    /// What went wrong, for the operator.
    public var message: String
    /// A UUID to find the event in the server log.
    public var detail: String

    /// Creates an error.
    public init(status: HTTPResponse.Status, type: String, message: String) {
        self.status = status
        self.type = type
        self.message = message
        self.detail = UUID().uuidString.lowercased()
    }

    /// 400 `Client.BadRequest`.
    public static func badRequest(_ message: String) -> RegistryAPIError {
        RegistryAPIError(status: .badRequest, type: "Client.BadRequest", message: message)
    }

    /// 401 `Client.Unauthenticated`: no valid client certificate.
    public static func unauthenticated(_ message: String) -> RegistryAPIError {
        RegistryAPIError(status: .unauthorized, type: "Client.Unauthenticated", message: message)
    }

    /// 403 `Client.Forbidden`: a valid certificate of a role that may not do this.
    public static func forbidden(_ message: String) -> RegistryAPIError {
        RegistryAPIError(status: .forbidden, type: "Client.Forbidden", message: message)
    }

    /// 404 `Client.NotFound`.
    public static func notFound(_ message: String) -> RegistryAPIError {
        RegistryAPIError(status: .notFound, type: "Client.NotFound", message: message)
    }

    /// The error as an X-Road error body.
    public var body: XRoadErrorBody { XRoadErrorBody(type: type, message: message, detail: detail) }

    /// The message.
    public var description: String { "\(type): \(message)" }

    /// Renders the error response.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try RegistryJSONCoder.encoder().encode(body)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        if let name = HTTPField.Name("X-Road-Error") { headers[name] = type }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A readable account of a JSON decoding failure, naming the field.
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "" : " at \(keys.joined(separator: "."))"
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field \(key.stringValue)\(path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "wrong type\(path(context)): \(context.debugDescription)"
        case .dataCorrupted(let context):
            let underlying = (context.underlyingError as? IdentifierError).map { ": \($0)" } ?? ""
            return "invalid value\(path(context))\(underlying.isEmpty ? ": " + context.debugDescription : underlying)"
        @unknown default:
            return "\(error)"
        }
    }
}
