import Foundation
import GRDB

/// The embedded default ``AuditLeafStore``: one SQLite file per security server, GRDB's
/// `DatabasePool` in write-ahead-log mode with `synchronous=FULL`, so a transaction is on stable
/// storage (fsync'd) when a write returns.
///
/// Schema:
/// - migration `v1`: `leaves(sequence INTEGER PRIMARY KEY, leaf_hash BLOB NOT NULL, record BLOB)`;
///   `record` is NULL once the leaf is archived.
/// - migration `v2`: `checkpoints(sequence INTEGER PRIMARY KEY, tree_size, body BLOB, signature
///   TEXT, receipt BLOB NULL, receipt_signature TEXT NULL)` and `archives(sequence INTEGER PRIMARY
///   KEY, first_sequence, end_sequence, manifest BLOB, signature TEXT)`.
///
/// The tables are append-only by trigger, whoever writes to the file: no row is ever deleted; a
/// leaf may only be updated by setting its `record` to NULL (hash and sequence unchanged) when it
/// lies below the highest archived `end_sequence`; a checkpoint may only be updated by setting its
/// receipt and receipt signature, once, while both are NULL; archives are never updated.
public final class SQLiteAuditLeafStore: AuditLeafStore {
    /// The database file.
    public let path: String
    private let pool: DatabasePool

    /// Opens (creating if needed) the store at `path`; its directory must exist.
    /// - Throws: ``AuditStoreError`` `.unavailable` if the file cannot be opened or migrated.
    public init(path: String) throws(AuditStoreError) {
        self.path = path
        self.pool = try Self.openDurablePool(path: path, migrator: Self.migrator, what: "the audit log")
    }

