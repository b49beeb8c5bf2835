import Foundation

/// Where the registry keeps its entities and its admin audit trail.
///
/// The protocol is deliberately small, so that stores other than SQLite (PostgreSQL) can follow:
/// the registry holds everything in memory and only ever loads the whole state at start-up,
/// commits one change at a time, and pages through the audit trail.
///
/// A store must make ``commit(_:)`` atomic and durable: when it returns, the upserts, the new
/// revision and the audit entry are all on disk; when it throws, none of them is.
public protocol RegistryStore: Sendable {
    /// Loads every entity, the current revision and the last audit entry (`nil` for an empty
    /// trail).
    func load() async throws -> (snapshot: RegistrySnapshot, auditHead: AdminAuditEntry?)

    /// Writes `change` in one transaction: its upserts, its revision and its audit entry, or
    /// nothing at all.
    ///
    /// A store should refuse (throw) a change whose revision is not the stored revision plus one,
    /// or whose audit entry's sequence is not the stored head's plus one: another writer got
    /// there first.
    func commit(_ change: RegistryChange) async throws

    /// Up to `limit` audit entries with `sequence >= fromSequence`, in sequence order.
    func auditTrail(fromSequence: Int64, limit: Int) async throws -> [AdminAuditEntry]
}

/// One committed change: the entities to insert or replace, the revision it produces and the
/// single admin audit entry that records it.
public struct RegistryChange: Sendable, Hashable {
    /// The revision after the change (the stored revision plus one).
    public var revision: Int64
    /// Members to upsert, if any.
    public var members: [Member]?
    /// Subsystems to upsert, if any.
    public var subsystems: [Subsystem]?
    /// Security servers to upsert, if any.
    public var servers: [SecurityServer]?
    /// Services to upsert, if any.
    public var services: [Service]?
    /// Datasets to upsert, if any.
    public var datasets: [Dataset]?
    /// Agreements to upsert, if any.
    public var agreements: [Agreement]?
    /// Access requests to upsert, if any.
    public var accessRequests: [AccessRequest]?
    /// Certificate registrations to upsert, if any.
    public var registrations: [ActorRegistration]?
    /// Management requests to upsert, if any.
    public var managementRequests: [ManagementRequest]?
    /// The audit entry to append (exactly one per change).
    public var auditEntry: AdminAuditEntry

    /// Creates a change.
    public init(revision: Int64, members: [Member]? = nil, subsystems: [Subsystem]? = nil,
                servers: [SecurityServer]? = nil, services: [Service]? = nil, datasets: [Dataset]? = nil,
                agreements: [Agreement]? = nil, accessRequests: [AccessRequest]? = nil,
                registrations: [ActorRegistration]? = nil, managementRequests: [ManagementRequest]? = nil,
                auditEntry: AdminAuditEntry) {
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
        self.auditEntry = auditEntry
    }
}

/// A store-level failure that is not a database error: a stale writer or unreadable content.
public struct RegistryStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Hashable {
        /// The change's revision or audit sequence does not follow the stored ones.
        case staleChange
        /// A stored row cannot be decoded.
        case corrupt
    }

    /// The kind of failure.
    public var code: Code
    /// What went wrong.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}
