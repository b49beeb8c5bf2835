import Foundation

/// The first thing wrong with an audit log, naming the leaf.
public struct AuditVerificationFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The sequence number of the first bad leaf, if the problem is in one.
    public var sequence: UInt64?
    /// What is wrong.
    public var reason: String

    /// Creates a failure.
    public init(sequence: UInt64?, reason: String) {
        self.sequence = sequence
        self.reason = reason
    }

    /// `record N: reason`.
    public var description: String { sequence.map { "record \($0): \(reason)" } ?? reason }
}

/// Checks a whole log offline, leaf by leaf, and returns its tree head: every sequence present and
/// in order, every stored hash the hash of its bytes, every record a valid canonical record
/// (re-encoding gives the same bytes) that names its own position.
public enum AuditLogVerifier {
    /// Verifies the log in `store`.
    /// - Throws: ``AuditVerificationFailure`` for the first bad leaf, or ``AuditStoreError`` if the
    ///   store cannot be read.
    public static func verify(_ store: any AuditLeafStore, batch: UInt64 = 10_000) async throws -> TreeHead {
        let count = try await store.count()
        var tree = MerkleTreeBuilder()
        var start: UInt64 = 0
        while start < count {
            let end = min(count, start + batch)
            let leaves = try await store.leaves(start..<end)
            for hash in try await LeafChecker.check(leaves, expectedFirst: tree.size) {
                tree.append(leafHash: hash)
            }
            if tree.size != end {
                throw AuditVerificationFailure(sequence: tree.size, reason: "missing: the log jumps from record \(tree.size) to a later one")
            }
            start = end
        }
        return TreeHead(treeSize: tree.size, rootHash: tree.rootHash())
    }

    static func check(_ leaf: StoredLeaf, expected: UInt64) throws {
        _ = try LeafChecker.check(leaf, expected: expected)
    }
}
