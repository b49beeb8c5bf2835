import Foundation
import GRDB
import LienThongAudit
import LienThongCore

/// Computes the compliance view (``ComplianceReport``) from the usage tables the checkpoint
/// ledger fills (`UsageStore`) and a registry snapshot (`docs/compliance.md`).
///
/// A period is read from the monthly rollup for the whole calendar months inside it, from the
/// daily rollup for its other whole UTC days and from the raw per-window rows for the partial days
/// at its edges, so any period is exact to the usage window while a calendar quarter reads 3 rows
/// per key rather than 26,000.
public struct ComplianceEngine: Sendable {
    /// The ledger whose usage tables are read.
    public let ledger: CheckpointLedger

    /// How long after a usage window's end both sides' checkpoints must reach before the window
    /// is settled and its counts compared: an exchange is counted in the window it started in
    /// but reaches the log (and a checkpoint) only when it ends, up to the peer timeout (60 s by
    /// default) later. 120 seconds.
    public static let settlementMargin: TimeInterval = 120

    /// How many usage windows in a row with equal counts a surplus may cross while waiting to be
    /// reconciled by a deficit (as many exchanges straddling each boundary in turn, which busy
    /// agreements do): 12, one hour.
    public static let maximumPassThroughWindows = 12

    /// Creates an engine over `ledger`.
    public init(ledger: CheckpointLedger) {
        self.ledger = ledger
    }

    /// The whole compliance view for `query`.
    ///
    /// - Parameters:
    ///   - snapshot: the registry's members, agreements, datasets and access requests.
    ///   - now: the time effective statuses, request ages and ``ComplianceReport/generatedAt`` refer to.
    /// - Throws: ``ComplianceQueryError`` for an invalid query; ``CheckpointRefusal`` (`unavailable`)
    ///   or a database error when the ledger cannot be read.
    public func report(_ query: ComplianceQuery, snapshot: RegistrySnapshot, now: Date) async throws -> ComplianceReport {
        try await report(query, snapshot: snapshot, now: now, sections: Set(ComplianceSection.allCases))
    }

    /// The compliance view for `query`, computing only `sections` (the others are left empty):
    /// one section of a quarter costs only the reads it needs.
    public func report(_ query: ComplianceQuery, snapshot: RegistrySnapshot, now: Date,
                       sections: Set<ComplianceSection>) async throws -> ComplianceReport {
        try query.validate()
        let context = ComplianceContext(query: query, snapshot: snapshot, now: now, sections: sections)
        let latest = try ledger.latestWindowEnds().mapValues(\.millisecondsSince1970)
        let loaded = try await ledger.reader.read { db in try UsageLoader(context: context, latestWindowEnds: latest).load(db) }
        return context.build(loaded)
    }
}

// MARK: - Reading

/// A sum of usage counters.
///
/// The loader reads every number through ``UsageBounds`` and refuses a period whose grand totals
/// (all groups together: count, duration, each bucket) exceed 2^53 − 1. All numbers are
/// non-negative, so every sum the sections make of a subset of the groups is at most that grand
/// total: their `+` cannot overflow (`scripts/arithmetic-allowlist.txt` names them).
struct UsageSum: Sendable {
    var count: Int64 = 0
    var duration: Int64 = 0
    var buckets = [Int64](repeating: 0, count: UsageStore.bucketCount)

    /// Adds `other` (loaded totals: within the period's grand total).
    mutating func add(_ other: UsageSum) {
        count += other.count
        duration += other.duration
        for index in buckets.indices { buckets[index] += other.buckets[index] }
    }

    /// Adds `other`, checked, each total kept within 0 … 2^53 − 1.
    mutating func checkedAdd(_ other: UsageSum, _ what: String) throws(ArithmeticOverflow) {
        var result = self
        result.count = try Checked.safe(try Checked.add(count, other.count, what + " count"), what + " count")
        result.duration = try Checked.safe(try Checked.add(duration, other.duration, what + " duration"), what + " duration")
        for index in buckets.indices {
            result.buckets[index] = try Checked.safe(try Checked.add(buckets[index], other.buckets[index], what + " bucket"), what + " bucket")
        }
        self = result
    }
}

/// Reads the integers of usage rows and sums strictly: a value the bound triggers would have
/// refused (outside 0 … 2^53 − 1, or a REAL from an overflowing `+` in an older ledger) is an
/// ``ArithmeticOverflow``, never a trap in the row decoder.
enum UsageBounds {
    static func integer(_ row: Row, _ index: Int, _ what: String) throws(ArithmeticOverflow) -> Int64 {
        let value: DatabaseValue = row[index]
        guard case .int64(let integer) = value.storage else { throw ArithmeticOverflow(what) }
        return try Checked.safe(integer, what)
    }
}

/// The key the period's usage is summed by.
struct UsageGroup: Hashable, Sendable {
    var side: String
    var agreement: String
    var dataset: String
    var consumerMember: String
    var providerMember: String
    var outcome: String
    var errorType: String
}

/// Refusals without agreement, summed.
struct NoAgreementGroup: Hashable, Sendable {
    var client: String
    var consumerMember: String
    var dataset: String
    var service: String
    var side: String
}

/// What the loader read.
struct LoadedUsage: Sendable {
    var groups: [UsageGroup: UsageSum] = [:]
    /// Day number → (served, refused, failed), consumer side.
    var perDay: [Int64: (Int64, Int64, Int64)] = [:]
    var withoutAgreement: [NoAgreementGroup: (count: Int64, first: Int64, last: Int64)] = [:]
    /// Agreement → start of the last usage window with a success before the period's end.
    var lastUsed: [String: Int64] = [:]
    var discrepancies: [Discrepancy] = []
    var connectedServers: Set<String> = []
}

