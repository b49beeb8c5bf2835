import Foundation
import LienThongCore
import LienThongTrust
import SwiftASN1
import X509

/// The global configuration: everything a security server needs to know about the instance,
/// published by the registry as one signed, expiring JSON document (ARCHITECTURE §3, §6;
/// `docs/global-configuration.md`; `schemas/global-configuration.schema.json`).
///
/// On the wire the keys are snake_case, identifiers are their canonical strings, and dates are
/// RFC 3339 UTC with whole seconds (`2026-01-31T08:00:00Z`). Every list is sorted by the UTF-8
/// bytes of its `id`, and the sets inside entries (`services`, `purposes`) are sorted too, so that
/// one registry state always gives the same bytes. The signed bytes are the RFC 8785 canonical
/// JSON of the document (see ``canonicalJSON()``).
public struct GlobalConfiguration: Codable, Sendable, Hashable {
    /// The format version this code writes and understands: `1`.
    public static let currentFormatVersion = 1

    /// The document format version; ``currentFormatVersion`` for documents built by this code.
    public var formatVersion: Int
    /// The instance code, e.g. `VN`.
    public var instance: String
    /// Increases with every published document; clients refuse a lower one.
    public var serial: Int64
    /// When the registry built the document (whole seconds).
    public var generatedAt: Date
    /// After this instant the document is void and security servers fail closed.
    public var expiresAt: Date
    /// The certification authorities whose certificates members, servers and auditors may hold.
    public var approvedCAs: [ApprovedCA]
    /// Every member, disabled ones included.
    public var members: [MemberEntry]
    /// Every subsystem.
    public var subsystems: [SubsystemEntry]
    /// Every security server, with its address and TLS certificate pin.
    public var servers: [ServerEntry]
    /// Every service, with its endpoints (not its OpenAPI document).
    public var services: [ServiceEntry]
    /// Every dataset.
    public var datasets: [DatasetEntry]
    /// The sharing agreements that are active and in force at some time between `generated_at`
    /// and `expires_at`.
    public var agreements: [AgreementEntry]
    /// Instance-wide limits.
    public var policy: Policy
    /// Who may call the security servers' operations API (`data_plane_actors`), from the
    /// registry's active registrations: certificate hashes only. Written only when it publishes
    /// someone; absent means nobody (every veto and evidence request is refused, unless a server
    /// lists operators locally), so a document without registrations keeps its earlier bytes.
    public var dataPlaneActors: DataPlaneActors

    /// Creates a document. Use ``GlobalConfigurationBuilder`` to make one from a registry snapshot.
    public init(
        formatVersion: Int = GlobalConfiguration.currentFormatVersion,
        instance: String,
        serial: Int64,
        generatedAt: Date,
        expiresAt: Date,
        approvedCAs: [ApprovedCA] = [],
        members: [MemberEntry] = [],
        subsystems: [SubsystemEntry] = [],
        servers: [ServerEntry] = [],
        services: [ServiceEntry] = [],
        datasets: [DatasetEntry] = [],
        agreements: [AgreementEntry] = [],
        policy: Policy = Policy(),
        dataPlaneActors: DataPlaneActors = DataPlaneActors()
    ) {
        self.formatVersion = formatVersion
        self.instance = instance
        self.serial = serial
        self.generatedAt = generatedAt
        self.expiresAt = expiresAt
        self.approvedCAs = approvedCAs
        self.members = members
        self.subsystems = subsystems
        self.servers = servers
        self.services = services
        self.datasets = datasets
        self.agreements = agreements
        self.policy = policy
        self.dataPlaneActors = dataPlaneActors
    }

    // MARK: Elements

    /// Who may act on the data plane, published from the registry's active registrations
    /// (`docs/global-configuration.md` §Data-plane actors): the SHA-256 (lower-case hex, of the
    /// DER) of certificates, never names or PEMs. A revoked registration is absent from the next
    /// document the registry signs.
    public struct DataPlaneActors: Codable, Sendable, Hashable {
        /// Every active auditor's certificate hash, sorted: who may read evidence from any
        /// security server (`GET /auditor/v1/evidence/{id}`).
        public var auditorCertificatesSHA256: [String]
        /// Per member (sorted by member id), its active member operators' certificate hashes:
        /// who may read and change the veto of that member's security servers.
        public var memberOperators: [MemberOperators]

