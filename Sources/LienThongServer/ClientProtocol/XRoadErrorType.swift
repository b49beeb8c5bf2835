/// The type of an X-Road error: where it happened (``Category``) and what happened (``Code``).
///
/// LienThong **emits** the classic X-Road form, `Prefix.Code`, for example
/// `Server.ClientProxy.OutdatedGlobalConf`, in both the `X-Road-Error` header and the `type` field
/// of the error body, because that is the form in the Message Protocol for REST (§4.3, §4.6) and the
/// one existing X-Road clients match on. When **reading** an error type (for example one returned by
/// a peer), ``init(parsing:)`` also accepts the lower-case dotted form X-Road 7.8 switched to, for
/// example `server.serverproxy.access_denied`.
///
/// Every code name is X-Road's own (`ee.ria.xroad.common.ErrorCodes`) except
/// ``Code/requestTooLarge``, ``Code/duplicateMessage`` and ``Code/staleRequest``, which X-Road has
/// no equivalent for. ``catalogue`` lists the types
/// LienThong emits, one for each refusal of the fail-closed list (ARCHITECTURE §8).
///
/// The HTTP status follows the protocol's four categories (§4.6), which deliberately use only a
/// small subset of status codes: `400` for every `Client.*` error (a request that does not comply)
/// and `500` for every `Server.*` error (the provider is unreachable, or a security server failed).
public struct XRoadErrorType: Hashable, Sendable, CustomStringConvertible {
    /// Where an error happened, given by the prefix of its type.
    public enum Category: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// The caller's fault: prefix `Client`.
        case client
        /// The consumer's (the caller's own) security server: prefix `Server.ClientProxy`.
        case consumerServer
        /// The provider's security server: prefix `Server.ServerProxy`.
        case providerServer

        /// The classic prefix, for example `Server.ClientProxy`.
        public var prefix: String {
            switch self {
            case .client: return "Client"
            case .consumerServer: return "Server.ClientProxy"
            case .providerServer: return "Server.ServerProxy"
            }
        }

        /// The lower-case prefix of X-Road 7.8, for example `server.clientproxy`.
        public var lowerCasePrefix: String {
            self.prefix.lowercased()
        }

        /// The HTTP status of errors in this category: `400` for ``client``, `500` otherwise.
        public var httpStatus: Int {
            self == .client ? 400 : 500
        }

