import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs helper programs (openssl, python3, the `lienthong` binary) from tests without blocking a
/// cooperative thread: the process's exit is awaited through its termination handler.
public enum Subprocess {
    /// Runs `executable` with `arguments`; returns its exit status and its combined output.
    public static func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-run-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        try handle.close()
        return (status, try String(contentsOf: output, encoding: .utf8))
    }

    /// The first executable called `name` on `PATH`.
    public static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// Validates JSON documents against the repository's schemas with python-jsonschema.
public enum JSONSchemaCheck {
    /// The repository root, from this file's path.
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The first `python3` on `PATH`.
    public static let python: String? = Subprocess.executable("python3")

    /// Validates each `(schema, document)` pair (schema path relative to the repository root) with
    /// `jsonschema.Draft202012Validator`, after checking the schema itself. Returns the exit status
    /// (0 when every document is valid) and one line per error, prefixed by the pair's index.
    public static func validate(_ pairs: [(schema: String, document: [UInt8])]) async throws -> (status: Int32, output: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var arguments: [String] = []
        for (i, pair) in pairs.enumerated() {
            let file = directory.appendingPathComponent("document-\(i).json")
            try Data(pair.document).write(to: file)
            arguments += [repositoryRoot.appendingPathComponent(pair.schema).path, file.path]
        }
        let program = """
        import json, sys, jsonschema
        failed = False
        args = sys.argv[1:]
        for i in range(0, len(args), 2):
            schema = json.load(open(args[i], encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(schema)
            document = json.load(open(args[i + 1], encoding="utf-8"))
            for error in sorted(jsonschema.Draft202012Validator(schema).iter_errors(document), key=lambda e: list(e.path)):
                failed = True
                print(i // 2, "/".join(str(p) for p in error.path), error.message)
        sys.exit(1 if failed else 0)
        """
        return try await Subprocess.run(python ?? "/usr/bin/python3", ["-c", program] + arguments)
    }
}

// MARK: Long-running child processes

/// A long-running child process that a test starts, signals and waits for: typically a server
/// under test run as its own executable (`lienthong server serve --config FILE`), so that the test
/// can kill it with `SIGKILL` in the middle of its work (``kill()``, like `kill -9`) and start it
/// again, or stop it gracefully (``terminate()``, `SIGTERM`).
///
/// - The child is spawned with Foundation's `Process`; its standard output and error both go to
///   ``outputFile`` (read it with ``output()``, e.g. for a failure message).
/// - Its exit is observed through the termination handler: ``exit`` is `nil` while it runs;
///   ``waitForExit(timeout:)`` polls it without blocking a thread.
/// - A signal is only ever sent while ``exit`` is `nil`, i.e. before the child has been reaped,
///   so a recycled process id is never signalled.
/// - A watchdog (`/bin/sh`, polling twice a second) sends `SIGKILL` to the child if the test
///   process goes away first (a crash or a trap), so no server outlives its test. Tests should
///   still stop their children on every path, e.g. `defer { server.kill() }`.
public final class BackgroundProcess: Sendable {
    /// How a child ended.
    public struct Exit: Sendable, Hashable, CustomStringConvertible {
        /// The exit status, or the signal number if ``bySignal``.
        public var status: Int32
        /// Whether an uncaught signal ended it.
        public var bySignal: Bool

        /// Creates a description of an exit.
        public init(status: Int32, bySignal: Bool) {
            self.status = status
            self.bySignal = bySignal
        }

        /// `exit 0`, `signal 9`, …
        public var description: String { bySignal ? "signal \(status)" : "exit \(status)" }
    }

    /// The child's process id.
    public let pid: Int32
    /// The file that receives its standard output and error.
    public let outputFile: URL
    /// The command line, for messages.
    public let commandLine: String
    private let ended: ExitBox
    // Kept so that Foundation keeps observing the child; never touched after `init`.
    private let process: Process
    private let watchdog: Process?

    /// Starts `executable` with `arguments`; output is appended to `outputFile` (created if
    /// needed). With `watchdog` (the default) the child is killed if this process exits first.
    /// - Throws: if the process cannot be started.
    public init(_ executable: String, _ arguments: [String], outputFile: URL, watchdog: Bool = true) throws {
        if !FileManager.default.fileExists(atPath: outputFile.path) {
            _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: outputFile)
        try handle.seekToEnd()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        let ended = ExitBox()
        process.terminationHandler = { finished in
            let exit = Exit(status: finished.terminationStatus, bySignal: finished.terminationReason == .uncaughtSignal)
            ended.value.withLock { $0 = exit }
        }
        try process.run()
        try? handle.close()   // the child has its own copy
        self.process = process
        self.pid = process.processIdentifier
        self.outputFile = outputFile
        self.commandLine = ([executable] + arguments).joined(separator: " ")
        self.ended = ended
        if watchdog {
            let guardian = Process()
            guardian.executableURL = URL(fileURLWithPath: "/bin/sh")
            let parent = getpid(), child = process.processIdentifier
            guardian.arguments = ["-c", """
                while kill -0 \(parent) 2>/dev/null; do kill -0 \(child) 2>/dev/null || exit 0; sleep 0.5; done
                kill -9 \(child) 2>/dev/null
                """]
            guardian.standardInput = FileHandle.nullDevice
            guardian.standardOutput = FileHandle.nullDevice
            guardian.standardError = FileHandle.nullDevice
            try? guardian.run()
            self.watchdog = guardian
        } else {
            self.watchdog = nil
        }
    }

    /// How the child ended, or `nil` while it runs.
    public var exit: Exit? { ended.value.withLock { $0 } }

    /// Whether the child is still running (not yet reaped).
    public var isRunning: Bool { exit == nil }

    /// Sends `signal` to the child if it is still running; returns whether it was sent.
    @discardableResult
    public func signal(_ signal: Int32) -> Bool {
        ended.value.withLock { exit in
            guard exit == nil else { return false }
            #if canImport(Glibc)
            return Glibc.kill(pid, signal) == 0
            #else
            return Darwin.kill(pid, signal) == 0
            #endif
        }
    }

    /// Asks the child to stop gracefully (`SIGTERM`).
    @discardableResult
    public func terminate() -> Bool { signal(SIGTERM) }

    /// Kills the child at once (`SIGKILL`, like `kill -9`): no cleanup code of its runs.
    @discardableResult
    public func kill() -> Bool { signal(SIGKILL) }

    /// Waits until the child has ended, at most `timeout`; returns how it ended, or `nil` if it
    /// is still running.
    public func waitForExit(timeout: Duration) async -> Exit? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let exit { return exit }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return exit
    }

    /// Everything the child has written so far.
    public func output() -> String {
        (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
    }

    /// The last `lines` lines of ``output()``, for failure messages.
    public func outputTail(_ lines: Int = 20) -> String {
        output().split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// How the child ended, shared with the termination handler.
    private final class ExitBox: Sendable {
        let value = Mutex<Exit?>(nil)
    }

    /// The `lienthong` executable built beside the test bundle (`.build/<triple>/debug/lienthong`),
    /// or `.build/debug/lienthong` under the repository root. `swift build --build-tests` (and
    /// scripts/test.sh) builds it.
    public static let lienthongExecutable: String = {
        var directory = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("lienthong")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.path }
            directory = directory.deletingLastPathComponent()
        }
        return JSONSchemaCheck.repositoryRoot.appendingPathComponent(".build/debug/lienthong").path
    }()
}