        /// Creates the list.
        public init(auditorCertificatesSHA256: [String] = [], memberOperators: [MemberOperators] = []) {
            self.auditorCertificatesSHA256 = auditorCertificatesSHA256
            self.memberOperators = memberOperators
        }

        /// Whether it publishes nobody (then `data_plane_actors` is left out of the document).
        public var isEmpty: Bool { auditorCertificatesSHA256.isEmpty && memberOperators.isEmpty }

        /// The operator certificate hashes of `member` (empty if none is published).
        public func operators(of member: MemberId) -> [String] {
            memberOperators.first { $0.member == member }?.certificatesSHA256 ?? []
        }

        /// Whether `sha256` is a published operator of `member`.
        public func isOperator(_ sha256: String, of member: MemberId) -> Bool {
            operators(of: member).contains(sha256)
        }

        /// Whether `sha256` is a published auditor.
        public func isAuditor(_ sha256: String) -> Bool {
            auditorCertificatesSHA256.contains(sha256)
        }

        enum CodingKeys: String, CodingKey {
            case auditorCertificatesSHA256 = "auditor_certificates_sha256"
            case memberOperators = "member_operators"
        }
    }

    /// The operators of one member: the certificate hashes of its active member-operator registrations.
    public struct MemberOperators: Codable, Sendable, Hashable, Identifiable {
        /// The member they act for.
        public var member: MemberId
        /// Their certificates' SHA-256 (lower-case hex), sorted.
        public var certificatesSHA256: [String]

        /// The member.
        public var id: MemberId { member }

        /// Creates an entry.
        public init(member: MemberId, certificatesSHA256: [String]) {
            self.member = member
            self.certificatesSHA256 = certificatesSHA256
        }

        enum CodingKeys: String, CodingKey {
            case member
            case certificatesSHA256 = "certificates_sha256"
        }
    }

    /// An approved certification authority and its OCSP responder.
    public struct ApprovedCA: Codable, Sendable, Hashable {
        /// The CA certificate, PEM.
        public var certificate: String
        /// The OCSP responder URL for certificates this CA issued, if it runs one.
        public var ocspURL: String?
        /// How this CA's certificates are read (member id attribute, role recognition); absent means
        /// ``CertificateProfile/development`` (role in `OU`, canonical member id in `CN`).
        public var profile: CertificateProfile?

        /// Creates an entry from a PEM certificate.
        public init(certificate: String, ocspURL: String?, profile: CertificateProfile? = nil) {
            self.certificate = certificate
            self.ocspURL = ocspURL
            self.profile = profile
        }

        /// The profile in force for this CA.
        public var effectiveProfile: CertificateProfile { profile ?? .development }

        /// Creates an entry from a certificate.
        /// - Throws: ``GlobalConfigurationError/Code/invalidArgument`` if the certificate cannot be PEM-encoded.
        public init(certificate: Certificate, ocspURL: String?, profile: CertificateProfile? = nil) throws(GlobalConfigurationError) {
            do {
                self.init(certificate: try certificate.serializeAsPEM().pemString, ocspURL: ocspURL, profile: profile)
            } catch {
                throw GlobalConfigurationError(.invalidArgument, "cannot PEM-encode CA certificate \(certificate.subject): \(error)")
            }
        }

        /// The parsed certificate.
        /// - Throws: ``GlobalConfigurationError/Code/malformed`` if ``certificate`` is not a PEM certificate.
        public func parsedCertificate() throws(GlobalConfigurationError) -> Certificate {
            do {
                return try Certificate(pemEncoded: certificate)
            } catch {
                throw GlobalConfigurationError(.malformed, "an approved CA entry is not a PEM certificate: \(error)")
            }
        }

        enum CodingKeys: String, CodingKey {
            case certificate
            case ocspURL = "ocsp_url"
            case profile
        }
    }

    /// A member (agency).
    public struct MemberEntry: Codable, Sendable, Hashable, Identifiable {
        /// `INSTANCE/CLASS/CODE`.
        public var id: MemberId
        /// The official (Vietnamese) name.
        public var name: String
        /// The kind of agency.
        public var kind: MemberKind
        /// A disabled member may neither consume nor provide.
        public var disabled: Bool

