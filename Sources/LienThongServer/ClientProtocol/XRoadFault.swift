import Foundation
import LienThongCore

/// An X-Road error answered by a security server instead of a provider's response: categories 2 to
/// 4 of the Message Protocol for REST, §4.6.
///
/// The response has the status ``httpStatus``, the headers ``headers`` (`X-Road-Error` with the
/// type, and `Content-Type: application/json; charset=utf-8`) and the body ``body``, serialised by
/// ``jsonBody()``. ``detail`` is a fresh UUID under which the server logs the failure, so that the
/// caller can quote it.
///
/// ``message`` is read by people and written to logs; it never contains a raw header value that
/// failed validation, only a description of what was wrong.
public struct XRoadFault: Error, Sendable, Hashable, CustomStringConvertible {
    /// The error type.
    public let type: XRoadErrorType

    /// A human readable description of the error.
    public let message: String

    /// The identifier under which the failure can be found in the server's logs.
    public let detail: UUID

    /// Whether the exchange is recorded as a failure of the provider (outcome `failed`) although
    /// the type is not a failure type: a provider that answered what no honest provider sends,
    /// such as an unsigned `AccessDenied`. Not part of the answer.
    public var providerFailure: Bool = false

    /// Creates a fault.
    ///
    /// - parameters:
    ///     - type: The error type.
    ///     - message: A human readable description of the error.
    ///     - detail: The log identifier; a new random UUID by default.
    public init(_ type: XRoadErrorType, _ message: String, detail: UUID = UUID()) {
        self.type = type
        self.message = message
        self.detail = detail
    }

    /// The HTTP status of the error response, see ``XRoadErrorType/httpStatus``.
    public var httpStatus: Int {
        self.type.httpStatus
    }

    /// The error body `{"type", "message", "detail"}`, with the classic type name and the detail
    /// UUID in lower case.
    public var body: XRoadErrorBody {
        XRoadErrorBody(type: self.type.name, message: self.message, detail: self.detail.uuidString.lowercased())
    }

    /// The value of the `Content-Type` header of an error response.
    public static let contentType = "application/json; charset=utf-8"

    /// The response headers: `X-Road-Error` (the type only) and `Content-Type`.
    public var headers: [(name: String, value: String)] {
        [
            (name: XRoadHeader.error, value: self.type.name),
            (name: "Content-Type", value: XRoadFault.contentType),
        ]
    }

    /// The body as JSON bytes, keys sorted, for example
    /// `{"detail":"…","message":"…","type":"Client.BadRequest"}`.
    public func jsonBody() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding three strings cannot fail; fall back to a fixed body rather than crash.
        return (try? encoder.encode(self.body)) ?? Data(#"{"type":"Server.ClientProxy.InternalError"}"#.utf8)
    }

    /// `Type: message (detail)`.
    public var description: String {
        "\(self.type.name): \(self.message) (\(self.body.detail))"
    }
}
