import Crypto
import Foundation
import GRDB
import LienThongAudit
import LienThongCore
import LienThongTestSupport
import LienThongTrust
import Testing

/// A store that forwards everything to another but "crashes" before recording an archive: the
/// archiver has written its file by then.
private struct CrashingBeforeArchiveStore: AuditLeafStore {
    let base: any AuditLeafStore
    func count() async throws(AuditStoreError) -> UInt64 { try await base.count() }
    func append(_ leaves: [StoredLeaf]) async throws(AuditStoreError) { try await base.append(leaves) }
    func leaves(_ range: Range<UInt64>) async throws(AuditStoreError) -> [StoredLeaf] { try await base.leaves(range) }
    func leafHashes(_ range: Range<UInt64>) async throws(AuditStoreError) -> [[UInt8]] { try await base.leafHashes(range) }
    func appendCheckpoint(_ checkpoint: StoredCheckpoint) async throws(AuditStoreError) { try await base.appendCheckpoint(checkpoint) }
    func attachReceipt(checkpoint sequence: UInt64, receipt: [UInt8], signature: String) async throws(AuditStoreError) {
        try await base.attachReceipt(checkpoint: sequence, receipt: receipt, signature: signature)
    }
    func checkpoints(from sequence: UInt64) async throws(AuditStoreError) -> [StoredCheckpoint] { try await base.checkpoints(from: sequence) }
    func appendArchive(_ archive: StoredArchive) async throws(AuditStoreError) {
        throw AuditStoreError(.unavailable, "power lost")
    }
    func archives() async throws(AuditStoreError) -> [StoredArchive] { try await base.archives() }
}

@Suite("Audit archives: retention, signed chained archive files, verification spanning them, tampering")
struct AuditArchiveTests {
    let fixture = AuditLogTests()
    /// When the fixture's record `i` ended: 1_790_000_000 + i + 0.012 s.
    static func endOf(_ i: Int) -> Date { Date(timeIntervalSince1970: 1_790_000_000 + Double(i) + 0.012) }

    /// Signs archive manifests with the test member key.
    func sign(_ signers: CheckpointSigners) -> (AuditArchiveManifest) throws -> String {
        let member = signers.member
        return { manifest in try member.sign(digest: manifest.digest).compact }
    }

    /// A log of 30 records with checkpoints at 10 and 25 (countersigned) and 30 (not yet).
    func writeLog(in dir: URL, _ signers: CheckpointSigners) async throws -> String {
        let path = dir.appendingPathComponent("audit.sqlite").path
        let log = try await AuditLog(store: try SQLiteAuditLeafStore(path: path), protector: try PersonalDataProtector(key: AuditLogTests.key))
        let now = Date()
        var registrySequence: UInt64 = 1
        for (range, receipted) in [(0..<10, true), (10..<25, true), (25..<30, false)] {
            for i in range { try await log.record(fixture.event(i)) }
            let stored = try await signers.checkpoint(log, at: now.addingTimeInterval(Double(range.lowerBound) / 100))
            if receipted {
                try await signers.receipt(stored, into: log, registrySequence: registrySequence, at: now)
                registrySequence += 1
            }
        }
        return path
    }

    /// `writeLog`, then two archives: records 0..<8 (older than record 8's end) and 8..<25 (all
    /// old, but the registry has countersigned only up to 25).
    func writeArchivedLog(in dir: URL, _ signers: CheckpointSigners) async throws -> (path: String, archives: URL) {
        let path = try await writeLog(in: dir, signers)
        let archives = dir.appendingPathComponent("archive")
        let store = try SQLiteAuditLeafStore(path: path)
        let first = try await AuditArchiver.archive(store: store, olderThan: Self.endOf(7).addingTimeInterval(0.5), directory: archives,
                                                    server: CheckpointSigners.server, node: "default", sign: sign(signers))
        #expect(first?.firstSequence == 0 && first?.endSequence == 8)
        let second = try await AuditArchiver.archive(store: store, olderThan: Date(), directory: archives,
                                                     server: CheckpointSigners.server, node: "default", sign: sign(signers))
        #expect(second?.firstSequence == 8 && second?.endSequence == 25, "never past the last countersigned checkpoint")
        return (path, archives)
    }

    func verdict(_ path: String, archives: URL?, _ signers: CheckpointSigners) async throws -> AuditVerificationFailure? {
        do {
            _ = try await AuditLogVerifier.verify(try SQLiteAuditLeafStore(path: path), anchors: [signers.pki.rootCertificate],
                                                  archiveDirectory: archives, batch: 5)
            return nil
        } catch let failure as AuditVerificationFailure {
            return failure
        }
    }

