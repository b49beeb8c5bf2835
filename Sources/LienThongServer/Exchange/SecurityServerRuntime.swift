import Foundation
import Hummingbird
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongTrust
import Logging
import NIOCore

/// Everything one security server needs to handle exchanges, shared by its listeners.
///
/// It wraps both sides of the exchange path with what every exchange gets whatever its outcome:
/// an audit event, written before the answer is released (a failed write turns the answer into
/// `LoggingFailed`), and the request metrics.
public final class SecurityServerRuntime: Sendable {
    /// The configuration.
    public let configuration: SecurityServerConfiguration
    /// This server's id.
    public let serverId: SecurityServerId
    /// The configuration and validator in force.
    public let trust: TrustState
    /// The owner member's signing key.
    public let signer: MemberSigner
    /// Pooled, pinned mutual-TLS connections to peer servers.
    public let peers: PeerClient
    /// The backend caller.
    public let backend: BackendClient
    /// Where exchange events go.
    public let audit: any ExchangeAuditSink
    /// Request counts and latencies.
    public let metrics: ServerMetrics
    /// Test-only misbehaviour.
    public let hooks: ExchangeTestHooks
    /// Local clients by subsystem.
    let localClients: [SubsystemId: SecurityServerConfiguration.LocalClient]
    /// Provided services by id.
    let localServices: [ServiceId: SecurityServerConfiguration.LocalService]
    /// OpenAPI documents of provided services, read at start.
    let openAPIDocuments: [ServiceId: String]
    /// Body limits and spool location.
    let spoolLimits: BodySpoolLimits
    /// Client request parsing limits.
    let requestLimits: ClientRequestLimits
    /// The data owner's veto in force: the configuration's at start, replaceable at run time
    /// through the operations API (`PUT /admin/v1/veto`); read once per exchange by the provider side.
    public let veto: VetoState
    /// The provider side's freshness and replay check, over the persistent store.
    public let replays: ReplayCheck
    /// The server's logger (exchange refusals, operations API calls).
    let logger: Logger
    /// Tokenises personal identifiers in text bound for the log, as the audit record does: the
    /// audit log's own protector (same key, so a token in the log is the token in the record), or
    /// one with a random key when the audit sink keeps none.
    let logProtector: PersonalDataProtector?

