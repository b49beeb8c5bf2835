import Foundation
import LienThongCore

/// What an audit archive file holds, signed with the member key (`docs/audit-log.md` §Retention
/// and archiving): leaves `firstSequence..<endSequence` of one log partition, as the gzip file
/// ``file`` of their canonical record bytes one per line, with the digests of the file and of its
/// content, the tree head of the log at ``endSequence``, and the digest of the previous archive's
/// manifest, so that the archives of a log form one hash chain.
///
/// The signed bytes are ``canonicalBytes``, RFC 8785 canonical JSON (schema:
/// `schemas/audit-archive-manifest.schema.json`); the signature is a detached JWS over their
/// SHA-256 (``digest``), like a checkpoint's.
public struct AuditArchiveManifest: Sendable, Hashable {
    /// The format version this code writes and reads.
    public static let currentVersion: Int64 = 1

    /// The security server whose log this is, e.g. `VN/GOV/000.00.00.G01/ss1`.
    public var server: String
    /// The log partition (security-server node), `default` for a single node.
    public var node: String
    /// The archive's number in this partition, from 0.
    public var sequence: UInt64
    /// The first leaf in the archive.
    public var firstSequence: UInt64
    /// One past the last leaf in the archive.
    public var endSequence: UInt64
    /// The archive file's name (no directory) in the archive directory.
    public var file: String
    /// SHA-256 of the archive file (the compressed bytes).
    public var fileSHA256: MerkleHash
    /// SHA-256 of the uncompressed content: each record's canonical bytes followed by a newline.
    public var recordsSHA256: MerkleHash
    /// The tree head of leaves `0..<endSequence`.
    public var tree: TreeHead
    /// SHA-256 of the previous archive's manifest bytes; `nil` only for archive 0.
    public var previousManifestSHA256: MerkleHash?
    /// When the archive was made.
    public var createdAt: AuditTimestamp

    /// Creates a manifest.
    public init(server: String, node: String, sequence: UInt64, firstSequence: UInt64, endSequence: UInt64, file: String,
                fileSHA256: MerkleHash, recordsSHA256: MerkleHash, tree: TreeHead, previousManifestSHA256: MerkleHash?,
                createdAt: AuditTimestamp) {
        self.server = server
        self.node = node
        self.sequence = sequence
        self.firstSequence = firstSequence
        self.endSequence = endSequence
        self.file = file
        self.fileSHA256 = fileSHA256
        self.recordsSHA256 = recordsSHA256
        self.tree = tree
        self.previousManifestSHA256 = previousManifestSHA256
        self.createdAt = createdAt
    }

    /// The canonical JSON value.
    public var canonicalJSON: CanonicalJSON {
        var members: [String: CanonicalJSON] = [
            "v": .integer(Self.currentVersion),
            "server": .string(server),
            "node": .string(node),
            "sequence": .integer(Int64(truncatingIfNeeded: sequence)),
            "first_sequence": .integer(Int64(truncatingIfNeeded: firstSequence)),
            "end_sequence": .integer(Int64(truncatingIfNeeded: endSequence)),
            "file": .string(file),
            "file_sha256": .string(fileSHA256.base64URL),
            "records_sha256": .string(recordsSHA256.base64URL),
            "tree": tree.canonicalJSON,
            "created_at": .string(createdAt.rfc3339),
        ]
        if let previousManifestSHA256 { members["previous_manifest_sha256"] = .string(previousManifestSHA256.base64URL) }
        return .object(members)
    }

    /// The bytes the server signs and the store keeps.
    public var canonicalBytes: [UInt8] { canonicalJSON.canonicalBytes }

    /// The SHA-256 digest of ``canonicalBytes``, which the JWS signs.
    public var digest: MessageDigest { MessageDigest.sha256(of: canonicalBytes) }

