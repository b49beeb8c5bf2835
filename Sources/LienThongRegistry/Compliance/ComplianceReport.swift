import Foundation
import LienThongCore

/// The sections of the compliance view, as the auditor API and CLI name them.
public enum ComplianceSection: String, CaseIterable, Sendable {
    /// Instance-wide indicators (``ComplianceReport/kpis``).
    case kpis
    /// Exchanges per day (``ComplianceKPIs/exchangesPerDay``).
    case daily
    /// Per agreement, both sides' figures (``ComplianceReport/agreements``).
    case agreements
    /// Per dataset (``ComplianceReport/datasets``).
    case datasets
    /// Per member, the scorecard (``ComplianceReport/agencies``).
    case agencies
    /// Agreements in force but unused (``ComplianceReport/dormant``).
    case dormant
    /// Agreements whose provider refuses or fails too often (``ComplianceReport/notShared``).
    case notShared = "not-shared"
    /// Attempts refused for lack of an agreement (``ComplianceReport/withoutAgreement``).
    case withoutAgreement = "without-agreement"
    /// Windows where the two sides' counts of an agreement differ (``ComplianceReport/discrepancies``).
    case discrepancies
    /// Access requests waiting for a decision (``ComplianceReport/pendingRequests``).
    case pendingRequests = "pending-requests"
    /// Refused access requests (``ComplianceReport/refusals``).
    case refusals
}

/// The compliance view over one period: who shares data as agreed, from both sides' signed
/// checkpoints (`docs/compliance.md` explains every figure).
///
/// Encoded with ``RegistryJSON/makeEncoder()`` (snake_case keys, whole-second dates). Absent
/// optional values (no data) are left out of the JSON.
public struct ComplianceReport: Codable, Sendable, Hashable {
    /// The start of the period (inclusive).
    public var from: Date
    /// The end of the period (exclusive).
    public var to: Date
    /// When the report was computed (the `now` it was computed for).
    public var generatedAt: Date
    /// The dormancy threshold used, in days.
    public var dormantDays: Int
    /// The not-shared threshold used (share of provider-side refusals and failures).
    public var notSharedThreshold: Double
    /// The access-request deadline used, in days.
    public var pendingDeadlineDays: Int
    /// The agreement filter, if any.
    public var agreementFilter: String?
    /// The member filter, if any.
    public var memberFilter: MemberId?
    /// The dataset filter, if any.
    public var datasetFilter: DatasetId?
    /// The sections computed (all, unless the report was asked for some only).
    public var sections: [String]

    /// Instance-wide indicators.
    public var kpis: ComplianceKPIs
    /// Per agreement of the registry (filtered), both sides' figures over the period.
    public var agreements: [AgreementCompliance]
    /// Per dataset, both sides' figures over the exchanges made under an agreement.
    public var datasets: [DatasetCompliance]
    /// Per member, the scorecard.
    public var agencies: [AgencyScorecard]
    /// Agreements in force at ``to`` without a successful exchange in the last ``dormantDays``.
    public var dormant: [DormantAgreement]
    /// Agreements whose refusals and failures exceed ``notSharedThreshold``.
    public var notShared: [NotSharedAgreement]
    /// Exchanges refused because there was no agreement.
    public var withoutAgreement: [AttemptsWithoutAgreement]
    /// Settled usage windows where the consumer's and the provider's counts of successful
    /// exchanges disagree beyond what exchanges straddling a window boundary explain.
    public var discrepancies: [Discrepancy]
    /// Access requests waiting for a decision (as of ``generatedAt``).
    public var pendingRequests: [WaitingAccessRequest]
    /// Access requests refused during the period, with their written reasons.
    public var refusals: [AccessRequestRefusal]

