import Foundation
import GRDB
import LienThongCore

/// The default ``RegistryStore``: one SQLite file, accessed through a GRDB `DatabasePool`
/// (write-ahead log, `synchronous=FULL`, so a commit is on disk when ``commit(_:)`` returns).
///
/// Schema (migration `v1`):
/// - one table per entity kind (`members`, `subsystems`, `servers`, `services`, `datasets`,
///   `agreements`, `access_requests`), each with `id TEXT PRIMARY KEY` (the canonical id),
///   `json TEXT NOT NULL` (the entity's canonical JSON, see ``RegistryJSON/canonicalText(_:)``)
///   and a few indexed columns for look-ups by owner;
/// - `meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)` holding `revision`;
/// - `admin_audit(sequence INTEGER PRIMARY KEY, json TEXT NOT NULL, hash TEXT NOT NULL)`.
public final class SQLiteRegistryStore: RegistryStore {
    /// The database file.
    public let path: String
    private let pool: DatabasePool

    /// Opens (creating if needed) the store at `path` and migrates it to the current schema.
    ///
    /// - parameters:
    ///     - path: The SQLite file; its directory must exist.
    /// - throws: A GRDB `DatabaseError` if the file cannot be opened or migrated.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        self.path = path
        self.pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    /// The schema migrations.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE members (
                    id TEXT PRIMARY KEY NOT NULL,
                    json TEXT NOT NULL
                );
                CREATE TABLE subsystems (
                    id TEXT PRIMARY KEY NOT NULL,
                    member_id TEXT NOT NULL,
                    json TEXT NOT NULL
                );
                CREATE INDEX subsystems_member ON subsystems(member_id);
                CREATE TABLE servers (
                    id TEXT PRIMARY KEY NOT NULL,
                    member_id TEXT NOT NULL,
                    json TEXT NOT NULL
                );
                CREATE INDEX servers_member ON servers(member_id);
                CREATE TABLE services (
                    id TEXT PRIMARY KEY NOT NULL,
                    subsystem_id TEXT NOT NULL,
                    json TEXT NOT NULL
                );
                CREATE INDEX services_subsystem ON services(subsystem_id);
                CREATE TABLE datasets (
                    id TEXT PRIMARY KEY NOT NULL,
                    owner_id TEXT NOT NULL,
                    json TEXT NOT NULL
                );
                CREATE INDEX datasets_owner ON datasets(owner_id);
                CREATE TABLE agreements (
                    id TEXT PRIMARY KEY NOT NULL,
                    dataset_id TEXT NOT NULL,
                    consumer_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    json TEXT NOT NULL
                );
                CREATE INDEX agreements_dataset ON agreements(dataset_id);
                CREATE INDEX agreements_consumer ON agreements(consumer_id);
                CREATE TABLE access_requests (
                    id TEXT PRIMARY KEY NOT NULL,
                    consumer_id TEXT NOT NULL,
                    dataset_id TEXT NOT NULL,
                    decided INTEGER NOT NULL,
                    json TEXT NOT NULL
                );
                CREATE INDEX access_requests_dataset ON access_requests(dataset_id);
                CREATE TABLE meta (
                    key TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL
                );
                INSERT INTO meta(key, value) VALUES ('revision', '0');
                CREATE TABLE admin_audit (
                    sequence INTEGER PRIMARY KEY NOT NULL,
                    json TEXT NOT NULL,
                    hash TEXT NOT NULL
                );
                """)
        }
        // Roles (docs/registry.md, "Roles"): the certificates the registry knows, and the member
        // operators' management requests.
        migrator.registerMigration("v2-actors") { db in
            try db.execute(sql: """
                CREATE TABLE registrations (
                    id TEXT PRIMARY KEY NOT NULL,
                    json TEXT NOT NULL
                );
                CREATE TABLE management_requests (
                    id TEXT PRIMARY KEY NOT NULL,
                    member_id TEXT NOT NULL,
                    json TEXT NOT NULL
                );
                CREATE INDEX management_requests_member ON management_requests(member_id);
                """)
        }
        return migrator
    }

    /// Loads every entity (each kind ordered by id), the revision and the last audit entry.
    ///
    /// - throws: A GRDB `DatabaseError`, or ``RegistryStoreError`` (`.corrupt`) naming a row that
    ///   cannot be decoded.
    public func load() async throws -> (snapshot: RegistrySnapshot, auditHead: AdminAuditEntry?) {
        try await pool.read { db in
            let revisionText = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'revision'") ?? "0"
            guard let revision = Int64(revisionText) else {
                throw RegistryStoreError(.corrupt, "meta.revision is \"\(revisionText)\", not an integer")
            }
            let snapshot = RegistrySnapshot(
                revision: revision,
                members: try Self.fetch(Member.self, table: "members", db),
                subsystems: try Self.fetch(Subsystem.self, table: "subsystems", db),
                servers: try Self.fetch(SecurityServer.self, table: "servers", db),
                services: try Self.fetch(Service.self, table: "services", db),
                datasets: try Self.fetch(Dataset.self, table: "datasets", db),
                agreements: try Self.fetch(Agreement.self, table: "agreements", db),
                accessRequests: try Self.fetch(AccessRequest.self, table: "access_requests", db),
                registrations: try Self.fetch(ActorRegistration.self, table: "registrations", db),
                managementRequests: try Self.fetch(ManagementRequest.self, table: "management_requests", db))
            let head = try Row.fetchOne(db, sql: "SELECT sequence, json, hash FROM admin_audit ORDER BY sequence DESC LIMIT 1")
            return (snapshot, try head.map(Self.auditEntry))
        }
    }

    /// Writes `change` in one immediate transaction.
    ///
    /// - throws: ``RegistryStoreError`` (`.staleChange`) if the revision or the audit sequence
    ///   does not follow the stored ones, ``RegistryJSONError`` if an entity cannot be encoded, or
    ///   a GRDB `DatabaseError`. Nothing is written in any of these cases.
    public func commit(_ change: RegistryChange) async throws {
        let rows = try Self.rows(of: change)
        let entry = change.auditEntry
        let entryJSON = try RegistryJSON.canonicalText(entry)
        try await pool.write { db in
            let currentText = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'revision'") ?? "0"
            let current = Int64(currentText) ?? -1
            guard change.revision == current + 1 else {
                throw RegistryStoreError(.staleChange, "change for revision \(change.revision) but the store is at revision \(currentText)")
            }
            let headSequence = try Int64.fetchOne(db, sql: "SELECT MAX(sequence) FROM admin_audit") ?? 0
            guard entry.sequence == headSequence + 1 else {
                throw RegistryStoreError(.staleChange, "audit entry \(entry.sequence) but the trail ends at \(headSequence)")
            }
            for row in rows {
                try db.execute(sql: row.sql, arguments: row.arguments)
            }
            try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'revision'", arguments: [String(change.revision)])
            try db.execute(sql: "INSERT INTO admin_audit(sequence, json, hash) VALUES (?, ?, ?)",
                           arguments: [entry.sequence, entryJSON, entry.hash])
        }
    }

    /// Up to `limit` audit entries from `fromSequence` on. The entry's `hash` is taken from the
    /// `hash` column.
    ///
    /// - throws: A GRDB `DatabaseError`, or ``RegistryStoreError`` (`.corrupt`) for an
    ///   undecodable row.
    public func auditTrail(fromSequence: Int64, limit: Int) async throws -> [AdminAuditEntry] {
        guard limit > 0 else { return [] }
        return try await pool.read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT sequence, json, hash FROM admin_audit WHERE sequence >= ? ORDER BY sequence LIMIT ?",
                arguments: [fromSequence, limit])
            return try rows.map(Self.auditEntry)
        }
    }

    // MARK: - Rows

    /// One SQL statement with its arguments.
    private struct Statement: Sendable {
        var sql: String
        var arguments: StatementArguments
    }

    private static func fetch<T: Decodable>(_ type: T.Type, table: String, _ db: Database) throws -> [T] {
        let rows = try Row.fetchAll(db, sql: "SELECT id, json FROM \(table) ORDER BY id")
        return try rows.map { row in
            let id: String = row["id"]
            let json: String = row["json"]
            do {
                return try RegistryJSON.decode(type, from: json)
            } catch {
                throw RegistryStoreError(.corrupt, "\(table) row \(id): \(error)")
            }
        }
    }

    private static func auditEntry(_ row: Row) throws -> AdminAuditEntry {
        let sequence: Int64 = row["sequence"]
        let json: String = row["json"]
        let hash: String = row["hash"]
        var entry: AdminAuditEntry
        do {
            entry = try RegistryJSON.decode(AdminAuditEntry.self, from: json)
        } catch {
            throw RegistryStoreError(.corrupt, "admin_audit row \(sequence): \(error)")
        }
        guard entry.sequence == sequence else {
            throw RegistryStoreError(.corrupt, "admin_audit row \(sequence) holds entry \(entry.sequence)")
        }
        entry.hash = hash
        return entry
    }

    private static func upsert(_ table: String, _ columns: [String: (any DatabaseValueConvertible & Sendable)], id: String, json: String) -> Statement {
        let names = ["id", "json"] + columns.keys.sorted()
        let placeholders = Array(repeating: "?", count: names.count).joined(separator: ", ")
        let updates = names.dropFirst().map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        var values: [(any DatabaseValueConvertible)?] = [id, json]
        for name in columns.keys.sorted() { values.append(columns[name]) }
        return Statement(
            sql: "INSERT INTO \(table)(\(names.joined(separator: ", "))) VALUES (\(placeholders)) ON CONFLICT(id) DO UPDATE SET \(updates)",
            arguments: StatementArguments(values))
    }

    private static func rows(of change: RegistryChange) throws(RegistryJSONError) -> [Statement] {
        var statements: [Statement] = []
        for member in change.members ?? [] {
            statements.append(upsert("members", [:], id: member.id.canonical, json: try RegistryJSON.canonicalText(member)))
        }
        for subsystem in change.subsystems ?? [] {
            statements.append(upsert("subsystems", ["member_id": subsystem.id.member.canonical],
                                     id: subsystem.id.canonical, json: try RegistryJSON.canonicalText(subsystem)))
        }
        for server in change.servers ?? [] {
            statements.append(upsert("servers", ["member_id": server.id.owner.canonical],
                                     id: server.id.canonical, json: try RegistryJSON.canonicalText(server)))
        }
        for service in change.services ?? [] {
            statements.append(upsert("services", ["subsystem_id": service.id.subsystem.canonical],
                                     id: service.id.canonical, json: try RegistryJSON.canonicalText(service)))
        }
        for dataset in change.datasets ?? [] {
            statements.append(upsert("datasets", ["owner_id": dataset.id.owner.canonical],
                                     id: dataset.id.canonical, json: try RegistryJSON.canonicalText(dataset)))
        }
        for agreement in change.agreements ?? [] {
            statements.append(upsert("agreements", [
                "dataset_id": agreement.dataset.canonical,
                "consumer_id": agreement.consumer.canonical,
                "status": agreement.status.rawValue,
            ], id: agreement.id, json: try RegistryJSON.canonicalText(agreement)))
        }
        for request in change.accessRequests ?? [] {
            statements.append(upsert("access_requests", [
                "consumer_id": request.consumer.canonical,
                "dataset_id": request.dataset.canonical,
                "decided": request.decision == nil ? 0 : 1,
            ], id: request.id, json: try RegistryJSON.canonicalText(request)))
        }
        for registration in change.registrations ?? [] {
            statements.append(upsert("registrations", [:], id: registration.id, json: try RegistryJSON.canonicalText(registration)))
        }
        for request in change.managementRequests ?? [] {
            statements.append(upsert("management_requests", ["member_id": request.member.canonical],
                                     id: request.id, json: try RegistryJSON.canonicalText(request)))
        }
        return statements
    }
}
