import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The registry's routes as they are registered: forwards each to the router and remembers its
/// path and method, so that a request no route takes can be told apart — a path the registry has,
/// asked with another method (405), or no such path (404). Register every route through it
/// (`index.group()` in place of `router.group()`).
final class RouteIndex: RouterMethods, @unchecked Sendable {
    typealias Context = RegistryRequestContext

    private let router: Router<RegistryRequestContext>
    private let lock = NSLock()
    /// Per route path (by its description), the path and its methods, in registration order.
    private var paths: [String: (path: RouterPath, methods: [HTTPRequest.Method])] = [:]
    private var order: [String] = []
    /// A router with one `GET` route per path answering its methods; built on first use.
    private var probe: RouterResponder<RegistryRequestContext>?

    init(router: Router<RegistryRequestContext>) {
        self.router = router
    }

    @discardableResult
    func on<Responder: HTTPResponder>(_ path: RouterPath, method: HTTPRequest.Method, responder: Responder) -> Self
    where Responder.Context == Context {
        lock.withLock {
            let key = path.description
            if paths[key] == nil { order.append(key) }
            var entry = paths[key] ?? (path: path, methods: [])
            if !entry.methods.contains(method) { entry.methods.append(method) }
            paths[key] = entry
            probe = nil
        }
        router.on(path, method: method, responder: responder)
        return self
    }

    @discardableResult
    func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self {
        router.add(middleware: middleware)
        return self
    }

    /// The methods of the route whose path matches the request's path the way the router matches
    /// it (the same trie, so the same route wins), or nil if no route has that path.
    func methods(for request: Request, context: Context) async -> [HTTPRequest.Method]? {
        let probe = lock.withLock {
            if let probe = self.probe { return probe }
            let built = Router(context: RegistryRequestContext.self)
            for key in order {
                guard let entry = paths[key] else { continue }
                let allow = entry.methods.map(\.rawValue).joined(separator: ", ")
                built.get(entry.path) { _, _ -> Response in
                    var headers = HTTPFields()
                    headers[.allow] = allow
                    return Response(status: .ok, headers: headers)
                }
            }
            let responder = built.buildResponder()
            self.probe = responder
            return responder
        }
        var head = request.head
        head.method = .get
        guard let answer = try? await probe.respond(to: Request(head: head, body: RequestBody(buffer: ByteBuffer())), context: context),
              answer.status == .ok, let allow = answer.headers[.allow]
        else { return nil }
        return allow.split(separator: ",").compactMap { HTTPRequest.Method(String($0.trimmingCharacters(in: .whitespaces))) }
    }
}

/// Gives a typed X-Road error to every request the routes do not answer themselves — Hummingbird's
/// bare `HTTPError`s:
///
/// - no route for the path: 404 `Client.NotFound`;
/// - a path the registry has, with a method it does not take (`DELETE /api/v1/members/...`,
///   `PUT /api/v1/members`): 405 `Client.BadRequest` with `Allow` listing the methods (as the
///   security server's operations API answers);
/// - a body over the limit: 413 `Client.RequestTooLarge`; any other client error 400
///   `Client.BadRequest` (its status kept), a server error `Server.Registry.InternalError`;
/// - an error that is not an HTTP error at all (a bug, a store failure that escaped its
///   mapping): 500 `Server.Registry.InternalError`, logged, without the error's text.
///
/// Add it to the router before anything else, so that it wraps every route and the router's
/// not-found answer. (A request the HTTP parser refuses never reaches the router:
/// ``FramingErrorHandler`` answers it.)
struct UnroutedRequestErrors: RouterMiddleware {
    typealias Context = RegistryRequestContext
    let routes: RouteIndex

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            return try await typed(error, request: request, context: context).response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            throw error  // already typed (RegistryAPIError and its kin answer for themselves)
        } catch {
            // Anything else would be Hummingbird's bare 500: log it and answer with a typed body
            // that does not leak the error's text.
            context.logger.error("unexpected error answering \(request.method) \(request.uri.path): \(error)")
            return try RegistryAPIError(status: .internalServerError, type: "Server.Registry.InternalError",
                                        message: "the registry could not answer this request; the error is in its log")
                .response(from: request, context: context)
        }
    }

    private static func methodNotAllowed(_ method: String, _ path: String, _ allowed: [HTTPRequest.Method]) -> TypedHTTPError {
        let list = allowed.map(\.rawValue)
        var headers = HTTPFields()
        headers[.allow] = list.joined(separator: ", ")
        return TypedHTTPError(
            error: RegistryAPIError(status: .methodNotAllowed, type: "Client.BadRequest",
                                    message: "method \(method) is not allowed on \(path); use \(list.joined(separator: " or "))"),
            headers: headers)
    }

    private func typed(_ error: HTTPError, request: Request, context: Context) async -> TypedHTTPError {
        let method = String(request.method.rawValue.prefix(20))
        let path = String(request.uri.path.prefix(80))
        switch error.status {
        case .notFound, .methodNotAllowed:
            // An entity or action path: the methods that path takes, not those of the catch-all route.
            if let allowed = EntityPaths.allowed(path: request.uri.path) {
                guard !allowed.isEmpty, !allowed.contains(request.method) else {
                    return TypedHTTPError(error: .notFound("no resource \(path) (an unknown action, or a path that names no resource)"), headers: [:])
                }
                return Self.methodNotAllowed(method, path, allowed)
            }
            if let allowed = await routes.methods(for: request, context: context), !allowed.isEmpty, !allowed.contains(request.method) {
                let list = allowed.map(\.rawValue)
                var headers = HTTPFields()
                headers[.allow] = list.joined(separator: ", ")
                return TypedHTTPError(
                    error: RegistryAPIError(status: .methodNotAllowed, type: "Client.BadRequest",
                                            message: "method \(method) is not allowed on \(path); use \(list.joined(separator: " or "))"),
                    headers: headers)
            }
            return TypedHTTPError(error: .notFound("no route for \(method) \(path)"), headers: [:])
        case .contentTooLarge:
            return TypedHTTPError(error: RegistryAPIError(status: .contentTooLarge, type: "Client.RequestTooLarge",
                                                          message: "the body is larger than the limit of \(context.maxUploadSize) bytes"),
                                  headers: [:])
        default:
            let message = error.body.map { String($0.prefix(200)) } ?? error.status.reasonPhrase
            let type = error.status.kind == .clientError ? "Client.BadRequest" : "Server.Registry.InternalError"
            return TypedHTTPError(error: RegistryAPIError(status: error.status, type: type, message: message), headers: [:])
        }
    }
}

/// A ``RegistryAPIError`` with extra response headers (`Allow`).
private struct TypedHTTPError {
    var error: RegistryAPIError
    var headers: HTTPFields

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try error.response(from: request, context: context)
        for field in headers { response.headers[field.name] = field.value }
        return response
    }
}