        /// The classic prefix.
        public var description: String {
            self.prefix
        }
    }

    /// What went wrong. The raw value is the classic (CamelCase) X-Road code.
    public enum Code: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// The request does not comply with the protocol (malformed target, header or body).
        case badRequest = "BadRequest"
        /// The protocol version in the URL is not `r1`.
        case invalidProtocolVersion = "InvalidProtocolVersion"
        /// The `X-Road-Client` header is not a valid member or subsystem id.
        case invalidClientIdentifier = "InvalidClientIdentifier"
        /// A mandatory header (`X-Road-Client`) is missing.
        case missingHeader = "MissingHeader"
        /// The HTTP method is not a valid token.
        case invalidHttpMethod = "InvalidHttpMethod"
        /// The `X-Road-Security-Server` header is malformed, or names a server that does not serve the service.
        case invalidSecurityServer = "InvalidSecurityServer"
        /// The body or the request target exceeds a configured limit. LienThong's own code.
        case requestTooLarge = "RequestTooLarge"
        /// The client, or the member behind it, is unknown (on the consumer side: not a local client).
        case unknownMember = "UnknownMember"
        /// The service is not in the global configuration, or not provided by the provider's server.
        case unknownService = "UnknownService"
        /// No active agreement covers the call, it has expired, the purpose is wrong, or local policy denies it.
        case accessDenied = "AccessDenied"
        /// The provider has disabled the service.
        case serviceDisabled = "ServiceDisabled"
        /// The provider's server is in maintenance mode.
        case maintenanceMode = "MaintenanceMode"
        /// The global configuration has expired; the server fails closed.
        case outdatedGlobalConf = "OutdatedGlobalConf"
        /// The TLS peer's certificate is not pinned in the global configuration (or the client's is not accepted).
        case sslAuthenticationFailed = "SslAuthenticationFailed"
        /// A message signature (or the digest it covers) does not verify.
        case invalidSignatureValue = "InvalidSignatureValue"
        /// The signer's certificate is expired, revoked, or its status is unknown past the freshness limit.
        case certValidation = "CertValidation"
        /// A response is not bound to the request that was sent (request digest or id mismatch).
        case inconsistentResponse = "InconsistentResponse"
        /// The backend failed or did not answer in time.
        case serviceFailed = "ServiceFailed"
        /// A verified request repeats a message id its client used within the replay window. LienThong's own code.
        case duplicateMessage = "DuplicateMessage"
        /// A verified request's signed time lies outside the provider's window: older than the replay
        /// window plus the clock-skew tolerance, or further ahead than the tolerance. LienThong's own code.
        case staleRequest = "StaleRequest"
        /// A network connection (to the provider's server, or to the backend) failed.
        case networkError = "NetworkError"
        /// The audit log could not be written; the exchange is refused.
        case loggingFailed = "LoggingFailed"
        /// Any other internal failure of a security server.
        case internalError = "InternalError"

        /// The lower-case code of X-Road 7.8, for example `access_denied`.
        public var lowerCaseName: String {
            switch self {
            case .badRequest: return "bad_request"
            case .invalidProtocolVersion: return "invalid_protocol_version"
            case .invalidClientIdentifier: return "invalid_client_identifier"
            case .missingHeader: return "missing_header"
            case .invalidHttpMethod: return "invalid_http_method"
            case .invalidSecurityServer: return "invalid_security_server"
            case .requestTooLarge: return "request_too_large"
            case .unknownMember: return "unknown_member"
            case .unknownService: return "unknown_service"
            case .accessDenied: return "access_denied"
            case .serviceDisabled: return "service_disabled"
            case .maintenanceMode: return "maintenance_mode"
            case .outdatedGlobalConf: return "outdated_global_conf"
            case .sslAuthenticationFailed: return "ssl_authentication_failed"
            case .invalidSignatureValue: return "invalid_signature_value"
            case .certValidation: return "cert_validation"
            case .inconsistentResponse: return "inconsistent_response"
            case .serviceFailed: return "service_failed"
            case .duplicateMessage: return "duplicate_message"
            case .staleRequest: return "stale_request"
            case .networkError: return "network_error"
            case .loggingFailed: return "logging_failed"
            case .internalError: return "internal_error"
            }
        }

        /// The classic code.
        public var description: String {
            self.rawValue
        }
    }

    /// Where the error happened.
    public let category: Category

    /// What went wrong.
    public let code: Code

    /// Creates an error type.
    ///
    /// - parameters:
    ///     - category: Where the error happened.
    ///     - code: What went wrong.
    public init(_ category: Category, _ code: Code) {
        self.category = category
        self.code = code
    }

    /// Parses an error type in the classic form (`Server.ServerProxy.AccessDenied`) or the
    /// lower-case form of X-Road 7.8 (`server.serverproxy.access_denied`).
    ///
    /// The two forms are not mixed: a classic prefix needs a classic code and a lower-case prefix a
    /// lower-case code. Surrounding spaces and tabs are ignored.
    ///
    /// - parameters:
    ///     - text: The error type, for example from an `X-Road-Error` header.
    /// - returns: `nil` if the prefix or the code is not known.
    public init?(parsing text: String) {
        let trimmed = text.trimmingSpacesAndTabs()
        guard let dot = trimmed.lastIndex(of: ".") else { return nil }
        let prefix = trimmed[..<dot]
        let name = trimmed[trimmed.index(after: dot)...]
        if let category = Category.allCases.first(where: { $0.prefix == prefix }),
            let code = Code(rawValue: String(name))
        {
            self.init(category, code)
        } else if let category = Category.allCases.first(where: { $0.lowerCasePrefix == prefix }),
            let code = Code.allCases.first(where: { $0.lowerCaseName == name })
        {
            self.init(category, code)
        } else {
            return nil
        }
    }

    /// The classic form LienThong emits, for example `Server.ClientProxy.OutdatedGlobalConf`.
    public var name: String {
        self.category.prefix + "." + self.code.rawValue
    }

    /// The lower-case form of X-Road 7.8, for example `server.clientproxy.outdated_global_conf`.
    public var lowerCaseName: String {
        self.category.lowerCasePrefix + "." + self.code.lowerCaseName
    }

    /// The HTTP status of the error response: `400` for `Client.*`, `500` for `Server.*`.
    public var httpStatus: Int {
        self.category.httpStatus
    }

    /// The classic form, see ``name``.
    public var description: String {
        self.name
    }
}

