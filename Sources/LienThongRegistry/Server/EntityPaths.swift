import HTTPTypes

/// The methods each entity and action path of the management API takes, so that a request with
/// another method gets 405 with an `Allow` naming exactly those (``UnroutedRequestErrors``), the
/// same on every collection (`schemas/registry-api.openapi.yaml` has one path item for each):
///
/// - an entity, `/api/v1/<collection>/<id>`, is read with `GET` (access requests have no entity
///   path, nor have registrations: 404);
/// - an action, `/api/v1/<collection>/<id>:<action>`, is `POST` only; an action the collection
///   does not have is 404.
///
/// The router itself has one catch-all route per collection and method, so it cannot tell these
/// paths apart; the routes and the 405 answer both ask ``allowed(path:)``.
enum EntityPaths {
    /// A collection with entity paths: its prefix, the methods of an entity, its actions.
    struct Collection: Sendable {
        var prefix: String
        var entityMethods: [HTTPRequest.Method]
        var actions: [String]
    }

    static let collections: [Collection] = [
        Collection(prefix: "/api/v1/members/", entityMethods: [.get], actions: ["disable"]),
        Collection(prefix: "/api/v1/services/", entityMethods: [.get], actions: ["enable", "disable"]),
        Collection(prefix: "/api/v1/datasets/", entityMethods: [.get], actions: []),
        Collection(prefix: "/api/v1/agreements/", entityMethods: [.get], actions: ["suspend", "activate", "revoke"]),
        Collection(prefix: "/api/v1/access-requests/", entityMethods: [], actions: ["decide"]),
        Collection(prefix: "/api/v1/management-requests/", entityMethods: [.get], actions: ["approve", "decline"]),
        Collection(prefix: "/api/v1/registrations/", entityMethods: [], actions: ["revoke"]),
    ]

    /// Paths under a collection's prefix that are routes of their own.
    static let ownRoutes: Set<String> = ["/api/v1/access-requests/pending"]

    /// The methods `path` (as sent, percent-encoded) takes: nil if it is no entity or action path
    /// of a collection (the router decides), empty if it is such a path but no resource (an
    /// unknown action, an access request without action): 404.
    static func allowed(path: String) -> [HTTPRequest.Method]? {
        guard !ownRoutes.contains(path), let collection = collections.first(where: { path.hasPrefix($0.prefix) }) else { return nil }
        let rest = path.dropFirst(collection.prefix.count)
        guard !rest.isEmpty else { return nil }
        guard let colon = rest.lastIndex(of: ":") else { return collection.entityMethods }
        let action = String(rest[rest.index(after: colon)...])
        return collection.actions.contains(action) ? [.post] : []
    }
}
