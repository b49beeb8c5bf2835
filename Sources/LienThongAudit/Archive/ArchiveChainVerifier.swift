import Foundation
import LienThongCore
import LienThongTrust
import X509

/// Checks a log's archive entries for ``AuditLogVerifier``: each manifest on its own (strict
/// canonical form, the store's entry agreeing with it, the server's signature and, given trust
/// anchors, its signer: an approved CA's member certificate of the server's owner), and the chain
/// (numbers from 0 without gaps, leaf ranges contiguous from 0, each manifest naming the SHA-256 of
/// the previous one). The files themselves are read by ``ArchiveRecordReader`` as the verifier
/// walks the leaves.
struct ArchiveChainVerifier: Sendable {
    /// One archive, verified on its own and in the chain.
    struct Entry: Sendable {
        var stored: StoredArchive
        var manifest: AuditArchiveManifest

        /// `archive N (file)`, for messages.
        var label: String { "archive \(stored.sequence) (\(manifest.file))" }
    }

    let entries: [Entry]

    /// Verifies `archives` (in order): format, signatures, signers and chain.
    ///
    /// - Throws: ``AuditVerificationFailure`` naming the first bad archive.
    init(archives: [StoredArchive], anchors: [Certificate]?) async throws(AuditVerificationFailure) {
        var entries: [Entry] = []
        for (index, stored) in archives.enumerated() {
            func fail(_ reason: String) -> AuditVerificationFailure {
                AuditVerificationFailure(sequence: nil, reason: "archive \(stored.sequence): \(reason)")
            }
            guard stored.sequence == UInt64(index) else {
                throw AuditVerificationFailure(sequence: nil, reason: "archive \(index) is missing (the next stored is \(stored.sequence))")
            }
            let manifest: AuditArchiveManifest
            do { manifest = try AuditArchiveManifest(canonicalBytes: stored.manifest) } catch {
                throw fail("its manifest is not a valid canonical manifest: \(error)")
            }
            guard manifest.sequence == stored.sequence, manifest.firstSequence == stored.firstSequence,
                  manifest.endSequence == stored.endSequence else {
                throw fail("its manifest names archive \(manifest.sequence) of records \(manifest.firstSequence)..<\(manifest.endSequence), the log's entry records \(stored.firstSequence)..<\(stored.endSequence)")
            }
            let jws: DetachedJWS
            do { jws = try CanonicalSignature.verify(stored.signature, over: stored.manifest, what: "the archive manifest") } catch {
                throw fail("\(error.message) (the manifest or its signature was changed)")
            }
            if let anchors {
                do {
                    let server = try SecurityServerId(parsing: manifest.server)
                    let signer = try await CertificateValidator(trustAnchors: anchors, revocation: nil)
                        .validate(chain: jws.certificateChain, role: .member, at: manifest.createdAt.date)
                    guard signer.holderId == server.owner.canonical else {
                        throw fail("signed by \(signer.holderId), not by the owner of \(manifest.server)")
                    }
                } catch let failure as AuditVerificationFailure {
                    throw failure
                } catch {
                    throw fail("its signer is not trusted: \(error)")
                }
            }
            if let previous = entries.last {
                guard manifest.server == previous.manifest.server, manifest.node == previous.manifest.node else {
                    throw fail("it is for \(manifest.server) node \(manifest.node), the previous archives for \(previous.manifest.server) node \(previous.manifest.node)")
                }
                guard manifest.firstSequence == previous.manifest.endSequence else {
                    throw fail("it starts at record \(manifest.firstSequence), but archive \(previous.stored.sequence) ends before record \(previous.manifest.endSequence) (archives out of order or missing)")
                }
                guard manifest.previousManifestSHA256 == MerkleHash.plainSHA256(previous.stored.manifest) else {
                    throw fail("it does not chain to archive \(previous.stored.sequence)'s manifest (archives out of order, or a manifest was replaced)")
                }
            } else if manifest.firstSequence != 0 {
                throw fail("the first archive starts at record \(manifest.firstSequence), not 0")
            }
            entries.append(Entry(stored: stored, manifest: manifest))
        }
        self.entries = entries
    }

    /// Where the archived records end (0 without archives).
    var archivedEnd: UInt64 { entries.last?.manifest.endSequence ?? 0 }
}

