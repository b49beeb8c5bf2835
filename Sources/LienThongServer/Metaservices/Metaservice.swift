/// The metaservices of a LienThong security server: X-Road's Service Metadata Protocol for REST
/// (PR-MREST) and GovStack's Information Mediator directory API, which share the same four calls.
///
/// | metaservice | request | answered from |
/// |---|---|---|
/// | ``listClients`` | `GET /listClients[?xRoadInstance=VN]` (not under `/r1`) | the global configuration |
/// | ``listMethods`` | `GET /r1/{provider subsystem}/listMethods` | the global configuration |
/// | ``allowedMethods`` | `GET /r1/{provider subsystem}/allowedMethods` | the global configuration's agreements |
/// | ``getOpenAPI`` | `GET /r1/{provider subsystem}/getOpenAPI?serviceCode=X` | the provider's OpenAPI document, or one generated from the endpoints |
///
/// See `docs/metaservices.md` and ``MetaserviceResponder``.
public enum Metaservice: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// The members and subsystems of the instance: `GET /listClients`.
    case listClients
    /// The REST services and endpoints of a provider subsystem.
    case listMethods
    /// The REST services and endpoints of a provider subsystem that the calling client may call now.
    case allowedMethods
    /// The OpenAPI 3 document of one REST service of a provider subsystem (`?serviceCode=`).
    case getOpenAPI

    /// The metaservice named by the service code of an `/r1/...` request, if it is one.
    ///
    /// Only ``listMethods``, ``allowedMethods`` and ``getOpenAPI`` are service codes (PR-MREST §3,
    /// §4); ``listClients`` is reached at the server's root path `/listClients` (see
    /// ``init(rootPath:)``), so `/r1/…/listClients` stays an ordinary service call. The match is
    /// exact and case-sensitive, like every identifier part.
    ///
    /// - parameters:
    ///     - serviceCode: The service code of the request's service id, for example `listMethods`.
    public init?(serviceCode: String) {
        guard let metaservice = Metaservice(rawValue: serviceCode), metaservice.isProviderScoped else {
            return nil
        }
        self = metaservice
    }

    /// The metaservice served at a root path of the client-facing port: ``listClients`` for
    /// `/listClients` (an optional trailing `/` is accepted), `nil` for any other path.
    ///
    /// - parameters:
    ///     - rootPath: The path of the request target, without the query.
    public init?(rootPath: String) {
        guard rootPath == "/listClients" || rootPath == "/listClients/" else { return nil }
        self = .listClients
    }

    /// Whether the metaservice is addressed to a provider subsystem (`/r1/{subsystem}/{code}`):
    /// every metaservice but ``listClients``.
    public var isProviderScoped: Bool {
        self != .listClients
    }

    /// The name, for example `listMethods`.
    public var description: String {
        self.rawValue
    }

    /// Whether `serviceCode` is the code of any metaservice. Such codes are never listed as services
    /// (PR-MREST §3: "the response SHALL NOT contain names of the metainfo services").
    ///
    /// - parameters:
    ///     - serviceCode: A service code.
    public static func isMetaserviceCode(_ serviceCode: String) -> Bool {
        Metaservice(rawValue: serviceCode) != nil
    }
}
