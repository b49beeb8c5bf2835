import Foundation
import Hummingbird
import HummingbirdTLS
import LienThongCore
import LienThongTrust
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import SwiftASN1
import UnixSignals
import X509

/// How a registry server is set up: `lienthong registry serve` reads it from flags or a JSON file.
public struct RegistryServerConfiguration: Codable, Sendable {
    /// Instance code, e.g. `VN`.
    public var instance: String
    /// Address to listen on.
    public var host: String
    /// Port to listen on; `0` picks a free one.
    public var port: Int
    /// Directory for `registry.sqlite` and the configuration serial state.
    public var dataDirectory: String
    /// The instance root CA (PEM): trust anchor for clients and the approved CA in the configuration.
    public var trustAnchorFile: String
    /// The registry's TLS certificate (PEM, a `server` certificate) and key.
    public var tlsCertificateFile: String
    /// The TLS key (PEM).
    public var tlsKeyFile: String
    /// The configuration-signing certificate (PEM) and key.
    public var configurationSigningCertificateFile: String
    /// The configuration-signing key (PEM).
    public var configurationSigningKeyFile: String
    /// OCSP responder URL of the instance CA, published in the configuration and used to check
    /// callers; `nil` means "from each certificate's AIA".
    public var ocspURL: String?
    /// The published configuration's validity, in seconds (default 600).
    public var configurationValiditySeconds: Int
    /// OCSP freshness limit published to security servers, in seconds (default 3600).
    public var ocspFreshnessSeconds: Int
    /// Checkpoint interval published to security servers, in seconds (default 60).
    public var checkpointIntervalSeconds: Int
    /// The registry's evidence-relay identity: an `auditor` certificate (PEM) with which the
    /// auditor API fetches evidence bundles from the security servers' auditor endpoints.
    /// Without it, `GET /api/v1/auditor/evidence/...` answers 503.
    public var evidenceCertificateFile: String?
    /// The evidence-relay key (PEM).
    public var evidenceKeyFile: String?
    /// The certificate profile of trust anchors that do not follow the development PKI's convention,
    /// keyed by the anchor certificate's SHA-256 (64 lowercase hex digits of its DER). An anchor of
    /// `trustAnchorFile` not named here uses ``CertificateProfile/development``. Published with each
    /// approved CA in the global configuration; a key that names no anchor stops the registry at start.
    public var trustAnchorProfiles: [String: CertificateProfile]?

    /// Creates a configuration from a development PKI directory's standard file names.
    public init(instance: String, host: String = "127.0.0.1", port: Int, dataDirectory: String, pkiDirectory: String,
                tlsCertificateFile: String, tlsKeyFile: String, ocspURL: String? = nil,
                configurationValiditySeconds: Int = 600, ocspFreshnessSeconds: Int = 3600, checkpointIntervalSeconds: Int = 60,
                evidenceCertificateFile: String? = nil, evidenceKeyFile: String? = nil) {
        let pki = URL(fileURLWithPath: pkiDirectory)
        self.instance = instance
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.trustAnchorFile = pki.appendingPathComponent(DevelopmentPKI.File.rootCertificate.rawValue).path
        self.tlsCertificateFile = tlsCertificateFile
        self.tlsKeyFile = tlsKeyFile
        self.configurationSigningCertificateFile = pki.appendingPathComponent(DevelopmentPKI.File.configurationSigningCertificate.rawValue).path
        self.configurationSigningKeyFile = pki.appendingPathComponent(DevelopmentPKI.File.configurationSigningKey.rawValue).path
        self.ocspURL = ocspURL
        self.configurationValiditySeconds = configurationValiditySeconds
        self.ocspFreshnessSeconds = ocspFreshnessSeconds
        self.checkpointIntervalSeconds = checkpointIntervalSeconds
        self.evidenceCertificateFile = evidenceCertificateFile
        self.evidenceKeyFile = evidenceKeyFile
    }
}

/// The central registry server: management API over mutual TLS, and the signed global configuration.
public struct RegistryServer: Sendable {
    /// Its configuration.
    public let configuration: RegistryServerConfiguration
    /// The logger.
    public var logger: Logger

    /// Creates a server (nothing starts until ``run(onRunning:)``).
    /// The configured profile of each anchor; a configured key that names no anchor, or is not a
    /// SHA-256, is a configuration error (closed: a typo must not silently fall back to the development profile).
    static func anchorProfiles(_ anchors: [Certificate], configured: [String: CertificateProfile]) throws -> [Certificate: CertificateProfile] {
        var byHash: [String: Certificate] = [:]
        for anchor in anchors {
            var serializer = DER.Serializer()
            try serializer.serialize(anchor)
            byHash[GlobalConfigurationDigest.sha256Hex(serializer.serializedBytes)] = anchor
        }
        var result: [Certificate: CertificateProfile] = [:]
        for (hash, profile) in configured {
            guard let anchor = byHash[hash.lowercased()] else {
                throw GlobalConfigurationError(.invalidArgument, "trustAnchorProfiles names \(hash.prefix(64)), which is the SHA-256 of no certificate in the trust anchor file")
            }
            if let problem = profile.memberId.validationProblem {
                throw GlobalConfigurationError(.invalidArgument, "the profile of trust anchor \(hash.prefix(64)): \(problem)")
            }
            result[anchor] = profile
        }
        return result
    }

