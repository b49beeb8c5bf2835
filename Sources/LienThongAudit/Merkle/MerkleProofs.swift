/// Why a proof could not be generated from a subtree-hash source: either the request itself
/// was invalid, or the source (a store serving subtree hashes) failed.
public enum MerkleProofGenerationError<SourceFailure: Error>: Error {
    /// The index or sizes were invalid (``MerkleProofError/indexOutOfRange(index:treeSize:)``,
    /// ``MerkleProofError/invalidSizes(oldSize:newSize:)``).
    case invalidRequest(MerkleProofError)
    /// The subtree-hash source threw.
    case source(SourceFailure)
}

/// RFC 6962 audit paths and consistency proofs: generation (§2.1.1, §2.1.2) and verification
/// (the iterative verifiers of RFC 9162 §2.1.3.2 and §2.1.4.2).
///
/// Generation is split in two so that a store can serve it: ``inclusionRanges(index:treeSize:)``
/// and ``consistencyRanges(oldSize:newSize:)`` name the leaf ranges whose subtree roots (MTHs)
/// make up the proof, in proof order; the closure-taking variants fetch those roots. Every range
/// in a proof starts at a multiple of the largest power of two not above its length, so a store
/// with a level cache of perfect subtrees serves each in O(log n).
public enum MerkleProofs {
    // MARK: - Generation

    /// The leaf ranges whose MTHs form PATH(index, D[0:treeSize]) (RFC 6962 §2.1.1), in proof
    /// order (the sibling nearest the leaf first).
    ///
    /// - Throws: ``MerkleProofError/indexOutOfRange(index:treeSize:)`` if `index >= treeSize`.
    public static func inclusionRanges(index: UInt64, treeSize: UInt64) throws(MerkleProofError) -> [Range<UInt64>] {
        guard index < treeSize else { throw .indexOutOfRange(index: index, treeSize: treeSize) }
        var ranges: [Range<UInt64>] = []
        var lower: UInt64 = 0
        var upper = treeSize
        while upper - lower > 1 {
            let split = lower + largestPowerOfTwo(below: upper - lower)
            if index < split {
                ranges.append(split..<upper)
                upper = split
            } else {
                ranges.append(lower..<split)
                lower = split
            }
        }
        return ranges.reversed()
    }

    /// The leaf ranges whose MTHs form PROOF(oldSize, D[0:newSize]) (RFC 6962 §2.1.2), in proof
    /// order. Empty when `oldSize` is 0 or equals `newSize`.
    ///
    /// - Throws: ``MerkleProofError/invalidSizes(oldSize:newSize:)`` if `oldSize > newSize`.
    public static func consistencyRanges(oldSize: UInt64, newSize: UInt64) throws(MerkleProofError) -> [Range<UInt64>] {
        guard oldSize <= newSize else { throw .invalidSizes(oldSize: oldSize, newSize: newSize) }
        guard oldSize > 0, oldSize < newSize else { return [] }
        // SUBPROOF(m, D[lower:upper], b), unrolled; `m` is relative to `lower`.
        var ranges: [Range<UInt64>] = []
        var lower: UInt64 = 0
        var upper = newSize
        var m = oldSize
        var isWholeOldTree = true
        while true {
            let count = upper - lower
            if m == count {
                if !isWholeOldTree { ranges.append(lower..<upper) }
                break
            }
            let split = largestPowerOfTwo(below: count)
            if m <= split {
                ranges.append((lower + split)..<upper)
                upper = lower + split
            } else {
                ranges.append(lower..<(lower + split))
                lower += split
                m -= split
                isWholeOldTree = false
            }
        }
        return ranges.reversed()
    }

    /// The inclusion proof of leaf `index` in the tree of the first `treeSize` leaves, fetching
    /// each subtree root from `subtreeHash` (called with non-empty ranges inside `0..<treeSize`).
    public static func inclusionProof<SourceFailure: Error>(
        index: UInt64, treeSize: UInt64,
        subtreeHash: (Range<UInt64>) throws(SourceFailure) -> MerkleHash
    ) throws(MerkleProofGenerationError<SourceFailure>) -> MerkleInclusionProof {
        let ranges: [Range<UInt64>]
        do { ranges = try inclusionRanges(index: index, treeSize: treeSize) } catch { throw .invalidRequest(error) }
        var path: [MerkleHash] = []
        path.reserveCapacity(ranges.count)
        for range in ranges {
            do { path.append(try subtreeHash(range)) } catch { throw .source(error) }
        }
        return MerkleInclusionProof(leafIndex: index, treeSize: treeSize, auditPath: path)
    }

    /// The consistency proof between the trees of the first `oldSize` and `newSize` leaves,
    /// fetching each subtree root from `subtreeHash` (called with non-empty ranges inside
    /// `0..<newSize`).
    public static func consistencyProof<SourceFailure: Error>(
        oldSize: UInt64, newSize: UInt64,
        subtreeHash: (Range<UInt64>) throws(SourceFailure) -> MerkleHash
    ) throws(MerkleProofGenerationError<SourceFailure>) -> MerkleConsistencyProof {
        let ranges: [Range<UInt64>]
        do { ranges = try consistencyRanges(oldSize: oldSize, newSize: newSize) } catch { throw .invalidRequest(error) }
        var path: [MerkleHash] = []
        path.reserveCapacity(ranges.count)
        for range in ranges {
            do { path.append(try subtreeHash(range)) } catch { throw .source(error) }
        }
        return MerkleConsistencyProof(firstSize: oldSize, secondSize: newSize, path: path)
    }

