import Foundation
import Hummingbird
import LienThongCore
import LienThongTrust
import NIOCore

/// The management API (`/api/v1/...`, admin certificates only), described in
/// `schemas/registry-api.openapi.yaml`.
///
/// Collections are `GET` (list) and `POST` (create) on `/api/v1/<collection>`. One entity is
/// `GET /api/v1/<collection>/<id>`, where `<id>` is the canonical identifier with its `/`
/// separators (`/api/v1/members/VN/GOV/000.00.00.G22`). Actions are custom methods on the entity,
/// `POST /api/v1/<collection>/<id>:<action>` — the colon never occurs in an identifier.
///
/// Hostile input gets a typed X-Road error and changes nothing (`docs/registry-api.md`):
/// - every route takes only the query parameters it lists (the list filters `member` or
///   `subsystem`, the audit trail `from` and `limit`, all others none); an unknown parameter, or
///   one given twice, is 400, so that a mistyped filter or an imagined `dry_run=1` never turns
///   into an unfiltered read or a real write (``QueryParameters/allowOnly(_:in:)``);
/// - a body must be `Content-Type: application/json` (415 `Client.UnsupportedMediaType`), at
///   most 4 MiB (413 `Client.RequestTooLarge`), JSON of the operation's shape with dates that
///   are real RFC 3339 date-times, and name no key twice, even spelled differently (`name_en` and
///   `nameEn`) (400) — see ``JSONRequestBody``;
/// - an agreement or access-request id that is not `AG-`/`AR-` and 6 to 18 digits is 400; a
///   well-formed unknown one 404;
/// - an entity path takes `GET` only and an action path `POST` only: another method is 405 with
///   `Allow` naming the one it takes, an unknown action 404 (``EntityPaths``).
struct ManagementRoutes {
    let registry: Registry
    /// Called after every successful change, so the global configuration is re-signed at once.
    let onChange: @Sendable () async -> Void

