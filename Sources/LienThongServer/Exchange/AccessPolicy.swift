import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry

/// The agreement check both servers run (ARCHITECTURE §4 steps 2 and 4): an agreement in force
/// must cover consumer × service (and so its dataset) × purpose × endpoint (method and path).
public enum AccessPolicy {
    /// Returns the agreement that allows the call, or throws `AccessDenied` for the checking side.
    ///
    /// - Parameters:
    ///   - client: the calling client; only subsystems can hold agreements.
    ///   - service: the service called.
    ///   - purpose: the `X-LienThong-Purpose` value, if any. It is required when every
    ///     agreement covering the call lists purposes.
    ///   - method: the HTTP method of the call.
    ///   - path: the service path of the call (after the service id; a query is ignored). The
    ///     service's registered endpoints, narrowed by the agreement's (``EndpointAccess``), must
    ///     match it (``EndpointTemplate``); a service with no endpoint registered is reachable by
    ///     no call. Messages name the registered endpoints, never the request's path.
    ///   - index: the configuration in force.
    ///   - side: the checking side (selects the error type).
    ///   - now: the time of the call.
    public static func agreement(
        client: ClientId, service: ServiceId, purpose: String?, method: String, path: String, index: GlobalConfigurationIndex,
        side: ExchangeSide, now: Date
    ) throws(XRoadFault) -> GlobalConfiguration.AgreementEntry {
        let denied: XRoadErrorType = side == .consumer ? .consumerAccessDenied : .providerAccessDenied
        guard let consumer = client.subsystem else {
            throw XRoadFault(denied, "Client \(client) is a member, not a subsystem; agreements are made with subsystems.")
        }
        for member in [consumer.member, service.subsystem.member] {
            guard let entry = index.member(member) else {
                throw XRoadFault(denied, "Member \(member) is not registered in the global configuration.")
            }
            if entry.disabled { throw XRoadFault(denied, "Member \(member) is disabled in the global configuration.") }
        }
        let inForce = index.agreements(consumer: consumer, service: service, at: now)
        guard !inForce.isEmpty else {
            let lapsed = index.configuration.agreements.filter {
                $0.consumer == consumer && $0.services.contains(service)
            }
            if let expired = lapsed.filter({ $0.validUntil <= now }).max(by: { $0.validUntil < $1.validUntil }) {
                throw XRoadFault(denied, "Agreement \(expired.id) for \(consumer) on \(service) expired at \(RegistryJSON.timestamp(expired.validUntil)).")
            }
            if let future = lapsed.first(where: { $0.validFrom > now }) {
                throw XRoadFault(denied, "Agreement \(future.id) for \(consumer) on \(service) is not in force before \(RegistryJSON.timestamp(future.validFrom)).")
            }
            throw XRoadFault(denied, "No sharing agreement allows \(consumer) to call \(service).")
        }
        let eligible: [GlobalConfiguration.AgreementEntry]
        if let purpose {
            eligible = inForce.filter { $0.allows(purpose: purpose) }
            guard !eligible.isEmpty else {
                let allowed = Set(inForce.flatMap(\.purposes)).sorted().joined(separator: ", ")
                throw XRoadFault(denied, "Purpose \(purpose) is not covered by the agreement for \(consumer) on \(service); allowed purposes: \(allowed).")
            }
        } else {
            eligible = inForce.filter { $0.purposes.isEmpty }
            guard !eligible.isEmpty else {
                let allowed = Set(inForce.flatMap(\.purposes)).sorted().joined(separator: ", ")
                throw XRoadFault(denied, "The agreement for \(consumer) on \(service) lists purposes; send \(XRoadHeader.purpose) with one of: \(allowed).")
            }
        }
        guard let entry = index.service(service) else {
            throw XRoadFault(denied, "Service \(service) is not in the global configuration; none of its endpoints can be called.")
        }
        var covered: [ServiceEndpoint] = []
        for agreement in eligible {
            let allowed = EndpointAccess.allowed(service: entry, agreement: agreement)
            if EndpointAccess.permits(allowed, method: method, path: path) { return agreement }
            covered += allowed.filter { !covered.contains($0) }
        }
        throw XRoadFault(denied, "No agreement for \(consumer) on \(service) covers this method and path; "
            + "the endpoints it may call are: \(EndpointAccess.list(covered)).")
    }
}
