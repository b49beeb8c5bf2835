import Foundation
import GRDB
import LienThongAudit
import LienThongAuditPostgres
import LienThongTestSupport
import Logging
import PostgresNIO
import Testing

/// The two implementations of ``AuditLeafStore`` under one contract.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }
}

/// One store's backing data (a SQLite file, or a PostgreSQL database) and the means to open it,
/// to reopen it, and to reach it with raw SQL behind the store's back.
struct StoreFixture: Sendable {
    let kind: StoreKind
    /// The SQLite file, or the PostgreSQL URL.
    let location: String
    /// The PostgreSQL node the store writes as.
    var node = "VN/GOV/000.00.00.H26/ss1"
    /// How long a PostgreSQL store waits for a connection: long, because the whole test target
    /// runs in parallel on two cores, and CPU-bound suites can starve the pool's tasks for
    /// seconds. (A refused connection still fails at once.)
    var connectionWaitTimeout: Duration = .seconds(60)

    static let logger: Logger = {
        var logger = Logger(label: "lienthong.audit.tests")
        logger.logLevel = .warning
        return logger
    }()

    /// Runs `body` with a fresh, empty store of `kind`; its data is deleted afterwards.
    static func withFresh<T>(_ kind: StoreKind, _ body: (StoreFixture) async throws -> T) async throws -> T {
        switch kind {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("audit-conformance-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            return try await body(StoreFixture(kind: .sqlite, location: dir.appendingPathComponent("audit.sqlite").path))
        case .postgres:
            return try await withPostgres { url in try await body(StoreFixture(kind: .postgres, location: url)) }
        }
    }

    /// Opens the store (a new instance on the same data each time: "reopening"), runs `body`, and
    /// closes it.
    func withStore<T>(_ body: (any AuditLeafStore) async throws -> T) async throws -> T {
        switch kind {
        case .sqlite:
            return try await body(try SQLiteAuditLeafStore(path: location))
        case .postgres:
            var configuration = try PostgresAuditLeafStore.Configuration(url: location)
            configuration.connectionWaitTimeout = connectionWaitTimeout
            return try await PostgresAuditLeafStore.withStore(configuration: configuration, node: node, logger: Self.logger) { store in
                try await body(store)
            }
        }
    }

    /// The table names and the row filter for this node, for raw SQL.
    var leaves: String { kind == .sqlite ? "leaves" : "audit_leaves" }
    var checkpoints: String { kind == .sqlite ? "checkpoints" : "audit_checkpoints" }
    var archives: String { kind == .sqlite ? "archives" : "audit_archives" }
    var mine: String { kind == .sqlite ? "1 = 1" : "node = '\(node)'" }
    var nodeColumn: (name: String, value: String) { kind == .sqlite ? ("", "") : ("node, ", "'\(node)', ") }
    /// A one-byte blob literal.
    var blob: String { kind == .sqlite ? "x'00'" : "'\\x00'::bytea" }

    /// Runs `sql` through the database's own connection, not through the store: GRDB on the file,
    /// or a PostgresNIO client.
    func execute(_ sql: String) async throws {
        switch kind {
        case .sqlite:
            let queue = try DatabaseQueue(path: location)
            try await queue.write { db in try db.execute(sql: sql) }
        case .postgres:
            let client = PostgresClient(configuration: try PostgresAuditLeafStore.Configuration(url: location).client)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                defer { group.cancelAll() }
                for try await _ in try await client.query(PostgresQuery(unsafeSQL: sql), logger: Self.logger) {}
            }
        }
    }
}

/// Everything a store holds, for "nothing changed" comparisons.
struct StoreSnapshot: Equatable {
    var count: UInt64
    var leaves: [StoredLeaf]
    var hashes: [[UInt8]]
    var checkpoints: [StoredCheckpoint]
    var archives: [StoredArchive]

    init(_ store: any AuditLeafStore) async throws {
        count = try await store.count()
        leaves = try await store.leaves(0..<count)
        hashes = try await store.leafHashes(0..<count)
        checkpoints = try await store.checkpoints(from: 0)
        archives = try await store.archives()
    }
}

