import Foundation
import GRDB

/// The embedded default ``AuditLeafStore``: one SQLite file per security server, GRDB's
/// `DatabasePool` in write-ahead-log mode with `synchronous=FULL`, so a transaction is on stable
/// storage (fsync'd) when ``append(_:)`` returns.
///
/// Schema (migration `v1`): `leaves(sequence INTEGER PRIMARY KEY, leaf_hash BLOB NOT NULL,
/// record BLOB NOT NULL)`. The table is append-only by convention and by trigger: updates and
/// deletes raise an error.
public final class SQLiteAuditLeafStore: AuditLeafStore {
    /// The database file.
    public let path: String
    private let pool: DatabasePool

    /// Opens (creating if needed) the store at `path`; its directory must exist.
    public init(path: String) throws(AuditStoreError) {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        self.path = path
        do {
            self.pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw AuditStoreError(.unavailable, "cannot open the audit log \(path): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE leaves (
                    sequence INTEGER PRIMARY KEY NOT NULL,
                    leaf_hash BLOB NOT NULL,
                    record BLOB NOT NULL
                );
                CREATE TRIGGER leaves_no_update BEFORE UPDATE ON leaves
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TRIGGER leaves_no_delete BEFORE DELETE ON leaves
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                """)
        }
        return migrator
    }

    /// The number of leaves.
    public func count() async throws(AuditStoreError) -> UInt64 {
        do {
            return try await pool.read { db in
                UInt64(try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(sequence) + 1, 0) FROM leaves") ?? 0)
            }
        } catch {
            throw AuditStoreError(.unavailable, "cannot read the audit log \(path): \(error)")
        }
    }

    /// Appends `leaves` in one transaction, after checking that they continue the log.
    public func append(_ leaves: [StoredLeaf]) async throws(AuditStoreError) {
        guard let first = leaves.first else { return }
        for (offset, leaf) in leaves.enumerated() where leaf.sequence != first.sequence + UInt64(offset) {
            throw AuditStoreError(.sequenceConflict, "leaf \(leaf.sequence) does not follow \(first.sequence + UInt64(offset) - 1)")
        }
        let path = self.path
        do {
            try await pool.write { db in
                let next = UInt64(try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(sequence) + 1, 0) FROM leaves") ?? 0)
                guard next == first.sequence else {
                    throw AuditStoreError(.sequenceConflict, "the log \(path) holds \(next) leaves; cannot append at \(first.sequence)")
                }
                let statement = try db.makeStatement(sql: "INSERT INTO leaves (sequence, leaf_hash, record) VALUES (?, ?, ?)")
                for leaf in leaves {
                    try statement.execute(arguments: [Int64(leaf.sequence), Data(leaf.leafHash), Data(leaf.bytes)])
                }
            }
        } catch let error as AuditStoreError {
            throw error
        } catch {
            throw AuditStoreError(.unavailable, "cannot write the audit log \(path): \(error)")
        }
    }

    /// The leaves in `range`.
    public func leaves(_ range: Range<UInt64>) async throws(AuditStoreError) -> [StoredLeaf] {
        do {
            return try await pool.read { db in
                let rows = try Row.fetchAll(db, sql: "SELECT sequence, leaf_hash, record FROM leaves WHERE sequence >= ? AND sequence < ? ORDER BY sequence",
                                            arguments: [Int64(range.lowerBound), Int64(range.upperBound)])
                return rows.map { row in
                    let sequence: Int64 = row["sequence"]
                    let hash: Data = row["leaf_hash"]
                    let record: Data = row["record"]
                    return StoredLeaf(sequence: UInt64(sequence), bytes: Array(record), leafHash: Array(hash))
                }
            }
        } catch {
            throw AuditStoreError(.unavailable, "cannot read the audit log \(path): \(error)")
        }
    }
}