    /// Whether `name` may name an archive file: a plain file name of letters, digits, `-`, `_`
    /// and `.`, not starting with a dot (so it cannot leave the archive directory).
    public static func isValidFileName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 200 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }
    }

    /// Parses manifest bytes strictly: they must be exactly the canonical serialisation of a
    /// valid manifest.
    ///
    /// - Throws: ``AuditRecordError`` naming the member at fault.
    public init(canonicalBytes bytes: [UInt8]) throws(AuditRecordError) {
        let reader = try JSONObjectReader(try StrictJSONParser.parse(bytes), field: "", allowed: [
            "v", "server", "node", "sequence", "first_sequence", "end_sequence", "file", "file_sha256", "records_sha256",
            "tree", "previous_manifest_sha256", "created_at",
        ])
        let version = try reader.integer("v")
        guard version == Self.currentVersion else { throw .unsupportedVersion(version) }
        server = try reader.string("server")
        node = try reader.string("node")
        sequence = try reader.unsignedInteger("sequence")
        firstSequence = try reader.unsignedInteger("first_sequence")
        endSequence = try reader.unsignedInteger("end_sequence")
        file = try reader.string("file")
        fileSHA256 = try Self.hash(reader, "file_sha256")
        recordsSHA256 = try Self.hash(reader, "records_sha256")
        guard let treeValue = reader.value("tree") else { throw .missingField("tree") }
        let head = try JSONObjectReader(treeValue, field: "tree", allowed: ["tree_size", "root_hash"])
        tree = TreeHead(treeSize: try head.unsignedInteger("tree_size"), rootHash: try Self.hash(head, "root_hash"))
        previousManifestSHA256 = reader.value("previous_manifest_sha256") == nil ? nil : try Self.hash(reader, "previous_manifest_sha256")
        createdAt = try reader.timestamp("created_at")
        guard Self.isValidFileName(file) else { throw .invalidValue(field: "file") }
        guard firstSequence < endSequence else { throw .invalidValue(field: "end_sequence") }
        guard tree.treeSize == endSequence else { throw .invalidValue(field: "tree.tree_size") }
        guard (previousManifestSHA256 == nil) == (sequence == 0) else { throw .invalidValue(field: "previous_manifest_sha256") }
        guard sequence > 0 || firstSequence == 0 else { throw .invalidValue(field: "first_sequence") }
        guard canonicalBytes == bytes else { throw .notCanonical }
    }

    private static func hash(_ reader: JSONObjectReader, _ name: String) throws(AuditRecordError) -> MerkleHash {
        let text = try reader.string(name)
        guard let hash = MerkleHash(base64URL: text), hash.base64URL == text else { throw .invalidValue(field: reader.path(name)) }
        return hash
    }
}

/// The manifest file written next to an archive, `<file>.manifest.json`: the manifest's canonical
/// bytes (base64url) and the server's detached JWS over them, so that the archive directory
/// describes itself without the store.
public struct AuditArchiveManifestFile: Sendable, Hashable {
    /// The manifest's canonical bytes.
    public var manifest: [UInt8]
    /// The server's detached JWS (compact form) over SHA-256 of ``manifest``.
    public var signature: String

    /// Creates a manifest file.
    public init(manifest: [UInt8], signature: String) {
        self.manifest = manifest
        self.signature = signature
    }

    /// The name of the manifest file of the archive file `file`.
    public static func name(for file: String) -> String { file + ".manifest.json" }

    /// `{"manifest": b64url, "signature": jws}`, canonical JSON.
    public var canonicalBytes: [UInt8] {
        CanonicalJSON.object(["manifest": .string(Base64URL.encode(manifest)), "signature": .string(signature)]).canonicalBytes
    }

    /// Parses a manifest file strictly.
    ///
    /// - Throws: ``AuditRecordError`` naming the member at fault.
    public init(canonicalBytes bytes: [UInt8]) throws(AuditRecordError) {
        let reader = try JSONObjectReader(try StrictJSONParser.parse(bytes), field: "", allowed: ["manifest", "signature"])
        guard let manifest = Base64URL.decode(try reader.string("manifest")) else { throw .invalidValue(field: "manifest") }
        self.manifest = Array(manifest)
        signature = try reader.string("signature")
        guard canonicalBytes == bytes else { throw .notCanonical }
    }
}
