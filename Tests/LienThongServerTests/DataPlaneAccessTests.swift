import AsyncHTTPClient
import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongServer
import LienThongTrust
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

private typealias N = ExchangeNetwork

/// Issue 15, items 5 and 7, end to end on real servers (registry, OCSP, TLS, signatures, backend):
/// a service's registered endpoints, narrowed by the agreement, are all that reaches a backend, on
/// both security servers; the HTTPS client listener applies the address restriction of `http`
/// clients; the consumer trusts an unsigned refusal only of the types a provider raises before it
/// has verified the request, and bounds and sanitises the texts it relays.
@Suite("Data plane: endpoint rights, client listeners, relayed errors", .serialized)
struct DataPlaneAccessTests {
    static let motCua = "\(N.consumer)/MOTCUA"
    /// Registers `GET /v1/{id}` and `DELETE /internal/export`; MOTCUA's agreement narrows it to `GET /v1/{id}`.
    static let records = "\(N.provider)/DANCU/ho-so"
    /// Registers `GET /v1/{id}` only; the agreement names no endpoints (so: all of the service's).
    static let narrow = "\(N.provider)/DANCU/ho-so-hep"
    /// Registers no endpoint at all; the agreement names none.
    static let bare = "\(N.provider)/DANCU/chua-khai-bao"
    static let getOne = ServiceEndpoint(method: "GET", path: "/v1/{id}")
    static let export = ServiceEndpoint(method: "DELETE", path: "/internal/export")

    /// `POST /api/v1/agreements` with `endpoints` (encoded by the registry client's coder, snake case).
    struct AgreementWithEndpoints: Encodable {
        var dataset: DatasetId
        var services: [ServiceId]
        var consumer: SubsystemId
        var purposes: [String]
        var legalBasis: String
        var validFrom: Date
        var validUntil: Date
        var endpoints: [ServiceEndpoint]?
    }

