import AsyncHTTPClient
import Foundation
import LienThongAudit
import LienThongServer
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
#if canImport(Glibc)
import Glibc
#endif

private typealias N = ExchangeNetwork

/// Hostile input against running servers (docs/threat-model.md): raw bytes on real sockets to the
/// client-facing port and the inter-server port. Every case must get an error or a closed
/// connection, never reach the backend, and leave the server serving.
@Suite("Hostile input against running servers", .serialized)
struct HostileInputTests {
    static let motCua = "\(N.consumer)/MOTCUA"
    static let service = "/r1/\(N.lookup)"
    static let good = "X-Road-Client: \(motCua)\r\nX-LienThong-Purpose: \(N.purpose)\r\n"

    /// What a hostile request must get.
    enum Expected: CustomStringConvertible {
        /// The exchange handler refuses it: this status, an `X-Road-Error` header of this type and
        /// a `{type, message, detail}` body, and an audit record of the refusal.
        case typed(Int, String)
        /// The HTTP framing is refused before any exchange handler runs (``FramingErrorHandler``):
        /// 400 `Client.BadRequest` with a `{type, message, detail}` body, and the connection closed.
        /// Nothing is recorded: there is no exchange to record.
        case framing
        /// The server closes the connection (TLS port without a handshake).
        case closed

        var description: String {
            switch self {
            case .typed(let status, let type): "\(status) \(type)"
            case .framing: "400 Client.BadRequest from the framing check, connection closed"
            case .closed: "connection closed"
            }
        }
    }

    static let clientCases: [(name: String, bytes: [UInt8], expected: Expected)] = {
        func request(_ head: String, body: String = "") -> [UInt8] { Array((head + "\r\n" + body).utf8) }
        let close = "Host: x\r\nConnection: close\r\n"
        return [
            ("dot segments", request("GET \(service)/../../etc/passwd HTTP/1.1\r\n\(close)\(good)"), .typed(400, "Client.BadRequest")),
            ("encoded dot segments in the path", request("GET \(service)/%2e%2e/%2E%2E/x HTTP/1.1\r\n\(close)\(good)"), .typed(400, "Client.BadRequest")),
            ("encoded dot segment as the service code", request("GET /r1/\(N.provider)/DANCU/%2e%2e HTTP/1.1\r\n\(close)\(good)"), .typed(400, "Client.BadRequest")),
            ("encoded slash in the path", request("GET \(service)/a%2Fb HTTP/1.1\r\n\(close)\(good)"), .typed(400, "Client.BadRequest")),
            ("encoded slash in an identifier", request("GET /r1/VN/GOV/000.00.00.G22%2FDANCU/tra-cuu HTTP/1.1\r\n\(close)\(good)"), .typed(400, "Client.BadRequest")),
            ("over-long identifier", request("GET /r1/VN/GOV/\(String(repeating: "9", count: 400))/DANCU/x HTTP/1.1\r\n\(close)\(good)"), .typed(400, "Client.BadRequest")),
            ("bad percent-encoding", request("GET /r1/VN/GOV/000.00.00.G22/DAN%ZZCU/x HTTP/1.1\r\n\(close)\(good)"), .typed(400, "Client.BadRequest")),
            ("unknown protocol version", request("GET /r9/\(N.lookup) HTTP/1.1\r\n\(close)\(good)"), .typed(400, "Client.InvalidProtocolVersion")),
            ("missing X-Road-Client", request("GET \(service) HTTP/1.1\r\n\(close)X-LienThong-Purpose: \(N.purpose)\r\n"), .typed(400, "Client.MissingHeader")),
            ("malformed X-Road-Client", request("GET \(service) HTTP/1.1\r\n\(close)X-Road-Client: VN//x\r\n"), .typed(400, "Client.InvalidClientIdentifier")),
            ("a second, conflicting X-Road-Client (the last one counts)",
             request("GET \(service) HTTP/1.1\r\n\(close)\(good)X-Road-Client: \(N.provider)/DANCU\r\n"), .typed(500, "Server.ClientProxy.UnknownMember")),
            ("control character in a header value", request("GET \(service) HTTP/1.1\r\n\(close)\(good)X-Road-UserId: a\u{1B}b\r\n"), .framing),
            ("malformed chunked body", request("POST \(service) HTTP/1.1\r\n\(close)\(good)Transfer-Encoding: chunked\r\n", body: "zz\r\nabc\r\n0\r\n\r\n"),
             .typed(400, "Client.BadRequest")),
            ("declared body over the limit", request("POST \(service) HTTP/1.1\r\n\(close)\(good)Content-Length: 99999999999\r\n"), .typed(400, "Client.RequestTooLarge")),
            ("bare CR inside a header (header injection)", request("GET \(service) HTTP/1.1\r\n\(close)X-Road-Client: \(motCua)\rX-Evil: 1\r\n"), .framing),
            ("two different Content-Length headers", request("POST \(service) HTTP/1.1\r\n\(close)\(good)Content-Length: 100\r\nContent-Length: 5\r\n", body: "hello"), .framing),
            ("Content-Length and chunked together (request smuggling)",
             request("POST \(service) HTTP/1.1\r\n\(close)\(good)Content-Length: 100\r\nTransfer-Encoding: chunked\r\n", body: "5\r\nhello\r\n0\r\n\r\n"), .framing),
            ("a 200 KB header", request("GET \(service) HTTP/1.1\r\n\(close)\(good)X-Big: \(String(repeating: "a", count: 200_000))\r\n"), .framing),
            ("not HTTP at all", Array("GARBAGE\r\n\r\n".utf8), .framing),
        ]
    }()

