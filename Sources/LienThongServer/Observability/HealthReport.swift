import Foundation
import LienThongCore
import LienThongRegistry
import LienThongTrust

/// The body of `/healthz`: whether the security server can take part in exchanges now, and why.
///
/// A server is healthy (``Status/ok``) when it holds a global configuration that has not expired
/// and a fresh `good` OCSP status for its member signing certificate; otherwise it is
/// ``Status/failing``, because it would refuse every exchange (it fails closed). Build a report
/// with ``evaluate(serverId:configuration:lastRefreshError:ocsp:now:)``.
///
/// JSON: snake_case keys, dates as RFC 3339 UTC with whole seconds (`2026-01-31T08:00:00Z`), absent
/// optionals left out. Schema: `schemas/server-health.schema.json`. Serve it with ``httpStatus``
/// (200 or 503) and ``contentType``.
public struct HealthReport: Codable, Sendable, Hashable {
    /// The overall verdict.
    public enum Status: String, Codable, Sendable, Hashable, CaseIterable {
        /// Every check passed.
        case ok
        /// At least one check failed: the server refuses exchanges.
        case failing
    }

    /// The content type of ``jsonBody()``: `application/json; charset=utf-8`.
    public static let contentType = "application/json; charset=utf-8"

    /// The name of the check of the global configuration: `global_configuration`.
    public static let configurationCheck = "global_configuration"
    /// The name of the check of the OCSP status: `ocsp_status`.
    public static let ocspCheck = "ocsp_status"

    /// The overall verdict: ``Status/ok`` exactly when every check is ok.
    public var status: Status
    /// The security server's id, canonical form (`INSTANCE/CLASS/CODE/SERVERCODE`).
    public var serverId: String
    /// When the report was made.
    public var checkedAt: Date
    /// The global configuration in use; `nil` when none is loaded.
    public var configuration: ConfigurationHealth?
    /// The OCSP status of the member signing certificate.
    public var ocsp: OCSPHealth
    /// The checks, in a fixed order: ``configurationCheck``, ``ocspCheck``.
    public var checks: [Check]

    /// Creates a report from its parts (``evaluate(serverId:configuration:lastRefreshError:ocsp:now:)``
    /// derives them).
    ///
    /// - parameters:
    ///     - status: The verdict.
    ///     - serverId: The server id, canonical form.
    ///     - checkedAt: When the report was made.
    ///     - configuration: The global configuration in use, if any.
    ///     - ocsp: The OCSP status.
    ///     - checks: The checks.
    public init(status: Status, serverId: String, checkedAt: Date, configuration: ConfigurationHealth?, ocsp: OCSPHealth, checks: [Check]) {
        self.status = status
        self.serverId = serverId
        self.checkedAt = checkedAt
        self.configuration = configuration
        self.ocsp = ocsp
        self.checks = checks
    }

    // MARK: Parts

    /// The global configuration in use.
    public struct ConfigurationHealth: Codable, Sendable, Hashable {
        /// Its serial.
        public var serial: Int64
        /// When the registry generated it.
        public var generatedAt: Date
        /// When it expires.
        public var expiresAt: Date
        /// Whole seconds since `generated_at` (rounded down).
        public var ageSeconds: Int64
        /// Whole seconds until `expires_at` (rounded down; negative once expired).
        public var expiresInSeconds: Int64
        /// Whether it has expired (`now >= expires_at`).
        public var expired: Bool
        /// Why the last attempt to fetch a newer one failed, if it did.
        public var lastRefreshError: String?

