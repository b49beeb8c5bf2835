import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import LienThongTrust
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Testing
@testable import LienThongServer

/// A development PKI with a provider server certificate and a consumer (client) certificate.
struct PeerTestPKI {
    let directory: URL
    let pki: DevelopmentPKI
    let provider: IssuedCertificateRecord
    let consumer: IssuedCertificateRecord

    init() throws {
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("peer-pki-\(UUID().uuidString)")
        self.pki = try DevelopmentPKI.initialise(at: self.directory, instance: "VN", ocspURL: nil)
        self.provider = try self.pki.issue(role: .server, holderId: "VN/GOV/000.00.00.G22/SS1")
        self.consumer = try self.pki.issue(role: .server, holderId: "VN/GOV/000.00.00.H29/SS1")
    }

    func url(_ relative: String) -> URL { self.directory.appendingPathComponent(relative) }

    func remove() { try? FileManager.default.removeItem(at: self.directory) }

    /// The lower-case hex SHA-256 of a record's DER certificate.
    func pin(_ record: IssuedCertificateRecord) throws -> String {
        let der = try NIOSSLCertificate.fromPEMFile(self.url(record.certificatePath).path)[0].toDERBytes()
        return SHA256.hash(data: der).map { String(format: "%02x", $0) }.joined()
    }

    /// The consumer's TLS identity.
    func consumerIdentity() throws -> PeerTLSIdentity {
        PeerTLSIdentity(
            certificateChain: [try PEMFiles.readCertificate(self.url(self.consumer.certificatePath))],
            privateKey: try PEMFiles.readPrivateKey(self.url(self.consumer.keyPath)))
    }

    /// The provider's server TLS configuration: TLS 1.3, client certificates required, dev root trusted.
    func providerTLS() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(self.url(self.provider.certificatePath).path).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: self.url(self.provider.keyPath).path, format: .pem)))
        tls.minimumTLSVersion = .tlsv13
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(self.pki.url(.rootCertificate).path))
        tls.certificateVerification = .noHostnameVerification
        return tls
    }
}

/// A Hummingbird server over mutual TLS: `/echo` answers with the request's body, and its method,
/// target and `x-test` header in `x-echo-*` headers; `/slow` answers after ten seconds; `/big?size=N`
/// answers with N bytes.
enum PeerTestServer {
    static let quietLogger: Logger = {
        var logger = Logger(label: "lienthong.test.peer")
        logger.logLevel = .error
        return logger
    }()

    static func router() -> Router<BasicRequestContext> {
        let router = Router()
        let echo: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let body = try await request.body.collect(upTo: 16 << 20)
            var headers = HTTPFields()
            headers[HTTPField.Name("x-echo-method")!] = request.method.rawValue
            headers[HTTPField.Name("x-echo-target")!] = request.uri.description
            headers[HTTPField.Name("x-echo-test")!] = request.headers[HTTPField.Name("x-test")!] ?? "-"
            headers[HTTPField.Name("x-echo-length")!] = request.headers[.contentLength] ?? "-"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: body))
        }
        router.get("echo", use: echo)
        router.post("echo", use: echo)
        router.get("slow") { _, _ -> Response in
            try await Task.sleep(for: .seconds(10))
            return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "late")))
        }
        router.get("hold") { request, _ -> Response in
            try await Task.sleep(for: .milliseconds(request.uri.queryParameters.get("ms", as: Int.self) ?? 100))
            return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "held")))
        }
        router.get("big") { request, _ -> Response in
            let size = request.uri.queryParameters.get("size", as: Int.self) ?? 0
            return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(repeating: 0x61, count: size)))
        }
        return router
    }

    /// Runs the server on a loopback port for the duration of `body`.
    static func withServer<T: Sendable>(
        _ pki: PeerTestPKI, idleTimeout: TimeAmount? = nil, _ body: (_ port: Int) async throws -> T
    ) async throws -> T {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router(),
            server: try .tls(.http1(configuration: .init(idleTimeout: idleTimeout)), tlsConfiguration: pki.providerTLS()),
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
                throw PeerClientError(.connectFailed, "the test server did not start")
            }
            let result: Result<T, any Error>
            do { result = .success(try await body(port)) } catch { result = .failure(error) }
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            return try result.get()
        }
    }
}

