import Crypto
import Foundation

/// One leaf of a security server's audit log as stored: its position and the exact bytes that
/// were hashed into the Merkle tree.
public struct StoredLeaf: Sendable, Hashable {
    /// Position in the log, from 0, without gaps.
    public var sequence: UInt64
    /// The canonical record bytes.
    public var bytes: [UInt8]
    /// SHA-256(0x00 ‖ bytes), the RFC 6962 leaf hash.
    public var leafHash: [UInt8]

    /// A leaf for `bytes` at `sequence`, with its hash computed.
    public init(sequence: UInt64, bytes: [UInt8]) {
        self.sequence = sequence
        self.bytes = bytes
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: bytes)
        self.leafHash = Array(hasher.finalize())
    }

    /// A leaf as read back from a store (the hash is checked by ``isConsistent``, not trusted).
    public init(sequence: UInt64, bytes: [UInt8], leafHash: [UInt8]) {
        self.sequence = sequence
        self.bytes = bytes
        self.leafHash = leafHash
    }

    /// Whether the stored hash is the hash of the stored bytes.
    public var isConsistent: Bool { StoredLeaf(sequence: sequence, bytes: bytes).leafHash == leafHash }
}

/// Why an audit store operation failed. Every failure refuses the exchange it was for.
public struct AuditStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable, Hashable {
        /// The store cannot be reached or written: disk full, database down, permissions.
        case unavailable
        /// The leaves do not continue the log (a sequence gap or overlap).
        case sequenceConflict
        /// The record could not be built.
        case invalidRecord
        /// Something read back is not what was written.
        case corrupt
        /// Checkpoints have gone without the registry's receipt for longer than allowed.
        case checkpointOverdue
    }

    /// The code.
    public var code: Code
    /// A sentence for the operator.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}

/// A checkpoint as a log keeps it beside its leaves: the signed tree head and usage counters the
/// server posted to the registry (``AuditCheckpoint``), and the registry's countersigned receipt
/// once it has one.
public struct StoredCheckpoint: Sendable, Hashable {
    /// The checkpoint's number in this log, from 0, without gaps.
    public var sequence: UInt64
    /// The number of leaves the checkpoint covers (its tree head's size).
    public var treeSize: UInt64
    /// The canonical checkpoint JSON, as signed.
    public var body: [UInt8]
    /// The server's detached JWS (compact form) over SHA-256 of ``body``.
    public var signature: String
    /// The registry's canonical receipt JSON, once the registry has countersigned.
    public var receipt: [UInt8]?
    /// The registry's detached JWS (compact form) over SHA-256 of ``receipt``.
    public var receiptSignature: String?

    /// Creates a stored checkpoint.
    public init(sequence: UInt64, treeSize: UInt64, body: [UInt8], signature: String,
                receipt: [UInt8]? = nil, receiptSignature: String? = nil) {
        self.sequence = sequence
        self.treeSize = treeSize
        self.body = body
        self.signature = signature
        self.receipt = receipt
        self.receiptSignature = receiptSignature
    }
}

/// An archive of old records as a log keeps track of it: leaves `firstSequence..<endSequence`
/// moved to a signed, compressed file; the leaf hashes stay in the store so the tree, and proofs
/// for the archived records, can still be computed.
public struct StoredArchive: Sendable, Hashable {
    /// The archive's number in this log, from 0, without gaps.
    public var sequence: UInt64
    /// The first leaf in the archive.
    public var firstSequence: UInt64
    /// One past the last leaf in the archive.
    public var endSequence: UInt64
    /// The canonical archive manifest JSON, as signed.
    public var manifest: [UInt8]
    /// The server's detached JWS (compact form) over SHA-256 of ``manifest``.
    public var signature: String

    /// Creates a stored archive entry.
    public init(sequence: UInt64, firstSequence: UInt64, endSequence: UInt64, manifest: [UInt8], signature: String) {
        self.sequence = sequence
        self.firstSequence = firstSequence
        self.endSequence = endSequence
        self.manifest = manifest
        self.signature = signature
    }
}

/// Where one log partition (one security-server node) keeps its leaves, checkpoints and archive
/// entries. Implementations commit every write durably (on stable storage) before returning, all
/// of it or none. Nothing is ever updated or deleted, with two exceptions: a checkpoint gains its
/// receipt once, and an archived leaf loses its record bytes (never its hash) in the same
/// transaction that records the archive.
public protocol AuditLeafStore: Sendable {
    /// The number of leaves stored, archived ones included: the next sequence number.
    func count() async throws(AuditStoreError) -> UInt64
    /// Appends leaves whose sequences continue the log (`leaves[0].sequence == count()`, then +1
    /// each), in one durable transaction.
    func append(_ leaves: [StoredLeaf]) async throws(AuditStoreError)
    /// The leaves in `range`, in order, skipping archived ones (whose bytes are in archive files).
    func leaves(_ range: Range<UInt64>) async throws(AuditStoreError) -> [StoredLeaf]
    /// The stored leaf hashes in `range`, in order, archived leaves included.
    func leafHashes(_ range: Range<UInt64>) async throws(AuditStoreError) -> [[UInt8]]

    /// Appends a checkpoint; its sequence must be the next one (0 for the first) and its tree size
    /// at least the previous checkpoint's and at most ``count()``.
    func appendCheckpoint(_ checkpoint: StoredCheckpoint) async throws(AuditStoreError)
    /// Stores the registry's receipt for checkpoint `sequence`; fails if it already has one or
    /// does not exist.
    func attachReceipt(checkpoint sequence: UInt64, receipt: [UInt8], signature: String) async throws(AuditStoreError)
    /// The checkpoints from number `sequence` on, in order.
    func checkpoints(from sequence: UInt64) async throws(AuditStoreError) -> [StoredCheckpoint]
    /// The last checkpoint, if any (a default reads them all; stores answer from an index).
    func latestCheckpoint() async throws(AuditStoreError) -> StoredCheckpoint?
    /// The checkpoints that have no receipt yet, oldest first (a default reads them all).
    func checkpointsAwaitingReceipt() async throws(AuditStoreError) -> [StoredCheckpoint]

    /// Records `archive` and drops the record bytes of its leaves, in one transaction. Its
    /// sequence must be the next archive number and its leaves must start where the previous
    /// archive ended (0 for the first) and be stored.
    func appendArchive(_ archive: StoredArchive) async throws(AuditStoreError)
    /// Every archive entry, in order.
    func archives() async throws(AuditStoreError) -> [StoredArchive]
}

extension AuditLeafStore {
    /// The last checkpoint, if any, by reading them all.
    public func latestCheckpoint() async throws(AuditStoreError) -> StoredCheckpoint? {
        try await checkpoints(from: 0).last
    }

    /// The checkpoints that have no receipt yet, oldest first, by reading them all.
    public func checkpointsAwaitingReceipt() async throws(AuditStoreError) -> [StoredCheckpoint] {
        try await checkpoints(from: 0).filter { $0.receipt == nil }
    }
}
