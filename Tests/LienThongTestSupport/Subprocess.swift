import Foundation

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