    /// Creates a report.
    public init(from: Date, to: Date, generatedAt: Date, dormantDays: Int, notSharedThreshold: Double, pendingDeadlineDays: Int,
                agreementFilter: String?, memberFilter: MemberId?, datasetFilter: DatasetId?, sections: [String],
                kpis: ComplianceKPIs, agreements: [AgreementCompliance], datasets: [DatasetCompliance], agencies: [AgencyScorecard],
                dormant: [DormantAgreement], notShared: [NotSharedAgreement], withoutAgreement: [AttemptsWithoutAgreement],
                discrepancies: [Discrepancy], pendingRequests: [WaitingAccessRequest], refusals: [AccessRequestRefusal]) {
        self.from = from
        self.to = to
        self.generatedAt = generatedAt
        self.dormantDays = dormantDays
        self.notSharedThreshold = notSharedThreshold
        self.pendingDeadlineDays = pendingDeadlineDays
        self.agreementFilter = agreementFilter
        self.memberFilter = memberFilter
        self.datasetFilter = datasetFilter
        self.sections = sections
        self.kpis = kpis
        self.agreements = agreements
        self.datasets = datasets
        self.agencies = agencies
        self.dormant = dormant
        self.notShared = notShared
        self.withoutAgreement = withoutAgreement
        self.discrepancies = discrepancies
        self.pendingRequests = pendingRequests
        self.refusals = refusals
    }
}

/// Instance-wide indicators over the period.
public struct ComplianceKPIs: Codable, Sendable, Hashable {
    /// Members registered and not disabled.
    public var membersRegistered: Int
    /// Of those, members with a registered security server that submitted a checkpoint whose
    /// window overlaps the period.
    public var membersConnected: Int
    /// Ministries (``MemberKind/ministry``) registered and not disabled.
    public var ministriesRegistered: Int
    /// Of those, ministries with at least one successful exchange, as consumer or provider.
    public var ministriesSharing: Int
    /// Provinces (``MemberKind/province``) registered and not disabled.
    public var provincesRegistered: Int
    /// Of those, provinces with at least one successful exchange, as consumer or provider.
    public var provincesSharing: Int
    /// Agreements in force at some time during the period (status active, or expired past its end).
    public var agreementsInForce: Int
    /// Successful exchanges, as the consumers' servers counted them.
    public var served: Int
    /// Refused exchanges, as the consumers' servers counted them (refusals by either side).
    public var refused: Int
    /// Failed exchanges, as the consumers' servers counted them.
    public var failed: Int
    /// Per UTC day of the period, the consumers' servers' counts.
    public var exchangesPerDay: [DailyExchanges]

    /// Creates indicators.
    public init(membersRegistered: Int = 0, membersConnected: Int = 0, ministriesRegistered: Int = 0, ministriesSharing: Int = 0,
                provincesRegistered: Int = 0, provincesSharing: Int = 0, agreementsInForce: Int = 0, served: Int = 0, refused: Int = 0,
                failed: Int = 0, exchangesPerDay: [DailyExchanges] = []) {
        self.membersRegistered = membersRegistered
        self.membersConnected = membersConnected
        self.ministriesRegistered = ministriesRegistered
        self.ministriesSharing = ministriesSharing
        self.provincesRegistered = provincesRegistered
        self.provincesSharing = provincesSharing
        self.agreementsInForce = agreementsInForce
        self.served = served
        self.refused = refused
        self.failed = failed
        self.exchangesPerDay = exchangesPerDay
    }
}

/// One UTC day's exchanges, as the consumers' servers counted them.
public struct DailyExchanges: Codable, Sendable, Hashable {
    /// The day, `YYYY-MM-DD` (UTC).
    public var day: String
    /// Successful exchanges.
    public var served: Int
    /// Refused exchanges.
    public var refused: Int
    /// Failed exchanges.
    public var failed: Int

    /// Creates a day's figures.
    public init(day: String, served: Int, refused: Int, failed: Int) {
        self.day = day
        self.served = served
        self.refused = refused
        self.failed = failed
    }
}

/// How many exchanges ended with one X-Road error type.
public struct ReasonCount: Codable, Sendable, Hashable {
    /// The error type, e.g. `Server.ServerProxy.MaintenanceMode`; `(unspecified)` when the
    /// records name none.
    public var errorType: String
    /// How many.
    public var count: Int

