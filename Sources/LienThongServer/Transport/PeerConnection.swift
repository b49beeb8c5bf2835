import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One mutual-TLS HTTP/1.1 connection to a peer security server, carrying one exchange at a time.
///
/// The pipeline is `NIOSSLClientHandler` → HTTP/1.1 client codec → ``PeerConnectionHandler``.
/// The async side talks to the handler only on its event loop, through `NIOLoopBound`.
final class PeerConnection: Sendable {
    let channel: any Channel
    private let handler: NIOLoopBound<PeerConnectionHandler>
    /// The hash of the certificate the peer presented in the handshake.
    let peerCertificateSHA256: String

    private init(channel: any Channel, handler: NIOLoopBound<PeerConnectionHandler>, peerCertificateSHA256: String) {
        self.channel = channel
        self.handler = handler
        self.peerCertificateSHA256 = peerCertificateSHA256
    }

    /// Whether the channel is still open (an idle connection the peer closed is not).
    var isActive: Bool { self.channel.isActive }

    /// Closes the connection (idempotent).
    func close() {
        self.channel.close(promise: nil)
    }

    /// Connects, completes the TLS handshake with the pin check, and returns the connection.
    static func connect(
        to endpoint: PeerEndpoint,
        sslContext: NIOSSLContext,
        group: any EventLoopGroup,
        connectTimeout: Duration
    ) async throws(PeerClientError) -> PeerConnection {
        let pins = endpoint.pinnedCertificateSHA256
        let serverName = Self.serverName(for: endpoint.host)
        let handshakeTimeout = TimeAmount(connectTimeout)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(handshakeTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
        let channel: any Channel
        let handler: NIOLoopBound<PeerConnectionHandler>
        let handshake: EventLoopFuture<String>
        do {
            // The initializer hands back the handler (bound to its loop) with the channel, so it
            // is reachable even if the peer closes the connection at once.
            (channel, handler, handshake) = try await bootstrap.connect(host: endpoint.host, port: endpoint.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = PeerConnectionHandler(
                        handshakePromise: channel.eventLoop.makePromise(of: String.self),
                        pins: pins, handshakeTimeout: handshakeTimeout)
                    let tls = try NIOSSLClientHandler(
                        context: sslContext, serverHostname: serverName,
                        customVerificationCallback: { certificates, promise in handler.verify(certificates, promise) })
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(tls)
                    try sync.addHTTPClientHandlers()
                    try sync.addHandler(handler)
                    return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop), handler.handshakeFuture)
                }
            }
        } catch {
            throw PeerClientError(.connectFailed, "cannot connect to \(endpoint): \(error)")
        }
        do {
            let hash = try await handshake.get()
            return PeerConnection(channel: channel, handler: handler, peerCertificateSHA256: hash)
        } catch let error as PeerClientError {
            channel.close(promise: nil)
            throw error
        } catch {
            channel.close(promise: nil)
            throw PeerClientError(.handshakeFailed, "TLS with \(endpoint) failed: \(error)")
        }
    }

    /// A failed exchange, and whether any part of the response had arrived.
    struct ExchangeFailure: Error {
        var error: PeerClientError
        var responseStarted: Bool
    }

    /// Sends `request` and receives the whole response.
    ///
    /// - returns: The response, and whether the connection may carry another exchange.
    func exchange(
        _ request: PeerRequest,
        endpoint: PeerEndpoint,
        responseTimeout: Duration,
        limits: BodySpoolLimits
    ) async throws(ExchangeFailure) -> (response: PeerResponse, reusable: Bool) {
        let channel = self.channel
        do {
            return try await withTaskCancellationHandler {
                let result: (response: PeerResponse, reusable: Bool) = try await self.performExchange(
                    request, endpoint: endpoint, timeout: TimeAmount(responseTimeout), limits: limits)
                return result
            } onCancel: {
                channel.close(promise: nil)
            }
        } catch {
            let failure = (error as? ExchangeFailure)
                ?? ExchangeFailure(error: Self.peerError(error, "the exchange failed"), responseStarted: true)
            // Cancellation closes the channel, which surfaces as a closed connection.
            if Task.isCancelled {
                throw ExchangeFailure(error: PeerClientError(.connectionClosed, "the request was cancelled"),
                                      responseStarted: failure.responseStarted)
            }
            throw failure
        }
    }

    private func performExchange(
        _ request: PeerRequest,
        endpoint: PeerEndpoint,
        timeout: TimeAmount,
        limits: BodySpoolLimits
    ) async throws(ExchangeFailure) -> (response: PeerResponse, reusable: Bool) {
        let handler = self.handler
        let eventLoop = self.channel.eventLoop
        do {
            let started = try await eventLoop.submit { handler.value.beginExchange() }.get()
            guard started else {
                throw PeerClientError(.connectionClosed, "the connection to \(endpoint) is no longer usable")
            }
        } catch {
            throw ExchangeFailure(error: Self.peerError(error, "starting the exchange failed"), responseStarted: false)
        }

        do {
            try await self.write(request, endpoint: endpoint)
        } catch {
            // The handler's own error (a reset, a TLS alert) explains a failed write best.
            let known = try? await eventLoop.submit { handler.value.terminalError }.get()
            throw ExchangeFailure(
                error: known.flatMap { $0 } ?? PeerClientError(.connectionClosed, "sending the request to \(endpoint) failed: \(error)"),
                responseStarted: false)
        }

        var responseStarted = false
        do {
            var spooler = BodySpooler(limits: limits)
            var head: HTTPResponseHead?
            while true {
                let part = try await eventLoop.flatSubmit { handler.value.nextPart(timeout: timeout) }.get()
                responseStarted = true
                switch part {
                case .head(let received):
                    guard head == nil else { throw PeerClientError(.malformedResponse, "a second response head arrived") }
                    head = received
                case .body(let chunk):
                    guard head != nil else { throw PeerClientError(.malformedResponse, "body bytes arrived before the head") }
                    do {
                        try spooler.append(chunk)
                    } catch .tooLarge(let limit) {
                        throw PeerClientError(.responseTooLarge, "the response from \(endpoint) is larger than \(limit) bytes")
                    } catch {
                        throw PeerClientError(.io, "spooling the response failed: \(error)")
                    }
                case .end:
                    guard let head else { throw PeerClientError(.malformedResponse, "the response ended before its head") }
                    let body: SpooledBody
                    do {
                        body = try spooler.finish()
                    } catch {
                        throw PeerClientError(.io, "spooling the response failed: \(error)")
                    }
                    let idle = try await eventLoop.submit { handler.value.endExchange() }.get()
                    let response = PeerResponse(
                        status: Int(head.status.code),
                        headers: head.headers.map { (name: $0.name, value: $0.value) },
                        body: body, peerCertificateSHA256: self.peerCertificateSHA256)
                    return (response, idle && head.isKeepAlive)
                }
            }
        } catch {
            self.close()
            throw ExchangeFailure(error: Self.peerError(error, "receiving the response from \(endpoint) failed"),
                                  responseStarted: responseStarted)
        }
    }

    /// Writes the head, the body in pieces (each flushed before the next is read), and the end.
    private func write(_ request: PeerRequest, endpoint: PeerEndpoint) async throws {
        var headers = HTTPHeaders()
        let managed: Set<String> = ["content-length", "transfer-encoding", "connection", "keep-alive"]
        for (name, value) in request.headers where !managed.contains(name.lowercased()) {
            headers.add(name: name, value: value)
        }
        if !headers.contains(name: "host") {
            headers.add(name: "Host", value: endpoint.description)
        }
        let bodiless: Set<String> = ["GET", "HEAD", "DELETE", "OPTIONS", "TRACE"]
        if request.body.byteCount > 0 || !bodiless.contains(request.method.uppercased()) {
            headers.add(name: "Content-Length", value: String(request.body.byteCount))
        }
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method),
                                   uri: request.target, headers: headers)
        if request.body.byteCount == 0 {
            self.channel.write(HTTPClientRequestPart.head(head), promise: nil)
        } else {
            try await self.channel.writeAndFlush(HTTPClientRequestPart.head(head))
            for try await chunk in request.body.chunks() {
                try await self.channel.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(chunk)))
            }
        }
        try await self.channel.writeAndFlush(HTTPClientRequestPart.end(nil))
    }

    private static func peerError(_ error: any Error, _ context: String) -> PeerClientError {
        if let error = error as? PeerClientError { return error }
        return PeerClientError(.connectionClosed, "\(context): \(error)")
    }

    /// The SNI name: the host, unless it is an IP address (SNI carries names only).
    private static func serverName(for host: String) -> String? {
        if host.contains(":") { return nil }
        if host.split(separator: ".", omittingEmptySubsequences: false).count == 4,
           host.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) {
            return nil
        }
        return host
    }
}