extension XRoadErrorType {
    // MARK: Client.* (HTTP 400): the request does not comply with the protocol.

    /// `Client.BadRequest`: a malformed request target, header, or method.
    public static let badRequest = XRoadErrorType(.client, .badRequest)
    /// `Client.InvalidProtocolVersion`: a protocol version other than `r1` (`/r2/...`).
    public static let invalidProtocolVersion = XRoadErrorType(.client, .invalidProtocolVersion)
    /// `Client.InvalidClientIdentifier`: a malformed `X-Road-Client` header.
    public static let invalidClientIdentifier = XRoadErrorType(.client, .invalidClientIdentifier)
    /// `Client.MissingHeader`: no `X-Road-Client` header.
    public static let missingClientHeader = XRoadErrorType(.client, .missingHeader)
    /// `Client.InvalidHttpMethod`: the method is not an HTTP token.
    public static let invalidHttpMethod = XRoadErrorType(.client, .invalidHttpMethod)
    /// `Client.InvalidSecurityServer`: a malformed `X-Road-Security-Server` header.
    public static let invalidSecurityServer = XRoadErrorType(.client, .invalidSecurityServer)
    /// `Client.RequestTooLarge`: the body or the request target exceeds the configured limit.
    public static let requestTooLarge = XRoadErrorType(.client, .requestTooLarge)

    // MARK: Server.ClientProxy.* (HTTP 500): refused or failed at the consumer's server.

    /// `Server.ClientProxy.UnknownMember`: the `X-Road-Client` is not a local client of this server.
    public static let consumerUnknownClient = XRoadErrorType(.consumerServer, .unknownMember)
    /// `Server.ClientProxy.UnknownService`: the service is not in the global configuration.
    public static let consumerUnknownService = XRoadErrorType(.consumerServer, .unknownService)
    /// `Server.ClientProxy.AccessDenied`: no active agreement, an expired one, or a wrong or missing purpose.
    public static let consumerAccessDenied = XRoadErrorType(.consumerServer, .accessDenied)
    /// `Server.ClientProxy.OutdatedGlobalConf`: the consumer's global configuration has expired.
    public static let consumerOutdatedGlobalConf = XRoadErrorType(.consumerServer, .outdatedGlobalConf)
    /// `Server.ClientProxy.SslAuthenticationFailed`: the provider's TLS certificate is not pinned,
    /// or the information system did not present an accepted client certificate.
    public static let consumerSslAuthenticationFailed = XRoadErrorType(.consumerServer, .sslAuthenticationFailed)
    /// `Server.ClientProxy.InvalidSignatureValue`: the response signature does not verify.
    public static let consumerInvalidSignature = XRoadErrorType(.consumerServer, .invalidSignatureValue)
    /// `Server.ClientProxy.CertValidation`: the provider's certificate is expired, revoked, or of unknown status.
    public static let consumerCertValidation = XRoadErrorType(.consumerServer, .certValidation)
    /// `Server.ClientProxy.InconsistentResponse`: the response is not bound to the request sent.
    public static let consumerInconsistentResponse = XRoadErrorType(.consumerServer, .inconsistentResponse)
    /// `Server.ClientProxy.NetworkError`: the provider's server is down, unreachable, or did not answer in time.
    public static let consumerNetworkError = XRoadErrorType(.consumerServer, .networkError)
    /// `Server.ClientProxy.LoggingFailed`: the consumer's audit log is not writable.
    public static let consumerLoggingFailed = XRoadErrorType(.consumerServer, .loggingFailed)
    /// `Server.ClientProxy.InternalError`: any other failure of the consumer's server.
    public static let consumerInternalError = XRoadErrorType(.consumerServer, .internalError)

    // MARK: Server.ServerProxy.* (HTTP 500): refused or failed at the provider's server.

