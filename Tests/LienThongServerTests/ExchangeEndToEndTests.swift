import AsyncHTTPClient
import Crypto
import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongServer
import LienThongTrust
import NIOCore
import NIOHTTP1
import NIOSSL
import LienThongTestSupport
import Testing

/// The exchange path end to end, on loopback: OCSP responder, registry, a backend, a provider's
/// security server and several consumer-side servers, all real (TLS, signatures, OCSP, HTTP).
@Suite("Security server end to end", .serialized)
struct ExchangeEndToEndTests {
    typealias N = ExchangeNetwork

    static let motCua = "\(N.consumer)/MOTCUA"
    static let lookupPath = "/r1/\(N.lookup)"

    func headers(client: String = motCua, purpose: String? = N.purpose, id: String? = nil, extra: [(String, String)] = []) -> [(String, String)] {
        var h: [(String, String)] = [("X-Road-Client", client)]
        if let purpose { h.append(("X-LienThong-Purpose", purpose)) }
        if let id { h.append(("X-Road-Id", id)) }
        return h + extra
    }

    @Test("signed round trips, every refusal of ARCHITECTURE §8, metaservices, health and metrics")
    func exchangePath() async throws {
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        let backend = BackendLog()
        let http = ClientCaller.makeHTTPClient()
        let caller = ClientCaller(http: http)

        try await N.withBackend(backend) { backendPort in
            try await network.withInfrastructure { network in
                let ports = [
                    "\(N.provider)/ss1": try await N.freePort(), "\(N.consumer)/ss1": try await N.freePort(),
                    "\(N.consumer)/ss2": try await N.freePort(), "\(N.consumer)/ss3": try await N.freePort(),
                    "\(N.justice)/ss1": try await N.freePort(), "\(N.provider)/ss2": try await N.freePort(),
                ]
                try await network.register(serverPorts: ports)
                let rogueInter = try await N.freePort()

                let base = "http://127.0.0.1:\(backendPort)"
                let providerAudit = InMemoryExchangeAuditSink()
                let consumerAudit = InMemoryExchangeAuditSink()
                let provider = LienThongSecurityServer(configuration: try network.configuration(
                    server: "\(N.provider)/ss1", member: N.provider, interServerPort: ports["\(N.provider)/ss1"] ?? 0,
                    services: [.init(id: N.lookup, backendURL: base + "/api"), .init(id: N.slow, backendURL: base + "/slow", timeoutSeconds: 1),
                               .init(id: N.vetoed, backendURL: base + "/api"), .init(id: N.lapsed, backendURL: base + "/api")],
                    veto: .init(disabledServices: [N.vetoed])), audit: providerAudit)
                // A second server of the provider that corrupts its answers' signatures (test hook),
                // reached only when a client asks for it with X-Road-Security-Server.
                let corrupting = LienThongSecurityServer(configuration: try network.configuration(
                    server: "\(N.provider)/ss2", member: N.provider, interServerPort: ports["\(N.provider)/ss2"] ?? 0,
                    services: [.init(id: N.lookup, backendURL: base + "/api")]),
                    audit: InMemoryExchangeAuditSink(), hooks: .init(tamperResponseSignature: true))
                let clients = [Self.motCua, "\(N.consumer)/THONGKE"]
                // An information system of the DVC subsystem that connects over HTTPS with its own certificate.
                let system = try network.pki.issue(role: .server, holderId: "\(N.consumer)/he-thong-dvc")
                let systemPin = try ExchangeNetwork.pin(of: network.path(system))
                let consumer = LienThongSecurityServer(configuration: try network.configuration(
                    server: "\(N.consumer)/ss1", member: N.consumer, interServerPort: ports["\(N.consumer)/ss1"] ?? 0, clients: clients,
                    httpsClients: [(subsystem: "\(N.consumer)/DVC", pin: systemPin)],
                    limits: .init(maximumBodyBytes: 2 << 20)), audit: consumerAudit)
                let tampering = LienThongSecurityServer(configuration: try network.configuration(
                    server: "\(N.consumer)/ss2", member: N.consumer, interServerPort: ports["\(N.consumer)/ss2"] ?? 0, clients: clients),
                    audit: InMemoryExchangeAuditSink(), hooks: .init(tamperRequestSignature: true))
                let clock = SkewClock()
                let late = LienThongSecurityServer(configuration: try network.configuration(
                    server: "\(N.consumer)/ss3", member: N.consumer, interServerPort: ports["\(N.consumer)/ss3"] ?? 0, clients: clients),
                    audit: InMemoryExchangeAuditSink(), hooks: .init(clock: { clock.now() }))
                let rogue = LienThongSecurityServer(configuration: try network.configuration(
                    server: "\(N.consumer)/rogue", member: N.consumer, interServerPort: rogueInter, clients: clients),
                    audit: InMemoryExchangeAuditSink())

                try await Self.withRunning([corrupting, provider, consumer, tampering, late, rogue][...]) { ports in
                    let (c, t, l, r) = (ports[2], ports[3], ports[4], ports[5])
                    try await roundTrips(caller, c.client, backend, providerAudit, consumerAudit)
                    try await httpsClient(network, system: system, httpsPort: c.clientHTTPS ?? 0, httpPort: c.client, caller)
                    clock.skew(700)   // past the 600 s validity of the configuration `late` holds
                    try await refusals(caller, consumer: c.client, tampering: t.client, late: l.client, rogue: r.client, backend, providerAudit, consumerAudit)
                    try await metaservices(caller, c.client)
                    try await observability(caller, c.client)
                    try await revocation(caller, c.client, network, backend)
                }
            }
        }
        try await http.shutdown()
    }

