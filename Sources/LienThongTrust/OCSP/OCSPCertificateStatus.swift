import Foundation

/// The revocation status of one certificate, as known to (or reported by) an OCSP responder.
public enum OCSPCertificateStatus: Sendable, Hashable {
    /// The reason code of a revocation (RFC 5280 §5.3.1 `CRLReason`).
    ///
    /// Nested in ``OCSPCertificateStatus`` so it cannot clash with a CRL type elsewhere in the module.
    public enum CRLReason: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// `unspecified (0)`.
        case unspecified = 0
        /// `keyCompromise (1)`.
        case keyCompromise = 1
        /// `cACompromise (2)`.
        case caCompromise = 2
        /// `affiliationChanged (3)`.
        case affiliationChanged = 3
        /// `superseded (4)`.
        case superseded = 4
        /// `cessationOfOperation (5)`.
        case cessationOfOperation = 5
        /// `certificateHold (6)`.
        case certificateHold = 6
        /// `removeFromCRL (8)`.
        case removeFromCRL = 8
        /// `privilegeWithdrawn (9)`.
        case privilegeWithdrawn = 9
        /// `aACompromise (10)`.
        case aaCompromise = 10

        /// The RFC 5280 spelling of the reason (e.g. `"keyCompromise"`, `"cACompromise"`).
        public var name: String {
            switch self {
            case .unspecified: return "unspecified"
            case .keyCompromise: return "keyCompromise"
            case .caCompromise: return "cACompromise"
            case .affiliationChanged: return "affiliationChanged"
            case .superseded: return "superseded"
            case .cessationOfOperation: return "cessationOfOperation"
            case .certificateHold: return "certificateHold"
            case .removeFromCRL: return "removeFromCRL"
            case .privilegeWithdrawn: return "privilegeWithdrawn"
            case .aaCompromise: return "aACompromise"
            }
        }

        /// Parses a reason from its RFC 5280 name, case-insensitively (`"keyCompromise"`,
        /// `"keycompromise"`, `"cACompromise"` …). Returns `nil` for unknown names.
        /// - Parameter name: The reason name.
        public init?(name: String) {
            let wanted = name.lowercased()
            guard let match = Self.allCases.first(where: { $0.name.lowercased() == wanted }) else {
                return nil
            }
            self = match
        }

        /// Same as ``name``.
        public var description: String { name }
    }

    /// The certificate is not revoked (as far as the responder knows).
    case good
    /// The certificate was revoked at the given time, optionally with a reason.
    case revoked(at: Date, reason: CRLReason?)
    /// The responder does not know the certificate (e.g. it was not issued by the responder's CA).
    case unknown
}

extension OCSPCertificateStatus: CustomStringConvertible {
    /// `"good"`, `"unknown"` or `"revoked(<time>, <reason>)"`.
    public var description: String {
        switch self {
        case .good: return "good"
        case .unknown: return "unknown"
        case .revoked(let at, let reason):
            return "revoked(\(at), \(reason?.name ?? "no reason"))"
        }
    }
}