        /// Creates the part.
        ///
        /// - parameters:
        ///     - serial: The serial.
        ///     - generatedAt: When it was generated.
        ///     - expiresAt: When it expires.
        ///     - ageSeconds: Seconds since generation.
        ///     - expiresInSeconds: Seconds until expiry.
        ///     - expired: Whether it has expired.
        ///     - lastRefreshError: The last refresh failure, if any.
        public init(serial: Int64, generatedAt: Date, expiresAt: Date, ageSeconds: Int64, expiresInSeconds: Int64, expired: Bool,
                    lastRefreshError: String?) {
            self.serial = serial
            self.generatedAt = generatedAt
            self.expiresAt = expiresAt
            self.ageSeconds = ageSeconds
            self.expiresInSeconds = expiresInSeconds
            self.expired = expired
            self.lastRefreshError = lastRefreshError
        }

        enum CodingKeys: String, CodingKey {
            case serial
            case generatedAt = "generated_at"
            case expiresAt = "expires_at"
            case ageSeconds = "age_seconds"
            case expiresInSeconds = "expires_in_seconds"
            case expired
            case lastRefreshError = "last_refresh_error"
        }

        /// Decodes the part; dates are RFC 3339 strings.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            serial = try container.decode(Int64.self, forKey: .serial)
            generatedAt = try HealthReportTime.decode(container, .generatedAt)
            expiresAt = try HealthReportTime.decode(container, .expiresAt)
            ageSeconds = try container.decode(Int64.self, forKey: .ageSeconds)
            expiresInSeconds = try container.decode(Int64.self, forKey: .expiresInSeconds)
            expired = try container.decode(Bool.self, forKey: .expired)
            lastRefreshError = try container.decodeIfPresent(String.self, forKey: .lastRefreshError)
        }