/// The period split into whole months (monthly rollup), the other whole days (daily rollup) and
/// partial-day edges (raw rows).
struct PeriodSegments: Sendable {
    /// Milliseconds, both ends rounded up (a window counts when `from ≤ start < to`).
    var fromMs: Int64
    var toMs: Int64
    /// All whole days (the per-day series reads them from `usage_daily`).
    var days: Range<Int64>?
    /// Partial days read from `usage_windows`: `[start, end)` in milliseconds, and their day.
    var edges: [(start: Int64, end: Int64, day: Int64)]
    /// Whole calendar months, for sums (`usage_monthly`).
    var months: Range<Int64>?
    /// The whole days outside ``months``, for sums (`usage_daily`).
    var dayRanges: [Range<Int64>] = []

    init(from: Date, to: Date) {
        fromMs = Int64((from.timeIntervalSince1970 * 1000).rounded(.up))
        toMs = Int64((to.timeIntervalSince1970 * 1000).rounded(.up))
        let d = UsageStore.dayMilliseconds
        let firstWhole = UsageStore.day(fromMs + d - 1)
        let lastWholeEnd = UsageStore.day(toMs)
        if firstWhole < lastWholeEnd {
            days = firstWhole..<lastWholeEnd
            edges = []
            if fromMs < firstWhole * d { edges.append((fromMs, firstWhole * d, firstWhole - 1)) }
            if lastWholeEnd * d < toMs { edges.append((lastWholeEnd * d, toMs, lastWholeEnd)) }
        } else {
            days = nil
            edges = []
            // Within at most two partial days.
            var start = fromMs
            while start < toMs {
                let day = UsageStore.day(start)
                let end = min(toMs, (day + 1) * d)
                edges.append((start, end, day))
                start = end
            }
        }
        guard let days else { return }
        var firstMonth = UsageStore.month(ofDay: days.lowerBound)
        if UsageStore.firstDay(ofMonth: firstMonth) < days.lowerBound { firstMonth += 1 }
        let monthsEnd = UsageStore.month(ofDay: days.upperBound)
        if firstMonth < monthsEnd {
            months = firstMonth..<monthsEnd
            let start = UsageStore.firstDay(ofMonth: firstMonth), end = UsageStore.firstDay(ofMonth: monthsEnd)
            dayRanges = [days.lowerBound..<start, end..<days.upperBound].filter { !$0.isEmpty }
        } else {
            dayRanges = [days]
        }
    }
}

/// Runs the queries a report needs in one read transaction (one consistent snapshot).
struct UsageLoader {
    let context: ComplianceContext
    let latestWindowEnds: [String: Int64]
    /// The filter as SQL over a usage table (`usage_daily` or `usage_windows`) and its arguments.
    let filter: (sql: String, arguments: [any DatabaseValueConvertible & Sendable])

    init(context: ComplianceContext, latestWindowEnds: [String: Int64]) {
        self.context = context
        self.latestWindowEnds = latestWindowEnds
        filter = Self.filter(context)
    }

    var query: ComplianceQuery { context.query }

    static func filter(_ context: ComplianceContext) -> (sql: String, arguments: [any DatabaseValueConvertible & Sendable]) {
        let query = context.query
        var clauses: [String] = []
        var arguments: [any DatabaseValueConvertible & Sendable] = []
        if let agreement = query.agreement {
            clauses.append("agreement = ?")
            arguments.append(agreement)
        }
        if let member = query.member {
            clauses.append("(consumer_member = ? OR provider_member = ?)")
            arguments.append(member.canonical)
            arguments.append(member.canonical)
        }
        if let dataset = query.dataset {
            let ids = context.snapshot.agreements.filter { $0.dataset == dataset }.map(\.id)
            if ids.isEmpty {
                clauses.append("dataset = ?")
            } else {
                clauses.append("(dataset = ? OR (dataset = '' AND agreement IN (\(Array(repeating: "?", count: ids.count).joined(separator: ", ")))))")
            }
            arguments.append(dataset.canonical)
            arguments.append(contentsOf: ids as [any DatabaseValueConvertible & Sendable])
        }
        return (clauses.isEmpty ? "" : " AND " + clauses.joined(separator: " AND "), arguments)
    }

    func load(_ db: Database) throws -> LoadedUsage {
        var loaded = LoadedUsage()
        let sections = context.sections
        let period = PeriodSegments(from: query.from, to: query.to)
        let needsGroups = !sections.isDisjoint(with: [.kpis, .agreements, .datasets, .agencies, .notShared])
        if needsGroups { loaded.groups = try groups(db, period) }
        if sections.contains(.kpis) || sections.contains(.daily) { loaded.perDay = try perDay(db, period) }
        if sections.contains(.withoutAgreement) { loaded.withoutAgreement = try withoutAgreement(db, period) }
        if sections.contains(.agreements) || sections.contains(.dormant) { loaded.lastUsed = try lastUsed(db, period) }
        if sections.contains(.discrepancies) { loaded.discrepancies = try discrepancies(db, period) }
        if sections.contains(.kpis) { loaded.connectedServers = try connectedServers(db, period) }
        return loaded
    }

    private func segments(_ period: PeriodSegments) -> [(table: String, range: String, arguments: [Int64])] {
        var result: [(String, String, [Int64])] = []
        if let months = period.months { result.append(("usage_monthly", "month >= ? AND month < ?", [months.lowerBound, months.upperBound])) }
        for days in period.dayRanges { result.append(("usage_daily", "day >= ? AND day < ?", [days.lowerBound, days.upperBound])) }
        for edge in period.edges { result.append(("usage_windows", "window_start >= ? AND window_start < ?", [edge.start, edge.end])) }
        return result
    }

    private func arguments(_ range: [Int64], _ extra: [any DatabaseValueConvertible & Sendable] = []) -> StatementArguments {
        StatementArguments(range.map { $0 as any DatabaseValueConvertible } + filter.arguments.map { $0 as any DatabaseValueConvertible }
                           + extra.map { $0 as any DatabaseValueConvertible })
    }