    /// Creates a count.
    public init(errorType: String, count: Int) {
        self.errorType = errorType
        self.count = count
    }
}

/// What one side's security servers counted for a set of exchanges over the period.
///
/// Latency percentiles come from the checkpoints' latency histograms of the **successful**
/// exchanges: each is the upper bound (ms) of the histogram bucket the percentile falls in
/// (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000 or 10000). A percentile that falls in the
/// overflow bucket (slower than 10 000 ms) has no upper bound: it is absent and its name is listed
/// in ``latencyOverflow``. All are absent when nothing succeeded.
public struct UsageFigures: Codable, Sendable, Hashable {
    /// Successful exchanges.
    public var served: Int
    /// Refused exchanges.
    public var refused: Int
    /// Failed exchanges.
    public var failed: Int
    /// Refusals per error type, most frequent first.
    public var refusedByReason: [ReasonCount]
    /// Failures per error type, most frequent first.
    public var failedByReason: [ReasonCount]
    /// `served / (served + refused + failed)`; absent when there were no exchanges.
    public var successRate: Double?
    /// Median latency of successful exchanges, ms (bucket upper bound).
    public var latencyP50Ms: Int?
    /// 95th percentile latency of successful exchanges, ms (bucket upper bound).
    public var latencyP95Ms: Int?
    /// 99th percentile latency of successful exchanges, ms (bucket upper bound).
    public var latencyP99Ms: Int?
    /// Mean duration of successful exchanges, ms (one decimal).
    public var latencyMeanMs: Double?
    /// The percentiles (`p50`, `p95`, `p99`) slower than the histogram's last bound (10 000 ms).
    public var latencyOverflow: [String]

    /// All exchanges.
    public var total: Int { served + refused + failed }

    /// Creates figures.
    public init(served: Int = 0, refused: Int = 0, failed: Int = 0, refusedByReason: [ReasonCount] = [], failedByReason: [ReasonCount] = [],
                successRate: Double? = nil, latencyP50Ms: Int? = nil, latencyP95Ms: Int? = nil, latencyP99Ms: Int? = nil,
                latencyMeanMs: Double? = nil, latencyOverflow: [String] = []) {
        self.served = served
        self.refused = refused
        self.failed = failed
        self.refusedByReason = refusedByReason
        self.failedByReason = failedByReason
        self.successRate = successRate
        self.latencyP50Ms = latencyP50Ms
        self.latencyP95Ms = latencyP95Ms
        self.latencyP99Ms = latencyP99Ms
        self.latencyMeanMs = latencyMeanMs
        self.latencyOverflow = latencyOverflow
    }
}

/// An agreement's status as the compliance view reports it.
public enum EffectiveAgreementStatus: String, Codable, Sendable, Hashable, CaseIterable {
    /// Active and within its dates.
    case active
    /// Suspended.
    case suspended
    /// Past its end date (whatever the stored status says, unless revoked or suspended).
    case expired
    /// Revoked.
    case revoked
    /// Active but before its start date.
    case notYetValid = "not_yet_valid"

    /// `expired` when an active agreement's `validUntil` ≤ `now`, `not_yet_valid` when its
    /// `validFrom` > `now`, else the stored status.
    public init(_ agreement: Agreement, now: Date) {
        switch agreement.status {
        case .active:
            if agreement.validUntil <= now { self = .expired } else if agreement.validFrom > now { self = .notYetValid } else { self = .active }
        case .suspended: self = .suspended
        case .expired: self = .expired
        case .revoked: self = .revoked
        }
    }
}

