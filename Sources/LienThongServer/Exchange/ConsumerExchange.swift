import Foundation
import Hummingbird
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongTrust

/// How a local information system reached the client-facing port.
public struct ClientConnection: Sendable, Hashable {
    /// The client's IP address, if known.
    public var address: String?
    /// SHA-256 of the client certificate (lower-case hex), on the HTTPS listener.
    public var certificateSHA256: String?
    /// Whether it came on the HTTPS listener.
    public var isHTTPS: Bool

    /// Creates a description of a connection.
    public init(address: String?, certificateSHA256: String? = nil, isHTTPS: Bool = false) {
        self.address = address
        self.certificateSHA256 = certificateSHA256
        self.isHTTPS = isHTTPS
    }
}

/// The consumer side of an exchange (ARCHITECTURE §4 steps 1–3 and 6): check the local client,
/// the service and the agreement, sign, relay to the provider's server over pinned mutual TLS,
/// verify the signed answer and its binding, record, answer.
struct ConsumerExchange: Sendable {
    let runtime: SecurityServerRuntime

    /// What the consumer side produced: the answer and, when the provider refused or failed, its error type.
    struct Result: Sendable {
        var response: Response
        var providerError: XRoadErrorType?
        var providerMessage: String?
    }

    func run(_ request: Request, connection: ClientConnection, event: inout ExchangeEvent) async throws(XRoadFault) -> Result {
        let runtime = self.runtime
        let parsed = try ParsedClientRequest(
            method: request.method.rawValue, rawTarget: request.head.path ?? "", headers: ExchangeHTTP.pairs(request.headers),
            limits: runtime.requestLimits)
        event.messageId = parsed.messageId
        event.client = parsed.client.canonical
        event.service = parsed.service.canonical
        event.purpose = parsed.purpose
        event.userId = parsed.userId
        event.path = parsed.servicePath
        let requestId = UUID().uuidString.lowercased()
        event.requestId = requestId

        // 1. The client is one of this server's own subsystems, connected the way it must.
        guard let subsystem = parsed.client.subsystem, let local = runtime.localClients[subsystem] else {
            throw XRoadFault(.consumerUnknownClient, "Client \(parsed.client) is not a local client of security server \(runtime.serverId).")
        }
        try Self.checkConnection(connection, for: local, subsystem: subsystem)

        // 2. The configuration is in force; the client and the service are registered; an agreement covers the call.
        let now = runtime.now()
        let trust: TrustSnapshot
        do { trust = try await runtime.trust.snapshot(at: now) } catch { throw error.fault(side: .consumer) }
        let index = trust.index
        guard index.hasSubsystem(subsystem) else {
            throw XRoadFault(.consumerUnknownClient, "Client \(subsystem) is not registered in the global configuration.")
        }
        let metaservice = Metaservice(serviceCode: parsed.service.serviceCode)
        if metaservice == nil {
            guard let entry = index.service(parsed.service) else {
                throw XRoadFault(.consumerUnknownService, "Service \(parsed.service) is not in the global configuration.")
            }
            // Known before the agreement check, so that a refusal still says which dataset was asked for.
            event.dataset = index.dataset(exposedBy: parsed.service)?.canonical
            // The endpoint too, before anything is signed: the service's registered endpoints, narrowed by the agreement.
            let agreement = try AccessPolicy.agreement(client: parsed.client, service: parsed.service, purpose: parsed.purpose,
                                                       method: parsed.method, path: parsed.target.remainingPath,
                                                       index: index, side: .consumer, now: now)
            event.agreement = agreement.id
            event.dataset = agreement.dataset.canonical
            guard entry.enabled else {
                throw XRoadFault(XRoadErrorType(.consumerServer, .serviceDisabled), "Service \(parsed.service) is disabled in the global configuration.")
            }
        } else if !index.hasSubsystem(parsed.service.subsystem) {
            throw XRoadFault(.consumerUnknownService, "Subsystem \(parsed.service.subsystem) is not in the global configuration.")
        }
        let provider = parsed.service.subsystem.member
        var servers = index.servers(of: provider)
        if let wanted = parsed.securityServer {
            servers = servers.filter { $0.id == wanted }
        }
        guard !servers.isEmpty else {
            throw XRoadFault(.consumerNetworkError, "No security server of \(provider) is registered in the global configuration.")
        }

        // The audit log must be writable before anything is sent on.
        do { try await runtime.audit.checkWritable() } catch {
            throw XRoadFault(.consumerLoggingFailed, ExchangeHTTP.loggingFailedMessage(error))
        }

        // 3. Read, sign and relay.
        let body = try await ExchangeHTTP.spool(request, limits: runtime.spoolLimits, tooLarge: .requestTooLarge, internalError: .consumerInternalError)
        event.requestBytes = body.byteCount
        // The signed time is the consumer's clock when it signs (docs/protocol.md §1, §6.2).
        let signedAt = CanonicalMessage.milliseconds(runtime.now())
        let canonical = parsed.canonicalRequest(bodyDigest: body.sha256, time: signedAt)
        event.requestDigest = canonical.digest.base64URL
        let staple: [UInt8]
        do { staple = try await runtime.signer.stapledOCSP(validator: trust.validator, at: now) } catch {
            throw XRoadFault(.consumerCertValidation, "This server's own member signing certificate is not usable: \(error)")
        }
        var signature: String
        do { signature = try runtime.signer.sign(canonical).compact } catch {
            throw XRoadFault(.consumerInternalError, "Signing the request failed: \(error)")
        }
        if runtime.hooks.tamperRequestSignature { signature = ExchangeHTTP.tampered(signature) }
        event.requestSignature = signature
        event.requestOCSP = Data(staple).base64EncodedString()
        let requestHash = body.requestHasher.finalize(headerPart: XRoadRequestHash.headerPart(of: canonical))

        var headers = parsed.xRoadHeaders
        headers.append((name: XRoadHeader.requestId, value: requestId))
        headers.append(contentsOf: parsed.forwardedHeaders)
        headers.append((name: InterServerHeader.protocolVersion, value: String(InterServerHeader.currentProtocol)))
        headers.append((name: InterServerHeader.time, value: String(signedAt)))
        headers.append((name: InterServerHeader.signature, value: signature))
        headers.append((name: InterServerHeader.ocsp, value: Data(staple).base64EncodedString()))
        let peerRequest = PeerRequest(method: canonical.method, target: "/r1/" + parsed.service.percentEncoded + parsed.servicePath,
                                      headers: headers, body: body)
        let answer = try await send(peerRequest, to: servers, event: &event)

        // 6. Verify the answer and its binding to the request.
        let errorHeader = answer.header(XRoadHeader.error)
        let answerSignature = answer.header(InterServerHeader.signature)
        if answerSignature == nil, let errorHeader {
            // Only a refusal the provider makes before it has verified the request (TLS,
            // configuration, malformed or unverifiable request) can come unsigned: relay it, its
            // text bounded and sanitised. Any other unsigned error is a provider failure.
            guard let type = XRoadErrorType(parsing: errorHeader), Self.unsignedRefusals.contains(type) else {
                var fault = XRoadFault(.consumerInvalidSignature,
                                       "The provider's security server answered \(PeerText.sanitised(errorHeader, limit: 120)) without a signature; "
                                           + "a provider signs every answer once it has verified the request, so the answer is not trusted.")
                fault.providerFailure = true
                throw fault
            }
            throw await Self.relayedFault(type, body: answer.body)
        }
        let canonicalResponse = CanonicalMessage.response(to: canonical, status: answer.status, headers: answer.headers, bodyDigest: answer.body.sha256)
        _ = try await SignedMessageCheck.verify(
            signature: answerSignature, staple: answer.header(InterServerHeader.ocsp), message: canonicalResponse,
            signer: provider, validations: trust.validations, verifyingSide: .consumer, now: runtime.now())
        event.responseDigest = canonicalResponse.digest.base64URL
        event.responseSignature = answerSignature
        event.responseOCSP = answer.header(InterServerHeader.ocsp)
        event.responseBytes = answer.body.byteCount
        guard let receivedHash = answer.header(XRoadHeader.requestHash), XRoadRequestHash.matches(receivedHash, expected: requestHash) else {
            throw XRoadFault(.consumerInconsistentResponse, "The provider's \(XRoadHeader.requestHash) does not match the request that was sent.")
        }

        var responseHeaders = answer.headers.filter { header in
            let name = header.name.lowercased()
            return !InterServerHeader.hopHeaders.contains(name) && !XRoadHeader.hopByHopHeaders.contains(name)
                && !XRoadHeader.matches(name, "Content-Length") && !XRoadHeader.isResponseXRoadHeader(name)
        }
        responseHeaders.append(contentsOf: [
            (name: XRoadHeader.id, value: parsed.messageId),
            (name: XRoadHeader.client, value: parsed.client.percentEncoded),
            (name: XRoadHeader.service, value: parsed.service.percentEncoded),
            (name: XRoadHeader.requestId, value: requestId),
            (name: XRoadHeader.requestHash, value: requestHash),
        ])
        if let errorHeader { responseHeaders.append((name: XRoadHeader.error, value: errorHeader)) }
        let response = ExchangeHTTP.response(status: answer.status, headers: responseHeaders, body: answer.body)
        var result = Result(response: response)
        if let errorHeader {
            result.providerError = XRoadErrorType(parsing: errorHeader) ?? .providerInternalError
            result.providerMessage = (try? await Self.errorMessage(in: answer.body)).map { PeerText.sanitised($0) }
        }
        return result
    }

