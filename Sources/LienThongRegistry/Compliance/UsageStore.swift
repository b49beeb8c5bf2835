import Foundation
import GRDB
import LienThongAudit
import LienThongCore

/// The registry's usage tables, filled from the usage counters of every accepted checkpoint in the
/// same transaction as the checkpoint itself (so a checkpoint is counted exactly once, or not at
/// all), and read by ``ComplianceEngine`` (`docs/compliance.md`).
///
/// Tables (all key columns hold `''` rather than `NULL` for an absent part; times are milliseconds
/// since 1970, days are whole UTC days since 1970):
///
/// - `usage_windows`: one row per usage counter as received (registry sequence, server, side, usage
///   window, client, consumer and provider member, service, dataset, agreement, outcome, error
///   type, count, total duration, the 12 latency buckets `b0`…`b11`). Exact, for the partial days
///   at the edges of a period.
/// - `usage_daily`: the same counters added up per UTC day and key, with the first and last usage
///   window seen; whole days of a period are read from here.
/// - `usage_reconciliation`: per agreement and usage window, the successful exchanges the consumer
///   side and the provider side reported; a partial index holds only the windows where they differ.
/// - `usage_last`: per agreement, the last usage window with a successful exchange (either side).
/// - `checkpoint_heads`: per server and node, the latest checkpoint `window_end` (settlement).
/// - `checkpoint_days`: per UTC day (of `window_end`) and server, the earliest `window_start` and
///   the latest `window_end` of its checkpoints (which members were connected in a period).
enum UsageStore {
    /// Milliseconds in a UTC day.
    static let dayMilliseconds: Int64 = 86_400_000
    /// The length of a usage window, in milliseconds.
    static let windowMilliseconds: Int64 = UsageCounter.windowMilliseconds
    /// The number of latency buckets (``UsageCounter/latencyBucketBounds`` and one overflow bucket).
    static let bucketCount = UsageCounter.latencyBucketBounds.count + 1
    /// `b0, b1, ..., b11`.
    static let bucketColumns: [String] = (0..<bucketCount).map { "b\($0)" }

    /// The whole UTC day `milliseconds` falls in.
    static func day(_ milliseconds: Int64) -> Int64 {
        milliseconds >= 0 ? milliseconds / dayMilliseconds : -((-milliseconds + dayMilliseconds - 1) / dayMilliseconds)
    }

    /// Creates the usage tables (migration `v2-usage`) and fills them from the checkpoints the
    /// ledger already holds.
    static func migrate(_ db: Database) throws {
        let buckets = bucketColumns.map { "\($0) INTEGER NOT NULL" }.joined(separator: ", ")
        try db.execute(sql: """
            CREATE TABLE usage_windows (
                registry_sequence INTEGER NOT NULL,
                server TEXT NOT NULL,
                side TEXT NOT NULL,
                window_start INTEGER NOT NULL,
                client TEXT NOT NULL,
                consumer_member TEXT NOT NULL,
                provider_member TEXT NOT NULL,
                service TEXT NOT NULL,
                dataset TEXT NOT NULL,
                agreement TEXT NOT NULL,
                outcome TEXT NOT NULL,
                error_type TEXT NOT NULL,
                count INTEGER NOT NULL,
                duration_total INTEGER NOT NULL,
                \(buckets)
            );
            CREATE INDEX usage_windows_window ON usage_windows (window_start);
            CREATE TABLE usage_daily (
                day INTEGER NOT NULL,
                side TEXT NOT NULL,
                agreement TEXT NOT NULL,
                client TEXT NOT NULL,
                service TEXT NOT NULL,
                dataset TEXT NOT NULL,
                outcome TEXT NOT NULL,
                error_type TEXT NOT NULL,
                consumer_member TEXT NOT NULL,
                provider_member TEXT NOT NULL,
                count INTEGER NOT NULL,
                duration_total INTEGER NOT NULL,
                \(buckets),
                first_window INTEGER NOT NULL,
                last_window INTEGER NOT NULL,
                PRIMARY KEY (day, side, agreement, client, service, dataset, outcome, error_type, consumer_member, provider_member)
            ) WITHOUT ROWID;
            CREATE INDEX usage_daily_success ON usage_daily (agreement, day, last_window) WHERE outcome = 'success';
            CREATE TABLE usage_reconciliation (
                agreement TEXT NOT NULL,
                window_start INTEGER NOT NULL,
                consumer_served INTEGER NOT NULL,
                provider_served INTEGER NOT NULL,
                consumer_member TEXT NOT NULL,
                provider_member TEXT NOT NULL,
                PRIMARY KEY (agreement, window_start)
            ) WITHOUT ROWID;
            CREATE INDEX usage_reconciliation_open ON usage_reconciliation (window_start)
                WHERE consumer_served != provider_served;
            CREATE TABLE usage_last (
                agreement TEXT PRIMARY KEY NOT NULL,
                last_window INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE checkpoint_heads (
                server TEXT NOT NULL,
                node TEXT NOT NULL,
                window_end INTEGER NOT NULL,
                PRIMARY KEY (server, node)
            ) WITHOUT ROWID;
            CREATE TABLE checkpoint_days (
                day INTEGER NOT NULL,
                server TEXT NOT NULL,
                first_start INTEGER NOT NULL,
                last_end INTEGER NOT NULL,
                PRIMARY KEY (day, server)
            ) WITHOUT ROWID;
            """)
        // Backfill from the checkpoints received before this migration (bodies in an older usage
        // format, which no longer parse, are skipped: their counters cannot be placed in windows).
        var after: Int64 = 0
        while true {
            let rows = try Row.fetchAll(db, sql: "SELECT registry_sequence, body FROM checkpoints WHERE registry_sequence > ? ORDER BY registry_sequence LIMIT 1000",
                                        arguments: [after])
            guard let lastRow = rows.last else { break }
            after = lastRow["registry_sequence"]
            for row in rows {
                let body: Data = row["body"]
                let sequence: Int64 = row["registry_sequence"]
                if let checkpoint = try? AuditCheckpoint(canonicalBytes: Array(body)) {
                    try ingest(db, checkpoint: checkpoint, registrySequence: UInt64(sequence))
                }
            }
        }
    }

