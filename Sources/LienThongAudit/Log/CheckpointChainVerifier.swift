import Foundation
import LienThongCore
import LienThongTrust
import X509

/// Checks a log's checkpoints while ``AuditLogVerifier`` walks its leaves: every checkpoint's
/// signature (and, given trust anchors, its signer: an approved CA's member certificate of the
/// server's owner), every registry receipt (its signature, signer and that it covers exactly that
/// checkpoint), the chain of checkpoints (numbers without gaps, each linked to the previous tree
/// head by a valid consistency proof), and against the leaves: each checkpoint's root is the root
/// of the first `tree_size` leaves and its usage counters are the count of the records in its
/// window. A log cut short below a checkpoint's tree size is reported as truncated.
public struct CheckpointChainVerifier: Sendable {
    /// One checkpoint, verified on its own.
    struct Entry: Sendable {
        var stored: StoredCheckpoint
        var checkpoint: AuditCheckpoint
        var receipt: CheckpointReceipt?
    }

    private let entries: [Entry]
    private var next = 0
    private var tally: [UsageCounter.Key: UsageCounter] = [:]
    /// The attribution rule of the checkpoint being counted.
    private var attribution: UsageAttribution?

    /// The number of checkpoints, and how many carry a registry receipt.
    public var checkpointCount: Int { entries.count }
    /// The number of checkpoints with a verified registry receipt.
    public var receiptCount: Int { entries.filter { $0.receipt != nil }.count }
    /// The last checkpoint, if any.
    public var lastCheckpoint: AuditCheckpoint? { entries.last?.checkpoint }

    /// Verifies `checkpoints` (in order) on their own: format, signatures, signers and chain.
    ///
    /// - Parameter anchors: the instance's root CA certificates; `nil` checks signatures only
    ///   against the certificates they embed.
    /// - Throws: ``AuditVerificationFailure`` naming the first bad checkpoint.
    public init(checkpoints: [StoredCheckpoint], anchors: [Certificate]?) async throws(AuditVerificationFailure) {
        var entries: [Entry] = []
        for (index, stored) in checkpoints.enumerated() {
            func fail(_ reason: String) -> AuditVerificationFailure {
                AuditVerificationFailure(sequence: nil, reason: "checkpoint \(stored.sequence): \(reason)")
            }
            guard stored.sequence == UInt64(index) else {
                throw AuditVerificationFailure(sequence: nil, reason: "checkpoint \(index) is missing (the next stored is \(stored.sequence))")
            }
            let checkpoint: AuditCheckpoint
            do { checkpoint = try AuditCheckpoint(canonicalBytes: stored.body) } catch {
                throw fail("not a valid canonical checkpoint: \(error)")
            }
            guard checkpoint.sequence == stored.sequence, checkpoint.tree.treeSize == stored.treeSize else {
                throw fail("its body names checkpoint \(checkpoint.sequence) of \(checkpoint.tree.treeSize) records")
            }
            let jws: DetachedJWS
            do { jws = try CanonicalSignature.verify(stored.signature, over: stored.body, what: "the checkpoint") } catch {
                throw fail("\(error.message) (the checkpoint or its signature was changed)")
            }
            if let anchors {
                do {
                    let server = try SecurityServerId(parsing: checkpoint.server)
                    let signer = try await CertificateValidator(trustAnchors: anchors, revocation: nil)
                        .validate(chain: jws.certificateChain, role: .member, at: checkpoint.windowEnd.date)
                    guard signer.holderId == server.owner.canonical else {
                        throw fail("signed by \(signer.holderId), not by the owner of \(checkpoint.server)")
                    }
                } catch let failure as AuditVerificationFailure {
                    throw failure
                } catch {
                    throw fail("its signer is not trusted: \(error)")
                }
            }
            if let previous = entries.last?.checkpoint {
                guard checkpoint.server == previous.server, checkpoint.node == previous.node else {
                    throw fail("it is for \(checkpoint.server) node \(checkpoint.node), the log's previous checkpoints for \(previous.server) node \(previous.node)")
                }
                guard checkpoint.previous == previous.tree else { throw fail("it does not link to checkpoint \(previous.sequence)'s tree head") }
                do { try checkpoint.verifyConsistency(from: previous.tree) } catch { throw fail(error.message) }
                guard previous.windowEnd <= checkpoint.windowStart else { throw fail("its window starts before checkpoint \(previous.sequence)'s ends") }
            }
            var receipt: CheckpointReceipt?
            if let bytes = stored.receipt {
                guard let signature = stored.receiptSignature else { throw fail("its registry receipt has no signature") }
                do { receipt = try CheckpointReceipt(canonicalBytes: bytes) } catch { throw fail("its registry receipt is damaged: \(error)") }
                guard let receipt, receipt.covers(body: stored.body, signature: stored.signature),
                      receipt.sequence == checkpoint.sequence, receipt.tree == checkpoint.tree else {
                    throw fail("its registry receipt is for another checkpoint (the checkpoint, its signature or the receipt was changed)")
                }
                let receiptJWS: DetachedJWS
                do { receiptJWS = try CanonicalSignature.verify(signature, over: bytes, what: "the registry receipt") } catch {
                    throw fail(error.message)
                }
                if let anchors {
                    do {
                        _ = try await CertificateValidator(trustAnchors: anchors, revocation: nil)
                            .validate(chain: receiptJWS.certificateChain, role: .configurationSigning, at: receipt.receivedAt.date)
                    } catch {
                        throw fail("its receipt is not signed by the registry: \(error)")
                    }
                }
            }
            entries.append(Entry(stored: stored, checkpoint: checkpoint, receipt: receipt))
        }
        self.entries = entries
    }

