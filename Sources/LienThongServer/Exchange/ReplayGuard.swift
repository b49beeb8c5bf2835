import Crypto
import Foundation

/// The in-memory fast path of the provider side's replay check (``ReplayCheck``): a message id is
/// accepted once per client within `window` seconds of its arrival. A second request with the same
/// `X-Road-Id` from the same client inside the window is refused with
/// `Server.ServerProxy.DuplicateMessage` without asking the persistent store.
///
/// Only requests whose signature verified are noted, so that nobody can use up another client's
/// ids. Entries are 16 bytes of SHA-256 over the client and the id, kept in arrival order and
/// dropped once older than the window. Each client may hold at most `perClientCapacity` unexpired
/// ids and all clients together `capacity`; beyond either, new requests are refused (fail closed)
/// until old ones expire, so one busy or hostile client cannot lock the others out unless
/// several of them fill the table together. The table is lost at restart and not shared between
/// nodes: the persistent ``LienThongAudit/ReplayStore`` behind it catches those replays.
public actor ReplayGuard {
    /// Why a message id was not admitted.
    public enum Refusal: Error, Sendable, Hashable {
        /// The id was already seen from this client within the window.
        case duplicate
        /// The table is full of unexpired entries.
        case full
    }

    private struct Key: Hashable {
        var high: UInt64
        var low: UInt64
    }

    private struct Arrival {
        var key: Key
        var client: UInt64
        var at: Date
    }

    /// How long an id is remembered, in seconds.
    public let window: TimeInterval
    /// The most unexpired ids held at once, for all clients together.
    public let capacity: Int
    /// The most unexpired ids held at once for one client.
    public let perClientCapacity: Int
    private var seen: [Key: Date] = [:]
    private var perClient: [UInt64: Int] = [:]
    private var arrivals: [Arrival] = []
    private var head = 0

    /// A guard with `window` seconds of memory.
    ///
    /// - parameters:
    ///     - window: How long an id is remembered, in seconds.
    ///     - capacity: The most unexpired ids held at once (about 72 bytes each).
    ///     - perClientCapacity: The most unexpired ids held at once for one client.
    public init(window: TimeInterval, capacity: Int = 1_000_000, perClientCapacity: Int = 500_000) {
        self.window = window
        self.capacity = max(1, capacity)
        self.perClientCapacity = max(1, min(perClientCapacity, capacity))
    }

    /// The number of ids remembered now (expired ones may linger until the next ``admit(client:messageId:at:)``).
    public var count: Int { seen.count }

    /// Notes `messageId` from `client` at `now`.
    ///
    /// - parameters:
    ///     - client: The client's canonical id.
    ///     - messageId: The request's `X-Road-Id`.
    ///     - now: The time of the check.
    /// - throws: ``Refusal/duplicate`` if the id was seen from this client within the window,
    ///   ``Refusal/full`` if the client's share or the whole table is full.
    public func admit(client: String, messageId: String, at now: Date) throws(Refusal) {
        expire(before: now.addingTimeInterval(-window))
        var hasher = SHA256()
        hasher.update(data: Array(client.utf8))
        hasher.update(data: [0])
        hasher.update(data: Array(messageId.utf8))
        let key = hasher.finalize().withUnsafeBytes { raw in
            Key(high: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self), low: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
        let clientKey = Self.clientKey(client)
        if seen[key] != nil { throw .duplicate }
        guard seen.count < capacity, perClient[clientKey, default: 0] < perClientCapacity else { throw .full }
        seen[key] = now
        perClient[clientKey, default: 0] += 1
        arrivals.append(Arrival(key: key, client: clientKey, at: now))
    }

    private static func clientKey(_ client: String) -> UInt64 {
        SHA256.hash(data: Array(client.utf8)).withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self) }
    }

    private func expire(before limit: Date) {
        while head < arrivals.count, arrivals[head].at <= limit {
            let entry = arrivals[head]
            if seen[entry.key] == entry.at {
                seen[entry.key] = nil
                let left = perClient[entry.client, default: 1] - 1
                perClient[entry.client] = left > 0 ? left : nil
            }
            head += 1
        }
        // Compact now and then, so that the queue does not grow without bound.
        if head > 4096, head * 2 > arrivals.count {
            arrivals.removeFirst(head)
            head = 0
        }
    }
}
