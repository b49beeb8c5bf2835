import AsyncHTTPClient
import Foundation
import LienThongAudit
import LienThongAuditPostgres
import LienThongCore
import LienThongServer
import LienThongTestSupport
import LienThongTrust
import Logging
import NIOHTTP1
import Synchronization
import Testing

private typealias N = ExchangeNetwork
private typealias H = InterServerHostileTests

/// Freshness and replay on real provider servers (issue 15 item 6, docs/protocol.md §6.3,
/// docs/threat-model.md): the signed request carries the consumer's time; the provider refuses a
/// request whose signed time lies outside its window, and a repeated message id also across a
/// restart and on another node that shares the store.
///
/// Attacks are hand-made requests signed with the consumer member's real key and sent over the
/// consumer server's real pinned TLS identity (the captured request an attacker would replay).
/// Each refusal must be typed, signed (it comes after verification), recorded by the provider, and
/// never reach the backend. Clocks are injected (``SkewClock``); nothing sleeps.
@Suite("Freshness and replay", .serialized)
struct ReplayFreshnessTests {
    static let motCua = "\(N.consumer)/MOTCUA"
    static let providerServer = "\(N.provider)/ss1"
    static let consumerServer = "\(N.consumer)/ss1"
    /// A short replay window for these tests (the default is 300 s), so the clock moves less.
    static let window = 60

    /// A request from MOTCUA to the lookup service signed by `signer` at `time` (the consumer's clock).
    static func signedRequest(id: String, signer: DetachedJWS.Signer, time: Date = Date()) throws -> PeerRequest {
        let target = "/r1/\(N.lookup)/v1/cong-dan/1"
        var headers: [(name: String, value: String)] = [
            (name: "X-Road-Client", value: motCua), (name: "X-Road-Id", value: id), (name: "X-LienThong-Purpose", value: N.purpose),
        ]
        let parsed = try ParsedClientRequest(method: "GET", rawTarget: target, headers: headers)
        let signedAt = CanonicalMessage.milliseconds(time)
        let canonical = parsed.canonicalRequest(bodyDigest: .sha256(of: [UInt8]()), time: signedAt)
        headers.append((name: "X-LienThong-Protocol", value: "2"))
        headers.append((name: "X-LienThong-Time", value: String(signedAt)))
        headers.append((name: "X-LienThong-Signature", value: try signer.sign(digest: canonical.digest).compact))
        return PeerRequest(method: "GET", target: target, headers: headers, body: SpooledBody(bytes: []))
    }