    func register(on router: RouterGroup<RegistryRequestContext>) {
        // Instance administrators, member operators and viewers: the directory is public to all of
        // them; agreements and access requests are shown to the members they name; every change is
        // authorised by the registry against the caller's role and member (Registry+Actors).
        let api = router.group("api/v1").add(middleware: RequireRole([.instanceAdmin, .memberOperator, .viewer]))
        let adminOnly = router.group("api/v1").add(middleware: RequireRole([.instanceAdmin]))

        api.get("members") { request, _ in
            try QueryParameters.allowOnly([], in: request)
            return await registry.members()
        }
        api.post("members") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let input = try await JSONRequestBody.decode(NewMember.self, from: request, context: context)
            return try await created(context) { try await registry.createMember(input, actor: $0) }
        }
        api.get("members/**") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let id = try entityId(context)
            return try await run { try await registry.member(try parsePath(MemberId.self, id)) }
        }
        api.post("members/**") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let (id, action) = try target(context)
            guard action == "disable" else { throw unknownAction(action, ["disable"]) }
            let member = try parsePath(MemberId.self, id)
            return try await change(context) { try await registry.disableMember(member, actor: $0) }
        }

        api.get("subsystems") { request, _ in
            try QueryParameters.allowOnly(["member"], in: request)
            let member = try request.uri.queryParameters["member"].map { try parse(MemberId.self, String($0)) }
            return await registry.subsystems(of: member)
        }
        api.post("subsystems") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let input = try await JSONRequestBody.decode(NewSubsystem.self, from: request, context: context)
            return try await created(context) { try await registry.createSubsystem(input, actor: $0) }
        }

        api.get("servers") { request, _ in
            try QueryParameters.allowOnly(["member"], in: request)
            let member = try request.uri.queryParameters["member"].map { try parse(MemberId.self, String($0)) }
            return await registry.servers(of: member)
        }
        api.post("servers") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let input = try await JSONRequestBody.decode(NewSecurityServer.self, from: request, context: context)
            return try await created(context) { try await registry.registerServer(input, actor: $0) }
        }

        api.get("services") { request, _ in
            try QueryParameters.allowOnly(["subsystem"], in: request)
            let subsystem = try request.uri.queryParameters["subsystem"].map { try parse(SubsystemId.self, String($0)) }
            return await registry.services(of: subsystem)
        }
        api.post("services") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let input = try await JSONRequestBody.decode(NewService.self, from: request, context: context)
            return try await created(context) { try await registry.createService(input, actor: $0) }
        }
        api.get("services/**") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let id = try entityId(context)
            return try await run { try await registry.service(try parsePath(ServiceId.self, id)) }
        }
        api.post("services/**") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let (id, action) = try target(context)
            guard action == "enable" || action == "disable" else { throw unknownAction(action, ["enable", "disable"]) }
            let service = try parsePath(ServiceId.self, id)
            return try await change(context) { try await registry.setServiceEnabled(service, enabled: action == "enable", actor: $0) }
        }

        api.get("datasets") { request, _ in
            try QueryParameters.allowOnly([], in: request)
            return await registry.datasets()
        }
        api.post("datasets") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let input = try await JSONRequestBody.decode(NewDataset.self, from: request, context: context)
            return try await created(context) { try await registry.createDataset(input, actor: $0) }
        }
        api.get("datasets/**") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let id = try entityId(context)
            return try await run { try await registry.dataset(try parsePath(DatasetId.self, id)) }
        }

        api.get("agreements") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let actor = try Self.actor(context)
            return await registry.agreements().filter { actor.mayRead($0.consumer.member) || actor.mayRead($0.dataset.owner) }
        }
        api.post("agreements") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let input = try await JSONRequestBody.decode(NewAgreement.self, from: request, context: context)
            return try await created(context) { try await registry.createAgreement(input, actor: $0) }
        }
        api.get("agreements/**") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let id = try agreementId(try entityId(context))
            let actor = try Self.actor(context)
            let agreement = try await run { try await registry.agreement(id) }
            guard actor.mayRead(agreement.consumer.member) || actor.mayRead(agreement.dataset.owner) else {
                throw RegistryAPIError.forbidden("agreement \(id) is between other members")
            }
            return agreement
        }
        api.post("agreements/**") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let (path, action) = try target(context)
            let id = try agreementId(path)
            let statuses: [String: AgreementStatus] = ["suspend": .suspended, "activate": .active, "revoke": .revoked]
            guard let action, let status = statuses[action] else { throw unknownAction(action, statuses.keys.sorted()) }
            return try await change(context) { try await registry.setAgreementStatus(id, status: status, actor: $0) }
        }

        api.get("access-requests") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let actor = try Self.actor(context)
            return await registry.accessRequests().filter { actor.mayRead($0.consumer.member) || actor.mayRead($0.dataset.owner) }
        }
        api.get("access-requests/pending") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let actor = try Self.actor(context)
            return await registry.pendingAccessRequests().filter {
                actor.mayRead($0.request.consumer.member) || actor.mayRead($0.request.dataset.owner)
            }
        }
        api.post("access-requests") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let input = try await JSONRequestBody.decode(NewAccessRequest.self, from: request, context: context)
            return try await created(context) { try await registry.fileAccessRequest(input, actor: $0) }
        }
        api.post("access-requests/**") { request, context in
            try QueryParameters.allowOnly([], in: request)
            let (path, action) = try target(context)
            let id = try accessRequestId(path)
            guard action == "decide" else { throw unknownAction(action, ["decide"]) }
            let input = try await JSONRequestBody.decode(AccessDecisionInput.self, from: request, context: context)
            return try await change(context) { try await registry.decide(id, input, actor: $0) }
        }

        adminOnly.get("audit-trail") { request, _ in
            try QueryParameters.allowOnly(["from", "limit"], in: request)
            let from = try QueryParameters.integer(request, "from", default: 1, range: 1...Int64.max)
            let limit = try QueryParameters.integer(request, "limit", default: 100, range: 1...1000)
            return try await run { try await registry.auditTrail(fromSequence: from, limit: Int(limit)) }
        }
        adminOnly.get("audit-trail/verify") { request, _ in
            try QueryParameters.allowOnly([], in: request)
            return try await run { try await registry.verifyAuditTrail() }
        }
    }

    // MARK: - Helpers

    /// Runs a registry mutation as the authenticated caller, then triggers re-publication.
    func change<T: Sendable>(_ context: RegistryRequestContext, _ body: (RegistryActor) async throws -> T) async throws -> T {
        let result = try await run { try await body(try Self.actor(context)) }
        await onChange()
        return result
    }

    /// A creation: like ``change(_:_:)``, answered `201 Created`.
    func created<T: ResponseEncodable & Sendable>(_ context: RegistryRequestContext, _ body: (RegistryActor) async throws -> T) async throws -> EditedResponse<T> {
        EditedResponse(status: .created, response: try await change(context, body))
    }

    /// The authenticated caller as the registry's operations take it.
    static func actor(_ context: RegistryRequestContext) throws -> RegistryActor {
        guard let caller = context.caller else { throw RegistryAPIError.unauthenticated("no caller") }
        return caller.actor
    }

    /// Maps a ``RegistryError`` to the API's error response.
    func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RegistryError {
            throw RegistryAPIError(status: HTTPResponse.Status(code: error.httpStatus), type: error.xroadType, message: error.message)
        }
    }

    /// The entity id and optional `:action` from the catch-all path.
    func target(_ context: RegistryRequestContext) throws -> (id: String, action: String?) {
        let path = context.parameters.getCatchAll().joined(separator: "/")
        guard !path.isEmpty else { throw RegistryAPIError.badRequest("missing id in the path") }
        if let colon = path.lastIndex(of: ":") {
            return (String(path[..<colon]), String(path[path.index(after: colon)...]))
        }
        return (path, nil)
    }

    /// The entity id from the catch-all path of a `GET`, which takes no `:action`.
    func entityId(_ context: RegistryRequestContext) throws -> String {
        let (id, action) = try target(context)
        // An action path takes POST only: 405 with Allow, or 404 for an unknown action (UnroutedRequestErrors, EntityPaths).
        guard action == nil else { throw HTTPError(.notFound) }
        return id
    }

    /// An agreement id from the path: a malformed one is 400 (a well-formed unknown one is 404 later).
    private func agreementId(_ id: String) throws -> String {
        guard QueryParameters.isAgreementId(id) else {
            throw RegistryAPIError.badRequest("agreement id \"\(id.prefix(40))\" is malformed: it must be AG- and 6 to 18 digits, such as AG-000001")
        }
        return id
    }

    /// An access-request id from the path: a malformed one is 400 (a well-formed unknown one is 404 later).
    private func accessRequestId(_ id: String) throws -> String {
        guard QueryParameters.isAccessRequestId(id) else {
            throw RegistryAPIError.badRequest("access request id \"\(id.prefix(40))\" is malformed: it must be AR- and 6 to 18 digits, such as AR-000001")
        }
        return id
    }

    func unknownAction(_ action: String?, _ known: [String]) -> any Error {
        // An entity path without action takes GET only: 405 with Allow, or 404 (UnroutedRequestErrors, EntityPaths).
        guard action != nil else { return HTTPError(.notFound) }
        return RegistryAPIError.notFound("unknown action \(action.map { ":" + $0.prefix(40) } ?? "(none)"); use one of \(known.map { ":" + $0 }.joined(separator: ", "))")
    }
}

