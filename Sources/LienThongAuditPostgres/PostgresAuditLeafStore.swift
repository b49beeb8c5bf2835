import LienThongAudit
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// An ``AuditLeafStore`` in a PostgreSQL database shared by several security-server nodes: each
/// node is its own partition of the log, with its own sequence numbers, checkpoints, archives and
/// Merkle tree (a `node` column in every table, primary keys `(node, sequence)`).
///
/// Every write is one transaction (the append of a batch is one statement); with PostgreSQL's
/// default `synchronous_commit = on` a write is on the server's stable storage when it returns.
/// Tables and append-only triggers are created on first use if missing (see ``open()``), the same
/// rules as ``SQLiteAuditLeafStore``: nothing is deleted or truncated, a leaf only loses its record
/// once archived, a checkpoint only gains its receipt, once.
///
/// ## Lifecycle
/// The store owns a `PostgresClient`, whose connection pool runs inside ``run()``: nothing can be
/// queried until ``run()`` is running, and nothing after it returns.
/// - For a bounded piece of work use
///   ``withStore(configuration:node:logger:isolation:_:)``: it runs the pool in a task group, opens
///   the store, calls the body, then cancels the pool.
/// - A long-running server creates the store with ``init(configuration:node:logger:)``, adds
///   ``run()`` to its own task group (or wraps it in a ServiceLifecycle `Service` whose `run()`
///   calls it, placed *before* the HTTP server in the `ServiceGroup` so that it shuts down after
///   the server's last exchange is logged), calls ``open()`` before serving, and cancels ``run()``
///   at shutdown.
///
/// Failures: a database that refuses or fails a connection attempt, or no connection within
/// ``Configuration/connectionWaitTimeout``, fails the operation with
/// ``AuditStoreError/Code/unavailable`` ("cannot write the audit log (PostgreSQL at host:port/db,
/// node X): cannot connect: …"), so the security server refuses the exchange instead of waiting.
public final class PostgresAuditLeafStore: AuditLeafStore {
    /// This node's partition name, the `node` column of every row it writes.
    public let node: String
    /// Where the database is.
    public let configuration: Configuration
    private let client: PostgresClient
    private let logger: Logger
    private let state = Mutex(RunState.idle)
    private let schemaReady = Mutex(false)
    private let connectionFailures = ConnectionFailures()

    private enum RunState: Sendable { case idle, running, finished }