    /// The period's usage summed per side, agreement, dataset, members, outcome and error type.
    func groups(_ db: Database, _ period: PeriodSegments) throws -> [UsageGroup: UsageSum] {
        var groups: [UsageGroup: UsageSum] = [:]
        var grand = UsageSum()
        let sums = (["count", "duration_total"] + UsageStore.bucketColumns).map { "SUM(\($0))" }.joined(separator: ", ")
        for segment in segments(period) {
            let sql = """
                SELECT side, agreement, dataset, consumer_member, provider_member, outcome, error_type, \(sums)
                FROM \(segment.table) WHERE \(segment.range)\(filter.sql)
                GROUP BY side, agreement, dataset, consumer_member, provider_member, outcome, error_type
                """
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments(segment.arguments))
            while let row = try rows.next() {
                let key = UsageGroup(side: row[0], agreement: row[1], dataset: row[2], consumerMember: row[3], providerMember: row[4],
                                     outcome: row[5], errorType: row[6])
                var tally = UsageSum(count: try UsageBounds.integer(row, 7, "usage count"), duration: try UsageBounds.integer(row, 8, "usage duration"))
                for index in 0..<UsageStore.bucketCount { tally.buckets[index] = try UsageBounds.integer(row, 9 + index, "usage bucket") }
                try groups[key, default: UsageSum()].checkedAdd(tally, "usage")
                // The grand total of the period bounds every sum the sections make of the groups.
                try grand.checkedAdd(tally, "the period's usage")
            }
        }
        return groups
    }

    /// Consumer-side served, refused and failed per UTC day.
    func perDay(_ db: Database, _ period: PeriodSegments) throws -> [Int64: (Int64, Int64, Int64)] {
        var result: [Int64: (Int64, Int64, Int64)] = [:]
        var total: Int64 = 0
        func add(_ day: Int64, _ outcome: String, _ count: Int64) throws(ArithmeticOverflow) {
            // Every day's figures are at most the total of all of them, checked here.
            total = try Checked.safe(try Checked.add(total, count, "daily usage"), "daily usage")
            var value = result[day] ?? (0, 0, 0)
            switch outcome {
            case ExchangeOutcome.success.rawValue: value.0 += count
            case ExchangeOutcome.refused.rawValue: value.1 += count
            default: value.2 += count
            }
            result[day] = value
        }
        if let days = period.days {
            let rows = try Row.fetchCursor(db, sql: """
                SELECT day, outcome, SUM(count) FROM usage_daily
                WHERE day >= ? AND day < ? AND side = 'consumer'\(filter.sql) GROUP BY day, outcome
                """, arguments: arguments([days.lowerBound, days.upperBound]))
            while let row = try rows.next() { try add(row[0], row[1], try UsageBounds.integer(row, 2, "daily usage")) }
        }
        for edge in period.edges {
            let rows = try Row.fetchCursor(db, sql: """
                SELECT outcome, SUM(count) FROM usage_windows
                WHERE window_start >= ? AND window_start < ? AND side = 'consumer'\(filter.sql) GROUP BY outcome
                """, arguments: arguments([edge.start, edge.end]))
            while let row = try rows.next() { try add(edge.day, row[0], try UsageBounds.integer(row, 1, "daily usage")) }
        }
        return result
    }

    /// Refusals with no agreement and an `…AccessDenied` error type.
    func withoutAgreement(_ db: Database, _ period: PeriodSegments) throws -> [NoAgreementGroup: (count: Int64, first: Int64, last: Int64)] {
        var result: [NoAgreementGroup: (count: Int64, first: Int64, last: Int64)] = [:]
        var total: Int64 = 0
        let condition = "agreement = '' AND outcome = 'refused' AND substr(error_type, -12) = 'AccessDenied'"
        for segment in segments(period) {
            let (first, last) = segment.table == "usage_windows" ? ("MIN(window_start)", "MAX(window_start)") : ("MIN(first_window)", "MAX(last_window)")
            let rows = try Row.fetchCursor(db, sql: """
                SELECT client, consumer_member, dataset, service, side, SUM(count), \(first), \(last)
                FROM \(segment.table) WHERE \(segment.range) AND \(condition)\(filter.sql)
                GROUP BY client, consumer_member, dataset, service, side
                """, arguments: arguments(segment.arguments))
            while let row = try rows.next() {
                let key = NoAgreementGroup(client: row[0], consumerMember: row[1], dataset: row[2], service: row[3], side: row[4])
                let count = try UsageBounds.integer(row, 5, "refusals without agreement"), firstWindow: Int64 = row[6], lastWindow: Int64 = row[7]
                // All of them together within 2^53 − 1: the section's merges cannot overflow.
                total = try Checked.safe(try Checked.add(total, count, "refusals without agreement"), "refusals without agreement")
                if let old = result[key] {
                    let sum = try Checked.safe(try Checked.add(old.count, count, "refusals without agreement"), "refusals without agreement")
                    result[key] = (sum, min(old.first, firstWindow), max(old.last, lastWindow))
                } else {
                    result[key] = (count, firstWindow, lastWindow)
                }
            }
        }
        return result
    }

    /// For each agreement of the (filtered) snapshot, the start of the last usage window before
    /// the period's end with a successful exchange, either side. `usage_last` answers directly
    /// when that window is before the period's end (the usual case: a period ending now); else
    /// the daily rollup's success index and the raw rows of the end's partial day are read.
    func lastUsed(_ db: Database, _ period: PeriodSegments) throws -> [String: Int64] {
        let wanted = Set(context.agreements.map(\.id))
        guard !wanted.isEmpty else { return [:] }
        var stored: [String: Int64] = [:]
        let rows = try Row.fetchCursor(db, sql: "SELECT agreement, last_window FROM usage_last")
        while let row = try rows.next() {
            let agreement: String = row[0]
            if wanted.contains(agreement) { stored[agreement] = row[1] }
        }
        var result: [String: Int64] = [:]
        var later: [String] = []
        for (agreement, window) in stored {
            if window < period.toMs { result[agreement] = window } else { later.append(agreement) }
        }
        guard !later.isEmpty else { return result }
        let endDay = UsageStore.day(period.toMs)
        var partial: [String: Int64] = [:]
        if endDay * UsageStore.dayMilliseconds < period.toMs {
            let rows = try Row.fetchCursor(db, sql: """
                SELECT agreement, MAX(window_start) FROM usage_windows
                WHERE window_start >= ? AND window_start < ? AND outcome = 'success' AND agreement != '' GROUP BY agreement
                """, arguments: [endDay * UsageStore.dayMilliseconds, period.toMs])
            while let row = try rows.next() { partial[row[0]] = row[1] }
        }
        let lastDay = try db.cachedStatement(sql: """
            SELECT day FROM usage_daily WHERE agreement = ? AND outcome = 'success' AND day < ? ORDER BY day DESC LIMIT 1
            """)
        let lastWindow = try db.cachedStatement(sql: """
            SELECT MAX(last_window) FROM usage_daily WHERE agreement = ? AND outcome = 'success' AND day = ?
            """)
        for agreement in later {
            if let window = partial[agreement] {
                result[agreement] = window
            } else if let day = try Int64.fetchOne(lastDay, arguments: [agreement, endDay]),
                      let window = try Int64.fetchOne(lastWindow, arguments: [agreement, day]) {
                result[agreement] = window
            }
        }
        return result
    }

    /// Security servers with a checkpoint window overlapping the period.
    func connectedServers(_ db: Database, _ period: PeriodSegments) throws -> Set<String> {
        Set(try String.fetchAll(db, sql: """
            SELECT DISTINCT server FROM checkpoint_days WHERE day >= ? AND first_start < ? AND last_end > ?
            """, arguments: [UsageStore.day(period.fromMs), period.toMs, period.fromMs]))
    }

    /// Per member, the latest checkpoint window end all its registered servers have reached
    /// (servers that never checkpointed are left out; no entry when none did).
    func settledThrough() -> [String: Int64] {
        var result: [String: Int64] = [:]
        for server in context.snapshot.servers {
            guard let end = latestWindowEnds[server.id.canonical] else { continue }
            let member = server.id.owner.canonical
            result[member] = min(result[member] ?? .max, end)
        }
        return result
    }

    /// Windows where the two sides' success counts differ, after reconciling boundary straddles:
    /// final on settled windows, provisional on the others (see `docs/compliance.md` §Discrepancies).
    func discrepancies(_ db: Database, _ period: PeriodSegments) throws -> [Discrepancy] {
        let window = UsageStore.windowMilliseconds
        let passes = ComplianceEngine.maximumPassThroughWindows
        let fetchStart = period.fromMs - window
        let fetchEnd = period.toMs + Int64(passes + 2) * window
        var byAgreement: [String: [ReconciliationRow]] = [:]
        let rows = try Row.fetchCursor(db, sql: """
            SELECT agreement, window_start, consumer_served, provider_served, consumer_member, provider_member
            FROM usage_reconciliation WHERE consumer_served != provider_served AND window_start >= ? AND window_start < ?
            """, arguments: [fetchStart, fetchEnd])
        let filter = context.usageAgreementFilter
        while let row = try rows.next() {
            let item = ReconciliationRow(agreement: row[0], window: row[1], consumer: try UsageBounds.integer(row, 2, "consumer served"),
                                         provider: try UsageBounds.integer(row, 3, "provider served"),
                                         consumerMember: row[4], providerMember: row[5])
            guard filter(item.agreement, item.consumerMember, item.providerMember) else { continue }
            byAgreement[item.agreement, default: []].append(item)
        }
        guard !byAgreement.isEmpty else { return [] }
        let settled = settledThrough()
        let margin = Int64(ComplianceEngine.settlementMargin * 1000)
        let lookup = try db.cachedStatement(sql: """
            SELECT consumer_served FROM usage_reconciliation WHERE agreement = ? AND window_start = ?
            """)
        var result: [Discrepancy] = []
        for agreement in byAgreement.keys.sorted() {
            guard let items = byAgreement[agreement]?.sorted(by: { $0.window < $1.window }), let firstItem = items.first else { continue }
            guard let consumerLimit = settled[firstItem.consumerMember], let providerLimit = settled[firstItem.providerMember] else { continue }
            let limit = min(consumerLimit, providerLimit)
            let isSettled = { (start: Int64) in start + window + margin <= limit }
            let served = { (start: Int64) throws -> Int64 in
                guard let row = try Row.fetchOne(lookup, arguments: [agreement, start]) else { return 0 }
                return try UsageBounds.integer(row, 0, "consumer served")
            }
            // Final findings, on settled windows only; then provisional ones: the same
            // reconciliation over the counters reported so far, kept where the window is not settled.
            let final = try Reconciler(window: window, passes: passes, fetchEnd: fetchEnd, isSettled: isSettled, consumerServed: served).run(items)
            // (Only needed when a window the final pass may have had to stop at is not settled.)
            let lastNeeded = (items.last?.window ?? 0) + Int64(passes + 1) * window
            let provisional = isSettled(lastNeeded) ? [] : try Reconciler(
                window: window, passes: passes, fetchEnd: fetchEnd, isSettled: { _ in true }, consumerServed: served)
                .run(items).filter { !isSettled($0.0.window) }
            for (item, unexplained) in final + provisional
            where item.window >= period.fromMs && item.window < period.toMs {
                result.append(Discrepancy(
                    agreement: agreement, consumerMember: item.consumerMember, providerMember: item.providerMember,
                    windowStart: Date(timeIntervalSince1970: Double(item.window) / 1000),
                    windowEnd: Date(timeIntervalSince1970: Double(item.window + window) / 1000),
                    consumerServed: Int(item.consumer), providerServed: Int(item.provider), difference: Int(item.consumer - item.provider),
                    unexplained: Int(unexplained), settled: isSettled(item.window)))
            }
        }
        return result.sorted { ($0.windowStart, $0.agreement) < ($1.windowStart, $1.agreement) }
    }
}

