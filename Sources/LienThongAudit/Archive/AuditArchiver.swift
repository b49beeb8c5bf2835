import Crypto
import Foundation
import LienThongCore

/// Moves old records of an audit log into signed, compressed archive files (`docs/audit-log.md`
/// §Retention and archiving).
///
/// Each run archives the leaves from where the previous archive ended up to the largest `end`
/// such that every record in between ended before the cutoff and `end` is at most the tree size
/// of the last checkpoint the registry has countersigned: nothing leaves the store before the
/// registry has seen it. The file is written under a temporary name, fsync'ed, renamed into place
/// and the directory fsync'ed, with its manifest file beside it, before the store records the
/// archive and drops the records' bytes (``AuditLeafStore/appendArchive(_:)``). A crash in
/// between leaves only an orphan file, which the next run overwrites: the archive number, and so
/// the file name, is the same.
public enum AuditArchiver {
    /// How many leaves are read from the store at a time.
    static let batch: UInt64 = 5_000

    /// The file name of archive `sequence` of partition `node`:
    /// `audit-<node>-<sequence, 8 digits>.jsonl.gz` (characters outside `[A-Za-z0-9._-]` of the
    /// node replaced by `_`).
    public static func fileName(node: String, sequence: UInt64) -> String {
        let safe = String(node.unicodeScalars.map { scalar -> Character in
            let allowed = ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) || "-_.".unicodeScalars.contains(scalar)
            return allowed ? Character(scalar) : "_"
        })
        let number = String(sequence)
        return "audit-\(safe.isEmpty ? "_" : safe)-\(String(repeating: "0", count: max(0, 8 - number.count)))\(number).jsonl.gz"
    }

    /// Archives the records of `store` that are due, if any.
    ///
    /// - Parameters:
    ///   - store: the log partition.
    ///   - cutoff: records that ended at or after this time stay in the store (and so do all
    ///     records after them).
    ///   - directory: where the archive files go (created if missing).
    ///   - server: the security server whose log this is (as in its checkpoints).
    ///   - node: the log partition (as in its checkpoints).
    ///   - now: the manifest's `created_at`.
    ///   - sign: returns the compact detached JWS over the manifest's ``AuditArchiveManifest/digest``,
    ///     made with the member key.
    /// - Returns: the archive recorded in the store, or `nil` if nothing is due.
    /// - Throws: ``AuditArchiveError``; the store is then unchanged (a file may be left behind).
    @discardableResult
    public static func archive(store: any AuditLeafStore, olderThan cutoff: Date, directory: URL, server: String, node: String,
                               now: Date = Date(),
                               sign: (AuditArchiveManifest) throws -> String) async throws(AuditArchiveError) -> StoredArchive? {
        let archives: [StoredArchive]
        let checkpoints: [StoredCheckpoint]
        do {
            archives = try await store.archives()
            checkpoints = try await store.checkpoints(from: 0)
        } catch {
            throw AuditArchiveError(.store, "cannot read the audit log: \(error)")
        }
        let first = archives.last?.endSequence ?? 0
        let sequence = UInt64(archives.count)
        guard let countersigned = checkpoints.last(where: { $0.receipt != nil }), countersigned.treeSize > first else { return nil }
        let limit = countersigned.treeSize
        let checkpoint: AuditCheckpoint
        do { checkpoint = try AuditCheckpoint(canonicalBytes: countersigned.body) } catch {
            throw AuditArchiveError(.store, "checkpoint \(countersigned.sequence) of the audit log is damaged: \(error)")
        }
        guard checkpoint.server == server, checkpoint.node == node else {
            throw AuditArchiveError(.store, "the log's checkpoints are for \(checkpoint.server) node \(checkpoint.node), not \(server) node \(node)")
        }
        guard let createdAt = AuditTimestamp(now) else { throw AuditArchiveError(.signing, "the clock reads an impossible time") }

        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw AuditArchiveError(.io, "cannot create the archive directory \(directory.path): \(error)")
        }
        let name = fileName(node: node, sequence: sequence)
        let path = directory.appendingPathComponent(name).path
        let temporary = directory.appendingPathComponent("." + name + ".tmp").path

        // Stream the due records into the temporary file (removed again if anything fails).
        let end: UInt64
        let digests: (file: MerkleHash, records: MerkleHash)
        do throws(AuditArchiveError) {
            (end, digests) = try await writeRecords(of: store, from: first, limit: limit, cutoff: cutoff, to: temporary)
        } catch {
            _ = try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        guard end > first else {
            _ = try? FileManager.default.removeItem(atPath: temporary)
            return nil
        }

        // The tree head at `end`, from the stored leaf hashes.
        var tree = MerkleTreeBuilder()
        var start: UInt64 = 0
        while start < end {
            let upper = min(end, start + 50_000)
            let hashes: [[UInt8]]
            do { hashes = try await store.leafHashes(start..<upper) } catch {
                throw AuditArchiveError(.store, "cannot read leaf hashes \(start)..<\(upper): \(error)")
            }
            guard hashes.count == Int(upper - start) else {
                throw AuditArchiveError(.store, "leaf hashes \(start)..<\(upper) are incomplete; run `lienthong audit verify`")
            }
            for bytes in hashes {
                guard let hash = MerkleHash(bytes: bytes) else {
                    throw AuditArchiveError(.store, "leaf \(tree.size) has a damaged hash; run `lienthong audit verify`")
                }
                tree.append(leafHash: hash)
            }
            start = upper
        }
        let head = tree.treeHead
        if let signed = checkpoints.first(where: { $0.treeSize == end }), let body = try? AuditCheckpoint(canonicalBytes: signed.body),
           body.tree != head {
            throw AuditArchiveError(.store, "the stored leaf hashes do not match checkpoint \(signed.sequence)'s tree head; run `lienthong audit verify`")
        }

        let manifest = AuditArchiveManifest(
            server: server, node: node, sequence: sequence, firstSequence: first, endSequence: end, file: name,
            fileSHA256: digests.file, recordsSHA256: digests.records,
            tree: head, previousManifestSHA256: archives.last.map { MerkleHash.plainSHA256($0.manifest) }, createdAt: createdAt)
        let signature: String
        do { signature = try sign(manifest) } catch {
            throw AuditArchiveError(.signing, "archive \(sequence) cannot be signed: \(error)")
        }
        let bytes = manifest.canonicalBytes

        // Into place, durably, before the store forgets the records.
        try ArchiveFileDescriptor.rename(temporary, to: path)
        try ArchiveFileDescriptor.writeDurably(AuditArchiveManifestFile(manifest: bytes, signature: signature).canonicalBytes,
                                               to: directory.appendingPathComponent(AuditArchiveManifestFile.name(for: name)).path)
        try ArchiveFileDescriptor.syncDirectory(directory.path)

        let stored = StoredArchive(sequence: sequence, firstSequence: first, endSequence: end, manifest: bytes, signature: signature)
        do { try await store.appendArchive(stored) } catch {
            throw AuditArchiveError(.store, "the audit log refused archive \(sequence) (its file \(name) stays as an orphan): \(error)")
        }
        return stored
    }

    /// Writes the records from `first` on that ended before `cutoff` (stopping at the first that
    /// did not, or at `limit`) to the gzip file `path`, fsync'ed; returns where they end and the
    /// digests of the file and of its content.
    private static func writeRecords(of store: any AuditLeafStore, from first: UInt64, limit: UInt64, cutoff: Date,
                                     to path: String) async throws(AuditArchiveError) -> (UInt64, (file: MerkleHash, records: MerkleHash)) {
        let file = try ArchiveFileDescriptor.create(path)
        let writer = try GzipFileWriter(file: file)
        var end = first
        scan: while end < limit {
            let upper = min(limit, end + batch)
            let leaves: [StoredLeaf]
            do { leaves = try await store.leaves(end..<upper) } catch {
                throw AuditArchiveError(.store, "cannot read records \(end)..<\(upper): \(error)")
            }
            guard !leaves.isEmpty else {
                throw AuditArchiveError(.store, "record \(end) is missing from the audit log; run `lienthong audit verify`")
            }
            for leaf in leaves {
                guard leaf.sequence == end else {
                    throw AuditArchiveError(.store, "record \(end) is missing from the audit log; run `lienthong audit verify`")
                }
                guard leaf.isConsistent else {
                    throw AuditArchiveError(.store, "record \(end) does not match its leaf hash; run `lienthong audit verify`")
                }
                let record: AuditRecord
                do { record = try AuditRecord(canonicalBytes: leaf.bytes) } catch {
                    throw AuditArchiveError(.store, "record \(end) is damaged (\(error)); run `lienthong audit verify`")
                }
                guard record.endedAt.date < cutoff else { break scan }
                try writer.write(leaf.bytes + [UInt8(ascii: "\n")])
                end += 1
            }
        }
        try writer.finish()
        try file.sync()
        try file.closeChecked()
        return (end, (MerkleHash.digest(writer.compressedHash), MerkleHash.digest(writer.contentHash)))
    }
}

extension MerkleHash {
    /// The finished SHA-256 of `hasher`.
    static func digest(_ hasher: SHA256) -> MerkleHash {
        MerkleHash(bytes: Array(hasher.finalize())) ?? .empty
    }
}
