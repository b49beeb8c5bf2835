import Foundation
import GRDB
import LienThongAudit
import LienThongCore
import LienThongTrust
import X509

/// A checkpoint as the registry received and countersigned it.
public struct LedgerEntry: Sendable, Hashable {
    /// The receipt's number at the registry, from 1.
    public var registrySequence: UInt64
    /// The checkpoint as the server signed it.
    public var checkpoint: AuditCheckpoint
    /// Its canonical bytes.
    public var body: [UInt8]
    /// The server's compact JWS over SHA-256 of ``body``.
    public var signature: String
    /// The receipt's canonical bytes.
    public var receipt: [UInt8]
    /// The registry's compact JWS over SHA-256 of ``receipt``.
    public var receiptSignature: String
}

/// Why the registry refused a checkpoint. The management API maps each code to a status and an
/// X-Road style error type.
public struct CheckpointRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// Why.
    public enum Code: String, Sendable, Hashable {
        /// Not a valid submission or canonical checkpoint (400 `Client.BadRequest`).
        case malformed
        /// The signature does not verify (400 `Client.InvalidSignature`).
        case badSignature
        /// The signer is not trusted or is not the server's owner, or the server is unknown
        /// (403 `Client.Forbidden`).
        case forbidden
        /// The checkpoint does not continue the ledger's last one for that server and node
        /// (409 `Client.CheckpointConflict`).
        case conflict
        /// The ledger cannot be written (503 `Server.Registry.StoreUnavailable`).
        case unavailable
        /// A number is out of range: beyond its bound when parsed (2^53 − 1 for counts, sizes
        /// and totals), or a sum with what the registry holds would be (400
        /// `Client.ValueOutOfRange`; `docs/robustness.md` §Untrusted numbers).
        case outOfRange
    }

    /// The code.
    public var code: Code
    /// A sentence for the server's operator.
    public var message: String

    /// Creates a refusal.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}

