import Foundation
import LienThongCore
import LienThongRegistry

/// Answers the metaservices (``Metaservice``) from one global configuration and the provider's
/// local OpenAPI documents: pure, network-free, deterministic.
///
/// Build one per global configuration (the initialiser groups the services by provider once) and
/// share it; it is a value and `Sendable`.
///
/// What is listed:
///
/// - ``clients(instance:)`` (`listClients`): every member that is not disabled, and every subsystem
///   of such a member, sorted by canonical id (a member comes right before its subsystems).
///   Disabled members and their subsystems can neither consume nor provide, so they are left out.
/// - ``methods(provider:)`` (`listMethods`): every service of the provider subsystem, enabled or
///   not, sorted by canonical id, metaservice codes excepted.
/// - ``allowedMethods(provider:client:at:)``: those of them that the client may call at that
///   instant (``GlobalConfigurationIndex/isCallable(consumer:service:purpose:at:)`` with any
///   purpose: both subsystems listed, neither member disabled, the service enabled, an agreement
///   in force). A member client (no subsystem) is party to no agreement and gets an empty list.
/// - ``openAPI(provider:serviceCode:serviceVersion:)`` (`getOpenAPI`): the provider's own document
///   if it has one, else a ``GeneratedOpenAPIDocument``.
///
/// Refusals are ``XRoadFault``s. The provider-scoped metaservices travel to the provider's server
/// in X-Road, so their refusals use the `Server.ServerProxy` prefix; `listClients` is answered by
/// the caller's own server (`Server.ClientProxy`):
///
/// | condition | error type |
/// |---|---|
/// | the global configuration has expired | `Server.ClientProxy.OutdatedGlobalConf` (`listClients`), `Server.ServerProxy.OutdatedGlobalConf` (others) |
/// | no provider subsystem for a provider-scoped metaservice | `Client.BadRequest` |
/// | the provider subsystem is not in the global configuration | `Server.ServerProxy.UnknownService` |
/// | `getOpenAPI` without a (non-empty) `serviceCode` | `Client.BadRequest` (PR-MREST Annex A: `400 Error in request`) |
/// | `getOpenAPI` for a code the provider does not offer, or a metaservice code | `Server.ServerProxy.UnknownService` |
/// | `getOpenAPI` for a code offered in several versions, without `serviceVersion` | `Client.BadRequest` |
/// | a `format` query parameter other than `xroad` or `govstack` | `Client.BadRequest` |
public struct MetaserviceResponder: Sendable {
    /// The name of the query parameter naming the service of `getOpenAPI`: `serviceCode` (PR-MREST §4).
    public static let serviceCodeParameter = "serviceCode"
    /// The name of the optional query parameter naming the service version of `getOpenAPI`:
    /// `serviceVersion` (LienThong's addition, for codes offered in several versions).
    public static let serviceVersionParameter = "serviceVersion"
    /// The names of the optional `listClients` query parameter naming the instance: X-Road's
    /// `xRoadInstance` and GovStack's `instanceId`.
    public static let instanceParameters = ["xRoadInstance", "instanceId"]

    /// The indexed global configuration.
    public let index: GlobalConfigurationIndex

    private let localDocument: @Sendable (ServiceId) -> String?
    private let servicesByProvider: [SubsystemId: [GlobalConfiguration.ServiceEntry]]

    /// Creates a responder whose provider documents come from a dictionary.
    ///
    /// - parameters:
    ///     - index: The global configuration in force.
    ///     - openAPIDocuments: The provider's own OpenAPI documents (JSON or YAML text), by service.
    public init(index: GlobalConfigurationIndex, openAPIDocuments: [ServiceId: String] = [:]) {
        self.init(index: index, openAPIDocument: { openAPIDocuments[$0] })
    }