    /// The tree sizes at which ``observe(treeSize:root:)`` must be told the root.
    public func wantsRoot(atTreeSize size: UInt64) -> Bool {
        next < entries.count && entries[next].checkpoint.tree.treeSize == size
    }

    /// Counts one record into the current window (call for every leaf, in order, before
    /// ``observe(treeSize:root:)`` for the tree that includes it).
    ///
    /// The key is attributed as the server did when it made the checkpoint
    /// (``UsageAttribution``: other members' names folded out, the window clamped).
    public mutating func count(_ key: UsageCounter.Key, durationMilliseconds: Int64) {
        guard next < entries.count else { return }
        if attribution == nil {
            let checkpoint = entries[next].checkpoint
            attribution = UsageAttribution(server: checkpoint.server, windowStart: checkpoint.windowStart, windowEnd: checkpoint.windowEnd)
        }
        let attributed = attribution?.attribute(key) ?? key
        tally[attributed, default: UsageCounter(key: attributed)].add(durationMilliseconds: durationMilliseconds)
    }

    /// Checks every checkpoint whose tree size is `treeSize` against the root of the first
    /// `treeSize` leaves and the records counted since the previous one.
    ///
    /// - Throws: ``AuditVerificationFailure`` naming the checkpoint and the records it covers.
    public mutating func observe(treeSize: UInt64, root: MerkleHash) throws(AuditVerificationFailure) {
        while next < entries.count, entries[next].checkpoint.tree.treeSize == treeSize {
            let checkpoint = entries[next].checkpoint
            let first = checkpoint.previous?.treeSize ?? 0
            guard checkpoint.tree.rootHash == root else {
                throw AuditVerificationFailure(
                    sequence: nil,
                    reason: "checkpoint \(checkpoint.sequence): the records 0..<\(treeSize) do not hash to its signed root; a record in \(first)..<\(treeSize) was rewritten, removed or added since it was signed")
            }
            let counted = tally.values.sorted { $0.key < $1.key }
            guard counted == checkpoint.usage else {
                throw AuditVerificationFailure(
                    sequence: nil,
                    reason: "checkpoint \(checkpoint.sequence): its usage counters do not match the records \(first)..<\(treeSize)")
            }
            tally = [:]
            attribution = nil
            next += 1
        }
    }

    /// Checks that no checkpoint covers more records than the log holds.
    ///
    /// - Throws: ``AuditVerificationFailure`` if the log was truncated below a checkpoint.
    public func finish(logSize: UInt64) throws(AuditVerificationFailure) {
        guard next < entries.count else { return }
        let checkpoint = entries[next].checkpoint
        if checkpoint.tree.treeSize > logSize {
            throw AuditVerificationFailure(
                sequence: logSize,
                reason: "missing: checkpoint \(checkpoint.sequence) covers \(checkpoint.tree.treeSize) records but the log ends after \(logSize) (truncated)")
        }
        throw AuditVerificationFailure(sequence: nil, reason: "checkpoint \(checkpoint.sequence) was never reached")
    }
}