    /// The inclusion proof of leaf `index` in the tree of the first `treeSize` of `leafHashes`,
    /// hashing from scratch (O(treeSize)); for repeated proofs use ``InMemoryMerkleTree``.
    ///
    /// - Throws: ``MerkleProofError/treeSizeBeyondLog(treeSize:available:)``,
    ///   ``MerkleProofError/indexOutOfRange(index:treeSize:)``.
    public static func inclusionProof(
        index: UInt64, treeSize: UInt64, leafHashes: [MerkleHash]
    ) throws(MerkleProofError) -> MerkleInclusionProof {
        try checkAvailable(treeSize, leafHashes.count)
        let ranges = try inclusionRanges(index: index, treeSize: treeSize)
        return MerkleInclusionProof(
            leafIndex: index, treeSize: treeSize,
            auditPath: ranges.map { rootHash(of: leafHashes, range: $0) })
    }

    /// The consistency proof between the trees of the first `oldSize` and `newSize` of
    /// `leafHashes`, hashing from scratch (O(newSize)); for repeated proofs use
    /// ``InMemoryMerkleTree``.
    ///
    /// - Throws: ``MerkleProofError/treeSizeBeyondLog(treeSize:available:)``,
    ///   ``MerkleProofError/invalidSizes(oldSize:newSize:)``.
    public static func consistencyProof(
        oldSize: UInt64, newSize: UInt64, leafHashes: [MerkleHash]
    ) throws(MerkleProofError) -> MerkleConsistencyProof {
        try checkAvailable(newSize, leafHashes.count)
        let ranges = try consistencyRanges(oldSize: oldSize, newSize: newSize)
        return MerkleConsistencyProof(
            firstSize: oldSize, secondSize: newSize,
            path: ranges.map { rootHash(of: leafHashes, range: $0) })
    }

    /// MTH of the first `treeSize` of `leafHashes` (O(treeSize) hashes, O(log n) memory).
    ///
    /// - Throws: ``MerkleProofError/treeSizeBeyondLog(treeSize:available:)``.
    public static func rootHash(treeSize: UInt64, leafHashes: [MerkleHash]) throws(MerkleProofError) -> MerkleHash {
        try checkAvailable(treeSize, leafHashes.count)
        return rootHash(of: leafHashes, range: 0..<treeSize)
    }

    // MARK: - Verification

    /// The number of hashes in the audit path of leaf `index` in a tree of `treeSize` leaves.
    ///
    /// - Throws: ``MerkleProofError/indexOutOfRange(index:treeSize:)`` if `index >= treeSize`.
    public static func inclusionProofLength(index: UInt64, treeSize: UInt64) throws(MerkleProofError) -> Int {
        guard index < treeSize else { throw .indexOutOfRange(index: index, treeSize: treeSize) }
        // Levels where the paths to `index` and to the last leaf have diverged contribute one
        // sibling each; above that, the shared right border contributes one per left sibling.
        let inner = UInt64.bitWidth - (index ^ (treeSize - 1)).leadingZeroBitCount
        let border = (index >> UInt64(inner)).nonzeroBitCount
        return inner + border
    }

    /// The number of hashes in the consistency proof between trees of `oldSize` and `newSize`
    /// leaves (0 when `oldSize` is 0 or equals `newSize`).
    ///
    /// - Throws: ``MerkleProofError/invalidSizes(oldSize:newSize:)`` if `oldSize > newSize`.
    public static func consistencyProofLength(oldSize: UInt64, newSize: UInt64) throws(MerkleProofError) -> Int {
        guard oldSize <= newSize else { throw .invalidSizes(oldSize: oldSize, newSize: newSize) }
        guard oldSize > 0, oldSize < newSize else { return 0 }
        let inclusion = try inclusionProofLength(index: oldSize - 1, treeSize: newSize)
        // The old tree's rightmost perfect subtree (height = trailing zeros of oldSize) is one
        // node in the proof instead of its own path; it is omitted entirely when it is the
        // whole old tree (oldSize a power of two), since the verifier knows the old root.
        let shift = oldSize.trailingZeroBitCount
        let seed = oldSize == 1 << UInt64(shift) ? 0 : 1
        return inclusion - shift + seed
    }