    /// Creates a responder whose provider documents come from a function.
    ///
    /// - parameters:
    ///     - index: The global configuration in force.
    ///     - openAPIDocument: The provider's own OpenAPI document (JSON or YAML text) for a service,
    ///       or `nil`. It is called while answering, so it must be fast and must not block.
    public init(index: GlobalConfigurationIndex, openAPIDocument: @escaping @Sendable (ServiceId) -> String?) {
        self.index = index
        self.localDocument = openAPIDocument
        var grouped: [SubsystemId: [GlobalConfiguration.ServiceEntry]] = [:]
        for entry in index.configuration.services where !Metaservice.isMetaserviceCode(entry.id.serviceCode) {
            grouped[entry.id.subsystem, default: []].append(entry)
        }
        self.servicesByProvider = grouped.mapValues { entries in
            var seen = Set<ServiceId>()
            return entries.filter { seen.insert($0.id).inserted }.sorted { Self.precedes($0.id.canonical, $1.id.canonical) }
        }
    }

    // MARK: One entry point

    /// Answers one metaservice request.
    ///
    /// - parameters:
    ///     - metaservice: The metaservice called.
    ///     - provider: The provider subsystem of an `/r1/...` request; ignored for ``Metaservice/listClients``.
    ///     - client: The calling client (`X-Road-Client`).
    ///     - query: The decoded query parameters.
    ///     - format: The JSON dialect of list answers (see ``MetaserviceFormat/select(query:usedGovStackClientHeader:)``).
    ///     - time: The instant of the request: agreements and expiry are judged at it.
    /// - returns: A `200 OK` answer.
    /// - throws: An ``XRoadFault``, see the table in the type's description.
    public func respond(
        to metaservice: Metaservice,
        provider: SubsystemId?,
        client: ClientId,
        query: MetaserviceQuery = MetaserviceQuery(),
        format: MetaserviceFormat = .xroad,
        at time: Date
    ) throws(XRoadFault) -> MetaserviceResponse {
        switch metaservice {
        case .listClients:
            try checkNotExpired(at: time, type: .consumerOutdatedGlobalConf)
            let instance = Self.instanceParameters.lazy.compactMap { query[$0] }.first
            return Self.json(MetaserviceJSON.clients(clients(instance: instance), format: format))
        case .listMethods:
            try checkNotExpired(at: time, type: .providerOutdatedGlobalConf)
            return Self.json(MetaserviceJSON.methods(try methods(provider: try required(provider, metaservice)), format: format))
        case .allowedMethods:
            try checkNotExpired(at: time, type: .providerOutdatedGlobalConf)
            let methods = try allowedMethods(provider: try required(provider, metaservice), client: client, at: time)
            return Self.json(MetaserviceJSON.methods(methods, format: format))
        case .getOpenAPI:
            try checkNotExpired(at: time, type: .providerOutdatedGlobalConf)
            guard let code = query[Self.serviceCodeParameter], !code.isEmpty else {
                throw XRoadFault(.badRequest, "getOpenAPI needs the query parameter serviceCode")
            }
            return try openAPI(provider: try required(provider, metaservice), serviceCode: code,
                               serviceVersion: query[Self.serviceVersionParameter], client: client, at: time)
        }
    }

    /// Answers one metaservice request given its raw query string.
    ///
    /// The query is decoded by ``MetaserviceQuery/init(parsing:)`` and the dialect chosen by
    /// ``MetaserviceFormat/select(query:usedGovStackClientHeader:)``.
    ///
    /// - parameters:
    ///     - metaservice: The metaservice called.
    ///     - provider: The provider subsystem of an `/r1/...` request; ignored for ``Metaservice/listClients``.
    ///     - client: The calling client.
    ///     - rawQuery: The raw query without `?`, or `nil`.
    ///     - usedGovStackClientHeader: Whether the client was named by `X-GovStack-Client` only.
    ///     - time: The instant of the request.
    /// - throws: An ``XRoadFault``, see the table in the type's description.
    public func respond(
        to metaservice: Metaservice,
        provider: SubsystemId?,
        client: ClientId,
        rawQuery: String?,
        usedGovStackClientHeader: Bool = false,
        at time: Date
    ) throws(XRoadFault) -> MetaserviceResponse {
        let query = try MetaserviceQuery(parsing: rawQuery)
        let format = try MetaserviceFormat.select(query: query, usedGovStackClientHeader: usedGovStackClientHeader)
        return try respond(to: metaservice, provider: provider, client: client, query: query, format: format, at: time)
    }

