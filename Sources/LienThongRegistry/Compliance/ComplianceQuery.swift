import Foundation
import LienThongCore

/// What the compliance view is asked: a period, the thresholds that turn figures into findings,
/// and optional filters (`docs/compliance.md`).
public struct ComplianceQuery: Sendable, Hashable {
    /// The start of the period (inclusive). Usage is counted by usage window: a 5-minute window
    /// belongs to the period when its start does.
    public var from: Date
    /// The end of the period (exclusive).
    public var to: Date
    /// An agreement in force is dormant after this many days without a successful exchange
    /// (1...3650, default 30).
    public var dormantDays: Int
    /// An agreement is "agreed but not shared" when more than this share of its provider-side
    /// exchanges were refused or failed (0...1, default 0.2).
    public var notSharedThreshold: Double
    /// An access request is overdue after this many days without a decision (0...3650, default 15).
    public var pendingDeadlineDays: Int
    /// Only this agreement (`AG-000001`).
    public var agreement: String?
    /// Only exchanges, agreements, datasets and requests in which this member takes part, as
    /// consumer or as provider.
    public var member: MemberId?
    /// Only this dataset.
    public var dataset: DatasetId?

    /// Creates a query; ``ComplianceEngine`` validates it.
    public init(from: Date, to: Date, dormantDays: Int = 30, notSharedThreshold: Double = 0.2, pendingDeadlineDays: Int = 15,
                agreement: String? = nil, member: MemberId? = nil, dataset: DatasetId? = nil) {
        self.from = from
        self.to = to
        self.dormantDays = dormantDays
        self.notSharedThreshold = notSharedThreshold
        self.pendingDeadlineDays = pendingDeadlineDays
        self.agreement = agreement
        self.member = member
        self.dataset = dataset
    }

    /// The longest period a query may cover: three years (1,096 days).
    public static let maximumPeriod: TimeInterval = 1_096 * 86_400

    /// Checks the query's ranges.
    ///
    /// - Throws: ``ComplianceQueryError`` naming the first parameter at fault.
    public func validate() throws(ComplianceQueryError) {
        guard from.timeIntervalSince1970.isFinite, to.timeIntervalSince1970.isFinite,
              AuditTimestampRange.contains(from), AuditTimestampRange.contains(to) else {
            throw ComplianceQueryError("from and to must be dates between 1970 and 9999")
        }
        guard from < to else {
            throw ComplianceQueryError("from (\(RegistryJSON.timestamp(from))) must be before to (\(RegistryJSON.timestamp(to)))")
        }
        guard to.timeIntervalSince(from) <= Self.maximumPeriod else {
            throw ComplianceQueryError("the period may not be longer than three years (1096 days)")
        }
        guard (1...3650).contains(dormantDays) else {
            throw ComplianceQueryError("dormant_days must be an integer from 1 to 3650, not \(dormantDays)")
        }
        guard notSharedThreshold.isFinite, (0...1).contains(notSharedThreshold) else {
            throw ComplianceQueryError("threshold must be a number from 0 to 1, not \(notSharedThreshold)")
        }
        guard (0...3650).contains(pendingDeadlineDays) else {
            throw ComplianceQueryError("pending_days must be an integer from 0 to 3650, not \(pendingDeadlineDays)")
        }
        if let agreement, agreement.isEmpty || agreement.utf8.count > 64 {
            throw ComplianceQueryError("agreement must be an agreement id of 1 to 64 characters")
        }
    }
}

/// The instants usage data can have: 1970-01-01 to 9999-12-31.
enum AuditTimestampRange {
    static func contains(_ date: Date) -> Bool {
        date.timeIntervalSince1970 >= 0 && date.timeIntervalSince1970 < 253_402_300_800
    }
}

/// A compliance query the engine refuses; the API answers 400 with ``message``.
public struct ComplianceQueryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A sentence naming the parameter at fault and its allowed range.
    public var message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}
