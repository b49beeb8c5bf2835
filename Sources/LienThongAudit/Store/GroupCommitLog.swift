import Foundation

/// Appends leaves to an ``AuditLeafStore`` with group commit: records that arrive while a commit
/// is running wait for the next one and share it, so one transaction (one fsync) carries many
/// records and throughput grows with concurrency, while each caller still returns only once its
/// own record is durable.
///
/// The first caller with nothing in flight becomes the *leader*: it commits everything pending
/// (its own record included) and, when the commit returns, hands leadership to the next waiting
/// caller, if any. No background task is involved.
///
/// If a commit fails, every record of that commit and every record queued behind it fails with
/// the store's error (their exchanges are refused) and the next sequence number goes back to the
/// first one that failed, so the log never has a gap.
public actor GroupCommitLog {
    private enum Outcome: Sendable {
        case done(Result<StoredLeaf, AuditStoreError>)
        case lead
    }

    private struct Waiter {
        var leaf: StoredLeaf
        var continuation: CheckedContinuation<Outcome, Never>?
    }

    /// The store written to.
    public let store: any AuditLeafStore
    private var nextSequence: UInt64
    private var pending: [Waiter] = []
    private var committing = false

    /// Commits made, and records written, since start (for benchmarks and tests).
    public private(set) var commits = 0
    /// Records written since start.
    public private(set) var recordsWritten = 0
    /// The last commit failure and when it happened; cleared by the next successful commit.
    public private(set) var lastFailure: (error: AuditStoreError, at: ContinuousClock.Instant)?

    /// Opens the log on `store`, continuing after its last leaf.
    public init(store: any AuditLeafStore) async throws(AuditStoreError) {
        self.store = store
        self.nextSequence = try await store.count()
    }

    /// The sequence the next record will get.
    public var size: UInt64 { nextSequence }

    /// Appends the record that `build` makes for the sequence number it is given, and returns once
    /// it is durable.
    /// - Throws: ``AuditStoreError`` if the record cannot be built or committed.
    public func append(_ build: (UInt64) throws -> [UInt8]) async throws(AuditStoreError) -> StoredLeaf {
        let sequence = nextSequence
        let bytes: [UInt8]
        do { bytes = try build(sequence) } catch {
            throw AuditStoreError(.invalidRecord, "the record for sequence \(sequence) cannot be built: \(error)")
        }
        nextSequence += 1
        let leaf = StoredLeaf(sequence: sequence, bytes: bytes)
        if committing {
            let outcome = await withCheckedContinuation { continuation in
                pending.append(Waiter(leaf: leaf, continuation: continuation))
            }
            switch outcome {
            case .done(let result): return try result.get()
            case .lead: break   // our leaf is still pending; commit it and whatever joined
            }
        } else {
            committing = true
            pending.append(Waiter(leaf: leaf, continuation: nil))
        }
        return try await commitPending(own: leaf)
    }

    /// Commits everything pending as one batch; called by the leader, whose own leaf is in it.
    private func commitPending(own: StoredLeaf) async throws(AuditStoreError) -> StoredLeaf {
        let batch = pending
        pending = []
        var failure: AuditStoreError?
        // The batch carries other callers' records: it must not fail because the leader's own
        // task was cancelled (a client that hung up), so the commit runs in a task of its own
        // that the leader only awaits.
        let store = self.store, leaves = batch.map(\.leaf)
        let outcome = await Task { () async -> AuditStoreError? in
            do throws(AuditStoreError) { try await store.append(leaves) } catch { return error }
            return nil
        }.value
        if let outcome {
            failure = outcome
        } else {
            commits += 1
            recordsWritten += batch.count
            lastFailure = nil
        }
        if let failure {
            lastFailure = (failure, ContinuousClock.now)
            // Nothing of this batch is stored; whatever queued behind it has later sequences and
            // must not be written either, or the log would have a gap.
            for waiter in batch + pending { waiter.continuation?.resume(returning: .done(.failure(failure))) }
            pending = []
            nextSequence = batch.first?.leaf.sequence ?? nextSequence
            committing = false
            throw failure
        }
        for waiter in batch { waiter.continuation?.resume(returning: .done(.success(waiter.leaf))) }
        if let index = pending.firstIndex(where: { $0.continuation != nil }), let next = pending[index].continuation {
            pending[index].continuation = nil
            next.resume(returning: .lead)
        } else {
            committing = false
        }
        return own
    }
}