    /// A `DatabasePool` at `path` in write-ahead-log mode with `synchronous=FULL` (a commit is on
    /// stable storage when it returns) and a 10 s busy timeout, migrated with `migrator`: the audit
    /// log's and the replay store's files.
    ///
    /// - Throws: ``AuditStoreError`` `.unavailable` naming `what` if the file cannot be opened or
    ///   migrated.
    static func openDurablePool(path: String, migrator: DatabaseMigrator, what: String) throws(AuditStoreError) -> DatabasePool {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            let pool = try DatabasePool(path: path, configuration: configuration)
            try migrator.migrate(pool)
            return pool
        } catch {
            throw AuditStoreError(.unavailable, "cannot open \(what) \(path): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            // `record` is nullable for archived leaves (v1 was never deployed with NOT NULL).
            try db.execute(sql: """
                CREATE TABLE leaves (
                    sequence INTEGER PRIMARY KEY NOT NULL,
                    leaf_hash BLOB NOT NULL,
                    record BLOB
                );
                CREATE TRIGGER leaves_no_update BEFORE UPDATE ON leaves
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TRIGGER leaves_no_delete BEFORE DELETE ON leaves
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                """)
        }
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                CREATE TABLE checkpoints (
                    sequence INTEGER PRIMARY KEY NOT NULL CHECK (sequence >= 0),
                    tree_size INTEGER NOT NULL CHECK (tree_size >= 0),
                    body BLOB NOT NULL,
                    signature TEXT NOT NULL,
                    receipt BLOB,
                    receipt_signature TEXT
                );
                CREATE TABLE archives (
                    sequence INTEGER PRIMARY KEY NOT NULL CHECK (sequence >= 0),
                    first_sequence INTEGER NOT NULL CHECK (first_sequence >= 0),
                    end_sequence INTEGER NOT NULL CHECK (end_sequence > first_sequence),
                    manifest BLOB NOT NULL,
                    signature TEXT NOT NULL
                );

                -- A leaf may lose its record (never its hash or position) once an archive covers it.
                DROP TRIGGER leaves_no_update;
                CREATE TRIGGER leaves_no_update BEFORE UPDATE ON leaves
                    WHEN NOT (NEW.sequence IS OLD.sequence
                              AND NEW.leaf_hash IS OLD.leaf_hash
                              AND OLD.record IS NOT NULL
                              AND NEW.record IS NULL
                              AND OLD.sequence < (SELECT COALESCE(MAX(end_sequence), 0) FROM archives))
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: a leaf may only lose its record once archived'); END;

                -- A checkpoint gains its receipt once; nothing else of it ever changes.
                CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
                    WHEN NOT (NEW.sequence IS OLD.sequence
                              AND NEW.tree_size IS OLD.tree_size
                              AND NEW.body IS OLD.body
                              AND NEW.signature IS OLD.signature
                              AND OLD.receipt IS NULL AND OLD.receipt_signature IS NULL
                              AND NEW.receipt IS NOT NULL AND NEW.receipt_signature IS NOT NULL)
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: a checkpoint may only gain its receipt, once'); END;
                CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

                CREATE TRIGGER archives_no_update BEFORE UPDATE ON archives
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TRIGGER archives_no_delete BEFORE DELETE ON archives
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                """)
        }
        return migrator
    }

    // MARK: Leaves

    /// The number of leaves, archived ones included.
    public func count() async throws(AuditStoreError) -> UInt64 {
        try await read { db in try Self.leafCount(db) }
    }

    /// Appends `leaves` in one transaction, after checking that they continue the log.
    public func append(_ leaves: [StoredLeaf]) async throws(AuditStoreError) {
        guard let first = leaves.first else { return }
        for (offset, leaf) in leaves.enumerated() where leaf.sequence != first.sequence &+ UInt64(offset) {
            throw AuditStoreError(.sequenceConflict, "leaf \(leaf.sequence) does not follow \(first.sequence &+ UInt64(offset) &- 1)")
        }
        guard let last = leaves.last, last.sequence <= UInt64(Int64.max) else {
            throw AuditStoreError(.invalidRecord, "leaf sequences beyond \(Int64.max) cannot be stored")
        }
        let path = self.path
        try await write { db in
            let next = try Self.leafCount(db)
            guard next == first.sequence else {
                throw AuditStoreError(.sequenceConflict, "the log \(path) holds \(next) leaves; cannot append at \(first.sequence)")
            }
            let statement = try db.cachedStatement(sql: "INSERT INTO leaves (sequence, leaf_hash, record) VALUES (?, ?, ?)")
            for leaf in leaves {
                try statement.execute(arguments: [Int64(leaf.sequence), Data(leaf.leafHash), Data(leaf.bytes)])
            }
        }
    }

    /// The leaves in `range` that still have their records (archived leaves are skipped).
    public func leaves(_ range: Range<UInt64>) async throws(AuditStoreError) -> [StoredLeaf] {
        let (lower, upper) = Self.bounds(range)
        return try await read { db in
            // A cursor, columns by index and blobs copied straight into arrays: verification
            // reads every leaf, and this halves the time it spends here.
            let cursor = try Row.fetchCursor(db, sql: """
                SELECT sequence, leaf_hash, record FROM leaves
                WHERE sequence >= ? AND sequence < ? AND record IS NOT NULL ORDER BY sequence
                """, arguments: [lower, upper])
            var leaves: [StoredLeaf] = []
            leaves.reserveCapacity(Int(clamping: upper - lower))
            while let row = try cursor.next() {
                let sequence: Int64 = row[0]
                let hash = try row.withUnsafeData(atIndex: 1) { $0.map { [UInt8]($0) } }
                let record = try row.withUnsafeData(atIndex: 2) { $0.map { [UInt8]($0) } }
                guard let hash, let record, let position = UInt64(exactly: sequence) else {
                    throw AuditStoreError(.corrupt, "leaf \(sequence) of the audit log is damaged; run `lienthong audit verify`")
                }
                leaves.append(StoredLeaf(sequence: position, bytes: record, leafHash: hash))
            }
            return leaves
        }
    }

    /// The leaf hashes in `range`, archived leaves included; a range past the end is cut at
    /// ``count()``.
    /// - Throws: ``AuditStoreError`` `.corrupt` if a leaf inside the log is missing.
    public func leafHashes(_ range: Range<UInt64>) async throws(AuditStoreError) -> [[UInt8]] {
        let (lower, upper) = Self.bounds(range)
        let path = self.path
        return try await read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT sequence, leaf_hash FROM leaves WHERE sequence >= ? AND sequence < ? ORDER BY sequence",
                                        arguments: [lower, upper])
            var hashes: [[UInt8]] = []
            hashes.reserveCapacity(rows.count)
            for row in rows {
                let sequence: Int64 = row["sequence"]
                guard sequence == lower + Int64(hashes.count), let hash: Data = row["leaf_hash"] else {
                    throw AuditStoreError(.corrupt, "leaf \(lower + Int64(hashes.count)) of the audit log \(path) is missing; run `lienthong audit verify`")
                }
                hashes.append(Array(hash))
            }
            let end = min(upper, Int64(clamping: try Self.leafCount(db)))
            guard lower >= end || hashes.count == Int(end - lower) else {
                throw AuditStoreError(.corrupt, "leaf \(lower + Int64(hashes.count)) of the audit log \(path) is missing; run `lienthong audit verify`")
            }
            return hashes
        }
    }

    // MARK: Checkpoints

    /// Appends `checkpoint` after checking its number and tree size against the log.
    public func appendCheckpoint(_ checkpoint: StoredCheckpoint) async throws(AuditStoreError) {
        try AuditStoreValidation.check(checkpoint)
        let path = self.path
        try await write { db in
            let last = try Row.fetchOne(db, sql: "SELECT sequence, tree_size FROM checkpoints ORDER BY sequence DESC LIMIT 1")
            let previous = try last.map { row throws(AuditStoreError) -> (sequence: UInt64, treeSize: UInt64) in
                let sequence: Int64 = row["sequence"]
                let treeSize: Int64 = row["tree_size"]
                guard let s = UInt64(exactly: sequence), let t = UInt64(exactly: treeSize) else {
                    throw AuditStoreError(.corrupt, "the last checkpoint of the audit log \(path) is damaged")
                }
                return (s, t)
            }
            try AuditStoreValidation.check(checkpoint, previous: previous, leafCount: try Self.leafCount(db), log: path)
            try db.execute(sql: """
                INSERT INTO checkpoints (sequence, tree_size, body, signature, receipt, receipt_signature) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [Int64(checkpoint.sequence), Int64(checkpoint.treeSize), Data(checkpoint.body), checkpoint.signature,
                                 checkpoint.receipt.map { Data($0) }, checkpoint.receiptSignature])
        }
    }

    /// Stores the registry's receipt for checkpoint `sequence`, once.
    public func attachReceipt(checkpoint sequence: UInt64, receipt: [UInt8], signature: String) async throws(AuditStoreError) {
        try AuditStoreValidation.checkReceipt(receipt, signature: signature, checkpoint: sequence)
        let path = self.path
        try await write { db in
            let row = try Row.fetchOne(db, sql: "SELECT receipt IS NOT NULL OR receipt_signature IS NOT NULL AS has_receipt FROM checkpoints WHERE sequence = ?",
                                       arguments: [Int64(sequence)])
            guard let row else {
                throw AuditStoreError(.sequenceConflict, "the audit log \(path) has no checkpoint \(sequence)")
            }
            let hasReceipt: Bool = row["has_receipt"]
            guard !hasReceipt else {
                throw AuditStoreError(.sequenceConflict, "checkpoint \(sequence) of the audit log \(path) already has a receipt")
            }
            try db.execute(sql: "UPDATE checkpoints SET receipt = ?, receipt_signature = ? WHERE sequence = ?",
                           arguments: [Data(receipt), signature, Int64(sequence)])
        }
    }

    /// The checkpoints from number `sequence` on.
    public func checkpoints(from sequence: UInt64) async throws(AuditStoreError) -> [StoredCheckpoint] {
        try await fetchCheckpoints("WHERE sequence >= ? ORDER BY sequence", [Int64(clamping: sequence)])
    }

    /// The last checkpoint, by index.
    public func latestCheckpoint() async throws(AuditStoreError) -> StoredCheckpoint? {
        try await fetchCheckpoints("ORDER BY sequence DESC LIMIT 1", []).first
    }

    /// The checkpoints without a receipt, oldest first.
    public func checkpointsAwaitingReceipt() async throws(AuditStoreError) -> [StoredCheckpoint] {
        try await fetchCheckpoints("WHERE receipt IS NULL ORDER BY sequence", [])
    }

    private func fetchCheckpoints(_ clause: String, _ arguments: StatementArguments) async throws(AuditStoreError) -> [StoredCheckpoint] {
        let path = self.path
        return try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT sequence, tree_size, body, signature, receipt, receipt_signature FROM checkpoints
                \(clause)
                """, arguments: arguments).map { row throws(AuditStoreError) in
                let sequence: Int64 = row["sequence"]
                let treeSize: Int64 = row["tree_size"]
                let receipt: Data? = row["receipt"]
                guard let s = UInt64(exactly: sequence), let t = UInt64(exactly: treeSize),
                      let body: Data = row["body"], let signature: String = row["signature"] else {
                    throw AuditStoreError(.corrupt, "checkpoint \(sequence) of the audit log \(path) is damaged")
                }
                return StoredCheckpoint(sequence: s, treeSize: t, body: Array(body), signature: signature,
                                        receipt: receipt.map { Array($0) }, receiptSignature: row["receipt_signature"])
            }
        }
    }

    // MARK: Archives

    /// Records `archive` and drops the records of its leaves, in one transaction.
    public func appendArchive(_ archive: StoredArchive) async throws(AuditStoreError) {
        try AuditStoreValidation.check(archive)
        let path = self.path
        try await write { db in
            let last = try Row.fetchOne(db, sql: "SELECT sequence, end_sequence FROM archives ORDER BY sequence DESC LIMIT 1")
            let previous = try last.map { row throws(AuditStoreError) -> (sequence: UInt64, endSequence: UInt64) in
                let sequence: Int64 = row["sequence"]
                let end: Int64 = row["end_sequence"]
                guard let s = UInt64(exactly: sequence), let e = UInt64(exactly: end) else {
                    throw AuditStoreError(.corrupt, "the last archive entry of the audit log \(path) is damaged")
                }
                return (s, e)
            }
            try AuditStoreValidation.check(archive, previous: previous, leafCount: try Self.leafCount(db), log: path)
            try db.execute(sql: "INSERT INTO archives (sequence, first_sequence, end_sequence, manifest, signature) VALUES (?, ?, ?, ?, ?)",
                           arguments: [Int64(archive.sequence), Int64(archive.firstSequence), Int64(archive.endSequence),
                                       Data(archive.manifest), archive.signature])
            try db.execute(sql: "UPDATE leaves SET record = NULL WHERE sequence >= ? AND sequence < ?",
                           arguments: [Int64(archive.firstSequence), Int64(archive.endSequence)])
            let dropped = db.changesCount
            guard UInt64(dropped) == archive.endSequence - archive.firstSequence else {
                throw AuditStoreError(.corrupt, "archive \(archive.sequence) covers \(archive.endSequence - archive.firstSequence) leaves of the audit log \(path) but only \(dropped) are stored")
            }
        }
    }

    /// Every archive entry, in order.
    public func archives() async throws(AuditStoreError) -> [StoredArchive] {
        let path = self.path
        return try await read { db in
            try Row.fetchAll(db, sql: "SELECT sequence, first_sequence, end_sequence, manifest, signature FROM archives ORDER BY sequence")
                .map { row throws(AuditStoreError) in
                    let sequence: Int64 = row["sequence"]
                    let first: Int64 = row["first_sequence"]
                    let end: Int64 = row["end_sequence"]
                    guard let s = UInt64(exactly: sequence), let f = UInt64(exactly: first), let e = UInt64(exactly: end),
                          let manifest: Data = row["manifest"], let signature: String = row["signature"] else {
                        throw AuditStoreError(.corrupt, "archive entry \(sequence) of the audit log \(path) is damaged")
                    }
                    return StoredArchive(sequence: s, firstSequence: f, endSequence: e, manifest: Array(manifest), signature: signature)
                }
        }
    }

    // MARK: Helpers

    private static func leafCount(_ db: Database) throws -> UInt64 {
        UInt64(clamping: try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(sequence) + 1, 0) FROM leaves") ?? 0)
    }

    /// `range` in SQLite's signed integers (nothing above `Int64.max` is ever stored).
    private static func bounds(_ range: Range<UInt64>) -> (Int64, Int64) {
        (Int64(clamping: range.lowerBound), Int64(clamping: range.upperBound))
    }

    /// Runs `body` in a read transaction; store errors pass through, others become `.unavailable`.
    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(AuditStoreError) -> T {
        do {
            return try await pool.read(body)
        } catch let error as AuditStoreError {
            throw error
        } catch {
            throw AuditStoreError(.unavailable, "cannot read the audit log \(path): \(error)")
        }
    }

    /// Runs `body` in one durable write transaction; store errors pass through (the transaction
    /// is rolled back), others become `.unavailable`.
    private func write(_ body: @escaping @Sendable (Database) throws -> Void) async throws(AuditStoreError) {
        do {
            try await pool.write(body)
        } catch let error as AuditStoreError {
            throw error
        } catch {
            throw AuditStoreError(.unavailable, "cannot write the audit log \(path): \(error)")
        }
    }
}
