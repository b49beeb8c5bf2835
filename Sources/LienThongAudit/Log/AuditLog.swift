import Foundation
import LienThongCore

/// A security server's audit log: each ``ExchangeEvent`` becomes a canonical ``AuditRecord``
/// (personal identifiers keyed out by the ``PersonalDataProtector``), is group-committed durably to
/// an ``AuditLeafStore`` and hashed into an RFC 6962 Merkle tree whose head the log keeps current.
///
/// ``record(_:)`` returns only once the record is on stable storage; if it throws, the exchange it
/// describes must be refused (the security server answers `LoggingFailed`).
///
/// The log also makes its signed checkpoints (``makeCheckpoint(server:node:at:sign:)``): the tree
/// head, a consistency proof from the previous checkpoint and the usage counters of the records
/// since, stored beside the leaves until the registry's receipt is attached
/// (``attachReceipt(checkpoint:receipt:signature:)``). While the oldest checkpoint without a receipt
/// is older than the ``checkpointFailureLimit``, ``checkWritable()`` fails: the server refuses
/// exchanges rather than keep evidence nobody outside it has seen.
public actor AuditLog: ExchangeAuditSink {
    /// The durable writer.
    public let writer: GroupCommitLog
    /// Keys personal identifiers out of paths and messages.
    public nonisolated let protector: PersonalDataProtector
    /// How long checkpoints may go without a registry receipt before exchanges are refused;
    /// `nil` never refuses for that reason.
    public let checkpointFailureLimit: Duration?

    private var tree: MerkleTreeBuilder
    private var early: [UInt64: (hash: MerkleHash, key: UsageCounter.Key, duration: Int64)] = [:]

    /// The last checkpoint made, with the frontier hashes of its tree (for consistency proofs).
    private var last: (checkpoint: AuditCheckpoint, frontier: [Range<UInt64>: MerkleHash])?
    /// Leaf hashes and usage keys of the leaves after the last checkpoint, in order.
    private var windowHashes: [MerkleHash] = []
    private var windowUsage: [(key: UsageCounter.Key, duration: Int64)] = []
    /// When the log was opened: the window start of the first checkpoint.
    private let openedAt: AuditTimestamp
    private var checkpointing = false
    /// Whether an exchange has been let through to probe a store that failed (one at a time).
    private var probing = false
    /// Checkpoints made but not yet receipted by the registry, oldest first.
    public private(set) var awaitingReceipt: [StoredCheckpoint] = [] {
        didSet {
            oldestAwaitingMadeAt = awaitingReceipt.first.flatMap { try? AuditCheckpoint(canonicalBytes: $0.body) }?.windowEnd.date
        }
    }
    /// When the oldest checkpoint without a receipt was made (parsed once, not per exchange).
    private var oldestAwaitingMadeAt: Date?
    /// The last receipt attached, and when.
    public private(set) var lastReceiptAt: Date?
    /// Why the last submission of a checkpoint failed, for the health report and the refusal message.
    public private(set) var lastCheckpointError: String?

    /// Opens the log on `store`, rebuilding the tree from the stored leaf hashes and the window
    /// since the last checkpoint from the stored records. The last checkpoint's tree head must
    /// match the stored leaves, or the log refuses to open.
    public init(store: any AuditLeafStore, protector: PersonalDataProtector, checkpointFailureLimit: Duration? = nil,
                now: Date = Date()) async throws(AuditStoreError) {
        let writer = try await GroupCommitLog(store: store)
        let size = await writer.size
        let lastStored = try await store.latestCheckpoint()
        var lastCheckpoint: AuditCheckpoint?
        if let lastStored {
            do { lastCheckpoint = try AuditCheckpoint(canonicalBytes: lastStored.body) } catch {
                throw AuditStoreError(.corrupt, "checkpoint \(lastStored.sequence) of the audit log is damaged (\(error)); run `lienthong audit verify`")
            }
        }
        let checkpointSize = lastCheckpoint?.tree.treeSize ?? 0
        guard checkpointSize <= size else {
            throw AuditStoreError(.corrupt, "checkpoint \(lastStored?.sequence ?? 0) covers \(checkpointSize) records but the log holds \(size): records were removed; run `lienthong audit verify`")
        }
        let frontierRanges = MerkleTreeBuilder.frontierRanges(size: checkpointSize)
        var frontier: [Range<UInt64>: MerkleHash] = [:]
        var tree = MerkleTreeBuilder()
        var windowHashes: [MerkleHash] = []
        var start: UInt64 = 0
        while start < size {
            let end = min(size, start + 50_000)
            let hashes = try await store.leafHashes(start..<end)
            guard hashes.count == Int(end - start) else {
                throw AuditStoreError(.corrupt, "the audit log has a gap between records \(start) and \(end); run `lienthong audit verify`")
            }
            for bytes in hashes {
                guard let hash = MerkleHash(bytes: bytes) else {
                    throw AuditStoreError(.corrupt, "leaf \(tree.size) of the audit log has a damaged hash; run `lienthong audit verify`")
                }
                if tree.size >= checkpointSize { windowHashes.append(hash) }
                tree.append(leafHash: hash)
                if tree.size == checkpointSize { frontier = Self.frontier(tree, ranges: frontierRanges) }
            }
            start = end
        }
        if let lastCheckpoint, lastCheckpoint.tree.treeSize > 0 {
            let rebuilt = frontier.isEmpty ? nil : Self.root(frontier, ranges: frontierRanges)
            guard rebuilt == lastCheckpoint.tree.rootHash else {
                throw AuditStoreError(.corrupt, "the stored records do not match checkpoint \(lastCheckpoint.sequence)'s tree head: the log was changed; run `lienthong audit verify`")
            }
        }
        var windowUsage: [(key: UsageCounter.Key, duration: Int64)] = []
        for leaf in try await store.leaves(checkpointSize..<size) {
            do {
                let record = try AuditRecord(canonicalBytes: leaf.bytes)
                windowUsage.append((UsageCounter.Key(record), record.durationMilliseconds))
            } catch {
                throw AuditStoreError(.corrupt, "record \(leaf.sequence) of the audit log is damaged (\(error)); run `lienthong audit verify`")
            }
        }
        guard windowUsage.count == windowHashes.count else {
            throw AuditStoreError(.corrupt, "records after checkpoint \(lastStored?.sequence ?? 0) are missing (archived before they were checkpointed?)")
        }
        self.writer = writer
        self.protector = protector
        self.checkpointFailureLimit = checkpointFailureLimit
        self.tree = tree
        self.last = lastCheckpoint.map { ($0, frontier) }
        self.windowHashes = windowHashes
        self.windowUsage = windowUsage
        self.openedAt = AuditTimestamp(now) ?? AuditTimestamp(millisecondsSince1970: 0)!
        let awaiting = try await store.checkpointsAwaitingReceipt()
        self.awaitingReceipt = awaiting
        self.oldestAwaitingMadeAt = awaiting.first.flatMap { try? AuditCheckpoint(canonicalBytes: $0.body) }?.windowEnd.date
    }

    /// The store the log writes to.
    public nonisolated var store: any AuditLeafStore { writer.store }

    /// Records `event` durably and adds it to the tree.
    public func record(_ event: ExchangeEvent) async throws {
        _ = try await append(event)
    }

    /// Records `event` durably and returns its record and leaf.
    public func append(_ event: ExchangeEvent) async throws(AuditStoreError) -> (record: AuditRecord, leaf: StoredLeaf) {
        defer { probing = false }
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
        add(hash, key: UsageCounter.Key(record), duration: record.durationMilliseconds, at: leaf.sequence)
        return (record, leaf)
    }

    /// Throws if the log must not take exchanges now: a commit failed in the last second (disk
    /// full, database down — after a second one exchange at a time is let through, its own record
    /// being the probe), or checkpoints have gone without a registry receipt for longer than
    /// ``checkpointFailureLimit``.
    public func checkWritable() async throws {
        if let failure = await writer.lastFailure {
            // After a failed commit: refuse for a second, then let one exchange through at a time
            // whose own record probes the store; the others are refused until it is written.
            guard ContinuousClock.now - failure.at >= .seconds(1), !probing else { throw failure.error }
            probing = true
        }
        try checkCheckpoints(now: Date())
    }

    /// Throws ``AuditStoreError/Code/checkpointOverdue`` if the oldest checkpoint without a
    /// receipt is older than the limit at `now`.
    public func checkCheckpoints(now: Date) throws(AuditStoreError) {
        guard let limit = checkpointFailureLimit, let oldest = awaitingReceipt.first, let made = oldestAwaitingMadeAt else { return }
        let age = now.timeIntervalSince(made)
        let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
        if age > seconds {
            let why = lastCheckpointError.map { "; last error: \($0)" } ?? ""
            throw AuditStoreError(.checkpointOverdue,
                                  "checkpoint \(oldest.sequence) has waited \(Int(age)) s for the registry's receipt, more than the \(Int(seconds)) s allowed\(why)")
        }
    }

    /// The current tree head: every durable record, in order.
    public func treeHead() -> TreeHead { tree.treeHead }

    /// The last checkpoint made, if any.
    public var lastCheckpoint: AuditCheckpoint? { last?.checkpoint }

    /// Makes, signs and durably stores the next checkpoint: the current tree head, the link to the
    /// previous checkpoint, and the usage of the records since. `sign` returns the compact
    /// detached JWS over the checkpoint's ``AuditCheckpoint/digest``. The checkpoint then awaits
    /// the registry's receipt.
    ///
    /// - Throws: ``AuditStoreError`` if signing or storing fails (nothing changes then).
    ///
    /// `misreportUsage` exists only for tests of the registry's compliance view: it replaces the
    /// usage counters the checkpoint reports (a server that under-reports), which `lienthong
    /// audit verify` then flags against the records. Production code never passes it.
    public func makeCheckpoint(server: String, node: String, at now: Date,
                               misreportUsage: (@Sendable ([UsageCounter]) -> [UsageCounter])? = nil,
                               sign: @Sendable (AuditCheckpoint) throws -> String) async throws(AuditStoreError) -> StoredCheckpoint {
        guard !checkpointing else { throw AuditStoreError(.sequenceConflict, "a checkpoint is already being made") }
        checkpointing = true
        defer { checkpointing = false }

        let snapshot = tree
        let head = snapshot.treeHead
        let previous = last?.checkpoint
        let previousSize = previous?.tree.treeSize ?? 0
        let count = Int(head.treeSize - previousSize)
        let proof = try consistencyProof(to: head.treeSize)
        guard let end = AuditTimestamp(now) else { throw AuditStoreError(.invalidRecord, "the clock reads an impossible time") }
        let start = min(previous?.windowEnd ?? openedAt, end)
        // Counted as the registry and `lienthong audit verify` expect: names of other members
        // that refused requests claimed are folded out of the key, windows clamped (UsageAttribution).
        var attribution = UsageAttribution(server: server, windowStart: start, windowEnd: end)
        var tally: [UsageCounter.Key: UsageCounter] = [:]
        for (recorded, duration) in windowUsage.prefix(count) {
            let key = attribution.attribute(recorded)
            tally[key, default: UsageCounter(key: key)].add(durationMilliseconds: duration)
        }
        let checkpoint = AuditCheckpoint(
            server: server, node: node, sequence: (previous?.sequence).map { $0 + 1 } ?? 0, tree: head,
            previous: previous?.tree, consistencyProof: proof, windowStart: start, windowEnd: end,
            usage: misreportUsage.map { $0(Array(tally.values)) } ?? Array(tally.values))
        let signature: String
        do { signature = try sign(checkpoint) } catch {
            throw AuditStoreError(.invalidRecord, "checkpoint \(checkpoint.sequence) cannot be signed: \(error)")
        }
        let stored = StoredCheckpoint(sequence: checkpoint.sequence, treeSize: head.treeSize,
                                      body: checkpoint.canonicalBytes, signature: signature)
        try await writer.store.appendCheckpoint(stored)

        // Records appended while the checkpoint was being stored stay in the window.
        let frontier = Self.frontier(snapshot, ranges: MerkleTreeBuilder.frontierRanges(size: head.treeSize))
        windowHashes.removeFirst(count)
        windowUsage.removeFirst(count)
        last = (checkpoint, frontier)
        awaitingReceipt.append(stored)
        return stored
    }

    /// Stores the registry's receipt for checkpoint `sequence` (the caller has verified it).
    public func attachReceipt(checkpoint sequence: UInt64, receipt: [UInt8], signature: String) async throws(AuditStoreError) {
        try await writer.store.attachReceipt(checkpoint: sequence, receipt: receipt, signature: signature)
        awaitingReceipt.removeAll { $0.sequence == sequence }
        lastReceiptAt = Date()
        lastCheckpointError = nil
    }

    /// Notes why submitting a checkpoint failed (for ``checkWritable()``'s message and health).
    public func noteCheckpointFailure(_ message: String) {
        lastCheckpointError = message
    }

    // MARK: Tree bookkeeping

    /// Commits can finish in any order; the tree takes leaves strictly in sequence.
    private func add(_ hash: MerkleHash, key: UsageCounter.Key, duration: Int64, at sequence: UInt64) {
        early[sequence] = (hash, key, duration)
        while let next = early.removeValue(forKey: tree.size) {
            tree.append(leafHash: next.hash)
            windowHashes.append(next.hash)
            windowUsage.append((next.key, next.duration))
        }
    }

    /// The consistency proof from the last checkpoint's tree to the first `size` leaves. Its
    /// subtrees are frontier subtrees of the old tree or lie wholly in the window (RFC 6962 §2.1.2).
    private func consistencyProof(to size: UInt64) throws(AuditStoreError) -> [MerkleHash] {
        guard let previous = last?.checkpoint, previous.tree.treeSize > 0, previous.tree.treeSize < size else { return [] }
        let previousSize = previous.tree.treeSize
        do {
            return try MerkleProofs.consistencyProof(oldSize: previousSize, newSize: size) { range throws(AuditStoreError) in
                try subtreeHash(range, previousSize: previousSize)
            }.path
        } catch {
            throw AuditStoreError(.corrupt, "cannot prove consistency with checkpoint \(previous.sequence): \(error)")
        }
    }

    /// The root of leaves `range`: a frontier subtree of the last checkpoint, or wholly in the window.
    private func subtreeHash(_ range: Range<UInt64>, previousSize: UInt64) throws(AuditStoreError) -> MerkleHash {
        if let hash = last?.frontier[range] { return hash }
        guard range.lowerBound >= previousSize, range.upperBound - previousSize <= UInt64(windowHashes.count) else {
            throw AuditStoreError(.corrupt, "subtree \(range) is neither a checkpoint frontier nor in the window")
        }
        let lower = Int(range.lowerBound - previousSize), upper = Int(range.upperBound - previousSize)
        return MerkleTreeBuilder(leafHashes: windowHashes[lower..<upper]).rootHash()
    }

    private static func frontier(_ tree: MerkleTreeBuilder, ranges: [Range<UInt64>]) -> [Range<UInt64>: MerkleHash] {
        Dictionary(uniqueKeysWithValues: zip(ranges, tree.frontier))
    }

    private static func root(_ frontier: [Range<UInt64>: MerkleHash], ranges: [Range<UInt64>]) -> MerkleHash? {
        let hashes = ranges.compactMap { frontier[$0] }
        guard hashes.count == ranges.count, var root = hashes.last else { return nil }
        for left in hashes.dropLast().reversed() { root = .node(left, root) }
        return root
    }
}