/// The JSON body of a management request, read strictly: `Content-Type: application/json`
/// (415 `Client.UnsupportedMediaType` otherwise, so that a form or a text body is never taken for
/// JSON), at most ``RegistryRequestContext/maxUploadSize`` bytes (413 `Client.RequestTooLarge`),
/// decodable as the operation's input (400 naming the field; dates must be real RFC 3339
/// date-times, see ``RegistryJSON/parseTimestamp(_:)``), and no key given twice in one
/// object — also not spelled two ways that decode to the same field, such as `name_en` and
/// `nameEn` (400: a parser that keeps the first and one that keeps the last would read
/// different requests), and no key the operation does not define, nor `null` for an optional
/// one (400: `"dry_run": true` or `"disabled": true` on a creation would otherwise be ignored
/// silently, and the caller believe it had been obeyed).
enum JSONRequestBody {
    static func decode<T: Codable>(_ type: T.Type, from request: Request, context: RegistryRequestContext) async throws -> T {
        let mediaType = request.headers[.contentType]?.split(separator: ";", maxSplits: 1).first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        guard mediaType == "application/json" else {
            throw RegistryAPIError(status: .unsupportedMediaType, type: "Client.UnsupportedMediaType",
                                   message: "the body must be Content-Type: application/json, not \(mediaType.map { "\"\($0.prefix(60))\"" } ?? "none")")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw RegistryAPIError(status: .contentTooLarge, type: "Client.RequestTooLarge",
                                   message: "the body is larger than the limit of \(context.maxUploadSize) bytes")
        }
        let bytes = Array(buffer.readableBytesView)
        let decoder = RegistryJSONCoder.decoder()
        let value: T
        do {
            value = try decoder.decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw RegistryAPIError.badRequest("request body: \(RegistryAPIError.describe(error))")
        }
        if let key = repeatedKey(in: bytes) {
            throw RegistryAPIError.badRequest("request body: the key \"\(key.prefix(60))\" is given more than once in one object "
                + "(or as two spellings of the same field)")
        }
        if let unknown = unknownKey(in: bytes, decoded: value) {
            throw RegistryAPIError.badRequest(unknown.null
                ? "request body: the field \"\(unknown.path.prefix(80))\" is null; leave an optional field out instead"
                : "request body: unknown field \"\(unknown.path.prefix(80))\"; the operation defines no such field "
                    + "(see schemas/registry-api.openapi.yaml), and a field it does not define is refused rather than ignored")
        }
        return value
    }

    /// The first key of `json` (a valid JSON text) that the decoded `value` does not hold — a
    /// field the operation does not define, which the decoder skipped — with its path
    /// (`endpoints[0].public`), and whether it was given as `null` (an optional field given as
    /// null is refused as well: the schema's types do not include null; omit the field). The
    /// value is re-encoded as the registry writes it, and keys are compared as the decoder reads
    /// them (snake_case to camelCase, letter case kept), so a new field of an input type is known
    /// here without a list to keep up to date.
    static func unknownKey(in json: [UInt8], decoded value: some Encodable) -> (path: String, null: Bool)? {
        guard let given = try? JSONSerialization.jsonObject(with: Data(json), options: [.fragmentsAllowed]),
              let encoded = try? RegistryJSONCoder.encoder().encode(value),
              let known = try? JSONSerialization.jsonObject(with: encoded, options: [.fragmentsAllowed])
        else { return ("(the body could not be compared with the operation's fields)", false) }
        return firstUnknown(given, known, path: "")
    }

    private static func firstUnknown(_ given: Any, _ known: Any, path: String) -> (path: String, null: Bool)? {
        if let object = given as? [String: Any] {
            guard let knownObject = known as? [String: Any] else { return nil }
            var fields: [String: Any] = [:]
            for (key, value) in knownObject { fields[RegistryJSON.camelCase(fromSnakeCase: key)] = value }
            for key in object.keys.sorted() {
                let here = path.isEmpty ? key : "\(path).\(key)"
                guard let field = fields[RegistryJSON.camelCase(fromSnakeCase: key)] else { return (here, object[key] is NSNull) }
                if let child = object[key], let found = firstUnknown(child, field, path: here) { return found }
            }
        } else if let array = given as? [Any], let knownArray = known as? [Any] {
            for (index, element) in array.enumerated() where index < knownArray.count {
                if let found = firstUnknown(element, knownArray[index], path: "\(path)[\(index)]") { return found }
            }
        }
        return nil
    }

    /// The first key that repeats within one object of `json`, which must be valid JSON; keys
    /// are compared as the registry's decoder reads them (snake_case to camelCase), ignoring case.
    static func repeatedKey(in json: [UInt8]) -> String? {
        // One entry per open container: the keys seen so far for an object, nil for an array.
        var open: [Set<String>?] = []
        var expectingKey = false
        var index = 0
        while index < json.count {
            switch json[index] {
            case UInt8(ascii: "{"):
                open.append([])
                expectingKey = true
                index += 1
            case UInt8(ascii: "["):
                open.append(nil)
                expectingKey = false
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if !open.isEmpty { open.removeLast() }
                expectingKey = false
                index += 1
            case UInt8(ascii: ","):
                expectingKey = open.last.map { $0 != nil } ?? false
                index += 1
            case UInt8(ascii: "\""):
                let (text, end) = string(in: json, from: index + 1)
                index = end
                if expectingKey, let last = open.indices.last, var keys = open[last] {
                    let normalised = RegistryJSON.camelCase(fromSnakeCase: text).lowercased()
                    guard keys.insert(normalised).inserted else { return text }
                    open[last] = keys
                    expectingKey = false
                }
            default:
                index += 1
            }
        }
        return nil
    }

    /// The string whose contents start at `start` (after the opening quote), unescaped, and the
    /// index after its closing quote.
    private static func string(in json: [UInt8], from start: Int) -> (String, Int) {
        var bytes: [UInt8] = []
        var scalars = String.UnicodeScalarView()
        func flush() {
            scalars.append(contentsOf: String(decoding: bytes, as: UTF8.self).unicodeScalars)
            bytes.removeAll()
        }
        func hex(_ at: Int) -> UInt32? {
            guard at + 4 <= json.count else { return nil }
            return UInt32(String(decoding: json[at..<at + 4], as: UTF8.self), radix: 16)
        }
        var index = start
        while index < json.count, json[index] != UInt8(ascii: "\"") {
            guard json[index] == UInt8(ascii: "\\"), index + 1 < json.count else {
                bytes.append(json[index])
                index += 1
                continue
            }
            let escaped = json[index + 1]
            index += 2
            switch escaped {
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                guard var code = hex(index) else { continue }
                index += 4
                if (0xD800..<0xDC00).contains(code), index + 6 <= json.count, json[index] == UInt8(ascii: "\\"),
                   json[index + 1] == UInt8(ascii: "u"), let low = hex(index + 2), (0xDC00..<0xE000).contains(low) {
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                }
                flush()
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default: bytes.append(escaped)
            }
        }
        flush()
        return (String(scalars), min(index + 1, json.count))
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