/// Reads one archive file's records for ``AuditLogVerifier``, in bounded chunks, checking the
/// manifest file beside it, and at the end the file's and the content's digests and that it
/// holds exactly the manifest's records.
final class ArchiveRecordReader {
    private let entry: ArchiveChainVerifier.Entry
    private let reader: GzipLineReader
    private var next: UInt64
    /// A failure held back so that the records read before it are checked first.
    private var failure: AuditVerificationFailure?

    /// Opens `entry`'s file in `directory`.
    ///
    /// - Throws: ``AuditVerificationFailure`` naming the archive and its first record if the
    ///   file or its manifest file is missing, or the manifest file is not the store's.
    init(_ entry: ArchiveChainVerifier.Entry, directory: URL) throws(AuditVerificationFailure) {
        self.entry = entry
        self.next = entry.manifest.firstSequence
        let first = entry.manifest.firstSequence
        let path = directory.appendingPathComponent(entry.manifest.file).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw AuditVerificationFailure(sequence: first, reason: "missing: \(entry.label) is not in \(directory.path) (records \(first)..<\(entry.manifest.endSequence) are archived there)")
        }
        let manifestName = AuditArchiveManifestFile.name(for: entry.manifest.file)
        let manifestPath = directory.appendingPathComponent(manifestName).path
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw AuditVerificationFailure(sequence: first, reason: "\(entry.label): its manifest file \(manifestName) is missing or unreadable")
        }
        let sideFile: AuditArchiveManifestFile
        do { sideFile = try AuditArchiveManifestFile(canonicalBytes: Array(data)) } catch {
            throw AuditVerificationFailure(sequence: first, reason: "\(entry.label): its manifest file \(manifestName) is damaged: \(error)")
        }
        guard sideFile.manifest == entry.stored.manifest, sideFile.signature == entry.stored.signature else {
            throw AuditVerificationFailure(sequence: first, reason: "\(entry.label): its manifest file \(manifestName) is not the signed manifest the log recorded (changed)")
        }
        do {
            reader = try GzipLineReader(file: try ArchiveFileDescriptor.openForReading(path))
        } catch {
            throw AuditVerificationFailure(sequence: first, reason: "\(entry.label) cannot be read: \(error.message)")
        }
    }

    /// The canonical bytes of the next up to `count` records (never past the archive's end).
    ///
    /// - Throws: ``AuditVerificationFailure`` naming the first record that cannot be read.
    func nextRecords(_ count: Int) throws(AuditVerificationFailure) -> [[UInt8]] {
        if let failure { throw failure }
        var lines: [[UInt8]] = []
        let wanted = min(UInt64(count), entry.manifest.endSequence - next)
        lines.reserveCapacity(Int(wanted))
        for _ in 0..<wanted {
            let line: [UInt8]?
            do { line = try reader.nextLine() } catch {
                failure = AuditVerificationFailure(sequence: next, reason: "\(entry.label) is damaged at this record: \(error.message)")
                break
            }
            guard let line else {
                failure = AuditVerificationFailure(sequence: next, reason: "missing: \(entry.label) ends before this record (it should hold records up to \(entry.manifest.endSequence - 1))")
                break
            }
            lines.append(line)
            next += 1
        }
        if let failure, lines.isEmpty { throw failure }
        return lines
    }

    /// Checks that the file ends after the manifest's records and that its digests are the
    /// manifest's.
    ///
    /// - Throws: ``AuditVerificationFailure`` naming the archive.
    func finish() throws(AuditVerificationFailure) {
        let last = entry.manifest.endSequence - 1
        let extra: [UInt8]?
        do { extra = try reader.nextLine() } catch {
            throw AuditVerificationFailure(sequence: last, reason: "\(entry.label) is damaged after its last record: \(error.message)")
        }
        guard extra == nil else {
            throw AuditVerificationFailure(sequence: nil, reason: "\(entry.label) holds more lines than its \(entry.manifest.endSequence - entry.manifest.firstSequence) records")
        }
        guard MerkleHash.digest(reader.contentHash) == entry.manifest.recordsSHA256 else {
            throw AuditVerificationFailure(sequence: nil, reason: "\(entry.label): its content does not match the manifest's records_sha256")
        }
        guard MerkleHash.digest(reader.compressedHash) == entry.manifest.fileSHA256 else {
            throw AuditVerificationFailure(sequence: nil, reason: "\(entry.label): the file is not the one its manifest signs (file_sha256 differs), though its records are intact")
        }
    }
}
