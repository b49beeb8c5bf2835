import Foundation
import LienThongCore
import X509

/// What ``AuditLogVerifier/verify(_:anchors:archiveDirectory:batch:)`` checked in a log that passed.
public struct AuditVerificationReport: Sendable, Hashable {
    /// The tree head of all records.
    public var treeHead: TreeHead
    /// The number of signed checkpoints checked.
    public var checkpoints: Int
    /// How many of them carry a verified registry receipt.
    public var receipts: Int
    /// The records after the last checkpoint (covered by no signature yet).
    public var uncheckpointedRecords: UInt64
    /// The number of signed archives checked.
    public var archives: Int
    /// The records read from archive files rather than the store.
    public var archivedRecords: UInt64

    /// Creates a report.
    public init(treeHead: TreeHead, checkpoints: Int, receipts: Int, uncheckpointedRecords: UInt64,
                archives: Int = 0, archivedRecords: UInt64 = 0) {
        self.treeHead = treeHead
        self.checkpoints = checkpoints
        self.receipts = receipts
        self.uncheckpointedRecords = uncheckpointedRecords
        self.archives = archives
        self.archivedRecords = archivedRecords
    }
}

extension AuditLogVerifier {
    /// Verifies the log in `store` with its checkpoints and archives: every leaf (as
    /// ``verify(_:batch:)``), archived or not, every checkpoint and receipt signature, the chain of
    /// checkpoints, each checkpoint's root and usage counters against the leaves, and that no
    /// checkpoint covers more records than the log holds.
    ///
    /// Archived records are read from their files in `archiveDirectory` and go through the same
    /// checks as stored ones, each against the leaf hash the store kept. Each archive's manifest
    /// must be signed by the server's owner, chain to the previous one (numbers and record ranges
    /// contiguous from 0, `previous_manifest_sha256`), match the manifest file beside the archive,
    /// and its file, content digest and tree head must be those it signs.
    ///
    /// - Parameters:
    ///   - anchors: the instance's root CA certificates, to check that the signers are the
    ///     server's owner and the registry; `nil` checks the signatures only.
    ///   - archiveDirectory: where the log's archive files are; needed once the log has archives
    ///     (the store does not know where its files went).
    /// - Throws: ``AuditVerificationFailure`` for the first fault, or ``AuditStoreError`` if the
    ///   store cannot be read.
    public static func verify(_ store: any AuditLeafStore, anchors: [Certificate]?, archiveDirectory: URL? = nil,
                              batch: UInt64 = 20_000) async throws -> AuditVerificationReport {
        var chain = try await CheckpointChainVerifier(checkpoints: try await store.checkpoints(from: 0), anchors: anchors)
        let archives = try await ArchiveChainVerifier(archives: try await store.archives(), anchors: anchors)
        let count = try await store.count()
        var tree = MerkleTreeBuilder()
        if chain.wantsRoot(atTreeSize: 0) { try chain.observe(treeSize: 0, root: tree.rootHash()) }

        /// Checks `leaves` (the log's from `start` on) and feeds them to the tree and checkpoints.
        func take(_ leaves: [StoredLeaf], from start: UInt64) async throws {
            let hashes = try await LeafChecker.check(leaves, expectedFirst: start)
            for (leaf, hash) in zip(leaves, hashes) {
                if chain.checkpointCount > 0 {
                    let usage = try usageKey(of: leaf)
                    chain.count(usage.key, durationMilliseconds: usage.duration)
                }
                tree.append(leafHash: hash)
                if chain.wantsRoot(atTreeSize: tree.size) { try chain.observe(treeSize: tree.size, root: tree.rootHash()) }
            }
        }

        // Archived records, from their files, against the stored leaf hashes.
        for entry in archives.entries {
            let manifest = entry.manifest
            guard manifest.endSequence <= count else {
                throw AuditVerificationFailure(sequence: count, reason: "missing: \(entry.label) covers records up to \(manifest.endSequence - 1) but the log ends after \(count) (truncated)")
            }
            guard let archiveDirectory else {
                throw AuditVerificationFailure(sequence: manifest.firstSequence, reason: "records \(manifest.firstSequence)..<\(manifest.endSequence) are in \(entry.label): give the archive directory to verify them")
            }
            let reader = try ArchiveRecordReader(entry, directory: archiveDirectory)
            var start = manifest.firstSequence
            while start < manifest.endSequence {
                let lines = try reader.nextRecords(Int(min(batch, manifest.endSequence - start)))
                let end = start + UInt64(lines.count)
                let hashes = try await store.leafHashes(start..<end)
                guard hashes.count == lines.count else {
                    throw AuditVerificationFailure(sequence: start + UInt64(hashes.count), reason: "missing: the log has no leaf hash for this archived record")
                }
                let leaves = zip(lines, hashes).enumerated().map { offset, pair in
                    StoredLeaf(sequence: start + UInt64(offset), bytes: pair.0, leafHash: pair.1)
                }
                do { try await take(leaves, from: start) } catch let failure as AuditVerificationFailure {
                    throw AuditVerificationFailure(sequence: failure.sequence, reason: "in \(entry.label): \(failure.reason)")
                }
                start = end
            }
            try reader.finish()
            guard tree.treeHead == manifest.tree else {
                throw AuditVerificationFailure(sequence: nil, reason: "\(entry.label): the records 0..<\(manifest.endSequence) do not hash to the tree head its manifest signs")
            }
        }

        // Stored records, as before.
        var start = archives.archivedEnd
        while start < count {
            let end = min(count, start + batch)
            let leaves = try await store.leaves(start..<end)
            if leaves.count != Int(end - start) {
                let present = Set(leaves.map(\.sequence))
                let first = (start..<end).first { !present.contains($0) } ?? start
                throw AuditVerificationFailure(sequence: first, reason: "missing: the log jumps from record \(first) to a later one")
            }
            try await take(leaves, from: start)
            start = end
        }
        try chain.finish(logSize: tree.size)
        return AuditVerificationReport(
            treeHead: tree.treeHead, checkpoints: chain.checkpointCount, receipts: chain.receiptCount,
            uncheckpointedRecords: tree.size - (chain.lastCheckpoint?.tree.treeSize ?? 0),
            archives: archives.entries.count, archivedRecords: archives.archivedEnd)
    }

    /// The usage key and duration of a leaf that ``LeafChecker`` has already accepted.
    static func usageKey(of leaf: StoredLeaf) throws(AuditVerificationFailure) -> (key: UsageCounter.Key, duration: Int64) {
        do {
            return try UsageKeyReader.read(leaf.bytes)
        } catch {
            throw AuditVerificationFailure(sequence: leaf.sequence, reason: "not a valid canonical record: \(error)")
        }
    }

    /// ``UsageKeyReader/read(_:)``, for tests.
    public static func usageKeyForTesting(_ bytes: [UInt8]) throws(AuditRecordError) -> (key: UsageCounter.Key, duration: Int64) {
        try UsageKeyReader.read(bytes)
    }
}