    /// `Server.ServerProxy.UnknownService`: the provider's server does not provide the service.
    public static let providerUnknownService = XRoadErrorType(.providerServer, .unknownService)
    /// `Server.ServerProxy.AccessDenied`: no agreement at the provider, or the provider's local deny (veto).
    public static let providerAccessDenied = XRoadErrorType(.providerServer, .accessDenied)
    /// `Server.ServerProxy.ServiceDisabled`: the provider has disabled the service (veto).
    public static let providerServiceDisabled = XRoadErrorType(.providerServer, .serviceDisabled)
    /// `Server.ServerProxy.MaintenanceMode`: the provider's server is in maintenance mode (veto).
    public static let providerMaintenanceMode = XRoadErrorType(.providerServer, .maintenanceMode)
    /// `Server.ServerProxy.OutdatedGlobalConf`: the provider's global configuration has expired.
    public static let providerOutdatedGlobalConf = XRoadErrorType(.providerServer, .outdatedGlobalConf)
    /// `Server.ServerProxy.SslAuthenticationFailed`: the consumer server's TLS certificate is not pinned.
    public static let providerSslAuthenticationFailed = XRoadErrorType(.providerServer, .sslAuthenticationFailed)
    /// `Server.ServerProxy.InvalidSignatureValue`: the request signature, or the digest it covers, does not verify.
    public static let providerInvalidSignature = XRoadErrorType(.providerServer, .invalidSignatureValue)
    /// `Server.ServerProxy.CertValidation`: the consumer member's certificate is expired, revoked,
    /// or of unknown status past the freshness limit.
    public static let providerCertValidation = XRoadErrorType(.providerServer, .certValidation)
    /// `Server.ServerProxy.ServiceFailed`: the backend failed or timed out.
    public static let providerServiceFailed = XRoadErrorType(.providerServer, .serviceFailed)
    /// `Server.ServerProxy.DuplicateMessage`: a replayed (or repeated) message id within the replay window.
    public static let providerDuplicateMessage = XRoadErrorType(.providerServer, .duplicateMessage)
    /// `Server.ServerProxy.StaleRequest`: a verified request signed outside the provider's time window
    /// (too old, or too far in the future for the clock-skew tolerance).
    public static let providerStaleRequest = XRoadErrorType(.providerServer, .staleRequest)
    /// `Server.ServerProxy.InvalidProtocolVersion`: a peer of another inter-server protocol version
    /// (`X-LienThong-Protocol` missing, as from a protocol-1 server, or not `2`).
    public static let providerInvalidProtocolVersion = XRoadErrorType(.providerServer, .invalidProtocolVersion)
    /// `Server.ServerProxy.NetworkError`: the backend could not be connected to.
    public static let providerNetworkError = XRoadErrorType(.providerServer, .networkError)
    /// `Server.ServerProxy.LoggingFailed`: the provider's audit log is not writable.
    public static let providerLoggingFailed = XRoadErrorType(.providerServer, .loggingFailed)
    /// `Server.ServerProxy.InternalError`: any other failure of the provider's server.
    public static let providerInternalError = XRoadErrorType(.providerServer, .internalError)

    /// Every error type LienThong emits, in the order above.
    public static let catalogue: [XRoadErrorType] = [
        .badRequest, .invalidProtocolVersion, .invalidClientIdentifier, .missingClientHeader, .invalidHttpMethod,
        .invalidSecurityServer, .requestTooLarge,
        .consumerUnknownClient, .consumerUnknownService, .consumerAccessDenied, .consumerOutdatedGlobalConf,
        .consumerSslAuthenticationFailed, .consumerInvalidSignature, .consumerCertValidation,
        .consumerInconsistentResponse, .consumerNetworkError, .consumerLoggingFailed, .consumerInternalError,
        .providerUnknownService, .providerAccessDenied, .providerServiceDisabled, .providerMaintenanceMode,
        .providerOutdatedGlobalConf, .providerSslAuthenticationFailed, .providerInvalidSignature,
        .providerCertValidation, .providerDuplicateMessage, .providerStaleRequest, .providerInvalidProtocolVersion, .providerServiceFailed, .providerNetworkError, .providerLoggingFailed,
        .providerInternalError,
    ]
}

extension StringProtocol {
    /// The string without leading and trailing spaces and horizontal tabs (HTTP optional whitespace).
    func trimmingSpacesAndTabs() -> Substring {
        let isOWS: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        var slice = Substring(self)
        while let first = slice.first, isOWS(first) { slice.removeFirst() }
        while let last = slice.last, isOWS(last) { slice.removeLast() }
        return slice
    }
}
