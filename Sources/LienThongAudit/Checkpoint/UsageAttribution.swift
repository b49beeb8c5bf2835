import LienThongCore

/// How a server's checkpoint attributes the records of its window to usage counters
/// (`docs/audit-checkpoints.md` §Attribution). A checkpoint speaks only for its signer, the
/// owner of the server: the registry refuses a provider-side counter that names another
/// member's service or dataset, and a consumer-side counter that names another member's client.
///
/// A server nevertheless records, as evidence, what a refused request claimed: a consumer server
/// refuses a request whose `X-Road-Client` names another member's subsystem, a provider refuses a
/// request for a service that is not its own. Such names are *folded* to "absent" in the usage
/// key the record is counted under (the record itself keeps them). Without the fold, anyone who
/// can send a server one bad request would make the registry refuse its checkpoints, and the
/// server would then fail closed.
///
/// The rule depends only on the record and the checkpoint, so `lienthong audit verify` applies it
/// too when it recounts the records:
///
/// - provider side: `service` is kept only if it is a service id of a subsystem of the owner,
///   `dataset` only if it is a dataset id of the owner;
/// - consumer side: `client` is kept only if it is a subsystem id of the owner;
/// - both sides: the usage window is clamped into
///   [`window(window_start)` − ``maximumLateness``, `window(window_end)`]: an exchange is counted
///   in the window it started in unless it started more than 24 hours before the checkpoint's
///   window (or, by a few milliseconds of clock order, after its end).
public struct UsageAttribution: Sendable {
    /// How long before a checkpoint's window an exchange counted in it may have started: 24 hours.
    /// Longer exchanges (a stalled upload, a backend that never answers within its timeout) are
    /// counted in the earliest window allowed.
    public static let maximumLatenessMilliseconds: Int64 = 86_400_000

    /// The owner of the server, or `nil` if the server id does not parse (then names are kept:
    /// the registry refuses such a checkpoint anyway).
    public let owner: MemberId?
    /// The earliest usage window a counter of this checkpoint may name.
    public let earliestWindow: AuditTimestamp
    /// The latest usage window a counter of this checkpoint may name.
    public let latestWindow: AuditTimestamp
    private var folded: [UsageCounter.Key: UsageCounter.Key] = [:]

    /// The rule for the checkpoint of `server` covering `windowStart...windowEnd`.
    public init(server: String, windowStart: AuditTimestamp, windowEnd: AuditTimestamp) {
        owner = try? SecurityServerId(parsing: server).owner
        (earliestWindow, latestWindow) = Self.windowBounds(windowStart: windowStart, windowEnd: windowEnd)
    }

    /// The earliest and latest usage window a checkpoint over `windowStart...windowEnd` may name.
    public static func windowBounds(windowStart: AuditTimestamp, windowEnd: AuditTimestamp) -> (earliest: AuditTimestamp, latest: AuditTimestamp) {
        let first = UsageCounter.window(containing: windowStart)
        let (earliestMs, overflow) = first.millisecondsSince1970.subtractingReportingOverflow(maximumLatenessMilliseconds)
        let earliest = overflow ? first : UsageCounter.window(containing: AuditTimestamp(millisecondsSince1970: earliestMs) ?? first)
        return (earliest, UsageCounter.window(containing: windowEnd))
    }

    /// Whether `client` names a subsystem of `owner`.
    public static func isOwnClient(_ client: String, of owner: MemberId) -> Bool {
        (try? SubsystemId(parsing: client))?.member == owner
    }

    /// Whether `service` names a service of a subsystem of `owner`.
    public static func isOwnService(_ service: String, of owner: MemberId) -> Bool {
        (try? ServiceId(parsing: service))?.subsystem.member == owner
    }

    /// Whether `dataset` names a dataset of `owner`.
    public static func isOwnDataset(_ dataset: String, of owner: MemberId) -> Bool {
        (try? DatasetId(parsing: dataset))?.owner == owner
    }

    /// The key `key` is counted under in this checkpoint.
    public mutating func attribute(_ key: UsageCounter.Key) -> UsageCounter.Key {
        if let known = folded[key] { return known }
        var result = key
        if let owner {
            switch key.side {
            case .provider:
                if let service = key.service, !Self.isOwnService(service, of: owner) { result.service = nil }
                if let dataset = key.dataset, !Self.isOwnDataset(dataset, of: owner) { result.dataset = nil }
            case .consumer:
                if let client = key.client, !Self.isOwnClient(client, of: owner) { result.client = nil }
            }
        }
        if result.window < earliestWindow { result.window = earliestWindow }
        if result.window > latestWindow { result.window = latestWindow }
        if folded.count < 100_000 { folded[key] = result }
        return result
    }
}
