import Foundation
import LienThongAudit
import LienThongCore
import Synchronization

/// The provider side's freshness and replay check (`docs/protocol.md` §6.3), run once a request's
/// signature has verified, so that its signed time is the consumer's own:
///
/// 1. **Freshness.** The request's signed `time` must lie within
///    `[now − window − skew, now + skew]` on this server's clock, where `window` is
///    `limits.replay_window_seconds` and `skew` `limits.clock_skew_seconds`. Otherwise
///    `Server.ServerProxy.StaleRequest`.
/// 2. **Replay.** Its (provider member, client, `X-Road-Id`) must be new: first the in-memory
///    ``ReplayGuard`` (a fast path, lost at restart), then the persistent ``ReplayStore`` (the
///    server's SQLite `replay.sqlite`, or the PostgreSQL database its nodes share), whose
///    uniqueness decides between nodes racing the same id. A repeat is
///    `Server.ServerProxy.DuplicateMessage`. If the store cannot be written, the request is
///    refused (`Server.ServerProxy.InternalError`): the check fails closed.
///
/// Stored entries are pruned once their signed time is older than `window + 2 × skew`: by then
/// step 1 refuses the request on this server, and on any node whose clock is within `skew` of
/// this one's. A replay therefore never passes both steps while clocks keep to the tolerance.
public final class ReplayCheck: Sendable {
    /// `limits.replay_window_seconds`.
    public let windowSeconds: Int
    /// `limits.clock_skew_seconds`.
    public let skewSeconds: Int
    /// The in-memory fast path and per-client bound.
    public let memory: ReplayGuard
    /// The persistent store.
    public let store: any ReplayStore
    private let lastPrune = Mutex<Date?>(nil)

    /// A check with the given window and tolerance (both already bounded by the configuration).
    public init(windowSeconds: Int, skewSeconds: Int, store: any ReplayStore) {
        self.windowSeconds = max(1, min(windowSeconds, 86_400))
        self.skewSeconds = max(0, min(skewSeconds, SecurityServerConfiguration.Limits.maximumClockSkewSeconds))
        self.store = store
        self.memory = ReplayGuard(window: TimeInterval(self.windowSeconds + 2 * self.skewSeconds))
    }

    /// Checks the verified request from `client` to a service of `provider` signed at `signedAt`
    /// (milliseconds, already bounded to ``CanonicalMessage/maximumTime``) and, if it passes,
    /// records it.
    /// - Throws: `StaleRequest`, `DuplicateMessage`, or `InternalError` when the store fails.
    public func admit(provider: MemberId, client: ClientId, messageId: String, signedAt: Int64, now: Date) async throws(XRoadFault) {
        let nowMs = CanonicalMessage.milliseconds(now)
        // Every operand is bounded (times by maximumTime, window and skew by the configuration),
        // and the arithmetic is checked all the same.
        let (age, ageOverflow) = nowMs.subtractingReportingOverflow(signedAt)
        let oldest = Int64(windowSeconds + skewSeconds) * 1000
        let newest = Int64(skewSeconds) * 1000
        if ageOverflow || age > oldest {
            throw XRoadFault(.providerStaleRequest, "Message \(messageId) was signed \(Self.seconds(age, ageOverflow)) s before this server's clock; a request signed more than \(windowSeconds + skewSeconds) s ago (replay window \(windowSeconds) s plus clock tolerance \(skewSeconds) s) is refused.")
        }
        if age < -newest {
            throw XRoadFault(.providerStaleRequest, "Message \(messageId) was signed \(Self.seconds(-age, false)) s ahead of this server's clock, beyond the clock tolerance of \(skewSeconds) s; one of the two servers' clocks is wrong (both must follow NTP).")
        }
        do { try await memory.admit(client: provider.canonical + " " + client.canonical, messageId: messageId, at: now) } catch {
            switch error {
            case .duplicate:
                throw Self.duplicate(messageId, client)
            case .full:
                throw XRoadFault(.providerInternalError, "The replay check holds as many message ids from \(client) (or from all clients) as it may within \(windowSeconds + 2 * skewSeconds) s; the request is refused until older ones expire.")
            }
        }
        let admitted: Bool
        do {
            admitted = try await store.admit(SeenRequest(provider: provider.canonical, client: client.canonical, messageId: messageId, signedAt: signedAt))
        } catch {
            throw XRoadFault(.providerInternalError, "The replay check cannot reach its store, so the request is refused: \(error.code.rawValue).")
        }
        guard admitted else { throw Self.duplicate(messageId, client) }
        await pruneIfDue(now: now, nowMs: nowMs)
    }

    /// Deletes entries past `window + 2 × skew`, at most once per `max(1, window / 4)` seconds
    /// (and at most every minute). A failure only leaves entries longer (never unsafe).
    func pruneIfDue(now: Date, nowMs: Int64) async {
        let interval = TimeInterval(min(60, max(1, windowSeconds / 4)))
        let due = lastPrune.withLock { last -> Bool in
            if let last, now.timeIntervalSince(last) < interval, now >= last { return false }
            last = now
            return true
        }
        guard due else { return }
        let (cutoff, overflow) = nowMs.subtractingReportingOverflow(Int64(windowSeconds + 2 * skewSeconds) * 1000)
        guard !overflow, cutoff > 0 else { return }
        _ = try? await store.prune(signedBefore: cutoff)
    }

    private static func duplicate(_ messageId: String, _ client: ClientId) -> XRoadFault {
        XRoadFault(.providerDuplicateMessage, "Message \(messageId) from \(client) was already received; a replayed request is refused (a retry needs a new X-Road-Id).")
    }

    private static func seconds(_ milliseconds: Int64, _ overflow: Bool) -> String {
        overflow ? "more than \(Int64.max / 1000)" : String(milliseconds / 1000)
    }
}

/// An in-memory ``ReplayStore``, for tests and tools that run a server without a data directory.
/// It is lost at restart; a security server always uses ``SQLiteReplayStore`` or PostgreSQL.
public final class InMemoryReplayStore: ReplayStore {
    private let entries = Mutex<[String: Int64]>([:])

    /// An empty store.
    public init() {}

    /// Stores `request` unless its key is present.
    public func admit(_ request: SeenRequest) async throws(AuditStoreError) -> Bool {
        let key = request.provider + "\u{0}" + request.client + "\u{0}" + request.messageId
        return entries.withLock { entries in
            guard entries[key] == nil else { return false }
            entries[key] = request.signedAt
            return true
        }
    }

    /// Deletes entries signed before `cutoff`.
    public func prune(signedBefore cutoff: Int64) async throws(AuditStoreError) -> Int {
        entries.withLock { entries in
            let before = entries.count
            entries = entries.filter { $0.value >= cutoff }
            return before - entries.count
        }
    }
}