    // MARK: The four answers, as values

    /// The members (not disabled) and their subsystems, sorted by canonical id.
    ///
    /// - parameters:
    ///     - instance: The instance asked for, or `nil` for this one. Another instance gives an empty
    ///       list: LienThong does not federate instances.
    public func clients(instance: String? = nil) -> [MetaserviceClient] {
        let configuration = index.configuration
        if let instance, instance != configuration.instance { return [] }
        var clients: [MetaserviceClient] = []
        var members = Set<MemberId>()
        for member in configuration.members where !member.disabled && members.insert(member.id).inserted {
            clients.append(MetaserviceClient(id: .member(member.id), name: member.name))
        }
        var subsystems = Set<SubsystemId>()
        for subsystem in configuration.subsystems where subsystems.insert(subsystem.id).inserted {
            guard let member = index.member(subsystem.id.member), !member.disabled else { continue }
            clients.append(MetaserviceClient(id: .subsystem(subsystem.id), name: member.name))
        }
        return clients.sorted { Self.precedes($0.id.canonical, $1.id.canonical) }
    }

    /// Every service of `provider`, sorted by canonical id (`listMethods`).
    ///
    /// - parameters:
    ///     - provider: The provider subsystem.
    /// - throws: `Server.ServerProxy.UnknownService` if the subsystem is not in the global configuration.
    public func methods(provider: SubsystemId) throws(XRoadFault) -> [MetaserviceMethod] {
        try services(of: provider).map(method)
    }

    /// The enabled services of `provider` that `client` may call at `time` (`allowedMethods`).
    ///
    /// - parameters:
    ///     - provider: The provider subsystem.
    ///     - client: The calling client; a member client gets an empty list.
    ///     - time: The instant agreements are judged at.
    /// - throws: `Server.ServerProxy.UnknownService` if the subsystem is not in the global configuration.
    ///
    /// Each service is listed with exactly the endpoints the client may call: the service's
    /// registered endpoints narrowed by its agreements in force (their union); a service of which
    /// it may call no endpoint is left out.
    public func allowedMethods(provider: SubsystemId, client: ClientId, at time: Date) throws(XRoadFault) -> [MetaserviceMethod] {
        let services = try services(of: provider)
        guard let consumer = client.subsystem else { return [] }
        return services.compactMap { entry in
            guard index.isCallable(consumer: consumer, service: entry.id, at: time) else { return nil }
            let endpoints = callableEndpoints(entry, consumer: consumer, at: time)
            guard !endpoints.isEmpty else { return nil }
            return MetaserviceMethod(service: entry.id, serviceType: localDocument(entry.id) == nil ? .rest : .openAPI, endpoints: endpoints)
        }
    }

    /// The endpoints of `entry` that `consumer`'s agreements in force at `time` cover, in registry order.
    func callableEndpoints(_ entry: GlobalConfiguration.ServiceEntry, consumer: SubsystemId, at time: Date) -> [ServiceEndpoint] {
        let covered = index.agreements(consumer: consumer, service: entry.id, at: time).flatMap { EndpointAccess.allowed(service: entry, agreement: $0) }
        return entry.endpoints.filter { covered.contains($0) }
    }

