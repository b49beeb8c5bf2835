import Foundation
import LienThongCore
import LienThongTrust

/// The registry's countersignature of one checkpoint: what it received, from whom, and when,
/// signed with the registry's configuration-signing key. The registry acts as the log's
/// timestamping authority: ``receivedAt`` is its time, and the receipts it issues form one
/// hash chain (``previousReceipt``) in the order it issued them.
///
/// Signed bytes: ``canonicalBytes`` (schema `schemas/audit-checkpoint-receipt.schema.json`).
public struct CheckpointReceipt: Sendable, Hashable {
    /// The format version this code writes and reads.
    public static let currentVersion: Int64 = 1

    /// The instance whose registry issued the receipt, e.g. `VN`.
    public var instance: String
    /// The receipt's number at the registry, from 1, across all servers.
    public var registrySequence: UInt64
    /// SHA-256 of the previous receipt's canonical bytes; `nil` for the registry's first.
    public var previousReceipt: MerkleHash?
    /// The checkpoint's server.
    public var server: String
    /// The checkpoint's log partition.
    public var node: String
    /// The checkpoint's number.
    public var sequence: UInt64
    /// The tree head the checkpoint signed.
    public var tree: TreeHead
    /// SHA-256 of the checkpoint's canonical bytes.
    public var checkpointDigest: MerkleHash
    /// SHA-256 of the server's compact JWS over the checkpoint (ASCII bytes).
    public var signatureDigest: MerkleHash
    /// When the registry received and accepted the checkpoint.
    public var receivedAt: AuditTimestamp

    /// Creates a receipt.
    public init(instance: String, registrySequence: UInt64, previousReceipt: MerkleHash?, server: String, node: String,
                sequence: UInt64, tree: TreeHead, checkpointDigest: MerkleHash, signatureDigest: MerkleHash,
                receivedAt: AuditTimestamp) {
        self.instance = instance
        self.registrySequence = registrySequence
        self.previousReceipt = previousReceipt
        self.server = server
        self.node = node
        self.sequence = sequence
        self.tree = tree
        self.checkpointDigest = checkpointDigest
        self.signatureDigest = signatureDigest
        self.receivedAt = receivedAt
    }

    /// The receipt for `checkpoint` (whose canonical bytes are `body`, signed by `signature`).
    public init(for checkpoint: AuditCheckpoint, body: [UInt8], signature: String, instance: String,
                registrySequence: UInt64, previousReceipt: MerkleHash?, receivedAt: AuditTimestamp) {
        self.init(instance: instance, registrySequence: registrySequence, previousReceipt: previousReceipt,
                  server: checkpoint.server, node: checkpoint.node, sequence: checkpoint.sequence, tree: checkpoint.tree,
                  checkpointDigest: MerkleHash.plainSHA256(body), signatureDigest: MerkleHash.plainSHA256(Array(signature.utf8)),
                  receivedAt: receivedAt)
    }

    /// The canonical JSON value.
    public var canonicalJSON: CanonicalJSON {
        var members: [String: CanonicalJSON] = [
            "v": .integer(Self.currentVersion),
            "instance": .string(instance),
            "registry_sequence": .integer(Int64(truncatingIfNeeded: registrySequence)),
            "server": .string(server),
            "node": .string(node),
            "sequence": .integer(Int64(truncatingIfNeeded: sequence)),
            "tree": tree.canonicalJSON,
            "checkpoint_sha256": .string(checkpointDigest.base64URL),
            "signature_sha256": .string(signatureDigest.base64URL),
            "received_at": .string(receivedAt.rfc3339),
        ]
        if let previousReceipt { members["previous_receipt_sha256"] = .string(previousReceipt.base64URL) }
        return .object(members)
    }

    /// The bytes the registry signs.
    public var canonicalBytes: [UInt8] { canonicalJSON.canonicalBytes }

