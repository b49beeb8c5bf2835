import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Serves an ``OCSPResponder`` over HTTP (RFC 6960 appendix A) with Hummingbird 2.
///
/// - `POST <any path>` with `Content-Type: application/ocsp-request` and the DER request as body
///   (bodies over ``maximumRequestSize`` get `413`, other content types `415`);
/// - `GET /<base64 DER request>`, where the base64 may be URL-encoded and may use the
///   URL-safe alphabet; undecodable requests get a `malformedRequest` OCSP response;
/// - other methods get `405`.
///
/// Answers carry `Content-Type: application/ocsp-response`.
///
/// ``run()`` has the shape of a swift-service-lifecycle `Service` (it returns on task
/// cancellation or on graceful shutdown when run inside a `ServiceGroup`);
/// ``makeApplication(onServerRunning:)`` returns the Hummingbird application, which *is* a
/// `Service`; ``withRunningServer(_:)`` runs the server for the duration of a closure (handy in tests).
public struct OCSPHTTPServer: Sendable {
    /// The default limit on request bodies: 64 KiB.
    public static let defaultMaximumRequestSize = 64 * 1024
    /// The media type of OCSP requests.
    public static let requestContentType = "application/ocsp-request"
    /// The media type of OCSP responses.
    public static let responseContentType = "application/ocsp-response"

    /// The responder answering requests.
    public let responder: OCSPResponder
    /// The host or address to bind.
    public let host: String
    /// The port to bind; `0` picks a free port (reported to `onServerRunning`).
    public let port: Int
    /// The largest accepted request (POST body, or decoded GET request), in bytes.
    public let maximumRequestSize: Int
    private let clock: @Sendable () -> Date
    /// The server's logger; Hummingbird logs every start and stop at `info`, so the default level is `warning`.
    public var logger: Logger = {
        var logger = Logger(label: "lienthong.ocsp")
        logger.logLevel = .warning
        return logger
    }()

    /// Creates a server (it starts when run).
    /// - Parameters:
    ///   - responder: The responder answering requests.
    ///   - host: The host or address to bind, `127.0.0.1` by default.
    ///   - port: The port to bind; `0` picks a free one.
    ///   - maximumRequestSize: The largest accepted request, 64 KiB by default.
    ///   - clock: The time source for answers, `Date()` by default.
    public init(
        responder: OCSPResponder,
        host: String = "127.0.0.1",
        port: Int,
        maximumRequestSize: Int = OCSPHTTPServer.defaultMaximumRequestSize,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.responder = responder
        self.host = host
        self.port = port
        self.maximumRequestSize = max(1, maximumRequestSize)
        self.clock = clock
    }

    /// Builds the Hummingbird application serving the responder; it is a `Service` and can be
    /// added to a `ServiceGroup`.
    /// - Parameter onServerRunning: Called with the bound port once the server listens.
    /// - Returns: The application.
    public func makeApplication(
        onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let handler = OCSPHTTPHandler(
            responder: self.responder,
            maximumRequestSize: self.maximumRequestSize,
            clock: self.clock
        )
        return Application(
            responder: handler,
            configuration: ApplicationConfiguration(address: .hostname(self.host, port: self.port)),
            onServerRunning: { channel in
                await onServerRunning(channel.localAddress?.port ?? 0)
            },
            logger: self.logger
        )
    }

    /// Runs the server until the task is cancelled or a graceful shutdown is triggered.
    public func run() async throws {
        try await self.run(onServerRunning: { _ in })
    }

    /// Runs the server until the task is cancelled or a graceful shutdown is triggered.
    /// - Parameter onServerRunning: Called with the bound port once the server listens.
    public func run(onServerRunning: @escaping @Sendable (_ port: Int) async -> Void) async throws {
        try await self.makeApplication(onServerRunning: onServerRunning).run()
    }