    /// Sends to the provider's servers in turn until one answers.
    private func send(_ request: PeerRequest, to servers: [GlobalConfiguration.ServerEntry], event: inout ExchangeEvent)
        async throws(XRoadFault) -> PeerResponse
    {
        var lastError: PeerClientError?
        for server in servers {
            let endpoint: PeerEndpoint
            do { endpoint = try PeerEndpoint(address: server.address, pins: [server.tlsCertificateSHA256.lowercased()]) } catch {
                lastError = error
                continue
            }
            event.peer = server.id.canonical
            do {
                return try await runtime.peers.send(request, to: endpoint)
            } catch {
                lastError = error
                switch error.code {
                case .connectFailed, .invalidAddress: continue   // nothing was sent: try the next server
                default: break
                }
                break
            }
        }
        guard let lastError else {
            throw XRoadFault(.consumerNetworkError, "No security server of the provider could be reached.")
        }
        switch lastError.code {
        case .pinMismatch, .handshakeFailed:
            throw XRoadFault(.consumerSslAuthenticationFailed, "The provider's security server failed TLS authentication: \(lastError.message)")
        case .responseTooLarge:
            throw XRoadFault(.consumerNetworkError, "The provider's answer is larger than the limit: \(lastError.message)")
        default:
            throw XRoadFault(.consumerNetworkError, "The provider's security server did not answer: \(lastError.message)")
        }
    }