    /// Creates a runtime; the configuration must have been validated. `replayStore` remembers the
    /// requests the provider side accepted (``ReplayCheck``).
    public init(configuration: SecurityServerConfiguration, serverId: SecurityServerId, trust: TrustState, signer: MemberSigner,
                peers: PeerClient, backend: BackendClient, audit: any ExchangeAuditSink, replayStore: any ReplayStore, metrics: ServerMetrics,
                hooks: ExchangeTestHooks, logger: Logger) throws(SecurityServerConfigurationError) {
        self.configuration = configuration
        self.serverId = serverId
        self.trust = trust
        self.signer = signer
        self.peers = peers
        self.backend = backend
        self.audit = audit
        self.metrics = metrics
        self.hooks = hooks
        self.logger = logger
        var clients: [SubsystemId: SecurityServerConfiguration.LocalClient] = [:]
        for client in configuration.clients {
            guard let id = try? SubsystemId(parsing: client.subsystem) else { throw .init("client \(client.subsystem) is not a subsystem id") }
            clients[id] = client
        }
        var services: [ServiceId: SecurityServerConfiguration.LocalService] = [:]
        var documents: [ServiceId: String] = [:]
        for service in configuration.services {
            guard let id = try? ServiceId(parsing: service.id) else { throw .init("service \(service.id) is not a service id") }
            services[id] = service
            if let file = service.openAPIFile {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    throw .init("cannot read the OpenAPI document \(file) of \(id)")
                }
                documents[id] = text
            }
        }
        self.localClients = clients
        self.localServices = services
        self.openAPIDocuments = documents
        let spoolDirectory = URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("spool")
        self.spoolLimits = BodySpoolLimits(maximumSize: configuration.limits.maximumBodyBytes,
                                           memoryThreshold: configuration.limits.memoryThresholdBytes, directory: spoolDirectory)
        self.requestLimits = .default
        self.veto = VetoState(ProviderVeto(configuration.veto))
        self.replays = ReplayCheck(windowSeconds: configuration.limits.replayWindowSeconds,
                                   skewSeconds: configuration.limits.clockSkewSeconds, store: replayStore)
        var generator = SystemRandomNumberGenerator()
        self.logProtector = (audit as? AuditLog)?.protector
            ?? (try? PersonalDataProtector(key: (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) },
                                           servicePatterns: configuration.audit.servicePatterns))
    }

    /// `text` as it may be logged: personal identifiers (citizen id numbers, the configured
    /// per-service patterns) replaced by `{pid:<token>}`, then bounded and on one line
    /// (``PeerText``). Nothing of a request's path or query reaches the log any other way.
    func loggable(_ text: String, service: String? = nil) -> String {
        PeerText.sanitised(logProtector.map { $0.protect(path: text, service: service).text } ?? "[withheld]", limit: 2048)
    }

    /// The current time on this server's clock.
    func now() -> Date { hooks.clock() }

    /// The metaservice responder for the configuration in force.
    func metaservices(index: GlobalConfigurationIndex) -> MetaserviceResponder {
        MetaserviceResponder(index: index, openAPIDocuments: openAPIDocuments)
    }

    // MARK: Client-facing port

    /// Handles one request from a local information system.
    public func handleClient(_ request: Request, connection: ClientConnection) async -> Response {
        var event = ExchangeEvent(side: .consumer, server: serverId.canonical, method: request.method.rawValue, startedAt: now())
        event.peer = connection.address
        do {
            let result = try await ConsumerExchange(runtime: self).run(request, connection: connection, event: &event)
            event.status = result.response.status.code
            if let type = result.providerError {
                event.outcome = type.isFailure ? .failed : .refused
                event.errorType = type.name
                event.errorMessage = result.providerMessage
            } else {
                event.outcome = .success
            }
            return await release(result.response, event: event, loggingFailed: .consumerLoggingFailed)
        } catch {
            return await refuse(error, event: event, loggingFailed: .consumerLoggingFailed)
        }
    }

    /// Answers `GET /listClients` on the client-facing port.
    public func handleListClients(_ request: Request) async -> Response {
        do throws(XRoadFault) {
            let index: GlobalConfigurationIndex
            do { index = try await trust.snapshot(at: now()).index } catch { throw error.fault(side: .consumer) }
            let headers = ExchangeHTTP.pairs(request.headers)
            let clientHeader = ExchangeHTTP.value(XRoadHeader.client, in: headers)
            let govStack = clientHeader == nil ? ExchangeHTTP.value(MetaserviceFormat.govStackClientHeader, in: headers) : nil
            let client = (clientHeader ?? govStack).flatMap { try? ClientId(percentEncoded: $0) }
                ?? ClientId.member(serverId.owner)
            let query = request.head.path.flatMap { path in path.firstIndex(of: "?").map { String(path[path.index(after: $0)...]) } }
            let answer = try metaservices(index: index).respond(to: .listClients, provider: nil, client: client, rawQuery: query,
                                                                usedGovStackClientHeader: govStack != nil, at: now())
            return Response(status: .ok, headers: ExchangeHTTP.fields([(name: "Content-Type", value: answer.contentType)]),
                            body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
        } catch {
            return ExchangeHTTP.faultResponse(error)
        }
    }

    // MARK: Inter-server port

    /// Handles one request from a peer security server; `channel` is the mutual-TLS connection.
    public func handlePeer(_ request: Request, channel: any Channel) async -> Response {
        var event = ExchangeEvent(side: .provider, server: serverId.canonical, method: request.method.rawValue, startedAt: now())
        event.peer = channel.remoteAddress?.ipAddress
        var binding: ProviderExchange.Binding?
        let exchange = ProviderExchange(runtime: self)
        do {
            let response = try await exchange.run(request, channel: channel, event: &event, binding: &binding)
            event.status = response.status.code
            event.outcome = .success
            return await release(response, event: event, loggingFailed: .providerLoggingFailed)
        } catch {
            // Once the request is verified, refusals are signed and bound to it: evidence of non-sharing.
            guard binding != nil else {
                return await refuse(error, event: event, loggingFailed: .providerLoggingFailed)
            }
            event.outcome = error.type.isFailure ? .failed : .refused
            event.errorType = error.type.name
            event.errorMessage = error.message
            event.status = error.httpStatus
            do {
                let signed = try await exchange.signedResponse(
                    status: error.httpStatus, headers: error.headers, body: SpooledBody(bytes: Array(error.jsonBody())),
                    binding: binding, event: &event)
                log(error, service: event.service)
                return await release(signed, event: event, loggingFailed: .providerLoggingFailed)
            } catch {
                return await refuse(error, event: event, loggingFailed: .providerLoggingFailed)
            }
        }
    }

    // MARK: Shared ending

    /// Records `event` and releases `response`, or answers `LoggingFailed` if the record cannot be written.
    private func release(_ response: Response, event: ExchangeEvent, loggingFailed: XRoadErrorType) async -> Response {
        var event = event
        event.endedAt = now()
        do {
            try await audit.record(event)
        } catch {
            let fault = XRoadFault(loggingFailed, "The exchange could not be recorded in the audit log; it is refused.")
            logger.error("audit record failed", metadata: ["error": "\(loggable("\(error)", service: event.service))", "detail": "\(fault.body.detail)"])
            metrics.recordExchange(side: event.side, service: event.service ?? "-", outcome: fault.type.name, duration: .seconds(event.duration))
            return ExchangeHTTP.faultResponse(fault)
        }
        metrics.recordExchange(side: event.side, service: event.service ?? "-", outcome: event.errorType ?? "success", duration: .seconds(event.duration))
        return response
    }

    /// Records a refusal or failure and answers it.
    private func refuse(_ fault: XRoadFault, event: ExchangeEvent, loggingFailed: XRoadErrorType) async -> Response {
        var event = event
        event.outcome = fault.type.isFailure || fault.providerFailure ? .failed : .refused
        event.errorType = fault.type.name
        event.errorMessage = fault.message
        event.status = fault.httpStatus
        log(fault, service: event.service)
        return await release(ExchangeHTTP.faultResponse(fault), event: event, loggingFailed: loggingFailed)
    }

    private func log(_ fault: XRoadFault, service: String?) {
        logger.info("exchange refused", metadata: [
            "type": "\(fault.type.name)", "message": "\(loggable(fault.message, service: service))", "detail": "\(fault.body.detail)",
        ])
    }
}
