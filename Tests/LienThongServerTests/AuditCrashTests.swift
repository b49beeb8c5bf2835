import AsyncHTTPClient
import Foundation
import LienThongAudit
import LienThongCore
import LienThongRegistry
import LienThongServer
import LienThongTestSupport
import LienThongTrust
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import X509
#if canImport(Glibc)
import Glibc
#endif

/// `kill -9` in the middle of traffic loses no evidence: two real security-server processes
/// (`lienthong server serve --config FILE`; the OCSP responder, the registry and the backend run
/// in this process as ``ExchangeNetwork`` sets them up) carry concurrent load; the provider is
/// killed with SIGKILL mid-load and restarted on the same configuration, data directory and ports,
/// then the consumer. Every exchange a client got an answer for is in the logs (a 200 in both, a
/// refusal in the consumer's), and both logs verify against the root CA afterwards.
@Suite("Audit log survives kill -9", .serialized)
struct AuditCrashTests {
    typealias N = ExchangeNetwork
    static let motCua = "\(N.consumer)/MOTCUA"
    static let workers = 8
    /// 200s to see in each phase (before the first kill, after each restart).
    static let answersPerPhase = 40

    @Test("kill -9 of the provider, then of the consumer, mid-load: every answered exchange is logged and both logs verify")
    func killNineMidLoad() async throws {
        let started = ContinuousClock.now
        let network = try ExchangeNetwork()
        defer { try? FileManager.default.removeItem(at: network.directory) }
        let executable = BackgroundProcess.lienthongExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable),
                     "the lienthong executable is not at \(executable): run `swift build --build-tests` first (scripts/test.sh does)")
        let http = ClientCaller.makeHTTPClient()
        defer { _ = http.shutdown() }
        let caller = ClientCaller(http: http)
        let backend = BackendLog()

        try await N.withBackend(backend) { backendPort in
            try await network.withInfrastructure(checkpointIntervalSeconds: 1) { network in
                let providerId = "\(N.provider)/ss1", consumerId = "\(N.consumer)/ss1"
                let interPorts = [providerId: try await N.freePort(), consumerId: try await N.freePort()]
                try await network.register(serverPorts: interPorts)
                let provider = try ServerUnderTest(
                    name: "provider", network: network, clientPort: try await N.freePort(),
                    configuration: try network.configuration(
                        server: providerId, member: N.provider, interServerPort: interPorts[providerId] ?? 0,
                        services: [.init(id: N.lookup, backendURL: "http://127.0.0.1:\(backendPort)/api")]))
                let consumer = try ServerUnderTest(
                    name: "consumer", network: network, clientPort: try await N.freePort(),
                    configuration: try network.configuration(
                        server: consumerId, member: N.consumer, interServerPort: interPorts[consumerId] ?? 0, clients: [Self.motCua]))

                // Every child is killed on the way out, whatever happened.
                let children = Children()
                defer { children.killAll() }
                children.add(provider.name, try await provider.start(http: http))
                children.add(consumer.name, try await consumer.start(http: http))

                let ledger = LoadLedger()
                var kills: [KillPoint] = []
                let driven: Result<Void, any Error> = await withTaskGroup(of: Void.self) { group in
                    for worker in 0..<Self.workers {
                        group.addTask { await Self.load(worker: worker, caller: caller, port: consumer.clientPort, ledger: ledger) }
                    }
                    let result: Result<Void, any Error>
                    do {
                        // Phase 1: both up.
                        try await ledger.waitFor("\(Self.answersPerPhase) answers of 200 before the first kill") { $0.ok >= Self.answersPerPhase }

                        // Phase 2: kill -9 the provider mid-load; the consumer refuses while it is down; restart it.
                        kills.append(try await Self.kill(provider, children: children, ledger: ledger))
                        let refusedAtKill = ledger.snapshot.refused
                        try await ledger.waitFor("refusals while the provider is down") { $0.refused >= refusedAtKill + Self.workers }
                        children.add(provider.name, try await provider.start(http: http))
                        let okAtProviderRestart = ledger.snapshot.ok
                        try await ledger.waitFor("\(Self.answersPerPhase) answers of 200 after the provider's restart") {
                            $0.ok >= okAtProviderRestart + Self.answersPerPhase
                        }

                        // Phase 3: kill -9 the consumer mid-load; clients get no answer while it is down; restart it.
                        kills.append(try await Self.kill(consumer, children: children, ledger: ledger))
                        let unansweredAtKill = ledger.snapshot.unanswered
                        try await ledger.waitFor("failed calls while the consumer is down") { $0.unanswered >= unansweredAtKill + Self.workers }
                        children.add(consumer.name, try await consumer.start(http: http))
                        let okAtConsumerRestart = ledger.snapshot.ok
                        try await ledger.waitFor("\(Self.answersPerPhase) answers of 200 after the consumer's restart") {
                            $0.ok >= okAtConsumerRestart + Self.answersPerPhase
                        }
                        result = .success(())
                    } catch {
                        result = .failure(error)
                    }
                    ledger.stop()
                    await group.waitForAll()
                    return result
                }
                try driven.get()

                // Stop both cleanly: SIGTERM, graceful shutdown (a last checkpoint, countersigned).
                for server in children.running {
                    server.terminate()
                    let exit = await server.waitForExit(timeout: .seconds(20))
                    #expect(exit == .init(status: 0, bySignal: false),
                            "\(server.commandLine) did not stop cleanly on SIGTERM: \(exit?.description ?? "still running")\n\(server.outputTail())")
                }

                // (a) Every answer a client got is in the logs; (b) both logs verify offline.
                let logs = try await LoggedAnswers.check(ledger.snapshot, provider: provider, consumer: consumer,
                                                         anchors: [network.pki.rootCertificate])
                let (providerLog, consumerLog, reports) = (logs.provider, logs.consumer, logs.reports)
                let state = ledger.snapshot

                // (c) The counts.
                let refusals = Dictionary(grouping: state.answers.values.filter { $0.status != 200 }, by: { $0.errorType ?? "HTTP \($0.status)" })
                    .mapValues(\.count).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                print("""
                    AuditCrashTests: \(state.sent) exchanges sent by \(Self.workers) clients, \(state.answers.count) answered \
                    (\(state.ok) × 200, \(state.refused) refused: \(refusals)), \(state.unanswered) without an answer; \
                    provider log \(providerLog.records.count) records (\(reports["provider"]?.checkpoints ?? 0) checkpoints), \
                    consumer log \(consumerLog.records.count) records (\(reports["consumer"]?.checkpoints ?? 0) checkpoints); \
                    backend calls \(await backend.count); kills: \(kills.map(\.description).joined(separator: "; ")); \
                    \(ContinuousClock.now - started)
                    """)
            }
        }
        try await http.shutdown()
    }

    // MARK: Load

    /// One client: calls the consumer with a fresh `X-Road-Id` each time until the ledger stops.
    static func load(worker: Int, caller: ClientCaller, port: Int, ledger: LoadLedger) async {
        var n = 0
        while !ledger.isStopped {
            let id = "crash-w\(worker)-n\(n)"
            n += 1
            ledger.sending()
            do {
                let answer = try await caller.call(port, .GET, "/r1/\(N.lookup)/cong-dan/\(worker)-\(n)", headers: [
                    ("X-Road-Client", motCua), ("X-LienThong-Purpose", N.purpose), ("X-Road-Id", id)])
                ledger.answered(id, status: answer.status, errorType: answer.errorType)
            } catch {
                ledger.unanswered()
                try? await Task.sleep(for: .milliseconds(20))   // the consumer is down: do not spin
            }
        }
    }

    /// Kills `server` with SIGKILL while clients are waiting on it, and checks that it died of it.
    static func kill(_ server: ServerUnderTest, children: Children, ledger: LoadLedger) async throws -> KillPoint {
        guard let process = children.current(server.name) else { throw TestFailure("\(server.name) is not running") }
        let before = ledger.snapshot
        #expect(before.inFlight > 0, "the kill of the \(server.name) is meant to land mid-load")
        process.kill()
        let exit = await process.waitForExit(timeout: .seconds(10))
        #expect(exit == .init(status: SIGKILL, bySignal: true), "\(server.name): \(exit?.description ?? "still running")")
        children.remove(process)
        return KillPoint(server: server.name, sent: before.sent, answered: before.answers.count, ok: before.ok, inFlight: before.inFlight)
    }

    struct KillPoint: CustomStringConvertible {
        var server: String, sent: Int, answered: Int, ok: Int, inFlight: Int
        var description: String { "\(server) after \(sent) sent / \(answered) answered (\(ok) × 200), \(inFlight) in flight" }
    }
}

