import ArgumentParser
import Foundation
import LienThongAudit

/// `lienthong audit ...`: the audit log's tools.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The audit log: offline verification of a security server's log, and the group-commit benchmark.",
        subcommands: [Verify.self, BenchCommit.self, BenchVerify.self])

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

    struct BenchVerify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bench-verify",
            abstract: "Time `audit verify` on a synthetic log of realistic exchange records (written in bulk first, not timed).")
        @Option(help: "Records in the synthetic log.") var records: Int = 1_000_000
        @Option(help: "Directory for the temporary SQLite file (default: the system temporary directory).") var dir: String?

        func run() async throws {
            guard records > 0 else { throw ValidationError("--records must be positive") }
            let base = URL(fileURLWithPath: dir ?? FileManager.default.temporaryDirectory.path)
                .appendingPathComponent("lienthong-audit-verify-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: base) }
            let store = try SQLiteAuditLeafStore(path: base.appendingPathComponent("audit.sqlite").path)
            let protector = try PersonalDataProtector(key: [UInt8](repeating: 0x5A, count: 32))
            let start = Date(timeIntervalSince1970: 1_790_000_000)
            var sequence: UInt64 = 0
            let writeStart = ContinuousClock.now
            while sequence < UInt64(records) {
                var batch: [StoredLeaf] = []
                for _ in 0..<min(10_000, UInt64(records) - sequence) {
                    var event = ExchangeEvent(side: sequence.isMultiple(of: 2) ? .consumer : .provider, server: "VN/GOV/000.00.00.H26/ss1",
                                              method: "GET", startedAt: start.addingTimeInterval(Double(sequence) / 100))
                    event.endedAt = event.startedAt.addingTimeInterval(0.004)
                    event.messageId = UUID().uuidString.lowercased()
                    event.requestId = UUID().uuidString.lowercased()
                    event.client = "VN/GOV/000.00.00.H26/MOTCUA"
                    event.service = "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan"
                    event.dataset = "VN/GOV/000.00.00.G22/datasets/dan-cu"
                    event.agreement = "AG-000001"
                    event.purpose = "1.004227"
                    event.path = "/v1/cong-dan/001099\(String(format: "%06d", sequence % 1_000_000))"
                    event.requestDigest = String(repeating: "d", count: 43)
                    event.responseDigest = String(repeating: "e", count: 43)
                    event.status = 200
                    event.outcome = .success
                    let record = try AuditRecord(event: event, sequence: sequence, protector: protector)
                    batch.append(StoredLeaf(sequence: sequence, bytes: record.canonicalBytes()))
                    sequence += 1
                }
                try await store.append(batch)
            }
            let written = ContinuousClock.now - writeStart
            let size = (try? FileManager.default.attributesOfItem(atPath: store.path)[.size] as? Int) ?? 0
            print("wrote \(records) records (\(size / 1_048_576) MiB) in \(written.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))")
            let verifyStart = ContinuousClock.now
            let head = try await AuditLogVerifier.verify(store)
            let elapsed = ContinuousClock.now - verifyStart
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(String(format: "verified %llu records in %.2f s (%.0f records/s), tree head %@", head.treeSize, seconds,
                         Double(head.treeSize) / seconds, head.rootHash.hex))
        }
    }
}
