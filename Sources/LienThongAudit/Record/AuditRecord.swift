import Foundation
import LienThongCore

/// One exchange as the audit log stores it: a leaf of the server's Merkle log.
///
/// A record is an ``ExchangeEvent`` with its position in the log (`sequence`), personal
/// identifiers in the path and free-text fields replaced by keyed hashes (``PersonalDataProtector``),
/// times truncated to the millisecond and, only where a deployment opts in, the bodies encrypted
/// (``BodyEncryption``). Its leaf bytes are ``canonicalBytes()``: the RFC 8785 serialisation of
/// a JSON object with snake_case members, absent optional members omitted (docs/audit-record.md,
/// schemas/audit-record.schema.json).
///
/// Records are immutable evidence: every property is a constant, and both ways in
/// (``init(event:sequence:protector:requestBody:responseBody:)`` and ``init(canonicalBytes:)``)
/// check every range, so ``canonicalBytes()`` cannot fail.
public struct AuditRecord: Sendable, Hashable, Codable {
    /// The record format version, `v`.
    public static let currentVersion: Int64 = 1
    /// The largest integer a record holds (2^53 − 1): every JSON reader keeps it exactly (I-JSON, RFC 7493).
    public static let maximumInteger: Int64 = 9_007_199_254_740_991

    /// `v`: the format version, always ``currentVersion``.
    public var version: Int64 { Self.currentVersion }
    /// `sequence`: the record's position in this server's log, assigned by the store (0 …
    /// ``maximumInteger``).
    public let sequence: UInt64
    /// `side`: which security server recorded it.
    public let side: ExchangeSide
    /// `server`: the recording security server (`INSTANCE/CLASS/MEMBER/SERVERCODE`).
    public let server: String
    /// `message_id`: `X-Road-Id`, shared by both sides.
    public let messageId: String?
    /// `request_id`: `X-Road-Request-Id`.
    public let requestId: String?
    /// `client`: the calling client, canonical form.
    public let client: String?
    /// `service`: the service called, canonical form.
    public let service: String?
    /// `dataset`: the dataset of the service.
    public let dataset: String?
    /// `agreement`: the agreement that allowed the call.
    public let agreement: String?
    /// `purpose`: `X-LienThong-Purpose`, personal identifiers protected.
    public let purpose: String?
    /// `user_id`: `X-Road-UserId`, personal identifiers protected.
    public let userId: String?
    /// `method`: the HTTP method.
    public let method: String
    /// `path`: the protected path: service path and query as sent, identifiers replaced by `{pid:…}`.
    public let path: String?
    /// `peer`: the client's address (consumer side) or the peer server (provider side).
    public let peer: String?
    /// `request_digest`: digest of the canonical request (base64url).
    public let requestDigest: String?
    /// `request_signature`: the request's detached JWS.
    public let requestSignature: String?
    /// `request_ocsp`: the OCSP response stapled to the request signature (DER, standard base64).
    public let requestOCSP: String?
    /// `response_digest`: digest of the canonical response (base64url).
    public let responseDigest: String?
    /// `response_signature`: the response's detached JWS.
    public let responseSignature: String?
    /// `response_ocsp`: the OCSP response stapled to the response signature (DER, standard base64).
    public let responseOCSP: String?
    /// `status`: the HTTP status returned to the caller (0 … 999; 0 if none was).
    public let status: Int
    /// `outcome`: success, refused or failed.
    public let outcome: ExchangeOutcome
    /// `error_type`: the X-Road error type, for refusals and failures.
    public let errorType: String?
    /// `error_message`: the error message, personal identifiers protected.
    public let errorMessage: String?
    /// `request_bytes`: the request body size.
    public let requestBytes: Int?
    /// `response_bytes`: the response body size.
    public let responseBytes: Int?
    /// `started_at`: when the server received the request.
    public let startedAt: AuditTimestamp
    /// `ended_at`: when the server finished handling it.
    public let endedAt: AuditTimestamp
    /// `duration_ms`: `ended_at − started_at` in milliseconds (negative only if the wall clock stepped back).
    public let durationMilliseconds: Int64
    /// `request_body`: the request body, encrypted; absent unless the deployment stores bodies.
    public let requestBody: EncryptedBody?
    /// `response_body`: the response body, encrypted; absent unless the deployment stores bodies.
    public let responseBody: EncryptedBody?