// MARK: Servers as processes

/// A security server run as `lienthong server serve --config FILE`: its configuration is written
/// once (fixed ports, so that a restart keeps them) and each ``start(http:)`` runs a new process
/// on it, the same data directory included.
struct ServerUnderTest: Sendable {
    let name: String
    let configurationFile: URL
    let clientPort: Int
    let dataDirectory: String
    let outputDirectory: URL
    private let runs = Counter()

    init(name: String, network: ExchangeNetwork, clientPort: Int, configuration: SecurityServerConfiguration) throws {
        var configuration = configuration
        configuration.clientListener = .init(port: clientPort)
        self.name = name
        self.clientPort = clientPort
        self.dataDirectory = configuration.dataDirectory
        self.outputDirectory = network.directory
        self.configurationFile = network.directory.appendingPathComponent("\(name).json")
        try configuration.jsonData().write(to: configurationFile)
    }

    var auditLogPath: String { dataDirectory + "/audit.sqlite" }

    /// Starts a process and waits until `/healthz` answers 200 on the client port; `wrapper` (a
    /// command and its options, such as `setpriv ...`) runs the server if given.
    func start(http: HTTPClient, wrapper: [String] = [], timeout: Duration = .seconds(30)) async throws -> BackgroundProcess {
        let run = runs.next()
        let command = wrapper + [BackgroundProcess.lienthongExecutable, "server", "serve", "--config", configurationFile.path]
        let process = try BackgroundProcess(command[0], Array(command.dropFirst()),
                                            outputFile: outputDirectory.appendingPathComponent("\(name)-\(run).log"))
        let deadline = ContinuousClock.now + timeout
        var last = "no answer"
        while ContinuousClock.now < deadline {
            if let exit = process.exit {
                throw TestFailure("the \(name) (run \(run)) exited (\(exit)) before it was ready:\n\(process.outputTail())")
            }
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(clientPort)/healthz")
            request.method = .GET
            do {
                let response = try await http.execute(request, timeout: .seconds(5))
                _ = try await response.body.collect(upTo: 1 << 20)
                if response.status == .ok { return process }
                last = "healthz \(response.status.code)"
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        _ = process.kill()
        throw TestFailure("the \(name) (run \(run)) was not ready within \(timeout) (\(last)):\n\(process.outputTail())")
    }
}

/// The server processes currently running, so that all are killed however the test ends.
final class Children: Sendable {
    private let processes = Mutex<[(name: String, process: BackgroundProcess)]>([])

    func add(_ name: String, _ process: BackgroundProcess) {
        processes.withLock { $0.append((name, process)) }
    }
    func remove(_ process: BackgroundProcess) {
        processes.withLock { $0.removeAll { $0.process === process } }
    }
    func current(_ name: String) -> BackgroundProcess? {
        processes.withLock { $0.last { $0.name == name }?.process }
    }
    var running: [BackgroundProcess] { processes.withLock { $0.map(\.process) } }
    func killAll() {
        for process in running { process.kill() }
    }
}

final class Counter: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}

// MARK: What the clients saw

/// Every call the load clients made and what came back.
final class LoadLedger: Sendable {
    struct Answer: Sendable {
        var status: Int
        var errorType: String?
    }

