import Foundation
import LienThongCore
import X509

/// What ``AuditLogVerifier/verify(_:anchors:batch:)`` checked in a log that passed.
public struct AuditVerificationReport: Sendable, Hashable {
    /// The tree head of all records.
    public var treeHead: TreeHead
    /// The number of signed checkpoints checked.
    public var checkpoints: Int
    /// How many of them carry a verified registry receipt.
    public var receipts: Int
    /// The records after the last checkpoint (covered by no signature yet).
    public var uncheckpointedRecords: UInt64

    /// Creates a report.
    public init(treeHead: TreeHead, checkpoints: Int, receipts: Int, uncheckpointedRecords: UInt64) {
        self.treeHead = treeHead
        self.checkpoints = checkpoints
        self.receipts = receipts
        self.uncheckpointedRecords = uncheckpointedRecords
    }
}

extension AuditLogVerifier {
    /// Verifies the log in `store` with its checkpoints: every leaf (as ``verify(_:batch:)``),
    /// every checkpoint and receipt signature, the chain of checkpoints, each checkpoint's root
    /// and usage counters against the leaves, and that no checkpoint covers more records than the
    /// log holds.
    ///
    /// - Parameter anchors: the instance's root CA certificates, to check that the signers are
    ///   the server's owner and the registry; `nil` checks the signatures only.
    /// - Throws: ``AuditVerificationFailure`` for the first fault, or ``AuditStoreError`` if the
    ///   store cannot be read.
    public static func verify(_ store: any AuditLeafStore, anchors: [Certificate]?, batch: UInt64 = 20_000) async throws -> AuditVerificationReport {
        var chain = try await CheckpointChainVerifier(checkpoints: try await store.checkpoints(from: 0), anchors: anchors)
        let count = try await store.count()
        var tree = MerkleTreeBuilder()
        if chain.wantsRoot(atTreeSize: 0) { try chain.observe(treeSize: 0, root: tree.rootHash()) }
        var start: UInt64 = 0
        while start < count {
            let end = min(count, start + batch)
            let leaves = try await store.leaves(start..<end)
            if leaves.count != Int(end - start) {
                let present = Set(leaves.map(\.sequence))
                let first = (start..<end).first { !present.contains($0) } ?? start
                throw AuditVerificationFailure(sequence: first, reason: "missing: the log jumps from record \(first) to a later one")
            }
            let hashes = try await LeafChecker.check(leaves, expectedFirst: start)
            for (leaf, hash) in zip(leaves, hashes) {
                if chain.checkpointCount > 0 {
                    let usage = try usageKey(of: leaf)
                    chain.count(usage.key, durationMilliseconds: usage.duration)
                }
                tree.append(leafHash: hash)
                if chain.wantsRoot(atTreeSize: tree.size) { try chain.observe(treeSize: tree.size, root: tree.rootHash()) }
            }
            start = end
        }
        try chain.finish(logSize: tree.size)
        return AuditVerificationReport(
            treeHead: tree.treeHead, checkpoints: chain.checkpointCount, receipts: chain.receiptCount,
            uncheckpointedRecords: tree.size - (chain.lastCheckpoint?.tree.treeSize ?? 0))
    }

    /// The usage key and duration of a leaf that ``LeafChecker`` has already accepted.
    static func usageKey(of leaf: StoredLeaf) throws(AuditVerificationFailure) -> (key: UsageCounter.Key, duration: Int64) {
        do {
            let record = try AuditRecord(canonicalBytes: leaf.bytes)
            return (UsageCounter.Key(record), record.durationMilliseconds)
        } catch {
            throw AuditVerificationFailure(sequence: leaf.sequence, reason: "not a valid canonical record: \(error)")
        }
    }
}