func leaf(_ sequence: UInt64, _ tag: String = "r") -> StoredLeaf {
    StoredLeaf(sequence: sequence, bytes: Array(#"{"sequence":\#(sequence),"tag":"\#(tag)"}"#.utf8))
}

func leaves(_ range: Range<UInt64>, _ tag: String = "r") -> [StoredLeaf] { range.map { leaf($0, tag) } }

func checkpoint(_ sequence: UInt64, treeSize: UInt64) -> StoredCheckpoint {
    StoredCheckpoint(sequence: sequence, treeSize: treeSize, body: Array(#"{"checkpoint":\#(sequence),"tree_size":\#(treeSize)}"#.utf8),
                     signature: "eyJhbGciOiJFUzI1NiJ9..sig-\(sequence)")
}

func archive(_ sequence: UInt64, _ range: Range<UInt64>) -> StoredArchive {
    StoredArchive(sequence: sequence, firstSequence: range.lowerBound, endSequence: range.upperBound,
                  manifest: Array(#"{"archive":\#(sequence),"first":\#(range.lowerBound),"end":\#(range.upperBound)}"#.utf8),
                  signature: "eyJhbGciOiJFUzI1NiJ9..manifest-\(sequence)")
}

/// Expects `body` to fail with an ``AuditStoreError`` of `code`; returns the error.
@discardableResult
func expectStoreError(_ code: AuditStoreError.Code, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () async throws -> Void) async -> AuditStoreError? {
    do {
        try await body()
        Issue.record("expected \(code), but it succeeded\(comment.map { ": \($0)" } ?? "")", sourceLocation: sourceLocation)
        return nil
    } catch let error as AuditStoreError {
        #expect(error.code == code, "\(error)\(comment.map { " — \($0)" } ?? "")", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected AuditStoreError \(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

@Suite("Audit store conformance: SQLite and PostgreSQL under one contract")
struct AuditStoreConformanceTests {
    @Test(arguments: StoreKind.allCases)
    func appendCountLeavesAndHashes(_ kind: StoreKind) async throws {
        try await StoreFixture.withFresh(kind) { fixture in
            try await fixture.withStore { store in
                #expect(try await store.count() == 0)
                #expect(try await store.leaves(0..<10).isEmpty)
                #expect(try await store.leafHashes(0..<10).isEmpty)
                try await store.append([])
                #expect(try await store.count() == 0, "an empty batch is a no-op")

                let written = leaves(0..<5)
                try await store.append(Array(written[0..<3]))
                try await store.append(Array(written[3..<5]))
                #expect(try await store.count() == 5)
                let read = try await store.leaves(0..<5)
                #expect(read == written)
                #expect(read.allSatisfy { $0.isConsistent })
                #expect(try await store.leaves(1..<3) == Array(written[1..<3]))
                #expect(try await store.leaves(4..<100) == [written[4]], "a range past the end returns what is stored")
                #expect(try await store.leafHashes(0..<5) == written.map(\.leafHash))
                #expect(try await store.leafHashes(3..<100) == written[3..<5].map(\.leafHash), "cut at count()")
                #expect(try await store.leafHashes(7..<9).isEmpty)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func gapsAndOverlapsAreRefusedWithoutChange(_ kind: StoreKind) async throws {
        try await StoreFixture.withFresh(kind) { fixture in
            try await fixture.withStore { store in
                try await store.append(leaves(0..<3))
                let before = try await StoreSnapshot(store)
                await expectStoreError(.sequenceConflict, "gap") { try await store.append(leaves(5..<7)) }
                await expectStoreError(.sequenceConflict, "overlap") { try await store.append(leaves(2..<4, "again")) }
                await expectStoreError(.sequenceConflict, "rewrite from 0") { try await store.append(leaves(0..<1, "again")) }
                await expectStoreError(.sequenceConflict, "a batch with a hole") { try await store.append([leaf(3), leaf(5)]) }
                await expectStoreError(.sequenceConflict, "a batch out of order") { try await store.append([leaf(4), leaf(3)]) }
                #expect(try await StoreSnapshot(store) == before, "nothing of a refused batch is stored")
                try await store.append(leaves(3..<4))
                #expect(try await store.count() == 4, "the log continues where it was")
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func checkpointsFollowTheirRulesAndTakeOneReceipt(_ kind: StoreKind) async throws {
        try await StoreFixture.withFresh(kind) { fixture in
            try await fixture.withStore { store in
                try await store.append(leaves(0..<4))
                #expect(try await store.checkpoints(from: 0).isEmpty)
                await expectStoreError(.sequenceConflict, "the first checkpoint is 0") { try await store.appendCheckpoint(checkpoint(1, treeSize: 2)) }
                await expectStoreError(.sequenceConflict, "beyond the log") { try await store.appendCheckpoint(checkpoint(0, treeSize: 5)) }
                var empty = checkpoint(0, treeSize: 1)
                empty.body = []
                await expectStoreError(.invalidRecord, "empty body") { try await store.appendCheckpoint(empty) }
                var halfReceipt = checkpoint(0, treeSize: 1)
                halfReceipt.receipt = [1, 2, 3]
                await expectStoreError(.invalidRecord, "receipt without signature") { try await store.appendCheckpoint(halfReceipt) }
                #expect(try await store.checkpoints(from: 0).isEmpty, "nothing refused was stored")

                let first = checkpoint(0, treeSize: 2)
                try await store.appendCheckpoint(first)
                await expectStoreError(.sequenceConflict, "the same number twice") { try await store.appendCheckpoint(checkpoint(0, treeSize: 3)) }
                await expectStoreError(.sequenceConflict, "a number skipped") { try await store.appendCheckpoint(checkpoint(2, treeSize: 3)) }
                await expectStoreError(.sequenceConflict, "a smaller tree") { try await store.appendCheckpoint(checkpoint(1, treeSize: 1)) }
                let second = checkpoint(1, treeSize: 2)   // equal size is allowed
                try await store.appendCheckpoint(second)
                let third = checkpoint(2, treeSize: 4)
                try await store.appendCheckpoint(third)
                #expect(try await store.checkpoints(from: 0) == [first, second, third])
                #expect(try await store.checkpoints(from: 2) == [third])
                #expect(try await store.checkpoints(from: 9).isEmpty)

                let receipt = Array(#"{"receipt":1}"#.utf8)
                try await store.attachReceipt(checkpoint: 1, receipt: receipt, signature: "registry-sig")
                await expectStoreError(.sequenceConflict, "a second receipt") {
                    try await store.attachReceipt(checkpoint: 1, receipt: Array(#"{"receipt":2}"#.utf8), signature: "other")
                }
                await expectStoreError(.sequenceConflict, "no such checkpoint") {
                    try await store.attachReceipt(checkpoint: 7, receipt: receipt, signature: "registry-sig")
                }
                await expectStoreError(.invalidRecord, "empty receipt") { try await store.attachReceipt(checkpoint: 0, receipt: [], signature: "s") }
                let stored = try await store.checkpoints(from: 0)
                #expect(stored.map(\.receipt) == [nil, receipt, nil])
                #expect(stored.map(\.receiptSignature) == [nil, "registry-sig", nil])
                #expect(stored[1].body == second.body && stored[1].treeSize == 2, "attaching a receipt changes nothing else")

                var withReceipt = checkpoint(3, treeSize: 4)
                withReceipt.receipt = receipt
                withReceipt.receiptSignature = "registry-sig"
                try await store.appendCheckpoint(withReceipt)
                await expectStoreError(.sequenceConflict, "a checkpoint stored with its receipt takes no other") {
                    try await store.attachReceipt(checkpoint: 3, receipt: receipt, signature: "again")
                }
                #expect(try await store.checkpoints(from: 3) == [withReceipt])
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func archivesDropRecordsAndKeepHashes(_ kind: StoreKind) async throws {
        try await StoreFixture.withFresh(kind) { fixture in
            try await fixture.withStore { store in
                let written = leaves(0..<6)
                try await store.append(written)
                await expectStoreError(.sequenceConflict, "the first archive is 0") { try await store.appendArchive(archive(1, 0..<2)) }
                await expectStoreError(.sequenceConflict, "the first archive starts at leaf 0") { try await store.appendArchive(archive(0, 1..<3)) }
                await expectStoreError(.sequenceConflict, "leaves not stored") { try await store.appendArchive(archive(0, 0..<7)) }
                await expectStoreError(.invalidRecord, "an empty archive") {
                    try await store.appendArchive(StoredArchive(sequence: 0, firstSequence: 0, endSequence: 0, manifest: [1], signature: "s"))
                }
                var unsigned = archive(0, 0..<2)
                unsigned.signature = ""
                await expectStoreError(.invalidRecord, "no signature") { try await store.appendArchive(unsigned) }
                #expect(try await store.archives().isEmpty)
                #expect(try await store.leaves(0..<6) == written, "nothing refused dropped a record")

                let first = archive(0, 0..<3)
                try await store.appendArchive(first)
                #expect(try await store.archives() == [first])
                #expect(try await store.count() == 6, "archived leaves still count")
                #expect(try await store.leaves(0..<6) == Array(written[3..<6]), "archived records are skipped")
                #expect(try await store.leaves(0..<3).isEmpty)
                #expect(try await store.leafHashes(0..<6) == written.map(\.leafHash), "hashes of archived leaves stay")

                await expectStoreError(.sequenceConflict, "the same number twice") { try await store.appendArchive(archive(0, 3..<4)) }
                await expectStoreError(.sequenceConflict, "overlapping the previous") { try await store.appendArchive(archive(1, 2..<4)) }
                await expectStoreError(.sequenceConflict, "a gap after the previous") { try await store.appendArchive(archive(1, 4..<5)) }
                let second = archive(1, 3..<5)
                try await store.appendArchive(second)
                #expect(try await store.archives() == [first, second])
                #expect(try await store.leaves(0..<6) == [written[5]])
                #expect(try await store.leafHashes(0..<6) == written.map(\.leafHash))

                try await store.append(leaves(6..<8))
                #expect(try await store.count() == 8, "the log continues after archiving")
                #expect(try await store.leaves(5..<8).map(\.sequence) == [5, 6, 7])
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func appendOnlyIsEnforcedByTheDatabase(_ kind: StoreKind) async throws {
        try await StoreFixture.withFresh(kind) { fixture in
            try await fixture.withStore { store in
                try await store.append(leaves(0..<6))
                try await store.appendArchive(archive(0, 0..<2))
                try await store.appendCheckpoint(checkpoint(0, treeSize: 3))
                try await store.attachReceipt(checkpoint: 0, receipt: [1], signature: "r")
                try await store.appendCheckpoint(checkpoint(1, treeSize: 6))
                let before = try await StoreSnapshot(store)

                let (leavesTable, checkpointsTable, archivesTable, mine, blob) =
                    (fixture.leaves, fixture.checkpoints, fixture.archives, fixture.mine, fixture.blob)
                var refused: [(String, String)] = [
                    ("delete a leaf", "DELETE FROM \(leavesTable) WHERE \(mine) AND sequence = 4"),
                    ("delete an archived leaf", "DELETE FROM \(leavesTable) WHERE \(mine) AND sequence = 0"),
                    ("change a record", "UPDATE \(leavesTable) SET record = \(blob) WHERE \(mine) AND sequence = 3"),
                    ("drop a record that is not archived", "UPDATE \(leavesTable) SET record = NULL WHERE \(mine) AND sequence = 2"),
                    ("change an archived leaf's hash", "UPDATE \(leavesTable) SET leaf_hash = \(blob) WHERE \(mine) AND sequence = 1"),
                    ("give an archived leaf a record", "UPDATE \(leavesTable) SET record = \(blob) WHERE \(mine) AND sequence = 0"),
                    ("move a leaf", "UPDATE \(leavesTable) SET sequence = 100 WHERE \(mine) AND sequence = 5"),
                    ("change a checkpoint", "UPDATE \(checkpointsTable) SET tree_size = 1 WHERE \(mine) AND sequence = 1"),
                    ("replace a receipt", "UPDATE \(checkpointsTable) SET receipt = \(blob), receipt_signature = 'x' WHERE \(mine) AND sequence = 0"),
                    ("remove a receipt", "UPDATE \(checkpointsTable) SET receipt = NULL, receipt_signature = NULL WHERE \(mine) AND sequence = 0"),
                    ("delete a checkpoint", "DELETE FROM \(checkpointsTable) WHERE \(mine) AND sequence = 1"),
                    ("change an archive", "UPDATE \(archivesTable) SET end_sequence = 1 WHERE \(mine) AND sequence = 0"),
                    ("delete an archive", "DELETE FROM \(archivesTable) WHERE \(mine)"),
                    ("delete everything", "DELETE FROM \(leavesTable)"),
                ]
                if kind == .postgres {
                    refused += [
                        ("truncate the leaves", "TRUNCATE audit_leaves"),
                        ("truncate the checkpoints", "TRUNCATE audit_checkpoints"),
                        ("truncate the archives", "TRUNCATE audit_archives"),
                    ]
                }
                for (name, sql) in refused {
                    await #expect(throws: (any Error).self, "\(name) must be refused by the database") { try await fixture.execute(sql) }
                }
                #expect(try await StoreSnapshot(store) == before, "no raw statement changed anything")

                // The two changes the rules allow, done by hand, go through: they prove that the
                // refusals above come from the rules, not from a blanket ban or a broken statement.
                try await fixture.execute("UPDATE \(checkpointsTable) SET receipt = \(blob), receipt_signature = 'by hand' WHERE \(mine) AND sequence = 1")
                try await fixture.execute("""
                    INSERT INTO \(archivesTable) (\(fixture.nodeColumn.name)sequence, first_sequence, end_sequence, manifest, signature)
                    VALUES (\(fixture.nodeColumn.value)1, 2, 4, \(blob), 'by hand')
                    """)
                try await fixture.execute("UPDATE \(leavesTable) SET record = NULL WHERE \(mine) AND sequence = 2")
                #expect(try await store.checkpoints(from: 1).first?.receiptSignature == "by hand")
                #expect(try await store.leaves(0..<6).map(\.sequence) == [3, 4, 5])
                #expect(try await store.leafHashes(0..<6) == before.hashes)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func dataSurvivesClosingAndReopening(_ kind: StoreKind) async throws {
        try await StoreFixture.withFresh(kind) { fixture in
            let before = try await fixture.withStore { store in
                try await store.append(leaves(0..<5))
                try await store.appendCheckpoint(checkpoint(0, treeSize: 5))
                try await store.attachReceipt(checkpoint: 0, receipt: Array("receipt".utf8), signature: "registry")
                try await store.appendArchive(archive(0, 0..<2))
                return try await StoreSnapshot(store)
            }
            try await fixture.withStore { store in
                #expect(try await StoreSnapshot(store) == before)
                #expect(before.count == 5 && before.leaves.count == 3 && before.checkpoints.count == 1 && before.archives.count == 1)
                await expectStoreError(.sequenceConflict, "the reopened store still knows its end") { try await store.append(leaves(0..<1)) }
                try await store.append(leaves(5..<6))
                try await store.appendCheckpoint(checkpoint(1, treeSize: 6))
                try await store.appendArchive(archive(1, 2..<4))
            }
            try await fixture.withStore { store throws in
                #expect(try await store.count() == 6)
                #expect(try await store.checkpoints(from: 0).count == 2)
                #expect(try await store.archives().map(\.endSequence) == [2, 4])
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func groupCommitWithSixtyFourWritersIsGapFree(_ kind: StoreKind) async throws {
        try await StoreFixture.withFresh(kind) { fixture in
            try await fixture.withStore { store in
                let log = try await GroupCommitLog(store: store)
                let sequences = try await withThrowingTaskGroup(of: UInt64.self) { group in
                    for writer in 0..<64 {
                        group.addTask {
                            var mine: [UInt64] = []
                            for _ in 0..<4 { mine.append(try await log.append { leaf($0, "w\(writer)").bytes }.sequence) }
                            return mine.last ?? 0
                        }
                    }
                    var last: [UInt64] = []
                    for try await sequence in group { last.append(sequence) }
                    return last
                }
                #expect(sequences.count == 64)
                #expect(try await store.count() == 256)
                let stored = try await store.leaves(0..<256)
                #expect(stored.map(\.sequence) == Array(0..<256), "every sequence once, no gap")
                #expect(stored.allSatisfy { $0.isConsistent })
                #expect(try await store.leafHashes(0..<256) == stored.map(\.leafHash))
                #expect(await log.recordsWritten == 256)
                let commits = await log.commits
                #expect(commits < 256, "256 records from 64 concurrent writers took \(commits) commits")
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func auditLogOpensAppendsAndReopens(_ kind: StoreKind) async throws {
        let protector = try PersonalDataProtector(key: [UInt8](repeating: 9, count: 32))
        try await StoreFixture.withFresh(kind) { fixture in
            let head = try await fixture.withStore { store in
                let log = try await AuditLog(store: store, protector: protector)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<20 { group.addTask { try await log.record(Self.event(i)) } }
                    try await group.waitForAll()
                }
                return await log.treeHead()
            }
            #expect(head.treeSize == 20)
            try await fixture.withStore { store in
                let reopened = try await AuditLog(store: store, protector: protector)
                #expect(await reopened.treeHead() == head, "the tree is rebuilt from the store")
                #expect(try await AuditLogVerifier.verify(store) == head)
                _ = try await reopened.append(Self.event(20))
                #expect(await reopened.treeHead().treeSize == 21)
            }
        }
    }

    static func event(_ i: Int) -> ExchangeEvent {
        var event = ExchangeEvent(side: i.isMultiple(of: 2) ? .consumer : .provider, server: "VN/GOV/000.00.00.H26/ss1", method: "GET",
                                  startedAt: Date(timeIntervalSince1970: 1_790_000_000 + Double(i)))
        event.endedAt = event.startedAt.addingTimeInterval(0.01)
        event.messageId = "msg-\(i)"
        event.client = "VN/GOV/000.00.00.H26/MOTCUA"
        event.service = "VN/GOV/000.00.00.G22/DANCU/tra-cuu-cong-dan"
        event.path = "/v1/cong-dan/0010990\(String(format: "%05d", i))"
        event.status = 200
        event.outcome = .success
        return event
    }
}

@Suite("PostgreSQL audit store: partitions, schema, failures, configuration")
struct PostgresAuditStoreTests {
    @Test func twoNodesInOneDatabaseAreIndependentPartitions() async throws {
        try await withPostgres { url in
            let a = StoreFixture(kind: .postgres, location: url, node: "VN/GOV/000.00.00.H26/ss1")
            let b = StoreFixture(kind: .postgres, location: url, node: "VN/GOV/000.00.00.H26/ss2")
            let protector = try PersonalDataProtector(key: [UInt8](repeating: 3, count: 32))
            // Both nodes write concurrently through their own audit logs (group commit each).
            async let headA = a.withStore { store in
                let log = try await AuditLog(store: store, protector: protector)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<12 { group.addTask { try await log.record(AuditStoreConformanceTests.event(i)) } }
                    try await group.waitForAll()
                }
                return await log.treeHead()
            }
            async let headB = b.withStore { store in
                let log = try await AuditLog(store: store, protector: protector)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 100..<107 { group.addTask { try await log.record(AuditStoreConformanceTests.event(i)) } }
                    try await group.waitForAll()
                }
                return await log.treeHead()
            }
            let (treeA, treeB) = try await (headA, headB)
            #expect(treeA.treeSize == 12 && treeB.treeSize == 7, "each node numbers its own leaves from 0")
            #expect(treeA.rootHash != treeB.rootHash, "separate trees")
            try await a.withStore { store in
                #expect(try await AuditLogVerifier.verify(store) == treeA)
                try await store.appendCheckpoint(checkpoint(0, treeSize: 12))
                try await store.appendArchive(archive(0, 0..<4))
            }
            try await b.withStore { store in
                #expect(try await AuditLogVerifier.verify(store) == treeB, "node A's archive did not touch node B")
                try await store.appendCheckpoint(checkpoint(0, treeSize: 7))
            }

            /// The tree of a partition, from its stored leaf hashes (archived leaves included).
            func tree(_ store: any AuditLeafStore) async throws -> TreeHead {
                let hashes = try await store.leafHashes(0..<(try await store.count())).compactMap { MerkleHash(bytes: $0) }
                let builder = MerkleTreeBuilder(leafHashes: hashes)
                return TreeHead(treeSize: builder.size, rootHash: builder.rootHash())
            }
            try await a.withStore { store throws in
                #expect(try await store.count() == 12)
                #expect(try await store.leaves(0..<12).map(\.sequence) == Array(4..<12))
                #expect(try await store.checkpoints(from: 0).map(\.treeSize) == [12])
                #expect(try await store.archives().count == 1)
                #expect(try await tree(store) == treeA, "the archived leaves' hashes still give node A's tree")
            }
            try await b.withStore { store in
                #expect(try await store.count() == 7)
                #expect(try await store.leaves(0..<12).map(\.sequence) == Array(0..<7))
                #expect(try await store.checkpoints(from: 0).map(\.treeSize) == [7])
                #expect(try await store.archives().isEmpty)
                #expect(try await tree(store) == treeB)
                // Node B archives and appends on its own numbering, whatever node A holds.
                try await store.appendArchive(archive(0, 0..<7))
                try await store.append([leaf(7)])
                #expect(try await store.count() == 8)
            }
            try await a.withStore { store throws in
                #expect(try await store.count() == 12, "node B's writes did not touch node A")
                #expect(try await store.archives().map(\.endSequence) == [4])
            }
            // A raw delete of node B's rows is refused as well.
            await #expect(throws: (any Error).self) { try await b.execute("DELETE FROM audit_leaves WHERE node = '\(b.node)'") }
        }
    }

    @Test func concurrentFirstOpensCreateTheSchemaOnce() async throws {
        try await withPostgres { url in
            try await withThrowingTaskGroup(of: UInt64.self) { group in
                for n in 0..<6 {
                    group.addTask {
                        try await StoreFixture(kind: .postgres, location: url, node: "node-\(n)").withStore { store in
                            try await store.append(leaves(0..<UInt64(n + 1)))
                            return try await store.count()
                        }
                    }
                }
                var counts: [UInt64] = []
                for try await count in group { counts.append(count) }
                #expect(counts.sorted() == [1, 2, 3, 4, 5, 6])
            }
        }
    }

    @Test func aStoppedDatabaseFailsClosedWithUnavailable() async throws {
        try await withDedicatedPostgres { server, url in
            let fixture = StoreFixture(kind: .postgres, location: url)
            try await fixture.withStore { store in
                let log = try await AuditLog(store: store, protector: try PersonalDataProtector(key: [UInt8](repeating: 1, count: 32)))
                try await log.record(AuditStoreConformanceTests.event(0))
                try await server.stop()

                let clock = ContinuousClock()
                let started = clock.now
                await #expect(throws: (any Error).self, "an exchange whose record cannot be written is refused") {
                    try await log.record(AuditStoreConformanceTests.event(1))
                }
                await #expect(throws: (any Error).self, "the log refuses while the last commit failed") { try await log.checkWritable() }
                let write = await expectStoreError(.unavailable) { try await store.append([leaf(1)]) }
                #expect(write?.message.contains("cannot write the audit log (PostgreSQL at 127.0.0.1:\(server.port)/") == true, "\(write?.message ?? "")")
                #expect(write?.message.contains("node VN/GOV/000.00.00.H26/ss1") == true)
                let read = await expectStoreError(.unavailable) { _ = try await store.count() }
                #expect(read?.message.contains("cannot read the audit log") == true, "\(read?.message ?? "")")
                let elapsed = clock.now - started
                #expect(elapsed < .seconds(30), "refused connections fail at once, not after the 60 s wait or the pool's minute: \(elapsed)")
            }
        }
    }

    @Test func aConnectionFailureIsNamedInTheError() async throws {
        let url = try await PostgresTestServer.shared().url(database: "postgres")
            .replacingOccurrences(of: "postgres://postgres@", with: "postgres://no_such_role@")
        let fixture = StoreFixture(kind: .postgres, location: url)
        let error = await expectStoreError(.unavailable) {
            try await fixture.withStore { store in _ = try await store.count() }
        }
        #expect(error?.message.contains(#"cannot connect: role "no_such_role" does not exist"#) == true, "\(error?.message ?? "")")
    }

    @Test func operationsOutsideRunFailPromptly() async throws {
        var configuration = try PostgresAuditLeafStore.Configuration(url: "postgres://u@127.0.0.1:1/db")
        configuration.connectionWaitTimeout = .milliseconds(200)
        let store = try PostgresAuditLeafStore(configuration: configuration, node: "ss1", logger: StoreFixture.logger)
        let error = await expectStoreError(.unavailable) { _ = try await store.count() }
        #expect(error?.message.contains("not running") == true)
        #expect(throws: PostgresAuditLeafStore.ConfigurationError.self) {
            _ = try PostgresAuditLeafStore(configuration: configuration, node: "", logger: StoreFixture.logger)
        }
        #expect(throws: PostgresAuditLeafStore.ConfigurationError.self) {
            _ = try PostgresAuditLeafStore(configuration: configuration, node: "a\nb", logger: StoreFixture.logger)
        }
    }

    @Test func connectionURLsAreParsed() throws {
        let full = try PostgresAuditLeafStore.Configuration(url: "postgres://audit%40ss1:p%40ss%2Fw@db.example.vn:6543/lien_thong?sslmode=require")
        #expect(full.client.host == "db.example.vn")
        #expect(full.client.port == 6543)
        #expect(full.client.username == "audit@ss1")
        #expect(full.client.password == "p@ss/w")
        #expect(full.client.database == "lien_thong")
        #expect(full.endpointDescription == "db.example.vn:6543/lien_thong")
        #expect(!full.endpointDescription.contains("p@ss"), "never the password")

        let local = try PostgresAuditLeafStore.Configuration(url: "postgresql://postgres@127.0.0.1/audit")
        #expect(local.client.port == 5432 && local.client.password == nil && local.client.database == "audit")
        let noDatabase = try PostgresAuditLeafStore.Configuration(url: "postgres://lt@localhost:5433")
        #expect(noDatabase.client.database == nil && noDatabase.endpointDescription == "localhost:5433/lt")
        let v6 = try PostgresAuditLeafStore.Configuration(url: "postgres://lt@[::1]:5433/a")
        #expect(v6.client.host == "::1" && v6.endpointDescription == "[::1]:5433/a")

        for bad in ["mysql://u@h/db", "postgres:///db", "postgres://h/db", "postgres://u@h:99999/db", "not a url",
                    "postgres://u@h/db?sslmode=sometimes", "postgres://u@h/db?timeout=3", "postgres://u@h/a/b"] {
            #expect(throws: PostgresAuditLeafStore.ConfigurationError.self, "\(bad)") { _ = try PostgresAuditLeafStore.Configuration(url: bad) }
        }
    }
}
