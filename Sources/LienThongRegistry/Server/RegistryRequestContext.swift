import Foundation
import Hummingbird
import LienThongTrust
import NIOCore
import NIOHTTP1
import NIOSSL
import X509

/// The authenticated caller of a registry API request.
public struct RegistryCaller: Sendable, Hashable {
    /// The role of the caller's client certificate.
    public var role: CertificateRole
    /// The holder id from the certificate (`CN`).
    public var holderId: String
    /// The full certificate subject, as recorded in the admin audit trail.
    public var subject: String
}

/// Hummingbird request context of the registry: keeps the channel, so the TLS peer
/// certificate can be read, and the caller once authenticated.
public struct RegistryRequestContext: RequestContext {
    /// Hummingbird's core storage.
    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on.
    public let channel: any Channel
    /// Set by ``ClientCertificateAuthenticator`` when the peer presented a valid certificate.
    public var caller: RegistryCaller?

    /// Bodies up to 4 MiB (OpenAPI documents can be large); larger ones get 413.
    public var maxUploadSize: Int { 4 * 1024 * 1024 }

    /// Uses the registry's JSON conventions (snake_case, ISO 8601).
    public var requestDecoder: RegistryJSONCoder { RegistryJSONCoder() }
    /// Uses the registry's JSON conventions (snake_case, ISO 8601).
    public var responseEncoder: RegistryJSONCoder { RegistryJSONCoder() }

    /// Creates the context for a request on `source.channel`.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
        self.caller = nil
    }
}

/// JSON as the registry speaks it: snake_case keys, ISO 8601 dates, sorted keys.
public struct RegistryJSONCoder: RequestDecoder, ResponseEncoder {
    /// The encoder (``RegistryJSON/makeEncoder()``).
    public static func encoder() -> JSONEncoder { RegistryJSON.makeEncoder() }

    /// The decoder (``RegistryJSON/makeDecoder()``, acronym-aware snake_case).
    public static func decoder() -> JSONDecoder { RegistryJSON.makeDecoder() }

    /// Creates a coder.
    public init() {}

    /// Decodes a request body; malformed JSON becomes a 400 with the decoder's reason.
    public func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        do {
            return try Self.decoder().decode(T.self, from: Data((buffer).readableBytesView))
        } catch let error as DecodingError {
            throw RegistryAPIError.badRequest("request body: \(RegistryAPIError.describe(error))")
        }
    }

    /// Encodes a response body as JSON.
    public func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response {
        let data = try Self.encoder().encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
