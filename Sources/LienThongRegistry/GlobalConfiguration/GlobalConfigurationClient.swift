import AsyncHTTPClient
import Foundation
import LienThongCore
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import X509

/// Fetches, verifies and keeps the global configuration for a security server.
///
/// - On creation it loads the cache file and verifies it again (an invalid cache is ignored and
///   logged), so a restarted server works from the cache while the registry is down.
/// - ``refresh()`` sends `GET` with `If-None-Match`; a `304` keeps the current document. A new
///   document must verify against the trust anchors, must not be expired, must have a higher
///   serial than the one held (an equal serial is accepted only with the same content), and is
///   then written to the cache atomically (temporary file, `fsync`, rename) and served.
/// - ``current(at:)`` fails closed: ``GlobalConfigurationError/Code/expired`` once `expires_at`
///   has passed, ``GlobalConfigurationError/Code/noConfiguration`` when none is held.
/// - ``run()`` refreshes every ``refreshInterval`` until cancelled or shut down gracefully; the
///   client is a swift-service-lifecycle `Service`.
public actor GlobalConfigurationClient: ServiceLifecycle.Service {
    /// What a successful ``refresh()`` did.
    public enum RefreshResult: Sendable, Hashable {
        /// A new document was verified, cached and is now served.
        case updated(serial: Int64)
        /// The registry answered `304`, or sent the document already held.
        case notModified(serial: Int64)
    }

    /// The state of the client, for health checks and logs.
    public struct Status: Sendable, Hashable {
        /// The serial held, if any.
        public var serial: Int64?
        /// When the held document expires, if any.
        public var expiresAt: Date?
        /// When the last refresh was attempted.
        public var lastAttempt: Date?
        /// When the registry last answered with a usable document or a `304`.
        public var lastSuccess: Date?
        /// The last refresh error, cleared by a success.
        public var lastError: GlobalConfigurationError?
    }

    /// The configuration URL, e.g. `https://registry.example:8443/globalconf`.
    public let url: String
    /// The cache file.
    public let cacheFile: URL
    /// The verifier (trust anchors, expected instance, size limit).
    public let verifier: GlobalConfigurationVerifier
    /// How often ``run()`` refreshes.
    public let refreshInterval: Duration
    /// The deadline of one HTTP exchange.
    public let timeout: Duration

    private let httpClient: HTTPClient
    private let clock: @Sendable () -> Date
    private let logger: Logger
    private var held: SignedGlobalConfiguration?
    private var heldIndex: GlobalConfigurationIndex?
    private var status = Status()

    /// Creates a client and loads the cache.
    /// - Parameters:
    ///   - url: the registry's configuration URL.
    ///   - cacheFile: where the last verified JWS is kept.
    ///   - trustAnchors: the instance root CA(s) the configuration signer must chain to.
    ///   - expectedInstance: the instance the document must be for, or `nil` for any.
    ///   - httpClient: the HTTP client (the caller owns it and shuts it down). Configure it with
    ///     `connectionPool.retryConnectionEstablishment = false`, or a registry that is down makes
    ///     each refresh wait for the whole ``timeout``.
    ///   - refreshInterval: how often ``run()`` refreshes; 60 s by default.
    ///   - timeout: the deadline of one exchange; 30 s by default.
    ///   - maximumSize: the largest accepted document, 256 MiB by default.
    ///   - logger: where to log cache and refresh problems.
    ///   - clock: the time source (tests pass a fake one).
    public init(
        url: String,
        cacheFile: URL,
        trustAnchors: [Certificate],
        expectedInstance: String? = nil,
        httpClient: HTTPClient,
        refreshInterval: Duration = .seconds(60),
        timeout: Duration = .seconds(30),
        maximumSize: Int = GlobalConfigurationJWS.defaultMaximumSize,
        logger: Logger = Logger(label: "lienthong.globalconf"),
        clock: @escaping @Sendable () -> Date = { Date() }
    ) async {
        self.url = url
        self.cacheFile = cacheFile
        self.verifier = GlobalConfigurationVerifier(trustAnchors: trustAnchors, expectedInstance: expectedInstance, maximumSize: maximumSize)
        self.httpClient = httpClient
        self.refreshInterval = refreshInterval
        self.timeout = timeout
        self.logger = logger
        self.clock = clock
        await loadCache()
    }

    private func loadCache() async {
        let bytes: [UInt8]?
        do {
            bytes = try GlobalConfigurationFiles.read(cacheFile)
        } catch {
            logger.warning("ignoring the global configuration cache", metadata: ["error": "\(error)"])
            return
        }
        guard let bytes else { return }
        do {
            let signed = try await verifier.verifySigned(String(decoding: bytes, as: UTF8.self), at: clock())
            adopt(signed)
            logger.info("loaded the global configuration from the cache",
                        metadata: ["serial": "\(signed.serial)", "expires_at": "\(GlobalConfigurationTime.format(signed.configuration.expiresAt))"])
        } catch {
            logger.warning("ignoring an invalid global configuration cache", metadata: ["file": "\(cacheFile.path)", "error": "\(error)"])
        }
    }

    private func adopt(_ signed: SignedGlobalConfiguration) {
        held = signed
        heldIndex = nil
        status.serial = signed.serial
        status.expiresAt = signed.configuration.expiresAt
    }

    // MARK: Reading

    /// The document in force at `now`.
    /// - Throws: ``GlobalConfigurationError/Code/noConfiguration`` if none is held,
    ///   ``GlobalConfigurationError/Code/expired`` if it expired (fail closed).
    public func current(at now: Date) throws(GlobalConfigurationError) -> GlobalConfiguration {
        try currentSigned(at: now).configuration
    }

    /// The document in force now (by the client's clock).
    public func current() throws(GlobalConfigurationError) -> GlobalConfiguration {
        try current(at: clock())
    }

    /// The document in force at `now`, with its signed form.
    public func currentSigned(at now: Date) throws(GlobalConfigurationError) -> SignedGlobalConfiguration {
        guard let held else {
            throw GlobalConfigurationError(.noConfiguration, "no valid global configuration is held (none cached, none fetched from \(url))")
        }
        guard !held.configuration.isExpired(at: now) else {
            throw GlobalConfigurationError(
                .expired,
                "the global configuration \(held.serial) expired at \(GlobalConfigurationTime.format(held.configuration.expiresAt)); refusing to use it")
        }
        return held
    }

    /// The lookup index of the document in force at `now` (built once per document).
    public func index(at now: Date) throws(GlobalConfigurationError) -> GlobalConfigurationIndex {
        let signed = try currentSigned(at: now)
        if let heldIndex, heldIndex.configuration.serial == signed.serial { return heldIndex }
        let index = GlobalConfigurationIndex(signed.configuration)
        heldIndex = index
        return index
    }

    /// The client's state.
    public func currentStatus() -> Status { status }

    // MARK: Refreshing

    /// Fetches the configuration once; see the type's documentation for the rules.
    ///
    /// On every error the document held so far stays in force (until it expires).
    /// - Throws: ``GlobalConfigurationError`` with code `transport` (network, HTTP status, size),
    ///   a verification code (`malformed`, `badSignature`, `untrustedSigner`, ...),
    ///   `serialRegression`, `serialConflict`, `expired` (the registry sent an expired document),
    ///   or `storage` — in that last case the new document *is* served, but could not be cached.
    @discardableResult
    public func refresh() async throws(GlobalConfigurationError) -> RefreshResult {
        let started = clock()
        status.lastAttempt = started
        do {
            let result = try await fetchAndAdopt()
            status.lastSuccess = clock()
            status.lastError = nil
            return result
        } catch {
            status.lastError = error
            if error.code == .storage { status.lastSuccess = clock() }
            throw error
        }
    }

    private func fetchAndAdopt() async throws(GlobalConfigurationError) -> RefreshResult {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        request.headers.add(name: "Accept", value: GlobalConfigurationJWS.mediaType)
        if let held {
            request.headers.add(name: "If-None-Match", value: held.etag)
        }
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, deadline: .now() + Self.timeAmount(timeout))
        } catch {
            throw GlobalConfigurationError(.transport, "fetching the global configuration from \(url) failed: \(error)")
        }
        if response.status == .notModified {
            // Drain (there is no body) so the connection can be reused.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            guard let held else {
                throw GlobalConfigurationError(.transport, "\(url) answered 304 Not Modified to a request without If-None-Match")
            }
            return .notModified(serial: held.serial)
        }
        guard response.status == .ok else {
            throw GlobalConfigurationError(
                .transport, "\(url) answered HTTP \(response.status.code) \(response.status.reasonPhrase)")
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: verifier.maximumSize)
        } catch is NIOTooManyBytesError {
            throw GlobalConfigurationError(.transport, "the global configuration from \(url) exceeds \(verifier.maximumSize) bytes")
        } catch {
            throw GlobalConfigurationError(.transport, "reading the global configuration from \(url) failed: \(error)")
        }
        let text = String(buffer: body).trimmingTrailingNewlines()
        let fetched = try await verifier.verifySigned(text, at: clock())
        // Re-read the state: another refresh may have run while this one was suspended.
        if let held {
            if fetched.serial < held.serial {
                throw GlobalConfigurationError(
                    .serialRegression,
                    "\(url) sent global configuration serial \(fetched.serial), lower than the \(held.serial) held; keeping \(held.serial)")
            }
            if fetched.serial == held.serial {
                guard fetched.payloadSHA256 == held.payloadSHA256 else {
                    throw GlobalConfigurationError(
                        .serialConflict,
                        "\(url) sent a different global configuration under the serial \(held.serial) already held; keeping the held one")
                }
                return .notModified(serial: held.serial)
            }
        }
        guard !fetched.configuration.isExpired(at: clock()) else {
            throw GlobalConfigurationError(
                .expired,
                "\(url) sent global configuration \(fetched.serial), which expired at \(GlobalConfigurationTime.format(fetched.configuration.expiresAt))")
        }
        adopt(fetched)
        logger.debug("adopted a new global configuration", metadata: ["serial": "\(fetched.serial)"])
        try GlobalConfigurationFiles.writeAtomically(Array(fetched.jws.utf8), to: cacheFile)
        return .updated(serial: fetched.serial)
    }

    private static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        let clamped = min(max(seconds, 0), Int64.max / 1_000_000_000 - 1)
        return .nanoseconds(clamped * 1_000_000_000 + max(attoseconds, 0) / 1_000_000_000)
    }

    // MARK: Service

    /// Refreshes every ``refreshInterval`` (first at once) until the task is cancelled or a
    /// graceful shutdown is triggered. Refresh errors are logged, never thrown: the held
    /// document stays in force until it expires.
    public func run() async throws {
        await cancelWhenGracefulShutdown { [self] in
            await self.refreshLoop()
        }
    }

    private func refreshLoop() async {
        while !Task.isCancelled {
            do {
                try await refresh()
            } catch {
                let level: Logger.Level = error.code == .transport ? .info : .warning
                logger.log(level: level, "global configuration refresh failed", metadata: ["error": "\(error)"])
            }
            do {
                try await Task.sleep(for: refreshInterval)
            } catch {
                return
            }
        }
    }
}

extension String {
    /// The string without trailing CR/LF (a served document may end with a newline).
    fileprivate func trimmingTrailingNewlines() -> String {
        var text = self
        while let last = text.utf8.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") {
            text.removeLast()
        }
        return text
    }
}