    /// Runs `servers` (nested, in order) while `body` runs with their ports.
    static func withRunning(_ servers: ArraySlice<LienThongSecurityServer>, _ body: ([SecurityServerPorts]) async throws -> Void) async throws {
        guard let first = servers.first else { return try await body([]) }
        try await first.withRunning { ports in
            try await withRunning(servers.dropFirst()) { rest in try await body([ports] + rest) }
        }
    }

    // MARK: Round trips

    func roundTrips(_ caller: ClientCaller, _ port: Int, _ backend: BackendLog,
                    _ providerAudit: InMemoryExchangeAuditSink, _ consumerAudit: InMemoryExchangeAuditSink) async throws {
        // GET
        let target = Self.lookupPath + "/cong-dan/001099012345?fields=ho-ten"
        let get = try await caller.call(port, .GET, target, headers: headers(id: "msg-get-1", extra: [
            ("X-Road-UserId", "can-bo-01"), ("X-LienThong-Signature", "smuggled"), ("X-Custom", "giu-nguyen")]))
        #expect(get.status == 200, "\(get.text)")
        #expect(get.headers.first(name: "X-Road-Id") == "msg-get-1")
        #expect(get.headers.first(name: "X-Road-Client") == Self.motCua)
        #expect(get.headers.first(name: "X-Road-Service") == N.lookup)
        #expect((get.headers.first(name: "X-Road-Request-Id") ?? "").count == 36)
        #expect(get.headers.first(name: "X-LienThong-Signature") == nil)
        let parsedGet = try ParsedClientRequest(method: "GET", rawTarget: target, headers: headers(id: "msg-get-1", extra: [("X-Road-UserId", "can-bo-01")]))
        let expectedGetHash = XRoadRequestHash.compute(for: parsedGet.canonicalRequest(bodyDigest: .sha256(of: [UInt8]()), time: 0), body: [UInt8]())
        #expect(get.headers.first(name: "X-Road-Request-Hash") == expectedGetHash)
        #expect(get.text.contains(#""target":"/api/cong-dan/001099012345?fields=ho-ten""#))
        let seen = await backend.calls.last
        #expect(seen?.headers["x-road-client"] == Self.motCua)
        #expect(seen?.headers["x-road-id"] == "msg-get-1")
        #expect(seen?.headers["x-road-userid"] == "can-bo-01")
        #expect(seen?.headers["x-custom"] == "giu-nguyen", "other headers pass through")
        #expect(seen?.headers["x-lienthong-signature"] == nil && seen?.headers["x-lienthong-ocsp"] == nil,
                "inter-server headers never reach the backend, and a client cannot smuggle one in")

