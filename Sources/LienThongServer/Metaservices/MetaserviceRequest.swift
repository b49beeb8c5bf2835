import Foundation

/// The JSON dialect of a metaservice response.
///
/// X-Road's own responses (PR-MREST Annex B, and `listClients` with `Accept: application/json`)
/// use snake_case keys: `{"service":[{"object_type":"SERVICE","xroad_instance":…,
/// "endpoint_list":[…]}]}`. GovStack's Information Mediator directory API describes the same
/// information with camelCase keys, GovStack names (`instanceId`, `applicationCode`, object type
/// `APPLICATION` for a subsystem) and lists wrapped in `{"member":[…]}`. LienThong serves the X-Road
/// dialect by default: it is what existing X-Road clients parse.
public enum MetaserviceFormat: String, CaseIterable, Sendable, Hashable {
    /// X-Road's snake_case dialect (the default).
    case xroad
    /// GovStack's camelCase dialect.
    case govstack

    /// The name of the query parameter that selects a dialect explicitly: `format`.
    public static let queryParameter = "format"

    /// The name of the header GovStack clients send instead of `X-Road-Client`.
    public static let govStackClientHeader = "X-GovStack-Client"

    /// Chooses the dialect of a response.
    ///
    /// 1. A `format` query parameter wins: `xroad` or `govstack` (case-insensitive).
    /// 2. Otherwise a request that identified its client with `X-GovStack-Client` (and not
    ///    `X-Road-Client`) gets ``govstack``.
    /// 3. Otherwise ``xroad``.
    ///
    /// - parameters:
    ///     - query: The request's query parameters.
    ///     - usedGovStackClientHeader: Whether the client was named by `X-GovStack-Client` only.
    /// - throws: `Client.BadRequest` if `format` has another value.
    public static func select(query: MetaserviceQuery, usedGovStackClientHeader: Bool = false) throws(XRoadFault) -> MetaserviceFormat {
        if let requested = query[queryParameter] {
            guard let format = MetaserviceFormat(rawValue: requested.lowercased()) else {
                throw XRoadFault(.badRequest, "the format query parameter must be xroad or govstack")
            }
            return format
        }
        return usedGovStackClientHeader ? .govstack : .xroad
    }
}

/// The query parameters of a metaservice request, decoded.
///
/// The raw query is split on `&`, each pair on its first `=`, and names and values are
/// percent-decoded as UTF-8. `+` is kept as a plus sign (RFC 3986 query semantics, not HTML form
/// encoding): `+` is a legal character of X-Road identifiers, a space is not. When a name repeats,
/// the last value wins (as for a repeated `X-Road-Client`).
public struct MetaserviceQuery: Sendable, Hashable {
    /// The parameters, by name.
    public let parameters: [String: String]

    /// Creates a query from decoded parameters.
    ///
    /// - parameters:
    ///     - parameters: The parameters, by name.
    public init(_ parameters: [String: String] = [:]) {
        self.parameters = parameters
    }

    /// Parses a raw query (without the `?`), for example ``RESTServicePath/query``.
    ///
    /// - parameters:
    ///     - rawQuery: The raw query, or `nil` when the target had no `?`.
    /// - throws: `Client.BadRequest` if a name or value is not valid percent-encoded UTF-8.
    public init(parsing rawQuery: String?) throws(XRoadFault) {
        var parameters: [String: String] = [:]
        for pair in (rawQuery ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = String(parts[0]).removingPercentEncoding,
                  let value = (parts.count > 1 ? String(parts[1]) : "").removingPercentEncoding else {
                throw XRoadFault(.badRequest, "a query parameter is not valid percent-encoded UTF-8")
            }
            parameters[name] = value
        }
        self.parameters = parameters
    }

    /// The value of parameter `name`, if present.
    public subscript(name: String) -> String? {
        self.parameters[name]
    }
}

/// A metaservice's answer: a `200 OK` with this content type and body.
public struct MetaserviceResponse: Sendable, Hashable {
    /// The content type of JSON responses: `application/json; charset=utf-8`.
    public static let jsonContentType = "application/json; charset=utf-8"
    /// The content type of a provider's YAML OpenAPI document: `text/yaml; charset=utf-8`
    /// (PR-MREST Annex A lists `application/json` and `text/yaml` for `getOpenAPI`).
    public static let yamlContentType = "text/yaml; charset=utf-8"

    /// The value of the `Content-Type` header.
    public let contentType: String
    /// The body, UTF-8.
    public let body: [UInt8]

    /// Creates a response.
    ///
    /// - parameters:
    ///     - contentType: The value of the `Content-Type` header.
    ///     - body: The body.
    public init(contentType: String, body: [UInt8]) {
        self.contentType = contentType
        self.body = body
    }

    /// The body as text.
    public var text: String {
        String(decoding: self.body, as: UTF8.self)
    }
}
