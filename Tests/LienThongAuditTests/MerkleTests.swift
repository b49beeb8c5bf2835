import Foundation
import LienThongAudit
import LienThongCore
import Testing

// Reference vectors: the Certificate Transparency test tree (google/certificate-transparency,
// cpp/merkletree/merkle_tree_test.cc), as carried by transparency-dev/merkle
// `proof/verify_test.go` and google/trillian `testonly/compact_merkle_tree.go`.

/// The eight CT test leaves (raw leaf data, before leaf hashing).
private let referenceLeaves: [[UInt8]] = [
    [],
    [0x00],
    [0x10],
    [0x20, 0x21],
    [0x30, 0x31],
    [0x40, 0x41, 0x42, 0x43],
    [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
    [0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f],
]

/// MTH of the first 1…8 reference leaves.
private let referenceRoots: [String] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

/// Known audit paths (0-based leaf index; the Go source numbers leaves from 1).
private let inclusionVectors: [(index: UInt64, size: UInt64, path: [String])] = [
    (0, 1, []),
    (0, 8, [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]),
    (5, 8, [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
    (2, 3, [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    ]),
    (1, 5, [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]),
]

/// Known consistency proofs.
private let consistencyVectors: [(old: UInt64, new: UInt64, path: [String])] = [
    (1, 1, []),
    (1, 8, [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]),
    (6, 8, [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
    (2, 5, [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]),
    (6, 7, [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
]

private func h(_ hex: String) -> MerkleHash {
    guard let hash = MerkleHash(hex: hex) else {
        Issue.record("bad test hex \(hex)")
        return .empty
    }
    return hash
}

private let referenceLeafHashes = referenceLeaves.map { MerkleHash.leaf($0) }
private let referenceTree = InMemoryMerkleTree(leafHashes: referenceLeafHashes)

private func root(_ size: UInt64) -> MerkleHash { h(referenceRoots[Int(size) - 1]) }

// MARK: - Naive reference implementation, straight from RFC 6962 §2.1 (recursive)

private enum Naive {
    static func split(_ n: Int) -> Int {
        var k = 1
        while k * 2 < n { k *= 2 }
        return k
    }

    static func mth(_ d: ArraySlice<MerkleHash>) -> MerkleHash {
        switch d.count {
        case 0: return .empty
        case 1: return d[d.startIndex]
        default:
            let k = split(d.count)
            return .node(mth(d.prefix(k)), mth(d.dropFirst(k)))
        }
    }

    /// PATH(m, D[n]).
    static func path(_ m: Int, _ d: ArraySlice<MerkleHash>) -> [MerkleHash] {
        guard d.count > 1 else { return [] }
        let k = split(d.count)
        if m < k { return path(m, d.prefix(k)) + [mth(d.dropFirst(k))] }
        return path(m - k, d.dropFirst(k)) + [mth(d.prefix(k))]
    }

    /// PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
    static func proof(_ m: Int, _ d: ArraySlice<MerkleHash>) -> [MerkleHash] {
        guard m > 0, m < d.count else { return [] }
        return subproof(m, d, true)
    }

    static func subproof(_ m: Int, _ d: ArraySlice<MerkleHash>, _ b: Bool) -> [MerkleHash] {
        let n = d.count
        if m == n { return b ? [] : [mth(d)] }
        let k = split(n)
        if m <= k { return subproof(m, d.prefix(k), b) + [mth(d.dropFirst(k))] }
        return subproof(m - k, d.dropFirst(k), false) + [mth(d.prefix(k))]
    }
}

private func expectError(
    _ expected: MerkleProofError, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected \(expected), nothing thrown", sourceLocation: sourceLocation)
    } catch {
        #expect(error as? MerkleProofError == expected, sourceLocation: sourceLocation)
    }
}

// MARK: - Tests

@Suite("Merkle tree (RFC 6962)")
struct MerkleTests {
    @Test func hashPrimitives() throws {
        #expect(MerkleHash.empty.hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // The leaf hash of the empty leaf is the root of the one-leaf tree.
        #expect(MerkleHash.leaf([]) == root(1))
        #expect(MerkleHash.node(referenceLeafHashes[0], referenceLeafHashes[1]) == root(2))

        let hash = root(8)
        #expect(hash.base64URL == "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz-Nw7_RgQyg")
        #expect(MerkleHash(base64URL: hash.base64URL) == hash)
        #expect(MerkleHash(hex: hash.hex.uppercased()) == hash)
        #expect(MerkleHash(bytes: hash.bytes) == hash)
        #expect(hash.bytes.count == 32)
        #expect(MerkleHash(bytes: [UInt8](repeating: 0, count: 31)) == nil)
        #expect(MerkleHash(bytes: [UInt8](repeating: 0, count: 33)) == nil)
        #expect(MerkleHash(hex: String(hash.hex.dropLast())) == nil)
        #expect(MerkleHash(hex: "zz" + hash.hex.dropFirst(2)) == nil)
        #expect(MerkleHash(base64URL: hash.base64URL + "A") == nil)
        #expect(MerkleHash(base64URL: hash.base64URL + "=") == nil)
        #expect(Set([hash, root(8), root(7)]).count == 2)
    }

    @Test func referenceRootsForSizesOneToEight() throws {
        var builder = MerkleTreeBuilder()
        #expect(builder.rootHash() == .empty)
        #expect(try referenceTree.rootHash(treeSize: 0) == .empty)
        for size in 1...8 {
            builder.append(leafHash: referenceLeafHashes[size - 1])
            let expected = root(UInt64(size))
            #expect(builder.size == UInt64(size))
            #expect(builder.rootHash() == expected, "builder, size \(size)")
            #expect(try referenceTree.rootHash(treeSize: UInt64(size)) == expected, "in-memory, size \(size)")
            #expect(try MerkleProofs.rootHash(treeSize: UInt64(size), leafHashes: referenceLeafHashes) == expected)
            #expect(Naive.mth(referenceLeafHashes.prefix(size)) == expected, "naive, size \(size)")
        }
        #expect(referenceTree.rootHash() == root(8))
        #expect(referenceTree.treeHead == TreeHead(treeSize: 8, rootHash: root(8)))
        #expect(builder.treeHead == referenceTree.treeHead)
    }

    @Test func referenceInclusionProofs() throws {
        for vector in inclusionVectors {
            let path = vector.path.map(h)
            let generated = try referenceTree.inclusionProof(index: vector.index, treeSize: vector.size)
            #expect(generated == MerkleInclusionProof(leafIndex: vector.index, treeSize: vector.size, auditPath: path))
            let fromArray = try MerkleProofs.inclusionProof(index: vector.index, treeSize: vector.size, leafHashes: referenceLeafHashes)
            #expect(fromArray == generated)
            try MerkleProofs.verifyInclusion(
                leafHash: referenceLeafHashes[Int(vector.index)], index: vector.index, treeSize: vector.size,
                proof: path, root: root(vector.size))
        }
    }

    @Test func referenceConsistencyProofs() throws {
        for vector in consistencyVectors {
            let path = vector.path.map(h)
            let generated = try referenceTree.consistencyProof(oldSize: vector.old, newSize: vector.new)
            #expect(generated == MerkleConsistencyProof(firstSize: vector.old, secondSize: vector.new, path: path))
            let fromArray = try MerkleProofs.consistencyProof(oldSize: vector.old, newSize: vector.new, leafHashes: referenceLeafHashes)
            #expect(fromArray == generated)
            try MerkleProofs.verifyConsistency(
                oldSize: vector.old, newSize: vector.new, oldRoot: root(vector.old), newRoot: root(vector.new), proof: path)
        }
    }

    /// Every index and size pair up to 64 leaves: generated proofs equal the recursive RFC
    /// definitions, have the predicted length and verify; builder and cache agree on every root.
    @Test func bruteForceAgainstNaiveDefinitions() throws {
        let leaves = (0..<64).map { MerkleHash.leaf([UInt8($0), 0xA5]) }
        let tree = InMemoryMerkleTree(leafHashes: leaves)
        var builder = MerkleTreeBuilder()
        var roots: [MerkleHash] = [.empty]
        for n in 1...64 {
            builder.append(leafHash: leaves[n - 1])
            let naiveRoot = Naive.mth(leaves.prefix(n))
            #expect(builder.rootHash() == naiveRoot)
            #expect(try tree.rootHash(treeSize: UInt64(n)) == naiveRoot)
            let restored = try MerkleTreeBuilder(size: builder.size, frontier: builder.frontier)
            #expect(restored.rootHash() == naiveRoot)
            roots.append(naiveRoot)
        }
        for n in 1...64 {
            let size = UInt64(n)
            for m in 0..<n {
                let index = UInt64(m)
                let proof = try tree.inclusionProof(index: index, treeSize: size)
                #expect(proof.auditPath == Naive.path(m, leaves.prefix(n)), "PATH(\(m), D[\(n)])")
                #expect(proof.auditPath.count == (try MerkleProofs.inclusionProofLength(index: index, treeSize: size)))
                try proof.verify(leafHash: leaves[m], root: roots[n])
            }
            for m in 0...n {
                let old = UInt64(m)
                let proof = try tree.consistencyProof(oldSize: old, newSize: size)
                #expect(proof.path == Naive.proof(m, leaves.prefix(n)), "PROOF(\(m), D[\(n)])")
                #expect(proof.path.count == (try MerkleProofs.consistencyProofLength(oldSize: old, newSize: size)))
                try proof.verify(oldRoot: roots[m], newRoot: roots[n])
            }
        }
    }

    /// The corruption probes of transparency-dev/merkle's verifier tests, on every vector:
    /// each must be rejected.
    @Test func corruptedProofsAreRejected() throws {
        let someHash = h("abacaba000000000000000000000000000000000000000000060061e00123456")
        for vector in inclusionVectors where vector.size > 1 {
            let path = vector.path.map(h)
            let leaf = referenceLeafHashes[Int(vector.index)]
            let good = root(vector.size)
            var probes: [(UInt64, UInt64, MerkleHash, MerkleHash, [MerkleHash])] = [
                (vector.index &- 1, vector.size, good, leaf, path),
                (vector.index + 1, vector.size, good, leaf, path),
                (vector.index ^ 2, vector.size, good, leaf, path),
                (vector.index, vector.size * 2, good, leaf, path),
                (vector.index, vector.size / 2, good, leaf, path),
                (vector.index, vector.size, good, .leaf(Array("WrongLeaf".utf8)), path),
                (vector.index, vector.size, .empty, leaf, path),
                (vector.index, vector.size, someHash, leaf, path),
                (vector.index, vector.size, good, leaf, path + [good]),
                (vector.index, vector.size, good, leaf, [good] + path),
                (vector.index, vector.size, good, leaf, Array(path.dropLast())),
                (vector.index, vector.size, good, leaf, [path[0], someHash] + path.dropFirst()),
            ]
            for i in path.indices {
                var bytes = path[i].bytes
                bytes[0] ^= 8
                var wrong = path
                wrong[i] = try #require(MerkleHash(bytes: bytes))
                probes.append((vector.index, vector.size, good, leaf, wrong))
            }
            for (number, probe) in probes.enumerated() {
                #expect(throws: MerkleProofError.self, "inclusion probe \(number) of \(vector)") {
                    try MerkleProofs.verifyInclusion(leafHash: probe.3, index: probe.0, treeSize: probe.1, proof: probe.4, root: probe.2)
                }
            }
        }
        for vector in consistencyVectors where !vector.path.isEmpty {
            let path = vector.path.map(h)
            let (root1, root2) = (root(vector.old), root(vector.new))
            var probes: [(UInt64, UInt64, MerkleHash, MerkleHash, [MerkleHash])] = [
                (vector.old - 1, vector.new, root1, root2, path),
                (vector.old + 1, vector.new, root1, root2, path),
                (vector.old ^ 2, vector.new, root1, root2, path),
                (vector.old, vector.new * 2, root1, root2, path),
                (vector.old, vector.new / 2, root1, root2, path),
                (vector.old, vector.new, someHash, root2, path),
                (vector.old, vector.new, root1, someHash, path),
                (vector.old, vector.new, root2, root1, path),
                (vector.old, vector.new, root1, root2, []),
                (vector.old, vector.new, root1, root2, path + [.empty]),
                (vector.old, vector.new, root1, root2, path + [root1]),
                (vector.old, vector.new, root1, root2, path + [root2]),
                (vector.old, vector.new, root1, root2, [.empty] + path),
                (vector.old, vector.new, root1, root2, [root1] + path),
                (vector.old, vector.new, root1, root2, [root2] + path),
                (vector.old, vector.new, root1, root2, [path[0]] + path),
                (vector.old, vector.new, root1, root2, Array(path.dropLast())),
            ]
            for i in path.indices {
                var bytes = path[i].bytes
                bytes[0] ^= 16
                var wrong = path
                wrong[i] = try #require(MerkleHash(bytes: bytes))
                probes.append((vector.old, vector.new, root1, root2, wrong))
            }
            for (number, probe) in probes.enumerated() {
                #expect(throws: MerkleProofError.self, "consistency probe \(number) of \(vector)") {
                    try MerkleProofs.verifyConsistency(oldSize: probe.0, newSize: probe.1, oldRoot: probe.2, newRoot: probe.3, proof: probe.4)
                }
            }
        }
    }

    @Test func inclusionErrorsArePrecise() throws {
        let proof = try referenceTree.inclusionProof(index: 0, treeSize: 8)
        let leaf0 = referenceLeafHashes[0]
        let path = proof.auditPath

        // Tampered path element: the recomputed root differs.
        var tampered = path
        tampered[1] = .leaf([0xFF])
        #expect(throws: MerkleProofError.self) {
            try MerkleProofs.verifyInclusion(leafHash: leaf0, index: 0, treeSize: 8, proof: tampered, root: root(8))
        }
        let computed = try MerkleProofs.rootFromInclusionProof(leafHash: leaf0, index: 0, treeSize: 8, proof: tampered)
        #expect(computed != root(8))
        expectError(.rootMismatch(expected: root(8), computed: computed)) {
            try MerkleProofs.verifyInclusion(leafHash: leaf0, index: 0, treeSize: 8, proof: tampered, root: root(8))
        }
        // Wrong index with the same proof length: root mismatch.
        let wrongIndexRoot = try MerkleProofs.rootFromInclusionProof(leafHash: leaf0, index: 1, treeSize: 8, proof: path)
        expectError(.rootMismatch(expected: root(8), computed: wrongIndexRoot)) {
            try MerkleProofs.verifyInclusion(leafHash: leaf0, index: 1, treeSize: 8, proof: path, root: root(8))
        }
        // Wrong size. A proof length fixes the proof's shape (left/right siblings), so a size
        // with the same length recomputes the same root: checked against that size's own root
        // (as a tree head would), it fails; other sizes fail on the length.
        expectError(.rootMismatch(expected: root(7), computed: root(8))) {
            try MerkleProofs.verifyInclusion(leafHash: leaf0, index: 0, treeSize: 7, proof: path, root: root(7))
        }
        expectError(.wrongProofLength(expected: 4, actual: 3)) {
            try MerkleProofs.verifyInclusion(leafHash: leaf0, index: 0, treeSize: 16, proof: path, root: root(8))
        }
        expectError(.wrongProofLength(expected: 2, actual: 3)) {
            try MerkleProofs.verifyInclusion(leafHash: leaf0, index: 0, treeSize: 4, proof: path, root: root(8))
        }
        // Extra and missing path elements.
        expectError(.wrongProofLength(expected: 3, actual: 4)) {
            try MerkleProofs.verifyInclusion(leafHash: leaf0, index: 0, treeSize: 8, proof: path + [root(8)], root: root(8))
        }
        expectError(.wrongProofLength(expected: 3, actual: 2)) {
            try MerkleProofs.verifyInclusion(leafHash: leaf0, index: 0, treeSize: 8, proof: Array(path.dropLast()), root: root(8))
        }
        // Index at or beyond the size, and the empty tree.
        expectError(.indexOutOfRange(index: 8, treeSize: 8)) {
            try MerkleProofs.verifyInclusion(leafHash: leaf0, index: 8, treeSize: 8, proof: path, root: root(8))
        }
        expectError(.indexOutOfRange(index: 0, treeSize: 0)) {
            try MerkleProofs.verifyInclusion(leafHash: leaf0, index: 0, treeSize: 0, proof: [], root: .empty)
        }
        // One-leaf tree: the leaf is the root.
        try MerkleProofs.verifyInclusion(leafHash: leaf0, index: 0, treeSize: 1, proof: [], root: leaf0)
        expectError(.rootMismatch(expected: .empty, computed: leaf0)) {
            try MerkleProofs.verifyInclusion(leafHash: leaf0, index: 0, treeSize: 1, proof: [], root: .empty)
        }
        // Generation errors.
        expectError(.indexOutOfRange(index: 8, treeSize: 8)) { _ = try referenceTree.inclusionProof(index: 8, treeSize: 8) }
        expectError(.treeSizeBeyondLog(treeSize: 9, available: 8)) { _ = try referenceTree.inclusionProof(index: 0, treeSize: 9) }
        expectError(.treeSizeBeyondLog(treeSize: 9, available: 8)) {
            _ = try MerkleProofs.inclusionProof(index: 0, treeSize: 9, leafHashes: referenceLeafHashes)
        }
        expectError(.invalidRange(lowerBound: 3, upperBound: 3, available: 8)) { _ = try referenceTree.subtreeHash(3..<3) }
        expectError(.invalidRange(lowerBound: 4, upperBound: 9, available: 8)) { _ = try referenceTree.subtreeHash(4..<9) }
        expectError(.indexOutOfRange(index: 8, treeSize: 8)) { _ = try referenceTree.leafHash(at: 8) }
    }

    @Test func consistencyErrorsArePrecise() throws {
        let path = try referenceTree.consistencyProof(oldSize: 6, newSize: 8).path
        // Old size beyond new size, in verification and generation.
        expectError(.invalidSizes(oldSize: 8, newSize: 6)) {
            try MerkleProofs.verifyConsistency(oldSize: 8, newSize: 6, oldRoot: root(8), newRoot: root(6), proof: path)
        }
        expectError(.invalidSizes(oldSize: 8, newSize: 6)) { _ = try referenceTree.consistencyProof(oldSize: 8, newSize: 6) }
        expectError(.treeSizeBeyondLog(treeSize: 9, available: 8)) { _ = try referenceTree.consistencyProof(oldSize: 1, newSize: 9) }
        // Extra and missing elements.
        expectError(.wrongProofLength(expected: 3, actual: 4)) {
            try MerkleProofs.verifyConsistency(oldSize: 6, newSize: 8, oldRoot: root(6), newRoot: root(8), proof: path + [root(8)])
        }
        expectError(.wrongProofLength(expected: 3, actual: 2)) {
            try MerkleProofs.verifyConsistency(oldSize: 6, newSize: 8, oldRoot: root(6), newRoot: root(8), proof: Array(path.dropFirst()))
        }
        // Wrong new size changing the proof length.
        expectError(.wrongProofLength(expected: 4, actual: 3)) {
            try MerkleProofs.verifyConsistency(oldSize: 6, newSize: 16, oldRoot: root(6), newRoot: root(8), proof: path)
        }
        // Path[1] = MTH(6:8) only feeds the new root; path[2] = MTH(0:4) feeds both (the old
        // root is checked first).
        var newOnly = path
        newOnly[1] = .leaf([0xFF])
        #expect(throws: MerkleProofError.self) {
            try MerkleProofs.verifyConsistency(oldSize: 6, newSize: 8, oldRoot: root(6), newRoot: root(8), proof: newOnly)
        }
        do {
            try MerkleProofs.verifyConsistency(oldSize: 6, newSize: 8, oldRoot: root(6), newRoot: root(8), proof: newOnly)
        } catch {
            guard case .rootMismatch(let expected, _) = error else {
                Issue.record("expected rootMismatch, got \(error)")
                return
            }
            #expect(expected == root(8))
        }
        var both = path
        both[2] = .leaf([0xFF])
        do {
            try MerkleProofs.verifyConsistency(oldSize: 6, newSize: 8, oldRoot: root(6), newRoot: root(8), proof: both)
            Issue.record("tampered proof verified")
        } catch {
            guard case .oldRootMismatch(let expected, _) = error else {
                Issue.record("expected oldRootMismatch, got \(error)")
                return
            }
            #expect(expected == root(6))
        }
        // Swapped roots.
        do {
            try MerkleProofs.verifyConsistency(oldSize: 6, newSize: 8, oldRoot: root(8), newRoot: root(6), proof: path)
            Issue.record("swapped roots verified")
        } catch {
            guard case .oldRootMismatch = error else {
                Issue.record("expected oldRootMismatch, got \(error)")
                return
            }
        }
        // Equal sizes: empty proof, equal roots.
        try MerkleProofs.verifyConsistency(oldSize: 5, newSize: 5, oldRoot: root(5), newRoot: root(5), proof: [])
        expectError(.rootMismatch(expected: root(6), computed: root(5))) {
            try MerkleProofs.verifyConsistency(oldSize: 5, newSize: 5, oldRoot: root(5), newRoot: root(6), proof: [])
        }
        expectError(.wrongProofLength(expected: 0, actual: 1)) {
            try MerkleProofs.verifyConsistency(oldSize: 5, newSize: 5, oldRoot: root(5), newRoot: root(5), proof: [root(5)])
        }
        // From the empty tree: empty proof, and the old root must be the empty tree's.
        try MerkleProofs.verifyConsistency(oldSize: 0, newSize: 8, oldRoot: .empty, newRoot: root(8), proof: [])
        expectError(.oldRootMismatch(expected: root(1), computed: .empty)) {
            try MerkleProofs.verifyConsistency(oldSize: 0, newSize: 8, oldRoot: root(1), newRoot: root(8), proof: [])
        }
        expectError(.wrongProofLength(expected: 0, actual: 1)) {
            try MerkleProofs.verifyConsistency(oldSize: 0, newSize: 8, oldRoot: .empty, newRoot: root(8), proof: [.empty])
        }
    }

    @Test func treeHeadChecksProofSizes() throws {
        let head6 = try TreeHead(treeSize: 6, rootHash: referenceTree.rootHash(treeSize: 6))
        let head8 = referenceTree.treeHead
        let consistency = try referenceTree.consistencyProof(oldSize: 6, newSize: 8)
        try head8.verifyConsistency(from: head6, proof: consistency)
        expectError(.proofSizeMismatch(proof: 6, treeHead: 8)) { try head8.verifyConsistency(from: head8, proof: consistency) }
        expectError(.proofSizeMismatch(proof: 8, treeHead: 6)) { try head6.verifyConsistency(from: head6, proof: consistency) }

        let inclusion = try referenceTree.inclusionProof(index: 3, treeSize: 8)
        try head8.verifyInclusion(leafHash: referenceLeafHashes[3], proof: inclusion)
        expectError(.proofSizeMismatch(proof: 8, treeHead: 6)) { try head6.verifyInclusion(leafHash: referenceLeafHashes[3], proof: inclusion) }
        #expect(try inclusion.rootHash(leafHash: referenceLeafHashes[3]) == root(8))
    }

    @Test func jsonForms() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let inclusion = try referenceTree.inclusionProof(index: 0, treeSize: 2)
        let inclusionJSON = String(decoding: try encoder.encode(inclusion), as: UTF8.self)
        #expect(inclusionJSON == #"{"audit_path":["lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh-QQt4YwoJz8c"],"leaf_index":0,"tree_size":2}"#)
        #expect(try JSONDecoder().decode(MerkleInclusionProof.self, from: Data(inclusionJSON.utf8)) == inclusion)

        let consistency = try referenceTree.consistencyProof(oldSize: 2, newSize: 5)
        let consistencyJSON = String(decoding: try encoder.encode(consistency), as: UTF8.self)
        #expect(consistencyJSON.hasPrefix(#"{"first_size":2,"path":["#))
        #expect(consistencyJSON.hasSuffix(#"],"second_size":5}"#))
        #expect(try JSONDecoder().decode(MerkleConsistencyProof.self, from: Data(consistencyJSON.utf8)) == consistency)

        let head = referenceTree.treeHead
        let headJSON = String(decoding: try encoder.encode(head), as: UTF8.self)
        let canonical = #"{"root_hash":"XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz-Nw7_RgQyg","tree_size":8}"#
        #expect(headJSON == canonical)
        #expect(head.canonicalJSON.canonicalString == canonical)
        #expect(head.canonicalBytes == Array(canonical.utf8))
        #expect(try JSONDecoder().decode(TreeHead.self, from: Data(canonical.utf8)) == head)

        // Malformed hashes are decoding errors.
        for bad in [
            #"{"root_hash":"XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz-Nw7_RgQyg=","tree_size":8}"#,
            #"{"root_hash":"XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz-Nw7_RgQ","tree_size":8}"#,
            #"{"root_hash":"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328","tree_size":8}"#,
            #"{"root_hash":"XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz-Nw7_RgQyg","tree_size":-1}"#,
        ] {
            #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode(TreeHead.self, from: Data(bad.utf8)) }
        }
    }

    @Test func closureSourceErrorsAreSeparated() throws {
        struct StoreDown: Error, Equatable {}
        let viaClosure = try MerkleProofs.inclusionProof(index: 5, treeSize: 8) { (range) throws(MerkleProofError) in
            try referenceTree.subtreeHash(range)
        }
        #expect(viaClosure == (try referenceTree.inclusionProof(index: 5, treeSize: 8)))
        #expect(try MerkleProofs.inclusionRanges(index: 5, treeSize: 8) == [4..<5, 6..<8, 0..<4])
        #expect(try MerkleProofs.consistencyRanges(oldSize: 6, newSize: 8) == [4..<6, 6..<8, 0..<4])

        do {
            _ = try MerkleProofs.consistencyProof(oldSize: 3, newSize: 8) { (_) throws(StoreDown) -> MerkleHash in throw StoreDown() }
            Issue.record("source error swallowed")
        } catch {
            guard case .source(let failure) = error else {
                Issue.record("expected .source, got \(error)")
                return
            }
            #expect(failure == StoreDown())
        }
        do {
            _ = try MerkleProofs.consistencyProof(oldSize: 9, newSize: 8) { (_) throws(StoreDown) -> MerkleHash in .empty }
            Issue.record("invalid sizes accepted")
        } catch {
            guard case .invalidRequest(let reason) = error else {
                Issue.record("expected .invalidRequest, got \(error)")
                return
            }
            #expect(reason == .invalidSizes(oldSize: 9, newSize: 8))
        }
    }

    @Test func frontierRestore() throws {
        let builder = MerkleTreeBuilder(leafHashes: referenceLeafHashes.prefix(7))
        #expect(builder.frontier.count == 3)
        var resumed = try MerkleTreeBuilder(size: builder.size, frontier: builder.frontier)
        resumed.append(leafHash: referenceLeafHashes[7])
        #expect(resumed.rootHash() == root(8))
        #expect(throws: MerkleFrontierError.wrongHashCount(size: 7, expected: 3, actual: 2)) {
            _ = try MerkleTreeBuilder(size: 7, frontier: Array(builder.frontier.prefix(2)))
        }
    }

    /// 100,000 leaves: builder, level cache and from-scratch roots agree; proofs across the
    /// tree verify.
    @Test func largeTree() throws {
        let count = 100_000
        var builder = MerkleTreeBuilder()
        var tree = InMemoryMerkleTree()
        var leaves: [MerkleHash] = []
        leaves.reserveCapacity(count)
        for i in 0..<count {
            let leaf = MerkleHash.leaf([UInt8(i & 0xFF), UInt8(i >> 8 & 0xFF), UInt8(i >> 16 & 0xFF)])
            leaves.append(leaf)
            builder.append(leafHash: leaf)
            tree.append(leafHash: leaf)
        }
        let rootHash = builder.rootHash()
        #expect(tree.rootHash() == rootHash)
        #expect(try MerkleProofs.rootHash(treeSize: UInt64(count), leafHashes: leaves) == rootHash)

        let size = UInt64(count)
        for index: UInt64 in [0, 1, 4_095, 65_535, 65_536, 99_998, 99_999] {
            let proof = try tree.inclusionProof(index: index, treeSize: size)
            try proof.verify(leafHash: leaves[Int(index)], root: rootHash)
        }
        for old: UInt64 in [1, 2, 3, 1_000, 65_536, 77_777, 99_999, 100_000] {
            let proof = try tree.consistencyProof(oldSize: old, newSize: size)
            try proof.verify(oldRoot: try tree.rootHash(treeSize: old), newRoot: rootHash)
        }
        let head = try TreeHead(treeSize: 77_777, rootHash: tree.rootHash(treeSize: 77_777))
        #expect(head.rootHash == MerkleTreeBuilder(leafHashes: leaves.prefix(77_777)).rootHash())
    }
}
