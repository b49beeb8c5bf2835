import Foundation
import Hummingbird
import LienThongCore
import LienThongTrust
import Logging
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// Authenticates the caller from the TLS client certificate and the registry's own records.
///
/// The TLS layer already checked the chain against the instance CA (certificates are optional
/// at that layer, so the signed global configuration can be fetched without one). This
/// middleware reads the peer certificate, looks its SHA-256 up among the registry's
/// registrations (``ActorRegistration``) and, for an active one, validates the certificate fully
/// as a TLS client — validity, key usage, OCSP, failing closed — whatever its subject says. The
/// role and member come from the registration, never from the certificate's `OU`
/// (docs/registry.md, "Roles").
///
/// - A registered certificate that does not validate gets 401 on every route.
/// - An unknown certificate, or one whose registration was revoked, leaves the caller unset:
///   routes that need a role answer 401 through ``RequireRole``, and the revocation takes effect
///   with the next request. The certificate's hash is kept in the context
///   (``RegistryRequestContext/peerCertificateSHA256``) for the routes that authenticate
///   otherwise (a security server's pinned certificate on `POST /checkpoints`).
public struct ClientCertificateAuthenticator: RouterMiddleware {
    /// The request context.
    public typealias Context = RegistryRequestContext

    /// The validator (trust anchors and revocation checking).
    public let validator: CertificateValidator
    /// The registry, whose registrations say who a certificate is.
    public let registry: Registry

    /// Creates the middleware.
    public init(validator: CertificateValidator, registry: Registry) {
        self.validator = validator
        self.registry = registry
    }

    /// Resolves the caller, then calls the next handler.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let peer = try? await context.channel.nioSSL_peerCertificate().get()
        if let peer {
            guard let der = try? peer.toDERBytes(), let certificate = try? Certificate(derEncoded: der) else {
                throw RegistryAPIError.unauthenticated("the client certificate cannot be read")
            }
            let hash = MessageDigest.sha256(of: der).hex
            context.peerCertificateSHA256 = hash
            if let registration = await registry.activeRegistration(certificateSHA256: hash) {
                do {
                    _ = try await validator.validateTLSClient(chain: [certificate])
                } catch {
                    context.logger.warning("request refused", metadata: [
                        "status": "401", "type": "Client.Unauthenticated", "method": "\(request.method)",
                        "path": "\(request.uri.path.prefix(200))", "certificate_sha256": "\(hash)",
                        "reason": "registered certificate rejected (\(error.code.rawValue))",
                    ])
                    throw RegistryAPIError.unauthenticated("client certificate rejected (\(error.code.rawValue)): \(error.message)")
                }
                context.caller = RegistryCaller(registration)
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
    public let roles: Set<ActorRole>

    /// Creates the middleware.
    public init(_ roles: Set<ActorRole>) {
        self.roles = roles
    }

    /// Checks the caller's role.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let caller = context.caller else {
            let wanted = roles.map(\.rawValue).sorted().joined(separator: " or ")
            if context.peerCertificateSHA256 != nil {
                throw RegistryAPIError.unauthenticated("the client certificate is not registered at the registry for any role, "
                    + "or its registration was revoked; this endpoint needs a registered \(wanted)")
            }
            throw RegistryAPIError.unauthenticated("this endpoint needs a registered client certificate (\(wanted))")
        }
        guard roles.contains(caller.role) else {
            throw RegistryAPIError.forbidden("a \(caller.role) may not call \(request.method) \(request.uri.path)")
        }
        return try await next(request, context)
    }
}

/// Logs every request the registry refuses for who the caller is (401, 403): the method, the path
/// (bounded), the error type and, when known, the caller's registered role, member, subject and
/// certificate hash, so that an operator trying another member's objects leaves a trace even
/// though nothing changed (changes are in the admin trail; refusals are not changes).
public struct RefusalLog: RouterMiddleware {
    /// The request context.
    public typealias Context = RegistryRequestContext

    /// Creates the middleware.
    public init() {}

    /// Calls the next handler and logs an authentication or authorisation refusal.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as RegistryAPIError where error.status == .unauthorized || error.status == .forbidden {
            context.logger.warning("request refused", metadata: [
                "status": "\(error.status.code)", "type": "\(error.type)",
                "method": "\(request.method)", "path": "\(request.uri.path.prefix(200))",
                "role": "\(context.caller?.role.rawValue ?? "-")", "member": "\(context.caller?.member?.canonical ?? "-")",
                "subject": "\(context.caller?.subject.prefix(200) ?? "-")",
                "certificate_sha256": "\(context.peerCertificateSHA256 ?? "-")",
                "reason": "\(String(error.message.prefix(400)).replacingOccurrences(of: "\n", with: " "))",
            ])
            throw error
        }
    }
}
