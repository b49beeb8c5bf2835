import LienThongCore
import LienThongRegistry

/// One entry of a `listClients` answer: a member or a subsystem of the instance and its name.
public struct MetaserviceClient: Sendable, Hashable {
    /// The member or subsystem.
    public let id: ClientId
    /// The name: the member's official name (a subsystem has no name of its own in the global
    /// configuration, so it carries its member's, as X-Road does).
    public let name: String

    /// Creates an entry.
    ///
    /// - parameters:
    ///     - id: The member or subsystem.
    ///     - name: Its name.
    public init(id: ClientId, name: String) {
        self.id = id
        self.name = name
    }
}

/// How a REST service is described, X-Road's `service_type`.
public enum MetaserviceServiceType: String, Sendable, Hashable, CaseIterable {
    /// The provider holds an OpenAPI document for the service: `OPENAPI`.
    case openAPI = "OPENAPI"
    /// The service is described by its endpoints only: `REST`.
    case rest = "REST"
}

/// One entry of a `listMethods` or `allowedMethods` answer: a REST service and its endpoints.
public struct MetaserviceMethod: Sendable, Hashable {
    /// The service.
    public let service: ServiceId
    /// ``MetaserviceServiceType/openAPI`` when the provider has a document for it, else ``MetaserviceServiceType/rest``.
    public let serviceType: MetaserviceServiceType
    /// Its endpoints in registry order: method (upper case, or `*`) and path template, verbatim
    /// from the global configuration.
    public let endpoints: [ServiceEndpoint]

    /// Creates an entry.
    ///
    /// - parameters:
    ///     - service: The service.
    ///     - serviceType: How it is described.
    ///     - endpoints: Its endpoints.
    public init(service: ServiceId, serviceType: MetaserviceServiceType, endpoints: [ServiceEndpoint]) {
        self.service = service
        self.serviceType = serviceType
        self.endpoints = endpoints
    }
}