    struct State: Sendable {
        /// Message id → the answer, for every call that got an HTTP response.
        var answers: [String: Answer] = [:]
        var sent = 0
        var inFlight = 0
        var ok = 0
        var refused = 0
        var unanswered = 0
    }

    private let state = Mutex(State())
    private let stopped = Atomic(false)

    var snapshot: State { state.withLock { $0 } }
    var isStopped: Bool { stopped.load(ordering: .acquiring) }
    func stop() { stopped.store(true, ordering: .releasing) }

    func sending() { state.withLock { $0.sent += 1; $0.inFlight += 1 } }
    func answered(_ id: String, status: Int, errorType: String?) {
        state.withLock {
            $0.inFlight -= 1
            $0.answers[id] = Answer(status: status, errorType: errorType)
            if status == 200 { $0.ok += 1 } else { $0.refused += 1 }
        }
    }
    func unanswered() { state.withLock { $0.inFlight -= 1; $0.unanswered += 1 } }

    /// Polls until `condition` holds, at most `timeout`.
    func waitFor(_ what: String, timeout: Duration = .seconds(20), _ condition: (State) -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition(snapshot) {
            guard ContinuousClock.now < deadline else {
                let s = snapshot
                throw TestFailure("timed out after \(timeout) waiting for \(what): \(s.sent) sent, \(s.ok) × 200, \(s.refused) refused, \(s.unanswered) unanswered")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

// MARK: Reading logs

/// The records of a SQLite audit log, by message id.
struct AuditLogContents {
    var records: [AuditRecord]
    var byMessageId: [String: [AuditRecord]]

    static func read(_ path: String) async throws -> AuditLogContents {
        try await read(try SQLiteAuditLeafStore(path: path))
    }

    static func read(_ store: any AuditLeafStore) async throws -> AuditLogContents {
        let leaves = try await store.leaves(0..<(try await store.count()))
        let records = try leaves.map { try AuditRecord(canonicalBytes: $0.bytes) }
        return AuditLogContents(records: records, byMessageId: Dictionary(grouping: records.filter { $0.messageId != nil }, by: { $0.messageId ?? "" }))
    }

    /// Message ids with more than one record.
    var duplicatedMessageIds: [String] { byMessageId.filter { $0.value.count > 1 }.keys.sorted() }
}

/// What both audit logs hold after a run under load, checked against what the clients saw.
struct LoggedAnswers {
    var provider: AuditLogContents
    var consumer: AuditLogContents
    var reports: [String: AuditVerificationReport]

    /// Reads both logs after the servers stopped cleanly and records a test issue for:
    /// - an answered exchange missing from a log (a 200 must be a success in both logs, a refusal
    ///   must be in the consumer's with its status and error type, except `LoggingFailed`: that
    ///   refusal says the consumer's log could not be written);
    /// - a message id recorded twice by one side;
    /// - a log that does not verify offline against `anchors`, or a record not under a
    ///   countersigned checkpoint.
    static func check(_ state: LoadLedger.State, provider: ServerUnderTest, consumer: ServerUnderTest,
                      anchors: [Certificate]) async throws -> LoggedAnswers {
        try await check(state, provider: try SQLiteAuditLeafStore(path: provider.auditLogPath),
                        consumer: try SQLiteAuditLeafStore(path: consumer.auditLogPath), anchors: anchors)
    }

    /// The same, for logs in any store (SQLite, or a PostgreSQL partition).
    static func check(_ state: LoadLedger.State, provider providerStore: any AuditLeafStore, consumer consumerStore: any AuditLeafStore,
                      anchors: [Certificate]) async throws -> LoggedAnswers {
        let providerLog = try await AuditLogContents.read(providerStore)
        let consumerLog = try await AuditLogContents.read(consumerStore)
        var missing: [String] = []
        for (id, answer) in state.answers.sorted(by: { $0.key < $1.key }) {
            let own = consumerLog.byMessageId[id] ?? []
            if answer.status == 200 {
                if !own.contains(where: { $0.status == 200 && $0.outcome == .success }) { missing.append("\(id): 200 not in the consumer's log") }
                if !(providerLog.byMessageId[id] ?? []).contains(where: { $0.outcome == .success }) {
                    missing.append("\(id): 200 not in the provider's log")
                }
            } else if answer.errorType == "Server.ClientProxy.LoggingFailed" {
                // Refused because the consumer's log could not be written: there is no record to find.
                continue
            } else if !own.contains(where: { $0.errorType == answer.errorType && $0.status == answer.status }) {
                missing.append("\(id): refusal \(answer.status) \(answer.errorType ?? "-") not in the consumer's log")
            }
        }
        #expect(missing.isEmpty, "\(missing.count) answered exchanges are missing from the logs: \(missing.prefix(10))")
        let duplicated = providerLog.duplicatedMessageIds + consumerLog.duplicatedMessageIds
        #expect(duplicated.isEmpty, "message ids recorded more than once by one side: \(duplicated.prefix(10))")

        var reports: [String: AuditVerificationReport] = [:]
        for (name, store, log) in [("provider", providerStore, providerLog), ("consumer", consumerStore, consumerLog)] {
            let report = try await AuditLogVerifier.verify(store, anchors: anchors)
            reports[name] = report
            #expect(report.uncheckpointedRecords == 0 && report.receipts == report.checkpoints,
                    "\(name): after a clean stop every record is under a countersigned checkpoint: \(report)")
            #expect(report.treeHead.treeSize == UInt64(log.records.count), "\(name): the verified tree holds every record")
        }
        return LoggedAnswers(provider: providerLog, consumer: consumerLog, reports: reports)
    }
}

/// A failure with a message of its own.
struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