    /// Sends `request` and checks the answer: `type` nil means served (200); otherwise a typed,
    /// signed refusal that the provider recorded and that never reached the backend.
    static func expect(_ name: String, _ request: PeerRequest, id: String, to endpoint: PeerEndpoint, with peers: PeerClient,
                       type: String?, signed: Bool = true, backend: BackendLog, audit: InMemoryExchangeAuditSink,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let calls = await backend.count
        let outcome = try await H.send(peers, request, endpoint)
        guard case .answered(let reply) = outcome else {
            Issue.record("\(name): no HTTP answer: \(outcome)", sourceLocation: sourceLocation)
            return
        }
        let events = await audit.events.filter { $0.messageId == id }
        guard let type else {
            #expect(reply.status == 200, "\(name): served: \(reply.status) \(reply.header("X-Road-Error") ?? "") \(reply.text)",
                    sourceLocation: sourceLocation)
            #expect(await backend.count == calls + 1, "\(name): the backend is called once", sourceLocation: sourceLocation)
            return
        }
        #expect(reply.status == 500 && reply.header("X-Road-Error") == type,
                "\(name): expected \(type), got \(reply.status) \(reply.header("X-Road-Error") ?? "no X-Road-Error") \(reply.text)",
                sourceLocation: sourceLocation)
        H.expectTyped(reply, type, name)
        #expect((reply.header("X-LienThong-Signature") != nil) == signed, "\(name): the refusal is \(signed ? "" : "not ")signed",
                sourceLocation: sourceLocation)
        #expect(await backend.count == calls, "\(name): nothing reaches the backend", sourceLocation: sourceLocation)
        #expect(events.last?.outcome == .refused && events.last?.errorType == type,
                "\(name): the provider records the refusal: \(events.map { "\($0.outcome) \($0.errorType ?? "-")" })",
                sourceLocation: sourceLocation)
    }

    @Test("A replay after the window, and a consumer whose clock runs ahead past the tolerance: StaleRequest, signed and recorded")
    func replayAfterTheWindowAndFutureTime() async throws {
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        let backend = BackendLog()
        let providerAudit = InMemoryExchangeAuditSink()
        let consumerAudit = InMemoryExchangeAuditSink()
        let http = ClientCaller.makeHTTPClient()
        let caller = ClientCaller(http: http)
        let providerClock = SkewClock()
        let fastClock = SkewClock()
        fastClock.skew(120)   // a consumer server whose clock runs 2 minutes ahead (tolerance: 30 s by default)

        try await N.withBackend(backend) { backendPort in
            // OCSP answers stay fresh while the provider's clock is moved forward.
            try await network.withInfrastructure(ocspFreshnessSeconds: 900) { network in
                let fastServer = "\(N.consumer)/ss2"
                let ports = [Self.providerServer: try await N.freePort(), Self.consumerServer: try await N.freePort(),
                             fastServer: try await N.freePort()]
                try await network.register(serverPorts: ports)
                let provider = LienThongSecurityServer(configuration: try network.configuration(
                    server: Self.providerServer, member: N.provider, interServerPort: ports[Self.providerServer] ?? 0,
                    services: [.init(id: N.lookup, backendURL: "http://127.0.0.1:\(backendPort)/api")],
                    limits: .init(replayWindowSeconds: Self.window)), audit: providerAudit, hooks: .init(clock: { providerClock.now() }))
                let consumer = LienThongSecurityServer(configuration: try network.configuration(
                    server: Self.consumerServer, member: N.consumer, interServerPort: ports[Self.consumerServer] ?? 0, clients: [Self.motCua]),
                    audit: consumerAudit)
                let fast = LienThongSecurityServer(configuration: try network.configuration(
                    server: fastServer, member: N.consumer, interServerPort: ports[fastServer] ?? 0, clients: [Self.motCua]),
                    audit: consumerAudit, hooks: .init(clock: { fastClock.now() }))
                let signer = try H.signer(network, try network.memberRecord(N.consumer))
                let peers = try H.peerClient(try H.identity(network, try network.tlsRecord(Self.consumerServer)), network)
                let pin = try N.pin(of: network.path(try network.tlsRecord(Self.providerServer)))

                try await provider.withRunning { providerPorts in
                try await consumer.withRunning { consumerPorts in
                try await fast.withRunning { fastPorts in
                    let endpoint = PeerEndpoint(host: "127.0.0.1", port: providerPorts.interServer, pinnedCertificateSHA256: [pin])
                    let headers = [("X-Road-Client", Self.motCua), ("X-LienThong-Purpose", N.purpose)]
                    let first = try await caller.call(consumerPorts.client, .GET, "/r1/\(N.lookup)/v1/0", headers: headers + [("X-Road-Id", "binh-thuong")])
                    #expect(first.status == 200, "a consumer with a correct clock is served: \(first.text)")

                    // A consumer server whose clock is 120 s ahead signs a time in the provider's future.
                    let calls = await backend.count
                    let ahead = try await caller.call(fastPorts.client, .GET, "/r1/\(N.lookup)/v1/1", headers: headers + [("X-Road-Id", "dong-ho-nhanh")])
                    #expect(ahead.status == 500 && ahead.errorType == "Server.ServerProxy.StaleRequest",
                            "a request signed 120 s in the provider's future: \(ahead.status) \(ahead.errorType ?? "-") \(ahead.text)")
                    #expect(await backend.count == calls, "a request from the future reaches no backend")
                    let refused = await providerAudit.events.filter { $0.messageId == "dong-ho-nhanh" }
                    #expect(refused.last?.outcome == .refused && refused.last?.errorType == "Server.ServerProxy.StaleRequest"
                            && refused.last?.responseSignature != nil,
                            "the provider records the refusal, signed: \(refused.map { "\($0.outcome) \($0.errorType ?? "-")" })")

                    // A captured request: served once, then replayed as the provider's clock moves on.
                    let capturedAt = Date()
                    let captured = try Self.signedRequest(id: "bat-duoc", signer: signer, time: capturedAt)
                    try await Self.expect("the original request", captured, id: "bat-duoc", to: endpoint, with: peers, type: nil,
                                          backend: backend, audit: providerAudit)
                    providerClock.skew(50)   // inside window + tolerance: still remembered
                    try await Self.expect("a replay 50 s later (inside the window)", captured, id: "bat-duoc", to: endpoint, with: peers,
                                          type: "Server.ServerProxy.DuplicateMessage", backend: backend, audit: providerAudit)
                    providerClock.skew(Double(Self.window) + 30 + 10)   // past window + tolerance
                    try await Self.expect("a replay after the window", captured, id: "bat-duoc", to: endpoint, with: peers,
                                          type: "Server.ServerProxy.StaleRequest", backend: backend, audit: providerAudit)
                    // A request signed long ago and never sent before is just as stale.
                    let old = try Self.signedRequest(id: "cu", signer: signer, time: capturedAt)
                    try await Self.expect("a request first sent after the window", old, id: "cu", to: endpoint, with: peers,
                                          type: "Server.ServerProxy.StaleRequest", backend: backend, audit: providerAudit)
                    providerClock.skew(0)
                    // Hand-signed in the future: 31 s is past the 30 s tolerance, 20 s is not.
                    let future = try Self.signedRequest(id: "tuong-lai", signer: signer, time: Date().addingTimeInterval(45))
                    try await Self.expect("a request signed 45 s ahead", future, id: "tuong-lai", to: endpoint, with: peers,
                                          type: "Server.ServerProxy.StaleRequest", backend: backend, audit: providerAudit)
                    let nearFuture = try Self.signedRequest(id: "hoi-nhanh", signer: signer, time: Date().addingTimeInterval(20))
                    try await Self.expect("a request signed 20 s ahead (inside the tolerance)", nearFuture, id: "hoi-nhanh", to: endpoint,
                                          with: peers, type: nil, backend: backend, audit: providerAudit)

                    // A peer of inter-server protocol 1 (no signed time) gets a clear, typed refusal before
                    // its signature is even checked: unsigned, since nothing is verified yet.
                    for (version, id) in [(nil, "giao-thuc-1"), ("3", "giao-thuc-3")] as [(String?, String)] {
                        var old = try Self.signedRequest(id: id, signer: signer)
                        old.headers.removeAll { ["x-lienthong-protocol", "x-lienthong-time"].contains($0.name.lowercased()) }
                        if let version { old.headers.append((name: "X-LienThong-Protocol", value: version)) }
                        try await Self.expect("a request of protocol \(version ?? "1")", old, id: id, to: endpoint, with: peers,
                                              type: "Server.ServerProxy.InvalidProtocolVersion", signed: false, backend: backend,
                                              audit: providerAudit)
                    }
                    await peers.shutdown()
                }
                }
                }
            }
        }
        try await http.shutdown()
    }

    @Test("A replay after a provider restart on the same data directory (SQLite) is refused: DuplicateMessage, signed and recorded")
    func replayAfterRestart() async throws {
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        let backend = BackendLog()
        try await N.withBackend(backend) { backendPort in
            try await network.withInfrastructure { network in
                let port = try await N.freePort()
                try await network.register(serverPorts: [Self.providerServer: port, Self.consumerServer: try await N.freePort()])
                let configuration = try network.configuration(
                    server: Self.providerServer, member: N.provider, interServerPort: port,
                    services: [.init(id: N.lookup, backendURL: "http://127.0.0.1:\(backendPort)/api")])
                let signer = try H.signer(network, try network.memberRecord(N.consumer))
                let endpoint = PeerEndpoint(host: "127.0.0.1", port: port,
                                            pinnedCertificateSHA256: [try N.pin(of: network.path(try network.tlsRecord(Self.providerServer)))])
                let captured = try Self.signedRequest(id: "truoc-khi-khoi-dong-lai", signer: signer)

                // First life of the provider: the request is served.
                let firstAudit = InMemoryExchangeAuditSink()
                try await LienThongSecurityServer(configuration: configuration, audit: firstAudit).withRunning { _ in
                    let peers = try H.peerClient(try H.identity(network, try network.tlsRecord(Self.consumerServer)), network)
                    try await Self.expect("the original request", captured, id: "truoc-khi-khoi-dong-lai", to: endpoint, with: peers,
                                          type: nil, backend: backend, audit: firstAudit)
                    await peers.shutdown()
                }
                // The same server restarted (same configuration and data directory): the replay is refused.
                let secondAudit = InMemoryExchangeAuditSink()
                try await LienThongSecurityServer(configuration: configuration, audit: secondAudit).withRunning { _ in
                    let peers = try H.peerClient(try H.identity(network, try network.tlsRecord(Self.consumerServer)), network)
                    try await Self.expect("a replay after the restart", captured, id: "truoc-khi-khoi-dong-lai", to: endpoint, with: peers,
                                          type: "Server.ServerProxy.DuplicateMessage", backend: backend, audit: secondAudit)
                    let fresh = try Self.signedRequest(id: "sau-khi-khoi-dong-lai", signer: signer)
                    try await Self.expect("a new request after the restart", fresh, id: "sau-khi-khoi-dong-lai", to: endpoint, with: peers,
                                          type: nil, backend: backend, audit: secondAudit)
                    await peers.shutdown()
                }
            }
        }
    }

    @Test("A replay on another node of the provider sharing the PostgreSQL store is refused, and two nodes racing one id serve it once")
    func replayOnAnotherNode() async throws {
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        let backend = BackendLog()
        try await withPostgres { url in
            try await N.withBackend(backend) { backendPort in
                try await network.withInfrastructure { network in
                    let portA = try await N.freePort(), portB = try await N.freePort()
                    try await network.register(serverPorts: [Self.providerServer: portA, Self.consumerServer: try await N.freePort()])
                    func node(_ name: String, port: Int) throws -> SecurityServerConfiguration {
                        var configuration = try network.configuration(
                            server: Self.providerServer, member: N.provider, interServerPort: port,
                            services: [.init(id: N.lookup, backendURL: "http://127.0.0.1:\(backendPort)/api")])
                        configuration.dataDirectory += "-" + name
                        configuration.audit.node = name
                        configuration.audit.postgresURL = url
                        return configuration
                    }
                    let auditA = InMemoryExchangeAuditSink(), auditB = InMemoryExchangeAuditSink()
                    let nodeA = LienThongSecurityServer(configuration: try node("node-a", port: portA), audit: auditA)
                    let nodeB = LienThongSecurityServer(configuration: try node("node-b", port: portB), audit: auditB)
                    let signer = try H.signer(network, try network.memberRecord(N.consumer))
                    let pin = try N.pin(of: network.path(try network.tlsRecord(Self.providerServer)))
                    let endpointA = PeerEndpoint(host: "127.0.0.1", port: portA, pinnedCertificateSHA256: [pin])
                    let endpointB = PeerEndpoint(host: "127.0.0.1", port: portB, pinnedCertificateSHA256: [pin])
                    let peers = try H.peerClient(try H.identity(network, try network.tlsRecord(Self.consumerServer)), network)

                    try await nodeA.withRunning { _ in
                    try await nodeB.withRunning { _ in
                        let captured = try Self.signedRequest(id: "nut-a", signer: signer)
                        try await Self.expect("the original request, on node A", captured, id: "nut-a", to: endpointA, with: peers,
                                              type: nil, backend: backend, audit: auditA)
                        try await Self.expect("the same request replayed on node B", captured, id: "nut-a", to: endpointB, with: peers,
                                              type: "Server.ServerProxy.DuplicateMessage", backend: backend, audit: auditB)

                        // Two nodes racing the same new request, several times: exactly one serves each.
                        for round in 0..<5 {
                            let id = "dua-\(round)"
                            let request = try Self.signedRequest(id: id, signer: signer)
                            let calls = await backend.count
                            async let a = H.send(peers, request, endpointA)
                            async let b = H.send(peers, request, endpointB)
                            let outcomes = try await [a, b]
                            let statuses = outcomes.map { outcome -> String in
                                guard case .answered(let reply) = outcome else { return "no answer" }
                                return reply.status == 200 ? "200" : (reply.header("X-Road-Error") ?? "\(reply.status)")
                            }
                            #expect(statuses.sorted() == ["200", "Server.ServerProxy.DuplicateMessage"],
                                    "round \(round): one node serves, the other refuses the duplicate: \(statuses)")
                            #expect(await backend.count == calls + 1, "round \(round): the backend is called once")
                        }
                    }
                    }
                    await peers.shutdown()
                }
            }
        }
    }
}

