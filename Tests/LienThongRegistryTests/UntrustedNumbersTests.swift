import Foundation
import GRDB
@testable import LienThongAudit
import LienThongCore
@testable import LienThongRegistry
import LienThongTrust
import Testing

/// Issue 15 item 4, unit level: each checked sum of untrusted numbers refuses an overflow with a
/// typed error and changes nothing (the end-to-end case is `CheckpointOverflowEndToEndTests`).
@Suite("Untrusted numbers: bounded when parsed, summed with checked arithmetic")
struct UntrustedNumbersTests {
    static let maxSafe = Checked.maximumSafeInteger
    static let march: Int64 = 1_740_787_200_000

    static func counter(window: Int64, client: String = "VN/GOV/000.00.00.H26/MOTCUA", count: UInt64 = 1, duration: Int64 = 10) -> UsageCounter {
        var counter = UsageCounter(key: .init(side: .provider, window: AuditTimestamp(millisecondsSince1970: window)!, client: client,
                                              service: "VN/GOV/000.00.00.G22/DANCU/tra-cuu", dataset: nil, agreement: nil,
                                              outcome: .success, errorType: nil))
        counter.count = count
        counter.durationMillisecondsTotal = duration
        counter.latencyBuckets = [count] + Array(repeating: 0, count: UsageCounter.latencyBucketBounds.count)
        return counter
    }

    static func checkpoint(_ usage: [UsageCounter], records: UInt64? = nil) -> AuditCheckpoint {
        let records = records ?? usage.reduce(UInt64(0)) { $0 &+ $1.count }
        return AuditCheckpoint(server: "VN/GOV/000.00.00.G22/ss1", node: "default", sequence: 0,
                               tree: TreeHead(treeSize: records, rootHash: MerkleHash.leaf([1])), previous: nil, consistencyProof: [],
                               windowStart: AuditTimestamp(millisecondsSince1970: march)!,
                               windowEnd: AuditTimestamp(millisecondsSince1970: march + 30 * 86_400_000)!, usage: usage)
    }

    // MARK: - The helper

    @Test("Checked: exact results in range, ArithmeticOverflow naming the value beyond it")
    func checkedHelper() throws {
        #expect(try Checked.add(Int64.max - 1, 1, "a") == Int64.max)
        #expect(throws: ArithmeticOverflow("a")) { try Checked.add(Int64.max, 1, "a") }
        #expect(throws: ArithmeticOverflow("b")) { try Checked.subtract(Int64.min, 1, "b") }
        #expect(throws: ArithmeticOverflow("c")) { try Checked.multiply(Int64(1) << 32, Int64(1) << 31, "c") }
        #expect(throws: ArithmeticOverflow("d")) { try Checked.sum([UInt64.max, 1], "d") }
        #expect(try Checked.sum([UInt64(1), 2, 3], "e") == 6)
        #expect(try Checked.safe(Self.maxSafe, "f") == Self.maxSafe)
        #expect(throws: ArithmeticOverflow("g")) { try Checked.safe(Self.maxSafe + 1, "g") }
        #expect(throws: ArithmeticOverflow("h")) { try Checked.safe(Int64(-1), "h") }
        var total: Int64 = Int64.max
        #expect(throws: ArithmeticOverflow("i")) { try total.checkedAdd(1, "i") }
        #expect(total == Int64.max, "a refused addition leaves the total unchanged")
    }

    // MARK: - Parsing a checkpoint (registry, evidence verifier, CLI verifiers: one parser)

    /// The canonical bytes of a checkpoint whose only counter has `buckets` (and `count`).
    static func bytes(count: UInt64, buckets: [UInt64]) -> [UInt8] {
        var counter = counter(window: march, count: count)
        counter.latencyBuckets = buckets
        return checkpoint([counter], records: 1).canonicalBytes
    }

