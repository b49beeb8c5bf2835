import Foundation
import LienThongAudit
import Synchronization
import Testing

/// A real SQLite store that can be told to fail, and counts commits: for testing the writer's
/// behaviour when the disk fails, not a stand-in for the store.
final class FailingStore: AuditLeafStore {
    let inner: SQLiteAuditLeafStore
    let failing = Mutex(false)
    init(_ inner: SQLiteAuditLeafStore) { self.inner = inner }
    func count() async throws(AuditStoreError) -> UInt64 { try await inner.count() }
    func append(_ leaves: [StoredLeaf]) async throws(AuditStoreError) {
        if failing.withLock({ $0 }) { throw AuditStoreError(.unavailable, "disk full (simulated)") }
        try await inner.append(leaves)
    }
    func leaves(_ range: Range<UInt64>) async throws(AuditStoreError) -> [StoredLeaf] { try await inner.leaves(range) }
    func leafHashes(_ range: Range<UInt64>) async throws(AuditStoreError) -> [[UInt8]] { try await inner.leafHashes(range) }
    func appendCheckpoint(_ checkpoint: StoredCheckpoint) async throws(AuditStoreError) { try await inner.appendCheckpoint(checkpoint) }
    func attachReceipt(checkpoint sequence: UInt64, receipt: [UInt8], signature: String) async throws(AuditStoreError) {
        try await inner.attachReceipt(checkpoint: sequence, receipt: receipt, signature: signature)
    }
    func checkpoints(from sequence: UInt64) async throws(AuditStoreError) -> [StoredCheckpoint] { try await inner.checkpoints(from: sequence) }
    func appendArchive(_ archive: StoredArchive) async throws(AuditStoreError) { try await inner.appendArchive(archive) }
    func archives() async throws(AuditStoreError) -> [StoredArchive] { try await inner.archives() }
}

@Suite("Group commit on SQLite")
struct GroupCommitLogTests {
    func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func record(_ sequence: UInt64, _ tag: String = "r") -> [UInt8] { Array(#"{"sequence":\#(sequence),"tag":"\#(tag)"}"#.utf8) }

    @Test func sequentialAppendsAreDurableAndContiguous() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("audit.sqlite").path
        do {
            let log = try await GroupCommitLog(store: try SQLiteAuditLeafStore(path: path))
            for i in 0..<10 {
                let leaf = try await log.append { self.record($0) }
                #expect(leaf.sequence == UInt64(i) && leaf.isConsistent)
            }
        }
        // Reopened: everything is there and the log continues after it.
        let store = try SQLiteAuditLeafStore(path: path)
        #expect(try await store.count() == 10)
        let leaves = try await store.leaves(0..<10)
        #expect(leaves.map(\.sequence) == Array(0..<10))
        #expect(leaves.allSatisfy(\.isConsistent) && leaves[3].bytes == record(3))
        let log = try await GroupCommitLog(store: store)
        #expect(try await log.append { self.record($0) }.sequence == 10)
    }

    @Test func concurrentWritersShareCommits() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteAuditLeafStore(path: dir.appendingPathComponent("audit.sqlite").path)
        let log = try await GroupCommitLog(store: store)
        let sequences = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for _ in 0..<256 { group.addTask { try await log.append { self.record($0) }.sequence } }
            var all: [UInt64] = []
            for try await sequence in group { all.append(sequence) }
            return all
        }
        #expect(sequences.sorted() == Array(0..<256))
        #expect(try await store.count() == 256)
        let commits = await log.commits
        #expect(commits < 256, "256 concurrent records took \(commits) commits")
        #expect(await log.recordsWritten == 256)
    }

    @Test func aFailedCommitFailsEveryoneQueuedAndLeavesNoGap() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = FailingStore(try SQLiteAuditLeafStore(path: dir.appendingPathComponent("audit.sqlite").path))
        let log = try await GroupCommitLog(store: store)
        _ = try await log.append { self.record($0) }
        store.failing.withLock { $0 = true }
        let failures = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<32 {
                group.addTask { (try? await log.append { self.record($0) }) == nil }
            }
            var count = 0
            for await failed in group where failed { count += 1 }
            return count
        }
        #expect(failures == 32, "no record is acknowledged while the store fails")
        #expect(try await store.count() == 1)
        store.failing.withLock { $0 = false }
        #expect(try await log.append { self.record($0) }.sequence == 1, "the log continues without a gap")
        #expect(try await store.leaves(0..<2).map(\.sequence) == [0, 1])
    }

    @Test func theTableIsAppendOnlyAndContinuityIsEnforced() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteAuditLeafStore(path: dir.appendingPathComponent("audit.sqlite").path)
        try await store.append([StoredLeaf(sequence: 0, bytes: record(0))])
        await #expect(throws: AuditStoreError.self) { try await store.append([StoredLeaf(sequence: 5, bytes: self.record(5))]) }
        await #expect(throws: AuditStoreError.self) { try await store.append([StoredLeaf(sequence: 0, bytes: self.record(0, "again"))]) }
        #expect(try await store.count() == 1)
    }
}