/// ``ReplayCheck`` on its own, with an injected clock: the exact edges of the window, pruning,
/// and failing closed when the store cannot be reached.
@Suite("Replay check")
struct ReplayCheckTests {
    static let provider = try! MemberId(parsing: "VN/GOV/000.00.00.G22")
    static let client = try! ClientId(parsing: "VN/GOV/000.00.00.H26/MOTCUA")
    static let now = Date(timeIntervalSince1970: 1_767_225_600)
    static let nowMs: Int64 = 1_767_225_600_000

    static func type(_ check: ReplayCheck, _ id: String, signedAt: Int64, now: Date = now) async -> String? {
        do throws(XRoadFault) {
            try await check.admit(provider: provider, client: client, messageId: id, signedAt: signedAt, now: now)
            return nil
        } catch {
            return error.type.name
        }
    }

    @Test("the window is [now - window - skew, now + skew], to the millisecond; a repeat inside it is a duplicate")
    func edges() async throws {
        let check = ReplayCheck(windowSeconds: 60, skewSeconds: 5, store: InMemoryReplayStore())
        let stale = "Server.ServerProxy.StaleRequest"
        #expect(await Self.type(check, "oldest", signedAt: Self.nowMs - 65_000) == nil, "exactly window + skew old")
        #expect(await Self.type(check, "too-old", signedAt: Self.nowMs - 65_001) == stale)
        #expect(await Self.type(check, "newest", signedAt: Self.nowMs + 5_000) == nil, "exactly skew ahead")
        #expect(await Self.type(check, "too-new", signedAt: Self.nowMs + 5_001) == stale)
        #expect(await Self.type(check, "epoch", signedAt: 0) == stale)
        #expect(await Self.type(check, "year-9999", signedAt: CanonicalMessage.maximumTime) == stale)
        #expect(await Self.type(check, "oldest", signedAt: Self.nowMs - 65_000) == "Server.ServerProxy.DuplicateMessage")
        #expect(await Self.type(check, "newest", signedAt: Self.nowMs, now: Self.now.addingTimeInterval(1)) == "Server.ServerProxy.DuplicateMessage")
        // Once the clock has passed window + skew, the captured request is stale, whatever the store holds.
        #expect(await Self.type(check, "newest", signedAt: Self.nowMs + 5_000, now: Self.now.addingTimeInterval(70.002)) == stale)
    }

