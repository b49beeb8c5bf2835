import LienThongCore

/// The data owner's veto (ARCHITECTURE §4 step 4), checked by the provider after the agreement:
/// whatever the registry says, the owner may stop serving — all of it (maintenance), one service,
/// or one client.
///
/// A running server holds its veto in a ``VetoState``: it starts from the configuration and the
/// owner's admin may replace it at run time (`PUT /admin/v1/veto`, ``OperationsResponder``).
public struct ProviderVeto: Sendable, Hashable {
    /// Every provided service refuses.
    public let maintenance: Bool
    /// Services refused locally, canonical ids.
    public let disabledServices: Set<String>
    /// Clients refused locally: canonical subsystem or member ids.
    public let deniedClients: Set<String>

    /// The veto of a configuration.
    public init(_ veto: SecurityServerConfiguration.Veto) {
        self.init(maintenance: veto.maintenance, disabledServices: Set(veto.disabledServices), deniedClients: Set(veto.deniedClients))
    }

    /// Creates a veto from canonical ids.
    public init(maintenance: Bool = false, disabledServices: Set<String> = [], deniedClients: Set<String> = []) {
        self.maintenance = maintenance
        self.disabledServices = disabledServices
        self.deniedClients = deniedClients
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
