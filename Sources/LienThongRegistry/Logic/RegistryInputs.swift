import Foundation
import LienThongCore

// The bodies of the registry's management operations. On the wire they are JSON objects with
// snake_case keys; decode them with `RegistryJSON.makeDecoder()`. Identifiers are their
// canonical strings, dates ISO 8601 date-times (the registry keeps whole seconds).

/// Registers a member.
public struct NewMember: Codable, Sendable, Hashable {
    /// `INSTANCE/CLASS/CODE`; the instance must be the registry's.
    public var id: MemberId
    /// The official Vietnamese name; must not be blank.
    public var name: String
    /// The English name, if any.
    public var nameEn: String?
    /// The kind of agency.
    public var kind: MemberKind

    /// Creates the input.
    public init(id: MemberId, name: String, nameEn: String? = nil, kind: MemberKind) {
        self.id = id
        self.name = name
        self.nameEn = nameEn
        self.kind = kind
    }
}

/// Registers a subsystem of an existing, enabled member (the member is part of the id).
public struct NewSubsystem: Codable, Sendable, Hashable {
    /// `INSTANCE/CLASS/CODE/SUBSYSTEM`.
    public var id: SubsystemId
    /// A human name.
    public var name: String?

    /// Creates the input.
    public init(id: SubsystemId, name: String? = nil) {
        self.id = id
        self.name = name
    }
}

/// Registers a security server of an existing, enabled member (the owner is part of the id).
public struct NewSecurityServer: Codable, Sendable, Hashable {
    /// `INSTANCE/CLASS/CODE/SERVERCODE`.
    public var id: SecurityServerId
    /// The inter-server address, `host:port` (`[v6]:port` for IPv6 literals).
    public var address: String
    /// The server's TLS certificate, PEM; the first `CERTIFICATE` block is pinned (a chain may
    /// follow). No private key.
    public var tlsCertificate: String
    /// The nodes that run the server (`audit.node` of each); `["default"]` if absent. 1 to 16
    /// distinct names of 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
    public var nodes: [String]?

    /// Creates the input.
    public init(id: SecurityServerId, address: String, tlsCertificate: String, nodes: [String]? = nil) {
        self.id = id
        self.address = address
        self.tlsCertificate = tlsCertificate
        self.nodes = nodes
    }
}

/// Registers a service of an existing provider subsystem (the subsystem is part of the id).
public struct NewService: Codable, Sendable, Hashable {
    /// `INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]`.
    public var id: ServiceId
    /// A human name.
    public var name: String?
    /// The service's OpenAPI 3 document (JSON or YAML text); `open_api` on the wire.
    public var openAPI: String?
    /// The endpoints; methods are upper-cased, paths must start with `/`. None if absent.
    public var endpoints: [ServiceEndpoint]?
    /// Whether calls are accepted; `true` if absent.
    public var enabled: Bool?

    /// Creates the input.
    public init(id: ServiceId, name: String? = nil, openAPI: String? = nil, endpoints: [ServiceEndpoint]? = nil, enabled: Bool? = nil) {
        self.id = id
        self.name = name
        self.openAPI = openAPI
        self.endpoints = endpoints
        self.enabled = enabled
    }

    /// The keys; `openApi` is what Foundation's `.convertFromSnakeCase` makes of `open_api`,
    /// `openAPI` what ``RegistryJSON/makeDecoder()`` and a plain decoder see.
    private enum CodingKeys: String, CodingKey {
        case id, name, openAPI, openApi, endpoints, enabled
    }

    /// Decodes the input, accepting `open_api` through either snake_case decoder.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(ServiceId.self, forKey: .id)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        openAPI = try container.decodeIfPresent(String.self, forKey: .openAPI)
            ?? container.decodeIfPresent(String.self, forKey: .openApi)
        endpoints = try container.decodeIfPresent([ServiceEndpoint].self, forKey: .endpoints)
        enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled)
    }

    /// Encodes the input (`open_api` under a snake_case encoder).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encodeIfPresent(openAPI, forKey: .openAPI)
        try container.encodeIfPresent(endpoints, forKey: .endpoints)
        try container.encodeIfPresent(enabled, forKey: .enabled)
    }
}

/// Registers a dataset of an existing, enabled member (the owner is part of the id).
public struct NewDataset: Codable, Sendable, Hashable {
    /// `INSTANCE/CLASS/CODE/datasets/DATASET`.
    public var id: DatasetId
    /// The Vietnamese name; must not be blank.
    public var nameVi: String
    /// The English name; must not be blank.
    public var nameEn: String
    /// The classification.
    public var classification: DataClassification
    /// Whether it holds personal data.
    public var personalData: Bool
    /// The legal basis, e.g. "Nghị định 47/2020/NĐ-CP"; must not be blank.
    public var legalBasis: String
    /// The services exposing it; each must exist and belong to the owner member.
    public var services: [ServiceId]

