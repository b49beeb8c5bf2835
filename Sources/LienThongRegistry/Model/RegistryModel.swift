import Foundation
import LienThongCore

// The registry's entities. JSON uses snake_case keys (see schemas/registry-api.openapi.yaml);
// identifiers encode as their canonical strings; dates as RFC 3339 / ISO 8601 UTC.

/// What kind of agency a member is; the compliance view groups by it (22 ministries, 63 provinces).
public enum MemberKind: String, Codable, Sendable, Hashable, CaseIterable {
    /// A ministry or ministry-level agency (Bộ, ngành).
    case ministry
    /// A province or centrally-run city (tỉnh, thành phố), typically through its LGSP.
    case province
    /// The national platform operator or another central agency.
    case central
    /// Anything else (state enterprise, public service unit, ...).
    case other
}

/// An agency registered in the instance.
public struct Member: Codable, Sendable, Hashable, Identifiable {
    /// `INSTANCE/CLASS/CODE`.
    public var id: MemberId
    /// The official name, in Vietnamese.
    public var name: String
    /// The English name, if any.
    public var nameEn: String?
    /// The kind of agency.
    public var kind: MemberKind
    /// A disabled member keeps its history but may neither consume nor provide.
    public var disabled: Bool
    /// When the member was registered.
    public var createdAt: Date

    /// Creates a member.
    public init(id: MemberId, name: String, nameEn: String? = nil, kind: MemberKind, disabled: Bool = false, createdAt: Date) {
        self.id = id
        self.name = name
        self.nameEn = nameEn
        self.kind = kind
        self.disabled = disabled
        self.createdAt = createdAt
    }
}

/// An information system of a member: the unit that consumes and provides services.
public struct Subsystem: Codable, Sendable, Hashable, Identifiable {
    /// `INSTANCE/CLASS/CODE/SUBSYSTEM`.
    public var id: SubsystemId
    /// A human name.
    public var name: String?
    /// When it was registered.
    public var createdAt: Date

    /// Creates a subsystem.
    public init(id: SubsystemId, name: String? = nil, createdAt: Date) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
    }
}

/// A security server run by a member.
public struct SecurityServer: Codable, Sendable, Hashable, Identifiable {
    /// `INSTANCE/CLASS/CODE/SERVERCODE`.
    public var id: SecurityServerId
    /// The inter-server address, `host:port`.
    public var address: String
    /// The server's TLS certificate (PEM), as registered.
    public var tlsCertificate: String
    /// Lower-case hex SHA-256 of the TLS certificate's DER: the pin peers check.
    public var tlsCertificateSHA256: String
    /// When it was registered.
    public var createdAt: Date
    /// The nodes (audit-log partitions, `audit.node`) that run it: the registry accepts
    /// checkpoints only for these (`docs/audit-checkpoints.md`). Records stored before the field
    /// existed read as ``defaultNodes``.
    public var nodes: [String]

    /// The nodes of a server that declares none: the one node every server runs by default.
    public static let defaultNodes = ["default"]

    /// Creates a security server record.
    public init(id: SecurityServerId, address: String, tlsCertificate: String, tlsCertificateSHA256: String, createdAt: Date,
                nodes: [String] = SecurityServer.defaultNodes) {
        self.id = id
        self.address = address
        self.tlsCertificate = tlsCertificate
        self.tlsCertificateSHA256 = tlsCertificateSHA256
        self.createdAt = createdAt
        self.nodes = nodes
    }

    private enum CodingKeys: String, CodingKey {
        case id, address, tlsCertificate, tlsCertificateSHA256, createdAt, nodes
    }

    /// Decodes a record; one stored without `nodes` gets ``defaultNodes``.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(SecurityServerId.self, forKey: .id)
        address = try c.decode(String.self, forKey: .address)
        tlsCertificate = try c.decode(String.self, forKey: .tlsCertificate)
        tlsCertificateSHA256 = try c.decode(String.self, forKey: .tlsCertificateSHA256)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        nodes = try c.decodeIfPresent([String].self, forKey: .nodes) ?? Self.defaultNodes
    }
}

/// One REST endpoint of a service.
public struct ServiceEndpoint: Codable, Sendable, Hashable {
    /// HTTP method, upper case, or `*` for any.
    public var method: String
    /// Path template, e.g. `/v1/cong-dan/{so-dinh-danh}`; `/*` for any.
    public var path: String

    /// Creates an endpoint.
    public init(method: String, path: String) {
        self.method = method
        self.path = path
    }
}

/// A REST service offered by a provider subsystem.
public struct Service: Codable, Sendable, Hashable, Identifiable {
    /// `INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]`.
    public var id: ServiceId
    /// A human name.
    public var name: String?
    /// The service's OpenAPI 3 document (JSON or YAML text), if registered.
    public var openAPI: String?
    /// Its endpoints.
    public var endpoints: [ServiceEndpoint]
    /// A disabled service is listed but refuses calls.
    public var enabled: Bool
    /// When it was registered.
    public var createdAt: Date

