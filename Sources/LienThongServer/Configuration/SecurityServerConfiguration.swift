import Foundation
import LienThongCore
import LienThongRegistry

/// How a security server is set up: `lienthong server serve --config FILE` reads it from JSON
/// (snake_case keys, `API`/`SHA256`/`URL` as one word each; `schemas/security-server-config.schema.json`). Relative file paths are
/// resolved against the configuration file's directory.
public struct SecurityServerConfiguration: Codable, Sendable, Hashable {
    /// This server's identifier, `INSTANCE/CLASS/MEMBER/SERVERCODE`; its owner member is the member part.
    public var serverId: String
    /// Where local information systems connect.
    public var clientListener: Listener
    /// An optional HTTPS listener for local information systems that authenticate with a client certificate.
    public var clientHttpsListener: Listener?
    /// Where peer security servers connect (mutual TLS 1.3).
    public var interServerListener: Listener
    /// The server's TLS certificate (PEM, a `server` certificate pinned in the global configuration) and key.
    public var tlsCertificateFile: String
    /// The TLS key (PEM).
    public var tlsKeyFile: String
    /// The owner member's signing certificate (PEM; the leaf first, then any intermediates).
    public var signingCertificateFile: String
    /// The member's signing key (PEM).
    public var signingKeyFile: String
    /// The registry's global configuration URL, e.g. `https://registry:4000/globalconf`.
    public var registryURL: String
    /// The instance trust anchor(s) (PEM): the configuration signer and every approved CA chain to it.
    public var trustAnchorFile: String
    /// Directory for the configuration cache, spool files and the audit hook's file.
    public var dataDirectory: String
    /// How often the global configuration is refreshed, in seconds (default 60).
    public var configurationRefreshSeconds: Int
    /// The local clients (subsystems of the owner member) and how each may connect.
    public var clients: [LocalClient]
    /// The services this server provides, with their backends.
    public var services: [LocalService]
    /// The provider's local veto.
    public var veto: Veto
    /// Size and time limits.
    public var limits: Limits
    /// The audit log's keys and personal-data patterns.
    public var audit: Audit
    /// Who may call the operations API besides those the global configuration publishes.
    public var operations: Operations

    /// Local additions to who may call the operations API (`docs/security-server.md` §Operations API).
    public struct Operations: Codable, Sendable, Hashable {
        /// SHA-256 (64 hex digits, of the DER) of certificates that may read and change this
        /// server's veto in addition to the owner member's operators published in the global
        /// configuration. Default none. Kept in lower case.
        public var vetoOperators: [String]

        /// Creates the settings.
        public init(vetoOperators: [String] = []) {
            self.vetoOperators = vetoOperators.map { $0.lowercased() }
        }

        private enum CodingKeys: String, CodingKey { case vetoOperators }