/// The registry's record of every security server's checkpoints: it verifies each one (the
/// member's signature and certificate, the server's registration, and that the log only grew
/// since the last one — RFC 6962 consistency), countersigns it with its own time, and stores it.
///
/// Receipts form one hash chain in issue order, so the registry cannot quietly drop one either.
/// Resubmitting a checkpoint already received returns the same receipt (servers retry when an
/// answer is lost).
public actor CheckpointLedger {
    private let pool: DatabasePool
    private let instance: String
    private let signer: DetachedJWS.Signer
    private let validator: CertificateValidator
    private let clock: @Sendable () -> Date
    private var head: (sequence: UInt64, digest: MerkleHash)?
    private var writes = Turnstile()

    /// Opens (creating if needed) the ledger at `path`.
    ///
    /// - Parameters:
    ///   - signer: the registry's configuration-signing key and chain, which countersign.
    ///   - validator: validates the members' signing certificates (chain, role, OCSP).
    public init(path: String, instance: String, signer: DetachedJWS.Signer, validator: CertificateValidator,
                clock: @escaping @Sendable () -> Date = { Date() }) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let pool = try DatabasePool(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE checkpoints (
                    registry_sequence INTEGER PRIMARY KEY NOT NULL,
                    server TEXT NOT NULL,
                    node TEXT NOT NULL,
                    sequence INTEGER NOT NULL,
                    tree_size INTEGER NOT NULL,
                    window_start TEXT NOT NULL,
                    window_end TEXT NOT NULL,
                    received_at TEXT NOT NULL,
                    body BLOB NOT NULL,
                    signature TEXT NOT NULL,
                    receipt BLOB NOT NULL,
                    receipt_signature TEXT NOT NULL,
                    UNIQUE (server, node, sequence)
                );
                CREATE INDEX checkpoints_window ON checkpoints (window_end);
                CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
                    BEGIN SELECT RAISE(ABORT, 'the checkpoint ledger is append-only'); END;
                CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
                    BEGIN SELECT RAISE(ABORT, 'the checkpoint ledger is append-only'); END;
                """)
        }
        migrator.registerMigration("v2-usage") { db in try UsageStore.migrate(db) }
        migrator.registerMigration("v3-usage-bounds") { db in try UsageStore.migrateBounds(db) }
        try migrator.migrate(pool)
        self.pool = pool
        self.instance = instance
        self.signer = signer
        self.validator = validator
        self.clock = clock
        self.head = try pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT registry_sequence, receipt FROM checkpoints ORDER BY registry_sequence DESC LIMIT 1") else {
                return nil
            }
            let sequence: Int64 = row["registry_sequence"]
            let receipt: Data = row["receipt"]
            return (UInt64(sequence), MerkleHash.plainSHA256(Array(receipt)))
        }
    }

    /// How far past the registry's clock a checkpoint's `window_end` may lie (servers' clocks
    /// drift; NTP keeps them well within this): 5 minutes.
    public static let clockSkewMilliseconds: Int64 = 300_000

    /// Verifies, countersigns and stores a checkpoint. A checkpoint speaks only for its signer
    /// (`docs/audit-checkpoints.md` §What the registry accepts): it must come from the server it is
    /// for, for a node that server declared, signed by the server's owner, and its usage counters
    /// must name only what that owner may speak for, add up to the records of its window, and
    /// fall inside its window; its window must not overlap the previous one of its chain. Every
    /// refusal throws before anything is written.
    ///
    /// - Parameters:
    ///   - body: the checkpoint's canonical bytes.
    ///   - signature: the server's compact JWS over SHA-256 of `body`.
    ///   - ocsp: the signer's stapled OCSP response (DER), if the server sent one.
    ///   - submitter: the security server that submitted it, as authenticated by its pinned TLS
    ///     certificate (``CheckpointRoutes``).
    ///   - registry: the registry's records (servers with their nodes, agreements).
    /// - Returns: the entry, with the receipt, and whether it is new (`false`: the stored one,
    ///   for a resubmission).
    public func submit(body: [UInt8], signature: String, ocsp: [UInt8]?, from submitter: SecurityServerId,
                       registry: RegistrySnapshot) async throws(CheckpointRefusal) -> (entry: LedgerEntry, created: Bool) {
        let checkpoint: AuditCheckpoint
        do { checkpoint = try AuditCheckpoint(canonicalBytes: body) } catch {
            if case .valueOutOfRange = error { throw CheckpointRefusal(.outOfRange, "the checkpoint's numbers are out of range: \(error)") }
            throw CheckpointRefusal(.malformed, "the checkpoint is not valid canonical checkpoint JSON: \(error)")
        }
        let jws: DetachedJWS
        do { jws = try CanonicalSignature.verify(signature, over: body, what: "checkpoint \(checkpoint.sequence)") } catch {
            throw CheckpointRefusal(.badSignature, error.message)
        }
        let server: SecurityServerId
        do { server = try SecurityServerId(parsing: checkpoint.server) } catch {
            throw CheckpointRefusal(.malformed, "the checkpoint's server \"\(checkpoint.server.prefix(200))\" is not a security server identifier: \(error)")
        }
        guard server == submitter else {
            throw CheckpointRefusal(.forbidden, "a checkpoint of \(checkpoint.server) submitted over the TLS connection of \(submitter.canonical); a server submits only its own")
        }
        guard let registered = registry.servers.first(where: { $0.id == server }) else {
            throw CheckpointRefusal(.forbidden, "security server \(checkpoint.server) is not registered")
        }
        let member = registered.id.owner
        guard registered.nodes.contains(checkpoint.node) else {
            throw CheckpointRefusal(.forbidden, "node \"\(checkpoint.node.prefix(100))\" is not declared for \(checkpoint.server) (declared: \(registered.nodes.joined(separator: ", ")))")
        }
        let now = clock()
        do {
            let signer = try await validator.validate(chain: jws.certificateChain, role: .member, stapledOCSP: ocsp, at: now)
            guard signer.holderId == member.canonical else {
                throw CheckpointRefusal(.forbidden, "checkpoint signed by \(signer.holderId), but \(checkpoint.server) belongs to \(member)")
            }
        } catch let error as CertificateValidationError {
            throw CheckpointRefusal(.forbidden, "the checkpoint's signing certificate is not acceptable: \(error.message)")
        } catch let refusal as CheckpointRefusal {
            throw refusal
        } catch {
            throw CheckpointRefusal(.forbidden, "the checkpoint's signing certificate is not acceptable: \(error)")
        }

        // From the chain checks to the new head, one submission at a time: the write below suspends,
        // and without this a second submission could interleave (actor reentrancy), take the same
        // registry sequence (a 503 for an honest server) or extend the same chain twice.
        await beginWrite()
        defer { endWrite() }
        let last = try lastEntry(server: checkpoint.server, node: checkpoint.node)
        if let last, last.checkpoint.sequence >= checkpoint.sequence {
            guard let same = try entry(server: checkpoint.server, node: checkpoint.node, sequence: checkpoint.sequence),
                  same.body == body, same.signature == signature else {
                throw CheckpointRefusal(.conflict, "the registry already holds a different checkpoint \(checkpoint.sequence) for \(checkpoint.server) node \(checkpoint.node)")
            }
            return (same, false)
        }
        try Self.checkUsage(checkpoint, owner: member, registry: registry, now: now)
        let expected = last.map { $0.checkpoint.sequence + 1 } ?? 0
        guard checkpoint.sequence == expected else {
            throw CheckpointRefusal(.conflict, "expected checkpoint \(expected) from \(checkpoint.server) node \(checkpoint.node), got \(checkpoint.sequence)")
        }
        if let last {
            guard checkpoint.previous == last.checkpoint.tree else {
                throw CheckpointRefusal(.conflict, "checkpoint \(checkpoint.sequence) does not link to checkpoint \(last.checkpoint.sequence)'s tree head")
            }
            do { try checkpoint.verifyConsistency(from: last.checkpoint.tree) } catch {
                throw CheckpointRefusal(.conflict, "checkpoint \(checkpoint.sequence) is not an append-only extension of checkpoint \(last.checkpoint.sequence): \(error)")
            }
            guard last.checkpoint.windowEnd <= checkpoint.windowStart else {
                throw CheckpointRefusal(.conflict, "checkpoint \(checkpoint.sequence)'s window starts at \(checkpoint.windowStart.rfc3339), before checkpoint \(last.checkpoint.sequence)'s ended (\(last.checkpoint.windowEnd.rfc3339)): windows of one chain must not overlap")
            }
        }

        guard let receivedAt = AuditTimestamp(now) else { throw CheckpointRefusal(.unavailable, "the registry's clock reads an impossible time") }
        let registrySequence = (head?.sequence ?? 0) + 1
        let receipt = CheckpointReceipt(for: checkpoint, body: body, signature: signature, instance: instance,
                                        registrySequence: registrySequence, previousReceipt: head?.digest, receivedAt: receivedAt)
        let receiptBytes = receipt.canonicalBytes
        let receiptSignature: String
        do { receiptSignature = try signer.sign(digest: MessageDigest.sha256(of: receiptBytes)).compact } catch {
            throw CheckpointRefusal(.unavailable, "the registry cannot countersign: \(error)")
        }
        let entry = LedgerEntry(registrySequence: registrySequence, checkpoint: checkpoint, body: body, signature: signature,
                                receipt: receiptBytes, receiptSignature: receiptSignature)
        do {
            try await pool.write { db in
                try db.execute(sql: """
                    INSERT INTO checkpoints (registry_sequence, server, node, sequence, tree_size, window_start, window_end,
                                             received_at, body, signature, receipt, receipt_signature)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [Int64(registrySequence), checkpoint.server, checkpoint.node, Int64(checkpoint.sequence),
                                     Int64(checkpoint.tree.treeSize), checkpoint.windowStart.rfc3339, checkpoint.windowEnd.rfc3339,
                                     receivedAt.rfc3339, Data(body), signature, Data(receiptBytes), receiptSignature])
                // Usage is counted in the same transaction: a checkpoint is counted once, or not at all.
                try UsageStore.ingest(db, checkpoint: checkpoint, registrySequence: registrySequence)
            }
        } catch {
            // Nothing was written: the transaction rolled back.
            if let refusal = UsageStore.outOfRange(error) { throw refusal }
            throw CheckpointRefusal(.unavailable, "the checkpoint ledger cannot be written: \(error)")
        }
        head = (registrySequence, MerkleHash.plainSHA256(receiptBytes))
        return (entry, true)
    }

    private func beginWrite() async {
        if !writes.enter() { await withCheckedContinuation { writes.wait($0) } }
    }

    private func endWrite() {
        writes.leave()
    }

    /// The checks on a checkpoint's usage counters and window (`docs/audit-checkpoints.md`):
    ///
    /// - its window does not end in the future (registry clock + ``clockSkewMilliseconds``): 400;
    /// - no two counters share a key; their counts add up, with checked arithmetic, to exactly the
    ///   records of the window (``AuditCheckpoint/windowRecordCount``): 400;
    /// - every counter's usage window lies in ``UsageAttribution/windowBounds(windowStart:windowEnd:)``: 400;
    /// - a provider-side counter names only services and datasets of `owner`; a consumer-side
    ///   counter names only subsystems of `owner` as client; an agreement named must exist, and be
    ///   on a dataset of `owner` (provider side) or have the counter's client as its consumer
    ///   (consumer side): 403.
    static func checkUsage(_ checkpoint: AuditCheckpoint, owner: MemberId, registry: RegistrySnapshot, now: Date) throws(CheckpointRefusal) {
        let nowMs = AuditTimestamp(now)?.millisecondsSince1970 ?? Int64.max
        let (latestEnd, overflow) = nowMs.addingReportingOverflow(clockSkewMilliseconds)
        guard overflow || checkpoint.windowEnd.millisecondsSince1970 <= latestEnd else {
            throw CheckpointRefusal(.malformed, "the checkpoint's window ends at \(checkpoint.windowEnd.rfc3339), in the future of the registry's clock (tolerance \(clockSkewMilliseconds / 1000) s)")
        }
        let bounds = UsageAttribution.windowBounds(windowStart: checkpoint.windowStart, windowEnd: checkpoint.windowEnd)
        var agreements: [String: Agreement]?
        var keys: Set<UsageCounter.Key> = []
        var total: UInt64 = 0
        for (index, counter) in checkpoint.usage.enumerated() {
            let key = counter.key
            let name = "usage counter \(index)"
            guard keys.insert(key).inserted else { throw CheckpointRefusal(.malformed, "\(name) repeats the key of another counter") }
            let (sum, overflow) = total.addingReportingOverflow(counter.count)
            guard !overflow else { throw CheckpointRefusal(.malformed, "the usage counters' counts overflow when added up") }
            total = sum
            guard bounds.earliest <= key.window, key.window <= bounds.latest else {
                throw CheckpointRefusal(.malformed, "\(name)'s window \(key.window.rfc3339) is outside the checkpoint's window (\(bounds.earliest.rfc3339) to \(bounds.latest.rfc3339), see docs/audit-checkpoints.md)")
            }
            switch key.side {
            case .provider:
                if let service = key.service, !UsageAttribution.isOwnService(service, of: owner) {
                    throw CheckpointRefusal(.forbidden, "\(name) is provider-side for service \(service.prefix(200)), which is not \(owner)'s")
                }
                if let dataset = key.dataset, !UsageAttribution.isOwnDataset(dataset, of: owner) {
                    throw CheckpointRefusal(.forbidden, "\(name) is provider-side for dataset \(dataset.prefix(200)), which is not \(owner)'s")
                }
            case .consumer:
                if let client = key.client, !UsageAttribution.isOwnClient(client, of: owner) {
                    throw CheckpointRefusal(.forbidden, "\(name) is consumer-side for client \(client.prefix(200)), which is not a subsystem of \(owner)")
                }
            }
            if let id = key.agreement {
                if agreements == nil { agreements = Dictionary(registry.agreements.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first }) }
                guard let agreement = agreements?[id] else {
                    throw CheckpointRefusal(.forbidden, "\(name) names agreement \(id.prefix(100)), which the registry does not hold")
                }
                switch key.side {
                case .provider:
                    guard agreement.dataset.owner == owner else {
                        throw CheckpointRefusal(.forbidden, "\(name) is provider-side under agreement \(id), on a dataset of \(agreement.dataset.owner), not of \(owner)")
                    }
                case .consumer:
                    guard key.client == agreement.consumer.canonical else {
                        throw CheckpointRefusal(.forbidden, "\(name) is consumer-side under agreement \(id), whose consumer is \(agreement.consumer), not \(key.client ?? "an absent client")")
                    }
                }
            }
        }
        guard total == checkpoint.windowRecordCount else {
            throw CheckpointRefusal(.malformed, "the usage counters count \(total) records, but the checkpoint's window holds \(checkpoint.windowRecordCount)")
        }
    }

    /// Read access to the ledger's database, for ``ComplianceEngine``: the checkpoints and the
    /// usage tables built from them (`docs/compliance.md`). Reads see a consistent snapshot and
    /// never wait for ``submit(body:signature:ocsp:from:registry:)``.
    public nonisolated var reader: any DatabaseReader { pool }

    /// Per security server (canonical id), the latest checkpoint `window_end` it has reached: the
    /// earliest over its log partitions (nodes), leaving out a node more than 24 hours behind the
    /// server's most recent one. A server that never checkpointed is absent.
    public nonisolated func latestWindowEnds() throws(CheckpointRefusal) -> [String: AuditTimestamp] {
        let ends: [String: Int64]
        do { ends = try pool.read { db in try UsageStore.latestWindowEnds(db) } } catch {
            throw CheckpointRefusal(.unavailable, "the checkpoint ledger cannot be read: \(error)")
        }
        return ends.compactMapValues { AuditTimestamp(millisecondsSince1970: $0) }
    }

    /// **Benchmarks and tests only**: adds the usage counters and windows of `checkpoints` to the
    /// usage tables through the same ingestion code as ``submit(body:signature:ocsp:from:registry:)``, in
    /// one transaction, WITHOUT verifying, countersigning or storing the checkpoints themselves
    /// (their usage rows get registry sequence 0). `lienthong registry bench-compliance` uses it to
    /// load a year of synthetic usage; nothing on a request path may call it.
    package nonisolated func ingestSynthetic(_ checkpoints: [AuditCheckpoint]) async throws {
        try await pool.write { db in
            try UsageStore.ingest(db, checkpoints.map { ($0, 0) })
        }
    }

    /// Entries in registry order, optionally for one server, with `registry_sequence >= from`.
    public func entries(server: String? = nil, from: UInt64 = 1, limit: Int = 1000) throws(CheckpointRefusal) -> [LedgerEntry] {
        var sql = "SELECT * FROM checkpoints WHERE registry_sequence >= ?"
        var arguments: [any DatabaseValueConvertible] = [Int64(clamping: from)]
        if let server {
            sql += " AND server = ?"
            arguments.append(server)
        }
        sql += " ORDER BY registry_sequence LIMIT ?"
        arguments.append(limit)
        return try fetch(sql, StatementArguments(arguments))
    }

    /// The last entry for one server's node.
    public func lastEntry(server: String, node: String) throws(CheckpointRefusal) -> LedgerEntry? {
        try fetch("SELECT * FROM checkpoints WHERE server = ? AND node = ? ORDER BY sequence DESC LIMIT 1", [server, node]).first
    }

    /// One checkpoint's entry.
    public func entry(server: String, node: String, sequence: UInt64) throws(CheckpointRefusal) -> LedgerEntry? {
        try fetch("SELECT * FROM checkpoints WHERE server = ? AND node = ? AND sequence = ?", [server, node, Int64(sequence)]).first
    }

    private func fetch(_ sql: String, _ arguments: StatementArguments) throws(CheckpointRefusal) -> [LedgerEntry] {
        let rows: [Row]
        do { rows = try pool.read { db in try Row.fetchAll(db, sql: sql, arguments: arguments) } } catch {
            throw CheckpointRefusal(.unavailable, "the checkpoint ledger cannot be read: \(error)")
        }
        return try rows.map { row throws(CheckpointRefusal) in
            let body: Data = row["body"]
            let sequence: Int64 = row["registry_sequence"]
            let receipt: Data = row["receipt"]
            do {
                return LedgerEntry(registrySequence: UInt64(sequence), checkpoint: try AuditCheckpoint(canonicalBytes: Array(body)),
                                   body: Array(body), signature: row["signature"], receipt: Array(receipt),
                                   receiptSignature: row["receipt_signature"])
            } catch {
                throw CheckpointRefusal(.unavailable, "the checkpoint ledger holds a damaged entry \(sequence): \(error)")
            }
        }
    }
}