    @Test("latency buckets summing beyond 2^64, or beyond 2^53 − 1 each, are out of range, not a trap")
    func bucketsAreBounded() throws {
        let big = UInt64(Int64.max)
        let overflow = Self.bytes(count: 2, buckets: [big, big, 2] + Array(repeating: 0, count: 9))
        #expect(throws: AuditRecordError.valueOutOfRange(field: "usage.0.latency_buckets.0")) { try AuditCheckpoint(canonicalBytes: overflow) }
        let unsafe = Self.bytes(count: UInt64(Self.maxSafe) + 1, buckets: [UInt64(Self.maxSafe) + 1] + Array(repeating: 0, count: 11))
        #expect(throws: AuditRecordError.valueOutOfRange(field: "usage.0.count")) { try AuditCheckpoint(canonicalBytes: unsafe) }
        // Within range but not adding up to the count: invalid, as before.
        let wrong = Self.bytes(count: 3, buckets: [1, 1] + Array(repeating: 0, count: 10))
        #expect(throws: AuditRecordError.invalidValue(field: "usage.0.latency_buckets")) { try AuditCheckpoint(canonicalBytes: wrong) }
        // The largest in range parses.
        let largest = Self.bytes(count: UInt64(Self.maxSafe), buckets: [UInt64(Self.maxSafe)] + Array(repeating: 0, count: 11))
        #expect(try AuditCheckpoint(canonicalBytes: largest).usage.first?.count == UInt64(Self.maxSafe))
    }

    @Test("a tally's duration total saturates at 2^53 − 1 instead of trapping (records can come from a file)")
    func tallySaturates() {
        var counter = UsageCounter(key: Self.counter(window: Self.march).key)
        for _ in 0..<3 { counter.add(durationMilliseconds: AuditRecord.maximumInteger) }
        #expect(counter.count == 3)
        #expect(counter.durationMillisecondsTotal == AuditRecord.maximumInteger)
        counter.add(durationMilliseconds: Int64.max)
        #expect(counter.durationMillisecondsTotal == AuditRecord.maximumInteger)
    }

    // MARK: - Ingestion (the usage store)

    @Test("usage store merge: a rollup sum beyond 2^53 − 1 is ArithmeticOverflow and leaves the sum unchanged")
    func rollupMergeIsChecked() throws {
        var sum = UsageStore.RollupSum(window: Self.march)
        sum.duration = Self.maxSafe
        var other = UsageStore.RollupSum(window: Self.march + 300_000)
        other.duration = 1
        let before = sum.duration
        #expect(throws: ArithmeticOverflow.self) { try sum.add(other) }
        #expect(sum.duration == before && sum.lastWindow == Self.march)
        other.duration = 0
        other.count = 5
        try sum.add(other)
        #expect(sum.count == 5 && sum.lastWindow == Self.march + 300_000)
    }

    /// A ledger on a fresh SQLite file (nothing is verified by `ingestSynthetic`).
    static func ledger() throws -> (CheckpointLedger, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numbers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let pki = try DevelopmentPKI.initialise(at: directory.appendingPathComponent("pki"), instance: "VN", ocspURL: nil)
        let signer = try DetachedJWS.Signer(
            key: try MessageSigningKey(pemEncoded: try PEMFiles.readText(pki.url(.configurationSigningKey))),
            chain: try PEMFiles.readCertificates(pki.url(.configurationSigningCertificate)))
        let ledger = try CheckpointLedger(path: directory.appendingPathComponent("checkpoints.sqlite").path, instance: "VN", signer: signer,
                                          validator: CertificateValidator(trustAnchors: [pki.rootCertificate], revocation: nil))
        return (ledger, directory)
    }

    static func rows(_ ledger: CheckpointLedger) throws -> [String: [String]] {
        try ledger.reader.read { db in
            var tables: [String: [String]] = [:]
            for table in ["usage_windows", "usage_daily", "usage_monthly", "usage_reconciliation", "usage_last", "checkpoint_heads", "checkpoint_days"] {
                tables[table] = try Row.fetchAll(db, sql: "SELECT * FROM \(table)").map(\.description).sorted()
            }
            return tables
        }
    }

