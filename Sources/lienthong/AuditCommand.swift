import ArgumentParser
import Foundation
import LienThongAudit

/// `lienthong audit ...`: the audit log's tools.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The audit log: offline verification of a security server's log, and the group-commit benchmark.",
        subcommands: [Verify.self, BenchCommit.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a security server's audit log file offline: every record present, in order, unchanged, and well-formed; print the tree head.")
        @Argument(help: "The log file (data_directory/audit.sqlite of a security server).") var path: String

        func run() async throws {
            guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path) does not exist") }
            let store = try SQLiteAuditLeafStore(path: path)
            do {
                let head = try await AuditLogVerifier.verify(store)
                print("OK  \(head.treeSize) records, tree head \(head.rootHash.hex)")
            } catch let failure as AuditVerificationFailure {
                print("BAD \(failure)")
                throw ExitCode(1)
            }
        }
    }

    struct BenchCommit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bench-commit",
            abstract: "Durable records per second with group commit on SQLite at 1, 16 and 256 concurrent writers, in one run.")
        @Option(help: "Records per measurement.") var records: Int = 4000
        @Option(help: "Record size in bytes (a typical exchange record is about 1.5 KiB).") var size: Int = 1500
        @Option(help: "Writer counts to measure, comma-separated.") var writers: String = "1,16,256"
        @Option(help: "Directory for the temporary SQLite files (default: the system temporary directory).") var dir: String?

        func run() async throws {
            let counts = writers.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 }), records > 0, size > 0 else {
                throw ValidationError("give positive --records, --size and --writers")
            }
            let base = URL(fileURLWithPath: dir ?? FileManager.default.temporaryDirectory.path)
                .appendingPathComponent("lienthong-audit-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: base) }
            print("Group commit on SQLite (WAL, synchronous=FULL): \(records) records of \(size) bytes per measurement, \(base.path)")
            print("writers   records/s   commits   records/commit   vs 1 writer")
            var baseline: Double?
            let payload = [UInt8](repeating: UInt8(ascii: "x"), count: size)
            for count in counts {
                let store = try SQLiteAuditLeafStore(path: base.appendingPathComponent("w\(count).sqlite").path)
                let log = try await GroupCommitLog(store: store)
                let perWriter = max(1, records / count)
                let start = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<count {
                        group.addTask {
                            for _ in 0..<perWriter { _ = try await log.append { _ in payload } }
                        }
                    }
                    try await group.waitForAll()
                }
                let elapsed = ContinuousClock.now - start
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let written = await log.recordsWritten
                let commits = await log.commits
                let rate = Double(written) / seconds
                if baseline == nil { baseline = rate }
                print(String(format: "%7d   %9.0f   %7d   %14.1f   %10.1f×", count, rate, commits, Double(written) / Double(max(commits, 1)),
                             rate / (baseline ?? rate)))
            }
        }
    }
}
