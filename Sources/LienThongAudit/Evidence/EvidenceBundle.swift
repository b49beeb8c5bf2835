import Foundation
import LienThongCore

/// The evidence of one exchange, in one JSON file that an auditor verifies with nothing but the
/// instance's root CA certificate (`schemas/evidence-bundle.schema.json`, `docs/evidence.md`).
///
/// For each side that recorded the exchange (consumer and provider): the exact record bytes
/// (which carry both message signatures with their certificate chains, and the OCSP responses
/// stapled to them), the record's RFC 6962 inclusion proof in the tree of a signed checkpoint,
/// that checkpoint with the member's signature, and the registry's countersigned receipt.
public struct EvidenceBundle: Codable, Sendable, Hashable {
    /// The format version this code writes and reads.
    public static let currentVersion = 1

    /// The format version.
    public var v: Int
    /// The exchange: its `X-Road-Id` message id.
    public var exchange: String
    /// When the bundle was made (informative; not part of any signature).
    public var createdAt: String
    /// One entry per record of the exchange, consumer first.
    public var records: [EvidenceRecord]
    /// Set by the registry's evidence relay only (`GET /api/v1/auditor/evidence/{id}`): `true` when
    /// every security server it asked answered (with its records, or that it holds none), `false`
    /// when one failed to answer, so that the bundle may lack that server's side. Informative, like
    /// ``createdAt``: not part of any signature. Absent in bundles `lienthong audit export` writes.
    public var complete: Bool?
    /// Set by the relay only: what each security server it asked answered.
    public var sources: [EvidenceSource]?

    /// Creates a bundle.
    public init(exchange: String, createdAt: Date, records: [EvidenceRecord], complete: Bool? = nil, sources: [EvidenceSource]? = nil) {
        self.v = Self.currentVersion
        self.exchange = exchange
        self.createdAt = (AuditTimestamp(createdAt) ?? AuditTimestamp(millisecondsSince1970: 0)!).rfc3339
        self.records = records.sorted { ($0.side == .consumer ? 0 : 1, $0.server) < ($1.side == .consumer ? 0 : 1, $1.server) }
        self.complete = complete
        self.sources = sources
    }

    enum CodingKeys: String, CodingKey {
        case v, exchange, records, complete, sources
        case createdAt = "created_at"
    }
}

/// What one security server answered the registry's evidence relay for one exchange (a part of
/// a relayed ``EvidenceBundle``; informative, not signed).
public struct EvidenceSource: Codable, Sendable, Hashable {
    /// How the server answered.
    public enum Status: String, Codable, Sendable, Hashable {
        /// It sent its records of the exchange.
        case ok
        /// It holds no record of the exchange.
        case notFound = "not_found"
        /// It did not answer usefully (unreachable, refused, an error, or an answer for another
        /// exchange): its side may be missing from the bundle.
        case error
    }

    /// The server's id.
    public var server: String
    /// The side the server stands for in this exchange, when known (from the client and service
    /// the auditor named, or from the records it sent).
    public var side: ExchangeSide?
    /// How it answered.
    public var status: Status
    /// How many records it contributed.
    public var records: Int
    /// What went wrong, for ``Status/error``.
    public var error: String?

    /// Creates an entry.
    public init(server: String, side: ExchangeSide?, status: Status, records: Int = 0, error: String? = nil) {
        self.server = server
        self.side = side
        self.status = status
        self.records = records
        self.error = error
    }

    /// One line: `server (side): ok (n records)`, `not found`, or `error: …`.
    public var summary: String {
        let who = side.map { "\(server) (\($0.rawValue))" } ?? server
        switch status {
        case .ok: return "\(who): ok (\(records) record\(records == 1 ? "" : "s"))"
        case .notFound: return "\(who): not found"
        case .error: return "\(who): error: \(error ?? "unknown")"
        }
    }
}

/// One side's record of the exchange, with what proves it is in that side's signed log.
public struct EvidenceRecord: Codable, Sendable, Hashable {
    /// Which side recorded it.
    public var side: ExchangeSide
    /// The recording security server.
    public var server: String
    /// The record's canonical bytes (``AuditRecord``), unpadded base64url.
    public var record: String
    /// The record's position in the log (its leaf index).
    public var leafIndex: UInt64
    /// The RFC 6962 audit path from the record's leaf to the checkpoint's root (nearest sibling first).
    public var inclusionProof: [MerkleHash]
    /// The covering checkpoint's canonical bytes (``AuditCheckpoint``), unpadded base64url.
    public var checkpoint: String
    /// The server's detached JWS over SHA-256 of the checkpoint bytes (member key, `x5c` chain).
    public var checkpointSignature: String
    /// The registry's receipt (``CheckpointReceipt``), unpadded base64url; absent if the
    /// checkpoint has none yet (the bundle then proves less, and says so).
    public var receipt: String?
    /// The registry's detached JWS over SHA-256 of the receipt bytes.
    public var receiptSignature: String?

