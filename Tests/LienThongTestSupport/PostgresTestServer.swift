import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a test PostgreSQL server could not be provided. Tests that need one fail with it (they
/// never skip): run `scripts/test.sh`, which installs the server.
public struct PostgresTestServerError: Error, CustomStringConvertible {
    /// What went wrong, and what to do.
    public var description: String

    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

/// A real, throw-away PostgreSQL server for tests: `initdb` into a fresh directory under `/tmp`,
/// `pg_ctl start` on a free loopback port (trust authentication, user `postgres`, its unix socket
/// inside that directory), stopped and deleted afterwards.
///
/// PostgreSQL refuses to run as root: when the tests run as root, the directory is given to the
/// `postgres` user and `initdb` / `pg_ctl` run through `runuser -u postgres --`.
///
/// - ``shared()`` is one server per test process (startup takes a second or two); give each test
///   its own database with ``createDatabase()``, or use ``withPostgres(_:)``.
/// - ``start()`` is a dedicated server, for tests that stop it (``stop()``) or otherwise disturb
///   it; use ``withDedicatedPostgres(_:)`` so that it is removed afterwards.
///
/// A watchdog (`setsid sh`) removes every server once the test process has exited, even if it
/// crashed. The server binaries are started with ``DaemonSafeProcess``, not `Foundation.Process`,
/// which never sees the exit of a program that leaves a daemon behind.
public final class PostgresTestServer: Sendable {
    /// The loopback address the server listens on.
    public let host = "127.0.0.1"
    /// Its TCP port.
    public let port: Int
    /// The temporary directory holding the cluster (`data/`), its unix socket and `postgres.log`.
    public let directory: URL
    /// The PostgreSQL binaries used (`initdb`, `pg_ctl`, `createdb`).
    public let binDirectory: URL
    private let runAsPostgres: Bool

    private init(port: Int, directory: URL, binDirectory: URL, runAsPostgres: Bool) {
        self.port = port
        self.directory = directory
        self.binDirectory = binDirectory
        self.runAsPostgres = runAsPostgres
    }

    /// The data directory.
    public var dataDirectory: URL { directory.appendingPathComponent("data") }
    /// The server's log file.
    public var logFile: URL { directory.appendingPathComponent("postgres.log") }

    /// A connection URL for `database` as the superuser `postgres` (no password: trust).
    public func url(database: String) -> String { "postgres://postgres@\(host):\(port)/\(database)" }

    // MARK: Starting

    /// The server shared by every test of this process, started on first use.
    public static func shared() async throws -> PostgresTestServer {
        try await SharedPostgres.instance.server()
    }

    /// Starts a dedicated server. The caller must ``remove()`` it (or use
    /// ``withDedicatedPostgres(_:)``).
    /// - Throws: ``PostgresTestServerError`` if the binaries are missing or the server does not start.
    public static func start() async throws -> PostgresTestServer {
        let bin = try binaries()
        let runAsPostgres = geteuid() == 0
        let base = runAsPostgres ? URL(fileURLWithPath: "/tmp") : FileManager.default.temporaryDirectory
        var lastFailure: (any Error)?
        for _ in 0..<3 {
            let directory = base.appendingPathComponent("lienthong-pg-\(UUID().uuidString.prefix(8).lowercased())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let server = PostgresTestServer(port: try freePort(), directory: directory, binDirectory: bin, runAsPostgres: runAsPostgres)
            do {
                try await server.initializeAndStart()
                return server
            } catch {
                lastFailure = error
                await server.remove()
            }
        }
        throw lastFailure ?? PostgresTestServerError("PostgreSQL did not start")
    }

    private func initializeAndStart() async throws {
        if runAsPostgres {
            guard let account = getpwnam("postgres") else {
                throw PostgresTestServerError("running as root, but there is no `postgres` user to run PostgreSQL as; run scripts/test.sh (it installs the postgresql package, which creates it)")
            }
            guard chown(directory.path, account.pointee.pw_uid, account.pointee.pw_gid) == 0 else {
                throw PostgresTestServerError("cannot give \(directory.path) to the postgres user (errno \(errno))")
            }
        }
        try await run("initdb", ["-D", dataDirectory.path, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "-N"])
        try startWatchdog()
        try await startServer()
    }

    private func startServer() async throws {
        try await run("pg_ctl", ["-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "60",
                                 "-o", "-p \(port) -k \(directory.path) -c listen_addresses=\(host) -c max_connections=300", "start"])
    }

    /// Starts the server again after ``stop()``, on the same port and data.
    public func restart() async throws {
        try await startServer()
    }

    // MARK: Databases

    /// Creates a database with a fresh name and returns its connection URL.
    public func createDatabase() async throws -> String {
        let name = "lt_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let result = try await DaemonSafeProcess.run(binDirectory.appendingPathComponent("createdb").path,
                                                     ["-h", host, "-p", "\(port)", "-U", "postgres", name])
        guard result.status == 0 else {
            throw PostgresTestServerError("createdb \(name) failed (\(result.status)): \(result.output)\(logTail())")
        }
        return url(database: name)
    }

    // MARK: Stopping

    /// Stops the server (`pg_ctl stop -m fast`), keeping its directory: clients now fail to
    /// connect, as when a production database goes down.
    public func stop() async throws {
        try await run("pg_ctl", ["-D", dataDirectory.path, "-m", "fast", "-w", "-t", "60", "stop"])
    }

    /// Stops the server if it runs (`-m immediate`) and deletes its directory.
    public func remove() async {
        if FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("postmaster.pid").path) {
            _ = try? await run("pg_ctl", ["-D", dataDirectory.path, "-m", "immediate", "-w", "stop"])
        }
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: Helpers

    /// Finds the server binaries: `$LIENTHONG_PG_BIN`, else `/usr/lib/postgresql/15/bin`, else the
    /// newest `/usr/lib/postgresql/N/bin`.
    public static func binaries() throws -> URL {
        let required = ["initdb", "pg_ctl", "createdb", "postgres"]
        func usable(_ dir: URL) -> Bool {
            required.allSatisfy { FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent($0).path) }
        }
        var candidates: [URL] = []
        if let configured = ProcessInfo.processInfo.environment["LIENTHONG_PG_BIN"], !configured.isEmpty {
            candidates.append(URL(fileURLWithPath: configured))
        }
        let root = URL(fileURLWithPath: "/usr/lib/postgresql")
        candidates.append(root.appendingPathComponent("15/bin"))
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [])
            .compactMap { name in Double(name).map { (name, $0) } }
            .sorted { $0.1 > $1.1 }
        candidates += versions.map { root.appendingPathComponent("\($0.0)/bin") }
        guard let found = candidates.first(where: usable) else {
            throw PostgresTestServerError("""
                the PostgreSQL server binaries (\(required.joined(separator: ", "))) are not installed: looked in \
                \(candidates.map(\.path).joined(separator: ", ")). Run scripts/test.sh, which installs them \
                (apt-get install postgresql), or set LIENTHONG_PG_BIN to their directory.
                """)
        }
        return found
    }

    /// Runs a server binary, as the postgres user when running as root.
    private func run(_ tool: String, _ arguments: [String]) async throws {
        let executable = binDirectory.appendingPathComponent(tool).path
        let result: (status: Int32, output: String)
        if runAsPostgres {
            let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first { FileManager.default.isExecutableFile(atPath: $0) }
            guard let runuser else { throw PostgresTestServerError("running as root, but runuser (util-linux) is missing") }
            result = try await DaemonSafeProcess.run(runuser, ["-u", "postgres", "--", executable] + arguments)
        } else {
            result = try await DaemonSafeProcess.run(executable, arguments)
        }
        guard result.status == 0 else {
            throw PostgresTestServerError("\(tool) \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.output)\(logTail())")
        }
    }

    private func logTail() -> String {
        guard let log = try? String(contentsOf: logFile, encoding: .utf8), !log.isEmpty else { return "" }
        return "\nserver log (end):\n" + log.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    /// A detached shell that waits for this process to exit, then stops the server and deletes
    /// its directory.
    private func startWatchdog() throws {
        let pgCtl = binDirectory.appendingPathComponent("pg_ctl").path
        let stop = "\(runAsPostgres ? "runuser -u postgres -- " : "")'\(pgCtl)' -D '\(dataDirectory.path)' -m immediate stop"
        let script = "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(stop) >/dev/null 2>&1; rm -rf '\(directory.path)'"
        // In a session of its own (setsid), so that an interrupt of the test run does not stop it.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/setsid") {
            try DaemonSafeProcess.launch("/usr/bin/setsid", ["/bin/sh", "-c", script])
        } else {
            try DaemonSafeProcess.launch("/bin/sh", ["-c", script])
        }
    }

    /// A free TCP port on 127.0.0.1 (bound to port 0, read back, released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresTestServerError("cannot create a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Bool in
                bind(fd, sa, length) == 0 && getsockname(fd, sa, &length) == 0
            }
        }
        guard bound else { throw PostgresTestServerError("cannot bind 127.0.0.1:0 to find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Starts the shared server once per process; a failure is remembered and reported to every test.
private actor SharedPostgres {
    static let instance = SharedPostgres()
    private var starting: Task<PostgresTestServer, any Error>?

    func server() async throws -> PostgresTestServer {
        if let starting { return try await starting.value }
        let task = Task { try await PostgresTestServer.start() }
        starting = task
        return try await task.value
    }
}

/// Runs `body` with the URL of a fresh database on the shared test server.
public func withPostgres<T>(_ body: (String) async throws -> T) async throws -> T {
    let server = try await PostgresTestServer.shared()
    return try await body(try await server.createDatabase())
}

/// Runs `body` with a dedicated test server and the URL of a fresh database on it; the server is
/// stopped and deleted afterwards, whatever `body` did to it.
public func withDedicatedPostgres<T>(_ body: (PostgresTestServer, String) async throws -> T) async throws -> T {
    let server = try await PostgresTestServer.start()
    do {
        let result = try await body(server, try await server.createDatabase())
        await server.remove()
        return result
    } catch {
        await server.remove()
        throw error
    }
}

/// Runs programs that may leave daemons behind (`pg_ctl start`), which `Foundation.Process`
/// cannot: on Linux it notices a child's exit by a socket the child inherits, so a daemon that
/// inherits it too hides the exit for ever (swift-corelibs-foundation issue 4795), and a daemon
/// would also hold on to the sockets of any other test's running `Process`. Here the child gets
/// `/dev/null` as input, the output file, default signal handling, and no other descriptor; its
/// exit is awaited with `waitpid` on a thread of its own.
enum DaemonSafeProcess {
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// Runs `executable` and returns its exit status (128 + signal if killed) and its output.
    static func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-spawn-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        let pid = try spawn(executable, arguments, output: output.path)
        let status = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            Thread.detachNewThread { continuation.resume(returning: reap(pid)) }
        }
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        return (status, text)
    }

    /// Starts `executable` without waiting for it (its exit is still reaped, on a thread).
    static func launch(_ executable: String, _ arguments: [String]) throws {
        let pid = try spawn(executable, arguments, output: "/dev/null")
        Thread.detachNewThread { _ = reap(pid) }
    }

    private static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { return -1 }
        }
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    private static func spawn(_ executable: String, _ arguments: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)   // glibc 2.34+: atomic
        } else {
            let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            for fd in open.compactMap({ Int32($0) }) where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, &argv, environ)
        guard result == 0 else {
            throw PostgresTestServerError("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        return pid
    }
}
