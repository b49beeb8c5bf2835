import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTLS
import LienThongAudit
import LienThongAuditPostgres
import LienThongCore
import LienThongRegistry
import LienThongTrust
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import UnixSignals
import X509

/// The request context of both listeners: it keeps the connection, for the peer's address and
/// TLS certificate.
public struct SecurityServerRequestContext: RequestContext {
    /// Hummingbird's core storage.
    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on.
    public let channel: any Channel

    /// Creates the context for a request on `source.channel`.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

/// The ports a running server listens on (useful when the configuration asked for port 0).
public struct SecurityServerPorts: Sendable, Hashable {
    /// The client-facing HTTP port.
    public var client: Int
    /// The client-facing HTTPS port, if configured.
    public var clientHTTPS: Int?
    /// The inter-server mutual-TLS port.
    public var interServer: Int
}

/// A LienThong security server: `lienthong server serve`.
///
/// - the client-facing port speaks the X-Road REST protocol (`/r1/...`) to local information
///   systems, plus `/listClients`, `/healthz` and `/metrics`;
/// - the inter-server port speaks the signed inter-server protocol over mutual TLS 1.3;
/// - a background service refreshes the global configuration.
public struct LienThongSecurityServer: Sendable {
    /// The configuration.
    public let configuration: SecurityServerConfiguration
    /// Where exchange events go; a JSON-lines file in the data directory by default.
    public let audit: (any ExchangeAuditSink)?
    /// Test-only misbehaviour.
    public let hooks: ExchangeTestHooks
    private let logger: Logger

    /// Creates a server.
    public init(configuration: SecurityServerConfiguration, audit: (any ExchangeAuditSink)? = nil, hooks: ExchangeTestHooks = ExchangeTestHooks(),
                logger: Logger = Logger(label: "lienthong.server")) {
        self.configuration = configuration
        self.audit = audit
        self.hooks = hooks
        self.logger = logger
    }

    /// Runs until SIGINT/SIGTERM; `onRunning` gets the ports once all listeners are up.
    public func run(onRunning: @escaping @Sendable (SecurityServerPorts) async -> Void = { _ in }) async throws {
        try await withServiceGroup(signals: [.sigint, .sigterm], onRunning: onRunning, { _ in }, runUntilShutdown: true)
    }

    /// Runs the server while `body` runs, then shuts it down gracefully.
    public func withRunning<Value: Sendable>(_ body: (SecurityServerPorts) async throws -> Value) async throws -> Value {
        try await withServiceGroup(signals: [], onRunning: { _ in }, body, runUntilShutdown: false)
    }

    private func withServiceGroup<Value: Sendable>(
        signals: [UnixSignal], onRunning: @escaping @Sendable (SecurityServerPorts) async -> Void,
        _ body: (SecurityServerPorts) async throws -> Value, runUntilShutdown: Bool
    ) async throws -> Value {
        let c = configuration
        try c.validate()
        let serverId = try SecurityServerId(parsing: c.serverId)
        let data = URL(fileURLWithPath: c.dataDirectory)
        // A private key that group or others may read stops the server at start, as ssh refuses
        // one: the TLS key, the member signing key and the audit HMAC key (if it exists yet).
        let hmacKeyFile = c.audit.hmacKeyFile ?? data.appendingPathComponent("audit-hmac.key").path
        var keyFiles = [c.tlsKeyFile, c.signingKeyFile]
        if FileManager.default.fileExists(atPath: hmacKeyFile) { keyFiles.append(hmacKeyFile) }
        for file in keyFiles {
            do { try PrivateKeyFile.checkPermissions(file) } catch { throw SecurityServerConfigurationError(error.message) }
        }
        try FileManager.default.createDirectory(at: data.appendingPathComponent("spool"), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)

        // Global configuration from the registry, cached on disk.
        let trustAnchors = try PEMFiles.readCertificates(URL(fileURLWithPath: c.trustAnchorFile))
        var registryTLS = TLSConfiguration.makeClientConfiguration()
        registryTLS.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(c.trustAnchorFile))
        registryTLS.minimumTLSVersion = .tlsv12
        var registryHTTP = HTTPClient.Configuration(tlsConfiguration: registryTLS)
        registryHTTP.connectionPool.retryConnectionEstablishment = false
        registryHTTP.timeout.connect = .seconds(5)
        let registryClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: registryHTTP)
        let backendHTTP = BackendClient.makeHTTPClient(connectTimeout: c.limits.connectTimeoutSeconds)
        let peers: PeerClient
        // Checkpoints go to the registry over mutual TLS with this server's registered TLS
        // certificate: the registry takes a server's checkpoints only from that server.
        let checkpointHTTP: HTTPClient
        do {
            checkpointHTTP = try RegistryCheckpointClient.makeHTTPClient(
                certificateFile: c.tlsCertificateFile, keyFile: c.tlsKeyFile, caFile: c.trustAnchorFile)
        } catch {
            try? await registryClient.shutdown()
            try? await backendHTTP.shutdown()
            throw error
        }
        do {
            let tlsChain = try PEMFiles.readCertificates(URL(fileURLWithPath: c.tlsCertificateFile))
            let tlsKey = try PEMFiles.readPrivateKey(URL(fileURLWithPath: c.tlsKeyFile))
            peers = try PeerClient(
                identity: PeerTLSIdentity(certificateChain: tlsChain, privateKey: tlsKey),
                connectTimeout: .milliseconds(Int64(c.limits.connectTimeoutSeconds * 1000)),
                responseTimeout: .milliseconds(Int64(c.limits.peerTimeoutSeconds * 1000)),
                responseBodyLimits: BodySpoolLimits(maximumSize: c.limits.maximumBodyBytes, memoryThreshold: c.limits.memoryThresholdBytes,
                                                    directory: data.appendingPathComponent("spool")),
                maximumIdleConnectionsPerPeer: c.limits.peerIdleConnections, maximumConnectionsPerPeer: c.limits.peerMaxConnections)
        } catch {
            try? await registryClient.shutdown()
            try? await checkpointHTTP.shutdown()
            try? await backendHTTP.shutdown()
            throw error
        }

