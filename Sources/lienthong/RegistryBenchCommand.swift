import ArgumentParser
import Foundation
import LienThongRegistry

/// `lienthong registry bench-config`: how long building, encoding, signing and verifying a
/// national-scale global configuration takes, and how large it is.
struct RegistryBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-config",
        abstract: "Benchmark the global configuration: build, canonical-encode, sign and verify a synthetic registry.",
        discussion: """
        Generates 85 members (22 ministries, 63 provinces), two security servers each, the given numbers of \
        subsystems, services (two endpoints each) and active agreements, one dataset per subsystem, and a \
        temporary development PKI; then times each phase. Build with -c release for meaningful numbers. \
        The target is under 2 s in total.
        """
    )

    @Option(help: "Number of subsystems.") var subsystems: Int = 10_000
    @Option(help: "Number of services.") var services: Int = 100_000
    @Option(help: "Number of active agreements.") var agreements: Int = 20_000
    @Option(help: "How many times to run each phase.") var repetitions: Int = 3
    @Option(help: "Also write the last signed document (compact JWS) to this file.") var output: String?

    func validate() throws {
        guard subsystems >= 1, services >= 0, agreements >= 0, repetitions >= 1 else {
            throw ValidationError("--subsystems and --repetitions must be at least 1; --services and --agreements may not be negative")
        }
    }

    func run() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("lienthong-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let parameters = GlobalConfigurationBenchmark.Parameters(
            subsystems: subsystems, services: services, agreements: agreements, repetitions: repetitions)
        let report = try await GlobalConfigurationBenchmark.run(parameters, pkiDirectory: scratch.appendingPathComponent("pki")) { line in
            FileHandle.standardError.write(Data("… \(line)\n".utf8))
        }

        print("document: " + ["members", "subsystems", "servers", "services", "datasets", "agreements"]
            .map { "\(report.counts[$0] ?? 0) \($0)" }.joined(separator: ", "))
        print("")
        print(report.table)
        print("")
        var sizes = [("canonical JSON", report.payloadBytes), ("signed (JWS)", report.jwsBytes)]
        if let gzip = Self.which("gzip") {
            if let size = try? await Self.gzipSize(Array(report.jws.utf8), gzip: gzip, scratch: scratch) {
                sizes.append(("signed, gzip -6", size))
            }
            if let size = try? await Self.gzipSize(report.payload, gzip: gzip, scratch: scratch) {
                sizes.append(("canonical JSON, gzip -6", size))
            }
        }
        for (name, bytes) in sizes {
            print("\(name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(String(format: "%12d", bytes)) bytes (\(String(format: "%.1f", Double(bytes) / 1_048_576)) MiB)")
        }
        if let output {
            try Data(report.jws.utf8).write(to: URL(fileURLWithPath: output))
            print("last signed document written to \(output)")
        }
        let total = report.phases.last?.median ?? 0
        print("")
        print(total < 2 ? "total median \(String(format: "%.3f", total)) s: within the 2 s target"
                        : "total median \(String(format: "%.3f", total)) s: OVER the 2 s target (is this a release build?)")
    }

    /// The first executable named `name` on PATH.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The size of `bytes` compressed by `gzip -6`, run as a child process without blocking a thread.
    static func gzipSize(_ bytes: [UInt8], gzip: String, scratch: URL) async throws -> Int {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let input = scratch.appendingPathComponent("gzip-input-\(UUID().uuidString)")
        let output = scratch.appendingPathComponent("gzip-output-\(UUID().uuidString)")
        defer {
            try? FileManager.default.removeItem(at: input)
            try? FileManager.default.removeItem(at: output)
        }
        try Data(bytes).write(to: input)
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: gzip)
        process.arguments = ["-6", "-c", input.path]
        process.standardOutput = handle
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        try handle.close()
        guard status == 0 else { throw CocoaError(.fileWriteUnknown) }
        let attributes = try FileManager.default.attributesOfItem(atPath: output.path)
        return (attributes[.size] as? NSNumber)?.intValue ?? 0
    }
}
