import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import LienThongCore
import LienThongRegistry
import LienThongTrust
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing
import X509

/// A clock the test moves by hand.
final class GCTestClock: Sendable {
    private let time: Mutex<Date>

    init(_ start: Date = Date()) { time = Mutex(start) }

    var now: Date { time.withLock { $0 } }

    func set(_ date: Date) { time.withLock { $0 = date } }

    var function: @Sendable () -> Date { { [self] in self.now } }
}

/// What the test registry serves at `/globalconf`, and the statuses it answered.
final class GCServedDocument: Sendable {
    private let state = Mutex<(document: SignedGlobalConfiguration?, statuses: [Int])>((nil, []))

    func serve(_ document: SignedGlobalConfiguration?) { state.withLock { $0.document = document } }

    var statuses: [Int] { state.withLock { $0.statuses } }

    func respond(ifNoneMatch: String?) -> Response {
        let document = state.withLock { $0.document }
        guard let document else {
            state.withLock { $0.statuses.append(503) }
            return Response(status: .serviceUnavailable)
        }
        var headers = HTTPFields()
        headers[.eTag] = document.etag
        if let ifNoneMatch, document.matches(ifNoneMatch: ifNoneMatch) {
            state.withLock { $0.statuses.append(304) }
            return Response(status: .notModified, headers: headers)
        }
        state.withLock { $0.statuses.append(200) }
        headers[.contentType] = SignedGlobalConfiguration.mediaType
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: document.jws)))
    }
}

enum GCTestServer {
    static let quietLogger: Logger = {
        var logger = Logger(label: "lienthong.test.globalconf")
        logger.logLevel = .error
        return logger
    }()

    /// Runs a loopback Hummingbird server serving `served` at `/globalconf` for the duration of `body`.
    static func withServer<T: Sendable>(_ served: GCServedDocument, _ body: (_ url: String) async throws -> T) async throws -> T {
        let router = Router()
        router.get("globalconf") { request, _ -> Response in
            served.respond(ifNoneMatch: request.headers[.ifNoneMatch])
        }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: quietLogger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: quietLogger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                defer { continuation.finish() }
                try await group.run()
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else {
                try await tasks.waitForAll()
                throw GlobalConfigurationError(.transport, "the test server did not start")
            }
            let result: Result<T, any Error>
            do { result = .success(try await body("http://127.0.0.1:\(port)/globalconf")) } catch { result = .failure(error) }
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            return try result.get()
        }
    }

    /// An HTTP client that fails at once on a refused connection.
    static func httpClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(2)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }
}

