/// An append-only Merkle tree held in memory with every complete perfect subtree cached,
/// level by level. Any historical root, audit path or consistency proof then costs O(log n)
/// cache reads and node hashes, because the ranges RFC 6962 recurses into are always aligned
/// (they start at a multiple of their largest power-of-two part). An arbitrary unaligned
/// ``subtreeHash(_:)`` range is still correct but may hash up to O(range length) nodes.
///
/// Memory: the leaf hashes plus about as many interior hashes (≈ 64 bytes per leaf).
/// It is the reference subtree-hash source for ``MerkleProofs``; a persistent log serves the
/// same ranges from its store.
public struct InMemoryMerkleTree: Sendable {
    /// `levels[h][i]` is the root of the perfect subtree over leaves `i·2ʰ ..< (i+1)·2ʰ`;
    /// `levels[0]` are the leaf hashes. Only complete subtrees are present.
    private var levels: [[MerkleHash]]

    /// An empty tree.
    public init() { levels = [[]] }

    /// A tree holding `leafHashes`, in order.
    public init(leafHashes: some Sequence<MerkleHash>) {
        self.init()
        for leafHash in leafHashes { append(leafHash: leafHash) }
    }

    /// The number of leaves.
    public var size: UInt64 { UInt64(levels[0].count) }

    /// The leaf hashes, in order.
    public var leafHashes: [MerkleHash] { levels[0] }

    /// Appends a leaf, given its leaf hash (``MerkleHash/leaf(_:)``).
    public mutating func append(leafHash: MerkleHash) {
        levels[0].append(leafHash)
        var height = 0
        // Each time a level gets an even count, its last two nodes complete a parent.
        while levels[height].count % 2 == 0 {
            let count = levels[height].count
            let parent = MerkleHash.node(levels[height][count - 2], levels[height][count - 1])
            if levels.count == height + 1 { levels.append([]) }
            levels[height + 1].append(parent)
            height += 1
        }
    }

    /// The hash of leaf `index`.
    ///
    /// - Throws: ``MerkleProofError/indexOutOfRange(index:treeSize:)``.
    public func leafHash(at index: UInt64) throws(MerkleProofError) -> MerkleHash {
        guard index < size else { throw .indexOutOfRange(index: index, treeSize: size) }
        return levels[0][Int(truncatingIfNeeded: index)]
    }

    /// The current root (MTH of all leaves).
    public func rootHash() -> MerkleHash {
        size == 0 ? .empty : hash(0, size)
    }

    /// The root of the tree of the first `treeSize` leaves (a past tree head).
    ///
    /// - Throws: ``MerkleProofError/treeSizeBeyondLog(treeSize:available:)``.
    public func rootHash(treeSize: UInt64) throws(MerkleProofError) -> MerkleHash {
        guard treeSize <= size else { throw .treeSizeBeyondLog(treeSize: treeSize, available: size) }
        return treeSize == 0 ? .empty : hash(0, treeSize)
    }

    /// The current tree head (size and root), ready to be signed.
    public var treeHead: TreeHead { TreeHead(treeSize: size, rootHash: rootHash()) }

    /// MTH of the leaves in `range` (RFC 6962's MTH(D[lower:upper])).
    ///
    /// - Throws: ``MerkleProofError/invalidRange(lowerBound:upperBound:available:)`` for an
    ///   empty range or one reaching past the leaves.
    public func subtreeHash(_ range: Range<UInt64>) throws(MerkleProofError) -> MerkleHash {
        guard !range.isEmpty, range.upperBound <= size else {
            throw .invalidRange(lowerBound: range.lowerBound, upperBound: range.upperBound, available: size)
        }
        return hash(range.lowerBound, range.upperBound)
    }

    /// The inclusion proof of leaf `index` in the tree of the first `treeSize` leaves.
    ///
    /// - Throws: ``MerkleProofError/treeSizeBeyondLog(treeSize:available:)``,
    ///   ``MerkleProofError/indexOutOfRange(index:treeSize:)``.
    public func inclusionProof(index: UInt64, treeSize: UInt64) throws(MerkleProofError) -> MerkleInclusionProof {
        guard treeSize <= size else { throw .treeSizeBeyondLog(treeSize: treeSize, available: size) }
        let ranges = try MerkleProofs.inclusionRanges(index: index, treeSize: treeSize)
        return MerkleInclusionProof(
            leafIndex: index, treeSize: treeSize,
            auditPath: ranges.map { hash($0.lowerBound, $0.upperBound) })
    }

    /// The consistency proof between the trees of the first `oldSize` and `newSize` leaves.
    ///
    /// - Throws: ``MerkleProofError/treeSizeBeyondLog(treeSize:available:)``,
    ///   ``MerkleProofError/invalidSizes(oldSize:newSize:)``.
    public func consistencyProof(oldSize: UInt64, newSize: UInt64) throws(MerkleProofError) -> MerkleConsistencyProof {
        guard newSize <= size else { throw .treeSizeBeyondLog(treeSize: newSize, available: size) }
        let ranges = try MerkleProofs.consistencyRanges(oldSize: oldSize, newSize: newSize)
        return MerkleConsistencyProof(
            firstSize: oldSize, secondSize: newSize,
            path: ranges.map { hash($0.lowerBound, $0.upperBound) })
    }

    /// MTH(D[lower:upper]) for `lower < upper <= size`: a cache hit for an aligned perfect
    /// subtree, otherwise RFC 6962's split (aligned ranges reach cache hits in O(log n) steps).
    private func hash(_ lower: UInt64, _ upper: UInt64) -> MerkleHash {
        let count = upper - lower
        if count & (count - 1) == 0 {
            let height = count.trailingZeroBitCount
            if lower & (count - 1) == 0 {
                return levels[height][Int(truncatingIfNeeded: lower >> UInt64(height))]
            }
        }
        let split = lower + MerkleProofs.largestPowerOfTwo(below: count)
        return .node(hash(lower, split), hash(split, upper))
    }
}
