import LienThongCore
import Crypto
import Foundation
import X509

/// Where ``RevocationChecker`` gets OCSP answers from.
public protocol OCSPStatusSource: Sendable {
    /// Asks the responder for the status of `leaf` and verifies the answer.
    func fetchStatus(of leaf: Certificate, issuer: Certificate, at now: Date) async throws -> VerifiedOCSPStatus
    /// Verifies an OCSP response that a peer stapled to its message.
    func verifyStapled(_ responseDER: [UInt8], of leaf: Certificate, issuer: Certificate, at now: Date) throws -> VerifiedOCSPStatus
}

/// Revocation checking with a cache bounded by a freshness limit.
///
/// - A status is *fresh* while its `thisUpdate` is no older than ``Policy/freshness`` and its
///   `nextUpdate` (if any) has not passed. Only fresh statuses are ever used.
/// - Past ``Policy/refreshAfter`` a fresh status is refreshed from the responder in the background:
///   lookups keep getting the cached status meanwhile, and if the responder is down or hangs, the
///   cached status keeps serving until it stops being fresh.
/// - With no fresh status, the certificate is rejected (`revocationStatusUnknown`): the
///   policy fails closed.
/// - A stapled response that verifies and is fresh is used (and cached) without asking the
///   responder; one that does not verify is ignored.
///
/// Concurrent lookups for the same certificate share one responder request.
public actor RevocationChecker {
    /// How long statuses may be used.
    public struct Policy: Sendable, Hashable {
        /// The longest a status may be used after its `thisUpdate`. X-Road's default is one hour.
        public var freshness: TimeInterval
        /// When a cached status is refreshed in the background of a lookup.
        public var refreshAfter: TimeInterval

        /// Creates a policy; `refreshAfter` defaults to half of `freshness`.
        public init(freshness: TimeInterval = 3600, refreshAfter: TimeInterval? = nil) {
            self.freshness = freshness
            self.refreshAfter = refreshAfter ?? freshness / 2
        }
    }

    /// The freshness policy.
    public let policy: Policy
    private let source: any OCSPStatusSource
    private var cache: [String: VerifiedOCSPStatus] = [:]
    private var inFlight: [String: Task<VerifiedOCSPStatus, any Error>] = [:]

    /// Creates a checker that asks `source`.
    public init(source: any OCSPStatusSource, policy: Policy = Policy()) {
        self.source = source
        self.policy = policy
    }

    /// The status of `leaf`, from a stapled response, the cache, or the responder.
    public func status(
        of leaf: Certificate, issuer: Certificate, stapled: [UInt8]? = nil, at now: Date
    ) async throws(CertificateValidationError) -> VerifiedOCSPStatus {
        let key = Self.key(leaf: leaf, issuer: issuer)
        if let stapled, let verified = try? source.verifyStapled(stapled, of: leaf, issuer: issuer, at: now),
           isFresh(verified, at: now) {
            store(verified, key: key)
            return verified
        }
        if let cached = cache[key].flatMap({ isFresh($0, at: now) ? $0 : nil }) {
            if now.timeIntervalSince(cached.thisUpdate) >= policy.refreshAfter {
                refreshInBackground(key: key, leaf: leaf, issuer: issuer, at: now)
            }
            return cached
        }
        let name = CertificateValidator.describe(leaf)
        do {
            let fetched = try await fetch(key: key, leaf: leaf, issuer: issuer, now: now)
            guard isFresh(fetched, at: now) else {
                throw CertificateValidationError(
                    .revocationStatusUnknown,
                    "the OCSP answer for \(name) is older than the \(Int(policy.freshness)) s freshness limit")
            }
            store(fetched, key: key)
            return fetched
        } catch {
            if let error = error as? CertificateValidationError { throw error }
            throw CertificateValidationError(
                .revocationStatusUnknown,
                "no OCSP status for \(name) within the \(Int(policy.freshness)) s freshness limit: \(error)")
        }
    }

    /// The fresh cached status of `leaf`, if any: what a server staples to its own messages.
    public func cachedStatus(of leaf: Certificate, issuer: Certificate, at now: Date) -> VerifiedOCSPStatus? {
        cache[Self.key(leaf: leaf, issuer: issuer)].flatMap { isFresh($0, at: now) ? $0 : nil }
    }

    /// Forgets every cached status.
    public func clear() { cache.removeAll() }

    private func fetch(key: String, leaf: Certificate, issuer: Certificate, now: Date) async throws -> VerifiedOCSPStatus {
        if let running = inFlight[key] {
            return try await running.value
        }
        let source = self.source
        let task = Task { try await source.fetchStatus(of: leaf, issuer: issuer, at: now) }
        inFlight[key] = task
        defer { inFlight[key] = nil }
        return try await task.value
    }

    /// Starts a refresh of a status that is still fresh, unless one is running. Lookups keep
    /// getting the cached status meanwhile, so a slow or hung responder delays no caller; the
    /// answer replaces the cached status if it is fresh and newer (a revocation takes effect from
    /// the next lookup). A status that stops being fresh is fetched inline, and fails closed.
    private func refreshInBackground(key: String, leaf: Certificate, issuer: Certificate, at now: Date) {
        guard inFlight[key] == nil else { return }
        let source = self.source
        let task = Task { try await source.fetchStatus(of: leaf, issuer: issuer, at: now) }
        inFlight[key] = task
        // Unstructured on purpose: the refresh outlives the lookup that noticed it was due.
        Task { await self.finishRefresh(key: key, task: task, at: now) }
    }

    private func finishRefresh(key: String, task: Task<VerifiedOCSPStatus, any Error>, at now: Date) async {
        let fetched = try? await task.value
        if inFlight[key] == task { inFlight[key] = nil }
        if let fetched, isFresh(fetched, at: now) { store(fetched, key: key) }
    }

    private func store(_ status: VerifiedOCSPStatus, key: String) {
        if let existing = cache[key], existing.thisUpdate > status.thisUpdate { return }
        cache[key] = status
    }

    private func isFresh(_ status: VerifiedOCSPStatus, at now: Date) -> Bool {
        if now.timeIntervalSince(status.thisUpdate) > policy.freshness { return false }
        if let next = status.nextUpdate, now > next { return false }
        return true
    }

    private static func key(leaf: Certificate, issuer: Certificate) -> String {
        let issuerKey = SHA256.hash(data: issuer.publicKey.subjectPublicKeyInfoBytes)
        return Hex.lowercase(issuerKey) + ":" + leaf.serialNumber.description
    }
}