    /// Creates the store for `node`; nothing is connected until ``run()`` runs.
    /// - Parameters:
    ///   - node: the partition, e.g. the security server's identifier `VN/GOV/000.00.00.H26/ss1`;
    ///     1 to 255 characters, no control characters. Two servers must never share a node name.
    ///   - logger: for the pool's background messages and the store's own.
    /// - Throws: ``ConfigurationError`` if the node name is unusable.
    public init(configuration: Configuration, node: String, logger: Logger) throws(ConfigurationError) {
        guard (1...255).contains(node.count), !node.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ConfigurationError("the audit log node name must be 1 to 255 characters without control characters, not \(node.debugDescription)")
        }
        var logger = logger
        logger[metadataKey: "audit.node"] = "\(node)"
        self.node = node
        self.configuration = configuration
        self.logger = logger
        let failures = connectionFailures, handler = logger.handler
        let backgroundLogger = Logger(label: logger.label) { _ in FailureRecordingLogHandler(inner: handler, failures: failures) }
        self.client = PostgresClient(configuration: configuration.client, backgroundLogger: backgroundLogger)
    }

    /// Runs the connection pool until the calling task is cancelled (then returns). Call it once,
    /// in a task that outlives every use of the store. Inside a ServiceLifecycle service it also
    /// returns at the service's graceful shutdown (PostgresNIO's behaviour), so put the store's
    /// service before the HTTP server's in the `ServiceGroup`: services shut down in reverse order.
    /// - Throws: ``AuditStoreError`` `.unavailable` if it was already started.
    public func run() async throws(AuditStoreError) {
        let started = state.withLock { state -> Bool in
            guard state == .idle else { return false }
            state = .running
            return true
        }
        guard started else {
            throw AuditStoreError(.unavailable, "the audit log store (\(location)) was already started; run() is called once")
        }
        await client.run()
        state.withLock { $0 = .finished }
    }

    /// Creates the tables and triggers if they are missing (idempotent, safe while other nodes do
    /// the same). Operations do this on first use anyway; call it at startup to fail early.
    /// ``run()`` must be running (or about to: an idle store is given the connection wait to start).
    /// - Throws: ``AuditStoreError`` `.unavailable` if the database cannot be reached or the
    ///   schema cannot be created (e.g. the role may not create tables and they do not exist).
    public func open() async throws(AuditStoreError) {
        if schemaReady.withLock({ $0 }) { return }
        let logger = self.logger
        try await withConnection(.open) { connection in
            try await Self.createSchema(on: connection, logger: logger)
        }
        schemaReady.withLock { $0 = true }
    }

    /// Creates the store, runs its pool in a task group, opens it, runs `body`, then stops the
    /// pool (also when `body` throws).
    /// - Throws: ``ConfigurationError``, ``AuditStoreError``, or what `body` throws.
    public static func withStore<T>(
        configuration: Configuration,
        node: String,
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresAuditLeafStore) async throws -> T
    ) async throws -> T {
        let store = try PostgresAuditLeafStore(configuration: configuration, node: node, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self, returning: T.self, isolation: isolation) { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            try await store.open()
            return try await body(store)
        }
    }

    // MARK: Leaves

    /// The number of this node's leaves, archived ones included.
    public func count() async throws(AuditStoreError) -> UInt64 {
        let node = self.node, logger = self.logger
        return try await withConnection(.read) { connection in
            try await Self.leafCount(node: node, on: connection, logger: logger)
        }
    }

    /// Appends `leaves` in one statement (one transaction), which inserts nothing unless this
    /// node's log holds exactly `leaves[0].sequence` leaves.
    public func append(_ leaves: [StoredLeaf]) async throws(AuditStoreError) {
        guard let first = leaves.first else { return }
        for (offset, leaf) in leaves.enumerated() where leaf.sequence != first.sequence &+ UInt64(offset) {
            throw AuditStoreError(.sequenceConflict, "leaf \(leaf.sequence) does not follow \(first.sequence &+ UInt64(offset) &- 1)")
        }
        guard let last = leaves.last, last.sequence <= UInt64(Int64.max) else {
            throw AuditStoreError(.invalidRecord, "leaf sequences beyond \(Int64.max) cannot be stored")
        }
        let node = self.node, logger = self.logger, location = self.location
        let sequences = leaves.map { Int64($0.sequence) }
        let hashes = leaves.map { ByteBuffer(bytes: $0.leafHash) }
        let records = leaves.map { ByteBuffer(bytes: $0.bytes) }
        let start = Int64(first.sequence)
        try await withConnection(.write) { connection in
            let query: PostgresQuery = """
                WITH inserted AS (
                    INSERT INTO audit_leaves (node, sequence, leaf_hash, record)
                    SELECT \(node), t.sequence, t.leaf_hash, t.record
                    FROM UNNEST(\(sequences)::bigint[], \(hashes)::bytea[], \(records)::bytea[]) AS t(sequence, leaf_hash, record)
                    WHERE (SELECT COALESCE(MAX(l.sequence) + 1, 0) FROM audit_leaves l WHERE l.node = \(node)) = \(start)
                    RETURNING 1)
                SELECT COUNT(*) FROM inserted
                """
            let inserted = try await Self.single(Int64.self, connection.query(query, logger: logger))
            if inserted == 0 {
                let next = try await Self.leafCount(node: node, on: connection, logger: logger)
                throw AuditStoreError(.sequenceConflict, "the audit log \(location) holds \(next) leaves; cannot append at \(start)")
            }
            guard inserted == Int64(sequences.count) else {
                throw AuditStoreError(.corrupt, "the audit log \(location) stored \(inserted) of \(sequences.count) leaves in one statement")
            }
        }
    }

    /// This node's leaves in `range` that still have their records (archived ones are skipped).
    public func leaves(_ range: Range<UInt64>) async throws(AuditStoreError) -> [StoredLeaf] {
        let node = self.node, logger = self.logger, location = self.location
        let lower = Int64(clamping: range.lowerBound), upper = Int64(clamping: range.upperBound)
        return try await withConnection(.read) { connection in
            let rows = try await connection.query("""
                SELECT sequence, leaf_hash, record FROM audit_leaves
                WHERE node = \(node) AND sequence >= \(lower) AND sequence < \(upper) AND record IS NOT NULL
                ORDER BY sequence
                """, logger: logger)
            var leaves: [StoredLeaf] = []
            for try await (sequence, hash, record) in rows.decode((Int64, ByteBuffer, ByteBuffer).self) {
                guard let position = UInt64(exactly: sequence) else {
                    throw AuditStoreError(.corrupt, "leaf \(sequence) of the audit log \(location) is damaged")
                }
                leaves.append(StoredLeaf(sequence: position, bytes: Array(record.readableBytesView), leafHash: Array(hash.readableBytesView)))
            }
            return leaves
        }
    }

    /// This node's leaf hashes in `range`, archived leaves included; a range past the end is cut
    /// at ``count()``.
    /// - Throws: ``AuditStoreError`` `.corrupt` if a leaf inside the log is missing.
    public func leafHashes(_ range: Range<UInt64>) async throws(AuditStoreError) -> [[UInt8]] {
        let node = self.node, logger = self.logger, location = self.location
        let lower = Int64(clamping: range.lowerBound), upper = Int64(clamping: range.upperBound)
        return try await withConnection(.read) { connection in
            // Counted first: the log only grows, so every leaf below this count must be returned.
            let count = Int64(clamping: try await Self.leafCount(node: node, on: connection, logger: logger))
            let rows = try await connection.query("""
                SELECT sequence, leaf_hash FROM audit_leaves
                WHERE node = \(node) AND sequence >= \(lower) AND sequence < \(upper) ORDER BY sequence
                """, logger: logger)
            var hashes: [[UInt8]] = []
            for try await (sequence, hash) in rows.decode((Int64, ByteBuffer).self) {
                guard sequence == lower + Int64(hashes.count) else {
                    throw AuditStoreError(.corrupt, "leaf \(lower + Int64(hashes.count)) of the audit log \(location) is missing")
                }
                hashes.append(Array(hash.readableBytesView))
            }
            let end = min(upper, count)
            guard lower >= end || Int64(hashes.count) >= end - lower else {
                throw AuditStoreError(.corrupt, "leaf \(lower + Int64(hashes.count)) of the audit log \(location) is missing")
            }
            return hashes
        }
    }

    // MARK: Checkpoints

    /// Appends `checkpoint` in one transaction, after checking its number and tree size against
    /// this node's log.
    public func appendCheckpoint(_ checkpoint: StoredCheckpoint) async throws(AuditStoreError) {
        try AuditStoreValidation.check(checkpoint)
        let node = self.node, logger = self.logger, location = self.location
        try await withConnection(.write) { connection in
            try await connection.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    SELECT sequence, tree_size FROM audit_checkpoints WHERE node = \(node) ORDER BY sequence DESC LIMIT 1
                    """, logger: logger)
                var previous: (sequence: UInt64, treeSize: UInt64)?
                for try await (sequence, treeSize) in rows.decode((Int64, Int64).self) {
                    guard let s = UInt64(exactly: sequence), let t = UInt64(exactly: treeSize) else {
                        throw AuditStoreError(.corrupt, "the last checkpoint of the audit log \(location) is damaged")
                    }
                    previous = (s, t)
                }
                let count = try await Self.leafCount(node: node, on: connection, logger: logger)
                try AuditStoreValidation.check(checkpoint, previous: previous, leafCount: count, log: location)
                let receipt = checkpoint.receipt.map { ByteBuffer(bytes: $0) }
                try await connection.query("""
                    INSERT INTO audit_checkpoints (node, sequence, tree_size, body, signature, receipt, receipt_signature)
                    VALUES (\(node), \(Int64(checkpoint.sequence)), \(Int64(checkpoint.treeSize)), \(ByteBuffer(bytes: checkpoint.body)),
                            \(checkpoint.signature), \(receipt), \(checkpoint.receiptSignature))
                    """, logger: logger)
            }
        }
    }

    /// Stores the registry's receipt for checkpoint `sequence` of this node, once (one statement).
    public func attachReceipt(checkpoint sequence: UInt64, receipt: [UInt8], signature: String) async throws(AuditStoreError) {
        try AuditStoreValidation.checkReceipt(receipt, signature: signature, checkpoint: sequence)
        let node = self.node, logger = self.logger, location = self.location
        let number = Int64(sequence)
        try await withConnection(.write) { connection in
            let updated = try await Self.single(Int64.self, connection.query("""
                WITH updated AS (
                    UPDATE audit_checkpoints SET receipt = \(ByteBuffer(bytes: receipt)), receipt_signature = \(signature)
                    WHERE node = \(node) AND sequence = \(number) AND receipt IS NULL AND receipt_signature IS NULL
                    RETURNING 1)
                SELECT COUNT(*) FROM updated
                """, logger: logger))
            guard updated == 0 else { return }
            let exists = try await Self.single(Bool.self, connection.query("""
                SELECT EXISTS (SELECT 1 FROM audit_checkpoints WHERE node = \(node) AND sequence = \(number))
                """, logger: logger))
            throw AuditStoreError(.sequenceConflict, exists
                                  ? "checkpoint \(sequence) of the audit log \(location) already has a receipt"
                                  : "the audit log \(location) has no checkpoint \(sequence)")
        }
    }

    /// This node's checkpoints from number `sequence` on.
    public func checkpoints(from sequence: UInt64) async throws(AuditStoreError) -> [StoredCheckpoint] {
        let node = self.node, logger = self.logger, location = self.location
        let lower = Int64(clamping: sequence)
        return try await withConnection(.read) { connection in
            let rows = try await connection.query("""
                SELECT sequence, tree_size, body, signature, receipt, receipt_signature FROM audit_checkpoints
                WHERE node = \(node) AND sequence >= \(lower) ORDER BY sequence
                """, logger: logger)
            var checkpoints: [StoredCheckpoint] = []
            for try await (sequence, treeSize, body, signature, receipt, receiptSignature)
                    in rows.decode((Int64, Int64, ByteBuffer, String, ByteBuffer?, String?).self) {
                guard let s = UInt64(exactly: sequence), let t = UInt64(exactly: treeSize) else {
                    throw AuditStoreError(.corrupt, "checkpoint \(sequence) of the audit log \(location) is damaged")
                }
                checkpoints.append(StoredCheckpoint(sequence: s, treeSize: t, body: Array(body.readableBytesView), signature: signature,
                                                    receipt: receipt.map { Array($0.readableBytesView) }, receiptSignature: receiptSignature))
            }
            return checkpoints
        }
    }

    // MARK: Archives

    /// Records `archive` and drops the records of its leaves, in one transaction.
    public func appendArchive(_ archive: StoredArchive) async throws(AuditStoreError) {
        try AuditStoreValidation.check(archive)
        let node = self.node, logger = self.logger, location = self.location
        try await withConnection(.write) { connection in
            try await connection.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    SELECT sequence, end_sequence FROM audit_archives WHERE node = \(node) ORDER BY sequence DESC LIMIT 1
                    """, logger: logger)
                var previous: (sequence: UInt64, endSequence: UInt64)?
                for try await (sequence, end) in rows.decode((Int64, Int64).self) {
                    guard let s = UInt64(exactly: sequence), let e = UInt64(exactly: end) else {
                        throw AuditStoreError(.corrupt, "the last archive entry of the audit log \(location) is damaged")
                    }
                    previous = (s, e)
                }
                let count = try await Self.leafCount(node: node, on: connection, logger: logger)
                try AuditStoreValidation.check(archive, previous: previous, leafCount: count, log: location)
                let first = Int64(archive.firstSequence), end = Int64(archive.endSequence)
                try await connection.query("""
                    INSERT INTO audit_archives (node, sequence, first_sequence, end_sequence, manifest, signature)
                    VALUES (\(node), \(Int64(archive.sequence)), \(first), \(end), \(ByteBuffer(bytes: archive.manifest)), \(archive.signature))
                    """, logger: logger)
                let dropped = try await Self.single(Int64.self, connection.query("""
                    WITH dropped AS (
                        UPDATE audit_leaves SET record = NULL
                        WHERE node = \(node) AND sequence >= \(first) AND sequence < \(end)
                        RETURNING 1)
                    SELECT COUNT(*) FROM dropped
                    """, logger: logger))
                guard dropped == end - first else {
                    throw AuditStoreError(.corrupt, "archive \(archive.sequence) covers \(end - first) leaves of the audit log \(location) but only \(dropped) are stored")
                }
            }
        }
    }

    /// This node's archive entries, in order.
    public func archives() async throws(AuditStoreError) -> [StoredArchive] {
        let node = self.node, logger = self.logger, location = self.location
        return try await withConnection(.read) { connection in
            let rows = try await connection.query("""
                SELECT sequence, first_sequence, end_sequence, manifest, signature FROM audit_archives
                WHERE node = \(node) ORDER BY sequence
                """, logger: logger)
            var archives: [StoredArchive] = []
            for try await (sequence, first, end, manifest, signature) in rows.decode((Int64, Int64, Int64, ByteBuffer, String).self) {
                guard let s = UInt64(exactly: sequence), let f = UInt64(exactly: first), let e = UInt64(exactly: end) else {
                    throw AuditStoreError(.corrupt, "archive entry \(sequence) of the audit log \(location) is damaged")
                }
                archives.append(StoredArchive(sequence: s, firstSequence: f, endSequence: e,
                                              manifest: Array(manifest.readableBytesView), signature: signature))
            }
            return archives
        }
    }

    // MARK: Connections and errors

    /// What an operation does, for messages.
    private enum Action: String, Sendable {
        case open, read, write
    }

    /// `(PostgreSQL at host:port/db, node X)`: where this store writes, for messages.
    private var location: String { "(PostgreSQL at \(configuration.endpointDescription), node \(node))" }

    /// Who won the race between leasing a connection and giving up waiting for one.
    private final class LeaseRace: Sendable {
        private enum State { case waiting, leased, gaveUp }
        private let state = Mutex(State.waiting)

        /// The connection arrived: true if in time (the body may run).
        func leased() -> Bool { settle(.leased) }
        /// The wait ended: true if no connection had arrived (the operation fails).
        func giveUp() -> Bool { settle(.gaveUp) }
        /// Whether a connection arrived in time.
        var isLeased: Bool { state.withLock { $0 == .leased } }

        private func settle(_ outcome: State) -> Bool {
            state.withLock { state in
                guard state == .waiting else { return false }
                state = outcome
                return true
            }
        }
    }

    /// No connection could be had: the pool failed to connect while the operation waited
    /// (`failedAttempt`), or none came within the connection wait.
    private struct NoConnection: Error {
        /// The pool's connection error, if it reported one.
        var lastFailure: String?
        /// Whether the wait ended early because a connection attempt failed during it.
        var failedAttempt: Bool
    }

    /// Leases a connection and runs `body` on it, after making sure the schema exists.
    ///
    /// The wait for a connection ends with ``AuditStoreError/Code/unavailable`` as soon as the
    /// pool reports a failed connection attempt made during it (refused, unknown host,
    /// authentication failed: the database is not there now, and the exchange should be refused
    /// now rather than later), or after ``Configuration/connectionWaitTimeout`` (a host that does
    /// not answer, a pool with every connection busy). Once `body` has started it is never
    /// abandoned, not even when the calling task is cancelled: a commit's outcome is always the
    /// one reported.
    private func withConnection<T: Sendable>(
        _ action: Action, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws(AuditStoreError) -> T {
        try await waitUntilRunning(action)
        if action != .open { try await open() }
        let client = self.client
        let deadline = ContinuousClock.now + configuration.connectionWaitTimeout
        let race = LeaseRace()
        let failures = connectionFailures, started = ContinuousClock.now
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await client.withConnection { connection in
                        guard race.leased() else { throw NoConnection(lastFailure: nil, failedAttempt: false) }
                        return try await body(connection)
                    }
                }
                group.addTask {
                    while !race.isLeased {
                        if let failure = failures.latest(since: started), race.giveUp() {
                            throw NoConnection(lastFailure: failure, failedAttempt: true)
                        }
                        if ContinuousClock.now >= deadline, race.giveUp() {
                            throw NoConnection(lastFailure: failures.latest(since: started - .seconds(60)), failedAttempt: false)
                        }
                        do {
                            try await Task.sleep(for: .milliseconds(20))
                        } catch {
                            // The caller was cancelled: stop waiting for a connection, but never
                            // walk away from a body that has started (its commit may succeed).
                            if race.giveUp() { throw error }
                            return nil
                        }
                    }
                    return nil
                }
                while let result = try await group.next() {
                    if let value = result {
                        group.cancelAll()
                        return value
                    }
                }
                throw NoConnection(lastFailure: nil, failedAttempt: false)   // unreachable: the connection task yields a value or throws
            }
        } catch {
            throw failure(error, action)
        }
    }

    /// Returns once ``run()`` is running. A task that has just been given ``run()`` may not have
    /// started it yet, so an idle store is given up to the connection wait to start; a store that
    /// never starts, or has stopped, fails the operation with a message saying so.
    private func waitUntilRunning(_ action: Action) async throws(AuditStoreError) {
        let deadline = ContinuousClock.now + configuration.connectionWaitTimeout
        while true {
            switch state.withLock({ $0 }) {
            case .running:
                return
            case .finished:
                throw AuditStoreError(.unavailable, "cannot \(action.rawValue) the audit log \(location): the store has been shut down")
            case .idle:
                guard ContinuousClock.now < deadline, (try? await Task.sleep(for: .milliseconds(5))) != nil else {
                    throw AuditStoreError(.unavailable, "cannot \(action.rawValue) the audit log \(location): the store is not running (start its run() first)")
                }
            }
        }
    }

    /// Maps an error from PostgresNIO (or from inside a transaction) to the store's error.
    private func failure(_ error: any Error, _ action: Action) -> AuditStoreError {
        let cause = Self.rootCause(error)
        if let storeError = cause as? AuditStoreError { return storeError }
        if cause is PostgresDecodingError {
            return AuditStoreError(.corrupt, "cannot read the audit log \(location): a stored value has the wrong type (\(String(reflecting: cause)))")
        }
        if let psql = cause as? PSQLError, let sqlState = psql.serverInfo?[.sqlState], sqlState.hasPrefix("23") {
            let message = psql.serverInfo?[.message] ?? "integrity constraint violated"
            let hint = sqlState == "23505" ? "; another writer stored the same position first: is node \(node) configured on two servers?" : ""
            return AuditStoreError(.sequenceConflict, "cannot \(action.rawValue) the audit log \(location): \(message) (SQLSTATE \(sqlState))\(hint)")
        }
        return AuditStoreError(.unavailable, "cannot \(action.rawValue) the audit log \(location): \(describe(cause))")
    }

    /// The error a transaction wrapper is about.
    private static func rootCause(_ error: any Error) -> any Error {
        if let transaction = error as? PostgresTransactionError,
           let inner = transaction.closureError ?? transaction.beginError ?? transaction.commitError {
            return rootCause(inner)
        }
        return error
    }

    /// An operator's sentence for a PostgresNIO error: the server's message and SQLSTATE, or the
    /// connection failure. Never the query's bound values (they hold records).
    private func describe(_ error: any Error) -> String {
        switch error {
        case let unavailable as NoConnection:
            if unavailable.failedAttempt, let cause = unavailable.lastFailure {
                return "cannot connect: \(cause)"
            }
            let wait = "no database connection within \(configuration.connectionWaitTimeout)"
            guard let cause = unavailable.lastFailure else {
                return wait + " (the server does not answer, or every connection is busy)"
            }
            return wait + "; last connection error: \(cause)"
        case is CancellationError:
            return "the operation was cancelled"
        case let psql as PSQLError:
            if let info = psql.serverInfo {
                let message = info[.message] ?? "error"
                return "\(message) (SQLSTATE \(info[.sqlState] ?? "?"))"
            }
            var text: String
            switch psql.code {
            case .serverClosedConnection: text = "the server closed the connection"
            case .clientClosedConnection, .poolClosed: text = "the connection pool is closed"
            case .connectionError: text = "cannot connect"
            case .queryCancelled: text = "the query was cancelled"
            default: text = "\(psql.code)"
            }
            if let underlying = psql.underlying { text += ": \(underlying)" }
            return text
        default:
            let text = String(reflecting: error)
            if text.contains("CircuitBreakerTripped") {
                // PostgresNIO's pool stops waiting after a minute without any connection and fails
                // requests at once until an attempt succeeds.
                let last = connectionFailures.latest(since: .now - .seconds(600)).map { "; last connection error: \($0)" } ?? ""
                return "the database has been unreachable for a minute or more\(last)"
            }
            return text
        }
    }

    /// The node's next leaf sequence.
    private static func leafCount(node: String, on connection: PostgresConnection, logger: Logger) async throws -> UInt64 {
        let next = try await single(Int64.self, connection.query(
            "SELECT COALESCE(MAX(sequence) + 1, 0) FROM audit_leaves WHERE node = \(node)", logger: logger))
        guard let count = UInt64(exactly: next) else {
            throw AuditStoreError(.corrupt, "the audit log of node \(node) has a negative sequence number")
        }
        return count
    }

    /// The one value of a one-row, one-column result.
    private static func single<V: PostgresDecodable & Sendable>(_: V.Type, _ rows: PostgresRowSequence) async throws -> V {
        var value: V?
        for try await decoded in rows.decode(V.self) { value = decoded }
        guard let value else { throw AuditStoreError(.corrupt, "a query that returns one row returned none") }
        return value
    }
}