/// One agreement's success counts in one usage window, both sides.
struct ReconciliationRow: Sendable, Hashable {
    var agreement: String
    var window: Int64
    var consumer: Int64
    var provider: Int64
    var consumerMember: String
    var providerMember: String

    var difference: Int64 { consumer - provider }
}

/// Reconciles one agreement's differing windows, in time order.
///
/// An exchange is counted in the window it started in, on each side: one that starts at the
/// consumer just before a boundary and reaches the provider after it shows as +1 in window k and
/// −1 in window k+1. So a surplus (consumer > provider) is kept "in flight" and absorbed by a later
/// deficit, most recent surplus first (the exchanges that straddled the last boundary). In flight,
/// it may cross windows with equal counts — when as many exchanges straddled each following
/// boundary — but at most ``ComplianceEngine/maximumPassThroughWindows`` of them in a row, and never
/// more than the consumer counted in a window it leaves or crosses (the oldest surpluses beyond
/// that cannot have straddled). What is left is flagged: a deficit nothing absorbs at its own
/// window (negative), a surplus nothing absorbs at the window it arose in (positive). Nothing is
/// decided at or after the first unsettled window, nor beyond the rows read.
struct Reconciler {
    let window: Int64
    let passes: Int
    let fetchEnd: Int64
    let isSettled: (Int64) -> Bool
    /// The consumer's count in a window without a difference (`0` when no row).
    let consumerServed: (Int64) throws -> Int64

