import Foundation
import LienThongCore

// Who may act on the registry (docs/registry.md, "Roles"; ARCHITECTURE §10). A person or system
// proves itself with a TLS client certificate; the registry decides what that certificate may do
// from its own records — a registration keyed by the certificate's SHA-256 — never from the
// certificate's subject alone. A real government CA issues certificates that know nothing of
// LienThong, so a subject's `OU` grants nothing here.

/// The role a registered certificate holds at the registry.
public enum ActorRole: String, Codable, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The operator of the national registry: approves registrations, manages members, CAs and
    /// policy, may decide an access request on an owner's behalf. Acts for no member.
    case instanceAdmin = "instance-admin"
    /// An agency's own staff: submits management requests for its own member, decides access
    /// requests to its own datasets, suspends or revokes agreements on them, runs the veto of its
    /// own servers.
    case memberOperator = "member-operator"
    /// An agency's leadership: reads its own member's objects, changes nothing.
    case viewer
    /// A state auditor or a national leader: reads everything through the auditor API; every query
    /// is recorded.
    case auditor

    /// Whether a registration of this role must name the member it acts for.
    public var actsForMember: Bool { self == .memberOperator || self == .viewer }

    /// The raw value.
    public var description: String { rawValue }
}

/// A certificate the registry knows, with the role it holds and the member it acts for.
public struct ActorRegistration: Codable, Sendable, Hashable, Identifiable {
    /// Lower-case hex SHA-256 of the certificate's DER: how the registry recognises the holder.
    /// A renewed certificate is a new registration.
    public var certificateSHA256: String
    /// The certificate (PEM), as registered.
    public var certificate: String
    /// The certificate's subject, for people reading the trail.
    public var subject: String
    /// The role.
    public var role: ActorRole
    /// The member the holder acts for: required for member operators and viewers, absent for
    /// instance administrators and auditors.
    public var member: MemberId?
    /// A human name for the holder (a person or an office), free text.
    public var name: String
    /// When it was registered.
    public var createdAt: Date
    /// When it was revoked; a revoked registration is refused at once on every API.
    public var revokedAt: Date?

    /// The registration's id: the certificate hash.
    public var id: String { certificateSHA256 }

    /// Whether it may act now.
    public var isActive: Bool { revokedAt == nil }

    /// Creates a registration.
    public init(certificateSHA256: String, certificate: String, subject: String, role: ActorRole, member: MemberId?,
                name: String, createdAt: Date, revokedAt: Date? = nil) {
        self.certificateSHA256 = certificateSHA256
        self.certificate = certificate
        self.subject = subject
        self.role = role
        self.member = member
        self.name = name
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// Who performs a registry operation, as the admin trail records it: the certificate's subject,
/// and — for a caller that came through the API — the role and member of its registration.
///
/// An actor without a role is local maintenance (`lienthong registry ...` against the store file
/// on the registry's own host, or a test): whoever can write the store file is the registry's
/// operator already, and the trail says so (`cli:local`).
public struct RegistryActor: Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The certificate subject, or a local name such as `cli:local`.
    public var subject: String
    /// The role of the caller's registration; `nil` for local maintenance.
    public var role: ActorRole?
    /// The member the caller acts for (member operators and viewers).
    public var member: MemberId?
    /// The SHA-256 of the caller's certificate, when it came with one.
    public var certificateSHA256: String?

    /// Creates an actor.
    public init(subject: String, role: ActorRole? = nil, member: MemberId? = nil, certificateSHA256: String? = nil) {
        self.subject = subject
        self.role = role
        self.member = member
        self.certificateSHA256 = certificateSHA256
    }

    /// A local maintenance actor named `value`.
    public init(stringLiteral value: String) {
        self.init(subject: value)
    }

    /// The caller for a registration.
    public init(_ registration: ActorRegistration) {
        self.init(subject: registration.subject, role: registration.role, member: registration.member,
                  certificateSHA256: registration.certificateSHA256)
    }

    /// Local maintenance: no role, full rights.
    public var isLocal: Bool { role == nil }

    /// Whether the actor may act as the registry's administrator (an instance administrator, or
    /// local maintenance).
    public var isAdministrator: Bool { role == nil || role == .instanceAdmin }

    /// Whether the actor may act for `member`: an administrator, or that member's operator.
    public func mayActFor(_ member: MemberId) -> Bool {
        isAdministrator || (role == .memberOperator && self.member == member)
    }

    /// Whether the actor may read `member`'s private objects (agreements, requests): anyone who may
    /// act for it, its viewers, and auditors.
    public func mayRead(_ member: MemberId) -> Bool {
        mayActFor(member) || role == .auditor || (role == .viewer && self.member == member)
    }

    /// `role member subject`, for messages.
    public var description: String {
        [role?.rawValue ?? "local", member?.canonical, subject].compactMap { $0 }.joined(separator: " ")
    }
}

/// What a member operator asks the instance administrator to do for its member.
public enum ManagementRequestChange: Sendable, Hashable {
    /// Add a subsystem.
    case addSubsystem(NewSubsystem)
    /// Register a security server (address and TLS certificate, pinned once approved).
    case registerServer(NewSecurityServer)
    /// Register a service with its endpoints.
    case registerService(NewService)
    /// Change a registered service: its name, OpenAPI document and endpoints.
    case changeService(NewService)
    /// Disable a service (it stays listed and refuses calls).
    case disableService(ServiceId)
    /// Enable a disabled service.
    case enableService(ServiceId)
    /// Declare a dataset the member owns.
    case declareDataset(NewDataset)