    /// Creates a service.
    public init(id: ServiceId, name: String? = nil, openAPI: String? = nil, endpoints: [ServiceEndpoint] = [], enabled: Bool = true, createdAt: Date) {
        self.id = id
        self.name = name
        self.openAPI = openAPI
        self.endpoints = endpoints
        self.enabled = enabled
        self.createdAt = createdAt
    }
}

/// How sensitive a dataset is.
public enum DataClassification: String, Codable, Sendable, Hashable, CaseIterable {
    /// Công khai.
    case `public`
    /// Nội bộ.
    case `internal`
    /// Mật.
    case confidential
    /// Tối mật / tuyệt mật.
    case secret
}

/// A digital data asset with one owning agency (its single source of truth).
public struct Dataset: Codable, Sendable, Hashable, Identifiable {
    /// `INSTANCE/CLASS/CODE/datasets/DATASET`; the member part is the owner.
    public var id: DatasetId
    /// The Vietnamese name.
    public var nameVi: String
    /// The English name.
    public var nameEn: String
    /// The classification.
    public var classification: DataClassification
    /// Whether it holds personal data.
    public var personalData: Bool
    /// The legal basis for holding and sharing it, e.g. "Nghị định 47/2020/NĐ-CP".
    public var legalBasis: String
    /// The services that expose it; each must belong to the owner.
    public var services: [ServiceId]
    /// When it was registered.
    public var createdAt: Date

    /// The owning member.
    public var owner: MemberId { id.owner }

    /// Creates a dataset.
    public init(id: DatasetId, nameVi: String, nameEn: String, classification: DataClassification, personalData: Bool,
                legalBasis: String, services: [ServiceId], createdAt: Date) {
        self.id = id
        self.nameVi = nameVi
        self.nameEn = nameEn
        self.classification = classification
        self.personalData = personalData
        self.legalBasis = legalBasis
        self.services = services
        self.createdAt = createdAt
    }
}

/// The state of a sharing agreement.
public enum AgreementStatus: String, Codable, Sendable, Hashable, CaseIterable {
    /// In force (within its validity dates).
    case active
    /// Temporarily not in force; may be reactivated.
    case suspended
    /// Past `valid_until`.
    case expired
    /// Ended for good.
    case revoked
}

/// A sharing agreement: a consumer subsystem may read a provider's dataset through some of its
/// services, for listed purposes, on a legal basis, between two dates.
public struct Agreement: Codable, Sendable, Hashable, Identifiable {
    /// Registry-assigned id, e.g. `AG-000001`.
    public var id: String
    /// The dataset shared.
    public var dataset: DatasetId
    /// The provider's services the agreement covers; each must expose the dataset.
    public var services: [ServiceId]
    /// The consumer.
    public var consumer: SubsystemId
    /// Allowed purpose codes (e.g. administrative-procedure codes); empty means any purpose.
    public var purposes: [String]
    /// The legal basis.
    public var legalBasis: String
    /// Start of validity.
    public var validFrom: Date
    /// End of validity.
    public var validUntil: Date
    /// The status.
    public var status: AgreementStatus
    /// The access request it came from, if any.
    public var accessRequestId: String?
    /// When it was created.
    public var createdAt: Date
    /// The endpoints of its services it narrows calls to (each one of a service's registered
    /// endpoints); absent means all of each service's endpoints.
    public var endpoints: [ServiceEndpoint]?

    /// Whether it covers a call at `time` (status active and within the dates).
    public func isInForce(at time: Date) -> Bool {
        status == .active && validFrom <= time && time < validUntil
    }

    /// Creates an agreement.
    public init(id: String, dataset: DatasetId, services: [ServiceId], consumer: SubsystemId, purposes: [String],
                legalBasis: String, validFrom: Date, validUntil: Date, status: AgreementStatus,
                accessRequestId: String? = nil, createdAt: Date, endpoints: [ServiceEndpoint]? = nil) {
        self.endpoints = endpoints
        self.id = id
        self.dataset = dataset
        self.services = services
        self.consumer = consumer
        self.purposes = purposes
        self.legalBasis = legalBasis
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.status = status
        self.accessRequestId = accessRequestId
        self.createdAt = createdAt
    }
}

/// The decision on an access request.
public struct AccessDecision: Codable, Sendable, Hashable {
    /// Approved or refused.
    public enum Outcome: String, Codable, Sendable, Hashable {
        /// Approved: an agreement was created.
        case approved
        /// Refused: with a written reason and legal basis (Decree 194/2025 Art. 16).
        case refused
    }