        /// Creates an entry.
        public init(id: MemberId, name: String, kind: MemberKind, disabled: Bool) {
            self.id = id
            self.name = name
            self.kind = kind
            self.disabled = disabled
        }
    }

    /// A subsystem.
    public struct SubsystemEntry: Codable, Sendable, Hashable, Identifiable {
        /// `INSTANCE/CLASS/CODE/SUBSYSTEM`; the member part is the owner.
        public var id: SubsystemId

        /// Creates an entry.
        public init(id: SubsystemId) {
            self.id = id
        }
    }

    /// A security server.
    public struct ServerEntry: Codable, Sendable, Hashable, Identifiable {
        /// `INSTANCE/CLASS/CODE/SERVERCODE`; the member part is the owner.
        public var id: SecurityServerId
        /// The inter-server address, `host:port`.
        public var address: String
        /// Lower-case hex SHA-256 of the server's TLS certificate (DER): the pin peers check.
        public var tlsCertificateSHA256: String

        /// Creates an entry.
        public init(id: SecurityServerId, address: String, tlsCertificateSHA256: String) {
            self.id = id
            self.address = address
            self.tlsCertificateSHA256 = tlsCertificateSHA256
        }

        enum CodingKeys: String, CodingKey {
            case id, address
            case tlsCertificateSHA256 = "tls_certificate_sha256"
        }
    }

    /// A service and its endpoints.
    public struct ServiceEntry: Codable, Sendable, Hashable, Identifiable {
        /// `INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]`; the subsystem part is the provider.
        public var id: ServiceId
        /// A disabled service refuses calls.
        public var enabled: Bool
        /// Its endpoints, in registry order.
        public var endpoints: [ServiceEndpoint]

        /// Creates an entry.
        public init(id: ServiceId, enabled: Bool, endpoints: [ServiceEndpoint]) {
            self.id = id
            self.enabled = enabled
            self.endpoints = endpoints
        }
    }

    /// A dataset; its owner is the member part of its id.
    public struct DatasetEntry: Codable, Sendable, Hashable, Identifiable {
        /// `INSTANCE/CLASS/CODE/datasets/DATASET`.
        public var id: DatasetId
        /// The classification.
        public var classification: DataClassification
        /// Whether it holds personal data.
        public var personalData: Bool
        /// The services that expose it, sorted.
        public var services: [ServiceId]

        /// The owning member.
        public var owner: MemberId { id.owner }

        /// Creates an entry.
        public init(id: DatasetId, classification: DataClassification, personalData: Bool, services: [ServiceId]) {
            self.id = id
            self.classification = classification
            self.personalData = personalData
            self.services = services
        }

        enum CodingKeys: String, CodingKey {
            case id, classification, services
            case personalData = "personal_data"
        }
    }

    /// A sharing agreement in force.
    public struct AgreementEntry: Codable, Sendable, Hashable, Identifiable {
        /// The registry's agreement id, e.g. `AG-000001`.
        public var id: String
        /// The dataset shared.
        public var dataset: DatasetId
        /// The provider services it covers, sorted.
        public var services: [ServiceId]
        /// The consumer subsystem.
        public var consumer: SubsystemId
        /// Allowed purpose codes, sorted; empty means any purpose.
        public var purposes: [String]
        /// Start of validity (inclusive).
        public var validFrom: Date
        /// End of validity (exclusive).
        public var validUntil: Date
        /// The endpoints of its services the agreement narrows the call to, in registry order;
        /// `nil` (absent on the wire) means all of each service's endpoints.
        public var endpoints: [ServiceEndpoint]?

        /// Creates an entry.
        public init(id: String, dataset: DatasetId, services: [ServiceId], consumer: SubsystemId, purposes: [String],
                    validFrom: Date, validUntil: Date, endpoints: [ServiceEndpoint]? = nil) {
            self.id = id
            self.dataset = dataset
            self.services = services
            self.consumer = consumer
            self.purposes = purposes
            self.validFrom = validFrom
            self.validUntil = validUntil
            self.endpoints = endpoints
        }

