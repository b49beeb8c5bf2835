import AsyncHTTPClient
import Foundation
import LienThongAudit
import LienThongAuditPostgres
import LienThongCore
import LienThongRegistry
import LienThongServer
import LienThongTestSupport
import LienThongTrust
import Logging
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Fault injection under load (issue 8): the registry, the OCSP responder, the audit store's file
/// permissions and a PostgreSQL audit store are taken away while clients keep calling, then given back.
///
/// Two real security-server processes (`lienthong server serve`) carry the load; the registry and
/// the OCSP responder run in this process on fixed ports so that they can be stopped and started
/// again where the servers expect them. Each test checks that the servers keep working while
/// they safely can, then fail closed (no 200 once the fault has lasted past its limit), recover
/// when the fault ends, and that afterwards every answer a client got is in both audit logs and
/// both logs verify offline against the root CA.
///
/// Kill -9 of a server under load is ``AuditCrashTests``; a full disk is ``AuditDiskFullTests``;
/// a hung or resetting backend is ``HostileInputTests``. `scripts/chaos.sh` runs them all.
@Suite("Fault injection: registry down, OCSP responder down, audit store permissions removed, PostgreSQL stopped", .serialized)
struct ChaosTests {
    typealias N = ExchangeNetwork
    static let workers = 6
    /// The global configuration's validity: how long servers go on without the registry.
    static let configurationValidity = 8
    /// Slack on top of a limit before a 200 counts as a fault let through (a request admitted just
    /// before the limit may still be answered after it).
    static let slack: Duration = .seconds(3)

    @Test("registry down: exchanges go on on the cached configuration until it expires, then OutdatedGlobalConf; they resume when it returns")
    func registryDown() async throws {
        try await ChaosRun.with { run in
            try await run.phase("both up") { try await $0.waitFor("20 answers of 200") { $0.ok >= 20 } }

            let stopped = ContinuousClock.now
            try await run.registry.stop()
            let okAtStop = run.ledger.snapshot.ok
            try await run.ledger.waitFor("answers of 200 on the cached configuration", timeout: .seconds(Self.configurationValidity)) {
                $0.ok >= okAtStop + 5
            }
            try await run.ledger.waitFor("OutdatedGlobalConf refusals once the configuration expired", timeout: .seconds(30)) {
                $0.refusals(of: "Server.ClientProxy.OutdatedGlobalConf") + $0.refusals(of: "Server.ServerProxy.OutdatedGlobalConf") >= 5
            }
            let expiredBy = stopped + .seconds(Self.configurationValidity) + Self.slack
            try await run.holdClosed(until: expiredBy, then: .seconds(2), "the registry is down and the configuration has expired")

            try await run.registry.start()
            try await run.phase("the registry is back") { ledger in
                let ok = ledger.snapshot.ok
                try await ledger.waitFor("20 answers of 200 after the registry returned", timeout: .seconds(30)) { $0.ok >= ok + 20 }
            }
        }
    }

