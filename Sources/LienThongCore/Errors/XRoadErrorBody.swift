/// The body of an X-Road error response: `{"type": …, "message": …, "detail": …}`.
///
/// A security server answers with this body (in the client's `Accept` type, JSON by default) when a
/// request fails inside X-Road rather than at the provider: the provider is unreachable, the request
/// is malformed, or the security server itself failed. The same `type` is sent in the
/// `X-Road-Error` header.
public struct XRoadErrorBody: Codable, Sendable, Hashable {
    /// The error type, for example `Server.ServerProxy.AccessDenied` or `Client.BadRequest`.
    ///
    /// Its prefix tells where the failure happened: `Client.*` for the caller,
    /// `Server.ClientProxy.*` for the consumer's security server and `Server.ServerProxy.*` for the
    /// provider's security server.
    public var type: String

    /// A human readable description of the error.
    public var message: String

    /// An identifier (a UUID) under which the failure can be found in the security server's logs.
    public var detail: String

    /// Creates an X-Road error body.
    ///
    /// - parameters:
    ///     - type: The error type, for example `Client.BadRequest`.
    ///     - message: A human readable description of the error.
    ///     - detail: An identifier under which the failure can be found in the server's logs.
    public init(type: String, message: String, detail: String) {
        self.type = type
        self.message = message
        self.detail = detail
    }
}
