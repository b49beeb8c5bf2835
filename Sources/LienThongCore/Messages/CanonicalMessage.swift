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
/// | `v` | ✓ | ✓ | `1`, the version of this form |
/// | `kind` | ✓ | ✓ | `"request"` or `"response"` |
/// | `id` | ✓ | ✓ | the `X-Road-Id` message id |
/// | `method` | ✓ | ✓ | the HTTP method, upper case |
/// | `service` | ✓ | ✓ | the service id, canonical form |
/// | `client` | ✓ | ✓ | the client id, canonical form |
/// | `path` | ✓ | ✓ | the service path and query exactly as sent (still percent-encoded) |
/// | `headers` | ✓ | ✓ | the signed headers that are present, lower-case names |
/// | `body` | ✓ | ✓ | base64url SHA-256 of the body bytes (of the empty string if none) |
/// | `status` | | ✓ | the HTTP status code |
/// | `requestDigest` | | ✓ | base64url digest of the request this response answers |
public struct CanonicalMessage: Sendable, Hashable {
    /// The version written in `v`.
    public static let version: Int64 = 1

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
    /// For a response, the HTTP status.
    public var status: Int?
    /// For a response, the digest of the request it answers.
    public var requestDigest: MessageDigest?

    /// Builds the canonical view of a request.
    ///
    /// `headers` may hold any headers, in any case; only the signed ones are kept, their
    /// names lower-cased and values trimmed of surrounding spaces and tabs. Repeated headers
    /// must already be joined with `", "`.
    public static func request(
        messageId: String, method: String, service: ServiceId, client: ClientId, path: String,
        headers: [(name: String, value: String)], bodyDigest: MessageDigest
    ) -> CanonicalMessage {
        CanonicalMessage(
            kind: .request, messageId: messageId, method: method.uppercased(), service: service, client: client,
            path: path, headers: select(headers, signedRequestHeaders), bodyDigest: bodyDigest,
            status: nil, requestDigest: nil
        )
    }

    /// Builds the canonical view of the response to `request`, bound to its digest.
    public static func response(
        to request: CanonicalMessage, status: Int, headers: [(name: String, value: String)], bodyDigest: MessageDigest
    ) -> CanonicalMessage {
        CanonicalMessage(
            kind: .response, messageId: request.messageId, method: request.method, service: request.service,
            client: request.client, path: request.path, headers: select(headers, signedResponseHeaders),
            bodyDigest: bodyDigest, status: status, requestDigest: request.digest
        )
    }

    /// Creates a message from its fields as they are.
    public init(
        kind: MessageKind, messageId: String, method: String, service: ServiceId, client: ClientId, path: String,
        headers: [String: String], bodyDigest: MessageDigest, status: Int?, requestDigest: MessageDigest?
    ) {
        self.kind = kind
        self.messageId = messageId
        self.method = method
        self.service = service
        self.client = client
        self.path = path
        self.headers = headers
        self.bodyDigest = bodyDigest
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
        case v, kind, id, method, service, client, path, headers, body, status, requestDigest
    }

    /// Decodes the canonical JSON object (the form `docs/protocol.md` specifies), validating
    /// every field: identifiers, digests, the version, and the fields each kind must (not) have.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let version = try c.decode(Int64.self, forKey: .v)
        guard version == Self.version else {
            throw DecodingError.dataCorruptedError(forKey: .v, in: c, debugDescription: "unsupported canonical message version \(version)")
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
            status = nil
            requestDigest = nil
        case .response:
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
        try c.encodeIfPresent(status, forKey: .status)
        try c.encodeIfPresent(requestDigest?.base64URL, forKey: .requestDigest)
    }
}