        /// Decodes the settings; every key is optional.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(vetoOperators: try c.decodeIfPresent([String].self, forKey: .vetoOperators) ?? [])
        }
    }

    /// How the audit log protects personal data.
    public struct Audit: Codable, Sendable, Hashable {
        /// The HMAC-SHA-256 key (32 or more raw bytes) that keys personal identifiers out of logged
        /// paths; `data_directory/audit-hmac.key` by default, created (mode 0600, 32 random bytes) if
        /// it does not exist. An auditor needs it to search the log for one person.
        public var hmacKeyFile: String?
        /// Extra identifier patterns per service (canonical service id → patterns), on top of the
        /// default 12-digit citizen id number; see docs/audit-record.md for the syntax.
        public var servicePatterns: [String: [String]]

        /// The log partition this node writes: `default` unless several nodes of one server share
        /// a PostgreSQL store, where each needs its own name.
        public var node: String
        /// PostgreSQL connection URL (`postgres://user:password@host:port/database`) of a shared
        /// store; without it the log is `data_directory/audit.sqlite`.
        public var postgresURL: String?
        /// How long checkpoints may go without the registry's receipt before the server refuses
        /// exchanges (fail closed, like X-Road's timestamping limit); 14,400 s (4 h) by default.
        public var checkpointFailureLimitSeconds: Int
        /// Records older than this many days move from the store to signed archive files in
        /// ``archiveDirectory`` (once the registry has countersigned them); `nil` keeps everything
        /// in the store.
        public var retentionDays: Int?
        /// Where archive files go; `data_directory/archive` by default.
        public var archiveDirectory: String?

        /// Creates audit settings.
        public init(hmacKeyFile: String? = nil, servicePatterns: [String: [String]] = [:], node: String = "default",
                    postgresURL: String? = nil, checkpointFailureLimitSeconds: Int = 14_400,
                    retentionDays: Int? = nil, archiveDirectory: String? = nil) {
            self.hmacKeyFile = hmacKeyFile
            self.servicePatterns = servicePatterns
            self.node = node
            self.postgresURL = postgresURL
            self.checkpointFailureLimitSeconds = checkpointFailureLimitSeconds
            self.retentionDays = retentionDays
            self.archiveDirectory = archiveDirectory
        }

        private enum CodingKeys: String, CodingKey {
            case hmacKeyFile, servicePatterns, node, postgresURL, checkpointFailureLimitSeconds, retentionDays, archiveDirectory
        }

        /// Decodes audit settings; every key is optional.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(hmacKeyFile: try c.decodeIfPresent(String.self, forKey: .hmacKeyFile),
                      servicePatterns: try c.decodeIfPresent([String: [String]].self, forKey: .servicePatterns) ?? [:],
                      node: try c.decodeIfPresent(String.self, forKey: .node) ?? "default",
                      postgresURL: try c.decodeIfPresent(String.self, forKey: .postgresURL),
                      checkpointFailureLimitSeconds: try c.decodeIfPresent(Int.self, forKey: .checkpointFailureLimitSeconds) ?? 14_400,
                      retentionDays: try c.decodeIfPresent(Int.self, forKey: .retentionDays),
                      archiveDirectory: try c.decodeIfPresent(String.self, forKey: .archiveDirectory))
        }
    }

    /// A listening address.
    public struct Listener: Codable, Sendable, Hashable {
        /// Address to bind, `127.0.0.1` by default.
        public var host: String
        /// Port; `0` picks a free one.
        public var port: Int
        /// HTTPS only: a local information system's certificate must chain to these CAs (PEM file).
        public var clientTrustAnchorFile: String?

        /// Creates a listener.
        public init(host: String = "127.0.0.1", port: Int, clientTrustAnchorFile: String? = nil) {
            self.host = host
            self.port = port
            self.clientTrustAnchorFile = clientTrustAnchorFile
        }
    }

    /// A local client subsystem and how its information systems may connect.
    public struct LocalClient: Codable, Sendable, Hashable {
        /// The subsystem, `INSTANCE/CLASS/MEMBER/SUBSYSTEM`.
        public var subsystem: String
        /// `http`: plain HTTP from ``allowedAddresses``; `https`: HTTPS on the TLS listener with a
        /// client certificate whose SHA-256 is in ``certificateSHA256``.
        public var connection: ConnectionKind
        /// For `http`: the source IP addresses allowed (exact match). Empty means loopback only.
        public var allowedAddresses: [String]
        /// For `https`: SHA-256 (lower-case hex of the DER) of the accepted client certificates.
        public var certificateSHA256: [String]

        /// Creates a local client.
        public init(subsystem: String, connection: ConnectionKind = .http, allowedAddresses: [String] = [], certificateSHA256: [String] = []) {
            self.subsystem = subsystem
            self.connection = connection
            self.allowedAddresses = allowedAddresses
            self.certificateSHA256 = certificateSHA256
        }
    }

    /// How a local information system connects.
    public enum ConnectionKind: String, Codable, Sendable, Hashable {
        /// Plain HTTP from listed addresses.
        case http
        /// HTTPS with a pinned client certificate.
        case https
    }

    /// A service this server provides.
    public struct LocalService: Codable, Sendable, Hashable {
        /// The service, `INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/VERSION]`.
        public var id: String
        /// The backend base URL (`http://` or `https://`); the service path and query are appended.
        public var backendURL: String
        /// The service's OpenAPI 3 document (JSON or YAML file), served by `getOpenAPI`.
        public var openAPIFile: String?
        /// Backend timeout for this service in seconds; the ``Limits/backendTimeoutSeconds`` default if absent.
        public var timeoutSeconds: Double?

        /// Creates a local service.
        public init(id: String, backendURL: String, openAPIFile: String? = nil, timeoutSeconds: Double? = nil) {
            self.id = id
            self.backendURL = backendURL
            self.openAPIFile = openAPIFile
            self.timeoutSeconds = timeoutSeconds
        }
    }

    /// The data owner's veto, applied by the provider after the agreement check.
    public struct Veto: Codable, Sendable, Hashable {
        /// Maintenance mode: every provided service answers `Server.ServerProxy.MaintenanceMode`.
        public var maintenance: Bool
        /// Services disabled locally (canonical ids).
        public var disabledServices: [String]
        /// Clients denied locally (canonical subsystem or member ids), whatever the agreements say.
        public var deniedClients: [String]

        /// Creates a veto list.
        public init(maintenance: Bool = false, disabledServices: [String] = [], deniedClients: [String] = []) {
            self.maintenance = maintenance
            self.disabledServices = disabledServices
            self.deniedClients = deniedClients
        }
    }

    /// Size and time limits.
    public struct Limits: Codable, Sendable, Hashable {
        /// Largest request or response body, in bytes (default 64 MiB).
        public var maximumBodyBytes: Int
        /// Bodies up to this size stay in memory; larger ones are spooled to disk in large blocks (default 1 MiB).
        public var memoryThresholdBytes: Int
        /// Backend timeout in seconds (default 30).
        public var backendTimeoutSeconds: Double
        /// Timeout for the provider server's answer, in seconds (default 60).
        public var peerTimeoutSeconds: Double
        /// Timeout for connecting to a peer, in seconds (default 5).
        public var connectTimeoutSeconds: Double
        /// Idle timeout of client and peer connections, in seconds (default 60): bounds slow clients.
        public var idleTimeoutSeconds: Double
        /// How many idle keep-alive connections to each provider server are kept for reuse (default 128).
        /// Above it, a connection is closed after its exchange, and the next one pays a TLS handshake.
        public var peerIdleConnections: Int
        /// How many connections to one provider server may be in use at once (default 128); further
        /// exchanges wait for one. It bounds what this server asks of a provider's server.
        public var peerMaxConnections: Int
        /// How old a request's signed time may be, in seconds (default 300, 1–86400), on top of the
        /// clock-skew tolerance: the provider refuses an older request (`StaleRequest`) and remembers
        /// each client's message ids at least this long, so a repeat within it is refused as a replay
        /// (`DuplicateMessage`), across restarts and on every node that shares the store.
        public var replayWindowSeconds: Int
        /// How far apart the consumer's and the provider's clocks may be, in seconds (default 30,
        /// 0–300): a request signed further ahead of the provider's clock than this is refused
        /// (`StaleRequest`), and the window for old requests grows by it. Servers keep their clocks
        /// within it of UTC with NTP (docs/security-server.md).
        public var clockSkewSeconds: Int

        /// The largest ``clockSkewSeconds`` accepted.
        public static let maximumClockSkewSeconds = 300

        /// Creates limits.
        public init(maximumBodyBytes: Int = 64 << 20, memoryThresholdBytes: Int = 1 << 20, backendTimeoutSeconds: Double = 30,
                    peerTimeoutSeconds: Double = 60, connectTimeoutSeconds: Double = 5, idleTimeoutSeconds: Double = 60,
                    peerIdleConnections: Int = 128, peerMaxConnections: Int = 128, replayWindowSeconds: Int = 300,
                    clockSkewSeconds: Int = 30) {
            self.maximumBodyBytes = maximumBodyBytes
            self.memoryThresholdBytes = memoryThresholdBytes
            self.backendTimeoutSeconds = backendTimeoutSeconds
            self.peerTimeoutSeconds = peerTimeoutSeconds
            self.connectTimeoutSeconds = connectTimeoutSeconds
            self.idleTimeoutSeconds = idleTimeoutSeconds
            self.peerIdleConnections = peerIdleConnections
            self.peerMaxConnections = peerMaxConnections
            self.replayWindowSeconds = replayWindowSeconds
            self.clockSkewSeconds = clockSkewSeconds
        }
    }

    /// Creates a configuration.
    public init(serverId: String, clientListener: Listener, clientHttpsListener: Listener? = nil, interServerListener: Listener,
                tlsCertificateFile: String, tlsKeyFile: String, signingCertificateFile: String, signingKeyFile: String,
                registryURL: String, trustAnchorFile: String, dataDirectory: String, configurationRefreshSeconds: Int = 60,
                clients: [LocalClient], services: [LocalService], veto: Veto = Veto(), limits: Limits = Limits(), audit: Audit = Audit(),
                operations: Operations = Operations()) {
        self.serverId = serverId
        self.clientListener = clientListener
        self.clientHttpsListener = clientHttpsListener
        self.interServerListener = interServerListener
        self.tlsCertificateFile = tlsCertificateFile
        self.tlsKeyFile = tlsKeyFile
        self.signingCertificateFile = signingCertificateFile
        self.signingKeyFile = signingKeyFile
        self.registryURL = registryURL
        self.trustAnchorFile = trustAnchorFile
        self.dataDirectory = dataDirectory
        self.configurationRefreshSeconds = configurationRefreshSeconds
        self.clients = clients
        self.services = services
        self.veto = veto
        self.limits = limits
        self.audit = audit
        self.operations = operations
    }

    /// Reads a configuration file; relative paths inside it are resolved against its directory.
    public static func load(from url: URL) throws(SecurityServerConfigurationError) -> SecurityServerConfiguration {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw .init("cannot read \(url.path): \(error.localizedDescription)")
        }
        let decoder = RegistryJSON.makeDecoder()
        var configuration: SecurityServerConfiguration
        do { configuration = try decoder.decode(SecurityServerConfiguration.self, from: data) } catch {
            throw .init("\(url.path) is not a valid security server configuration: \(error)")
        }
        configuration.resolvePaths(relativeTo: url.deletingLastPathComponent())
        try configuration.validate()
        return configuration
    }

    /// Writes the configuration as JSON (snake_case keys, sorted).
    public func jsonData() throws -> Data {
        let encoder = RegistryJSON.makeEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Makes every relative file path absolute against `base`.
    public mutating func resolvePaths(relativeTo base: URL) {
        func resolve(_ path: String) -> String {
            path.hasPrefix("/") ? path : base.appendingPathComponent(path).standardizedFileURL.path
        }
        tlsCertificateFile = resolve(tlsCertificateFile)
        tlsKeyFile = resolve(tlsKeyFile)
        signingCertificateFile = resolve(signingCertificateFile)
        signingKeyFile = resolve(signingKeyFile)
        trustAnchorFile = resolve(trustAnchorFile)
        dataDirectory = resolve(dataDirectory)
        if var listener = clientHttpsListener {
            listener.clientTrustAnchorFile = listener.clientTrustAnchorFile.map(resolve)
            clientHttpsListener = listener
        }
        for index in services.indices {
            services[index].openAPIFile = services[index].openAPIFile.map(resolve)
        }
        audit.hmacKeyFile = audit.hmacKeyFile.map(resolve)
        audit.archiveDirectory = audit.archiveDirectory.map(resolve)
    }

    /// Checks identifiers, ports, URLs and limits; the first problem is thrown.
    public func validate() throws(SecurityServerConfigurationError) {
        let server: SecurityServerId
        do { server = try SecurityServerId(parsing: serverId) } catch {
            throw .init("server_id \"\(serverId)\": \(error)")
        }
        for listener in [clientListener, interServerListener] + (clientHttpsListener.map { [$0] } ?? []) {
            guard (0...65535).contains(listener.port) else { throw .init("port \(listener.port) is out of range") }
        }
        for client in clients {
            let id: SubsystemId
            do { id = try SubsystemId(parsing: client.subsystem) } catch {
                throw .init("client \"\(client.subsystem)\": \(error)")
            }
            guard id.member == server.owner else {
                throw .init("client \(id) is not a subsystem of this server's owner \(server.owner)")
            }
            if client.connection == .https && clientHttpsListener == nil {
                throw .init("client \(id) connects over HTTPS but no client_https_listener is configured")
            }
        }
        guard !audit.node.isEmpty, audit.node.count <= 64,
              audit.node.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0) }) else {
            throw .init("audit.node \"\(audit.node)\" must be 1 to 64 letters, digits, '-', '_' or '.'")
        }
        guard audit.checkpointFailureLimitSeconds > 0 else {
            throw .init("audit.checkpoint_failure_limit_seconds must be positive")
        }
        if let days = audit.retentionDays, days < 1 {
            throw .init("audit.retention_days must be at least 1 (leave it out to keep every record)")
        }
        for service in services {
            let id: ServiceId
            do { id = try ServiceId(parsing: service.id) } catch {
                throw .init("service \"\(service.id)\": \(error)")
            }
            guard id.subsystem.member == server.owner else {
                throw .init("service \(id) is not provided by this server's owner \(server.owner)")
            }
            guard let url = URL(string: service.backendURL), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw .init("service \(id): backend_url \"\(service.backendURL)\" is not an http(s) URL")
            }
            if let timeout = service.timeoutSeconds, !(timeout > 0) { throw .init("service \(id): timeout_seconds must be positive") }
        }
        guard let registry = URL(string: registryURL), registry.scheme == "https" || registry.scheme == "http" else {
            throw .init("registry_url \"\(registryURL)\" is not an http(s) URL")
        }
        guard limits.maximumBodyBytes > 0, limits.memoryThresholdBytes > 0, limits.backendTimeoutSeconds > 0,
              limits.peerTimeoutSeconds > 0, limits.connectTimeoutSeconds > 0, limits.idleTimeoutSeconds > 0 else {
            throw .init("every limit must be positive")
        }
        guard (0...100_000).contains(limits.peerIdleConnections) else { throw .init("peer_idle_connections must be between 0 and 100000") }
        guard (1...100_000).contains(limits.peerMaxConnections) else { throw .init("peer_max_connections must be between 1 and 100000") }
        guard (1...86_400).contains(limits.replayWindowSeconds) else { throw .init("replay_window_seconds must be between 1 and 86400") }
        guard (0...Limits.maximumClockSkewSeconds).contains(limits.clockSkewSeconds) else {
            throw .init("clock_skew_seconds must be between 0 and \(Limits.maximumClockSkewSeconds)")
        }
        guard configurationRefreshSeconds > 0 else { throw .init("configuration_refresh_seconds must be positive") }
        guard operations.vetoOperators.count <= 1000 else { throw .init("operations.veto_operators lists at most 1000 certificates") }
        for hash in operations.vetoOperators {
            guard hash.utf8.count == 64, hash.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                throw .init("operations.veto_operators: \"\(hash.prefix(80))\" is not a certificate SHA-256 (64 hex digits)")
            }
        }
    }
}

