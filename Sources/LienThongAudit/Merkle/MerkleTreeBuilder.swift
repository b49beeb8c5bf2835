/// An append-only Merkle tree that keeps only its *frontier* (a compact range over
/// `0..<size`): the roots of the maximal perfect subtrees the leaves fall into, one per set
/// bit of `size`, largest first. Memory is O(log n); an append costs amortised O(1) node
/// hashes, the root O(log n).
///
/// This is what an append-only log keeps in memory to produce its signed tree heads; it
/// cannot produce proofs (for that see ``InMemoryMerkleTree`` or ``MerkleProofs``).
/// The root equals RFC 6962's MTH of all leaves appended.
public struct MerkleTreeBuilder: Sendable, Hashable {
    /// The number of leaves appended.
    public private(set) var size: UInt64

    /// The frontier: the roots of the perfect subtrees covering `0..<size`, left to right
    /// (largest first). Save it with ``size`` to resume with ``init(size:frontier:)``.
    public private(set) var frontier: [MerkleHash]

    /// An empty tree.
    public init() {
        size = 0
        frontier = []
        frontier.reserveCapacity(64)
    }

    /// A tree holding `leafHashes`, in order.
    public init(leafHashes: some Sequence<MerkleHash>) {
        self.init()
        for leafHash in leafHashes { append(leafHash: leafHash) }
    }

    /// Resumes a tree from a saved ``size`` and ``frontier``.
    ///
    /// - Throws: ``MerkleFrontierError/wrongHashCount(size:expected:actual:)`` unless the
    ///   frontier has one hash per set bit of `size`.
    public init(size: UInt64, frontier: [MerkleHash]) throws(MerkleFrontierError) {
        guard frontier.count == size.nonzeroBitCount else {
            throw .wrongHashCount(size: size, expected: size.nonzeroBitCount, actual: frontier.count)
        }
        self.size = size
        self.frontier = frontier
    }

    /// Appends a leaf, given its leaf hash (``MerkleHash/leaf(_:)``).
    public mutating func append(leafHash: MerkleHash) {
        var hash = leafHash
        var carry = size
        // Every trailing one bit of `size` is a perfect subtree of the same height as `hash`
        // (after merging): fold them, like a binary increment.
        while carry & 1 == 1, let left = frontier.popLast() {
            hash = .node(left, hash)
            carry >>= 1
        }
        frontier.append(hash)
        size += 1
    }

    /// The tree's root, RFC 6962's MTH of all leaves (``MerkleHash/empty`` for no leaves).
    public func rootHash() -> MerkleHash {
        guard var root = frontier.last else { return .empty }
        // The right edge of MTH's split: the smaller subtrees hang off the right, so fold
        // right to left.
        for left in frontier.dropLast().reversed() {
            root = .node(left, root)
        }
        return root
    }

    /// The current tree head (size and root), ready to be signed.
    public var treeHead: TreeHead { TreeHead(treeSize: size, rootHash: rootHash()) }

    /// The leaf ranges of the frontier's subtrees for a tree of `size` leaves, left to right
    /// (largest first): one per set bit of `size`.
    public static func frontierRanges(size: UInt64) -> [Range<UInt64>] {
        var ranges: [Range<UInt64>] = []
        var start: UInt64 = 0
        var bit = UInt64(1) << 63
        while bit > 0 {
            if size & bit != 0 {
                ranges.append(start..<(start + bit))
                start += bit
            }
            bit >>= 1
        }
        return ranges
    }
}