        /// Whether the agreement covers a call at `time`: `valid_from <= time < valid_until`.
        public func isInForce(at time: Date) -> Bool {
            validFrom <= time && time < validUntil
        }

        /// Whether the agreement allows `purpose` (an empty purpose list allows any).
        public func allows(purpose: String) -> Bool {
            purposes.isEmpty || purposes.contains(purpose)
        }

        enum CodingKeys: String, CodingKey {
            case id, dataset, services, consumer, purposes, endpoints
            case validFrom = "valid_from"
            case validUntil = "valid_until"
        }

        /// Decodes an entry; dates are RFC 3339 UTC strings with whole seconds.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            id = try container.decode(String.self, forKey: .id)
            dataset = try container.decode(DatasetId.self, forKey: .dataset)
            services = try container.decode([ServiceId].self, forKey: .services)
            consumer = try container.decode(SubsystemId.self, forKey: .consumer)
            purposes = try container.decode([String].self, forKey: .purposes)
            validFrom = try GlobalConfigurationTime.decode(container, .validFrom)
            validUntil = try GlobalConfigurationTime.decode(container, .validUntil)
            endpoints = try container.decodeIfPresent([ServiceEndpoint].self, forKey: .endpoints)
        }

        /// Encodes the entry; dates as RFC 3339 UTC strings with whole seconds (truncated).
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(dataset, forKey: .dataset)
            try container.encode(services, forKey: .services)
            try container.encode(consumer, forKey: .consumer)
            try container.encode(purposes, forKey: .purposes)
            try container.encode(GlobalConfigurationTime.format(validFrom), forKey: .validFrom)
            try container.encode(GlobalConfigurationTime.format(validUntil), forKey: .validUntil)
            try container.encodeIfPresent(endpoints, forKey: .endpoints)
        }
    }

    /// Instance-wide limits every security server applies.
    public struct Policy: Codable, Sendable, Hashable {
        /// How old an OCSP response may be before a certificate must be re-checked: 3600 s by default.
        public var ocspFreshnessSeconds: Int
        /// How long a configuration is valid after it is generated: 600 s by default.
        public var configurationValiditySeconds: Int
        /// How often security servers sign log checkpoints: 60 s by default.
        public var checkpointIntervalSeconds: Int

        /// Creates a policy.
        public init(ocspFreshnessSeconds: Int = 3600, configurationValiditySeconds: Int = 600, checkpointIntervalSeconds: Int = 60) {
            self.ocspFreshnessSeconds = ocspFreshnessSeconds
            self.configurationValiditySeconds = configurationValiditySeconds
            self.checkpointIntervalSeconds = checkpointIntervalSeconds
        }

        /// Checks that every limit is positive.
        /// - Throws: ``GlobalConfigurationError/Code/invalidArgument`` naming the first bad limit.
        public func validate() throws(GlobalConfigurationError) {
            for (name, value) in [("ocsp_freshness_seconds", ocspFreshnessSeconds),
                                  ("configuration_validity_seconds", configurationValiditySeconds),
                                  ("checkpoint_interval_seconds", checkpointIntervalSeconds)] where value <= 0 {
                throw GlobalConfigurationError(.invalidArgument, "policy \(name) must be positive, not \(value)")
            }
        }

        enum CodingKeys: String, CodingKey {
            case ocspFreshnessSeconds = "ocsp_freshness_seconds"
            case configurationValiditySeconds = "configuration_validity_seconds"
            case checkpointIntervalSeconds = "checkpoint_interval_seconds"
        }
    }

    // MARK: Codable

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version"
        case instance, serial
        case generatedAt = "generated_at"
        case expiresAt = "expires_at"
        case approvedCAs = "approved_cas"
        case members, subsystems, servers, services, datasets, agreements, policy
        case dataPlaneActors = "data_plane_actors"
    }

    /// Thrown from ``init(from:)`` when `format_version` is not ``currentFormatVersion``, before
    /// anything else is decoded (a later format may change every other field).
    struct UnsupportedFormatVersion: Error {
        var version: Int
    }

    /// Decodes a document. `format_version` is read first; any other version than
    /// ``currentFormatVersion`` stops decoding.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try container.decode(Int.self, forKey: .formatVersion)
        guard formatVersion == Self.currentFormatVersion else {
            throw UnsupportedFormatVersion(version: formatVersion)
        }
        instance = try container.decode(String.self, forKey: .instance)
        serial = try container.decode(Int64.self, forKey: .serial)
        generatedAt = try GlobalConfigurationTime.decode(container, .generatedAt)
        expiresAt = try GlobalConfigurationTime.decode(container, .expiresAt)
        approvedCAs = try container.decode([ApprovedCA].self, forKey: .approvedCAs)
        members = try container.decode([MemberEntry].self, forKey: .members)
        subsystems = try container.decode([SubsystemEntry].self, forKey: .subsystems)
        servers = try container.decode([ServerEntry].self, forKey: .servers)
        services = try container.decode([ServiceEntry].self, forKey: .services)
        datasets = try container.decode([DatasetEntry].self, forKey: .datasets)
        agreements = try container.decode([AgreementEntry].self, forKey: .agreements)
        policy = try container.decode(Policy.self, forKey: .policy)
        dataPlaneActors = try container.decodeIfPresent(DataPlaneActors.self, forKey: .dataPlaneActors) ?? DataPlaneActors()
    }

    /// Encodes the document; dates as RFC 3339 UTC strings with whole seconds (truncated).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(formatVersion, forKey: .formatVersion)
        try container.encode(instance, forKey: .instance)
        try container.encode(serial, forKey: .serial)
        try container.encode(GlobalConfigurationTime.format(generatedAt), forKey: .generatedAt)
        try container.encode(GlobalConfigurationTime.format(expiresAt), forKey: .expiresAt)
        try container.encode(approvedCAs, forKey: .approvedCAs)
        try container.encode(members, forKey: .members)
        try container.encode(subsystems, forKey: .subsystems)
        try container.encode(servers, forKey: .servers)
        try container.encode(services, forKey: .services)
        try container.encode(datasets, forKey: .datasets)
        try container.encode(agreements, forKey: .agreements)
        try container.encode(policy, forKey: .policy)
        if !dataPlaneActors.isEmpty {
            try container.encode(dataPlaneActors, forKey: .dataPlaneActors)
        }
    }

    // MARK: Canonical form

    /// The RFC 8785 (JCS) canonical JSON bytes of the document: what the registry signs.
    ///
    /// A dedicated writer produces them (Foundation's `JSONEncoder` is too slow for a
    /// national-scale document: 2 s for 26 MB). It is RFC 8785 by construction for this
    /// document: object keys are written in sorted order (all keys are lower-case ASCII, so
    /// code-point order is JCS's UTF-16 order); every number is an integer, written in decimal;
    /// strings escape exactly `"`, `\`, `\b \t \n \f \r` and other C0 controls (as
    /// lower-case `\u00xx`), everything else — `/`, DEL, U+2028, non-ASCII — is literal UTF-8;
    /// no whitespace. The output is byte-identical to this type's `Codable` encoding through
    /// `JSONEncoder` with `.sortedKeys` and `.withoutEscapingSlashes`, and to Python's
    /// `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`; the tests check
    /// both, and `scripts/verify_global_configuration.py` re-checks the latter on every document
    /// it verifies. (``CanonicalJSON`` is not used: it has no booleans.)
    public func canonicalJSON() throws(GlobalConfigurationError) -> [UInt8] {
        var writer = GlobalConfigurationJSONWriter(capacity: 256 * (services.count + agreements.count + subsystems.count) + 4096)
        writer.write(self)
        return writer.bytes
    }

    /// Decodes a document from JSON bytes (canonical or not: whitespace and any string escapes
    /// are accepted). Unknown, duplicate and missing keys are errors: format version 1 is closed.
    /// - Throws: ``GlobalConfigurationError/Code/unsupportedVersion`` for another `format_version`,
    ///   ``GlobalConfigurationError/Code/malformed`` for anything else that does not fit.
    public init(jsonBytes bytes: some Collection<UInt8>) throws(GlobalConfigurationError) {
        self = try GlobalConfigurationJSONReader.decode(bytes)
    }

    // MARK: Simple queries

    /// Whether the document is void at `time` (`time >= expires_at`).
    public func isExpired(at time: Date) -> Bool {
        time >= expiresAt
    }

    /// The security server with `id`, if listed (linear search; see ``GlobalConfigurationIndex``).
    public func server(_ id: SecurityServerId) -> ServerEntry? {
        servers.first { $0.id == id }
    }

    /// The agreements that let `consumer` call `service` at `time` (linear search; a security
    /// server should use ``GlobalConfigurationIndex/agreements(consumer:service:at:)``).
    public func agreements(consumer: SubsystemId, service: ServiceId, at time: Date) -> [AgreementEntry] {
        agreements.filter { $0.consumer == consumer && $0.isInForce(at: time) && $0.services.contains(service) }
    }
}

