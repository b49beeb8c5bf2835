import Foundation
import NIOSSL
import PostgresNIO

extension PostgresAuditLeafStore {
    /// Where and how a ``PostgresAuditLeafStore`` reaches its database.
    public struct Configuration: Sendable {
        /// The PostgresNIO client configuration: endpoint, credentials, TLS and pool options.
        public var client: PostgresClient.Configuration
        /// The longest an operation waits for a connection from the pool before it fails with
        /// ``AuditStoreError/Code/unavailable``. The wait ends sooner, at once, when a connection
        /// attempt fails during it (refused, authentication failed): this bound is for a host that
        /// does not answer, or a pool whose connections are all busy. PostgresNIO's pool on its
        /// own keeps such requests waiting for up to a minute; the audit log must refuse exchanges
        /// sooner than that. Default 10 seconds.
        public var connectionWaitTimeout: Duration

        /// A configuration for `client`.
        public init(client: PostgresClient.Configuration, connectionWaitTimeout: Duration = .seconds(10)) {
            self.client = client
            self.connectionWaitTimeout = connectionWaitTimeout
        }

        /// Parses a connection URL `postgres://user:password@host:port/database?sslmode=MODE`
        /// (`postgresql://` is accepted too; user, password and database are percent-decoded).
        ///
        /// - The port defaults to 5432; the database defaults to the user name (PostgreSQL's rule).
        /// - `sslmode`: `disable`, `prefer` (TLS if the server offers it, without certificate
        ///   verification), or `require` / `verify-full` (TLS with certificate and host-name
        ///   verification against the system's trust roots — stricter than libpq's `require`).
        ///   Without `sslmode`, TLS is disabled for a loopback host (`localhost`, `127.0.0.0/8`,
        ///   `::1`: the traffic never leaves the machine) and required, verified, for any other.
        /// - The pool keeps at most 4 connections: the group-commit writer uses one at a time,
        ///   and several nodes share the server's connection limit.
        /// - Throws: ``ConfigurationError`` naming what is wrong with the URL.
        public init(url: String) throws(ConfigurationError) {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
                throw ConfigurationError("not a URL: give postgres://user:password@host:port/database")
            }
            guard scheme == "postgres" || scheme == "postgresql" else {
                throw ConfigurationError("the URL scheme must be postgres:// or postgresql://, not \(scheme)://")
            }
            guard var host = components.host, !host.isEmpty else {
                throw ConfigurationError("the URL names no host: give postgres://user:password@host:port/database")
            }
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard let user = components.user, !user.isEmpty else {
                throw ConfigurationError("the URL names no user: give postgres://user:password@host:port/database")
            }
            let port = components.port ?? 5432
            guard (1...65_535).contains(port) else { throw ConfigurationError("the port \(port) is out of range") }
            var database = components.path
            if database.hasPrefix("/") { database.removeFirst() }
            guard !database.contains("/") else { throw ConfigurationError("the database name \(database) contains a slash") }

            let loopback = Self.isLoopback(host)
            let tls: PostgresClient.Configuration.TLS
            let items = components.queryItems ?? []
            if let unknown = items.first(where: { $0.name != "sslmode" }) {
                throw ConfigurationError("unknown URL parameter \(unknown.name) (only sslmode is understood)")
            }
            switch items.first(where: { $0.name == "sslmode" })?.value {
            case nil:
                tls = loopback ? .disable : .require(.makeClientConfiguration())
            case "disable":
                tls = .disable
            case "prefer":
                var unverified = TLSConfiguration.makeClientConfiguration()
                unverified.certificateVerification = .none
                tls = .prefer(unverified)
            case "require", "verify-full":
                tls = .require(.makeClientConfiguration())
            case let other?:
                throw ConfigurationError("sslmode \(other) is not understood: use disable, prefer, require or verify-full")
            }
            var client = PostgresClient.Configuration(host: host, port: port, username: user, password: components.password,
                                                      database: database.isEmpty ? nil : database, tls: tls)
            client.options.maximumConnections = 4
            self.init(client: client)
        }

        /// `host:port/database` (or the socket path), for messages; never the password.
        public var endpointDescription: String {
            let database = client.database.flatMap { $0.isEmpty ? nil : $0 } ?? client.username
            if let socket = client.unixSocketPath { return "\(socket)/\(database)" }
            let host = client.host ?? "?"
            let shown = host.contains(":") ? "[\(host)]" : host
            return "\(shown):\(client.port ?? 5432)/\(database)"
        }

        static func isLoopback(_ host: String) -> Bool {
            let lowered = host.lowercased()
            if lowered == "localhost" || lowered == "::1" || lowered == "0:0:0:0:0:0:0:1" { return true }
            let octets = lowered.split(separator: ".", omittingEmptySubsequences: false)
            return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
        }
    }

    /// A configuration that cannot be used: a malformed connection URL or node name.
    public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong, in the operator's words.
        public var message: String

        /// Creates an error.
        public init(_ message: String) { self.message = message }

        /// The message.
        public var description: String { message }
    }
}
