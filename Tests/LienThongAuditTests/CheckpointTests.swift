import Foundation
import GRDB
import LienThongAudit
import LienThongCore
import LienThongTrust
import Testing

/// A development PKI with one member signing key, and the registry's configuration-signing key,
/// for signing checkpoints and receipts in tests.
struct CheckpointSigners {
    static let server = "VN/GOV/000.00.00.H26/ss1"
    let pki: DevelopmentPKI
    let member: DetachedJWS.Signer
    let registry: DetachedJWS.Signer

    init(directory: URL) throws {
        pki = try DevelopmentPKI.initialise(at: directory.appendingPathComponent("pki"), instance: "VN", ocspURL: nil)
        let issued = try pki.issue(role: .member, holderId: "VN/GOV/000.00.00.H26")
        let chain = try PEMFiles.readCertificates(pki.directory.appendingPathComponent(issued.certificatePath))
        let key = try MessageSigningKey(pemEncoded: try PEMFiles.readText(pki.directory.appendingPathComponent(issued.keyPath)))
        member = try DetachedJWS.Signer(key: key, chain: chain)
        registry = try DetachedJWS.Signer(
            key: try MessageSigningKey(pemEncoded: try PEMFiles.readText(pki.url(.configurationSigningKey))),
            chain: try PEMFiles.readCertificates(pki.url(.configurationSigningCertificate)))
    }

    /// Makes a checkpoint of `log` signed by the member.
    func checkpoint(_ log: AuditLog, at now: Date) async throws -> StoredCheckpoint {
        let member = self.member
        return try await log.makeCheckpoint(server: Self.server, node: "default", at: now) { checkpoint in
            try member.sign(digest: checkpoint.digest).compact
        }
    }

    /// Countersigns `stored` as the registry would, and attaches the receipt to `log`.
    func receipt(_ stored: StoredCheckpoint, into log: AuditLog, registrySequence: UInt64, at now: Date) async throws {
        let checkpoint = try AuditCheckpoint(canonicalBytes: stored.body)
        let receipt = CheckpointReceipt(for: checkpoint, body: stored.body, signature: stored.signature, instance: "VN",
                                        registrySequence: registrySequence, previousReceipt: nil,
                                        receivedAt: AuditTimestamp(now) ?? AuditTimestamp(millisecondsSince1970: 0)!)
        let bytes = receipt.canonicalBytes
        try await log.attachReceipt(checkpoint: stored.sequence, receipt: bytes,
                                    signature: try registry.sign(digest: MessageDigest.sha256(of: bytes)).compact)
    }
}

@Suite("Audit checkpoints: signed tree heads, consistency, usage, receipts, tampering")
struct CheckpointTests {
    let fixture = AuditLogTests()

    @Test func checkpointsChainProveConsistencyAndCountUsage() async throws {
        let dir = try fixture.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let signers = try CheckpointSigners(directory: dir)
        let path = dir.appendingPathComponent("audit.sqlite").path
        let protector = try PersonalDataProtector(key: AuditLogTests.key)
        let log = try await AuditLog(store: try SQLiteAuditLeafStore(path: path), protector: protector)
        let start = Date()
        for i in 0..<10 { try await log.record(fixture.event(i)) }
        let first = try AuditCheckpoint(canonicalBytes: try await signers.checkpoint(log, at: start).body)
        #expect(first.sequence == 0 && first.previous == nil && first.tree.treeSize == 10 && first.consistencyProof.isEmpty)
        #expect(first.usage.reduce(0) { $0 + $1.count } == 10)

        var refused = fixture.event(10)
        refused.outcome = .refused
        refused.errorType = "Client.AccessDenied"
        try await log.record(refused)
        for i in 11..<25 { try await log.record(fixture.event(i)) }
        let second = try AuditCheckpoint(canonicalBytes: try await signers.checkpoint(log, at: start.addingTimeInterval(1)).body)
        #expect(second.sequence == 1 && second.previous == first.tree && second.tree.treeSize == 25)
        #expect(!second.consistencyProof.isEmpty)
        try second.verifyConsistency(from: first.tree)
        #expect(second.usage.reduce(0) { $0 + $1.count } == 15, "exactly the 15 records of the window")
        #expect(second.usage.first { $0.key.outcome == .refused }?.key.errorType == "Client.AccessDenied")

        // A checkpoint with nothing new still links and proves (trivially) consistency.
        let third = try AuditCheckpoint(canonicalBytes: try await signers.checkpoint(log, at: start.addingTimeInterval(2)).body)
        #expect(third.tree == second.tree && third.usage.isEmpty && third.consistencyProof.isEmpty)

        // Reopening continues the chain where it stopped.
        for i in 25..<31 { try await log.record(fixture.event(i)) }
        let reopened = try await AuditLog(store: try SQLiteAuditLeafStore(path: path), protector: protector)
        #expect(await reopened.lastCheckpoint == third)
        #expect(await reopened.awaitingReceipt.count == 3)
        let fourth = try AuditCheckpoint(canonicalBytes: try await signers.checkpoint(reopened, at: start.addingTimeInterval(3)).body)
        #expect(fourth.sequence == 3 && fourth.tree.treeSize == 31 && fourth.usage.reduce(0) { $0 + $1.count } == 6)
        try fourth.verifyConsistency(from: third.tree)

        // A tampered proof or a forged link is refused.
        var forged = fourth
        forged.consistencyProof[0] = MerkleHash.leaf([1, 2, 3])
        #expect(throws: CheckpointError.self) { try forged.verifyConsistency(from: third.tree) }
        #expect(throws: CheckpointError.self) { try fourth.verifyConsistency(from: first.tree) }

        // The whole log, with its checkpoints, verifies offline against the root CA.
        for (index, stored) in try await SQLiteAuditLeafStore(path: path).checkpoints(from: 0).enumerated() {
            try await signers.receipt(stored, into: reopened, registrySequence: UInt64(index + 1), at: start.addingTimeInterval(4))
        }
        let report = try await AuditLogVerifier.verify(try SQLiteAuditLeafStore(path: path), anchors: [signers.pki.rootCertificate])
        #expect(report.treeHead.treeSize == 31)
        #expect(report.checkpoints == 4 && report.receipts == 4)
    }

