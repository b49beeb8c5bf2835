import Logging
import PostgresNIO

extension PostgresAuditLeafStore {
    /// The key of the transaction-scoped advisory lock that serialises schema creation between
    /// nodes starting at the same time (`CREATE TABLE IF NOT EXISTS` is not safe against itself
    /// running concurrently). The bytes of "LTAUDIT1".
    static let schemaLockKey: Int64 = 0x4C54_4155_4449_5431

    /// Tables, in creation order. Every table is keyed by `(node, sequence)`: each node is its
    /// own partition of the log, with its own numbering and tree.
    static let tableStatements: [String] = [
        """
        CREATE TABLE IF NOT EXISTS audit_leaves (
            node TEXT NOT NULL,
            sequence BIGINT NOT NULL CHECK (sequence >= 0),
            leaf_hash BYTEA NOT NULL,
            record BYTEA,
            PRIMARY KEY (node, sequence)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS audit_checkpoints (
            node TEXT NOT NULL,
            sequence BIGINT NOT NULL CHECK (sequence >= 0),
            tree_size BIGINT NOT NULL CHECK (tree_size >= 0),
            body BYTEA NOT NULL,
            signature TEXT NOT NULL,
            receipt BYTEA,
            receipt_signature TEXT,
            PRIMARY KEY (node, sequence)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS audit_archives (
            node TEXT NOT NULL,
            sequence BIGINT NOT NULL CHECK (sequence >= 0),
            first_sequence BIGINT NOT NULL CHECK (first_sequence >= 0),
            end_sequence BIGINT NOT NULL CHECK (end_sequence > first_sequence),
            manifest BYTEA NOT NULL,
            signature TEXT NOT NULL,
            PRIMARY KEY (node, sequence)
        )
        """,
        // The provider's replay check (not part of the log, not append-only: pruned past the
        // window). Shared by every node of a server: the key has no node column.
        """
        CREATE TABLE IF NOT EXISTS replay_seen_requests (
            provider TEXT NOT NULL,
            client TEXT NOT NULL,
            message_id TEXT NOT NULL,
            signed_at BIGINT NOT NULL,
            PRIMARY KEY (provider, client, message_id)
        )
        """,
        "CREATE INDEX IF NOT EXISTS replay_seen_requests_signed_at ON replay_seen_requests (signed_at)",
    ]

    /// The append-only rules as trigger functions (the same rules as the SQLite store's
    /// triggers). `SET search_path FROM CURRENT` pins the tables they read to the schema they
    /// were created in.
    static let functionStatements: [String] = [
        """
        CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql
        SET search_path FROM CURRENT AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'integrity_constraint_violation';
        END
        $$
        """,
        """
        CREATE OR REPLACE FUNCTION audit_leaves_guard() RETURNS trigger LANGUAGE plpgsql
        SET search_path FROM CURRENT AS $$
        BEGIN
            -- A leaf may lose its record (never its hash or position) once an archive covers it.
            IF TG_OP = 'UPDATE'
               AND NEW.node = OLD.node AND NEW.sequence = OLD.sequence AND NEW.leaf_hash = OLD.leaf_hash
               AND OLD.record IS NOT NULL AND NEW.record IS NULL
               AND OLD.sequence < (SELECT COALESCE(MAX(a.end_sequence), 0) FROM audit_archives a WHERE a.node = OLD.node) THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'the audit log is append-only: % of leaf % of node % refused', TG_OP, OLD.sequence, OLD.node
                USING ERRCODE = 'integrity_constraint_violation';
        END
        $$
        """,
        """
        CREATE OR REPLACE FUNCTION audit_checkpoints_guard() RETURNS trigger LANGUAGE plpgsql
        SET search_path FROM CURRENT AS $$
        BEGIN
            -- A checkpoint gains its receipt once; nothing else of it ever changes.
            IF TG_OP = 'UPDATE'
               AND NEW.node = OLD.node AND NEW.sequence = OLD.sequence AND NEW.tree_size = OLD.tree_size
               AND NEW.body = OLD.body AND NEW.signature = OLD.signature
               AND OLD.receipt IS NULL AND OLD.receipt_signature IS NULL
               AND NEW.receipt IS NOT NULL AND NEW.receipt_signature IS NOT NULL THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'the audit log is append-only: % of checkpoint % of node % refused', TG_OP, OLD.sequence, OLD.node
                USING ERRCODE = 'integrity_constraint_violation';
        END
        $$
        """,
    ]

