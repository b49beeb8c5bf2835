import Foundation
import LienThongRegistry

/// One registered endpoint (`ServiceEndpoint`: method and path template) as a matcher of requests
/// (issue 15, item 5; `docs/security-server.md`, "Endpoint rights").
///
/// Rules:
///
/// - **Method**: the template's method (upper case, as the registry stores it) must equal the
///   request's method upper-cased; `*` matches any method.
/// - **Path**: the template and the request's service path (the part after the service id,
///   without the query: a query never selects an endpoint) are cut into segments at `/`. A path
///   that is empty counts as `/`. Each request segment is percent-decoded (the client port's
///   parser has already refused malformed escapes, `%2F`, `\` and dot segments); a segment that
///   does not decode to UTF-8 matches no literal.
///   - `{name}` matches exactly one non-empty segment;
///   - `*` as the last template segment matches the rest of the path, any number of segments
///     (so `/*` matches every path); `*` elsewhere matches exactly one non-empty segment;
///   - any other template segment is a literal and matches the segment that decodes to it
///     (the template segment is percent-decoded too), byte for byte.
///
/// So `GET /v1/{id}` matches `GET /v1/001099012345` and `get /v1/7?x=1`, but not `/v1/`, `/v1`,
/// `/v1/7/x`, `/v1/7/` or `DELETE /v1/7`.
public struct EndpointTemplate: Sendable, Hashable, CustomStringConvertible {
    enum Segment: Sendable, Hashable {
        case literal(String)
        case parameter
        case anyOne
        case rest
    }

    /// The endpoint as registered.
    public let endpoint: ServiceEndpoint
    let method: String
    let segments: [Segment]

    /// Compiles `endpoint`.
    public init(_ endpoint: ServiceEndpoint) {
        self.endpoint = endpoint
        self.method = endpoint.method.uppercased()
        let parts = Self.split(endpoint.path)
        var segments: [Segment] = []
        for (position, part) in parts.enumerated() {
            if part == "*" {
                segments.append(position == parts.count - 1 ? .rest : .anyOne)
            } else if part.count >= 3, part.hasPrefix("{"), part.hasSuffix("}") {
                segments.append(.parameter)
            } else {
                segments.append(.literal(String(part).removingPercentEncoding ?? String(part)))
            }
        }
        self.segments = segments
    }

    /// Whether a request with `method` on `path` (the service path; a query, if attached, is ignored) is this endpoint.
    public func matches(method requestMethod: String, path: String) -> Bool {
        guard method == "*" || method == requestMethod.uppercased() else { return false }
        let withoutQuery = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let parts = Self.split(withoutQuery)
        var index = 0
        for segment in segments {
            switch segment {
            case .rest:
                return true
            case .parameter, .anyOne:
                guard index < parts.count, !parts[index].isEmpty else { return false }
            case .literal(let literal):
                guard index < parts.count, let decoded = String(parts[index]).removingPercentEncoding, decoded == literal else { return false }
            }
            index += 1
        }
        return index == parts.count
    }

    /// `METHOD /path/template`.
    public var description: String { "\(endpoint.method) \(endpoint.path)" }

    /// The segments of a path: `""` and `"/"` are one empty segment; the leading `/` is dropped.
    static func split<S: StringProtocol>(_ path: S) -> [S.SubSequence] {
        var text = path[...]
        if text.first == "/" { text = text.dropFirst() }
        return text.split(separator: "/", omittingEmptySubsequences: false)
    }
}

/// Which endpoints a call may reach: those of the service, narrowed by the agreement's.
public enum EndpointAccess {
    /// The service's endpoints the agreement covers: all of them if the agreement names none,
    /// else those it names (an agreement endpoint the service no longer registers covers nothing).
    public static func allowed(service: GlobalConfiguration.ServiceEntry, agreement: GlobalConfiguration.AgreementEntry) -> [ServiceEndpoint] {
        guard let narrowed = agreement.endpoints else { return service.endpoints }
        return service.endpoints.filter { endpoint in narrowed.contains { $0.method.uppercased() == endpoint.method.uppercased() && $0.path == endpoint.path } }
    }

    /// Whether one of `endpoints` matches the request.
    public static func permits(_ endpoints: [ServiceEndpoint], method: String, path: String) -> Bool {
        endpoints.contains { EndpointTemplate($0).matches(method: method, path: path) }
    }

    /// `GET /v1/{id}, POST /v1/tra-cuu`, or `none`, for messages (registry data only, never the request's path).
    public static func list(_ endpoints: [ServiceEndpoint]) -> String {
        endpoints.isEmpty ? "none" : endpoints.map { "\($0.method) \($0.path)" }.joined(separator: ", ")
    }
}