        /// Encodes the part; dates as RFC 3339 UTC strings with whole seconds.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(serial, forKey: .serial)
            try container.encode(HealthReportTime.format(generatedAt), forKey: .generatedAt)
            try container.encode(HealthReportTime.format(expiresAt), forKey: .expiresAt)
            try container.encode(ageSeconds, forKey: .ageSeconds)
            try container.encode(expiresInSeconds, forKey: .expiresInSeconds)
            try container.encode(expired, forKey: .expired)
            try container.encodeIfPresent(lastRefreshError, forKey: .lastRefreshError)
        }
    }

    /// The OCSP status of the member signing certificate.
    public struct OCSPHealth: Codable, Sendable, Hashable {
        /// The status as the health report spells it.
        public enum Status: String, Codable, Sendable, Hashable, CaseIterable {
            /// The responder says the certificate is not revoked.
            case good
            /// The responder says the certificate is revoked.
            case revoked
            /// The responder does not know the certificate.
            case unknown
            /// The server holds no OCSP status for the certificate.
            case missing

            /// The spelling of an OCSP answer's status.
            ///
            /// - parameters:
            ///     - status: The certificate status of an OCSP answer, or `nil` for none.
            public init(_ status: OCSPCertificateStatus?) {
                switch status {
                case .none: self = .missing
                case .good?: self = .good
                case .revoked?: self = .revoked
                case .unknown?: self = .unknown
                }
            }
        }

        /// Who holds the certificate, e.g. the member id or the certificate's subject.
        public var certificate: String
        /// The status.
        public var status: Status
        /// The `thisUpdate` of the OCSP answer, if there is one.
        public var thisUpdate: Date?
        /// Until when the answer may be used: the earlier of `thisUpdate` + the freshness limit and
        /// the answer's `nextUpdate`.
        public var freshUntil: Date?

        /// Creates the part.
        ///
        /// - parameters:
        ///     - certificate: Who holds the certificate.
        ///     - status: The status.
        ///     - thisUpdate: The answer's `thisUpdate`.
        ///     - freshUntil: Until when the answer may be used.
        public init(certificate: String, status: Status, thisUpdate: Date?, freshUntil: Date?) {
            self.certificate = certificate
            self.status = status
            self.thisUpdate = thisUpdate
            self.freshUntil = freshUntil
        }

        enum CodingKeys: String, CodingKey {
            case certificate, status
            case thisUpdate = "this_update"
            case freshUntil = "fresh_until"
        }

        /// Decodes the part; dates are RFC 3339 strings.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            certificate = try container.decode(String.self, forKey: .certificate)
            status = try container.decode(Status.self, forKey: .status)
            thisUpdate = try container.contains(.thisUpdate) ? HealthReportTime.decode(container, .thisUpdate) : nil
            freshUntil = try container.contains(.freshUntil) ? HealthReportTime.decode(container, .freshUntil) : nil
        }

        /// Encodes the part; dates as RFC 3339 UTC strings with whole seconds.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(certificate, forKey: .certificate)
            try container.encode(status, forKey: .status)
            try container.encodeIfPresent(thisUpdate.map(HealthReportTime.format), forKey: .thisUpdate)
            try container.encodeIfPresent(freshUntil.map(HealthReportTime.format), forKey: .freshUntil)
        }
    }

    /// One check and its outcome.
    public struct Check: Codable, Sendable, Hashable {
        /// The check's name, e.g. ``HealthReport/configurationCheck``.
        public var name: String
        /// Whether it passed.
        public var ok: Bool
        /// What was found, for people.
        public var detail: String

        /// Creates a check.
        ///
        /// - parameters:
        ///     - name: The name.
        ///     - ok: Whether it passed.
        ///     - detail: What was found.
        public init(name: String, ok: Bool, detail: String) {
            self.name = name
            self.ok = ok
            self.detail = detail
        }
    }

    // MARK: Inputs

    /// What the server knows of its global configuration.
    public struct ConfigurationInput: Sendable, Hashable {
        /// The serial.
        public var serial: Int64
        /// When it was generated.
        public var generatedAt: Date
        /// When it expires.
        public var expiresAt: Date

        /// Creates an input from plain values.
        ///
        /// - parameters:
        ///     - serial: The serial.
        ///     - generatedAt: When it was generated.
        ///     - expiresAt: When it expires.
        public init(serial: Int64, generatedAt: Date, expiresAt: Date) {
            self.serial = serial
            self.generatedAt = generatedAt
            self.expiresAt = expiresAt
        }

        /// Creates an input from a document.
        ///
        /// - parameters:
        ///     - configuration: The global configuration in use.
        public init(_ configuration: GlobalConfiguration) {
            self.init(serial: configuration.serial, generatedAt: configuration.generatedAt, expiresAt: configuration.expiresAt)
        }
    }

    /// What the server knows of the OCSP status of its member signing certificate.
    public struct OCSPInput: Sendable, Hashable {
        /// Who holds the certificate.
        public var certificate: String
        /// The status, or ``OCSPHealth/Status/missing``.
        public var status: OCSPHealth.Status
        /// The answer's `thisUpdate` (`nil` when missing).
        public var thisUpdate: Date?
        /// The answer's `nextUpdate`, if it has one.
        public var nextUpdate: Date?
        /// The freshness limit: the global configuration's `ocsp_freshness_seconds`.
        public var freshness: TimeInterval
        /// How far `thisUpdate` may lie ahead of the server's clock: the responder's clock may run
        /// ahead of ours. The same tolerance as the OCSP verifier's (300 s by default), so health
        /// never reports failing for a status that peers accept.
        public var allowedClockSkew: TimeInterval

        /// Creates an input.
        ///
        /// - parameters:
        ///     - certificate: Who holds the certificate.
        ///     - status: The status.
        ///     - thisUpdate: The answer's `thisUpdate`.
        ///     - nextUpdate: The answer's `nextUpdate`.
        ///     - freshness: The freshness limit in seconds; 3600 by default (the global configuration's default policy).
        ///     - allowedClockSkew: How far `thisUpdate` may lie in the future; the OCSP verifier's default.
        public init(certificate: String, status: OCSPHealth.Status, thisUpdate: Date?, nextUpdate: Date? = nil, freshness: TimeInterval = 3600,
                    allowedClockSkew: TimeInterval = OCSPResponseVerifier().allowedClockSkew) {
            self.certificate = certificate
            self.status = status
            self.thisUpdate = thisUpdate
            self.nextUpdate = nextUpdate
            self.freshness = freshness
            self.allowedClockSkew = allowedClockSkew
        }

        /// The input for a server that holds no OCSP status.
        ///
        /// - parameters:
        ///     - certificate: Who holds the certificate.
        public static func missing(certificate: String) -> OCSPInput {
            OCSPInput(certificate: certificate, status: .missing, thisUpdate: nil)
        }
    }

    // MARK: Building

    /// Judges the server's health at `now`.
    ///
    /// - ``configurationCheck`` fails when no configuration is loaded or it has expired
    ///   (`now >= expires_at`). A failed refresh alone does not fail it: the configuration in use
    ///   stays valid until it expires, and the error is reported in `last_refresh_error`.
    /// - ``ocspCheck`` fails unless the status is `good` and fresh: `thisUpdate <= now + allowedClockSkew`
    ///   and `now < fresh_until`,
    ///   where `fresh_until` is the earlier of `thisUpdate + freshness` and `nextUpdate`. `missing`,
    ///   `unknown` and `revoked` fail it, as they make the server refuse to sign.
    ///
    /// - parameters:
    ///     - serverId: The security server's id.
    ///     - configuration: The global configuration in use, or `nil`.
    ///     - lastRefreshError: Why the last refresh failed, or `nil` if it succeeded.
    ///     - ocsp: The OCSP status of the member signing certificate.
    ///     - now: The current time.
    public static func evaluate(
        serverId: SecurityServerId,
        configuration: ConfigurationInput?,
        lastRefreshError: String? = nil,
        ocsp: OCSPInput,
        now: Date
    ) -> HealthReport {
        var checks: [Check] = []
        var configurationHealth: ConfigurationHealth?
        if let configuration {
            let expired = now >= configuration.expiresAt
            let expiresIn = wholeSeconds(configuration.expiresAt.timeIntervalSince(now))
            configurationHealth = ConfigurationHealth(
                serial: configuration.serial, generatedAt: configuration.generatedAt, expiresAt: configuration.expiresAt,
                ageSeconds: wholeSeconds(now.timeIntervalSince(configuration.generatedAt)), expiresInSeconds: expiresIn,
                expired: expired, lastRefreshError: lastRefreshError)
            checks.append(Check(
                name: configurationCheck, ok: !expired,
                detail: expired
                    ? "global configuration serial \(configuration.serial) expired at \(HealthReportTime.format(configuration.expiresAt)); the server refuses exchanges"
                    : "global configuration serial \(configuration.serial) is valid for \(expiresIn) s more"))
        } else {
            checks.append(Check(
                name: configurationCheck, ok: false,
                detail: "no global configuration loaded" + (lastRefreshError.map { "; last refresh failed: \($0)" } ?? "")))
        }

        var freshUntil: Date?
        if let thisUpdate = ocsp.thisUpdate, ocsp.status != .missing {
            let limit = thisUpdate.addingTimeInterval(ocsp.freshness)
            freshUntil = ocsp.nextUpdate.map { min($0, limit) } ?? limit
        }
        checks.append(ocspCheck(ocsp, freshUntil: freshUntil, now: now))

        return HealthReport(
            status: checks.allSatisfy(\.ok) ? .ok : .failing,
            serverId: serverId.canonical,
            checkedAt: now,
            configuration: configurationHealth,
            ocsp: OCSPHealth(certificate: ocsp.certificate, status: ocsp.status,
                             thisUpdate: ocsp.status == .missing ? nil : ocsp.thisUpdate, freshUntil: freshUntil),
            checks: checks)
    }

    private static func ocspCheck(_ ocsp: OCSPInput, freshUntil: Date?, now: Date) -> Check {
        switch ocsp.status {
        case .missing:
            return Check(name: ocspCheck, ok: false, detail: "no OCSP status held for \(ocsp.certificate)")
        case .revoked:
            return Check(name: ocspCheck, ok: false, detail: "the certificate of \(ocsp.certificate) is revoked")
        case .unknown:
            return Check(name: ocspCheck, ok: false, detail: "the OCSP responder does not know the certificate of \(ocsp.certificate)")
        case .good:
            guard let thisUpdate = ocsp.thisUpdate, let freshUntil else {
                return Check(name: ocspCheck, ok: false, detail: "the OCSP status of \(ocsp.certificate) has no thisUpdate")
            }
            if now.addingTimeInterval(ocsp.allowedClockSkew) < thisUpdate {
                return Check(name: ocspCheck, ok: false,
                             detail: "the OCSP status of \(ocsp.certificate) is dated in the future (\(HealthReportTime.format(thisUpdate)))")
            }
            if now >= freshUntil {
                return Check(name: ocspCheck, ok: false,
                             detail: "the OCSP status of \(ocsp.certificate) is stale since \(HealthReportTime.format(freshUntil))")
            }
            return Check(name: ocspCheck, ok: true,
                         detail: "good, fresh for \(wholeSeconds(freshUntil.timeIntervalSince(now))) s more")
        }
    }

    /// Whole seconds, rounded down, clamped to `Int64`.
    private static func wholeSeconds(_ interval: TimeInterval) -> Int64 {
        guard interval.isFinite else { return interval < 0 ? .min : .max }
        let rounded = interval.rounded(.down)
        if rounded <= Double(Int64.min) { return .min }
        if rounded >= Double(Int64.max) { return .max }
        return Int64(rounded)
    }

    // MARK: Serving

    /// The HTTP status to serve the report with: 200 when ``Status/ok``, 503 when ``Status/failing``.
    public var httpStatus: Int {
        status == .ok ? 200 : 503
    }

    /// The report as JSON bytes, keys sorted.
    public func jsonBody() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every field is a string, number, boolean or a list of them; a fixed body is a safe fallback.
        return (try? Array(encoder.encode(self))) ?? Array(#"{"status":"failing"}"#.utf8)
    }

    enum CodingKeys: String, CodingKey {
        case status
        case serverId = "server_id"
        case checkedAt = "checked_at"
        case configuration, ocsp, checks
    }

    /// Decodes a report; dates are RFC 3339 strings.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        status = try container.decode(Status.self, forKey: .status)
        serverId = try container.decode(String.self, forKey: .serverId)
        checkedAt = try HealthReportTime.decode(container, .checkedAt)
        configuration = try container.decodeIfPresent(ConfigurationHealth.self, forKey: .configuration)
        ocsp = try container.decode(OCSPHealth.self, forKey: .ocsp)
        checks = try container.decode([Check].self, forKey: .checks)
    }

    /// Encodes the report; dates as RFC 3339 UTC strings with whole seconds.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(status, forKey: .status)
        try container.encode(serverId, forKey: .serverId)
        try container.encode(HealthReportTime.format(checkedAt), forKey: .checkedAt)
        try container.encodeIfPresent(configuration, forKey: .configuration)
        try container.encode(ocsp, forKey: .ocsp)
        try container.encode(checks, forKey: .checks)
    }
}

/// RFC 3339 UTC timestamps with whole seconds for the health report.
enum HealthReportTime {
    private static let style = Date.ISO8601FormatStyle(timeZone: TimeZone(secondsFromGMT: 0) ?? .gmt)

    /// `YYYY-MM-DDTHH:MM:SSZ`, fractions of a second dropped.
    static func format(_ date: Date) -> String {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)).formatted(style)
    }

    /// Decodes a timestamp field, with a `DecodingError` naming it if the text is not one.
    static func decode<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, _ key: Key) throws -> Date {
        let text = try container.decode(String.self, forKey: key)
        guard let date = try? style.parse(text) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "\"\(text)\" is not an RFC 3339 UTC timestamp")
        }
        return date
    }
}
