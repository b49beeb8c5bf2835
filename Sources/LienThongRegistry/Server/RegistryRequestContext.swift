import Foundation
import Hummingbird
import LienThongCore
import LienThongTrust
import NIOCore
import NIOHTTP1
import NIOSSL
import X509

/// The authenticated caller of a registry API request: a registered certificate.
public struct RegistryCaller: Sendable, Hashable {
    /// The role of the caller's registration.
    public var role: ActorRole
    /// The member a member operator or viewer acts for.
    public var member: MemberId?
    /// The full certificate subject, as recorded in the admin audit trail.
    public var subject: String
    /// The SHA-256 of the caller's certificate (the registration's key).
    public var certificateSHA256: String

    /// The caller of `registration`.
    public init(_ registration: ActorRegistration) {
        self.role = registration.role
        self.member = registration.member
        self.subject = registration.subject
        self.certificateSHA256 = registration.certificateSHA256
    }

    /// The caller as the registry's operations take it.
    public var actor: RegistryActor {
        RegistryActor(subject: subject, role: role, member: member, certificateSHA256: certificateSHA256)
    }
}

/// Hummingbird request context of the registry: keeps the channel, so the TLS peer
/// certificate can be read, and the caller once authenticated.
public struct RegistryRequestContext: RequestContext {
    /// Hummingbird's core storage.
    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on.
    public let channel: any Channel
    /// Set by ``ClientCertificateAuthenticator`` when the peer presented a registered, valid
    /// certificate.
    public var caller: RegistryCaller?
    /// The SHA-256 (lower-case hex) of the peer's certificate, when it presented one, registered
    /// or not.
    public var peerCertificateSHA256: String?

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
        self.peerCertificateSHA256 = nil
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
