import Foundation
import GRDB
import LienThongAudit
import LienThongCore

/// The registry's usage tables, filled from the usage counters of every accepted checkpoint in the
/// same transaction as the checkpoint itself (so a checkpoint is counted exactly once, or not at
/// all), and read by ``ComplianceEngine`` (`docs/compliance.md`).
///
/// Tables (all key columns hold `''` rather than `NULL` for an absent part; times are milliseconds
/// since 1970, days are whole UTC days since 1970, months are calendar months since January 1970):
///
/// - `usage_windows`: one row per usage counter as received (registry sequence, server, side, usage
///   window, client, consumer and provider member, service, dataset, agreement, outcome, error
///   type, count, total duration, the 12 latency buckets `b0`…`b11`). Exact, for the partial days
///   at the edges of a period.
/// - `usage_daily`: the same counters added up per UTC day and key, with the first and last usage
///   window seen; whole days of a period are read from here.
/// - `usage_monthly`: the same per UTC calendar month; whole months of a period are read from here.
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
    /// The key columns of the rollups, after the period column.
    static let rollupKeyColumns = ["side", "agreement", "client", "service", "dataset", "outcome", "error_type", "consumer_member", "provider_member"]

    /// The whole UTC day `milliseconds` falls in.
    static func day(_ milliseconds: Int64) -> Int64 {
        milliseconds >= 0 ? milliseconds / dayMilliseconds : -((-milliseconds + dayMilliseconds - 1) / dayMilliseconds)
    }

    /// The calendar month (since January 1970) of a day number.
    static func month(ofDay day: Int64) -> Int64 {
        let (year, month, _) = civil(fromDay: day)
        return (year - 1970) * 12 + (month - 1)
    }

    /// The first day of a month number.
    static func firstDay(ofMonth month: Int64) -> Int64 {
        let year = 1970 + (month >= 0 ? month / 12 : -((-month + 11) / 12))
        let monthOfYear = month - (year - 1970) * 12 + 1
        return day(fromYear: year, month: monthOfYear, day: 1)
    }

    /// Howard Hinnant's `civil_from_days`.
    static func civil(fromDay days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// Howard Hinnant's `days_from_civil`.
    static func day(fromYear year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The largest count, duration total or bucket total a usage row may hold: 2^53 − 1, so that
    /// every sum the compliance view makes of rows fits (`docs/robustness.md` §Untrusted numbers).
    static let maximumTotal: Int64 = Checked.maximumSafeInteger

    /// The message the bound triggers abort with (``outOfRange(_:)`` recognises it).
    static let outOfRangeMarker = "lienthong: usage total out of range"

    /// Migration `v3-usage-bounds`: triggers that abort (rolling back the checkpoint's whole
    /// transaction) any insert or update leaving a count, total or bucket of a usage row outside
    /// 0 … ``maximumTotal`` — or not an integer: SQLite turns an overflowing `+` into a REAL.
    static func migrateBounds(_ db: Database) throws {
        let rollup = ["count", "duration_total"] + bucketColumns
        let tables: [(String, [String])] = [("usage_windows", rollup), ("usage_daily", rollup), ("usage_monthly", rollup),
                                            ("usage_reconciliation", ["consumer_served", "provider_served"])]
        for (table, columns) in tables {
            let condition = columns.map { "typeof(NEW.\($0)) != 'integer' OR NEW.\($0) < 0 OR NEW.\($0) > \(maximumTotal)" }
                .joined(separator: " OR ")
            for event in ["INSERT", "UPDATE"] {
                try db.execute(sql: """
                    CREATE TRIGGER \(table)_bounds_\(event.lowercased()) BEFORE \(event) ON \(table) WHEN \(condition)
                    BEGIN SELECT RAISE(ABORT, '\(outOfRangeMarker) in \(table)'); END;
                    """)
            }
        }
    }

    /// The typed refusal for an ingestion that failed because a number is out of range (a checked
    /// sum in memory, or a bound trigger in SQLite), `nil` for any other failure.
    static func outOfRange(_ error: any Error) -> CheckpointRefusal? {
        if let overflow = error as? ArithmeticOverflow {
            return CheckpointRefusal(.outOfRange, "the checkpoint's usage counters cannot be added to the registry's usage totals: \(overflow)")
        }
        if let database = error as? DatabaseError, database.message?.contains(outOfRangeMarker) == true {
            return CheckpointRefusal(.outOfRange, "the checkpoint's usage counters would take a usage total beyond 2^53 − 1: \(database.message ?? "")")
        }
        return nil
    }

    /// Creates the usage tables (migration `v2-usage`) and fills them from the checkpoints the
    /// ledger already holds.
    static func migrate(_ db: Database) throws {
        let buckets = bucketColumns.map { "\($0) INTEGER NOT NULL" }.joined(separator: ", ")
        let keys = rollupKeyColumns.map { "\($0) TEXT NOT NULL" }.joined(separator: ", ")
        let primaryKey = rollupKeyColumns.joined(separator: ", ")
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
                day INTEGER NOT NULL, \(keys),
                count INTEGER NOT NULL, duration_total INTEGER NOT NULL, \(buckets),
                first_window INTEGER NOT NULL, last_window INTEGER NOT NULL,
                PRIMARY KEY (day, \(primaryKey))
            ) WITHOUT ROWID;
            CREATE INDEX usage_daily_success ON usage_daily (agreement, day, last_window) WHERE outcome = 'success';
            CREATE TABLE usage_monthly (
                month INTEGER NOT NULL, \(keys),
                count INTEGER NOT NULL, duration_total INTEGER NOT NULL, \(buckets),
                first_window INTEGER NOT NULL, last_window INTEGER NOT NULL,
                PRIMARY KEY (month, \(primaryKey))
            ) WITHOUT ROWID;
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
            var batch: [(AuditCheckpoint, UInt64)] = []
            for row in rows {
                let body: Data = row["body"]
                let sequence: Int64 = row["registry_sequence"]
                if let checkpoint = try? AuditCheckpoint(canonicalBytes: Array(body)) { batch.append((checkpoint, UInt64(sequence))) }
            }
            try ingest(db, batch)
        }
    }

    /// Adds an accepted checkpoint's usage counters to the usage tables, and its window to the
    /// checkpoint heads and days. Call it inside the transaction that stores the checkpoint.
    static func ingest(_ db: Database, checkpoint: AuditCheckpoint, registrySequence: UInt64) throws {
        try ingest(db, [(checkpoint, registrySequence)])
    }

    /// Adds the usage counters and windows of several checkpoints, with their registry sequences:
    /// one raw row per counter, and one upsert per rollup row they touch (counters that fall in
    /// the same day, month, agreement window or server are added up first).
    static func ingest(_ db: Database, _ checkpoints: [(checkpoint: AuditCheckpoint, registrySequence: UInt64)]) throws {
        var members = MemberCache()
        var batch = RollupBatch()
        let raw = try db.cachedStatement(sql: insertWindowSQL)
        var values: [DatabaseValue] = []
        values.reserveCapacity(14 + bucketCount)
        for (checkpoint, registrySequence) in checkpoints {
            batch.window(server: checkpoint.server, node: checkpoint.node,
                         start: checkpoint.windowStart.millisecondsSince1970, end: checkpoint.windowEnd.millisecondsSince1970)
            let server = checkpoint.server.databaseValue
            let sequence = Int64(clamping: registrySequence).databaseValue
            for counter in checkpoint.usage {
                let key = counter.key
                let client = key.client ?? ""
                let service = key.service ?? ""
                let dataset = key.dataset ?? ""
                let rollupKey = RollupKey(side: key.side.rawValue, agreement: key.agreement ?? "", client: client, service: service,
                                          dataset: dataset, outcome: key.outcome.rawValue, errorType: key.errorType ?? "",
                                          consumerMember: members.consumer(client), providerMember: members.provider(service: service, dataset: dataset))
                var sum = RollupSum(window: key.window.millisecondsSince1970)
                // A parsed checkpoint holds each of these in 0 … 2^53 − 1; synthetic ones are checked too.
                sum.count = try Checked.safe(Int64(clamping: counter.count), "usage count")
                sum.duration = try Checked.safe(counter.durationMillisecondsTotal, "usage duration_ms_total")
                for (index, value) in counter.latencyBuckets.prefix(bucketCount).enumerated() {
                    sum.buckets[index] = try Checked.safe(Int64(clamping: value), "usage latency bucket")
                }

                values.removeAll(keepingCapacity: true)
                values += [sequence, server, rollupKey.side.databaseValue, sum.firstWindow.databaseValue, client.databaseValue,
                           rollupKey.consumerMember.databaseValue, rollupKey.providerMember.databaseValue, service.databaseValue,
                           dataset.databaseValue, rollupKey.agreement.databaseValue, rollupKey.outcome.databaseValue,
                           rollupKey.errorType.databaseValue, sum.count.databaseValue, sum.duration.databaseValue]
                values += sum.buckets.map(\.databaseValue)
                try raw.execute(arguments: StatementArguments(values))
                try batch.add(rollupKey, sum)
            }
        }
        try batch.write(db)
    }

    /// The key of a rollup row (without its day or month).
    struct RollupKey: Hashable {
        var side: String
        var agreement: String
        var client: String
        var service: String
        var dataset: String
        var outcome: String
        var errorType: String
        var consumerMember: String
        var providerMember: String

        /// In the order of ``UsageStore/rollupKeyColumns``.
        var values: [DatabaseValue] {
            [side, agreement, client, service, dataset, outcome, errorType, consumerMember, providerMember].map(\.databaseValue)
        }
    }

    /// Counts, durations and buckets added up, with the first and last usage window.
    struct RollupSum {
        var count: Int64 = 0
        var duration: Int64 = 0
        var buckets = [Int64](repeating: 0, count: UsageStore.bucketCount)
        var firstWindow: Int64
        var lastWindow: Int64

        init(window: Int64) {
            firstWindow = window
            lastWindow = window
        }

        /// Adds `other`, checked: what one batch adds to one row must itself fit a row
        /// (``UsageStore/maximumTotal``); the triggers check the row's new total.
        mutating func add(_ other: RollupSum) throws(ArithmeticOverflow) {
            var result = self
            result.count = try Checked.safe(try Checked.add(count, other.count, "usage count total"), "usage count total")
            result.duration = try Checked.safe(try Checked.add(duration, other.duration, "usage duration total"), "usage duration total")
            for index in buckets.indices {
                result.buckets[index] = try Checked.safe(try Checked.add(buckets[index], other.buckets[index], "usage latency bucket total"),
                                                         "usage latency bucket total")
            }
            result.firstWindow = min(firstWindow, other.firstWindow)
            result.lastWindow = max(lastWindow, other.lastWindow)
            self = result
        }
    }

    /// What a batch adds to the rollups, added up in memory before it is written.
    struct RollupBatch {
        struct Period: Hashable {
            var period: Int64
            var key: RollupKey
        }
        struct AgreementWindow: Hashable {
            var agreement: String
            var window: Int64
        }
        struct Served {
            var consumer: Int64 = 0
            var provider: Int64 = 0
            var consumerMember: String
            var providerMember: String
        }
        struct ServerDay: Hashable {
            var day: Int64
            var server: String
        }
        struct ServerNode: Hashable {
            var server: String
            var node: String
        }

        var daily: [Period: RollupSum] = [:]
        var monthly: [Period: RollupSum] = [:]
        var served: [AgreementWindow: Served] = [:]
        var last: [String: Int64] = [:]
        var heads: [ServerNode: Int64] = [:]
        var days: [ServerDay: (first: Int64, last: Int64)] = [:]
        var monthOfDay: [Int64: Int64] = [:]

        mutating func window(server: String, node: String, start: Int64, end: Int64) {
            let head = ServerNode(server: server, node: node)
            heads[head] = max(heads[head] ?? end, end)
            let day = ServerDay(day: UsageStore.day(end), server: server)
            let old = days[day] ?? (start, end)
            days[day] = (min(old.first, start), max(old.last, end))
        }

        mutating func add(_ key: RollupKey, _ sum: RollupSum) throws(ArithmeticOverflow) {
            let day = UsageStore.day(sum.firstWindow)
            let month: Int64
            if let known = monthOfDay[day] { month = known } else {
                month = UsageStore.month(ofDay: day)
                monthOfDay[day] = month
            }
            let dayKey = Period(period: day, key: key)
            if var old = daily[dayKey] {
                try old.add(sum)
                daily[dayKey] = old
            } else { daily[dayKey] = sum }
            let monthKey = Period(period: month, key: key)
            if var old = monthly[monthKey] {
                try old.add(sum)
                monthly[monthKey] = old
            } else { monthly[monthKey] = sum }
            guard key.outcome == ExchangeOutcome.success.rawValue, !key.agreement.isEmpty, sum.count > 0 else { return }
            let window = AgreementWindow(agreement: key.agreement, window: sum.firstWindow)
            var entry = served[window] ?? Served(consumerMember: key.consumerMember, providerMember: key.providerMember)
            if key.side == ExchangeSide.consumer.rawValue {
                entry.consumer = try Checked.safe(try Checked.add(entry.consumer, sum.count, "served total"), "served total")
            } else {
                entry.provider = try Checked.safe(try Checked.add(entry.provider, sum.count, "served total"), "served total")
            }
            if entry.consumerMember.isEmpty { entry.consumerMember = key.consumerMember }
            if entry.providerMember.isEmpty { entry.providerMember = key.providerMember }
            served[window] = entry
            last[key.agreement] = max(last[key.agreement] ?? sum.firstWindow, sum.firstWindow)
        }

        func write(_ db: Database) throws {
            var values: [DatabaseValue] = []
            for (table, rows) in [("usage_daily", daily), ("usage_monthly", monthly)] {
                let statement = try db.cachedStatement(sql: table == "usage_daily" ? upsertDailySQL : upsertMonthlySQL)
                for (key, sum) in rows {
                    values.removeAll(keepingCapacity: true)
                    values.append(key.period.databaseValue)
                    values += key.key.values
                    values += [sum.count.databaseValue, sum.duration.databaseValue]
                    values += sum.buckets.map(\.databaseValue)
                    values += [sum.firstWindow.databaseValue, sum.lastWindow.databaseValue]
                    try statement.execute(arguments: StatementArguments(values))
                }
            }
            let reconciliation = try db.cachedStatement(sql: upsertReconciliationSQL)
            for (key, entry) in served {
                try reconciliation.execute(arguments: [key.agreement, key.window, entry.consumer, entry.provider, entry.consumerMember, entry.providerMember])
            }
            let lastStatement = try db.cachedStatement(sql: upsertLastSQL)
            for (agreement, window) in last { try lastStatement.execute(arguments: [agreement, window]) }
            let head = try db.cachedStatement(sql: upsertHeadSQL)
            for (key, end) in heads { try head.execute(arguments: [key.server, key.node, end]) }
            let day = try db.cachedStatement(sql: upsertCheckpointDaySQL)
            for (key, value) in days { try day.execute(arguments: [key.day, key.server, value.first, value.last]) }
        }
    }

    /// Member ids parsed from clients, services and datasets, reused across the counters of a batch.
    struct MemberCache {
        var consumers: [String: String] = [:]
        var providers: [String: String] = [:]

        mutating func consumer(_ client: String) -> String {
            if let known = consumers[client] { return known }
            let member = UsageStore.consumerMember(client: client)
            consumers[client] = member
            return member
        }

        mutating func provider(service: String, dataset: String) -> String {
            let key = service + "\n" + dataset
            if let known = providers[key] { return known }
            let member = UsageStore.providerMember(service: service, dataset: dataset)
            providers[key] = member
            return member
        }
    }

    static let insertWindowSQL = """
        INSERT INTO usage_windows (registry_sequence, server, side, window_start, client, consumer_member, provider_member,
                                   service, dataset, agreement, outcome, error_type, count, duration_total, \(bucketColumns.joined(separator: ", ")))
        VALUES (\(Array(repeating: "?", count: 14 + bucketCount).joined(separator: ", ")))
        """
    static let upsertDailySQL = upsertRollupSQL(table: "usage_daily", period: "day")
    static let upsertMonthlySQL = upsertRollupSQL(table: "usage_monthly", period: "month")

    static func upsertRollupSQL(table: String, period: String) -> String {
        let keys = rollupKeyColumns.joined(separator: ", ")
        return """
            INSERT INTO \(table) (\(period), \(keys), count, duration_total, \(bucketColumns.joined(separator: ", ")), first_window, last_window)
            VALUES (\(Array(repeating: "?", count: 1 + rollupKeyColumns.count + 4 + bucketCount).joined(separator: ", ")))
            ON CONFLICT (\(period), \(keys)) DO UPDATE SET
                count = count + excluded.count, duration_total = duration_total + excluded.duration_total,
                \(bucketColumns.map { "\($0) = \($0) + excluded.\($0)" }.joined(separator: ", ")),
                first_window = MIN(first_window, excluded.first_window), last_window = MAX(last_window, excluded.last_window)
            """
    }

    static let upsertReconciliationSQL = """
        INSERT INTO usage_reconciliation (agreement, window_start, consumer_served, provider_served, consumer_member, provider_member)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (agreement, window_start) DO UPDATE SET
            consumer_served = consumer_served + excluded.consumer_served,
            provider_served = provider_served + excluded.provider_served,
            consumer_member = CASE WHEN consumer_member = '' THEN excluded.consumer_member ELSE consumer_member END,
            provider_member = CASE WHEN provider_member = '' THEN excluded.provider_member ELSE provider_member END
        """
    static let upsertLastSQL = """
        INSERT INTO usage_last (agreement, last_window) VALUES (?, ?)
        ON CONFLICT (agreement) DO UPDATE SET last_window = MAX(last_window, excluded.last_window)
        """
    static let upsertHeadSQL = """
        INSERT INTO checkpoint_heads (server, node, window_end) VALUES (?, ?, ?)
        ON CONFLICT (server, node) DO UPDATE SET window_end = MAX(window_end, excluded.window_end)
        """
    static let upsertCheckpointDaySQL = """
        INSERT INTO checkpoint_days (day, server, first_start, last_end) VALUES (?, ?, ?, ?)
        ON CONFLICT (day, server) DO UPDATE SET first_start = MIN(first_start, excluded.first_start),
                                                last_end = MAX(last_end, excluded.last_end)
        """

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
        let tables = ["checkpoints", "usage_windows", "usage_daily", "usage_monthly", "usage_reconciliation", "usage_last",
                      "checkpoint_heads", "checkpoint_days"]
        return try reader.read { db in
            try tables.map { table in (table, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0) }
        }
    }
}