    /// Makes the record of `event` at position `sequence`: the path, `user_id`, `purpose` and
    /// `error_message` go through `protector` (with the event's service's patterns), times are
    /// truncated to the millisecond. Seal bodies with ``bodyAssociatedData(messageId:side:body:)``
    /// of the event's message id and side.
    ///
    /// - Throws: ``AuditRecordError/valueOutOfRange(field:)`` for a sequence or size beyond
    ///   ``maximumInteger``, a negative size, a status outside 0 … 999 or a time outside years 0000 … 9999.
    public init(event: ExchangeEvent, sequence: UInt64, protector: PersonalDataProtector,
                requestBody: EncryptedBody? = nil, responseBody: EncryptedBody? = nil) throws(AuditRecordError) {
        guard sequence <= UInt64(Self.maximumInteger) else { throw .valueOutOfRange(field: "sequence") }
        guard (0...999).contains(event.status) else { throw .valueOutOfRange(field: "status") }
        for (field, size) in [("request_bytes", event.requestBytes), ("response_bytes", event.responseBytes)] {
            if let size, !(0...Self.maximumInteger).contains(Int64(size)) { throw .valueOutOfRange(field: field) }
        }
        guard let startedAt = AuditTimestamp(event.startedAt) else { throw .valueOutOfRange(field: "started_at") }
        guard let endedAt = AuditTimestamp(event.endedAt) else { throw .valueOutOfRange(field: "ended_at") }
        func protect(_ text: String?) -> String? { text.map { protector.protect(path: $0, service: event.service).text } }

        self.sequence = sequence
        self.side = event.side
        self.server = event.server
        self.messageId = event.messageId
        self.requestId = event.requestId
        self.client = event.client
        self.service = event.service
        self.dataset = event.dataset
        self.agreement = event.agreement
        self.purpose = protect(event.purpose)
        self.userId = protect(event.userId)
        self.method = event.method
        self.path = protect(event.path)
        self.peer = event.peer
        self.requestDigest = event.requestDigest
        self.requestSignature = event.requestSignature
        self.requestOCSP = event.requestOCSP
        self.responseOCSP = event.responseOCSP
        self.responseDigest = event.responseDigest
        self.responseSignature = event.responseSignature
        self.status = event.status
        self.outcome = event.outcome
        self.errorType = event.errorType
        self.errorMessage = protect(event.errorMessage)
        self.requestBytes = event.requestBytes
        self.responseBytes = event.responseBytes
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.durationMilliseconds = endedAt.millisecondsSince1970 - startedAt.millisecondsSince1970
        self.requestBody = requestBody
        self.responseBody = responseBody
    }

    // MARK: Canonical form

    /// The members of a record, in canonical (sorted) order.
    public static let fieldNames: [String] = [
        "agreement", "client", "dataset", "duration_ms", "ended_at", "error_message", "error_type", "message_id",
        "method", "outcome", "path", "peer", "purpose", "request_body", "request_bytes", "request_digest",
        "request_id", "request_ocsp", "request_signature", "response_body", "response_bytes", "response_digest", "response_ocsp",
        "response_signature", "sequence", "server", "service", "side", "started_at", "status", "user_id", "v",
    ]