        let result: Result<Value, any Error>
        do {
            let configurationClient = await GlobalConfigurationClient(
                url: c.registryURL, cacheFile: data.appendingPathComponent("globalconf.jws"), trustAnchors: trustAnchors,
                expectedInstance: serverId.owner.instance, httpClient: registryClient,
                refreshInterval: .seconds(c.configurationRefreshSeconds), logger: quiet, clock: hooks.clock)
            do { _ = try await configurationClient.refresh() } catch {
                quiet.warning("the registry could not be reached at start; using the cached configuration if it is still valid", metadata: ["error": "\(error)"])
            }
            let freshness = (try? await configurationClient.current().policy.ocspFreshnessSeconds).map(TimeInterval.init) ?? 3600
            let ocspURL = (try? await configurationClient.current().approvedCAs.first?.ocspURL) ?? nil
            let policy = RevocationChecker.Policy(freshness: freshness)
            let revocation = RevocationChecker(source: HTTPOCSPStatusSource(responderURL: ocspURL), policy: policy)
            let signer = try MemberSigner(member: serverId.owner, certificateFile: URL(fileURLWithPath: c.signingCertificateFile),
                                          keyFile: URL(fileURLWithPath: c.signingKeyFile))
            let signerForAudit = signer
            result = .success(try await withAuditSink(data: data, logger: quiet) { audit, replays in
                let trust = TrustState(configuration: configurationClient, revocation: revocation, refreshAfter: policy.refreshAfter)
                let checkpoints = (audit as? AuditLog).map { log in
                    CheckpointService(log: log, server: serverId, node: c.audit.node, signer: signerForAudit, trust: trust,
                                      submitter: RegistryCheckpointClient(configurationURL: c.registryURL, http: checkpointHTTP),
                                      logger: quiet, clock: hooks.clock,
                                      retention: c.audit.retentionDays.map { days in
                                          CheckpointService.Retention(
                                              maximumAge: .seconds(Int64(days) * 86_400),
                                              directory: c.audit.archiveDirectory.map(URL.init(fileURLWithPath:)) ?? data.appendingPathComponent("archive"))
                                      },
                                      misreportUsage: hooks.misreportCheckpointUsage)
                }
                let runtime = try SecurityServerRuntime(
                    configuration: c, serverId: serverId, trust: trust,
                    signer: signerForAudit, peers: peers, backend: BackendClient(http: backendHTTP), audit: audit, replayStore: replays,
                    metrics: ServerMetrics(),
                    hooks: hooks, logger: logger)
                return try await serve(runtime: runtime, configurationClient: configurationClient, checkpoints: checkpoints, signals: signals,
                                       quiet: quiet, onRunning: onRunning, body: body, runUntilShutdown: runUntilShutdown)
            })
        } catch {
            result = .failure(error)
        }
        await peers.shutdown()
        try? await registryClient.shutdown()
        try? await checkpointHTTP.shutdown()
        try? await backendHTTP.shutdown()
        return try result.get()
    }

    /// Runs `body` with the audit sink and the replay store. The sink is the one given to
    /// ``init(configuration:audit:hooks:logger:)``, or the audit log on `audit.postgres_url` (its
    /// connection pool running around `body`) or on `data_directory/audit.sqlite`. The replay store
    /// is always persistent, whatever the sink: the `replay_seen_requests` table of the PostgreSQL
    /// database on `audit.postgres_url`, which every node of the server shares, or
    /// `data_directory/replay.sqlite`.
    private func withAuditSink<Value: Sendable>(data: URL, logger: Logger,
                                                _ body: (any ExchangeAuditSink, any ReplayStore) async throws -> Value) async throws -> Value {
        let c = configuration
        let keyFile = c.audit.hmacKeyFile.map(URL.init(fileURLWithPath:)) ?? data.appendingPathComponent("audit-hmac.key")
        let limit = Duration.seconds(c.audit.checkpointFailureLimitSeconds)
        guard let url = c.audit.postgresURL else {
            let replays = try SQLiteReplayStore(path: data.appendingPathComponent("replay.sqlite").path)
            if let given = audit { return try await body(given, replays) }
            let protector = try PersonalDataProtector(key: try AuditKeyFile.loadOrCreate(keyFile), servicePatterns: c.audit.servicePatterns)
            let store = try SQLiteAuditLeafStore(path: data.appendingPathComponent("audit.sqlite").path)
            return try await body(try await AuditLog(store: store, protector: protector, checkpointFailureLimit: limit), replays)
        }
        let postgres: PostgresAuditLeafStore.Configuration
        do { postgres = try PostgresAuditLeafStore.Configuration(url: url) } catch {
            throw SecurityServerConfigurationError("audit.postgres_url: \(error)")
        }
        // One partition per server and node: several servers may share the database.
        return try await PostgresAuditLeafStore.withStore(configuration: postgres, node: "\(c.serverId)/\(c.audit.node)", logger: logger) { store in
            if let given = audit { return try await body(given, store) }
            let protector = try PersonalDataProtector(key: try AuditKeyFile.loadOrCreate(keyFile), servicePatterns: c.audit.servicePatterns)
            return try await body(try await AuditLog(store: store, protector: protector, checkpointFailureLimit: limit), store)
        }
    }

    private func serve<Value: Sendable>(
        runtime: SecurityServerRuntime, configurationClient: GlobalConfigurationClient, checkpoints: CheckpointService?,
        signals: [UnixSignal], quiet: Logger,
        onRunning: @escaping @Sendable (SecurityServerPorts) async -> Void,
        body: (SecurityServerPorts) async throws -> Value, runUntilShutdown: Bool
    ) async throws -> Value {
        let c = configuration
        let idle = TimeAmount.milliseconds(Int64(c.limits.idleTimeoutSeconds * 1000))
        let ports = PortCollector()

        // Client-facing HTTP.
        let clientApp = Application(
            responder: ClientPortResponder(runtime: runtime, isHTTPS: false),
            server: .http1(configuration: .init(additionalChannelHandlers: [FramingErrorHandler()], idleTimeout: idle)),
            configuration: ApplicationConfiguration(address: .hostname(c.clientListener.host, port: c.clientListener.port), serverName: "LienThong"),
            onServerRunning: { channel in await ports.set(\.client, channel.localAddress?.port ?? 0) },
            logger: quiet)
        var services: [any ServiceLifecycle.Service] = [configurationClient, clientApp]
        if let checkpoints { services.append(checkpoints) }

        // Client-facing HTTPS with client certificates, if configured.
        let tlsChain = try NIOSSLCertificate.fromPEMFile(c.tlsCertificateFile).map { NIOSSLCertificateSource.certificate($0) }
        let tlsKey = NIOSSLPrivateKeySource.privateKey(try NIOSSLPrivateKey(file: c.tlsKeyFile, format: .pem))
        if let https = c.clientHttpsListener {
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: tlsChain, privateKey: tlsKey)
            tls.minimumTLSVersion = .tlsv12
            tls.certificateVerification = .noHostnameVerification
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(https.clientTrustAnchorFile ?? c.trustAnchorFile))
            services.append(Application(
                responder: ClientPortResponder(runtime: runtime, isHTTPS: true),
                server: try .tls(.http1(configuration: .init(additionalChannelHandlers: [FramingErrorHandler()], idleTimeout: idle)), tlsConfiguration: tls),
                configuration: ApplicationConfiguration(address: .hostname(https.host, port: https.port), serverName: "LienThong"),
                onServerRunning: { channel in await ports.set(\.clientHTTPS, channel.localAddress?.port ?? 0) },
                logger: quiet))
        } else {
            await ports.set(\.clientHTTPS, nil)
        }

        // Inter-server mutual TLS 1.3: any certificate of an approved CA may connect; the exchange
        // path then requires it to be pinned for a server of the client's member.
        var interTLS = TLSConfiguration.makeServerConfiguration(certificateChain: tlsChain, privateKey: tlsKey)
        interTLS.minimumTLSVersion = .tlsv13
        interTLS.certificateVerification = .noHostnameVerification
        interTLS.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(c.trustAnchorFile))
        services.append(Application(
            responder: InterServerResponder(runtime: runtime),
            server: try .tls(.http1(configuration: .init(additionalChannelHandlers: [FramingErrorHandler()], idleTimeout: idle)), tlsConfiguration: interTLS),
            configuration: ApplicationConfiguration(address: .hostname(c.interServerListener.host, port: c.interServerListener.port), serverName: "LienThong"),
            onServerRunning: { channel in await ports.set(\.interServer, channel.localAddress?.port ?? 0) },
            logger: quiet))

        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, gracefulShutdownSignals: signals, logger: quiet))
        return try await withThrowingTaskGroup(of: Value?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            let running = try await ports.wait()
            await onRunning(running)
            let value: Result<Value, any Error>
            do { value = .success(try await body(running)) } catch { value = .failure(error) }
            // `run` waits for a shutdown signal; `withRunning` shuts down once its body is done.
            if !runUntilShutdown || (try? value.get()) == nil {
                await group.triggerGracefulShutdown()
            }
            while let _ = try await tasks.next() {}
            return try value.get()
        }
    }
}

