import Foundation
import GRDB
import LienThongAudit
import Testing

@Suite("Audit log on SQLite: records, tree, offline verification, tampering")
struct AuditLogTests {
    static let key = [UInt8](repeating: 7, count: 32)

    func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("auditlog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func event(_ i: Int) -> ExchangeEvent {
        var event = ExchangeEvent(side: i.isMultiple(of: 2) ? .consumer : .provider, server: "VN/GOV/000.00.00.H26/ss1", method: "GET",
                                  startedAt: Date(timeIntervalSince1970: 1_790_000_000 + Double(i)))
        event.endedAt = event.startedAt.addingTimeInterval(0.012)
        event.messageId = "msg-\(i)"
        event.client = "VN/GOV/000.00.00.H26/MOTCUA"
        event.service = "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan"
        event.path = "/v1/cong-dan/0010990\(String(format: "%05d", i))?fields=ho-ten"
        event.status = 200
        event.outcome = .success
        return event
    }

    /// Writes `n` records concurrently into a fresh log; returns the file and the tree head.
    func writeLog(_ n: Int, in dir: URL) async throws -> (path: String, head: TreeHead) {
        let path = dir.appendingPathComponent("audit.sqlite").path
        let log = try await AuditLog(store: try SQLiteAuditLeafStore(path: path), protector: try PersonalDataProtector(key: Self.key))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<n { group.addTask { try await log.record(self.event(i)) } }
            try await group.waitForAll()
        }
        return (path, await log.treeHead())
    }

    @Test func recordsAreDurableVerifiableAndFreeOfCitizenIds() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (path, head) = try await writeLog(50, in: dir)
        #expect(head.treeSize == 50)
        let store = try SQLiteAuditLeafStore(path: path)
        #expect(try await AuditLogVerifier.verify(store) == head)
        let reopened = try await AuditLog(store: store, protector: try PersonalDataProtector(key: Self.key))
        #expect(await reopened.treeHead() == head, "the tree is rebuilt from the file")
        let protector = try PersonalDataProtector(key: Self.key)
        var found = 0
        for leaf in try await store.leaves(0..<50) {
            let text = String(decoding: leaf.bytes, as: UTF8.self)
            #expect(text.range(of: #"\d{12}"#, options: .regularExpression) == nil, "no citizen id in \(text)")
            let record = try AuditRecord(canonicalBytes: leaf.bytes)
            if record.mentions(token: protector.token(for: "001099000007")) { found += 1 }
        }
        #expect(found == 1, "an auditor with the key finds the one record about citizen 001099000007")
    }

    /// Runs raw SQL on the file as an attacker with write access would (triggers dropped first).
    func tamper(_ path: String, _ sql: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "DROP TRIGGER IF EXISTS leaves_no_update; DROP TRIGGER IF EXISTS leaves_no_delete;")
            try db.execute(sql: sql)
        }
    }

    func verdict(_ path: String) async throws -> AuditVerificationFailure? {
        do {
            _ = try await AuditLogVerifier.verify(try SQLiteAuditLeafStore(path: path))
            return nil
        } catch let failure as AuditVerificationFailure {
            return failure
        }
    }

    @Test func everyKindOfTamperingIsFoundAndNamed() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (original, _) = try await writeLog(20, in: dir)
        let cases: [(String, String, UInt64, String)] = [
            ("change one field", "UPDATE leaves SET record = CAST(REPLACE(CAST(record AS TEXT), '\"status\":200', '\"status\":500') AS BLOB) WHERE sequence = 7", 7, "hash"),
            ("delete a record", "DELETE FROM leaves WHERE sequence = 4", 4, "missing"),
            ("swap two records", """
                UPDATE leaves SET sequence = -1 WHERE sequence = 3; UPDATE leaves SET sequence = 3 WHERE sequence = 9;
                UPDATE leaves SET sequence = 9 WHERE sequence = -1
                """, 3, "names itself"),
            ("insert one (shifting the rest)", """
                UPDATE leaves SET sequence = sequence + 1000 WHERE sequence >= 5; UPDATE leaves SET sequence = sequence - 999 WHERE sequence >= 1000;
                INSERT INTO leaves (sequence, leaf_hash, record) SELECT 5, leaf_hash, record FROM leaves WHERE sequence = 2
                """, 5, "names itself"),
        ]
        for (name, sql, sequence, words) in cases {
            let copy = dir.appendingPathComponent("\(UUID().uuidString).sqlite").path
            try FileManager.default.copyItem(atPath: original, toPath: copy)
            try tamper(copy, sql)
            let failure = try await verdict(copy)
            #expect(failure?.sequence == sequence, "\(name): \(failure?.description ?? "passed")")
            #expect(failure?.reason.contains(words) == true, "\(name): \(failure?.description ?? "passed")")
        }
        #expect(try await verdict(original) == nil, "the untouched log passes")
        let damaged = dir.appendingPathComponent("damaged.sqlite").path
        try FileManager.default.copyItem(atPath: original, toPath: damaged)
        try tamper(damaged, "DELETE FROM leaves WHERE sequence = 2")
        await #expect(throws: AuditStoreError.self, "a damaged log is not opened for writing") {
            _ = try await AuditLog(store: try SQLiteAuditLeafStore(path: damaged), protector: try PersonalDataProtector(key: Self.key))
        }
    }
}