    /// The OpenAPI document of one of `provider`'s services (`getOpenAPI`): the provider's own text
    /// (served as JSON when it starts with `{`, as YAML otherwise), or a generated JSON document.
    ///
    /// - parameters:
    ///     - provider: The provider subsystem.
    ///     - serviceCode: The service code.
    ///     - serviceVersion: The service version, needed only when the code has several.
    /// - throws: `Server.ServerProxy.UnknownService` for an unknown provider or service,
    ///   `Client.BadRequest` for a code offered in several versions without `serviceVersion`.
    ///     - client: The calling client and the instant of the call: when its agreements in force
    ///       narrow the service to some of its endpoints, the answer is the generated document of
    ///       exactly those.
    public func openAPI(provider: SubsystemId, serviceCode: String, serviceVersion: String? = nil,
                        client: ClientId? = nil, at time: Date? = nil) throws(XRoadFault) -> MetaserviceResponse {
        let candidates = try services(of: provider).filter { entry in
            entry.id.serviceCode == serviceCode && (serviceVersion == nil || entry.id.serviceVersion == serviceVersion)
        }
        let entry: GlobalConfiguration.ServiceEntry
        if candidates.count == 1, let only = candidates.first {
            entry = only
        } else if candidates.isEmpty {
            throw XRoadFault(.providerUnknownService,
                             "subsystem \(provider.canonical) provides no REST service with code \(serviceCode)"
                                + (serviceVersion.map { " and version \($0)" } ?? ""))
        } else if let unversioned = candidates.first(where: { $0.id.serviceVersion == nil }) {
            entry = unversioned
        } else {
            let versions = candidates.compactMap(\.id.serviceVersion).joined(separator: ", ")
            throw XRoadFault(.badRequest, "service \(serviceCode) has several versions (\(versions)); add serviceVersion")
        }
        if let consumer = client?.subsystem, let time {
            let callable = callableEndpoints(entry, consumer: consumer, at: time)
            if !callable.isEmpty, callable != entry.endpoints {
                return Self.json(GeneratedOpenAPIDocument(service: entry.id, endpoints: callable).jsonBytes())
            }
        }
        if let text = localDocument(entry.id) {
            let isJSON = text.first(where: { !$0.isWhitespace }) == "{"
            return MetaserviceResponse(contentType: isJSON ? MetaserviceResponse.jsonContentType : MetaserviceResponse.yamlContentType,
                                       body: Array(text.utf8))
        }
        return Self.json(GeneratedOpenAPIDocument(service: entry.id, endpoints: entry.endpoints).jsonBytes())
    }

    // MARK: Helpers

    private func services(of provider: SubsystemId) throws(XRoadFault) -> [GlobalConfiguration.ServiceEntry] {
        guard index.hasSubsystem(provider) else {
            throw XRoadFault(.providerUnknownService, "subsystem \(provider.canonical) is not in the global configuration")
        }
        return servicesByProvider[provider] ?? []
    }

    private func method(_ entry: GlobalConfiguration.ServiceEntry) -> MetaserviceMethod {
        MetaserviceMethod(service: entry.id, serviceType: localDocument(entry.id) == nil ? .rest : .openAPI,
                          endpoints: entry.endpoints)
    }

    private func required(_ provider: SubsystemId?, _ metaservice: Metaservice) throws(XRoadFault) -> SubsystemId {
        guard let provider else {
            throw XRoadFault(.badRequest, "\(metaservice) must be addressed to a provider subsystem: /r1/{instance}/{class}/{member}/{subsystem}/\(metaservice)")
        }
        return provider
    }

    private func checkNotExpired(at time: Date, type: XRoadErrorType) throws(XRoadFault) {
        if index.isExpired(at: time) {
            throw XRoadFault(type, "the global configuration (serial \(index.configuration.serial)) has expired")
        }
    }

    private static func json(_ body: [UInt8]) -> MetaserviceResponse {
        MetaserviceResponse(contentType: MetaserviceResponse.jsonContentType, body: body)
    }

    /// Byte order of the UTF-8 forms: the order of every list in the global configuration.
    static func precedes(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}