    /// `(trigger, table, definition)`: row triggers for UPDATE and DELETE, statement triggers for
    /// TRUNCATE (which row triggers do not see).
    static let triggers: [(name: String, table: String, definition: String)] = [
        ("audit_leaves_append_only", "audit_leaves",
         "BEFORE UPDATE OR DELETE ON audit_leaves FOR EACH ROW EXECUTE FUNCTION audit_leaves_guard()"),
        ("audit_leaves_no_truncate", "audit_leaves",
         "BEFORE TRUNCATE ON audit_leaves FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"),
        ("audit_checkpoints_append_only", "audit_checkpoints",
         "BEFORE UPDATE OR DELETE ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_guard()"),
        ("audit_checkpoints_no_truncate", "audit_checkpoints",
         "BEFORE TRUNCATE ON audit_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"),
        ("audit_archives_append_only", "audit_archives",
         "BEFORE UPDATE OR DELETE ON audit_archives FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"),
        ("audit_archives_no_truncate", "audit_archives",
         "BEFORE TRUNCATE ON audit_archives FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"),
    ]

    /// Whether every table and trigger already exists, so that nothing needs creating (and a
    /// role without DDL rights can open the store).
    static var schemaPresentQuery: PostgresQuery {
        let names = triggers.map { "'\($0.name)'" }.joined(separator: ", ")
        return PostgresQuery(unsafeSQL: """
            SELECT to_regclass('audit_leaves') IS NOT NULL
               AND to_regclass('audit_checkpoints') IS NOT NULL
               AND to_regclass('audit_archives') IS NOT NULL
               AND to_regclass('replay_seen_requests') IS NOT NULL
               AND to_regclass('replay_seen_requests_signed_at') IS NOT NULL
               AND (SELECT COUNT(*) FROM pg_trigger t
                    WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND t.tgname IN (\(names))
                      AND t.tgrelid IN (to_regclass('audit_leaves'), to_regclass('audit_checkpoints'), to_regclass('audit_archives'))
                   ) = \(triggers.count)
            """)
    }

    /// Creates whatever is missing of the schema, in one transaction under the advisory lock.
    /// Idempotent: tables with `IF NOT EXISTS`, functions with `OR REPLACE`, each trigger only if
    /// it is missing (a disabled trigger is dropped and recreated).
    static func createSchema(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            _ = try await connection.query("SELECT pg_advisory_xact_lock(\(schemaLockKey))", logger: logger).collect()
            var present = false
            for try await value in try await connection.query(schemaPresentQuery, logger: logger).decode(Bool.self) {
                present = value
            }
            if present { return }
            logger.info("creating the audit log schema (tables and append-only triggers)")
            for statement in tableStatements + functionStatements {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            for trigger in triggers {
                try await connection.query(PostgresQuery(unsafeSQL: """
                    DO $$
                    BEGIN
                        IF NOT EXISTS (SELECT 1 FROM pg_trigger
                                       WHERE tgname = '\(trigger.name)' AND tgrelid = to_regclass('\(trigger.table)')
                                         AND tgenabled <> 'D') THEN
                            DROP TRIGGER IF EXISTS \(trigger.name) ON \(trigger.table);
                            CREATE TRIGGER \(trigger.name) \(trigger.definition);
                        END IF;
                    END
                    $$
                    """), logger: logger)
            }
        }
    }
}