/// Collects the bound ports of the listeners and wakes whoever waits once all are known.
actor PortCollector {
    private var ports = SecurityServerPorts(client: -1, clientHTTPS: -1, interServer: -1)
    private var waiters: [CheckedContinuation<SecurityServerPorts, any Error>] = []

    func set(_ path: WritableKeyPath<SecurityServerPorts, Int>, _ value: Int) {
        ports[keyPath: path] = value
        wakeIfReady()
    }

    func set(_ path: WritableKeyPath<SecurityServerPorts, Int?>, _ value: Int?) {
        ports[keyPath: path] = value
        wakeIfReady()
    }

    func wait() async throws -> SecurityServerPorts {
        if isReady { return ports }
        return try await withCheckedThrowingContinuation { waiters.append($0) }
    }

    private var isReady: Bool { ports.client >= 0 && ports.interServer >= 0 && ports.clientHTTPS != -1 }

    private func wakeIfReady() {
        guard isReady else { return }
        for waiter in waiters { waiter.resume(returning: ports) }
        waiters.removeAll()
    }
}

/// The client-facing port: `/r1/...` exchanges, `/listClients`, `/healthz`, `/metrics`.
struct ClientPortResponder: HTTPResponder {
    typealias Context = SecurityServerRequestContext
    let runtime: SecurityServerRuntime
    let isHTTPS: Bool

