import AsyncHTTPClient
import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongServer
import LienThongTestSupport
import LienThongTrust
import Logging
import NIOCore
import NIOHTTP1
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A full disk under the audit log: the security server whose data directory is on a small tmpfs
/// refuses exchanges with a typed `LoggingFailed` once its records cannot be written, sends nothing
/// on while it knows its log is failing (`AuditLog.checkWritable` refuses for a second after a
/// failed commit; a successful commit, or the second running out, lets exchanges through again,
/// their own records being the probe), never answers 200 without the record on disk, takes
/// exchanges again once space is freed, and its log verifies afterwards (failed commits, single
/// and grouped, leave nothing half-written).
///
/// Run once with the consumer's data directory on the tmpfs and once with the provider's. The
/// test mounts the tmpfs itself (it runs as root); if it cannot, it fails, it does not skip.
@Suite("Audit log on a full disk", .serialized)
struct AuditDiskFullTests {
    typealias N = ExchangeNetwork
    static let motCua = "\(N.consumer)/MOTCUA"
    /// Size of the tmpfs under the data directory.
    static let tmpfsBytes = 4 << 20
    /// Bytes given back after the tmpfs is filled: room for a few records.
    static let slackBytes = 64 << 10
    /// How long exchanges keep coming once the log has failed (several probe windows).
    static let fullFor: Duration = .milliseconds(2_500)
    /// Concurrent exchanges in a burst.
    static let burstSize = 8

    enum Side: String, Sendable, CaseIterable, CustomTestStringConvertible {
        case consumer, provider
        var testDescription: String { "\(rawValue)'s data directory on a full tmpfs" }
        /// The error its clients see when its log cannot be written.
        var loggingFailed: String { self == .consumer ? "Server.ClientProxy.LoggingFailed" : "Server.ServerProxy.LoggingFailed" }
    }

    enum Phase: String, Sendable {
        /// Plenty of room.
        case roomy
        /// The disk filled, a little room given back: until the first refusal.
        case filling
        /// After the first refusal, disk still full.
        case full
        /// Disk still full: bursts of concurrent exchanges, each after the refusal window lapsed,
        /// so that several records fail in one group commit.
        case burst
        /// The filler deleted.
        case freed
    }

    struct Sent: Sendable {
        var id: String
        var phase: Phase
        var start: ContinuousClock.Instant
        var answer: ClientCaller.Answer
        var ok: Bool { answer.status == 200 }
    }

    /// One exchange through the consumer's client port.
    static func call(_ caller: ClientCaller, _ port: Int, id: String, phase: Phase) async throws -> Sent {
        let start = ContinuousClock.now
        let answer = try await caller.call(port, .GET, "/r1/\(N.lookup)/cong-dan/\(id)", headers: [
            ("X-Road-Client", motCua), ("X-LienThong-Purpose", N.purpose), ("X-Road-Id", id)])
        return Sent(id: id, phase: phase, start: start, answer: answer)
    }