    @Test func checkpointBytesAreStrict() throws {
        let head = TreeHead(treeSize: 3, rootHash: MerkleHash.leaf([1]))
        var counter = UsageCounter(key: .init(side: .consumer, window: AuditTimestamp(millisecondsSince1970: 0)!, client: "c", service: "s",
                                              dataset: nil, agreement: nil, outcome: .success, errorType: nil))
        counter.add(durationMilliseconds: 12)
        let checkpoint = AuditCheckpoint(server: CheckpointSigners.server, node: "default", sequence: 0, tree: head, previous: nil,
                                         consistencyProof: [], windowStart: AuditTimestamp(millisecondsSince1970: 0)!,
                                         windowEnd: AuditTimestamp(millisecondsSince1970: 1000)!, usage: [counter])
        #expect(try AuditCheckpoint(canonicalBytes: checkpoint.canonicalBytes) == checkpoint)
        let text = String(decoding: checkpoint.canonicalBytes, as: UTF8.self)
        for mutation in [text.replacingOccurrences(of: "\"count\":1", with: "\"count\":2"),   // buckets no longer add up
                         text.replacingOccurrences(of: "{", with: "{ "),                       // not canonical
                         text.replacingOccurrences(of: "\"sequence\":0", with: "\"sequence\":1"), // sequence 1 needs a previous head
                         text.replacingOccurrences(of: "\"v\":1", with: "\"v\":2")] {
            #expect(throws: AuditRecordError.self, "\(mutation)") { try AuditCheckpoint(canonicalBytes: Array(mutation.utf8)) }
        }
    }

    @Test func overdueReceiptsFailClosedUntilTheRegistryAnswers() async throws {
        let dir = try fixture.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let signers = try CheckpointSigners(directory: dir)
        let log = try await AuditLog(store: try SQLiteAuditLeafStore(path: dir.appendingPathComponent("audit.sqlite").path),
                                     protector: try PersonalDataProtector(key: AuditLogTests.key), checkpointFailureLimit: .seconds(60))
        try await log.record(fixture.event(0))
        let now = Date()
        let stored = try await signers.checkpoint(log, at: now.addingTimeInterval(-120))
        await log.noteCheckpointFailure("the registry at https://127.0.0.1:1 is unreachable")
        await #expect(throws: AuditStoreError.self) { try await log.checkWritable() }
        do {
            try await log.checkCheckpoints(now: now)
            Issue.record("an overdue checkpoint must refuse exchanges")
        } catch {
            #expect(error.code == .checkpointOverdue)
            #expect(error.message.contains("unreachable"), "the refusal says why: \(error.message)")
        }
        try await log.checkCheckpoints(now: now.addingTimeInterval(-90))   // within the limit then
        try await signers.receipt(stored, into: log, registrySequence: 1, at: now)
        try await log.checkWritable()
    }