/// One agreement's usage over the period, as each side counted it.
public struct AgreementCompliance: Codable, Sendable, Hashable {
    /// The agreement id.
    public var id: String
    /// The consumer subsystem.
    public var consumer: SubsystemId
    /// The consumer's member.
    public var consumerMember: MemberId
    /// The provider: the dataset's owner.
    public var provider: MemberId
    /// The dataset.
    public var dataset: DatasetId
    /// The allowed purposes (empty: any).
    public var purposes: [String]
    /// The status, as of the report's `generatedAt`.
    public var status: EffectiveAgreementStatus
    /// Start of validity.
    public var validFrom: Date
    /// End of validity.
    public var validUntil: Date
    /// The start of the last usage window before the period's end with a successful exchange
    /// (either side); absent if never used.
    public var lastUsed: Date?
    /// What the consumer's servers counted.
    public var consumerSide: UsageFigures
    /// What the provider's servers counted.
    public var providerSide: UsageFigures

    /// Creates an entry.
    public init(id: String, consumer: SubsystemId, consumerMember: MemberId, provider: MemberId, dataset: DatasetId, purposes: [String],
                status: EffectiveAgreementStatus, validFrom: Date, validUntil: Date, lastUsed: Date?, consumerSide: UsageFigures,
                providerSide: UsageFigures) {
        self.id = id
        self.consumer = consumer
        self.consumerMember = consumerMember
        self.provider = provider
        self.dataset = dataset
        self.purposes = purposes
        self.status = status
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.lastUsed = lastUsed
        self.consumerSide = consumerSide
        self.providerSide = providerSide
    }
}

/// One dataset's usage over the period: the exchanges made under an agreement.
public struct DatasetCompliance: Codable, Sendable, Hashable {
    /// The dataset.
    public var id: DatasetId
    /// Its owner.
    public var owner: MemberId
    /// Its Vietnamese name.
    public var nameVi: String
    /// Agreements on it in force at some time during the period.
    public var agreementCount: Int
    /// What the consumers' servers counted.
    public var consumerSide: UsageFigures
    /// What the provider's servers counted.
    public var providerSide: UsageFigures

    /// Creates an entry.
    public init(id: DatasetId, owner: MemberId, nameVi: String, agreementCount: Int, consumerSide: UsageFigures, providerSide: UsageFigures) {
        self.id = id
        self.owner = owner
        self.nameVi = nameVi
        self.agreementCount = agreementCount
        self.consumerSide = consumerSide
        self.providerSide = providerSide
    }
}

/// One member's scorecard over the period.
public struct AgencyScorecard: Codable, Sendable, Hashable {
    /// The member.
    public var member: MemberId
    /// Its official name.
    public var name: String
    /// Its kind.
    public var kind: MemberKind
    /// Whether it is disabled.
    public var disabled: Bool
    /// Datasets it owns.
    public var datasetsOwned: Int
    /// Of those, datasets with at least one successful exchange in the period.
    public var datasetsProvided: Int
    /// Distinct datasets it consumed successfully in the period.
    public var datasetsConsumed: Int
    /// Agreements in force during the period in which it is the consumer.
    public var agreementsAsConsumer: Int
    /// Agreements in force during the period in which it is the provider.
    public var agreementsAsProvider: Int
    /// Of its agreements in force (either role, counted once), those with at least one successful
    /// exchange in the period.
    public var agreementsUsed: Int
    /// `agreementsUsed` / its agreements in force; absent when it has none.
    public var shareUsed: Double?
    /// Provider-side successful exchanges on its datasets (under an agreement).
    public var providerServed: Int
    /// Provider-side exchanges on its datasets (under an agreement).
    public var providerTotal: Int
    /// `providerServed / providerTotal`; absent when it served nothing.
    public var fulfilmentRate: Double?