    @Test("OCSP responder down: exchanges go on while the statuses are fresh, then are refused; they resume when it returns")
    func ocspResponderDown() async throws {
        try await ChaosRun.with { run in
            try await run.phase("both up") { try await $0.waitFor("20 answers of 200") { $0.ok >= 20 } }

            let stopped = ContinuousClock.now
            try await run.ocsp.stop()
            let refusedAtStop = run.ledger.snapshot.refused
            try await run.ledger.waitFor("refusals once the OCSP statuses are stale", timeout: .seconds(30)) { $0.refused >= refusedAtStop + 5 }
            let staleBy = stopped + .seconds(N.ocspFreshness) + Self.slack
            try await run.holdClosed(until: staleBy, then: .seconds(2), "the OCSP responder is down and the statuses are stale")
            // Stale statuses are certificate-validation refusals (the consumer cannot staple a
            // fresh status to its own signature, or the provider cannot check the consumer's).
            let types = Set(run.ledger.snapshot.answers.values.compactMap(\.errorType))
            #expect(types.isSubset(of: ["Server.ClientProxy.CertValidation", "Server.ServerProxy.CertValidation"]),
                    "refusals while the OCSP responder is down: \(types.sorted())")

            try await run.ocsp.start()
            try await run.phase("the OCSP responder is back") { ledger in
                let ok = ledger.snapshot.ok
                try await ledger.waitFor("20 answers of 200 after the OCSP responder returned", timeout: .seconds(30)) { $0.ok >= ok + 20 }
            }
        }
    }

    @Test("audit store permissions removed: the running log loses nothing, a restart lets nothing through; restored, it serves again")
    func auditStorePermissionsRemoved() async throws {
        // The consumer runs without CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER, so that
        // file permissions bind it although the tests run as root.
        try await ChaosRun.with(consumerWrapper: ChaosRun.withoutFileCapabilities) { run in
            try await run.phase("both up") { try await $0.waitFor("20 answers of 200") { $0.ok >= 20 } }

            // Read-only while running. The open database may go on writing through its open files,
            // or SQLite may notice at a later write ("attempt to write a readonly database") and the
            // server refuse with LoggingFailed; both happen. Either way no answer goes without its
            // record: the check at the end finds every 200 in both logs.
            let data = URL(fileURLWithPath: run.consumer.dataDirectory)
            let saved = try ChaosRun.removeWritePermissions(data)
            let answeredAtChmod = run.ledger.snapshot.answers.count
            try await run.ledger.waitFor("answers while the permissions are removed") { $0.answers.count >= answeredAtChmod + 20 }

            // A restart cannot open the log for writing: no 200 until the permissions are back.
            try await run.restartConsumer(expectReady: false)
            try await run.holdClosed(until: .now, then: .seconds(3), "the consumer's audit store is not writable")

            try ChaosRun.restorePermissions(saved)
            try await run.restartConsumer(expectReady: true)
            try await run.phase("permissions restored") { ledger in
                let ok = ledger.snapshot.ok
                try await ledger.waitFor("20 answers of 200 after the permissions were restored", timeout: .seconds(30)) { $0.ok >= ok + 20 }
            }
        }
    }

    @Test("PostgreSQL audit store stopped under load: LoggingFailed and nothing let through; exchanges resume when it returns")
    func postgresStopped() async throws {
        try await withDedicatedPostgres { postgres, url in
            try await ChaosRun.with(consumerPostgresURL: url) { run in
                try await run.phase("both up") { try await $0.waitFor("20 answers of 200") { $0.ok >= 20 } }

                try await postgres.stop()
                let refusedAtStop = run.ledger.snapshot.refusals(of: "Server.ClientProxy.LoggingFailed")
                try await run.ledger.waitFor("LoggingFailed refusals while the database is down", timeout: .seconds(30)) {
                    $0.refusals(of: "Server.ClientProxy.LoggingFailed") >= refusedAtStop + 5
                }
                try await run.holdClosed(until: .now, then: .seconds(3), "the consumer's PostgreSQL store is down")

                try await postgres.restart()
                // After a commit whose outcome the server cannot know (the connection dropped after
                // COMMIT was sent), it refuses until restarted (docs/audit-log.md): accept either.
                let ok = run.ledger.snapshot.ok
                do {
                    try await run.ledger.waitFor("20 answers of 200 after the database returned", timeout: .seconds(20)) { $0.ok >= ok + 20 }
                    print("ChaosTests: the consumer resumed by itself once PostgreSQL was back")
                } catch {
                    print("ChaosTests: the consumer still refused once PostgreSQL was back (an ambiguous commit); restarting it")
                    try await run.restartConsumer(expectReady: true)
                    let okAtRestart = run.ledger.snapshot.ok
                    try await run.phase("the consumer restarted after the database returned") { ledger in
                        try await ledger.waitFor("20 answers of 200", timeout: .seconds(30)) { $0.ok >= okAtRestart + 20 }
                    }
                }
            }
        }
    }
}

// MARK: - The harness

/// A registry, an OCSP responder, a backend and two security-server processes under load, with
/// the registry and the OCSP responder stoppable.
final class ChaosRun: Sendable {
    typealias N = ExchangeNetwork
    let network: ExchangeNetwork
    let ocsp: Restartable
    let registry: Restartable
    let provider: ServerUnderTest
    let consumer: ServerUnderTest
    let children = Children()
    let ledger = LoadLedger()
    let http: HTTPClient
    private let consumerWrapper: [String]

    /// `setpriv` dropping the capabilities that let root ignore file permissions.
    static let withoutFileCapabilities = ["/usr/bin/setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search,-fowner"]

    private init(network: ExchangeNetwork, ocsp: Restartable, registry: Restartable, provider: ServerUnderTest,
                 consumer: ServerUnderTest, http: HTTPClient, consumerWrapper: [String]) {
        self.network = network
        self.ocsp = ocsp
        self.registry = registry
        self.provider = provider
        self.consumer = consumer
        self.http = http
        self.consumerWrapper = consumerWrapper
    }

    /// Sets everything up, starts the load, runs `body`, then stops the load and both servers
    /// cleanly and checks the logs against what the clients saw.
    /// With `consumerPostgresURL`, the consumer keeps its audit log in that PostgreSQL database.
    static func with(consumerWrapper: [String] = [], consumerPostgresURL: String? = nil,
                     _ body: (ChaosRun) async throws -> Void) async throws {
        let started = ContinuousClock.now
        var network = try ExchangeNetwork()
        // LIENTHONG_KEEP_TEST_DIR=1 keeps the servers' logs and data for a look after a failure.
        defer { if ProcessInfo.processInfo.environment["LIENTHONG_KEEP_TEST_DIR"] == nil { try? FileManager.default.removeItem(at: network.directory) } }
        try #require(FileManager.default.isExecutableFile(atPath: BackgroundProcess.lienthongExecutable),
                     "run `swift build --build-tests` first (scripts/test.sh does)")
        let http = ClientCaller.makeHTTPClient()
        defer { _ = http.shutdown() }
        let backend = BackendLog()