/// RFC 3339 UTC timestamps with whole seconds, `YYYY-MM-DDTHH:MM:SSZ`, formatted and parsed
/// without `DateFormatter` (fast, locale-free, and exactly one spelling per instant).
enum GlobalConfigurationTime {
    /// The earliest instant written, 0001-01-01T00:00:00Z.
    static let minimumSeconds: Int64 = -62_135_596_800
    /// The latest instant written, 9999-12-31T23:59:59Z.
    static let maximumSeconds: Int64 = 253_402_300_799

    /// Whole seconds since 1970, rounded down and clamped to years 1...9999.
    static func seconds(_ date: Date) -> Int64 {
        let value = date.timeIntervalSince1970.rounded(.down)
        guard value.isFinite else { return value < 0 ? minimumSeconds : maximumSeconds }
        if value <= Double(minimumSeconds) { return minimumSeconds }
        if value >= Double(maximumSeconds) { return maximumSeconds }
        return Int64(value)
    }

    /// `date` truncated to whole seconds (and clamped to years 1...9999): what survives encoding.
    static func truncated(_ date: Date) -> Date {
        Date(timeIntervalSince1970: TimeInterval(seconds(date)))
    }

    /// Formats `date` as `YYYY-MM-DDTHH:MM:SSZ`, truncating fractions of a second.
    static func format(_ date: Date) -> String {
        let total = seconds(date)
        var days = total / 86_400
        var secondOfDay = total % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let (year, month, day) = civil(fromDays: days)
        var bytes = [UInt8](repeating: 0, count: 20)
        func put(_ value: Int64, at offset: Int, width: Int) {
            var v = value
            for i in stride(from: offset + width - 1, through: offset, by: -1) {
                bytes[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            }
        }
        put(year, at: 0, width: 4)
        bytes[4] = UInt8(ascii: "-")
        put(month, at: 5, width: 2)
        bytes[7] = UInt8(ascii: "-")
        put(day, at: 8, width: 2)
        bytes[10] = UInt8(ascii: "T")
        put(secondOfDay / 3600, at: 11, width: 2)
        bytes[13] = UInt8(ascii: ":")
        put(secondOfDay / 60 % 60, at: 14, width: 2)
        bytes[16] = UInt8(ascii: ":")
        put(secondOfDay % 60, at: 17, width: 2)
        bytes[19] = UInt8(ascii: "Z")
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses exactly the form ``format(_:)`` writes; `nil` for anything else.
    static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              bytes[19] == UInt8(ascii: "Z") else { return nil }
        func number(_ offset: Int, _ width: Int) -> Int64? {
            var value: Int64 = 0
            for byte in bytes[offset..<offset + width] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              year >= 1, (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60 else {
            return nil
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        // Reject impossible days (2026-02-30) by requiring an exact round trip.
        guard civil(fromDays: days) == (year, month, day) else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + hour * 3600 + minute * 60 + second))
    }

    /// Decodes a timestamp field, with a `DecodingError` naming it if the text is not one.
    static func decode<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, _ key: Key) throws -> Date {
        let text = try container.decode(String.self, forKey: key)
        guard let date = parse(text) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container, debugDescription: "\"\(text)\" is not a UTC timestamp YYYY-MM-DDTHH:MM:SSZ")
        }
        return date
    }

    // Howard Hinnant's civil calendar algorithms (proleptic Gregorian).
    private static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func daysFromCivil(year y0: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