@Suite("Peer client")
struct PeerClientTests {
    static func client(
        _ pki: PeerTestPKI,
        responseTimeout: Duration = .seconds(10),
        maximumResponse: Int = 16 << 20,
        maximumConnections: Int = 128
    ) throws -> PeerClient {
        try PeerClient(
            identity: pki.consumerIdentity(),
            connectTimeout: .seconds(2),
            responseTimeout: responseTimeout,
            responseBodyLimits: BodySpoolLimits(maximumSize: maximumResponse),
            maximumConnectionsPerPeer: maximumConnections)
    }

    static func endpoint(_ pki: PeerTestPKI, port: Int) throws -> PeerEndpoint {
        try PeerEndpoint(address: "127.0.0.1:\(port)", pins: [pki.pin(pki.provider)])
    }

    static func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
    }

    static func expectError(_ code: PeerClientError.Code, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected \(code), but the request succeeded")
        } catch let error as PeerClientError {
            #expect(error.code == code, "\(error)")
        } catch {
            Issue.record("expected a PeerClientError \(code), got \(error)")
        }
    }

    // MARK: Endpoint addresses

    @Test func endpointAddresses() throws {
        let v4 = try PeerEndpoint(address: "10.0.0.1:5500", pins: ["ABCD"])
        #expect(v4.host == "10.0.0.1" && v4.port == 5500 && v4.pinnedCertificateSHA256 == ["abcd"])
        let v6 = try PeerEndpoint(address: "[::1]:8443", pins: [])
        #expect(v6.host == "::1" && v6.port == 8443 && v6.description == "[::1]:8443")
        let name = try PeerEndpoint(address: "ss1.example.gov.vn:443", pins: [])
        #expect(name.host == "ss1.example.gov.vn" && name.port == 443)
        for bad in ["", "host", "host:", ":443", "host:0", "host:70000", "host:-1", "::1:443", "[::1]443", "[::1]:", "a b:1", "host:+1"] {
            #expect(throws: PeerClientError.self, "\(bad)") { _ = try PeerEndpoint(address: bad, pins: []) }
        }
    }

    // MARK: Live TLS

    @Test func getAndPostRoundTrip() async throws {
        let pki = try PeerTestPKI()
        defer { pki.remove() }
        let client = try Self.client(pki)
        try await PeerTestServer.withServer(pki) { port in
            let endpoint = try Self.endpoint(pki, port: port)
            let get = try await client.send(
                PeerRequest(method: "GET", target: "/echo?q=1", headers: [(name: "X-Test", value: "hello")]), to: endpoint)
            #expect(get.status == 200)
            #expect(get.header("x-echo-method") == "GET")
            #expect(get.header("x-echo-target") == "/echo?q=1")
            #expect(get.header("x-echo-test") == "hello")
            #expect(get.body.byteCount == 0)
            #expect(get.peerCertificateSHA256 == (try pki.pin(pki.provider)))

            let data = Self.bytes(3 << 20)
            let post = try await client.send(
                PeerRequest(method: "POST", target: "/echo", headers: [(name: "Content-Length", value: "1")],
                            body: SpooledBody(bytes: data)),
                to: endpoint)
            #expect(post.status == 200)
            #expect(post.header("x-echo-method") == "POST")
            #expect(post.header("x-echo-length") == String(data.count))
            #expect(post.body.byteCount == data.count)
            #expect(!post.body.isInMemory)
            #expect(post.body.sha256 == SpooledBody(bytes: data).sha256)
            #expect(Array(try await post.body.collect(upTo: data.count).readableBytesView) == data)
        }
        await client.shutdown()
    }

    @Test func keepAliveReusesTheConnection() async throws {
        let pki = try PeerTestPKI()
        defer { pki.remove() }
        let client = try Self.client(pki)
        try await PeerTestServer.withServer(pki) { port in
            let endpoint = try Self.endpoint(pki, port: port)
            for i in 0..<3 {
                let response = try await client.send(
                    PeerRequest(method: "POST", target: "/echo", body: SpooledBody(bytes: Array("n\(i)".utf8))), to: endpoint)
                #expect(Array(try await response.body.collect(upTo: 10).readableBytesView) == Array("n\(i)".utf8))
            }
            #expect(await client.connectionsOpened == 1)
            #expect(await client.idleConnectionCount(for: endpoint) == 1)

            // The same address with other pins is another pool.
            var other = endpoint
            other.pinnedCertificateSHA256.insert(String(repeating: "0", count: 64))
            _ = try await client.send(PeerRequest(method: "GET", target: "/echo"), to: other)
            #expect(await client.connectionsOpened == 2)
        }
        await client.shutdown()
    }

    @Test func idleConnectionClosedByThePeerIsReplaced() async throws {
        let pki = try PeerTestPKI()
        defer { pki.remove() }
        let client = try Self.client(pki)
        // The server drops connections idle for three seconds; the first one will have been dropped.
        // (Three, not one: a fresh TLS handshake on a loaded machine must not itself hit the limit.)
        try await PeerTestServer.withServer(pki, idleTimeout: .seconds(3)) { port in
            let endpoint = try Self.endpoint(pki, port: port)
            _ = try await client.send(PeerRequest(method: "GET", target: "/echo"), to: endpoint)
            try await Task.sleep(for: .milliseconds(5_000))
            let again = try await client.send(PeerRequest(method: "GET", target: "/echo", headers: [(name: "x-test", value: "2")]), to: endpoint)
            #expect(again.header("x-echo-test") == "2")
            #expect(await client.connectionsOpened == 2)
        }
        await client.shutdown()
    }

    @Test func pinMismatchIsReported() async throws {
        let pki = try PeerTestPKI()
        defer { pki.remove() }
        let client = try Self.client(pki)
        try await PeerTestServer.withServer(pki) { port in
            // Pinned to the consumer's own certificate, not the provider's.
            let endpoint = try PeerEndpoint(address: "127.0.0.1:\(port)", pins: [pki.pin(pki.consumer)])
            await Self.expectError(.pinMismatch) {
                _ = try await client.send(PeerRequest(method: "GET", target: "/echo"), to: endpoint)
            }
            #expect(await client.connectionsOpened == 0)
        }
        await client.shutdown()
    }

    @Test func expiredPinnedCertificateIsRejected() throws {
        let pki = try PeerTestPKI()
        defer { pki.remove() }
        let certificate = try NIOSSLCertificate.fromPEMFile(pki.url(pki.provider.certificatePath).path)
        let pin = try pki.pin(pki.provider)
        let ok = PeerCertificatePinning.check(certificate, pins: [pin], now: Date())
        #expect(try ok.get() == pin)
        let later = PeerCertificatePinning.check(certificate, pins: [pin], now: Date().addingTimeInterval(2 * 365 * 86_400))
        #expect(throws: PeerClientError.self) { try later.get() }
        if case .failure(let error) = later { #expect(error.code == .pinMismatch) }
        if case .failure(let error) = PeerCertificatePinning.check([], pins: [pin], now: Date()) {
            #expect(error.code == .pinMismatch)
        } else {
            Issue.record("an empty chain was accepted")
        }
    }

    @Test func serverDownFailsQuickly() async throws {
        let pki = try PeerTestPKI()
        defer { pki.remove() }
        let client = try Self.client(pki)
        // A port that was just free: bind, note it, close.
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(listener.localAddress?.port)
        try await listener.close()
        let start = ContinuousClock.now
        await Self.expectError(.connectFailed) {
            _ = try await client.send(PeerRequest(method: "GET", target: "/echo"), to: try Self.endpoint(pki, port: port))
        }
        #expect(ContinuousClock.now - start < .seconds(2))
        await client.shutdown()
    }

    @Test func slowResponseTimesOut() async throws {
        let pki = try PeerTestPKI()
        defer { pki.remove() }
        let client = try Self.client(pki, responseTimeout: .milliseconds(300))
        try await PeerTestServer.withServer(pki) { port in
            let endpoint = try Self.endpoint(pki, port: port)
            let start = ContinuousClock.now
            await Self.expectError(.timeout) {
                _ = try await client.send(PeerRequest(method: "GET", target: "/slow"), to: endpoint)
            }
            // Far below the ten seconds the answer would take (the bound leaves room for a slow
            // TLS handshake on a loaded machine).
            #expect(ContinuousClock.now - start < .seconds(6))
            #expect(await client.idleConnectionCount(for: endpoint) == 0)
            // The client still works afterwards.
            let fine = try await client.send(PeerRequest(method: "GET", target: "/echo"), to: endpoint)
            #expect(fine.status == 200)
        }
        await client.shutdown()
    }

    @Test func responseOverTheLimitIsRefused() async throws {
        let pki = try PeerTestPKI()
        defer { pki.remove() }
        let client = try Self.client(pki, maximumResponse: 1 << 20)
        try await PeerTestServer.withServer(pki) { port in
            let endpoint = try Self.endpoint(pki, port: port)
            let exact = try await client.send(PeerRequest(method: "GET", target: "/big?size=\(1 << 20)"), to: endpoint)
            #expect(exact.body.byteCount == 1 << 20)
            await Self.expectError(.responseTooLarge) {
                _ = try await client.send(PeerRequest(method: "GET", target: "/big?size=\((1 << 20) + 1)"), to: endpoint)
            }
            #expect(await client.idleConnectionCount(for: endpoint) == 0)
        }
        await client.shutdown()
    }

    @Test func concurrentRequestsUseSeparateConnections() async throws {
        let pki = try PeerTestPKI()
        defer { pki.remove() }
        let client = try Self.client(pki)
        try await PeerTestServer.withServer(pki) { port in
            let endpoint = try Self.endpoint(pki, port: port)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<8 {
                    group.addTask {
                        let data = Self.bytes(100_000 + i * 1_000)
                        let response = try await client.send(
                            PeerRequest(method: "POST", target: "/echo?i=\(i)", body: SpooledBody(bytes: data)), to: endpoint)
                        #expect(response.status == 200)
                        #expect(response.header("x-echo-target") == "/echo?i=\(i)")
                        #expect(Array(try await response.body.collect(upTo: 1 << 20).readableBytesView) == data)
                    }
                }
                try await group.waitForAll()
            }
            let opened = await client.connectionsOpened
            #expect((1...8).contains(opened))
            #expect(await client.idleConnectionCount(for: endpoint) == opened)
        }
        await client.shutdown()
    }

    @Test func connectionsToOnePeerAreCappedAndTheRestWait() async throws {
        let pki = try PeerTestPKI()
        defer { pki.remove() }
        let client = try Self.client(pki, maximumConnections: 2)
        try await PeerTestServer.withServer(pki) { port in
            let endpoint = try Self.endpoint(pki, port: port)
            let sawWaiting = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        let response = try await client.send(PeerRequest(method: "GET", target: "/hold?ms=400"), to: endpoint)
                        #expect(response.status == 200)
                        return false
                    }
                }
                group.addTask {
                    // While the first two hold their connections, the other four wait for one.
                    for _ in 0..<100 {
                        if await client.waitingRequestCount(for: endpoint) > 0 { return true }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    return false
                }
                var saw = false
                for try await result in group { saw = saw || result }
                return saw
            }
            #expect(sawWaiting, "requests beyond the limit wait for a connection")
            #expect(await client.connectionsOpened <= 2, "never more than 2 connections to the peer")
            #expect(await client.waitingRequestCount(for: endpoint) == 0)
        }
        await client.shutdown()
    }
}