        print("ChaosTests: working directory \(network.directory.path)")
        try await N.withBackend(backend) { backendPort in
            let pki = network.pki
            let ocspPort = try await N.freePort(), registryPort = try await N.freePort()
            network.ocspURL = "http://127.0.0.1:\(ocspPort)/"
            network.registryURL = "https://127.0.0.1:\(registryPort)"
            let ocsp = Restartable("OCSP responder") { ready in
                try await DevelopmentOCSPService(pki: pki).withRunning(host: "127.0.0.1", port: ocspPort) { _ in
                    ready()
                    try await Task.sleep(for: .seconds(3600))
                }
            }
            let tls = try network.pki.issue(role: .server, holderId: "VN/GOV/000.00.00.VPCP/registry")
            let registryConfiguration = RegistryServerConfiguration(
                instance: "VN", port: registryPort, dataDirectory: network.directory.appendingPathComponent("registry").path,
                pkiDirectory: pki.directory.path, tlsCertificateFile: network.path(tls), tlsKeyFile: network.path(tls, key: true),
                ocspURL: network.ocspURL, configurationValiditySeconds: ChaosTests.configurationValidity,
                ocspFreshnessSeconds: N.ocspFreshness, checkpointIntervalSeconds: 1)
            try await RegistryServer.initialise(
                dataDirectory: registryConfiguration.dataDirectory, instance: "VN",
                adminCertificatePEM: try PEMFiles.readText(URL(fileURLWithPath: network.path(try network.administrator()))), name: "Quản trị 01")
            let registry = Restartable("registry") { ready in
                try await RegistryServer(configuration: registryConfiguration).withRunning { _ in
                    ready()
                    try await Task.sleep(for: .seconds(3600))
                }
            }
            try await ocsp.start()
            defer { ocsp.cancel() }
            try await registry.start()
            defer { registry.cancel() }

            let providerId = "\(N.provider)/ss1", consumerId = "\(N.consumer)/ss1"
            let interPorts = [providerId: try await N.freePort(), consumerId: try await N.freePort()]
            try await network.register(serverPorts: interPorts)
            var providerConfiguration = try network.configuration(
                server: providerId, member: N.provider, interServerPort: interPorts[providerId] ?? 0,
                services: [.init(id: N.lookup, backendURL: "http://127.0.0.1:\(backendPort)/api")])
            providerConfiguration.configurationRefreshSeconds = 1
            var consumerConfiguration = try network.configuration(
                server: consumerId, member: N.consumer, interServerPort: interPorts[consumerId] ?? 0, clients: [AuditCrashTests.motCua])
            consumerConfiguration.configurationRefreshSeconds = 1
            consumerConfiguration.audit.postgresURL = consumerPostgresURL
            let run = ChaosRun(
                network: network, ocsp: ocsp, registry: registry,
                provider: try ServerUnderTest(name: "provider", network: network, clientPort: try await N.freePort(),
                                              configuration: providerConfiguration),
                consumer: try ServerUnderTest(name: "consumer", network: network, clientPort: try await N.freePort(),
                                              configuration: consumerConfiguration),
                http: http, consumerWrapper: consumerWrapper)
            defer { run.children.killAll() }
            run.children.add(run.provider.name, try await run.provider.start(http: http))
            run.children.add(run.consumer.name, try await run.consumer.start(http: http, wrapper: consumerWrapper))

            let result: Result<Void, any Error> = await withTaskGroup(of: Void.self) { group in
                for worker in 0..<ChaosTests.workers {
                    group.addTask { await AuditCrashTests.load(worker: worker, caller: ClientCaller(http: http), port: run.consumer.clientPort, ledger: run.ledger) }
                }
                let result: Result<Void, any Error>
                do { result = .success(try await body(run)) } catch { result = .failure(error) }
                run.ledger.stop()
                await group.waitForAll()
                return result
            }
            try result.get()

            // Both servers stop cleanly (a last checkpoint, countersigned), then the logs are checked.
            for server in run.children.running {
                _ = server.terminate()
                let exit = await server.waitForExit(timeout: .seconds(20))
                #expect(exit == .init(status: 0, bySignal: false),
                        "\(server.commandLine) did not stop cleanly: \(exit?.description ?? "still running")\n\(server.outputTail())")
            }
            let state = run.ledger.snapshot
            let logs: LoggedAnswers
            if let consumerPostgresURL {
                var logger = Logger(label: "chaos")
                logger.logLevel = .critical
                logs = try await PostgresAuditLeafStore.withStore(configuration: try .init(url: consumerPostgresURL),
                                                                  node: "\(consumerId)/default", logger: logger) { store in
                    try await LoggedAnswers.check(state, provider: try SQLiteAuditLeafStore(path: run.provider.auditLogPath),
                                                  consumer: store, anchors: [pki.rootCertificate])
                }
            } else {
                logs = try await LoggedAnswers.check(state, provider: run.provider, consumer: run.consumer, anchors: [pki.rootCertificate])
            }
            let refusals = Dictionary(grouping: state.answers.values.filter { $0.status != 200 }, by: { $0.errorType ?? "HTTP \($0.status)" })
                .mapValues(\.count).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("""
                ChaosTests: \(state.sent) exchanges sent, \(state.ok) × 200, \(state.refused) refused (\(refusals)), \
                \(state.unanswered) without an answer; logs: provider \(logs.provider.records.count), consumer \
                \(logs.consumer.records.count) records, both verified; \(ContinuousClock.now - started)
                """)
        }
        try await http.shutdown()
    }

    /// Runs one phase of a scenario.
    func phase(_ name: String, _ body: (LoadLedger) async throws -> Void) async throws {
        do {
            try await body(ledger)
        } catch {
            throw TestFailure("phase \"\(name)\": \(error)\nconsumer:\n\(children.current(consumer.name)?.outputTail() ?? "not running")")
        }
    }

    /// Waits until `deadline`, then checks that for `duration` more no client gets a 200: the fault
    /// is past its limit and the servers must fail closed.
    func holdClosed(until deadline: ContinuousClock.Instant, then duration: Duration, _ why: String) async throws {
        try await Task.sleep(until: deadline)
        let before = ledger.snapshot
        try await Task.sleep(for: duration)
        let after = ledger.snapshot
        #expect(after.ok == before.ok, "\(after.ok - before.ok) answers of 200 while \(why)")
        #expect(after.sent > before.sent, "clients kept calling while \(why)")
    }

    /// Kills the consumer (SIGKILL) and starts it again; with `expectReady: false` the new process
    /// may fail to start or answer `/healthz` with an error, as long as it lets nothing through.
    func restartConsumer(expectReady: Bool) async throws {
        if let process = children.current(consumer.name) {
            _ = process.kill()
            _ = await process.waitForExit(timeout: .seconds(10))
            children.remove(process)
        }
        do {
            children.add(consumer.name, try await consumer.start(http: http, wrapper: consumerWrapper,
                                                                 timeout: expectReady ? .seconds(30) : .seconds(5)))
        } catch {
            if expectReady { throw error }
        }
    }

    /// Removes write permission from `directory` and everything in it; returns the old modes.
    static func removeWritePermissions(_ directory: URL) throws -> [(String, Int)] {
        var saved: [(String, Int)] = []
        let paths = [directory.path] + (try FileManager.default.contentsOfDirectory(atPath: directory.path).map { directory.path + "/" + $0 })
        for path in paths {
            let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? 0o600
            saved.append((path, mode))
            try FileManager.default.setAttributes([.posixPermissions: mode & ~0o222], ofItemAtPath: path)
        }
        return saved
    }

    /// Puts back what ``removeWritePermissions(_:)`` took away.
    static func restorePermissions(_ saved: [(String, Int)]) throws {
        for (path, mode) in saved { try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path) }
    }
}