    /// Creates the input.
    public init(id: DatasetId, nameVi: String, nameEn: String, classification: DataClassification, personalData: Bool,
                legalBasis: String, services: [ServiceId]) {
        self.id = id
        self.nameVi = nameVi
        self.nameEn = nameEn
        self.classification = classification
        self.personalData = personalData
        self.legalBasis = legalBasis
        self.services = services
    }
}

/// Creates a sharing agreement directly (without an access request).
public struct NewAgreement: Codable, Sendable, Hashable {
    /// The dataset shared.
    public var dataset: DatasetId
    /// The dataset owner's services it covers; not empty, each exposing the dataset.
    public var services: [ServiceId]
    /// The consumer subsystem; its member must be enabled.
    public var consumer: SubsystemId
    /// Allowed purpose codes (`^[A-Za-z0-9.\-_]{1,64}$`); empty means any purpose.
    public var purposes: [String]
    /// The legal basis; must not be blank.
    public var legalBasis: String
    /// Start of validity.
    public var validFrom: Date
    /// End of validity; must be after `validFrom`.
    public var validUntil: Date
    /// The endpoints the agreement narrows calls to; each must be one of the registered endpoints
    /// of one of `services`. Absent: all of each service's endpoints.
    public var endpoints: [ServiceEndpoint]?

    /// Creates the input.
    public init(dataset: DatasetId, services: [ServiceId], consumer: SubsystemId, purposes: [String], legalBasis: String,
                validFrom: Date, validUntil: Date, endpoints: [ServiceEndpoint]? = nil) {
        self.endpoints = endpoints
        self.dataset = dataset
        self.services = services
        self.consumer = consumer
        self.purposes = purposes
        self.legalBasis = legalBasis
        self.validFrom = validFrom
        self.validUntil = validUntil
    }
}

/// A consumer's request for access to a dataset.
public struct NewAccessRequest: Codable, Sendable, Hashable {
    /// Who asks.
    public var consumer: SubsystemId
    /// For what.
    public var dataset: DatasetId
    /// Through which services; absent or empty means every service exposing the dataset.
    public var services: [ServiceId]?
    /// Purpose codes (`^[A-Za-z0-9.\-_]{1,64}$`).
    public var purposes: [String]
    /// Why the consumer needs the data; must not be blank.
    public var justification: String
    /// The legal basis the consumer invokes; must not be blank.
    public var legalBasis: String
    /// Requested end of validity; must be in the future. One year from approval if absent.
    public var requestedUntil: Date?
    /// The endpoints asked for; each must be a registered endpoint of one of the services asked
    /// for (of the dataset's services if none). Absent: all of them.
    public var endpoints: [ServiceEndpoint]?

    /// Creates the input.
    public init(consumer: SubsystemId, dataset: DatasetId, services: [ServiceId]? = nil, purposes: [String],
                justification: String, legalBasis: String, requestedUntil: Date? = nil, endpoints: [ServiceEndpoint]? = nil) {
        self.endpoints = endpoints
        self.consumer = consumer
        self.dataset = dataset
        self.services = services
        self.purposes = purposes
        self.justification = justification
        self.legalBasis = legalBasis
        self.requestedUntil = requestedUntil
    }
}

/// The decision on a pending access request.
///
/// A refusal must carry a non-blank `reason` and `legal_basis` (Decree 194/2025 Art. 16). An
/// approval creates an agreement valid from `valid_from` (default: now) until `valid_until`
/// (default: the request's `requested_until`, else one year after the start), on `legal_basis`
/// (default: the request's).
public struct AccessDecisionInput: Codable, Sendable, Hashable {
    /// Approve or refuse.
    public var outcome: AccessDecision.Outcome
    /// The written reason (required to refuse).
    public var reason: String?
    /// The legal basis (required to refuse).
    public var legalBasis: String?
    /// Start of the agreement's validity (approval only).
    public var validFrom: Date?
    /// End of the agreement's validity (approval only).
    public var validUntil: Date?
    /// The endpoints the agreement narrows calls to (approval only; default: the request's).
    public var endpoints: [ServiceEndpoint]?

    /// Creates the input.
    public init(outcome: AccessDecision.Outcome, reason: String? = nil, legalBasis: String? = nil,
                validFrom: Date? = nil, validUntil: Date? = nil, endpoints: [ServiceEndpoint]? = nil) {
        self.endpoints = endpoints
        self.outcome = outcome
        self.reason = reason
        self.legalBasis = legalBasis
        self.validFrom = validFrom
        self.validUntil = validUntil
    }
}

/// A pending access request with its age, for "requests without a decision show their age".
public struct PendingAccessRequest: Codable, Sendable, Hashable {
    /// The request.
    public var request: AccessRequest
    /// Whole seconds since it was filed (`age_seconds` on the wire).
    public var ageSeconds: Int64
    /// Whole days since it was filed (`age_days` on the wire).
    public var ageDays: Int64

    /// Creates the value.
    public init(request: AccessRequest, ageSeconds: Int64) {
        self.request = request
        self.ageSeconds = ageSeconds
        self.ageDays = ageSeconds / 86_400
    }
}
