import LienThongCore

/// An RFC 6962 audit path: proof that one leaf is in a tree of a given size.
///
/// JSON: `{"leaf_index": 0, "tree_size": 8, "audit_path": ["<base64url>", …]}`, hashes unpadded
/// base64url, nearest sibling first.
public struct MerkleInclusionProof: Sendable, Hashable, Codable {
    /// The 0-based index of the leaf.
    public var leafIndex: UInt64
    /// The size of the tree the proof is for.
    public var treeSize: UInt64
    /// The sibling subtree roots from the leaf up to the root (RFC 6962 PATH).
    public var auditPath: [MerkleHash]

    /// A proof from its parts.
    public init(leafIndex: UInt64, treeSize: UInt64, auditPath: [MerkleHash]) {
        self.leafIndex = leafIndex
        self.treeSize = treeSize
        self.auditPath = auditPath
    }

    /// The root this proof leads to from `leafHash`.
    ///
    /// - Throws: ``MerkleProofError/indexOutOfRange(index:treeSize:)``,
    ///   ``MerkleProofError/wrongProofLength(expected:actual:)``.
    public func rootHash(leafHash: MerkleHash) throws(MerkleProofError) -> MerkleHash {
        try MerkleProofs.rootFromInclusionProof(leafHash: leafHash, index: leafIndex, treeSize: treeSize, proof: auditPath)
    }

    /// Verifies that `leafHash` is leaf ``leafIndex`` of the tree of ``treeSize`` leaves with
    /// root `root`.
    ///
    /// - Throws: see ``MerkleProofs/verifyInclusion(leafHash:index:treeSize:proof:root:)``.
    public func verify(leafHash: MerkleHash, root: MerkleHash) throws(MerkleProofError) {
        try MerkleProofs.verifyInclusion(leafHash: leafHash, index: leafIndex, treeSize: treeSize, proof: auditPath, root: root)
    }

    /// The JSON member names.
    enum CodingKeys: String, CodingKey {
        case leafIndex = "leaf_index"
        case treeSize = "tree_size"
        case auditPath = "audit_path"
    }
}

/// An RFC 6962 consistency proof: proof that the tree of ``secondSize`` leaves is an
/// append-only extension of the tree of ``firstSize`` leaves.
///
/// JSON: `{"first_size": 6, "second_size": 8, "path": ["<base64url>", …]}`.
public struct MerkleConsistencyProof: Sendable, Hashable, Codable {
    /// The older tree's size.
    public var firstSize: UInt64
    /// The newer tree's size.
    public var secondSize: UInt64
    /// The subtree roots of RFC 6962 PROOF(first, D[second]), in order.
    public var path: [MerkleHash]

    /// A proof from its parts.
    public init(firstSize: UInt64, secondSize: UInt64, path: [MerkleHash]) {
        self.firstSize = firstSize
        self.secondSize = secondSize
        self.path = path
    }

    /// Verifies that the tree with root `newRoot` extends the one with root `oldRoot`.
    ///
    /// - Throws: see ``MerkleProofs/verifyConsistency(oldSize:newSize:oldRoot:newRoot:proof:)``.
    public func verify(oldRoot: MerkleHash, newRoot: MerkleHash) throws(MerkleProofError) {
        try MerkleProofs.verifyConsistency(oldSize: firstSize, newSize: secondSize, oldRoot: oldRoot, newRoot: newRoot, proof: path)
    }

    /// The JSON member names.
    enum CodingKeys: String, CodingKey {
        case firstSize = "first_size"
        case secondSize = "second_size"
        case path
    }
}

/// The size and root of the audit log's Merkle tree at one moment: what a log signs.
///
/// JSON: `{"tree_size": 8, "root_hash": "<base64url>"}`. ``canonicalBytes`` is the exact
/// byte string to sign (RFC 8785 via `CanonicalJSON`): `{"root_hash":"…","tree_size":8}`.
/// The signature itself is made elsewhere (the member's JWS signer).
public struct TreeHead: Sendable, Hashable, Codable {
    /// The number of leaves.
    public var treeSize: UInt64
    /// MTH of those leaves.
    public var rootHash: MerkleHash

    /// A tree head from its parts.
    public init(treeSize: UInt64, rootHash: MerkleHash) {
        self.treeSize = treeSize
        self.rootHash = rootHash
    }

    /// The canonical JSON value: `tree_size` an integer, `root_hash` unpadded base64url.
    ///
    /// (A size beyond `Int64.max`, which no real log reaches, is written as a decimal string
    /// so that distinct heads never share canonical bytes.)
    public var canonicalJSON: CanonicalJSON {
        let size: CanonicalJSON = Int64(exactly: treeSize).map { .integer($0) } ?? .string(String(treeSize))
        return .object([
            CodingKeys.treeSize.rawValue: size,
            CodingKeys.rootHash.rawValue: .string(rootHash.base64URL),
        ])
    }

    /// The canonical UTF-8 bytes of ``canonicalJSON``: the payload to sign.
    public var canonicalBytes: [UInt8] { canonicalJSON.canonicalBytes }

    /// Verifies that `leafHash` is in this tree.
    ///
    /// - Throws: ``MerkleProofError/proofSizeMismatch(proof:treeHead:)`` if the proof is for
    ///   another tree size, otherwise as ``MerkleInclusionProof/verify(leafHash:root:)``.
    public func verifyInclusion(leafHash: MerkleHash, proof: MerkleInclusionProof) throws(MerkleProofError) {
        guard proof.treeSize == treeSize else { throw .proofSizeMismatch(proof: proof.treeSize, treeHead: treeSize) }
        try proof.verify(leafHash: leafHash, root: rootHash)
    }

    /// Verifies that this tree is an append-only extension of `older`.
    ///
    /// - Throws: ``MerkleProofError/proofSizeMismatch(proof:treeHead:)`` if the proof's sizes
    ///   are not `older`'s and this head's, otherwise as
    ///   ``MerkleConsistencyProof/verify(oldRoot:newRoot:)``.
    public func verifyConsistency(from older: TreeHead, proof: MerkleConsistencyProof) throws(MerkleProofError) {
        guard proof.firstSize == older.treeSize else { throw .proofSizeMismatch(proof: proof.firstSize, treeHead: older.treeSize) }
        guard proof.secondSize == treeSize else { throw .proofSizeMismatch(proof: proof.secondSize, treeHead: treeSize) }
        try proof.verify(oldRoot: older.rootHash, newRoot: rootHash)
    }

    /// The JSON member names.
    enum CodingKeys: String, CodingKey {
        case treeSize = "tree_size"
        case rootHash = "root_hash"
    }
}
