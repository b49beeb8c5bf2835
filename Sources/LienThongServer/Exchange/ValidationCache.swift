import Crypto
import Foundation
import LienThongTrust
import X509

/// Remembers the validation of a peer's signing certificate chain (and of its TLS certificate), so
/// that a busy peer's chain and stapled OCSP response are not re-validated on every message.
///
/// An entry is keyed by the exact chain and stapled response bytes, and lives only until the
/// earliest of: the leaf's expiry, the OCSP status's `nextUpdate`, and `thisUpdate` plus the
/// revocation checker's refresh point (half the freshness limit by default). A peer that staples a
/// newer response therefore gets a new entry, and a revocation is noticed as soon as it would be
/// without the cache — well within one freshness interval. One cache belongs to one global
/// configuration (its trust anchors); a new configuration starts an empty one.
public actor ValidationCache {
    private struct Entry {
        var validated: ValidatedCertificate
        var until: Date
    }

    private let validator: CertificateValidator
    private let refreshAfter: TimeInterval
    private let capacity: Int
    private var entries: [[UInt8]: Entry] = [:]

    /// Validations made (cache misses), for tests and metrics.
    public private(set) var validations = 0

    /// Creates an empty cache in front of `validator`.
    public init(validator: CertificateValidator, refreshAfter: TimeInterval, capacity: Int = 4096) {
        self.validator = validator
        self.refreshAfter = refreshAfter
        self.capacity = capacity
    }

    /// The validation of `chain` (leaf first) for the member role, from the cache or made now.
    public func validateMember(chain: [Certificate], chainKey: String, stapled: [UInt8]?, at now: Date)
        async throws(CertificateValidationError) -> ValidatedCertificate
    {
        try await validate(chain: chain, role: .member, chainKey: chainKey, stapled: stapled, at: now)
    }

    /// The validation of `chain` (leaf first) for `role`, from the cache or made now. `chainKey`
    /// identifies the chain (the JWS header that carries it, or the TLS certificate's SHA-256).
    public func validate(chain: [Certificate], role: CertificateRole, chainKey: String, stapled: [UInt8]?, at now: Date)
        async throws(CertificateValidationError) -> ValidatedCertificate
    {
        try await validate(role: role, chainKey: chainKey, stapled: stapled, at: now) { () throws(CertificateValidationError) in chain }
    }

    /// The same, with the chain made by `chain` only when the cache has no entry (a peer's TLS
    /// certificate is parsed from its DER once per validation, not on every request).
    public func validate(role: CertificateRole, chainKey: String, stapled: [UInt8]?, at now: Date,
                         chain: () throws(CertificateValidationError) -> [Certificate])
        async throws(CertificateValidationError) -> ValidatedCertificate
    {
        var hasher = SHA256()
        hasher.update(data: Array(role.rawValue.utf8))
        hasher.update(data: [0])
        hasher.update(data: Array(chainKey.utf8))
        hasher.update(data: [0])
        hasher.update(data: stapled ?? [])
        let key = Array(hasher.finalize())
        if let entry = entries[key] {
            if now < entry.until, now >= entry.validated.certificate.notValidBefore { return entry.validated }
            entries[key] = nil
        }
        let validated = try await validator.validate(chain: try chain(), role: role, stapledOCSP: stapled, at: now)
        validations += 1
        var until = validated.certificate.notValidAfter
        if let status = validated.revocation {
            until = min(until, status.thisUpdate.addingTimeInterval(refreshAfter))
            if let next = status.nextUpdate { until = min(until, next) }
        } else if validator.revocation != nil {
            return validated
        }
        if entries.count >= capacity {
            entries = entries.filter { now < $0.value.until }
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        }
        entries[key] = Entry(validated: validated, until: until)
        return validated
    }
}