    /// Creates a scorecard.
    public init(member: MemberId, name: String, kind: MemberKind, disabled: Bool, datasetsOwned: Int, datasetsProvided: Int,
                datasetsConsumed: Int, agreementsAsConsumer: Int, agreementsAsProvider: Int, agreementsUsed: Int, shareUsed: Double?,
                providerServed: Int, providerTotal: Int, fulfilmentRate: Double?) {
        self.member = member
        self.name = name
        self.kind = kind
        self.disabled = disabled
        self.datasetsOwned = datasetsOwned
        self.datasetsProvided = datasetsProvided
        self.datasetsConsumed = datasetsConsumed
        self.agreementsAsConsumer = agreementsAsConsumer
        self.agreementsAsProvider = agreementsAsProvider
        self.agreementsUsed = agreementsUsed
        self.shareUsed = shareUsed
        self.providerServed = providerServed
        self.providerTotal = providerTotal
        self.fulfilmentRate = fulfilmentRate
    }
}

/// An agreement in force but not used.
public struct DormantAgreement: Codable, Sendable, Hashable {
    /// The agreement id.
    public var id: String
    /// The consumer subsystem.
    public var consumer: SubsystemId
    /// The provider.
    public var provider: MemberId
    /// The dataset.
    public var dataset: DatasetId
    /// Start of validity.
    public var validFrom: Date
    /// The start of the last usage window with a successful exchange before the period's end;
    /// absent if never used.
    public var lastUsed: Date?
    /// Whole days from the end of that window (or from `validFrom`, if never used) to the
    /// period's end.
    public var idleDays: Int

    /// Creates an entry.
    public init(id: String, consumer: SubsystemId, provider: MemberId, dataset: DatasetId, validFrom: Date, lastUsed: Date?, idleDays: Int) {
        self.id = id
        self.consumer = consumer
        self.provider = provider
        self.dataset = dataset
        self.validFrom = validFrom
        self.lastUsed = lastUsed
        self.idleDays = idleDays
    }
}

/// An agreement whose exchanges were refused or failed more often than the threshold.
public struct NotSharedAgreement: Codable, Sendable, Hashable {
    /// The agreement id.
    public var id: String
    /// The consumer subsystem.
    public var consumer: SubsystemId
    /// The provider.
    public var provider: MemberId
    /// The dataset.
    public var dataset: DatasetId
    /// Whose counts: `provider`, or `consumer` when the provider's servers reported nothing.
    public var basis: String
    /// Exchanges counted.
    public var total: Int
    /// Of those, successful.
    public var served: Int
    /// Of those, refused.
    public var refused: Int
    /// Of those, failed.
    public var failed: Int
    /// `(refused + failed) / total`.
    public var share: Double
    /// Refusals and failures per error type, most frequent first.
    public var reasons: [ReasonCount]

    /// Creates an entry.
    public init(id: String, consumer: SubsystemId, provider: MemberId, dataset: DatasetId, basis: String, total: Int, served: Int,
                refused: Int, failed: Int, share: Double, reasons: [ReasonCount]) {
        self.id = id
        self.consumer = consumer
        self.provider = provider
        self.dataset = dataset
        self.basis = basis
        self.total = total
        self.served = served
        self.refused = refused
        self.failed = failed
        self.share = share
        self.reasons = reasons
    }
}

/// Exchanges refused for lack of an agreement (error type ending in `AccessDenied`, no agreement),
/// per consumer, target and refusing side.
public struct AttemptsWithoutAgreement: Codable, Sendable, Hashable {
    /// The consumer client as the records name it (`''` if unknown).
    public var client: String
    /// Its member (`''` if unknown).
    public var consumerMember: String
    /// The dataset asked for, or the service when the dataset is unknown.
    public var target: String
    /// `dataset`, `service`, or `unknown`.
    public var targetKind: String
    /// The side whose server refused: `consumer` (before sending) or `provider`.
    public var refusedBy: String
    /// How many exchanges.
    public var count: Int
    /// The first usage window (start) with such a refusal in the period.
    public var firstWindow: Date
    /// The last usage window (start) with such a refusal in the period.
    public var lastWindow: Date

    /// Creates an entry.
    public init(client: String, consumerMember: String, target: String, targetKind: String, refusedBy: String, count: Int,
                firstWindow: Date, lastWindow: Date) {
        self.client = client
        self.consumerMember = consumerMember
        self.target = target
        self.targetKind = targetKind
        self.refusedBy = refusedBy
        self.count = count
        self.firstWindow = firstWindow
        self.lastWindow = lastWindow
    }
}

