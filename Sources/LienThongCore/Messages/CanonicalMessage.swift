import Foundation

/// Whether a signed message is a request or the response to one.
public enum MessageKind: String, Sendable, Hashable, Codable {
    /// A request, signed by the consumer member.
    case request
    /// A response, signed by the provider member and bound to the request's digest.
    case response
}

/// The signed view of one X-Road REST message: the fields a LienThong signature covers.
///
/// The canonical form is a JSON object serialised with ``CanonicalJSON`` (RFC 8785 rules)
/// and its digest is SHA-256 of those bytes. `docs/protocol.md` specifies it and
/// `schemas/canonical-message.schema.json` describes it:
///
/// | key | request | response | value |
/// |---|---|---|---|
/// | `v` | ✓ | ✓ | `2`, the version of this form |
/// | `kind` | ✓ | ✓ | `"request"` or `"response"` |
/// | `id` | ✓ | ✓ | the `X-Road-Id` message id |
/// | `method` | ✓ | ✓ | the HTTP method, upper case |
/// | `service` | ✓ | ✓ | the service id, canonical form |
/// | `client` | ✓ | ✓ | the client id, canonical form |
/// | `path` | ✓ | ✓ | the service path and query exactly as sent (still percent-encoded) |
/// | `headers` | ✓ | ✓ | the signed headers that are present, lower-case names |
/// | `body` | ✓ | ✓ | base64url SHA-256 of the body bytes (of the empty string if none) |
/// | `time` | ✓ | | when the consumer's server signed the request: milliseconds since 1970-01-01T00:00:00Z |
/// | `status` | | ✓ | the HTTP status code |
/// | `requestDigest` | | ✓ | base64url digest of the request this response answers |
public struct CanonicalMessage: Sendable, Hashable {
    /// The version written in `v`. Version 2 added the request's signed `time`; a version-1
    /// message is refused by ``init(from:)``.
    public static let version: Int64 = 2
    /// The latest signed `time` accepted, in milliseconds: 9999-12-31T23:59:59.999Z. Anything later is
    /// not a time a clock gives, and the bound keeps every sum with it far from overflow.
    public static let maximumTime: Int64 = 253_402_300_799_999

    /// Request headers covered by the signature, when present.
    public static let signedRequestHeaders: [String] = [
        "content-type", "x-lienthong-purpose", "x-road-issue", "x-road-represented-party", "x-road-userid",
    ]
    /// Response headers covered by the signature, when present.
    public static let signedResponseHeaders: [String] = ["content-type", "location"]

    /// Request or response.
    public var kind: MessageKind
    /// The `X-Road-Id` message id.
    public var messageId: String
    /// The HTTP method, upper case.
    public var method: String
    /// The service called.
    public var service: ServiceId
    /// The calling client.
    public var client: ClientId
    /// The service path and query, exactly as sent on the wire (percent-encoded), e.g. `/v1/citizens/0123?x=1`.
    public var path: String
    /// The signed headers (lower-case names), only those in the signed list for ``kind``.
    public var headers: [String: String]
    /// SHA-256 of the body.
    public var bodyDigest: MessageDigest
    /// For a request, when the consumer's security server signed it: milliseconds since the Unix
    /// epoch (UTC), `0...maximumTime`. The provider refuses a request outside its window.
    public var time: Int64?
    /// For a response, the HTTP status.
    public var status: Int?
    /// For a response, the digest of the request it answers.
    public var requestDigest: MessageDigest?

    /// Builds the canonical view of a request.
    ///
    /// `headers` may hold any headers, in any case; only the signed ones are kept, their
    /// names lower-cased and values trimmed of surrounding spaces and tabs. Repeated headers
    /// must already be joined with `", "`. `time` is the signing time in milliseconds since the
    /// Unix epoch (``milliseconds(_:)``), clamped to `0...maximumTime`.
    public static func request(
        messageId: String, method: String, service: ServiceId, client: ClientId, path: String,
        headers: [(name: String, value: String)], bodyDigest: MessageDigest, time: Int64
    ) -> CanonicalMessage {
        CanonicalMessage(
            kind: .request, messageId: messageId, method: method.uppercased(), service: service, client: client,
            path: path, headers: select(headers, signedRequestHeaders), bodyDigest: bodyDigest,
            time: min(max(time, 0), maximumTime), status: nil, requestDigest: nil
        )
    }

