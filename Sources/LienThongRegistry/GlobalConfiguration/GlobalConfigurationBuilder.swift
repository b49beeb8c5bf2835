import Foundation
import LienThongCore

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
            ($0.id.canonical, GlobalConfiguration.MemberEntry(id: $0.id, name: $0.name, kind: $0.kind, disabled: $0.disabled))
        })
        let subsystems = Self.sorted(snapshot.subsystems.map {
            ($0.id.canonical, GlobalConfiguration.SubsystemEntry(id: $0.id))
        })
        let servers = Self.sorted(snapshot.servers.map {
            ($0.id.canonical, GlobalConfiguration.ServerEntry(id: $0.id, address: $0.address, tlsCertificateSHA256: $0.tlsCertificateSHA256))
        })
        let services = Self.sorted(snapshot.services.map {
            ($0.id.canonical, GlobalConfiguration.ServiceEntry(id: $0.id, enabled: $0.enabled, endpoints: $0.endpoints))
        })
        let datasets = Self.sorted(snapshot.datasets.map {
            ($0.id.canonical, GlobalConfiguration.DatasetEntry(
                id: $0.id, classification: $0.classification, personalData: $0.personalData,
                services: Self.sortedIds($0.services)))
        })
        let agreements = Self.sorted(snapshot.agreements.compactMap { agreement -> (String, GlobalConfiguration.AgreementEntry)? in
            let validFrom = GlobalConfigurationTime.truncated(agreement.validFrom)
            let validUntil = GlobalConfigurationTime.truncated(agreement.validUntil)
            guard agreement.status == .active, validFrom < expiresAt, validUntil > generatedAt, validFrom < validUntil else {
                return nil
            }
            return (agreement.id, GlobalConfiguration.AgreementEntry(
                id: agreement.id, dataset: agreement.dataset, services: Self.sortedIds(agreement.services),
                consumer: agreement.consumer, purposes: Self.sortedUnique(agreement.purposes),
                validFrom: validFrom, validUntil: validUntil))
        })

        return GlobalConfiguration(
            instance: instance, serial: serial, generatedAt: generatedAt, expiresAt: expiresAt,
            approvedCAs: approvedCAs, members: members, subsystems: subsystems, servers: servers,
            services: services, datasets: datasets, agreements: agreements, policy: policy)
    }

    /// Sorts by the UTF-8 bytes of the key (stable for equal keys is not needed: ids are unique).
    static func sorted<Element>(_ keyed: [(String, Element)]) -> [Element] {
        keyed.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }.map(\.1)
    }

    /// Sorted by canonical form, duplicates removed.
    static func sortedIds<Id: XRoadIdentifier>(_ ids: [Id]) -> [Id] {
        var seen = Set<Id>()
        return sorted(ids.filter { seen.insert($0).inserted }.map { ($0.canonical, $0) })
    }

    /// Sorted by UTF-8 bytes, duplicates removed.
    static func sortedUnique(_ strings: [String]) -> [String] {
        var seen = Set<String>()
        return strings.filter { seen.insert($0).inserted }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