    @Test("an unregistered endpoint or method is AccessDenied on both servers, recorded, the backend untouched; an http client on the HTTPS listener keeps its address check; an unsigned AccessDenied from a lying provider is a provider failure")
    func endpointsClientListenersAndRelayedErrors() async throws {
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        let backend = BackendLog()
        let providerAudit = InMemoryExchangeAuditSink()
        let consumerAudit = InMemoryExchangeAuditSink()
        let restrictedAudit = InMemoryExchangeAuditSink()
        let http = ClientCaller.makeHTTPClient()
        let caller = ClientCaller(http: http)
        let fakeMode = FakeProvider.ModeBox()

        try await N.withBackend(backend) { backendPort in
            try await network.withInfrastructure { network in
                let providerServer = "\(N.provider)/ss1", lyingServer = "\(N.provider)/ss2"
                let consumerServer = "\(N.consumer)/ss1", restrictedServer = "\(N.consumer)/ss2"
                let ports = [providerServer: try await N.freePort(), lyingServer: try await N.freePort(),
                             consumerServer: try await N.freePort(), restrictedServer: try await N.freePort()]
                try await network.register(serverPorts: ports)

                // The services of this test, their dataset and agreements, through the registry's API.
                let admin = try network.administrator()
                let api = try RegistryAPIClient(baseURL: network.registryURL, certificateFile: network.path(admin),
                                                keyFile: network.path(admin, key: true), caFile: network.pki.url(.rootCertificate).path)
                let motCua = try SubsystemId(parsing: Self.motCua)
                let dataset = try DatasetId(parsing: "\(N.provider)/datasets/ho-so-cong-dan")
                let now = Date()
                func agreement(_ service: String, endpoints: [ServiceEndpoint]?) throws -> AgreementWithEndpoints {
                    AgreementWithEndpoints(dataset: dataset, services: [try ServiceId(parsing: service)], consumer: motCua, purposes: [N.purpose],
                                           legalBasis: "Nghị định 47/2020/NĐ-CP", validFrom: now.addingTimeInterval(-60),
                                           validUntil: now.addingTimeInterval(86_400), endpoints: endpoints)
                }
                var refusedAgreement: RegistryClientError?
                var agreementsBefore = 0, agreementsAfter = 0
                do {
                    for (service, endpoints) in [(Self.records, [Self.getOne, Self.export]), (Self.narrow, [Self.getOne]), (Self.bare, [])] {
                        let _: Created = try await api.post("/api/v1/services", NewService(id: try ServiceId(parsing: service), endpoints: endpoints))
                    }
                    let _: Dataset = try await api.post("/api/v1/datasets", NewDataset(
                        id: dataset, nameVi: "Hồ sơ công dân", nameEn: "Citizen records", classification: .confidential, personalData: true,
                        legalBasis: "Nghị định 47/2020/NĐ-CP",
                        services: try [Self.records, Self.narrow, Self.bare].map { try ServiceId(parsing: $0) }))
                    let _: Created = try await api.post("/api/v1/agreements", try agreement(Self.records, endpoints: [Self.getOne]))
                    let _: Created = try await api.post("/api/v1/agreements", try agreement(Self.narrow, endpoints: nil))
                    let _: Created = try await api.post("/api/v1/agreements", try agreement(Self.bare, endpoints: nil))
                    // An agreement may only narrow: an endpoint the service does not register is a typed 400, nothing stored.
                    agreementsBefore = (try await api.get("/api/v1/agreements", as: [Created].self)).count
                    let widening = try agreement(Self.records, endpoints: [ServiceEndpoint(method: "POST", path: "/v1/{id}")])
                    do {
                        let _: Created = try await api.post("/api/v1/agreements", widening)
                    } catch {
                        refusedAgreement = error as? RegistryClientError
                    }
                    agreementsAfter = (try await api.get("/api/v1/agreements", as: [Created].self)).count
                } catch {
                    try? await api.shutdown()
                    throw error
                }
                try await api.shutdown()
                #expect(refusedAgreement?.status == 400 && refusedAgreement?.type == "Client.BadRequest",
                        "an agreement endpoint the service does not register is refused: \(refusedAgreement?.description ?? "it was created")")
                #expect(agreementsAfter == agreementsBefore, "the refused agreement changed nothing (\(agreementsBefore) → \(agreementsAfter))")

                let api1 = "http://127.0.0.1:\(backendPort)/api"
                let provider = LienThongSecurityServer(configuration: try network.configuration(
                    server: providerServer, member: N.provider, interServerPort: ports[providerServer] ?? 0,
                    services: [Self.records, Self.narrow, Self.bare].map { .init(id: $0, backendURL: api1) }), audit: providerAudit)
                let consumer = LienThongSecurityServer(configuration: try network.configuration(
                    server: consumerServer, member: N.consumer, interServerPort: ports[consumerServer] ?? 0, clients: [Self.motCua]),
                    audit: consumerAudit)
                // A consumer server whose MOTCUA (connection http) may connect only from 192.0.2.10, and
                // which has an HTTPS client listener (for DVC's information system).
                let system = try network.pki.issue(role: .server, holderId: "\(N.consumer)/he-thong-dvc")
                var restrictedConfiguration = try network.configuration(
                    server: restrictedServer, member: N.consumer, interServerPort: ports[restrictedServer] ?? 0, clients: [Self.motCua],
                    httpsClients: [(subsystem: "\(N.consumer)/DVC", pin: try N.pin(of: network.path(system)))])
                restrictedConfiguration.clients = restrictedConfiguration.clients.map { client in
                    var client = client
                    if client.subsystem == Self.motCua { client.allowedAddresses = ["192.0.2.10"] }
                    return client
                }
                let restricted = LienThongSecurityServer(configuration: restrictedConfiguration, audit: restrictedAudit)
                let providerSigner = try InterServerHostileTests.signer(network, try network.memberRecord(N.provider))
                let justiceSigner = try InterServerHostileTests.signer(network, try network.memberRecord(N.justice))
                let consumerSigner = try InterServerHostileTests.signer(network, try network.memberRecord(N.consumer))

                try await FakeProvider.withRunning(
                    port: ports[lyingServer] ?? 0, tls: try InterServerHostileTests.identity(network, try network.tlsRecord(lyingServer)),
                    providerSigner: providerSigner, otherSigner: justiceSigner, mode: fakeMode
                ) {
                try await ExchangeEndToEndTests.withRunning([provider, consumer, restricted][...]) { running in
                    let (providerPorts, consumerPorts, restrictedPorts) = (running[0], running[1], running[2])
                    let headers = [("X-Road-Client", Self.motCua), ("X-LienThong-Purpose", N.purpose)]

                    // MARK: Item 5, the consumer checks before it signs
                    let served = try await caller.call(consumerPorts.client, .GET, "/r1/\(Self.records)/v1/001099012345", headers: headers)
                    #expect(served.status == 200, "GET /v1/{id} is in the agreement: \(served.text)")
                    let servedNarrow = try await caller.call(consumerPorts.client, .GET, "/r1/\(Self.narrow)/v1/7?x=1", headers: headers)
                    #expect(servedNarrow.status == 200, "an agreement without endpoints covers the service's own: \(servedNarrow.text)")
                    let denied = "Server.ClientProxy.AccessDenied"
                    var consumerCases = 0
                    func consumerRefuses(_ name: String, _ method: HTTPMethod, _ target: String) async throws {
                        consumerCases += 1
                        let id = "dp-endpoint-\(consumerCases)"
                        let calls = await backend.count
                        let providerRecords = await providerAudit.events.count
                        let answer = try await caller.call(consumerPorts.client, method, target, headers: headers + [("X-Road-Id", id)])
                        #expect(answer.status == 500 && answer.errorType == denied, "\(name): \(answer.status) \(answer.errorType ?? "-") \(answer.text)")
                        #expect(await backend.count == calls, "\(name): the backend was called")
                        #expect(await providerAudit.events.count == providerRecords, "\(name): the request left the consumer's server")
                        let events = await consumerAudit.events.filter { $0.messageId == id }
                        #expect(events.count == 1 && events.first?.outcome == .refused && events.first?.errorType == denied,
                                "\(name): the consumer records its refusal: \(events.map { "\($0.outcome) \($0.errorType ?? "-")" })")
                    }
                    try await consumerRefuses("DELETE /internal/export?all=1, registered but outside the agreement", .DELETE,
                                              "/r1/\(Self.records)/internal/export?all=1")
                    try await consumerRefuses("DELETE /internal/export?all=1 on a service that does not register it", .DELETE,
                                              "/r1/\(Self.narrow)/internal/export?all=1")
                    try await consumerRefuses("another method on a registered path (POST /v1/{id})", .POST, "/r1/\(Self.records)/v1/7")
                    try await consumerRefuses("an extra segment (/v1/7/x)", .GET, "/r1/\(Self.records)/v1/7/x")
                    try await consumerRefuses("an empty {id} segment (/v1/)", .GET, "/r1/\(Self.records)/v1/")
                    try await consumerRefuses("the path of an endpoint with its query as a segment (/v1)", .GET, "/r1/\(Self.records)/v1?id=7")
                    try await consumerRefuses("a service with no endpoint registered (closed by default)", .GET, "/r1/\(Self.bare)/v1/7")

                    // MARK: Item 5, the provider checks before it calls the backend (a lying consumer signs it itself)
                    let consumerTLS = try InterServerHostileTests.identity(network, try network.tlsRecord(consumerServer))
                    let peers = try InterServerHostileTests.peerClient(consumerTLS, network)
                    let providerPin = try N.pin(of: network.path(try network.tlsRecord(providerServer)))
                    let endpoint = PeerEndpoint(host: "127.0.0.1", port: providerPorts.interServer, pinnedCertificateSHA256: [providerPin])
                    var providerCases = 0
                    func providerRefuses(_ name: String, service: String, method: String, path: String) async throws {
                        providerCases += 1
                        let id = "dp-lying-consumer-\(providerCases)"
                        let request = try Self.signedRequest(id: id, service: service, method: method, path: path, signer: consumerSigner)
                        let calls = await backend.count
                        let outcome = try await InterServerHostileTests.send(peers, request, endpoint)
                        #expect(await backend.count == calls, "\(name): the backend was called")
                        guard case .answered(let reply) = outcome else {
                            Issue.record("\(name): no answer: \(outcome)")
                            return
                        }
                        InterServerHostileTests.expectTyped(reply, "Server.ServerProxy.AccessDenied", name)
                        #expect(reply.header("X-LienThong-Signature") != nil, "\(name): a refusal of a verified request is signed")
                        let events = await providerAudit.events.filter { $0.messageId == id }
                        #expect(events.count == 1 && events.first?.outcome == .refused && events.first?.errorType == "Server.ServerProxy.AccessDenied",
                                "\(name): the provider records its refusal: \(events.map { "\($0.outcome) \($0.errorType ?? "-")" })")
                    }
                    let validHandSigned = try Self.signedRequest(id: "dp-lying-consumer-0", service: Self.records, method: "GET",
                                                                 path: "/v1/5", signer: consumerSigner)
                    if case .answered(let reply) = try await InterServerHostileTests.send(peers, validHandSigned, endpoint) {
                        #expect(reply.status == 200, "a hand-signed request for a covered endpoint is served: \(reply.text)")
                    }
                    try await providerRefuses("signed DELETE /internal/export?all=1 outside the agreement", service: Self.records,
                                              method: "DELETE", path: "/internal/export?all=1")
                    try await providerRefuses("signed DELETE /internal/export?all=1, not registered", service: Self.narrow,
                                              method: "DELETE", path: "/internal/export?all=1")
                    try await providerRefuses("signed GET on a service with no endpoint registered", service: Self.bare,
                                              method: "GET", path: "/v1/5")
                    await peers.shutdown()

                    // MARK: Item 5, the metaservices show what MOTCUA may call
                    let allowed = try await caller.call(consumerPorts.client, .GET, "/r1/\(N.provider)/DANCU/allowedMethods",
                                                        headers: [("X-Road-Client", Self.motCua)])
                    #expect(allowed.status == 200 && allowed.text.contains("ho-so") && !allowed.text.contains("export"),
                            "allowedMethods lists ho-so without DELETE /internal/export: \(allowed.text)")
                    #expect(!allowed.text.contains("chua-khai-bao"), "a service with no endpoint MOTCUA may call is not listed: \(allowed.text)")
                    let openAPI = try await caller.call(consumerPorts.client, .GET, "/r1/\(N.provider)/DANCU/getOpenAPI?serviceCode=ho-so",
                                                        headers: [("X-Road-Client", Self.motCua)])
                    #expect(openAPI.status == 200 && openAPI.text.contains("v1") && !openAPI.text.contains("export"),
                            "getOpenAPI describes only GET /v1/{id} to MOTCUA: \(openAPI.text)")