    /// `date` in whole milliseconds since the Unix epoch (rounded down), clamped to `0...maximumTime`.
    public static func milliseconds(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1000).rounded(.down)
        guard value.isFinite, value > 0 else { return 0 }
        guard value < Double(maximumTime) else { return maximumTime }
        return Int64(value)
    }

    /// The signed time as a date, for a request.
    public var signedAt: Date? { time.map { Date(timeIntervalSince1970: Double($0) / 1000) } }

    /// Builds the canonical view of the response to `request`, bound to its digest.
    public static func response(
        to request: CanonicalMessage, status: Int, headers: [(name: String, value: String)], bodyDigest: MessageDigest
    ) -> CanonicalMessage {
        CanonicalMessage(
            kind: .response, messageId: request.messageId, method: request.method, service: request.service,
            client: request.client, path: request.path, headers: select(headers, signedResponseHeaders),
            bodyDigest: bodyDigest, time: nil, status: status, requestDigest: request.digest
        )
    }

    /// Creates a message from its fields as they are.
    public init(
        kind: MessageKind, messageId: String, method: String, service: ServiceId, client: ClientId, path: String,
        headers: [String: String], bodyDigest: MessageDigest, time: Int64? = nil, status: Int?, requestDigest: MessageDigest?
    ) {
        self.kind = kind
        self.messageId = messageId
        self.method = method
        self.service = service
        self.client = client
        self.path = path
        self.headers = headers
        self.bodyDigest = bodyDigest
        self.time = time
        self.status = status
        self.requestDigest = requestDigest
    }

    /// The canonical JSON value.
    public var canonicalJSON: CanonicalJSON {
        var object: [String: CanonicalJSON] = [
            "v": .integer(Self.version),
            "kind": .string(kind.rawValue),
            "id": .string(messageId),
            "method": .string(method),
            "service": .string(service.canonical),
            "client": .string(client.canonical),
            "path": .string(path),
            "headers": .object(headers.mapValues { .string($0) }),
            "body": .string(bodyDigest.base64URL),
        ]
        if let time { object["time"] = .integer(time) }
        if let status { object["status"] = .integer(Int64(status)) }
        if let requestDigest { object["requestDigest"] = .string(requestDigest.base64URL) }
        return .object(object)
    }

    /// The canonical bytes that are hashed.
    public var canonicalBytes: [UInt8] { canonicalJSON.canonicalBytes }

    /// SHA-256 of the canonical bytes: what the JWS signs.
    public var digest: MessageDigest { MessageDigest.sha256(of: canonicalBytes) }

    private static func select(_ headers: [(name: String, value: String)], _ allowed: [String]) -> [String: String] {
        var selected: [String: String] = [:]
        for (name, value) in headers {
            let lower = name.lowercased()
            guard allowed.contains(lower) else { continue }
            let trimmed = String(value.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
            if let existing = selected[lower] {
                selected[lower] = existing + ", " + trimmed
            } else {
                selected[lower] = trimmed
            }
        }
        return selected
    }
}

extension CanonicalMessage: Codable {
    private enum CodingKeys: String, CodingKey {
        case v, kind, id, method, service, client, path, headers, body, time, status, requestDigest
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes the canonical JSON object (the form `docs/protocol.md` specifies), validating
    /// every field: identifiers, digests, the version, and the fields each kind must (not) have.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let all = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = all.allKeys.first(where: { CodingKeys(stringValue: $0.stringValue) == nil }) {
            throw DecodingError.dataCorruptedError(forKey: unknown, in: all, debugDescription: "unknown key \(unknown.stringValue) in a canonical message")
        }
        let version = try c.decode(Int64.self, forKey: .v)
        guard version == Self.version else {
            throw DecodingError.dataCorruptedError(
                forKey: .v, in: c, debugDescription: "unsupported canonical message version \(version); this reader knows version \(Self.version) only")
        }
        kind = try c.decode(MessageKind.self, forKey: .kind)
        messageId = try c.decode(String.self, forKey: .id)
        method = try c.decode(String.self, forKey: .method)
        service = try c.decode(ServiceId.self, forKey: .service)
        client = try c.decode(ClientId.self, forKey: .client)
        path = try c.decode(String.self, forKey: .path)
        headers = try c.decode([String: String].self, forKey: .headers)
        let allowed = kind == .request ? Self.signedRequestHeaders : Self.signedResponseHeaders
        for name in headers.keys where !allowed.contains(name) {
            throw DecodingError.dataCorruptedError(forKey: .headers, in: c, debugDescription: "header \(name) is not signed in a \(kind)")
        }
        func digest(_ key: CodingKeys) throws -> MessageDigest {
            let text = try c.decode(String.self, forKey: key)
            guard let d = MessageDigest(base64URL: text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "not a base64url SHA-256 digest")
            }
            return d
        }
        bodyDigest = try digest(.body)
        switch kind {
        case .request:
            guard !c.contains(.status), !c.contains(.requestDigest) else {
                throw DecodingError.dataCorruptedError(forKey: .status, in: c, debugDescription: "a request has no status or requestDigest")
            }
            let signed = try c.decode(Int64.self, forKey: .time)
            guard (0...Self.maximumTime).contains(signed) else {
                throw DecodingError.dataCorruptedError(forKey: .time, in: c, debugDescription: "time must be milliseconds between 0 and \(Self.maximumTime)")
            }
            time = signed
            status = nil
            requestDigest = nil
        case .response:
            guard !c.contains(.time) else {
                throw DecodingError.dataCorruptedError(forKey: .time, in: c, debugDescription: "a response has no time")
            }
            time = nil
            status = try c.decode(Int.self, forKey: .status)
            requestDigest = try digest(.requestDigest)
        }
    }

    /// Encodes the canonical JSON object (not byte-canonical; use ``canonicalBytes`` for that).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.version, forKey: .v)
        try c.encode(kind, forKey: .kind)
        try c.encode(messageId, forKey: .id)
        try c.encode(method, forKey: .method)
        try c.encode(service, forKey: .service)
        try c.encode(client, forKey: .client)
        try c.encode(path, forKey: .path)
        try c.encode(headers, forKey: .headers)
        try c.encode(bodyDigest.base64URL, forKey: .body)
        try c.encodeIfPresent(time, forKey: .time)
        try c.encodeIfPresent(status, forKey: .status)
        try c.encodeIfPresent(requestDigest?.base64URL, forKey: .requestDigest)
    }
}
