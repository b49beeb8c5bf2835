import Foundation
import LienThongCore
import LienThongRegistry
import LienThongTrust
import X509

/// What one exchange checks against: the global configuration in force and a certificate
/// validator whose trust anchors are that configuration's approved CAs.
public struct TrustSnapshot: Sendable {
    /// The configuration in force, indexed.
    public let index: GlobalConfigurationIndex
    /// Validates member certificates against the approved CAs, with OCSP.
    public let validator: CertificateValidator
    /// Validations of peers' signing chains under this configuration.
    public let validations: ValidationCache
}

/// Hands out a ``TrustSnapshot`` per request, rebuilding the validator only when the
/// configuration's serial changes. Fails closed: no configuration, or an expired one, throws.
public actor TrustState {
    /// Where the configuration comes from.
    public let configuration: GlobalConfigurationClient
    /// The revocation checker shared by every validation (its cache is what makes OCSP cheap).
    public let revocation: RevocationChecker
    /// How long a validated peer chain is reused: the revocation checker's refresh point.
    public let refreshAfter: TimeInterval
    private var cached: (serial: Int64, snapshot: TrustSnapshot)?

    /// Creates the state; `refreshAfter` should be `revocation`'s refresh point.
    public init(configuration: GlobalConfigurationClient, revocation: RevocationChecker, refreshAfter: TimeInterval) {
        self.configuration = configuration
        self.revocation = revocation
        self.refreshAfter = refreshAfter
    }

    /// The snapshot in force at `now`.
    /// - Throws: ``GlobalConfigurationError`` when there is no configuration, it expired, or its CAs cannot be read.
    public func snapshot(at now: Date) async throws(GlobalConfigurationError) -> TrustSnapshot {
        let index = try await configuration.index(at: now)
        if let cached, cached.serial == index.configuration.serial {
            return TrustSnapshot(index: index, validator: cached.snapshot.validator, validations: cached.snapshot.validations)
        }
        var anchors: [Certificate] = []
        var profiles: [Certificate: CertificateProfile] = [:]
        for ca in index.configuration.approvedCAs {
            let anchor = try ca.parsedCertificate()
            anchors.append(anchor)
            // Every member signature is read with the profile of the CA that issued its certificate.
            if let profile = ca.profile { profiles[anchor] = profile }
        }
        let validator = CertificateValidator(trustAnchors: anchors, revocation: revocation, profiles: profiles)
        let snapshot = TrustSnapshot(index: index, validator: validator,
                                     validations: ValidationCache(validator: validator, refreshAfter: refreshAfter))
        cached = (index.configuration.serial, snapshot)
        return snapshot
    }
}
