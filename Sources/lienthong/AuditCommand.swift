import ArgumentParser
import Foundation
import LienThongAudit
import LienThongAuditPostgres
import LienThongTrust
import Logging
import X509

/// `lienthong audit ...`: the audit log's tools.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The audit log: offline verification of a log, archiving old records, evidence bundles of one exchange, and benchmarks.",
        subcommands: [Verify.self, Archive.self, Export.self, VerifyBundle.self, BenchCommit.self, BenchVerify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a security server's audit log offline: every record present, in order, unchanged and well-formed; every checkpoint and registry receipt signed, chained and matching the records; print the tree head.")
        @Argument(help: "The log file (data_directory/audit.sqlite of a security server); omit with --postgres.") var path: String?
        @Option(help: "The instance root CA certificate (PEM): also check that checkpoints are signed by the server's owner and receipts by the registry.")
        var ca: String?
        @Option(help: "The directory of the log's archive files (default: `archive` next to the log file, if it exists).")
        var archives: String?
        @Option(help: "Verify a log kept in PostgreSQL instead: postgres://user:password@host:port/database.")
        var postgres: String?
        @Option(help: "With --postgres: the partition, SERVER_ID/NODE (e.g. VN/GOV/000.00.00.G22/ss1/default).")
        var partition: String?

        func validate() throws {
            guard (path == nil) != (postgres == nil) else { throw ValidationError("give either a log file or --postgres URL --partition SERVER_ID/NODE") }
            if postgres != nil, partition == nil { throw ValidationError("--postgres needs --partition SERVER_ID/NODE") }
        }

        func run() async throws {
            let anchors = try ca.map { try PEMFiles.readCertificates(URL(fileURLWithPath: $0)) }
            if let postgres, let partition {
                let configuration: PostgresAuditLeafStore.Configuration
                do { configuration = try PostgresAuditLeafStore.Configuration(url: postgres) } catch { throw ValidationError("--postgres: \(error)") }
                var logger = Logger(label: "lienthong.audit.verify")
                logger.logLevel = .warning
                try await PostgresAuditLeafStore.withStore(configuration: configuration, node: partition, logger: logger) { store in
                    try await Self.verify(store, anchors: anchors, ca: ca, archives: archives.map(URL.init(fileURLWithPath:)))
                }
                return
            }
            guard let path, FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path ?? "") does not exist") }
            let beside = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("archive")
            let directory = archives.map(URL.init(fileURLWithPath:)) ?? (FileManager.default.fileExists(atPath: beside.path) ? beside : nil)
            try await Self.verify(try SQLiteAuditLeafStore(path: path), anchors: anchors, ca: ca, archives: directory)
        }

        static func verify(_ store: any AuditLeafStore, anchors: [Certificate]?, ca: String?, archives directory: URL?) async throws {
            do {
                let report = try await AuditLogVerifier.verify(store, anchors: anchors, archiveDirectory: directory)
                print("OK  \(report.treeHead.treeSize) records, tree head \(report.treeHead.rootHash.hex)")
                if report.archives > 0 {
                    print("    \(report.archivedRecords) records in \(report.archives) signed archives in \(directory?.path ?? "")")
                }
                print("    \(report.checkpoints) checkpoints (\(report.receipts) countersigned by the registry)\(anchors == nil ? "; signers not checked against a CA (give --ca)" : ", signers checked against \(ca ?? "")"); \(report.uncheckpointedRecords) records after the last checkpoint")
            } catch let failure as AuditVerificationFailure {
                print("BAD \(failure)")
                throw ExitCode(1)
            }
        }
    }

    struct Archive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move the records older than N days, and countersigned by the registry, into a signed, compressed archive file chained to the previous ones (docs/audit-log.md, Retention and archiving).")
        @Argument(help: "The log file (data_directory/audit.sqlite of a security server; stop the server or let it archive by itself with audit.retention_days).") var path: String
        @Option(help: "Archive records that ended more than this many days ago.") var olderThanDays: Int
        @Option(help: "The member signing key (PEM) of the server's owner.") var key: String
        @Option(help: "The member signing certificate chain (PEM).") var cert: String
        @Option(help: "The security server id, INSTANCE/CLASS/MEMBER/SERVER (as in its checkpoints).") var server: String
        @Option(help: "The log partition (as in its checkpoints).") var node: String = "default"
        @Option(help: "Where the archive files go (default: `archive` next to the log).") var archives: String?

        func run() async throws {
            guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path) does not exist") }
            guard olderThanDays >= 1 else { throw ValidationError("--older-than-days must be at least 1") }
            let signer = try DetachedJWS.Signer(
                key: try MessageSigningKey(pemEncoded: try PEMFiles.readText(URL(fileURLWithPath: key))),
                chain: try PEMFiles.readCertificates(URL(fileURLWithPath: cert)))
            let directory = archives.map(URL.init(fileURLWithPath:))
                ?? URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("archive")
            let store = try SQLiteAuditLeafStore(path: path)
            let cutoff = Date().addingTimeInterval(-Double(olderThanDays) * 86_400)
            do {
                guard let archive = try await AuditArchiver.archive(store: store, olderThan: cutoff, directory: directory,
                                                                    server: server, node: node, sign: { manifest in
                                                                        try signer.sign(digest: manifest.digest).compact
                                                                    }) else {
                    print("nothing to archive: no countersigned records older than \(olderThanDays) days after the last archive")
                    return
                }
                let manifest = try AuditArchiveManifest(canonicalBytes: archive.manifest)
                print("archived records \(archive.firstSequence)..<\(archive.endSequence) to \(directory.appendingPathComponent(manifest.file).path) (archive \(archive.sequence))")
            } catch let error as AuditArchiveError {
                print("FAILED \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the evidence bundle of one exchange: each side's record with its inclusion proof, signed checkpoint and registry receipt (schemas/evidence-bundle.schema.json).")
        @Option(help: "The exchange's message id (X-Road-Id).") var exchange: String
        @Option(name: .customLong("log"), help: "An audit log to search (repeat for the consumer's and the provider's).") var logs: [String]
        @Option(help: "Where to write the bundle (default: standard output).") var out: String?

        func run() async throws {
            guard !logs.isEmpty else { throw ValidationError("give at least one --log") }
            var records: [EvidenceRecord] = []
            for path in logs {
                guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path) does not exist") }
                do {
                    records += try await EvidenceExporter.evidence(for: exchange, in: try SQLiteAuditLeafStore(path: path))
                } catch let error as EvidenceExportError {
                    FileHandle.standardError.write(Data("\(path): \(error)\n".utf8))
                }
            }
            guard !records.isEmpty else {
                FileHandle.standardError.write(Data("no evidence of exchange \(exchange) in the given logs\n".utf8))
                throw ExitCode(1)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = try encoder.encode(EvidenceBundle(exchange: exchange, createdAt: Date(), records: records))
            if let out {
                try data.write(to: URL(fileURLWithPath: out))
                print("wrote \(out): \(records.count) record(s) of exchange \(exchange)")
            } else {
                print(String(decoding: data, as: UTF8.self))
            }
        }
    }

    struct VerifyBundle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-bundle",
            abstract: "Verify an evidence bundle with nothing but the instance root CA: records, inclusion proofs, checkpoint and receipt signatures, message signatures with their OCSP responses, and that both sides agree.")
        @Argument(help: "The bundle (JSON).") var file: String
        @Option(help: "The instance root CA certificate (PEM).") var ca: String

        func run() async throws {
            let anchors = try PEMFiles.readCertificates(URL(fileURLWithPath: ca))
            let bundle: EvidenceBundle
            do { bundle = try JSONDecoder().decode(EvidenceBundle.self, from: try Data(contentsOf: URL(fileURLWithPath: file))) } catch {
                print("BAD \(file) is not an evidence bundle: \(error)")
                throw ExitCode(1)
            }
            do {
                print(try await AuditCommand.verifyBundle(bundle, anchors: anchors))
            } catch {
                print("BAD \(error)")
                throw ExitCode(1)
            }
        }
    }

    /// Verifies `bundle` against the root CA in `caFile` and describes what was checked; throws
    /// ``ExitCode`` 1 after printing the reason if it does not verify.
    static func verifyBundle(_ bundle: EvidenceBundle, caFile: String) async throws -> String {
        do {
            return try await verifyBundle(bundle, anchors: try PEMFiles.readCertificates(URL(fileURLWithPath: caFile)))
        } catch {
            print("BAD \(error)")
            throw ExitCode(1)
        }
    }

    /// `OK exchange …` and one line per check and warning.
    static func verifyBundle(_ bundle: EvidenceBundle, anchors: [Certificate]) async throws -> String {
        let report = try await EvidenceVerifier.verify(bundle, anchors: anchors)
        return (["OK  exchange \(bundle.exchange)"] + report.checks.map { "  ✓ \($0)" } + report.warnings.map { "  ! \($0)" })
            .joined(separator: "\n")
    }

    struct BenchCommit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bench-commit",
            abstract: "Durable records per second with group commit at 1, 16 and 256 concurrent writers, in one run, on SQLite (default) or PostgreSQL (--postgres).")
        @Option(help: "Records per measurement.") var records: Int = 4000
        @Option(help: "Record size in bytes (a typical exchange record is about 1.5 KiB).") var size: Int = 1500
        @Option(help: "Writer counts to measure, comma-separated.") var writers: String = "1,16,256"
        @Option(help: "Directory for the temporary SQLite files (default: the system temporary directory).") var dir: String?
        @Option(help: ArgumentHelp(
            "Measure PostgreSQL instead of SQLite: postgres://user:password@host:port/database[?sslmode=...].",
            discussion: "Use a scratch database: each measurement writes its own node partition (bench-RUN-wN), and the rows stay (the tables are append-only)."))
        var postgres: String?

        func run() async throws {
            let counts = writers.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 }), records > 0, size > 0 else {
                throw ValidationError("give positive --records, --size and --writers")
            }
            let payload = [UInt8](repeating: UInt8(ascii: "x"), count: size)
            var baseline: Double?
            let header = "writers   records/s   commits   records/commit   vs 1 writer"
            func report(_ count: Int, _ result: (rate: Double, commits: Int, written: Int)) {
                if baseline == nil { baseline = result.rate }
                print(String(format: "%7d   %9.0f   %7d   %14.1f   %10.1f×", count, result.rate, result.commits,
                             Double(result.written) / Double(max(result.commits, 1)), result.rate / (baseline ?? result.rate)))
            }

            if let postgres {
                let configuration: PostgresAuditLeafStore.Configuration
                do { configuration = try PostgresAuditLeafStore.Configuration(url: postgres) } catch {
                    throw ValidationError("--postgres: \(error)")
                }
                var logger = Logger(label: "lienthong.audit.bench")
                logger.logLevel = .warning
                let runID = UUID().uuidString.prefix(8).lowercased()
                print("Group commit on PostgreSQL (\(configuration.endpointDescription); durable per the server's synchronous_commit, on by default): \(records) records of \(size) bytes per measurement, nodes bench-\(runID)-wN")
                print(header)
                for count in counts {
                    let result = try await PostgresAuditLeafStore.withStore(configuration: configuration, node: "bench-\(runID)-w\(count)",
                                                                           logger: logger) { store in
                        try await Self.measure(store, writers: count, records: records, payload: payload)
                    }
                    report(count, result)
                }
                return
            }

            let base = URL(fileURLWithPath: dir ?? FileManager.default.temporaryDirectory.path)
                .appendingPathComponent("lienthong-audit-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: base) }
            print("Group commit on SQLite (WAL, synchronous=FULL): \(records) records of \(size) bytes per measurement, \(base.path)")
            print(header)
            for count in counts {
                let store = try SQLiteAuditLeafStore(path: base.appendingPathComponent("w\(count).sqlite").path)
                report(count, try await Self.measure(store, writers: count, records: records, payload: payload))
            }
        }

        /// `writers` concurrent tasks append `records / writers` records each through one
        /// group-commit log on `store`; returns records/s, commits and records written.
        static func measure(_ store: any AuditLeafStore, writers count: Int, records: Int,
                            payload: [UInt8]) async throws -> (rate: Double, commits: Int, written: Int) {
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
            return (Double(written) / seconds, await log.commits, written)
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