    /// Runs `sql` on the log with every trigger dropped, as an attacker with write access would.
    func tamper(_ path: String, _ sql: String, arguments: StatementArguments = StatementArguments()) async throws {
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            for trigger in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger'") {
                try db.execute(sql: "DROP TRIGGER \(trigger)")
            }
            try db.execute(sql: sql, arguments: arguments)
        }
        try queue.close()
    }

    @Test func archivesChainDropRecordsAndVerificationSpansThem() async throws {
        let dir = try fixture.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let signers = try CheckpointSigners(directory: dir)
        let (path, archives) = try await writeArchivedLog(in: dir, signers)
        let store = try SQLiteAuditLeafStore(path: path)

        // Nothing more is due: the rest is not countersigned yet.
        #expect(try await AuditArchiver.archive(store: store, olderThan: Date(), directory: archives, server: CheckpointSigners.server,
                                                node: "default", sign: sign(signers)) == nil)

        // The records' bytes are gone from the store; their hashes stay.
        #expect(try await store.leaves(0..<30).map(\.sequence) == Array(25..<30))
        #expect(try await store.leafHashes(0..<30).count == 30)

        // Two chained, signed manifests, each also beside its file.
        let stored = try await store.archives()
        #expect(stored.count == 2)
        let manifests = try stored.map { try AuditArchiveManifest(canonicalBytes: $0.manifest) }
        #expect(manifests[0].previousManifestSHA256 == nil)
        #expect(manifests[1].previousManifestSHA256 == MerkleHash.plainSHA256(stored[0].manifest))
        #expect(manifests.map(\.file) == ["audit-default-00000000.jsonl.gz", "audit-default-00000001.jsonl.gz"])
        for (entry, manifest) in zip(stored, manifests) {
            let file = archives.appendingPathComponent(manifest.file)
            let bytes = try Data(contentsOf: file)
            #expect(bytes.prefix(2) == Data([0x1f, 0x8b]), "gzip")
            #expect(MerkleHash.plainSHA256(Array(bytes)) == manifest.fileSHA256)
            let side = try AuditArchiveManifestFile(
                canonicalBytes: Array(try Data(contentsOf: archives.appendingPathComponent(manifest.file + ".manifest.json"))))
            #expect(side.manifest == entry.manifest && side.signature == entry.signature)
        }
        if JSONSchemaCheck.python != nil {
            let result = try await JSONSchemaCheck.validate(stored.map { (schema: "schemas/audit-archive-manifest.schema.json", document: $0.manifest) })
            #expect(result.status == 0, "\(result.output)")
        }
        let manifestJSON = try JSONSerialization.jsonObject(with: Data(stored[1].manifest)) as? [String: Any]
        #expect(Set(manifestJSON?.keys.map { $0 } ?? []) == [
            "v", "server", "node", "sequence", "first_sequence", "end_sequence", "file", "file_sha256", "records_sha256", "tree",
            "previous_manifest_sha256", "created_at",
        ])

        // Verification reads the archived records back, counts them into the checkpoints' usage
        // and roots (checkpoints 0 and 1 cover only archived records), then the stored ones.
        let report = try await AuditLogVerifier.verify(store, anchors: [signers.pki.rootCertificate], archiveDirectory: archives, batch: 5)
        #expect(report.treeHead.treeSize == 30 && report.checkpoints == 3 && report.receipts == 2)
        #expect(report.archives == 2 && report.archivedRecords == 25 && report.uncheckpointedRecords == 0)

        // Without the archive directory the archived records cannot be checked.
        let without = try await verdict(path, archives: nil, signers)
        #expect(without?.sequence == 0 && without?.reason.contains("archive 0") == true, "\(String(describing: without))")

        // The log reopens on the archived store and goes on checkpointing.
        let log = try await AuditLog(store: store, protector: try PersonalDataProtector(key: AuditLogTests.key))
        #expect(await log.treeHead() == report.treeHead)
        try await log.record(fixture.event(30))
        let next = try await signers.checkpoint(log, at: Date().addingTimeInterval(1))
        try await signers.receipt(next, into: log, registrySequence: 3, at: Date())
        let third = try await AuditArchiver.archive(store: store, olderThan: Date(), directory: archives, server: CheckpointSigners.server,
                                                    node: "default", sign: sign(signers))
        #expect(third?.firstSequence == 25 && third?.endSequence == 31)
        let final = try await AuditLogVerifier.verify(store, anchors: [signers.pki.rootCertificate], archiveDirectory: archives)
        #expect(final.archives == 3 && final.archivedRecords == 31 && final.treeHead.treeSize == 31)
    }

    @Test func nothingIsArchivedBeforeTheRegistryCountersigns() async throws {
        let dir = try fixture.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let signers = try CheckpointSigners(directory: dir)
        let path = dir.appendingPathComponent("audit.sqlite").path
        let log = try await AuditLog(store: try SQLiteAuditLeafStore(path: path), protector: try PersonalDataProtector(key: AuditLogTests.key))
        for i in 0..<5 { try await log.record(fixture.event(i)) }
        let store = try SQLiteAuditLeafStore(path: path)
        let archives = dir.appendingPathComponent("archive")
        #expect(try await AuditArchiver.archive(store: store, olderThan: Date(), directory: archives, server: CheckpointSigners.server,
                                                node: "default", sign: sign(signers)) == nil, "no checkpoint at all")
        _ = try await signers.checkpoint(log, at: Date())
        #expect(try await AuditArchiver.archive(store: store, olderThan: Date(), directory: archives, server: CheckpointSigners.server,
                                                node: "default", sign: sign(signers)) == nil, "a checkpoint without receipt")
        #expect(try await store.leaves(0..<5).count == 5)
        #expect(try await AuditArchiver.archive(store: store, olderThan: Self.endOf(0), directory: archives,
                                                server: CheckpointSigners.server, node: "default", sign: sign(signers)) == nil)
        #expect(try await store.archives().isEmpty)
    }

    @Test func aCrashBeforeTheStoreRecordsTheArchiveLosesNothing() async throws {
        let dir = try fixture.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let signers = try CheckpointSigners(directory: dir)
        let path = try await writeLog(in: dir, signers)
        let archives = dir.appendingPathComponent("archive")
        let crashing = CrashingBeforeArchiveStore(base: try SQLiteAuditLeafStore(path: path))
        await #expect(throws: AuditArchiveError.self) {
            try await AuditArchiver.archive(store: crashing, olderThan: Date(), directory: archives, server: CheckpointSigners.server,
                                            node: "default", sign: sign(signers))
        }
        let orphan = archives.appendingPathComponent(AuditArchiver.fileName(node: "default", sequence: 0))
        #expect(FileManager.default.fileExists(atPath: orphan.path), "the file was written before the store was asked")

        let store = try SQLiteAuditLeafStore(path: path)
        let remaining = try await store.leaves(0..<30).count
        #expect(try await store.archives().isEmpty, "no archive recorded")
        #expect(remaining == 30, "no record lost")
        #expect(try await verdict(path, archives: archives, signers) == nil, "the orphan file is ignored")

        // The rerun archives a different range into the same file name, overwriting the orphan.
        let rerun = try await AuditArchiver.archive(store: store, olderThan: Self.endOf(4), directory: archives,
                                                    server: CheckpointSigners.server, node: "default", sign: sign(signers))
        #expect(rerun?.endSequence == 4)
        #expect(try await verdict(path, archives: archives, signers) == nil)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: archives.path).sorted()
        #expect(leftovers == ["audit-default-00000000.jsonl.gz", "audit-default-00000000.jsonl.gz.manifest.json"])
    }

    @Test func tamperingWithArchivesIsFoundAndNamed() async throws {
        let root = try fixture.directory()
        defer { try? FileManager.default.removeItem(at: root) }
        let signers = try CheckpointSigners(directory: root)
        let file0 = AuditArchiver.fileName(node: "default", sequence: 0)
        let file1 = AuditArchiver.fileName(node: "default", sequence: 1)

        typealias Tamper = (_ path: String, _ archives: URL) async throws -> Void
        let cases: [(name: String, tamper: Tamper, check: (AuditVerificationFailure) -> Bool)] = [
            ("archive file deleted", { _, archives in
                try FileManager.default.removeItem(at: archives.appendingPathComponent(file1))
            }, { $0.sequence == 8 && $0.reason.contains("archive 1 (\(file1))") && $0.reason.contains("missing") }),

            ("one byte of a file changed", { _, archives in
                let url = archives.appendingPathComponent(file0)
                var bytes = Array(try Data(contentsOf: url))
                bytes[bytes.count / 2] ^= 0x20
                try Data(bytes).write(to: url)
            }, { ($0.sequence.map { $0 < 8 } ?? false) && $0.reason.contains("archive 0 (\(file0))") }),

            ("a record line altered, digests recomputed and the manifest re-signed", { path, archives in
                try await self.rewriteArchive(1, in: path, archives: archives, signers) { lines in
                    lines[3] = Array(String(decoding: lines[3], as: UTF8.self)
                        .replacingOccurrences(of: "\"status\":200", with: "\"status\":404").utf8)
                }
            }, { $0.sequence == 11 && $0.reason.contains("archive 1 (\(file1))") && $0.reason.contains("leaf hash") }),

            ("the stored manifest edited", { path, _ in
                try await self.tamper(path, "UPDATE archives SET manifest = CAST(REPLACE(CAST(manifest AS TEXT), '\"v\":1', '\"v\":1 ') AS BLOB) WHERE sequence = 0")
            }, { $0.reason.contains("archive 0:") }),

            ("the manifest file beside an archive edited", { _, archives in
                let url = archives.appendingPathComponent(file0 + ".manifest.json")
                let side = try AuditArchiveManifestFile(canonicalBytes: Array(try Data(contentsOf: url)))
                let other = AuditArchiveManifestFile(manifest: side.manifest + [0x20], signature: side.signature)
                try Data(other.canonicalBytes).write(to: url)
            }, { $0.sequence == 0 && $0.reason.contains("archive 0 (\(file0))") && $0.reason.contains("manifest file") }),

            ("archives chained out of order", { path, _ in
                try await self.tamper(path, "UPDATE archives SET sequence = 1 - sequence + 10; UPDATE archives SET sequence = sequence - 10")
            }, { $0.reason.contains("archive 0:") }),

            ("a signed manifest that does not chain", { path, archives in
                // An insider with the member key re-signs archive 1 pointing at a forged predecessor.
                try await self.rewriteArchive(1, in: path, archives: archives, signers, previous: MerkleHash.leaf([1])) { _ in }
            }, { $0.reason.contains("archive 1:") && $0.reason.contains("chain") }),
        ]
        for (index, item) in cases.enumerated() {
            let dir = root.appendingPathComponent("case-\(index)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let (path, archives) = try await writeArchivedLog(in: dir, signers)
            #expect(try await verdict(path, archives: archives, signers) == nil, "\(item.name): the untouched log passes")
            try await item.tamper(path, archives)
            let failure = try await verdict(path, archives: archives, signers)
            #expect(failure.map(item.check) == true, "\(item.name): \(String(describing: failure))")
        }
    }

    /// Rewrites archive `number` as an insider holding the member key would: its lines changed by
    /// `edit`, the file's and content's digests recomputed, the manifest re-signed and stored.
    func rewriteArchive(_ number: Int, in path: String, archives: URL, _ signers: CheckpointSigners,
                        previous: MerkleHash? = nil, edit: (inout [[UInt8]]) -> Void) async throws {
        let store = try SQLiteAuditLeafStore(path: path)
        let stored = try await store.archives()[number]
        var manifest = try AuditArchiveManifest(canonicalBytes: stored.manifest)
        let url = archives.appendingPathComponent(manifest.file)
        let gunzip = Process()
        gunzip.executableURL = URL(fileURLWithPath: "/bin/sh")
        gunzip.arguments = ["-c", "gzip -dc '\(url.path)' > '\(url.path).txt' && rm '\(url.path)'"]
        try gunzip.run()
        gunzip.waitUntilExit()
        let text = try Data(contentsOf: URL(fileURLWithPath: url.path + ".txt"))
        var lines = text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast().map { Array($0) }
        edit(&lines)
        let content = lines.flatMap { $0 + [UInt8(ascii: "\n")] }
        try Data(content).write(to: URL(fileURLWithPath: url.path + ".txt"))
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/sh")
        gzip.arguments = ["-c", "gzip -n -c '\(url.path).txt' > '\(url.path)'"]
        try gzip.run()
        gzip.waitUntilExit()
        manifest.fileSHA256 = MerkleHash.plainSHA256(Array(try Data(contentsOf: url)))
        manifest.recordsSHA256 = MerkleHash.plainSHA256(content)
        if let previous { manifest.previousManifestSHA256 = previous }
        let signature = try signers.member.sign(digest: manifest.digest).compact
        try await tamper(path, "UPDATE archives SET manifest = ?, signature = ? WHERE sequence = ?",
                         arguments: [Data(manifest.canonicalBytes), signature, number])
        try Data(AuditArchiveManifestFile(manifest: manifest.canonicalBytes, signature: signature).canonicalBytes)
            .write(to: archives.appendingPathComponent(manifest.file + ".manifest.json"))
    }
}
