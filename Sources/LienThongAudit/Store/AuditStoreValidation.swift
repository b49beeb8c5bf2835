/// The rules every ``AuditLeafStore`` applies to checkpoints, receipts and archive entries before
/// writing them, shared so that all stores refuse the same input with the same codes:
/// malformed input is ``AuditStoreError/Code/invalidRecord``, input that does not continue the
/// log is ``AuditStoreError/Code/sequenceConflict``.
///
/// Stores call the input checks first (no I/O), then, inside their write transaction, the checks
/// against what is stored.
public enum AuditStoreValidation {
    /// Checks that `checkpoint` is well-formed: a body and signature, a receipt with its signature
    /// or neither, numbers a SQL `BIGINT` can hold.
    /// - Throws: ``AuditStoreError`` `.invalidRecord`.
    public static func check(_ checkpoint: StoredCheckpoint) throws(AuditStoreError) {
        guard checkpoint.sequence <= UInt64(Int64.max), checkpoint.treeSize <= UInt64(Int64.max) else {
            throw AuditStoreError(.invalidRecord, "checkpoint \(checkpoint.sequence): sequence and tree size must not exceed \(Int64.max)")
        }
        guard !checkpoint.body.isEmpty, !checkpoint.signature.isEmpty else {
            throw AuditStoreError(.invalidRecord, "checkpoint \(checkpoint.sequence) has an empty body or signature")
        }
        switch (checkpoint.receipt, checkpoint.receiptSignature) {
        case (nil, nil):
            break
        case (let receipt?, let signature?):
            try checkReceipt(receipt, signature: signature, checkpoint: checkpoint.sequence)
        default:
            throw AuditStoreError(.invalidRecord, "checkpoint \(checkpoint.sequence) has a receipt without its signature, or a signature without its receipt")
        }
    }

    /// Checks that `checkpoint` continues the stored checkpoints: its number follows `previous`
    /// (0 for the first), its tree size is at least `previous`'s and at most `leafCount`.
    /// - Parameter log: names the log in messages (a file path, or a database and node).
    /// - Throws: ``AuditStoreError`` `.sequenceConflict`.
    public static func check(_ checkpoint: StoredCheckpoint, previous: (sequence: UInt64, treeSize: UInt64)?,
                             leafCount: UInt64, log: String) throws(AuditStoreError) {
        let expected = previous.map { $0.sequence + 1 } ?? 0
        guard checkpoint.sequence == expected else {
            throw AuditStoreError(.sequenceConflict, "the audit log \(log) expects checkpoint \(expected), not \(checkpoint.sequence)")
        }
        if let previous, checkpoint.treeSize < previous.treeSize {
            throw AuditStoreError(.sequenceConflict,
                                  "checkpoint \(checkpoint.sequence) covers \(checkpoint.treeSize) leaves, fewer than checkpoint \(previous.sequence) (\(previous.treeSize)) of the audit log \(log)")
        }
        guard checkpoint.treeSize <= leafCount else {
            throw AuditStoreError(.sequenceConflict,
                                  "checkpoint \(checkpoint.sequence) covers \(checkpoint.treeSize) leaves but the audit log \(log) holds \(leafCount)")
        }
    }

    /// Checks that a receipt for checkpoint `sequence` is well-formed: non-empty bytes and
    /// signature.
    /// - Throws: ``AuditStoreError`` `.invalidRecord`.
    public static func checkReceipt(_ receipt: [UInt8], signature: String, checkpoint sequence: UInt64) throws(AuditStoreError) {
        guard sequence <= UInt64(Int64.max) else {
            throw AuditStoreError(.invalidRecord, "checkpoint \(sequence): the sequence must not exceed \(Int64.max)")
        }
        guard !receipt.isEmpty, !signature.isEmpty else {
            throw AuditStoreError(.invalidRecord, "the receipt for checkpoint \(sequence) is empty or unsigned")
        }
    }

    /// Checks that `archive` is well-formed: at least one leaf, a manifest and signature, numbers
    /// a SQL `BIGINT` can hold.
    /// - Throws: ``AuditStoreError`` `.invalidRecord`.
    public static func check(_ archive: StoredArchive) throws(AuditStoreError) {
        guard archive.sequence <= UInt64(Int64.max), archive.endSequence <= UInt64(Int64.max) else {
            throw AuditStoreError(.invalidRecord, "archive \(archive.sequence): sequences must not exceed \(Int64.max)")
        }
        guard archive.firstSequence < archive.endSequence else {
            throw AuditStoreError(.invalidRecord,
                                  "archive \(archive.sequence) is empty or reversed: leaves \(archive.firstSequence)..<\(archive.endSequence)")
        }
        guard !archive.manifest.isEmpty, !archive.signature.isEmpty else {
            throw AuditStoreError(.invalidRecord, "archive \(archive.sequence) has an empty manifest or signature")
        }
    }

    /// Checks that `archive` continues the stored archives: its number follows `previous` (0 for
    /// the first), its leaves start where `previous` ended (0 for the first) and are all stored.
    /// - Parameter log: names the log in messages (a file path, or a database and node).
    /// - Throws: ``AuditStoreError`` `.sequenceConflict`.
    public static func check(_ archive: StoredArchive, previous: (sequence: UInt64, endSequence: UInt64)?,
                             leafCount: UInt64, log: String) throws(AuditStoreError) {
        let expected = previous.map { $0.sequence + 1 } ?? 0
        guard archive.sequence == expected else {
            throw AuditStoreError(.sequenceConflict, "the audit log \(log) expects archive \(expected), not \(archive.sequence)")
        }
        let start = previous?.endSequence ?? 0
        guard archive.firstSequence == start else {
            throw AuditStoreError(.sequenceConflict,
                                  "archive \(archive.sequence) of the audit log \(log) must start at leaf \(start), not \(archive.firstSequence)")
        }
        guard archive.endSequence <= leafCount else {
            throw AuditStoreError(.sequenceConflict,
                                  "archive \(archive.sequence) ends at leaf \(archive.endSequence) but the audit log \(log) holds \(leafCount)")
        }
    }
}