    /// The root that an audit path leads to from `leafHash` at `index` in a tree of `treeSize`
    /// leaves (RFC 9162 §2.1.3.2, without the final comparison).
    ///
    /// - Throws: ``MerkleProofError/indexOutOfRange(index:treeSize:)``,
    ///   ``MerkleProofError/wrongProofLength(expected:actual:)``.
    public static func rootFromInclusionProof(
        leafHash: MerkleHash, index: UInt64, treeSize: UInt64, proof: [MerkleHash]
    ) throws(MerkleProofError) -> MerkleHash {
        let expected = try inclusionProofLength(index: index, treeSize: treeSize)
        guard proof.count == expected else { throw .wrongProofLength(expected: expected, actual: proof.count) }
        var fn = index
        var sn = treeSize - 1
        var root = leafHash
        for sibling in proof {
            guard sn != 0 else { throw .wrongProofLength(expected: expected, actual: proof.count) }
            if fn & 1 == 1 || fn == sn {
                root = .node(sibling, root)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                root = .node(root, sibling)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .wrongProofLength(expected: expected, actual: proof.count) }
        return root
    }

    /// Verifies that `leafHash` is leaf `index` of the tree of `treeSize` leaves whose root is
    /// `root`, given its audit path (RFC 9162 §2.1.3.2).
    ///
    /// - Throws: ``MerkleProofError/indexOutOfRange(index:treeSize:)``,
    ///   ``MerkleProofError/wrongProofLength(expected:actual:)``,
    ///   ``MerkleProofError/rootMismatch(expected:computed:)``.
    public static func verifyInclusion(
        leafHash: MerkleHash, index: UInt64, treeSize: UInt64, proof: [MerkleHash], root: MerkleHash
    ) throws(MerkleProofError) {
        let computed = try rootFromInclusionProof(leafHash: leafHash, index: index, treeSize: treeSize, proof: proof)
        guard computed == root else { throw .rootMismatch(expected: root, computed: computed) }
    }

    /// Verifies that the tree of `newSize` leaves with root `newRoot` extends the tree of
    /// `oldSize` leaves with root `oldRoot`, given a consistency proof (RFC 9162 §2.1.4.2).
    ///
    /// Equal sizes need an empty proof and equal roots. Size 0 needs an empty proof and
    /// `oldRoot` must be the empty tree's root (``MerkleHash/empty``); every tree extends it.
    ///
    /// - Throws: ``MerkleProofError/invalidSizes(oldSize:newSize:)``,
    ///   ``MerkleProofError/wrongProofLength(expected:actual:)``,
    ///   ``MerkleProofError/oldRootMismatch(expected:computed:)``,
    ///   ``MerkleProofError/rootMismatch(expected:computed:)``.
    public static func verifyConsistency(
        oldSize: UInt64, newSize: UInt64, oldRoot: MerkleHash, newRoot: MerkleHash, proof: [MerkleHash]
    ) throws(MerkleProofError) {
        let expected = try consistencyProofLength(oldSize: oldSize, newSize: newSize)
        guard proof.count == expected else { throw .wrongProofLength(expected: expected, actual: proof.count) }
        if oldSize == 0 {
            guard oldRoot == .empty else { throw .oldRootMismatch(expected: oldRoot, computed: .empty) }
            return
        }
        if oldSize == newSize {
            guard oldRoot == newRoot else { throw .rootMismatch(expected: newRoot, computed: oldRoot) }
            return
        }
        var path = proof[...]
        // A power-of-two old tree is itself a node of the new tree: its root seeds the path.
        let seed: MerkleHash
        if oldSize & (oldSize - 1) == 0 {
            seed = oldRoot
        } else if let first = path.popFirst() {
            seed = first
        } else {
            throw .wrongProofLength(expected: expected, actual: proof.count)
        }
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var oldComputed = seed
        var newComputed = seed
        for sibling in path {
            guard sn != 0 else { throw .wrongProofLength(expected: expected, actual: proof.count) }
            if fn & 1 == 1 || fn == sn {
                oldComputed = .node(sibling, oldComputed)
                newComputed = .node(sibling, newComputed)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                newComputed = .node(newComputed, sibling)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .wrongProofLength(expected: expected, actual: proof.count) }
        guard oldComputed == oldRoot else { throw .oldRootMismatch(expected: oldRoot, computed: oldComputed) }
        guard newComputed == newRoot else { throw .rootMismatch(expected: newRoot, computed: newComputed) }
    }

    // MARK: - Helpers

    /// The largest power of two strictly below `n` (`n >= 2`): RFC 6962's split point `k`.
    static func largestPowerOfTwo(below n: UInt64) -> UInt64 {
        1 << UInt64(UInt64.bitWidth - 1 - (n - 1).leadingZeroBitCount)
    }

    private static func checkAvailable(_ treeSize: UInt64, _ available: Int) throws(MerkleProofError) {
        guard treeSize <= UInt64(available) else {
            throw .treeSizeBeyondLog(treeSize: treeSize, available: UInt64(available))
        }
    }

    /// MTH of `leafHashes[range]`; `range` must lie inside the array.
    private static func rootHash(of leafHashes: [MerkleHash], range: Range<UInt64>) -> MerkleHash {
        let lower = Int(truncatingIfNeeded: range.lowerBound)
        let upper = Int(truncatingIfNeeded: range.upperBound)
        return MerkleTreeBuilder(leafHashes: leafHashes[lower..<upper]).rootHash()
    }
}
