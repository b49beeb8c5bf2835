import AsyncHTTPClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRDB
import LienThongAudit
import LienThongCore
import LienThongTestSupport
import LienThongTrust
import NIOCore
import NIOHTTP1
import Testing

/// Issue 15, "one unauthenticated request stops the registry": a checkpoint whose numbers overflow
/// a sum, sent to a REAL registry process (`lienthong registry serve`, mutual TLS, development PKI
/// and OCSP responder on loopback).
///
/// Every hostile checkpoint is properly signed with the member key of the registered server's
/// owner and sent over TLS with that server's own TLS certificate, so the only thing wrong with
/// it is its numbers: it must get a typed 400 `Client.ValueOutOfRange` (X-Road-Error header,
/// `{type, message, detail}`), the registry process must stay up (`GET /globalconf` and a
/// following valid checkpoint work), and nothing may change: the checkpoint ledger and every
/// usage table (read from the registry's own SQLite file) are row for row the same.
@Suite("Overflowing checkpoints (real registry process)", .serialized)
struct CheckpointOverflowEndToEndTests {
    static let g22 = "VN/GOV/000.00.00.G22"
    static let h26 = "VN/GOV/000.00.00.H26"
    static let server = "\(g22)/ss1"
    static let service = "\(g22)/DANCU/tra-cuu-cong-dan"
    static let client = "\(h26)/MOTCUA"
    /// 2025-03-01T00:00:00Z: every window of the test lies in March 2025, so the counters of one
    /// key all land in the same monthly usage row.
    static let march: Int64 = 1_740_787_200_000
    static let fiveMinutes: Int64 = 300_000
    static let maxSafe: UInt64 = 9_007_199_254_740_991   // 2^53 − 1

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// The registry process, its PKI and clients.
    struct Live {
        let process: BackgroundProcess
        let port: Int
        let pki: DevelopmentPKI
        let admin: ManagementHostileInputTests.Peer
        let server: ManagementHostileInputTests.Peer
        let anonymous: ManagementHostileInputTests.Peer
        let ledgerFile: String
        let memberSigner: DetachedJWS.Signer

        func send(_ peer: ManagementHostileInputTests.Peer, _ method: HTTPMethod, _ path: String,
                  body: [UInt8]? = nil) async throws -> ManagementHostileInputTests.Answer {
            var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)" + path)
            request.method = method
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            let response = try await peer.http.execute(request, timeout: .seconds(60))
            let data = Data(try await response.body.collect(upTo: 64 << 20).readableBytesView)
            return ManagementHostileInputTests.Answer(status: Int(response.status.code), headers: response.headers, body: data)
        }

        func admin(_ path: String, _ json: String) async throws {
            let answer = try await send(admin, .POST, path, body: Array(json.utf8))
            guard answer.status == 201 else { throw Failure("POST \(path): \(answer.status) \(answer.text)") }
        }

        /// Posts a signed checkpoint as the server (its TLS certificate, its owner's signature).
        func submit(_ checkpoint: AuditCheckpoint) async throws -> ManagementHostileInputTests.Answer {
            let body = checkpoint.canonicalBytes
            let signature = try memberSigner.sign(digest: MessageDigest.sha256(of: body)).compact
            let json = #"{"checkpoint":"\#(Base64URL.encode(body))","signature":"\#(signature)"}"#
            return try await send(server, .POST, "/checkpoints", body: Array(json.utf8))
        }