    /// Starts the server, runs `body` with the bound port, then stops the server.
    /// - Parameter body: The work to do while the server runs; receives the bound port.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws, or the server's error if it could not start.
    public func withRunningServer<Value: Sendable>(
        _ body: (_ port: Int) async throws -> Value
    ) async throws -> Value {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let application = self.makeApplication(onServerRunning: { port in continuation.yield(port) })
        let serviceGroup = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: [application], logger: self.logger))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { continuation.finish() }
                try await serviceGroup.run()
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else {
                // The server stopped before listening: surface its error.
                try await group.waitForAll()
                throw OCSPError(.transport("server stopped"), "the OCSP HTTP server stopped before listening")
            }
            // Stop with a graceful shutdown (not cancellation), so open connections are closed cleanly.
            let result: Result<Value, any Error>
            do { result = .success(try await body(port)) } catch { result = .failure(error) }
            await serviceGroup.triggerGracefulShutdown()
            try? await group.waitForAll()
            return try result.get()
        }
    }
}

/// The Hummingbird responder translating HTTP exchanges to ``OCSPResponder`` calls.
struct OCSPHTTPHandler: HTTPResponder {
    typealias Context = BasicRequestContext

    let responder: OCSPResponder
    let maximumRequestSize: Int
    let clock: @Sendable () -> Date

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        switch request.method {
        case .post:
            return await self.handlePost(request)
        case .get:
            return await self.handleGet(request)
        default:
            var headers = HTTPFields()
            headers[.allow] = "GET, POST"
            return Response(status: .methodNotAllowed, headers: headers)
        }
    }

    private func handlePost(_ request: Request) async -> Response {
        let mediaType = request.headers[.contentType]?
            .split(separator: ";", maxSplits: 1).first?
            .trimmingCharacters(in: .whitespaces)
            .lowercased()
        guard mediaType == OCSPHTTPServer.requestContentType else {
            return Response(status: .unsupportedMediaType)
        }
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > self.maximumRequestSize {
            return Response(status: .contentTooLarge)
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: self.maximumRequestSize)
        } catch is NIOTooManyBytesError {
            return Response(status: .contentTooLarge)
        } catch {
            return Response(status: .badRequest)
        }
        let der = await self.responder.respond(to: Array(body.readableBytesView), now: self.clock())
        return Self.ocspResponse(der)
    }

    private func handleGet(_ request: Request) async -> Response {
        guard let der = Self.decodeGetPath(request.head.path ?? "/", limit: self.maximumRequestSize) else {
            return Self.ocspResponse(OCSPResponse.statusOnlyDER(.malformedRequest))
        }
        return Self.ocspResponse(await self.responder.respond(to: der, now: self.clock()))
    }

    /// Decodes `/<url-encoded base64>` (standard or URL-safe alphabet, padding optional).
    static func decodeGetPath(_ rawPath: String, limit: Int) -> [UInt8]? {
        var path = Substring(rawPath)
        if let query = path.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            path = path[..<query]
        }
        // Generous bound before decoding: base64 is 4/3 of the size, percent-encoding up to 3x.
        guard path.utf8.count <= limit * 4 + 16 else { return nil }
        while path.first == "/" { path = path.dropFirst() }
        guard !path.isEmpty, let decoded = String(path).removingPercentEncoding else { return nil }
        var base64 = String(
            decoded.unicodeScalars.compactMap { scalar -> Character? in
                switch scalar {
                case "-": return "+"
                case "_": return "/"
                case " ", "\n", "\r", "\t": return nil
                default: return Character(scalar)
                }
            }
        )
        let remainder = base64.utf8.count % 4
        if remainder == 1 { return nil }
        if remainder > 0 { base64 += String(repeating: "=", count: 4 - remainder) }
        guard let data = Data(base64Encoded: base64), data.count <= limit else { return nil }
        return Array(data)
    }

    private static func ocspResponse(_ der: [UInt8]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = OCSPHTTPServer.responseContentType
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: der)))
    }
}
