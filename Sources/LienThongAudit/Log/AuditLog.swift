import Foundation

/// A security server's audit log: each ``ExchangeEvent`` becomes a canonical ``AuditRecord``
/// (personal identifiers keyed out by the ``PersonalDataProtector``), is group-committed durably to
/// an ``AuditLeafStore`` and hashed into an RFC 6962 Merkle tree whose head the log keeps current.
///
/// ``record(_:)`` returns only once the record is on stable storage; if it throws, the exchange it
/// describes must be refused (the security server answers `LoggingFailed`).
public actor AuditLog: ExchangeAuditSink {
    /// The durable writer.
    public let writer: GroupCommitLog
    /// Keys personal identifiers out of paths and messages.
    public let protector: PersonalDataProtector
    private var tree: MerkleTreeBuilder
    private var early: [UInt64: MerkleHash] = [:]

    /// Opens the log on `store`, rebuilding the tree from the stored leaves (their hashes are
    /// checked against their bytes; a mismatch refuses to open).
    public init(store: any AuditLeafStore, protector: PersonalDataProtector) async throws(AuditStoreError) {
        let writer = try await GroupCommitLog(store: store)
        var tree = MerkleTreeBuilder()
        let size = await writer.size
        var start: UInt64 = 0
        while start < size {
            let end = min(size, start + 10_000)
            for leaf in try await store.leaves(start..<end) {
                guard leaf.sequence == tree.size, leaf.isConsistent, let hash = MerkleHash(bytes: leaf.leafHash) else {
                    throw AuditStoreError(.corrupt, "leaf \(leaf.sequence) of the audit log is damaged; run `lienthong audit verify`")
                }
                tree.append(leafHash: hash)
            }
            start = end
        }
        guard tree.size == size else {
            throw AuditStoreError(.corrupt, "the audit log has a gap before leaf \(tree.size); run `lienthong audit verify`")
        }
        self.writer = writer
        self.protector = protector
        self.tree = tree
    }

    /// Records `event` durably and adds it to the tree.
    public func record(_ event: ExchangeEvent) async throws {
        _ = try await append(event)
    }

    /// Records `event` durably and returns its record and leaf.
    public func append(_ event: ExchangeEvent) async throws(AuditStoreError) -> (record: AuditRecord, leaf: StoredLeaf) {
        let protector = self.protector
        var built: AuditRecord?
        let leaf = try await writer.append { sequence in
            let record = try AuditRecord(event: event, sequence: sequence, protector: protector)
            built = record
            return record.canonicalBytes()
        }
        guard let record = built, let hash = MerkleHash(bytes: leaf.leafHash) else {
            throw AuditStoreError(.invalidRecord, "the record for sequence \(leaf.sequence) was not built")
        }
        add(hash, at: leaf.sequence)
        return (record, leaf)
    }

    /// Throws the store's error if a commit failed in the last second: exchanges are refused
    /// before anything is sent on while the disk is full or the database down. After a second the
    /// next exchange tries again (its own record is the probe).
    public func checkWritable() async throws {
        if let failure = await writer.lastFailure, ContinuousClock.now - failure.at < .seconds(1) {
            throw failure.error
        }
    }

    /// The current tree head: every durable record, in order.
    public func treeHead() -> TreeHead { TreeHead(treeSize: tree.size, rootHash: tree.rootHash()) }

    /// Commits can finish in any order; the tree takes leaves strictly in sequence.
    private func add(_ hash: MerkleHash, at sequence: UInt64) {
        early[sequence] = hash
        while let next = early.removeValue(forKey: tree.size) {
            tree.append(leafHash: next)
        }
    }
}