/// A security server configuration that cannot be read or is inconsistent.
public struct SecurityServerConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

// MARK: Decoding with defaults: every key that has a default may be left out of the file.

extension SecurityServerConfiguration {
    private enum CodingKeys: String, CodingKey {
        case serverId, clientListener, clientHttpsListener, interServerListener, tlsCertificateFile, tlsKeyFile
        case signingCertificateFile, signingKeyFile, registryURL, trustAnchorFile, dataDirectory
        case configurationRefreshSeconds, clients, services, veto, limits, audit, operations
    }

    /// Decodes a configuration; optional parts take their defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            serverId: try c.decode(String.self, forKey: .serverId),
            clientListener: try c.decode(Listener.self, forKey: .clientListener),
            clientHttpsListener: try c.decodeIfPresent(Listener.self, forKey: .clientHttpsListener),
            interServerListener: try c.decode(Listener.self, forKey: .interServerListener),
            tlsCertificateFile: try c.decode(String.self, forKey: .tlsCertificateFile),
            tlsKeyFile: try c.decode(String.self, forKey: .tlsKeyFile),
            signingCertificateFile: try c.decode(String.self, forKey: .signingCertificateFile),
            signingKeyFile: try c.decode(String.self, forKey: .signingKeyFile),
            registryURL: try c.decode(String.self, forKey: .registryURL),
            trustAnchorFile: try c.decode(String.self, forKey: .trustAnchorFile),
            dataDirectory: try c.decode(String.self, forKey: .dataDirectory),
            configurationRefreshSeconds: try c.decodeIfPresent(Int.self, forKey: .configurationRefreshSeconds) ?? 60,
            clients: try c.decodeIfPresent([LocalClient].self, forKey: .clients) ?? [],
            services: try c.decodeIfPresent([LocalService].self, forKey: .services) ?? [],
            veto: try c.decodeIfPresent(Veto.self, forKey: .veto) ?? Veto(),
            limits: try c.decodeIfPresent(Limits.self, forKey: .limits) ?? Limits(),
            audit: try c.decodeIfPresent(Audit.self, forKey: .audit) ?? Audit(),
            operations: try c.decodeIfPresent(Operations.self, forKey: .operations) ?? Operations())
    }
}

