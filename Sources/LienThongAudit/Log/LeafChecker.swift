import Crypto
import Foundation

/// Checks a run of stored leaves for ``AuditLogVerifier``, on every core, and hands back their
/// leaf hashes in order.
///
/// Each leaf must be the next sequence number, its bytes must hash (SHA-256(0x00 ‖ bytes)) to its
/// stored leaf hash, and they must be a valid canonical record (``AuditRecord/validateCanonicalBytes(_:)``)
/// naming its own sequence. The leaves are checked in contiguous slices concurrently, but the
/// verdict does not depend on scheduling: if any leaf is bad, the failure reported is that of the
/// first bad leaf in the run, with the same reason a one-by-one check gives.
public enum LeafChecker {
    /// The fewest leaves worth a task of their own.
    static let minimumSliceCount = 512

    /// Checks `leaves`, which should be the log's leaves from sequence `expectedFirst` on, without gaps.
    ///
    /// - Returns: the leaf hashes, one per leaf, in order.
    /// - Throws: ``AuditVerificationFailure`` for the first bad leaf.
    public static func check(_ leaves: [StoredLeaf], expectedFirst: UInt64) async throws(AuditVerificationFailure) -> [MerkleHash] {
        let slices = slices(of: leaves.count, parallelism: ProcessInfo.processInfo.activeProcessorCount)
        guard slices.count > 1 else { return try check(leaves, in: leaves.indices, expectedFirst: expectedFirst) }
        let results = await withTaskGroup(of: (Int, SliceResult).self) { group in
            for (number, slice) in slices.enumerated() {
                group.addTask { (number, SliceResult(catching: { () throws(AuditVerificationFailure) in
                    try check(leaves, in: slice, expectedFirst: expectedFirst)
                })) }
            }
            var results: [(Int, SliceResult)] = []
            results.reserveCapacity(slices.count)
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
        var hashes: [MerkleHash] = []
        hashes.reserveCapacity(leaves.count)
        // In order: the first slice that failed holds the first bad leaf.
        for result in results {
            switch result {
            case .success(let sliceHashes): hashes.append(contentsOf: sliceHashes)
            case .failure(let failure): throw failure
            }
        }
        return hashes
    }

    /// Checks one leaf that should be at `expected` and returns its leaf hash.
    ///
    /// - Throws: ``AuditVerificationFailure`` naming the fault, in this order: a sequence other than
    ///   `expected`, bytes that do not hash to the stored hash, bytes that are not a valid
    ///   canonical record (with ``AuditRecordError``'s description), a record naming another
    ///   sequence, a stored hash that is not 32 bytes.
    public static func check(_ leaf: StoredLeaf, expected: UInt64) throws(AuditVerificationFailure) -> MerkleHash {
        guard leaf.sequence == expected else {
            throw AuditVerificationFailure(sequence: expected, reason: "missing: the next stored record is \(leaf.sequence)")
        }
        guard hashMatches(leaf) else {
            throw AuditVerificationFailure(sequence: leaf.sequence, reason: "its bytes do not hash to the stored leaf hash (changed after it was written)")
        }
        let record: CanonicalRecordSummary
        do { record = try AuditRecord.validateCanonicalBytes(leaf.bytes) } catch {
            throw AuditVerificationFailure(sequence: leaf.sequence, reason: "not a valid canonical record: \(error)")
        }
        guard record.sequence == leaf.sequence else {
            throw AuditVerificationFailure(sequence: leaf.sequence,
                                           reason: "it names itself record \(record.sequence): records were moved, swapped or inserted")
        }
        guard let hash = MerkleHash(bytes: leaf.leafHash) else {
            throw AuditVerificationFailure(sequence: leaf.sequence, reason: "the stored leaf hash is not 32 bytes")
        }
        return hash
    }

    // MARK: Pieces

    /// What checking one slice gave.
    private typealias SliceResult = Result<[MerkleHash], AuditVerificationFailure>

    /// Checks `leaves[range]` in order, the leaf at index `i` expected at `expectedFirst + i`.
    private static func check(_ leaves: [StoredLeaf], in range: Range<Int>,
                              expectedFirst: UInt64) throws(AuditVerificationFailure) -> [MerkleHash] {
        var hashes: [MerkleHash] = []
        hashes.reserveCapacity(range.count)
        for index in range {
            hashes.append(try check(leaves[index], expected: expectedFirst &+ UInt64(index)))
        }
        return hashes
    }

    /// Contiguous slices of `0..<count`: a few per core (so one slow slice does not leave a core
    /// idle), none smaller than ``minimumSliceCount`` unless there is only one.
    static func slices(of count: Int, parallelism: Int) -> [Range<Int>] {
        let wanted = max(1, min(4 * max(1, parallelism), count / minimumSliceCount))
        let size = (count + wanted - 1) / wanted
        return stride(from: 0, to: count, by: max(1, size)).map { $0..<min(count, $0 + size) }
    }

    /// Whether SHA-256(0x00 ‖ bytes) is the stored leaf hash, without copying the bytes.
    private static func hashMatches(_ leaf: StoredLeaf) -> Bool {
        guard leaf.leafHash.count == SHA256.byteCount else { return false }
        var hasher = SHA256()
        withUnsafeBytes(of: UInt8(0x00)) { hasher.update(bufferPointer: $0) }
        leaf.bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        let digest = hasher.finalize()
        return digest.withUnsafeBytes { computed in
            leaf.leafHash.withUnsafeBytes { stored in computed.elementsEqual(stored) }
        }
    }
}