        /// Every row of the ledger and of every usage table, in a fixed order.
        func state() throws -> [String: [String]] {
            var configuration = Configuration()
            configuration.readonly = true
            let queue = try DatabaseQueue(path: ledgerFile, configuration: configuration)
            defer { try? queue.close() }
            return try queue.read { db in
                var tables: [String: [String]] = [:]
                for table in ["checkpoints", "usage_windows", "usage_daily", "usage_monthly", "usage_reconciliation", "usage_last",
                              "checkpoint_heads", "checkpoint_days"] {
                    tables[table] = try Row.fetchAll(db, sql: "SELECT * FROM \(table)").map(\.description).sorted()
                }
                return tables
            }
        }
    }

    /// Starts an OCSP responder and `lienthong registry serve` on a free port, seeds two members,
    /// a server of the first and a service, and runs `body`.
    static func withRegistryProcess(_ body: (Live) async throws -> Void) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-overflow-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let pkiDir = root.appendingPathComponent("pki")
        let pki = try DevelopmentPKI.initialise(at: pkiDir, instance: "VN", ocspURL: nil)
        let admin = try pki.issue(role: .admin, holderId: "VN/GOV/000.00.00.VPCP/quan-tri-15")
        let serverTLS = try pki.issue(role: .server, holderId: server)
        let member = try pki.issue(role: .member, holderId: g22)
        let tls = try pki.issue(role: .server, holderId: "VN/GOV/000.00.00.VPCP/registry")
        let peers = [try ManagementHostileInputTests.Peer(pki: pki, record: admin), try ManagementHostileInputTests.Peer(pki: pki, record: serverTLS),
                     try ManagementHostileInputTests.Peer(pki: pki, record: nil)]
        let signer = try DetachedJWS.Signer(
            key: try MessageSigningKey(pemEncoded: try PEMFiles.readText(pkiDir.appendingPathComponent(member.keyPath))),
            chain: try PEMFiles.readCertificates(pkiDir.appendingPathComponent(member.certificatePath)))

        var failure: (any Error)?
        do {
            try await run(pki: pki, root: root, admin: admin, tls: tls, serverTLS: serverTLS, peers: peers, signer: signer, body)
        } catch { failure = error }
        for peer in peers { try? await peer.http.shutdown() }
        if let failure { throw failure }
    }

    static func run(pki: DevelopmentPKI, root: URL, admin: IssuedCertificateRecord, tls: IssuedCertificateRecord, serverTLS: IssuedCertificateRecord,
                    peers: [ManagementHostileInputTests.Peer], signer: DetachedJWS.Signer, _ body: (Live) async throws -> Void) async throws {
        let pkiDir = pki.directory
        try await DevelopmentOCSPService(pki: pki).withRunning(host: "127.0.0.1", port: 0) { ocspPort in
            let data = root.appendingPathComponent("data").path
            let port = try freePort()
            // The first administrator, registered on the registry's host before it starts (the CLI).
            let initialised = try await runCommand(URL(fileURLWithPath: BackgroundProcess.lienthongExecutable), [
                "registry", "init", "--data", data, "--admin-cert", pkiDir.appendingPathComponent(admin.certificatePath).path,
                "--name", "Quản trị 15"])
            guard initialised.status == 0 else { throw CLIFailure(message: "registry init failed: \(initialised.stderr)") }
            let process = try BackgroundProcess(BackgroundProcess.lienthongExecutable, [
                "registry", "serve", "--listen", "127.0.0.1:\(port)", "--data", data, "--pki", pkiDir.path,
                "--tls-cert", pkiDir.appendingPathComponent(tls.certificatePath).path,
                "--tls-key", pkiDir.appendingPathComponent(tls.keyPath).path,
                "--ocsp-url", "http://127.0.0.1:\(ocspPort)/", "--config-validity", "7200",
            ], outputFile: root.appendingPathComponent("registry.log"))
            defer { process.kill() }
            // Ready when /healthz answers.
            var ready = false
            let deadline = ContinuousClock.now + .seconds(60)
            while !ready, ContinuousClock.now < deadline {
                if let exit = process.exit { throw Failure("the registry exited (\(exit)) before it listened:\n\(process.outputTail())") }
                var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)/healthz")
                request.method = .GET
                if let response = try? await peers[2].http.execute(request, timeout: .seconds(5)) {
                    _ = try? await response.body.collect(upTo: 1 << 16)
                    ready = response.status == .ok
                }
                if !ready { try await Task.sleep(for: .milliseconds(100)) }
            }
            guard ready else { throw Failure("the registry did not start:\n\(process.outputTail())") }
            let live = Live(process: process, port: port, pki: pki, admin: peers[0], server: peers[1], anonymous: peers[2],
                            ledgerFile: data + "/checkpoints.sqlite", memberSigner: signer)

            let serverPEM = try PEMFiles.readText(pkiDir.appendingPathComponent(serverTLS.certificatePath))
            try await live.admin("/api/v1/members", #"{"id":"\#(g22)","name":"Bộ Công an","kind":"ministry"}"#)
            try await live.admin("/api/v1/members", #"{"id":"\#(h26)","name":"UBND Thành phố Hà Nội","kind":"province"}"#)
            try await live.admin("/api/v1/subsystems", #"{"id":"\#(g22)/DANCU"}"#)
            try await live.admin("/api/v1/subsystems", #"{"id":"\#(client)"}"#)
            try await live.admin("/api/v1/servers", #"{"id":"\#(server)","address":"127.0.0.1:5500","tls_certificate":\#(ManagementHostileInputTests.json(serverPEM))}"#)
            try await live.admin("/api/v1/services", #"{"id":"\#(service)","name":"Tra cứu công dân","endpoints":[{"method":"GET","path":"/v1/cong-dan/{id}"}]}"#)
            try await body(live)
        }
    }

    // MARK: - Checkpoints

    /// The log the checkpoints describe: leaves are opaque here (the registry never sees records).
    static let tree = InMemoryMerkleTree(leafHashes: (0..<1_200).map { MerkleHash.leaf(Array("record \($0)".utf8)) })

    static func time(_ milliseconds: Int64) -> AuditTimestamp {
        AuditTimestamp(millisecondsSince1970: milliseconds) ?? AuditTimestamp(millisecondsSince1970: 0)!
    }

    /// A provider-side counter of the server's own service for `client`, in usage window `window`.
    static func counter(window: Int64, outcome: ExchangeOutcome = .success, count: UInt64 = 1, duration: Int64 = 10,
                        buckets: [UInt64]? = nil) -> UsageCounter {
        var counter = UsageCounter(key: .init(side: .provider, window: time(window), client: client, service: service, dataset: nil,
                                              agreement: nil, outcome: outcome, errorType: outcome == .success ? nil : "AccessDenied"))
        counter.count = count
        counter.durationMillisecondsTotal = duration
        counter.latencyBuckets = buckets ?? [count] + Array(repeating: 0, count: UsageCounter.latencyBucketBounds.count)
        return counter
    }

    /// Checkpoint 0: one record, in the first window of March 2025, whose duration is the largest
    /// a counter may carry (2^53 − 1 ms), on its own acceptable.
    static func first() throws -> AuditCheckpoint {
        AuditCheckpoint(server: server, node: "default", sequence: 0, tree: try tree.treeHead(size: 1), previous: nil,
                        consistencyProof: [], windowStart: time(march), windowEnd: time(march + 3_600_000),
                        usage: [counter(window: march, duration: Int64(maxSafe))])
    }

    /// Checkpoint 1, after checkpoint 0: `usage` must count `usage.map(\.count).sum` records
    /// (`records` overrides that, for counts no tree could hold).
    static func second(_ usage: [UsageCounter], records: UInt64? = nil) throws -> AuditCheckpoint {
        let size = 1 + (records ?? usage.reduce(UInt64(0)) { $0 &+ $1.count })
        let head = size <= tree.size ? try tree.treeHead(size: size) : TreeHead(treeSize: size, rootHash: tree.rootHash())
        let proof = size <= tree.size ? try tree.consistencyProof(oldSize: 1, newSize: size).path : []
        return AuditCheckpoint(server: server, node: "default", sequence: 1, tree: head, previous: try tree.treeHead(size: 1),
                               consistencyProof: proof, windowStart: time(march + 3_600_000), windowEnd: AuditTimestamp(Date())!,
                               usage: usage)
    }

    /// The hostile checkpoints 1, each with what makes it overflow.
    static func hostile() throws -> [(String, AuditCheckpoint)] {
        let w = march + 3_600_000
        let big = UInt64(Int64.max)
        return [
            // Σ latency_buckets = 2 × (2^63 − 1) + 2 = 2^64: traps `latencyBuckets.reduce(0, +)`.
            ("latency buckets whose sum overflows", try second([counter(window: w, count: 2, buckets: [big, big, 2] + Array(repeating: 0, count: 9))])),
            // A count of 2^63 − 1 (a tree of 2^63 − 1 records, beyond any a registry accepts).
            ("count 2^63 − 1", try second([counter(window: w, count: big, buckets: [big] + Array(repeating: 0, count: 11))], records: big - 1)),
            // 1,100 records of 2^53 − 1 ms each, one per window of the same month: their total
            // (≈ 2^63.1) overflows the monthly usage row while it is added up.
            ("1,100 durations of 2^53 − 1 ms in one month",
             try second((0..<1_100).map { counter(window: w + Int64($0) * fiveMinutes, duration: Int64(maxSafe)) })),
            // One more millisecond on top of checkpoint 0's 2^53 − 1 for the same key and day:
            // beyond the largest total a usage row may hold.
            ("a duration that overflows the usage row of checkpoint 0", try second([counter(window: w, duration: 1)])),
        ]
    }

    /// The crash report in a process's output: from the crash line to the registers.
    static func crash(_ output: String) -> String {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let start = lines.firstIndex { $0.contains("Fatal error") || $0.contains("crashed") } ?? max(0, lines.count - 30)
        let end = lines[start...].firstIndex { $0.contains("Registers") } ?? min(lines.count, start + 30)
        return lines[start..<min(end, start + 40)].joined(separator: "\n")
    }

    // MARK: - The test

    @Test("an overflowing checkpoint gets a typed 400, the registry process stays up and nothing changes")
    func overflowingCheckpointsAreRefused() async throws {
        try await Self.withRegistryProcess { live in
            let accepted = try await live.submit(try Self.first())
            #expect(accepted.status == 201, "checkpoint 0: \(accepted.status) \(accepted.text)")
            let before = try live.state()
            #expect(before["checkpoints"]?.count == 1)

            for (label, checkpoint) in try Self.hostile() {
                let answer: ManagementHostileInputTests.Answer
                do { answer = try await live.submit(checkpoint) } catch {
                    let exit = await live.process.waitForExit(timeout: .seconds(10))
                    Issue.record("\(label): no answer (\(error)); the registry process \(exit.map { "died (\($0))" } ?? "is still running"):\n\(Self.crash(live.process.output()))")
                    return
                }
                if let exit = live.process.exit {
                    Issue.record("\(label): the registry process died (\(exit)):\n\(live.process.outputTail(30))")
                    return
                }
                #expect(answer.status == 400, "\(label): \(answer.status) \(answer.text)")
                #expect(answer.headers.first(name: "X-Road-Error") == "Client.ValueOutOfRange", "\(label): \(answer.headers)")
                let error = try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any]
                #expect(error?["type"] as? String == "Client.ValueOutOfRange", "\(label): \(answer.text)")
                #expect((error?["message"] as? String)?.isEmpty == false && error?["detail"] != nil, "\(label): \(answer.text)")
                #expect(try live.state() == before, "\(label): the ledger or the usage tables changed")
                let configuration = try await live.send(live.anonymous, .GET, "/globalconf")
                #expect(configuration.status == 200, "\(label): GET /globalconf after it: \(configuration.status)")
            }

            // Still accepting: an honest checkpoint 1 is stored and counted.
            let honest = try await live.submit(try Self.second([Self.counter(window: Self.march + 3_600_000, outcome: .refused)]))
            #expect(honest.status == 201, "the honest checkpoint 1: \(honest.status) \(honest.text)")
            let after = try live.state()
            #expect(after["checkpoints"]?.count == 2)
            #expect(live.process.isRunning, "\(live.process.outputTail())")
        }
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, read and released).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw CheckpointOverflowEndToEndTests.Failure("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw CheckpointOverflowEndToEndTests.Failure("bind() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

extension InMemoryMerkleTree {
    /// The tree head of the first `size` leaves.
    func treeHead(size: UInt64) throws -> TreeHead { TreeHead(treeSize: size, rootHash: try rootHash(treeSize: size)) }
}

private struct CLIFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