extension SecurityServerConfiguration.Listener {
    private enum CodingKeys: String, CodingKey { case host, port, clientTrustAnchorFile }

    /// Decodes a listener; `host` defaults to `127.0.0.1`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(host: try c.decodeIfPresent(String.self, forKey: .host) ?? "127.0.0.1",
                  port: try c.decode(Int.self, forKey: .port),
                  clientTrustAnchorFile: try c.decodeIfPresent(String.self, forKey: .clientTrustAnchorFile))
    }
}

extension SecurityServerConfiguration.LocalClient {
    private enum CodingKeys: String, CodingKey { case subsystem, connection, allowedAddresses, certificateSHA256 }

    /// Decodes a local client; `connection` defaults to `http`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(subsystem: try c.decode(String.self, forKey: .subsystem),
                  connection: try c.decodeIfPresent(SecurityServerConfiguration.ConnectionKind.self, forKey: .connection) ?? .http,
                  allowedAddresses: try c.decodeIfPresent([String].self, forKey: .allowedAddresses) ?? [],
                  certificateSHA256: try c.decodeIfPresent([String].self, forKey: .certificateSHA256) ?? [])
    }
}

extension SecurityServerConfiguration.Veto {
    private enum CodingKeys: String, CodingKey { case maintenance, disabledServices, deniedClients }