    /// The request type as the API names it.
    public var type: String {
        switch self {
        case .addSubsystem: "subsystem.add"
        case .registerServer: "server.register"
        case .registerService: "service.register"
        case .changeService: "service.change"
        case .disableService: "service.disable"
        case .enableService: "service.enable"
        case .declareDataset: "dataset.declare"
        }
    }

    /// Every type, for messages and the OpenAPI document.
    public static let types = ["subsystem.add", "server.register", "service.register", "service.change",
                               "service.disable", "service.enable", "dataset.declare"]

    /// The member the change is for: the owner named in the object's id.
    public var member: MemberId {
        switch self {
        case .addSubsystem(let input): input.id.member
        case .registerServer(let input): input.id.owner
        case .registerService(let input), .changeService(let input): input.id.subsystem.member
        case .disableService(let id), .enableService(let id): id.subsystem.member
        case .declareDataset(let input): input.id.owner
        }
    }

    /// The object's kind and id, as the trail names entities.
    public var entity: String {
        switch self {
        case .addSubsystem(let input): "subsystem \(input.id.canonical)"
        case .registerServer(let input): "server \(input.id.canonical)"
        case .registerService(let input), .changeService(let input): "service \(input.id.canonical)"
        case .disableService(let id), .enableService(let id): "service \(id.canonical)"
        case .declareDataset(let input): "dataset \(input.id.canonical)"
        }
    }
}

extension ManagementRequestChange: Codable {
    private enum CodingKeys: String, CodingKey {
        case type, subsystem, server, service, dataset
    }

    /// Decodes `{"type": "...", "<object>": {...}}`; the object key must match the type.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "subsystem.add": self = .addSubsystem(try container.decode(NewSubsystem.self, forKey: .subsystem))
        case "server.register": self = .registerServer(try container.decode(NewSecurityServer.self, forKey: .server))
        case "service.register": self = .registerService(try container.decode(NewService.self, forKey: .service))
        case "service.change": self = .changeService(try container.decode(NewService.self, forKey: .service))
        case "service.disable": self = .disableService(try container.decode(ServiceId.self, forKey: .service))
        case "service.enable": self = .enableService(try container.decode(ServiceId.self, forKey: .service))
        case "dataset.declare": self = .declareDataset(try container.decode(NewDataset.self, forKey: .dataset))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container,
                debugDescription: "unknown management request type \"\(type.prefix(40))\"; use one of \(Self.types.joined(separator: ", "))")
        }
        let present = Set(container.allKeys.map(\.stringValue))
        let expected: Set<String> = ["type", objectKey.stringValue]
        if let extra = present.subtracting(expected).sorted().first {
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container, debugDescription: "a \(type) request carries no \"\(extra)\"")
        }
    }

    private var objectKey: CodingKeys {
        switch self {
        case .addSubsystem: .subsystem
        case .registerServer: .server
        case .registerService, .changeService, .disableService, .enableService: .service
        case .declareDataset: .dataset
        }
    }

    /// Encodes `{"type": "...", "<object>": {...}}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        switch self {
        case .addSubsystem(let input): try container.encode(input, forKey: .subsystem)
        case .registerServer(let input): try container.encode(input, forKey: .server)
        case .registerService(let input), .changeService(let input): try container.encode(input, forKey: .service)
        case .disableService(let id), .enableService(let id): try container.encode(id, forKey: .service)
        case .declareDataset(let input): try container.encode(input, forKey: .dataset)
        }
    }
}

/// The state of a management request.
public enum ManagementRequestStatus: String, Codable, Sendable, Hashable, CaseIterable {
    /// Waiting for an instance administrator.
    case pending
    /// Approved: the change was made in the same transaction.
    case approved
    /// Declined, with a written reason.
    case declined
}

/// A member operator's request for a change to its own member, decided by an instance
/// administrator (X-Road's management requests; GovStack's registration).
public struct ManagementRequest: Codable, Sendable, Hashable, Identifiable {
    /// Registry-assigned id, e.g. `MR-000001`.
    public var id: String
    /// The member the change is for.
    public var member: MemberId
    /// What is asked.
    public var change: ManagementRequestChange
    /// The submitter's certificate subject.
    public var submittedBy: String
    /// The submitter's certificate hash (nobody decides a request they submitted).
    public var submittedByCertificate: String?
    /// When it was submitted.
    public var submittedAt: Date
    /// The state.
    public var status: ManagementRequestStatus
    /// Who decided (certificate subject), once decided.
    public var decidedBy: String?
    /// When.
    public var decidedAt: Date?
    /// The written reason of a decline (or a note on an approval).
    public var reason: String?

    /// Creates a request.
    public init(id: String, member: MemberId, change: ManagementRequestChange, submittedBy: String, submittedByCertificate: String?,
                submittedAt: Date, status: ManagementRequestStatus = .pending, decidedBy: String? = nil, decidedAt: Date? = nil,
                reason: String? = nil) {
        self.id = id
        self.member = member
        self.change = change
        self.submittedBy = submittedBy
        self.submittedByCertificate = submittedByCertificate
        self.submittedAt = submittedAt
        self.status = status
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
        self.reason = reason
    }
}
