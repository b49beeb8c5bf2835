import Foundation
import GRDB

/// One verified request as the provider's replay check remembers it: which provider member it was
/// for, which client sent it, its `X-Road-Id`, and the time its consumer signed into it.
public struct SeenRequest: Sendable, Hashable {
    /// The provider member the request's service belongs to, canonical form.
    public var provider: String
    /// The client id, canonical form.
    public var client: String
    /// The `X-Road-Id` (1–128 printable ASCII characters).
    public var messageId: String
    /// The signed time, milliseconds since the Unix epoch.
    public var signedAt: Int64

    /// Creates an entry.
    public init(provider: String, client: String, messageId: String, signedAt: Int64) {
        self.provider = provider
        self.client = client
        self.messageId = messageId
        self.signedAt = signedAt
    }
}

/// Where a provider security server remembers the requests it accepted, so that a replay is
/// refused after a restart and on every node that shares the store (docs/protocol.md §6.3).
///
/// ``admit(_:)`` relies on the database's uniqueness of (provider, client, message id), never on a
/// read followed by a write: of two nodes racing the same request, exactly one is admitted. Every
/// failure is an error: the caller refuses the request (fail closed).
public protocol ReplayStore: Sendable {
    /// Stores `request` and returns `true`, or returns `false` if a request with the same provider,
    /// client and message id is already stored (whatever its time). Durable when it returns.
    func admit(_ request: SeenRequest) async throws(AuditStoreError) -> Bool
    /// Deletes the entries signed before `cutoff` (milliseconds since the Unix epoch); returns how many.
    func prune(signedBefore cutoff: Int64) async throws(AuditStoreError) -> Int
}

/// The embedded ``ReplayStore``: an SQLite file of its own (`data_directory/replay.sqlite`),
/// GRDB's `DatabasePool` in write-ahead-log mode with `synchronous=FULL`, so an admitted request
/// is on stable storage before the backend is called.
///
/// Schema (migration `v1`): `seen_requests(provider, client, message_id, signed_at)` with primary
/// key `(provider, client, message_id)` and an index on `signed_at` for pruning. Unlike the audit
/// log this table is not append-only: entries older than the window are deleted.
public final class SQLiteReplayStore: ReplayStore {
    /// The database file.
    public let path: String
    private let pool: DatabasePool

    /// Opens (creating if needed) the store at `path`; its directory must exist.
    /// - Throws: ``AuditStoreError`` `.unavailable` if the file cannot be opened or migrated.
    public init(path: String) throws(AuditStoreError) {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE seen_requests (
                    provider TEXT NOT NULL,
                    client TEXT NOT NULL,
                    message_id TEXT NOT NULL,
                    signed_at INTEGER NOT NULL,
                    PRIMARY KEY (provider, client, message_id)
                ) WITHOUT ROWID;
                CREATE INDEX seen_requests_signed_at ON seen_requests (signed_at);
                """)
        }
        self.path = path
        self.pool = try SQLiteAuditLeafStore.openDurablePool(path: path, migrator: migrator, what: "the replay store")
    }

    /// Inserts `request` unless its key is stored (`INSERT … ON CONFLICT DO NOTHING`).
    public func admit(_ request: SeenRequest) async throws(AuditStoreError) -> Bool {
        do {
            return try await pool.write { db in
                try db.execute(sql: """
                    INSERT INTO seen_requests (provider, client, message_id, signed_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (provider, client, message_id) DO NOTHING
                    """, arguments: [request.provider, request.client, request.messageId, request.signedAt])
                return db.changesCount == 1
            }
        } catch {
            throw AuditStoreError(.unavailable, "cannot write the replay store \(path): \(error)")
        }
    }

    /// Deletes entries signed before `cutoff`.
    public func prune(signedBefore cutoff: Int64) async throws(AuditStoreError) -> Int {
        do {
            return try await pool.write { db in
                try db.execute(sql: "DELETE FROM seen_requests WHERE signed_at < ?", arguments: [cutoff])
                return db.changesCount
            }
        } catch {
            throw AuditStoreError(.unavailable, "cannot prune the replay store \(path): \(error)")
        }
    }

    /// The number of entries stored (for tests and diagnostics).
    public func count() async throws(AuditStoreError) -> Int {
        do {
            return try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM seen_requests") ?? 0 }
        } catch {
            throw AuditStoreError(.unavailable, "cannot read the replay store \(path): \(error)")
        }
    }
}