    /// Decodes a veto list; every key is optional.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(maintenance: try c.decodeIfPresent(Bool.self, forKey: .maintenance) ?? false,
                  disabledServices: try c.decodeIfPresent([String].self, forKey: .disabledServices) ?? [],
                  deniedClients: try c.decodeIfPresent([String].self, forKey: .deniedClients) ?? [])
    }
}

extension SecurityServerConfiguration.Limits {
    private enum CodingKeys: String, CodingKey {
        case maximumBodyBytes, memoryThresholdBytes, backendTimeoutSeconds, peerTimeoutSeconds, connectTimeoutSeconds, idleTimeoutSeconds
        case peerIdleConnections, peerMaxConnections, replayWindowSeconds, clockSkewSeconds
    }

    /// Decodes limits; every key is optional.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SecurityServerConfiguration.Limits()
        self.init(maximumBodyBytes: try c.decodeIfPresent(Int.self, forKey: .maximumBodyBytes) ?? d.maximumBodyBytes,
                  memoryThresholdBytes: try c.decodeIfPresent(Int.self, forKey: .memoryThresholdBytes) ?? d.memoryThresholdBytes,
                  backendTimeoutSeconds: try c.decodeIfPresent(Double.self, forKey: .backendTimeoutSeconds) ?? d.backendTimeoutSeconds,
                  peerTimeoutSeconds: try c.decodeIfPresent(Double.self, forKey: .peerTimeoutSeconds) ?? d.peerTimeoutSeconds,
                  connectTimeoutSeconds: try c.decodeIfPresent(Double.self, forKey: .connectTimeoutSeconds) ?? d.connectTimeoutSeconds,
                  idleTimeoutSeconds: try c.decodeIfPresent(Double.self, forKey: .idleTimeoutSeconds) ?? d.idleTimeoutSeconds,
                  peerIdleConnections: try c.decodeIfPresent(Int.self, forKey: .peerIdleConnections) ?? d.peerIdleConnections,
                  peerMaxConnections: try c.decodeIfPresent(Int.self, forKey: .peerMaxConnections) ?? d.peerMaxConnections,
                  replayWindowSeconds: try c.decodeIfPresent(Int.self, forKey: .replayWindowSeconds) ?? d.replayWindowSeconds,
                  clockSkewSeconds: try c.decodeIfPresent(Int.self, forKey: .clockSkewSeconds) ?? d.clockSkewSeconds)
        guard (0...Self.maximumClockSkewSeconds).contains(clockSkewSeconds) else {
            throw DecodingError.dataCorruptedError(forKey: .clockSkewSeconds, in: c,
                                                   debugDescription: "clock_skew_seconds must be between 0 and \(Self.maximumClockSkewSeconds)")
        }
    }
}
