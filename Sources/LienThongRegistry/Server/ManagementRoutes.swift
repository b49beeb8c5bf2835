import Foundation
import Hummingbird
import LienThongCore
import LienThongTrust

/// The management API (`/api/v1/...`, admin certificates only), described in
/// `schemas/registry-api.openapi.yaml`.
///
/// Collections are `GET` (list) and `POST` (create) on `/api/v1/<collection>`. One entity is
/// `GET /api/v1/<collection>/<id>`, where `<id>` is the canonical identifier with its `/`
/// separators (`/api/v1/members/VN/GOV/000.00.00.G22`). Actions are custom methods on the entity,
/// `POST /api/v1/<collection>/<id>:<action>` — the colon never occurs in an identifier.
struct ManagementRoutes {
    let registry: Registry
    /// Called after every successful change, so the global configuration is re-signed at once.
    let onChange: @Sendable () async -> Void

    func register(on router: RouterGroup<RegistryRequestContext>) {
        let api = router.group("api/v1").add(middleware: RequireRole([.admin]))

        api.get("members") { _, _ in await registry.members() }
        api.post("members") { request, context in
            let input = try await request.decode(as: NewMember.self, context: context)
            return try await created(context) { try await registry.createMember(input, actor: $0) }
        }
        api.get("members/**") { request, context in
            let id = try entityId(context)
            return try await run { try await registry.member(try parsePath(MemberId.self, id)) }
        }
        api.post("members/**") { request, context in
            let (id, action) = try target(context)
            guard action == "disable" else { throw unknownAction(action, ["disable"]) }
            let member = try parsePath(MemberId.self, id)
            return try await change(context) { try await registry.disableMember(member, actor: $0) }
        }

        api.get("subsystems") { request, _ in
            let member = try request.uri.queryParameters["member"].map { try parse(MemberId.self, String($0)) }
            return await registry.subsystems(of: member)
        }
        api.post("subsystems") { request, context in
            let input = try await request.decode(as: NewSubsystem.self, context: context)
            return try await created(context) { try await registry.createSubsystem(input, actor: $0) }
        }

        api.get("servers") { request, _ in
            let member = try request.uri.queryParameters["member"].map { try parse(MemberId.self, String($0)) }
            return await registry.servers(of: member)
        }
        api.post("servers") { request, context in
            let input = try await request.decode(as: NewSecurityServer.self, context: context)
            return try await created(context) { try await registry.registerServer(input, actor: $0) }
        }

        api.get("services") { request, _ in
            let subsystem = try request.uri.queryParameters["subsystem"].map { try parse(SubsystemId.self, String($0)) }
            return await registry.services(of: subsystem)
        }
        api.post("services") { request, context in
            let input = try await request.decode(as: NewService.self, context: context)
            return try await created(context) { try await registry.createService(input, actor: $0) }
        }
        api.get("services/**") { request, context in
            let id = try entityId(context)
            return try await run { try await registry.service(try parsePath(ServiceId.self, id)) }
        }
        api.post("services/**") { request, context in
            let (id, action) = try target(context)
            guard action == "enable" || action == "disable" else { throw unknownAction(action, ["enable", "disable"]) }
            let service = try parsePath(ServiceId.self, id)
            return try await change(context) { try await registry.setServiceEnabled(service, enabled: action == "enable", actor: $0) }
        }

        api.get("datasets") { _, _ in await registry.datasets() }
        api.post("datasets") { request, context in
            let input = try await request.decode(as: NewDataset.self, context: context)
            return try await created(context) { try await registry.createDataset(input, actor: $0) }
        }
        api.get("datasets/**") { request, context in
            let id = try entityId(context)
            return try await run { try await registry.dataset(try parsePath(DatasetId.self, id)) }
        }

        api.get("agreements") { _, _ in await registry.agreements() }
        api.post("agreements") { request, context in
            let input = try await request.decode(as: NewAgreement.self, context: context)
            return try await created(context) { try await registry.createAgreement(input, actor: $0) }
        }
        api.get("agreements/**") { request, context in
            let id = try entityId(context)
            return try await run { try await registry.agreement(id) }
        }
        api.post("agreements/**") { request, context in
            let (id, action) = try target(context)
            let statuses: [String: AgreementStatus] = ["suspend": .suspended, "activate": .active, "revoke": .revoked]
            guard let action, let status = statuses[action] else { throw unknownAction(action, statuses.keys.sorted()) }
            return try await change(context) { try await registry.setAgreementStatus(id, status: status, actor: $0) }
        }

        api.get("access-requests") { _, _ in await registry.accessRequests() }
        api.get("access-requests/pending") { _, _ in await registry.pendingAccessRequests() }
        api.post("access-requests") { request, context in
            let input = try await request.decode(as: NewAccessRequest.self, context: context)
            return try await created(context) { try await registry.fileAccessRequest(input, actor: $0) }
        }
        api.post("access-requests/**") { request, context in
            let (id, action) = try target(context)
            guard action == "decide" else { throw unknownAction(action, ["decide"]) }
            let input = try await request.decode(as: AccessDecisionInput.self, context: context)
            return try await change(context) { try await registry.decide(id, input, actor: $0) }
        }

        api.get("audit-trail") { request, _ in
            let from = try integer(request, "from", default: 1, range: 1...Int64.max)
            let limit = try integer(request, "limit", default: 100, range: 1...1000)
            return try await run { try await registry.auditTrail(fromSequence: from, limit: Int(limit)) }
        }
        api.get("audit-trail/verify") { _, _ in
            try await run { try await registry.verifyAuditTrail() }
        }
    }

