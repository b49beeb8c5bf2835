import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import SwiftASN1
import X509

/// Sends requests to peer security servers over mutual TLS 1.3 and HTTP/1.1, authenticating each
/// peer by the SHA-256 pin of its certificate, with a pool of keep-alive connections per endpoint.
///
/// - A peer's certificate is accepted only if the SHA-256 hash of its DER encoding is one of the
///   endpoint's pins and the current time is within its validity period; there is no chain or
///   host name validation. A failed pin check throws ``PeerClientError/Code/pinMismatch``.
/// - Each request has a connection to itself; concurrent requests to one peer use separate
///   connections. After a complete keep-alive response, the connection returns to an idle pool
///   keyed by the whole ``PeerEndpoint`` (host, port and pins), up to
///   `maximumIdleConnectionsPerPeer` per endpoint.
/// - At most `maximumConnectionsPerPeer` connections to one endpoint are in use at once; further
///   requests wait, in arrival order, for one to be released (a released slot passes straight to
///   the oldest waiting request). This bounds what one consumer
///   server can ask of a provider server (each connection costs the provider TLS state and
///   buffers), however many clients call the consumer.
/// - An idle connection the peer has closed is noticed (idle connections keep reading) and
///   replaced. If a request on a **reused** connection fails before any byte of the response
///   arrived, the connection was probably closed by the peer while idle, and the request is sent
///   once more on a fresh connection. The peer may in rare cases have received the first copy, so
///   the peer sees it twice; message ids make that detectable.
/// - The response timeout bounds the wait for the head and for each piece of the body; when it
///   passes, the connection is closed and the request fails with ``PeerClientError/Code/timeout``.
public actor PeerClient {
    private let sslContext: NIOSSLContext
    private let eventLoopGroup: any EventLoopGroup
    private let connectTimeout: Duration
    private let responseTimeout: Duration
    private let responseBodyLimits: BodySpoolLimits
    private let maximumIdleConnectionsPerPeer: Int
    private let maximumConnectionsPerPeer: Int
    private var idle: [PeerEndpoint: [PeerConnection]] = [:]
    /// Connections in use (checked out) per endpoint.
    private var inUse: [PeerEndpoint: Int] = [:]
    /// Requests waiting for a connection to an endpoint at its limit, oldest first.
    private var waiting: [PeerEndpoint: [CheckedContinuation<Void, Never>]] = [:]
    private var isShutDown = false

    /// How many connections this client has opened (completed TLS handshakes), for tests and metrics.
    public private(set) var connectionsOpened = 0

    /// A client.
    ///
    /// - parameters:
    ///     - identity: The TLS certificate chain and key presented to peers.
    ///     - eventLoopGroup: Where connections run.
    ///     - connectTimeout: The limit for the TCP connect, and separately for the TLS handshake.
    ///     - responseTimeout: The limit for the response head and for each piece of the body.
    ///     - responseBodyLimits: How response bodies are spooled, and the largest accepted.
    ///     - maximumIdleConnectionsPerPeer: How many idle connections are kept per endpoint.
    ///     - maximumConnectionsPerPeer: How many connections to one endpoint may be in use at once (at least 1).
    /// - throws: ``PeerClientError/Code/io`` if the identity cannot be loaded into a TLS context.
    public init(
        identity: PeerTLSIdentity,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        connectTimeout: Duration,
        responseTimeout: Duration,
        responseBodyLimits: BodySpoolLimits,
        maximumIdleConnectionsPerPeer: Int = 16,
        maximumConnectionsPerPeer: Int = 128
    ) throws(PeerClientError) {
        self.sslContext = try Self.makeSSLContext(identity)
        self.eventLoopGroup = eventLoopGroup
        self.connectTimeout = connectTimeout
        self.responseTimeout = responseTimeout
        self.responseBodyLimits = responseBodyLimits
        self.maximumIdleConnectionsPerPeer = max(0, maximumIdleConnectionsPerPeer)
        self.maximumConnectionsPerPeer = max(1, maximumConnectionsPerPeer)
    }

    deinit {
        for connection in self.idle.values.joined() {
            connection.close()
        }
    }

    /// Sends `request` to `endpoint` and receives the whole response.
    ///
    /// - parameters:
    ///     - request: The request; its body is streamed with `Content-Length`.
    ///     - endpoint: The peer and its pins.
    /// - returns: The response, its body spooled under the response body limits.
    /// - throws: A ``PeerClientError`` saying what failed.
    public func send(_ request: PeerRequest, to endpoint: PeerEndpoint) async throws(PeerClientError) -> PeerResponse {
        var mayRetry = true
        try await self.acquireSlot(endpoint)
        defer { self.releaseSlot(endpoint) }
        while true {
            let (connection, reused) = try await self.checkOut(endpoint)
            do {
                let (response, reusable) = try await connection.exchange(
                    request, endpoint: endpoint, responseTimeout: self.responseTimeout, limits: self.responseBodyLimits)
                if reusable {
                    self.checkIn(connection, for: endpoint)
                } else {
                    connection.close()
                }
                return response
            } catch {
                connection.close()
                let retryable: Set<PeerClientError.Code> = [.connectionClosed]
                if reused, mayRetry, !error.responseStarted, retryable.contains(error.error.code), !Task.isCancelled {
                    mayRetry = false
                    continue
                }
                throw error.error
            }
        }
    }

    /// Closes the idle connections. Requests in flight finish, and their connections are closed
    /// afterwards; later calls to ``send(_:to:)`` fail with ``PeerClientError/Code/connectionClosed``.
    public func shutdown() async {
        self.isShutDown = true
        for continuation in self.waiting.values.joined() { continuation.resume() }
        self.waiting.removeAll()
        let connections = self.idle.values.joined()
        self.idle.removeAll()
        for connection in connections {
            connection.close()
            try? await connection.channel.closeFuture.get()
        }
    }

    /// The number of idle connections to `endpoint`, for tests.
    public func idleConnectionCount(for endpoint: PeerEndpoint) -> Int {
        self.idle[endpoint]?.count ?? 0
    }

    /// The number of requests waiting for a connection to `endpoint`, for tests.
    public func waitingRequestCount(for endpoint: PeerEndpoint) -> Int {
        self.waiting[endpoint]?.count ?? 0
    }

    // MARK: Pool

    /// Takes one of the `maximumConnectionsPerPeer` slots of `endpoint`, waiting in arrival order
    /// when none is free or others already wait. A released slot passes straight to the oldest
    /// waiting request, so a newcomer can never overtake it. A request cancelled while it waits
    /// keeps its place; once it is handed a slot it passes the slot on and throws.
    private func acquireSlot(_ endpoint: PeerEndpoint) async throws(PeerClientError) {
        guard !self.isShutDown else {
            throw PeerClientError(.connectionClosed, "the peer client has been shut down")
        }
        if self.inUse[endpoint, default: 0] < self.maximumConnectionsPerPeer, self.waiting[endpoint]?.isEmpty ?? true {
            self.inUse[endpoint, default: 0] += 1
        } else {
            // Resumed by `releaseSlot`, which hands over its slot (`inUse` already counts it), or by `shutdown`.
            await withCheckedContinuation { continuation in
                self.waiting[endpoint, default: []].append(continuation)
            }
            guard !self.isShutDown else {
                throw PeerClientError(.connectionClosed, "the peer client has been shut down")
            }
        }
        guard !Task.isCancelled else {
            self.releaseSlot(endpoint)
            throw PeerClientError(.connectionClosed, "the request was cancelled while waiting for a connection")
        }
    }

    /// Gives back a slot taken by ``acquireSlot(_:)``: to the oldest waiting request if there is one.
    private func releaseSlot(_ endpoint: PeerEndpoint) {
        if var queue = self.waiting[endpoint], !queue.isEmpty {
            let next = queue.removeFirst()
            self.waiting[endpoint] = queue.isEmpty ? nil : queue
            next.resume()
        } else {
            let count = self.inUse[endpoint, default: 1] - 1
            self.inUse[endpoint] = count > 0 ? count : nil
        }
    }

    /// An open idle connection to `endpoint`, or a new one; `reused` tells which.
    private func checkOut(_ endpoint: PeerEndpoint) async throws(PeerClientError) -> (connection: PeerConnection, reused: Bool) {
        guard !self.isShutDown else {
            throw PeerClientError(.connectionClosed, "the peer client has been shut down")
        }
        while let connection = self.idle[endpoint]?.popLast() {
            if connection.isActive { return (connection, true) }
            connection.close()
        }
        let connection = try await PeerConnection.connect(
            to: endpoint, sslContext: self.sslContext, group: self.eventLoopGroup, connectTimeout: self.connectTimeout)
        self.connectionsOpened += 1
        return (connection, false)
    }

    private func checkIn(_ connection: PeerConnection, for endpoint: PeerEndpoint) {
        guard !self.isShutDown, connection.isActive,
              self.idle[endpoint, default: []].count < self.maximumIdleConnectionsPerPeer else {
            connection.close()
            return
        }
        self.idle[endpoint, default: []].append(connection)
    }

    // MARK: TLS

    private static func makeSSLContext(_ identity: PeerTLSIdentity) throws(PeerClientError) -> NIOSSLContext {
        guard !identity.certificateChain.isEmpty else {
            throw PeerClientError(.io, "the TLS identity has no certificate")
        }
        do {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv13
            configuration.maximumTLSVersion = .tlsv13
            // The custom verification callback replaces chain and host name checks with the pin
            // check; no trust roots are needed (and the system store is not loaded).
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates([])
            configuration.certificateChain = try identity.certificateChain.map { certificate in
                var serializer = DER.Serializer()
                try serializer.serialize(certificate)
                return .certificate(try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der))
            }
            let keyPEM = try identity.privateKey.serializeAsPEM().pemString
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem))
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw PeerClientError(.io, "cannot build the TLS context: \(error)")
        }
    }
}