    /// The record as a JSON object (absent optionals omitted).
    public var canonicalJSON: CanonicalJSON {
        var members: [String: CanonicalJSON] = [
            "v": .integer(Self.currentVersion),
            // In range: both initialisers check sequence ≤ maximumInteger.
            "sequence": .integer(Int64(truncatingIfNeeded: sequence)),
            "side": .string(side.rawValue),
            "server": .string(server),
            "method": .string(method),
            "status": .integer(Int64(status)),
            "outcome": .string(outcome.rawValue),
            "started_at": .string(startedAt.rfc3339),
            "ended_at": .string(endedAt.rfc3339),
            "duration_ms": .integer(durationMilliseconds),
        ]
        let strings: [(String, String?)] = [
            ("message_id", messageId), ("request_id", requestId), ("client", client), ("service", service),
            ("dataset", dataset), ("agreement", agreement), ("purpose", purpose), ("user_id", userId), ("path", path),
            ("peer", peer), ("request_digest", requestDigest), ("request_signature", requestSignature), ("request_ocsp", requestOCSP), ("response_ocsp", responseOCSP),
            ("response_digest", responseDigest), ("response_signature", responseSignature), ("error_type", errorType),
            ("error_message", errorMessage),
        ]
        for (name, value) in strings { if let value { members[name] = .string(value) } }
        if let requestBytes { members["request_bytes"] = .integer(Int64(requestBytes)) }
        if let responseBytes { members["response_bytes"] = .integer(Int64(responseBytes)) }
        if let requestBody { members["request_body"] = requestBody.canonicalJSON }
        if let responseBody { members["response_body"] = responseBody.canonicalJSON }
        return .object(members)
    }

    /// The leaf bytes: RFC 8785 canonical JSON of ``canonicalJSON``.
    public func canonicalBytes() -> [UInt8] { canonicalJSON.canonicalBytes }

    /// Parses leaf bytes strictly: they must be exactly the canonical serialisation of a valid
    /// record, so the record re-serialises to the same bytes.
    ///
    /// - Throws: ``AuditRecordError/malformedJSON(offset:)``, ``AuditRecordError/duplicateField(_:)``,
    ///   the errors of ``init(json:)``, then ``AuditRecordError/notCanonical``.
    public init(canonicalBytes bytes: [UInt8]) throws(AuditRecordError) {
        try self.init(json: try StrictJSONParser.parse(bytes))
        guard canonicalBytes() == bytes else { throw .notCanonical }
    }