    public init(configuration: RegistryServerConfiguration, logger: Logger = Logger(label: "lienthong.registry")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Opens the store, publishes the configuration, and serves until cancelled or shut down
    /// gracefully (`SIGTERM`, `SIGINT`); `onRunning` receives the bound port.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await makeServiceGroup(signals: [.sigterm, .sigint], onRunning: onRunning).run()
    }

    /// Starts the server, runs `body` with the bound port, then shuts the server down gracefully.
    public func withRunning<Value: Sendable>(_ body: (_ port: Int) async throws -> Value) async throws -> Value {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let group = try await makeServiceGroup(signals: [], onRunning: { continuation.yield($0) })
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                defer { continuation.finish() }
                try await group.run()
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else {
                try await tasks.waitForAll()
                throw RegistryAPIError(status: .internalServerError, type: "Server.Registry.StartFailed", message: "the registry stopped before listening")
            }
            let result: Result<Value, any Error>
            do { result = .success(try await body(port)) } catch { result = .failure(error) }
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            return try result.get()
        }
    }

    private func makeServiceGroup(signals: [UnixSignal], onRunning: @escaping @Sendable (Int) async -> Void) async throws -> ServiceGroup {
        let c = configuration
        // A private key that group or others may read stops the registry at start, as ssh refuses one.
        for key in [c.tlsKeyFile, c.configurationSigningKeyFile] + (c.evidenceKeyFile.map { [$0] } ?? []) {
            try PrivateKeyFile.checkPermissions(key)
        }
        try FileManager.default.createDirectory(atPath: c.dataDirectory, withIntermediateDirectories: true)
        let data = URL(fileURLWithPath: c.dataDirectory)
        let store = try SQLiteRegistryStore(path: data.appendingPathComponent("registry.sqlite").path)
        let registry = try await Registry(store: store, instance: c.instance)

        let anchors = try PEMFiles.readCertificates(URL(fileURLWithPath: c.trustAnchorFile))
        let profiles = try Self.anchorProfiles(anchors, configured: c.trustAnchorProfiles ?? [:])
        let signingChain = try PEMFiles.readCertificates(URL(fileURLWithPath: c.configurationSigningCertificateFile))
        let signingKey = try MessageSigningKey(pemEncoded: try PEMFiles.readText(URL(fileURLWithPath: c.configurationSigningKeyFile)))
        let publisher = try GlobalConfigurationPublisher(
            instance: c.instance,
            signingKey: signingKey,
            signingChain: signingChain,
            approvedCAs: try anchors.map { try ApprovedCA(certificate: $0, ocspURL: c.ocspURL, profile: profiles[$0]) },
            policy: GlobalConfigurationPolicy(
                ocspFreshnessSeconds: c.ocspFreshnessSeconds,
                configurationValiditySeconds: c.configurationValiditySeconds,
                checkpointIntervalSeconds: c.checkpointIntervalSeconds),
            stateFile: data.appendingPathComponent("globalconf-state.json"))
        _ = try await publisher.refreshIfNeeded(snapshot: registry.snapshot(), now: Date())

        let validator = CertificateValidator(
            trustAnchors: anchors,
            revocation: RevocationChecker(source: HTTPOCSPStatusSource(responderURL: c.ocspURL),
                                          policy: .init(freshness: TimeInterval(c.ocspFreshnessSeconds))),
            profiles: profiles)
        // Re-signs when the registry changed or the current document nears expiry.
        let republish: @Sendable () async -> Void = { [logger] in
            do { _ = try await publisher.refreshIfNeeded(snapshot: registry.snapshot(), now: Date()) } catch {
                logger.error("re-signing the global configuration failed: \(error)")
            }
        }
        let router = Router(context: RegistryRequestContext.self)
        // Every route is registered through the index, so that a request no route takes gets a
        // typed 404, or 405 for a known path with another method (UnroutedRequestErrors, first,
        // so that it wraps every route and the router's not-found answer).
        let routes = RouteIndex(router: router)
        router.add(middleware: UnroutedRequestErrors(routes: routes))
        router.add(middleware: ClientCertificateAuthenticator(validator: validator, registry: registry))
        router.add(middleware: RefusalLog())
        GlobalConfigurationRoute(publisher: publisher).register(on: routes.group())
        let management = ManagementRoutes(registry: registry, onChange: republish)
        management.register(on: routes.group())
        ActorRoutes(management: management).register(on: routes.group())
        let ledger = try CheckpointLedger(
            path: data.appendingPathComponent("checkpoints.sqlite").path, instance: c.instance,
            signer: try DetachedJWS.Signer(key: signingKey, chain: signingChain), validator: validator)
        CheckpointRoutes(ledger: ledger, registry: registry, validator: validator).register(on: routes.group())
        var evidenceClient: ServerOperationsClient?
        if let certificate = c.evidenceCertificateFile, let key = c.evidenceKeyFile {
            evidenceClient = try ServerOperationsClient(certificateFile: certificate, keyFile: key, caFile: c.trustAnchorFile)
        }
        AuditorRoutes(registry: registry, ledger: ledger, evidence: evidenceClient.map { EvidenceRelay(client: $0) }, clock: { Date() })
            .register(on: routes.group())
        routes.get("healthz") { _, _ in "ok" }

        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(c.tlsCertificateFile).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: c.tlsKeyFile, format: .pem)))
        tls.minimumTLSVersion = .tlsv13
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(c.trustAnchorFile))
        tls.certificateVerification = .optionalVerification

        var quiet = logger
        quiet.logLevel = .warning
        let app = Application(
            router: router,
            // A request the HTTP parser refuses (a request line or header over its limit, two
            // Content-Lengths, ...) gets a typed 400 and a closed connection, not NIO's bare 400.
            server: try .tls(.http1(configuration: .init(additionalChannelHandlers: [FramingErrorHandler()])), tlsConfiguration: tls),
            configuration: ApplicationConfiguration(address: .hostname(c.host, port: c.port), serverName: "LienThong-Registry"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: quiet)

        // Re-sign before expiry even when nothing changes.
        let refresher = PeriodicTask(interval: .seconds(max(1, c.configurationValiditySeconds / 10)), action: republish)
        var services: [any ServiceLifecycle.Service] = [app, refresher]
        if let evidenceClient { services.append(ClosesAtShutdown(close: { try? await evidenceClient.shutdown() })) }
        return ServiceGroup(configuration: ServiceGroupConfiguration(services: services, gracefulShutdownSignals: signals, logger: quiet))
    }
}