    /// Tampering that keeps every leaf self-consistent is caught by the signed checkpoints.
    @Test func checkpointsCatchTruncationRewritesAndEditedCheckpoints() async throws {
        let dir = try fixture.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let signers = try CheckpointSigners(directory: dir)
        let original = dir.appendingPathComponent("audit.sqlite").path
        // The log is closed (its WAL folded into the file) before the file is copied.
        try await writeCheckpointedLog(original, signers)

        let rewrite = """
            UPDATE leaves SET record = CAST(REPLACE(CAST(record AS TEXT), '"status":200', '"status":404') AS BLOB) WHERE sequence = 15;
            """
        let cases: [(String, String, String)] = [
            ("truncate the tail", "DELETE FROM leaves WHERE sequence >= 17", "truncated"),
            ("rewrite a record and its hash", rewrite, "checkpoint 1: the records 0..<20 do not hash to its signed root"),
            ("edit a checkpoint", "UPDATE checkpoints SET body = CAST(REPLACE(CAST(body AS TEXT), '\"tree_size\":20', '\"tree_size\":21') AS BLOB) WHERE sequence = 1",
             "checkpoint 1:"),
            ("replace a receipt", "UPDATE checkpoints SET receipt = (SELECT receipt FROM checkpoints WHERE sequence = 0) WHERE sequence = 1",
             "checkpoint 1: its registry receipt is for another checkpoint"),
        ]
        for (name, sql, words) in cases {
            let copy = dir.appendingPathComponent("\(UUID().uuidString).sqlite").path
            try FileManager.default.copyItem(atPath: original, toPath: copy)
            let queue = try DatabaseQueue(path: copy)
            try await queue.write { db in
                for trigger in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger'") {
                    try db.execute(sql: "DROP TRIGGER \(trigger)")
                }
                try db.execute(sql: sql)
                // A careful attacker recomputes the leaf hash of what they changed.
                for row in try Row.fetchAll(db, sql: "SELECT sequence, record FROM leaves WHERE record IS NOT NULL") {
                    let bytes: Data = row["record"]
                    let sequence: Int64 = row["sequence"]
                    try db.execute(sql: "UPDATE leaves SET leaf_hash = ? WHERE sequence = ?",
                                   arguments: [Data(MerkleHash.leaf(Array(bytes)).bytes), sequence])
                }
            }
            try queue.close()
            do {
                _ = try await AuditLogVerifier.verify(try SQLiteAuditLeafStore(path: copy), anchors: [signers.pki.rootCertificate])
                Issue.record("\(name): the log passed")
            } catch let failure as AuditVerificationFailure {
                #expect(failure.description.contains(words), "\(name): \(failure.description)")
            }
        }
        let report = try await AuditLogVerifier.verify(try SQLiteAuditLeafStore(path: original), anchors: [signers.pki.rootCertificate])
        #expect(report.checkpoints == 2 && report.receipts == 2, "the untouched log passes")
    }

    func writeCheckpointedLog(_ path: String, _ signers: CheckpointSigners) async throws {
        let log = try await AuditLog(store: try SQLiteAuditLeafStore(path: path), protector: try PersonalDataProtector(key: AuditLogTests.key))
        let now = Date()
        for i in 0..<12 { try await log.record(fixture.event(i)) }
        let first = try await signers.checkpoint(log, at: now)
        try await signers.receipt(first, into: log, registrySequence: 1, at: now)
        for i in 12..<20 { try await log.record(fixture.event(i)) }
        let second = try await signers.checkpoint(log, at: now.addingTimeInterval(1))
        try await signers.receipt(second, into: log, registrySequence: 2, at: now.addingTimeInterval(1))
    }
}

@Suite("Usage keys read from canonical bytes")
struct UsageKeyReaderTests {
    @Test func theFastReaderAgreesWithTheFullParser() throws {
        let protector = try PersonalDataProtector(key: AuditLogTests.key)
        let fixture = AuditLogTests()
        for i in 0..<200 {
            var event = fixture.event(i)
            event.outcome = [.success, .refused, .failed][i % 3]
            if i % 3 != 0 { event.errorType = "Server.ClientProxy.AccessDenied" }
            if i % 5 == 0 { event.client = nil }
            if i % 7 == 0 { event.dataset = "VN/GOV/000.00.00.G22/datasets/dan-cu" }
            if i % 11 == 0 { event.agreement = "agr-\"quoted\"-\(i)" }     // an escape: the slow path
            if i % 13 == 0 { event.service = "VN/GOV/000.00.00.G22/DANCU/tra-c\u{1EE9}u" }
            event.endedAt = event.startedAt.addingTimeInterval(Double(i) / 1000)
            let record = try AuditRecord(event: event, sequence: UInt64(i), protector: protector)
            let read = try AuditLogVerifier.usageKeyForTesting(record.canonicalBytes())
            #expect(read.key == UsageCounter.Key(record), "record \(i)")
            #expect(read.duration == record.durationMilliseconds)
        }
    }
}