    @Test("client port and inter-server port: typed errors or closed connections, nothing reaches the backend, audit records where due, slow and idle clients bounded")
    func hostileInputs() async throws {
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        RawSocket.raiseFileLimit()
        let backend = BackendLog()
        let consumerAudit = InMemoryExchangeAuditSink()
        let providerAudit = InMemoryExchangeAuditSink()
        let http = ClientCaller.makeHTTPClient()
        let caller = ClientCaller(http: http)
        try await N.withBackend(backend) { backendPort in
          try await MisbehavingBackend.withRunning { resetting, hung in
            try await network.withInfrastructure { network in
                let ports = ["\(N.provider)/ss1": try await N.freePort(), "\(N.consumer)/ss1": try await N.freePort()]
                try await network.register(serverPorts: ports)
                let provider = LienThongSecurityServer(configuration: try network.configuration(
                    server: "\(N.provider)/ss1", member: N.provider, interServerPort: ports["\(N.provider)/ss1"] ?? 0,
                    services: [.init(id: N.lookup, backendURL: "http://127.0.0.1:\(backendPort)/api"),
                               // Backends that misbehave: one resets every connection, one accepts and never answers.
                               .init(id: N.slow, backendURL: "http://127.0.0.1:\(resetting)/api"),
                               .init(id: N.vetoed, backendURL: "http://127.0.0.1:\(hung)/api", timeoutSeconds: 1)]),
                    audit: providerAudit)
                let consumer = LienThongSecurityServer(configuration: try network.configuration(
                    server: "\(N.consumer)/ss1", member: N.consumer, interServerPort: ports["\(N.consumer)/ss1"] ?? 0, clients: [Self.motCua],
                    limits: .init(maximumBodyBytes: 1 << 20, idleTimeoutSeconds: 2)), audit: consumerAudit)
                try await provider.withRunning { providerPorts in
                    try await consumer.withRunning { consumerPorts in
                        let port = consumerPorts.client
                        let first = try await caller.call(port, .GET, Self.service + "/v1/1", headers: [("X-Road-Client", Self.motCua), ("X-LienThong-Purpose", N.purpose)])
                        #expect(first.status == 200, "a valid exchange first: \(first.text)")
                        let backendCalls = await backend.count
                        let recordsBefore = await consumerAudit.events.count

                        var typedCases = 0
                        for (name, bytes, expected) in Self.clientCases {
                            let answer = try RawSocket.exchange(port: port, bytes: bytes, timeout: 10)
                            Self.check(answer, expected, name)
                            if case .typed = expected { typedCases += 1 }
                        }
                        // The inter-server port speaks TLS only: plain HTTP gets the connection closed.
                        let plain = try RawSocket.exchange(port: providerPorts.interServer, bytes: Array("GET /r1/\(N.lookup) HTTP/1.1\r\nHost: x\r\n\r\n".utf8), timeout: 10)
                        Self.check(plain, .closed, "plain HTTP to the mutual-TLS port")

                        #expect(await backend.count == backendCalls, "no hostile request reached the backend")
                        let refusals = await consumerAudit.events.dropFirst(recordsBefore)
                        #expect(refusals.count == typedCases, "each request the exchange handler refused is in the audit log")
                        #expect(refusals.allSatisfy { $0.outcome == .refused || $0.outcome == .failed })

                        // A replay: the same X-Road-Id from the same client again. The provider refuses it,
                        // signed and bound, after verifying the signature; the backend is not called again.
                        let once = [("X-Road-Client", Self.motCua), ("X-LienThong-Purpose", N.purpose), ("X-Road-Id", "replayed-once")]
                        let original = try await caller.call(port, .GET, Self.service + "/v1/4", headers: once)
                        #expect(original.status == 200, "\(original.text)")
                        let callsBeforeReplay = await backend.count
                        let replay = try await caller.call(port, .GET, Self.service + "/v1/4", headers: once)
                        #expect(replay.status == 500 && replay.errorType == "Server.ServerProxy.DuplicateMessage", "\(replay.status) \(replay.text)")
                        #expect(await backend.count == callsBeforeReplay, "a replay never reaches the backend")

                        // Backends that reset connections or hang: a typed failure, recorded by the provider
                        // as failed, and the servers keep serving.
                        let headers = [("X-Road-Client", Self.motCua), ("X-LienThong-Purpose", N.purpose)]
                        let reset = try await caller.call(port, .GET, "/r1/\(N.slow)/v1/5", headers: headers)
                        #expect(reset.status == 500 && ["Server.ServerProxy.NetworkError", "Server.ServerProxy.ServiceFailed"].contains(reset.errorType ?? ""),
                                "a backend that resets the connection: \(reset.status) \(reset.text)")
                        let hang = try await caller.call(port, .GET, "/r1/\(N.vetoed)/v1/6", headers: headers)
                        #expect(hang.status == 500 && hang.errorType == "Server.ServerProxy.ServiceFailed", "a backend that never answers: \(hang.status) \(hang.text)")
                        let failed = await providerAudit.events.filter { $0.outcome == .failed }
                        #expect(failed.count == 2, "the provider records both failures: \(failed.map { $0.errorType ?? "-" })")

                        // A slow-loris client (half a request head, then nothing) is cut off by the idle timeout.
                        let started = ContinuousClock.now
                        let slow = try RawSocket.exchange(port: port, bytes: Array("GET \(Self.service) HTTP/1.1\r\nHost: x\r\n".utf8), timeout: 15)
                        #expect(slow.closed, "the server closes a stalled request")
                        #expect(ContinuousClock.now - started < .seconds(12), "within the idle timeout (2 s) and a margin")

                        // Many idle connections: the server still serves, and closes them once idle.
                        let idle = try RawSocket.openIdle(port: port, count: RawSocket.affordableConnections(2000))
                        let during = try await caller.call(port, .GET, Self.service + "/v1/2", headers: [("X-Road-Client", Self.motCua), ("X-LienThong-Purpose", N.purpose)])
                        #expect(during.status == 200, "a valid exchange while \(idle.count) idle connections are open: \(during.text)")
                        try await Task.sleep(for: .seconds(5))
                        let stillOpen = RawSocket.countOpen(idle)
                        RawSocket.closeAll(idle)
                        #expect(stillOpen == 0, "\(stillOpen) of \(idle.count) idle connections still open after the idle timeout")

                        let last = try await caller.call(port, .GET, Self.service + "/v1/3", headers: [("X-Road-Client", Self.motCua), ("X-LienThong-Purpose", N.purpose)])
                        #expect(last.status == 200, "the server keeps serving after every hostile input: \(last.text)")
                        print("HostileInputTests: \(Self.clientCases.count + 1) hostile requests, a replay, a resetting and a hung backend, a slow-loris client and \(idle.count) idle connections; \(typedCases) refusals recorded")
                    }
                }
            }
          }
        }
        try await http.shutdown()
    }

    static func check(_ answer: RawSocket.Answer, _ expected: Expected, _ name: String) {
        switch expected {
        case .typed(let status, let type):
            #expect(answer.status == status, "\(name): expected \(expected), got \(answer.head)")
            #expect(answer.header("X-Road-Error") == type, "\(name): expected \(expected), got \(answer.head)")
            let json = try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]
            #expect(json?["type"] as? String == type && json?["message"] is String && json?["detail"] is String,
                    "\(name): the body is a {type, message, detail} object: \(String(decoding: answer.body, as: UTF8.self))")
        case .framing:
            check(answer, .typed(400, "Client.BadRequest"), name)
            #expect(answer.closed, "\(name): the connection is closed after a framing error")
        case .closed:
            #expect(answer.closed && (answer.status ?? 0) / 100 != 2, "\(name): expected \(expected), got \(answer.head)")
        }
    }
}