@Suite("Global configuration: client")
struct GlobalConfigurationClientTests {
    @Test("fetch, 304, lower serial and same-serial conflicts refused, expired documents refused, cache written")
    func refreshRules() async throws {
        let pki = try GCFixtures.PKI()
        defer { pki.remove() }
        let clock = GCTestClock()
        let cache = pki.directory.appendingPathComponent("ss/globalconf.jws")
        let snapshot = try GCFixtures.snapshot(now: clock.now)
        func publisher(_ name: String) throws -> GlobalConfigurationPublisher {
            try GlobalConfigurationPublisher(instance: "VN", signer: pki.signer, approvedCAs: try pki.approvedCAs,
                                             stateFile: pki.directory.appendingPathComponent("\(name).json"))
        }
        let registry = try publisher("registry")
        try await registry.publish(snapshot: snapshot, now: clock.now)
        let two = try await registry.publish(snapshot: snapshot, now: clock.now)

        let served = GCServedDocument()
        let http = GCTestServer.httpClient()
        do {
            try await GCTestServer.withServer(served) { url in
                let client = await GlobalConfigurationClient(
                    url: url, cacheFile: cache, trustAnchors: [pki.pki.rootCertificate], expectedInstance: "VN",
                    httpClient: http, logger: GCTestServer.quietLogger, clock: clock.function)
                await expectGCError(.noConfiguration) { try await client.current() }

                // Nothing published yet: 503 is a transport error.
                await expectGCError(.transport) { try await client.refresh() }

                // A document that expired before it arrived is refused.
                let stale = try await publisher("stale").publish(snapshot: snapshot, now: clock.now.addingTimeInterval(-3600))
                served.serve(stale)
                await expectGCError(.expired) { try await client.refresh() }
                await expectGCError(.noConfiguration) { try await client.current() }

                served.serve(two)
                #expect(try await client.refresh() == .updated(serial: 2))
                #expect(try await client.current().serial == 2)
                #expect(try Data(contentsOf: cache) == Data(two.jws.utf8))

                // Unchanged: the registry answers 304 to If-None-Match.
                #expect(try await client.refresh() == .notModified(serial: 2))
                #expect(served.statuses.last == 304)

                // A lower serial is refused and the current one kept.
                let one = try await publisher("other").publish(snapshot: snapshot, now: clock.now)
                #expect(one.serial == 1)
                served.serve(one)
                await expectGCError(.serialRegression) { try await client.refresh() }
                #expect(try await client.current().serial == 2)

                // The same serial with other content is refused.
                let rogue = try publisher("rogue")
                try await rogue.publish(snapshot: snapshot, now: clock.now)
                let otherTwo = try await rogue.publish(snapshot: try GCFixtures.snapshot(now: clock.now, revision: 8, memberName: "Khác"), now: clock.now)
                #expect(otherTwo.serial == 2)
                served.serve(otherTwo)
                await expectGCError(.serialConflict) { try await client.refresh() }
                #expect(try await client.current().members.contains { $0.name == "Bộ Công an" })
                #expect(await client.currentStatus().lastError?.code == .serialConflict)

                // The same content signed again (new signature, new ETag) is accepted as unchanged.
                served.serve(try pki.signer.sign(two.configuration))
                #expect(try await client.refresh() == .notModified(serial: 2))

                // A newer document replaces it, in memory and in the cache.
                let three = try await registry.publish(snapshot: snapshot, now: clock.now)
                served.serve(three)
                #expect(try await client.refresh() == .updated(serial: 3))
                #expect(try Data(contentsOf: cache) == Data(three.jws.utf8))
                let status = await client.currentStatus()
                #expect(status.serial == 3 && status.lastError == nil && status.lastSuccess != nil)
                #expect(try await client.index(at: clock.now).configuration.serial == 3)
            }
        } catch {
            try await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    @Test("after a restart with the registry down, the cache serves until expires_at, then the client fails closed")
    func cacheAcrossRestart() async throws {
        let pki = try GCFixtures.PKI()
        defer { pki.remove() }
        let clock = GCTestClock()
        let cache = pki.directory.appendingPathComponent("ss/globalconf.jws")
        let publisher = try GlobalConfigurationPublisher(
            instance: "VN", signer: pki.signer, approvedCAs: try pki.approvedCAs,
            policy: .init(configurationValiditySeconds: 120), stateFile: pki.directory.appendingPathComponent("state.json"))
        let signed = try await publisher.publish(snapshot: try GCFixtures.snapshot(now: clock.now), now: clock.now)
        let served = GCServedDocument()
        served.serve(signed)
        let http = GCTestServer.httpClient()
        do {
            // First life: fetch and cache; then the registry stops.
            try await GCTestServer.withServer(served) { url in
                let client = await GlobalConfigurationClient(url: url, cacheFile: cache, trustAnchors: [pki.pki.rootCertificate],
                                                             httpClient: http, logger: GCTestServer.quietLogger, clock: clock.function)
                let result = try await client.refresh()
                #expect(result == .updated(serial: 1))
            }

            // Second life: the registry is unreachable.
            let restarted = await GlobalConfigurationClient(
                url: "http://127.0.0.1:1/globalconf", cacheFile: cache, trustAnchors: [pki.pki.rootCertificate],
                expectedInstance: "VN", httpClient: http, logger: GCTestServer.quietLogger, clock: clock.function)
            #expect(try await restarted.current().serial == 1)
            let started = ContinuousClock.now
            await expectGCError(.transport) { try await restarted.refresh() }
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(try await restarted.current().serial == 1)
            #expect(await restarted.currentStatus().lastError?.code == .transport)

            let expiresAt = signed.configuration.expiresAt
            clock.set(expiresAt.addingTimeInterval(-1))
            #expect(try await restarted.current().serial == 1)
            #expect(try await restarted.current(at: expiresAt.addingTimeInterval(-1)).serial == 1)
            clock.set(expiresAt)
            await expectGCError(.expired) { try await restarted.current() }
            await expectGCError(.expired) { try await restarted.index(at: expiresAt.addingTimeInterval(3600)) }

            // A restart after expiry still knows the serial (so a replayed older document stays refused) but serves nothing.
            let late = await GlobalConfigurationClient(
                url: "http://127.0.0.1:1/globalconf", cacheFile: cache, trustAnchors: [pki.pki.rootCertificate],
                httpClient: http, logger: GCTestServer.quietLogger, clock: clock.function)
            #expect(await late.currentStatus().serial == 1)
            await expectGCError(.expired) { try await late.current() }

            // A tampered or garbage cache is ignored.
            try Data(GCFixtures.tamper(signed.jws, part: 2) { $0[0] ^= 0x80 }.utf8).write(to: cache)
            clock.set(expiresAt.addingTimeInterval(-60))
            let tampered = await GlobalConfigurationClient(
                url: "http://127.0.0.1:1/globalconf", cacheFile: cache, trustAnchors: [pki.pki.rootCertificate],
                httpClient: http, logger: GCTestServer.quietLogger, clock: clock.function)
            await expectGCError(.noConfiguration) { try await tampered.current() }
            // A cache signed under another trust anchor is ignored too.
            try Data(signed.jws.utf8).write(to: cache)
            let other = try GCFixtures.PKI()
            defer { other.remove() }
            let foreign = await GlobalConfigurationClient(
                url: "http://127.0.0.1:1/globalconf", cacheFile: cache, trustAnchors: [other.pki.rootCertificate],
                httpClient: http, logger: GCTestServer.quietLogger, clock: clock.function)
            await expectGCError(.noConfiguration) { try await foreign.current() }
        } catch {
            try await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    @Test("run() refreshes in the background and stops on graceful shutdown")
    func backgroundRefresh() async throws {
        let pki = try GCFixtures.PKI()
        defer { pki.remove() }
        let served = GCServedDocument()
        served.serve(try pki.signed(serial: 5))
        let http = GCTestServer.httpClient()
        do {
            try await GCTestServer.withServer(served) { url in
                let client = await GlobalConfigurationClient(
                    url: url, cacheFile: pki.directory.appendingPathComponent("cache.jws"), trustAnchors: [pki.pki.rootCertificate],
                    httpClient: http, refreshInterval: .milliseconds(50), logger: GCTestServer.quietLogger)
                let group = ServiceGroup(configuration: .init(services: [client], logger: GCTestServer.quietLogger))
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await group.run() }
                    var attempts = 0
                    while served.statuses.filter({ $0 == 304 }).count < 2 && attempts < 200 {
                        try await Task.sleep(for: .milliseconds(25))
                        attempts += 1
                    }
                    await group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                }
                #expect(try await client.current().serial == 5)
                #expect(served.statuses.first == 200)
                #expect(served.statuses.filter { $0 == 304 }.count >= 2)
            }
        } catch {
            try await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }
}
