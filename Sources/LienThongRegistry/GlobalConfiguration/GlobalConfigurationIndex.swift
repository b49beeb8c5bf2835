import Foundation
import LienThongCore

/// Constant-time lookups over one ``GlobalConfiguration``, for the security server's hot path.
///
/// Building the index walks the document once (about 0.1 s for 100,000 services in a release
/// build); build it once per document — ``GlobalConfigurationClient/index(at:)`` does — and
/// share it.
public struct GlobalConfigurationIndex: Sendable {
    /// The indexed document.
    public let configuration: GlobalConfiguration

    private struct ConsumerService: Hashable, Sendable {
        var consumer: SubsystemId
        var service: ServiceId
    }

    private let members: [MemberId: GlobalConfiguration.MemberEntry]
    private let subsystems: Set<SubsystemId>
    private let servers: [SecurityServerId: GlobalConfiguration.ServerEntry]
    private let serversByPin: [String: GlobalConfiguration.ServerEntry]
    private let serversByOwner: [MemberId: [GlobalConfiguration.ServerEntry]]
    private let services: [ServiceId: GlobalConfiguration.ServiceEntry]
    private let datasets: [DatasetId: GlobalConfiguration.DatasetEntry]
    private let datasetsByService: [ServiceId: DatasetId]
    private let agreementsByConsumerService: [ConsumerService: [GlobalConfiguration.AgreementEntry]]

    /// Indexes `configuration`. When an id appears twice (which a registry never publishes),
    /// the first entry wins.
    public init(_ configuration: GlobalConfiguration) {
        self.configuration = configuration
        members = Dictionary(configuration.members.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        subsystems = Set(configuration.subsystems.map(\.id))
        servers = Dictionary(configuration.servers.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        serversByPin = Dictionary(configuration.servers.map { ($0.tlsCertificateSHA256.lowercased(), $0) },
                                  uniquingKeysWith: { first, _ in first })
        serversByOwner = Dictionary(grouping: configuration.servers, by: { $0.id.owner })
        services = Dictionary(configuration.services.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        datasets = Dictionary(configuration.datasets.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        datasetsByService = Dictionary(configuration.datasets.flatMap { dataset in dataset.services.map { ($0, dataset.id) } },
                                       uniquingKeysWith: { first, _ in first })
        var agreements: [ConsumerService: [GlobalConfiguration.AgreementEntry]] = [:]
        for agreement in configuration.agreements {
            for service in agreement.services {
                agreements[ConsumerService(consumer: agreement.consumer, service: service), default: []].append(agreement)
            }
        }
        agreementsByConsumerService = agreements
    }

    /// Whether the document is void at `time`.
    public func isExpired(at time: Date) -> Bool { configuration.isExpired(at: time) }

    /// The member with `id`, if listed.
    public func member(_ id: MemberId) -> GlobalConfiguration.MemberEntry? { members[id] }

    /// Whether the subsystem is listed.
    public func hasSubsystem(_ id: SubsystemId) -> Bool { subsystems.contains(id) }

    /// The security server with `id`, if listed.
    public func server(_ id: SecurityServerId) -> GlobalConfiguration.ServerEntry? { servers[id] }

    /// The security server whose TLS certificate has this SHA-256 (hex, any case), if listed.
    public func server(tlsCertificateSHA256 pin: String) -> GlobalConfiguration.ServerEntry? {
        serversByPin[pin.lowercased()]
    }

    /// The security servers run by `member`, in id order.
    public func servers(of member: MemberId) -> [GlobalConfiguration.ServerEntry] { serversByOwner[member] ?? [] }

    /// The service with `id`, if listed.
    public func service(_ id: ServiceId) -> GlobalConfiguration.ServiceEntry? { services[id] }

    /// The dataset with `id`, if listed.
    public func dataset(_ id: DatasetId) -> GlobalConfiguration.DatasetEntry? { datasets[id] }

    /// The dataset `service` exposes, if any: what an exchange with it is about, even a refused one.
    public func dataset(exposedBy service: ServiceId) -> DatasetId? { datasetsByService[service] }

    /// The agreements that let `consumer` call `service` at `time` (in force at that time), in id order.
    ///
    /// This checks the agreements only; the caller also checks that both members are enabled
    /// and the service is enabled (``isCallable(consumer:service:at:)`` does all of it).
    public func agreements(consumer: SubsystemId, service: ServiceId, at time: Date) -> [GlobalConfiguration.AgreementEntry] {
        (agreementsByConsumerService[ConsumerService(consumer: consumer, service: service)] ?? []).filter { $0.isInForce(at: time) }
    }

    /// Whether a call from `consumer` to `service` for `purpose` is allowed at `time`: both
    /// subsystems are listed, neither member is disabled, the service is enabled, and an agreement
    /// in force covers the pair and the purpose (`nil` purpose: any agreement).
    public func isCallable(consumer: SubsystemId, service: ServiceId, purpose: String? = nil, at time: Date) -> Bool {
        guard hasSubsystem(consumer), hasSubsystem(service.subsystem),
              let consumerMember = member(consumer.member), !consumerMember.disabled,
              let providerMember = member(service.subsystem.member), !providerMember.disabled,
              let entry = self.service(service), entry.enabled else {
            return false
        }
        return agreements(consumer: consumer, service: service, at: time).contains { agreement in
            purpose.map { agreement.allows(purpose: $0) } ?? true
        }
    }
}