/// A service run in this process that can be stopped and started again (same port, same data).
final class Restartable: Sendable {
    let name: String
    private let body: @Sendable (_ ready: @escaping @Sendable () -> Void) async throws -> Void
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(_ name: String, _ body: @escaping @Sendable (_ ready: @escaping @Sendable () -> Void) async throws -> Void) {
        self.name = name
        self.body = body
    }

    /// Starts the service and waits until it listens.
    func start() async throws {
        let (events, continuation) = AsyncStream<Bool>.makeStream()
        let body = self.body
        let started = Task {
            do {
                try await body { continuation.yield(true) }
            } catch {}
            continuation.yield(false)
            continuation.finish()
        }
        task.withLock { $0 = started }
        for await ready in events {
            if ready { return }
            break
        }
        throw TestFailure("the \(name) did not start")
    }

    /// Stops the service and waits until it has shut down.
    func stop() async throws {
        guard let running = task.withLock({ $0.take() }) else { throw TestFailure("the \(name) is not running") }
        running.cancel()
        await running.value
    }

    /// Stops the service without waiting (clean-up).
    func cancel() {
        task.withLock { $0.take() }?.cancel()
    }
}

extension LoadLedger.State {
    /// How many answers carried `errorType`.
    func refusals(of errorType: String) -> Int {
        answers.values.filter { $0.errorType == errorType }.count
    }
}