    /// Reads a record from its JSON object strictly.
    ///
    /// - Throws: ``AuditRecordError/wrongType(field:)``, ``AuditRecordError/unknownField(_:)``,
    ///   ``AuditRecordError/missingField(_:)``, ``AuditRecordError/unsupportedVersion(_:)``,
    ///   ``AuditRecordError/invalidValue(field:)``, ``AuditRecordError/valueOutOfRange(field:)``,
    ///   ``AuditRecordError/unsupportedAlgorithm(_:)``.
    public init(json: CanonicalJSON) throws(AuditRecordError) {
        let reader = try JSONObjectReader(json, field: "", allowed: Set(Self.fieldNames))
        let version = try reader.integer("v")
        guard version == Self.currentVersion else { throw .unsupportedVersion(version) }

        func bounded(_ name: String, _ value: Int64?, _ range: ClosedRange<Int64>) throws(AuditRecordError) -> Int64? {
            guard let value else { return nil }
            guard range.contains(value) else { throw .valueOutOfRange(field: name) }
            return value
        }
        func timestamp(_ name: String) throws(AuditRecordError) -> AuditTimestamp {
            guard let value = AuditTimestamp(rfc3339: try reader.string(name)) else { throw .invalidValue(field: name) }
            return value
        }
        func body(_ name: String) throws(AuditRecordError) -> EncryptedBody? {
            guard let value = reader.value(name) else { return nil }
            return try EncryptedBody(json: value, field: name)
        }

        let sequence = try reader.integer("sequence")
        guard (0...Self.maximumInteger).contains(sequence) else { throw .valueOutOfRange(field: "sequence") }
        self.sequence = UInt64(sequence)
        guard let side = ExchangeSide(rawValue: try reader.string("side")) else { throw .invalidValue(field: "side") }
        self.side = side
        self.server = try reader.string("server")
        self.messageId = try reader.optionalString("message_id")
        self.requestId = try reader.optionalString("request_id")
        self.client = try reader.optionalString("client")
        self.service = try reader.optionalString("service")
        self.dataset = try reader.optionalString("dataset")
        self.agreement = try reader.optionalString("agreement")
        self.purpose = try reader.optionalString("purpose")
        self.userId = try reader.optionalString("user_id")
        self.method = try reader.string("method")
        self.path = try reader.optionalString("path")
        self.peer = try reader.optionalString("peer")
        self.requestDigest = try reader.optionalString("request_digest")
        self.requestSignature = try reader.optionalString("request_signature")
        self.requestOCSP = try reader.optionalString("request_ocsp")
        self.responseOCSP = try reader.optionalString("response_ocsp")
        self.responseDigest = try reader.optionalString("response_digest")
        self.responseSignature = try reader.optionalString("response_signature")
        guard let status = try bounded("status", try reader.integer("status"), 0...999) else { throw .missingField("status") }
        self.status = Int(status)
        guard let outcome = ExchangeOutcome(rawValue: try reader.string("outcome")) else { throw .invalidValue(field: "outcome") }
        self.outcome = outcome
        self.errorType = try reader.optionalString("error_type")
        self.errorMessage = try reader.optionalString("error_message")
        self.requestBytes = try bounded("request_bytes", try reader.optionalInteger("request_bytes"), 0...Self.maximumInteger).map { Int($0) }
        self.responseBytes = try bounded("response_bytes", try reader.optionalInteger("response_bytes"), 0...Self.maximumInteger).map { Int($0) }
        self.startedAt = try timestamp("started_at")
        self.endedAt = try timestamp("ended_at")
        self.durationMilliseconds = try reader.integer("duration_ms")
        guard durationMilliseconds == endedAt.millisecondsSince1970 - startedAt.millisecondsSince1970 else {
            throw .invalidValue(field: "duration_ms")
        }
        self.requestBody = try body("request_body")
        self.responseBody = try body("response_body")
    }

    // MARK: Codable

    /// Decodes the JSON object as strictly as ``init(json:)`` (any member order and whitespace).
    public init(from decoder: any Decoder) throws {
        try self.init(json: try decoder.singleValueContainer().decode(JSONValueBox.self).value)
    }

    /// Encodes the JSON object, the same members as ``canonicalJSON``.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(JSONValueBox(canonicalJSON))
    }

    // MARK: Bodies and search

    /// The associated data that binds an encrypted body to its record: the canonical JSON of
    /// `{"body": "request"|"response", "message_id": …, "side": …}` (`message_id` omitted when absent).
    public static func bodyAssociatedData(messageId: String?, side: ExchangeSide, body: AuditBodyKind) -> [UInt8] {
        var members: [String: CanonicalJSON] = ["body": .string(body.rawValue), "side": .string(side.rawValue)]
        if let messageId { members["message_id"] = .string(messageId) }
        return CanonicalJSON.object(members).canonicalBytes
    }

    /// The associated data for this record's `body`.
    public func bodyAssociatedData(for body: AuditBodyKind) -> [UInt8] {
        Self.bodyAssociatedData(messageId: messageId, side: side, body: body)
    }

    /// Decrypts this record's request or response body; `nil` if the record has none.
    ///
    /// - Throws: ``AuditRecordError/openFailed``.
    public func openBody(_ body: AuditBodyKind, with encryption: BodyEncryption) throws(AuditRecordError) -> [UInt8]? {
        guard let sealed = body == .request ? requestBody : responseBody else { return nil }
        return try encryption.open(sealed, associatedData: bodyAssociatedData(for: body))
    }

    /// Whether a protected field (path, `user_id`, `purpose`, `error_message`) contains the
    /// placeholder of `token` (``PersonalDataProtector/token(for:)``).
    public func mentions(token: String) -> Bool {
        let placeholder = ProtectedPath.placeholder(for: token)
        return [path, userId, purpose, errorMessage].contains { $0?.contains(placeholder) ?? false }
    }
}
