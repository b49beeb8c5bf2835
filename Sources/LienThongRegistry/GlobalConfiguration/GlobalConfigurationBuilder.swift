import Foundation
import LienThongCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns a ``RegistrySnapshot`` into a ``GlobalConfiguration``.
///
/// The result depends only on the snapshot's content (not on the order of its arrays), the
/// builder's settings, the serial and the time:
/// - every list is sorted by the UTF-8 bytes of its `id`; dataset and agreement `services` are
///   sorted and agreement `purposes` sorted, both with duplicates removed; endpoints keep their order;
/// - services carry their endpoints and enabled flag, not their OpenAPI text;
/// - agreements are those with status `active` whose validity overlaps the document's own
///   validity `[generated_at, expires_at)`. This includes every agreement in force at generation
///   time, plus any that starts before the document expires, so a security server never waits
///   for the next document to honour an agreement that starts in the next few minutes; the
///   lookups check `valid_from`/`valid_until` at the time of each call;
/// - all dates are truncated to whole seconds (what the wire format carries).
public struct GlobalConfigurationBuilder: Sendable {
    /// The instance code, e.g. `VN`.
    public var instance: String
    /// The approved CAs and their OCSP responders.
    public var approvedCAs: [GlobalConfiguration.ApprovedCA]
    /// The instance policy; `configuration_validity_seconds` sets `expires_at`.
    public var policy: GlobalConfiguration.Policy

    /// Creates a builder.
    public init(instance: String, approvedCAs: [GlobalConfiguration.ApprovedCA], policy: GlobalConfiguration.Policy = .init()) {
        self.instance = instance
        self.approvedCAs = approvedCAs
        self.policy = policy
    }

    /// Builds the document for `snapshot` with `serial`, generated at `now` (truncated to the
    /// second) and expiring `policy.configurationValiditySeconds` later.
    public func build(snapshot: RegistrySnapshot, serial: Int64, now: Date) -> GlobalConfiguration {
        let generatedAt = GlobalConfigurationTime.truncated(now)
        let expiresAt = GlobalConfigurationTime.truncated(
            generatedAt.addingTimeInterval(TimeInterval(max(0, policy.configurationValiditySeconds))))

        let members = Self.sorted(snapshot.members.map {
            GlobalConfiguration.MemberEntry(id: $0.id, name: $0.name, kind: $0.kind, disabled: $0.disabled)
        }, by: \.id.canonical)
        let subsystems = Self.sorted(snapshot.subsystems.map { GlobalConfiguration.SubsystemEntry(id: $0.id) }, by: \.id.canonical)
        let servers = Self.sorted(snapshot.servers.map {
            GlobalConfiguration.ServerEntry(id: $0.id, address: $0.address, tlsCertificateSHA256: $0.tlsCertificateSHA256)
        }, by: \.id.canonical)
        let services = Self.sorted(snapshot.services.map {
            GlobalConfiguration.ServiceEntry(id: $0.id, enabled: $0.enabled, endpoints: $0.endpoints)
        }, by: \.id.canonical)
        let datasets = Self.sorted(snapshot.datasets.map {
            GlobalConfiguration.DatasetEntry(id: $0.id, classification: $0.classification, personalData: $0.personalData,
                                             services: Self.sortedIds($0.services))
        }, by: \.id.canonical)
        let agreements = Self.sorted(snapshot.agreements.compactMap { agreement -> GlobalConfiguration.AgreementEntry? in
            let validFrom = GlobalConfigurationTime.truncated(agreement.validFrom)
            let validUntil = GlobalConfigurationTime.truncated(agreement.validUntil)
            guard agreement.status == .active, validFrom < expiresAt, validUntil > generatedAt, validFrom < validUntil else {
                return nil
            }
            return GlobalConfiguration.AgreementEntry(
                id: agreement.id, dataset: agreement.dataset, services: Self.sortedIds(agreement.services),
                consumer: agreement.consumer, purposes: Self.sortedUnique(agreement.purposes),
                validFrom: validFrom, validUntil: validUntil, endpoints: agreement.endpoints)
        }, by: \.id)

        return GlobalConfiguration(
            instance: instance, serial: serial, generatedAt: generatedAt, expiresAt: expiresAt,
            approvedCAs: approvedCAs, members: members, subsystems: subsystems, servers: servers,
            services: services, datasets: datasets, agreements: agreements, policy: policy,
            dataPlaneActors: Self.dataPlaneActors(snapshot.registrations))
    }

    /// Who may act on the data plane: the certificate hashes of the active auditor registrations,
    /// and of each member's active member-operator registrations (revoked ones, viewers and
    /// instance administrators are not published).
    static func dataPlaneActors(_ registrations: [ActorRegistration]) -> GlobalConfiguration.DataPlaneActors {
        let active = registrations.filter(\.isActive)
        let auditors = sortedUnique(active.filter { $0.role == .auditor }.map(\.certificateSHA256))
        var byMember: [String: (member: MemberId, hashes: [String])] = [:]
        for registration in active where registration.role == .memberOperator {
            guard let member = registration.member else { continue }
            byMember[member.canonical, default: (member, [])].hashes.append(registration.certificateSHA256)
        }
        let operators = sorted(byMember.values.map {
            GlobalConfiguration.MemberOperators(member: $0.member, certificatesSHA256: sortedUnique($0.hashes))
        }, by: \.member.canonical)
        return GlobalConfiguration.DataPlaneActors(auditorCertificatesSHA256: auditors, memberOperators: operators)
    }

    /// Sorts by the UTF-8 bytes of `key`; with `unique`, keeps one element per key. The keys are
    /// computed once; a list that is already strictly in order (a database that returns rows by
    /// id) is returned as is after one pass.
    static func sorted<Element>(_ elements: [Element], by key: (Element) -> String, unique: Bool = false) -> [Element] {
        if elements.count < 2 { return elements }
        let keys = elements.map { Array(key($0).utf8) }
        if keys.indices.dropFirst().allSatisfy({ precedes(keys[$0 - 1], keys[$0]) }) {
            return elements
        }
        let order = keys.indices.sorted { precedes(keys[$0], keys[$1]) }
        var result: [Element] = []
        result.reserveCapacity(order.count)
        for (position, index) in order.enumerated() {
            if unique, position > 0, keys[order[position - 1]] == keys[index] { continue }
            result.append(elements[index])
        }
        return result
    }

    /// Byte-wise lexicographic order.
    static func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in
                let common = min(x.count, y.count)
                if common > 0, let px = x.baseAddress, let py = y.baseAddress {
                    let order = memcmp(px, py, common)
                    if order != 0 { return order < 0 }
                }
                return x.count < y.count
            }
        }
    }

    /// Sorted by canonical form, duplicates removed.
    static func sortedIds<Id: XRoadIdentifier>(_ ids: [Id]) -> [Id] {
        sorted(ids, by: \.canonical, unique: true)
    }

    /// Sorted by UTF-8 bytes, duplicates removed.
    static func sortedUnique(_ strings: [String]) -> [String] {
        sorted(strings, by: { $0 }, unique: true)
    }
}