    @Test("LoggingFailed on a full disk, nothing sent on, recovery once space is freed, and the log verifies", arguments: Side.allCases)
    func fullDisk(_ side: Side) async throws {
        let started = ContinuousClock.now
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        let mountPoint = network.directory.appendingPathComponent("tmpfs")
        try Tmpfs.mount(at: mountPoint, bytes: Self.tmpfsBytes)
        defer {   // runs before the directory is removed
            if let problem = Tmpfs.unmount(mountPoint) { Issue.record(Comment(rawValue: problem)) }
        }
        let http = ClientCaller.makeHTTPClient()
        defer { _ = http.shutdown() }
        let caller = ClientCaller(http: http)
        let backend = BackendLog()
        var logger = Logger(label: "lienthong.server.disk-full")
        logger.logLevel = .critical   // every refused exchange's failed record would log an error

        try await N.withBackend(backend) { backendPort in
            try await network.withInfrastructure(checkpointIntervalSeconds: 1) { network in
                let providerId = "\(N.provider)/ss1", consumerId = "\(N.consumer)/ss1"
                let ports = [providerId: try await N.freePort(), consumerId: try await N.freePort()]
                try await network.register(serverPorts: ports)
                var providerConfiguration = try network.configuration(
                    server: providerId, member: N.provider, interServerPort: ports[providerId] ?? 0,
                    services: [.init(id: N.lookup, backendURL: "http://127.0.0.1:\(backendPort)/api")])
                var consumerConfiguration = try network.configuration(
                    server: consumerId, member: N.consumer, interServerPort: ports[consumerId] ?? 0, clients: [Self.motCua])
                let onTmpfs = mountPoint.appendingPathComponent("data").path
                switch side {
                case .provider: providerConfiguration.dataDirectory = onTmpfs
                case .consumer: consumerConfiguration.dataDirectory = onTmpfs
                }
                let filler = mountPoint.appendingPathComponent("filler")
                var sent: [Sent] = []
                var fill = (fillerBytes: 0, freeAfterFill: 0)
                var freedAt = ContinuousClock.now

                try await LienThongSecurityServer(configuration: providerConfiguration, logger: logger).withRunning { _ in
                    try await LienThongSecurityServer(configuration: consumerConfiguration, logger: logger).withRunning { consumerPorts in
                        var n = 0
                        func exchange(_ phase: Phase) async throws -> Sent {
                            n += 1
                            let one = try await Self.call(caller, consumerPorts.client, id: "disk-\(side.rawValue)-\(n)", phase: phase)
                            sent.append(one)
                            return one
                        }
                        func burst(_ phase: Phase) async throws -> [Sent] {
                            let ids = (0..<Self.burstSize).map { i in "disk-\(side.rawValue)-\(n + 1 + i)" }
                            n += Self.burstSize
                            let port = consumerPorts.client
                            let answers = try await withThrowingTaskGroup(of: Sent.self) { group in
                                for id in ids { group.addTask { try await Self.call(caller, port, id: id, phase: phase) } }
                                return try await group.reduce(into: [Sent]()) { $0.append($1) }
                            }
                            sent += answers
                            return answers
                        }

                        // Room: exchanges succeed.
                        for _ in 0..<3 {
                            let one = try await exchange(.roomy)
                            #expect(one.ok, "\(one.answer.status) \(one.answer.text)")
                        }

                        // Fill the tmpfs, give back a little, and go on until the log fails.
                        fill.fillerBytes = try Tmpfs.fill(filler, leaving: Self.slackBytes)
                        fill.freeAfterFill = Tmpfs.freeBytes(mountPoint)
                        var firstRefusal: ContinuousClock.Instant?
                        // The budget bounds the filling itself: start-up on a loaded 2-core machine
                        // (other end-to-end suites run beside this one) must not eat into it.
                        let filling = ContinuousClock.now
                        while firstRefusal == nil {
                            guard sent.count < 2_000, ContinuousClock.now - filling < .seconds(60) else {
                                throw TestFailure("the \(side.rawValue)'s log never failed: \(sent.count) exchanges, \(Tmpfs.freeBytes(mountPoint)) bytes free")
                            }
                            if !(try await exchange(.filling).ok) { firstRefusal = ContinuousClock.now }
                        }
                        // Keep asking for a while: refused without a call (each refusal's own failed record
                        // renews the window, so under steady load nothing is sent on until a commit succeeds).
                        while ContinuousClock.now - (firstRefusal ?? .now) < Self.fullFor {
                            _ = try await exchange(.full)
                        }
                        // Concurrent bursts once the refusal window has lapsed: several exchanges pass the
                        // check together and their records fail in the same group commit.
                        for _ in 0..<2 {
                            try await Task.sleep(for: .milliseconds(1_100))
                            _ = try await burst(.burst)
                        }

                        // Free the space: exchanges succeed again (at the latest after the 1 s window).
                        try FileManager.default.removeItem(at: filler)
                        freedAt = ContinuousClock.now
                        var recovered = false
                        while !recovered && ContinuousClock.now - freedAt < .seconds(10) {
                            recovered = try await exchange(.freed).ok
                            if !recovered { try await Task.sleep(for: .milliseconds(50)) }
                        }
                        #expect(recovered, "no exchange succeeded within 10 s of freeing the space")
                        for _ in 0..<5 {
                            let one = try await exchange(.freed)
                            #expect(one.ok, "after freeing the space: \(one.answer.status) \(one.answer.text)")
                        }
                        for one in try await burst(.freed) {
                            #expect(one.ok, "a burst after freeing the space: \(one.answer.status) \(one.answer.text)")
                        }
                    }
                }

                // Both servers are stopped: read both logs.
                let full = try await AuditLogContents.read(onTmpfs + "/audit.sqlite")
                let other = try await AuditLogContents.read((side == .provider ? consumerConfiguration : providerConfiguration).dataDirectory + "/audit.sqlite")
                let (providerLog, consumerLog) = side == .provider ? (full, other) : (other, full)
                let reachedBackend = Set(await backend.calls.compactMap { $0.headers["x-road-id"] })

                // Refusals: clean typed X-Road errors, LoggingFailed of the full side only.
                let refused = sent.filter { !$0.ok }
                #expect(!refused.isEmpty, "the full disk never caused a refusal")
                for one in refused where one.phase != .freed {
                    #expect(one.answer.status == 500 && one.answer.errorType == side.loggingFailed,
                            "\(one.id) (\(one.phase)): \(one.answer.status) \(one.answer.errorType ?? "-") \(one.answer.text)")
                    let json = try? JSONSerialization.jsonObject(with: Data(one.answer.body)) as? [String: Any]
                    #expect(json.map { Set($0.keys) } == ["type", "message", "detail"], "\(one.id): \(one.answer.text)")
                    #expect(json?["type"] as? String == side.loggingFailed, "\(one.id): \(one.answer.text)")
                    #expect((json?["message"] as? String)?.isEmpty == false, "\(one.id): \(one.answer.text)")
                    #expect(UUID(uuidString: json?["detail"] as? String ?? "") != nil, "\(one.id): \(one.answer.text)")
                    #expect(one.answer.headers.first(name: "Content-Type")?.hasPrefix("application/json") == true, "\(one.id)")
                }
                // After the space is freed only the rest of a refusal window may still refuse.
                for one in sent where one.phase == .freed && !one.ok {
                    #expect(one.answer.errorType == side.loggingFailed && one.start - freedAt < .milliseconds(1_500),
                            "\(one.id) refused after the space was freed: \(one.answer.status) \(one.answer.text)")
                }

                // Nothing sent on while the log is known to fail: a refused exchange that reached the
                // backend is a probe (its own record failed after the backend answered). After a
                // failed commit the next probe comes a second later, unless a commit succeeded in
                // between (a small refusal record may still fit where a full record does not).
                // (Concurrent exchanges may pass the check together: the rule is checked on the sequential ones.)
                let probes = refused.filter { reachedBackend.contains($0.id) }
                let withoutCall = refused.filter { !reachedBackend.contains($0.id) }
                #expect(withoutCall.count >= 1, "some refusals must come before anything is sent on")
                let sequentialProbes = probes.filter { $0.phase != .burst }.sorted { $0.start < $1.start }
                for (earlier, later) in zip(sequentialProbes, sequentialProbes.dropFirst()) where later.start - earlier.start < .milliseconds(800) {
                    let between = sent.filter { $0.start > earlier.start && $0.start < later.start && full.byMessageId[$0.id] != nil }
                    #expect(!between.isEmpty, """
                        \(earlier.id) and \(later.id) both reached the backend \(later.start - earlier.start) apart although refused, \
                        with no successful commit between them: the log was known to be failing
                        """)
                }
                if side == .consumer {
                    let sentOn = withoutCall.filter { providerLog.byMessageId[$0.id] != nil }
                    #expect(sentOn.isEmpty, "refused by the consumer before sending, yet in the provider's log: \(sentOn.map(\.id).prefix(10))")
                } else {
                    // The consumer's own log is fine: it recorded every refusal it relayed.
                    let unrecorded = refused.filter { !(consumerLog.byMessageId[$0.id] ?? []).contains { $0.errorType == side.loggingFailed } }
                    #expect(unrecorded.isEmpty, "refusals missing from the consumer's log: \(unrecorded.map(\.id).prefix(10))")
                }

                // No 200 without its record, on both sides.
                let oks = sent.filter(\.ok)
                for one in oks {
                    #expect((full.byMessageId[one.id] ?? []).contains { $0.status == 200 && $0.outcome == .success },
                            "\(one.id) (\(one.phase)) got 200 but is not in the \(side.rawValue)'s log")
                    #expect((other.byMessageId[one.id] ?? []).contains { $0.outcome == .success },
                            "\(one.id) (\(one.phase)) got 200 but is not in the other server's log")
                }
                // Nothing was recorded by the full side that a client was told had failed for want of logging.
                let recordedAnyway = refused.filter { one in (full.byMessageId[one.id] ?? []).contains { $0.outcome == .success } }
                #expect(recordedAnyway.isEmpty, "refused, yet recorded as a success by the \(side.rawValue): \(recordedAnyway.map(\.id).prefix(10))")

                // The logs verify: the failed writes left nothing half-written.
                var reports: [String: AuditVerificationReport] = [:]
                for (name, path, contents) in [(side.rawValue, onTmpfs + "/audit.sqlite", full),
                                               ("other", (side == .provider ? consumerConfiguration : providerConfiguration).dataDirectory + "/audit.sqlite", other)] {
                    let report = try await AuditLogVerifier.verify(try SQLiteAuditLeafStore(path: path), anchors: [network.pki.rootCertificate])
                    reports[name] = report
                    #expect(report.treeHead.treeSize == UInt64(contents.records.count), "\(name): \(report)")
                    #expect(report.uncheckpointedRecords == 0 && report.receipts == report.checkpoints,
                            "\(name): after a clean stop every record is under a countersigned checkpoint: \(report)")
                }

                let recordedRefusals = refused.filter { full.byMessageId[$0.id] != nil }
                func count(_ phase: Phase, _ ok: Bool) -> Int { sent.filter { $0.phase == phase && $0.ok == ok }.count }
                print("""
                    AuditDiskFullTests[\(side.rawValue)]: tmpfs \(Self.tmpfsBytes) B, filler \(fill.fillerBytes) B, \(fill.freeAfterFill) B free after filling; \
                    \(sent.count) exchanges: roomy \(count(.roomy, true)) ok, filling \(count(.filling, true)) ok / \(count(.filling, false)) refused, \
                    full \(count(.full, true)) ok / \(count(.full, false)) refused, \
                    bursts \(count(.burst, true)) ok / \(count(.burst, false)) refused (\(probes.filter { $0.phase == .burst }.count) reached the backend), freed \(count(.freed, true)) ok / \(count(.freed, false)) refused; \
                    refusals \(refused.count): \(withoutCall.count) never sent on, \(probes.count) probes reached the backend \
                    (\(probes.map(\.id).joined(separator: " "))), \(recordedRefusals.count) refusals recorded by the \(side.rawValue) \
                    (\(recordedRefusals.map(\.id).joined(separator: " "))); \
                    backend calls \(await backend.count); \(side.rawValue) log \(full.records.count) records (\(reports[side.rawValue]?.checkpoints ?? 0) checkpoints), \
                    other log \(other.records.count) records; \(ContinuousClock.now - started)
                    """)
            }
        }
        try await http.shutdown()
    }
}

/// A tmpfs mounted by the test (root only), filled on demand.
enum Tmpfs {
    /// Mounts a tmpfs of `bytes` at `directory` (created if needed).
    /// - Throws: ``TestFailure`` saying why, if it cannot be mounted.
    static func mount(at directory: URL, bytes: Int) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let result = "size=\(bytes),mode=0700".withCString { Glibc.mount("tmpfs", directory.path, "tmpfs", 0, $0) }
        guard result == 0 else {
            let why = String(cString: strerror(errno))
            throw TestFailure("""
                cannot mount a \(bytes)-byte tmpfs at \(directory.path): \(why) (uid \(geteuid())). This test needs to mount \
                a tmpfs (root, or CAP_SYS_ADMIN); it fails rather than skip.
                """)
        }
    }

    /// Unmounts `directory` (lazily if it is busy); returns a problem to report, if any.
    static func unmount(_ directory: URL) -> String? {
        if umount(directory.path) == 0 { return nil }
        let why = String(cString: strerror(errno))
        if umount2(directory.path, Int32(MNT_DETACH)) == 0 { return "the tmpfs at \(directory.path) was busy (\(why)); detached it" }
        return "cannot unmount the tmpfs at \(directory.path): \(why)"
    }

    /// Bytes available on the file system of `directory`.
    static func freeBytes(_ directory: URL) -> Int {
        var s = statvfs()
        guard statvfs(directory.path, &s) == 0 else { return -1 }
        return Int(s.f_bavail) * Int(s.f_frsize)
    }

    /// Writes `file` until the file system is full, then shortens it by `slack` bytes; returns its size.
    static func fill(_ file: URL, leaving slack: Int) throws -> Int {
        let fd = open(file.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw TestFailure("cannot create \(file.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0xA5, count: 64 << 10)
        var total = 0
        while true {
            let written = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written > 0 { total += written; continue }
            guard written < 0, errno == ENOSPC else {
                throw TestFailure("filling \(file.path) stopped after \(total) bytes: \(String(cString: strerror(errno)))")
            }
            break
        }
        let size = max(0, total - slack)
        guard ftruncate(fd, off_t(size)) == 0 else { throw TestFailure("cannot shorten \(file.path): \(String(cString: strerror(errno)))") }
        return size
    }
}
