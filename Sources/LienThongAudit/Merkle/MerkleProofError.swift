/// Why a Merkle proof could not be generated or did not verify.
///
/// Verification reports the first check that fails, in this order: the sizes/index (before any
/// hashing), the proof length (each valid size pair has exactly one proof length), then the
/// recomputed root(s).
public enum MerkleProofError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The leaf index is not inside the tree: `index >= treeSize`.
    case indexOutOfRange(index: UInt64, treeSize: UInt64)
    /// A consistency proof was asked for or checked with `oldSize > newSize`.
    case invalidSizes(oldSize: UInt64, newSize: UInt64)
    /// A proof or a root was asked for a tree larger than the leaves available.
    case treeSizeBeyondLog(treeSize: UInt64, available: UInt64)
    /// A subtree hash was asked for an empty range or one outside the leaves available.
    case invalidRange(lowerBound: UInt64, upperBound: UInt64, available: UInt64)
    /// The proof has the wrong number of hashes for its index and size(s).
    case wrongProofLength(expected: Int, actual: Int)
    /// The root recomputed from the proof differs from the expected (newer) root.
    case rootMismatch(expected: MerkleHash, computed: MerkleHash)
    /// The older root recomputed from a consistency proof differs from the expected older root.
    case oldRootMismatch(expected: MerkleHash, computed: MerkleHash)
    /// A proof is for a different tree size than the tree head it is checked against.
    case proofSizeMismatch(proof: UInt64, treeHead: UInt64)

    /// A one-line English explanation.
    public var description: String {
        switch self {
        case .indexOutOfRange(let index, let treeSize):
            "leaf index \(index) is outside a tree of size \(treeSize)"
        case .invalidSizes(let oldSize, let newSize):
            "old tree size \(oldSize) is larger than new tree size \(newSize)"
        case .treeSizeBeyondLog(let treeSize, let available):
            "tree size \(treeSize) exceeds the \(available) leaves available"
        case .invalidRange(let lowerBound, let upperBound, let available):
            "leaf range \(lowerBound)..<\(upperBound) is empty or outside the \(available) leaves available"
        case .wrongProofLength(let expected, let actual):
            "proof has \(actual) hashes, expected \(expected)"
        case .rootMismatch(let expected, let computed):
            "proof leads to root \(computed.hex), expected \(expected.hex)"
        case .oldRootMismatch(let expected, let computed):
            "proof leads to old root \(computed.hex), expected \(expected.hex)"
        case .proofSizeMismatch(let proof, let treeHead):
            "proof is for tree size \(proof), the tree head has size \(treeHead)"
        }
    }
}

/// Why a ``MerkleTreeBuilder`` could not be restored from a saved frontier.
public enum MerkleFrontierError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A tree of `size` leaves has exactly one frontier hash per set bit of `size`.
    case wrongHashCount(size: UInt64, expected: Int, actual: Int)

    /// A one-line English explanation.
    public var description: String {
        switch self {
        case .wrongHashCount(let size, let expected, let actual):
            "a frontier of a tree of size \(size) has \(expected) hashes, got \(actual)"
        }
    }
}