    /// Checks that the client connected as its configuration says.
    static func checkConnection(_ connection: ClientConnection, for local: SecurityServerConfiguration.LocalClient,
                                subsystem: SubsystemId) throws(XRoadFault) {
        switch local.connection {
        case .http:
            // On every listener: an `http` client that comes on the HTTPS listener (with some
            // certificate the listener accepts) still connects from its allowed addresses only.
            let allowed = local.allowedAddresses.isEmpty ? ["127.0.0.1", "::1"] : local.allowedAddresses
            guard let address = connection.address, allowed.contains(address) else {
                throw XRoadFault(.consumerUnknownClient, "Client \(subsystem) may not connect from this address.")
            }
        case .https:
            guard connection.isHTTPS, let pin = connection.certificateSHA256,
                  local.certificateSHA256.contains(where: { $0.lowercased() == pin }) else {
                throw XRoadFault(.consumerUnknownClient, "Client \(subsystem) must connect over HTTPS with its registered client certificate.")
            }
        }
    }

    /// The error types a provider raises before it has verified the request, and so cannot sign
    /// (``ProviderExchange``: everything thrown before its `Binding` exists, and the answers its
    /// runtime gives when the audit record or the signature of an answer fails): the request's
    /// own faults (`Client.*`), TLS authentication, the request's signature and certificate, an
    /// outdated configuration, an unknown service, and the provider's logging and internal
    /// failures. Every other error type is signed by an honest provider.
    static let unsignedRefusals: Set<XRoadErrorType> = [
        .badRequest, .invalidProtocolVersion, .invalidClientIdentifier, .missingClientHeader, .invalidHttpMethod,
        .invalidSecurityServer, .requestTooLarge,
        .providerSslAuthenticationFailed, .providerInvalidSignature, .providerCertValidation, .providerOutdatedGlobalConf,
        .providerUnknownService, .providerLoggingFailed, .providerInternalError, .providerInvalidProtocolVersion,
    ]

    /// The provider's unsigned error, as a fault of the same type with its message bounded and sanitised.
    static func relayedFault(_ type: XRoadErrorType, body: SpooledBody) async -> XRoadFault {
        let message = (try? await errorMessage(in: body)).map { PeerText.sanitised($0) } ?? "The provider's security server refused the request."
        return XRoadFault(type, message)
    }

    /// The `message` of an X-Road error body, if it is one.
    static func errorMessage(in body: SpooledBody) async throws -> String? {
        guard body.byteCount <= 64 * 1024 else { return nil }
        let buffer = try await body.collect(upTo: 64 * 1024)
        let decoded = try JSONDecoder().decode(XRoadErrorBody.self, from: Data(buffer.readableBytesView))
        return decoded.message
    }
}