                    // MARK: Item 7, an http client on the HTTPS listener from a foreign address
                    var tls = TLSConfiguration.makeClientConfiguration()
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(network.pki.url(.rootCertificate).path))
                    tls.certificateVerification = .noHostnameVerification
                    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(network.path(system)).map { .certificate($0) }
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: network.path(system, key: true), format: .pem))
                    var httpsConfiguration = HTTPClient.Configuration(tlsConfiguration: tls)
                    httpsConfiguration.connectionPool.retryConnectionEstablishment = false
                    let https = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: httpsConfiguration)
                    for (listener, port, scheme) in [("HTTPS", restrictedPorts.clientHTTPS ?? 0, "https"), ("HTTP", restrictedPorts.client, "http")] {
                        let id = "dp-address-\(listener)"
                        let calls = await backend.count
                        var request = HTTPClientRequest(url: "\(scheme)://127.0.0.1:\(port)/r1/\(Self.records)/v1/8")
                        for (name, value) in headers + [("X-Road-Id", id)] { request.headers.add(name: name, value: value) }
                        let response = try await (scheme == "https" ? https : http).execute(request, timeout: .seconds(15))
                        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
                        let type = "Server.ClientProxy.UnknownMember"
                        #expect(response.status.code == 500 && response.headers.first(name: "X-Road-Error") == type,
                                "an http client from 127.0.0.1 (allowed: 192.0.2.10) on the \(listener) listener: \(response.status.code) \(body)")
                        #expect(await backend.count == calls, "\(listener): the backend was called")
                        let events = await restrictedAudit.events.filter { $0.messageId == id }
                        #expect(events.count == 1 && events.first?.outcome == .refused && events.first?.errorType == type,
                                "\(listener): the refusal is recorded: \(events.map { "\($0.outcome) \($0.errorType ?? "-")" })")
                    }
                    try await https.shutdown()

                    // MARK: Item 7, unsigned answers of a lying provider
                    var lyingCases = 0
                    func lying(_ name: String, _ mode: FakeProvider.Mode, expect type: String, status: Int = 500, outcome: ExchangeOutcome,
                               check: (String, ExchangeEvent?) -> Void = { _, _ in }) async throws {
                        lyingCases += 1
                        fakeMode.set(mode)
                        let id = "dp-unsigned-\(lyingCases)"
                        let answer = try await caller.call(consumerPorts.client, .GET, "/r1/\(Self.records)/v1/9",
                                                           headers: headers + [("X-Road-Id", id), ("X-Road-Security-Server", lyingServer)])
                        #expect(answer.status == status && answer.errorType == type, "\(name): \(answer.status) \(answer.errorType ?? "-") \(answer.text)")
                        let events = await consumerAudit.events.filter { $0.messageId == id }
                        #expect(events.count == 1 && events.first?.outcome == outcome && events.first?.errorType == type,
                                "\(name): recorded as \(outcome) \(type): \(events.map { "\($0.outcome) \($0.errorType ?? "-")" })")
                        #expect(await fakeMode.served(id), "\(name): the request reached the lying provider")
                        let message = (try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])?["message"] as? String ?? ""
                        check(message, events.first)
                    }
                    try await lying("an unsigned Server.ServerProxy.AccessDenied", .unsignedError(type: "Server.ServerProxy.AccessDenied", message: "no"),
                                    expect: "Server.ClientProxy.InvalidSignatureValue", outcome: .failed)
                    try await lying("an unsigned Server.ServerProxy.ServiceFailed", .unsignedError(type: "Server.ServerProxy.ServiceFailed", message: "no"),
                                    expect: "Server.ClientProxy.InvalidSignatureValue", outcome: .failed)
                    try await lying("an unsigned error of the consumer's own category", .unsignedError(type: "Server.ClientProxy.AccessDenied", message: "no"),
                                    expect: "Server.ClientProxy.InvalidSignatureValue", outcome: .failed)
                    // A refusal a provider makes before it has verified anything is relayed, its text bounded and sanitised.
                    let forged = "bad certificate\r\n2026-01-01 level=critical forged log line " + String(repeating: "x", count: 20_000)
                    try await lying("an unsigned SslAuthenticationFailed with a forged multi-line 20 kB message",
                                    .unsignedError(type: "Server.ServerProxy.SslAuthenticationFailed", message: forged),
                                    expect: "Server.ServerProxy.SslAuthenticationFailed", outcome: .refused) { message, event in
                        #expect(message.utf8.count <= 1024 && !message.contains("\n") && !message.contains("\r"),
                                "the relayed text is bounded and on one line: \(message.utf8.count) bytes")
                        let recorded = event?.errorMessage ?? ""
                        #expect(recorded.utf8.count <= 1024 && !recorded.contains("\n") && !recorded.contains("\r"),
                                "the recorded text is bounded and on one line: \(recorded.utf8.count) bytes")
                    }
                    print("DataPlaneAccessTests: \(consumerCases) endpoint refusals at the consumer, \(providerCases) at the provider (lying consumer), 2 address checks, \(lyingCases) unsigned answers of a lying provider")
                }
                }
            }
        }
        try await http.shutdown()
    }

    /// A request from MOTCUA to `service`, signed by `signer` as a consumer server would.
    static func signedRequest(id: String, service: String, method: String, path: String, signer: DetachedJWS.Signer) throws -> PeerRequest {
        let target = "/r1/\(service)" + path
        var headers: [(name: String, value: String)] = [
            (name: "X-Road-Client", value: motCua), (name: "X-Road-Id", value: id), (name: "X-LienThong-Purpose", value: N.purpose),
        ]
        let time = CanonicalMessage.milliseconds(Date())
        headers.append(contentsOf: [(name: "X-LienThong-Protocol", value: "2"), (name: "X-LienThong-Time", value: String(time))])
        let parsed = try ParsedClientRequest(method: method, rawTarget: target, headers: headers)
        let canonical = parsed.canonicalRequest(bodyDigest: .sha256(of: [UInt8]()), time: time)
        headers.append((name: "X-LienThong-Signature", value: try signer.sign(digest: canonical.digest).compact))
        return PeerRequest(method: method, target: target, headers: headers, body: SpooledBody(bytes: []))
    }
}