        // POST with 1 MiB
        var body = [UInt8](repeating: 0, count: 1 << 20)
        for i in body.indices { body[i] = UInt8(truncatingIfNeeded: i &* 31 &+ i >> 8) }
        let postHeaders = headers(id: "msg-post-1", extra: [("Content-Type", "application/octet-stream")])
        let post = try await caller.call(port, .POST, Self.lookupPath + "/tai-lieu", headers: postHeaders, body: body)
        #expect(post.status == 200, "\(post.text)")
        let digest = SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
        #expect(post.text.contains(digest) && post.text.contains(#""bytes":1048576"#))
        let parsedPost = try ParsedClientRequest(method: "POST", rawTarget: Self.lookupPath + "/tai-lieu", headers: postHeaders)
        #expect(post.headers.first(name: "X-Road-Request-Hash")
                == XRoadRequestHash.compute(for: parsedPost.canonicalRequest(bodyDigest: .sha256(of: body), time: 0), body: body))

        // Any method passes through.
        let patch = try await caller.call(port, .PATCH, Self.lookupPath + "/cong-dan/001099012345", headers: headers(), body: Array("{}".utf8))
        #expect(patch.status == 200 && patch.text.contains(#""method":"PATCH""#), "\(patch.text)")

        // Both sides recorded both exchanges, signed both ways, with the same ids and digests.
        let p = await providerAudit.events.filter { $0.messageId == "msg-post-1" }
        let c = await consumerAudit.events.filter { $0.messageId == "msg-post-1" }
        #expect(p.count == 1 && c.count == 1)
        if let p = p.first, let c = c.first {
            #expect(p.outcome == .success && c.outcome == .success)
            #expect(p.requestDigest == c.requestDigest && p.responseDigest == c.responseDigest && p.requestDigest != nil)
            #expect(p.requestSignature == c.requestSignature && p.responseSignature == c.responseSignature && c.responseSignature != nil)
            #expect(p.agreement != nil && p.agreement == c.agreement && p.dataset == "\(N.provider)/datasets/dan-cu")
            #expect(p.requestId == c.requestId && p.requestBytes == 1 << 20)
        }
    }

    // MARK: HTTPS information systems

    func httpsClient(_ network: ExchangeNetwork, system: IssuedCertificateRecord, httpsPort: Int, httpPort: Int,
                     _ caller: ClientCaller) async throws {
        let dvc = "\(N.consumer)/DVC"
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(network.pki.url(.rootCertificate).path))
        tls.certificateVerification = .noHostnameVerification
        var withCertificate = tls
        withCertificate.certificateChain = try NIOSSLCertificate.fromPEMFile(network.path(system)).map { .certificate($0) }
        withCertificate.privateKey = .privateKey(try NIOSSLPrivateKey(file: network.path(system, key: true), format: .pem))
        for (configuration, expectOK) in [(withCertificate, true), (tls, false)] {
            var http = HTTPClient.Configuration(tlsConfiguration: configuration)
            http.connectionPool.retryConnectionEstablishment = false
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: http)
            var request = HTTPClientRequest(url: "https://127.0.0.1:\(httpsPort)\(Self.lookupPath)/cong-dan/3")
            request.headers.add(name: "X-Road-Client", value: dvc)
            request.headers.add(name: "X-LienThong-Purpose", value: N.purpose)
            let status: Int?
            do {
                status = Int(try await client.execute(request, timeout: .seconds(10)).status.code)
            } catch {
                status = nil
            }
            try await client.shutdown()
            if expectOK {
                #expect(status == 200, "an HTTPS client with its pinned certificate is served")
            } else {
                #expect(status == nil, "no client certificate, no TLS connection")
            }
        }
        let plain = try await caller.call(httpPort, .GET, Self.lookupPath + "/cong-dan/3", headers: [("X-Road-Client", dvc), ("X-LienThong-Purpose", N.purpose)])
        #expect(plain.errorType == "Server.ClientProxy.UnknownMember", "an HTTPS-only client may not use the HTTP port")
    }

    // MARK: Refusals

    func refusals(_ caller: ClientCaller, consumer: Int, tampering: Int, late: Int, rogue: Int, _ backend: BackendLog,
                  _ providerAudit: InMemoryExchangeAuditSink, _ consumerAudit: InMemoryExchangeAuditSink) async throws {
        func expectRefused(_ name: String, _ port: Int, _ target: String, method: HTTPMethod = .GET, headers: [(String, String)],
                           body: [UInt8]? = nil, type: String, status: Int? = nil, backendCalled: Bool = false) async throws {
            let before = await backend.count
            let answer = try await caller.call(port, method, target, headers: headers, body: body)
            let after = await backend.count
            #expect(answer.errorType == type, "\(name): \(answer.status) \(answer.text)")
            #expect(answer.status == (status ?? (type.hasPrefix("Client.") ? 400 : 500)), "\(name)")
            #expect((after > before) == backendCalled, "\(name): backend calls \(before) → \(after)")
            let json = try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]
            #expect(json?["type"] as? String == type, "\(name)")
            #expect((json?["message"] as? String)?.isEmpty == false, "\(name)")
            #expect(UUID(uuidString: json?["detail"] as? String ?? "") != nil, "\(name)")
        }
        let ok = Self.lookupPath + "/cong-dan/1"
        try await expectRefused("no agreement", consumer, ok, headers: headers(client: "\(N.consumer)/THONGKE", id: "msg-no-agreement"),
                                type: "Server.ClientProxy.AccessDenied")
        #expect(await providerAudit.events.contains { $0.messageId == "msg-no-agreement" } == false, "nothing was sent to the provider")
        try await expectRefused("expired agreement", consumer, "/r1/\(N.lapsed)", headers: headers(purpose: nil), type: "Server.ClientProxy.AccessDenied")
        try await expectRefused("wrong purpose", consumer, ok, headers: headers(purpose: "9.999999"), type: "Server.ClientProxy.AccessDenied")
        try await expectRefused("missing purpose", consumer, ok, headers: headers(purpose: nil), type: "Server.ClientProxy.AccessDenied")
        try await expectRefused("provider veto", consumer, "/r1/\(N.vetoed)", headers: headers(id: "msg-veto"), type: "Server.ServerProxy.ServiceDisabled")
        let veto = await providerAudit.events.first { $0.messageId == "msg-veto" }
        #expect(veto?.outcome == .refused && veto?.errorType == "Server.ServerProxy.ServiceDisabled" && veto?.responseSignature != nil,
                "the provider records its veto, signed")
        try await expectRefused("unknown service", consumer, "/r1/\(N.provider)/DANCU/khong-ton-tai", headers: headers(), type: "Server.ClientProxy.UnknownService")
        try await expectRefused("malformed identifier", consumer, "/r1/VN/GOV/000.00.00.G22/DAN%2FCU/tra-cuu", headers: headers(), type: "Client.BadRequest")
        try await expectRefused("missing X-Road-Client", consumer, ok, headers: [("X-LienThong-Purpose", N.purpose)], type: "Client.MissingHeader")
        try await expectRefused("client not local", consumer, ok, headers: headers(client: "\(N.provider)/DANCU"), type: "Server.ClientProxy.UnknownMember")
        try await expectRefused("expired configuration", late, ok, headers: headers(), type: "Server.ClientProxy.OutdatedGlobalConf")
        try await expectRefused("TLS peer not pinned", rogue, ok, headers: headers(id: "msg-rogue"), type: "Server.ServerProxy.SslAuthenticationFailed")
        try await expectRefused("tampered signature", tampering, ok, headers: headers(id: "msg-tampered"), type: "Server.ServerProxy.InvalidSignatureValue")
        let providerEvents = await providerAudit.events
        for (id, type) in [("msg-rogue", "Server.ServerProxy.SslAuthenticationFailed"), ("msg-tampered", "Server.ServerProxy.InvalidSignatureValue")] {
            let event = providerEvents.first { $0.messageId == id }
            #expect(event?.outcome == .refused && event?.errorType == type, "the provider records the refusal it made: \(id)")
        }
        try await expectRefused("oversize body", consumer, ok, method: .POST, headers: headers(), body: [UInt8](repeating: 7, count: 3 << 20),
                                type: "Client.RequestTooLarge")
        try await expectRefused("tampered response signature", consumer, ok,
                                headers: headers(extra: [("X-Road-Security-Server", "\(N.provider)/ss2")]),
                                type: "Server.ClientProxy.InvalidSignatureValue", backendCalled: true)
        // The consumer's audit log cannot be written: refused before anything is sent on.
        await consumerAudit.setFailure(CocoaError(.fileWriteOutOfSpace))
        let beforeLogFailure = await providerAudit.events.count
        try await expectRefused("audit log not writable", consumer, ok, headers: headers(), type: "Server.ClientProxy.LoggingFailed")
        #expect(await providerAudit.events.count == beforeLogFailure, "nothing reached the provider")
        await consumerAudit.setFailure(nil)
        try await expectRefused("provider server down", consumer, "/r1/\(N.civil)", headers: headers(), type: "Server.ClientProxy.NetworkError")
        // The backend was called and did not answer in time: the call reached it, the client gets ServiceFailed.
        try await expectRefused("backend timeout", consumer, "/r1/\(N.slow)", headers: headers(), type: "Server.ServerProxy.ServiceFailed",
                                backendCalled: true)
    }

    // MARK: Metaservices

    func metaservices(_ caller: ClientCaller, _ port: Int) async throws {
        let clients = try await caller.call(port, .GET, "/listClients", headers: [("X-Road-Client", Self.motCua)])
        let methods = try await caller.call(port, .GET, "/r1/\(N.provider)/DANCU/listMethods", headers: headers(purpose: nil))
        let allowed = try await caller.call(port, .GET, "/r1/\(N.provider)/DANCU/allowedMethods", headers: headers(purpose: nil))
        let openAPI = try await caller.call(port, .GET, "/r1/\(N.provider)/DANCU/getOpenAPI?serviceCode=tra-cuu-cong-dan",
                                            headers: headers(purpose: nil))
        for (name, answer) in [("listClients", clients), ("listMethods", methods), ("allowedMethods", allowed), ("getOpenAPI", openAPI)] {
            #expect(answer.status == 200, "\(name): \(answer.text)")
        }
        #expect(clients.text.contains("MOTCUA") && clients.text.contains("DANCU"))
        #expect(methods.text.contains("khoa") && methods.text.contains("tra-cuu-cong-dan"))
        #expect(allowed.text.contains("tra-cuu-cong-dan") && !allowed.text.contains("het-han"))
        #expect(openAPI.text.contains("openapi"))
        if JSONSchemaCheck.python != nil {
            let result = try await JSONSchemaCheck.validate([
                (schema: "schemas/metaservices/list-clients.schema.json", document: clients.body),
                (schema: "schemas/metaservices/service-list.schema.json", document: methods.body),
                (schema: "schemas/metaservices/service-list.schema.json", document: allowed.body),
                (schema: "schemas/metaservices/generated-openapi.schema.json", document: openAPI.body),
            ])
            #expect(result.status == 0, "\(result.output)")
        }
    }

    // MARK: Health and metrics

    func observability(_ caller: ClientCaller, _ port: Int) async throws {
        let health = try await caller.call(port, .GET, "/healthz")
        #expect(health.status == 200, "\(health.text)")
        #expect(health.text.contains(#""status":"ok""#))
        if JSONSchemaCheck.python != nil {
            let result = try await JSONSchemaCheck.validate([(schema: "schemas/server-health.schema.json", document: health.body)])
            #expect(result.status == 0, "\(result.output)")
        }
        let metrics = try await caller.call(port, .GET, "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.text.contains("lienthong_exchanges_total"))
        #expect(metrics.text.contains("Server.ClientProxy.AccessDenied"))
        #expect(metrics.text.contains("lienthong_exchange_duration_seconds_bucket"))
    }

    // MARK: Revocation through the live OCSP responder

    func revocation(_ caller: ClientCaller, _ port: Int, _ network: ExchangeNetwork, _ backend: BackendLog) async throws {
        let record = try network.memberRecord(N.consumer)
        try network.pki.revoke(serial: record.serial, reason: "keyCompromise")
        let revokedAt = Date()
        var refused: ClientCaller.Answer?
        while Date().timeIntervalSince(revokedAt) < Double(N.ocspFreshness) + 5 {
            let before = await backend.count
            let answer = try await caller.call(port, .GET, Self.lookupPath + "/cong-dan/2", headers: headers())
            if answer.status != 200 {
                refused = answer
                #expect(await backend.count == before, "a refused exchange reaches no backend")
                break
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        let elapsed = Date().timeIntervalSince(revokedAt)
        #expect(refused?.errorType?.hasSuffix("CertValidation") == true, "\(refused?.text ?? "never refused")")
        #expect(elapsed <= Double(N.ocspFreshness) + 1.5, "refused \(elapsed) s after revocation; freshness is \(N.ocspFreshness) s")
    }
}