    /// Creates an entry.
    public init(side: ExchangeSide, server: String, record: [UInt8], leafIndex: UInt64, inclusionProof: [MerkleHash],
                checkpoint: StoredCheckpoint) {
        self.side = side
        self.server = server
        self.record = Base64URL.encode(record)
        self.leafIndex = leafIndex
        self.inclusionProof = inclusionProof
        self.checkpoint = Base64URL.encode(checkpoint.body)
        self.checkpointSignature = checkpoint.signature
        self.receipt = checkpoint.receipt.map { Base64URL.encode($0) }
        self.receiptSignature = checkpoint.receiptSignature
    }

    enum CodingKeys: String, CodingKey {
        case side, server, record, receipt
        case leafIndex = "leaf_index"
        case inclusionProof = "inclusion_proof"
        case checkpoint
        case checkpointSignature = "checkpoint_signature"
        case receiptSignature = "receipt_signature"
    }
}

/// Why evidence could not be exported.
public struct EvidenceExportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: Sendable, Hashable {
        /// The log holds no record of the exchange.
        case notFound
        /// The exchange is in the log, but no checkpoint covers it yet: retry after the next one.
        case notCheckpointed
        /// The log is damaged.
        case damaged
    }

    /// The kind of failure.
    public var code: Code
    /// What went wrong.
    public var message: String
    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    /// The message.
    public var description: String { message }
}

/// Finds an exchange's records in a log and proves them.
public enum EvidenceExporter {
    /// The evidence in `store` for message id `exchange`: every record with that message id,
    /// each with an inclusion proof in the first checkpoint that covers it (the first one with a
    /// registry receipt, if any covering checkpoint has one).
    ///
    /// The search reads every record (there is no message-id index); it takes seconds for
    /// millions of records.
    ///
    /// - Throws: ``EvidenceExportError`` if the exchange is not in the log or no checkpoint covers
    ///   it yet, ``AuditStoreError`` if the store cannot be read.
    public static func evidence(for exchange: String, in store: any AuditLeafStore, batch: UInt64 = 20_000) async throws -> [EvidenceRecord] {
        let count = try await store.count()
        var found: [(leaf: StoredLeaf, record: AuditRecord)] = []
        var start: UInt64 = 0
        // Records are canonical, so the member is spelled exactly like this in every record of the exchange.
        let needle = Array("\"message_id\":".utf8) + CanonicalJSON.string(exchange).canonicalBytes
        while start < count {
            let end = min(count, start + batch)
            for leaf in try await store.leaves(start..<end) where leaf.bytes.contains(needle) {
                let record = try AuditRecord(canonicalBytes: leaf.bytes)
                if record.messageId == exchange { found.append((leaf, record)) }
            }
            start = end
        }
        guard !found.isEmpty else { throw EvidenceExportError(.notFound, "no record of exchange \(exchange) in this log") }
        let checkpoints = try await store.checkpoints(from: 0)
        var result: [EvidenceRecord] = []
        for (leaf, record) in found {
            let covering = checkpoints.filter { $0.treeSize > leaf.sequence }
            guard let checkpoint = covering.first(where: { $0.receipt != nil }) ?? covering.first else {
                throw EvidenceExportError(.notCheckpointed, "record \(leaf.sequence) of exchange \(exchange) is not covered by a checkpoint yet; try again after the next checkpoint")
            }
            let hashes = try await store.leafHashes(0..<checkpoint.treeSize).map { bytes throws(EvidenceExportError) -> MerkleHash in
                guard let hash = MerkleHash(bytes: bytes) else { throw EvidenceExportError(.damaged, "the log holds a damaged leaf hash") }
                return hash
            }
            let proof = try MerkleProofs.inclusionProof(index: leaf.sequence, treeSize: checkpoint.treeSize, leafHashes: hashes)
            result.append(EvidenceRecord(side: record.side, server: record.server, record: leaf.bytes, leafIndex: leaf.sequence,
                                         inclusionProof: proof.auditPath, checkpoint: checkpoint))
        }
        return result
    }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs in the bytes.
    func contains(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count, let first = needle.first else { return needle.isEmpty }
        var i = 0
        while i <= count - needle.count {
            if self[i] == first, self[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}