/// A settled usage window in which one agreement's successful exchanges, as the consumer's and the
/// provider's servers counted them, disagree.
public struct Discrepancy: Codable, Sendable, Hashable {
    /// The agreement id.
    public var agreement: String
    /// The consumer's member.
    public var consumerMember: String
    /// The provider's member.
    public var providerMember: String
    /// The usage window's start.
    public var windowStart: Date
    /// The usage window's end.
    public var windowEnd: Date
    /// Successful exchanges the consumer side counted in the window.
    public var consumerServed: Int
    /// Successful exchanges the provider side counted in the window.
    public var providerServed: Int
    /// `consumerServed - providerServed`.
    public var difference: Int
    /// What remains after exchanges straddling a window boundary are reconciled: positive, the
    /// provider counted fewer than the consumer; negative, more.
    public var unexplained: Int
    /// Whether the window is settled (both sides have checkpointed well past it): a settled
    /// discrepancy is final. An unsettled one is **provisional**: it stands on the counters both
    /// sides have reported so far and may close once the lagging side checkpoints.
    public var settled: Bool

    /// Creates an entry.
    public init(agreement: String, consumerMember: String, providerMember: String, windowStart: Date, windowEnd: Date,
                consumerServed: Int, providerServed: Int, difference: Int, unexplained: Int, settled: Bool = true) {
        self.settled = settled
        self.agreement = agreement
        self.consumerMember = consumerMember
        self.providerMember = providerMember
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.consumerServed = consumerServed
        self.providerServed = providerServed
        self.difference = difference
        self.unexplained = unexplained
    }
}

/// An access request waiting for a decision.
public struct WaitingAccessRequest: Codable, Sendable, Hashable {
    /// The request id.
    public var id: String
    /// Who asks.
    public var consumer: SubsystemId
    /// For which dataset.
    public var dataset: DatasetId
    /// The dataset's owner, who must decide.
    public var provider: MemberId
    /// For which purposes.
    public var purposes: [String]
    /// When it was filed.
    public var requestedAt: Date
    /// Whole days since then.
    public var ageDays: Int
    /// Whether `ageDays` exceeds the deadline.
    public var overdue: Bool

    /// Creates an entry.
    public init(id: String, consumer: SubsystemId, dataset: DatasetId, provider: MemberId, purposes: [String], requestedAt: Date,
                ageDays: Int, overdue: Bool) {
        self.id = id
        self.consumer = consumer
        self.dataset = dataset
        self.provider = provider
        self.purposes = purposes
        self.requestedAt = requestedAt
        self.ageDays = ageDays
        self.overdue = overdue
    }
}

/// A refused access request with its written reason (Decree 194/2025 Art. 16).
public struct AccessRequestRefusal: Codable, Sendable, Hashable {
    /// The request id.
    public var id: String
    /// Who asked.
    public var consumer: SubsystemId
    /// For which dataset.
    public var dataset: DatasetId
    /// The dataset's owner, who refused.
    public var provider: MemberId
    /// When it was filed.
    public var requestedAt: Date
    /// When it was refused.
    public var decidedAt: Date
    /// Who refused (certificate subject).
    public var decidedBy: String
    /// The written reason.
    public var reason: String?
    /// The legal basis of the refusal.
    public var legalBasis: String?

    /// Creates an entry.
    public init(id: String, consumer: SubsystemId, dataset: DatasetId, provider: MemberId, requestedAt: Date, decidedAt: Date,
                decidedBy: String, reason: String?, legalBasis: String?) {
        self.id = id
        self.consumer = consumer
        self.dataset = dataset
        self.provider = provider
        self.requestedAt = requestedAt
        self.decidedAt = decidedAt
        self.decidedBy = decidedBy
        self.reason = reason
        self.legalBasis = legalBasis
    }
}
