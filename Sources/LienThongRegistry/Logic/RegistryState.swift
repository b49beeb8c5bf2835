import Foundation
import LienThongCore

/// The registry's entities in memory, keyed by canonical id (agreements and access requests by
/// their registry-assigned ids).
struct RegistryState: Sendable, Hashable {
    var members: [String: Member] = [:]
    var subsystems: [String: Subsystem] = [:]
    var servers: [String: SecurityServer] = [:]
    var services: [String: Service] = [:]
    var datasets: [String: Dataset] = [:]
    var agreements: [String: Agreement] = [:]
    var accessRequests: [String: AccessRequest] = [:]
    /// Certificate registrations by certificate SHA-256.
    var registrations: [String: ActorRegistration] = [:]
    var managementRequests: [String: ManagementRequest] = [:]
    /// The highest number used in an `MR-` id.
    var lastManagementRequestNumber = 0
    /// The highest number used in an `AG-` id.
    var lastAgreementNumber = 0
    /// The highest number used in an `AR-` id.
    var lastAccessRequestNumber = 0

    init() {}

    init(snapshot: RegistrySnapshot) {
        apply(EntityUpserts(
            members: snapshot.members, subsystems: snapshot.subsystems, servers: snapshot.servers,
            services: snapshot.services, datasets: snapshot.datasets, agreements: snapshot.agreements,
            accessRequests: snapshot.accessRequests, registrations: snapshot.registrations,
            managementRequests: snapshot.managementRequests))
    }

    /// Inserts or replaces every entity of `upserts`.
    mutating func apply(_ upserts: EntityUpserts) {
        for member in upserts.members { members[member.id.canonical] = member }
        for subsystem in upserts.subsystems { subsystems[subsystem.id.canonical] = subsystem }
        for server in upserts.servers { servers[server.id.canonical] = server }
        for service in upserts.services { services[service.id.canonical] = service }
        for dataset in upserts.datasets { datasets[dataset.id.canonical] = dataset }
        for agreement in upserts.agreements {
            agreements[agreement.id] = agreement
            lastAgreementNumber = max(lastAgreementNumber, Self.number(agreement.id, prefix: Self.agreementPrefix) ?? 0)
        }
        for request in upserts.accessRequests {
            accessRequests[request.id] = request
            lastAccessRequestNumber = max(lastAccessRequestNumber, Self.number(request.id, prefix: Self.accessRequestPrefix) ?? 0)
        }
        for registration in upserts.registrations { registrations[registration.id] = registration }
        for request in upserts.managementRequests {
            managementRequests[request.id] = request
            lastManagementRequestNumber = max(lastManagementRequestNumber, Self.number(request.id, prefix: Self.managementRequestPrefix) ?? 0)
        }
    }

    /// Everything, each kind ordered by id (byte order, as SQLite's `ORDER BY id`).
    func snapshot(revision: Int64) -> RegistrySnapshot {
        RegistrySnapshot(
            revision: revision,
            members: Self.ordered(members), subsystems: Self.ordered(subsystems), servers: Self.ordered(servers),
            services: Self.ordered(services), datasets: Self.ordered(datasets), agreements: Self.ordered(agreements),
            accessRequests: Self.ordered(accessRequests), registrations: Self.ordered(registrations),
            managementRequests: Self.ordered(managementRequests))
    }

    static let managementRequestPrefix = "MR-"

    static let agreementPrefix = "AG-"
    static let accessRequestPrefix = "AR-"

    /// `AG-000001`, `AR-000042`: the prefix and at least six digits.
    static func identifier(_ prefix: String, _ number: Int) -> String {
        let digits = String(number)
        return prefix + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// The number in `AG-000001`, or `nil` for another shape.
    static func number(_ id: String, prefix: String) -> Int? {
        guard id.hasPrefix(prefix) else { return nil }
        let digits = id.dropFirst(prefix.count)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return Int(digits)
    }

    /// The values ordered by key, comparing UTF-8 bytes.
    static func ordered<Value>(_ table: [String: Value]) -> [Value] {
        table.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map(\.value)
    }
}

/// The entities one change inserts or replaces.
struct EntityUpserts: Sendable, Hashable {
    var members: [Member] = []
    var subsystems: [Subsystem] = []
    var servers: [SecurityServer] = []
    var services: [Service] = []
    var datasets: [Dataset] = []
    var agreements: [Agreement] = []
    var accessRequests: [AccessRequest] = []
    var registrations: [ActorRegistration] = []
    var managementRequests: [ManagementRequest] = []

    /// The store-level change carrying these upserts.
    func change(revision: Int64, auditEntry: AdminAuditEntry) -> RegistryChange {
        RegistryChange(
            revision: revision,
            members: members.isEmpty ? nil : members,
            subsystems: subsystems.isEmpty ? nil : subsystems,
            servers: servers.isEmpty ? nil : servers,
            services: services.isEmpty ? nil : services,
            datasets: datasets.isEmpty ? nil : datasets,
            agreements: agreements.isEmpty ? nil : agreements,
            accessRequests: accessRequests.isEmpty ? nil : accessRequests,
            registrations: registrations.isEmpty ? nil : registrations,
            managementRequests: managementRequests.isEmpty ? nil : managementRequests,
            auditEntry: auditEntry)
    }
}

/// What a mutation wants committed: the upserts, the audit record's fields and the value to
/// return; or nothing to commit at all.
struct MutationPlan<Value: Sendable>: Sendable {
    /// `nil` for an operation that changes nothing (e.g. disabling a disabled member).
    var record: Record?
    var upserts: EntityUpserts
    var value: Value

    /// The audit entry's descriptive fields.
    struct Record: Sendable {
        var action: String
        var entity: String
        var before: String?
        var after: String?
        /// The member an instance administrator acted for (deciding an access request on the
        /// owner's behalf), recorded as the entry's `actor_member`.
        var onBehalfOf: MemberId?
    }

    /// A plan that commits `upserts` with an audit record.
    static func commit(_ upserts: EntityUpserts, action: String, entity: String, before: String?, after: String?,
                       returning value: Value) -> MutationPlan {
        MutationPlan(record: Record(action: action, entity: entity, before: before, after: after), upserts: upserts, value: value)
    }

    /// A plan that commits nothing and returns `value`.
    static func unchanged(_ value: Value) -> MutationPlan {
        MutationPlan(record: nil, upserts: EntityUpserts(), value: value)
    }
}