    // MARK: - Helpers

    /// Runs a registry mutation as the authenticated caller, then triggers re-publication.
    private func change<T: Sendable>(_ context: RegistryRequestContext, _ body: (String) async throws -> T) async throws -> T {
        guard let caller = context.caller else { throw RegistryAPIError.unauthenticated("no caller") }
        let result = try await run { try await body(caller.subject) }
        await onChange()
        return result
    }

    /// A creation: like ``change(_:_:)``, answered `201 Created`.
    private func created<T: ResponseEncodable & Sendable>(_ context: RegistryRequestContext, _ body: (String) async throws -> T) async throws -> EditedResponse<T> {
        EditedResponse(status: .created, response: try await change(context, body))
    }

    /// Maps a ``RegistryError`` to the API's error response.
    private func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RegistryError {
            throw RegistryAPIError(status: HTTPResponse.Status(code: error.httpStatus), type: error.xroadType, message: error.message)
        }
    }

    /// The entity id and optional `:action` from the catch-all path.
    private func target(_ context: RegistryRequestContext) throws -> (id: String, action: String?) {
        let path = context.parameters.getCatchAll().joined(separator: "/")
        guard !path.isEmpty else { throw RegistryAPIError.badRequest("missing id in the path") }
        if let colon = path.lastIndex(of: ":") {
            return (String(path[..<colon]), String(path[path.index(after: colon)...]))
        }
        return (path, nil)
    }

    /// The entity id from the catch-all path of a `GET`, which takes no `:action`.
    private func entityId(_ context: RegistryRequestContext) throws -> String {
        let (id, action) = try target(context)
        guard action == nil else { throw RegistryAPIError.notFound("GET has no action :\(action ?? "")") }
        return id
    }

    private func unknownAction(_ action: String?, _ known: [String]) -> RegistryAPIError {
        RegistryAPIError.notFound("unknown action \(action.map { ":" + $0 } ?? "(none)"); use one of \(known.map { ":" + $0 }.joined(separator: ", "))")
    }

    private func integer(_ request: Request, _ name: String, default value: Int64, range: ClosedRange<Int64>) throws -> Int64 {
        guard let text = request.uri.queryParameters[Substring(name)] else { return value }
        guard let number = Int64(text), range.contains(number) else {
            throw RegistryAPIError.badRequest("query parameter \(name)=\(text.prefix(40)) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }
}

/// Parses an identifier from the API, mapping the error to a 400 that names the bad part.
func parse<T: XRoadIdentifier>(_ type: T.Type, _ text: String) throws -> T {
    do {
        return try T(parsing: text)
    } catch {
        throw RegistryAPIError.badRequest(error.description)
    }
}

/// Parses an identifier taken from the URL path (percent-encoded parts), mapping the error to a 400.
func parsePath<T: XRoadIdentifier>(_ type: T.Type, _ text: String) throws -> T {
    do {
        return try T(percentEncoded: text)
    } catch {
        throw RegistryAPIError.badRequest(error.description)
    }
}

extension Member: ResponseEncodable {}
extension Subsystem: ResponseEncodable {}
extension SecurityServer: ResponseEncodable {}
extension Service: ResponseEncodable {}
extension Dataset: ResponseEncodable {}
extension Agreement: ResponseEncodable {}
extension AccessRequest: ResponseEncodable {}
extension AdminAuditEntry: ResponseEncodable {}
extension AuditTrailVerification: ResponseEncodable {}
extension PendingAccessRequest: ResponseEncodable {}