    @Test("ingestion: totals beyond 2^53 − 1, in memory or on top of stored rows, are typed refusals and change nothing")
    func ingestionIsChecked() async throws {
        let (ledger, directory) = try Self.ledger()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await ledger.ingestSynthetic([Self.checkpoint([Self.counter(window: Self.march, duration: Self.maxSafe)])])
        let before = try Self.rows(ledger)
        #expect(before["usage_daily"]?.count == 1)

        // 1. In memory: two counters of one key and day whose durations add up beyond the bound.
        let twice = Self.checkpoint([Self.counter(window: Self.march + 300_000, duration: Self.maxSafe),
                                     Self.counter(window: Self.march + 600_000, duration: Self.maxSafe)])
        do {
            try await ledger.ingestSynthetic([twice])
            Issue.record("the overflowing batch was ingested")
        } catch {
            #expect(error is ArithmeticOverflow, "\(error)")
            #expect(UsageStore.outOfRange(error)?.code == .outOfRange)
        }
        #expect(try Self.rows(ledger) == before)

        // 2. In SQLite: one more millisecond on the stored row of the same key and day (the bound
        //    trigger; the transaction rolls back).
        do {
            try await ledger.ingestSynthetic([Self.checkpoint([Self.counter(window: Self.march + 300_000, duration: 1)])])
            Issue.record("the row beyond the bound was written")
        } catch {
            #expect(UsageStore.outOfRange(error)?.code == .outOfRange, "\(error)")
        }
        #expect(try Self.rows(ledger) == before)

        // 3. Another key is still counted.
        try await ledger.ingestSynthetic([Self.checkpoint([Self.counter(window: Self.march, client: "VN/GOV/000.00.00.H26/KHAC", duration: 5)])])
        #expect(try Self.rows(ledger)["usage_daily"]?.count == 2)
    }

    // MARK: - The compliance view

    @Test("compliance totals: a period whose grand total exceeds 2^53 − 1 is ArithmeticOverflow, not a trap")
    func complianceTotalsAreChecked() async throws {
        let (ledger, directory) = try Self.ledger()
        defer { try? FileManager.default.removeItem(at: directory) }
        // Two clients, each at the largest row total: each row is valid, their sum is not.
        try await ledger.ingestSynthetic([
            Self.checkpoint([Self.counter(window: Self.march, client: "VN/GOV/000.00.00.H26/A", count: UInt64(Self.maxSafe), duration: 1)]),
            Self.checkpoint([Self.counter(window: Self.march, client: "VN/GOV/000.00.00.H26/B", count: UInt64(Self.maxSafe), duration: 1)]),
        ])
        let query = ComplianceQuery(from: Date(timeIntervalSince1970: Double(Self.march) / 1000),
                                    to: Date(timeIntervalSince1970: Double(Self.march) / 1000 + 40 * 86_400))
        do {
            _ = try await ComplianceEngine(ledger: ledger).report(query, snapshot: RegistrySnapshot(), now: Date())
            Issue.record("the report summed beyond 2^53 − 1")
        } catch {
            #expect(error is ArithmeticOverflow, "\(error)")
        }
        // The loader's checked sum of groups.
        var sum = UsageSum()
        try sum.checkedAdd(UsageSum(count: Self.maxSafe), "x")
        #expect(throws: ArithmeticOverflow.self) { try sum.checkedAdd(UsageSum(count: 1), "x") }
        #expect(sum.count == Self.maxSafe)
    }

    @Test("a usage row read back as REAL or beyond the bound is ArithmeticOverflow, not a decoder trap")
    func rowsAreBoundedWhenRead() throws {
        let queue = try DatabaseQueue()
        try queue.read { db in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT 9223372036854775807 + 1, 9007199254740992, -1, 42"))
            #expect(throws: ArithmeticOverflow.self) { try UsageBounds.integer(row, 0, "real") }
            #expect(throws: ArithmeticOverflow.self) { try UsageBounds.integer(row, 1, "beyond") }
            #expect(throws: ArithmeticOverflow.self) { try UsageBounds.integer(row, 2, "negative") }
            #expect(try UsageBounds.integer(row, 3, "fine") == 42)
        }
    }
}
