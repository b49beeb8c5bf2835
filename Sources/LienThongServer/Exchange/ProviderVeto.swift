import LienThongCore

/// The data owner's veto (ARCHITECTURE §4 step 4), checked by the provider after the agreement:
/// whatever the registry says, the owner may stop serving — all of it (maintenance), one service,
/// or one client.
public struct ProviderVeto: Sendable, Hashable {
    /// Every provided service refuses.
    public let maintenance: Bool
    /// Services refused locally, canonical ids.
    public let disabledServices: Set<String>
    /// Clients refused locally: canonical subsystem or member ids.
    public let deniedClients: Set<String>

    /// The veto of a configuration.
    public init(_ veto: SecurityServerConfiguration.Veto) {
        self.maintenance = veto.maintenance
        self.disabledServices = Set(veto.disabledServices)
        self.deniedClients = Set(veto.deniedClients)
    }

    /// Throws the veto that applies to `client` calling `service`, if any.
    ///
    /// - Parameters:
    ///   - enabledInConfiguration: whether the global configuration lists the service as enabled;
    ///     a service the registry disabled is refused like a locally disabled one.
    ///   - server: this server, for the message.
    public func check(client: ClientId, service: ServiceId, enabledInConfiguration: Bool, server: SecurityServerId) throws(XRoadFault) {
        if maintenance {
            throw XRoadFault(.providerMaintenanceMode, "Security server \(server) is in maintenance mode.")
        }
        if disabledServices.contains(service.canonical) || !enabledInConfiguration {
            throw XRoadFault(.providerServiceDisabled, "Service \(service) is disabled by its provider.")
        }
        if deniedClients.contains(client.canonical) || deniedClients.contains(client.member.canonical) {
            throw XRoadFault(.providerAccessDenied, "The provider denies client \(client) locally.")
        }
    }
}
