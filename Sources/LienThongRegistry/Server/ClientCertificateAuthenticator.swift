import Foundation
import Hummingbird
import LienThongTrust
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// Authenticates the caller from the TLS client certificate.
///
/// The TLS layer already checked the chain against the instance CA (certificates are optional
/// at that layer, so the signed global configuration can be fetched without one). This
/// middleware reads the peer certificate, takes the role from its subject and validates it
/// fully for that role with ``CertificateValidator`` — validity, key usage and OCSP status,
/// failing closed. A certificate that does not pass gets 401; no certificate leaves the caller
/// unset, and routes that need one answer 401 through ``RequireRole``.
public struct ClientCertificateAuthenticator: RouterMiddleware {
    /// The request context.
    public typealias Context = RegistryRequestContext

    /// The validator (trust anchors and revocation checking).
    public let validator: CertificateValidator

    /// Creates the middleware.
    public init(validator: CertificateValidator) {
        self.validator = validator
    }

    /// Resolves the caller, then calls the next handler.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let peer = try? await context.channel.nioSSL_peerCertificate().get()
        if let peer {
            guard let der = try? peer.toDERBytes(), let certificate = try? Certificate(derEncoded: der) else {
                throw RegistryAPIError.unauthenticated("the client certificate cannot be read")
            }
            guard let holder = CertificateRole.holder(of: certificate) else {
                throw RegistryAPIError.unauthenticated("the client certificate carries no LienThong role")
            }
            do {
                let valid = try await validator.validate(chain: [certificate], role: holder.role)
                context.caller = RegistryCaller(role: holder.role, holderId: valid.holderId, subject: certificate.subject.description)
            } catch {
                throw RegistryAPIError.unauthenticated("client certificate rejected (\(error.code.rawValue)): \(error.message)")
            }
        }
        return try await next(request, context)
    }
}

/// Lets a request through only if its caller holds one of `roles`.
public struct RequireRole: RouterMiddleware {
    /// The request context.
    public typealias Context = RegistryRequestContext

    /// The roles allowed.
    public let roles: Set<CertificateRole>

    /// Creates the middleware.
    public init(_ roles: Set<CertificateRole>) {
        self.roles = roles
    }

    /// Checks the caller's role.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let caller = context.caller else {
            throw RegistryAPIError.unauthenticated("this endpoint needs a client certificate (\(roles.map(\.rawValue).sorted().joined(separator: " or ")))")
        }
        guard roles.contains(caller.role) else {
            throw RegistryAPIError.forbidden("a \(caller.role) certificate may not call \(request.method) \(request.uri.path)")
        }
        return try await next(request, context)
    }
}