    /// Parses receipt bytes strictly (exactly the canonical serialisation of a valid receipt).
    ///
    /// - Throws: ``AuditRecordError`` naming the member at fault.
    public init(canonicalBytes bytes: [UInt8]) throws(AuditRecordError) {
        let reader = try JSONObjectReader(try StrictJSONParser.parse(bytes), field: "", allowed: [
            "v", "instance", "registry_sequence", "previous_receipt_sha256", "server", "node", "sequence", "tree",
            "checkpoint_sha256", "signature_sha256", "received_at",
        ])
        let version = try reader.integer("v")
        guard version == Self.currentVersion else { throw .unsupportedVersion(version) }
        func hash(_ name: String) throws(AuditRecordError) -> MerkleHash {
            let text = try reader.string(name)
            guard let hash = MerkleHash(base64URL: text), hash.base64URL == text else { throw .invalidValue(field: name) }
            return hash
        }
        instance = try reader.string("instance")
        registrySequence = try reader.unsignedInteger("registry_sequence")
        previousReceipt = reader.value("previous_receipt_sha256") == nil ? nil : try hash("previous_receipt_sha256")
        server = try reader.string("server")
        node = try reader.string("node")
        sequence = try reader.unsignedInteger("sequence")
        guard let treeValue = reader.value("tree") else { throw .missingField("tree") }
        let head = try JSONObjectReader(treeValue, field: "tree", allowed: ["tree_size", "root_hash"])
        let rootText = try head.string("root_hash")
        guard let root = MerkleHash(base64URL: rootText), root.base64URL == rootText else { throw .invalidValue(field: "tree.root_hash") }
        tree = TreeHead(treeSize: try head.unsignedInteger("tree_size"), rootHash: root)
        checkpointDigest = try hash("checkpoint_sha256")
        signatureDigest = try hash("signature_sha256")
        receivedAt = try reader.timestamp("received_at")
        guard canonicalBytes == bytes else { throw .notCanonical }
    }

    /// Whether this receipt is for `checkpoint` as the server signed it.
    public func covers(body: [UInt8], signature: String) -> Bool {
        checkpointDigest == MerkleHash.plainSHA256(body) && signatureDigest == MerkleHash.plainSHA256(Array(signature.utf8))
    }
}

/// Why a checkpoint or receipt does not verify.
public struct CheckpointError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong.
    public enum Code: String, Sendable, Hashable {
        /// The bytes are not a valid canonical checkpoint or receipt.
        case malformed
        /// A signature is missing, malformed or does not verify.
        case badSignature
        /// The signer's certificate is not acceptable (chain, validity, role, revocation, holder).
        case untrustedSigner
        /// The checkpoint does not continue the previous one (sequence, tree head or consistency proof).
        case inconsistent
        /// The checkpoint contradicts the log it claims to describe.
        case mismatch
    }

    /// The code.
    public var code: Code
    /// A sentence naming what is wrong.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}

/// A detached JWS over SHA-256 of some canonical bytes, verified: the signature matches the bytes
/// under the embedded leaf certificate's key. Whether that certificate is trusted is checked
/// separately (``CertificateValidator``).
public enum CanonicalSignature {
    /// Verifies `compact` over SHA-256 of `bytes` and returns the parsed JWS.
    ///
    /// - Throws: ``CheckpointError/Code/badSignature``.
    public static func verify(_ compact: String, over bytes: [UInt8], what: String) throws(CheckpointError) -> DetachedJWS {
        let jws: DetachedJWS
        do { jws = try DetachedJWS(compact: compact) } catch {
            throw CheckpointError(.badSignature, "the signature of \(what) is not a detached JWS: \(error)")
        }
        do { try jws.verify(digest: MessageDigest.sha256(of: bytes)) } catch {
            throw CheckpointError(.badSignature, "the signature of \(what) does not verify: \(error)")
        }
        return jws
    }
}

extension MerkleHash {
    /// SHA-256 of `bytes` (plain, without RFC 6962's domain-separation prefix).
    public static func plainSHA256(_ bytes: [UInt8]) -> MerkleHash {
        // MessageDigest is always 32 bytes.
        MerkleHash(bytes: MessageDigest.sha256(of: bytes).bytes) ?? .empty
    }
}