    /// Adds an accepted checkpoint's usage counters to the usage tables, and its window to the
    /// checkpoint heads and days. Call it inside the transaction that stores the checkpoint.
    static func ingest(_ db: Database, checkpoint: AuditCheckpoint, registrySequence: UInt64) throws {
        try recordWindow(db, server: checkpoint.server, node: checkpoint.node,
                         start: checkpoint.windowStart.millisecondsSince1970, end: checkpoint.windowEnd.millisecondsSince1970)
        guard !checkpoint.usage.isEmpty else { return }
        let raw = try db.cachedStatement(sql: """
            INSERT INTO usage_windows (registry_sequence, server, side, window_start, client, consumer_member, provider_member,
                                       service, dataset, agreement, outcome, error_type, count, duration_total, \(bucketColumns.joined(separator: ", ")))
            VALUES (\(Array(repeating: "?", count: 14 + bucketCount).joined(separator: ", ")))
            """)
        let daily = try db.cachedStatement(sql: """
            INSERT INTO usage_daily (day, side, agreement, client, service, dataset, outcome, error_type, consumer_member, provider_member,
                                     count, duration_total, \(bucketColumns.joined(separator: ", ")), first_window, last_window)
            VALUES (\(Array(repeating: "?", count: 14 + bucketCount).joined(separator: ", ")))
            ON CONFLICT (day, side, agreement, client, service, dataset, outcome, error_type, consumer_member, provider_member) DO UPDATE SET
                count = count + excluded.count, duration_total = duration_total + excluded.duration_total,
                \(bucketColumns.map { "\($0) = \($0) + excluded.\($0)" }.joined(separator: ", ")),
                first_window = MIN(first_window, excluded.first_window), last_window = MAX(last_window, excluded.last_window)
            """)
        let reconciliation = try db.cachedStatement(sql: """
            INSERT INTO usage_reconciliation (agreement, window_start, consumer_served, provider_served, consumer_member, provider_member)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (agreement, window_start) DO UPDATE SET
                consumer_served = consumer_served + excluded.consumer_served,
                provider_served = provider_served + excluded.provider_served,
                consumer_member = CASE WHEN consumer_member = '' THEN excluded.consumer_member ELSE consumer_member END,
                provider_member = CASE WHEN provider_member = '' THEN excluded.provider_member ELSE provider_member END
            """)
        let last = try db.cachedStatement(sql: """
            INSERT INTO usage_last (agreement, last_window) VALUES (?, ?)
            ON CONFLICT (agreement) DO UPDATE SET last_window = MAX(last_window, excluded.last_window)
            """)
        var consumers: [String: String] = [:]
        var providers: [String: String] = [:]
        let server = checkpoint.server
        let sequence = Int64(clamping: registrySequence)
        for counter in checkpoint.usage {
            let key = counter.key
            let client = key.client ?? ""
            let service = key.service ?? ""
            let dataset = key.dataset ?? ""
            let agreement = key.agreement ?? ""
            let consumer: String
            if let known = consumers[client] { consumer = known } else {
                consumer = consumerMember(client: client)
                consumers[client] = consumer
            }
            let providerKey = service + "\n" + dataset
            let provider: String
            if let known = providers[providerKey] { provider = known } else {
                provider = providerMember(service: service, dataset: dataset)
                providers[providerKey] = provider
            }
            let window = key.window.millisecondsSince1970
            let count = Int64(clamping: counter.count)
            let duration = counter.durationMillisecondsTotal
            var buckets = [Int64](repeating: 0, count: bucketCount)
            for (index, value) in counter.latencyBuckets.prefix(bucketCount).enumerated() { buckets[index] = Int64(clamping: value) }
            let side = key.side.rawValue
            let outcome = key.outcome.rawValue
            let errorType = key.errorType ?? ""

            var values: [any DatabaseValueConvertible] = [sequence, server, side, window, client, consumer, provider, service, dataset,
                                                          agreement, outcome, errorType, count, duration]
            values.append(contentsOf: buckets as [any DatabaseValueConvertible])
            try raw.execute(arguments: StatementArguments(values))

            var dailyValues: [any DatabaseValueConvertible] = [day(window), side, agreement, client, service, dataset, outcome, errorType,
                                                               consumer, provider, count, duration]
            dailyValues.append(contentsOf: buckets as [any DatabaseValueConvertible])
            dailyValues.append(window)
            dailyValues.append(window)
            try daily.execute(arguments: StatementArguments(dailyValues))

            if key.outcome == .success, !agreement.isEmpty, count > 0 {
                let consumerServed: Int64 = key.side == .consumer ? count : 0
                let providerServed: Int64 = key.side == .provider ? count : 0
                try reconciliation.execute(arguments: [agreement, window, consumerServed, providerServed, consumer, provider])
                try last.execute(arguments: [agreement, window])
            }
        }
    }