/// Waits for graceful shutdown (or cancellation), then runs `close`: releases a client the
/// routes use.
struct ClosesAtShutdown: ServiceLifecycle.Service {
    let close: @Sendable () async -> Void

    func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}

/// Runs an action every `interval` until graceful shutdown or cancellation.
struct PeriodicTask: ServiceLifecycle.Service {
    let interval: Duration
    let action: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                await action()
            }
        }
    }
}

/// `GET /globalconf`: the signed global configuration (`application/jose`), with `ETag` and
/// `If-None-Match` → 304. No client certificate is needed: the document is signed.
struct GlobalConfigurationRoute {
    let publisher: GlobalConfigurationPublisher

    func register(on router: RouterGroup<RegistryRequestContext>) {
        router.get("globalconf") { request, _ -> Response in
            guard let current = await publisher.current() else {
                throw RegistryAPIError(status: .serviceUnavailable, type: "Server.Registry.NoConfiguration",
                                       message: "no global configuration has been published yet")
            }
            var headers = HTTPFields()
            headers[.eTag] = current.etag
            headers[.cacheControl] = "no-cache"
            if let match = request.headers[.ifNoneMatch], current.matches(ifNoneMatch: match) {
                return Response(status: .notModified, headers: headers)
            }
            headers[.contentType] = "application/jose"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: current.jws)))
        }
    }
}

extension RegistryServer {
    /// Registers the first instance administrator in the registry whose data directory is
    /// `dataDirectory` (created if needed): `lienthong registry init --admin-cert FILE`. Run it on
    /// the registry's host before the first start, or while it is stopped; the registration is the
    /// admin trail's first entry on a new registry.
    ///
    /// - throws: ``RegistryError`` (`.conflict` if an instance administrator exists already,
    ///   `.invalid` for a bad certificate or name), or a store error.
    @discardableResult
    public static func initialise(dataDirectory: String, instance: String, adminCertificatePEM: String,
                                  name: String) async throws -> ActorRegistration {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let store = try SQLiteRegistryStore(path: URL(fileURLWithPath: dataDirectory).appendingPathComponent("registry.sqlite").path)
        let registry = try await Registry(store: store, instance: instance)
        return try await registry.bootstrapAdministrator(certificatePEM: adminCertificatePEM, name: name)
    }

    /// Registers a certificate for a role in the stopped registry whose data directory is
    /// `dataDirectory`, as local maintenance (`cli:local` in the trail): for set-ups scripted on
    /// the registry's own host. A running registry takes registrations through its API.
    @discardableResult
    public static func registerLocally(dataDirectory: String, instance: String, _ input: NewRegistration) async throws -> ActorRegistration {
        let store = try SQLiteRegistryStore(path: URL(fileURLWithPath: dataDirectory).appendingPathComponent("registry.sqlite").path)
        let registry = try await Registry(store: store, instance: instance)
        return try await registry.register(input, actor: "cli:local")
    }
}