// MARK: Replay check

extension PostgresAuditLeafStore: ReplayStore {
    /// Inserts `request` into `replay_seen_requests` unless its key is stored, in one statement
    /// (`INSERT … ON CONFLICT DO NOTHING`): of two nodes inserting the same key at once, PostgreSQL
    /// makes the second wait for the first to commit and then inserts nothing.
    public func admit(_ request: SeenRequest) async throws(AuditStoreError) -> Bool {
        let logger = self.logger
        return try await withConnection(.write) { connection in
            let query: PostgresQuery = """
                WITH inserted AS (
                    INSERT INTO replay_seen_requests (provider, client, message_id, signed_at)
                    VALUES (\(request.provider), \(request.client), \(request.messageId), \(request.signedAt))
                    ON CONFLICT (provider, client, message_id) DO NOTHING
                    RETURNING 1)
                SELECT COUNT(*) FROM inserted
                """
            return try await Self.single(Int64.self, connection.query(query, logger: logger)) == 1
        }
    }

    /// Deletes the entries signed before `cutoff`.
    public func prune(signedBefore cutoff: Int64) async throws(AuditStoreError) -> Int {
        let logger = self.logger
        return try await withConnection(.write) { connection in
            let query: PostgresQuery = """
                WITH deleted AS (DELETE FROM replay_seen_requests WHERE signed_at < \(cutoff) RETURNING 1)
                SELECT COUNT(*) FROM deleted
                """
            return Int(clamping: try await Self.single(Int64.self, connection.query(query, logger: logger)))
        }
    }
}