    /// The outcome.
    public var outcome: Outcome
    /// The written reason (required for a refusal).
    public var reason: String?
    /// The legal basis of the decision (required for a refusal).
    public var legalBasis: String?
    /// Who decided (certificate subject of the caller).
    public var decidedBy: String
    /// When.
    public var decidedAt: Date
    /// The agreement created on approval.
    public var agreementId: String?

    /// Creates a decision.
    public init(outcome: Outcome, reason: String?, legalBasis: String?, decidedBy: String, decidedAt: Date, agreementId: String?) {
        self.outcome = outcome
        self.reason = reason
        self.legalBasis = legalBasis
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
        self.agreementId = agreementId
    }
}

/// A consumer's request for access to a dataset.
public struct AccessRequest: Codable, Sendable, Hashable, Identifiable {
    /// Registry-assigned id, e.g. `AR-000001`.
    public var id: String
    /// Who asks.
    public var consumer: SubsystemId
    /// For what.
    public var dataset: DatasetId
    /// Through which services (empty: all services exposing the dataset).
    public var services: [ServiceId]
    /// For which purposes.
    public var purposes: [String]
    /// Why the consumer needs it.
    public var justification: String
    /// The legal basis the consumer invokes.
    public var legalBasis: String
    /// Requested validity end.
    public var requestedUntil: Date?
    /// When it was filed.
    public var requestedAt: Date
    /// The decision, once taken.
    public var decision: AccessDecision?
    /// The endpoints asked for (absent: all of the services' endpoints).
    public var endpoints: [ServiceEndpoint]?

    /// Creates a request.
    public init(id: String, consumer: SubsystemId, dataset: DatasetId, services: [ServiceId], purposes: [String],
                justification: String, legalBasis: String, requestedUntil: Date?, requestedAt: Date, decision: AccessDecision? = nil,
                endpoints: [ServiceEndpoint]? = nil) {
        self.endpoints = endpoints
        self.id = id
        self.consumer = consumer
        self.dataset = dataset
        self.services = services
        self.purposes = purposes
        self.justification = justification
        self.legalBasis = legalBasis
        self.requestedUntil = requestedUntil
        self.requestedAt = requestedAt
        self.decision = decision
    }
}

/// One entry of the hash-chained admin audit trail.
public struct AdminAuditEntry: Codable, Sendable, Hashable {
    /// Position in the trail, from 1.
    public var sequence: Int64
    /// When.
    public var at: Date
    /// The caller's certificate subject (or `cli:local` for offline maintenance).
    public var actor: String
    /// The role of the caller's registration (`instance-admin`, `member-operator`, `viewer`,
    /// `auditor`); absent for local maintenance and for entries written before roles existed.
    public var actorRole: ActorRole?
    /// The member the caller acted for (member operators, viewers), or on whose behalf an
    /// instance administrator decided; absent otherwise.
    public var actorMember: MemberId?
    /// What was done, e.g. `member.create`, `agreement.suspend`, `auditor.query`.
    public var action: String
    /// The entity's kind and id, e.g. `member VN/GOV/000.00.00.G22`.
    public var entity: String
    /// The entity before (canonical JSON text), if it existed.
    public var before: String?
    /// The entity after (canonical JSON text), if it still exists.
    public var after: String?
    /// `hash` of the previous entry (64 zero hex digits for the first).
    public var previousHash: String
    /// Lower-case hex SHA-256 over the canonical JSON of every other field (see docs/registry.md).
    public var hash: String
}

/// Everything the registry holds (but the audit trail), at one revision: what the global
/// configuration is built from.
public struct RegistrySnapshot: Sendable, Hashable {
    /// Increases by one with every committed change.
    public var revision: Int64
    /// All members, disabled ones included.
    public var members: [Member]
    /// All subsystems.
    public var subsystems: [Subsystem]
    /// All security servers.
    public var servers: [SecurityServer]
    /// All services.
    public var services: [Service]
    /// All datasets.
    public var datasets: [Dataset]
    /// All agreements, whatever their status.
    public var agreements: [Agreement]
    /// All access requests.
    public var accessRequests: [AccessRequest]
    /// Every certificate registration (roles), revoked ones included.
    public var registrations: [ActorRegistration]
    /// Every management request.
    public var managementRequests: [ManagementRequest]

    /// Creates a snapshot.
    public init(revision: Int64 = 0, members: [Member] = [], subsystems: [Subsystem] = [], servers: [SecurityServer] = [],
                services: [Service] = [], datasets: [Dataset] = [], agreements: [Agreement] = [], accessRequests: [AccessRequest] = [],
                registrations: [ActorRegistration] = [], managementRequests: [ManagementRequest] = []) {
        self.revision = revision
        self.members = members
        self.subsystems = subsystems
        self.servers = servers
        self.services = services
        self.datasets = datasets
        self.agreements = agreements
        self.accessRequests = accessRequests
        self.registrations = registrations
        self.managementRequests = managementRequests
    }
}