    /// The windows flagged, each with its unexplained amount.
    func run(_ items: [ReconciliationRow]) throws -> [(ReconciliationRow, Int64)] {
        var flagged: [(ReconciliationRow, Int64)] = []
        var inFlight: [(row: ReconciliationRow, amount: Int64)] = []   // oldest first
        var position: Int64 = 0

        /// Keeps at most `limit` in flight, flagging the oldest surpluses beyond it.
        func trim(to limit: Int64) {
            var excess = inFlight.reduce(0) { $0 + $1.amount } - max(0, limit)
            while excess > 0, let oldest = inFlight.first {
                let take = min(oldest.amount, excess)
                flagged.append((oldest.row, take))
                excess -= take
                if take == oldest.amount { inFlight.removeFirst() } else { inFlight[0].amount -= take }
            }
        }
        func flagAll() {
            for entry in inFlight { flagged.append((entry.row, entry.amount)) }
            inFlight.removeAll()
        }
        /// Carries what is in flight across the equal windows before `target` (all of them when
        /// `nil`); `false` when that cannot be decided yet.
        func travel(to target: Int64?) throws -> Bool {
            var next = position + window
            var hops = 0
            while !inFlight.isEmpty, target.map({ next < $0 }) ?? true {
                if target == nil, next >= fetchEnd || !isSettled(next) { return false }
                guard hops < passes else {
                    flagAll()
                    break
                }
                trim(to: try consumerServed(next))
                position = next
                next += window
                hops += 1
            }
            return true
        }

        for item in items {
            guard isSettled(item.window) else { return Self.merged(flagged) }
            _ = try travel(to: item.window)
            let difference = item.difference
            if difference > 0 {
                inFlight.append((item, difference))
            } else if difference < 0 {
                var deficit = -difference
                while deficit > 0, let latest = inFlight.last {
                    let take = min(latest.amount, deficit)
                    deficit -= take
                    if take == latest.amount { inFlight.removeLast() } else { inFlight[inFlight.count - 1].amount -= take }
                }
                if deficit > 0 { flagged.append((item, -deficit)) }
            }
            trim(to: item.consumer)
            position = item.window
        }
        // No later window with a difference was read: what is still in flight is flagged once
        // every window that could carry it on is settled and was read.
        _ = try travel(to: nil)
        return Self.merged(flagged)
    }

    /// One entry per window, amounts added up.
    static func merged(_ flagged: [(ReconciliationRow, Int64)]) -> [(ReconciliationRow, Int64)] {
        var order: [Int64] = []
        var byWindow: [Int64: (ReconciliationRow, Int64)] = [:]
        for (row, amount) in flagged {
            if let old = byWindow[row.window] { byWindow[row.window] = (row, old.1 + amount) } else {
                byWindow[row.window] = (row, amount)
                order.append(row.window)
            }
        }
        return order.sorted().compactMap { byWindow[$0] }.filter { $0.1 != 0 }
    }
}

// MARK: - Building

/// The query, the snapshot and the derived lookups a report is built from.
struct ComplianceContext: Sendable {
    let query: ComplianceQuery
    let snapshot: RegistrySnapshot
    let now: Date
    let sections: Set<ComplianceSection>
    /// The snapshot's agreements the filters keep.
    let agreements: [Agreement]
    let agreementsById: [String: Agreement]