/// The last handler of a peer connection's pipeline: checks the pin (completing the handshake
/// future), and hands response parts to the one waiting reader.
///
/// Reads are demand-driven: a `read` travelling towards the socket is held while a response part
/// is buffered and nobody asked for it, so a slow consumer (a disk-bound spooler) pushes back on
/// the peer instead of filling memory. While the connection is idle, reads flow freely so that a
/// close by the peer is noticed at once.
///
/// Every method runs on the channel's event loop.
final class PeerConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private let pins: Set<String>
    private let handshakeTimeout: TimeAmount
    private var handshakePromise: EventLoopPromise<String>?
    private var handshakeTimer: Scheduled<Void>?
    private var verificationFailure: PeerClientError?
    private var context: ChannelHandlerContext?

    private var buffered = CircularBuffer<HTTPClientResponsePart>()
    private var waiter: EventLoopPromise<HTTPClientResponsePart>?
    private var waiterTimer: Scheduled<Void>?
    private var readHeld = false
    private var exchanging = false
    /// Why the connection is finished, once it is.
    private(set) var terminalError: PeerClientError?

    /// Resolves with the peer certificate's hash when the handshake completes.
    let handshakeFuture: EventLoopFuture<String>

    init(handshakePromise: EventLoopPromise<String>, pins: Set<String>, handshakeTimeout: TimeAmount) {
        self.handshakePromise = handshakePromise
        self.handshakeFuture = handshakePromise.futureResult
        self.pins = pins
        self.handshakeTimeout = handshakeTimeout
    }

    // MARK: TLS

    /// The custom verification callback: the pin check replaces chain and host name validation.
    func verify(_ certificates: [NIOSSLCertificate], _ promise: EventLoopPromise<NIOSSLVerificationResult>) {
        switch PeerCertificatePinning.check(certificates, pins: self.pins, now: Date()) {
        case .success(let hash):
            // From here the client's side of the handshake completes without further input from
            // the peer; `NIOSSLHandler` holds writes until it has. (Detecting completion through
            // `TLSUserEvent` would need the NIOTLS module, which this target does not import.)
            // A TLS 1.3 server judges the client certificate only after this point anyway: if it
            // rejects it, the first exchange fails with a closed connection.
            self.handshakeTimer?.cancel()
            self.handshakeTimer = nil
            self.handshakePromise?.succeed(hash)
            self.handshakePromise = nil
            promise.succeed(.certificateVerified)
        case .failure(let error):
            self.verificationFailure = error
            promise.succeed(.failed)
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { self.armHandshakeTimer(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.finish(PeerClientError(.connectionClosed, "the connection was torn down"))
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        self.armHandshakeTimer(context)
        context.fireChannelActive()
    }

    private func armHandshakeTimer(_ context: ChannelHandlerContext) {
        guard self.handshakeTimer == nil, self.handshakePromise != nil else { return }
        let timeout = self.handshakeTimeout
        self.handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.fail(PeerClientError(.handshakeFailed, "the TLS handshake did not finish within \(timeout)"))
        }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        guard self.exchanging, self.terminalError == nil else {
            self.fail(PeerClientError(.malformedResponse, "the peer sent data that answers no request"))
            return
        }
        if let waiter = self.waiter {
            self.waiter = nil
            self.waiterTimer?.cancel()
            self.waiterTimer = nil
            waiter.succeed(part)
        } else {
            self.buffered.append(part)
        }
    }

    func read(context: ChannelHandlerContext) {
        if self.buffered.isEmpty {
            context.read()
        } else {
            self.readHeld = true
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let verificationFailure {
            self.fail(verificationFailure)
        } else if self.handshakePromise != nil {
            self.fail(PeerClientError(.handshakeFailed, "the TLS handshake failed: \(error)"))
        } else if error is HTTPParserError {
            self.fail(PeerClientError(.malformedResponse, "the response is not valid HTTP/1.1: \(error)"))
        } else {
            self.fail(PeerClientError(.connectionClosed, "the connection broke: \(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let verificationFailure {
            self.finish(verificationFailure)
        } else if self.handshakePromise != nil {
            self.finish(PeerClientError(.handshakeFailed, "the peer closed the connection during the TLS handshake"))
        } else {
            self.finish(PeerClientError(.connectionClosed, "the peer closed the connection"))
        }
        context.fireChannelInactive()
    }

    // MARK: Exchanges

    /// Marks the start of an exchange; `false` if the connection cannot carry one.
    func beginExchange() -> Bool {
        guard let context, context.channel.isActive, self.terminalError == nil,
              self.handshakePromise == nil, !self.exchanging, self.buffered.isEmpty else {
            return false
        }
        self.exchanging = true
        return true
    }

    /// Marks the end of an exchange; `true` if the connection is clean and may go back to the pool.
    func endExchange() -> Bool {
        self.exchanging = false
        guard let context, context.channel.isActive, self.terminalError == nil, self.buffered.isEmpty else {
            return false
        }
        if self.readHeld {
            self.readHeld = false
            context.read()
        }
        return true
    }

    /// The next response part; fails with `.timeout` (and closes) if none arrives within `timeout`.
    func nextPart(timeout: TimeAmount) -> EventLoopFuture<HTTPClientResponsePart> {
        guard let context else {
            return self.handshakeFuture.eventLoop.makeFailedFuture(
                self.terminalError ?? PeerClientError(.connectionClosed, "the connection was torn down"))
        }
        if let part = self.buffered.popFirst() {
            if self.buffered.isEmpty, self.readHeld {
                self.readHeld = false
                context.read()
            }
            return context.eventLoop.makeSucceededFuture(part)
        }
        if let terminalError {
            return context.eventLoop.makeFailedFuture(terminalError)
        }
        guard self.waiter == nil else {
            return context.eventLoop.makeFailedFuture(PeerClientError(.io, "two readers on one connection"))
        }
        let promise = context.eventLoop.makePromise(of: HTTPClientResponsePart.self)
        self.waiter = promise
        self.waiterTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.fail(PeerClientError(.timeout, "no response data within \(timeout)"))
        }
        if self.readHeld {
            self.readHeld = false
            context.read()
        }
        return promise.futureResult
    }

    // MARK: Failure

    /// Records `error`, fails whoever waits, and closes the channel.
    private func fail(_ error: PeerClientError) {
        self.finish(error)
        self.context?.close(promise: nil)
    }

    /// Records `error` (the first one wins) and fails whoever waits.
    private func finish(_ error: PeerClientError) {
        if self.terminalError == nil { self.terminalError = error }
        let reason = self.terminalError ?? error
        self.handshakeTimer?.cancel()
        self.handshakeTimer = nil
        self.waiterTimer?.cancel()
        self.waiterTimer = nil
        if let promise = self.handshakePromise {
            self.handshakePromise = nil
            promise.fail(reason)
        }
        if let waiter = self.waiter {
            self.waiter = nil
            waiter.fail(reason)
        }
    }
}