/// Blocking raw TCP sockets for hostile input: bytes exactly as given, no HTTP client in between.
enum RawSocket {
    struct Failure: Error, CustomStringConvertible { var description: String }

    /// What came back: the status line's code, the head, the body, and whether the server closed.
    struct Answer {
        var status: Int?
        var head: String
        var body: [UInt8]
        var closed: Bool

        func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n").dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                if line[..<colon].lowercased() == name.lowercased() {
                    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
    }

    /// Raises the soft limit on open files to the hard limit (the idle-connection case needs about 2,000).
    static func raiseFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// `wanted` idle connections, or as many as the open-file limit allows for both ends in this process.
    static func affordableConnections(_ wanted: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return min(wanted, 400) }
        return max(100, min(wanted, (Int(limit.rlim_cur) - 1000) / 2))
    }

    static func connect(port: Int, timeout: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(description: "connect to 127.0.0.1:\(port) failed: errno \(errno)")
        }
        var time = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Sends `bytes` and reads until the server closes or `timeout` seconds pass without data.
    static func exchange(port: Int, bytes: [UInt8], timeout: Int) throws -> Answer {
        let fd = try connect(port: port, timeout: timeout)
        defer { close(fd) }
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }   // the server may close before it has read everything
            sent += n
        }
        var received: [UInt8] = []
        var closed = false
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                received.append(contentsOf: buffer[0..<n])
                if let answer = complete(received) { return answer }
                continue
            }
            closed = n == 0 || errno == ECONNRESET
            break
        }
        var answer = parse(received)
        answer.closed = closed
        return answer
    }

    /// The answer, once a whole response (head and `Content-Length` body) has arrived and the server closed or kept it.
    private static func complete(_ bytes: [UInt8]) -> Answer? {
        let answer = parse(bytes)
        guard answer.status != nil, let length = answer.header("Content-Length").flatMap(Int.init), answer.body.count >= length else { return nil }
        // With `Connection: close` the server closes after the body; wait for that to report it.
        guard answer.header("Connection")?.lowercased() != "close" else { return nil }
        return answer
    }

    private static func parse(_ bytes: [UInt8]) -> Answer {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) else {
            return Answer(status: nil, head: String(decoding: bytes.prefix(200), as: UTF8.self), body: [], closed: false)
        }
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        let status = parts.count >= 2 ? Int(parts[1]) : nil
        return Answer(status: status, head: head, body: Array(bytes[(end + 4)...]), closed: false)
    }

    /// Opens `count` connections that send nothing.
    static func openIdle(port: Int, count: Int) throws -> [Int32] {
        var sockets: [Int32] = []
        for _ in 0..<count {
            do { sockets.append(try connect(port: port, timeout: 1)) } catch {
                closeAll(sockets)
                throw error
            }
        }
        return sockets
    }

    /// How many of `sockets` the server has not closed (a non-blocking read that is not end-of-file).
    static func countOpen(_ sockets: [Int32]) -> Int {
        var open = 0
        var byte: UInt8 = 0
        for fd in sockets {
            let n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { open += 1 }
        }
        return open
    }

    static func closeAll(_ sockets: [Int32]) {
        for fd in sockets { close(fd) }
    }
}

/// Backends that misbehave at the TCP level: one resets every connection as soon as it is
/// accepted (`SO_LINGER` 0), one accepts and never answers.
enum MisbehavingBackend {
    final class Reset: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        func channelActive(context: ChannelHandlerContext) { context.close(promise: nil) }
    }

    final class Silent: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
    }

    /// Runs both on free loopback ports while `body` runs.
    static func withRunning<T: Sendable>(_ body: (_ resetting: Int, _ hung: Int) async throws -> T) async throws -> T {
        let group = MultiThreadedEventLoopGroup.singleton
        let resetting = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                // SO_LINGER 0: closing sends a reset, not an orderly end of stream.
                let lingerSet = (channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
                    ?? channel.eventLoop.makeSucceededVoidFuture()
                return lingerSet.flatMapThrowing { try channel.pipeline.syncOperations.addHandler(Reset()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let hung = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Silent()) } }
            .bind(host: "127.0.0.1", port: 0).get()
        let result: Result<T, any Error>
        do { result = .success(try await body(resetting.localAddress?.port ?? 0, hung.localAddress?.port ?? 0)) } catch { result = .failure(error) }
        try? await resetting.close()
        try? await hung.close()
        return try result.get()
    }
}
