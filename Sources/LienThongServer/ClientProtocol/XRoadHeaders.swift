/// The names of the HTTP headers the X-Road REST protocol and LienThong give a meaning to, and the
/// rules for which client headers travel on to the provider.
///
/// Header names are case-insensitive (Message Protocol for REST §4.3); compare them with
/// ``matches(_:_:)`` or after lower-casing.
public enum XRoadHeader {
    /// `X-Road-Client`: the calling member or subsystem. Mandatory in a request, echoed in the response.
    public static let client = "X-Road-Client"
    /// `X-Road-Id`: the message id. Optional in a request, always in a response.
    public static let id = "X-Road-Id"
    /// `X-Road-UserId`: the end user, with a country prefix.
    public static let userId = "X-Road-UserId"
    /// `X-Road-Issue`: a case or document reference.
    public static let issue = "X-Road-Issue"
    /// `X-Road-Represented-Party`: `[partyClass/]partyCode`.
    public static let representedParty = "X-Road-Represented-Party"
    /// `X-Road-Security-Server`: pins the provider's server.
    public static let securityServer = "X-Road-Security-Server"
    /// `X-Road-Service`: the service called (response).
    public static let service = "X-Road-Service"
    /// `X-Road-Request-Id`: a UUID shared by a request and its response.
    public static let requestId = "X-Road-Request-Id"
    /// `X-Road-Request-Hash`: the hash binding a response to its request (response), see ``XRoadRequestHash``.
    public static let requestHash = "X-Road-Request-Hash"
    /// `X-Road-Error`: the error type of an error raised inside X-Road (response).
    public static let error = "X-Road-Error"
    /// `X-LienThong-Purpose`: the purpose code of the call (LienThong's extension).
    public static let purpose = "X-LienThong-Purpose"

    /// The headers dropped between the client and the provider (lower case): the hop-by-hop headers
    /// of §4.3 (`Connection`, `Keep-Alive`, `Proxy-Authenticate`, `Proxy-Authorization`, `TE`,
    /// `Trailer`, `Transfer-Encoding`, `Upgrade`), the headers that could leak the origin host
    /// (`Host`, `User-Agent`, `Server`), and the two headers the security server handles itself
    /// (`Content-Length`, which the HTTP layer rewrites, and `Expect`).
    public static let hopByHopHeaders: Set<String> = [
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "host", "user-agent", "server", "content-length", "expect",
    ]

    /// The X-Road headers the security servers interpret and regenerate (lower case). A client's
    /// copies are never forwarded as they are: the values that reach the provider come from
    /// ``ParsedClientRequest`` (and are covered by the signature), and the response-only ones are
    /// set by the servers. Other `X-Road-*` headers are extension headers and pass through like any
    /// user-defined header (§4.3).
    public static let regeneratedHeaders: Set<String> = [
        "x-road-client", "x-road-id", "x-road-userid", "x-road-issue", "x-road-represented-party",
        "x-road-security-server", "x-road-service", "x-road-request-id", "x-road-request-hash", "x-road-error",
        "x-lienthong-purpose", "x-lienthong-signature", "x-lienthong-ocsp", "x-lienthong-time", "x-lienthong-protocol",
    ]

    /// The `Accept` value used when the client sends none (§4.3).
    public static let defaultAccept = "application/json"

    /// Whether two header names are the same, ignoring ASCII letter case.
    ///
    /// - parameters:
    ///     - name: A header name as received.
    ///     - other: A header name, for example ``client``.
    public static func matches(_ name: String, _ other: String) -> Bool {
        // Header names are ASCII tokens: ASCII letters compare without case, every other byte exactly.
        name.utf8.elementsEqual(other.utf8) { a, b in
            let (x, y) = (a | 0x20, b | 0x20)
            return a == b || (x == y && x >= UInt8(ascii: "a") && x <= UInt8(ascii: "z"))
        }
    }

    /// The headers of a client's request that are passed on to the provider, in their order.
    ///
    /// Drops ``hopByHopHeaders``, every header named in a `Connection` header (RFC 9110 §7.6.1) and
    /// ``regeneratedHeaders``. Keeps everything else unchanged: `Content-Type`, `Accept`,
    /// `Authorization`, cache headers and user-defined headers. Adds `Accept: application/json` at
    /// the end when the client sent no `Accept`.
    ///
    /// - parameters:
    ///     - headers: The client's request headers, in order.
    /// - returns: The headers to send to the provider, before the servers add their own.
    public static func forwardedHeaders(
        _ headers: [(name: String, value: String)]
    ) -> [(name: String, value: String)] {
        var connectionNamed: Set<String> = []
        for (name, value) in headers where matches(name, "Connection") {
            for token in value.split(separator: ",") {
                connectionNamed.insert(token.trimmingSpacesAndTabs().lowercased())
            }
        }
        var forwarded: [(name: String, value: String)] = []
        var hasAccept = false
        for (name, value) in headers {
            let lower = name.lowercased()
            if hopByHopHeaders.contains(lower) || regeneratedHeaders.contains(lower) || connectionNamed.contains(lower) {
                continue
            }
            if lower == "accept" {
                hasAccept = true
            }
            forwarded.append((name: name, value: value))
        }
        if !hasAccept {
            forwarded.append((name: "Accept", value: defaultAccept))
        }
        return forwarded
    }
}
