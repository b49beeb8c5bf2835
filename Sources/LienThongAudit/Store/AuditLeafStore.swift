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

/// Where one log partition (one security-server node) keeps its leaves. Implementations commit
/// ``append(_:)`` durably (on stable storage) before returning, all leaves or none.
public protocol AuditLeafStore: Sendable {
    /// The number of leaves stored: the next sequence number.
    func count() async throws(AuditStoreError) -> UInt64
    /// Appends leaves whose sequences continue the log (`leaves[0].sequence == count()`, then +1
    /// each), in one durable transaction.
    func append(_ leaves: [StoredLeaf]) async throws(AuditStoreError)
    /// The leaves in `range`, in order.
    func leaves(_ range: Range<UInt64>) async throws(AuditStoreError) -> [StoredLeaf]
}