    init(query: ComplianceQuery, snapshot: RegistrySnapshot, now: Date, sections: Set<ComplianceSection>) {
        self.query = query
        self.snapshot = snapshot
        self.now = now
        self.sections = sections
        agreements = snapshot.agreements.filter { agreement in
            if let id = query.agreement, agreement.id != id { return false }
            if let member = query.member, agreement.consumer.member != member, agreement.dataset.owner != member { return false }
            if let dataset = query.dataset, agreement.dataset != dataset { return false }
            return true
        }.sorted { $0.id < $1.id }
        agreementsById = Dictionary(snapshot.agreements.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Whether usage of `agreement` between the two members passes the filters.
    var usageAgreementFilter: @Sendable (String, String, String) -> Bool {
        let query = self.query
        let byId = agreementsById
        return { agreement, consumer, provider in
            if let id = query.agreement, agreement != id { return false }
            if let member = query.member?.canonical, consumer != member, provider != member { return false }
            if let dataset = query.dataset, byId[agreement]?.dataset != dataset { return false }
            return true
        }
    }

    /// Whether an agreement is in force at some time in the period (active, or expired past its
    /// end date; suspensions and revocations are not dated, so those are left out).
    func inForceDuringPeriod(_ agreement: Agreement) -> Bool {
        (agreement.status == .active || agreement.status == .expired) && agreement.validFrom < query.to && agreement.validUntil > query.from
    }

    static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    static func dayText(_ day: Int64) -> String {
        String(AuditTimestamp(millisecondsSince1970: day * UsageStore.dayMilliseconds)?.rfc3339.prefix(10) ?? "")
    }

    func build(_ loaded: LoadedUsage) -> ComplianceReport {
        var figures = FiguresIndex()
        for (group, tally) in loaded.groups { figures.add(group, tally, agreementsById: agreementsById) }
        let agreementsInForce = snapshot.agreements.filter(inForceDuringPeriod)
        let kpis = sections.contains(.kpis) || sections.contains(.daily) ? buildKPIs(loaded, figures, agreementsInForce) : ComplianceKPIs()
        return ComplianceReport(
            from: query.from, to: query.to, generatedAt: now, dormantDays: query.dormantDays, notSharedThreshold: query.notSharedThreshold,
            pendingDeadlineDays: query.pendingDeadlineDays, agreementFilter: query.agreement, memberFilter: query.member,
            datasetFilter: query.dataset, sections: ComplianceSection.allCases.filter(sections.contains).map(\.rawValue),
            kpis: kpis,
            agreements: sections.contains(.agreements) ? buildAgreements(loaded, figures) : [],
            datasets: sections.contains(.datasets) ? buildDatasets(figures, agreementsInForce) : [],
            agencies: sections.contains(.agencies) ? buildAgencies(figures, agreementsInForce) : [],
            dormant: sections.contains(.dormant) ? buildDormant(loaded) : [],
            notShared: sections.contains(.notShared) ? buildNotShared(figures) : [],
            withoutAgreement: sections.contains(.withoutAgreement) ? buildWithoutAgreement(loaded) : [],
            discrepancies: sections.contains(.discrepancies) ? loaded.discrepancies : [],
            pendingRequests: sections.contains(.pendingRequests) ? buildPending() : [],
            refusals: sections.contains(.refusals) ? buildRefusals() : [])
    }

    private func buildKPIs(_ loaded: LoadedUsage, _ figures: FiguresIndex, _ inForce: [Agreement]) -> ComplianceKPIs {
        var kpis = ComplianceKPIs()
        let members = snapshot.members.filter { !$0.disabled && (query.member == nil || $0.id == query.member) }
        let serversByMember = Dictionary(grouping: snapshot.servers, by: { $0.id.owner })
        kpis.membersRegistered = members.count
        kpis.membersConnected = members.filter { member in
            (serversByMember[member.id] ?? []).contains { loaded.connectedServers.contains($0.id.canonical) }
        }.count
        let ministries = members.filter { $0.kind == .ministry }
        let provinces = members.filter { $0.kind == .province }
        kpis.ministriesRegistered = ministries.count
        kpis.provincesRegistered = provinces.count
        kpis.ministriesSharing = ministries.filter { figures.succeeded.contains($0.id.canonical) }.count
        kpis.provincesSharing = provinces.filter { figures.succeeded.contains($0.id.canonical) }.count
        let kept = Set(agreements.map(\.id))
        kpis.agreementsInForce = inForce.filter { kept.contains($0.id) }.count
        kpis.served = Int(figures.consumerTotals.served)
        kpis.refused = Int(figures.consumerTotals.refused)
        kpis.failed = Int(figures.consumerTotals.failed)
        let period = PeriodSegments(from: query.from, to: query.to)
        let firstDay = UsageStore.day(period.fromMs)
        let lastDay = UsageStore.day(period.toMs - 1)
        if firstDay <= lastDay {
            kpis.exchangesPerDay = (firstDay...lastDay).map { day in
                let value = loaded.perDay[day] ?? (0, 0, 0)
                return DailyExchanges(day: Self.dayText(day), served: Int(value.0), refused: Int(value.1), failed: Int(value.2))
            }
        }
        return kpis
    }

    private func buildAgreements(_ loaded: LoadedUsage, _ figures: FiguresIndex) -> [AgreementCompliance] {
        agreements.map { agreement in
            AgreementCompliance(
                id: agreement.id, consumer: agreement.consumer, consumerMember: agreement.consumer.member, provider: agreement.dataset.owner,
                dataset: agreement.dataset, purposes: agreement.purposes, status: EffectiveAgreementStatus(agreement, now: now),
                validFrom: agreement.validFrom, validUntil: agreement.validUntil, lastUsed: loaded.lastUsed[agreement.id].map(Self.date),
                consumerSide: figures.byAgreement[agreement.id]?.consumer.figures ?? UsageFigures(),
                providerSide: figures.byAgreement[agreement.id]?.provider.figures ?? UsageFigures())
        }
    }

    private func buildDatasets(_ figures: FiguresIndex, _ inForce: [Agreement]) -> [DatasetCompliance] {
        let consumedByMember = Set(agreements.map(\.dataset))
        let counts = Dictionary(grouping: inForce, by: \.dataset).mapValues(\.count)
        return snapshot.datasets.filter { dataset in
            if let id = query.dataset, dataset.id != id { return false }
            if let id = query.agreement, agreementsById[id]?.dataset != dataset.id { return false }
            if let member = query.member, dataset.owner != member, !consumedByMember.contains(dataset.id) { return false }
            return true
        }.sorted { $0.id.canonical < $1.id.canonical }.map { dataset in
            let sides = figures.byDataset[dataset.id.canonical]
            return DatasetCompliance(id: dataset.id, owner: dataset.owner, nameVi: dataset.nameVi, agreementCount: counts[dataset.id] ?? 0,
                                     consumerSide: sides?.consumer.figures ?? UsageFigures(), providerSide: sides?.provider.figures ?? UsageFigures())
        }
    }

    private func buildAgencies(_ figures: FiguresIndex, _ inForce: [Agreement]) -> [AgencyScorecard] {
        var included: Set<MemberId>?
        if let member = query.member { included = [member] }
        if query.agreement != nil || query.dataset != nil {
            var members = Set(agreements.flatMap { [$0.consumer.member, $0.dataset.owner] })
            if let dataset = query.dataset { members.insert(dataset.owner) }
            included = included.map { $0.intersection(members) } ?? members
        }
        let datasetsByOwner = Dictionary(grouping: snapshot.datasets, by: \.owner)
        let inForceByConsumer = Dictionary(grouping: inForce, by: { $0.consumer.member })
        let inForceByProvider = Dictionary(grouping: inForce, by: { $0.dataset.owner })
        return snapshot.members.filter { included?.contains($0.id) ?? true }.sorted { $0.id.canonical < $1.id.canonical }.map { member in
            let owned = datasetsByOwner[member.id] ?? []
            let provided = owned.filter { dataset in
                let sides = figures.byDataset[dataset.id.canonical]
                return (sides?.provider.served ?? 0) > 0 || (sides?.consumer.served ?? 0) > 0
            }
            var providerServed: Int64 = 0
            var providerTotal: Int64 = 0
            for dataset in owned {
                if let sides = figures.byDataset[dataset.id.canonical] {
                    providerServed += sides.provider.served
                    providerTotal += sides.provider.total
                }
            }
            let asConsumer = inForceByConsumer[member.id] ?? []
            let asProvider = inForceByProvider[member.id] ?? []
            var all: [String: Agreement] = [:]
            for agreement in asConsumer + asProvider { all[agreement.id] = agreement }
            let used = all.keys.filter { figures.usedAgreements.contains($0) }.count
            return AgencyScorecard(
                member: member.id, name: member.name, kind: member.kind, disabled: member.disabled, datasetsOwned: owned.count,
                datasetsProvided: provided.count, datasetsConsumed: figures.consumedDatasets[member.id.canonical]?.count ?? 0,
                agreementsAsConsumer: asConsumer.count, agreementsAsProvider: asProvider.count, agreementsUsed: used,
                shareUsed: all.isEmpty ? nil : FiguresIndex.ratio(Int64(used), Int64(all.count)),
                providerServed: Int(providerServed), providerTotal: Int(providerTotal),
                fulfilmentRate: providerTotal == 0 ? nil : FiguresIndex.ratio(providerServed, providerTotal))
        }
    }

    private func buildDormant(_ loaded: LoadedUsage) -> [DormantAgreement] {
        let toMs = PeriodSegments(from: query.from, to: query.to).toMs
        let span = Int64(query.dormantDays) * UsageStore.dayMilliseconds
        let cutoff = toMs - span
        return agreements.compactMap { agreement in
            let validFrom = Int64((agreement.validFrom.timeIntervalSince1970 * 1000).rounded(.up))
            guard agreement.status == .active, agreement.validUntil >= query.to, validFrom <= cutoff else { return nil }
            let last = loaded.lastUsed[agreement.id]
            if let last, last >= cutoff { return nil }
            let idleFrom = last.map { $0 + UsageStore.windowMilliseconds } ?? validFrom
            return DormantAgreement(id: agreement.id, consumer: agreement.consumer, provider: agreement.dataset.owner, dataset: agreement.dataset,
                                    validFrom: agreement.validFrom, lastUsed: last.map(Self.date),
                                    idleDays: Int(max(0, toMs - idleFrom) / UsageStore.dayMilliseconds))
        }
    }

    private func buildNotShared(_ figures: FiguresIndex) -> [NotSharedAgreement] {
        agreements.compactMap { agreement in
            guard let sides = figures.byAgreement[agreement.id] else { return nil }
            let basis: String
            let tally: SideAccumulator
            if sides.provider.total > 0 {
                (basis, tally) = ("provider", sides.provider)
            } else if sides.consumer.total > 0 {
                (basis, tally) = ("consumer", sides.consumer)
            } else {
                return nil
            }
            let bad = tally.refused + tally.failed
            let share = Double(bad) / Double(tally.total)
            guard share > query.notSharedThreshold else { return nil }
            let figures = tally.figures
            let reasons = (figures.refusedByReason + figures.failedByReason).sorted { ($1.count, $0.errorType) < ($0.count, $1.errorType) }
            return NotSharedAgreement(id: agreement.id, consumer: agreement.consumer, provider: agreement.dataset.owner, dataset: agreement.dataset,
                                      basis: basis, total: Int(tally.total), served: Int(tally.served), refused: Int(tally.refused),
                                      failed: Int(tally.failed), share: FiguresIndex.ratio(bad, tally.total), reasons: reasons)
        }
    }

    private func buildWithoutAgreement(_ loaded: LoadedUsage) -> [AttemptsWithoutAgreement] {
        var merged: [String: AttemptsWithoutAgreement] = [:]
        for (key, value) in loaded.withoutAgreement {
            let (target, kind) = !key.dataset.isEmpty ? (key.dataset, "dataset") : !key.service.isEmpty ? (key.service, "service") : ("", "unknown")
            let id = [key.client, key.consumerMember, target, kind, key.side].joined(separator: "\n")
            if var old = merged[id] {
                old.count += Int(value.count)
                old.firstWindow = min(old.firstWindow, Self.date(value.first))
                old.lastWindow = max(old.lastWindow, Self.date(value.last))
                merged[id] = old
            } else {
                merged[id] = AttemptsWithoutAgreement(client: key.client, consumerMember: key.consumerMember, target: target, targetKind: kind,
                                                      refusedBy: key.side, count: Int(value.count), firstWindow: Self.date(value.first),
                                                      lastWindow: Self.date(value.last))
            }
        }
        return merged.values.sorted { ($1.count, $0.client, $0.target, $0.refusedBy) < ($0.count, $1.client, $1.target, $1.refusedBy) }
    }

    /// Whether a request passes the filters (the agreement filter keeps the requests of the same
    /// consumer subsystem for the same dataset).
    private func requestMatches(_ request: AccessRequest) -> Bool {
        if let id = query.agreement {
            guard let agreement = agreementsById[id], agreement.consumer == request.consumer, agreement.dataset == request.dataset else { return false }
        }
        if let member = query.member, request.consumer.member != member, request.dataset.owner != member { return false }
        if let dataset = query.dataset, request.dataset != dataset { return false }
        return true
    }

    private func buildPending() -> [WaitingAccessRequest] {
        snapshot.accessRequests.filter { $0.decision == nil && requestMatches($0) }.sorted { ($0.requestedAt, $0.id) < ($1.requestedAt, $1.id) }.map { request in
            let age = Int(max(0, now.timeIntervalSince(request.requestedAt)) / 86_400)
            return WaitingAccessRequest(id: request.id, consumer: request.consumer, dataset: request.dataset, provider: request.dataset.owner,
                                        purposes: request.purposes, requestedAt: request.requestedAt, ageDays: age,
                                        overdue: age > query.pendingDeadlineDays)
        }
    }

    private func buildRefusals() -> [AccessRequestRefusal] {
        snapshot.accessRequests.compactMap { request -> AccessRequestRefusal? in
            guard let decision = request.decision, decision.outcome == .refused, decision.decidedAt >= query.from, decision.decidedAt < query.to,
                  requestMatches(request) else { return nil }
            return AccessRequestRefusal(id: request.id, consumer: request.consumer, dataset: request.dataset, provider: request.dataset.owner,
                                        requestedAt: request.requestedAt, decidedAt: decision.decidedAt, decidedBy: decision.decidedBy,
                                        reason: decision.reason, legalBasis: decision.legalBasis)
        }.sorted { ($0.decidedAt, $0.id) < ($1.decidedAt, $1.id) }
    }
}

/// One side's counts, accumulated.
struct SideAccumulator: Sendable {
    var served: Int64 = 0
    var refused: Int64 = 0
    var failed: Int64 = 0
    var refusedReasons: [String: Int64] = [:]
    var failedReasons: [String: Int64] = [:]
    var successTally = UsageSum()

    var total: Int64 { served + refused + failed }

    mutating func add(outcome: String, errorType: String, _ tally: UsageSum) {
        let reason = errorType.isEmpty ? "(unspecified)" : errorType
        switch outcome {
        case ExchangeOutcome.success.rawValue:
            served += tally.count
            successTally.add(tally)
        case ExchangeOutcome.refused.rawValue:
            refused += tally.count
            refusedReasons[reason, default: 0] += tally.count
        default:
            failed += tally.count
            failedReasons[reason, default: 0] += tally.count
        }
    }

    var figures: UsageFigures {
        func reasons(_ counts: [String: Int64]) -> [ReasonCount] {
            counts.filter { $0.value > 0 }.map { ReasonCount(errorType: $0.key, count: Int($0.value)) }
                .sorted { ($1.count, $0.errorType) < ($0.count, $1.errorType) }
        }
        var result = UsageFigures(served: Int(served), refused: Int(refused), failed: Int(failed),
                                  refusedByReason: reasons(refusedReasons), failedByReason: reasons(failedReasons),
                                  successRate: total == 0 ? nil : FiguresIndex.ratio(served, total))
        let percentiles = Self.percentiles(successTally.buckets, [0.50, 0.95, 0.99])
        result.latencyP50Ms = percentiles[0]
        result.latencyP95Ms = percentiles[1]
        result.latencyP99Ms = percentiles[2]
        if successTally.count > 0 {
            let histogramCount = successTally.buckets.reduce(0, +)
            result.latencyOverflow = zip(["p50", "p95", "p99"], percentiles).filter { $0.1 == nil && histogramCount > 0 }.map(\.0)
            result.latencyMeanMs = (Double(successTally.duration) / Double(successTally.count) * 10).rounded() / 10
        }
        return result
    }

    /// The upper bound (ms) of the bucket holding each quantile; `nil` for the overflow bucket or
    /// an empty histogram. The quantile q is the ⌈q·n⌉-th smallest value.
    static func percentiles(_ buckets: [Int64], _ quantiles: [Double]) -> [Int?] {
        let total = buckets.reduce(0, +)
        guard total > 0 else { return quantiles.map { _ in nil } }
        let bounds = UsageCounter.latencyBucketBounds
        return quantiles.map { q in
            let rank = max(1, Int64((q * Double(total)).rounded(.up)))
            var cumulative: Int64 = 0
            for (index, count) in buckets.enumerated() {
                cumulative += count
                if cumulative >= rank { return index < bounds.count ? Int(bounds[index]) : nil }
            }
            return nil
        }
    }
}

/// Both sides.
struct SidePair: Sendable {
    var consumer = SideAccumulator()
    var provider = SideAccumulator()

    mutating func add(_ group: UsageGroup, _ tally: UsageSum) {
        if group.side == ExchangeSide.provider.rawValue {
            provider.add(outcome: group.outcome, errorType: group.errorType, tally)
        } else {
            consumer.add(outcome: group.outcome, errorType: group.errorType, tally)
        }
    }
}

/// The period's usage groups, indexed the ways the sections need.
struct FiguresIndex: Sendable {
    var byAgreement: [String: SidePair] = [:]
    /// Exchanges under an agreement, per dataset (attributed through the agreement when the
    /// records do not name the dataset).
    var byDataset: [String: SidePair] = [:]
    var consumerTotals = SideAccumulator()
    /// Members with a successful exchange, as consumer or provider.
    var succeeded: Set<String> = []
    /// Agreements with a successful exchange.
    var usedAgreements: Set<String> = []
    /// Per consumer member, the datasets it consumed successfully.
    var consumedDatasets: [String: Set<String>] = [:]

    mutating func add(_ group: UsageGroup, _ tally: UsageSum, agreementsById: [String: Agreement]) {
        let success = group.outcome == ExchangeOutcome.success.rawValue && tally.count > 0
        if group.side == ExchangeSide.consumer.rawValue {
            consumerTotals.add(outcome: group.outcome, errorType: group.errorType, tally)
        }
        if success {
            if !group.consumerMember.isEmpty { succeeded.insert(group.consumerMember) }
            if !group.providerMember.isEmpty { succeeded.insert(group.providerMember) }
        }
        guard !group.agreement.isEmpty else { return }
        byAgreement[group.agreement, default: SidePair()].add(group, tally)
        let dataset = group.dataset.isEmpty ? (agreementsById[group.agreement]?.dataset.canonical ?? "") : group.dataset
        if !dataset.isEmpty { byDataset[dataset, default: SidePair()].add(group, tally) }
        if success {
            usedAgreements.insert(group.agreement)
            if group.side == ExchangeSide.consumer.rawValue, !group.consumerMember.isEmpty, !dataset.isEmpty {
                consumedDatasets[group.consumerMember, default: []].insert(dataset)
            }
        }
    }

    /// `part / whole` rounded to six decimals.
    static func ratio(_ part: Int64, _ whole: Int64) -> Double {
        guard whole > 0 else { return 0 }
        return (Double(part) / Double(whole) * 1_000_000).rounded() / 1_000_000
    }
}