    /// Records a checkpoint window `[start, end]` of `server`'s `node`.
    static func recordWindow(_ db: Database, server: String, node: String, start: Int64, end: Int64) throws {
        try db.cachedStatement(sql: """
            INSERT INTO checkpoint_heads (server, node, window_end) VALUES (?, ?, ?)
            ON CONFLICT (server, node) DO UPDATE SET window_end = MAX(window_end, excluded.window_end)
            """).execute(arguments: [server, node, end])
        try db.cachedStatement(sql: """
            INSERT INTO checkpoint_days (day, server, first_start, last_end) VALUES (?, ?, ?, ?)
            ON CONFLICT (day, server) DO UPDATE SET first_start = MIN(first_start, excluded.first_start),
                                                    last_end = MAX(last_end, excluded.last_end)
            """).execute(arguments: [day(end), server, start, end])
    }

    /// The member of a consumer client (a subsystem or a member id), `''` when absent or unparseable.
    static func consumerMember(client: String) -> String {
        guard !client.isEmpty else { return "" }
        if let subsystem = try? SubsystemId(parsing: client) { return subsystem.member.canonical }
        if let member = try? MemberId(parsing: client) { return member.canonical }
        return ""
    }

    /// The provider member: the owner of the service, else of the dataset; `''` when neither parses.
    static func providerMember(service: String, dataset: String) -> String {
        if !service.isEmpty, let id = try? ServiceId(parsing: service) { return id.subsystem.member.canonical }
        if !dataset.isEmpty, let id = try? DatasetId(parsing: dataset) { return id.owner.canonical }
        return ""
    }

    /// Per server, the latest checkpoint `window_end` it has reached: the minimum over its nodes,
    /// leaving out nodes that have been silent for more than ``staleNodeMilliseconds`` behind the
    /// server's most recent node (a decommissioned node must not hold settlement back forever).
    static func latestWindowEnds(_ db: Database) throws -> [String: Int64] {
        var byServer: [String: [Int64]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT server, window_end FROM checkpoint_heads") {
            byServer[row[0], default: []].append(row[1])
        }
        return byServer.compactMapValues { ends in
            guard let newest = ends.max() else { return nil }
            return ends.filter { newest - $0 <= staleNodeMilliseconds }.min()
        }
    }

    /// How far behind its server's newest node a node may fall before settlement ignores it: 24 h.
    static let staleNodeMilliseconds: Int64 = dayMilliseconds
}

extension CheckpointLedger {
    /// **Benchmarks only**: the number of rows in each usage table, for
    /// `lienthong registry bench-compliance`.
    package nonisolated func usageTableRowCounts() throws -> [(table: String, rows: Int)] {
        let tables = ["checkpoints", "usage_windows", "usage_daily", "usage_reconciliation", "usage_last", "checkpoint_heads", "checkpoint_days"]
        return try reader.read { db in
            try tables.map { table in (table, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0) }
        }
    }
}
