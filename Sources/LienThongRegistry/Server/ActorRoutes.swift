import Foundation
import Hummingbird
import LienThongCore
import LienThongTrust

/// Who is who, and the member operators' management requests (`docs/registry-api.md`, "Roles"
/// and "Management requests"):
///
/// - `GET /api/v1/me`: the caller's own registration (any registered role);
/// - `GET /api/v1/registrations` (instance administrators and auditors: all; member operators
///   and viewers: their own member's), `POST /api/v1/registrations` and
///   `POST /api/v1/registrations/{sha256}:revoke` (instance administrators);
/// - `GET /api/v1/management-requests` and `GET .../{id}` (administrators and auditors: all;
///   operators and viewers: their own member's), `POST /api/v1/management-requests` (a member
///   operator for its own member), `POST .../{id}:approve` and `POST .../{id}:decline`
///   (instance administrators; the submitter may decline, that is withdraw, its own).
struct ActorRoutes {
    let management: ManagementRoutes

    var registry: Registry { management.registry }

    func register(on router: RouterGroup<RegistryRequestContext>) {
        let anyone = router.group("api/v1").add(middleware: RequireRole(Set(ActorRole.allCases)))
        let admin = router.group("api/v1").add(middleware: RequireRole([.instanceAdmin]))

        anyone.get("me") { request, context -> ActorRegistration in
            try QueryParameters.allowOnly([], in: request)
            let actor = try ManagementRoutes.actor(context)
            guard let hash = actor.certificateSHA256, let registration = await registry.activeRegistration(certificateSHA256: hash) else {
                throw RegistryAPIError.unauthenticated("the registration was revoked")
            }
            return registration
        }

        anyone.get("registrations") { request, context -> [ActorRegistration] in
            try QueryParameters.allowOnly([], in: request)
            let actor = try ManagementRoutes.actor(context)
            let all = await registry.registrations()
            if actor.role == .instanceAdmin || actor.role == .auditor { return all }
            return all.filter { $0.member != nil && $0.member == actor.member }
        }
        admin.post("registrations") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let input = try await JSONRequestBody.decode(NewRegistration.self, from: request, context: context)
            return try await management.created(context) { try await registry.register(input, actor: $0) }
        }
        admin.post("registrations/**") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let (hash, action) = try management.target(context)
            guard action == "revoke" else { throw management.unknownAction(action, ["revoke"]) }
            guard Self.isCertificateHash(hash) else {
                throw RegistryAPIError.badRequest("a registration is named by its certificate's SHA-256: 64 lower-case hex digits")
            }
            return try await management.change(context) { try await registry.revokeRegistration(certificateSHA256: hash, actor: $0) }
        }

        anyone.get("management-requests") { request, context -> [ManagementRequest] in
            try QueryParameters.allowOnly([], in: request)
            let actor = try ManagementRoutes.actor(context)
            let all = await registry.managementRequests()
            return all.filter { actor.mayRead($0.member) }
        }
        anyone.get("management-requests/**") { request, context -> ManagementRequest in
            try QueryParameters.allowOnly([], in: request)
            let id = try Self.requestId(try management.entityId(context))
            let actor = try ManagementRoutes.actor(context)
            let found = try await management.run { try await registry.managementRequest(id) }
            guard actor.mayRead(found.member) else { throw RegistryAPIError.forbidden("management request \(id) is another member's") }
            return found
        }
        anyone.post("management-requests") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let change = try await JSONRequestBody.decode(ManagementRequestChange.self, from: request, context: context)
            return try await management.created(context) { try await registry.submitManagementRequest(change, actor: $0) }
        }
        anyone.post("management-requests/**") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let (path, action) = try management.target(context)
            // The action first: POST on the entity path is 405 (Allow: GET), an unknown action 404,
            // whatever the body (EntityPaths, UnroutedRequestErrors).
            guard let action, action == "approve" || action == "decline" else {
                throw management.unknownAction(action, ["approve", "decline"])
            }
            let id = try Self.requestId(path)
            let input = try await JSONRequestBody.decode(ManagementDecisionInput.self, from: request, context: context)
            if action == "approve" {
                return try await management.change(context) { try await registry.approveManagementRequest(id, note: input.reason, actor: $0) }
            }
            return try await management.change(context) { try await registry.declineManagementRequest(id, reason: input.reason, actor: $0) }
        }
    }

    /// A management-request id from the path: `MR-` and 6 to 18 digits (400 otherwise).
    static func requestId(_ id: String) throws -> String {
        let digits = id.dropFirst(3)
        guard id.hasPrefix("MR-"), (6...18).contains(digits.count), digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
            throw RegistryAPIError.badRequest("management request id \"\(id.prefix(40))\" is malformed: it must be MR- and 6 to 18 digits, such as MR-000001")
        }
        return id
    }

    static func isCertificateHash(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// The body of `POST /api/v1/management-requests/{id}:approve` or `:decline`.
public struct ManagementDecisionInput: Codable, Sendable, Hashable {
    /// The written reason: required to decline, an optional note to approve.
    public var reason: String?

    /// Creates the input.
    public init(reason: String? = nil) {
        self.reason = reason
    }
}

extension ActorRegistration: ResponseEncodable {}
extension ManagementRequest: ResponseEncodable {}