    @Test("entries are pruned past window + 2 x skew, never earlier")
    func pruning() async throws {
        let store = InMemoryReplayStore()
        let check = ReplayCheck(windowSeconds: 60, skewSeconds: 5, store: store)
        #expect(await Self.type(check, "a", signedAt: Self.nowMs) == nil)
        // 69 s later (< 60 + 2 × 5): still stored, so a repeat that is still fresh (signed 64.9 s ago) is a duplicate.
        #expect(await Self.type(check, "b", signedAt: Self.nowMs + 69_000, now: Self.now.addingTimeInterval(69)) == nil)
        #expect(try await !store.admit(SeenRequest(provider: Self.provider.canonical, client: Self.client.canonical, messageId: "a", signedAt: 0)))
        // 85 s later (pruning runs at most every window / 4 = 15 s): "a" is pruned; the check would refuse it as stale anyway.
        #expect(await Self.type(check, "c", signedAt: Self.nowMs + 85_000, now: Self.now.addingTimeInterval(85)) == nil)
        #expect(try await store.admit(SeenRequest(provider: Self.provider.canonical, client: Self.client.canonical, messageId: "a", signedAt: Self.nowMs + 85_000)))
    }

    @Test("a store that cannot be reached refuses the request (fail closed): PostgreSQL on a closed port")
    func failsClosed() async throws {
        var logger = Logger(label: "replay-check-tests")
        logger.logLevel = .critical
        var configuration = try PostgresAuditLeafStore.Configuration(url: "postgres://postgres@127.0.0.1:1/postgres")
        configuration.connectionWaitTimeout = .seconds(2)
        let store = try PostgresAuditLeafStore(configuration: configuration, node: "n", logger: logger)
        let check = ReplayCheck(windowSeconds: 60, skewSeconds: 5, store: store)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await store.run() }
            #expect(await Self.type(check, "x", signedAt: Self.nowMs) == "Server.ServerProxy.InternalError")
            // Not remembered in memory as admitted-and-served: a retry is refused again, never served.
            #expect(await Self.type(check, "x", signedAt: Self.nowMs) != nil)
            group.cancelAll()
        }
    }
}