    func respond(to request: Request, context: Context) async throws -> Response {
        let target = request.head.path ?? ""
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        switch path {
        case "/healthz":
            return await HealthEndpoint.response(runtime: runtime)
        case "/metrics":
            return Response(status: .ok, headers: ExchangeHTTP.fields([(name: "Content-Type", value: ServerMetrics.contentType)]),
                            body: .init(byteBuffer: ByteBuffer(string: runtime.metrics.render())))
        default:
            if Metaservice(rootPath: path) != nil {
                return await runtime.handleListClients(request)
            }
            var pin: String?
            if isHTTPS, let certificate = try? await context.channel.nioSSL_peerCertificate().get(), let der = try? certificate.toDERBytes() {
                pin = ExchangeHTTP.sha256Hex(der)
            }
            let connection = ClientConnection(address: context.channel.remoteAddress?.ipAddress, certificateSHA256: pin, isHTTPS: isHTTPS)
            return await runtime.handleClient(request, connection: connection)
        }
    }
}

/// The inter-server port: the operations API (`/auditor/…`, `/admin/…`, ``OperationsResponder``)
/// and, for every other target, an exchange from a peer server.
struct InterServerResponder: HTTPResponder {
    typealias Context = SecurityServerRequestContext
    let runtime: SecurityServerRuntime

    func respond(to request: Request, context: Context) async throws -> Response {
        if OperationsResponder.handles(target: request.head.path ?? "") {
            return await OperationsResponder(runtime: runtime).respond(to: request, channel: context.channel)
        }
        return await runtime.handlePeer(request, channel: context.channel)
    }
}
